//! The region's PromQL selection endpoint, `POST /internal/v1/query/select`: series selected by
//! label matchers over what a real storage node holds, exact after the node's superset
//! prefilter, confined to the tenant named by the (internal) caller, and refused without the
//! internal credential.

mod common;

use argus_promql::labels::labels_of;
use argus_transfer::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};
use common::*;
use serde_json::{json, Value};

const INTERNAL: &str = "int-secret";

fn rw(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Vec<u8> {
    let mut l = vec![Label {
        name: "__name__".into(),
        value: name.into(),
    }];
    l.extend(labels.iter().map(|(k, v)| Label {
        name: (*k).into(),
        value: (*v).into(),
    }));
    encode(&WriteRequest {
        timeseries: vec![TimeSeries {
            labels: l,
            samples: samples
                .iter()
                .map(|&(t, v)| Sample {
                    value: v,
                    timestamp: t * 1000,
                })
                .collect(),
        }],
    })
}

async fn select(url: &str, auth: Option<&str>, body: Value) -> (u16, Value) {
    let mut rq = reqwest::Client::new()
        .post(format!("{url}/internal/v1/query/select"))
        .json(&body);
    if let Some(a) = auth {
        rq = rq.bearer_auth(a);
    }
    let r = rq.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// The PromQL label sets of an answer, as `k=v` strings, with each series' point count.
fn label_sets(v: &Value) -> Vec<(String, usize)> {
    let data: Vec<argus_core::query::SeriesData> = serde_json::from_value(v.clone()).unwrap();
    data.iter()
        .map(|d| {
            let l = labels_of(&d.key);
            let s: Vec<String> = l.pairs().iter().map(|(k, v)| format!("{k}={v}")).collect();
            (s.join(","), d.points.len())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_by_label_matchers() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.internal_token = INTERNAL.into();
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    let c = reqwest::Client::new();
    for (token, value) in [("tok-acme", 1.0), ("tok-beta", 7.0)] {
        let r = c
            .post(format!("{url}/api/v1/write"))
            .bearer_auth(token)
            .body(rw(
                "up",
                &[("instance", "10.0.0.1:9100"), ("job", "node")],
                &[(now - 20, value), (now - 10, value)],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    }
    let mut p1 = point("web-1", "cpu.idle", 90.0, now - 10);
    p1.tags = argus_core::Tags::from_pairs([("idc", "bj")]);
    let (s, _) = push(
        &url,
        "tok-acme",
        &[
            p1,
            point("web-2", "cpu.idle", 80.0, now - 10),
            point("web-3", "old.metric", 1.0, now - 3000),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let q = |matchers: Value| json!({"tenant": "acme", "matchers": matchers, "start": now - 600, "end": now});
    wait_for("acme's series", || async {
        let (_, v) = select(&url, Some(INTERNAL), q(json!([]))).await;
        v.as_array().is_some_and(|a| a.len() == 3)
    })
    .await;

    let m = |k: &str, op: &str, v: &str| json!({"key": k, "op": op, "value": v});
    let cases = [
        // A remote-write series reads back with exactly its labels.
        (
            json!([m("__name__", "eq", "up")]),
            vec!["__name__=up,instance=10.0.0.1:9100,job=node"],
        ),
        // Its stored endpoint is not an `endpoint` label.
        (json!([m("endpoint", "eq", "10.0.0.1:9100")]), vec![]),
        (
            json!([m("instance", "eq", "10.0.0.1:9100")]),
            vec!["__name__=up,instance=10.0.0.1:9100,job=node"],
        ),
        // A falcon series: name with dots, endpoint, tags.
        (
            json!([
                m("__name__", "eq", "cpu.idle"),
                m("endpoint", "eq", "web-1")
            ]),
            vec!["__name__=cpu.idle,endpoint=web-1,idc=bj"],
        ),
        // Matchers the nodes cannot apply, and a missing tag compared as "".
        (
            json!([m("__name__", "regex", "cpu\\..*"), m("idc", "ne", "bj")]),
            vec!["__name__=cpu.idle,endpoint=web-2"],
        ),
        (
            json!([m("endpoint", "regex", "web-.*")]),
            vec![
                "__name__=cpu.idle,endpoint=web-1,idc=bj",
                "__name__=cpu.idle,endpoint=web-2",
            ],
        ),
        (json!([m("__name__", "regex", "cpu")]), vec![]),
    ];
    for (matchers, want) in cases {
        let (s, v) = select(&url, Some(INTERNAL), q(matchers.clone())).await;
        assert_eq!(s, 200, "{matchers}: {v}");
        let mut got: Vec<String> = label_sets(&v).into_iter().map(|(l, _)| l).collect();
        got.sort();
        assert_eq!(got, want, "{matchers}");
    }
    // Beta's `up` never appears for acme, and the other way round.
    let (_, v) = select(
        &url,
        Some(INTERNAL),
        q(json!([m("__name__", "regex", ".+")])),
    )
    .await;
    assert!(!v.to_string().contains("7.0"), "{v}");
    let (_, v) = select(
        &url,
        Some(INTERNAL),
        json!({"tenant": "beta", "matchers": [], "start": now - 600, "end": now}),
    )
    .await;
    assert_eq!(label_sets(&v).len(), 1, "{v}");
    // Points within [start, end] only; a series without any there is absent.
    let (_, v) = select(
        &url,
        Some(INTERNAL),
        json!({"tenant": "acme", "matchers": [m("__name__", "eq", "up")],
               "start": now - 15, "end": now - 10}),
    )
    .await;
    assert_eq!(label_sets(&v)[0].1, 1, "{v}");
    // A limit, and series without points.
    let (_, v) = select(
        &url,
        Some(INTERNAL),
        json!({"tenant": "acme", "matchers": [], "start": now - 600, "end": now,
               "limit": 2, "series_only": true}),
    )
    .await;
    let sets = label_sets(&v);
    assert_eq!(sets.len(), 2, "{v}");
    assert!(sets.iter().all(|(_, n)| *n == 0), "{v}");

    // A bad regex is a 400 naming it.
    let (s, v) = select(&url, Some(INTERNAL), q(json!([m("job", "regex", "a(")]))).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["field"], "matchers", "{v}");
    assert!(v["error"].as_str().unwrap().contains("job=~\"a(\""), "{v}");
    // No credential, or a tenant's: refused before the body is read.
    for auth in [None, Some("tok-acme")] {
        let (s, v) = select(&url, auth, q(json!([]))).await;
        assert_eq!(s, 401, "{auth:?}: {v}");
        let r = c
            .post(format!("{url}/internal/v1/query/select"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    t.stop().await;
    node.stop().await;
}
