//! TLS at alarm: an alarm serving HTTPS with a certificate of a private CA takes events over
//! https and delivers a webhook to an https receiver whose certificate that CA signed (alarm's
//! `[tls] ca_file`); without the CA, the delivery fails on the certificate and the delivery
//! log says so.

mod common;

use argus_core::event::{Event, EventStatus};
use argus_core::notify::Channel;
use argus_core::tls::{client_builder, testing::TestPki, TlsConfig};
use common::*;
use serde_json::Value;
use std::time::Duration;

async fn post_events_with(client: &reqwest::Client, base: &str, events: &[Event]) -> u16 {
    client
        .post(format!("{base}/internal/v1/events"))
        .bearer_auth("internal-secret")
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .expect("events over https")
        .status()
        .as_u16()
}

fn webhook_config(
    dir: &std::path::Path,
    t: &str,
    url: &str,
    tls: TlsConfig,
) -> argus_alarm::AlarmConfig {
    argus_alarm::AlarmConfig {
        tls,
        ..config(
            dir,
            vec![tenant_cfg(
                t,
                vec![contact(t, 1, None, Some(url), None)],
                vec![],
                vec![sub_all(t, 1, None, Some(1), vec![Channel::Webhook])],
            )],
        )
    }
}

#[tokio::test]
async fn https_webhook_to_a_receiver_of_the_private_ca_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let rx = Receiver::start_tls(&pki.config()).await;
    assert!(rx.url.starts_with("https://localhost:"), "{}", rx.url);
    let t = "tls-hook";
    let alarm = argus_alarm::start(webhook_config(
        &dir.path().join("alarm"),
        t,
        &rx.url,
        pki.config(),
    ))
    .await
    .unwrap();
    assert!(alarm.url().starts_with("https://"), "{}", alarm.url());
    let base = format!("https://localhost:{}", alarm.addr.port());
    let judge = client_builder(&pki.client_config())
        .unwrap()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let e = event(t, "web-1", 7, 1, EventStatus::Problem, 1);
    assert_eq!(
        post_events_with(&judge, &base, std::slice::from_ref(&e)).await,
        200
    );

    wait_for("the https webhook", 20, || !rx.delivered().is_empty()).await;
    let v = rx.delivered()[0].json();
    assert_eq!(v["tenant"], t);
    assert_eq!(v["events"][0]["id"], e.id.0.as_str());
    // Acknowledgement links point at alarm's own https address.
    assert!(
        v["events"][0]["ack_url"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{v}"
    );
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn without_the_ca_the_https_webhook_fails_on_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let rx = Receiver::start_tls(&pki.config()).await;
    let t = "tls-no-ca";
    let alarm = argus_alarm::start(webhook_config(
        &dir.path().join("alarm"),
        t,
        &rx.url,
        TlsConfig::default(),
    ))
    .await
    .unwrap();
    let e = event(t, "web-1", 7, 1, EventStatus::Problem, 1);
    let (s, _) = post_events(&alarm.url(), std::slice::from_ref(&e)).await;
    assert_eq!(s, 200);
    let url = format!("{}/internal/v1/deliveries?tenant={t}", alarm.url());
    let mut last = Value::Null;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let error = loop {
        let (_, body) = get(&url).await;
        let err = body["deliveries"][0]["last_error"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if !err.is_empty() {
            break err;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt: {last}"
        );
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(error.contains("certificate"), "{error}");
    assert!(rx.hits().is_empty(), "the receiver got a request");
    alarm.stop().await;
    rx.stop().await;
}
