//! Decoding amplification: a small body that would decode into far more than itself (millions
//! of empty remote-write series, a gzip of hundreds of thousands of tiny points, one line or
//! series whose strings are copied into every point) is refused with 413 naming the limit,
//! counted while decoding, before the rest is built; requests at the limit are taken.

mod common;

use argus_core::wire::{encode_body, frame, Encoding};
use argus_transfer::config::Quota;
use argus_transfer::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
use common::*;

const CAP: usize = 1000;
const BODY: usize = 1 << 20;

async fn post(
    url: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut r = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(token);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Asserts a 413 whose JSON error names `field` (none for "") and says `words`.
fn refused(got: (u16, serde_json::Value), field: &str, words: &str) {
    let (s, body) = got;
    assert_eq!(s, 413, "{body}");
    match field {
        "" => assert!(body.get("field").is_none_or(|f| f.is_null()), "{body}"),
        f => assert_eq!(body["field"], f, "{body}"),
    }
    let msg = body["error"].as_str().unwrap_or_default();
    assert!(msg.contains(words), "{msg:?} should say {words:?}");
}

fn series(labels: &[(&str, &str)], samples: usize, ts: i64) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: (0..samples)
            .map(|i| Sample {
                value: i as f64,
                timestamp: (ts - i as i64) * 1000,
            })
            .collect(),
    }
}

fn json_points(n: usize, now: i64) -> Vec<u8> {
    let one = format!(r#"{{"endpoint":"h","metric":"m","value":1,"timestamp":{now}}}"#);
    format!(r#"{{"points":[{}]}}"#, vec![one; n].join(",")).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoding_bombs_are_refused_at_the_points_cap_before_they_are_built() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.max_points_per_request = CAP;
    cfg.max_body_bytes = BODY;
    // beta's own quota of points per request replaces the transfer's cap.
    cfg.quotas.tenants.push(Quota {
        tenant: Some(tenant("beta")),
        batch_points: 50,
        ..Default::default()
    });
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    let rw = [
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
    ];

    // Remote write: empty series are two bytes each on the wire and were each built as a
    // `TimeSeries` (16 M of them from 1.5 MB took a gigabyte); past the cap, refused.
    let empty = snap::raw::Encoder::new()
        .compress_vec(&[0x0a, 0x00].repeat(CAP + 1))
        .unwrap();
    let got = post(&url, "/api/v1/write", "tok-acme", &rw, empty).await;
    refused(got, "series", &format!("more than {CAP} series"));
    let at_cap = snap::raw::Encoder::new()
        .compress_vec(&[0x0a, 0x00].repeat(CAP))
        .unwrap();
    let got = post(&url, "/api/v1/write", "tok-acme", &rw, at_cap).await;
    assert_eq!(got.0, 204, "{}", got.1);
    // Samples, counted across series; beta's quota of 50 is its cap.
    let wr = |n: usize, s: usize| WriteRequest {
        timeseries: (0..n)
            .map(|i| series(&[("__name__", "up"), ("job", &format!("j{i}"))], s, now))
            .collect(),
    };
    let got = post(
        &url,
        "/api/v1/write",
        "tok-beta",
        &rw,
        remote_write::encode(&wr(17, 3)),
    )
    .await;
    refused(got, "samples", "more than 50 samples");
    let got = post(
        &url,
        "/api/v1/write",
        "tok-beta",
        &rw,
        remote_write::encode(&wr(60, 0)),
    )
    .await;
    refused(got, "series", "more than 50 series");
    let got = post(
        &url,
        "/api/v1/write",
        "tok-beta",
        &rw,
        remote_write::encode(&wr(10, 5)),
    )
    .await;
    assert_eq!(got.0, 204, "{}", got.1);
    // Label entries (48 bytes built for each 2-byte empty label) and a long label copied into
    // every sample's point count against twice the body limit.
    let many_labels: Vec<(&str, &str)> = vec![("", ""); 2 * BODY / 48 + 1];
    let wr1 = |ts: TimeSeries| {
        remote_write::encode(&WriteRequest {
            timeseries: vec![ts],
        })
    };
    let got = post(
        &url,
        "/api/v1/write",
        "tok-acme",
        &rw,
        wr1(series(&many_labels, 1, now)),
    )
    .await;
    refused(got, "", "would build more than");
    let long = "v".repeat(64 << 10);
    let copied = series(&[("__name__", "up"), ("x", &long)], 40, now);
    let got = post(&url, "/api/v1/write", "tok-acme", &rw, wr1(copied)).await;
    refused(got, "", "would build more than");

    // Argus JSON batch, gzip: well-formed points (the fast path) and malformed ones (the
    // lenient path) are both counted; exactly the cap is taken.
    let gz = [
        ("content-encoding", "gzip"),
        ("content-type", "application/json"),
    ];
    let body = encode_body(Encoding::Gzip, &json_points(CAP + 1, now));
    let got = post(&url, "/api/v1/push", "tok-acme", &gz, body).await;
    refused(got, "points", &format!("more than {CAP} points"));
    let empties = format!(r#"{{"points":[{}]}}"#, vec!["{}"; CAP + 1].join(","));
    let body = encode_body(Encoding::Gzip, empties.as_bytes());
    let got = post(&url, "/api/v1/push", "tok-acme", &gz, body).await;
    refused(got, "points", &format!("more than {CAP} points"));
    let body = encode_body(Encoding::Gzip, &json_points(CAP, now));
    let got = post(&url, "/api/v1/push", "tok-acme", &gz, body).await;
    assert_eq!(
        (got.0, got.1["accepted"].as_u64()),
        (200, Some(CAP as u64)),
        "{}",
        got.1
    );
    // With one point out of f64's range, the item-by-item path counts too.
    let mut huge = json_points(CAP + 1, now);
    let at = huge.windows(8).position(|w| w == b"value\":1").unwrap();
    huge.splice(at + 7..at + 8, b"1e999".iter().copied());
    let got = post(&url, "/api/v1/push", "tok-acme", &[], huge).await;
    refused(got, "points", &format!("more than {CAP} points"));

    // open-falcon.
    let one = format!(r#"{{"endpoint":"h","metric":"m","value":1,"timestamp":{now}}}"#);
    let falcon = format!("[{}]", vec![one.as_str(); 51].join(","));
    let got = post(&url, "/v1/push", "tok-beta", &[], falcon.into_bytes()).await;
    refused(got, "points", "more than 50 points");

    // Line protocol: fields are points, one line's many fields included; a line's tags are
    // entries, and its strings are copied into each field's point.
    let fields: Vec<String> = (0..=CAP).map(|i| format!("f{i}=1")).collect();
    let line = format!("m,host=h {} {now}\n", fields.join(","));
    let lp = "/api/v2/write?precision=s";
    let got = post(&url, lp, "tok-acme", &[], line.into_bytes()).await;
    refused(got, "points", &format!("more than {CAP} points"));
    let lines = format!("m,host=h v=1 {now}\n").repeat(CAP + 1);
    let got = post(&url, lp, "tok-acme", &[], lines.into_bytes()).await;
    refused(got, "points", &format!("more than {CAP} points"));
    let copied = format!("m,host=h,x={long} {} {now}\n", fields[..40].join(","));
    let got = post(&url, lp, "tok-acme", &[], copied.into_bytes()).await;
    refused(got, "", "would build more than");
    let lines = format!("m,host=h v=1 {now}\n").repeat(CAP);
    let got = post(&url, lp, "tok-acme", &[], lines.into_bytes()).await;
    assert_eq!(got.0, 204, "{}", got.1);

    // The binary frame announces its count: more than the cap is refused before it is split.
    let mut raw = b"AGP1".to_vec();
    frame::put_uvarint(&mut raw, (CAP + 1) as u64);
    let bin = [("content-type", frame::CONTENT_TYPE)];
    let got = post(&url, "/api/v1/push", "tok-acme", &bin, raw).await;
    refused(got, "points", &format!("more than {CAP} points"));

    // The transfer and its storage node are up and the good requests above landed.
    let got = read_all(&url, "beta").await;
    assert_eq!(got.len(), 50, "{got:?}");
    t.stop().await;
    node.stop().await;
}
