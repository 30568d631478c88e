//! The whole alerting path in the standalone platform: strategies configured through the API,
//! points pushed to the transfer, the judge raising PROBLEM and OK, the alarm service delivering
//! signed webhooks to a real HTTP receiver, and the problem acknowledged through the API.

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use argus_core::testing::WebhookReceiver;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn api(p: &Platform, method: reqwest::Method, path: &str, body: Value) -> Value {
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

async fn push(p: &Platform, value: f64, ts: i64) {
    let body = json!([{"endpoint": "web-01", "metric": "app.latency", "timestamp": ts,
                       "step": 1, "value": value, "counterType": "GAUGE", "tags": "svc=api"}]);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/push", p.transfer_url))
        .bearer_auth(&p.credentials.agent_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// Pushes `value` once a second until a webhook with an event of `status` arrives.
async fn until_notified(
    p: &Platform,
    hooks: &WebhookReceiver,
    value: f64,
    status: &str,
    ts: &mut i64,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        *ts += 1;
        push(p, value, *ts).await;
        let found = hooks.hits().iter().find_map(|hit| {
            let (sig, body) = (hit.header("x-argus-signature"), hit.json());
            let ev = body["events"]
                .as_array()?
                .iter()
                .find(|e| e["status"] == status)?;
            Some(json!({"sig": sig, "body": body, "event": ev}))
        });
        if let Some(f) = found {
            return f;
        }
        assert!(Instant::now() < deadline, "no {status} webhook within 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_crossing_reaches_the_webhook_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(StandaloneConfig {
        data_dir: dir.path().to_path_buf(),
        ports: Ports::any(),
        agent: false,
        config_pull_secs: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let hooks = WebhookReceiver::start().await;

    use reqwest::Method;
    api(&p, Method::POST, "hosts", json!({"name": "web-01"})).await;
    let base = api(&p, Method::POST, "templates", json!({"name": "base"})).await;
    let web_t = api(
        &p,
        Method::POST,
        "templates",
        json!({"name": "web", "parent": base["id"]}),
    )
    .await;
    api(
        &p,
        Method::POST,
        "strategies",
        json!({
            "template_id": base["id"], "metric": "app.latency", "tags": {"svc": "api"},
            "condition": "all(#2) > 100", "priority": 1, "max_alarms": 1, "note": "API slow"
        }),
    )
    .await;
    api(
        &p,
        Method::POST,
        "host_groups",
        json!({"name": "web", "hosts": ["web-01"], "templates": [web_t["id"]]}),
    )
    .await;
    let contact = api(
        &p,
        Method::POST,
        "contacts",
        json!({
            "name": "oncall", "webhook_url": hooks.url, "webhook_secret": "s3cret"
        }),
    )
    .await;
    api(
        &p,
        Method::POST,
        "subscriptions",
        json!({
            "target": {"kind": "priority", "max_priority": 5},
            "contact_id": contact["id"], "channels": ["webhook"]
        }),
    )
    .await;

    // The host inherits the strategy from the parent template through its group.
    let hosts = api(&p, Method::GET, "hosts", Value::Null).await;
    let host_id = hosts["hosts"][0]["id"].clone();
    let eff = api(
        &p,
        Method::GET,
        &format!("hosts/{host_id}/strategies"),
        Value::Null,
    )
    .await;
    assert!(
        eff.to_string().contains("all(#2) > 100"),
        "effective strategies: {eff}"
    );

    let mut ts = argus_core::time::now_secs() - 300;
    let problem = until_notified(&p, &hooks, 250.0, "PROBLEM", &mut ts).await;
    let ev = &problem["event"];
    assert_eq!(ev["series"]["endpoint"], "web-01");
    assert_eq!(ev["series"]["metric"], "app.latency");
    assert_eq!(ev["tenant"], "demo");
    assert_eq!(ev["priority"], 1);
    assert_eq!(ev["note"], "API slow");
    assert!(
        problem["sig"].as_str().unwrap_or("").starts_with("sha256="),
        "signed: {problem}"
    );

    // The problem is listed and can be acknowledged through the API.
    let events = api(&p, Method::GET, "events", Value::Null).await;
    assert!(
        events.to_string().contains(ev["id"].as_str().unwrap()),
        "events: {events}"
    );
    api(
        &p,
        Method::POST,
        &format!("events/{}/ack", ev["id"].as_str().unwrap()),
        json!({"comment": "looking"}),
    )
    .await;

    let ok = until_notified(&p, &hooks, 20.0, "OK", &mut ts).await;
    assert_eq!(ok["event"]["id"], ev["id"]);

    // max_alarms = 1: a single PROBLEM notice for this alert, whatever was pushed meanwhile.
    let problems = hooks
        .hits()
        .iter()
        .flat_map(|h| h.json()["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["status"] == "PROBLEM")
        .count();
    assert_eq!(problems, 1);
    hooks.stop().await;
    p.stop().await;
}

/// `argus standalone` with `[alarm]` set: email through the configured relay, acknowledgement
/// links on the configured public URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_alarm_settings_reach_the_email() {
    let Some(smtp) = argus_core::testing::require_server("ARGUS_TEST_SMTP", "an SMTP server")
    else {
        return;
    };
    let maildir = std::path::PathBuf::from(
        std::env::var("ARGUS_TEST_SMTP_MAILDIR")
            .expect("ARGUS_TEST_SMTP_MAILDIR with ARGUS_TEST_SMTP"),
    );
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StandaloneConfig {
        data_dir: dir.path().to_path_buf(),
        ports: Ports::any(),
        agent: false,
        config_pull_secs: 1,
        ..Default::default()
    };
    cfg.alarm.smtp.host = host.into();
    cfg.alarm.smtp.port = port.parse().unwrap();
    cfg.alarm.smtp.security = argus_alarm::config::SmtpSecurity::None;
    cfg.alarm.smtp.from = "Argus Standalone <standalone@example.test>".into();
    cfg.alarm.public_url = "https://alarm.example.test".into();
    cfg.alarm.group_wait_secs = 0;
    let p = start(cfg).await.unwrap();
    let to = format!("sa-{:08x}@example.test", rand::random::<u32>());
    use reqwest::Method;
    let t = api(&p, Method::POST, "templates", json!({"name": "base"})).await;
    api(
        &p,
        Method::POST,
        "strategies",
        json!({"template_id": t["id"], "metric": "app.latency",
        "tags": {"svc": "api"}, "condition": "all(#1) > 100", "priority": 1}),
    )
    .await;
    api(
        &p,
        Method::POST,
        "host_groups",
        json!({"name": "web", "hosts": ["web-01"], "templates": [t["id"]]}),
    )
    .await;
    let c = api(
        &p,
        Method::POST,
        "contacts",
        json!({"name": "mail", "email": to}),
    )
    .await;
    api(
        &p,
        Method::POST,
        "subscriptions",
        json!({"target": {"kind": "priority", "max_priority": 5},
        "contact_id": c["id"], "channels": ["email"]}),
    )
    .await;
    let mut ts = argus_core::time::now_secs() - 300;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mail = loop {
        ts += 1;
        push(&p, 250.0, ts).await;
        let found = std::fs::read_dir(maildir.join("new"))
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|f| {
                let text = std::fs::read_to_string(f.path()).ok()?;
                text.contains(&to).then_some(text)
            });
        if let Some(m) = found {
            break m;
        }
        assert!(Instant::now() < deadline, "no email within 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Quoted-printable soft breaks and encodings aside, the links are there.
    let m = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    assert!(m.contains("standalone@example.test"), "{m}");
    assert!(
        m.contains("https://alarm.example.test/ack?token="),
        "ack link on the public URL: {m}"
    );
    p.stop().await;
}
