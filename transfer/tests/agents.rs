//! The region's agents talk only to their transfers: the transfer answers their config pulls
//! from every tenant's agent configuration pulled from the config center (ETag, cached on
//! disk), and forwards their heartbeats to it in one compressed batch per interval (changed
//! hosts whole, the others as alive).

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::agentconf::{AgentRemoteConfig, Heartbeat, HeartbeatBatch};
use common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Center {
    doc: Arc<Mutex<serde_json::Value>>,
    batches: Arc<Mutex<Vec<HeartbeatBatch>>>,
    regions: Arc<Mutex<Vec<String>>>,
}

fn authorized(req: &HttpRequest) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some("Bearer node-secret")
}

async fn agents_doc(req: HttpRequest, c: web::Data<Center>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    if let Some(r) = req.headers().get("x-argus-region") {
        c.regions
            .lock()
            .unwrap()
            .push(r.to_str().unwrap().to_string());
    }
    let doc = c.doc.lock().unwrap().clone();
    let etag = format!("\"{}\"", doc["version"]);
    if req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok().insert_header(("ETag", etag)).json(doc)
}

async fn beats(req: HttpRequest, body: web::Bytes, c: web::Data<Center>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    assert_eq!(req.headers().get("content-encoding").unwrap(), "zstd");
    let json = zstd::decode_all(&body[..]).unwrap();
    let b: HeartbeatBatch = serde_json::from_slice(&json).unwrap();
    c.batches.lock().unwrap().push(b);
    HttpResponse::Ok().json(json!({"unknown": []}))
}

fn doc(version: u64, step: u64) -> serde_json::Value {
    json!({"version": version, "tenants": [
        {"tenant": "acme", "groups": [{"hosts": ["h1"], "agent": {"step_secs": step}}]},
        {"tenant": "beta", "groups": []}
    ]})
}

async fn get_config(
    url: &str,
    token: Option<&str>,
    host: &str,
    etag: Option<&str>,
) -> (u16, Option<String>, Option<AgentRemoteConfig>) {
    let mut r = reqwest::Client::new().get(format!("{url}/api/v1/agent/config?host={host}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(e) = etag {
        r = r.header("if-none-match", e);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let tag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (status, tag, resp.json().await.ok())
}

async fn heartbeat(url: &str, token: &str, hb: &Heartbeat) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/agent/heartbeat"))
        .bearer_auth(token)
        .json(hb)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_pull_config_and_heartbeat_through_their_transfer() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let center = Center::default();
    *center.doc.lock().unwrap() = doc(1, 30);
    let c2 = center.clone();
    let srv = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(c2.clone()))
            .route("/internal/v1/config/agents", web::get().to(agents_doc))
            .route("/internal/v1/agents/heartbeats", web::post().to(beats))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = srv.addrs()[0];
    let srv = srv.run();
    let handle = srv.handle();
    tokio::spawn(srv);

    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.region = "east".into();
    cfg.internal_token = "node-secret".into();
    cfg.config_center.url = format!("http://{addr}");
    cfg.config_center.poll_secs = 3600;
    cfg.agents.refresh_secs = 1;
    cfg.agents.heartbeat_batch_secs = 1;
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    let url = t.server.url();

    wait_for("acme's h1 config", || async {
        get_config(&url, Some("tok-acme"), "h1", None).await.0 == 200
    })
    .await;
    let (_, tag, c) = get_config(&url, Some("tok-acme"), "h1", None).await;
    let c = c.unwrap();
    assert_eq!(c.step_secs, 30);
    assert_eq!(tag.as_deref(), Some(format!("\"{}\"", c.version).as_str()));
    let (s, _, _) = get_config(&url, Some("tok-acme"), "h1", tag.as_deref()).await;
    assert_eq!(s, 304, "unchanged config: 304");
    // Another tenant's host of the same name gets its own (empty) config; no token, no config.
    let (s, _, other) = get_config(&url, Some("tok-beta"), "h1", None).await;
    assert_eq!((s, other.unwrap().step_secs), (200, 0));
    assert_eq!(get_config(&url, None, "h1", None).await.0, 401);
    assert_eq!(get_config(&url, Some("nope"), "h1", None).await.0, 401);
    assert_eq!(
        get_config(&url, Some("tok-acme"), "bad host", None).await.0,
        400
    );
    assert!(center.regions.lock().unwrap().iter().all(|r| r == "east"));

    // A new document reaches the agents.
    *center.doc.lock().unwrap() = doc(2, 15);
    wait_for("the new step", || async {
        get_config(&url, Some("tok-acme"), "h1", None)
            .await
            .2
            .is_some_and(|c| c.step_secs == 15)
    })
    .await;

    // Heartbeats: the first batch carries h1 whole, the next one only lists it as alive.
    let hb = Heartbeat {
        host: "h1".into(),
        agent_version: "1.2.3".into(),
        uptime_secs: 10,
        ..Default::default()
    };
    assert_eq!(heartbeat(&url, "tok-acme", &hb).await, 200);
    assert_eq!(heartbeat(&url, "nope", &hb).await, 401);
    wait_for("a batch with h1 whole", || async {
        center.batches.lock().unwrap().iter().any(|b| {
            b.region == "east"
                && b.changed
                    .iter()
                    .any(|c| c.tenant.as_str() == "acme" && c.heartbeat.agent_version == "1.2.3")
        })
    })
    .await;
    // The agent's [tags] go along whole; tags a series could not carry are refused.
    let tagged = Heartbeat {
        host: "h2".into(),
        tags: argus_core::Tags::from_pairs([("env", "prod")]),
        ..Default::default()
    };
    assert_eq!(heartbeat(&url, "tok-acme", &tagged).await, 200);
    let bad = Heartbeat {
        host: "h3".into(),
        tags: argus_core::Tags::from_pairs([("env", "a,b")]),
        ..Default::default()
    };
    assert_eq!(heartbeat(&url, "tok-acme", &bad).await, 400);
    wait_for("a batch with h2's tags", || async {
        center.batches.lock().unwrap().iter().any(|b| {
            b.changed
                .iter()
                .any(|c| c.heartbeat.host == "h2" && c.heartbeat.tags.get("env") == Some("prod"))
        })
    })
    .await;
    let later = Heartbeat {
        uptime_secs: 70,
        ..hb.clone()
    };
    assert_eq!(heartbeat(&url, "tok-acme", &later).await, 200);
    wait_for("a batch with h1 alive", || async {
        center.batches.lock().unwrap().iter().any(|b| {
            b.changed.is_empty()
                && b.alive
                    .iter()
                    .any(|(t, hosts)| t.as_str() == "acme" && hosts.iter().any(|(h, _)| h == "h1"))
        })
    })
    .await;
    let sent = metric(
        &url,
        "argus_cross_region_bytes_sent_total{kind=\"config\",to=\"global\"}",
    )
    .await
    .unwrap();
    assert!(sent > 0.0, "config bytes to the global zone counted");
    t.stop().await;

    // The global zone is gone: a restarted transfer serves the cached configuration.
    handle.stop(true).await;
    let t = argus_transfer::start(cfg).await.unwrap();
    let (s, _, c) = get_config(&t.server.url(), Some("tok-acme"), "h1", None).await;
    assert_eq!((s, c.unwrap().step_secs), (200, 15));
    t.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn without_a_config_center_agents_are_sent_to_web() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let t = argus_transfer::start(transfer_cfg(&d.path().join("t"), vec![node.server.url()]))
        .await
        .unwrap();
    let (s, _, _) = get_config(&t.server.url(), Some("tok-acme"), "h1", None).await;
    assert_eq!(s, 404);
    t.stop().await;
    node.stop().await;
}
