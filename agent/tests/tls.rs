//! The agent's `[tls] ca_file`: points reach a transfer that serves HTTPS with a certificate of
//! a private CA; an agent without the CA delivers nothing (the certificate is refused, counted
//! as a failed send).

mod common;

use argus_core::tls::testing::TestPki;
use common::*;

#[tokio::test]
async fn agent_pushes_over_https_to_a_transfer_of_the_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let transfer = fake_transfer_tls("127.0.0.1:0", &pki.config());
    let url = format!("https://localhost:{}", transfer.server.addr.port());

    // Without the CA: the transfer's certificate is refused; nothing arrives.
    let mut cfg = test_config(&dir.path().join("no-ca"), vec![url.clone()]);
    cfg.remote_config = false;
    let agent = argus_agent::start(cfg).await.unwrap();
    push_seq(&agent.server.url(), "tls.seq", 0, 3).await;
    let metrics_url = format!("{}/metrics", agent.server.url());
    wait_for_send_failure(&metrics_url).await;
    assert!(
        transfer.points().is_empty(),
        "delivered without trusting the CA"
    );
    agent.stop().await;

    // With the CA: delivered.
    let mut cfg = test_config(&dir.path().join("ca"), vec![url]);
    cfg.remote_config = false;
    cfg.tls = pki.client_config();
    let agent = argus_agent::start(cfg).await.unwrap();
    push_seq(&agent.server.url(), "tls.seq", 0, 3).await;
    wait_for(20, "points over https", || {
        values(&transfer.points(), "tls.seq") == vec![0, 1, 2]
    })
    .await;
    assert_eq!(
        transfer.state.tokens.lock().unwrap()[0],
        "agent-token",
        "the token travelled inside TLS"
    );
    agent.stop().await;
}

/// Waits until the agent's metrics show a failed send attempt.
async fn wait_for_send_failure(metrics_url: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = reqwest::get(metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let failed = text
            .lines()
            .any(|l| l.starts_with("argus_agent_send_failures_total") && !l.ends_with(" 0"));
        if failed {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed send:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
