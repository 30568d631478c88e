//! Applies a changed config file without a restart: the rings (storage nodes, judges,
//! replicas, virtual nodes), tenants' tokens, quotas and ingest mapping. The file is re-read on
//! SIGHUP and whenever its modification time changes (checked every `reload_secs`). A file that
//! does not load or check is logged and ignored: the configuration in force stays.

use crate::server::State;
use actix_web::web;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

fn mtime(file: &Path) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

/// Re-reads `file` and applies it to `st`.
pub fn reload(file: &Path, st: &State) -> anyhow::Result<()> {
    let mut cfg: crate::TransferConfig = argus_core::config::load(Some(file), "ARGUS_TRANSFER")?;
    cfg.config_file = Some(file.to_path_buf());
    st.apply(&cfg)?;
    tracing::info!(file = %file.display(), stores = cfg.stores.len(), judges = cfg.judges.len(),
        tenants = cfg.tenants.len(), "configuration reloaded");
    Ok(())
}

/// Watches `file` until `stop`.
pub async fn watch(
    file: PathBuf,
    every: Duration,
    st: web::Data<State>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = mtime(&file);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let poll = async {
            if every.is_zero() {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(every).await
            }
        };
        #[cfg(unix)]
        let hup_fut = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fut = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = poll => false,
            _ = hup_fut => true,
            _ = stop.changed() => return,
        };
        let now = mtime(&file);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        if let Err(e) = reload(&file, &st) {
            tracing::error!(file = %file.display(), error = %e,
                "configuration not reloaded; the one in force stays");
        }
    }
}
