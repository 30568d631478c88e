//! Shared helpers of the transfer's integration tests: real storage nodes and transfers on
//! 127.0.0.1 port 0.
#![allow(dead_code)]

use argus_core::auth::hash_token;
use argus_core::{Point, Tags, TenantId};
use argus_transfer::config::TenantTokens;
use argus_transfer::TransferConfig;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// A storage node on `listen` with its data in `dir`.
pub(crate) async fn store_at(dir: &Path, listen: &str) -> argus_store::node::StoreNode {
    argus_store::node::start(argus_store::node::StoreConfig {
        listen: listen.to_string(),
        workers: 1,
        engine: argus_store::EngineConfig {
            data_dir: dir.to_path_buf(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("store node starts")
}

/// A storage node on a free port.
pub(crate) async fn store(dir: &Path) -> argus_store::node::StoreNode {
    store_at(dir, "127.0.0.1:0").await
}

/// The tenant `name`.
pub(crate) fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// Tenant `name` with agent token `token`.
pub(crate) fn tokens(name: &str, token: &str) -> TenantTokens {
    TenantTokens {
        tenant: tenant(name),
        token_sha256: vec![hash_token(token)],
    }
}

/// A transfer config for tests: port 0, its data in `dir`, tenants `acme` (token `tok-acme`)
/// and `beta` (token `tok-beta`).
pub(crate) fn transfer_cfg(dir: &Path, stores: Vec<String>) -> TransferConfig {
    TransferConfig {
        listen: "127.0.0.1:0".into(),
        stores,
        replicas: 1,
        tenants: vec![tokens("acme", "tok-acme"), tokens("beta", "tok-beta")],
        workers: 1,
        data_dir: dir.to_path_buf(),
        downstream_timeout_ms: 2_000,
        reload_secs: 1,
        breaker: argus_transfer::config::BreakerConfig {
            failures: 1,
            open_ms: 200,
            ..Default::default()
        },
        spool: argus_transfer::config::SpoolConfig {
            max_backoff_ms: 200,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Now, in Unix seconds.
pub(crate) fn now() -> i64 {
    argus_core::time::now_secs()
}

/// A gauge point.
pub(crate) fn point(endpoint: &str, metric: &str, value: f64, ts: i64) -> Point {
    Point::gauge(endpoint, metric, Tags::new(), value, ts)
}

/// POSTs an Argus batch with `token`; returns status and JSON body.
pub(crate) async fn push(url: &str, token: &str, points: &[Point]) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/push"))
        .bearer_auth(token)
        .json(&json!({ "points": points }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Raw points of `tenant` (all series) read from the node or transfer at `url`.
pub(crate) async fn read_all(url: &str, tenant: &str) -> Vec<(String, String, i64, f64)> {
    let r = reqwest::Client::new()
        .post(format!("{url}/internal/v1/query/range"))
        .json(&json!({"tenant": tenant, "start": 0, "end": now() + 3600}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "query: {}", r.status());
    let data: Vec<argus_core::query::SeriesData> = r.json().await.unwrap();
    let mut out = Vec::new();
    for s in data {
        for (t, v) in s.points {
            out.push((s.key.endpoint.clone(), s.key.metric.clone(), t, v));
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

/// Waits (generously) until `f` holds.
pub(crate) async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The value of a line of `/metrics` starting with `prefix`.
pub(crate) async fn metric(url: &str, prefix: &str) -> Option<f64> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
