//! Every ingest format end to end into a real storage node, partial acceptance, token → tenant
//! mapping, per-tenant quotas and tokens from the config center.

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_transfer::config::Quota;
use argus_transfer::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
use common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_lands_in_storage_under_the_token_tenant() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let t = argus_transfer::start(transfer_cfg(&d.path().join("t"), vec![node.server.url()]))
        .await
        .unwrap();
    let url = t.server.url();
    let now = now();
    let http = reqwest::Client::new();

    // Argus batch, gzip-free JSON, with a payload tenant that must be ignored.
    let mut p = point("web-1", "cpu.idle", 90.0, now);
    p.tenant = tenant("beta");
    let (s, body) = push(&url, "tok-acme", &[p]).await;
    assert_eq!((s, body["accepted"].as_u64()), (200, Some(1)), "{body}");

    // The binary frame agents send (zstd), also with a payload tenant that must be ignored,
    // and one point whose key is not UTF-8: refused alone, by its index.
    let mut p = point("web-4", "disk.used", 3.0, now);
    p.tenant = tenant("beta");
    let mut raw = b"AGP1\x02".to_vec();
    for (i, q) in [p.clone(), p].iter().enumerate() {
        let mut one = zstd::bulk::decompress(
            &argus_core::wire::frame::encode_batch(std::slice::from_ref(q)),
            1 << 20,
        )
        .unwrap();
        if i == 0 {
            let at = one.windows(5).position(|w| w == b"web-4").unwrap();
            one[at] = 0xff;
        }
        raw.extend_from_slice(&one[5..]);
    }
    let r = http
        .post(format!("{url}/api/v1/push"))
        .bearer_auth("tok-acme")
        .header("content-type", argus_core::wire::frame::CONTENT_TYPE)
        .header("content-encoding", "zstd")
        .body(zstd::bulk::compress(&raw, 1).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(
        (
            body["rejected"][0]["index"].as_u64(),
            body["rejected"][0]["field"].as_str()
        ),
        (Some(0), Some("key")),
        "{body}"
    );

    // open-falcon.
    let r = http
        .post(format!("{url}/v1/push"))
        .bearer_auth("tok-acme")
        .json(
            &json!([{"endpoint": "web-1", "metric": "qps", "timestamp": now, "step": 60,
                        "value": "12", "counterType": "GAUGE", "tags": "svc=api"}]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Line protocol with `Authorization: Token`.
    let r = http
        .post(format!("{url}/api/v2/write?org=x&bucket=y&precision=s"))
        .header("authorization", "Token tok-acme")
        .body(format!("mem,host=web-2 used=5i,free=7 {now}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());

    // Prometheus remote write.
    let wr = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
                Label {
                    name: "instance".into(),
                    value: "web-3:9100".into(),
                },
            ],
            samples: vec![Sample {
                value: 1.0,
                timestamp: now * 1000,
            }],
        }],
    };
    let r = http
        .post(format!("{url}/api/v1/write"))
        .bearer_auth("tok-acme")
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .body(remote_write::encode(&wr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let got = read_all(&url, "acme").await;
    let names: Vec<(&str, &str, f64)> = got
        .iter()
        .map(|(e, m, _, v)| (e.as_str(), m.as_str(), *v))
        .collect();
    assert_eq!(
        names,
        vec![
            ("web-1", "cpu.idle", 90.0),
            ("web-1", "qps", 12.0),
            ("web-2", "mem.free", 7.0),
            ("web-2", "mem.used", 5.0),
            ("web-3:9100", "up", 1.0),
            ("web-4", "disk.used", 3.0),
        ]
    );
    assert!(
        read_all(&url, "beta").await.is_empty(),
        "the payload's tenant is never used"
    );
    t.stop().await;
    node.stop().await;
}

/// One frame point with its tags written in the order given (agents sort them; others may not).
fn frame_point(out: &mut Vec<u8>, metric: &str, tags: &[(&str, &str)], value: f64, ts: i64) {
    use argus_core::wire::frame::{put_sample, put_str, put_uvarint};
    put_str(out, "");
    put_str(out, "h");
    put_str(out, metric);
    put_uvarint(out, tags.len() as u64);
    for (k, v) in tags {
        put_str(out, k);
        put_str(out, v);
    }
    put_sample(out, value, ts, 10, argus_core::CounterType::Gauge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_frame_checked_in_place_is_stored_as_decoding_it_would() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let t = argus_transfer::start(transfer_cfg(&d.path().join("t"), vec![node.server.url()]))
        .await
        .unwrap();
    let url = t.server.url();
    let now = now();
    let mut raw = Vec::new();
    argus_core::wire::frame::put_header(&mut raw, 5);
    // 0: sorted tags; 1: the same series with its tags out of order; 2: a repeated key (the
    // last wins); 3: a metric with a space; 4: not a number.
    frame_point(&mut raw, "m", &[("a", "1"), ("b", "2")], 1.0, now - 10);
    frame_point(&mut raw, "m", &[("b", "2"), ("a", "1")], 2.0, now);
    frame_point(&mut raw, "m", &[("a", "1"), ("a", "9")], 3.0, now);
    frame_point(&mut raw, "bad m", &[], 4.0, now);
    frame_point(&mut raw, "m", &[], f64::NAN, now);
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/push"))
        .bearer_auth("tok-acme")
        .header("content-type", argus_core::wire::frame::CONTENT_TYPE)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], 3, "{body}");
    let refused: Vec<(u64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, [(3, "metric"), (4, "value")], "{body}");
    let r = reqwest::Client::new()
        .post(format!("{url}/internal/v1/query/range"))
        .json(&json!({"tenant": "acme", "start": 0, "end": now + 3600}))
        .send()
        .await
        .unwrap();
    let mut got: Vec<(String, Vec<(i64, f64)>)> = r
        .json::<Vec<argus_core::query::SeriesData>>()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.key.tags.to_string(), s.points))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("a=1,b=2".to_string(), vec![(now - 10, 1.0), (now, 2.0)]),
            ("a=9".to_string(), vec![(now, 3.0)]),
        ]
    );
    t.stop().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_batches_keep_good_points_and_wrong_tokens_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let t = argus_transfer::start(transfer_cfg(&d.path().join("t"), vec![node.server.url()]))
        .await
        .unwrap();
    let url = t.server.url();
    let now = now();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/api/v1/push"))
        .bearer_auth("tok-beta")
        .json(&json!({"points": [
            {"endpoint": "h", "metric": "ok.a", "value": 1, "timestamp": now},
            {"endpoint": "h", "metric": "bad metric", "value": 1, "timestamp": now},
            {"endpoint": "h", "value": 1, "timestamp": now},
            {"endpoint": "h", "metric": "ok.b", "value": 2, "timestamp": now},
            {"endpoint": "h", "metric": "old", "value": 2, "timestamp": 5}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    let rej: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rej,
        vec![
            (1, "metric".to_string()),
            (2, "metric".to_string()),
            (4, "timestamp".to_string())
        ]
    );
    assert_eq!(read_all(&url, "beta").await.len(), 2);

    // Line protocol: a string field is skipped (204), a field that is not a value is refused
    // (400 with the rejections, good lines kept).
    let r = http
        .post(format!("{url}/api/v2/write?precision=s"))
        .bearer_auth("tok-beta")
        .body(format!(
            "lp,host=h v=1 {now}\nlp,host=h msg=\"text\" {now}\nlp,host=h bad=12abc {now}\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["rejected"][0]["field"], "fields.bad");
    assert_eq!(body["rejected"][0]["index"], 2);

    // Unreadable body: refused whole.
    let r = http
        .post(format!("{url}/api/v1/push"))
        .bearer_auth("tok-beta")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    for auth in [None, Some("Bearer wrong"), Some("Basic dG9rLWFjbWU=")] {
        let mut req = http.post(format!("{url}/api/v1/push")).json(
            &json!({"points": [{"endpoint": "h", "metric": "m", "value": 1, "timestamp": now}]}),
        );
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        assert_eq!(req.send().await.unwrap().status(), 401, "{auth:?}");
    }
    assert_eq!(
        metric(&url, "argus_transfer_auth_failures_total").await,
        Some(3.0)
    );
    t.stop().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_quota_gets_429_and_others_are_unaffected() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.quotas.tenants.push(Quota {
        tenant: Some(tenant("acme")),
        points_per_sec: 0.5,
        burst: 10.0,
        active_series: 12,
        tags_per_point: 2,
        batch_points: 50,
    });
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    let batch = |m: &str| -> Vec<_> {
        (0..10)
            .map(|i| point(&format!("h{i}"), m, 1.0, now))
            .collect()
    };

    let (s, _) = push(&url, "tok-acme", &batch("a")).await;
    assert_eq!(s, 200);
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/push"))
        .bearer_auth("tok-acme")
        .json(&json!({ "points": batch("b") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // beta, with the default quota, is not slowed by acme.
    for m in ["a", "b", "c", "d"] {
        let (s, body) = push(&url, "tok-beta", &batch(m)).await;
        assert_eq!((s, body["accepted"].as_u64()), (200, Some(10)));
    }
    assert_eq!(
        metric(
            &url,
            "argus_transfer_limited_total{tenant=\"acme\",limit=\"rate\"}"
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(
            &url,
            "argus_transfer_limited_total{tenant=\"beta\",limit=\"rate\"}"
        )
        .await,
        Some(0.0)
    );
    assert_eq!(
        metric(
            &url,
            "argus_transfer_points_accepted_total{tenant=\"beta\"}"
        )
        .await,
        Some(40.0)
    );
    t.stop().await;

    // Series and tags quotas reject points; batch size refuses the request.
    let mut cfg = transfer_cfg(&d.path().join("t2"), vec![node.server.url()]);
    cfg.quotas.default = Quota {
        active_series: 12,
        tags_per_point: 1,
        batch_points: 50,
        ..Default::default()
    };
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let (s, body) = push(&url, "tok-acme", &batch("a")).await;
    assert_eq!((s, body["accepted"].as_u64()), (200, Some(10)));
    let (_, body) = push(&url, "tok-acme", &batch("b")).await;
    assert_eq!(body["accepted"], 2, "only 12 series may be active: {body}");
    assert_eq!(body["rejected"][0]["field"], "series");
    let mut p = point("h0", "a", 1.0, now);
    p.tags = argus_core::Tags::from_pairs([("x", "1"), ("y", "2")]);
    let (_, body) = push(&url, "tok-acme", &[p]).await;
    assert_eq!(body["rejected"][0]["field"], "tags");
    let (s, _) = push(&url, "tok-acme", &vec![point("h", "m", 1.0, now); 51]).await;
    assert_eq!(s, 413);
    let (s, body) = push(&url, "tok-beta", &batch("z")).await;
    assert_eq!(
        (s, body["accepted"].as_u64()),
        (200, Some(10)),
        "beta has its own series"
    );
    t.stop().await;
    node.stop().await;
}

#[derive(Clone)]
struct Center {
    doc: Arc<Mutex<serde_json::Value>>,
    not_modified: Arc<Mutex<u32>>,
}

async fn center_handler(req: HttpRequest, c: web::Data<Center>) -> HttpResponse {
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Bearer node-secret")
    {
        return HttpResponse::Unauthorized().finish();
    }
    let doc = c.doc.lock().unwrap().clone();
    let etag = format!("\"{}\"", doc["version"]);
    if req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        *c.not_modified.lock().unwrap() += 1;
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok().insert_header(("ETag", etag)).json(doc)
}

/// The flood finding of the hardening round: a tenant past its rate is answered from the
/// request's head, so its pushes cost no body reading or decoding (here the body never comes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_past_its_rate_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.quotas.tenants.push(Quota {
        tenant: Some(tenant("acme")),
        points_per_sec: 0.5,
        burst: 10.0,
        ..Quota::unlimited()
    });
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    let ten: Vec<_> = (0..10)
        .map(|i| point(&format!("h{i}"), "m", 1.0, now))
        .collect();
    assert_eq!(push(&url, "tok-acme", &ten).await.0, 200);
    let head = |token: &str| {
        format!(
            "POST /api/v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
        )
    };
    let addr = url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(head("tok-acme").as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after"), "{text}");
    // Another tenant's request with the same head waits for its body, as it should.
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(head("tok-beta").as_bytes()).await.unwrap();
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        conn.read(&mut answer),
    )
    .await;
    assert!(
        waited.is_err(),
        "beta's push was answered before its body came"
    );
    drop(conn);
    t.stop().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_the_config_center_merge_with_static_ones_and_are_cached() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let center = Center {
        doc: Arc::new(Mutex::new(json!({"version": 1, "tenants": [
            {"tenant": "gamma", "token_sha256": [argus_core::auth::hash_token("tok-gamma")]}
        ]}))),
        not_modified: Arc::new(Mutex::new(0)),
    };
    let c2 = center.clone();
    let srv = HttpServer::new(move || {
        App::new().app_data(web::Data::new(c2.clone())).route(
            "/internal/v1/config/transfer",
            web::get().to(center_handler),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = srv.addrs()[0];
    let srv = srv.run();
    let handle = srv.handle();
    tokio::spawn(srv);

    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.internal_token = "node-secret".into();
    cfg.config_center.url = format!("http://{addr}");
    cfg.config_center.poll_secs = 1;
    // The store has no internal token: the transfer's is only checked by the store if set.
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    let url = t.server.url();
    let now = now();
    wait_for("gamma's token", || async {
        push(&url, "tok-gamma", &[point("h", "m", 1.0, now)])
            .await
            .0
            == 200
    })
    .await;
    assert_eq!(
        push(&url, "tok-acme", &[point("h", "m", 1.0, now)]).await.0,
        200
    );
    wait_for("a 304", || async {
        *center.not_modified.lock().unwrap() > 0
    })
    .await;

    // A new version replaces the remote tokens; the console gave delta a quota of its own.
    *center.doc.lock().unwrap() = json!({"version": 2, "tenants": [
        {"tenant": "delta", "token_sha256": [argus_core::auth::hash_token("tok-delta")],
         "quota": {"batch_points": 3}}
    ]});
    wait_for("delta's token", || async {
        push(&url, "tok-delta", &[point("h", "m", 1.0, now)])
            .await
            .0
            == 200
    })
    .await;
    assert_eq!(
        push(&url, "tok-gamma", &[point("h", "m", 1.0, now)])
            .await
            .0,
        401
    );
    let four = vec![point("h", "m", 1.0, now); 4];
    let (s, body) = push(&url, "tok-delta", &four).await;
    assert_eq!((s, body["field"].as_str()), (413, Some("points")), "{body}");
    // acme keeps the file's quota.
    assert_eq!(push(&url, "tok-acme", &four).await.0, 200);
    t.stop().await;

    // The config center goes away; a restarted transfer still knows delta from its cache.
    handle.stop(true).await;
    let t = argus_transfer::start(cfg).await.unwrap();
    let (s, _) = push(&t.server.url(), "tok-delta", &[point("h", "m", 2.0, now)]).await;
    assert_eq!(s, 200);
    assert_eq!(t.state.tokens.remote_version(), 2);
    t.stop().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_tenants_only_to_the_internal_credential() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.internal_token = "int-secret".into();
    let t = argus_transfer::start(cfg).await.unwrap();
    let url = t.server.url();
    let now = now();
    for (token, n) in [("tok-acme", 2), ("tok-beta", 3)] {
        let points: Vec<_> = (0..n)
            .map(|i| point("web-1", &format!("m{i}"), 1.0, now))
            .collect();
        let (s, body) = push(&url, token, &points).await;
        assert_eq!((s, body["accepted"].as_u64()), (200, Some(n)), "{body}");
    }
    let scrape = |token: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut r = reqwest::Client::new().get(format!("{url}/metrics"));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let resp = r.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    // Anyone: the figures summed, no tenant id.
    for token in [None, Some("wrong")] {
        let text = scrape(token).await;
        assert!(!text.contains("tenant="), "{text}");
        assert!(!text.contains("acme") && !text.contains("beta"));
        assert!(
            text.contains("\nargus_transfer_points_accepted_total 5\n"),
            "{text}"
        );
    }
    // The internal credential: by tenant.
    let text = scrape(Some("int-secret")).await;
    assert!(text.contains("argus_transfer_points_accepted_total{tenant=\"acme\"} 2\n"));
    assert!(text.contains("argus_transfer_points_accepted_total{tenant=\"beta\"} 3\n"));
    t.stop().await;
    node.stop().await;
}

/// One flush of Telegraf's default Linux inputs (cpu, mem, disk, diskio, net, system,
/// processes, procstat), as `outputs.influxdb_v2` sends it: answered 204, every numeric field
/// stored, the string fields (`uptime_format`, `cmdline`, `status`) skipped and counted, and
/// the host `server 01` stored as the endpoint `server_01`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegraf_default_inputs_are_accepted_whole() {
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let t = argus_transfer::start(transfer_cfg(&d.path().join("t"), vec![node.server.url()]))
        .await
        .unwrap();
    let url = t.server.url();
    let ts = (now() * 1_000_000_000).to_string();
    let body = include_str!("fixtures/telegraf_inputs.lp").replace("TS", &ts);
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v2/write?org=any&bucket=any"))
        .header("authorization", "Token tok-acme")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    assert_eq!(
        metric(
            &url,
            "argus_transfer_string_fields_skipped_total{tenant=\"acme\"}"
        )
        .await,
        Some(3.0)
    );
    let stored = read_all(&url, "acme").await;
    // 172 numeric fields in the fixture, one point each.
    assert_eq!(stored.len(), 172);
    assert!(stored.iter().all(|(e, ..)| e == "server_01"), "{stored:?}");
    let has = |m: &str, v: f64| stored.iter().any(|(_, n, _, x)| n == m && *x == v);
    assert!(has("cpu.usage_idle", 97.98994974874373));
    assert!(has("mem.used_percent", 15.95004011996231));
    assert!(has("disk.used", 1024.0));
    assert!(has("diskio.weighted_io_time", 6131658.0));
    assert!(has("net.tcp_currestab", 10.0));
    assert!(has("system.uptime", 1249632.0));
    assert!(has("processes.total_threads", 1064.0));
    assert!(has("procstat.num_fds", 71.0));
    assert!(has("procstat_lookup.pid_count", 1.0));
    t.stop().await;
}
