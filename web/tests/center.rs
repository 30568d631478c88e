//! The configuration center: transfer, strategies and notify documents with ETags, the agent's
//! configuration and heartbeat, and the OpenAPI document.

mod common;

use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn internal(
    e: &Env,
    path: &str,
    etag: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut r = e.http.get(format!("{}{path}", e.url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(t) = etag {
        r = r.header("if-none-match", t);
    }
    let resp = r.send().await.unwrap();
    let s = resp.status();
    let tag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (s, tag, resp.json().await.unwrap_or(Value::Null))
}

async fn config_documents_with_etags_on(backend: Backend) {
    let Some(e) = start(backend, |c| c.internal_token = "node-secret".into()).await else {
        return;
    };
    for path in [
        "/internal/v1/config/transfer",
        "/internal/v1/config/strategies",
        "/internal/v1/config/notify",
    ] {
        let (s, _, _) = internal(&e, path, None, None).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{path} needs the internal credential"
        );
        let (s, _, _) = internal(&e, path, None, Some(&e.a)).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{path}: a tenant token is not the internal credential"
        );
    }
    let tok = Some("node-secret");
    let (s, tag, v) = internal(&e, "/internal/v1/config/transfer", None, tok).await;
    assert_eq!(s, StatusCode::OK);
    let acme = v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == "acme")
        .unwrap();
    assert_eq!(
        acme["token_sha256"],
        json!([argus_core::auth::hash_token(&e.agent_a)])
    );
    let tag = tag.unwrap();
    let (s, _, _) = internal(&e, "/internal/v1/config/transfer", Some(&tag), tok).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);

    // A template with a strategy, bound to a group; a contact with a secret.
    let (_, t) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "base"})),
        )
        .await;
    let (_, st) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/strategies",
            Some(
                json!({"template_id": t["id"], "metric": "cpu.idle", "condition": "all(#3) < 10"}),
            ),
        )
        .await;
    e.call(
        &e.a,
        Method::POST,
        "/api/v1/host_groups",
        Some(json!({"name": "web", "hosts": ["web-1"], "templates": [t["id"]]})),
    )
    .await;
    e.call(
        &e.a,
        Method::POST,
        "/api/v1/contacts",
        Some(
            json!({"name": "hook", "webhook_url": "http://127.0.0.1:9/x", "webhook_secret": "sig"}),
        ),
    )
    .await;
    let (s, _, _) = internal(&e, "/internal/v1/config/transfer", Some(&tag), tok).await;
    assert_eq!(s, StatusCode::OK, "a change changes the version");

    // A dashboard configures no component: creating, replacing and deleting one leaves every
    // configuration document's version as it was (nodes do not re-pull for it).
    let (_, tag, _) = internal(&e, "/internal/v1/config/strategies", None, tok).await;
    let tag = tag.unwrap();
    let board = json!({"title": "ops", "rows": [{"title": "r", "panels": [
        {"type": "stat", "title": "p", "targets": [{"expr": "up"}]}]}]});
    let (s, d) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/dashboards",
            Some(board.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let path = format!("/api/v1/dashboards/{}", d["id"]);
    let (s, d) = e.call(&e.a, Method::PUT, &path, Some(board)).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let (s, _) = e.call(&e.a, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for doc in ["transfer", "strategies", "notify", "rules", "agents"] {
        let (s, _, _) = internal(&e, &format!("/internal/v1/config/{doc}"), Some(&tag), tok).await;
        assert_eq!(s, StatusCode::NOT_MODIFIED, "{doc} after dashboard writes");
    }

    let (s, tag, v) = internal(&e, "/internal/v1/config/strategies", None, tok).await;
    assert_eq!(s, StatusCode::OK);
    let tenants: Vec<argus_core::strategy::TenantStrategies> =
        serde_json::from_value(v["tenants"].clone()).unwrap();
    let a = tenants
        .iter()
        .find(|t| t.tenant.as_str() == "acme")
        .unwrap();
    a.check().unwrap();
    assert_eq!(a.templates[0].strategies[0].id, st["id"].as_u64().unwrap());
    assert_eq!(a.host_groups[0].hosts, vec!["web-1".to_string()]);
    assert!(tenants
        .iter()
        .find(|t| t.tenant.as_str() == "globex")
        .unwrap()
        .templates
        .is_empty());
    let (s, _, _) = internal(&e, "/internal/v1/config/strategies", tag.as_deref(), tok).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);

    let (s, _, v) = internal(&e, "/internal/v1/config/notify", None, tok).await;
    assert_eq!(s, StatusCode::OK);
    let tenants: Vec<argus_core::notify::TenantNotifyConfig> =
        serde_json::from_value(v["tenants"].clone()).unwrap();
    let a = tenants
        .iter()
        .find(|t| t.tenant.as_str() == "acme")
        .unwrap();
    assert_eq!(
        a.contacts[0].webhook_secret.as_deref(),
        Some("sig"),
        "alarm gets the secret"
    );
    assert_eq!(a.host_groups.len(), 1);
    assert_eq!(a.template_parents, vec![(t["id"].as_u64().unwrap(), None)]);
    e.running.stop().await;
}

async fn agent_config_and_heartbeat_on(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    let agent = |m: Method, path: &str, body: Option<Value>, etag: Option<&str>| {
        let mut r = e
            .http
            .request(m, format!("{}{path}", e.url))
            .bearer_auth(&e.agent_a);
        if let Some(b) = body {
            r = r.json(&b);
        }
        if let Some(t) = etag {
            r = r.header("if-none-match", t);
        }
        r.send()
    };
    e.call(
        &e.a,
        Method::POST,
        "/api/v1/host_groups",
        Some(json!({"name": "web", "hosts": ["web-1"], "agent": {
        "step_secs": 30,
        "plugins": [{"name": "nginx", "path": "nginx.sh", "interval_secs": 60}],
        "probes": [{"kind": "tcp", "name": "db", "addr": "127.0.0.1:5432"}]}})),
    )
    .await;
    let resp = agent(Method::GET, "/api/v1/agent/config?host=web-1", None, None)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let tag = resp.headers()["etag"].to_str().unwrap().to_string();
    let cfg: argus_core::agentconf::AgentRemoteConfig = resp.json().await.unwrap();
    assert_eq!(
        (cfg.step_secs, cfg.plugins.len(), cfg.probes.len()),
        (30, 1, 1)
    );
    assert_eq!(tag, format!("\"{}\"", cfg.version));
    let resp = agent(
        Method::GET,
        "/api/v1/agent/config?host=web-1",
        None,
        Some(&tag),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    let other: argus_core::agentconf::AgentRemoteConfig =
        agent(Method::GET, "/api/v1/agent/config?host=db-1", None, None)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(other.plugins.is_empty() && other.version != cfg.version);
    // An API token is not an agent token, and the other way round.
    let resp = e
        .http
        .get(format!("{}/api/v1/agent/config?host=web-1", e.url))
        .bearer_auth(&e.a)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Heartbeat: the host appears, alive, with its agent version.
    let hb = json!({"host": "web-1", "agent_version": "0.1.0", "uptime_secs": 5, "os": "Debian", "kernel": "6.1", "cpu_count": 2, "mem_total": 1, "ip": "10.0.0.1", "config_version": cfg.version, "timestamp": argus_core::time::now_secs()});
    let resp = agent(
        Method::POST,
        "/api/v1/agent/heartbeat",
        Some(hb.clone()),
        None,
    )
    .await
    .unwrap();
    assert!(resp.status().is_success());
    agent(Method::POST, "/api/v1/agent/heartbeat", Some(hb), None)
        .await
        .unwrap();
    let (_, hosts) = e.call(&e.a, Method::GET, "/api/v1/hosts", None).await;
    let hosts = hosts["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "one host for two heartbeats");
    assert_eq!(
        (
            hosts[0]["name"].as_str(),
            hosts[0]["alive"].as_bool(),
            hosts[0]["agent_version"].as_str()
        ),
        (Some("web-1"), Some(true), Some("0.1.0"))
    );
    assert!(hosts[0]["last_seen"].as_i64().is_some());
    // globex sees no such host.
    let (_, hosts) = e.call(&e.b, Method::GET, "/api/v1/hosts", None).await;
    assert!(hosts["hosts"].as_array().unwrap().is_empty());
    e.running.stop().await;
}

#[tokio::test]
async fn a_host_without_heartbeat_is_dead() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let (_, h) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/hosts",
            Some(json!({"name": "quiet"})),
        )
        .await;
    assert_eq!(h["alive"], json!(false));
    assert_eq!(h["last_seen"], Value::Null);
    e.running.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_every_resource() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let v: Value = e
        .http
        .get(format!("{}/api/v1/openapi.json", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["openapi"], "3.0.3");
    for p in [
        "/api/v1/hosts",
        "/api/v1/host_groups/{id}",
        "/api/v1/templates",
        "/api/v1/strategies",
        "/api/v1/expressions",
        "/api/v1/contacts",
        "/api/v1/teams",
        "/api/v1/subscriptions",
        "/api/v1/silences",
        "/api/v1/events",
        "/api/v1/deliveries",
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/tenants",
        "/api/v1/login",
        "/api/v1/query",
    ] {
        assert!(v["paths"].get(p).is_some(), "{p} documented");
    }
    e.running.stop().await;
}

#[tokio::test]
async fn config_documents_with_etags() {
    config_documents_with_etags_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn config_documents_with_etags_postgres() {
    config_documents_with_etags_on(Backend::Postgres).await;
}

#[tokio::test]
async fn agent_config_and_heartbeat() {
    agent_config_and_heartbeat_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn agent_config_and_heartbeat_postgres() {
    agent_config_and_heartbeat_on(Backend::Postgres).await;
}

#[tokio::test]
async fn agents_document_and_heartbeat_batches_for_transfers() {
    use argus_core::agentconf::{
        effective_config, AgentsDocument, Heartbeat, HeartbeatBatch, HeartbeatBatchAnswer,
        SeenHeartbeat,
    };
    use argus_core::TenantId;
    let e = start(Backend::Sqlite, |c| c.internal_token = "node-secret".into())
        .await
        .unwrap();
    e.call(
        &e.a,
        Method::POST,
        "/api/v1/host_groups",
        Some(json!({"name": "web", "hosts": ["web-1"], "agent": {
        "step_secs": 30,
        "plugins": [{"name": "nginx", "path": "nginx.sh", "interval_secs": 60}]}})),
    )
    .await;
    let get = |etag: Option<String>, token: &str| {
        let mut r = e
            .http
            .get(format!("{}/internal/v1/config/agents", e.url))
            .bearer_auth(token)
            .header("x-argus-region", "east");
        if let Some(t) = etag {
            r = r.header("if-none-match", t);
        }
        r.send()
    };
    assert_eq!(
        get(None, &e.agent_a).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = get(None, "node-secret").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let tag = resp.headers()["etag"].to_str().unwrap().to_string();
    let doc: AgentsDocument = resp.json().await.unwrap();
    let acme = doc
        .tenants
        .iter()
        .find(|t| t.tenant.as_str() == "acme")
        .unwrap();
    // The transfer computes the same config (and ETag) as web would answer the agent.
    let (_, direct) = {
        let r = e
            .http
            .get(format!("{}/api/v1/agent/config?host=web-1", e.url))
            .bearer_auth(&e.agent_a)
            .send()
            .await
            .unwrap();
        (
            r.status(),
            r.json::<argus_core::agentconf::AgentRemoteConfig>()
                .await
                .unwrap(),
        )
    };
    assert_eq!(effective_config(&acme.groups, "web-1"), direct);
    let globex = doc
        .tenants
        .iter()
        .find(|t| t.tenant.as_str() == "globex")
        .unwrap();
    assert!(globex.groups.is_empty(), "globex has no agent section");
    assert_eq!(
        get(Some(tag), "node-secret").await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );

    // A batch: web-1 whole, then only alive; a host web does not know is answered back.
    let acme_id = TenantId::new("acme").unwrap();
    let now = argus_core::time::now_secs();
    let send = |batch: HeartbeatBatch, token: &str| {
        let body = zstd::encode_all(&serde_json::to_vec(&batch).unwrap()[..], 3).unwrap();
        e.http
            .post(format!("{}/internal/v1/agents/heartbeats", e.url))
            .bearer_auth(token)
            .header("content-encoding", "zstd")
            .header("x-argus-region", "east")
            .body(body)
            .send()
    };
    let first = HeartbeatBatch {
        region: "east".into(),
        sent_at: now + 1000, // a transfer whose clock is ahead: ages count, not times
        changed: vec![SeenHeartbeat {
            tenant: acme_id.clone(),
            heartbeat: Heartbeat {
                host: "web-1".into(),
                agent_version: "9.9.9".into(),
                ..Default::default()
            },
            seen_at: now + 990,
        }],
        alive: Default::default(),
    };
    assert_eq!(
        send(first.clone(), &e.agent_a).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let r = send(first, "node-secret").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, hosts) = e.call(&e.a, Method::GET, "/api/v1/hosts", None).await;
    let h = &hosts["hosts"][0];
    assert_eq!(
        (h["name"].as_str(), h["alive"].as_bool()),
        (Some("web-1"), Some(true))
    );
    assert_eq!(h["agent_version"], json!("9.9.9"));
    assert_eq!(
        h["heartbeat"]["region"],
        json!("east"),
        "the host's region is kept, for queries to go there only"
    );
    let seen = h["last_seen"].as_i64().unwrap();
    assert!(
        (now - 12..=now).contains(&seen),
        "last seen {seen}, now {now}"
    );
    let mut alive = std::collections::BTreeMap::new();
    alive.insert(
        acme_id.clone(),
        vec![
            ("web-1".to_string(), now + 60),
            ("ghost".to_string(), now + 60),
        ],
    );
    let second = HeartbeatBatch {
        region: "east".into(),
        sent_at: now + 60,
        changed: vec![],
        alive,
    };
    let ans: HeartbeatBatchAnswer = send(second, "node-secret")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ans.unknown, vec![(acme_id, "ghost".to_string())]);
    let (_, hosts) = e.call(&e.a, Method::GET, "/api/v1/hosts", None).await;
    assert_eq!(
        hosts["hosts"].as_array().unwrap().len(),
        1,
        "no ghost host created"
    );
    let h = &hosts["hosts"][0];
    assert!(h["last_seen"].as_i64().unwrap() >= now - 2, "{h}");
    assert_eq!(h["agent_version"], json!("9.9.9"), "facts kept");
    // The answers to region east are counted as configuration sent there.
    let metrics = e
        .http
        .get(format!("{}/metrics", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("argus_cross_region_bytes_sent_total{kind=\"config\",to=\"east\"}"))
        .unwrap_or_else(|| panic!("no cross-region counter in {metrics}"));
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n > 500, "{line}");
    e.running.stop().await;
}
