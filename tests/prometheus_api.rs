//! The Prometheus HTTP API end to end on the standalone platform: points pushed the open-falcon
//! way and by Prometheus remote write, read back through `/prometheus/api/v1/*` with their
//! labels (a remote-write series with exactly the labels it was written with), in Prometheus's
//! JSON shapes, GET and POST form alike; parameter errors in Prometheus's error shape.

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use argus_transfer::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn get(p: &Platform, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}/prometheus/api/v1/{path}", p.web_url))
        .bearer_auth(&p.credentials.api_token)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn post_form(p: &Platform, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = reqwest::Client::new()
        .post(format!("{}/prometheus/api/v1/{path}", p.web_url))
        .bearer_auth(&p.credentials.api_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_points_read_back_through_promql() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(StandaloneConfig {
        data_dir: dir.path().to_path_buf(),
        ports: Ports::any(),
        agent: false,
        ..Default::default()
    })
    .await
    .expect("standalone starts");
    let now = argus_core::time::now_secs();
    let c = reqwest::Client::new();

    // open-falcon push: a dotted metric name, an endpoint, tags.
    let body = json!([
        {"endpoint": "web-01", "metric": "cpu.idle", "timestamp": now - 30, "step": 10,
         "value": 10, "counterType": "GAUGE", "tags": "idc=bj"},
        {"endpoint": "web-01", "metric": "cpu.idle", "timestamp": now - 15, "step": 10,
         "value": 20, "counterType": "GAUGE", "tags": "idc=bj"},
        {"endpoint": "web-02", "metric": "cpu.idle", "timestamp": now - 15, "step": 10,
         "value": 40, "counterType": "GAUGE", "tags": "idc=sh"}
    ]);
    let r = c
        .post(format!("{}/v1/push", p.transfer_url))
        .bearer_auth(&p.credentials.agent_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Prometheus remote write: `instance` is the endpoint, and stays a label.
    let label = |n: &str, v: &str| Label {
        name: n.into(),
        value: v.into(),
    };
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                label("__name__", "up"),
                label("instance", "10.0.0.1:9100"),
                label("job", "node"),
            ],
            samples: vec![
                Sample {
                    value: 1.0,
                    timestamp: (now - 30) * 1000,
                },
                Sample {
                    value: 0.0,
                    timestamp: (now - 15) * 1000,
                },
            ],
        }],
    };
    let r = c
        .post(format!("{}/api/v1/write", p.transfer_url))
        .bearer_auth(&p.credentials.agent_token)
        .body(encode(&req))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // Instant query, once the points are stored.
    let t = now.to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let up = loop {
        let (s, v) = get(&p, &format!("query?query=up&time={t}")).await;
        assert_eq!(s, 200, "{v}");
        if v["data"]["result"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break v;
        }
        assert!(Instant::now() < deadline, "up not readable: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        up,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "instance": "10.0.0.1:9100", "job": "node"},
             "value": [now, "0"]}]}})
    );
    let (s, v) = get(
        &p,
        &format!("query?query={}&time={t}", q(r#"{__name__="cpu.idle"}"#)),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let result = v["data"]["result"].as_array().unwrap().clone();
    assert_eq!(result.len(), 2, "{v}");
    assert_eq!(
        result[0],
        json!({"metric": {"__name__": "cpu.idle", "endpoint": "web-01", "idc": "bj"},
               "value": [now, "20"]})
    );
    // Aggregation and a scalar over POST form.
    let (s, v) = post_form(
        &p,
        "query",
        &[("query", r#"sum({__name__="cpu.idle"})"#), ("time", &t)],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["result"][0]["value"], json!([now, "60"]), "{v}");
    let (s, v) = get(&p, &format!("query?query=1%2B1&time={t}")).await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"status": "success", "data": {"resultType": "scalar", "result": [now, "2"]}})
        )
    );

    // Range query, GET and POST form; RFC 3339 and a duration step.
    let start = (now - 30).to_string();
    let (s, v) = get(
        &p,
        &format!("query_range?query=up&start={start}&end={t}&step=15s"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"],
        json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "instance": "10.0.0.1:9100", "job": "node"},
             "values": [[now - 30, "1"], [now - 15, "0"], [now, "0"]]}]})
    );
    let rfc = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .to_rfc3339()
    };
    let (s, v2) = post_form(
        &p,
        "query_range",
        &[
            ("query", "up"),
            ("start", &rfc(now - 30)),
            ("end", &rfc(now)),
            ("step", "15"),
        ],
    )
    .await;
    assert_eq!((s, &v2), (200, &v));

    // Listings.
    let (s, v) = get(&p, &format!("series?match[]=up&start={start}&end={t}")).await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"status": "success", "data": [
                {"__name__": "up", "instance": "10.0.0.1:9100", "job": "node"}]})
        )
    );
    let (s, v) = get(&p, "labels").await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"status": "success",
                   "data": ["__name__", "endpoint", "idc", "instance", "job"]})
        )
    );
    let (_, v) = get(&p, "label/__name__/values").await;
    assert_eq!(v["data"], json!(["cpu.idle", "up"]));
    let (_, v) = get(&p, "label/endpoint/values").await;
    assert_eq!(v["data"], json!(["web-01", "web-02"]));
    let (_, v) = get(
        &p,
        &format!("label/idc/values?match[]={}", q(r#"{idc="sh"}"#)),
    )
    .await;
    assert_eq!(v["data"], json!(["sh"]));
    for path in [
        "status/buildinfo",
        "metadata",
        "query_exemplars?query=up",
        "status/flags",
        "status/runtimeinfo",
    ] {
        let (s, v) = get(&p, path).await;
        assert!(s == 200 && v["status"] == "success", "{path}: {s} {v}");
    }

    // Errors, in Prometheus's shape and words.
    for (path, status, kind, words) in [
        ("query?query=sum(", 400, "bad_data", "parse error"),
        (
            "query?query=up&time=yesterday",
            400,
            "bad_data",
            "invalid parameter \"time\"",
        ),
        (
            "query_range?query=up&start=10&end=5&step=1",
            400,
            "bad_data",
            "end timestamp must not be before start time",
        ),
        (
            "query_range?query=up&start=0&end=100",
            400,
            "bad_data",
            "invalid parameter \"step\"",
        ),
        (
            "query_range?query=up&start=0&end=100&step=0",
            400,
            "bad_data",
            "zero or negative query resolution step",
        ),
        (
            "query_range?query=up&start=0&end=100000&step=1",
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
        (
            "series?start=0",
            400,
            "bad_data",
            "no match[] parameter provided",
        ),
        ("series?match[]=sum(up)", 400, "bad_data", "match[]"),
        ("label/1bad/values", 400, "bad_data", "invalid label name"),
    ] {
        let (s, v) = get(&p, path).await;
        assert_eq!(s, status, "{path}: {v}");
        assert_eq!(v["status"], "error", "{path}: {v}");
        assert_eq!(v["errorType"], kind, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains(words), "{path}: {v}");
    }

    // Without a credential: 401.
    let r = c
        .get(format!("{}/prometheus/api/v1/query?query=up", p.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    p.stop().await;
}
