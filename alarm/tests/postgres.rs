//! The same pipeline on PostgreSQL (the production store), and active/standby failover: two
//! `argus-alarm` processes on one database, the active one killed with SIGKILL.

mod common;

use argus_core::event::EventStatus;
use argus_core::notify::Channel;
use common::*;
use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn pipeline_on_postgres() {
    let Some(url) = pg_database("PostgreSQL").await else {
        return;
    };
    let rx = Receiver::start().await;
    rx.script(&[(500, None)]);
    let dir = tempfile::tempdir().unwrap();
    let t = "pg-pipeline";
    let mut cfg = config(
        dir.path(),
        vec![tenant_cfg(
            t,
            vec![
                contact(t, 1, None, Some(&rx.url), Some("k")),
                contact(t, 2, None, Some(&rx.url), None),
            ],
            vec![
                team(t, 10, vec![1], Some(20), 6),
                team(t, 20, vec![2], None, 3),
            ],
            vec![sub_all(t, 1, Some(10), None, vec![Channel::Webhook])],
        )],
    );
    cfg.database_url = url;
    cfg.group_wait_secs = 1;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let storm: Vec<_> = (0..4)
        .map(|i| event(t, &format!("pg-{i}"), 8, 0, EventStatus::Problem, 1))
        .collect();
    let (s, b) = post_events(&alarm.url(), &storm).await;
    assert_eq!((s, b["accepted"].as_u64()), (200, Some(4)));
    let (_, b) = post_events(&alarm.url(), &storm).await;
    assert_eq!(b["duplicates"].as_u64(), Some(4));
    wait_for("the storm after one 500", 60, || !rx.delivered().is_empty()).await;
    let first = rx.delivered()[0].json();
    assert_eq!(first["kind"], "storm");
    assert_eq!(first["events"].as_array().unwrap().len(), 4);
    // Acknowledge one; the three others escalate to team 20 (contact 2), as one storm each or
    // one escalation each: count the hosts escalated.
    let (s, _) = post(
        &format!(
            "{}/internal/v1/events/{}/ack?tenant={t}",
            alarm.url(),
            storm[0].id
        ),
        serde_json::json!({"by": "pg"}),
    )
    .await;
    assert_eq!(s, 200);
    wait_for("three escalations", 60, || {
        rx.delivered()
            .iter()
            .filter(|h| h.json()["kind"] == "escalation")
            .count()
            >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let escalated: HashSet<String> = rx
        .delivered()
        .iter()
        .map(|h| h.json())
        .filter(|v| v["kind"] == "escalation")
        .map(|v| v["hosts"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        escalated,
        ["pg-1", "pg-2", "pg-3"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let (_, d) = get(&format!(
        "{}/internal/v1/deliveries?tenant={t}&state=delivered",
        alarm.url()
    ))
    .await;
    assert_eq!(d["deliveries"].as_array().unwrap().len(), 4);
    alarm.stop().await;
    rx.stop().await;
}

struct Child {
    proc: tokio::process::Child,
    url: String,
}

async fn spawn_alarm(cfg_path: &std::path::Path) -> Child {
    let mut proc = tokio::process::Command::new(env!("CARGO_BIN_EXE_argus-alarm"))
        .arg("--config")
        .arg(cfg_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning argus-alarm");
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("argus-alarm did not start")
        .unwrap()
        .expect("argus-alarm exited");
    let addr = line.rsplit(' ').next().unwrap().to_string();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Child {
        proc,
        url: format!("http://{addr}"),
    }
}

async fn role(url: &str) -> Option<String> {
    let r = client()
        .get(format!("{url}/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = r.json().await.ok()?;
    v["role"].as_str().map(str::to_string)
}

#[tokio::test]
async fn standby_takes_over_when_the_active_is_killed_and_nothing_is_lost_or_doubled() {
    let Some(url) = pg_database("PostgreSQL").await else {
        return;
    };
    let t = "pg-failover";
    let OneWebhook { rx, dir, mut cfg } = one_webhook(t, None).await;
    cfg.database_url = url;
    cfg.lease_ttl_secs = 5;
    cfg.lease_renew_secs = 1;
    cfg.ack_secret = "shared".into();
    let mut paths = vec![];
    for name in ["a", "b"] {
        let mut c = cfg.clone();
        c.instance_id = format!("alarm-{name}");
        let p = dir.path().join(format!("{name}.toml"));
        std::fs::write(&p, toml::to_string(&c).unwrap()).unwrap();
        paths.push(p);
    }
    let mut a = spawn_alarm(&paths[0]).await;
    wait_for_async("a active", 60, || async {
        role(&a.url).await.as_deref() == Some("active")
    })
    .await;
    let b = spawn_alarm(&paths[1]).await;
    wait_for_async("b up", 60, || async { role(&b.url).await.is_some() }).await;
    assert_eq!(role(&b.url).await.as_deref(), Some("standby"));

    // One strategy per event: every event is its own message.
    let batch = |from: u64| -> Vec<_> {
        (from..from + 20)
            .map(|i| event(t, &format!("h{i}"), 1000 + i, 1, EventStatus::Problem, 1))
            .collect()
    };
    post_events(&a.url, &batch(0)).await;
    wait_for("the first batch", 60, || rx.delivered().len() >= 20).await;
    // The second batch is durable once A answers; A dies before (or while) sending it.
    let (s, _) = post_events(&a.url, &batch(20)).await;
    assert_eq!(s, 200);
    a.proc.start_kill().unwrap();
    a.proc.wait().await.unwrap();
    let killed = Instant::now();
    // The standby takes the events meanwhile (both instances accept them).
    post_events(&b.url, &batch(40)).await;
    wait_for_async("b active", 60, || async {
        role(&b.url).await.as_deref() == Some("active")
    })
    .await;
    eprintln!(
        "takeover after {:?} (lease ttl 5 s, renew 1 s)",
        killed.elapsed()
    );
    wait_for("all 60 notifications", 90, || {
        rx.delivered()
            .iter()
            .flat_map(|h| h.json()["events"].as_array().cloned().unwrap_or_default())
            .count()
            >= 60
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Every event arrived, each under exactly one message key; a message re-sent by the new
    // active instance (if A died mid-send) carries the same key, so the receiver drops it.
    let mut key_of_event: HashMap<String, HashSet<String>> = HashMap::new();
    let mut copies: HashMap<String, usize> = HashMap::new();
    for h in rx.delivered() {
        let v = h.json();
        let key = h.header("idempotency-key").unwrap().to_string();
        *copies.entry(key.clone()).or_default() += 1;
        for e in v["events"].as_array().unwrap() {
            key_of_event
                .entry(e["idempotency_key"].as_str().unwrap().to_string())
                .or_default()
                .insert(key.clone());
        }
    }
    assert_eq!(key_of_event.len(), 60, "every event notified");
    assert!(
        key_of_event.values().all(|keys| keys.len() == 1),
        "no event under two messages"
    );
    let resent = copies.values().filter(|n| **n > 1).count();
    eprintln!(
        "{} distinct messages, {resent} re-sent with the same idempotency key",
        copies.len()
    );
    // Only messages in flight at the kill can be re-sent: at most one per sending slot.
    assert!(resent <= cfg.concurrency, "{resent} re-sent");
    rx.stop().await;
}
