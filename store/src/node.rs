//! `argus-store`: the engine served over HTTP to the region's transfer nodes.
//!
//! Endpoints (all but `/health` need the internal node credential):
//! - `POST /internal/v1/write` — an Argus batch whose points carry their tenant (gzip/zstd ok);
//!   or the binary frame of [`crate::codec`] (`Content-Type: application/x-argus-points-v1`);
//!   answers `{accepted, rejected}` once the points are durable; `507` when the disk is full
//!   (reads keep working), `503` for other storage failures;
//! - `POST /internal/v1/query/range`, `/last`, `/series` — JSON queries, always tenant-scoped;
//! - `POST /internal/v1/query/labels` — metric names, endpoints, tag keys or tag values
//!   ([`LabelQuery`](crate::engine::LabelQuery));
//! - `GET /health`, `GET /metrics`.

use crate::engine::{Engine, EngineConfig, StoreError, WriteSummary};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::http::{
    check_internal, check_internal_token, common_routes, healthy, json_config, metrics_response,
    ApiError, Served,
};
use argus_core::internal_auth::InternalOnly;
use argus_core::query::{Aggregation, LastQuery, RangeQuery, SelectQuery, SeriesData, SeriesQuery};
use argus_core::shed::{Shed, Shedder};
use argus_core::telemetry::{Counter, Registry};
use argus_core::validate::{validate_point, validate_sample, validate_series, Limits, Rejection};
use argus_core::wire::series as series_wire;
use argus_core::wire::{decode_body, Batch, Encoding, PushResponse};
use argus_core::SeriesKey;
use argus_promql::labels::{into_series, labels_of, prefilter, CompiledMatchers};
use argus_promql::split::{self, PartialSeries, RegionEval};
use argus_promql::Fetched;
use argus_store_client::local;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The storage node's configuration file (`argus-store --config store.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Address to serve on.
    pub listen: String,
    /// The credential transfer nodes present (`Authorization: Bearer ...`). Empty disables the
    /// check, which only standalone on loopback should do.
    pub internal_token: String,
    /// Largest accepted request body after decompression, in bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads.
    pub workers: usize,
    /// Most writes handled at once; the next one is answered `503` with `Retry-After: 1` before
    /// its body is read (the transfer then spools it) and counted in `argus_store_shed_total`.
    /// Bounds memory when transfers send faster than the disk takes. 0: no limit.
    pub max_in_flight: usize,
    /// Seconds an admitted write may take to send its whole body; past that it is answered
    /// `400` and its `max_in_flight` slot is free again, so senders trickling bytes cannot hold
    /// every slot. 0: no deadline.
    pub body_timeout_secs: u64,
    /// The engine.
    pub engine: EngineConfig,
    /// Point limits.
    pub limits: Limits,
    /// TLS: with `cert_file` + `key_file` the node serves HTTPS only (transfers then use
    /// `https://` store URLs and trust the CA in their own `[tls] ca_file`).
    pub tls: argus_core::TlsConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            listen: "127.0.0.1:6071".into(),
            internal_token: String::new(),
            max_body_bytes: 64 << 20,
            workers: 2,
            max_in_flight: 256,
            body_timeout_secs: 30,
            engine: EngineConfig::default(),
            limits: Limits::default(),
            tls: argus_core::TlsConfig::default(),
        }
    }
}

struct State {
    engine: Arc<Engine>,
    cfg: StoreConfig,
    registry: Registry,
    points_in: Arc<Counter>,
    points_rejected: Arc<Counter>,
}

/// A running storage node.
pub struct StoreNode {
    /// The HTTP server.
    pub server: Served,
    /// The engine it serves.
    pub engine: Arc<Engine>,
    /// Its place among this process's nodes (writes from a transfer beside it skip HTTP).
    local: Option<local::Registration>,
}

impl StoreNode {
    /// Stops serving and writes the head to compressed blocks, emptying the write-ahead log:
    /// a stopped node's disk holds its compacted size, and the next start replays nothing. If
    /// that fails the log is still fsynced, so nothing acknowledged is lost either way.
    pub async fn stop(mut self) {
        // Local writes go over HTTP from now on, and are refused as the server stops.
        self.local.take();
        self.server.stop().await;
        let engine = self.engine.clone();
        let flushed = tokio::task::spawn_blocking(move || engine.flush_head()).await;
        if !matches!(flushed, Ok(Ok(()))) {
            match flushed {
                Ok(Err(e)) => tracing::error!(error = %e, "writing the head on shutdown failed"),
                Err(e) => tracing::error!(error = %e, "writing the head on shutdown panicked"),
                Ok(Ok(())) => {}
            }
            if let Err(e) = self.engine.flush() {
                tracing::error!(error = %e, "fsync on shutdown failed");
            }
        }
    }
}

/// `argus-store` and `argus store`: the configuration is [`StoreConfig`], overridden by
/// `ARGUS_STORE__*` variables.
impl argus_core::service::Component for StoreNode {
    type Config = StoreConfig;
    const ENV_PREFIX: &'static str = "ARGUS_STORE";

    async fn start(cfg: StoreConfig, _: &argus_core::service::ServiceArgs) -> anyhow::Result<Self> {
        start(cfg).await
    }

    async fn stop(self) {
        StoreNode::stop(self).await
    }
}

/// Opens the engine and starts serving.
pub async fn start(cfg: StoreConfig) -> anyhow::Result<StoreNode> {
    // A bad certificate stops the node before it opens (and possibly recovers) the engine.
    cfg.tls.check()?;
    let tls_on = cfg.tls.serves_https();
    let engine = Arc::new(Engine::open(&cfg.engine)?);
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-store")?;
    let registry = Registry::new();
    let state = web::Data::new(State {
        engine: engine.clone(),
        points_in: registry.counter("argus_store_points_ingested_total", "Points written.", &[]),
        points_rejected: registry.counter(
            "argus_store_points_rejected_total",
            "Points refused.",
            &[],
        ),
        registry,
        cfg: cfg.clone(),
    });
    let max = cfg.max_body_bytes;
    let shedder = Shedder::for_component(
        &state.registry,
        "store",
        "writes",
        cfg.max_in_flight,
        cfg.body_timeout_secs,
    );
    let shed = Shed(shedder.clone());
    let in_process = Arc::new(InProcess {
        state: state.clone(),
        shedder,
    });
    let internal_token = cfg.internal_token.clone();
    let server = HttpServer::new(move || {
        // Every internal route checks the credential before its body is read.
        let internal = InternalOnly::token(internal_token.clone());
        App::new()
            .app_data(state.clone())
            .app_data(json_config(max))
            .app_data(web::PayloadConfig::new(max))
            .configure(|c| {
                let st = state.clone();
                common_routes(c, healthy, move |_: &HttpRequest| metrics(&st))
            })
            .route(
                "/internal/v1/write",
                web::post()
                    .to(write)
                    .wrap(shed.clone())
                    .wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/range",
                web::post().to(query_range).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/select",
                web::post().to(query_select).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/eval",
                web::post().to(query_eval).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/last",
                web::post().to(query_last).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/series",
                web::post().to(query_series).wrap(internal.clone()),
            )
            .route(
                "/internal/v1/query/labels",
                web::post().to(query_labels).wrap(internal.clone()),
            )
    })
    .workers(cfg.workers.max(1));
    let server = argus_core::http::listen(server, listener, &cfg.tls, "argus-store")?.run();
    tracing::info!(%addr, data_dir = %cfg.engine.data_dir.display(), "argus-store serving");
    let server = Served::spawn(addr, server).with_https(tls_on);
    let local = local::register(&server.url(), in_process);
    Ok(StoreNode {
        server,
        engine,
        local: Some(local),
    })
}

/// `/metrics`: the engine's figures are read at each scrape.
fn metrics(st: &State) -> HttpResponse {
    let s = st.engine.stats();
    let r = &st.registry;
    let g = |name: &str, help: &str, v: u64| r.gauge(name, help, &[]).set(v as i64);
    g("argus_store_series", "Series stored.", s.series);
    g(
        "argus_store_engine_points_ingested",
        "Points accepted by the engine since start.",
        s.points_ingested,
    );
    g(
        "argus_store_head_points",
        "Points in memory not yet written to blocks.",
        s.head_points,
    );
    g(
        "argus_store_block_bytes",
        "Bytes of block files on disk.",
        s.block_bytes,
    );
    g(
        "argus_store_wal_bytes",
        "Bytes of write-ahead log on disk.",
        s.wal_bytes,
    );
    g(
        "argus_store_bytes_on_disk",
        "Bytes on disk (blocks and WAL).",
        s.block_bytes + s.wal_bytes,
    );
    g("argus_store_blocks", "Block files.", s.blocks);
    g(
        "argus_store_compactions",
        "Compactions and rollup builds since start.",
        s.compactions,
    );
    g(
        "argus_store_compaction_milliseconds",
        "Time spent compacting since start.",
        (s.compaction_seconds * 1000.0) as u64,
    );
    g(
        "argus_store_flushes",
        "Head flushes since start.",
        s.flushes,
    );
    g(
        "argus_store_wal_truncations",
        "Damaged WAL tails truncated at open.",
        s.wal_truncations,
    );
    r.gauge(
        "argus_store_points_rejected_by_reason",
        "Points the engine refused, by reason.",
        &[("reason", "too_old")],
    )
    .set(s.rejected_too_old as i64);
    r.gauge(
        "argus_store_points_rejected_by_reason",
        "Points the engine refused, by reason.",
        &[("reason", "cardinality")],
    )
    .set(s.rejected_cardinality as i64);
    metrics_response(&st.registry)
}

async fn write(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let enc = Encoding::from_header(
        req.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let raw = decode_body(enc, &body, st.cfg.max_body_bytes)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let binary = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(crate::codec::CONTENT_TYPE));
    Ok(HttpResponse::Ok().json(written(&st, raw, binary).await?))
}

/// Writes a request's decoded body (a binary frame, or a JSON batch) on the blocking pool.
async fn written(st: &State, raw: Vec<u8>, binary: bool) -> Result<PushResponse, ApiError> {
    let engine = st.engine.clone();
    let limits = st.cfg.limits.clone();
    let now = argus_core::time::now_secs();
    let (accepted, rejected) = web::block(move || {
        if binary {
            write_frame(&engine, &raw, &limits, now)
        } else {
            write_batch(&engine, &raw, &limits, now)
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    st.points_in.add(accepted as u64);
    st.points_rejected.add(rejected.len() as u64);
    Ok(PushResponse { accepted, rejected })
}

/// The node's write and raw selection endpoints for a transfer in the same process
/// ([`local`]): the same credential check, load shedding, size limit and work as
/// `/internal/v1/write` and `/internal/v1/query/select`, without the HTTP request and the
/// encoding of its answer.
struct InProcess {
    state: web::Data<State>,
    shedder: Arc<Shedder>,
}

/// A local call's error as the HTTP endpoint's status and message.
fn refusal(e: ApiError) -> local::Refusal {
    local::Refusal {
        status: e.status.as_u16(),
        message: e.message,
        retry_after: e.retry_after,
    }
}

impl InProcess {
    /// The internal credential check of every internal route; the client sends no token when
    /// it has none, as over HTTP.
    fn check(&self, token: &str) -> Result<(), local::Refusal> {
        let presented = (!token.is_empty()).then_some(token);
        check_internal_token(presented, &self.state.cfg.internal_token).map_err(refusal)
    }
}

impl local::LocalNode for InProcess {
    fn select(&self, token: &str, q: SelectQuery) -> local::SelectAnswer {
        let checked = self.check(token);
        let engine = self.state.engine.clone();
        Box::pin(async move {
            checked?;
            let exact = select_checked(&q).map_err(refusal)?;
            web::block(move || select_local(&engine, &q, &exact))
                .await
                .map_err(|e| refusal(ApiError::internal(e.to_string())))?
                .map_err(|e| refusal(ApiError::bad_request(e.to_string())))
        })
    }

    fn write_frame(&self, token: &str, frame: Vec<u8>) -> local::WriteAnswer {
        let st = self.state.clone();
        let checked = self.check(token);
        let admitted = self.shedder.try_enter();
        Box::pin(async move {
            checked?;
            let _permit = admitted.map_err(refusal)?;
            if frame.len() > st.cfg.max_body_bytes {
                return Err(refusal(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "body of {} bytes is over max_body_bytes ({})",
                        frame.len(),
                        st.cfg.max_body_bytes
                    ),
                )));
            }
            written(&st, frame, true).await.map_err(refusal)
        })
    }
}

/// How many points a write stored, and every refused one with its index in the request.
type WriteOutcome = (usize, Vec<Rejection>);

/// Writes a binary frame from a transfer. Samples are checked here; the key of each series is
/// checked against `[limits]` once, when the engine creates the series.
fn write_frame(
    engine: &Engine,
    raw: &[u8],
    limits: &Limits,
    now: i64,
) -> Result<WriteOutcome, ApiError> {
    let points =
        crate::codec::split_frame(raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut rejected = Vec::new();
    let mut good = Vec::with_capacity(points.len());
    let mut index = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        match validate_sample(p.value, p.timestamp, p.step, limits, now) {
            Ok(()) => {
                good.push(*p);
                index.push(i);
            }
            Err(e) => rejected.push(Rejection::new(i, e)),
        }
    }
    let check = |k: &SeriesKey| validate_series(&k.endpoint, &k.metric, &k.tags, limits);
    let summary = engine
        .write_frame_at(&good, &check, now)
        .map_err(store_error)?;
    Ok(merge(summary, &index, rejected))
}

/// Writes a JSON Argus batch (points carrying their tenant), each point checked whole.
fn write_batch(
    engine: &Engine,
    raw: &[u8],
    limits: &Limits,
    now: i64,
) -> Result<WriteOutcome, ApiError> {
    let (good, mut rejected) =
        Batch::decode(raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut points = Vec::with_capacity(good.len());
    let mut index = Vec::with_capacity(good.len());
    for (i, p) in good {
        match validate_point(&p, limits, now) {
            Ok(()) => {
                points.push(p);
                index.push(i);
            }
            Err(e) => rejected.push(Rejection::new(i, e)),
        }
    }
    let summary = engine.write_at(&points, now).map_err(store_error)?;
    Ok(merge(summary, &index, rejected))
}

/// The engine's summary with its indices mapped back to the request's, joined to the
/// rejections made before the engine, in request order.
fn merge(summary: WriteSummary, index: &[usize], mut rejected: Vec<Rejection>) -> WriteOutcome {
    for mut r in summary.rejected {
        r.index = index[r.index];
        rejected.push(r);
    }
    rejected.sort_by_key(|r| r.index);
    (summary.accepted, rejected)
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::DiskFull(_) => ApiError {
            retry_after: Some(30),
            ..ApiError::new(StatusCode::INSUFFICIENT_STORAGE, e.to_string())
        },
        e => ApiError::unavailable(e.to_string(), 5),
    }
}

async fn query_range(
    req: HttpRequest,
    q: web::Json<RangeQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let engine = st.engine.clone();
    let r = web::block(move || engine.query_range(&q))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    r.map(|d| HttpResponse::Ok().json(d))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `POST /internal/v1/query/select`: the series whose PromQL labels satisfy the matchers, with
/// their raw points in `[start, end]`. The index narrows by a superset selector; the exact
/// matchers then run on each series' labels, here, so only selected series leave the node.
/// Series without points in the range are left out, as PromQL does not see them.
async fn query_select(
    req: HttpRequest,
    q: web::Json<SelectQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let q = q.into_inner();
    let exact = select_checked(&q)?;
    // A reader that speaks the binary answer says so; others (older transfers) get JSON.
    let binary = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == series_wire::CONTENT_TYPE));
    let engine = st.engine.clone();
    // Encoding is per point, as the read is: both off the server's worker thread.
    let r = web::block(move || {
        select_local(&engine, &q, &exact).map(|d| {
            if binary {
                series_wire::encode(&d)
            } else {
                serde_json::to_vec(&d).expect("series serialize")
            }
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let body = r.map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type(if binary {
            series_wire::CONTENT_TYPE
        } else {
            "application/json"
        })
        .body(body))
}

/// `q`'s matchers compiled, once the query is known to be well formed.
fn select_checked(q: &SelectQuery) -> Result<CompiledMatchers, ApiError> {
    let exact = CompiledMatchers::new(&q.matchers)
        .map_err(|e| ApiError::bad_field("matchers", e.message))?;
    if q.end < q.start {
        return Err(ApiError::bad_field("end", "must not be before start"));
    }
    Ok(exact)
}

/// This node's series selected by `q`'s PromQL matchers (`exact`, compiled).
fn select_local(
    engine: &Engine,
    q: &SelectQuery,
    exact: &CompiledMatchers,
) -> Result<Vec<SeriesData>, StoreError> {
    let range = RangeQuery {
        tenant: q.tenant.clone(),
        selector: prefilter(&q.matchers),
        start: q.start,
        end: q.end,
        step: None,
        aggregation: Aggregation::default(),
        group_by: None,
    };
    Ok(engine
        .query_range(&range)?
        .into_iter()
        .filter(|d| !d.points.is_empty() && exact.matches(&labels_of(&d.key)))
        .take(q.limit.unwrap_or(usize::MAX))
        .map(|mut d| {
            if q.series_only {
                d.points = Vec::new();
            }
            d
        })
        .collect())
}

/// `POST /internal/v1/query/eval`: partial aggregations of a split PromQL query over this
/// node's series, for a region of one storage node (the transfer's endpoint otherwise).
async fn query_eval(
    req: HttpRequest,
    q: web::Json<RegionEval>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let binary = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(split::accepts_binary);
    let q = q.into_inner();
    let engine = st.engine.clone();
    let r = web::block(move || -> Result<Vec<u8>, ApiError> {
        let error = |e: argus_promql::Error| {
            let status = StatusCode::from_u16(argus_promql::json::status(e.kind))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ApiError::new(status, e.message)
        };
        let mut answers = Vec::new();
        for (query, selections) in q.plan().map_err(error)? {
            let mut fetched = Fetched::new();
            for sel in selections {
                let exact = CompiledMatchers::new(&sel.matchers).map_err(error)?;
                let series = select_local(&engine, &q.select_query(&sel), &exact)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?
                    .into_iter()
                    .map(into_series)
                    .collect();
                fetched.insert(sel.key(), series);
            }
            answers.push(q.answer(&query, fetched).map_err(error)?);
        }
        if binary {
            return Ok(split::encode_partials(&answers));
        }
        let json: Vec<Vec<PartialSeries>> = answers
            .iter()
            .map(|list| list.iter().map(PartialSeries::from_series).collect())
            .collect();
        Ok(serde_json::to_vec(&json).expect("partial answers serialize"))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type(if binary {
            split::PARTIALS_CONTENT_TYPE
        } else {
            "application/json"
        })
        .body(r?))
}

async fn query_last(
    req: HttpRequest,
    q: web::Json<LastQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    st.engine
        .last(&q)
        .map(|d| HttpResponse::Ok().json(d))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn query_series(
    req: HttpRequest,
    q: web::Json<SeriesQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    st.engine
        .series(&q)
        .map(|d| HttpResponse::Ok().json(d))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn query_labels(
    req: HttpRequest,
    q: web::Json<crate::engine::LabelQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    st.engine
        .labels(&q)
        .map(|d| HttpResponse::Ok().json(d))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}
