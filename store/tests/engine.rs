//! Engine behaviour: durability across restarts and damage, retention, rollups, out-of-order
//! points, counters, selectors, concurrency, full disk.

use argus_core::point::{CounterType, Tags};
use argus_core::query::{
    Aggregation, LastQuery, MatchOp, RangeQuery, Selector, SeriesQuery, TagMatcher,
};
use argus_core::{Point, TenantId};
use argus_store::engine::{LabelKind, LabelQuery};
use argus_store::{Engine, EngineConfig, StoreError};
use std::path::Path;

fn cfg(dir: &Path) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_path_buf(),
        background: false,
        ..Default::default()
    }
}

fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

fn pt(t: &str, host: &str, metric: &str, tags: &str, v: f64, ts: i64) -> Point {
    let mut p = Point::gauge(host, metric, Tags::parse_falcon(tags).unwrap(), v, ts);
    p.tenant = tenant(t);
    p
}

fn range(t: &str, sel: Selector, start: i64, end: i64) -> RangeQuery {
    RangeQuery {
        tenant: tenant(t),
        selector: sel,
        start,
        end,
        step: None,
        aggregation: Aggregation::Avg,
        group_by: None,
    }
}

fn metric(m: &str) -> Selector {
    Selector {
        metric: Some(m.into()),
        ..Default::default()
    }
}

fn now() -> i64 {
    argus_core::time::now_secs()
}

#[test]
fn survives_restart_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let base = now() - 4 * 3600;
    let pts: Vec<Point> = (0..1440)
        .map(|i| {
            pt(
                "acme",
                "h1",
                "cpu",
                "",
                (i % 100) as f64 / 4.0,
                base + i * 10,
            )
        })
        .collect();
    {
        let e = Engine::open(&cfg(dir.path())).unwrap();
        for c in pts.chunks(100).take(7) {
            assert_eq!(e.write(c).unwrap().accepted, 100);
        }
        e.flush_head().unwrap(); // blocks
        for c in pts.chunks(100).skip(7) {
            e.write(c).unwrap();
        }
        e.flush_head().unwrap(); // more blocks in the same partitions
        e.maintain(now()).unwrap(); // compaction
        assert!(e.stats().compactions > 0);
        // A rewrite of an already flushed point, in the head (WAL) only.
        let s = e
            .write(&[pt("acme", "h1", "cpu", "", -1.0, base + 14300)])
            .unwrap();
        assert_eq!(s.accepted, 1);
    }
    let e = Engine::open(&cfg(dir.path())).unwrap();
    let got = e
        .query_range(&range("acme", metric("cpu"), base, base + 100_000))
        .unwrap();
    assert_eq!(got.len(), 1);
    let mut want: Vec<(i64, f64)> = pts.iter().map(|p| (p.timestamp, p.value)).collect();
    want[1430].1 = -1.0;
    assert_eq!(got[0].points, want);
    let last = e
        .last(&LastQuery {
            tenant: tenant("acme"),
            selector: metric("cpu"),
        })
        .unwrap();
    assert_eq!(last[0].timestamp, base + 1439 * 10);
    assert!(argus_store::check::check(dir.path()).unwrap().is_ok());
}

#[test]
fn torn_and_corrupt_wal_tails_are_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now() - 1000;
    {
        let e = Engine::open(&cfg(dir.path())).unwrap();
        for i in 0..10 {
            e.write(&[pt("acme", "h", "m", "", i as f64, t0 + i)])
                .unwrap();
        }
    }
    let wal = dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    let seg = segs.last().unwrap().clone();
    let len = std::fs::metadata(&seg).unwrap().len();
    // A torn record: a header promising more than is there.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    drop(f);
    let rep = argus_store::check::check(dir.path()).unwrap();
    assert!(!rep.is_ok());
    assert!(rep.problems[0].1.contains("torn"), "{:?}", rep.problems);
    {
        let e = Engine::open(&cfg(dir.path())).unwrap();
        assert_eq!(e.stats().wal_truncations, 1);
        let got = e
            .query_range(&range("acme", metric("m"), t0, t0 + 100))
            .unwrap();
        assert_eq!(got[0].points.len(), 10);
    }
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
    // Flip a byte inside the last record: that record is dropped, the others kept.
    let mut data = std::fs::read(&seg).unwrap();
    let n = data.len();
    data[n - 3] ^= 0x55;
    std::fs::write(&seg, data).unwrap();
    let e = Engine::open(&cfg(dir.path())).unwrap();
    assert_eq!(e.stats().wal_truncations, 1);
    let got = e
        .query_range(&range("acme", metric("m"), t0, t0 + 100))
        .unwrap();
    assert_eq!(got[0].points.len(), 9);
}

#[test]
fn out_of_order_window_and_retention_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&EngineConfig {
        out_of_order_window_secs: 600,
        ..cfg(dir.path())
    })
    .unwrap();
    let t = now() - 100;
    e.write(&[pt("acme", "h", "m", "", 1.0, t)]).unwrap();
    let s = e
        .write(&[
            pt("acme", "h", "m", "", 2.0, t - 500),
            pt("acme", "h", "m", "", 3.0, t - 700),
            pt("acme", "h", "m", "", 4.0, t - 20 * 86400),
        ])
        .unwrap();
    assert_eq!(s.accepted, 1);
    assert_eq!(s.rejected.len(), 2);
    assert_eq!(s.rejected[0].index, 1);
    assert_eq!(s.rejected[0].field, "timestamp");
    assert!(
        s.rejected[0].reason.contains("out-of-order window"),
        "{:?}",
        s.rejected
    );
    assert_eq!(e.stats().rejected_too_old, 2);
    // A new series far in the past is refused by retention.
    let s = e
        .write(&[pt("acme", "h", "other", "", 1.0, t - 20 * 86400)])
        .unwrap();
    assert!(
        s.rejected[0].reason.contains("retention"),
        "{:?}",
        s.rejected
    );
    e.flush_head().unwrap();
    drop(e);
    // The window still holds after a restart (newest point known from blocks).
    let e = Engine::open(&EngineConfig {
        out_of_order_window_secs: 600,
        ..cfg(dir.path())
    })
    .unwrap();
    let s = e.write(&[pt("acme", "h", "m", "", 3.0, t - 700)]).unwrap();
    assert_eq!(s.accepted, 0);
    let got = e
        .query_range(&range("acme", metric("m"), t - 1000, t))
        .unwrap();
    assert_eq!(got[0].points, vec![(t - 500, 2.0), (t, 1.0)]);
}

#[test]
fn counters_read_as_rates_without_reset_spikes() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&cfg(dir.path())).unwrap();
    let t = now() - 1000;
    let vals = [100.0, 200.0, 300.0, 20.0, 120.0];
    let pts: Vec<Point> = vals
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut p = pt("acme", "h", "net.in", "", *v, t + i as i64 * 10);
            p.counter_type = CounterType::Counter;
            p
        })
        .collect();
    e.write(&pts[..3]).unwrap();
    e.flush_head().unwrap();
    e.write(&pts[3..]).unwrap();
    let got = e
        .query_range(&range("acme", metric("net.in"), t, t + 100))
        .unwrap();
    assert_eq!(
        got[0].points,
        vec![(t + 10, 10.0), (t + 20, 10.0), (t + 40, 10.0)]
    );
    assert!(got[0].points.iter().all(|p| p.1 >= 0.0));
    // A range starting mid-way still has the rate of its first point (looks back).
    let got = e
        .query_range(&range("acme", metric("net.in"), t + 15, t + 100))
        .unwrap();
    assert_eq!(got[0].points[0], (t + 20, 10.0));
    let last = e
        .last(&LastQuery {
            tenant: tenant("acme"),
            selector: metric("net.in"),
        })
        .unwrap();
    assert_eq!((last[0].timestamp, last[0].value), (t + 40, 10.0));
}

#[test]
fn selectors_index_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&EngineConfig {
        max_series_per_tenant: 5,
        ..cfg(dir.path())
    })
    .unwrap();
    let t = now();
    e.write(&[
        pt("acme", "web-1", "cpu", "dc=bj,role=web", 1.0, t),
        pt("acme", "web-2", "cpu", "dc=sh,role=web", 2.0, t),
        pt("acme", "db-1", "cpu", "dc=bj", 3.0, t),
        pt("acme", "db-1", "mem", "dc=bj", 4.0, t),
        pt("other", "web-1", "cpu", "dc=bj,role=web", 5.0, t),
    ])
    .unwrap();
    let hosts = |sel: Selector| -> Vec<String> {
        let mut v: Vec<String> = e
            .series(&SeriesQuery {
                tenant: tenant("acme"),
                selector: sel,
                limit: 100,
            })
            .unwrap()
            .into_iter()
            .map(|k| format!("{}/{}", k.endpoint, k.metric))
            .collect();
        v.sort();
        v
    };
    let tag = |k: &str, op, v: &str| Selector {
        tags: vec![TagMatcher {
            key: k.into(),
            op,
            value: v.into(),
        }],
        ..Default::default()
    };
    assert_eq!(hosts(Selector::default()).len(), 4);
    assert_eq!(
        hosts(metric("cpu")),
        vec!["db-1/cpu", "web-1/cpu", "web-2/cpu"]
    );
    assert_eq!(
        hosts(Selector {
            endpoint: Some("db-1".into()),
            ..metric("mem")
        }),
        vec!["db-1/mem"]
    );
    assert_eq!(hosts(tag("dc", MatchOp::Eq, "sh")), vec!["web-2/cpu"]);
    assert_eq!(
        hosts(tag("role", MatchOp::Ne, "web")),
        vec!["db-1/cpu", "db-1/mem"]
    );
    assert_eq!(
        hosts(tag("role", MatchOp::Eq, "")),
        vec!["db-1/cpu", "db-1/mem"]
    );
    assert_eq!(
        hosts(tag("dc", MatchOp::Regex, "b.")),
        vec!["db-1/cpu", "db-1/mem", "web-1/cpu"]
    );
    assert_eq!(hosts(tag("role", MatchOp::Regex, "web|")).len(), 4);
    assert_eq!(hosts(tag("dc", MatchOp::NotRegex, "b.")), vec!["web-2/cpu"]);
    assert_eq!(
        hosts(tag("dc", MatchOp::Regex, "nomatch")),
        Vec::<String>::new()
    );
    let bad = e.series(&SeriesQuery {
        tenant: tenant("acme"),
        selector: tag("dc", MatchOp::Regex, "("),
        limit: 1,
    });
    assert!(matches!(bad, Err(StoreError::BadQuery(m)) if m.contains("tags.dc")));
    let labels = |what, key: Option<&str>, sel: Selector| {
        e.labels(&LabelQuery {
            tenant: tenant("acme"),
            what,
            key: key.map(str::to_string),
            selector: sel,
            limit: 100,
        })
        .unwrap()
    };
    assert_eq!(
        labels(LabelKind::Metrics, None, Selector::default()),
        vec!["cpu", "mem"]
    );
    assert_eq!(
        labels(LabelKind::TagKeys, None, Selector::default()),
        vec!["dc", "role"]
    );
    assert_eq!(
        labels(LabelKind::TagValues, Some("dc"), Selector::default()),
        vec!["bj", "sh"]
    );
    assert_eq!(
        labels(LabelKind::TagValues, Some("dc"), metric("mem")),
        vec!["bj"]
    );
    assert_eq!(labels(LabelKind::Endpoints, None, metric("cpu")).len(), 3);
    // Cardinality cap: acme has 4 of 5.
    let s = e
        .write(&[
            pt("acme", "n1", "cpu", "", 1.0, t),
            pt("acme", "n2", "cpu", "", 1.0, t),
            pt("acme", "web-1", "cpu", "dc=bj,role=web", 9.0, t + 1),
        ])
        .unwrap();
    assert_eq!(s.accepted, 2);
    assert_eq!(s.rejected[0].index, 1);
    assert!(s.rejected[0].reason.contains("max_series_per_tenant"));
    assert_eq!(e.stats().rejected_cardinality, 1);
    // Another tenant is not affected, nor visible.
    assert_eq!(
        e.write(&[pt("other", "x", "y", "", 1.0, t)])
            .unwrap()
            .accepted,
        1
    );
}

#[test]
fn group_by_aggregates_across_series() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&cfg(dir.path())).unwrap();
    let t = (now() - 3600) / 60 * 60;
    let mut pts = Vec::new();
    for (h, dc, v) in [("a", "bj", 1.0), ("b", "bj", 3.0), ("c", "sh", 10.0)] {
        for i in 0..6 {
            pts.push(pt(
                "acme",
                h,
                "cpu",
                &format!("dc={dc}"),
                v + i as f64,
                t + i * 10,
            ));
        }
    }
    e.write(&pts).unwrap();
    let mut q = range("acme", metric("cpu"), t, t + 59);
    q.step = Some(60);
    q.group_by = Some(vec!["dc".into()]);
    q.aggregation = Aggregation::Max;
    let got = e.query_range(&q).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].key.tags.get("dc"), Some("bj"));
    assert_eq!(got[0].points, vec![(t, 8.0)]);
    assert_eq!(got[1].points, vec![(t, 15.0)]);
    q.aggregation = Aggregation::Avg;
    q.group_by = Some(vec![]);
    let got = e.query_range(&q).unwrap();
    assert_eq!(got.len(), 1);
    // Per-series averages 3.5, 5.5, 12.5 → 7.1666...
    assert!((got[0].points[0].1 - (3.5 + 5.5 + 12.5) / 3.0).abs() < 1e-9);
}

#[test]
fn retention_drops_whole_blocks_and_rollups_match_a_naive_computation() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&cfg(dir.path())).unwrap();
    let now = now();
    let start = (now - 3 * 86400) / 86400 * 86400;
    let end = start + 86400;
    let mut gauge = Vec::new();
    let mut counter = Vec::new();
    for i in 0..(86400 / 10) {
        let ts = start + i * 10 + (i % 3); // slight jitter
        let v = ((i * 7919) % 1000) as f64 / 10.0;
        gauge.push(pt("acme", "h", "load", "", v, ts));
        let mut c = pt("acme", "h", "bytes", "", ((i % 2000) * 1000) as f64, ts); // resets
        c.counter_type = CounterType::Counter;
        counter.push(c);
    }
    for c in gauge.chunks(5000).chain(counter.chunks(5000)) {
        assert_eq!(e.write_at(c, now).unwrap().accepted, c.len());
    }
    e.maintain(now).unwrap();
    let before = e.stats();
    // Query as if 20 days later: raw retention over, rollups answer.
    let later = now + 20 * 86400;
    for (m, agg) in [
        ("load", Aggregation::Avg),
        ("load", Aggregation::Max),
        ("load", Aggregation::Min),
        ("load", Aggregation::Count),
        ("load", Aggregation::Last),
        ("bytes", Aggregation::Sum),
        ("bytes", Aggregation::Avg),
    ] {
        let raw: Vec<(i64, f64)> = if m == "load" {
            gauge.iter().map(|p| (p.timestamp, p.value)).collect()
        } else {
            let r: Vec<(i64, f64)> = counter.iter().map(|p| (p.timestamp, p.value)).collect();
            argus_store::aggregate::rates(CounterType::Counter, &r)
        };
        for step in [3600i64, 7200] {
            let mut q = range("acme", metric(m), start, end - 1);
            q.step = Some(step as u32);
            q.aggregation = agg;
            let got = e.query_range_at(&q, later).unwrap();
            let naive = naive(&raw, step, agg);
            assert_eq!(got[0].points.len(), naive.len(), "{m} {agg:?} {step}");
            for (a, b) in got[0].points.iter().zip(&naive) {
                assert_eq!(a.0, b.0);
                assert!(
                    (a.1 - b.1).abs() < 1e-6 * b.1.abs().max(1.0),
                    "{m} {agg:?}: {a:?} vs {b:?}"
                );
            }
        }
    }
    // Retention: raw blocks go whole, rollups stay.
    e.maintain(later).unwrap();
    let after = e.stats();
    assert!(after.blocks < before.blocks, "{before:?} {after:?}");
    let raw = e
        .query_range(&range("acme", metric("load"), start, end))
        .unwrap();
    assert!(raw[0].points.is_empty());
    let mut q = range("acme", metric("load"), start, end - 1);
    q.step = Some(3600);
    assert_eq!(e.query_range_at(&q, later).unwrap()[0].points.len(), 24);
    // Far later everything is gone.
    e.maintain(now + 800 * 86400).unwrap();
    assert_eq!(e.stats().blocks, 0);
}

fn naive(pts: &[(i64, f64)], step: i64, agg: Aggregation) -> Vec<(i64, f64)> {
    let mut m: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
    for &(t, v) in pts {
        m.entry(t.div_euclid(step) * step).or_default().push(v);
    }
    m.into_iter()
        .map(|(t, v)| {
            let x = match agg {
                Aggregation::Avg => v.iter().sum::<f64>() / v.len() as f64,
                Aggregation::Sum => v.iter().sum(),
                Aggregation::Min => v.iter().cloned().fold(f64::INFINITY, f64::min),
                Aggregation::Max => v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                Aggregation::Count => v.len() as f64,
                Aggregation::Last => *v.last().unwrap(),
            };
            (t, x)
        })
        .collect()
}

#[test]
fn full_disk_refuses_writes_and_keeps_reads() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&EngineConfig {
        disk_quota_bytes: 4096,
        ..cfg(dir.path())
    })
    .unwrap();
    let t = now() - 10_000;
    let mut stored = 0;
    let err = loop {
        let batch: Vec<Point> = (0..20)
            .map(|i| pt("acme", "h", "m", "", i as f64, t + stored + i))
            .collect();
        match e.write(&batch) {
            Ok(s) => stored += s.accepted as i64,
            Err(e) => break e,
        }
        assert!(stored < 10_000, "quota never hit");
    };
    assert!(matches!(err, StoreError::DiskFull(_)), "{err}");
    assert!(err.to_string().contains("disk full"));
    let got = e
        .query_range(&range("acme", metric("m"), t, t + 10_000))
        .unwrap();
    assert_eq!(got[0].points.len() as i64, stored);
}

#[test]
fn concurrent_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let e = std::sync::Arc::new(
        Engine::open(&EngineConfig {
            head_max_points: 500,
            flush_interval_secs: 1,
            background: true,
            ..cfg(dir.path())
        })
        .unwrap(),
    );
    let t = now() - 5000;
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let e = e.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let b: Vec<Point> = (0..5)
                        .map(|s| {
                            pt(
                                "acme",
                                &format!("h{w}"),
                                &format!("m{s}"),
                                "",
                                i as f64,
                                t + i,
                            )
                        })
                        .collect();
                    assert_eq!(e.write(&b).unwrap().accepted, 5);
                }
            })
        })
        .collect();
    let reader = {
        let e = e.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            for _ in 0..50 {
                let got = e
                    .query_range(&range("acme", Selector::default(), t, t + 1000))
                    .unwrap();
                for s in &got {
                    // Points are never seen twice or out of order.
                    assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
                }
                seen = seen.max(got.iter().map(|s| s.points.len()).sum::<usize>());
            }
            seen
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    e.maintain(now()).unwrap();
    let got = e
        .query_range(&range("acme", Selector::default(), t, t + 1000))
        .unwrap();
    assert_eq!(got.len(), 15);
    assert!(got.iter().all(|s| s.points.len() == 200));
}
