//! The transfer's configuration file.
//!
//! The routing part (storage nodes, judges, replication, virtual nodes), the tenants' tokens and
//! the per-tenant quotas can change while the transfer runs: it re-reads its file when the file
//! changes or on SIGHUP (see [`crate::reload`]). Addresses, directories and workers need a
//! restart.

use argus_core::auth::hash_token;
use argus_core::validate::Limits;
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

/// A tenant allowed to push, with the hashes of its agent tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantTokens {
    /// The tenant.
    pub tenant: TenantId,
    /// SHA-256 (hex) of each valid agent token. Tokens themselves are never stored.
    pub token_sha256: Vec<String>,
}

/// `argus-transfer --config transfer.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferConfig {
    /// Address to serve on.
    pub listen: String,
    /// The region this transfer serves.
    pub region: String,
    /// The credential presented to storage nodes and judges, and required from callers of the
    /// internal query endpoint. Empty disables it (standalone on loopback only).
    pub internal_token: String,
    /// Base URLs of the region's storage nodes: the members of the storage hash ring.
    pub stores: Vec<String>,
    /// Base URLs of the region's judges: the members of the judge hash ring (one judge per
    /// series).
    pub judges: Vec<String>,
    /// How many storage nodes hold each series (capped at the number of nodes).
    pub replicas: usize,
    /// Virtual nodes per member on each ring: more spread series more evenly (1024 keeps every
    /// node within a few percent of its fair share).
    pub vnodes: usize,
    /// Tenants and their agent tokens (merged with those from the config center).
    pub tenants: Vec<TenantTokens>,
    /// Largest accepted request body after decompression, in bytes.
    pub max_body_bytes: usize,
    /// Most points (and, for remote write, series or samples) one push may carry, whatever its
    /// tenant's `batch_points` quota (the smaller of the two applies; 0: no cap). Decoders count as
    /// they go and refuse the push with `413` (field `points`) at the first one past it, so a
    /// small compressed body of millions of tiny points costs no more memory than this many.
    pub max_points_per_request: usize,
    /// Timeout of one request to a downstream, in milliseconds. A slower downstream gets the
    /// points through its spool instead.
    pub downstream_timeout_ms: u64,
    /// Compress the point frames sent to storage nodes and judges with zstd. Off by default:
    /// they are in the transfer's region (loopback or LAN), where compressing every write cost
    /// more CPU than the bytes it saved (about 6 % of the ingest CPU at one host per push); turn
    /// it on when that link is slow or metered. Storage nodes and judges read either.
    pub downstream_zstd: bool,
    /// Direct writes in flight to each downstream at once (default 1; 0 counts as 1). Pushes
    /// arriving while every one is busy wait and go together in the next write (up to 20 000
    /// points), which answers each of them once the downstream has them, so concurrent agent
    /// pushes share one storage request and one fsync. One write at a time merged eight
    /// concurrent one-host pushes into about one write and cut the ingest CPU per point by a
    /// third; more lowers a push's wait behind a slow write, at the cost of more, smaller writes.
    pub downstream_writes_in_flight: usize,
    /// HTTP worker threads.
    pub workers: usize,
    /// Most push requests handled at once (reading their body, validating, waiting for their
    /// downstreams); the next one is answered `503` with `Retry-After: 1` before its body is
    /// read, and counted in `argus_transfer_shed_total`. Bounds memory when agents push faster
    /// than the region can take. 0: no limit.
    pub max_in_flight: usize,
    /// Most of those `max_in_flight` slots one tenant (or the internal callers together) holds
    /// at once; its next push is answered `503` like a shed one, while other tenants are still
    /// admitted. A push's token is checked from its head before it takes a slot, so a caller
    /// without a valid token never holds one. 0: no share but `max_in_flight`.
    pub max_in_flight_per_tenant: usize,
    /// Seconds an admitted push may take to send its whole body; past that it is answered
    /// `400` and its `max_in_flight` slot is free again, so senders trickling bytes cannot hold
    /// every slot. 0: no deadline.
    pub body_timeout_secs: u64,
    /// Point limits (validation).
    pub limits: Limits,
    /// Where the spools and the config-center cache live. Empty: a directory under the system's
    /// temporary directory named after the bound address (fine for tests and standalone; set it
    /// in production so spools survive a reboot).
    pub data_dir: PathBuf,
    /// The durable per-downstream spools.
    pub spool: SpoolConfig,
    /// The circuit breaker in front of each downstream.
    pub breaker: BreakerConfig,
    /// Tokens from the web console's config center.
    pub config_center: ConfigCenterConfig,
    /// Serving the region's agents their configuration and taking their heartbeats (pulled
    /// from and batched to `config_center.url`).
    pub agents: crate::agents::AgentsConfig,
    /// Per-tenant quotas.
    pub quotas: QuotaConfig,
    /// Ingest format mapping options.
    pub ingest: IngestConfig,
    /// Optional InfluxDB v2 sink: every accepted point is also written there.
    pub influx: InfluxSinkConfig,
    /// The region's points in an existing TSDB (VictoriaMetrics, Mimir, Thanos, Prometheus)
    /// instead of storage nodes: `stores` must then be empty.
    pub remote_storage: crate::remote::RemoteStorageConfig,
    /// How often to check the config file for changes, in seconds (0: only on SIGHUP).
    pub reload_secs: u64,
    /// How often to tell every judge the judge ring (`POST /internal/v1/ring`), in seconds;
    /// also at start and at once when a reload changes it. Judges hand the state of endpoints
    /// they no longer own to the new owner, and watch for liveness the hosts they own.
    pub judge_ring_announce_secs: u64,
    /// TLS: `cert_file` + `key_file` make the listener HTTPS only (agents and web then use
    /// `https://` URLs); `ca_file` is trusted for `https://` stores, judges, config center and
    /// the InfluxDB sink.
    pub tls: argus_core::TlsConfig,
    /// The file this configuration was read from (set by the binary, not read from the file).
    /// When set, the transfer re-reads it on change or SIGHUP to apply a new ring, tenants and
    /// quotas without a restart.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            listen: "127.0.0.1:6060".into(),
            region: "local".into(),
            internal_token: String::new(),
            stores: vec!["http://127.0.0.1:6071".into()],
            judges: vec![],
            replicas: 2,
            vnodes: 1024,
            tenants: vec![],
            max_body_bytes: 32 << 20,
            max_points_per_request: 100_000,
            downstream_timeout_ms: 5_000,
            downstream_zstd: false,
            downstream_writes_in_flight: 1,
            workers: 2,
            max_in_flight: 256,
            max_in_flight_per_tenant: 64,
            body_timeout_secs: 30,
            limits: Limits::default(),
            data_dir: PathBuf::new(),
            spool: SpoolConfig::default(),
            breaker: BreakerConfig::default(),
            config_center: ConfigCenterConfig::default(),
            agents: crate::agents::AgentsConfig::default(),
            quotas: QuotaConfig::default(),
            ingest: IngestConfig::default(),
            influx: InfluxSinkConfig::default(),
            remote_storage: crate::remote::RemoteStorageConfig::default(),
            reload_secs: 5,
            judge_ring_announce_secs: 30,
            tls: argus_core::TlsConfig::default(),
            config_file: None,
        }
    }
}

/// The durable spool of each downstream (`[spool]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// Size at which a segment file is closed and a new one started, in bytes.
    pub segment_bytes: u64,
    /// Most bytes one downstream's spool may hold; past it, pushes that need the spool are
    /// refused with 503 (nothing is acknowledged that is not durable).
    pub max_bytes: u64,
    /// Longest wait between two replay attempts to a failing downstream, in milliseconds.
    pub max_backoff_ms: u64,
    /// Most points sent in one replay request.
    pub replay_batch_points: usize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            segment_bytes: 8 << 20,
            max_bytes: 1 << 30,
            max_backoff_ms: 5_000,
            replay_batch_points: 10_000,
        }
    }
}

/// The circuit breaker (`[breaker]`): after `failures` consecutive failures a downstream is
/// not called directly for `open_ms`; its points go to its spool, whose replayer probes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long the breaker stays open before a probe, in milliseconds.
    pub open_ms: u64,
    /// Longest a push waits for one downstream, in milliseconds (capped by
    /// `downstream_timeout_ms`); a slower answer counts as a failure and the points go to the
    /// spool, so a slow (not dead) node makes the transfer spool instead of holding pushes.
    pub write_timeout_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 3,
            open_ms: 2_000,
            write_timeout_ms: 2_000,
        }
    }
}

/// Where tenants' tokens come from besides this file (`[config_center]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigCenterConfig {
    /// Base URL of the web console (`GET {url}/internal/v1/config/transfer`). Empty: off.
    pub url: String,
    /// Polling interval, in seconds.
    pub poll_secs: u64,
}

impl Default for ConfigCenterConfig {
    fn default() -> Self {
        ConfigCenterConfig {
            url: String::new(),
            poll_secs: 10,
        }
    }
}

/// One tenant's quota; zero means unlimited. The defaults fit a tenant of a few thousand hosts
/// reporting every 10 s with room to spare, so that no tenant can take a region's whole capacity
/// unless an operator says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    /// The tenant this quota is for (only in `[[quotas.tenants]]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// Sustained points per second (default 100,000).
    pub points_per_sec: f64,
    /// Points that may arrive at once above the sustained rate (default 1,000,000: an agent
    /// fleet replaying its buffers after an outage; 0: one second's worth).
    pub burst: f64,
    /// Distinct series seen in the last `series_ttl_secs`; points of further new series are
    /// rejected (default 2,000,000).
    pub active_series: usize,
    /// Most tags on one point, tighter than `limits.max_tags` for this tenant (default 0:
    /// `limits.max_tags` alone).
    pub tags_per_point: usize,
    /// Most points in one request (default 100,000).
    pub batch_points: usize,
}

/// The quota of a tenant nobody configured.
pub const DEFAULT_QUOTA: Quota = Quota {
    tenant: None,
    points_per_sec: 100_000.0,
    burst: 1_000_000.0,
    active_series: 2_000_000,
    tags_per_point: 0,
    batch_points: 100_000,
};

impl Default for Quota {
    fn default() -> Self {
        DEFAULT_QUOTA
    }
}

impl Quota {
    /// No limit at all (what `0` everywhere says).
    pub fn unlimited() -> Quota {
        Quota {
            tenant: None,
            points_per_sec: 0.0,
            burst: 0.0,
            active_series: 0,
            tags_per_point: 0,
            batch_points: 0,
        }
    }

    /// This quota with the figures the console set for the tenant in place of its own.
    pub fn overridden(mut self, o: &argus_core::quota::QuotaOverride) -> Quota {
        let count = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(v) = o.points_per_sec {
            self.points_per_sec = v;
        }
        if let Some(v) = o.burst {
            self.burst = v;
        }
        if let Some(v) = o.active_series {
            self.active_series = count(v);
        }
        if let Some(v) = o.tags_per_point {
            self.tags_per_point = count(v);
        }
        if let Some(v) = o.batch_points {
            self.batch_points = count(v);
        }
        self
    }
}

/// Per-tenant quotas (`[quotas]`, `[[quotas.tenants]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// The quota of every tenant not listed.
    pub default: Quota,
    /// Tenants with their own quota (each names its `tenant`; it replaces the default whole).
    pub tenants: Vec<Quota>,
    /// How long a series stays active without points, in seconds.
    pub series_ttl_secs: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            default: Quota::default(),
            tenants: vec![],
            series_ttl_secs: 3_600,
        }
    }
}

impl QuotaConfig {
    /// The quota of `tenant`.
    pub fn of(&self, tenant: &TenantId) -> &Quota {
        self.tenants
            .iter()
            .find(|q| q.tenant.as_ref() == Some(tenant))
            .unwrap_or(&self.default)
    }
}

/// How foreign formats map onto endpoint / metric / tags (`[ingest]`; see docs/INGEST.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Tags (line protocol) or labels (remote write) taken as the endpoint, first present wins
    /// (a label `endpoint` always wins); one other than `endpoint` stays a tag, marked (see
    /// `lineproto::endpoint_and_tags`).
    pub endpoint_tags: Vec<String>,
    /// The endpoint of a point that has none of `endpoint_tags`.
    pub default_endpoint: String,
    /// The step given to points of formats that carry none, in seconds.
    pub default_step: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            endpoint_tags: vec!["endpoint".into(), "host".into(), "instance".into()],
            default_endpoint: "unknown".into(),
            default_step: 10,
        }
    }
}

/// The optional InfluxDB v2 sink (`[influx]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InfluxSinkConfig {
    /// Base URL of the InfluxDB v2 server (or anything speaking its write API). Empty: off.
    pub url: String,
    /// Organisation.
    pub org: String,
    /// Bucket.
    pub bucket: String,
    /// API token.
    pub token: String,
}

impl Default for InfluxSinkConfig {
    fn default() -> Self {
        InfluxSinkConfig {
            url: String::new(),
            org: "argus".into(),
            bucket: "argus".into(),
            token: String::new(),
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigCheckError {
    /// A key has a value the transfer cannot work with.
    #[error("transfer config: key `{key}`: {reason}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl TransferConfig {
    /// Checks what serde cannot: values that parse but make no sense.
    pub fn check(&self) -> Result<(), ConfigCheckError> {
        let bad = |key, reason: &str| {
            Err(ConfigCheckError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if let Err((key, reason)) = self.remote_storage.check() {
            return Err(ConfigCheckError::Invalid { key, reason });
        }
        if self.remote_storage.enabled() && !self.stores.is_empty() {
            return bad(
                "stores",
                "a region on remote_storage has no storage nodes: set stores = []",
            );
        }
        if self.stores.is_empty() && !self.remote_storage.enabled() {
            return bad(
                "stores",
                "at least one storage node is needed (or remote_storage.write_url)",
            );
        }
        if self.replicas == 0 {
            return bad("replicas", "must be at least 1");
        }
        if self.vnodes == 0 {
            return bad("vnodes", "must be at least 1");
        }
        if self.spool.segment_bytes == 0 || self.spool.max_bytes < self.spool.segment_bytes {
            return bad(
                "spool.max_bytes",
                "must be at least spool.segment_bytes, which must be positive",
            );
        }
        for t in &self.tenants {
            for h in &t.token_sha256 {
                if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return bad("tenants.token_sha256", "each hash must be 64 hex digits");
                }
            }
        }
        Ok(())
    }
}

/// Maps token hashes to tenants.
#[derive(Debug, Clone, Default)]
pub struct TokenTable(HashMap<String, TenantId>);

impl TokenTable {
    /// Builds the table from the configured tenants.
    pub fn new(tenants: &[TenantTokens]) -> Self {
        let mut t = TokenTable::default();
        t.extend(tenants);
        t
    }

    /// Adds more tenants' tokens (a hash already present keeps its first tenant).
    pub fn extend(&mut self, tenants: &[TenantTokens]) {
        for t in tenants {
            for h in &t.token_sha256 {
                self.0
                    .entry(h.to_ascii_lowercase())
                    .or_insert_with(|| t.tenant.clone());
            }
        }
    }

    /// The tenant a token belongs to.
    pub fn tenant_of(&self, token: &str) -> Option<&TenantId> {
        self.0.get(&hash_token(token))
    }

    /// Number of known token hashes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no token is known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_check_and_round_trip() {
        let c = TransferConfig::default();
        c.check().unwrap();
        let text = toml::to_string(&c).unwrap();
        let back: TransferConfig = argus_core::config::from_str(&text, "t.toml").unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn quotas_parse_per_tenant() {
        let c: TransferConfig = argus_core::config::from_str(
            "[quotas.default]\npoints_per_sec = 100.0\n[[quotas.tenants]]\ntenant = 'big'\npoints_per_sec = 1000.0\nburst = 5000.0\n",
            "q.toml",
        )
        .unwrap();
        let big = TenantId::new("big").unwrap();
        let other = TenantId::new("other").unwrap();
        assert_eq!(c.quotas.of(&big).points_per_sec, 1000.0);
        assert_eq!(c.quotas.of(&other).points_per_sec, 100.0);
    }

    #[test]
    fn check_names_the_key() {
        let c = TransferConfig {
            replicas: 0,
            ..Default::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("replicas"));
        let c = TransferConfig {
            tenants: vec![TenantTokens {
                tenant: TenantId::new("a").unwrap(),
                token_sha256: vec!["xyz".into()],
            }],
            ..Default::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("token_sha256"));
    }
}
