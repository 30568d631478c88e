//! `argus-web`: the console, the API and the configuration center.

use argus_core::service::{shutdown_signal, ServiceArgs};
use clap::Parser;

/// Argus web: the tenant console, the REST API and the configuration center.
#[derive(Parser, Debug)]
#[command(name = "argus-web", version, about)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    argus_core::telemetry::init_logging(cli.service.log_json, "info");
    let cfg: argus_web::WebConfig =
        argus_core::config::load(cli.service.config.as_deref(), "ARGUS_WEB")?;
    let running = argus_web::start(cfg).await?;
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}
