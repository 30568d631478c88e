//! TLS between nodes: a storage node and a transfer both serving HTTPS only with a certificate
//! of a private CA; an agent-style client pushes over https to the transfer, which forwards
//! over https to the store (trusting the CA of its `[tls] ca_file`), and the points are read
//! back through the transfer's query API (https again, transfer to store). Plain HTTP and a
//! client without the CA are refused; a bad certificate file stops the transfer with an error
//! naming it.

use argus_core::auth::hash_token;
use argus_core::tls::{client_builder, testing::TestPki, TlsConfig};
use argus_core::{Point, Tags, TenantId};
use argus_transfer::config::TenantTokens;
use argus_transfer::TransferConfig;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const INTERNAL: &str = "argus_int_tls_test";

async fn tls_store(dir: &Path, tls: TlsConfig) -> argus_store::node::StoreNode {
    argus_store::node::start(argus_store::node::StoreConfig {
        listen: "127.0.0.1:0".into(),
        workers: 1,
        internal_token: INTERNAL.into(),
        engine: argus_store::EngineConfig {
            data_dir: dir.to_path_buf(),
            ..Default::default()
        },
        tls,
        ..Default::default()
    })
    .await
    .expect("store starts with TLS")
}

fn transfer_cfg(dir: &Path, stores: Vec<String>, tls: TlsConfig) -> TransferConfig {
    TransferConfig {
        listen: "127.0.0.1:0".into(),
        stores,
        replicas: 1,
        internal_token: INTERNAL.into(),
        tenants: vec![TenantTokens {
            tenant: TenantId::new("acme").unwrap(),
            token_sha256: vec![hash_token("tok-acme")],
        }],
        workers: 1,
        data_dir: dir.to_path_buf(),
        downstream_timeout_ms: 5_000,
        tls,
        ..Default::default()
    }
}

/// The URL of `addr` by name (the certificate names localhost and 127.0.0.1).
fn by_name(addr: std::net::SocketAddr) -> String {
    format!("https://localhost:{}", addr.port())
}

#[tokio::test]
async fn points_pushed_over_https_reach_the_store_over_https_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let store = tls_store(&dir.path().join("store"), pki.config()).await;
    assert!(
        store.server.url().starts_with("https://"),
        "{}",
        store.server.url()
    );
    let transfer = argus_transfer::start(transfer_cfg(
        &dir.path().join("transfer"),
        vec![by_name(store.server.addr)],
        pki.config(),
    ))
    .await
    .expect("transfer starts with TLS");
    let base = by_name(transfer.server.addr);
    assert!(transfer.server.url().starts_with("https://"));

    // An agent: trusts the private CA of its [tls] ca_file.
    let agent = client_builder(&pki.client_config())
        .unwrap()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let now = argus_core::time::now_secs();
    let points: Vec<Point> = (0..5)
        .map(|i| {
            Point::gauge(
                "host-tls",
                "cpu.idle",
                Tags::new(),
                i as f64,
                now - 50 + i * 10,
            )
        })
        .collect();
    let r = agent
        .post(format!("{base}/api/v1/push"))
        .bearer_auth("tok-acme")
        .json(&json!({ "points": points }))
        .send()
        .await
        .expect("push over https");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);

    // Read back through the transfer (https) which asks the store (https).
    let deadline = Instant::now() + Duration::from_secs(15);
    let got = loop {
        let r = agent
            .post(format!("{base}/internal/v1/query/range"))
            .bearer_auth(INTERNAL)
            .json(&json!({"tenant": "acme", "start": 0, "end": now + 3600}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "query: {}", r.status());
        let data: Vec<argus_core::query::SeriesData> = r.json().await.unwrap();
        let got: Vec<(i64, f64)> = data.into_iter().flat_map(|s| s.points).collect();
        if got.len() == 5 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let want: Vec<(i64, f64)> = (0..5).map(|i| (now - 50 + i * 10, i as f64)).collect();
    assert_eq!(got, want);

    // Nothing was spooled: the https forward worked first time.
    let spooled = agent
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = spooled
        .lines()
        .find(|l| l.starts_with("argus_transfer_spooled_writes_total"))
        .expect("spooled counter");
    assert!(line.ends_with(" 0"), "{line}");

    // Plain HTTP to the TLS port: no answer with a page.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    match plain
        .post(format!(
            "http://127.0.0.1:{}/api/v1/push",
            transfer.server.addr.port()
        ))
        .bearer_auth("tok-acme")
        .json(&json!({ "points": points }))
        .send()
        .await
    {
        Err(_) => {}
        Ok(r) => assert!(
            !r.status().is_success(),
            "plain HTTP accepted: {}",
            r.status()
        ),
    }
    // A client without the CA refuses the certificate.
    let e = plain
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");

    transfer.stop().await;
    store.stop().await;
}

#[tokio::test]
async fn transfer_without_the_ca_cannot_deliver_to_a_tls_store() {
    // The transfer does not trust the store's CA: the push is not acknowledged as stored
    // directly; it goes to the spool (a certificate problem never loses acknowledged points).
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let store = tls_store(&dir.path().join("store"), pki.config()).await;
    let transfer = argus_transfer::start(transfer_cfg(
        &dir.path().join("transfer"),
        vec![by_name(store.server.addr)],
        TlsConfig::default(),
    ))
    .await
    .unwrap();
    let now = argus_core::time::now_secs();
    let p = Point::gauge("h", "m", Tags::new(), 1.0, now);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/push", transfer.server.url()))
        .bearer_auth("tok-acme")
        .json(&json!({ "points": [p] }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let m = reqwest::get(format!("{}/metrics", transfer.server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = m
        .lines()
        .find(|l| l.starts_with("argus_transfer_spooled_writes_total"))
        .expect("spooled counter");
    assert!(!line.ends_with(" 0"), "expected a spooled write: {line}");
    transfer.stop().await;
    store.stop().await;
}

#[tokio::test]
async fn a_bad_certificate_file_stops_the_transfer_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN NOTHING-----\n").unwrap();
    for (tls, want) in [
        (
            TlsConfig {
                cert_file: Some(dir.path().join("missing.pem")),
                ..pki.config()
            },
            "tls.cert_file: cannot read",
        ),
        (
            TlsConfig {
                cert_file: Some(garbage.clone()),
                ..pki.config()
            },
            "no end line",
        ),
        (
            TlsConfig {
                ca_file: Some(garbage.clone()),
                ..TlsConfig::default()
            },
            "tls.ca_file:",
        ),
    ] {
        let cfg = transfer_cfg(
            &dir.path().join("t"),
            vec!["https://localhost:1".into()],
            tls,
        );
        let e = match argus_transfer::start(cfg).await {
            Ok(_) => panic!("started with a bad [tls] section"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains(want), "{e}");
        assert!(e.contains(".pem"), "{e}");
    }
}
