//! The running service: shared state, the HTTP server, the lease, and the background loops.

use crate::config::AlarmConfig;
use crate::confsource::ConfigSource;
use crate::db::Db;
use crate::render::Renderer;
use crate::send::Mailer;
use crate::AlarmError;
use actix_web::{web, App as ActixApp, HttpServer};
use argus_core::http::{json_config, Served};
use argus_core::telemetry::{Counter, Gauge, Registry};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

/// The service's own counters (`/metrics`).
pub struct Metrics {
    /// Events stored (duplicates excluded).
    pub events_stored: Arc<Counter>,
    /// Duplicate events acknowledged and ignored.
    pub events_duplicate: Arc<Counter>,
    /// Events decided.
    pub events_processed: Arc<Counter>,
    /// Messages created.
    pub deliveries_created: Arc<Counter>,
    /// Messages delivered.
    pub delivered: Arc<Counter>,
    /// Failed tries that will be retried.
    pub retried: Arc<Counter>,
    /// Dead-lettered messages.
    pub dead: Arc<Counter>,
    /// Groups held back by a receiver's rate limit.
    pub rate_limited: Arc<Counter>,
    /// 1 while this instance is active.
    pub active: Arc<Gauge>,
}

impl Metrics {
    fn new(r: &Registry) -> Self {
        let c = |name: &str, help: &str| r.counter(name, help, &[]);
        Metrics {
            events_stored: c("argus_alarm_events_stored_total", "Events stored."),
            events_duplicate: c(
                "argus_alarm_events_duplicate_total",
                "Duplicate events ignored.",
            ),
            events_processed: c("argus_alarm_events_processed_total", "Events decided."),
            deliveries_created: c("argus_alarm_deliveries_created_total", "Messages created."),
            delivered: c("argus_alarm_delivered_total", "Messages delivered."),
            retried: c(
                "argus_alarm_delivery_retries_total",
                "Failed tries to be retried.",
            ),
            dead: c("argus_alarm_dead_letters_total", "Messages dead-lettered."),
            rate_limited: c(
                "argus_alarm_rate_limited_total",
                "Groups held back by a rate limit.",
            ),
            active: r.gauge(
                "argus_alarm_active",
                "1 while this instance holds the lease.",
                &[],
            ),
        }
    }
}

/// Everything the handlers and loops share.
pub struct App {
    /// The configuration in force.
    pub cfg: AlarmConfig,
    /// The database.
    pub db: Db,
    /// Contacts, teams, subscriptions and silences.
    pub config: Arc<ConfigSource>,
    /// Templates.
    pub renderer: Renderer,
    /// SMTP, when configured.
    pub mailer: Option<Mailer>,
    /// Webhook client (no redirects: a public URL must not bounce to a private one).
    pub http: reqwest::Client,
    /// True while this instance holds the lease.
    pub active: AtomicBool,
    /// When the lease this instance holds runs out, by the local monotonic clock.
    pub active_until: Mutex<Option<std::time::Instant>>,
    /// This instance's lease name.
    pub instance: String,
    /// Base URL of acknowledgement links.
    pub public_url: String,
    /// Key of acknowledgement links.
    pub ack_secret: Vec<u8>,
    /// Wakes the decision loop (new events).
    pub wake_decide: Notify,
    /// Wakes the sending loop (new deliveries).
    pub wake_send: Notify,
    /// Deliveries being sent right now.
    pub in_flight: Mutex<HashSet<i64>>,
    /// Set when a due delivery found no free slot: a finishing send then wakes the loop.
    pub send_saturated: AtomicBool,
    /// Concurrent email sends.
    pub email_slots: Arc<Semaphore>,
    /// Concurrent webhook sends.
    pub webhook_slots: Arc<Semaphore>,
    /// `/metrics`.
    pub registry: Registry,
    /// Counters.
    pub metrics: Metrics,
}

impl App {
    /// True while this instance is the active one: it holds the lease and the lease, counted
    /// from before the request that took it, has not run out (a renewal stuck on a slow database
    /// must not leave two instances active).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
            && self
                .active_until
                .lock()
                .expect("lease lock")
                .is_some_and(|t| std::time::Instant::now() < t)
    }
}

/// A running alarm service.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// Shared state (tests look at it).
    pub app: Arc<App>,
    server: Served,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops serving, lets in-flight work finish, and gives the lease up.
    pub async fn stop(self) {
        self.server.stop().await;
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Let in-flight sends record their outcome.
        for _ in 0..100 {
            if self
                .app
                .in_flight
                .lock()
                .expect("in-flight lock")
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Err(e) = crate::lease::release(&self.app.db, &self.app.instance).await {
            tracing::warn!(error = %e, "cannot release the lease; the standby waits for it to expire");
        }
        self.app.db.pool.close().await;
    }
}

/// The webhook client: no redirects (a public URL must not bounce to a private one) and, unless
/// private destinations are allowed, a resolver that refuses private addresses when connecting.
fn webhook_client(
    cfg: &AlarmConfig,
    tls: &argus_core::tls::ClientTls,
) -> anyhow::Result<reqwest::Client> {
    let mut b = tls
        .builder()
        .timeout(Duration::from_millis(cfg.webhook_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("argus-alarm/", env!("CARGO_PKG_VERSION")));
    if !cfg.allow_private_webhooks {
        b = b.dns_resolver(Arc::new(crate::send::PublicOnlyResolver));
    }
    Ok(b.build()?)
}

/// `argus-alarm` and `argus alarm`: the configuration is [`AlarmConfig`], overridden by
/// `ARGUS_ALARM__*` variables.
impl argus_core::service::Component for Running {
    type Config = AlarmConfig;
    const ENV_PREFIX: &'static str = "ARGUS_ALARM";

    async fn start(cfg: AlarmConfig, _: &argus_core::service::ServiceArgs) -> anyhow::Result<Self> {
        start(cfg).await
    }

    async fn stop(self) {
        Running::stop(self).await
    }
}

/// Starts the alarm service with `cfg`.
pub async fn start(cfg: AlarmConfig) -> anyhow::Result<Running> {
    cfg.check()?;
    let db = crate::db::open(&cfg.effective_database_url()).await?;
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-alarm")?;
    let registry = Registry::new();
    // The private CA of `[tls] ca_file` is trusted for https webhooks and web.
    let client_tls = cfg.tls.client()?;
    let public_url = if cfg.public_url.is_empty() {
        format!("{}://{addr}", cfg.tls.scheme())
    } else {
        cfg.public_url.clone()
    };
    let ack_secret = if cfg.ack_secret.is_empty() {
        crate::db::ack_secret(&db).await?
    } else {
        cfg.ack_secret.as_bytes().to_vec()
    };
    let app = Arc::new(App {
        db,
        config: Arc::new(ConfigSource::new(
            cfg.tenants.clone(),
            !cfg.web_url.is_empty(),
        )),
        renderer: Renderer::new(&cfg.templates)?,
        mailer: Mailer::new(&cfg.smtp)?,
        http: webhook_client(&cfg, &client_tls)?,
        active: AtomicBool::new(false),
        active_until: Mutex::new(None),
        instance: cfg.effective_instance_id(),
        public_url,
        ack_secret,
        wake_decide: Notify::new(),
        wake_send: Notify::new(),
        in_flight: Mutex::new(HashSet::new()),
        send_saturated: AtomicBool::new(false),
        email_slots: Arc::new(Semaphore::new(cfg.concurrency)),
        webhook_slots: Arc::new(Semaphore::new(cfg.concurrency)),
        metrics: Metrics::new(&registry),
        registry,
        cfg: cfg.clone(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(lease_loop(app.clone(), stop_rx.clone())),
        tokio::spawn(decide_loop(app.clone(), stop_rx.clone())),
        tokio::spawn(send_loop(app.clone(), stop_rx.clone())),
    ];
    if !cfg.web_url.is_empty() {
        tasks.push(tokio::spawn(crate::confsource::poll_web(
            app.config.clone(),
            cfg.web_url.clone(),
            cfg.internal_token.clone(),
            Duration::from_secs(cfg.config_poll_secs.max(1)),
            client_tls.clone(),
            stop_rx.clone(),
        )));
    }
    let data = web::Data::from(app.clone());
    let routed = app.clone();
    let server = HttpServer::new(move || {
        ActixApp::new()
            .app_data(data.clone())
            .app_data(json_config(64 << 20))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                argus_core::http::ApiError::bad_request(format!("invalid query parameters: {e}"))
                    .into()
            }))
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                argus_core::http::ApiError::bad_request(format!("invalid path: {e}")).into()
            }))
            .configure(|c| crate::api::routes(c, &routed))
    })
    .workers(cfg.workers.max(1));
    let server = argus_core::http::listen(server, listener, &cfg.tls, "argus-alarm")?.run();
    tracing::info!(%addr, instance = %app.instance, "argus-alarm serving");
    Ok(Running {
        addr,
        app,
        server: Served::spawn(addr, server).with_https(cfg.tls.serves_https()),
        stop: stop_tx,
        tasks,
    })
}

async fn sleep_or_stop(
    d: Duration,
    wake: Option<&Notify>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let woken = async {
        match wake {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = woken => false,
        _ = stop.changed() => true,
    }
}

async fn lease_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let ttl = app.cfg.lease_ttl_secs as i64 * 1000;
    loop {
        let asked = std::time::Instant::now();
        let held = match crate::lease::try_acquire(&app.db, &app.instance, ttl).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "lease check failed; standing by");
                false
            }
        };
        *app.active_until.lock().expect("lease lock") =
            held.then(|| asked + Duration::from_millis(ttl as u64));
        let was = app.active.swap(held, Ordering::SeqCst);
        if held != was {
            tracing::info!(instance = %app.instance, role = if held { "active" } else { "standby" }, "alarm role changed");
            app.metrics.active.set(i64::from(held));
            if held {
                app.wake_decide.notify_one();
                app.wake_send.notify_one();
            }
        }
        if sleep_or_stop(
            Duration::from_secs(app.cfg.lease_renew_secs),
            None,
            &mut stop,
        )
        .await
        {
            return;
        }
    }
}

async fn decide_step(app: &App) -> Result<(), AlarmError> {
    while crate::decide::process_events(app, 200).await? == 200 {}
    crate::decide::escalate_due(app).await?;
    crate::decide::remind_due(app).await?;
    crate::flush::flush_due(app).await?;
    Ok(())
}

async fn decide_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(app.cfg.poll_interval_ms.max(10));
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        if app.is_active() && last_sweep.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            last_sweep = Some(std::time::Instant::now());
            if let Err(e) = crate::retention::sweep(&app).await {
                tracing::warn!(error = %e, "retention sweep failed");
            }
        }
        if app.is_active() && app.config.ready() {
            if let Err(e) = decide_step(&app).await {
                tracing::warn!(error = %e, "decision step failed; retrying");
            }
        }
        if sleep_or_stop(poll, Some(&app.wake_decide), &mut stop).await {
            return;
        }
    }
}

async fn send_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(app.cfg.poll_interval_ms.max(10));
    loop {
        if app.is_active() {
            if let Err(e) = crate::deliver::send_due(&app).await {
                tracing::warn!(error = %e, "sending step failed; retrying");
            }
        }
        if sleep_or_stop(poll, Some(&app.wake_send), &mut stop).await {
            return;
        }
    }
}
