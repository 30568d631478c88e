//! Test helpers: a small transfer speaking `/api/v1/push` (zstd Argus batches, binary frame or
//! JSON → PushResponse)
//! that records what it got and can be told to answer 503, and an agent config for tests.
#![allow(dead_code)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::http::Served;
use argus_core::wire::{decode_body, frame, Batch, Encoding, PushResponse};
use argus_core::Point;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a fake transfer saw.
#[derive(Default)]
pub(crate) struct TransferState {
    /// Points accepted, in arrival order.
    pub points: Mutex<Vec<Point>>,
    /// Answer 503 while true.
    pub down: AtomicBool,
    /// Requests received (including refused ones).
    pub requests: AtomicUsize,
    /// Bearer tokens seen.
    pub tokens: Mutex<Vec<String>>,
    /// Content types of the pushes seen.
    pub content_types: Mutex<Vec<String>>,
}

/// A fake transfer.
pub(crate) struct FakeTransfer {
    pub state: Arc<TransferState>,
    pub server: Served,
}

impl FakeTransfer {
    pub(crate) fn url(&self) -> String {
        self.server.url()
    }
    pub(crate) fn points(&self) -> Vec<Point> {
        self.state.points.lock().unwrap().clone()
    }
    pub(crate) fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }
}

async fn push(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<Arc<TransferState>>,
) -> HttpResponse {
    st.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(t) = argus_core::http::bearer_token(&req) {
        st.tokens.lock().unwrap().push(t.to_string());
    }
    if st.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let enc = Encoding::from_header(
        req.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
    )
    .unwrap();
    let raw = decode_body(enc, &body, 64 << 20).unwrap();
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (good, rejected) = if ct == frame::CONTENT_TYPE {
        frame::decode_lenient(&raw).unwrap()
    } else {
        Batch::decode(&raw).unwrap()
    };
    st.content_types.lock().unwrap().push(ct);
    let n = good.len();
    st.points
        .lock()
        .unwrap()
        .extend(good.into_iter().map(|(_, p)| p));
    HttpResponse::Ok().json(PushResponse {
        accepted: n,
        rejected,
    })
}

/// Starts a fake transfer on 127.0.0.1 port 0.
pub(crate) fn fake_transfer() -> FakeTransfer {
    fake_transfer_on("127.0.0.1:0")
}

/// Starts a fake transfer on `addr`.
pub(crate) fn fake_transfer_on(addr: &str) -> FakeTransfer {
    fake_transfer_tls(addr, &argus_core::TlsConfig::default())
}

/// Starts a fake transfer on `addr`, serving HTTPS only when `tls` names a certificate.
pub(crate) fn fake_transfer_tls(addr: &str, tls: &argus_core::TlsConfig) -> FakeTransfer {
    let state = Arc::new(TransferState::default());
    let st = web::Data::new(state.clone());
    let (l, a) = argus_core::http::bind(addr, "fake transfer").unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(st.clone())
            .app_data(web::PayloadConfig::new(64 << 20))
            .route("/api/v1/push", web::post().to(push))
    })
    .workers(1);
    let server = argus_core::http::listen(server, l, tls, "fake transfer")
        .unwrap()
        .run();
    FakeTransfer {
        state,
        server: Served::spawn(a, server).with_https(tls.serves_https()),
    }
}

/// An agent config for tests: port 0, no host metrics, fast flush and backoff, state in `dir`.
pub(crate) fn test_config(
    dir: &std::path::Path,
    transfers: Vec<String>,
) -> argus_agent::AgentConfig {
    argus_agent::AgentConfig {
        hostname: "test-host".into(),
        listen: "127.0.0.1:0".into(),
        transfers,
        token: "agent-token".into(),
        flush_interval_ms: 100,
        backoff_initial_ms: 50,
        backoff_max_ms: 300,
        collect_host_metrics: false,
        data_dir: dir.join("data").display().to_string(),
        plugin_dir: dir.join("plugins").display().to_string(),
        ..Default::default()
    }
}

/// Waits up to `secs` for `cond`.
pub(crate) async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pushes falcon points `metric` with values `from..to` to the agent's push port.
pub(crate) async fn push_seq(agent_url: &str, metric: &str, from: usize, to: usize) {
    let now = argus_core::time::now_secs();
    let pts: Vec<_> = (from..to)
        .map(|i| serde_json::json!({"metric": metric, "value": i, "timestamp": now, "step": 10, "counterType": "GAUGE", "tags": ""}))
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{agent_url}/v1/push"))
        .json(&pts)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], to - from, "{body}");
}

/// The values of `metric` among `points`, in order.
pub(crate) fn values(points: &[Point], metric: &str) -> Vec<usize> {
    points
        .iter()
        .filter(|p| p.metric == metric)
        .map(|p| p.value as usize)
        .collect()
}
