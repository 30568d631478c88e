//! End-to-end through the routing tree: label routes to teams and contacts by name, the first
//! message of a group at once with the rest merged, reminders, and inhibition.

mod common;

use argus_core::event::{Event, EventStatus};
use argus_core::notify::TenantNotifyConfig;
use argus_core::route::RoutingConfig;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn routed(t: &str, hooks: &[&str], tree: Value) -> TenantNotifyConfig {
    let contacts = hooks
        .iter()
        .enumerate()
        .map(|(i, h)| contact(t, i as u64 + 1, None, Some(h), None))
        .collect();
    let mut c = tenant_cfg(t, contacts, vec![team(t, 10, vec![2], None, 60)], vec![]);
    c.routing = Some(RoutingConfig::from_alertmanager(&tree).unwrap());
    c
}

fn p(t: &str, host: &str, strategy: u64, prio: u8) -> Event {
    event(t, host, strategy, prio, EventStatus::Problem, 1)
}

async fn outcome(base: &str, t: &str, state: &str) -> Vec<Value> {
    let (s, v) = get(&format!(
        "{base}/internal/v1/events?tenant={t}&state={state}"
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    v["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn labels_route_to_teams_and_contacts_by_name() {
    let (rx1, rx2) = (Receiver::start().await, Receiver::start().await);
    let dir = tempfile::tempdir().unwrap();
    let t = "rt-tree";
    let tree = json!({"route": {
    "receiver": "contact-1", "group_wait": "0s",
    "routes": [
        {"matchers": ["dc=~\"eu.*\"", "priority=~\"P[01]\""], "receiver": "team-10"},
        {"matchers": ["endpoint!~\"db-.*\""], "receiver": "contact-1", "continue": true},
        {"match": {"strategy": "8"}, "receiver": "team-10"}
    ]}});
    let cfg = config(dir.path(), vec![routed(t, &[&rx1.url, &rx2.url], tree)]);
    let alarm = argus_alarm::start(cfg).await.unwrap();
    // P1 in eu1: the team (contact 2) only.
    post_events(&alarm.url(), &[p(t, "web-1", 7, 1)]).await;
    wait_for("the team's message", 30, || rx2.delivered().len() == 1).await;
    // P2 on web-2, strategy 8: contact 1 (continue) and the team.
    post_events(&alarm.url(), &[p(t, "web-2", 8, 2)]).await;
    wait_for("both", 30, || {
        rx1.delivered().len() == 1 && rx2.delivered().len() == 2
    })
    .await;
    // P2 on db-1, strategy 9: no child matches; the root's receiver.
    post_events(&alarm.url(), &[p(t, "db-1", 9, 2)]).await;
    wait_for("the root's", 30, || rx1.delivered().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hosts = |rx: &Receiver| -> Vec<String> {
        rx.delivered()
            .iter()
            .map(|h| h.json()["hosts"][0].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(hosts(&rx1), ["web-2", "db-1"]);
    assert_eq!(hosts(&rx2), ["web-1", "web-2"]);
    alarm.stop().await;
    rx1.stop().await;
    rx2.stop().await;
}

#[tokio::test]
async fn first_message_at_once_and_a_20_host_storm_in_at_most_two() {
    let t = "rt-storm";
    let OneWebhook {
        rx,
        dir: _dir,
        mut cfg,
    } = one_webhook(t, None).await;
    cfg.group_wait_secs = 3;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let started = Instant::now();
    // One request per host, as 20 judges' outboxes would send them.
    for i in 0..20 {
        post_events(&alarm.url(), &[p(t, &format!("web-{i}"), 42, 1)]).await;
    }
    wait_for("the first message", 30, || !rx.delivered().is_empty()).await;
    let first_after = started.elapsed();
    assert!(
        first_after < Duration::from_millis(2500),
        "the first message took {first_after:?}, not sent at once (window 3 s)"
    );
    let count = |rx: &Receiver| -> usize {
        rx.delivered()
            .iter()
            .map(|h| h.json()["events"].as_array().unwrap().len())
            .sum()
    };
    wait_for("all 20 hosts", 30, || count(&rx) == 20).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let msgs: Vec<_> = rx.delivered().iter().map(|h| h.json()).collect();
    assert!(
        msgs.len() <= 2,
        "{} messages for one storm: {msgs:#?}",
        msgs.len()
    );
    assert_eq!(count(&rx), 20);
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn reminders_repeat_an_open_problem_until_acknowledged() {
    reminders(None).await;
}

/// The same on PostgreSQL (reminders' and groups' statements on the other engine).
#[tokio::test]
async fn reminders_on_postgres() {
    if let Some(url) = pg_database("PostgreSQL").await {
        reminders(Some(url)).await;
    }
}

async fn reminders(database_url: Option<String>) {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = "rt-remind";
    let tree =
        json!({"route": {"receiver": "contact-1", "group_wait": "0s", "repeat_interval": "1s"}});
    let mut cfg = config(dir.path(), vec![routed(t, &[&rx.url], tree)]);
    if let Some(u) = database_url {
        cfg.database_url = u;
    }
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let e = p(t, "web-1", 7, 1);
    post_events(&alarm.url(), std::slice::from_ref(&e)).await;
    let kinds = |rx: &Receiver| -> Vec<String> {
        rx.delivered()
            .iter()
            .map(|h| h.json()["kind"].as_str().unwrap().to_string())
            .collect()
    };
    wait_for("two reminders", 30, || {
        kinds(&rx).iter().filter(|k| *k == "reminder").count() >= 2
    })
    .await;
    assert_eq!(kinds(&rx)[0], "alert");
    // Acknowledged: no more reminders.
    let (s, v) = post(
        &format!("{}/internal/v1/events/{}/ack?tenant={t}", alarm.url(), e.id),
        json!({"by": "oncall", "comment": "on it"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = kinds(&rx).len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        kinds(&rx).len(),
        n,
        "reminded after the acknowledgement: {:?}",
        kinds(&rx)
    );
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn host_down_and_inhibit_rules_mute_targets() {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = "rt-inhibit";
    let tree = json!({
        "route": {"receiver": "contact-1", "group_wait": "0s", "group_by": ["endpoint"]},
        "inhibit_rules": [{"source_matchers": ["priority=P0", "alertname=disk.full"], "target_matchers": ["priority=P2"], "equal": ["dc"]}]
    });
    let cfg = config(dir.path(), vec![routed(t, &[&rx.url], tree)]);
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let mut down = p(t, "web-1", 1, 0);
    down.series.metric = "agent.alive".into();
    down.id = argus_core::event::EventId::of(1, &down.series);
    post_events(&alarm.url(), &[down]).await;
    wait_for("host down", 30, || rx.delivered().len() == 1).await;
    // web-1's cpu alert is muted by its host being down; web-2's is not.
    post_events(&alarm.url(), &[p(t, "web-1", 7, 1), p(t, "web-2", 7, 1)]).await;
    wait_for("web-2", 30, || rx.delivered().len() == 2).await;
    // A P0 disk.full in dc eu1 mutes P2s of eu1.
    let mut disk = p(t, "db-1", 2, 0);
    disk.series.metric = "disk.full".into();
    disk.id = argus_core::event::EventId::of(2, &disk.series);
    post_events(&alarm.url(), &[disk]).await;
    wait_for("disk", 30, || rx.delivered().len() == 3).await;
    post_events(&alarm.url(), &[p(t, "db-2", 9, 2)]).await;
    wait_for_async("two inhibited", 30, || async {
        outcome(&alarm.url(), t, "inhibited").await.len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.delivered().len(), 3);
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn escalation_steps_through_teams_for_a_routed_p2_and_all_hear_the_recovery() {
    let rx: Vec<Receiver> = vec![
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    let dir = tempfile::tempdir().unwrap();
    let t = "rt-escalate";
    let contacts = rx
        .iter()
        .enumerate()
        .map(|(i, r)| contact(t, i as u64 + 1, None, Some(&r.url), None))
        .collect();
    // Team 10 (contact 1) → after 1 s team 11 (contact 2) → after 1 s team 12 (contact 3).
    let teams = vec![
        team(t, 10, vec![1], Some(11), 1),
        team(t, 11, vec![2], Some(12), 1),
        team(t, 12, vec![3], None, 1),
    ];
    let mut c = tenant_cfg(t, contacts, teams, vec![]);
    c.routing = Some(
        RoutingConfig::from_alertmanager(
            &json!({"route": {"receiver": "team-10", "group_wait": "0s"}}),
        )
        .unwrap(),
    );
    let alarm = argus_alarm::start(config(dir.path(), vec![c]))
        .await
        .unwrap();
    post_events(&alarm.url(), &[p(t, "web-1", 7, 2)]).await;
    let kinds = |r: &Receiver| -> Vec<String> {
        r.delivered()
            .iter()
            .map(|h| {
                format!(
                    "{}:{}",
                    h.json()["kind"].as_str().unwrap(),
                    h.json()["status"].as_str().unwrap()
                )
            })
            .collect()
    };
    wait_for("two escalation steps", 30, || {
        !rx[1].delivered().is_empty() && !rx[2].delivered().is_empty()
    })
    .await;
    assert_eq!(kinds(&rx[0]), ["alert:PROBLEM"]);
    assert_eq!(kinds(&rx[1]), ["escalation:PROBLEM"]);
    assert_eq!(kinds(&rx[2]), ["escalation:PROBLEM"]);
    assert_eq!(rx[2].delivered()[0].json()["escalation_level"], 2);
    post_events(&alarm.url(), &[event(t, "web-1", 7, 2, EventStatus::Ok, 2)]).await;
    wait_for("every team hears the recovery", 30, || {
        rx.iter().all(|r| r.delivered().len() == 2)
    })
    .await;
    for r in &rx {
        assert_eq!(kinds(r)[1], "alert:OK");
    }
    alarm.stop().await;
    for r in rx {
        r.stop().await;
    }
}

#[tokio::test]
async fn an_inhibited_alert_is_told_once_its_sources_recover() {
    release(None).await;
}

/// The same on PostgreSQL (the release's statements on the other engine).
#[tokio::test]
async fn inhibition_release_on_postgres() {
    if let Some(url) = pg_database("PostgreSQL").await {
        release(Some(url)).await;
    }
}

async fn release(database_url: Option<String>) {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = "rt-release";
    let tree = json!({
        "route": {"receiver": "contact-1", "group_wait": "0s", "group_by": ["endpoint"], "group_interval": "1s"},
        "inhibit_rules": [{"source_matchers": ["priority=P0", "alertname=disk.full"], "target_matchers": ["priority=P2"], "equal": ["dc"]}]
    });
    let mut cfg = config(dir.path(), vec![routed(t, &[&rx.url], tree)]);
    if let Some(u) = database_url {
        cfg.database_url = u;
    }
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let told = |rx: &Receiver, host: &str, metric: &str, status: &str| -> usize {
        rx.delivered()
            .iter()
            .flat_map(|h| h.json()["events"].as_array().cloned().unwrap_or_default())
            .filter(|e| {
                e["series"]["endpoint"] == host
                    && e["series"]["metric"] == metric
                    && e["status"] == status
            })
            .count()
    };
    let source = |host: &str, strategy: u64, metric: &str, status: EventStatus, occ: u64| {
        let mut e = event(t, host, strategy, 0, status, occ);
        e.series.metric = metric.into();
        e.id = argus_core::event::EventId::of(strategy, &e.series);
        e
    };
    // web-1 is down: its cpu alert is inhibited.
    post_events(
        &alarm.url(),
        &[source("web-1", 1, "agent.alive", EventStatus::Problem, 1)],
    )
    .await;
    wait_for("host down", 30, || {
        told(&rx, "web-1", "agent.alive", "PROBLEM") == 1
    })
    .await;
    post_events(&alarm.url(), &[p(t, "web-1", 7, 1)]).await;
    // Two P0 disk.full alerts of eu1 both inhibit db-2's P2.
    post_events(
        &alarm.url(),
        &[
            source("db-1", 2, "disk.full", EventStatus::Problem, 1),
            source("db-3", 3, "disk.full", EventStatus::Problem, 1),
        ],
    )
    .await;
    post_events(&alarm.url(), &[p(t, "db-2", 9, 2)]).await;
    wait_for_async("two inhibited", 30, || async {
        outcome(&alarm.url(), t, "inhibited").await.len() == 2
    })
    .await;
    // The host comes back: its recovery, and web-1's cpu alert, no longer inhibited.
    post_events(
        &alarm.url(),
        &[source("web-1", 1, "agent.alive", EventStatus::Ok, 2)],
    )
    .await;
    wait_for("web-1's cpu alert", 30, || {
        told(&rx, "web-1", "cpu.busy", "PROBLEM") == 1
    })
    .await;
    assert_eq!(told(&rx, "web-1", "agent.alive", "OK"), 1);
    let open = outcome(&alarm.url(), t, "problem").await;
    assert!(
        open.iter()
            .any(|a| a["event"]["series"]["endpoint"] == "web-1" && a["event"]["priority"] == 1),
        "web-1's cpu alert is a problem again: {open:?}"
    );
    // One disk alert recovers: db-2 stays inhibited by the other.
    post_events(
        &alarm.url(),
        &[source("db-1", 2, "disk.full", EventStatus::Ok, 2)],
    )
    .await;
    wait_for("db-1's recovery", 30, || {
        told(&rx, "db-1", "disk.full", "OK") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(told(&rx, "db-2", "cpu.busy", "PROBLEM"), 0);
    assert_eq!(outcome(&alarm.url(), t, "inhibited").await.len(), 1);
    // The other recovers: db-2 is told, once.
    post_events(
        &alarm.url(),
        &[source("db-3", 3, "disk.full", EventStatus::Ok, 2)],
    )
    .await;
    wait_for("db-2's alert", 30, || {
        told(&rx, "db-2", "cpu.busy", "PROBLEM") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(told(&rx, "db-2", "cpu.busy", "PROBLEM"), 1);
    assert!(outcome(&alarm.url(), t, "inhibited").await.is_empty());
    // Its recovery is told too (it is no longer a muted problem's).
    post_events(&alarm.url(), &[event(t, "db-2", 9, 2, EventStatus::Ok, 2)]).await;
    wait_for("db-2's recovery", 30, || {
        told(&rx, "db-2", "cpu.busy", "OK") == 1
    })
    .await;
    alarm.stop().await;
    rx.stop().await;
}

/// A problem whose only route is muted is held (nothing sent), looked at again every
/// group_interval, and told as a new alert once the route is no longer muted. Here the mute is
/// lifted by a configuration change, which to alarm is the same as the clock leaving the
/// interval (minute-granular intervals would make that a slow test; the clock's side is core's
/// unit tests).
#[tokio::test]
async fn a_problem_held_by_a_muted_route_is_told_when_the_mute_lifts() {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use std::sync::{Arc, Mutex};
    let rx = Receiver::start().await;
    let t = "rt-mute";
    let tree = |muted: bool| {
        json!({
            "route": {"receiver": "contact-1", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h", "routes": [
                {"matchers": ["dc=eu1"], "receiver": "contact-1", "mute_time_intervals": if muted { json!(["always"]) } else { json!([]) }}
            ]},
            "time_intervals": [{"name": "always", "time_intervals": [{}]}]
        })
    };
    let doc = |version: u64, muted: bool| json!({"version": version, "tenants": [routed(t, &[&rx.url], tree(muted))]});
    // A configuration center whose document the test swaps.
    let current = Arc::new(Mutex::new(doc(1, true)));
    let served = current.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let served = served.clone();
        App::new().route(
            "/internal/v1/config/notify",
            web::get().to(move || {
                let d = served.lock().unwrap().clone();
                async move {
                    HttpResponse::Ok()
                        .insert_header(("ETag", format!("\"v{}\"", d["version"])))
                        .json(d)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), vec![]);
    cfg.web_url = format!("http://{addr}");
    cfg.config_poll_secs = 1;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(&alarm.url(), &[p(t, "web-1", 7, 1)]).await;
    wait_for_async("the muted outcome", 30, || async {
        let (_, v) = get(&format!(
            "{}/internal/v1/events/history?tenant={t}",
            alarm.url()
        ))
        .await;
        v["events"][0]["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("muted by time interval \"always\""))
    })
    .await;
    // Held: several group intervals pass and nothing is sent.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(rx.delivered().is_empty(), "sent while muted");
    *current.lock().unwrap() = doc(2, false);
    wait_for("the alert once unmuted", 30, || !rx.delivered().is_empty()).await;
    let m = rx.delivered()[0].json();
    assert_eq!(m["kind"], "alert", "{m}");
    assert_eq!(m["hosts"], json!(["web-1"]), "{m}");
    // Told once: the next is a reminder, an hour later.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(rx.delivered().len(), 1);
    alarm.stop().await;
    handle.stop(true).await;
    rx.stop().await;
}
