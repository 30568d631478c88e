//! A silence's matcher may name only the caller's own strategies and host groups: another
//! tenant's id (or one that does not exist) is a 400 naming the field, on create and on update.
//! Endpoint and metric names are not owned by a tenant and stay free.

mod common;

use common::{start, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn matchers_naming_another_tenants_strategy_or_group_are_refused() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let now = argus_core::time::now_secs();
    let make = |token: &str, path: &'static str, body: Value| {
        let (e, token) = (&e, token.to_string());
        async move {
            let (s, v) = e
                .call(&token, Method::POST, &format!("/api/v1/{path}"), Some(body))
                .await;
            assert_eq!(s, StatusCode::CREATED, "create {path}: {v}");
            v["id"].as_i64().unwrap()
        }
    };
    // globex's strategy, expression and host group; acme's own of each.
    let b_tpl = make(&e.b, "templates", json!({"name": "gx"})).await;
    let b_strategy = make(
        &e.b,
        "strategies",
        json!({"template_id": b_tpl, "metric": "cpu.idle", "condition": "all(#3) < 10"}),
    )
    .await;
    let b_expr = make(
        &e.b,
        "expressions",
        json!({"metric": "http.5xx", "tags": {"service": "api"}, "condition": "sum(#5) > 10"}),
    )
    .await;
    let b_group = make(&e.b, "host_groups", json!({"name": "gx-web"})).await;
    let a_tpl = make(&e.a, "templates", json!({"name": "ac"})).await;
    let a_strategy = make(
        &e.a,
        "strategies",
        json!({"template_id": a_tpl, "metric": "cpu.idle", "condition": "all(#3) < 10"}),
    )
    .await;
    let a_group = make(&e.a, "host_groups", json!({"name": "ac-web"})).await;

    let silence = |matcher: Value| json!({"matcher": matcher, "starts_at": now, "ends_at": now + 3600, "reason": "upgrade"});
    let mine = make(
        &e.a,
        "silences",
        silence(json!({"strategy_id": a_strategy, "host_group_id": a_group})),
    )
    .await;
    // Names are free: globex's endpoint or metric is just a name to acme.
    make(
        &e.a,
        "silences",
        silence(json!({"endpoint": "gx-host", "metric": "gx.load"})),
    )
    .await;

    for (matcher, field) in [
        (json!({"strategy_id": b_strategy}), "matcher.strategy_id"),
        (json!({"strategy_id": b_expr}), "matcher.strategy_id"),
        (json!({"strategy_id": 999_999}), "matcher.strategy_id"),
        (json!({"host_group_id": b_group}), "matcher.host_group_id"),
        (
            json!({"strategy_id": a_strategy, "host_group_id": b_group}),
            "matcher.host_group_id",
        ),
        (
            json!({"strategy_id": b_strategy, "host_group_id": a_group}),
            "matcher.strategy_id",
        ),
    ] {
        for (m, path) in [
            (Method::POST, "/api/v1/silences".to_string()),
            (Method::PUT, format!("/api/v1/silences/{mine}")),
        ] {
            let (s, v) = e
                .call(&e.a, m.clone(), &path, Some(silence(matcher.clone())))
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{m} {path} {matcher}: {v}");
            assert_eq!(v["field"], field, "{m} {path} {matcher}: {v}");
        }
    }
    // The refused update left acme's silence as it was.
    let (s, v) = e
        .call(&e.a, Method::GET, &format!("/api/v1/silences/{mine}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let body = if v.get("matcher").is_some() {
        &v
    } else {
        &v["body"]
    };
    assert_eq!(body["matcher"]["strategy_id"], a_strategy, "{v}");
    assert_eq!(body["matcher"]["host_group_id"], a_group, "{v}");
    e.running.stop().await;
}
