//! Shared test harness: a web service on 127.0.0.1 port 0 with its own database (SQLite in a
//! temporary directory, or a fresh PostgreSQL database), and two tenants with tokens.
#![allow(dead_code)]

use argus_web::bootstrap::{ensure_demo, Demo};
use argus_web::{Running, WebConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

/// Which database the service runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    /// SQLite in a temporary directory.
    Sqlite,
    /// A fresh database on `ARGUS_TEST_PG_URL`.
    Postgres,
}

/// A running service with two tenants (`acme`, `globex`).
pub(crate) struct Env {
    /// The service.
    pub running: Running,
    /// Its base URL.
    pub url: String,
    /// HTTP client.
    pub http: Client,
    /// acme's admin API token.
    pub a: String,
    /// globex's admin API token.
    pub b: String,
    /// acme's agent token.
    pub agent_a: String,
    /// The configuration it was started with (for [`Env::restart`]).
    pub cfg: WebConfig,
    _dir: tempfile::TempDir,
}

/// A fresh PostgreSQL database URL made from `ARGUS_TEST_PG_URL`, or `None` (skipped) without it.
pub(crate) async fn pg_database() -> Option<String> {
    argus_core::testing::postgres_database("argus_web", "PostgreSQL").await
}

/// Starts a service on `backend` (None when PostgreSQL is unavailable and skipping).
pub(crate) async fn start(backend: Backend, tweak: impl FnOnce(&mut WebConfig)) -> Option<Env> {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = WebConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("web").display().to_string(),
        workers: 1,
        ..Default::default()
    };
    if let Backend::Postgres = backend {
        cfg.database_url = pg_database().await?;
    }
    tweak(&mut cfg);
    let running = argus_web::start(cfg.clone()).await.expect("web starts");
    let (a, b, agent_a) = (
        argus_core::auth::generate_token("argus_api"),
        argus_core::auth::generate_token("argus_api"),
        argus_core::auth::generate_token("argus_agt"),
    );
    ensure_demo(
        &running.db,
        &Demo {
            tenant: "acme",
            admin_login: "alice",
            admin_password: "alice-secret-1",
            agent_token: Some(&agent_a),
            api_token: Some(&a),
        },
    )
    .await
    .expect("bootstrap acme");
    ensure_demo(
        &running.db,
        &Demo {
            tenant: "globex",
            admin_login: "bob",
            admin_password: "bob-secret-1",
            agent_token: None,
            api_token: Some(&b),
        },
    )
    .await
    .expect("bootstrap globex");
    let url = running.server.url();
    Some(Env {
        running,
        url,
        http: Client::new(),
        a,
        b,
        agent_a,
        cfg,
        _dir: dir,
    })
}

impl Env {
    /// Stops the service and starts it again on the same database.
    pub(crate) async fn restart(self) -> Env {
        self.running.stop().await;
        let running = argus_web::start(self.cfg.clone())
            .await
            .expect("web restarts");
        let url = running.server.url();
        Env {
            running,
            url,
            ..self
        }
    }

    /// Calls the API with bearer `token`; answers status and JSON body (Null when none).
    pub(crate) async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates an API token of the caller's tenant with `role`.
    pub(crate) async fn token(&self, admin: &str, role: &str) -> String {
        let (s, v) = self
            .call(
                admin,
                Method::POST,
                "/api/v1/tokens",
                Some(serde_json::json!({"name": role, "kind": "api", "role": role})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["token"].as_str().unwrap().to_string()
    }
}

/// A region for a web service: a real storage node in `dir/store` holding `points` (JSON points,
/// each with its tenant), written through the node's internal write endpoint.
pub(crate) struct Region {
    /// The storage node.
    pub node: argus_store::node::StoreNode,
    /// Its base URL.
    pub url: String,
}

impl Region {
    /// Starts the node and writes `points` (asserting they are accepted).
    pub(crate) async fn with_points(dir: &std::path::Path, points: &[Value]) -> Region {
        let node = argus_store::node::start(argus_store::node::StoreConfig {
            listen: "127.0.0.1:0".into(),
            engine: argus_store::EngineConfig {
                data_dir: dir.join("store"),
                ..Default::default()
            },
            workers: 1,
            ..Default::default()
        })
        .await
        .expect("store starts");
        let url = node.server.url();
        let r = Client::new()
            .post(format!("{url}/internal/v1/write"))
            .json(&serde_json::json!({ "points": points }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "store write: {status} {}",
            r.text().await.unwrap_or_default()
        );
        Region { node, url }
    }

    /// The web configuration's entry for this region, named `local`.
    pub(crate) fn endpoint(&self) -> argus_web::config::RegionEndpoint {
        argus_web::config::RegionEndpoint::new("local", self.url.clone())
    }

    pub(crate) async fn stop(self) {
        self.node.stop().await;
    }
}

/// A loopback address for a service the web service must know before it starts (the alarm):
/// `(listen address, base URL)`.
pub(crate) fn reserve_address() -> (String, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    )
}

/// A real alarm service on `listen` (from [`reserve_address`]) in `dir/alarm`, pulling its
/// notification configuration from the web service at `web_url` every second.
pub(crate) async fn start_alarm(
    dir: &std::path::Path,
    listen: &str,
    web_url: &str,
) -> argus_alarm::Running {
    argus_alarm::start(argus_alarm::AlarmConfig {
        listen: listen.to_string(),
        data_dir: dir.join("alarm"),
        web_url: web_url.to_string(),
        config_poll_secs: 1,
        workers: 1,
        ..Default::default()
    })
    .await
    .expect("alarm starts")
}

/// A service on SQLite wired to a real alarm service (in `dir/alarm`) that pulls its
/// notification configuration from it; `tweak` adjusts the web configuration further.
pub(crate) async fn start_with_alarm(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut WebConfig),
) -> (Env, argus_alarm::Running) {
    let (listen, url) = reserve_address();
    let env = start(Backend::Sqlite, |c| {
        c.alarm_url = url;
        tweak(c);
    })
    .await
    .expect("SQLite needs no server");
    let alarm = start_alarm(dir, &listen, &env.url).await;
    (env, alarm)
}
