//! Chaos: the multi-region topology as processes under continuous load from several tenants,
//! with strategies firing and recovering, while a storage node, a transfer, a judge and the
//! active alarm instance are killed with SIGKILL and restarted, and a region is cut off from
//! the global zone for a while. Afterwards every acknowledged point must be readable, every
//! PROBLEM and OK transition must have reached its webhook exactly once (after deduplication
//! by idempotency key), no tenant may have seen another's data, and the alarm failover must
//! have taken under 15 s. The test prints its figures.

use argus::cluster::{Cluster, ClusterSpec, Role};
use argus_core::testing::WebhookReceiver;
use argus_core::wire::{Batch, PushResponse};
use argus_core::{Point, Tags};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Ticks of the load; each tick pushes one point per series (timestamps one second apart).
const TICKS: i64 = 280;
const TICK: Duration = Duration::from_millis(250);

/// The value schedule: low to start (configuration spreads), then high, low, high, low.
fn value_at(tick: i64) -> f64 {
    match tick {
        40..=99 | 160..=219 => 90.0,
        _ => 10.0,
    }
}
const EXPECTED: [&str; 4] = ["PROBLEM", "OK", "PROBLEM", "OK"];

fn fresh_database(base: &str) -> String {
    let name = format!("argus_chaos_{}", std::process::id());
    let admin = base.to_string();
    let out = std::process::Command::new("psql")
        .arg(&admin)
        .arg("-c")
        .arg(format!("DROP DATABASE IF EXISTS {name}; "))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("psql")
        .arg(&admin)
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, _) = base.rsplit_once('/').expect("a database URL");
    format!("{head}/{name}")
}

async fn api(web: &str, token: &str, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{web}/api/v1/{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// One simulated series: its tenant's token, its region's transfers, what was acknowledged.
struct Series {
    tenant: usize,
    region: String,
    host: String,
    acked: BTreeSet<i64>,
}

async fn push(client: &reqwest::Client, transfers: &[String], token: &str, p: Point) -> bool {
    let batch = Batch { points: vec![p] };
    for t in transfers {
        let r = client
            .post(format!("{t}/api/v1/push"))
            .bearer_auth(token)
            .json(&batch)
            .send()
            .await;
        if let Ok(r) = r {
            if r.status().is_success() {
                return r
                    .json::<PushResponse>()
                    .await
                    .map(|a| a.accepted == 1)
                    .unwrap_or(false);
            }
        }
    }
    false
}

async fn active_alarm(cluster: &Cluster) -> Option<String> {
    for n in cluster
        .nodes
        .iter()
        .filter(|n| n.role == Role::Alarm && n.is_running())
    {
        if let Ok(r) = reqwest::get(format!("{}/health", n.url)).await {
            if let Ok(v) = r.json::<Value>().await {
                if v["role"] == "active" {
                    return Some(n.name.clone());
                }
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_die_and_regions_partition_without_losing_points_or_alerts() {
    let Some(pg) = argus_core::testing::require_server("ARGUS_TEST_PG_URL", "PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::new(
        dir.path().to_path_buf(),
        env!("CARGO_BIN_EXE_argus").into(),
        2,
    );
    spec.alarm_database_url = Some(fresh_database(&pg));
    spec.allow_private_webhooks = true;
    spec.config_pull_secs = 1;
    let mut cluster = Cluster::up(&spec).await.expect("cluster starts");
    let hooks = WebhookReceiver::start().await;
    let web = cluster.web_url();

    // Each tenant: a host per region and series, one strategy through a template and a group,
    // and a webhook subscription to every priority.
    let mut series = Vec::new();
    for (ti, t) in cluster.tenants.clone().iter().enumerate() {
        let mut hosts = Vec::new();
        for region in cluster.regions.clone() {
            for n in 1..=2 {
                let host = format!("{}-{region}-{n}", t.tenant);
                hosts.push(host.clone());
                series.push(Series {
                    tenant: ti,
                    region: region.clone(),
                    host,
                    acked: BTreeSet::new(),
                });
            }
        }
        let tpl = api(&web, &t.api_token, "templates", json!({"name": "chaos"})).await;
        api(
            &web,
            &t.api_token,
            "strategies",
            json!({
                "template_id": tpl["id"], "metric": "chaos.value", "condition": "all(#1) > 50",
                "priority": 1, "max_alarms": 1
            }),
        )
        .await;
        api(
            &web,
            &t.api_token,
            "host_groups",
            json!({"name": "all", "hosts": hosts, "templates": [tpl["id"]]}),
        )
        .await;
        let c = api(
            &web,
            &t.api_token,
            "contacts",
            json!({
                "name": "oncall", "webhook_url": format!("{}/{}", hooks.url, t.tenant)
            }),
        )
        .await;
        api(&web, &t.api_token, "subscriptions", json!({
            "target": {"kind": "priority", "max_priority": 5}, "contact_id": c["id"], "channels": ["webhook"]
        }))
        .await;
    }

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base_ts = argus_core::time::now_secs() - 200;
    let mut failover: Option<Duration> = None;
    let mut killed_alarm = None;
    let mut alarm_killed_at: Option<Instant> = None;
    let mut partial_answers = 0;
    let started = Instant::now();
    for tick in 0..TICKS {
        let next = Instant::now() + TICK;
        for s in series.iter_mut() {
            let transfers: Vec<String> = cluster
                .nodes_of(&s.region, Role::Transfer)
                .iter()
                .map(|n| n.url.clone())
                .collect();
            let token = cluster.tenants[s.tenant].agent_token.clone();
            let ts = base_ts + tick;
            let p = Point::gauge(&s.host, "chaos.value", Tags::new(), value_at(tick), ts);
            if push(&client, &transfers, &token, p).await {
                s.acked.insert(ts);
            }
        }
        match tick {
            50 => cluster.kill("east-store-1").unwrap(),
            70 => cluster.restart("east-store-1").await.unwrap(),
            90 => cluster.kill("east-transfer-1").unwrap(),
            110 => cluster.restart("east-transfer-1").await.unwrap(),
            130 => cluster.kill("east-judge-1").unwrap(),
            150 => cluster.restart("east-judge-1").await.unwrap(),
            170 => {
                let active = active_alarm(&cluster)
                    .await
                    .expect("an active alarm instance");
                alarm_killed_at = Some(Instant::now());
                cluster.kill(&active).unwrap();
                let t0 = Instant::now();
                while active_alarm(&cluster).await.is_none() {
                    if t0.elapsed() >= Duration::from_secs(30) {
                        let logs: Vec<String> = cluster
                            .nodes
                            .iter()
                            .filter(|n| n.role == Role::Alarm)
                            .map(|n| format!("--- {} ---\n{}", n.name, n.log_tail(40)))
                            .collect();
                        panic!("no standby took over; the alarm logs:\n{}", logs.join("\n"));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                failover = Some(t0.elapsed());
                killed_alarm = Some(active);
            }
            200 => cluster
                .restart(killed_alarm.as_deref().unwrap())
                .await
                .unwrap(),
            230 => cluster.partition("west", true),
            245 => {
                // While west is cut off, the API still answers with east's data and says what
                // is missing.
                let t = &cluster.tenants[0];
                let r = client
                    .get(format!("{web}/api/v1/query/last?metric=chaos.value"))
                    .bearer_auth(&t.api_token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let missing = r.headers().get("x-argus-unreachable-regions").cloned();
                assert_eq!(missing.as_ref().and_then(|v| v.to_str().ok()), Some("west"));
                let last: Vec<Value> = r.json().await.unwrap();
                assert!(!last.is_empty(), "east's series are still answered");
                partial_answers += 1;
            }
            260 => cluster.partition("west", false),
            _ => {}
        }
        tokio::time::sleep_until(next.into()).await;
    }
    let load_secs = started.elapsed().as_secs_f64();

    // Every transition reaches its webhook exactly once. Each delivery is counted by its
    // idempotency key: a transition under two keys is a doubled notification; one key answered
    // twice is a redelivery, allowed only across the active alarm's kill -9 (the receiver had
    // answered, the killed instance could not record it).
    type Transition = (String, String, u64, String);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (transitions, keys_of, deliveries_of) = loop {
        let mut per_series: BTreeMap<(String, String), BTreeMap<u64, String>> = BTreeMap::new();
        let mut keys_of: BTreeMap<Transition, BTreeSet<String>> = BTreeMap::new();
        let mut deliveries_of: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
        let mut foreign = 0;
        for hit in hooks
            .hits()
            .iter()
            .filter(|h| (200..300).contains(&h.answered))
        {
            // Each tenant's contact posts to /hook/<tenant>.
            let path_tenant = hit.path.trim_start_matches("/hook/").to_string();
            let key = hit
                .headers
                .iter()
                .find(|(k, _)| k == "idempotency-key")
                .map(|(_, v)| v.clone())
                .expect("every webhook carries an idempotency key");
            deliveries_of.entry(key.clone()).or_default().push(hit.at);
            let body: Value = serde_json::from_slice(&hit.body).unwrap_or(Value::Null);
            for e in body["events"].as_array().cloned().unwrap_or_default() {
                if e["tenant"] != path_tenant.as_str() {
                    foreign += 1;
                }
                let tenant = e["tenant"].as_str().unwrap_or("").to_string();
                let endpoint = e["series"]["endpoint"].as_str().unwrap_or("").to_string();
                let occ = e["occurrence"].as_u64().unwrap_or(0);
                let status = e["status"].as_str().unwrap_or("").to_string();
                keys_of
                    .entry((tenant.clone(), endpoint.clone(), occ, status.clone()))
                    .or_default()
                    .insert(key.clone());
                per_series
                    .entry((tenant, endpoint))
                    .or_default()
                    .insert(occ, status);
            }
        }
        assert_eq!(foreign, 0, "a webhook received another tenant's event");
        let done = per_series.len() == series.len()
            && per_series.values().all(|m| m.len() >= EXPECTED.len());
        if done || Instant::now() > deadline {
            break (per_series, keys_of, deliveries_of);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (t, keys) in &keys_of {
        assert_eq!(
            keys.len(),
            1,
            "{t:?} notified under {} idempotency keys: {keys:?}",
            keys.len()
        );
    }
    let killed_at = alarm_killed_at.expect("the active alarm was killed");
    let mut redelivered = 0;
    for (key, at) in &deliveries_of {
        if at.len() > 1 {
            assert!(
                at.len() == 2 && at[0] < killed_at && at[1] > killed_at,
                "delivery {key} answered {} times, not only across the alarm's kill",
                at.len()
            );
            redelivered += 1;
        }
    }
    let mut transitions_ok = 0;
    for s in &series {
        let key = (cluster.tenants[s.tenant].tenant.to_string(), s.host.clone());
        let got: Vec<&str> = transitions
            .get(&key)
            .map(|m| m.values().map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(got, EXPECTED, "transitions of {key:?}");
        transitions_ok += got.len();
    }

    // Every acknowledged point is readable, and only by its tenant.
    let mut acked_total = 0;
    let mut read_total = 0;
    for (ti, t) in cluster.tenants.iter().enumerate() {
        let r = client
            .get(format!(
                "{web}/api/v1/query?metric=chaos.value&start={}&end={}",
                base_ts - 10,
                base_ts + TICKS + 10
            ))
            .bearer_auth(&t.api_token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let data: Vec<argus_core::query::SeriesData> = r.json().await.unwrap();
        for d in &data {
            assert_eq!(
                d.key.tenant, t.tenant,
                "another tenant's series in the answer"
            );
        }
        for s in series.iter().filter(|s| s.tenant == ti) {
            let got: BTreeSet<i64> = data
                .iter()
                .filter(|d| d.key.endpoint == s.host)
                .flat_map(|d| d.points.iter().map(|(ts, _)| *ts))
                .collect();
            let missing: Vec<_> = s.acked.difference(&got).collect();
            assert!(
                missing.is_empty(),
                "{}: acknowledged points missing: {missing:?}",
                s.host
            );
            acked_total += s.acked.len();
            read_total += s.acked.intersection(&got).count();
        }
    }
    let failover = failover.expect("the alarm failover was measured");
    assert!(
        failover < Duration::from_secs(15),
        "alarm failover took {failover:?}"
    );

    println!("chaos figures:");
    println!(
        "  load: {} series x {TICKS} ticks in {load_secs:.1} s",
        series.len()
    );
    println!("  points acknowledged {acked_total}, read back {read_total}, lost 0");
    println!(
        "  transitions delivered exactly once: {transitions_ok} of {}",
        series.len() * EXPECTED.len()
    );
    println!("  alarm failover: {:.1} s", failover.as_secs_f64());
    println!(
        "  deliveries: {} idempotency keys, {redelivered} answered again after the alarm's kill -9",
        deliveries_of.len()
    );
    println!("  partial answers during the partition: {partial_answers}");
    for r in &cluster.regions {
        println!(
            "  cross-region bytes {r}: {:?}",
            cluster.cross_region_bytes(r)
        );
    }
    hooks.stop().await;
    cluster.down();
}
