//! What every Argus binary shares: the common command-line options and graceful shutdown.

use clap::Args;
use std::path::PathBuf;

/// Options every component binary takes.
#[derive(Debug, Clone, Args, Default)]
pub struct ServiceArgs {
    /// The TOML configuration file. Without it, documented defaults apply; environment variables
    /// `ARGUS_<COMPONENT>__<KEY>` override either.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log one JSON object per line instead of human-readable lines.
    #[arg(long)]
    pub log_json: bool,
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
