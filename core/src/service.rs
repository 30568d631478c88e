//! What every Argus binary shares: the common command-line options, and the runner that reads a
//! component's configuration, starts it, and stops it gracefully on Ctrl-C or SIGTERM.
//!
//! Each component implements [`Component`] once; its own binary (`argus-store`, ...) and the
//! `argus` binary's subcommand (`argus store`, ...) both run it through [`run`], so that the two
//! read the same configuration keys, log the same way and stop the same way.

use clap::Args;
use serde::de::DeserializeOwned;
use std::future::Future;
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

/// A component a binary runs: its configuration, how it starts, and how it stops.
///
/// Implemented by each component's running handle (e.g. `argus_store::node::StoreNode`).
pub trait Component: Sized {
    /// The configuration file's type.
    type Config: DeserializeOwned;
    /// The prefix of the environment variables that override configuration keys
    /// (`ARGUS_STORE` for `ARGUS_STORE__LISTEN`).
    const ENV_PREFIX: &'static str;
    /// Starts the component with `cfg`, read from the file `args` names (if any).
    fn start(cfg: Self::Config, args: &ServiceArgs) -> impl Future<Output = anyhow::Result<Self>>;
    /// Stops it gracefully: in-flight work finishes and state is saved.
    fn stop(self) -> impl Future<Output = ()>;
}

/// Starts logging (as `--log-json` asks) and reads `C`'s configuration: the file `args` names,
/// then environment overrides, over the defaults.
pub fn setup<C: Component>(args: &ServiceArgs) -> anyhow::Result<C::Config> {
    crate::telemetry::init_logging(args.log_json, "info");
    Ok(crate::config::load(args.config.as_deref(), C::ENV_PREFIX)?)
}

/// Waits for Ctrl-C or SIGTERM, then stops `running`.
pub async fn serve<C: Component>(running: C) {
    shutdown_signal().await;
    running.stop().await;
}

/// Runs component `C` until the process is asked to stop: [`setup`], [`Component::start`],
/// then [`serve`].
pub async fn run<C: Component>(args: &ServiceArgs) -> anyhow::Result<()> {
    let cfg = setup::<C>(args)?;
    let running = C::start(cfg, args).await?;
    serve(running).await;
    Ok(())
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
