//! `argus-judge`: a region's streaming evaluator.

use argus_core::service::ServiceArgs;
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
    argus_core::service::run::<argus_judge::Running>(&cli.service).await
}
