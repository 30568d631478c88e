//! A region on an existing time-series database (`[remote_storage]`): VictoriaMetrics (single
//! or cluster), Grafana Mimir, Thanos Receive/Query or Prometheus, instead of storage nodes.
//!
//! - Writes ([`mod@write`]): accepted points go to the backend by Prometheus remote write through
//!   the same downstream machinery as a storage node (coalesced writes, circuit breaker, fsynced
//!   spool while the backend is down), so a push is acknowledged only once the backend or the
//!   spool has its points.
//! - Reads ([`read`]): the region's query endpoint reads raw samples from the backend's
//!   Prometheus query API with range-selector queries that Argus builds itself, every selector
//!   confined to the caller's tenant; Argus's own engine evaluates PromQL over them, so answers
//!   have Prometheus 2.42 semantics whatever the backend.
//! - Tenancy ([`Tenancy`]): a label added on write and required on read, a VictoriaMetrics
//!   cluster account in the URL path, or a tenant header (Mimir, Cortex, Thanos).
//!
//! Labels are PromQL's view of a series (`argus_promql::labels`): `__name__` the metric,
//! `endpoint` the endpoint (absent when it came from another label), tags as labels. Label
//! names a backend cannot take are written with `_` for each other character.

pub mod read;
pub mod write;

use argus_core::telemetry::{Counter, Registry};
use argus_core::tls::ClientTls;
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How tenants are kept apart on a backend shared by several tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tenancy {
    /// A label (`tenant_label`) on every series written; every selector Argus sends carries
    /// it, and answers without it are dropped. Works with every backend.
    #[default]
    Label,
    /// VictoriaMetrics cluster's accounts: `{account}` in both URLs is replaced by the
    /// tenant's account id from `accounts`.
    Account,
    /// A header (`tenant_header`, `X-Scope-OrgID` for Mimir and Cortex, `THANOS-TENANT` for
    /// Thanos Receive) naming the tenant on every request.
    Header,
}

/// `[remote_storage]`: the region's points in an existing TSDB instead of storage nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteStorageConfig {
    /// The backend's Prometheus remote-write URL, e.g. `http://vm:8428/api/v1/write`,
    /// `http://vminsert:8480/insert/{account}/prometheus/api/v1/write`,
    /// `http://mimir:8080/api/v1/push`. Empty: the region uses storage nodes (`stores`).
    pub write_url: String,
    /// The root of the backend's Prometheus query API (where `/api/v1/query` is), e.g.
    /// `http://vm:8428`, `http://vmselect:8481/select/{account}/prometheus`,
    /// `http://mimir:8080/prometheus`.
    pub read_url: String,
    /// How tenants are kept apart.
    pub tenancy: Tenancy,
    /// The label naming the tenant (`tenancy = "label"`). A point's own tag of that name is
    /// written as `exported_<name>` and read back under its name.
    pub tenant_label: String,
    /// The header naming the tenant (`tenancy = "header"`).
    pub tenant_header: String,
    /// Tenant → VictoriaMetrics cluster account id (`accountID` or `accountID:projectID`) for
    /// `tenancy = "account"`. A tenant without one cannot push to this region (503).
    pub accounts: BTreeMap<String, String>,
    /// Bearer token sent to the backend. Empty: none.
    pub bearer_token: String,
    /// Basic-auth user (with `password`). Empty: none.
    pub username: String,
    /// Basic-auth password.
    pub password: String,
    /// Timeout of one request to the backend, in milliseconds.
    pub timeout_ms: u64,
    /// Largest answer read from the backend for one query, in bytes; a larger one fails the
    /// query (422) instead of filling memory.
    pub max_response_bytes: usize,
    /// How far back `last` (the REST API's latest values) looks, in seconds.
    pub last_lookback_secs: i64,
    /// The time range of listings that name none (the REST API's series lists), in seconds.
    pub listing_range_secs: i64,
}

impl Default for RemoteStorageConfig {
    fn default() -> Self {
        RemoteStorageConfig {
            write_url: String::new(),
            read_url: String::new(),
            tenancy: Tenancy::Label,
            tenant_label: "tenant".into(),
            tenant_header: "X-Scope-OrgID".into(),
            accounts: BTreeMap::new(),
            bearer_token: String::new(),
            username: String::new(),
            password: String::new(),
            timeout_ms: 10_000,
            max_response_bytes: 256 << 20,
            last_lookback_secs: 3_600,
            listing_range_secs: 86_400,
        }
    }
}

impl RemoteStorageConfig {
    /// True when the region stores its points in a remote backend.
    pub fn enabled(&self) -> bool {
        !self.write_url.is_empty()
    }

    /// What serde cannot check: `(key, reason)` of the first problem.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !self.enabled() {
            return Ok(());
        }
        for (key, url) in [
            ("remote_storage.write_url", &self.write_url),
            ("remote_storage.read_url", &self.read_url),
        ] {
            if url.is_empty() {
                return Err((key, "both URLs are needed (write and query)".into()));
            }
            let probe = url.replace("{account}", "0");
            match reqwest::Url::parse(&probe) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                Ok(_) => return Err((key, format!("{url:?}: only http and https are supported"))),
                Err(e) => return Err((key, format!("{url:?} is not a URL: {e}"))),
            }
            let has_account = url.contains("{account}");
            if has_account != (self.tenancy == Tenancy::Account) {
                return Err((
                    key,
                    "`{account}` belongs in both URLs exactly when tenancy = \"account\"".into(),
                ));
            }
        }
        match self.tenancy {
            Tenancy::Label if !valid_label_name(&self.tenant_label) => Err((
                "remote_storage.tenant_label",
                format!("{:?} is not a label name", self.tenant_label),
            )),
            Tenancy::Header if self.tenant_header.trim().is_empty() => Err((
                "remote_storage.tenant_header",
                "a header name is needed for tenancy = \"header\"".into(),
            )),
            Tenancy::Account => {
                for (t, a) in &self.accounts {
                    let ok = a.split(':').count() <= 2
                        && a.split(':')
                            .all(|p| !p.is_empty() && p.parse::<u32>().is_ok());
                    if !ok {
                        return Err((
                            "remote_storage.accounts",
                            format!("tenant {t}: {a:?} is not accountID or accountID:projectID"),
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Why a tenant cannot use the backend.
#[derive(Debug, Clone, thiserror::Error)]
#[error("tenant {0} has no account in remote_storage.accounts")]
pub struct NoAccount(pub TenantId);

/// The backend as both writer and reader see it: one pooled HTTP client, the tenancy rule.
#[derive(Clone)]
pub struct Backend {
    cfg: RemoteStorageConfig,
    http: reqwest::Client,
    /// Writes the backend refused in part as invalid (400/422).
    refused: Arc<Counter>,
}

impl Backend {
    /// A backend per `cfg`, trusting the extra roots of `tls` for `https://` URLs.
    pub fn new(
        cfg: &RemoteStorageConfig,
        tls: &ClientTls,
        registry: &Registry,
    ) -> anyhow::Result<Backend> {
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let http = tls
            .builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()?;
        Ok(Backend {
            cfg: cfg.clone(),
            http,
            refused: registry.counter(
                "argus_transfer_remote_refused_writes_total",
                "Remote writes whose samples the backend refused in part as invalid (400/422).",
                &[],
            ),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RemoteStorageConfig {
        &self.cfg
    }

    /// `url` for `tenant`: the account put in, when accounts separate tenants.
    pub(crate) fn url_for(&self, url: &str, tenant: &TenantId) -> Result<String, NoAccount> {
        if self.cfg.tenancy != Tenancy::Account {
            return Ok(url.to_string());
        }
        let account = self
            .cfg
            .accounts
            .get(tenant.as_str())
            .ok_or_else(|| NoAccount(tenant.clone()))?;
        Ok(url.replace("{account}", account))
    }

    /// Checks that `tenant` can be written (it has an account when accounts are used).
    pub fn admits(&self, tenant: &TenantId) -> Result<(), NoAccount> {
        self.url_for("", tenant).map(|_| ())
    }

    /// A request to `url` for `tenant`, with credentials and the tenant header if any.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        tenant: Option<&TenantId>,
    ) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, url);
        if !self.cfg.bearer_token.is_empty() {
            req = req.bearer_auth(&self.cfg.bearer_token);
        } else if !self.cfg.username.is_empty() {
            req = req.basic_auth(&self.cfg.username, Some(&self.cfg.password));
        }
        if let (Tenancy::Header, Some(t)) = (self.cfg.tenancy, tenant) {
            req = req.header(self.cfg.tenant_header.as_str(), t.as_str());
        }
        req
    }

    /// The label carrying the tenant, when a label separates tenants.
    pub(crate) fn tenant_label(&self) -> Option<&str> {
        (self.cfg.tenancy == Tenancy::Label).then_some(self.cfg.tenant_label.as_str())
    }
}

/// True for a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A tag key as a label name a backend takes: each other character becomes `_`.
pub(crate) fn label_name(s: &str) -> std::borrow::Cow<'_, str> {
    if valid_label_name(s) {
        return s.into();
    }
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out.into()
}

/// The name a point's own label `name` is stored under: the tenant label's name is taken by
/// the tenancy, so a point's own such label is kept as `exported_<name>` (Prometheus's habit
/// for clashing target labels).
pub(crate) fn stored_name<'a>(
    name: &'a str,
    tenant_label: Option<&str>,
) -> std::borrow::Cow<'a, str> {
    match tenant_label {
        Some(t) if name == t => format!("exported_{name}").into(),
        _ => label_name(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_key() {
        let ok = RemoteStorageConfig {
            write_url: "http://vm:8428/api/v1/write".into(),
            read_url: "http://vm:8428".into(),
            ..Default::default()
        };
        assert!(ok.check().is_ok());
        let no_read = RemoteStorageConfig {
            read_url: String::new(),
            ..ok.clone()
        };
        assert_eq!(no_read.check().unwrap_err().0, "remote_storage.read_url");
        let account_without_placeholder = RemoteStorageConfig {
            tenancy: Tenancy::Account,
            ..ok.clone()
        };
        assert_eq!(
            account_without_placeholder.check().unwrap_err().0,
            "remote_storage.write_url"
        );
        let bad_account = RemoteStorageConfig {
            tenancy: Tenancy::Account,
            write_url: "http://i:8480/insert/{account}/prometheus/api/v1/write".into(),
            read_url: "http://s:8481/select/{account}/prometheus".into(),
            accounts: [("acme".to_string(), "x:1".to_string())].into(),
            ..ok.clone()
        };
        assert_eq!(
            bad_account.check().unwrap_err().0,
            "remote_storage.accounts"
        );
        let bad_label = RemoteStorageConfig {
            tenant_label: "a-b".into(),
            ..ok
        };
        assert_eq!(
            bad_label.check().unwrap_err().0,
            "remote_storage.tenant_label"
        );
    }

    #[test]
    fn accounts_go_into_urls() {
        let cfg = RemoteStorageConfig {
            tenancy: Tenancy::Account,
            write_url: "http://i:8480/insert/{account}/prometheus/api/v1/write".into(),
            read_url: "http://s:8481/select/{account}/prometheus".into(),
            accounts: [("acme".to_string(), "7:2".to_string())].into(),
            ..Default::default()
        };
        let b = Backend::new(&cfg, &ClientTls::default(), &Registry::new()).unwrap();
        let acme = TenantId::new("acme").unwrap();
        assert_eq!(
            b.url_for(&cfg.read_url, &acme).unwrap(),
            "http://s:8481/select/7:2/prometheus"
        );
        assert!(b.admits(&TenantId::new("other").unwrap()).is_err());
    }

    #[test]
    fn label_names_are_made_valid() {
        assert_eq!(label_name("mount_point"), "mount_point");
        assert_eq!(label_name("a.b-c"), "a_b_c");
        assert_eq!(label_name("9x"), "_9x");
        assert_eq!(stored_name("tenant", Some("tenant")), "exported_tenant");
        assert_eq!(stored_name("tenant", None), "tenant");
    }
}
