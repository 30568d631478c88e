//! `argus-web`: the console, the API and the configuration center.

use argus_core::service::ServiceArgs;
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
    argus_core::service::run::<argus_web::Running>(&cli.service).await
}
