//! Routing: replication over the storage ring, one judge per endpoint, the merged region query,
//! and a new ring applied from the config file without a restart.

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::wire::{decode_body, Encoding};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A stand-in judge that records which series it was handed.
async fn judge() -> (String, Seen, actix_web::dev::ServerHandle) {
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let srv = HttpServer::new(move || {
        let seen = s2.clone();
        App::new().route(
            "/internal/v1/points",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let seen = seen.clone();
                async move {
                    let enc = Encoding::from_header(
                        req.headers()
                            .get("content-encoding")
                            .and_then(|v| v.to_str().ok()),
                    )
                    .unwrap();
                    let raw = decode_body(enc, &body, 1 << 26).unwrap();
                    let ct = req.headers().get("content-type").unwrap();
                    assert_eq!(
                        ct,
                        argus_core::wire::frame::CONTENT_TYPE,
                        "judges get frames"
                    );
                    let (good, bad) = argus_core::wire::frame::decode_lenient(&raw).unwrap();
                    assert!(bad.is_empty());
                    let mut s = seen.lock().unwrap();
                    for (_, p) in good {
                        assert_eq!(p.tenant.as_str(), "acme", "judges get the tenant");
                        s.push((p.endpoint, p.metric));
                    }
                    HttpResponse::Ok().json(serde_json::json!({"accepted": 1}))
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}", srv.addrs()[0]);
    let srv = srv.run();
    let h = srv.handle();
    tokio::spawn(srv);
    (url, seen, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_series_on_its_replicas_and_one_judge() {
    let d = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(store(&d.path().join(format!("s{i}"))).await);
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.server.url()).collect();
    let (j1, seen1, h1) = judge().await;
    let (j2, seen2, h2) = judge().await;
    let mut cfg = transfer_cfg(&d.path().join("t"), urls.clone());
    cfg.replicas = 2;
    cfg.judges = vec![j1, j2];
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    let pts: Vec<_> = (0..60)
        .map(|i| point(&format!("host-{i}"), "load", i as f64, now))
        .collect();
    for round in 0..2 {
        let mut batch = pts.clone();
        for p in &mut batch {
            p.timestamp += round;
        }
        let (s, _) = push(&url, "tok-acme", &batch).await;
        assert_eq!(s, 200);
    }
    let topo = t.state.forwarder.topology();
    let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for u in &urls {
        for (e, _, _, _) in read_all(u, "acme").await {
            holders.entry(e).or_default().insert(u.clone());
        }
    }
    assert_eq!(holders.len(), 60);
    for p in &pts {
        let mut p = p.clone();
        p.tenant = tenant("acme");
        let want: BTreeSet<String> = topo.stores_of(&p).into_iter().collect();
        assert_eq!(want.len(), 2);
        assert_eq!(holders[&p.endpoint], want, "{} on its replicas", p.endpoint);
    }
    // The region query merges replicas: each point once.
    assert_eq!(read_all(&url, "acme").await.len(), 120);

    wait_for("judges to get their copies", || async {
        seen1.lock().unwrap().len() + seen2.lock().unwrap().len() == 120
    })
    .await;
    let a: BTreeSet<_> = seen1.lock().unwrap().iter().cloned().collect();
    let b: BTreeSet<_> = seen2.lock().unwrap().iter().cloned().collect();
    assert!(a.is_disjoint(&b), "one judge per series");
    assert_eq!(a.len() + b.len(), 60);
    assert!(!a.is_empty() && !b.is_empty());
    // Every metric of an endpoint goes to that endpoint's judge (conditions across metrics).
    let mem: Vec<_> = (0..60)
        .map(|i| point(&format!("host-{i}"), "mem", 1.0, now))
        .collect();
    assert_eq!(push(&url, "tok-acme", &mem).await.0, 200);
    wait_for("judges to get the second metric", || async {
        seen1.lock().unwrap().len() + seen2.lock().unwrap().len() == 180
    })
    .await;
    for seen in [&seen1, &seen2] {
        let s = seen.lock().unwrap();
        let of = |m: &str| -> BTreeSet<String> {
            s.iter()
                .filter(|(_, x)| x == m)
                .map(|(e, _)| e.clone())
                .collect()
        };
        assert_eq!(of("load"), of("mem"), "an endpoint's metrics on one judge");
    }
    t.stop().await;
    h1.stop(true).await;
    h2.stop(true).await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ring_applies_without_restart() {
    let d = tempfile::tempdir().unwrap();
    let n1 = store(&d.path().join("s1")).await;
    let n2 = store(&d.path().join("s2")).await;
    let file = d.path().join("transfer.toml");
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![n1.server.url()]);
    std::fs::write(&file, toml::to_string(&cfg).unwrap()).unwrap();
    cfg.config_file = Some(file.clone());
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    let url = t.server.url();
    let now = now();
    let pts: Vec<_> = (0..40)
        .map(|i| point(&format!("host-{i}"), "load", 1.0, now))
        .collect();
    assert_eq!(push(&url, "tok-acme", &pts).await.0, 200);
    assert!(read_all(&n2.server.url(), "acme").await.is_empty());

    // A new member and a new tenant; a bad file in between is ignored.
    std::fs::write(&file, "stores = 'not a list'").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(t.state.forwarder.topology().store_ring.members().len(), 1);
    cfg.stores.push(n2.server.url());
    cfg.tenants.push(tokens("gamma", "tok-gamma"));
    std::fs::write(&file, toml::to_string(&cfg).unwrap()).unwrap();
    let st = t.state.clone();
    wait_for("the new ring", || {
        let st = st.clone();
        async move { st.forwarder.topology().store_ring.members().len() == 2 }
    })
    .await;
    let later: Vec<_> = pts
        .iter()
        .map(|p| point(&p.endpoint, "load", 2.0, now + 1))
        .collect();
    assert_eq!(push(&url, "tok-acme", &later).await.0, 200);
    let on2 = read_all(&n2.server.url(), "acme").await.len();
    assert!(on2 > 5 && on2 < 35, "about half the series moved: {on2}");
    assert_eq!(push(&url, "tok-gamma", &pts[..1]).await.0, 200);
    t.stop().await;
    n1.stop().await;
    n2.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_file() {
    // Registering here first guarantees SIGHUP never kills the test process.
    let mut own = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let n1 = store(&d.path().join("s1")).await;
    let file = d.path().join("transfer.toml");
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![n1.server.url()]);
    cfg.reload_secs = 0; // no polling: only the signal reloads
    std::fs::write(&file, toml::to_string(&cfg).unwrap()).unwrap();
    cfg.config_file = Some(file.clone());
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    cfg.judges = vec!["http://127.0.0.1:9".into()];
    cfg.replicas = 3;
    std::fs::write(&file, toml::to_string(&cfg).unwrap()).unwrap();
    let st = t.state.clone();
    wait_for("the reload on SIGHUP", || {
        let st = st.clone();
        async move {
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status();
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let topo = st.forwarder.topology();
            topo.judge_ring.members().len() == 1 && topo.replicas == 3
        }
    })
    .await;
    let _ = own.recv().await;
    t.stop().await;
    n1.stop().await;
}

type Heard = Arc<Mutex<Vec<argus_core::ring::JudgeRing>>>;

const INTERNAL: &str = "node-secret";

/// A stand-in judge that records the judge rings announced to it.
async fn ring_listener() -> (String, Heard, actix_web::dev::ServerHandle) {
    let heard: Heard = Arc::default();
    let h2 = heard.clone();
    let srv = HttpServer::new(move || {
        let heard = h2.clone();
        App::new().route(
            "/internal/v1/ring",
            web::post().to(
                move |req: HttpRequest, body: web::Json<argus_core::ring::JudgeRing>| {
                    let heard = heard.clone();
                    async move {
                        assert_eq!(
                            req.headers().get("authorization").unwrap(),
                            &format!("Bearer {}", INTERNAL),
                            "announced with the node credential"
                        );
                        heard.lock().unwrap().push(body.into_inner());
                        HttpResponse::Ok()
                            .json(serde_json::json!({"changed": true, "handed_over": 0}))
                    }
                },
            ),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}", srv.addrs()[0]);
    let srv = srv.run();
    let h = srv.handle();
    tokio::spawn(srv);
    (url, heard, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judges_hear_the_judge_ring_and_a_removed_judge_hears_it_left() {
    let d = tempfile::tempdir().unwrap();
    let n1 = store(&d.path().join("s1")).await;
    let (j1, heard1, h1) = ring_listener().await;
    let (j2, heard2, h2) = ring_listener().await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![n1.server.url()]);
    cfg.internal_token = INTERNAL.into();
    cfg.judges = vec![j1.clone(), format!("{j2}/")];
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    let last = |h: &Heard| h.lock().unwrap().last().cloned();
    // At start, each judge hears the ring and which member it is.
    wait_for("both judges told at start", || {
        let (a, b) = (last(&heard1), last(&heard2));
        async move { a.is_some() && b.is_some() }
    })
    .await;
    let both = vec![j1.clone(), j2.clone()];
    let a = last(&heard1).unwrap();
    assert_eq!(
        (a.members.clone(), a.this.as_str(), a.vnodes),
        (both.clone(), j1.as_str(), cfg.vnodes)
    );
    let b = last(&heard2).unwrap();
    assert_eq!((b.members.clone(), b.this.as_str()), (both, j2.as_str()));

    // A reload that removes j2: j1 hears the new ring at once, and j2 that it is off it.
    let before = heard2.lock().unwrap().len();
    cfg.judges = vec![j1.clone()];
    t.state.apply(&cfg).unwrap();
    wait_for("the reload announced", || {
        let (a, n) = (last(&heard1), heard2.lock().unwrap().len());
        let j1 = j1.clone();
        async move { a.is_some_and(|a| a.members == vec![j1]) && n > before }
    })
    .await;
    let b = last(&heard2).unwrap();
    assert_eq!((b.members, b.this), (vec![j1.clone()], j2.clone()));
    t.stop().await;
    n1.stop().await;
    h1.stop(true).await;
    h2.stop(true).await;
}
