//! The agent's configuration file.

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
    /// The tenant's agent token (sent as `Authorization: Bearer`).
    pub token: String,
    /// Collection interval in seconds.
    pub step_secs: u64,
    /// How often queued points are pushed, in milliseconds.
    pub flush_interval_ms: u64,
    /// Most points in one batch.
    pub batch_max_points: usize,
    /// Most points held while no transfer answers; older ones are dropped and counted.
    pub buffer_max_points: usize,
    /// Collect host metrics (turn off to run only the push port).
    pub collect_host_metrics: bool,
    /// Point limits for pushed points.
    pub limits: Limits,
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
            collect_host_metrics: true,
            limits: Limits::default(),
        }
    }
}

impl AgentConfig {
    /// The endpoint name to report as.
    pub fn endpoint(&self) -> String {
        if self.hostname.is_empty() {
            sysinfo::System::host_name().unwrap_or_else(|| "localhost".into())
        } else {
            self.hostname.clone()
        }
    }
}
