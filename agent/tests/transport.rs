//! Transport: falcon-format push, failover between two transfers, and the on-disk buffer
//! (transfer down → buffered → back → every point once and in order, also across a restart).

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falcon_push_reaches_the_transfer_with_the_host_as_endpoint_and_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    let agent = argus_agent::start(test_config(dir.path(), vec![t.url()]))
        .await
        .unwrap();
    let url = agent.server.url();
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/push"))
        .body(
            r#"[{"metric":"qps","timestamp":NOW,"step":60,"value":"12.5","counterType":"GAUGE","tags":"idc=bj,svc=api"},
                {"endpoint":"web-9","metric":"bad","timestamp":NOW,"value":1,"counterType":"WEIRD"}]"#
                .replace("NOW", &argus_core::time::now_secs().to_string()),
        )
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["index"], 1);
    wait_for(20, "the pushed point", || !t.points().is_empty()).await;
    let p = &t.points()[0];
    assert_eq!(
        (p.endpoint.as_str(), p.metric.as_str(), p.value, p.step),
        ("test-host", "qps", 12.5, 60)
    );
    assert_eq!(p.tags.get("svc"), Some("api"));
    assert_eq!(t.state.tokens.lock().unwrap()[0], "agent-token");
    // Sent as the binary point frame, zstd-compressed, with no tenant of its own.
    assert_eq!(
        t.state.content_types.lock().unwrap()[0],
        argus_core::wire::frame::CONTENT_TYPE
    );
    assert!(p.tenant.is_unset());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_argus_batch_is_taken_too() {
    let dir = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    let agent = argus_agent::start(test_config(dir.path(), vec![t.url()]))
        .await
        .unwrap();
    let now = argus_core::time::now_secs();
    let body = format!(
        r#"{{"points":[{{"endpoint":"web-3","metric":"zz","value":7,"timestamp":{now}}}]}}"#
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/push", agent.server.url()))
        .header("content-encoding", "zstd")
        .body(argus_core::wire::encode_body(
            argus_core::wire::Encoding::Zstd,
            body.as_bytes(),
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    wait_for(20, "the zstd point", || {
        values(&t.points(), "zz") == vec![7]
    })
    .await;
    let p = t.points().into_iter().find(|p| p.metric == "zz").unwrap();
    assert_eq!(p.endpoint, "web-3");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/push", agent.server.url()))
        .header("content-encoding", "br")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_between_two_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let a = fake_transfer();
    let b = fake_transfer();
    a.set_down(true);
    // Port 1 refuses connections: a transfer that is really gone.
    let dead = "http://127.0.0.1:1".to_string();
    let agent = argus_agent::start(test_config(dir.path(), vec![dead, a.url(), b.url()]))
        .await
        .unwrap();
    let url = agent.server.url();
    push_seq(&url, "m", 0, 10).await;
    wait_for(20, "points at b", || values(&b.points(), "m").len() == 10).await;
    assert!(a.points().is_empty());
    assert!(
        a.state.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "a was tried first"
    );
    // Now b fails and a is back: the next points go to a.
    b.set_down(true);
    a.set_down(false);
    push_seq(&url, "m", 10, 20).await;
    wait_for(20, "points at a", || values(&a.points(), "m").len() == 10).await;
    let mut all = values(&b.points(), "m");
    all.extend(values(&a.points(), "m"));
    assert_eq!(
        all,
        (0..20).collect::<Vec<_>>(),
        "each point once, in order"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffers_on_disk_while_down_and_replays_once_in_order_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    t.set_down(true);
    let cfg = test_config(dir.path(), vec![t.url()]);
    let agent = argus_agent::start(cfg.clone()).await.unwrap();
    let url = agent.server.url();
    for i in 0..5 {
        push_seq(&url, "seq", i * 100, (i + 1) * 100).await;
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let buffer = dir.path().join("data/buffer");
    wait_for(20, "segments on disk", || {
        std::fs::read_dir(&buffer)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
    })
    .await;
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("argus_agent_buffer_points"), "{metrics}");
    // Restart while the transfer is still down: the rest goes to disk on stop.
    agent.stop().await;
    assert!(t.points().is_empty());
    let agent = argus_agent::start(cfg.clone()).await.unwrap();
    let url = agent.server.url();
    push_seq(&url, "seq", 500, 600).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    t.set_down(false);
    wait_for(30, "all 600 points", || {
        values(&t.points(), "seq").len() >= 600
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        values(&t.points(), "seq"),
        (0..600).collect::<Vec<_>>(),
        "every point once, in order"
    );
    wait_for(20, "empty buffer", || {
        std::fs::read_dir(&buffer).unwrap().count() == 0
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    t.set_down(true);
    let mut cfg = test_config(dir.path(), vec![t.url()]);
    cfg.buffer_max_bytes = 700;
    let agent = argus_agent::start(cfg).await.unwrap();
    let url = agent.server.url();
    for i in 0..10 {
        push_seq(&url, "seq", i * 100, (i + 1) * 100).await;
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let metric = |text: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with("argus_agent_points_dropped_total{reason=\"buffer_full\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    let mut dropped = 0;
    wait_for(20, "dropped points counted", || {
        dropped = metric(&agent.registry.render());
        dropped > 0
    })
    .await;
    t.set_down(false);
    wait_for(30, "the newest point", || {
        values(&t.points(), "seq").contains(&999)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let got = values(&t.points(), "seq");
    // Points still in memory when the transfer came back may have pushed more out of the buffer.
    let dropped = metric(&agent.registry.render());
    assert_eq!(
        got.len() as u64 + dropped,
        1000,
        "delivered + dropped = pushed"
    );
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates"
    );
    agent.stop().await;
}

/// Upgrade: a buffer left by the previous version (one `<seq:016>-<points>.seg` file per batch,
/// the zstd-compressed Argus batch, written as that code wrote it) is taken over at start: its
/// points reach the transfer first and in order, then the new ones, and the old files are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffer_of_the_previous_format_is_sent_after_an_upgrade() {
    use argus_core::wire::{encode_body, Batch, Encoding};
    let dir = tempfile::tempdir().unwrap();
    let buffer = dir.path().join("data/buffer");
    std::fs::create_dir_all(&buffer).unwrap();
    let now = argus_core::time::now_secs();
    for (seq, from, to) in [(3u64, 0, 3), (4, 3, 5)] {
        let points = (from..to)
            .map(|i| {
                argus_core::Point::gauge("test-host", "seq", Default::default(), i as f64, now)
            })
            .collect();
        let body = encode_body(Encoding::Zstd, &Batch { points }.to_json());
        std::fs::write(buffer.join(format!("{seq:016}-{}.seg", to - from)), body).unwrap();
    }
    let t = fake_transfer();
    let agent = argus_agent::start(test_config(dir.path(), vec![t.url()]))
        .await
        .unwrap();
    let url = agent.server.url();
    wait_for(20, "the old buffer's points", || {
        values(&t.points(), "seq").len() >= 5
    })
    .await;
    push_seq(&url, "seq", 5, 8).await;
    wait_for(20, "the new points", || {
        values(&t.points(), "seq").len() >= 8
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(values(&t.points(), "seq"), (0..8).collect::<Vec<_>>());
    let left: Vec<_> = std::fs::read_dir(&buffer)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    agent.stop().await;
}
