//! `argus-alarm`: the global alarm service.

use argus_core::service::{self, Component as _, ServiceArgs};
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
    let cfg = service::setup::<argus_alarm::Running>(&cli.service)?;
    let running = argus_alarm::Running::start(cfg, &cli.service).await?;
    // Tests and supervisors read the bound address from this line.
    println!("argus-alarm listening on {}", running.addr);
    service::serve(running).await;
    Ok(())
}
