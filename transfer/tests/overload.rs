//! Overload (issue 12): a slow storage node makes the transfer spool instead of holding pushes,
//! and every acknowledged point lands once the node is fast again; past `max_in_flight` pushes
//! are shed with 503 and Retry-After while `/health` keeps answering; and the internal query
//! endpoints refuse a wrong credential before reading the body.

mod common;

use common::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay in front of `target` that holds every chunk of the answers for `delay` ms:
/// a storage node that is slow, not dead (requests reach it at once).
async fn slow_relay(target: SocketAddr, delay: Arc<AtomicU64>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = l.accept().await {
            let delay = delay.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = sw.shutdown().await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let d = delay.load(Ordering::Relaxed);
                    if d > 0 {
                        tokio::time::sleep(Duration::from_millis(d)).await;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_makes_the_transfer_spool_and_every_acknowledged_point_lands() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let delay = Arc::new(AtomicU64::new(15_000));
    let relay = slow_relay(node.server.addr, delay.clone()).await;
    let relay_url = format!("http://{relay}");
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![relay_url.clone()]);
    // Replays may wait for the slow node; pushes may not.
    cfg.downstream_timeout_ms = 30_000;
    cfg.breaker.write_timeout_ms = 1_000;
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();

    // Three agents keep pushing while the node answers only after 15 s.
    let agents = (0..3)
        .map(|a| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for b in 0..6 {
                    let pts: Vec<_> = (0..5)
                        .map(|i| {
                            point(
                                &format!("agent{a}-h{i}"),
                                "cpu.busy",
                                b as f64,
                                now - 60 + b,
                            )
                        })
                        .collect();
                    let started = Instant::now();
                    let (s, body) = push(&url, "tok-acme", &pts).await;
                    let took = started.elapsed();
                    assert_eq!(
                        (s, body["accepted"].as_u64()),
                        (200, Some(5)),
                        "agent {a} batch {b}: {body}"
                    );
                    // Not a speed figure: the store takes 15 s, a held push would take as long.
                    assert!(
                        took < Duration::from_secs(5),
                        "agent {a} batch {b} was held {took:?} by the slow store"
                    );
                    acked.extend(pts);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                acked
            })
        })
        // Spawned all at once: the agents push concurrently.
        .collect::<Vec<_>>();
    let mut acked = Vec::new();
    for a in agents {
        acked.extend(a.await.unwrap());
    }
    let downstream = format!("downstream=\"store {relay_url}\"");
    let spooled = metric(
        &url,
        &format!("argus_transfer_spooled_points_total{{{downstream}}}"),
    )
    .await
    .unwrap_or(0.0);
    assert!(spooled > 0.0, "the slow store's points went to its spool");
    let spool_bytes = metric(&url, &format!("argus_transfer_spool_bytes{{{downstream}}}"))
        .await
        .unwrap_or(0.0);
    assert!(
        spool_bytes > 0.0,
        "the spool holds them while the store is slow"
    );

    // The store is fast again: the spool drains and every acknowledged point is there.
    delay.store(0, Ordering::Relaxed);
    let mut want: Vec<_> = acked
        .iter()
        .map(|p| (p.endpoint.clone(), p.metric.clone(), p.timestamp, p.value))
        .collect();
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let store_url = node.server.url();
    wait_for("every acknowledged point in the store", || {
        let (store_url, want) = (store_url.clone(), want.clone());
        async move { read_all(&store_url, "acme").await == want }
    })
    .await;
    wait_for("the spool to drain", || {
        let (url, g) = (
            url.clone(),
            format!("argus_transfer_spool_bytes{{{downstream}}}"),
        );
        async move { metric(&url, &g).await == Some(0.0) }
    })
    .await;
    t.stop().await;
    node.stop().await;
}

/// A push whose headers and half its body are sent, the rest held back: the transfer has
/// admitted it and waits for the body.
async fn held_push(addr: SocketAddr, body: &[u8]) -> TcpStream {
    held_push_as(addr, "tok-acme", body).await
}

/// [`held_push`] with `token`.
async fn held_push_as(addr: SocketAddr, token: &str, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/push HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    s.flush().await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_in_flight_pushes_are_shed_with_503_and_retry_after() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.max_in_flight = 1;
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    let body =
        serde_json::to_vec(&serde_json::json!({ "points": [point("h", "m", 1.0, now - 5)] }))
            .unwrap();
    let mut held = held_push(t.server.addr, &body).await;
    wait_for("the held push to be in flight", || {
        let url = url.clone();
        async move { metric(&url, "argus_transfer_in_flight").await == Some(1.0) }
    })
    .await;

    for path in ["/api/v1/push", "/v1/push", "/api/v2/write", "/api/v1/write"] {
        let r = reqwest::Client::new()
            .post(format!("{url}{path}"))
            .bearer_auth("tok-acme")
            .body("whatever: not read")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503, "{path}");
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1"),
            "{path}"
        );
        let text = r.text().await.unwrap();
        assert!(text.contains("overloaded"), "{path}: {text}");
    }
    let h = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(h.status().as_u16(), 200, "/health is not shed");
    assert_eq!(metric(&url, "argus_transfer_shed_total").await, Some(4.0));

    // The held push completes normally, and then there is room again.
    held.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut answer = String::new();
    held.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "held push: {answer}");
    assert!(answer.contains("\"accepted\":1"), "held push: {answer}");
    let (s, body) = push(&url, "tok-acme", &[point("h", "m", 2.0, now - 4)]).await;
    assert_eq!((s, body["accepted"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(
        read_all(&node.server.url(), "acme").await.len(),
        2,
        "both admitted pushes are stored, the shed ones are not"
    );
    t.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn internal_queries_refuse_a_wrong_credential_before_reading_the_body() {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = transfer_cfg(d.path(), vec!["http://127.0.0.1:9".into()]);
    cfg.internal_token = "node-secret".into();
    cfg.max_body_bytes = 1024;
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    // Far over max_body_bytes and neither JSON nor UTF-8: 413 or 400 if the body were read.
    let huge: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    for path in [
        "/internal/v1/query/range",
        "/internal/v1/query/last",
        "/internal/v1/query/series",
    ] {
        for (body, what) in [(huge.clone(), "huge garbage"), (b"{".to_vec(), "truncated")] {
            for auth in [Some("Bearer wrong"), Some("Bearer tok-acme"), None] {
                let mut rq = reqwest::Client::new()
                    .post(format!("{url}{path}"))
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(a) = auth {
                    rq = rq.header("authorization", a);
                }
                let r = rq.send().await.unwrap();
                assert_eq!(r.status().as_u16(), 401, "{path} {what} {auth:?}");
            }
        }
        let r = reqwest::Client::new()
            .post(format!("{url}{path}"))
            .bearer_auth("node-secret")
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        assert!(s == 400 || s == 413, "{path} with the credential: {s}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_small_pushes_share_writes_to_a_busy_store() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    // Each answer takes 300 ms: writes stay in flight while the pushes arrive.
    let delay = Arc::new(AtomicU64::new(300));
    let relay = slow_relay(node.server.addr, delay.clone()).await;
    let relay_url = format!("http://{relay}");
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![relay_url.clone()]);
    cfg.workers = 2;
    cfg.breaker.write_timeout_ms = 20_000;
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();

    // 24 agents push 5 points each at once, as a fleet does at the top of a minute.
    let pushes = 24;
    let agents = (0..pushes)
        .map(|a| {
            let url = url.clone();
            tokio::spawn(async move {
                let pts: Vec<_> = (0..5)
                    .map(|i| point(&format!("agent{a}"), &format!("m{i}"), a as f64, now))
                    .collect();
                let (s, body) = push(&url, "tok-acme", &pts).await;
                assert_eq!((s, body["accepted"].as_u64()), (200, Some(5)), "{body}");
            })
        })
        .collect::<Vec<_>>();
    for a in agents {
        a.await.unwrap();
    }
    let downstream = format!("downstream=\"store {relay_url}\"");
    let writes = metric(
        &url,
        &format!("argus_transfer_downstream_writes_total{{{downstream}}}"),
    )
    .await
    .unwrap();
    let coalesced = metric(
        &url,
        &format!("argus_transfer_coalesced_deliveries_total{{{downstream}}}"),
    )
    .await
    .unwrap();
    eprintln!("{pushes} pushes took {writes} writes to the store, {coalesced} deliveries merged");
    assert!(
        writes < pushes as f64 && coalesced > 0.0,
        "{pushes} pushes took {writes} writes, {coalesced} deliveries merged"
    );
    let spooled = metric(
        &url,
        &format!("argus_transfer_spooled_points_total{{{downstream}}}"),
    )
    .await
    .unwrap_or(0.0);
    assert_eq!(spooled, 0.0, "a busy store is not a failing one");
    // Every acknowledged point is on the node, once.
    delay.store(0, Ordering::Relaxed);
    let got = read_all(&url, "acme").await;
    assert_eq!(got.len(), pushes * 5, "{got:?}");
    t.stop().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_hold_no_slot_and_a_tenant_holds_only_its_share() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.max_in_flight = 4;
    cfg.max_in_flight_per_tenant = 2;
    let t = argus_transfer::start(cfg).await.unwrap();
    let (url, addr) = (t.server.url(), t.server.addr);
    let now = now();
    let body =
        serde_json::to_vec(&serde_json::json!({ "points": [point("h", "m", 1.0, now - 5)] }))
            .unwrap();
    // Far more half-sent pushes with a wrong token than there are slots: each is answered 401
    // from its head, at once, and none holds a slot.
    let mut strangers = Vec::new();
    for _ in 0..40 {
        let mut s = held_push_as(addr, "tok-wrong", &body).await;
        let mut head = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut head))
            .await
            .expect("a stranger is answered without sending its body")
            .unwrap();
        let head = String::from_utf8_lossy(&head[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
        strangers.push(s);
    }
    assert_eq!(metric(&url, "argus_transfer_in_flight").await, Some(0.0));
    let (s, v) = push(&url, "tok-beta", &[point("b", "m", 1.0, now - 5)]).await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(1)), "{v}");

    // acme holds two half-sent pushes: its share. Its next push waits; beta's goes through.
    let mut held = vec![held_push(addr, &body).await, held_push(addr, &body).await];
    wait_for("acme's pushes to be in flight", || {
        let url = url.clone();
        async move { metric(&url, "argus_transfer_in_flight").await == Some(2.0) }
    })
    .await;
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/push"))
        .bearer_auth("tok-acme")
        .json(&serde_json::json!({ "points": [point("h", "m", 2.0, now - 4)] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.text().await.unwrap().contains("share"));
    let (s, v) = push(&url, "tok-beta", &[point("b", "m", 2.0, now - 4)]).await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    // The held pushes complete; acme has room again.
    for h in &mut held {
        h.write_all(&body[body.len() / 2..]).await.unwrap();
        let mut answer = String::new();
        h.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let (s, v) = push(&url, "tok-acme", &[point("h", "m", 3.0, now - 3)]).await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    drop(strangers);
    t.stop().await;
    node.stop().await;
}
