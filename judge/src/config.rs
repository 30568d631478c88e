//! The judge's configuration.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Configuration of `argus-judge` (`ARGUS_JUDGE__<KEY>` overrides a key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// Address to listen on for points from transfers; port 0 picks a free port.
    pub listen: String,
    /// The region this judge serves; stamped on every event.
    pub region: String,
    /// The internal node credential: required from transfers and presented to web and alarm.
    /// Empty disables the check (standalone on loopback only).
    pub internal_token: String,
    /// Base URL of the web config center to pull strategies from (`None`: static file only).
    pub config_center: Option<String>,
    /// Base URLs of the alarm instances; events go to the first that acknowledges.
    pub alarm: Vec<String>,
    /// Where the outbox, the state snapshot and the cached strategies live.
    pub data_dir: PathBuf,
    /// A static strategies file (JSON or TOML, the config center's shape
    /// `{version, tenants: [...]}`), for tests and for running without web. Reloaded when it
    /// changes. When the config center also serves a tenant, the center wins.
    pub strategies_file: Option<PathBuf>,
    /// How often to pull strategies (and check the static file), in seconds.
    pub pull_interval_secs: u64,
    /// How often to snapshot series state to disk, in seconds (also done at stop).
    pub snapshot_interval_secs: u64,
    /// Forget a series after this many seconds without a point and without an open problem
    /// (four times as long even with one), checked at each snapshot; 0 keeps series forever.
    pub series_ttl_secs: u64,
    /// Independent evaluation shards (series are spread by hash); 0 = one per CPU.
    pub shards: usize,
    /// HTTP worker threads; 0 = one per CPU.
    pub workers: usize,
    /// Largest accepted request body, after decompression, in bytes.
    pub max_body_bytes: usize,
    /// Most events per request to alarm.
    pub outbox_batch: usize,
    /// Timeout of requests to web and alarm, in milliseconds.
    pub request_timeout_ms: u64,
    /// Longest wait between two attempts to deliver events, in milliseconds.
    pub max_backoff_ms: u64,
    /// TLS: `cert_file` + `key_file` make the listener HTTPS only (transfers then use
    /// `https://` judge URLs); `ca_file` is trusted for `https://` alarm and config center.
    pub tls: argus_core::TlsConfig,
    /// Recording and alert rules (PromQL), pulled from the config center with the strategies.
    pub rules: RulesConfig,
    /// The built-in "host down" event.
    pub liveness: LivenessConfig,
}

/// `[liveness]`: a "host down" PROBLEM for every registered host (web's hosts and host group
/// members) whose heartbeat metric stops for `down_after_secs`, an OK when it reports again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessConfig {
    /// Raise it at all. The transfers announce the judge ring (their `judges`) to every judge,
    /// so that each watches only the hosts it owns; until the first announcement (seconds after
    /// a start, well within `down_after_secs`) `ring` decides.
    pub enabled: bool,
    /// The heartbeat metric (the agent sends `agent.alive` every step).
    pub metric: String,
    /// Seconds without it before the host is down.
    pub down_after_secs: u64,
    /// The event's priority, 0 to 5.
    pub priority: u8,
    /// The region's judges as the transfers list them (`judges`, the same `vnodes`), in force
    /// until a transfer announces its ring: a host that has not reported yet is watched by the
    /// judge owning it on that ring. Empty: this judge watches them all until then.
    pub ring: Vec<String>,
    /// This judge's URL as it appears in `ring`.
    pub self_url: String,
    /// Virtual nodes per member, as the transfers' `vnodes`.
    pub vnodes: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            enabled: true,
            metric: "agent.alive".into(),
            // Web's `host_dead_after_secs`: the console and the event agree.
            down_after_secs: 180,
            priority: 1,
            ring: vec![],
            self_url: String::new(),
            vnodes: 1024,
        }
    }
}

/// `[rules]`: which rules this judge evaluates and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// This judge evaluates a rule when `xxh3(tenant, 0, rule id) % shard_count == shard_index`
    /// (the id as 8 little-endian bytes), so that the judges of a region, numbered
    /// `0..shard_count`, share the rules and each is evaluated once.
    pub shard_index: u64,
    /// How many judges share the rules (of the region, and for global rules of the judges with
    /// `global = true`).
    pub shard_count: u64,
    /// Evaluate the global rules (over every region's data, through web's
    /// `/internal/v1/query/promql`). Set it on the judges of one region only.
    pub global: bool,
    /// Base URLs of the region's transfers: regional rules read their series from them
    /// (`/internal/v1/query/select`) and recording rules write their points to them
    /// (`/internal/v1/push`), each request to the first that answers. Empty: regional rules are
    /// not evaluated here.
    pub transfers: Vec<String>,
    /// Most rules evaluated at once.
    pub max_concurrency: usize,
    /// Longest evaluation of one rule (queries, evaluation, writing its points), in seconds; a
    /// rule's interval bounds it too.
    pub timeout_secs: u64,
    /// How far back an instant selector looks for a sample, in seconds.
    pub lookback_delta_secs: u64,
    /// Bounds on one evaluation, unless `tenant_limits` names the tenant.
    pub limits: RuleLimits,
    /// Bounds per tenant.
    pub tenant_limits: BTreeMap<String, RuleLimits>,
    /// Most recorded points kept per rule while no transfer takes them (oldest dropped).
    pub max_unsent_points: usize,
}

/// Bounds on one rule evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleLimits {
    /// Series the query's selections may read in all.
    pub max_series: usize,
    /// Samples the query may load in all.
    pub max_samples: usize,
}

impl Default for RuleLimits {
    fn default() -> Self {
        // A tenth of web's query limits: rules run every interval, unattended.
        RuleLimits {
            max_series: 10_000,
            max_samples: 5_000_000,
        }
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            shard_index: 0,
            shard_count: 1,
            global: false,
            transfers: vec![],
            max_concurrency: 4,
            timeout_secs: 30,
            lookback_delta_secs: 300,
            limits: RuleLimits::default(),
            tenant_limits: BTreeMap::new(),
            max_unsent_points: 100_000,
        }
    }
}

impl RulesConfig {
    /// The bounds for `tenant`.
    pub fn limits_of(&self, tenant: &str) -> RuleLimits {
        self.tenant_limits
            .get(tenant)
            .copied()
            .unwrap_or(self.limits)
    }
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            listen: "127.0.0.1:6081".into(),
            region: "default".into(),
            internal_token: String::new(),
            config_center: None,
            alarm: vec![],
            data_dir: PathBuf::from("./data/judge"),
            strategies_file: None,
            pull_interval_secs: 30,
            snapshot_interval_secs: 60,
            series_ttl_secs: 7 * 24 * 3600,
            shards: 0,
            workers: 0,
            max_body_bytes: 64 << 20,
            outbox_batch: 500,
            request_timeout_ms: 10_000,
            max_backoff_ms: 30_000,
            tls: argus_core::TlsConfig::default(),
            rules: RulesConfig::default(),
            liveness: LivenessConfig::default(),
        }
    }
}

impl JudgeConfig {
    /// Checks values that would only fail later.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.pull_interval_secs == 0 {
            anyhow::bail!("config key `pull_interval_secs`: must be at least 1");
        }
        if self.outbox_batch == 0 {
            anyhow::bail!("config key `outbox_batch`: must be at least 1");
        }
        let r = &self.rules;
        if r.shard_count == 0 || r.shard_index >= r.shard_count {
            anyhow::bail!(
                "config key `rules.shard_index`: must be below `rules.shard_count` ({} is not below {})",
                r.shard_index,
                r.shard_count
            );
        }
        if r.max_concurrency == 0 {
            anyhow::bail!("config key `rules.max_concurrency`: must be at least 1");
        }
        if r.timeout_secs == 0 {
            anyhow::bail!("config key `rules.timeout_secs`: must be at least 1");
        }
        let l = &self.liveness;
        if l.enabled {
            if l.down_after_secs == 0 || l.down_after_secs > argus_core::condition::MAX_NODATA_SECS
            {
                anyhow::bail!(
                    "config key `liveness.down_after_secs`: must be 1 to {}, got {}",
                    argus_core::condition::MAX_NODATA_SECS,
                    l.down_after_secs
                );
            }
            if l.priority > 5 {
                anyhow::bail!(
                    "config key `liveness.priority`: must be 0 to 5, got {}",
                    l.priority
                );
            }
            if l.metric.is_empty() {
                anyhow::bail!("config key `liveness.metric`: must not be empty");
            }
            let me = argus_core::ring::normalize(&l.self_url);
            if !l.ring.is_empty() && !l.ring.iter().any(|u| argus_core::ring::normalize(u) == me) {
                anyhow::bail!(
                    "config key `liveness.self_url`: {:?} is not in `liveness.ring`",
                    l.self_url
                );
            }
        }
        if self.internal_token.is_empty() {
            let loopback = self
                .listen
                .parse::<std::net::SocketAddr>()
                .map(|a| a.ip().is_loopback())
                .unwrap_or(false);
            if !loopback {
                anyhow::bail!(
                    "config key `internal_token`: must be set when listening beyond loopback ({})",
                    self.listen
                );
            }
        }
        Ok(())
    }

    /// The number of shards to run.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keys_and_checks() {
        let c: JudgeConfig = argus_core::config::from_str("", "judge.toml").unwrap();
        assert_eq!(c.listen, "127.0.0.1:6081");
        assert_eq!(c.data_dir, PathBuf::from("./data/judge"));
        c.check().unwrap();
        let c: JudgeConfig = argus_core::config::from_str(
            "listen = '0.0.0.0:6081'\nalarm = ['http://a:1']\nconfig_center = 'http://w:2'",
            "judge.toml",
        )
        .unwrap();
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("internal_token"), "{e}");
        let e = argus_core::config::from_str::<JudgeConfig>("alarms = []", "judge.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("alarms"), "{e}");
    }

    #[test]
    fn rules_keys_defaults_and_checks() {
        let c: JudgeConfig = argus_core::config::from_str("", "judge.toml").unwrap();
        assert_eq!((c.rules.shard_index, c.rules.shard_count), (0, 1));
        assert!(!c.rules.global && c.rules.transfers.is_empty());
        let c: JudgeConfig = argus_core::config::from_str(
            "[rules]\nshard_index = 1\nshard_count = 2\n[rules.tenant_limits.acme]\nmax_series = 5",
            "judge.toml",
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.rules.limits_of("acme").max_series, 5);
        assert_eq!(c.rules.limits_of("acme").max_samples, 5_000_000);
        assert_eq!(c.rules.limits_of("other").max_series, 10_000);
        let c: JudgeConfig =
            argus_core::config::from_str("[rules]\nshard_index = 2\nshard_count = 2", "judge.toml")
                .unwrap();
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("rules.shard_index"), "{e}");
    }

    #[test]
    fn liveness_keys_defaults_and_checks() {
        let c: JudgeConfig = argus_core::config::from_str("", "judge.toml").unwrap();
        assert!(c.liveness.enabled);
        assert_eq!(
            (c.liveness.metric.as_str(), c.liveness.down_after_secs),
            ("agent.alive", 180)
        );
        let c: JudgeConfig = argus_core::config::from_str(
            "[liveness]\nenabled = true\nring = ['http://j1:1', 'http://j2:1']\nself_url = 'http://j3:1'",
            "judge.toml",
        )
        .unwrap();
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("liveness.self_url"), "{e}");
        let c: JudgeConfig = argus_core::config::from_str(
            "[liveness]\nenabled = true\ndown_after_secs = 0",
            "judge.toml",
        )
        .unwrap();
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("down_after_secs"));
    }
}
