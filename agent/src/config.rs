//! The agent's configuration file (`argus-agent --config agent.toml`, every key optional).
//!
//! Plugins, log rules and probes may be given here and/or come from the config center
//! (`config_url`); the agent runs the union of both.

use argus_core::agentconf::{LogRule, PluginSpec, Probe, ProcCheck};
use argus_core::validate::Limits;
use serde::{Deserialize, Serialize};

/// `argus-agent --config agent.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// The endpoint name this host reports as; empty means the host name.
    pub hostname: String,
    /// The local push port for scripts (loopback only by default).
    pub listen: String,
    /// Base URLs of the region's transfer nodes, tried in order with failover.
    pub transfers: Vec<String>,
    /// The tenant's agent token (sent as `Authorization: Bearer` to transfers and the center).
    pub token: String,
    /// Collection interval in seconds (the config center may override it).
    pub step_secs: u64,
    /// How often queued points are pushed, in milliseconds.
    pub flush_interval_ms: u64,
    /// Most points in one batch.
    pub batch_max_points: usize,
    /// Most points held in memory between flushes; past it the oldest are dropped and counted.
    pub buffer_max_points: usize,
    /// Where the agent keeps its state: the on-disk buffer (`buffer/`), log offsets and the last
    /// good configuration from the center. Empty: no state on disk (points wait in memory only).
    pub data_dir: String,
    /// Bound of the on-disk buffer in bytes (compressed batches); past it the oldest batches are
    /// dropped and counted in `argus_agent_points_dropped_total{reason="buffer_full"}`.
    pub buffer_max_bytes: u64,
    /// First wait after no transfer answered, in milliseconds; doubles up to `backoff_max_ms`,
    /// with jitter.
    pub backoff_initial_ms: u64,
    /// Longest wait between attempts while no transfer answers, in milliseconds.
    pub backoff_max_ms: u64,
    /// Collect host metrics (turn off to run only the push port).
    pub collect_host_metrics: bool,
    /// Point limits for pushed points.
    pub limits: Limits,
    /// Directory of plugin executables. Executables named `<seconds>_<name>` (open-falcon's
    /// convention, e.g. `60_nginx.sh`) run on their own; others run when a plugin spec names them.
    pub plugin_dir: String,
    /// Plugins run besides those from the center.
    pub plugins: Vec<PluginSpec>,
    /// Log keyword rules besides those from the center.
    pub log_rules: Vec<LogRule>,
    /// Probes besides those from the center.
    pub probes: Vec<Probe>,
    /// TCP ports reported as `net.port.listen` besides those of the host's groups.
    pub listen_ports: Vec<u16>,
    /// Process checks (`proc.num` by `name` and/or `cmdline`) besides those of the host's groups.
    pub procs: Vec<ProcCheck>,
    /// Directories reported as `du.bs` besides those of the host's groups.
    pub du_paths: Vec<String>,
    /// Tags of this host (`[tags]`, e.g. `env = "prod"`), reported in every heartbeat: shown
    /// with the host and matched by host groups' membership rules, so the host joins its groups
    /// on its first heartbeat.
    pub tags: argus_core::Tags,
    /// Also add `tags` to every point the agent sends (a tag the point has keeps its value).
    /// Off by default, as in falcon-agent: turning it on changes the identity of every series.
    pub tags_on_points: bool,
    /// Pull the configuration (plugins, log rules, probes, step) and send heartbeats.
    pub remote_config: bool,
    /// Where: empty (the default) means the region's `transfers`, which answer from the global
    /// config center's configuration and pass heartbeats on in one batch per region, so nothing
    /// per host crosses regions. A URL (the web console, e.g. `https://argus.example.com`)
    /// talks to it directly instead: for small installations without regions.
    pub config_url: String,
    /// How often the configuration is pulled, in seconds.
    pub config_interval_secs: u64,
    /// How often a heartbeat is sent, in seconds.
    pub heartbeat_interval_secs: u64,
    /// TLS: `ca_file` is trusted for `https://` transfers and config center (the private CA of
    /// the installation), on top of the public roots. `cert_file` + `key_file` would make the
    /// local push port HTTPS only; it listens on loopback, so it normally has none.
    pub tls: argus_core::TlsConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            hostname: String::new(),
            listen: "127.0.0.1:1988".into(),
            transfers: vec!["http://127.0.0.1:6060".into()],
            token: String::new(),
            step_secs: 10,
            flush_interval_ms: 1000,
            batch_max_points: 5000,
            buffer_max_points: 500_000,
            data_dir: "/var/lib/argus-agent".into(),
            buffer_max_bytes: 64 << 20,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            collect_host_metrics: true,
            limits: Limits::default(),
            plugin_dir: "/etc/argus-agent/plugins".into(),
            plugins: Vec::new(),
            log_rules: Vec::new(),
            probes: Vec::new(),
            listen_ports: Vec::new(),
            procs: Vec::new(),
            du_paths: Vec::new(),
            tags: argus_core::Tags::new(),
            tags_on_points: false,
            remote_config: true,
            config_url: String::new(),
            config_interval_secs: 60,
            heartbeat_interval_secs: 60,
            tls: argus_core::TlsConfig::default(),
        }
    }
}

impl AgentConfig {
    /// The config centers in failover order: `config_url` when set, else the transfers; none
    /// when `remote_config` is off.
    pub fn config_centers(&self) -> Vec<String> {
        if !self.remote_config {
            Vec::new()
        } else if self.config_url.is_empty() {
            self.transfers.clone()
        } else {
            vec![self.config_url.clone()]
        }
    }

    /// The endpoint name to report as.
    pub fn endpoint(&self) -> String {
        if self.hostname.is_empty() {
            sysinfo::System::host_name().unwrap_or_else(|| "localhost".into())
        } else {
            self.hostname.clone()
        }
    }
}
