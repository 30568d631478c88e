//! `argus-agent`: the host agent.

use argus_core::service::{shutdown_signal, ServiceArgs};
use clap::Parser;

/// Argus agent: collects this host's metrics, takes pushed points on a local port, and sends
/// them to the region's transfers.
#[derive(Parser, Debug)]
#[command(name = "argus-agent", version, about)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    argus_core::telemetry::init_logging(cli.service.log_json, "info");
    let cfg: argus_agent::AgentConfig =
        argus_core::config::load(cli.service.config.as_deref(), "ARGUS_AGENT")?;
    let running = argus_agent::start(cfg).await?;
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}
