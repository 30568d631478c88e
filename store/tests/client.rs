//! The storage node through [`StoreClient`]: binary writes, JSON queries, auth and errors.

mod common;

use argus_core::point::Tags;
use argus_core::query::{LastQuery, RangeQuery, Selector, SeriesQuery};
use argus_core::{Point, TenantId};
use argus_store::engine::{LabelKind, LabelQuery};
use argus_store::node::{start, StoreConfig};
use argus_store::StoreClient;
use std::time::Duration;

fn pt(t: &str, metric: &str, v: f64, ts: i64) -> Point {
    let mut p = Point::gauge("h1", metric, Tags::parse_falcon("dc=a").unwrap(), v, ts);
    p.tenant = TenantId::new(t).unwrap();
    p
}

/// Every raw series of `tenant` within `[start, end]`.
fn everything(tenant: &TenantId, start: i64, end: i64) -> RangeQuery {
    RangeQuery {
        tenant: tenant.clone(),
        selector: Selector::default(),
        start,
        end,
        step: None,
        aggregation: Default::default(),
        group_by: None,
    }
}

/// A storage node on a free port with its data in `dir` and the internal credential `sekrit`.
async fn node(dir: &std::path::Path) -> argus_store::node::StoreNode {
    start(StoreConfig {
        internal_token: "sekrit".into(),
        ..common::node_config(dir)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn writes_and_reads_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let now = argus_core::time::now_secs();
    let c = StoreClient::new(node.server.url(), "sekrit", Duration::from_secs(30));
    let r = c
        .write(&[
            pt("acme", "cpu", 1.0, now - 20),
            pt("acme", "cpu", 2.0, now - 10),
            pt("other", "mem", 3.0, now),
        ])
        .await
        .unwrap();
    assert_eq!(r.accepted, 3);
    let t = TenantId::new("acme").unwrap();
    let data = c
        .query_range(&everything(&t, now - 100, now))
        .await
        .unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].points, vec![(now - 20, 1.0), (now - 10, 2.0)]);
    let last = c
        .last(&LastQuery {
            tenant: t.clone(),
            selector: Selector::default(),
        })
        .await
        .unwrap();
    assert_eq!(last[0].value, 2.0);
    let series = c
        .series(&SeriesQuery {
            tenant: t.clone(),
            selector: Selector::default(),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
    let names = c
        .labels(&LabelQuery {
            tenant: t.clone(),
            what: LabelKind::Metrics,
            key: None,
            selector: Selector::default(),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(names, vec!["cpu".to_string()]);

    let bad = StoreClient::new(node.server.url(), "wrong", Duration::from_secs(30));
    let e = bad.write(&[pt("acme", "cpu", 1.0, now)]).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("401"), "{e}");
    node.stop().await;
    let e = c.write(&[pt("acme", "cpu", 1.0, now)]).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

/// `query/select` answers the binary selection answer to a reader that accepts it (the
/// client) and JSON to one that does not (an older transfer): the same series and points,
/// confined to the tenant the query names, and nothing without the internal credential.
#[tokio::test]
async fn select_answers_binary_or_json_alike() {
    use argus_core::query::{MatchOp, SelectQuery, SeriesData, TagMatcher};
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let now = argus_core::time::now_secs();
    // Named by host name, so that the client goes over HTTP although the node is in this process.
    let over_http = format!("http://localhost:{}", node.server.addr.port());
    let c = StoreClient::new(over_http, "sekrit", Duration::from_secs(30));
    let mut points: Vec<Point> = (0..50)
        .map(|i| {
            pt(
                "acme",
                "cpu",
                f64::from(i) * 0.1,
                now - 500 + 10 * i64::from(i),
            )
        })
        .collect();
    points.push(pt("other", "cpu", 7.0, now - 5));
    assert_eq!(c.write(&points).await.unwrap().accepted, 51);
    let q = |tenant: &str| SelectQuery {
        tenant: TenantId::new(tenant).unwrap(),
        matchers: vec![TagMatcher {
            key: "__name__".into(),
            op: MatchOp::Eq,
            value: "cpu".into(),
        }],
        start: now - 1000,
        end: now,
        limit: None,
        series_only: false,
    };
    let binary = c.select(&q("acme")).await.unwrap();
    assert_eq!(binary.len(), 1);
    assert_eq!(binary[0].key.tenant.as_str(), "acme");
    assert_eq!(binary[0].points.len(), 50);
    assert_eq!(binary[0].points[49], (now - 10, 4.9));
    let url = format!("{}/internal/v1/query/select", node.server.url());
    let plain = reqwest::Client::new()
        .post(&url)
        .bearer_auth("sekrit")
        .json(&q("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let json: Vec<SeriesData> = plain.json().await.unwrap();
    assert_eq!(json, binary);
    let other = c.select(&q("other")).await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].points, vec![(now - 5, 7.0)]);
    let refused = reqwest::Client::new()
        .post(&url)
        .header("accept", argus_core::wire::series::CONTENT_TYPE)
        .json(&q("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
}

/// A transfer in the node's process hands it frames and asks its raw selections without HTTP:
/// the answer (accepted points, refusals with their index, the selected series, a bad query, a
/// bad credential, an oversized frame) is the HTTP endpoint's, and once the node stops its writes go over HTTP and fail as to any stopped node.
#[tokio::test]
async fn a_node_in_this_process_is_called_directly_and_answers_as_over_http() {
    use argus_store_client::local;
    use argus_store_client::ClientError;
    let dir = tempfile::tempdir().unwrap();
    let node = start(StoreConfig {
        internal_token: "sekrit".into(),
        max_body_bytes: 4096,
        ..common::node_config(dir.path())
    })
    .await
    .unwrap();
    let direct_url = node.server.url();
    // The same node under another name is not found locally: that client goes over HTTP.
    let http_url = format!("http://localhost:{}", node.server.addr.port());
    assert!(local::serves(&direct_url));
    assert!(!local::serves(&http_url));
    let t = Duration::from_secs(30);
    let direct = StoreClient::new(direct_url.clone(), "sekrit", t);
    let http = StoreClient::new(http_url.clone(), "sekrit", t);
    let now = argus_core::time::now_secs();
    // Two good points around one a week in the future (refused, index 1).
    let frame = |ts: i64| {
        argus_core::wire::frame::encode_raw(&[
            pt("acme", "cpu", 1.0, ts),
            pt("acme", "cpu", 2.0, now + 7 * 86_400),
            pt("acme", "mem", 3.0, ts),
        ])
    };
    let a = direct.write_frame(frame(now - 20), false).await.unwrap();
    let b = http.write_frame(frame(now - 10), false).await.unwrap();
    assert_eq!(a.accepted, 2);
    assert_eq!(
        (a.accepted, format!("{:?}", a.rejected)),
        (b.accepted, format!("{:?}", b.rejected))
    );
    assert_eq!(a.rejected.len(), 1);
    assert_eq!(a.rejected[0].index, 1);
    let stored = direct
        .query_range(&everything(&TenantId::new("acme").unwrap(), now - 100, now))
        .await
        .unwrap();
    let cpu = stored.iter().find(|s| s.key.metric == "cpu").unwrap();
    assert_eq!(cpu.points, vec![(now - 20, 1.0), (now - 10, 1.0)]);
    // A raw selection answers the same series and points either way, and a bad one the same
    // refusal.
    use argus_core::query::{MatchOp, SelectQuery, TagMatcher};
    let select = |value: &str| SelectQuery {
        tenant: TenantId::new("acme").unwrap(),
        matchers: vec![TagMatcher {
            key: "__name__".into(),
            op: MatchOp::Regex,
            value: value.into(),
        }],
        start: now - 100,
        end: now,
        limit: None,
        series_only: false,
    };
    let mut a = direct.select(&select("cpu|mem")).await.unwrap();
    let mut b = http.select(&select("cpu|mem")).await.unwrap();
    a.sort_by(|x, y| x.key.metric.cmp(&y.key.metric));
    b.sort_by(|x, y| x.key.metric.cmp(&y.key.metric));
    assert_eq!(a.len(), 2);
    assert_eq!(a, b);
    let refused = |r: Result<_, ClientError>| match r {
        Err(ClientError::Status {
            status, message, ..
        }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let (code, message) = refused(direct.select(&select("(")).await);
    assert_eq!(code, 400);
    assert!(message.contains("regex"), "{message}");
    assert_eq!((code, message), refused(http.select(&select("(")).await));
    // A wrong credential and an oversized frame are refused with the endpoint's statuses.
    fn status<T: std::fmt::Debug>(r: Result<T, ClientError>) -> u16 {
        match r {
            Err(ClientError::Status { status, .. }) => status,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    for url in [&direct_url, &http_url] {
        let wrong = StoreClient::new(url.clone(), "guess", t);
        assert_eq!(
            status(wrong.write_frame(frame(now), false).await),
            401,
            "{url}"
        );
        assert_eq!(status(wrong.select(&select("cpu")).await), 401, "{url}");
    }
    let big: Vec<Point> = (0..200).map(|i| pt("acme", "big", 1.0, now - i)).collect();
    let big = argus_core::wire::frame::encode_raw(&big);
    assert!(big.len() > 4096);
    assert_eq!(status(direct.write_frame(big.clone(), false).await), 413);
    assert_eq!(status(http.write_frame(big, false).await), 413);
    node.stop().await;
    assert!(!local::serves(&direct_url), "a stopped node is not found");
    match direct.write_frame(frame(now), false).await {
        Err(ClientError::Transport { .. }) => {}
        other => panic!("a stopped node cannot take writes: {other:?}"),
    }
}
