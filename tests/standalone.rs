//! The thin slice end to end: the standalone platform, a falcon-format push to the agent's port,
//! and the point read back through the web query endpoint.

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn platform(dir: &std::path::Path, agent_collects: bool) -> Platform {
    start(StandaloneConfig {
        data_dir: dir.to_path_buf(),
        ports: Ports::any(),
        agent: true,
        step_secs: if agent_collects { 1 } else { 3600 },
        ..Default::default()
    })
    .await
    .expect("standalone starts")
}

async fn query(p: &Platform, params: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/query?{params}", p.web_url))
        .bearer_auth(&p.credentials.api_token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "query failed: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falcon_push_to_agent_is_readable_through_web() {
    let dir = tempfile::tempdir().unwrap();
    let p = platform(dir.path(), false).await;
    let now = argus_core::time::now_secs();
    let body = json!([
        {"endpoint": "web-01", "metric": "app.qps", "timestamp": now, "step": 10, "value": 42.5,
         "counterType": "GAUGE", "tags": "idc=bj,svc=api"},
        {"endpoint": "web-01", "timestamp": now, "value": 1},
        {"endpoint": "web-01", "metric": "app.bad", "timestamp": now, "value": "NaN-ish"}
    ]);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/push", p.agent_url.clone().unwrap()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let resp: Value = r.json().await.unwrap();
    assert_eq!(resp["accepted"], 1, "{resp}");
    let rejected = resp["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["field"], "metric");
    assert_eq!(rejected[1]["index"], 2);

    // The agent acknowledges once buffered; the point then travels agent -> transfer -> store.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data = query(&p, "endpoint=web-01&metric=app.qps&tags=svc=api").await;
        let series = data.as_array().and_then(|a| a.first());
        if let Some(s) = series.filter(|s| s["points"].as_array().is_some_and(|p| !p.is_empty())) {
            assert_eq!(s["key"]["tenant"], "demo");
            assert_eq!(s["key"]["tags"]["idc"], "bj");
            assert_eq!(s["points"], json!([[now, 42.5]]));
            break;
        }
        assert!(Instant::now() < deadline, "point not readable: {data}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reports_its_own_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let p = platform(dir.path(), true).await;
    let host = argus_agent::AgentConfig::default().endpoint();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data = query(&p, &format!("endpoint={host}&metric=cpu.idle")).await;
        if let Some(s) = data.as_array().and_then(|a| a.first()) {
            let v = s["points"][0][1].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&v), "cpu.idle {v} out of range");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no cpu.idle from the local agent"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_refuses_wrong_token_and_malformed_json_keeps_good_points() {
    let dir = tempfile::tempdir().unwrap();
    let p = platform(dir.path(), false).await;
    let c = reqwest::Client::new();
    let now = argus_core::time::now_secs();
    let url = format!("{}/v1/push", p.transfer_url);

    let r = c
        .post(&url)
        .bearer_auth("argus_agt_wrong")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("token"), "{e}");
    let r = c.post(&url).body("[]").send().await.unwrap();
    assert_eq!(r.status(), 401);

    let r = c
        .post(&url)
        .bearer_auth(&p.credentials.agent_token)
        .body("[{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("not valid JSON"),
        "{e}"
    );

    // The payload's tenant is ignored: the token decides.
    let body = json!([
        {"endpoint": "db-1", "metric": "disk.used", "timestamp": now, "value": 3, "tenant": "other"},
        {"endpoint": "db-1", "metric": "", "timestamp": now, "value": 3},
        {"endpoint": "db-1", "metric": "disk.used2", "timestamp": now + 86_400, "value": 3}
    ]);
    let r = c
        .post(&url)
        .bearer_auth(&p.credentials.agent_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let resp: Value = r.json().await.unwrap();
    assert_eq!(resp["accepted"], 1, "{resp}");
    assert_eq!(resp["rejected"][0]["field"], "metric");
    assert_eq!(resp["rejected"][1]["field"], "timestamp");
    let data = query(&p, "endpoint=db-1").await;
    assert_eq!(data.as_array().unwrap().len(), 1);
    assert_eq!(data[0]["key"]["tenant"], "demo");

    // The API refuses callers without a valid token.
    let r = c
        .get(format!("{}/api/v1/query?endpoint=db-1", p.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    p.stop().await;
}
