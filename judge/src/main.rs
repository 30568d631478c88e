//! `argus-judge`: a region's streaming evaluator.

use argus_core::service::{shutdown_signal, ServiceArgs};
use clap::Parser;

/// Argus judge: evaluates each point against its strategies and sends PROBLEM/OK events to alarm.
#[derive(Parser, Debug)]
#[command(name = "argus-judge", version, about)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    argus_core::telemetry::init_logging(cli.service.log_json, "info");
    let cfg: argus_judge::JudgeConfig =
        argus_core::config::load(cli.service.config.as_deref(), "ARGUS_JUDGE")?;
    let running = argus_judge::start(cfg).await?;
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}
