//! The storage node over HTTP: full disk, `/metrics`, JSON writes with rejections, and the
//! `argus-store check` subcommand.

mod common;

use argus_core::point::Tags;
use argus_core::query::{LastQuery, Selector};
use argus_core::{Point, TenantId};
use argus_store::node::start;
use argus_store::{EngineConfig, StoreClient};
use std::time::Duration;

fn pt(v: f64, ts: i64) -> Point {
    let mut p = Point::gauge("h", "m", Tags::new(), v, ts);
    p.tenant = TenantId::new("acme").unwrap();
    p
}

/// The latest value of every series of tenant `acme`.
async fn last_of_acme(c: &StoreClient) -> Vec<argus_core::query::LastValue> {
    c.last(&LastQuery {
        tenant: TenantId::new("acme").unwrap(),
        selector: Selector::default(),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn full_disk_answers_507_and_reads_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::node_config(dir.path());
    cfg.engine.disk_quota_bytes = 2048;
    let node = start(cfg).await.unwrap();
    let c = StoreClient::new(node.server.url(), "", Duration::from_secs(30));
    let t = argus_core::time::now_secs() - 5000;
    let mut n = 0;
    let err = loop {
        let b: Vec<Point> = (0..20).map(|i| pt(i as f64, t + n + i)).collect();
        match c.write(&b).await {
            Ok(r) => n += r.accepted as i64,
            Err(e) => break e,
        }
        assert!(n < 5000);
    };
    assert!(err.is_retryable());
    assert!(err.to_string().contains("507"), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    let last = last_of_acme(&c).await;
    assert_eq!(last[0].timestamp, t + n - 1);

    let m = reqwest::get(format!("{}/metrics", node.server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "argus_store_series 1",
        &format!("argus_store_engine_points_ingested {n}"),
        "argus_store_bytes_on_disk",
        "argus_store_wal_bytes",
        "argus_store_compaction_milliseconds",
        "argus_store_points_ingested_total",
    ] {
        assert!(m.contains(name), "{name} missing from\n{m}");
    }
    node.stop().await;
}

#[tokio::test]
async fn json_writes_report_engine_rejections_by_batch_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::node_config(dir.path());
    cfg.engine.out_of_order_window_secs = 60;
    let node = start(cfg).await.unwrap();
    let t = argus_core::time::now_secs();
    let body = serde_json::json!({"points": [
        {"tenant": "acme", "endpoint": "h", "metric": "m", "value": 1, "timestamp": t},
        {"endpoint": "h", "metric": "m", "value": 1, "timestamp": t},
        {"tenant": "acme", "endpoint": "h", "metric": "m", "value": 1, "timestamp": t - 600},
    ]});
    let r: argus_core::wire::PushResponse = reqwest::Client::new()
        .post(format!("{}/internal/v1/write", node.server.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    let idx: Vec<(usize, &str)> = r
        .rejected
        .iter()
        .map(|r| (r.index, r.field.as_str()))
        .collect();
    assert_eq!(idx, vec![(1, "tenant"), (2, "timestamp")]);
    node.stop().await;
}

/// Hand-built frame points: tenant, endpoint, metric, raw tag pairs (in the order given, so a
/// frame can carry unsorted tags), value, timestamp.
type RawPoint<'a> = (
    &'a [u8],
    &'a [u8],
    &'a [u8],
    &'a [(&'a str, &'a str)],
    f64,
    i64,
);

fn frame(points: &[RawPoint]) -> Vec<u8> {
    use argus_store::codec::{put_ivarint, put_uvarint};
    let put = |out: &mut Vec<u8>, b: &[u8]| {
        put_uvarint(out, b.len() as u64);
        out.extend_from_slice(b);
    };
    let mut raw = b"AGP1".to_vec();
    put_uvarint(&mut raw, points.len() as u64);
    for (tenant, endpoint, metric, tags, value, ts) in points {
        put(&mut raw, tenant);
        put(&mut raw, endpoint);
        put(&mut raw, metric);
        put_uvarint(&mut raw, tags.len() as u64);
        for (k, v) in tags.iter() {
            put(&mut raw, k.as_bytes());
            put(&mut raw, v.as_bytes());
        }
        raw.extend_from_slice(&value.to_le_bytes());
        put_ivarint(&mut raw, *ts);
        put_uvarint(&mut raw, 60);
        raw.push(0);
    }
    raw
}

#[tokio::test]
async fn binary_frames_keep_good_points_and_match_series_by_key_whatever_the_tag_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(common::node_config(dir.path())).await.unwrap();
    let t = argus_core::time::now_secs();
    let send = |raw: Vec<u8>| {
        let url = format!("{}/internal/v1/write", node.server.url());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("content-type", argus_store::codec::CONTENT_TYPE)
                .body(raw)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<argus_core::wire::PushResponse>().await.unwrap()
        }
    };
    let sorted: &[(&str, &str)] = &[("a", "1"), ("b", "2")];
    let unsorted: &[(&str, &str)] = &[("b", "2"), ("a", "1")];
    // A known series (created by the first frame) is matched from its key's bytes; a key with
    // its tags out of order is the same series, not a second one.
    let r = send(frame(&[(b"acme", b"h", b"m", sorted, 1.0, t - 20)])).await;
    assert_eq!((r.accepted, r.rejected.len()), (1, 0));
    let r = send(frame(&[
        (b"acme", b"h", b"m", unsorted, 2.0, t - 10),
        (b"acme", b"h", b"m", sorted, f64::NAN, t),
        (b"acme", b"h\xff", b"m", sorted, 3.0, t),
        (b"acme", b"h", b"bad metric", sorted, 3.0, t),
        (b"", b"h", b"m", sorted, 3.0, t),
        (b"acme", b"h", b"m", sorted, 4.0, t),
    ]))
    .await;
    let idx: Vec<(usize, &str)> = r
        .rejected
        .iter()
        .map(|r| (r.index, r.field.as_str()))
        .collect();
    assert_eq!(
        idx,
        vec![(1, "value"), (2, "key"), (3, "metric"), (4, "tenant")],
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[1].reason.contains("UTF-8"),
        "{:?}",
        r.rejected[1]
    );
    assert_eq!(r.accepted, 2);
    let series = node
        .engine
        .series(&argus_core::query::SeriesQuery {
            tenant: argus_core::TenantId::new("acme").unwrap(),
            selector: Default::default(),
            limit: 100,
        })
        .unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
    let last = node
        .engine
        .last(&argus_core::query::LastQuery {
            tenant: argus_core::TenantId::new("acme").unwrap(),
            selector: Default::default(),
        })
        .unwrap();
    assert_eq!(last[0].value, 4.0);
    // A frame whose structure is broken is refused whole.
    let mut broken = frame(&[(b"acme", b"h", b"m", sorted, 5.0, t)]);
    broken.truncate(broken.len() - 3);
    let r = reqwest::Client::new()
        .post(format!("{}/internal/v1/write", node.server.url()))
        .header("content-type", argus_store::codec::CONTENT_TYPE)
        .body(broken)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    node.stop().await;
}

#[test]
fn check_subcommand_reports_damage() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = argus_store::Engine::open(&EngineConfig {
            data_dir: dir.path().into(),
            background: false,
            ..Default::default()
        })
        .unwrap();
        let t = argus_core::time::now_secs() - 100;
        e.write(&[pt(1.0, t), pt(2.0, t + 10)]).unwrap();
        e.flush_head().unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_argus-store");
    let ok = std::process::Command::new(bin)
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("\"blocks_ok\": 1"));
    // Damage a chunk byte.
    let blk = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "blk"))
        .unwrap();
    let mut data = std::fs::read(&blk).unwrap();
    data[34] ^= 0xff;
    std::fs::write(&blk, data).unwrap();
    let bad = std::process::Command::new(bin)
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("checksum"), "{err}");
    // Entries do not keep their keys in memory; the error still names the series.
    let key = "acme/h/m";
    assert!(err.contains(key), "{key} not in {err}");
}

/// A clean stop writes the head to blocks: the log is left empty (the disk holds the compacted
/// size, a restart replays nothing) and every point reads back after the restart.
#[tokio::test]
async fn a_clean_stop_writes_the_head_to_blocks_and_empties_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::node_config(dir.path());
    let node = start(cfg.clone()).await.unwrap();
    let c = StoreClient::new(node.server.url(), "", Duration::from_secs(30));
    let t = argus_core::time::now_secs() - 3000;
    let b: Vec<Point> = (0..500).map(|i| pt(i as f64, t + i)).collect();
    assert_eq!(c.write(&b).await.unwrap().accepted, 500);
    let wal_bytes = |d: &std::path::Path| -> u64 {
        std::fs::read_dir(d.join("wal"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    assert!(wal_bytes(dir.path()) > 500, "the write is in the log first");
    node.stop().await;
    assert_eq!(
        wal_bytes(dir.path()),
        0,
        "the log is empty after a clean stop"
    );

    let node = start(cfg).await.unwrap();
    let stats = node.engine.stats();
    assert_eq!(stats.head_points, 0, "nothing replayed from the log");
    assert!(stats.blocks >= 1, "the head went to block files");
    let c = StoreClient::new(node.server.url(), "", Duration::from_secs(30));
    let last = last_of_acme(&c).await;
    assert_eq!((last[0].timestamp, last[0].value), (t + 499, 499.0));
    node.stop().await;
}
