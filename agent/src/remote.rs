//! The config center: the agent pulls its effective configuration
//! (`GET {center}/api/v1/agent/config?host=H`, `If-None-Match` with the last `ETag`) every
//! `config_interval_secs`, applies a new one without a restart, and keeps the last good one in
//! `data_dir/remote-config.json`, from which it starts when the center is unreachable. It also
//! sends a [`Heartbeat`] every `heartbeat_interval_secs`.
//!
//! The center is normally the region's transfers (tried in order with failover): they answer
//! from web's configuration and pass the heartbeats on in one batch per region, so nothing per
//! host crosses to the global zone. `config_url` points the agent at web directly instead.

use argus_core::agentconf::{AgentRemoteConfig, Heartbeat};
use argus_core::center::{fetch, FetchError, Fetched, Pull};
use argus_core::telemetry::Counter;
use argus_core::tls::ClientTls;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The last good configuration and its `ETag`, as cached on disk.
pub type Cached = argus_core::center::Cached<AgentRemoteConfig>;

/// Why a pull did not bring a configuration.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The center did not answer, answered an error, or sent something that is not a
    /// configuration.
    #[error("config center: {0}")]
    Center(#[from] FetchError),
    /// The configuration is not one this agent can run.
    #[error("config from {url} is invalid: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// Why, naming the field.
        reason: String,
    },
}

/// Pulls the configuration of one host.
pub struct Puller {
    client: reqwest::Client,
    /// The config URL at each center, in failover order.
    urls: Vec<String>,
    /// The center that answered last (tried first).
    at: usize,
    url: String,
    token: String,
    cache_path: Option<PathBuf>,
    /// The configuration in force.
    pub current: Cached,
}

impl Puller {
    /// A puller from the center at `base` for `host`, caching in `cache_path`.
    pub fn new(base: &str, host: &str, token: &str, cache_path: Option<PathBuf>) -> Self {
        Self::with_centers(&[base.to_string()], host, token, cache_path)
    }

    /// A puller from the first of `bases` that answers (the region's transfers, say), for
    /// `host`, caching in `cache_path`.
    pub fn with_centers(
        bases: &[String],
        host: &str,
        token: &str,
        cache_path: Option<PathBuf>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        let urls: Vec<String> = bases
            .iter()
            .map(|base| {
                let mut url = reqwest::Url::parse(&format!(
                    "{}/api/v1/agent/config",
                    base.trim_end_matches('/')
                ))
                .unwrap_or_else(|_| {
                    reqwest::Url::parse("http://invalid.invalid/").expect("static url")
                });
                url.query_pairs_mut().append_pair("host", host);
                url.to_string()
            })
            .collect();
        Puller {
            client,
            url: urls.first().cloned().unwrap_or_default(),
            urls,
            at: 0,
            token: token.to_string(),
            cache_path,
            current: Cached::default(),
        }
    }

    /// Trusts the extra roots of `[tls] ca_file` for `https://` centers.
    pub fn with_tls(mut self, tls: &ClientTls) -> Self {
        self.client = tls
            .builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client with checked roots");
        self
    }

    /// The cached configuration from a previous run, if any (and readable).
    pub fn load_cache(&mut self) -> Option<AgentRemoteConfig> {
        let c = Cached::load(self.cache_path.as_deref()?)?;
        self.current = c.clone();
        Some(c.doc)
    }

    /// One pull: `Some(config)` when the center sent a new one (then cached), `None` on 304.
    /// `check` is the agent's own validation (regexes compile); a refused config is not applied
    /// nor cached.
    /// With several centers, one that is unreachable or answers 5xx is skipped for the next.
    pub async fn pull(
        &mut self,
        check: impl Fn(&AgentRemoteConfig) -> Result<(), String>,
    ) -> Result<Option<AgentRemoteConfig>, PullError> {
        let n = self.urls.len().max(1);
        let mut last = None;
        for i in 0..n {
            let at = (self.at + i) % n;
            if let Some(u) = self.urls.get(at) {
                self.url = u.clone();
            }
            match self.pull_one(&check).await {
                Err(PullError::Center(e)) if e.is_transient() => last = Some(e.into()),
                r => {
                    self.at = at;
                    return r;
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn pull_one(
        &mut self,
        check: impl Fn(&AgentRemoteConfig) -> Result<(), String>,
    ) -> Result<Option<AgentRemoteConfig>, PullError> {
        let pull = Pull {
            url: &self.url,
            token: &self.token,
            etag: self.current.etag.as_deref(),
            cross: None, // the region's transfers answer; they count what crosses
        };
        let Fetched::Changed { doc: cfg, etag } =
            fetch::<AgentRemoteConfig>(&self.client, pull).await?
        else {
            return Ok(None);
        };
        let invalid = |reason: String| PullError::Invalid {
            url: self.url.clone(),
            reason,
        };
        cfg.validate()
            .map_err(|e| invalid(format!("{}: {}", e.field, e.reason)))?;
        check(&cfg).map_err(invalid)?;
        self.current = Cached {
            etag,
            doc: cfg.clone(),
        };
        if let Some(p) = &self.cache_path {
            if let Err(e) = self.current.save(p) {
                tracing::warn!(file = %p.display(), error = %e, "cannot cache the config");
            }
        }
        Ok(Some(cfg))
    }
}

/// Pulls every `interval` forever, publishing each new configuration on `tx`.
pub async fn pull_loop(
    mut puller: Puller,
    interval: Duration,
    check: impl Fn(&AgentRemoteConfig) -> Result<(), String>,
    tx: watch::Sender<Arc<AgentRemoteConfig>>,
    failures: Arc<Counter>,
) {
    loop {
        match puller.pull(&check).await {
            Ok(Some(cfg)) => {
                tracing::info!(version = %cfg.version, plugins = cfg.plugins.len(), log_rules = cfg.log_rules.len(), probes = cfg.probes.len(), "applying a new config from the center");
                let _ = tx.send(Arc::new(cfg));
            }
            Ok(None) => {}
            Err(e) => {
                failures.inc();
                tracing::warn!(error = %e, "config pull failed; keeping the last good config")
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Host facts for the heartbeat, read once.
pub fn host_facts(host: &str, center: &str) -> Heartbeat {
    // Read once at start: sysinfo's memory figures only (no process or CPU tables kept).
    let mem_total = {
        use sysinfo::{MemoryRefreshKind, RefreshKind, System};
        System::new_with_specifics(
            RefreshKind::new().with_memory(MemoryRefreshKind::new().with_ram()),
        )
        .total_memory()
    };
    Heartbeat {
        host: host.to_string(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        os: sysinfo::System::long_os_version().unwrap_or_default(),
        kernel: sysinfo::System::kernel_version().unwrap_or_default(),
        cpu_count: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(0),
        mem_total,
        ip: local_ip_towards(center).unwrap_or_default(),
        ..Heartbeat::default()
    }
}

/// The local address this host uses to reach `url`'s host (no packet is sent: a UDP "connect"
/// only picks the route).
fn local_ip_towards(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let addr = (u.host_str()?, u.port_or_known_default()?);
    let target = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()?
        .next()?;
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(target).ok()?;
    Some(s.local_addr().ok()?.ip().to_string())
}

/// Sends a heartbeat every `interval` forever; `version` gives the config version in force.
pub async fn heartbeat_loop(
    base: String,
    token: String,
    facts: Heartbeat,
    interval: Duration,
    version: watch::Receiver<Arc<AgentRemoteConfig>>,
    failures: Arc<Counter>,
) {
    heartbeat_loop_to(
        vec![base],
        token,
        facts,
        interval,
        version,
        failures,
        ClientTls::default(),
    )
    .await
}

/// [`heartbeat_loop`] to the first of `bases` that takes it (the region's transfers, say): one
/// that is unreachable or answers 5xx is skipped for the next; a heartbeat none takes counts
/// one failure. `tls` holds the roots of `[tls] ca_file`, for `https://` centers.
pub async fn heartbeat_loop_to(
    bases: Vec<String>,
    token: String,
    facts: Heartbeat,
    interval: Duration,
    version: watch::Receiver<Arc<AgentRemoteConfig>>,
    failures: Arc<Counter>,
    tls: ClientTls,
) {
    let client = tls
        .builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let urls: Vec<String> = bases
        .iter()
        .map(|b| format!("{}/api/v1/agent/heartbeat", b.trim_end_matches('/')))
        .collect();
    let started = Instant::now();
    let mut at = 0;
    loop {
        let hb = Heartbeat {
            uptime_secs: started.elapsed().as_secs(),
            config_version: version.borrow().version.clone(),
            timestamp: argus_core::time::now_secs(),
            ..facts.clone()
        };
        let mut taken = false;
        for i in 0..urls.len() {
            let url = &urls[(at + i) % urls.len()];
            match client.post(url).bearer_auth(&token).json(&hb).send().await {
                Ok(r) if r.status().is_success() => {
                    at = (at + i) % urls.len();
                    taken = true;
                    break;
                }
                Ok(r) if argus_core::http::retryable(r.status().as_u16()) => {
                    tracing::warn!(%url, status = %r.status(), "heartbeat refused; trying the next center")
                }
                Ok(r) => {
                    tracing::warn!(%url, status = %r.status(), "heartbeat refused");
                    break;
                }
                Err(e) => tracing::warn!(%url, error = %e, "heartbeat failed"),
            }
        }
        if !taken {
            failures.inc();
        }
        tokio::time::sleep(interval).await;
    }
}

/// The cache file in `data_dir`.
pub fn cache_path(data_dir: Option<&Path>) -> Option<PathBuf> {
    data_dir.map(|d| d.join("remote-config.json"))
}
