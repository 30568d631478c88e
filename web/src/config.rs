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
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            internal_token: String::new(),
            regions: vec![RegionEndpoint {
                name: "local".into(),
                query_url: "http://127.0.0.1:6060".into(),
            }],
            bootstrap_tokens: vec![],
            workers: 2,
        }
    }
}
