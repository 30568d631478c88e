//! Which tenant a token belongs to: the static tokens of the config file merged with those the
//! web console's config center publishes.
//!
//! The config center is polled (`GET {url}/internal/v1/config/transfer`, with `If-None-Match`
//! so an unchanged document costs a 304); each new document is cached on disk, so a transfer
//! restarted while the console is unreachable still knows every tenant.

use crate::config::{TenantTokens, TokenTable};
use argus_core::center::{fetch, Cached, Fetched, Pull};
use argus_core::quota::QuotaOverride;
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The config center's document for transfers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferRemoteConfig {
    /// Increases with every change.
    pub version: u64,
    /// Every tenant's agent tokens and quota.
    pub tenants: Vec<RemoteTenant>,
}

/// One tenant of the config center's document. Read leniently: fields a newer console adds are
/// ignored (unlike the config file, where an unknown key is a mistake worth refusing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteTenant {
    /// The tenant.
    pub tenant: TenantId,
    /// SHA-256 (hex) of each valid agent token.
    #[serde(default)]
    pub token_sha256: Vec<String>,
    /// The quota the platform admin set in the console, over `[quotas]`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_quota"
    )]
    pub quota: Option<QuotaOverride>,
}

/// A quota this transfer cannot read (a newer console's) is left out, with a warning, rather
/// than costing every tenant its tokens.
fn lenient_quota<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<QuotaOverride>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| match serde_json::from_value::<QuotaOverride>(v) {
        Ok(q) if q.check().is_ok() => Some(q),
        other => {
            tracing::warn!(quota = ?other, "a tenant quota from the config center is not readable; keeping [quotas]");
            None
        }
    }))
}

/// Each tenant's quota set in the console, shared with the quotas in force.
pub type QuotaOverrides = Arc<RwLock<HashMap<TenantId, QuotaOverride>>>;

struct Sources {
    statics: Vec<TenantTokens>,
    remote: TransferRemoteConfig,
}

/// The token table in force and where it comes from.
pub struct Tokens {
    table: RwLock<Arc<TokenTable>>,
    sources: RwLock<Sources>,
    cache_file: PathBuf,
    quotas: QuotaOverrides,
    /// Counts the pulls as configuration sent to the global zone (see [`Tokens::count_with`]).
    xr: RwLock<Option<argus_core::telemetry::CrossRegion>>,
}

impl Tokens {
    /// Tokens from `statics`, plus the config center's last document cached in `cache_file`.
    pub fn new(statics: Vec<TenantTokens>, cache_file: PathBuf) -> Arc<Tokens> {
        let remote = Cached::<TransferRemoteConfig>::load(&cache_file)
            .map(|c| c.doc)
            .unwrap_or_default();
        let t = Arc::new(Tokens {
            table: RwLock::new(Arc::new(TokenTable::default())),
            sources: RwLock::new(Sources { statics, remote }),
            cache_file,
            quotas: QuotaOverrides::default(),
            xr: RwLock::new(None),
        });
        t.rebuild();
        t
    }

    fn rebuild(&self) {
        let s = self.sources.read().expect("tokens lock");
        let mut table = TokenTable::new(&s.statics);
        let remote: Vec<TenantTokens> = s
            .remote
            .tenants
            .iter()
            .map(|r| TenantTokens {
                tenant: r.tenant.clone(),
                token_sha256: r.token_sha256.clone(),
            })
            .collect();
        table.extend(&remote);
        *self.table.write().expect("tokens lock") = Arc::new(table);
        *self.quotas.write().expect("tokens lock") = s
            .remote
            .tenants
            .iter()
            .filter_map(|r| Some((r.tenant.clone(), r.quota.clone()?)))
            .collect();
    }

    /// The quotas the console sets per tenant, kept current with each document.
    pub fn quota_overrides(&self) -> QuotaOverrides {
        self.quotas.clone()
    }

    /// Counts the pulls from the config center in `xr` (and names the region in them).
    pub fn count_with(&self, xr: argus_core::telemetry::CrossRegion) {
        *self.xr.write().expect("tokens lock") = Some(xr);
    }

    /// The tenant of `token`.
    pub fn tenant_of(&self, token: &str) -> Option<TenantId> {
        self.table
            .read()
            .expect("tokens lock")
            .tenant_of(token)
            .cloned()
    }

    /// Replaces the static tokens (config reload).
    pub fn set_static(&self, statics: Vec<TenantTokens>) {
        self.sources.write().expect("tokens lock").statics = statics;
        self.rebuild();
    }

    /// The version of the config center's document in force (0: none yet).
    pub fn remote_version(&self) -> u64 {
        self.sources.read().expect("tokens lock").remote.version
    }

    fn set_remote(&self, doc: TransferRemoteConfig, etag: Option<String>) {
        let cached = Cached { etag, doc };
        if let Err(e) = cached.save(&self.cache_file) {
            tracing::warn!(file = %self.cache_file.display(), error = %e, "cannot cache tenant tokens");
        }
        self.sources.write().expect("tokens lock").remote = cached.doc;
        self.rebuild();
    }

    fn cached_etag(&self) -> Option<String> {
        Cached::<TransferRemoteConfig>::load(&self.cache_file).and_then(|c| c.etag)
    }

    /// Polls the config center at `url` every `every` until `stop`; `tls` holds the roots of
    /// `[tls] ca_file` for an `https://` center.
    pub async fn poll(
        self: Arc<Self>,
        url: String,
        internal_token: String,
        every: Duration,
        tls: argus_core::tls::ClientTls,
        mut stop: watch::Receiver<bool>,
    ) {
        let http = tls
            .builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client with checked roots builds");
        let endpoint = format!("{}/internal/v1/config/transfer", url.trim_end_matches('/'));
        let mut etag = self.cached_etag();
        loop {
            let xr = self.xr.read().expect("tokens lock").clone();
            let pull = Pull {
                url: &endpoint,
                token: &internal_token,
                etag: etag.as_deref(),
                cross: xr.as_ref(),
            };
            match fetch::<TransferRemoteConfig>(&http, pull).await {
                Ok(Fetched::Changed { doc, etag: tag }) => {
                    tracing::info!(
                        version = doc.version,
                        tenants = doc.tenants.len(),
                        "tenant tokens updated from the config center"
                    );
                    etag = tag.clone();
                    self.set_remote(doc, tag);
                }
                Ok(Fetched::NotModified) => {}
                Err(e) => tracing::warn!(error = %e,
                    "config center unreachable; keeping the tokens in force"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_document_tolerates_new_fields_and_merges_with_static_tokens() {
        let doc: TransferRemoteConfig = serde_json::from_str(
            r#"{"version": 3, "tenants": [{"tenant": "gamma", "token_sha256": ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"], "since": 1}]}"#,
        )
        .unwrap();
        assert_eq!(doc.version, 3);
        let d = tempfile::tempdir().unwrap();
        let t = Tokens::new(
            vec![TenantTokens {
                tenant: TenantId::new("acme").unwrap(),
                token_sha256: vec![argus_core::auth::hash_token("a")],
            }],
            d.path().join("cache.json"),
        );
        t.set_remote(doc, Some("\"3\"".into()));
        assert_eq!(t.tenant_of("").unwrap().as_str(), "gamma");
        assert_eq!(t.tenant_of("a").unwrap().as_str(), "acme");
        assert!(t.tenant_of("b").is_none());
        let again = Tokens::new(vec![], d.path().join("cache.json"));
        assert_eq!(again.remote_version(), 3);
        assert_eq!(again.cached_etag().as_deref(), Some("\"3\""));
    }
}
