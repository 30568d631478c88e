//! The web service's HTTP server: shared state, routes, start and stop.

use crate::auth::LoginLimiter;
use crate::config::WebConfig;
use crate::db::Db;
use actix_web::{web, App, HttpRequest, HttpServer};
use argus_core::http::{
    common_routes, healthy, json_config, metrics_response, query_config, Served,
};
use argus_core::telemetry::Registry;
use argus_core::TenantId;
use std::collections::HashMap;
use std::time::Duration;

/// Shared state of the handlers.
pub struct State {
    /// The configuration in force.
    pub cfg: WebConfig,
    /// Client for region and alarm calls.
    pub client: reqwest::Client,
    /// The configuration database.
    pub db: Db,
    /// Bootstrap API tokens from the config file: hash → tenant (admin role).
    pub bootstrap: HashMap<String, TenantId>,
    /// Login attempts.
    pub limiter: LoginLimiter,
    /// `/metrics`.
    pub registry: Registry,
    /// Bytes sent to the regions (query fan-out, configuration answers), in `registry`.
    pub xr: argus_core::telemetry::CrossRegion,
    /// The judges' latest reports of their rules' status.
    pub(crate) rule_reports: crate::rulestate::RuleReports,
    /// Per region, the index in [`crate::config::RegionEndpoint::urls`] of the query endpoint
    /// that answered last.
    pub(crate) preferred: HashMap<String, std::sync::atomic::AtomicUsize>,
}

impl State {
    /// The query endpoint of `region` to ask first.
    pub(crate) fn preferred_endpoint(&self, region: &str) -> usize {
        self.preferred
            .get(region)
            .map_or(0, |p| p.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Ask `region`'s endpoint `index` first from now on.
    pub(crate) fn prefer_endpoint(&self, region: &str, index: usize) {
        if let Some(p) = self.preferred.get(region) {
            p.store(index, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A running web service.
pub struct Running {
    /// The HTTP server.
    pub server: Served,
    /// The configuration database (for bootstrap and tests).
    pub db: Db,
}

impl Running {
    /// Stops serving and closes the database.
    pub async fn stop(self) {
        self.server.stop().await;
        self.db.pool.close().await;
    }
}

/// `argus-web` and `argus web`: the configuration is [`WebConfig`], overridden by `ARGUS_WEB__*`
/// variables.
impl argus_core::service::Component for Running {
    type Config = WebConfig;
    const ENV_PREFIX: &'static str = "ARGUS_WEB";

    async fn start(cfg: WebConfig, _: &argus_core::service::ServiceArgs) -> anyhow::Result<Self> {
        start(cfg).await
    }

    async fn stop(self) {
        Running::stop(self).await
    }
}

/// Starts the web service with `cfg`: opens (and migrates) the database, then serves.
pub async fn start(cfg: WebConfig) -> anyhow::Result<Running> {
    let db = crate::db::open(&cfg.database()).await?;
    if let Some(b) = &cfg.bootstrap_admin {
        let demo = crate::bootstrap::Demo {
            tenant: b.tenant.as_str(),
            admin_login: &b.login,
            admin_password: &b.password,
            agent_token: None,
            api_token: None,
        };
        crate::bootstrap::ensure_demo(&db, &demo)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "bootstrap_admin: {}: {e}",
                    e.field.clone().unwrap_or_default()
                )
            })?;
    }
    start_with_db(cfg, db).await
}

/// Starts the web service on an already opened database.
pub async fn start_with_db(cfg: WebConfig, db: Db) -> anyhow::Result<Running> {
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-web")?;
    let mut bootstrap = HashMap::new();
    for t in &cfg.bootstrap_tokens {
        crate::store::ensure_tenant(&db, t.tenant.as_str(), t.tenant.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("bootstrap tenant {}: {e}", t.tenant))?;
        bootstrap.insert(t.token_sha256.to_ascii_lowercase(), t.tenant.clone());
    }
    let registry = Registry::new();
    let state = web::Data::new(State {
        // The private CA of `[tls] ca_file` is trusted for https regions and alarm.
        client: cfg
            .tls
            .client()?
            .builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        db: db.clone(),
        bootstrap,
        limiter: LoginLimiter::default(),
        xr: argus_core::telemetry::CrossRegion::new(
            &registry,
            argus_core::telemetry::GLOBAL_REGION,
        ),
        registry,
        rule_reports: Default::default(),
        preferred: cfg
            .regions
            .iter()
            .map(|r| (r.name.clone(), Default::default()))
            .collect(),
        cfg: cfg.clone(),
    });
    let internal_token = cfg.internal_token.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json_config(1 << 20))
            .app_data(query_config())
            .configure(|c| {
                let st = state.clone();
                common_routes(c, healthy, move |_: &HttpRequest| {
                    metrics_response(&st.registry)
                })
            })
            .route(
                "/internal/v1/config/transfer",
                web::get().to(crate::center::transfer),
            )
            .route(
                "/internal/v1/config/strategies",
                web::get().to(crate::center::strategies),
            )
            .route(
                "/internal/v1/config/notify",
                web::get().to(crate::center::notify),
            )
            .route(
                "/internal/v1/config/agents",
                web::get().to(crate::center::agents),
            )
            .route(
                "/internal/v1/config/rules",
                web::get().to(crate::center::rules),
            )
            .service(
                // Global rules' queries; the credential is checked before the body is read.
                web::resource("/internal/v1/query/promql").route(
                    web::post().to(crate::prometheus::internal_query).wrap(
                        argus_core::internal_auth::InternalOnly::token(internal_token.clone()),
                    ),
                ),
            )
            .service(
                // A region's batch (compressed) may be large; the credential is checked
                // before it is read.
                web::resource("/internal/v1/agents/heartbeats")
                    .app_data(web::PayloadConfig::new(16 << 20))
                    .route(web::post().to(crate::center::heartbeats).wrap(
                        argus_core::internal_auth::InternalOnly::token(internal_token.clone()),
                    )),
            )
            .service(
                // Judges' reports of their rules; the credential is checked before the body
                // is read.
                web::resource("/internal/v1/rules/status")
                    .app_data(web::PayloadConfig::new(16 << 20))
                    .route(web::post().to(crate::center::rules_status).wrap(
                        argus_core::internal_auth::InternalOnly::token(internal_token.clone()),
                    )),
            )
            .configure(crate::api::routes)
            .configure(crate::prometheus::routes)
            .configure(crate::console::routes)
    })
    .workers(cfg.workers.max(1));
    let server = argus_core::http::listen(server, listener, &cfg.tls, "argus-web")?.run();
    tracing::info!(%addr, "argus-web serving");
    Ok(Running {
        server: Served::spawn(addr, server).with_https(cfg.tls.serves_https()),
        db,
    })
}
