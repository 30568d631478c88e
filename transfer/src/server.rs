//! The transfer's HTTP server.

use crate::config::{TokenTable, TransferConfig};
use crate::forward::Forwarder;
use crate::ingest::{self, Format};
use crate::query;
use actix_web::{web, App, HttpResponse, HttpServer};
use argus_core::http::{json_config, metrics_response, Served};
use argus_core::telemetry::{Counter, Registry};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The transfer's own counters.
pub struct Metrics {
    /// Points accepted and made durable.
    pub points_accepted: Arc<Counter>,
    /// Points refused by validation.
    pub points_rejected: Arc<Counter>,
}

/// Shared state of the handlers.
pub struct State {
    /// The configuration in force.
    pub cfg: TransferConfig,
    /// Token hash → tenant.
    pub tokens: RwLock<TokenTable>,
    /// Downstream writer.
    pub forwarder: Forwarder,
    /// Client for queries.
    pub client: reqwest::Client,
    /// `/metrics`.
    pub registry: Registry,
    /// Counters.
    pub metrics: Metrics,
}

/// A running transfer.
pub struct Running {
    /// The HTTP server.
    pub server: Served,
}

impl Running {
    /// Stops serving after in-flight pushes finish.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts a transfer with `cfg`.
pub async fn start(cfg: TransferConfig) -> anyhow::Result<Running> {
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-transfer")?;
    let timeout = Duration::from_millis(cfg.downstream_timeout_ms);
    let registry = Registry::new();
    let state = web::Data::new(State {
        tokens: RwLock::new(TokenTable::new(&cfg.tenants)),
        forwarder: Forwarder::new(
            cfg.stores.clone(),
            cfg.judges.clone(),
            cfg.internal_token.clone(),
            timeout,
        ),
        client: reqwest::Client::builder().timeout(timeout).build()?,
        metrics: Metrics {
            points_accepted: registry.counter(
                "argus_transfer_points_accepted_total",
                "Points accepted.",
                &[],
            ),
            points_rejected: registry.counter(
                "argus_transfer_points_rejected_total",
                "Points refused.",
                &[],
            ),
        },
        registry,
        cfg: cfg.clone(),
    });
    let max = cfg.max_body_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json_config(max))
            .app_data(web::PayloadConfig::new(max))
            .route(
                "/health",
                web::get()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/metrics",
                web::get().to(|st: web::Data<State>| async move { metrics_response(&st.registry) }),
            )
            .route(
                "/api/v1/push",
                web::post().to(|r, b, s| ingest::push(r, b, s, Format::Argus)),
            )
            .route(
                "/v1/push",
                web::post().to(|r, b, s| ingest::push(r, b, s, Format::Falcon)),
            )
            .route("/internal/v1/query/range", web::post().to(query::range))
            .route("/internal/v1/query/last", web::post().to(query::last))
            .route("/internal/v1/query/series", web::post().to(query::series))
    })
    .workers(cfg.workers.max(1))
    .listen(listener)?
    .run();
    tracing::info!(%addr, region = %cfg.region, "argus-transfer serving");
    Ok(Running {
        server: Served::spawn(addr, server),
    })
}
