//! Property test: random writes (with rewrites and out-of-order points), head flushes,
//! compactions and restarts, compared with an in-memory model after every step.

use argus_core::point::Tags;
use argus_core::query::{Aggregation, LastQuery, RangeQuery, Selector};
use argus_core::{Point, TenantId};
use argus_store::{Engine, EngineConfig};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<(usize, i64, i32)>),
    Flush,
    Maintain,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((0usize..3, 0i64..400, -1000i32..1000), 1..20).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Maintain),
        1 => Just(Op::Reopen),
    ]
}

fn open(dir: &std::path::Path) -> Engine {
    Engine::open(&EngineConfig {
        data_dir: dir.to_path_buf(),
        background: false,
        out_of_order_window_secs: 1_000_000,
        partition_secs: 3600,
        ..Default::default()
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..25), qa in 0i64..400, ql in 0i64..400) {
        let dir = tempfile::tempdir().unwrap();
        let base = (argus_core::time::now_secs() - 86400) / 3600 * 3600 - 200;
        let tenant = TenantId::new("acme").unwrap();
        let mut e = Some(open(dir.path()));
        let mut model: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); 3];
        for op in ops {
            let eng = e.as_ref().unwrap();
            match op {
                Op::Write(w) => {
                    let pts: Vec<Point> = w.iter().map(|&(s, t, v)| {
                        let mut p = Point::gauge("h", &format!("m{s}"), Tags::new(), v as f64 / 4.0, base + t * 10);
                        p.tenant = tenant.clone();
                        p
                    }).collect();
                    let r = eng.write(&pts).unwrap();
                    prop_assert_eq!(r.accepted, pts.len());
                    for &(s, t, v) in &w {
                        model[s].insert(base + t * 10, v as f64 / 4.0);
                    }
                }
                Op::Flush => eng.flush_head().unwrap(),
                Op::Maintain => eng.maintain(argus_core::time::now_secs()).unwrap(),
                Op::Reopen => {
                    drop(e.take());
                    e = Some(open(dir.path()));
                }
            }
            let eng = e.as_ref().unwrap();
            let (a, b) = (base + qa * 10, base + (qa + ql) * 10);
            let got = eng.query_range(&RangeQuery {
                tenant: tenant.clone(),
                selector: Selector::default(),
                start: a,
                end: b,
                step: None,
                aggregation: Aggregation::Avg,
                group_by: None,
            }).unwrap();
            for (s, m) in model.iter().enumerate() {
                let want: Vec<(i64, f64)> = m.range(a..=b).map(|(t, v)| (*t, *v)).collect();
                let have = got.iter().find(|d| d.key.metric == format!("m{s}")).map(|d| d.points.clone()).unwrap_or_default();
                prop_assert_eq!(have, want, "series m{}", s);
            }
            let last = eng.last(&LastQuery { tenant: tenant.clone(), selector: Selector::default() }).unwrap();
            for (s, m) in model.iter().enumerate() {
                let want = m.iter().next_back().map(|(t, v)| (*t, *v));
                let have = last.iter().find(|l| l.key.metric == format!("m{s}")).map(|l| (l.timestamp, l.value));
                prop_assert_eq!(have, want, "last of m{}", s);
            }
        }
    }
}
