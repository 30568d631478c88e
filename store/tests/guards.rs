//! What the storage node checks before reading a request's body: the internal credential on
//! every internal endpoint (a wrong one is 401 whatever the body, never 400 or 413), and the
//! in-flight limit on writes (503 with Retry-After past it, while `/health` keeps answering).

mod common;

use argus_core::point::Tags;
use argus_core::{Point, TenantId};
use argus_store::node::{start, StoreConfig, StoreNode};
use argus_store::StoreClient;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "node-secret";

async fn node(dir: &std::path::Path, max_in_flight: usize) -> StoreNode {
    start(StoreConfig {
        internal_token: TOKEN.into(),
        max_body_bytes: 1024,
        max_in_flight,
        ..common::node_config(dir)
    })
    .await
    .unwrap()
}

fn pt(v: f64) -> Point {
    let mut p = Point::gauge("h", "m", Tags::new(), v, argus_core::time::now_secs() - 10);
    p.tenant = TenantId::new("acme").unwrap();
    p
}

#[tokio::test]
async fn a_wrong_credential_is_401_whatever_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path(), 0).await;
    let url = n.server.url();
    // Far over max_body_bytes, and not JSON nor UTF-8: before the check moved ahead of the
    // body, these were 413 (size) or 400 (garbage).
    let huge: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    for path in [
        "/internal/v1/write",
        "/internal/v1/query/range",
        "/internal/v1/query/last",
        "/internal/v1/query/series",
        "/internal/v1/query/labels",
    ] {
        for (body, what) in [(huge.clone(), "huge garbage"), (b"{".to_vec(), "truncated")] {
            for auth in [Some("Bearer wrong"), None] {
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
    }
    // The right credential with the same huge body is judged on the body.
    let r = reqwest::Client::new()
        .post(format!("{url}/internal/v1/query/range"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    assert!(
        s == 400 || s == 413,
        "with the credential the body is judged: {s}"
    );
    n.stop().await;
}

/// A write whose headers and half its body are sent, the rest held back: the node has admitted
/// it and waits for the body.
async fn held_write(addr: std::net::SocketAddr, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /internal/v1/write HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    s.flush().await.unwrap();
    s
}

async fn gauge(url: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_in_flight_writes_are_shed_with_503_and_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path(), 1).await;
    let url = n.server.url();
    let body = serde_json::to_vec(&serde_json::json!({ "points": [pt(1.0)] })).unwrap();
    let mut held = held_write(n.server.addr, &body).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while gauge(&url, "argus_store_in_flight").await < 1.0 {
        assert!(Instant::now() < deadline, "the held write never got in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let c = StoreClient::new(url.clone(), TOKEN, Duration::from_secs(30));
    let r = reqwest::Client::new()
        .post(format!("{url}/internal/v1/write"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "points": [pt(2.0)] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("overloaded"), "{text}");
    let h = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(h.status().as_u16(), 200, "/health is not shed");
    assert_eq!(gauge(&url, "argus_store_shed_total").await, 1.0);

    // The held write completes normally, and then there is room again.
    held.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut answer = String::new();
    held.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "held write: {answer}");
    assert!(answer.contains("\"accepted\":1"), "held write: {answer}");
    let r = c
        .write(&[pt(3.0)])
        .await
        .expect("a write after the release");
    assert_eq!(r.accepted, 1);
    n.stop().await;
}
