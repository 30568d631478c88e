//! Where strategies come from: the web config center (pulled with ETag / If-None-Match, the last
//! good answer cached on disk for when the center is unreachable) and an optional static file.

use crate::config::JudgeConfig;
use anyhow::Context;
use argus_core::center::{fetch, Cached, FetchError, Fetched, Pull};
use argus_core::strategy::TenantStrategies;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The config center's answer, and the static file's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategiesDoc {
    /// Changes whenever any tenant's strategies change.
    #[serde(default)]
    pub version: u64,
    /// Every tenant's model.
    #[serde(default)]
    pub tenants: Vec<TenantStrategies>,
}

impl StrategiesDoc {
    /// Reads a strategies file: TOML when its name ends in `.toml`, JSON otherwise.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read strategies file {}", path.display()))?;
        if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text)
                .with_context(|| format!("strategies file {} is invalid", path.display()))
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("strategies file {} is invalid", path.display()))
        }
    }
}

/// Tracks both sources and says when the combined set changed.
pub struct Source {
    center: Option<String>,
    token: String,
    client: reqwest::Client,
    cache_path: PathBuf,
    file: Option<PathBuf>,
    file_stamp: Option<(SystemTime, u64)>,
    file_doc: StrategiesDoc,
    etag: Option<String>,
    center_doc: StrategiesDoc,
    xr: Option<argus_core::telemetry::CrossRegion>,
}

impl Source {
    /// A source per `cfg`; call [`init`](Self::init) before use.
    pub fn new(cfg: &JudgeConfig, client: reqwest::Client) -> Self {
        Source {
            center: cfg.config_center.clone(),
            token: cfg.internal_token.clone(),
            client,
            cache_path: cfg.data_dir.join("strategies.cache.json"),
            file: cfg.strategies_file.clone(),
            file_stamp: None,
            file_doc: StrategiesDoc::default(),
            etag: None,
            center_doc: StrategiesDoc::default(),
            xr: None,
        }
    }

    /// Loads the static file (an error is fatal at start) and the cached center answer.
    pub fn init(&mut self) -> anyhow::Result<()> {
        if self.file.is_some() {
            self.reload_file()?;
        }
        if self.center.is_some() {
            if let Some(c) = Cached::<StrategiesDoc>::load(&self.cache_path) {
                tracing::info!(version = c.doc.version, "strategies: loaded the cached set");
                self.etag = c.etag;
                self.center_doc = c.doc;
            }
        }
        Ok(())
    }

    /// Re-reads the static file when it changed; true when it did.
    fn reload_file(&mut self) -> anyhow::Result<bool> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read strategies file {}", path.display()))?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if self.file_stamp == Some(stamp) {
            return Ok(false);
        }
        self.file_doc = StrategiesDoc::load(path)?;
        self.file_stamp = Some(stamp);
        Ok(true)
    }

    /// Checks both sources once; true when the combined set changed. Errors are logged and the
    /// last good set stays.
    pub async fn poll(&mut self) -> bool {
        let mut changed = match self.reload_file() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "strategies file: keeping the last good set");
                false
            }
        };
        if self.center.is_some() {
            match self.pull().await {
                Ok(c) => changed |= c,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "config center: keeping the last good set")
                }
            }
        }
        changed
    }

    /// Counts the pulls from the config center as configuration sent to the global zone.
    pub fn count_with(&mut self, xr: argus_core::telemetry::CrossRegion) {
        self.xr = Some(xr);
    }

    async fn pull(&mut self) -> Result<bool, FetchError> {
        let base = self.center.as_deref().unwrap_or_default();
        let url = format!(
            "{}/internal/v1/config/strategies",
            base.trim_end_matches('/')
        );
        let pull = Pull {
            url: &url,
            token: &self.token,
            etag: self.etag.as_deref(),
            cross: self.xr.as_ref(),
        };
        let Fetched::Changed { doc, etag } = fetch::<StrategiesDoc>(&self.client, pull).await?
        else {
            return Ok(false);
        };
        self.etag = etag;
        if doc == self.center_doc {
            return Ok(false);
        }
        tracing::info!(
            version = doc.version,
            tenants = doc.tenants.len(),
            "strategies: new set from the config center"
        );
        self.center_doc = doc;
        let cached = Cached {
            etag: self.etag.clone(),
            doc: self.center_doc.clone(),
        };
        if let Err(e) = cached.save(&self.cache_path) {
            tracing::warn!(error = %e, path = %self.cache_path.display(), "strategies: cannot cache");
        }
        Ok(true)
    }

    /// Every tenant's model: the center's, plus the static file's tenants the center does not serve.
    pub fn combined(&self) -> Vec<TenantStrategies> {
        let mut out = self.center_doc.tenants.clone();
        for t in &self.file_doc.tenants {
            if !out.iter().any(|c| c.tenant == t.tenant) {
                out.push(t.clone());
            }
        }
        out
    }
}
