//! The judge over real HTTP: points in, events out to a real local alarm receiver (retried while
//! it is down), strategies pulled from a real local config center with ETag, state across a
//! restart.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::event::{Event, EventStatus};
use argus_core::wire::{encode_body, Batch, Encoding};
use argus_core::{Point, Tags, TenantId};
use argus_judge::{start, JudgeConfig};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "node-secret";

/// A stand-in alarm: records events, answers 503 to the first `fail_first` requests.
#[derive(Default)]
struct Alarm {
    events: Mutex<Vec<Event>>,
    requests: AtomicUsize,
    fail_first: usize,
}

async fn alarm_events(
    req: HttpRequest,
    body: web::Json<serde_json::Value>,
    st: web::Data<Arc<Alarm>>,
) -> HttpResponse {
    assert_eq!(
        req.headers()
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {TOKEN}")
    );
    let n = st.requests.fetch_add(1, Ordering::SeqCst);
    if n < st.fail_first {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let events: Vec<Event> = serde_json::from_value(body["events"].clone()).unwrap();
    let count = events.len();
    st.events.lock().unwrap().extend(events);
    HttpResponse::Ok().json(json!({"accepted": count, "duplicates": 0}))
}

async fn start_alarm(
    addr: &str,
    fail_first: usize,
) -> (Arc<Alarm>, SocketAddr, actix_web::dev::ServerHandle) {
    let st = Arc::new(Alarm {
        fail_first,
        ..Default::default()
    });
    let data = web::Data::new(st.clone());
    let listener = std::net::TcpListener::bind(addr).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/internal/v1/events", web::post().to(alarm_events))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (st, addr, handle)
}

fn strategies(threshold: f64, version: u64) -> serde_json::Value {
    json!({"version": version, "tenants": [{
        "tenant": "acme", "version": version,
        "templates": [{"id": 1, "tenant": "acme", "name": "base", "strategies": [
            {"id": 10, "metric": "cpu.busy", "condition": format!("all(#2) > {threshold}"),
             "priority": 1, "max_alarms": 5, "note": "cpu hot"}
        ]}],
        "host_groups": [{"id": 1, "tenant": "acme", "name": "web", "hosts": ["h1"], "templates": [1]}]
    }]})
}

fn config(dir: &Path, alarm: Vec<String>) -> JudgeConfig {
    JudgeConfig {
        listen: "127.0.0.1:0".into(),
        region: "r1".into(),
        internal_token: TOKEN.into(),
        alarm,
        data_dir: dir.to_path_buf(),
        shards: 2,
        workers: 1,
        max_backoff_ms: 300,
        pull_interval_secs: 1,
        ..Default::default()
    }
}

fn point(endpoint: &str, value: f64, ts: i64) -> Point {
    let mut p = Point::gauge(endpoint, "cpu.busy", Tags::new(), value, ts);
    p.tenant = TenantId::new("acme").unwrap();
    p
}

/// Pushes as a transfer does: the binary point frame, zstd.
async fn push(url: &str, points: Vec<Point>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/internal/v1/points"))
        .bearer_auth(TOKEN)
        .header("content-type", argus_core::wire::frame::CONTENT_TYPE)
        .header("content-encoding", "zstd")
        .body(argus_core::wire::frame::encode_batch(&points))
        .send()
        .await
        .unwrap()
}

/// Pushes an Argus JSON batch, zstd.
async fn push_json(url: &str, points: Vec<Point>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/internal/v1/points"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .body(encode_body(Encoding::Zstd, &Batch { points }.to_json()))
        .send()
        .await
        .unwrap()
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[actix_web::test]
async fn points_become_events_at_alarm_and_state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    std::fs::write(&file, strategies(90.0, 1).to_string()).unwrap();
    let (alarm, alarm_addr, alarm_handle) = start_alarm("127.0.0.1:0", 1).await;
    let mut cfg = config(
        &dir.path().join("data"),
        vec![format!("http://{alarm_addr}")],
    );
    cfg.strategies_file = Some(file.clone());
    let judge = start(cfg.clone()).await.unwrap();
    let url = format!("http://{}", judge.addr);

    // Without the credential: refused.
    let r = reqwest::Client::new()
        .post(format!("{url}/internal/v1/points"))
        .json(&Batch { points: vec![] })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let mut no_tenant = point("h3", 99.0, 100);
    no_tenant.tenant = TenantId::default();
    let r = push(
        &url,
        vec![point("h1", 95.0, 100), no_tenant, point("h2", 99.0, 100)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    assert_eq!(
        (&body["rejected"][0]["index"], &body["rejected"][0]["field"]),
        (&serde_json::json!(1), &serde_json::json!("tenant")),
        "{body}"
    );
    // JSON batches are taken too.
    let r = push_json(&url, vec![point("h1", 96.0, 110), point("h2", 99.0, 110)]).await;
    assert_eq!(r.status(), 200);
    // The first delivery attempt got a 503: the event arrives on a retry.
    wait_for("the PROBLEM at alarm", || {
        !alarm.events.lock().unwrap().is_empty()
    })
    .await;
    assert!(alarm.requests.load(Ordering::SeqCst) >= 2);
    {
        let ev = alarm.events.lock().unwrap();
        assert_eq!(ev.len(), 1, "only h1 is in the group: {ev:?}");
        let e = &ev[0];
        assert_eq!(e.status, EventStatus::Problem);
        assert_eq!(
            (e.occurrence, e.alarm_count, e.value, e.timestamp),
            (1, 1, 96.0, 110)
        );
        assert_eq!((e.strategy_id, e.template_id), (10, Some(1)));
        assert_eq!((e.region.as_str(), e.note.as_str()), ("r1", "cpu hot"));
        assert_eq!(e.series.endpoint, "h1");
    }
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("argus_judge_events_total 1"), "{metrics}");
    // Every attempt (the refused one too) crossed to the global zone, counted as events.
    let sent: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("argus_cross_region_bytes_sent_total{kind=\"events\",to=\"global\"} ")
        })
        .unwrap_or_else(|| panic!("no cross-region events counter: {metrics}"))
        .parse()
        .unwrap();
    assert!(
        sent > 2 * 300,
        "two attempts of a ~500-byte event: {sent} B"
    );

    // Restart: the open problem and its occurrence count carry on.
    judge.stop().await;
    assert!(dir.path().join("data/state.json").exists());
    let judge = start(cfg.clone()).await.unwrap();
    let url = format!("http://{}", judge.addr);
    push(&url, vec![point("h1", 10.0, 120)]).await;
    wait_for("the OK at alarm", || {
        alarm.events.lock().unwrap().len() == 2
    })
    .await;
    {
        let ev = alarm.events.lock().unwrap();
        assert_eq!(ev[1].status, EventStatus::Ok);
        assert_eq!(ev[1].occurrence, 2);
        assert_eq!(ev[1].id, ev[0].id, "stable event id");
    }

    // The static file is reloaded when it changes (hot reload, no restart).
    tokio::time::sleep(Duration::from_millis(1100)).await; // a distinct mtime
    std::fs::write(&file, strategies(5.0, 2).to_string()).unwrap();
    let mut ts = 130;
    for _ in 0..100 {
        push(&url, vec![point("h1", 10.0, ts)]).await;
        ts += 10;
        if alarm.events.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ev = alarm.events.lock().unwrap().clone();
    assert_eq!(ev[2].status, EventStatus::Problem);
    assert_eq!(ev[2].value, 10.0);
    judge.stop().await;
    alarm_handle.stop(true).await;
}

#[actix_web::test]
async fn events_wait_in_the_outbox_while_alarm_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    std::fs::write(&file, strategies(90.0, 1).to_string()).unwrap();
    // Reserve a port for alarm, then free it: nothing listens there yet.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let alarm_addr = free.local_addr().unwrap();
    drop(free);
    let mut cfg = config(
        &dir.path().join("data"),
        vec![format!("http://{alarm_addr}")],
    );
    cfg.strategies_file = Some(file);
    let judge = start(cfg).await.unwrap();
    let url = format!("http://{}", judge.addr);
    for (i, v) in [95.0, 96.0, 10.0, 97.0, 98.0].into_iter().enumerate() {
        let r = push(&url, vec![point("h1", v, 100 + 10 * i as i64)]).await;
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Alarm comes up: everything arrives, in order.
    let (alarm, _, handle) = start_alarm(&alarm_addr.to_string(), 0).await;
    wait_for("all events", || alarm.events.lock().unwrap().len() == 3).await;
    let ev = alarm.events.lock().unwrap().clone();
    let seen: Vec<_> = ev.iter().map(|e| (e.status, e.occurrence)).collect();
    assert_eq!(
        seen,
        vec![
            (EventStatus::Problem, 1),
            (EventStatus::Ok, 2),
            (EventStatus::Problem, 3)
        ]
    );
    judge.stop().await;
    handle.stop(true).await;
}

/// Upgrade: an outbox left by the previous version (`events.log`, one JSON event a line, and
/// `acked`, the byte offset alarm acknowledged, written as that version wrote them) is taken
/// over at start. Its unacknowledged events reach alarm in order; the acknowledged one does not.
#[actix_web::test]
async fn an_outbox_of_the_previous_format_is_delivered_after_an_upgrade() {
    use argus_core::event::EventId;
    use argus_core::strategy::Priority;
    use argus_core::SeriesKey;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("data/outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let series = SeriesKey::new(tenant.clone(), "h1", "cpu", Tags::new());
    let mut log = Vec::new();
    let mut acked = 0;
    for occurrence in 1..=3u64 {
        let e = Event {
            id: EventId::of(7, &series),
            tenant: tenant.clone(),
            status: if occurrence % 2 == 1 {
                EventStatus::Problem
            } else {
                EventStatus::Ok
            },
            occurrence,
            strategy_id: 7,
            template_id: None,
            series: series.clone(),
            priority: Priority::P0,
            condition: "all(#1) > 90".into(),
            value: 95.0,
            timestamp: 100 + occurrence as i64,
            alarm_count: 1,
            note: String::new(),
            region: "r1".into(),
            rule: None,
        };
        serde_json::to_writer(&mut log, &e).unwrap();
        log.push(b'\n');
        if occurrence == 1 {
            acked = log.len();
        }
    }
    std::fs::write(outbox.join("events.log"), &log).unwrap();
    std::fs::write(outbox.join("acked"), acked.to_string()).unwrap();

    let (alarm, alarm_addr, handle) = start_alarm("127.0.0.1:0", 0).await;
    let judge = start(config(
        &dir.path().join("data"),
        vec![format!("http://{alarm_addr}")],
    ))
    .await
    .unwrap();
    wait_for("the old outbox's events", || {
        alarm.events.lock().unwrap().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen: Vec<_> = alarm
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.status, e.occurrence))
        .collect();
    assert_eq!(seen, vec![(EventStatus::Ok, 2), (EventStatus::Problem, 3)]);
    assert!(!outbox.join("events.log").exists());
    assert!(!outbox.join("acked").exists());
    judge.stop().await;
    handle.stop(true).await;
}

/// A stand-in config center serving strategies with an ETag.
struct Center {
    doc: Mutex<serde_json::Value>,
    requests: AtomicU64,
    not_modified: AtomicU64,
}

async fn center_strategies(req: HttpRequest, st: web::Data<Arc<Center>>) -> HttpResponse {
    st.requests.fetch_add(1, Ordering::SeqCst);
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return HttpResponse::Unauthorized().finish();
    }
    let doc = st.doc.lock().unwrap().clone();
    let etag = format!("\"{}\"", doc["version"]);
    if req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some(&etag)
    {
        st.not_modified.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok().insert_header(("ETag", etag)).json(doc)
}

#[actix_web::test]
async fn strategies_come_from_the_config_center_and_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let center = Arc::new(Center {
        doc: Mutex::new(strategies(90.0, 1)),
        requests: AtomicU64::new(0),
        not_modified: AtomicU64::new(0),
    });
    let data = web::Data::new(center.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let center_addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/internal/v1/config/strategies",
            web::get().to(center_strategies),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let center_handle = server.handle();
    tokio::spawn(server);

    let (alarm, alarm_addr, alarm_handle) = start_alarm("127.0.0.1:0", 0).await;
    let mut cfg = config(
        &dir.path().join("data"),
        vec![format!("http://{alarm_addr}")],
    );
    cfg.config_center = Some(format!("http://{center_addr}"));
    let judge = start(cfg.clone()).await.unwrap();
    let url = format!("http://{}", judge.addr);
    // The first pull happens at start; the next ones revalidate with If-None-Match.
    wait_for("a 304 from the center", || {
        center.not_modified.load(Ordering::SeqCst) >= 1
    })
    .await;
    push(&url, vec![point("h1", 95.0, 100), point("h1", 95.0, 110)]).await;
    wait_for("the PROBLEM", || alarm.events.lock().unwrap().len() == 1).await;
    assert!(dir.path().join("data/strategies.cache.json").exists());

    // A new version applies without a restart.
    *center.doc.lock().unwrap() = strategies(99.0, 2);
    let before = center.requests.load(Ordering::SeqCst);
    wait_for("the new version pulled", || {
        center.requests.load(Ordering::SeqCst) >= before + 2
    })
    .await;
    push(&url, vec![point("h1", 95.0, 120)]).await;
    wait_for("the OK under the new threshold", || {
        alarm.events.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(alarm.events.lock().unwrap()[1].status, EventStatus::Ok);
    judge.stop().await;

    // The center is gone: the judge starts from its cached set.
    center_handle.stop(true).await;
    let judge = start(cfg).await.unwrap();
    let url = format!("http://{}", judge.addr);
    push(&url, vec![point("h1", 100.0, 130), point("h1", 100.0, 140)]).await;
    wait_for("a PROBLEM from the cached set", || {
        alarm.events.lock().unwrap().len() == 3
    })
    .await;
    assert_eq!(alarm.events.lock().unwrap()[2].occurrence, 3);
    judge.stop().await;
    alarm_handle.stop(true).await;
}

/// A stand-in alarm that refuses (400) any batch holding an event of value 66, as it would an
/// invalid event.
async fn picky_events(
    body: web::Json<serde_json::Value>,
    st: web::Data<Arc<Alarm>>,
) -> HttpResponse {
    st.requests.fetch_add(1, Ordering::SeqCst);
    let events: Vec<Event> = serde_json::from_value(body["events"].clone()).unwrap();
    if let Some(i) = events.iter().position(|e| e.value == 66.0) {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid", "field": format!("events[{i}].value")}));
    }
    st.events.lock().unwrap().extend(events);
    HttpResponse::Ok().json(json!({"accepted": 1, "duplicates": 0}))
}

#[actix_web::test]
async fn an_event_alarm_refuses_is_set_aside_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    let mut doc = strategies(90.0, 1);
    doc["tenants"][0]["templates"][0]["strategies"][0]["condition"] = json!("all(#1) > 50");
    std::fs::write(&file, doc.to_string()).unwrap();
    let st = Arc::new(Alarm::default());
    let data = web::Data::new(st.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let alarm_addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/internal/v1/events", web::post().to(picky_events))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    // Events pile up before alarm is reachable, so that they travel in one batch.
    let mut cfg = config(
        &dir.path().join("data"),
        vec![format!("http://{alarm_addr}")],
    );
    cfg.strategies_file = Some(file);
    let judge = start(cfg).await.unwrap();
    let url = format!("http://{}", judge.addr);
    // PROBLEM 60, OK 10, PROBLEM 66 (refused), OK 10, PROBLEM 70.
    for (i, v) in [60.0, 10.0, 66.0, 10.0, 70.0].into_iter().enumerate() {
        push(&url, vec![point("h1", v, 100 + 10 * i as i64)]).await;
    }
    tokio::spawn(server);
    wait_for("the four valid events", || {
        st.events.lock().unwrap().len() == 4
    })
    .await;
    let occ: Vec<u64> = st
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.occurrence)
        .collect();
    assert_eq!(occ, vec![1, 2, 4, 5]);
    let rejected = std::fs::read_to_string(dir.path().join("data/outbox/rejected.log")).unwrap();
    assert_eq!(rejected.lines().count(), 1);
    assert!(rejected.contains("\"occurrence\":3"), "{rejected}");
    judge.stop().await;
    handle.stop(true).await;
}

/// Strategies for `cpu.busy` on hosts h0..h{n}.
fn fleet_strategies(n: usize) -> serde_json::Value {
    let mut s = strategies(90.0, 1);
    let hosts: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
    s["tenants"][0]["host_groups"][0]["hosts"] = json!(hosts);
    s
}

/// What a transfer tells judge `this` of `members` (which may not include it: it left).
async fn announce(members: &[String], this: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{this}/internal/v1/ring"))
        .bearer_auth(TOKEN)
        .json(&argus_core::ring::JudgeRing {
            members: members.to_vec(),
            vnodes: 64,
            this: this.to_string(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[actix_web::test]
async fn a_ring_change_hands_each_moved_endpoint_over_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    let hosts = 40;
    std::fs::write(&file, fleet_strategies(hosts).to_string()).unwrap();
    let (alarm, alarm_addr, alarm_handle) = start_alarm("127.0.0.1:0", 0).await;
    let mut judges = Vec::new();
    for name in ["a", "b"] {
        let mut cfg = config(&dir.path().join(name), vec![format!("http://{alarm_addr}")]);
        cfg.strategies_file = Some(file.clone());
        judges.push(start(cfg).await.unwrap());
    }
    let urls: Vec<String> = judges.iter().map(|j| j.url()).collect();
    let (a, b) = (&urls[0], &urls[1]);

    // The state endpoints are internal: no credential, no hand-over.
    let r = reqwest::Client::new()
        .post(format!("{b}/internal/v1/state"))
        .json(&json!({"series": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An empty ring would leave series without an owner.
    let r = reqwest::Client::new()
        .post(format!("{b}/internal/v1/ring"))
        .bearer_auth(TOKEN)
        .json(&json!({"members": [], "vnodes": 64, "this": b}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("members"));

    // One judge: every host's first point (of the two the condition needs) lands on a.
    let one = vec![a.clone()];
    assert_eq!(announce(&one, a).await["handed_over"], 0);
    let first: Vec<Point> = (0..hosts)
        .map(|i| point(&format!("h{i}"), 95.0, 100))
        .collect();
    assert_eq!(push(a, first).await.status(), 200);

    // b joins: a hands b the endpoints b now owns, before answering.
    let two = vec![a.clone(), b.clone()];
    let ring = argus_core::ring::Ring::new(&two, 64);
    let acme = TenantId::new("acme").unwrap();
    let owner = |h: &str| {
        ring.owner(argus_core::series::endpoint_hash(&acme, h))
            .unwrap()
    };
    let moved = (0..hosts).filter(|i| owner(&format!("h{i}")) == 1).count();
    assert!(moved > 5 && moved < hosts - 5, "{moved} of {hosts} move");
    // b, told no ring yet, watched every registered host for liveness: it hands a the watches
    // of a's hosts.
    let answer = announce(&two, b).await;
    assert_eq!(answer["handed_over"], json!(hosts - moved), "{answer}");
    // a hands b each moved host's cpu.busy and its liveness watch (agent.alive, not reported).
    let answer = announce(&two, a).await;
    assert_eq!(answer["handed_over"], json!(2 * moved), "{answer}");
    assert_eq!(answer["changed"], true);
    // A repeated announcement changes nothing.
    assert_eq!(
        announce(&two, a).await,
        json!({"changed": false, "handed_over": 0})
    );

    // The second point goes where the transfers now send it: every host's PROBLEM comes, the
    // moved ones from b, which has their first point only through the hand-over.
    for i in 0..hosts {
        let h = format!("h{i}");
        let to = &two[owner(&h)];
        assert_eq!(push(to, vec![point(&h, 96.0, 110)]).await.status(), 200);
    }
    wait_for("a PROBLEM for every host", || {
        alarm.events.lock().unwrap().len() >= hosts
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ev = alarm.events.lock().unwrap().clone();
    assert_eq!(ev.len(), hosts, "one event per host: {ev:?}");
    let endpoints: std::collections::BTreeSet<&str> =
        ev.iter().map(|e| e.series.endpoint.as_str()).collect();
    assert_eq!(endpoints.len(), hosts);
    assert!(ev
        .iter()
        .all(|e| e.status == EventStatus::Problem && e.occurrence == 1 && e.timestamp == 110));

    // b leaves the ring: told so (it is not among the members), it hands every series back to
    // a, open problems included, so the OK comes from a with the next occurrence.
    assert_eq!(announce(&one, a).await["changed"], true);
    let answer = announce(&one, b).await;
    assert_eq!(answer["handed_over"], json!(2 * moved), "{answer}");
    for i in 0..hosts {
        assert_eq!(
            push(a, vec![point(&format!("h{i}"), 10.0, 120)])
                .await
                .status(),
            200
        );
    }
    wait_for("an OK for every host", || {
        alarm.events.lock().unwrap().len() >= 2 * hosts
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ev = alarm.events.lock().unwrap().clone();
    assert_eq!(ev.len(), 2 * hosts, "{ev:?}");
    assert!(ev[hosts..]
        .iter()
        .all(|e| e.status == EventStatus::Ok && e.occurrence == 2 && e.timestamp == 120));
    for j in judges.drain(..) {
        j.stop().await;
    }
    alarm_handle.stop(true).await;
}
