//! The transfer's HTTP server and the state its handlers share.

use crate::config::{IngestConfig, TransferConfig};
use crate::forward::Forwarder;
use crate::ingest::{self, Format};
use crate::query;
use crate::quota::Quotas;
use crate::tokens::Tokens;
use actix_web::{web, App, HttpRequest, HttpServer};
use argus_core::http::{common_routes, healthy, json_config, metrics_for, Served};
use argus_core::internal_auth::InternalOnly;
use argus_core::shed::{Shed, Shedder};
use argus_core::telemetry::{Counter, Registry};
use argus_core::TenantId;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The transfer's own counters.
pub struct Metrics {
    /// Pushes refused for a missing or unknown token.
    pub auth_failures: Arc<Counter>,
    /// Deliveries that went to a spool instead of their downstream.
    pub spooled_writes: Arc<Counter>,
}

/// One tenant's counters (`/metrics`, label `tenant`).
pub struct TenantMetrics {
    /// Points accepted and made durable.
    pub accepted: Arc<Counter>,
    /// Points refused (validation or quota).
    pub rejected: Arc<Counter>,
    /// Requests refused with 429 (points per second).
    pub limited_rate: Arc<Counter>,
    /// Requests refused with 413 (batch size).
    pub limited_batch: Arc<Counter>,
    /// Points refused for the active-series quota.
    pub limited_series: Arc<Counter>,
    /// Points refused for the tags-per-point quota.
    pub limited_tags: Arc<Counter>,
    /// Line-protocol string fields skipped (they are not metric values).
    pub string_fields_skipped: Arc<Counter>,
}

/// Shared state of the handlers.
pub struct State {
    /// The configuration the transfer started with (addresses, limits, timeouts).
    pub cfg: TransferConfig,
    /// Ingest mapping options (reloadable).
    pub ingest: RwLock<IngestConfig>,
    /// Token → tenant.
    pub tokens: Arc<Tokens>,
    /// Per-tenant quotas.
    pub quotas: Quotas,
    /// Downstream writer.
    pub forwarder: Arc<Forwarder>,
    /// `/metrics`.
    pub registry: Registry,
    /// Counters.
    pub metrics: Metrics,
    per_tenant: Mutex<HashMap<TenantId, Arc<TenantMetrics>>>,
}

impl State {
    /// The counters of `tenant`.
    pub fn tenant_metrics(&self, tenant: &TenantId) -> Arc<TenantMetrics> {
        let mut m = self.per_tenant.lock().expect("metrics lock");
        m.entry(tenant.clone())
            .or_insert_with(|| {
                let t = tenant.as_str();
                let r = &self.registry;
                let limited = |limit: &str| {
                    r.counter(
                        "argus_transfer_limited_total",
                        "Refusals for a tenant quota, by limit.",
                        &[("tenant", t), ("limit", limit)],
                    )
                };
                Arc::new(TenantMetrics {
                    accepted: r.counter(
                        "argus_transfer_points_accepted_total",
                        "Points accepted and made durable.",
                        &[("tenant", t)],
                    ),
                    rejected: r.counter(
                        "argus_transfer_points_rejected_total",
                        "Points refused (validation or quota).",
                        &[("tenant", t)],
                    ),
                    limited_rate: limited("rate"),
                    limited_batch: limited("batch"),
                    limited_series: limited("series"),
                    limited_tags: limited("tags"),
                    string_fields_skipped: r.counter(
                        "argus_transfer_string_fields_skipped_total",
                        "Line-protocol string fields skipped (not metric values).",
                        &[("tenant", t)],
                    ),
                })
            })
            .clone()
    }

    /// The ingest mapping in force.
    pub fn ingest_config(&self) -> IngestConfig {
        self.ingest.read().expect("ingest lock").clone()
    }

    /// Applies the reloadable parts of `cfg`: rings, tenants' tokens, quotas, ingest mapping.
    pub fn apply(&self, cfg: &TransferConfig) -> anyhow::Result<()> {
        cfg.check()?;
        self.forwarder.apply(cfg)?;
        self.tokens.set_static(cfg.tenants.clone());
        self.quotas.set(cfg.quotas.clone());
        *self.ingest.write().expect("ingest lock") = cfg.ingest.clone();
        Ok(())
    }
}

/// A running transfer.
pub struct Running {
    /// The HTTP server.
    pub server: Served,
    /// The handlers' state (routing, tokens, quotas), for embedding and tests.
    pub state: web::Data<State>,
    /// Where this transfer keeps its spools and caches.
    pub data_dir: PathBuf,
    stop: watch::Sender<bool>,
}

impl Running {
    /// Stops serving after in-flight pushes finish, then stops the replayers and pollers
    /// (spooled points stay on disk for the next start).
    pub async fn stop(self) {
        self.server.stop().await;
        let _ = self.stop.send(true);
    }
}

/// `argus-transfer` and `argus transfer`: the configuration is [`TransferConfig`], overridden
/// by `ARGUS_TRANSFER__*` variables.
impl argus_core::service::Component for Running {
    type Config = TransferConfig;
    const ENV_PREFIX: &'static str = "ARGUS_TRANSFER";

    async fn start(
        mut cfg: TransferConfig,
        args: &argus_core::service::ServiceArgs,
    ) -> anyhow::Result<Self> {
        // Knowing its file lets the transfer apply a new ring, tenants and quotas without a
        // restart.
        cfg.config_file = args.config.clone();
        start(cfg).await
    }

    async fn stop(self) {
        Running::stop(self).await
    }
}

/// Starts a transfer with `cfg`.
pub async fn start(cfg: TransferConfig) -> anyhow::Result<Running> {
    cfg.check()?;
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-transfer")?;
    let data_dir = if cfg.data_dir.as_os_str().is_empty() {
        std::env::temp_dir().join(format!(
            "argus-transfer-{}",
            addr.to_string().replace(':', "-")
        ))
    } else {
        cfg.data_dir.clone()
    };
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| anyhow::anyhow!("data_dir {}: {e}", data_dir.display()))?;
    let registry = Registry::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let forwarder = Arc::new(Forwarder::start(
        &cfg,
        data_dir.join("spool"),
        &registry,
        stop_rx.clone(),
    )?);
    let tokens = Tokens::new(
        cfg.tenants.clone(),
        data_dir.join("config-center-transfer.json"),
    );
    // Bytes to the global zone (config pulls, heartbeat batches, query answers) in /metrics.
    let xr = argus_core::telemetry::CrossRegion::new(&registry, &cfg.region);
    tokens.count_with(xr.clone());
    if !cfg.config_center.url.is_empty() {
        tokio::spawn(tokens.clone().poll(
            cfg.config_center.url.clone(),
            cfg.internal_token.clone(),
            Duration::from_secs(cfg.config_center.poll_secs.max(1)),
            forwarder.client_tls().clone(),
            stop_rx.clone(),
        ));
    }
    let agents = crate::agents::Agents::new(
        &cfg.region,
        xr,
        data_dir.join("config-center-agents.json"),
        !cfg.config_center.url.is_empty(),
    );
    if !cfg.config_center.url.is_empty() {
        let http = forwarder
            .client_tls()
            .builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        tokio::spawn(agents.clone().run(
            http,
            cfg.config_center.url.clone(),
            cfg.internal_token.clone(),
            cfg.agents.clone(),
            stop_rx.clone(),
        ));
    }
    tokio::spawn(forwarder.clone().announce_judge_ring(
        Duration::from_secs(cfg.judge_ring_announce_secs),
        stop_rx.clone(),
    ));
    let agents = web::Data::new(agents);
    let state = web::Data::new(State {
        ingest: RwLock::new(cfg.ingest.clone()),
        quotas: Quotas::new(cfg.quotas.clone()).with_center(tokens.quota_overrides()),
        tokens,
        forwarder,
        metrics: Metrics {
            auth_failures: registry.counter(
                "argus_transfer_auth_failures_total",
                "Pushes refused for a missing or unknown token.",
                &[],
            ),
            spooled_writes: registry.counter(
                "argus_transfer_spooled_writes_total",
                "Deliveries that went to a spool instead of their downstream.",
                &[],
            ),
        },
        per_tenant: Mutex::new(HashMap::new()),
        registry,
        cfg: cfg.clone(),
    });
    if let Some(file) = &cfg.config_file {
        tokio::spawn(crate::reload::watch(
            file.clone(),
            Duration::from_secs(cfg.reload_secs),
            state.clone(),
            stop_rx.clone(),
        ));
    }
    let max = cfg.max_body_bytes;
    let shed = Shed(
        Shedder::for_component(
            &state.registry,
            "transfer",
            "pushes",
            cfg.max_in_flight,
            cfg.body_timeout_secs,
        )
        .with_gate(
            {
                // The credential is checked from the head, before a slot is taken: a caller
                // without one never holds a slot, and each tenant holds at most its share.
                let st = state.clone();
                let internal = cfg.internal_token.clone();
                Box::new(move |req: &HttpRequest| {
                    if req.path().starts_with("/internal/") {
                        argus_core::http::check_internal(req, &internal)
                            .map(|()| "internal".to_string())
                    } else {
                        let tenant = ingest::authenticate(req, &st)?;
                        // A tenant past its rate is refused before its body is read.
                        ingest::check_quota_head(&st, &tenant)?;
                        Ok(tenant.as_str().to_string())
                    }
                })
            },
            cfg.max_in_flight_per_tenant,
        ),
    );
    let internal_token = cfg.internal_token.clone();
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        // Query routes check the internal credential before their body is read.
        let internal = InternalOnly::token(internal_token.clone());
        App::new()
            .app_data(app_state.clone())
            .app_data(agents.clone())
            .configure(crate::agents::routes)
            .app_data(json_config(max))
            .app_data(web::PayloadConfig::new(max))
            .configure(|c| {
                let st = app_state.clone();
                // An unauthenticated scrape learns no tenant.
                common_routes(c, healthy, move |req: &HttpRequest| {
                    metrics_for(req, &st.registry, &st.cfg.internal_token)
                })
            })
            .route(
                "/api/v1/push",
                web::post()
                    .to(|r, b, s| ingest::push(r, b, s, Format::Argus))
                    .wrap(shed.clone()),
            )
            .route(
                "/v1/push",
                web::post()
                    .to(|r, b, s| ingest::push(r, b, s, Format::Falcon))
                    .wrap(shed.clone()),
            )
            .route(
                "/api/v2/write",
                web::post().to(ingest::influx_write).wrap(shed.clone()),
            )
            .route(
                "/api/v1/write",
                web::post().to(ingest::remote_write).wrap(shed.clone()),
            )
            .route(
                "/api/v1/prom/write",
                web::post().to(ingest::remote_write).wrap(shed.clone()),
            )
            .route(
                "/internal/v1/push",
                web::post()
                    .to(ingest::internal_push)
                    .wrap(internal.clone())
                    .wrap(shed.clone()),
            )
            .route(
                "/internal/v1/query/range",
                web::post().to(query::range).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/last",
                web::post().to(query::last).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/series",
                web::post().to(query::series).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/select",
                web::post().to(query::select).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/eval",
                web::post().to(query::eval).wrap(internal.clone()),
            )
    })
    .workers(cfg.workers.max(1));
    let server = argus_core::http::listen(server, listener, &cfg.tls, "argus-transfer")?.run();
    tracing::info!(%addr, region = %cfg.region, data_dir = %data_dir.display(), "argus-transfer serving");
    Ok(Running {
        server: Served::spawn(addr, server).with_https(cfg.tls.serves_https()),
        state,
        data_dir,
        stop: stop_tx,
    })
}
