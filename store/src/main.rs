//! `argus-store`: the region's storage node; `argus-store check DIR` verifies a data directory.

use argus_core::service::ServiceArgs;
use argus_store::node::StoreNode;
use clap::{Parser, Subcommand};

/// mimalloc: the ingest path allocates per point (strings of decoded points) and glibc malloc
/// was a third of its CPU (docs/BENCHMARKS.md, transfer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Argus storage node: keeps the region's metrics and answers queries.
#[derive(Parser, Debug)]
#[command(name = "argus-store", version, about)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verifies a data directory (block checksums and contents, WAL records) without changing
    /// it; exits 1 when something is damaged.
    Check {
        /// The engine's data directory (`engine.data_dir`).
        dir: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    argus_store::allocator::tune();
    let cli = Cli::parse();
    if let Some(Command::Check { dir }) = cli.command {
        argus_core::telemetry::init_logging(cli.service.log_json, "info");
        let rep = argus_store::check::check(&dir)?;
        println!("{}", serde_json::to_string_pretty(&rep)?);
        if !rep.is_ok() {
            for (p, why) in &rep.problems {
                eprintln!("DAMAGED {}: {why}", p.display());
            }
            std::process::exit(1);
        }
        return Ok(());
    }
    argus_core::service::run::<StoreNode>(&cli.service).await
}
