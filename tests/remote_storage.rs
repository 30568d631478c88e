//! A region on an existing TSDB (`[remote_storage]`): the platform (standalone, storage node
//! off) keeps its points in a real VictoriaMetrics and in a real Prometheus (remote-write
//! receiver), tenants apart by a `tenant` label. For each backend:
//!
//! - points pushed through the transfer (open-falcon, Prometheus remote write) read back through
//!   web's Prometheus API and the REST query path with exactly their labels;
//! - tenant A reaches none of tenant B's series through any query shape (`{__name__=~".+"}`,
//!   `or`, subqueries, `label_replace`, a matcher on `tenant`, listings), though both have a
//!   series with the same labels, while B reads its own;
//! - `argus probe` reads back every point it had acknowledged, and a recording rule's output
//!   (read and written back through the region) is queryable, by its tenant only;
//! - the backend stopped (SIGTERM) and started again loses no acknowledged point: pushes made
//!   while it is down are acknowledged from the transfer's spool and replayed.

mod common;

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use argus_transfer::remote::RemoteStorageConfig;
use argus_transfer::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};
use common::peers::{binary, Kind, Peer};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Falcon's dotted names are reached through `__name__`.
const CPU: &str = r#"{__name__="cpu.idle"}"#;

/// Someone calling the platform with a bearer token.
struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn prom(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/prometheus/api/v1/{path}", self.base))
            .bearer_auth(&self.token)
            .form(form)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// An instant query that must succeed: its result array.
    async fn query(&self, q: &str, t: i64) -> Vec<Value> {
        let (s, v) = self
            .prom("query", &[("query", q), ("time", &t.to_string())])
            .await;
        assert_eq!(s, 200, "{q}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    async fn rest(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

/// A console session: its cookie and CSRF token.
async fn login(base: &str, login: &str, password: &str) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {login}");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

/// Tenant B (`zeta`) made by the platform admin: its API and agent tokens.
async fn tenant_b(p: &Platform) -> (Api, String) {
    let c = &p.credentials;
    let (cookie, csrf) = login(&p.web_url, &c.admin_login, &c.admin_password).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/tenants", p.web_url))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(
            &json!({"id": "zeta", "name": "Zeta", "admin_login": "zeta-admin",
                      "admin_password": "zeta-password-1"}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "tenant B: {}", r.status());
    let (cookie, csrf) = login(&p.web_url, "zeta-admin", "zeta-password-1").await;
    let mut tokens = Vec::new();
    for body in [
        json!({"name": "zeta-api", "kind": "api", "role": "admin"}),
        json!({"name": "zeta-agent", "kind": "agent"}),
    ] {
        let r = http
            .post(format!("{}/api/v1/tokens", p.web_url))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        tokens.push(
            r.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    (
        Api {
            base: p.web_url.clone(),
            token: tokens[0].clone(),
        },
        tokens[1].clone(),
    )
}

/// A falcon push of `(endpoint, metric, tags, value, timestamp)`; answers the status.
async fn falcon(p: &Platform, token: &str, points: &[(&str, &str, &str, f64, i64)]) -> u16 {
    let body: Vec<Value> = points
        .iter()
        .map(|(e, m, tags, v, t)| {
            json!({"endpoint": e, "metric": m, "tags": tags, "value": v, "timestamp": t,
                   "step": 10, "counterType": "GAUGE"})
        })
        .collect();
    reqwest::Client::new()
        .post(format!("{}/v1/push", p.transfer_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until `q` answers `n` series for `api`.
async fn until_series(api: &Api, q: &str, t: i64, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api.query(q, t).await;
        if r.len() == n {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{q}: {} series, want {n}: {r:?}",
            r.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn metric_names(result: &[Value]) -> BTreeSet<String> {
    result
        .iter()
        .map(|s| s["metric"]["__name__"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn region_on(kind: Kind, var: &str, name: &str) {
    let Some(bin) = binary(var, name, &format!("{kind:?}")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut peer = Peer::start(kind, &bin, &dir.path().join("backend")).await;
    let p = start(StandaloneConfig {
        data_dir: dir.path().join("argus"),
        ports: Ports::any(),
        agent: false,
        config_pull_secs: 1,
        remote_storage: RemoteStorageConfig {
            write_url: format!("{}/api/v1/write", peer.url),
            read_url: peer.url.clone(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("standalone starts on a remote backend");
    assert!(p.store_url.is_empty(), "no storage node runs");
    let c = p.credentials.clone();
    let a = Api {
        base: p.web_url.clone(),
        token: c.api_token.clone(),
    };
    let (b, b_agent) = tenant_b(&p).await;
    let now = argus_core::time::now_secs();

    // A: two hosts' cpu.idle, a series with its own `tenant` tag; B: the same labels, other
    // values, and a series only B has.
    assert_eq!(
        falcon(
            &p,
            &c.agent_token,
            &[
                ("web-01", "cpu.idle", "idc=bj", 10.0, now - 40),
                ("web-01", "cpu.idle", "idc=bj", 20.0, now - 20),
                ("web-02", "cpu.idle", "idc=sh", 40.0, now - 20),
                ("web-01", "app.users", "tenant=customer-7", 7.0, now - 20),
            ],
        )
        .await,
        200
    );
    // The agent token of B is known to the transfer after its next config-center pull.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = falcon(
            &p,
            &b_agent,
            &[
                ("web-01", "cpu.idle", "idc=bj", 99.0, now - 20),
                ("web-09", "zeta.secret", "team=zeta", 1.0, now - 20),
            ],
        )
        .await;
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "B's push: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Prometheus remote write: `instance` is the endpoint and stays a label.
    let label = |n: &str, v: &str| Label {
        name: n.into(),
        value: v.into(),
    };
    let wr = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                label("__name__", "up"),
                label("instance", "10.0.0.1:9100"),
                label("job", "node"),
            ],
            samples: vec![Sample {
                value: 1.0,
                timestamp: (now - 20) * 1000,
            }],
        }],
    };
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/write", p.transfer_url))
        .bearer_auth(&c.agent_token)
        .body(encode(&wr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // Read back through PromQL, with exactly the labels written.
    let cpu = until_series(&a, CPU, now, 2).await;
    let web01 = cpu
        .iter()
        .find(|s| s["metric"]["endpoint"] == "web-01")
        .expect("web-01");
    assert_eq!(
        web01["metric"],
        json!({"__name__": "cpu.idle", "endpoint": "web-01", "idc": "bj"})
    );
    assert_eq!(web01["value"][1], "20", "A's own value, not B's 99");
    let up = until_series(&a, "up", now, 1).await;
    assert_eq!(
        up[0]["metric"],
        json!({"__name__": "up", "instance": "10.0.0.1:9100", "job": "node"})
    );
    // A point's own `tenant` tag reads back as itself, and selects by itself.
    let own = until_series(&a, r#"{__name__="app.users",tenant="customer-7"}"#, now, 1).await;
    assert_eq!(own[0]["metric"]["tenant"], "customer-7");
    // Aggregation and arithmetic over the backend's raw samples.
    let sum = a.query(&format!("sum({CPU})"), now).await;
    assert_eq!(sum[0]["value"][1], "60");
    let range = a
        .prom(
            "query_range",
            &[
                ("query", r#"{__name__="cpu.idle",endpoint="web-01"}"#),
                ("start", &(now - 40).to_string()),
                ("end", &now.to_string()),
                ("step", "10"),
            ],
        )
        .await;
    assert_eq!(range.0, 200, "{}", range.1);
    let values: Vec<String> = range.1["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        values,
        ["10", "10", "20", "20", "20"],
        "lookback over raw samples"
    );
    // The REST query path (the console's host pages and `argus probe`).
    let rest = a
        .rest(&format!(
            "/api/v1/query?endpoint=web-01&metric=cpu.idle&start={}&end={now}",
            now - 60
        ))
        .await;
    // Values, not the text: a timestamp may well contain "99".
    let rest_values: Vec<f64> = rest
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["points"].as_array().unwrap().iter())
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert!(
        rest_values.contains(&20.0) && !rest_values.contains(&99.0),
        "REST range: {rest}"
    );
    let last = a
        .rest("/api/v1/query/last?endpoint=web-01&metric=cpu.idle")
        .await;
    let last_values: Vec<f64> = last
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["value"].as_f64())
        .collect();
    assert!(last_values == [20.0], "REST last: {last}");

    // B reads its own series (the backend has them), A none of them, whatever the shape.
    assert_eq!(
        until_series(&b, r#"{__name__="zeta.secret"}"#, now, 1)
            .await
            .len(),
        1
    );
    assert_eq!(b.query(CPU, now).await[0]["value"][1], "99");
    let all = a.query(r#"{__name__=~".+"}"#, now).await;
    assert_eq!(
        metric_names(&all),
        ["app.users", "cpu.idle", "up"].map(String::from).into(),
        "A's every series and nothing else"
    );
    for q in [
        r#"{__name__="zeta.secret"}"#,
        r#"{team="zeta"}"#,
        r#"{tenant="zeta"}"#,
        r#"{tenant=~"zeta|.*demo.*"}"#,
        r#"max_over_time({__name__=~"zeta.*"}[10m:1m])"#,
        r#"{__name__="zeta.secret"} or vector(0) == 1"#,
    ] {
        assert!(a.query(q, now).await.is_empty(), "{q} reaches B");
    }
    let or = a
        .query(r#"{__name__="zeta.secret"} or {__name__="cpu.idle"}"#, now)
        .await;
    assert_eq!(metric_names(&or), ["cpu.idle".to_string()].into());
    assert!(
        or.iter().all(|s| s["value"][1] != "99"),
        "`or` shows B's value: {or:?}"
    );
    let replaced = a
        .query(
            r#"label_replace({__name__=~".+"}, "who", "$1", "tenant", "(.*)")"#,
            now,
        )
        .await;
    assert!(
        replaced
            .iter()
            .all(|s| s["metric"]["who"].is_null() || s["metric"]["who"] == "customer-7"),
        "label_replace exposes the tenant label: {replaced:?}"
    );
    assert_eq!(
        a.query(r#"count({__name__=~".+"})"#, now).await[0]["value"][1],
        "4"
    );
    for (path, form) in [
        ("series", vec![("match[]", r#"{__name__=~".+"}"#)]),
        ("labels", vec![]),
        ("label/__name__/values", vec![]),
        ("label/tenant/values", vec![]),
        ("label/team/values", vec![]),
    ] {
        let (s, v) = a.prom(path, &form).await;
        assert_eq!(s, 200, "{path}: {v}");
        let text = v["data"].to_string();
        assert!(
            !text.contains("zeta") && !text.contains("\"demo\""),
            "{path} shows another tenant or the tenancy label: {text}"
        );
    }
    let (_, names) = a.prom("label/__name__/values", &[]).await;
    assert_eq!(names["data"], json!(["app.users", "cpu.idle", "up"]));

    // `argus probe` works unchanged over the backend: every acknowledged point reads back.
    let probe = argus::probe::run(&argus::probe::ProbeArgs {
        transfer: p.transfer_url.clone(),
        agent_token: c.agent_token.clone(),
        web: p.web_url.clone(),
        api_token: c.api_token.clone(),
        series: 3,
        interval_secs: 0,
        rounds: 2,
        read_deadline_secs: 30,
        endpoint: "probe-host".into(),
        ca_file: None,
    })
    .await
    .unwrap();
    assert_eq!((probe.acknowledged, probe.read_back, probe.lost), (6, 6, 0));

    // Recording rules work over the backend: the judge reads the region's series through the
    // transfer and writes its points back through it, into the backend.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/recording_rules", p.web_url))
        .bearer_auth(&c.api_token)
        .json(
            &json!({"record": "fleet:cpu_idle:sum", "expr": format!("sum({CPU})"),
                      "interval_secs": 1}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "recording rule: {}", r.status());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = argus_core::time::now_secs();
        // Fresh points keep cpu.idle inside the lookback while the rule runs.
        falcon(
            &p,
            &c.agent_token,
            &[
                ("web-01", "cpu.idle", "idc=bj", 20.0, t),
                ("web-02", "cpu.idle", "idc=sh", 40.0, t),
            ],
        )
        .await;
        let got = a.query("fleet:cpu_idle:sum", t).await;
        if got.first().is_some_and(|s| s["value"][1] == "60") {
            assert_eq!(got[0]["metric"], json!({"__name__": "fleet:cpu_idle:sum"}));
            break;
        }
        assert!(Instant::now() < deadline, "no recorded series: {got:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        b.query("fleet:cpu_idle:sum", now + 60).await.is_empty(),
        "B sees A's recorded series"
    );

    // The backend stops: pushes are acknowledged from the spool, and read back once it is up.
    peer.stop().await;
    for i in 0..5 {
        let s = falcon(
            &p,
            &c.agent_token,
            &[("web-03", "disk.used", "", i as f64, now - 10 + i)],
        )
        .await;
        assert_eq!(s, 200, "push {i} while the backend is down");
    }
    let peer = peer.restart().await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = a
            .prom(
                "query",
                &[
                    ("query", r#"count_over_time({__name__="disk.used"}[1m])"#),
                    ("time", &(now + 5).to_string()),
                ],
            )
            .await;
        if r.1["data"]["result"][0]["value"][1] == "5" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged points lost across a backend restart: {}",
            r.1
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    p.stop().await;
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_on_victoriametrics() {
    region_on(
        Kind::VictoriaMetrics,
        "ARGUS_TEST_VICTORIAMETRICS_BIN",
        "victoria-metrics",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_on_prometheus() {
    region_on(Kind::Prometheus, "ARGUS_TEST_PROMETHEUS_BIN", "prometheus").await;
}
