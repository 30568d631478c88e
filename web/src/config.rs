//! The web service's configuration file.

use argus_core::TenantId;
use serde::{Deserialize, Serialize};

/// A region whose data the console can query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEndpoint {
    /// The region's name.
    pub name: String,
    /// Base URL of the region's query endpoint (a transfer).
    pub query_url: String,
    /// More query endpoints of the region (its other transfers), tried in turn when one does
    /// not answer, so that losing one transfer hides none of the region's data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_urls: Vec<String>,
}

impl RegionEndpoint {
    /// A region answering at `query_url` only.
    pub fn new(name: impl Into<String>, query_url: impl Into<String>) -> Self {
        RegionEndpoint {
            name: name.into(),
            query_url: query_url.into(),
            query_urls: Vec::new(),
        }
    }

    /// Every query endpoint, `query_url` first.
    pub fn urls(&self) -> Vec<&str> {
        std::iter::once(self.query_url.as_str())
            .chain(self.query_urls.iter().map(String::as_str))
            .collect()
    }
}

/// An API token accepted before any user exists (bootstrap and standalone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapToken {
    /// The tenant the token acts for.
    pub tenant: TenantId,
    /// SHA-256 (hex) of the token.
    pub token_sha256: String,
}

/// A first tenant and platform admin, created at start unless they exist (a fresh installation
/// has no user to log in with otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapAdmin {
    /// The tenant to create.
    pub tenant: TenantId,
    /// The admin's login.
    pub login: String,
    /// The admin's password (at least 8 characters); change it after the first login.
    pub password: String,
}

/// The Prometheus HTTP API under `/prometheus` (`[prometheus]`; see docs/API.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Series one query (or listing) may select in all; more is a 422 `execution` error.
    pub max_series: usize,
    /// Samples one query may load in all; more is a 422 `execution` error.
    pub max_samples: usize,
    /// Evaluation steps of a range query (Prometheus's 11,000).
    pub max_steps: i64,
    /// How far back an instant selector looks for a sample, seconds (Prometheus's
    /// `--query.lookback-delta`).
    pub lookback_delta_secs: i64,
    /// Longest a query may take, seconds (a smaller `timeout` parameter wins); then 503 `timeout`.
    pub timeout_secs: u64,
    /// The span `/series`, `/labels` and `/label/<name>/values` look at when the request gives
    /// no `start`, seconds before `end` (Prometheus looks at all time; a bounded default keeps an
    /// unbounded listing from reading every point of the tenant).
    pub listing_default_range_secs: i64,
    /// Compute aggregations that can be split (`sum`, `count`, `min`, `max`, `avg`, `group`,
    /// `topk`, `bottomk` over series-by-series expressions) in the regions, so that only partial
    /// answers cross instead of every selected series' samples.
    pub push_down: bool,
    /// Per-tenant overrides of the limits above (`[prometheus.tenants.<tenant>]`); a tenant
    /// without an entry has the defaults.
    pub tenants: std::collections::BTreeMap<String, TenantQueryLimits>,
}

/// One tenant's query limits where they differ from `[prometheus]`'s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantQueryLimits {
    /// Series one query may select.
    pub max_series: Option<usize>,
    /// Samples one query may load.
    pub max_samples: Option<usize>,
    /// Longest a query may take, seconds.
    pub timeout_secs: Option<u64>,
}

impl PrometheusConfig {
    /// `tenant`'s limits: its overrides, else the defaults.
    pub fn limits_of(&self, tenant: &str) -> (usize, usize, u64) {
        let t = self.tenants.get(tenant);
        (
            t.and_then(|t| t.max_series).unwrap_or(self.max_series),
            t.and_then(|t| t.max_samples).unwrap_or(self.max_samples),
            t.and_then(|t| t.timeout_secs).unwrap_or(self.timeout_secs),
        )
    }
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            max_series: 100_000,
            max_samples: 50_000_000,
            max_steps: 11_000,
            lookback_delta_secs: 300,
            timeout_secs: 120,
            listing_default_range_secs: 6 * 3600,
            push_down: true,
            tenants: Default::default(),
        }
    }
}

/// `argus-web --config web.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address to serve on.
    pub listen: String,
    /// The credential presented to region query endpoints and alarm.
    pub internal_token: String,
    /// Regions and their query endpoints.
    pub regions: Vec<RegionEndpoint>,
    /// API tokens accepted at start.
    pub bootstrap_tokens: Vec<BootstrapToken>,
    /// HTTP worker threads.
    pub workers: usize,
    /// Directory of the embedded SQLite database (`web.db`), used when `database_url` is empty.
    pub data_dir: String,
    /// `sqlite://path?mode=rwc` or `postgres://user:pass@host/db`; empty means SQLite under
    /// `data_dir`.
    pub database_url: String,
    /// Base URL of the alarm service (events, acknowledgements, deliveries); empty disables.
    pub alarm_url: String,
    /// Lifetime of a console session, seconds.
    pub session_ttl_secs: u64,
    /// Set the `Secure` flag on the session cookie (behind HTTPS).
    pub secure_cookies: bool,
    /// Failed logins allowed per minute for one login from one client address (an address may
    /// fail 5 times this many, whatever the logins); successful logins are not counted.
    pub login_attempts_per_minute: u32,
    /// A host is dead when no heartbeat arrived for this many seconds.
    pub host_dead_after_secs: u64,
    /// A first tenant and platform admin to create at start, if any.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// TLS: `cert_file` + `key_file` make the listener HTTPS only (the regions' nodes, agents
    /// and alarm then use an `https://` web URL); `ca_file` is trusted for `https://` region
    /// query URLs and alarm.
    pub tls: argus_core::TlsConfig,
    /// The Prometheus HTTP API's limits and defaults.
    pub prometheus: PrometheusConfig,
}

impl WebConfig {
    /// The database URL in force.
    pub fn database(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}/web.db?mode=rwc",
                self.data_dir.trim_end_matches('/')
            )
        } else {
            self.database_url.clone()
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            internal_token: String::new(),
            regions: vec![RegionEndpoint::new("local", "http://127.0.0.1:6060")],
            bootstrap_tokens: vec![],
            workers: 2,
            data_dir: "./data/web".into(),
            database_url: String::new(),
            alarm_url: String::new(),
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            login_attempts_per_minute: 10,
            host_dead_after_secs: 180,
            bootstrap_admin: None,
            tls: argus_core::TlsConfig::default(),
            prometheus: PrometheusConfig::default(),
        }
    }
}
