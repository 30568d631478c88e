//! Rules on queries end to end on the standalone platform (web, transfer, store, judge, alarm
//! on their real ports), with a real HTTP webhook receiver:
//!
//! - an alert rule with `for` goes pending, then fires (PROBLEM with its labels and rendered
//!   annotation at the webhook, after `for`), then resolves (OK);
//! - a recording rule's output is readable through PromQL as an ordinary series, and a streaming
//!   strategy on it (an expression strategy on the recorded metric) fires to the webhook.

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use argus_core::testing::WebhookReceiver;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn api(p: &Platform, method: Method, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .request(method, format!("{}/api/v1/{path}", p.web_url))
        .bearer_auth(&p.credentials.api_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

async fn push(p: &Platform, points: &[(&str, &str, f64)], ts: i64) {
    let body: Vec<Value> = points
        .iter()
        .map(|(endpoint, metric, value)| {
            json!({"endpoint": endpoint, "metric": metric, "timestamp": ts, "step": 1,
                   "value": value, "counterType": "GAUGE", "tags": "svc=web"})
        })
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/push", p.transfer_url))
        .bearer_auth(&p.credentials.agent_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The first event of `status` delivered to the webhook that `pick` accepts.
fn delivered(
    hooks: &WebhookReceiver,
    status: &str,
    pick: impl Fn(&Value) -> bool,
) -> Option<Value> {
    hooks.hits().iter().find_map(|hit| {
        hit.json()["events"]
            .as_array()?
            .iter()
            .find(|e| e["status"] == status && pick(e))
            .cloned()
    })
}

async fn platform(dir: &std::path::Path) -> (Platform, WebhookReceiver) {
    let p = start(StandaloneConfig {
        data_dir: dir.to_path_buf(),
        ports: Ports::any(),
        agent: false,
        config_pull_secs: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let hooks = WebhookReceiver::start().await;
    let contact = api(
        &p,
        Method::POST,
        "contacts",
        json!({"name": "oncall", "webhook_url": hooks.url, "webhook_secret": "s3cret"}),
    )
    .await;
    api(
        &p,
        Method::POST,
        "subscriptions",
        json!({"target": {"kind": "priority", "max_priority": 5},
               "contact_id": contact["id"], "channels": ["webhook"]}),
    )
    .await;
    (p, hooks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rule_pends_fires_and_resolves_through_the_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let (p, hooks) = platform(dir.path()).await;
    let rule = api(
        &p,
        Method::POST,
        "alert_rules",
        json!({"alert": "LoadHigh", "expr": r#"{__name__="app.load"} > 5"#, "for_secs": 4,
               "interval_secs": 1, "labels": {"team": "ops"}, "priority": 1,
               "annotations": {"summary": "{{ $labels.endpoint }} load is {{ $value }}"}}),
    )
    .await;

    // High load, pushed every second: pending first, PROBLEM once it held for 4 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut first_high = None;
    let problem = loop {
        let now = argus_core::time::now_secs();
        push(&p, &[("web-01", "app.load", 9.0)], now).await;
        first_high.get_or_insert(Instant::now());
        if let Some(e) = delivered(&hooks, "PROBLEM", |_| true) {
            break e;
        }
        assert!(Instant::now() < deadline, "no PROBLEM within 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        first_high.unwrap().elapsed() >= Duration::from_secs(4),
        "fired before its `for` of 4 s"
    );
    assert_eq!(problem["tenant"], "demo");
    assert_eq!(problem["priority"], 1);
    assert_eq!(problem["rule"]["id"], rule["id"], "{problem}");
    assert_eq!(problem["rule"]["alert"], "LoadHigh");
    assert_eq!(problem["rule"]["labels"]["team"], "ops");
    assert_eq!(problem["rule"]["labels"]["endpoint"], "web-01");
    assert_eq!(
        problem["rule"]["annotations"]["summary"], "web-01 load is 9",
        "{problem}"
    );

    // Load back to normal: the alert resolves with the same id.
    let deadline = Instant::now() + Duration::from_secs(90);
    let ok = loop {
        let now = argus_core::time::now_secs();
        push(&p, &[("web-01", "app.load", 1.0)], now).await;
        if let Some(e) = delivered(&hooks, "OK", |_| true) {
            break e;
        }
        assert!(Instant::now() < deadline, "no OK within 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(ok["id"], problem["id"]);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_series_are_queryable_and_alerted_on_by_strategies() {
    let dir = tempfile::tempdir().unwrap();
    let (p, hooks) = platform(dir.path()).await;
    api(
        &p,
        Method::POST,
        "recording_rules",
        json!({"record": "svc:requests:sum", "expr": r#"sum by (svc) ({__name__="app.requests"})"#,
               "labels": {"source": "rule"}, "interval_secs": 1}),
    )
    .await;
    // A streaming strategy on the recorded metric, for any host.
    api(
        &p,
        Method::POST,
        "expressions",
        json!({"metric": "svc:requests:sum", "tags": {"svc": "web"},
               "condition": "all(#1) > 100", "priority": 2, "note": "fleet busy"}),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(90);
    let c = reqwest::Client::new();
    let recorded = loop {
        let now = argus_core::time::now_secs();
        push(
            &p,
            &[
                ("web-01", "app.requests", 70.0),
                ("web-02", "app.requests", 50.0),
            ],
            now,
        )
        .await;
        let r: Value = c
            .get(format!("{}/prometheus/api/v1/query", p.web_url))
            .bearer_auth(&p.credentials.api_token)
            .query(&[("query", "svc:requests:sum")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let result = r["data"]["result"].as_array().cloned().unwrap_or_default();
        if result.first().is_some_and(|s| s["value"][1] == "120") {
            break result;
        }
        assert!(
            Instant::now() < deadline,
            "no recorded series within 90 s: {r}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0]["metric"],
        json!({"__name__": "svc:requests:sum", "svc": "web", "source": "rule"})
    );

    // The judge sees the recorded points as a stream: the strategy fires.
    let deadline = Instant::now() + Duration::from_secs(90);
    let problem = loop {
        let now = argus_core::time::now_secs();
        push(
            &p,
            &[
                ("web-01", "app.requests", 70.0),
                ("web-02", "app.requests", 50.0),
            ],
            now,
        )
        .await;
        if let Some(e) = delivered(&hooks, "PROBLEM", |e| {
            e["series"]["metric"] == "svc:requests:sum"
        }) {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "no PROBLEM from the strategy within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(problem["note"], "fleet busy");
    assert_eq!(problem["value"], 120.0);
    p.stop().await;
}
