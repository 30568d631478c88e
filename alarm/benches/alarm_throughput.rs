//! Alarm throughput: events ingested per second (HTTP, stored durably, idempotent) and
//! notifications per second delivered to a local webhook receiver.
//!
//! `cargo bench -p argus-alarm --bench alarm_throughput` (SQLite in a temp dir); with
//! `ARGUS_TEST_PG_URL` set it also runs on a fresh PostgreSQL database.
//! `ALARM_BENCH_EVENTS` (default 20000) and `ALARM_BENCH_NOTICES` (default 2000) size the runs;
//! `-- --save` saves the figures to `bench/results/alarm.json` for docs/BENCHMARKS.md.

use actix_web::{web, App, HttpResponse, HttpServer};
use argus_alarm::AlarmConfig;
use argus_core::event::{Event, EventId, EventStatus};
use argus_core::notify::{Channel, Contact, Subscription, SubscriptionTarget, TenantNotifyConfig};
use argus_core::strategy::Priority;
use argus_core::{SeriesKey, Tags, TenantId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn event(t: &TenantId, i: u64) -> Event {
    let series = SeriesKey::new(
        t.clone(),
        format!("host-{i}"),
        "cpu.busy",
        Tags::parse_falcon("dc=eu1").unwrap(),
    );
    Event {
        id: EventId::of(i, &series),
        tenant: t.clone(),
        status: EventStatus::Problem,
        occurrence: 1,
        strategy_id: i,
        template_id: None,
        series,
        priority: Priority::new(1).unwrap(),
        condition: "all(#3) > 90".into(),
        value: 97.5,
        timestamp: 1_700_000_000,
        alarm_count: 1,
        note: String::new(),
        region: "eu1".into(),
        rule: None,
    }
}

fn base_config(dir: &std::path::Path, db: Option<&str>) -> AlarmConfig {
    AlarmConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        database_url: db.unwrap_or("").to_string(),
        poll_interval_ms: 20,
        group_wait_secs: 0,
        rate_limit_per_minute: 0,
        allow_private_webhooks: true,
        concurrency: 32,
        ..Default::default()
    }
}

async fn post_all(client: &reqwest::Client, url: &str, events: &[Event], batch: usize) {
    for chunk in events.chunks(batch) {
        let r = client
            .post(format!("{url}/internal/v1/events"))
            .json(&serde_json::json!({ "events": chunk }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
}

/// Events per second: first sent, then sent again (all duplicates).
async fn ingest(label: &str, db: Option<&str>, n: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let alarm = argus_alarm::start(base_config(dir.path(), db))
        .await
        .unwrap();
    let t = TenantId::new("bench").unwrap();
    let events: Vec<Event> = (0..n).map(|i| event(&t, i)).collect();
    let client = reqwest::Client::new();
    // Four concurrent senders, as several judges would be.
    let start = Instant::now();
    let mut tasks = vec![];
    for part in events.chunks(events.len().div_ceil(4)) {
        let (c, u, p) = (client.clone(), alarm.url(), part.to_vec());
        tasks.push(tokio::spawn(async move { post_all(&c, &u, &p, 500).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let fresh = n as f64 / secs;
    println!(
        "{label}: ingest {n} events in {secs:.2} s = {fresh:.0} events/s (batches of 500, 4 senders)"
    );
    // Re-sending the same events: all duplicates.
    let start = Instant::now();
    post_all(&client, &alarm.url(), &events[..(n as usize / 4)], 500).await;
    let secs = start.elapsed().as_secs_f64();
    let dup = (n / 4) as f64 / secs;
    println!(
        "{label}: duplicate ingest {} events = {dup:.0} events/s",
        n / 4
    );
    alarm.stop().await;
    (fresh, dup)
}

/// Notifications delivered per second, end to end.
async fn notify(label: &str, db: Option<&str>, n: u64) -> f64 {
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let c = c2.clone();
        App::new().default_service(web::to(move || {
            c.fetch_add(1, Ordering::Relaxed);
            async { HttpResponse::Ok().finish() }
        }))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::new("bench").unwrap();
    let mut cfg = base_config(dir.path(), db);
    cfg.tenants = vec![TenantNotifyConfig {
        tenant: t.clone(),
        version: 1,
        contacts: vec![Contact {
            id: 1,
            tenant: t.clone(),
            name: "bench".into(),
            email: None,
            webhook_url: Some(format!("http://{addr}/hook")),
            webhook_secret: Some("k".into()),
            webhook_alertmanager: false,
            channels: vec![],
        }],
        subscriptions: vec![Subscription {
            id: 1,
            tenant: t.clone(),
            target: SubscriptionTarget::Priority {
                max_priority: Priority::new(5).unwrap(),
            },
            team_id: None,
            contact_id: Some(1),
            channels: vec![Channel::Webhook],
            send_recovery: true,
        }],
        ..Default::default()
    }];
    let alarm = argus_alarm::start(cfg).await.unwrap();
    // One strategy per event: every event is its own signed message.
    let events: Vec<Event> = (0..n).map(|i| event(&t, i)).collect();
    let client = reqwest::Client::new();
    let start = Instant::now();
    post_all(&client, &alarm.url(), &events, 500).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    while count.load(Ordering::Relaxed) < n as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let got = count.load(Ordering::Relaxed);
    let rate = got as f64 / secs;
    println!(
        "{label}: {got} of {n} notifications delivered in {secs:.2} s = {rate:.0} notifications/s (end to end: ingest, decide, sign, POST, record)"
    );
    assert_eq!(got, n as usize, "every notification must arrive");
    alarm.stop().await;
    handle.stop(false).await;
    rate
}

async fn pg_database(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("alarm_bench_{:08x}", rand::random::<u32>());
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    format!("{}/{name}", base.rsplit_once('/').unwrap().0)
}

fn main() {
    let n: u64 = std::env::var("ALARM_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let m: u64 = std::env::var("ALARM_BENCH_NOTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let save = std::env::args().any(|a| a == "--save");
    let mut rec = argus_core::benchfile::Recorder::start(
        "alarm",
        &format!(
            "ARGUS_TEST_PG_URL=… ALARM_BENCH_EVENTS={n} ALARM_BENCH_NOTICES={m} \\\n  cargo bench -p argus-alarm --bench alarm_throughput -- --save"
        ),
    );
    let rows = rt.block_on(async {
        let mut rows = Vec::new();
        let (i, d) = ingest("sqlite", None, n).await;
        rows.push((
            "SQLite (embedded, WAL)",
            i,
            d,
            notify("sqlite", None, m).await,
        ));
        if let Ok(pg) = std::env::var("ARGUS_TEST_PG_URL") {
            let (i, d) = ingest("postgres", Some(&pg_database(&pg).await), n).await;
            let s = notify("postgres", Some(&pg_database(&pg).await), m).await;
            rows.push(("PostgreSQL", i, d, s));
        } else if save {
            panic!("--save needs ARGUS_TEST_PG_URL: the saved figures cover both stores");
        }
        rows
    });
    if save {
        rec.table(
            &format!(
                "{n} events ingested by 4 senders in batches of 500, {} re-sent; {m} notifications",
                n / 4
            ),
            &[
                "store",
                "ingest events/s",
                "duplicate ingest events/s",
                "notifications/s (end to end)",
            ],
            rows.iter()
                .map(|(s, i, d, r)| {
                    vec![
                        s.to_string(),
                        format!("{i:.0}"),
                        format!("{d:.0}"),
                        format!("{r:.0}"),
                    ]
                })
                .collect(),
        );
        let path = argus_core::benchfile::results_path(env!("CARGO_MANIFEST_DIR"), "alarm");
        rec.save(&path).expect("saving the results");
        println!("results: {}", path.display());
    }
}
