//! The web service's HTTP server and request authentication.

use crate::config::WebConfig;
use crate::query;
use actix_web::dev::Payload;
use actix_web::{web, App, FromRequest, HttpRequest, HttpResponse, HttpServer};
use argus_core::auth::hash_token;
use argus_core::http::{bearer_token, json_config, metrics_response, ApiError, Served};
use argus_core::telemetry::Registry;
use argus_core::TenantId;
use std::collections::HashMap;
use std::future::{ready, Ready};
use std::time::Duration;

/// Shared state of the handlers.
pub struct State {
    /// The configuration in force.
    pub cfg: WebConfig,
    /// Client for region and alarm calls.
    pub client: reqwest::Client,
    /// Token hash → tenant.
    pub tokens: HashMap<String, TenantId>,
    /// `/metrics`.
    pub registry: Registry,
}

/// The tenant an authenticated request acts for: extracting it refuses unauthenticated calls.
pub struct Caller(pub TenantId);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let st = req
            .app_data::<web::Data<State>>()
            .expect("state configured");
        ready(match bearer_token(req) {
            None => Err(ApiError::unauthorized(
                "authentication required: Authorization: Bearer <API token>",
            )),
            Some(t) => st
                .tokens
                .get(&hash_token(t))
                .map(|t| Caller(t.clone()))
                .ok_or_else(|| ApiError::unauthorized("invalid API token")),
        })
    }
}

/// A running web service.
pub struct Running {
    /// The HTTP server.
    pub server: Served,
}

impl Running {
    /// Stops serving.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts the web service with `cfg`.
pub async fn start(cfg: WebConfig) -> anyhow::Result<Running> {
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-web")?;
    let tokens = cfg
        .bootstrap_tokens
        .iter()
        .map(|t| (t.token_sha256.to_ascii_lowercase(), t.tenant.clone()))
        .collect();
    let state = web::Data::new(State {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        tokens,
        registry: Registry::new(),
        cfg: cfg.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json_config(1 << 20))
            .route(
                "/health",
                web::get()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/metrics",
                web::get().to(|st: web::Data<State>| async move { metrics_response(&st.registry) }),
            )
            .route("/api/v1/query", web::get().to(query::range))
            .route("/api/v1/query/last", web::get().to(query::last))
    })
    .workers(cfg.workers.max(1))
    .listen(listener)?
    .run();
    tracing::info!(%addr, "argus-web serving");
    Ok(Running {
        server: Served::spawn(addr, server),
    })
}
