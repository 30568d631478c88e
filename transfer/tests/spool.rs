//! Durability: a storage node stopped and restarted (and the transfer restarted in between)
//! loses no acknowledged point; a full spool refuses rather than acknowledging.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_point_survives_a_storage_node_outage_and_a_transfer_restart() {
    let d = tempfile::tempdir().unwrap();
    let store_dir = d.path().join("store");
    let node = store(&store_dir).await;
    let store_url = node.server.url();
    let listen = node.server.addr.to_string();
    let cfg = transfer_cfg(&d.path().join("t"), vec![store_url.clone()]);
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    let url = t.server.url();
    let now = now();
    let mut acked = Vec::new();
    let batch = |b: i64| -> Vec<_> {
        (0..20)
            .map(|i| {
                point(
                    &format!("h{i}"),
                    "disk.used",
                    (b * 100 + i) as f64,
                    now - 100 + b,
                )
            })
            .collect()
    };
    let send = |b: i64, url: String| {
        let pts = batch(b);
        async move {
            let (s, body) = push(&url, "tok-acme", &pts).await;
            assert_eq!(
                (s, body["accepted"].as_u64()),
                (200, Some(20)),
                "batch {b}: {body}"
            );
            pts
        }
    };
    acked.extend(send(0, url.clone()).await);

    node.stop().await;
    for b in 1..=5 {
        acked.extend(send(b, url.clone()).await);
    }
    let gauge = format!("argus_transfer_spool_bytes{{downstream=\"store {store_url}\"}}");
    assert!(
        metric(&url, &gauge).await.unwrap() > 0.0,
        "spool size in /metrics"
    );
    t.stop().await;

    // The transfer restarts with a full spool and keeps spooling, in order.
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    assert!(metric(&url, &gauge).await.unwrap() > 0.0);
    acked.extend(send(6, url.clone()).await);

    // The node comes back on the same address with the same data.
    let node = store_at(&store_dir, &listen).await;
    let st = t.state.clone();
    wait_for("the spool to drain", || {
        let st = st.clone();
        async move {
            st.forwarder
                .downstreams()
                .iter()
                .all(|d| d.spool_is_empty())
        }
    })
    .await;
    assert_eq!(metric(&url, &gauge).await, Some(0.0));
    let got = read_all(&store_url, "acme").await;
    let mut want: Vec<_> = acked
        .iter()
        .map(|p| (p.endpoint.clone(), p.metric.clone(), p.timestamp, p.value))
        .collect();
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, want, "every acknowledged point is stored");
    assert!(
        metric(&url, "argus_transfer_replayed_points_total")
            .await
            .unwrap()
            > 0.0
    );
    t.stop().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_refuses_instead_of_acknowledging() {
    let d = tempfile::tempdir().unwrap();
    // Nothing listens there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![dead]);
    cfg.spool.segment_bytes = 1_000;
    cfg.spool.max_bytes = 2_000;
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    let mut statuses = Vec::new();
    for b in 0..40 {
        let pts: Vec<_> = (0..10)
            .map(|i| {
                point(
                    &format!("host-{b}-{i}"),
                    &format!("m.{b}.{i}"),
                    i as f64,
                    now,
                )
            })
            .collect();
        statuses.push(push(&url, "tok-acme", &pts).await.0);
    }
    assert_eq!(statuses[0], 200);
    assert_eq!(*statuses.last().unwrap(), 503, "{statuses:?}");
    t.stop().await;
}

/// Upgrade: a store downstream's spool left by the previous version (`<id:016>.seg` segments of
/// `len | crc32 | zstd JSON points` records and a `cursor` file, written as that code wrote
/// them) is taken over when the transfer starts: the points after the cursor reach the storage
/// node, the ones before it (already replayed) do not, and the old files are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_of_the_previous_format_reaches_its_store_after_an_upgrade() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let store_url = node.server.url();
    let now = now();
    let points = |from: i64, n: i64| -> Vec<argus_core::Point> {
        (from..from + n)
            .map(|i| {
                let mut p = point(&format!("h{i}"), "disk.used", i as f64, now - 60);
                p.tenant = argus_core::TenantId::new("acme").unwrap();
                p
            })
            .collect()
    };
    let record = |pts: &[argus_core::Point]| -> Vec<u8> {
        let payload = zstd::bulk::compress(&serde_json::to_vec(pts).unwrap(), 1).unwrap();
        let mut rec = (payload.len() as u32).to_le_bytes().to_vec();
        rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        rec
    };
    let spool = d
        .path()
        .join("t/spool")
        .join(argus_transfer::sink::dir_name(
            argus_transfer::sink::Kind::Store,
            &store_url,
        ));
    std::fs::create_dir_all(&spool).unwrap();
    let replayed = record(&points(0, 2));
    let mut seg = replayed.clone();
    seg.extend(record(&points(2, 3)));
    std::fs::write(spool.join(format!("{:016}.seg", 0)), &seg).unwrap();
    std::fs::write(spool.join(format!("{:016}.seg", 1)), record(&points(5, 4))).unwrap();
    std::fs::write(spool.join("cursor"), format!("0:{}", replayed.len())).unwrap();

    let t = argus_transfer::start(transfer_cfg(&d.path().join("t"), vec![store_url.clone()]))
        .await
        .unwrap();
    let url = store_url.clone();
    wait_for("the old spool's points in the store", || {
        let url = url.clone();
        async move { read_all(&url, "acme").await.len() >= 7 }
    })
    .await;
    let mut got: Vec<f64> = read_all(&store_url, "acme")
        .await
        .iter()
        .map(|p| p.3)
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, (2..9).map(|i| i as f64).collect::<Vec<_>>());
    let left: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg") || n == "cursor")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    t.stop().await;
    node.stop().await;
}
