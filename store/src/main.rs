//! `argus-store`: the region's storage node.

use argus_core::service::{shutdown_signal, ServiceArgs};
use clap::Parser;

/// Argus storage node: keeps the region's metrics and answers queries.
#[derive(Parser, Debug)]
#[command(name = "argus-store", version, about)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    argus_core::telemetry::init_logging(cli.service.log_json, "info");
    let cfg: argus_store::node::StoreConfig =
        argus_core::config::load(cli.service.config.as_deref(), "ARGUS_STORE")?;
    let node = argus_store::node::start(cfg).await?;
    shutdown_signal().await;
    node.stop().await;
    Ok(())
}
