//! The running judge: shards of the engine behind the HTTP endpoint, and the background tasks
//! (config pull, nodata ticks, snapshots, the outbox sender).

use crate::config::JudgeConfig;
use crate::engine::{Engine, Owner, SeriesSnapshot};
use crate::outbox::{run_sender, Outbox, SenderConfig};
use crate::ruler::{Ruler, RulerSetup};
use crate::rules::{Liveness, Rules};
use crate::source::Source;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use argus_core::event::Event;
use argus_core::http::{check_internal, common_routes, healthy, json_config, ApiError, Served};
use argus_core::ring::{JudgeRing, Ring};
use argus_core::series::{endpoint_hash, series_hash};
use argus_core::strategy::TenantStrategies;
use argus_core::telemetry::{Counter, Gauge, Registry};
use argus_core::validate::Rejection;
use argus_core::wire::{decode_body, frame, Batch, Encoding};
use argus_core::Point;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The judge's counters.
pub struct Metrics {
    registry: Registry,
    points: Arc<Counter>,
    rejected: Arc<Counter>,
    events: Arc<Counter>,
    series: Arc<Gauge>,
    outbox_pending: Arc<Gauge>,
    rules_generation: Arc<Gauge>,
    refused_tenants: Arc<Counter>,
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        Metrics {
            points: registry.counter("argus_judge_points_total", "Points evaluated.", &[]),
            rejected: registry.counter("argus_judge_points_rejected_total", "Points refused.", &[]),
            events: registry.counter("argus_judge_events_total", "Events emitted.", &[]),
            series: registry.gauge("argus_judge_series", "Series watched.", &[]),
            outbox_pending: registry.gauge(
                "argus_judge_outbox_pending_bytes",
                "Event bytes not yet acknowledged by alarm.",
                &[],
            ),
            rules_generation: registry.gauge(
                "argus_judge_rules_generation",
                "Strategy sets applied since start.",
                &[],
            ),
            refused_tenants: registry.counter(
                "argus_judge_refused_tenant_configs_total",
                "Tenant strategy sets refused as invalid (the last good set stays).",
                &[],
            ),
            registry,
        }
    }
}

/// The state shared by the handlers and tasks.
pub struct Judge {
    shards: Vec<Mutex<Engine>>,
    ruler: Arc<Ruler>,
    rules: Mutex<Arc<Rules>>,
    liveness: Option<Liveness>,
    outbox: Arc<Outbox>,
    state_path: PathBuf,
    metrics: Metrics,
    internal_token: String,
    max_body: usize,
    /// The region's judge ring as the transfers route by it (`None`: this judge takes all).
    ring: Arc<RwLock<Option<RingView>>>,
    /// For handing state to other judges.
    client: reqwest::Client,
}

/// Most series in one hand-over request.
const HAND_OVER_PART: usize = 2_000;

/// The judge ring and this judge's place on it.
#[derive(Clone)]
pub(crate) struct RingView {
    announced: JudgeRing,
    ring: Ring,
    me: Option<usize>,
}

impl RingView {
    fn new(announced: JudgeRing) -> Self {
        let (ring, me) = announced.build();
        RingView {
            announced,
            ring,
            me,
        }
    }

    /// The owner's index of a tenant's endpoint.
    fn owner(&self, tenant: &argus_core::TenantId, endpoint: &str) -> Option<usize> {
        self.ring.owner(endpoint_hash(tenant, endpoint))
    }

    fn owns(&self, tenant: &argus_core::TenantId, endpoint: &str) -> bool {
        self.me.is_some() && self.owner(tenant, endpoint) == self.me
    }
}

/// The state file, and the body of a hand-over between judges (`POST /internal/v1/state`).
#[derive(Serialize, Deserialize)]
struct StateFile {
    series: Vec<SeriesSnapshot>,
}

impl Judge {
    /// The shard of a tenant's endpoint: all its metrics in one engine, as conditions across
    /// metrics read them together.
    fn shard(&self, tenant: &argus_core::TenantId, endpoint: &str) -> usize {
        shard_of(tenant, endpoint, self.shards.len())
    }

    /// Evaluates `points` (tenant set) and makes the resulting events durable in the outbox.
    pub fn ingest(&self, points: &[Point]) -> std::io::Result<usize> {
        let n = self.shards.len();
        let mut by_shard: Vec<Vec<(u64, &Point)>> = vec![Vec::new(); n];
        for p in points {
            let h = series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags);
            by_shard[self.shard(&p.tenant, &p.endpoint)].push((h, p));
        }
        let mut events = Vec::new();
        let mut series = 0;
        for (i, ps) in by_shard.iter().enumerate() {
            let mut e = self.shards[i].lock().expect("shard lock");
            for (h, p) in ps {
                e.ingest_hashed(p, *h, &mut events);
            }
            series += e.series_count();
        }
        self.metrics.series.set(series as i64);
        self.emit(&events)?;
        Ok(points.len())
    }

    fn emit(&self, events: &[Event]) -> std::io::Result<()> {
        self.outbox.append(events)?;
        self.metrics.events.add(events.len() as u64);
        self.metrics
            .outbox_pending
            .set(self.outbox.pending_bytes() as i64);
        Ok(())
    }

    /// Fires the nodata checks due at `now`.
    pub fn tick(&self, now: i64) -> std::io::Result<()> {
        let mut events = Vec::new();
        for s in &self.shards {
            s.lock().expect("shard lock").tick(now, &mut events);
        }
        self.emit(&events)
    }

    /// Applies a new set of tenant models; refused tenants keep their last good rules.
    pub fn apply(&self, sets: &[TenantStrategies]) {
        let mut cur = self.rules.lock().expect("rules lock");
        let (rules, refused) = Rules::build_with(sets, Some(&cur), self.liveness.as_ref());
        for r in &refused {
            tracing::error!(tenant = %r.tenant, error = %r.error, "strategies refused; keeping the last good set");
        }
        self.metrics.refused_tenants.add(refused.len() as u64);
        let rules = Arc::new(rules);
        let now = argus_core::time::now_secs();
        let mut closed = Vec::new();
        for s in &self.shards {
            s.lock()
                .expect("shard lock")
                .set_rules(rules.clone(), now, &mut closed);
        }
        if let Err(e) = self.emit(&closed) {
            tracing::error!(error = %e, events = closed.len(), "could not write the OK events of removed strategies to the outbox");
        }
        self.metrics.rules_generation.set(rules.generation as i64);
        tracing::info!(
            tenants = rules.tenants.len(),
            generation = rules.generation,
            "strategies applied"
        );
        *cur = rules;
    }

    /// Forgets idle series (see [`JudgeConfig::series_ttl_secs`]); returns how many.
    pub fn evict_idle(&self, now: i64, ttl_secs: u64) -> usize {
        if ttl_secs == 0 {
            return 0;
        }
        let ttl = ttl_secs as i64;
        let mut n = 0;
        for s in &self.shards {
            n += s
                .lock()
                .expect("shard lock")
                .evict_idle(now - ttl, now - 4 * ttl);
        }
        n
    }

    /// Writes every shard's series state to the state file (atomically).
    pub fn snapshot(&self) -> anyhow::Result<usize> {
        let mut series = Vec::new();
        for s in &self.shards {
            series.extend(s.lock().expect("shard lock").snapshot());
        }
        let n = series.len();
        let tmp = self.state_path.with_extension("tmp");
        let body = serde_json::to_vec(&StateFile { series })?;
        std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.state_path)
            .with_context(|| format!("writing {}", self.state_path.display()))?;
        Ok(n)
    }

    fn restore(&self) -> anyhow::Result<usize> {
        let body = match std::fs::read(&self.state_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", self.state_path.display()))
            }
        };
        let state: StateFile = serde_json::from_slice(&body)
            .with_context(|| format!("state file {} is unreadable", self.state_path.display()))?;
        let n = state.series.len();
        let mut parts: Vec<Vec<SeriesSnapshot>> = vec![Vec::new(); self.shards.len()];
        for s in state.series {
            parts[self.shard(&s.key.tenant, &s.key.endpoint)].push(s);
        }
        for (i, p) in parts.into_iter().enumerate() {
            self.shards[i].lock().expect("shard lock").restore(p);
        }
        Ok(n)
    }
}

impl Judge {
    /// Takes the ring a transfer announced. Returns whether it differs from the one in force.
    fn set_ring(&self, announced: JudgeRing) -> bool {
        let mut cur = self.ring.write().expect("ring lock");
        if cur.as_ref().is_some_and(|v| v.announced == announced) {
            return false;
        }
        tracing::info!(judges = announced.members.len(), this = %announced.this, "judge ring changed");
        *cur = Some(RingView::new(announced));
        true
    }

    /// Sends the state of every series whose endpoint another judge owns on the ring to that
    /// judge, and forgets it here; series whose owner cannot take them stay (and go at the next
    /// announcement). Returns how many series moved.
    pub async fn hand_over(&self) -> usize {
        let Some(view) = self.ring.read().expect("ring lock").clone() else {
            return 0;
        };
        let mut gone = Vec::new();
        for s in &self.shards {
            gone.extend(
                s.lock()
                    .expect("shard lock")
                    .hand_off(|t, e| view.owns(t, e)),
            );
        }
        if gone.is_empty() {
            return 0;
        }
        let mut by_owner: Vec<Vec<SeriesSnapshot>> = vec![Vec::new(); view.ring.members().len()];
        for s in gone {
            if let Some(o) = view.owner(&s.key.tenant, &s.key.endpoint) {
                by_owner[o].push(s);
            }
        }
        let mut moved = 0;
        for (o, series) in by_owner.into_iter().enumerate() {
            let to = &view.ring.members()[o];
            let url = format!("{to}/internal/v1/state");
            let mut left = series;
            // In parts well under any judge's body limit.
            while !left.is_empty() {
                let rest = left.split_off(left.len().min(HAND_OVER_PART));
                let body = StateFile { series: left };
                let mut req = self.client.post(&url).json(&body);
                if !self.internal_token.is_empty() {
                    req = req.bearer_auth(&self.internal_token);
                }
                let sent = match req.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = sent {
                    let n = body.series.len() + rest.len();
                    tracing::warn!(series = n, to = %url, error = %e, "hand-over failed; the series stay here until the next announcement");
                    self.adopt(body.series);
                    self.adopt(rest);
                    break;
                }
                moved += body.series.len();
                tracing::info!(series = body.series.len(), %to, "series handed over");
                left = rest;
            }
        }
        if moved > 0 {
            // A restart must not bring back what left.
            if let Err(e) = self.snapshot() {
                tracing::error!(error = %format!("{e:#}"), "judge state not saved");
            }
        }
        moved
    }

    /// Takes over series another judge handed over.
    fn adopt(&self, series: Vec<SeriesSnapshot>) -> usize {
        let n = series.len();
        let mut parts: Vec<Vec<SeriesSnapshot>> = vec![Vec::new(); self.shards.len()];
        for s in series {
            parts[self.shard(&s.key.tenant, &s.key.endpoint)].push(s);
        }
        for (i, p) in parts.into_iter().enumerate() {
            if !p.is_empty() {
                self.shards[i].lock().expect("shard lock").adopt(p);
            }
        }
        n
    }

    /// Starts watching the registered hosts this judge newly owns.
    fn rewatch(&self) {
        let now = argus_core::time::now_secs();
        for s in &self.shards {
            s.lock().expect("shard lock").rewatch(now);
        }
    }
}

/// The shard of a tenant's endpoint among `n`.
fn shard_of(tenant: &argus_core::TenantId, endpoint: &str, n: usize) -> usize {
    // The high bits: transfers route by the same hash, so its low bits are correlated here.
    ((endpoint_hash(tenant, endpoint) >> 40) as usize) % n
}

/// The liveness check of `cfg` (`None` when disabled).
fn liveness(cfg: &JudgeConfig) -> Option<Liveness> {
    let l = &cfg.liveness;
    l.enabled.then(|| Liveness {
        metric: l.metric.clone(),
        down_after_secs: l.down_after_secs,
        priority: argus_core::strategy::Priority::new(l.priority).unwrap_or_default(),
    })
}

/// The engine of shard `i` of `n`.
fn engine(cfg: &JudgeConfig, ring: &Arc<RwLock<Option<RingView>>>, i: usize, n: usize) -> Engine {
    let mut e = Engine::new(cfg.region.clone());
    e.set_owner(owner(ring, i, n));
    e
}

/// Which hosts shard `i` of `n` watches for liveness before they report: its shard of those the
/// judge owns on the ring in force (announced by the transfers, else `[liveness] ring`).
fn owner(ring: &Arc<RwLock<Option<RingView>>>, i: usize, n: usize) -> Owner {
    let ring = ring.clone();
    Arc::new(move |t, host| {
        shard_of(t, host, n) == i
            && ring
                .read()
                .expect("ring lock")
                .as_ref()
                .is_none_or(|v| v.owns(t, host))
    })
}

/// The ring of `[liveness] ring`, in force until a transfer announces one.
fn configured_ring(cfg: &JudgeConfig) -> Option<RingView> {
    let l = &cfg.liveness;
    (!l.ring.is_empty()).then(|| {
        RingView::new(JudgeRing {
            members: l.ring.clone(),
            vnodes: l.vnodes,
            this: l.self_url.clone(),
        })
    })
}

/// A running judge.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    server: Served,
    judge: Arc<Judge>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The shared state (for tests and embedding).
    pub fn judge(&self) -> &Arc<Judge> {
        &self.judge
    }

    /// Stops serving, stops the background tasks and snapshots the series state.
    pub async fn stop(self) {
        self.server.stop().await;
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        match self.judge.snapshot() {
            Ok(n) => tracing::info!(series = n, "judge state saved"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "judge state not saved"),
        }
        if let Err(e) = self.judge.ruler.save() {
            tracing::error!(error = %format!("{e:#}"), "rules: alerts not saved");
        }
    }
}

/// `argus-judge` and `argus judge`: the configuration is [`JudgeConfig`], overridden by
/// `ARGUS_JUDGE__*` variables.
impl argus_core::service::Component for Running {
    type Config = JudgeConfig;
    const ENV_PREFIX: &'static str = "ARGUS_JUDGE";

    async fn start(cfg: JudgeConfig, _: &argus_core::service::ServiceArgs) -> anyhow::Result<Self> {
        start(cfg).await
    }

    async fn stop(self) {
        Running::stop(self).await
    }
}

/// Starts a judge with `cfg`: loads strategies (static file, cached center answer), restores the
/// saved state, serves points and runs the background tasks.
pub async fn start(cfg: JudgeConfig) -> anyhow::Result<Running> {
    cfg.check()?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;
    // The private CA of `[tls] ca_file` is trusted for https alarm and config center URLs.
    let client = cfg
        .tls
        .client()?
        .builder()
        .timeout(Duration::from_millis(cfg.request_timeout_ms))
        .build()?;
    let outbox = Outbox::open(&cfg.data_dir.join("outbox"))?;
    let metrics = Metrics::new();
    // Bytes to the global zone (events to alarm, config pulls, global rules' queries).
    let xr = argus_core::telemetry::CrossRegion::new(&metrics.registry, &cfg.region);
    let ruler = Ruler::new(RulerSetup {
        cfg: cfg.rules.clone(),
        region: cfg.region.clone(),
        token: cfg.internal_token.clone(),
        web: cfg.config_center.clone(),
        data_dir: cfg.data_dir.clone(),
        forget_after_secs: cfg.series_ttl_secs,
        client: client.clone(),
        outbox: outbox.clone(),
        xr: xr.clone(),
        registry: metrics.registry.clone(),
        events: metrics.events.clone(),
    })?;
    let ring = Arc::new(RwLock::new(configured_ring(&cfg)));
    let judge = Arc::new(Judge {
        shards: (0..cfg.shard_count())
            .map(|i| Mutex::new(engine(&cfg, &ring, i, cfg.shard_count())))
            .collect(),
        ring,
        client: client.clone(),
        ruler,
        rules: Mutex::new(Arc::new(Rules::default())),
        liveness: liveness(&cfg),
        outbox: outbox.clone(),
        state_path: cfg.data_dir.join("state.json"),
        metrics,
        internal_token: cfg.internal_token.clone(),
        max_body: cfg.max_body_bytes,
    });
    let mut source = Source::new(&cfg, client.clone());
    source.count_with(xr.clone());
    source.init()?;
    // One pull before serving, so that a fresh judge starts with the center's set (on failure it
    // goes on with the cached one and retries every interval).
    source.poll().await;
    judge.apply(&source.combined());
    judge.ruler.pull().await;
    let restored = judge.restore()?;
    tracing::info!(series = restored, "judge state restored");

    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-judge")?;
    let max = cfg.max_body_bytes;
    let data = web::Data::new(judge.clone());
    let internal_token = cfg.internal_token.clone();
    let http = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(json_config(max))
            .app_data(web::PayloadConfig::new(max))
            .configure(|c| {
                let j = data.clone();
                common_routes(c, healthy, move |_: &HttpRequest| {
                    // The sender acknowledges in the background: read the backlog now.
                    j.metrics
                        .outbox_pending
                        .set(j.outbox.pending_bytes() as i64);
                    let mut body = j.metrics.registry.render();
                    body.push_str(&j.ruler.render_metrics());
                    HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4")
                        .body(body)
                })
            })
            .route(
                "/internal/v1/rules/status",
                web::get()
                    .to(|j: web::Data<Arc<Judge>>| async move {
                        HttpResponse::Ok().json(j.ruler.status())
                    })
                    .wrap(argus_core::internal_auth::InternalOnly::token(
                        internal_token.clone(),
                    )),
            )
            .route(
                "/internal/v1/ring",
                web::post().to(ring_announced).wrap(
                    argus_core::internal_auth::InternalOnly::token(internal_token.clone()),
                ),
            )
            .route(
                "/internal/v1/state",
                web::post().to(state_handed_over).wrap(
                    argus_core::internal_auth::InternalOnly::token(internal_token.clone()),
                ),
            )
            .route(
                "/internal/v1/points",
                // The credential is checked before the body is read.
                web::post()
                    .to(points)
                    .wrap(argus_core::internal_auth::InternalOnly::token(
                        internal_token.clone(),
                    )),
            )
    });
    let mut http = argus_core::http::listen(http, listener, &cfg.tls, "argus-judge")?;
    if cfg.workers > 0 {
        http = http.workers(cfg.workers);
    }
    let server = Served::spawn(addr, http.run()).with_https(cfg.tls.serves_https());

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(run_sender(
        outbox,
        SenderConfig {
            alarms: cfg.alarm.clone(),
            token: cfg.internal_token.clone(),
            batch: cfg.outbox_batch,
            max_backoff: Duration::from_millis(cfg.max_backoff_ms),
            client,
            xr,
        },
    )));
    let j = judge.clone();
    let every = Duration::from_secs(cfg.pull_interval_secs);
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if source.poll().await {
                let sets = source.combined();
                let j = j.clone();
                let _ = tokio::task::spawn_blocking(move || j.apply(&sets)).await;
            }
        }
    }));
    let j = judge.clone();
    tasks.push(tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_secs(1));
        loop {
            iv.tick().await;
            if let Err(e) = j.tick(argus_core::time::now_secs()) {
                tracing::error!(error = %e, "nodata events not written to the outbox");
            }
        }
    }));
    let j = judge.clone();
    let every = Duration::from_secs(cfg.snapshot_interval_secs.max(1));
    let ttl = cfg.series_ttl_secs;
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let j = j.clone();
            let work = move || {
                let dropped = j.evict_idle(argus_core::time::now_secs(), ttl);
                if dropped > 0 {
                    tracing::info!(series = dropped, "idle series forgotten");
                }
                j.snapshot()
            };
            if let Ok(Err(e)) = tokio::task::spawn_blocking(work).await {
                tracing::error!(error = %format!("{e:#}"), "judge state not saved");
            }
        }
    }));
    tasks.push(tokio::spawn(judge.ruler.clone().run()));
    tasks.push(tokio::spawn(
        judge
            .ruler
            .clone()
            .run_pulls(Duration::from_secs(cfg.pull_interval_secs)),
    ));
    // The rules' status to web, named by this judge's URL (stable across restarts with a
    // fixed `listen`).
    let scheme = if cfg.tls.serves_https() {
        "https"
    } else {
        "http"
    };
    tasks.push(tokio::spawn(judge.ruler.clone().run_reports(
        Duration::from_secs(cfg.pull_interval_secs),
        format!("{scheme}://{addr}"),
    )));
    tracing::info!(%addr, region = %cfg.region, "argus-judge serving");
    Ok(Running {
        addr,
        server,
        judge,
        tasks,
    })
}

/// `POST /internal/v1/points`: a batch whose points carry their tenant (binary frame or JSON).
async fn points(
    req: HttpRequest,
    body: web::Bytes,
    j: web::Data<Arc<Judge>>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &j.internal_token)?;
    let enc = Encoding::from_header(
        req.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let raw =
        decode_body(enc, &body, j.max_body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The binary point frame transfers send, or an Argus JSON batch.
    let binary = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(frame::CONTENT_TYPE));
    let (good, mut rejected) = if binary {
        frame::decode_lenient(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?
    } else {
        Batch::decode(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let mut pts = Vec::with_capacity(good.len());
    for (i, p) in good {
        if p.tenant.is_unset() {
            rejected.push(Rejection {
                index: i,
                field: "tenant".into(),
                reason: "must be set by the transfer".into(),
            });
        } else {
            pts.push(p);
        }
    }
    let judge = j.get_ref().clone();
    let accepted = web::block(move || judge.ingest(&pts))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(format!("outbox: {e}"), 5))?;
    j.metrics.points.add(accepted as u64);
    j.metrics.rejected.add(rejected.len() as u64);
    rejected.sort_by_key(|r| r.index);
    Ok(HttpResponse::Ok().json(serde_json::json!({"accepted": accepted, "rejected": rejected})))
}

/// `POST /internal/v1/ring`: a transfer announces the judge ring it routes by. Series this
/// judge no longer owns go to their owner before the answer (all of them when it is not on the
/// ring any more).
async fn ring_announced(
    body: web::Json<JudgeRing>,
    j: web::Data<Arc<Judge>>,
) -> Result<HttpResponse, ApiError> {
    let announced = body.into_inner();
    // A judge not among the members has left the ring: it hands everything over.
    if announced.members.is_empty() {
        return Err(ApiError::bad_request(
            "members: the judge ring has no member".to_string(),
        ));
    }
    let changed = j.set_ring(announced);
    let moved = j.hand_over().await;
    if changed {
        let judge = j.get_ref().clone();
        let _ = web::block(move || judge.rewatch()).await;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"changed": changed, "handed_over": moved})))
}

/// `POST /internal/v1/state`: another judge hands over the state of endpoints this one now
/// owns.
async fn state_handed_over(
    body: web::Json<StateFile>,
    j: web::Data<Arc<Judge>>,
) -> Result<HttpResponse, ApiError> {
    let series = body.into_inner().series;
    let judge = j.get_ref().clone();
    let n = web::block(move || judge.adopt(series))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    tracing::info!(series = n, "series taken over");
    Ok(HttpResponse::Ok().json(serde_json::json!({"adopted": n})))
}

impl Judge {
    /// Path of the state file.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_owners_split_hosts_between_judges_and_shards() {
        let mut cfg = JudgeConfig::default();
        cfg.liveness.ring = vec!["http://j1:1".into(), "http://j2:1/".into()];
        let t = argus_core::TenantId::new("acme").unwrap();
        let hosts: Vec<String> = (0..200).map(|h| format!("h{h}")).collect();
        let mut claimed = vec![0; hosts.len()];
        let ring = argus_core::ring::Ring::new(&cfg.liveness.ring, cfg.liveness.vnodes);
        for (j, url) in ["http://j1:1", "http://j2:1"].iter().enumerate() {
            cfg.liveness.self_url = url.to_string();
            let view = Arc::new(RwLock::new(configured_ring(&cfg)));
            let owners: Vec<Owner> = (0..3).map(|i| owner(&view, i, 3)).collect();
            for (k, h) in hosts.iter().enumerate() {
                let n = owners.iter().filter(|o| o(&t, h)).count();
                // The transfers send the host's points to the ring's owner: the same judge.
                let mine = ring.owner(endpoint_hash(&t, h)) == Some(j);
                assert_eq!(n, usize::from(mine), "{h} on judge {url}");
                claimed[k] += n;
            }
        }
        assert!(claimed.iter().all(|&c| c == 1), "each host watched once");
        // Without a ring, the judge watches every host (in one of its shards).
        let view = Arc::new(RwLock::new(configured_ring(&JudgeConfig::default())));
        let o: Vec<Owner> = (0..2).map(|i| owner(&view, i, 2)).collect();
        assert!(hosts
            .iter()
            .all(|h| o.iter().filter(|o| o(&t, h)).count() == 1));
    }
}
