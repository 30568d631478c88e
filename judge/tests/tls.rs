//! TLS at the judge: it serves HTTPS only with a certificate of a private CA (transfers push
//! points over https) and delivers its events over https to an alarm whose certificate that CA
//! signed, trusting it through its `[tls] ca_file`.

use argus_core::testing::WebhookReceiver;
use argus_core::tls::{client_builder, testing::TestPki};
use argus_core::wire::{encode_body, Batch, Encoding};
use argus_core::{Point, Tags, TenantId};
use argus_judge::{start, JudgeConfig};
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "node-secret";

#[actix_web::test]
async fn points_in_over_https_events_out_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    // The alarm stand-in: records every request, serves HTTPS with the CA's certificate.
    let alarm = WebhookReceiver::start_tls(&pki.config()).await;
    let alarm_base = alarm.url.trim_end_matches("/hook").to_string();
    let file = dir.path().join("strategies.json");
    let strategies = json!({"version": 1, "tenants": [{
        "tenant": "acme", "version": 1,
        "templates": [{"id": 1, "tenant": "acme", "name": "base", "strategies": [
            {"id": 10, "metric": "cpu.busy", "condition": "all(#2) > 90",
             "priority": 1, "max_alarms": 5, "note": "cpu hot"}
        ]}],
        "host_groups": [{"id": 1, "tenant": "acme", "name": "web", "hosts": ["h1"], "templates": [1]}]
    }]});
    std::fs::write(&file, strategies.to_string()).unwrap();
    let judge = start(JudgeConfig {
        listen: "127.0.0.1:0".into(),
        region: "r1".into(),
        internal_token: TOKEN.into(),
        alarm: vec![alarm_base],
        data_dir: dir.path().join("data"),
        strategies_file: Some(file),
        shards: 1,
        workers: 1,
        max_backoff_ms: 300,
        tls: pki.config(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(judge.url().starts_with("https://"), "{}", judge.url());

    let transfer = client_builder(&pki.client_config())
        .unwrap()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let now = argus_core::time::now_secs();
    let points: Vec<Point> = (0..2)
        .map(|i| {
            let mut p = Point::gauge("h1", "cpu.busy", Tags::new(), 95.0, now - 20 + i * 10);
            p.tenant = TenantId::new("acme").unwrap();
            p
        })
        .collect();
    let r = transfer
        .post(format!(
            "https://localhost:{}/internal/v1/points",
            judge.addr.port()
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .body(encode_body(Encoding::Zstd, &Batch { points }.to_json()))
        .send()
        .await
        .expect("points over https");
    assert!(r.status().is_success(), "{}", r.status());

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while alarm.hits().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no event reached the https alarm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hit = &alarm.hits()[0];
    assert_eq!(hit.path, "/internal/v1/events");
    assert_eq!(
        hit.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body = hit.json();
    assert_eq!(body["events"][0]["strategy_id"], 10, "{body}");
    assert_eq!(body["events"][0]["status"], "PROBLEM", "{body}");
    judge.stop().await;
    alarm.stop().await;
}
