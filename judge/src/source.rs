//! Where strategies come from: the web config center (pulled with ETag / If-None-Match, the last
//! good answer cached on disk for when the center is unreachable) and an optional static file.

use crate::config::JudgeConfig;
use anyhow::Context;
use argus_core::center::{fetch, Cached, FetchError, Fetched, Pull};
use argus_core::strategy::TenantStrategies;
use serde::de::DeserializeOwned;
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

/// One document of the config center, pulled with ETag / If-None-Match; the last good answer
/// is cached on disk (and loaded at start) for when the center is unreachable. Strategies and
/// rules are both pulled through it.
pub(crate) struct CenterDoc<T> {
    url: String,
    cache_path: PathBuf,
    etag: Option<String>,
    doc: T,
}

impl<T: Serialize + DeserializeOwned + PartialEq + Default + Clone> CenterDoc<T> {
    /// The document at `path` of the center `base`, cached in `cache_path`.
    pub(crate) fn new(base: &str, path: &str, cache_path: PathBuf) -> Self {
        CenterDoc {
            url: format!("{}{path}", base.trim_end_matches('/')),
            cache_path,
            etag: None,
            doc: T::default(),
        }
    }

    /// Takes the cached answer, if there is one; true when there was.
    pub(crate) fn load_cache(&mut self) -> bool {
        match Cached::<T>::load(&self.cache_path) {
            Some(c) => {
                self.etag = c.etag;
                self.doc = c.doc;
                true
            }
            None => false,
        }
    }

    /// The document in force.
    pub(crate) fn doc(&self) -> &T {
        &self.doc
    }

    /// Pulls once; true when the document changed (it is then cached).
    pub(crate) async fn pull(
        &mut self,
        client: &reqwest::Client,
        token: &str,
        cross: Option<&argus_core::telemetry::CrossRegion>,
    ) -> Result<bool, FetchError> {
        let pull = Pull {
            url: &self.url,
            token,
            etag: self.etag.as_deref(),
            cross,
        };
        let Fetched::Changed { doc, etag } = fetch::<T>(client, pull).await? else {
            return Ok(false);
        };
        self.etag = etag;
        if doc == self.doc {
            return Ok(false);
        }
        self.doc = doc;
        let cached = Cached {
            etag: self.etag.clone(),
            doc: self.doc.clone(),
        };
        if let Err(e) = cached.save(&self.cache_path) {
            tracing::warn!(error = %e, path = %self.cache_path.display(), "cannot cache a configuration document");
        }
        Ok(true)
    }
}

/// Tracks both sources and says when the combined set changed.
pub struct Source {
    center: Option<CenterDoc<StrategiesDoc>>,
    token: String,
    client: reqwest::Client,
    file: Option<PathBuf>,
    file_stamp: Option<(SystemTime, u64)>,
    file_doc: StrategiesDoc,
    xr: Option<argus_core::telemetry::CrossRegion>,
}

impl Source {
    /// A source per `cfg`; call [`init`](Self::init) before use.
    pub fn new(cfg: &JudgeConfig, client: reqwest::Client) -> Self {
        Source {
            center: cfg.config_center.as_deref().map(|base| {
                CenterDoc::new(
                    base,
                    "/internal/v1/config/strategies",
                    cfg.data_dir.join("strategies.cache.json"),
                )
            }),
            token: cfg.internal_token.clone(),
            client,
            file: cfg.strategies_file.clone(),
            file_stamp: None,
            file_doc: StrategiesDoc::default(),
            xr: None,
        }
    }

    /// Loads the static file (an error is fatal at start) and the cached center answer.
    pub fn init(&mut self) -> anyhow::Result<()> {
        if self.file.is_some() {
            self.reload_file()?;
        }
        if let Some(center) = &mut self.center {
            if center.load_cache() {
                tracing::info!(
                    version = center.doc().version,
                    "strategies: loaded the cached set"
                );
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
        let Some(center) = &mut self.center else {
            return Ok(false);
        };
        if !center
            .pull(&self.client, &self.token, self.xr.as_ref())
            .await?
        {
            return Ok(false);
        }
        tracing::info!(
            version = center.doc().version,
            tenants = center.doc().tenants.len(),
            "strategies: new set from the config center"
        );
        Ok(true)
    }

    /// Every tenant's model: the center's, plus the static file's tenants the center does not serve.
    pub fn combined(&self) -> Vec<TenantStrategies> {
        let mut out = self
            .center
            .as_ref()
            .map(|c| c.doc().tenants.clone())
            .unwrap_or_default();
        for t in &self.file_doc.tenants {
            if !out.iter().any(|c| c.tenant == t.tenant) {
                out.push(t.clone());
            }
        }
        out
    }
}
