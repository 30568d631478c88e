//! The agent: push port, collection loop (host metrics, log rules, probes), plugins, config
//! pull, heartbeat and the send loop, started together.

use crate::collect::Collector;
use crate::config::AgentConfig;
use crate::logwatch::LogWatcher;
use crate::plugins::{self, PluginContext};
use crate::pluginsync;
use crate::probes;
use crate::push::{self, Format};
use crate::remote;
use crate::sender::{Queue, SendLoop, SendMetrics, SendOptions, Sender};
use crate::spool::{Spool, SpoolMetrics};
use actix_web::{web, App, HttpRequest, HttpServer};
use argus_core::agentconf::{AgentRemoteConfig, Heartbeat, PluginRepo, PluginSpec};
use argus_core::http::{common_routes, healthy, metrics_response, Served};
use argus_core::telemetry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// State shared by the push port's handlers.
pub struct Shared {
    /// The configuration in force.
    pub cfg: AgentConfig,
    /// The endpoint name this host reports as.
    pub endpoint: String,
    /// Outgoing points.
    pub queue: Arc<Queue>,
    /// `/metrics`.
    pub registry: Registry,
}

/// Tasks aborted when dropped, so that stopping the agent stops everything it spawned.
#[derive(Default)]
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// A running agent.
pub struct Running {
    /// The push port.
    pub server: Served,
    /// Outgoing points.
    pub queue: Arc<Queue>,
    /// The data directory in use; `None` when state lives in memory only.
    pub data_dir: Option<PathBuf>,
    /// `/metrics` of the agent.
    pub registry: Registry,
    stop_tx: watch::Sender<bool>,
    send_task: JoinHandle<()>,
    tasks: Tasks,
    _lock: Option<std::fs::File>,
}

impl Running {
    /// Stops the push port and the loops; points not yet sent are written to the on-disk buffer
    /// (when there is a data directory), to be sent after the next start.
    pub async fn stop(self) {
        self.server.stop().await;
        drop(self.tasks);
        let _ = self.stop_tx.send(true);
        let abort = self.send_task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(30), self.send_task)
            .await
            .is_err()
        {
            tracing::warn!("send loop did not finish in 30 s; stopping it");
            abort.abort();
        }
    }
}

/// Opens `data_dir` and takes its lock; `None` (with a warning) when there is none, it cannot be
/// created, or another agent holds it: two agents sharing a buffer would send points twice.
fn open_data_dir(dir: &str) -> Option<(PathBuf, std::fs::File)> {
    use std::os::unix::io::AsRawFd;
    if dir.is_empty() {
        tracing::warn!(
            "no data_dir: unsent points, log offsets and the config cache live in memory only"
        );
        return None;
    }
    let path = PathBuf::from(dir);
    let lock = std::fs::create_dir_all(&path).and_then(|_| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join("lock"))
    });
    let lock = match lock {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(data_dir = dir, error = %e, "cannot use data_dir; keeping state in memory only");
            return None;
        }
    };
    // SAFETY: flock(2) on a descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        tracing::warn!(
            data_dir = dir,
            "another agent uses data_dir; keeping state in memory only"
        );
        return None;
    }
    Some((path, lock))
}

/// `argus-agent` and `argus agent`: the configuration is [`AgentConfig`], overridden by
/// `ARGUS_AGENT__*` variables.
impl argus_core::service::Component for Running {
    type Config = AgentConfig;
    const ENV_PREFIX: &'static str = "ARGUS_AGENT";

    async fn start(cfg: AgentConfig, _: &argus_core::service::ServiceArgs) -> anyhow::Result<Self> {
        start(cfg).await
    }

    async fn stop(self) {
        Running::stop(self).await
    }
}

/// Starts the agent with `cfg`.
pub async fn start(cfg: AgentConfig) -> anyhow::Result<Running> {
    // The file's checks are refused at start with the center's rules (port, path, process).
    AgentRemoteConfig {
        listen_ports: cfg.listen_ports.clone(),
        procs: cfg.procs.clone(),
        du_paths: cfg.du_paths.clone(),
        ..Default::default()
    }
    .validate()
    .map_err(|e| anyhow::anyhow!("agent config: {e}"))?;
    // Refused here rather than by the center at every heartbeat.
    argus_core::validate::validate_tags(&cfg.tags, &argus_core::validate::Limits::default())
        .map_err(|e| anyhow::anyhow!("agent config: {e}"))?;
    let endpoint = cfg.endpoint();
    let registry = Registry::new();
    let dropped = |reason| {
        registry.counter(
            "argus_agent_points_dropped_total",
            "Points dropped, by reason.",
            &[("reason", reason)],
        )
    };
    let mut queue = Queue::new(cfg.buffer_max_points, dropped("queue_full"));
    if cfg.tags_on_points {
        queue = queue.with_tags(cfg.tags.clone());
    }
    let queue = Arc::new(queue);
    let data = open_data_dir(&cfg.data_dir);
    let data_dir = data.as_ref().map(|(p, _)| p.clone());
    let spool = match &data_dir {
        Some(d) => Some(Spool::open(
            &d.join("buffer"),
            cfg.buffer_max_bytes,
            SpoolMetrics {
                dropped_full: dropped("buffer_full"),
                dropped_corrupt: dropped("buffer_corrupt"),
                bytes: registry.gauge(
                    "argus_agent_buffer_bytes",
                    "Bytes in the on-disk buffer.",
                    &[],
                ),
                points: registry.gauge(
                    "argus_agent_buffer_points",
                    "Points in the on-disk buffer.",
                    &[],
                ),
            },
        )?),
        None => None,
    };
    // The private CA of `[tls] ca_file`, for https transfers and config center.
    let client_tls = cfg.tls.client()?;
    let server = serve(&cfg, &endpoint, &queue, &registry)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let send_task = tokio::spawn(
        SendLoop {
            queue: queue.clone(),
            sender: Sender::with_tls(cfg.transfers.clone(), cfg.token.clone(), &client_tls),
            spool,
            opts: SendOptions {
                batch_max: cfg.batch_max_points.max(1),
                interval: Duration::from_millis(cfg.flush_interval_ms.max(10)),
                backoff_initial: Duration::from_millis(cfg.backoff_initial_ms.max(1)),
                backoff_max: Duration::from_millis(
                    cfg.backoff_max_ms.max(cfg.backoff_initial_ms).max(1),
                ),
            },
            metrics: SendMetrics::new(&registry),
        }
        .run(stop_rx),
    );
    let mut tasks = Tasks::default();
    let (cfg_tx, cfg_rx) = watch::channel(Arc::new(AgentRemoteConfig::default()));
    let centers = cfg.config_centers();
    if !centers.is_empty() {
        let mut puller = remote::Puller::with_centers(
            &centers,
            &endpoint,
            &cfg.token,
            remote::cache_path(data_dir.as_deref()),
        )
        .with_tls(&client_tls);
        if let Some(c) = puller.load_cache() {
            tracing::info!(version = %c.version, "starting from the cached config");
            let _ = cfg_tx.send(Arc::new(c));
        }
        tasks.0.push(tokio::spawn(remote::pull_loop(
            puller,
            Duration::from_secs(cfg.config_interval_secs.max(1)),
            check_remote,
            cfg_tx,
            registry.counter(
                "argus_agent_config_pull_failures_total",
                "Config pulls from the center that failed (the last good config stays).",
                &[],
            ),
        )));
        tasks.0.push(tokio::spawn(remote::heartbeat_loop_to(
            centers.clone(),
            cfg.token.clone(),
            Heartbeat {
                tags: cfg.tags.clone(),
                ..remote::host_facts(&endpoint, &centers[0])
            },
            Duration::from_secs(cfg.heartbeat_interval_secs.max(1)),
            cfg_rx.clone(),
            registry.counter(
                "argus_agent_heartbeat_failures_total",
                "Heartbeats the center did not take.",
                &[],
            ),
            client_tls.clone(),
        )));
    } else {
        drop(cfg_tx);
    }
    let work = Work {
        plugin_ctx: Arc::new(PluginContext {
            dir: PathBuf::from(&cfg.plugin_dir),
            endpoint: endpoint.clone(),
            queue: queue.clone(),
            limits: cfg.limits.clone(),
            registry: registry.clone(),
        }),
        // Plugins from a host group's repository run from its checkout, kept in the data dir.
        repo_ctx: data_dir.as_deref().map(|d| {
            Arc::new(PluginContext {
                dir: d.join("plugin-repo"),
                endpoint: endpoint.clone(),
                queue: queue.clone(),
                limits: cfg.limits.clone(),
                registry: registry.clone(),
            })
        }),
        watcher: LogWatcher::new(data_dir.as_deref().map(|d| d.join("log-offsets.json"))),
        cfg: cfg.clone(),
        endpoint: endpoint.clone(),
        queue: queue.clone(),
    };
    tasks.0.push(tokio::spawn(work.run(cfg_rx)));
    tracing::info!(addr = %server.addr, %endpoint, data_dir = ?data_dir, "argus-agent running");
    Ok(Running {
        server,
        queue,
        data_dir,
        registry,
        stop_tx,
        send_task,
        tasks,
        _lock: data.map(|(_, l)| l),
    })
}

/// The agent's own check of a config from the center: every regex compiles.
fn check_remote(c: &AgentRemoteConfig) -> Result<(), String> {
    let mut w = LogWatcher::new(None);
    let mut errors = w.set_rules(&c.log_rules);
    errors.extend(probes::compile(&c.probes).1);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn serve(
    cfg: &AgentConfig,
    endpoint: &str,
    queue: &Arc<Queue>,
    registry: &Registry,
) -> anyhow::Result<Served> {
    let shared = web::Data::new(Shared {
        cfg: cfg.clone(),
        endpoint: endpoint.to_string(),
        queue: queue.clone(),
        registry: registry.clone(),
    });
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-agent push port")?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(push::MAX_PUSH_BYTES))
            .configure(|c| {
                let s = shared.clone();
                common_routes(c, healthy, move |_: &HttpRequest| {
                    metrics_response(&s.registry)
                })
            })
            .route(
                "/v1/push",
                web::post().to(|r, b, s| push::push(r, b, s, Format::Falcon)),
            )
            .route(
                "/api/v1/push",
                web::post().to(|r, b, s| push::push(r, b, s, Format::Argus)),
            )
    })
    .workers(1);
    let server =
        argus_core::http::listen(server, listener, &cfg.tls, "argus-agent push port")?.run();
    Ok(Served::spawn(addr, server).with_https(cfg.tls.serves_https()))
}

/// The collection loop and what it runs: host metrics, log rules and probes every step, and the
/// plugins on their own intervals. Reconfigured when the center's config changes.
struct Work {
    cfg: AgentConfig,
    endpoint: String,
    queue: Arc<Queue>,
    plugin_ctx: Arc<PluginContext>,
    repo_ctx: Option<Arc<PluginContext>>,
    watcher: LogWatcher,
}

/// What a configuration change rebuilds.
struct Applied {
    step: u64,
    checks: crate::collect::Checks,
    plugins: Vec<(PluginSpec, bool)>,
    repo: Option<PluginRepo>,
    plugin_tasks: Tasks,
    probes: Arc<Vec<probes::Compiled>>,
}

impl Work {
    /// The plugins to run: discovered `<secs>_<name>` executables, then local, then remote specs
    /// (the first spec of a name wins), each with whether it runs from the host groups'
    /// plugin repository (remote specs, when the config names one).
    fn plugins(&self, remote: &AgentRemoteConfig) -> Vec<(PluginSpec, bool)> {
        let mut out: Vec<(PluginSpec, bool)> = Vec::new();
        let from_repo = remote.plugin_repo.is_some();
        let all = plugins::discover(Path::new(&self.cfg.plugin_dir))
            .into_iter()
            .chain(self.cfg.plugins.iter().cloned())
            .map(|p| (p, false))
            .chain(remote.plugins.iter().map(|p| (p.clone(), from_repo)));
        for p in all {
            if !out.iter().any(|o| o.0.name == p.0.name) {
                out.push(p);
            }
        }
        out
    }

    fn apply(&mut self, remote: &AgentRemoteConfig, prev: Option<Applied>) -> Applied {
        let rules: Vec<_> = self
            .cfg
            .log_rules
            .iter()
            .chain(&remote.log_rules)
            .cloned()
            .collect();
        for e in self.watcher.set_rules(&rules) {
            tracing::error!(error = %e, "log rule skipped");
        }
        let all_probes: Vec<_> = self
            .cfg
            .probes
            .iter()
            .chain(&remote.probes)
            .cloned()
            .collect();
        let (probes, errors) = probes::compile(&all_probes);
        for e in errors {
            tracing::error!(error = %e, "probe skipped");
        }
        let step = if remote.step_secs > 0 {
            remote.step_secs
        } else {
            self.cfg.step_secs
        }
        .max(1);
        // The agent file's checks, then the host groups' (duplicates once).
        let mut checks = crate::collect::Checks::default();
        for p in self.cfg.listen_ports.iter().chain(&remote.listen_ports) {
            if !checks.listen_ports.contains(p) {
                checks.listen_ports.push(*p);
            }
        }
        for p in self.cfg.procs.iter().chain(&remote.procs) {
            if !checks.procs.contains(p) {
                checks.procs.push(p.clone());
            }
        }
        for d in self.cfg.du_paths.iter().chain(&remote.du_paths) {
            if !checks.du_paths.contains(d) {
                checks.du_paths.push(d.clone());
            }
        }
        let plugins = self.plugins(remote);
        let repo = remote.plugin_repo.clone();
        let plugin_tasks = match prev {
            Some(p) if p.plugins == plugins && p.repo == repo => p.plugin_tasks,
            _ => {
                if !plugins.is_empty() {
                    tracing::info!(plugins = ?plugins.iter().map(|p| &p.0.name).collect::<Vec<_>>(), "running plugins");
                }
                let mut tasks: Vec<_> = plugins
                    .iter()
                    .filter(|(_, from_repo)| !from_repo)
                    .map(|(s, _)| {
                        tokio::spawn(plugins::run_loop(s.clone(), self.plugin_ctx.clone()))
                    })
                    .collect();
                let repo_specs: Vec<PluginSpec> = plugins
                    .iter()
                    .filter(|(_, from_repo)| *from_repo)
                    .map(|(s, _)| s.clone())
                    .collect();
                match (&repo, &self.repo_ctx) {
                    (Some(r), Some(ctx)) => {
                        let every = Duration::from_secs(self.cfg.config_interval_secs.max(1));
                        tasks.push(tokio::spawn(repo_loop(
                            r.clone(),
                            repo_specs,
                            ctx.clone(),
                            every,
                        )))
                    }
                    (Some(r), None) => tracing::error!(
                        url = %r.url,
                        "plugin_repo needs a data_dir for its checkout; its plugins do not run"
                    ),
                    _ => {}
                }
                Tasks(tasks)
            }
        };
        Applied {
            step,
            checks,
            plugins,
            repo,
            plugin_tasks,
            probes: Arc::new(probes),
        }
    }

    async fn run(mut self, mut rx: watch::Receiver<Arc<AgentRemoteConfig>>) {
        let remote = rx.borrow_and_update().clone();
        let mut applied = self.apply(&remote, None);
        // Host metrics are read in the blocking pool: a hung mount (a dead NFS server) can block
        // statvfs forever, and must not stop the push port, the sender or the other rounds.
        let collector: Option<Arc<std::sync::Mutex<Option<Collector>>>> =
            self.cfg.collect_host_metrics.then(Default::default);
        if let Some(c) = collector.clone() {
            let (e, step) = (self.endpoint.clone(), applied.step as u32);
            tokio::task::spawn_blocking(move || {
                let new = Collector::new(e, step);
                *c.lock().expect("collector lock") = Some(new);
            });
        }
        // Probes of https targets (and TLS probes) also trust the private CA (checked at start).
        let tls = self.cfg.tls.client().unwrap_or_default();
        let client =
            probes::Prober::new(tls.builder().build().expect("http client"), tls.root_ders());
        // First round soon, so the host shows up at once with rates.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut tick = tokio::time::interval(Duration::from_secs(applied.step));
        let mut rediscover = tokio::time::interval(Duration::from_secs(60));
        let mut config_open = true;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let ts = argus_core::time::now_secs();
                    let step = applied.step as u32;
                    if let Some(c) = collector.clone() {
                        let (q, checks) = (self.queue.clone(), applied.checks.clone());
                        tokio::task::spawn_blocking(move || host_round(&c, &q, step, checks, ts));
                    }
                    self.queue.push(self.watcher.points(&self.endpoint, step, ts));
                    if !applied.probes.is_empty() {
                        let (c, p, q, e) = (client.clone(), applied.probes.clone(), self.queue.clone(), self.endpoint.clone());
                        tokio::spawn(async move { q.push(probes::run_all(&c, &p, &e, step, ts).await) });
                    }
                }
                _ = rediscover.tick() => {
                    let remote = rx.borrow().clone();
                    if self.plugins(&remote) != applied.plugins {
                        applied = self.apply(&remote, Some(applied));
                    }
                }
                r = rx.changed(), if config_open => {
                    if r.is_err() {
                        config_open = false;
                        continue;
                    }
                    let remote = rx.borrow_and_update().clone();
                    let old_step = applied.step;
                    applied = self.apply(&remote, Some(applied));
                    if applied.step != old_step {
                        tracing::info!(step = applied.step, "collection step changed");
                        tick = tokio::time::interval(Duration::from_secs(applied.step));
                    }
                }
            }
        }
    }
}

/// Keeps the checkout of `repo` current and runs `specs` from it: they start once a checkout
/// exists (this sync's, or a previous one's when the repository is unreachable), and run the
/// files as they are at each run, so a sync that changes a script takes effect at its next run.
/// It fetches again every `every` (the config pull interval: a branch moves).
async fn repo_loop(
    repo: PluginRepo,
    specs: Vec<PluginSpec>,
    ctx: Arc<PluginContext>,
    every: Duration,
) {
    let failures = ctx.registry.counter(
        "argus_agent_plugin_sync_failures_total",
        "Syncs of the plugin repository that failed (the last checkout stays in force).",
        &[],
    );
    let mut running = Tasks::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = String::new();
    loop {
        tick.tick().await;
        match pluginsync::sync(&repo, &ctx.dir).await {
            Ok(commit) => {
                if commit != last {
                    tracing::info!(url = %repo.url, rev = %repo.rev, %commit, "plugin repository synced");
                    last = commit;
                }
            }
            Err(e) => {
                failures.inc();
                tracing::warn!(url = %repo.url, rev = %repo.rev, error = %e, "plugin repository sync failed");
            }
        }
        if running.0.is_empty() && pluginsync::has_checkout(&ctx.dir).await {
            running = Tasks(
                specs
                    .iter()
                    .map(|s| tokio::spawn(plugins::run_loop(s.clone(), ctx.clone())))
                    .collect(),
            );
        }
    }
}

/// One round of host metrics, unless the previous one is still running (then it says so).
fn host_round(
    c: &std::sync::Mutex<Option<Collector>>,
    q: &Queue,
    step: u32,
    checks: crate::collect::Checks,
    ts: i64,
) {
    let Ok(mut guard) = c.try_lock() else {
        tracing::warn!(
            "the previous host metrics round is still running (a hung mount?); skipping this one"
        );
        return;
    };
    if let Some(col) = guard.as_mut() {
        col.set_step(step);
        col.set_checks(checks);
        q.push(col.collect(ts));
    }
}
