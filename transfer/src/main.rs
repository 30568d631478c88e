//! `argus-transfer`: a region's ingest node.

use argus_core::service::ServiceArgs;
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
    argus_store_client::allocator::tune();
    let cli = Cli::parse();
    argus_core::service::run::<argus_transfer::server::Running>(&cli.service).await
}
