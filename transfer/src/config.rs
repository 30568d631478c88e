//! The transfer's configuration file.

use argus_core::auth::hash_token;
use argus_core::validate::Limits;
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    /// Base URLs of the region's storage nodes.
    pub stores: Vec<String>,
    /// Base URLs of the region's judges.
    pub judges: Vec<String>,
    /// Tenants and their agent tokens.
    pub tenants: Vec<TenantTokens>,
    /// Largest accepted request body after decompression, in bytes.
    pub max_body_bytes: usize,
    /// Timeout of one request to a downstream, in milliseconds.
    pub downstream_timeout_ms: u64,
    /// HTTP worker threads.
    pub workers: usize,
    /// Point limits.
    pub limits: Limits,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            listen: "127.0.0.1:6060".into(),
            region: "local".into(),
            internal_token: String::new(),
            stores: vec!["http://127.0.0.1:6071".into()],
            judges: vec![],
            tenants: vec![],
            max_body_bytes: 32 << 20,
            downstream_timeout_ms: 5_000,
            workers: 2,
            limits: Limits::default(),
        }
    }
}

/// Maps token hashes to tenants.
#[derive(Debug, Clone, Default)]
pub struct TokenTable(HashMap<String, TenantId>);

impl TokenTable {
    /// Builds the table from the configured tenants.
    pub fn new(tenants: &[TenantTokens]) -> Self {
        let mut m = HashMap::new();
        for t in tenants {
            for h in &t.token_sha256 {
                m.insert(h.to_ascii_lowercase(), t.tenant.clone());
            }
        }
        TokenTable(m)
    }

    /// The tenant a token belongs to.
    pub fn tenant_of(&self, token: &str) -> Option<&TenantId> {
        self.0.get(&hash_token(token))
    }
}
