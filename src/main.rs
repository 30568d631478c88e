//! `argus`: run any Argus component, or the whole platform with `argus standalone`.

use argus::standalone::Platform;
use argus_core::service::{self, shutdown_signal, Component as _, ServiceArgs};
use clap::{Parser, Subcommand};

/// mimalloc, as argus-transfer and argus-store use: the ingest path they run here allocates per
/// point, and glibc malloc was a third of its CPU (docs/BENCHMARKS.md, transfer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Argus: multi-region monitoring and alerting.
/// Prints a line to stdout, ignoring a closed stdout (a service manager may close it before the
/// shutdown messages; that must not turn a clean stop into a panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser, Debug)]
#[command(name = "argus", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The whole platform in one process on loopback, with a local agent and a demo tenant.
    Standalone(ServiceArgs),
    /// The host agent.
    Agent(ServiceArgs),
    /// A region's ingest node.
    Transfer(ServiceArgs),
    /// A region's storage node.
    Store(ServiceArgs),
    /// The console, API and configuration center.
    Web(ServiceArgs),
    /// A region's strategy evaluation node.
    Judge(ServiceArgs),
    /// The global alarm service.
    Alarm(ServiceArgs),
    /// Run a multi-region topology as separate processes on this machine.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Write synthetic series through a region and read them back, reporting any loss.
    Probe(argus::probe::ProbeArgs),
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Start every node, wait until healthy, print where everything is; Ctrl-C stops it.
    Up {
        /// Number of regions.
        #[arg(long, default_value_t = 3)]
        regions: usize,
        /// Directory for configs, data and logs.
        #[arg(long, default_value = "./cluster")]
        dir: std::path::PathBuf,
        /// Keep every region's points in this Prometheus-API TSDB instead of storage nodes
        /// (its root URL, e.g. http://127.0.0.1:8428 for VictoriaMetrics): remote write to
        /// URL/api/v1/write, queries to URL/api/v1/query, tenants apart by a `tenant` label.
        #[arg(long, value_name = "URL")]
        remote_storage: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    argus_store::allocator::tune();
    let cli = Cli::parse();
    match cli.command {
        Command::Standalone(a) => {
            let cfg = service::setup::<Platform>(&a)?;
            let platform = Platform::start(cfg, &a).await?;
            say!("{}", platform.banner());
            shutdown_signal().await;
            say!("Stopping: flushing storage...");
            platform.stop().await;
            say!("Stopped.");
        }
        Command::Agent(a) => service::run::<argus_agent::Running>(&a).await?,
        Command::Transfer(a) => service::run::<argus_transfer::server::Running>(&a).await?,
        Command::Store(a) => service::run::<argus_store::node::StoreNode>(&a).await?,
        Command::Web(a) => service::run::<argus_web::Running>(&a).await?,
        Command::Judge(a) => service::run::<argus_judge::Running>(&a).await?,
        Command::Alarm(a) => service::run::<argus_alarm::Running>(&a).await?,
        Command::Cluster(ClusterCommand::Up {
            regions,
            dir,
            remote_storage,
        }) => {
            argus_core::telemetry::init_logging(false, "info");
            let mut spec = argus::cluster::ClusterSpec::new(dir, std::env::current_exe()?, regions);
            spec.remote_storage = remote_storage;
            say!(
                "starting {regions} regions under {} ...",
                spec.dir.display()
            );
            let mut cluster = argus::cluster::Cluster::up(&spec).await?;
            say!("{}", cluster.describe());
            say!("All nodes healthy. Press Ctrl-C to stop.");
            shutdown_signal().await;
            say!("stopping...");
            cluster.down();
            say!("stopped.");
        }
        Command::Probe(a) => {
            let r = argus::probe::run(&a).await?;
            say!(
                "probe finished: {} acknowledged, {} read back, {} lost, {} push errors",
                r.acknowledged,
                r.read_back,
                r.lost,
                r.push_errors
            );
            if r.lost > 0 {
                std::process::exit(2);
            }
        }
    }
    Ok(())
}
