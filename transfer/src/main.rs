//! `argus-transfer`: a region's ingest node.

use argus_core::service::{shutdown_signal, ServiceArgs};
use clap::Parser;

/// mimalloc: the ingest path allocates per point (strings of decoded points) and glibc malloc
/// was a third of its CPU (docs/BENCHMARKS.md, transfer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Argus transfer: authenticates, validates and routes a region's points.
#[derive(Parser, Debug)]
#[command(name = "argus-transfer", version, about)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    argus_store::allocator::tune();
    let cli = Cli::parse();
    argus_core::telemetry::init_logging(cli.service.log_json, "info");
    let mut cfg: argus_transfer::TransferConfig =
        argus_core::config::load(cli.service.config.as_deref(), "ARGUS_TRANSFER")?;
    // Knowing its file lets the transfer apply a new ring, tenants and quotas without a restart.
    cfg.config_file = cli.service.config.clone();
    let running = argus_transfer::start(cfg).await?;
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}
