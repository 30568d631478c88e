//! `argus-alarm`: the global alarm service.

use argus_core::service::{shutdown_signal, ServiceArgs};
use clap::Parser;

/// Argus alarm: stores events once, decides who hears about them, and sends email and webhooks.
#[derive(Parser, Debug)]
#[command(name = "argus-alarm", version, about)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    argus_core::telemetry::init_logging(cli.service.log_json, "info");
    let cfg: argus_alarm::AlarmConfig =
        argus_core::config::load(cli.service.config.as_deref(), "ARGUS_ALARM")?;
    let running = argus_alarm::start(cfg).await?;
    // Tests and supervisors read the bound address from this line.
    println!("argus-alarm listening on {}", running.addr);
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}
