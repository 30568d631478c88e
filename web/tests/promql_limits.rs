//! The PromQL API's per-tenant limits: series selected and samples loaded answered with
//! Prometheus's 422 `execution` error naming the limit, a tenant's override applying to it alone,
//! and a query past its time answered 503 `timeout`. A real storage node is the region.

mod common;

use common::{start, Backend, Region};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_per_tenant_and_named() {
    let dir = tempfile::tempdir().unwrap();
    // Three hosts' cpu for both tenants, one point a minute over the last hour.
    let now = argus_core::time::now_secs();
    let mut points = Vec::new();
    for tenant in ["acme", "globex"] {
        for host in ["h1", "h2", "h3"] {
            for i in 0..60 {
                points.push(
                    json!({"tenant": tenant, "endpoint": host, "metric": "cpu.busy",
                    "tags": {}, "value": i as f64, "timestamp": now - 3600 + i * 60, "step": 60}),
                );
            }
        }
    }
    let region = Region::with_points(dir.path(), &points).await;

    let env = start(Backend::Sqlite, |c| {
        c.regions = vec![region.endpoint()];
        // acme may select two series and load 100 samples; globex keeps the defaults.
        c.prometheus.tenants.insert(
            "acme".into(),
            argus_web::config::TenantQueryLimits {
                max_series: Some(2),
                max_samples: Some(100),
                timeout_secs: None,
            },
        );
    })
    .await
    .unwrap();
    let q = |token: &str, query: &str, range: bool| {
        let path = if range {
            format!(
                "/prometheus/api/v1/query_range?query={}&start={}&end={now}&step=60",
                urlencode(query),
                now - 3600
            )
        } else {
            format!(
                "/prometheus/api/v1/query?query={}&time={now}",
                urlencode(query)
            )
        };
        let env = &env;
        let token = token.to_string();
        async move { env.call(&token, Method::GET, &path, None).await }
    };
    let error = |v: &Value| {
        (
            v["errorType"].clone(),
            v["error"].as_str().unwrap_or("").to_string(),
        )
    };

    // Three series: over acme's limit of two, within globex's default.
    let (s, v) = q(&env.a, r#"{__name__="cpu.busy"}"#, false).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (kind, msg) = error(&v);
    assert_eq!(kind, json!("execution"));
    assert!(msg.contains("max_series"), "{msg}");
    let (s, v) = q(&env.b, r#"{__name__="cpu.busy"}"#, false).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 3);

    // Two series of 60 samples: within acme's series limit, over its sample limit.
    let (s, v) = q(&env.a, r#"{__name__="cpu.busy", endpoint=~"h1|h2"}"#, true).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (kind, msg) = error(&v);
    assert_eq!(kind, json!("execution"));
    assert!(msg.contains("max_samples"), "{msg}");
    let (s, v) = q(&env.a, r#"{__name__="cpu.busy", endpoint="h1"}"#, true).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // A query given a millisecond for millions of subquery steps times out with Prometheus's
    // 503 `timeout` (the evaluation stops itself: the test would not end otherwise).
    let (s, v) = env
        .call(
            &env.b,
            Method::GET,
            &format!(
                "/prometheus/api/v1/query?query={}&time={now}&timeout=1ms",
                urlencode(r#"sum_over_time(count({__name__="cpu.busy"})[1h:1ms])"#)
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["errorType"], "timeout", "{v}");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
