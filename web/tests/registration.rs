//! Host registration by rule: a host group takes, besides its list, the hosts one of its rules
//! matches (name glob, tags the agent reports, IP range), from the host's first heartbeat on,
//! so the judges' strategies and the agents' configuration include it at their next pull. Rules
//! only ever see their own tenant's hosts.

mod common;

use argus_core::agentconf::{
    effective_config, AgentRemoteConfig, AgentsDocument, Heartbeat, HeartbeatBatch, SeenHeartbeat,
};
use argus_core::strategy::TenantStrategies;
use argus_core::TenantId;
use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const NODE: &str = "node-secret";

/// `path` of the config center with the internal credential: status, ETag, body.
async fn internal(e: &Env, path: &str, etag: Option<&str>) -> (StatusCode, String, Value) {
    let mut r = e.http.get(format!("{}{path}", e.url)).bearer_auth(NODE);
    if let Some(t) = etag {
        r = r.header("if-none-match", t);
    }
    let resp = r.send().await.unwrap();
    let s = resp.status();
    let tag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (s, tag, resp.json().await.unwrap_or(Value::Null))
}

async fn heartbeat(e: &Env, agent_token: &str, hb: Value) -> (StatusCode, Value) {
    let resp = e
        .http
        .post(format!("{}/api/v1/agent/heartbeat", e.url))
        .bearer_auth(agent_token)
        .json(&hb)
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

/// The members of host group `name` of `tenant` in the judges' strategies document.
fn members(doc: &Value, tenant: &str, name: &str) -> Vec<String> {
    let tenants: Vec<TenantStrategies> = serde_json::from_value(doc["tenants"].clone()).unwrap();
    let t = tenants
        .into_iter()
        .find(|t| t.tenant.as_str() == tenant)
        .unwrap();
    t.host_groups
        .into_iter()
        .find(|g| g.name == name)
        .map(|g| g.hosts)
        .unwrap_or_default()
}

async fn agent_config(e: &Env, agent_token: &str, host: &str) -> AgentRemoteConfig {
    e.http
        .get(format!("{}/api/v1/agent/config?host={host}", e.url))
        .bearer_auth(agent_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn agent_token(e: &Env, admin: &str) -> String {
    let (s, v) = e
        .call(
            admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "agents", "kind": "agent"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["token"].as_str().unwrap().to_string()
}

async fn hosts_join_their_groups_on_first_heartbeat_on(backend: Backend) {
    let Some(e) = start(backend, |c| c.internal_token = NODE.into()).await else {
        return;
    };
    let agent_b = agent_token(&e, &e.b).await;
    // acme: a template with a strategy, bound to a group taking hosts by rule.
    let (_, t) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "base"})),
        )
        .await;
    let (s, st) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/strategies",
            Some(json!({"template_id": t["id"], "metric": "cpu.idle", "condition": "all(#3) < 5"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    let (s, g) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/host_groups",
            Some(json!({
                "name": "prod",
                "hosts": ["listed-1"],
                "rules": [
                    {"tags": {"env": "prod"}},
                    {"name": "db-*", "cidr": "10.9.0.0/16"}
                ],
                "templates": [t["id"]],
                "agent": {"listen_ports": [22]}
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(g["rules"][0]["tags"], json!({"env": "prod"}), "rules kept");
    // globex: a group with the very same rule.
    let (s, _) = e
        .call(
            &e.b,
            Method::POST,
            "/api/v1/host_groups",
            Some(json!({"name": "prod", "rules": [{"tags": {"env": "prod"}}],
                        "agent": {"listen_ports": [8080]}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let (_, tag0, doc) = internal(&e, "/internal/v1/config/strategies", None).await;
    assert_eq!(members(&doc, "acme", "prod"), vec!["listed-1"]);
    let (_, agents_tag0, _) = internal(&e, "/internal/v1/config/agents", None).await;

    // The first heartbeat of web-9, reporting env=prod.
    let now = argus_core::time::now_secs();
    let (s, v) = heartbeat(
        &e,
        &e.agent_a,
        json!({"host": "web-9", "ip": "192.168.7.9", "tags": {"env": "prod", "rack": "r1"},
               "timestamp": now}),
    )
    .await;
    assert!(s.is_success(), "{v}");
    // globex's host with the same tags (and a name acme's second rule would take).
    let (s, _) = heartbeat(
        &e,
        &agent_b,
        json!({"host": "db-7", "ip": "10.9.1.1", "tags": {"env": "prod"}, "timestamp": now}),
    )
    .await;
    assert!(s.is_success());

    // The judges' next pull sees a new version with web-9 in acme's group, and only there.
    let (s, _, doc) = internal(&e, "/internal/v1/config/strategies", Some(&tag0)).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the first heartbeat changed the configuration"
    );
    assert_eq!(members(&doc, "acme", "prod"), vec!["listed-1", "web-9"]);
    assert_eq!(
        members(&doc, "globex", "prod"),
        vec!["db-7"],
        "globex's rule sees globex's hosts only"
    );
    // The host's effective strategies come from the group's template.
    let (_, hosts) = e.call(&e.a, Method::GET, "/api/v1/hosts", None).await;
    let h = &hosts["hosts"][0];
    assert_eq!(h["name"], "web-9");
    assert_eq!(h["tags"], json!({"env": "prod", "rack": "r1"}));
    assert_eq!(h["ip"], "192.168.7.9");
    let (_, eff) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/api/v1/hosts/{}/strategies", h["id"]),
            None,
        )
        .await;
    assert_eq!(eff["groups"][0]["name"], "prod", "{eff}");
    assert_eq!(eff["strategies"][0]["strategy"]["id"], st["id"], "{eff}");

    // The agent's configuration: directly from web, and as a transfer computes it.
    assert_eq!(
        agent_config(&e, &e.agent_a, "web-9").await.listen_ports,
        vec![22]
    );
    assert_eq!(
        agent_config(&e, &agent_b, "db-7").await.listen_ports,
        vec![8080]
    );
    assert!(
        agent_config(&e, &e.agent_a, "db-7")
            .await
            .listen_ports
            .is_empty(),
        "acme has no db-7: globex's host never joins acme's group"
    );
    let (s, _, doc) = internal(&e, "/internal/v1/config/agents", Some(&agents_tag0)).await;
    assert_eq!(s, StatusCode::OK);
    let doc: AgentsDocument = serde_json::from_value(doc).unwrap();
    let acme = doc
        .tenants
        .iter()
        .find(|t| t.tenant.as_str() == "acme")
        .unwrap();
    assert_eq!(
        effective_config(&acme.groups, "web-9").listen_ports,
        vec![22]
    );
    assert!(effective_config(&acme.groups, "db-7")
        .listen_ports
        .is_empty());
    // Notify (silences by host group) sees the same members.
    let (_, _, notify) = internal(&e, "/internal/v1/config/notify", None).await;
    let acme_notify = notify["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == "acme")
        .unwrap();
    assert_eq!(
        acme_notify["host_groups"][0][1],
        json!(["listed-1", "web-9"])
    );

    // Through a transfer's batch: db-1 in 10.9/16 joins by the second rule, db-2 outside does
    // not, nor does a host of globex in acme's range.
    let acme_id = TenantId::new("acme").unwrap();
    let seen = |tenant: &TenantId, host: &str, ip: &str| SeenHeartbeat {
        tenant: tenant.clone(),
        heartbeat: Heartbeat {
            host: host.into(),
            ip: ip.into(),
            ..Default::default()
        },
        seen_at: now,
    };
    let batch = HeartbeatBatch {
        region: "east".into(),
        sent_at: now,
        changed: vec![
            seen(&acme_id, "db-1", "10.9.200.1"),
            seen(&acme_id, "db-2", "10.10.0.1"),
            seen(&TenantId::new("globex").unwrap(), "db-3", "10.9.0.3"),
        ],
        alive: Default::default(),
    };
    let r = e
        .http
        .post(format!("{}/internal/v1/agents/heartbeats", e.url))
        .bearer_auth(NODE)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, tag1, doc) = internal(&e, "/internal/v1/config/strategies", None).await;
    assert_eq!(
        members(&doc, "acme", "prod"),
        vec!["listed-1", "web-9", "db-1"]
    );

    // New tags in a later heartbeat move the host out, and the version changes for it.
    let (s, _) = heartbeat(
        &e,
        &e.agent_a,
        json!({"host": "web-9", "ip": "192.168.7.9", "tags": {"env": "dev"}, "timestamp": now}),
    )
    .await;
    assert!(s.is_success());
    let (s, tag2, doc) = internal(&e, "/internal/v1/config/strategies", Some(&tag1)).await;
    assert_eq!(s, StatusCode::OK, "changed tags changed the configuration");
    assert_eq!(members(&doc, "acme", "prod"), vec!["listed-1", "db-1"]);
    // The same facts again do not.
    let (s, _) = heartbeat(
        &e,
        &e.agent_a,
        json!({"host": "web-9", "ip": "192.168.7.9", "tags": {"env": "dev"}, "timestamp": now + 60, "uptime_secs": 60}),
    )
    .await;
    assert!(s.is_success());
    let (s, _, _) = internal(&e, "/internal/v1/config/strategies", Some(&tag2)).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    e.running.stop().await;
}

#[tokio::test]
async fn hosts_join_their_groups_on_first_heartbeat() {
    hosts_join_their_groups_on_first_heartbeat_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn hosts_join_their_groups_on_first_heartbeat_postgres() {
    hosts_join_their_groups_on_first_heartbeat_on(Backend::Postgres).await;
}

#[tokio::test]
async fn bad_rules_and_tags_are_refused_naming_the_field() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    for (rules, field, words) in [
        (json!([{}]), "rules[0]", "every host"),
        (
            json!([{"name": "web-*"}, {"name": "^web-.*$"}]),
            "rules[1].name",
            "glob",
        ),
        (
            json!([{"cidr": "10.0.0.1/8"}]),
            "rules[0].cidr",
            "host bits",
        ),
        (json!([{"cidr": "10.0.0.0/40"}]), "rules[0].cidr", "0 to 32"),
        (json!([{"cidr": "ten/8"}]), "rules[0].cidr", "not an IPv4"),
        (json!([{"tags": {"env": ""}}]), "rules[0].tags", "empty"),
        (json!([{"regex": "web"}]), "rules[0]", "unknown field"),
    ] {
        let (s, v) = e
            .call(
                &e.a,
                Method::POST,
                "/api/v1/host_groups",
                Some(json!({"name": "g", "rules": rules})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{rules}: {v}");
        assert!(
            v["field"].as_str().unwrap_or("").starts_with(field),
            "{rules}: {v}"
        );
        assert!(
            v["error"].as_str().unwrap_or("").contains(words),
            "{rules}: {v}"
        );
    }
    let (s, _) = e.call(&e.a, Method::GET, "/api/v1/host_groups", None).await;
    assert_eq!(s, StatusCode::OK);
    // An update is checked the same way.
    let (s, g) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/host_groups",
            Some(json!({"name": "g", "rules": [{"cidr": "fd00::/8"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let (s, v) = e
        .call(
            &e.a,
            Method::PUT,
            &format!("/api/v1/host_groups/{}", g["id"]),
            Some(json!({"name": "g", "rules": [{"cidr": "fd00::1/8"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "rules[0].cidr", "{v}");
    // A heartbeat's tags are checked as series tags are.
    let (s, v) = heartbeat(
        &e,
        &e.agent_a,
        json!({"host": "h1", "tags": {"env": "a,b"}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "tags.env", "{v}");
    let (_, hosts) = e.call(&e.a, Method::GET, "/api/v1/hosts", None).await;
    assert!(hosts["hosts"].as_array().unwrap().is_empty());
    e.running.stop().await;
}

#[tokio::test]
async fn a_write_checks_its_references_in_its_own_transaction() {
    use argus_web::store::{self, Ref};
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let db = &e.running.db;
    let tpl = store::insert(
        db,
        "acme",
        "templates",
        Some("t"),
        &json!({"name": "t"}),
        true,
    )
    .await
    .unwrap();
    let r = |id| Ref {
        kinds: &["templates"],
        id,
        field: "templates[0]".into(),
        noun: "template",
    };
    let doc = json!({"name": "g", "templates": [tpl]});
    store::insert_checked(db, "acme", "host_groups", Some("g"), &doc, true, &[r(tpl)])
        .await
        .unwrap();
    // The template goes (as a concurrent delete would, after the API's first check).
    assert!(store::delete(db, "acme", "templates", tpl).await.unwrap());
    let err = store::insert_checked(db, "acme", "host_groups", Some("g2"), &doc, true, &[r(tpl)])
        .await
        .unwrap_err();
    assert_eq!(err.status.as_u16(), 400);
    assert_eq!(err.field.as_deref(), Some("templates[0]"));
    assert!(store::by_name(db, "acme", "host_groups", "g2")
        .await
        .unwrap()
        .is_none());
    // Another tenant's object is no reference either.
    let other = store::insert(
        db,
        "globex",
        "templates",
        Some("t"),
        &json!({"name": "t"}),
        true,
    )
    .await
    .unwrap();
    let g = store::by_name(db, "acme", "host_groups", "g")
        .await
        .unwrap()
        .unwrap();
    let err = store::update_checked(
        db,
        "acme",
        "host_groups",
        g.id,
        Some("g"),
        &doc,
        true,
        &[r(other)],
    )
    .await
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("templates[0]"));
    e.running.stop().await;
}
