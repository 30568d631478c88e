//! Where the notification configuration comes from: the static `tenants` of the config file,
//! and the web configuration center polled with ETag / If-None-Match.

use crate::routing::NotifyIndex;
use argus_core::center::{fetch, Fetched, Pull};
use argus_core::notify::TenantNotifyConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The answer of `GET {web}/internal/v1/config/notify`.
#[derive(Debug, Deserialize)]
pub struct NotifyConfigDoc {
    /// Changes whenever anything changes.
    pub version: u64,
    /// Every tenant's configuration.
    #[serde(default)]
    pub tenants: Vec<TenantNotifyConfig>,
}

/// The configuration in force, swapped whole when a new one arrives.
pub struct ConfigSource {
    current: RwLock<Arc<NotifyIndex>>,
    statics: Vec<TenantNotifyConfig>,
    ready: AtomicBool,
}

impl ConfigSource {
    /// Starts with the static tenants; `wait_for_web` keeps it not [`ready`](Self::ready) until
    /// web's configuration first arrives, so no event is decided without its subscriptions.
    pub fn new(statics: Vec<TenantNotifyConfig>, wait_for_web: bool) -> Self {
        ConfigSource {
            current: RwLock::new(Arc::new(NotifyIndex::new(statics.clone()))),
            statics,
            ready: AtomicBool::new(!wait_for_web),
        }
    }

    /// True once the configuration is complete enough to decide events.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The configuration in force.
    pub fn get(&self) -> Arc<NotifyIndex> {
        self.current.read().expect("config lock").clone()
    }

    /// Installs web's tenants over the static ones (web wins for a tenant both name).
    pub fn install(&self, from_web: Vec<TenantNotifyConfig>) {
        let mut merged: BTreeMap<_, _> = self
            .statics
            .iter()
            .map(|t| (t.tenant.clone(), t.clone()))
            .collect();
        for t in from_web {
            merged.insert(t.tenant.clone(), t);
        }
        *self.current.write().expect("config lock") =
            Arc::new(NotifyIndex::new(merged.into_values().collect()));
        self.ready.store(true, Ordering::SeqCst);
    }
}

/// Pulls from web every `every` until `stop` fires; keeps the last good configuration on errors.
/// `tls` holds the roots of `[tls] ca_file`, for an `https://` web.
pub async fn poll_web(
    source: Arc<ConfigSource>,
    web_url: String,
    token: String,
    every: Duration,
    tls: argus_core::tls::ClientTls,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = match tls.builder().timeout(Duration::from_secs(15)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the config client");
            return;
        }
    };
    let url = format!(
        "{}/internal/v1/config/notify",
        web_url.trim_end_matches('/')
    );
    let mut etag: Option<String> = None;
    loop {
        let pull = Pull {
            url: &url,
            token: &token,
            etag: etag.as_deref(),
            cross: None, // alarm is in the global zone, as web is
        };
        match fetch::<NotifyConfigDoc>(&client, pull).await {
            Ok(Fetched::Changed { doc, etag: tag }) => {
                tracing::info!(
                    version = doc.version,
                    tenants = doc.tenants.len(),
                    "notify config updated"
                );
                source.install(doc.tenants);
                etag = tag;
            }
            Ok(Fetched::NotModified) => {}
            Err(e) => tracing::warn!(error = %e, "cannot pull notify config; keeping the last one"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
