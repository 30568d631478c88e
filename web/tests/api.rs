//! REST API: CRUD of every resource kind, validation errors naming the field, roles, and
//! cross-tenant refusal, on SQLite always and on PostgreSQL when ARGUS_TEST_PG_URL is set.

mod common;

use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Creates one object of every kind in acme; returns (path, id, update body, field changed).
async fn create_all(e: &Env) -> Vec<(&'static str, i64, Value, &'static str)> {
    let now = argus_core::time::now_secs();
    let mut out = Vec::new();
    let mk = |path: &'static str, body: Value| {
        let e = &*e;
        async move {
            let (s, v) = e
                .call(&e.a, Method::POST, &format!("/api/v1/{path}"), Some(body))
                .await;
            assert_eq!(s, StatusCode::CREATED, "create {path}: {v}");
            v["id"].as_i64().unwrap()
        }
    };
    let host = mk("hosts", json!({"name": "web-1", "note": "front"})).await;
    let base = mk("templates", json!({"name": "base"})).await;
    let child = mk("templates", json!({"name": "child", "parent": base})).await;
    let strat = mk("strategies", json!({"template_id": base, "metric": "cpu.idle", "condition": "all(#3) < 10", "priority": 1})).await;
    let expr = mk(
        "expressions",
        json!({"metric": "http.5xx", "tags": {"service": "api"}, "condition": "sum(#5) > 10"}),
    )
    .await;
    let group = mk(
        "host_groups",
        json!({"name": "web", "hosts": ["web-1"], "templates": [child]}),
    )
    .await;
    let contact = mk(
        "contacts",
        json!({"name": "alice", "email": "alice@example.com", "webhook_secret": "s3cret"}),
    )
    .await;
    let team = mk("teams", json!({"name": "ops", "members": [contact]})).await;
    let sub = mk("subscriptions", json!({"target": {"kind": "priority", "max_priority": 2}, "team_id": team, "channels": ["email"]})).await;
    let sil = mk("silences", json!({"matcher": {"endpoint": "web-1"}, "starts_at": now, "ends_at": now + 3600, "reason": "maintenance"})).await;
    out.push((
        "hosts",
        host,
        json!({"name": "web-1", "note": "back"}),
        "note",
    ));
    out.push((
        "templates",
        child,
        json!({"name": "child-2", "parent": base}),
        "name",
    ));
    out.push(("strategies", strat, json!({"template_id": base, "metric": "cpu.idle", "condition": "all(#3) < 5", "priority": 0}), "condition"));
    out.push((
        "expressions",
        expr,
        json!({"metric": "http.5xx", "tags": {"service": "api"}, "condition": "sum(#5) > 20"}),
        "condition",
    ));
    out.push((
        "host_groups",
        group,
        json!({"name": "web-eu", "hosts": ["web-1", "web-2"], "templates": [child]}),
        "name",
    ));
    out.push((
        "contacts",
        contact,
        json!({"name": "alice-2", "email": "alice@example.com"}),
        "name",
    ));
    out.push((
        "teams",
        team,
        json!({"name": "ops-2", "members": [contact], "escalate_after_secs": 600}),
        "name",
    ));
    out.push(("subscriptions", sub, json!({"target": {"kind": "template", "template_id": base}, "team_id": team, "channels": ["email", "webhook"]}), "channels"));
    out.push(("silences", sil, json!({"matcher": {"endpoint": "web-1"}, "starts_at": now, "ends_at": now + 7200, "reason": "longer"}), "ends_at"));
    // Base template last among deletions: others refer to it.
    out.push(("templates", base, json!({"name": "base-2"}), "name"));
    out
}

async fn crud_roles_and_isolation(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    let objs = create_all(&e).await;
    let viewer = e.token(&e.a, "viewer").await;
    let editor = e.token(&e.a, "editor").await;
    for (path, id, update, field) in &objs {
        let item = format!("/api/v1/{path}/{id}");
        // Read, by id and in the list.
        let (s, v) = e.call(&e.a, Method::GET, &item, None).await;
        assert_eq!(s, StatusCode::OK, "{item}: {v}");
        assert_eq!(v["id"].as_i64(), Some(*id));
        let (s, list) = e
            .call(&viewer, Method::GET, &format!("/api/v1/{path}"), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            list[*path]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["id"].as_i64() == Some(*id)),
            "{path} lists {id}"
        );
        // Another tenant: 404 by id for every verb, and absent from its listing.
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            let body = (m == Method::PUT).then(|| update.clone());
            let (s, v) = e.call(&e.b, m.clone(), &item, body).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "globex {m} {item}: {v}");
        }
        let (_, list) = e
            .call(&e.b, Method::GET, &format!("/api/v1/{path}"), None)
            .await;
        assert!(
            list[*path].as_array().unwrap().is_empty(),
            "globex sees no {path}: {list}"
        );
        // Roles: a viewer may not write; an editor may.
        let (s, _) = e
            .call(&viewer, Method::PUT, &item, Some(update.clone()))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "viewer updates {item}");
        let (s, v) = e
            .call(&editor, Method::PUT, &item, Some(update.clone()))
            .await;
        assert_eq!(s, StatusCode::OK, "editor updates {item}: {v}");
        assert_eq!(v[*field], update[*field], "{item} {field} updated");
        let (_, v) = e.call(&e.a, Method::GET, &item, None).await;
        assert_eq!(v[*field], update[*field], "{item} {field} stored");
    }
    // Secrets are never shown.
    let (_, contacts) = e.call(&e.a, Method::GET, "/api/v1/contacts", None).await;
    assert!(!contacts.to_string().contains("s3cret"));
    assert_eq!(
        contacts["contacts"][0]["webhook_secret_set"],
        json!(true),
        "secret kept on update"
    );
    // Deleting: viewer refused, still-used refused (409), then in reverse order.
    let (path, id, _, _) = &objs[0];
    let (s, _) = e
        .call(
            &viewer,
            Method::DELETE,
            &format!("/api/v1/{path}/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let base = objs.last().unwrap().1;
    let (s, v) = e
        .call(
            &e.a,
            Method::DELETE,
            &format!("/api/v1/templates/{base}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let order = [
        "subscriptions",
        "silences",
        "teams",
        "contacts",
        "host_groups",
        "expressions",
        "strategies",
        "hosts",
        "templates",
    ];
    for p in order {
        for (path, id, _, _) in objs.iter().filter(|o| o.0 == p) {
            let item = format!("/api/v1/{path}/{id}");
            let (s, v) = e.call(&editor, Method::DELETE, &item, None).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "delete {item}: {v}");
            let (s, _) = e.call(&e.a, Method::GET, &item, None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{item} gone");
        }
    }
    e.running.stop().await;
}

#[tokio::test]
async fn crud_roles_and_isolation_sqlite() {
    crud_roles_and_isolation(Backend::Sqlite).await;
}

#[tokio::test]
async fn crud_roles_and_isolation_postgres() {
    crud_roles_and_isolation(Backend::Postgres).await;
}

async fn validation(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    let (_, t) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "t1"})),
        )
        .await;
    let t1 = t["id"].as_i64().unwrap();
    let (_, t) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "t2", "parent": t1})),
        )
        .await;
    let t2 = t["id"].as_i64().unwrap();
    // globex's template: invisible to acme.
    let (_, g) = e
        .call(
            &e.b,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "theirs"})),
        )
        .await;
    let theirs = g["id"].as_i64().unwrap();
    let now = argus_core::time::now_secs();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("hosts", json!({"name": "bad host"}), "name"),
        ("hosts", json!({}), "name"),
        ("hosts", json!({"name": "h", "colour": "red"}), "colour"),
        ("templates", json!({"name": ""}), "name"),
        (
            "templates",
            json!({"name": "x", "parent": 999999}),
            "parent",
        ),
        (
            "templates",
            json!({"name": "x", "parent": theirs}),
            "parent",
        ),
        (
            "strategies",
            json!({"template_id": t1, "metric": "cpu", "condition": "max(#3) >> 1"}),
            "condition",
        ),
        (
            "strategies",
            json!({"template_id": t1, "metric": "cpu", "condition": "all(#3) > 1", "recovery": "all(#3) <"}),
            "recovery",
        ),
        (
            "strategies",
            json!({"metric": "cpu", "condition": "all(#3) > 1"}),
            "template_id",
        ),
        (
            "strategies",
            json!({"template_id": t1, "metric": "cpu", "condition": "all(#3) > 1",
                   "active": {"start_minute": 540, "end_minute": 1080, "time_zone": "Asia/Shangai"}}),
            "active.time_zone",
        ),
        (
            "strategies",
            json!({"template_id": t1, "metric": "cpu", "condition": "all(#3) > 1", "priority": 9}),
            "priority",
        ),
        (
            "strategies",
            json!({"template_id": t1, "metric": "", "condition": "all(#3) > 1"}),
            "metric",
        ),
        (
            "expressions",
            json!({"metric": "cpu", "condition": "all(#3) > 1"}),
            "tags",
        ),
        (
            "host_groups",
            json!({"name": "g", "templates": [theirs]}),
            "templates[0]",
        ),
        (
            "host_groups",
            json!({"name": "g", "hosts": ["ok", "not ok"]}),
            "hosts[1]",
        ),
        ("contacts", json!({"name": "c", "email": "nope"}), "email"),
        (
            "contacts",
            json!({"name": "c", "webhook_url": "ftp://x"}),
            "webhook_url",
        ),
        ("contacts", json!({"name": "c"}), "email"),
        (
            "teams",
            json!({"name": "t", "members": [424242]}),
            "members[0]",
        ),
        (
            "subscriptions",
            json!({"target": {"kind": "priority", "max_priority": 1}, "channels": ["email"]}),
            "team_id",
        ),
        (
            "subscriptions",
            json!({"target": {"kind": "priority", "max_priority": 1}, "contact_id": 1, "channels": ["pager"]}),
            "channels[0]",
        ),
        (
            "silences",
            json!({"matcher": {"endpoint": "h"}, "starts_at": now, "ends_at": now - 1, "reason": "r"}),
            "ends_at",
        ),
        (
            "silences",
            json!({"matcher": {}, "starts_at": now, "ends_at": now + 1, "reason": "r"}),
            "matcher",
        ),
        // Times at the ends of i64 (their difference overflows) and a repeat past any window.
        (
            "silences",
            json!({"matcher": {"endpoint": "h"}, "starts_at": i64::MIN, "ends_at": i64::MAX, "reason": "r"}),
            "starts_at",
        ),
        (
            "silences",
            json!({"matcher": {"endpoint": "h"}, "starts_at": now, "ends_at": i64::MAX, "reason": "r"}),
            "ends_at",
        ),
        (
            "silences",
            json!({"matcher": {"endpoint": "h"}, "starts_at": now, "ends_at": now + 1, "repeat_every_secs": i64::MAX, "reason": "r"}),
            "repeat_every_secs",
        ),
    ];
    for (path, body, field) in cases {
        let (s, v) = e
            .call(
                &e.a,
                Method::POST,
                &format!("/api/v1/{path}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path} {body}: {v}");
        assert_eq!(v["field"], json!(field), "{path} {body}: {v}");
        assert!(!v["error"].as_str().unwrap_or("").is_empty());
    }
    // A template still subscribed to cannot go.
    let (_, c) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/contacts",
            Some(json!({"name": "c", "email": "c@example.com"})),
        )
        .await;
    let (s, sub) = e.call(&e.a, Method::POST, "/api/v1/subscriptions", Some(json!({"target": {"kind": "template", "template_id": t2}, "contact_id": c["id"], "channels": ["email"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    let (s, v) = e
        .call(
            &e.a,
            Method::DELETE,
            &format!("/api/v1/templates/{t2}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("subscription"), "{v}");
    // Cycles are refused, naming the chain.
    let (s, v) = e
        .call(
            &e.a,
            Method::PUT,
            &format!("/api/v1/templates/{t1}"),
            Some(json!({"name": "t1", "parent": t2})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "parent");
    assert!(v["error"].as_str().unwrap().contains("cycle"), "{v}");
    // Live validation.
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/strategies/validate",
            Some(json!({"template_id": t1, "metric": "cpu", "condition": "all(#3) > 90"})),
        )
        .await;
    assert_eq!((s, v["ok"].clone()), (StatusCode::OK, json!(true)));
    // The same reference check as create: an unknown template, or another tenant's, is refused.
    let (_, other) = e
        .call(
            &e.b,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "theirs-too"})),
        )
        .await;
    assert!(other["id"].is_i64(), "{other}");
    for t in [json!(999_999), other["id"].clone()] {
        let (s, v) = e
            .call(
                &e.a,
                Method::POST,
                "/api/v1/strategies/validate",
                Some(json!({"template_id": t, "metric": "cpu", "condition": "all(#3) > 90"})),
            )
            .await;
        assert_eq!(
            (s, v["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("template_id")),
            "{v}"
        );
    }
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/strategies/validate",
            Some(json!({"template_id": t1, "metric": "cpu", "condition": "all(#3) > "})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "condition");
    assert!(v["error"].as_str().unwrap().contains("position"), "{v}");
    // Expressions across metrics, time windows and `for` validate too; a bad one names the
    // position of its error.
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/strategies/validate",
            Some(
                json!({"template_id": t1, "metric": "mem.used", "for_secs": 180,
                "condition": "avg(mem.used,#3) / avg(mem.total,5m) * 100 > 90"}),
            ),
        )
        .await;
    assert_eq!((s, v["ok"].clone()), (StatusCode::OK, json!(true)), "{v}");
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/strategies/validate",
            Some(json!({"template_id": t1, "metric": "mem.used",
                "condition": "avg(mem.used,#3) / avg(mem.total,5x) > 1"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "condition");
    assert!(
        v["error"].as_str().unwrap().starts_with("at position 34:"),
        "{v}"
    );
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/strategies/validate",
            Some(json!({"template_id": t1, "metric": "cpu", "for_secs": 60,
                "condition": "nodata(60)"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "for_secs", "{v}");
    // Names are unique per tenant, not across tenants.
    let (s, _) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "t1"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = e
        .call(
            &e.b,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "t1"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    e.running.stop().await;
}

#[tokio::test]
async fn validation_errors_name_the_field_sqlite() {
    validation(Backend::Sqlite).await;
}

#[tokio::test]
async fn validation_errors_name_the_field_postgres() {
    validation(Backend::Postgres).await;
}

#[tokio::test]
async fn effective_strategies_follow_groups_and_inheritance() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let post = |p: &'static str, b: Value| {
        let e = &e;
        async move {
            let (s, v) = e.call(&e.a, Method::POST, p, Some(b)).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["id"].as_i64().unwrap()
        }
    };
    let base = post("/api/v1/templates", json!({"name": "base"})).await;
    let child = post(
        "/api/v1/templates",
        json!({"name": "child", "parent": base}),
    )
    .await;
    let s_cpu = post(
        "/api/v1/strategies",
        json!({"template_id": base, "metric": "cpu.idle", "condition": "all(#3) < 10"}),
    )
    .await;
    let s_mem = post(
        "/api/v1/strategies",
        json!({"template_id": base, "metric": "mem.free", "condition": "all(#3) < 1"}),
    )
    .await;
    let s_cpu2 = post(
        "/api/v1/strategies",
        json!({"template_id": child, "metric": "cpu.idle", "condition": "all(#3) < 20"}),
    )
    .await;
    post(
        "/api/v1/host_groups",
        json!({"name": "web", "hosts": ["web-1"], "templates": [child]}),
    )
    .await;
    let host = post("/api/v1/hosts", json!({"name": "web-1"})).await;
    let (s, v) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/api/v1/hosts/{host}/strategies"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut ids: Vec<i64> = v["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["strategy"]["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![s_cpu2, s_mem];
    want.sort();
    assert_eq!(ids, want, "child overrides cpu, inherits mem");
    assert!(!ids.contains(&s_cpu));
    let (_, v) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/api/v1/templates/{child}/effective"),
            None,
        )
        .await;
    assert_eq!(v["strategies"].as_array().unwrap().len(), 2);
    e.running.stop().await;
}

#[tokio::test]
async fn lists_are_paged_by_id_and_stay_in_the_tenant() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let (s, v) = e
            .call(
                &e.a,
                Method::POST,
                "/api/v1/hosts",
                Some(json!({"name": format!("page-{i}")})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    // globex's hosts never show in acme's pages.
    let (s, _) = e
        .call(
            &e.b,
            Method::POST,
            "/api/v1/hosts",
            Some(json!({"name": "other"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    let mut pages = 0;
    loop {
        let q = match after {
            Some(a) => format!("/api/v1/hosts?limit=3&after={a}"),
            None => "/api/v1/hosts?limit=3".to_string(),
        };
        let (s, v) = e.call(&e.a, Method::GET, &q, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let page: Vec<i64> = v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_i64().unwrap())
            .collect();
        assert!(page.len() <= 3);
        seen.extend(page);
        pages += 1;
        match v["next_after"].as_i64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every host once, in id order");
    assert_eq!(pages, 3);

    // Without parameters: the first (default-sized) page, the whole list here.
    let (_, v) = e.call(&e.a, Method::GET, "/api/v1/hosts", None).await;
    assert_eq!(v["hosts"].as_array().unwrap().len(), 7);
    assert!(v["next_after"].is_null());

    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("after=-1", "after"),
        ("limit=ten", "limit"),
    ] {
        let (s, v) = e
            .call(&e.a, Method::GET, &format!("/api/v1/hosts?{q}"), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert_eq!(v["field"], field, "{q}: {v}");
    }
}
