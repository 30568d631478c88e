//! One transaction per write: a create, update or delete checks its references and writes in
//! one database transaction, so a write racing the delete of what it references either sees the
//! object (and the delete is refused, or takes the new object with it) or does not (and is
//! refused): never a stored reference to nothing. On SQLite always and on PostgreSQL when
//! ARGUS_TEST_PG_URL is set.

mod common;

use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Rounds per race: each is one chance for a write to slip between a check and a commit.
const ROUNDS: usize = 40;

async fn template(e: &Env, name: String) -> i64 {
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/templates",
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

async fn all(e: &Env, kind: &str) -> Vec<Value> {
    let (s, v) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/api/v1/{kind}?limit=5000"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v[kind].as_array().unwrap().clone()
}

/// Deleting a template removes its strategies in the same transaction: a strategy created
/// concurrently is either refused (its template is gone) or deleted with it.
async fn template_delete_takes_concurrent_strategies(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    for round in 0..ROUNDS {
        let t = template(&e, format!("t{round}")).await;
        let strategy = json!({"template_id": t, "metric": "cpu.idle", "condition": "all(#3) < 10"});
        let item = format!("/api/v1/templates/{t}");
        let ((cs, cv), (ds, dv)) = tokio::join!(
            e.call(&e.a, Method::POST, "/api/v1/strategies", Some(strategy)),
            e.call(&e.a, Method::DELETE, &item, None),
        );
        assert_eq!(ds, StatusCode::NO_CONTENT, "round {round}: {dv}");
        assert!(
            cs == StatusCode::CREATED || cs == StatusCode::BAD_REQUEST,
            "round {round}: {cs} {cv}"
        );
        if cs == StatusCode::BAD_REQUEST {
            assert_eq!(cv["field"], "template_id", "round {round}: {cv}");
        }
    }
    let templates: Vec<i64> = all(&e, "templates")
        .await
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    let orphans: Vec<Value> = all(&e, "strategies")
        .await
        .into_iter()
        .filter(|s| !templates.contains(&s["template_id"].as_i64().unwrap()))
        .collect();
    assert!(orphans.is_empty(), "strategies of no template: {orphans:?}");
    e.running.stop().await;
}

#[tokio::test]
async fn template_delete_takes_concurrent_strategies_sqlite() {
    template_delete_takes_concurrent_strategies(Backend::Sqlite).await;
}

#[tokio::test]
async fn template_delete_takes_concurrent_strategies_postgres() {
    template_delete_takes_concurrent_strategies(Backend::Postgres).await;
}

/// A host group bound to a template while the template is deleted: exactly one of the two
/// writes wins (the group then keeps its template, or is refused naming `templates[0]`).
async fn template_delete_races_a_binding(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    for round in 0..ROUNDS {
        let t = template(&e, format!("t{round}")).await;
        let group = json!({"name": format!("g{round}"), "templates": [t]});
        let item = format!("/api/v1/templates/{t}");
        let ((cs, cv), (ds, dv)) = tokio::join!(
            e.call(&e.a, Method::POST, "/api/v1/host_groups", Some(group)),
            e.call(&e.a, Method::DELETE, &item, None),
        );
        match (cs, ds) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => {}
            (StatusCode::BAD_REQUEST, StatusCode::NO_CONTENT) => {
                assert_eq!(cv["field"], "templates[0]", "round {round}: {cv}");
            }
            _ => panic!("round {round}: group {cs} {cv}, template delete {ds} {dv}"),
        }
    }
    let templates: Vec<i64> = all(&e, "templates")
        .await
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    for g in all(&e, "host_groups").await {
        for t in g["templates"].as_array().unwrap() {
            assert!(
                templates.contains(&t.as_i64().unwrap()),
                "{g} binds nothing"
            );
        }
    }
    e.running.stop().await;
}

#[tokio::test]
async fn template_delete_races_a_binding_sqlite() {
    template_delete_races_a_binding(Backend::Sqlite).await;
}

#[tokio::test]
async fn template_delete_races_a_binding_postgres() {
    template_delete_races_a_binding(Backend::Postgres).await;
}

/// The routing tree naming a contact as its receiver while the contact is deleted: the tree is
/// refused naming the receiver, or the delete is refused (409), never both accepted.
async fn contact_delete_races_the_routing_tree(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    for round in 0..ROUNDS {
        let name = format!("oncall{round}");
        let (s, c) = e
            .call(
                &e.a,
                Method::POST,
                "/api/v1/contacts",
                Some(json!({"name": name, "email": "oncall@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let id = c["id"].as_i64().unwrap();
        let tree = json!({"route": {"receiver": name}, "receivers": [{"name": name}]});
        let item = format!("/api/v1/contacts/{id}");
        let ((ps, pv), (ds, dv)) = tokio::join!(
            e.call(&e.a, Method::PUT, "/api/v1/routes", Some(tree)),
            e.call(&e.a, Method::DELETE, &item, None),
        );
        match (ps, ds) {
            (StatusCode::OK, StatusCode::CONFLICT) => {}
            (StatusCode::BAD_REQUEST, StatusCode::NO_CONTENT) => {}
            _ => panic!("round {round}: routes {ps} {pv}, contact delete {ds} {dv}"),
        }
        // The next round's tree replaces this one: take it down so its contact can go later.
        let (s, v) = e.call(&e.a, Method::DELETE, "/api/v1/routes", None).await;
        assert!(
            s == StatusCode::NO_CONTENT || s == StatusCode::NOT_FOUND,
            "{s} {v}"
        );
    }
    e.running.stop().await;
}

#[tokio::test]
async fn contact_delete_races_the_routing_tree_sqlite() {
    contact_delete_races_the_routing_tree(Backend::Sqlite).await;
}

#[tokio::test]
async fn contact_delete_races_the_routing_tree_postgres() {
    contact_delete_races_the_routing_tree(Backend::Postgres).await;
}
