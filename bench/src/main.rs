//! # argus-bench
//!
//! The side-by-side benchmark: a fleet of simulated hosts (the agent's metric set, several
//! tenants, 10 s step) pushed into Argus and, in the same run, into the peers this machine can
//! install (Prometheus by remote write, VictoriaMetrics), measuring points per second, points per
//! CPU core-second, peak memory, bytes per point on disk, cost growth with the fleet, the latency
//! and CPU of dashboard-like PromQL range queries over the fleet (each system's own
//! `/api/v1/query_range`), and the agent's footprint against node_exporter. `report` turns the
//! results into docs/BENCHMARKS.md's scenario section and PNG plots.
//!
//! ```text
//! argus-bench run [--quick]            # measure; writes target/argus-bench/results.json
//! argus-bench report                   # docs/BENCHMARKS.md + docs/bench/*.png from it
//! ```

mod agentcmp;
mod alerts;
mod components;
mod encode;
mod flood;
mod ingest;
mod node;
mod plots;
mod procstat;
mod queries;
mod report;
mod results;
mod rules;
mod run;
mod servers;
mod workload;

/// mimalloc, as the argus-transfer and argus-store binaries use: `serve-argus` runs their
/// ingest path in this binary, and glibc malloc made it look twice as expensive as deployed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use servers::Kind;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "argus-bench",
    version,
    about = "Argus side-by-side benchmark against Prometheus and VictoriaMetrics"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the benchmark and write the results JSON.
    Run(Box<RunArgs>),
    /// Write docs/BENCHMARKS.md's scenario section and the plots from a results JSON.
    Report(ReportArgs),
    /// (internal) Serve Argus transfer + storage node for the benchmark.
    #[command(hide = true)]
    ServeArgus {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        fsync: bool,
        /// TENANT=SHA256 of its agent token; repeat per tenant.
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// JSON file describing judge + alarm to run too (alert-latency scenario).
        #[arg(long)]
        alerting: Option<PathBuf>,
        /// Run the web service too (query scenario), accepting the API token of this SHA-256
        /// for the first tenant.
        #[arg(long)]
        web_api_token_sha256: Option<String>,
        /// Keep the points in this Prometheus-API TSDB (root URL) instead of a storage node.
        #[arg(long)]
        remote_storage: Option<String>,
        /// Run a judge evaluating the tenants' recording and alert rules (from the web service,
        /// which this needs) and the alarm service its alerts go to (rules scenario).
        #[arg(long)]
        rules: bool,
        /// With `--rules`: how often judge and alarm pull their configuration from web (and the
        /// judge reports its rules' status).
        #[arg(long, default_value_t = 30)]
        rules_pull_secs: u64,
        /// Every tenant's quota in points per second, with a burst of one second's worth (0:
        /// unlimited, as the peers are; the fairness scenario sets one).
        #[arg(long, default_value_t = 0.0)]
        quota_points_per_sec: f64,
    },
    /// (internal) Run the Argus agent for the footprint comparison.
    #[command(hide = true)]
    ServeAgent {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        transfer: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 10)]
        step_secs: u64,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Tiny sizes: proves the harness works in well under 2 minutes (no meaningful figures).
    #[arg(long)]
    quick: bool,
    /// Simulated hosts of the main comparison.
    #[arg(long)]
    hosts: Option<usize>,
    /// Tenants the hosts are spread over.
    #[arg(long, default_value_t = 5)]
    tenants: usize,
    /// Steps (10 s each) of data sent in the main comparison.
    #[arg(long)]
    steps: Option<usize>,
    /// Host counts for cost growth, comma-separated.
    #[arg(long, value_delimiter = ',')]
    scale: Option<Vec<usize>>,
    /// Steps sent at each cost-growth size.
    #[arg(long)]
    scale_steps: Option<usize>,
    /// Hosts of the storage scenario.
    #[arg(long)]
    storage_hosts: Option<usize>,
    /// Steps of the storage scenario (360 = one hour of data); 0 skips it.
    #[arg(long)]
    storage_steps: Option<usize>,
    /// Systems to compare, comma-separated: argus (agent batches), argus-rw (Argus fed the
    /// peers' remote-write requests), argus-vm (Argus keeping its points in a VictoriaMetrics:
    /// `[remote_storage]`; main ingest and queries only), prometheus, victoriametrics.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "argus,argus-rw,argus-vm,prometheus,victoriametrics"
    )]
    systems: Vec<String>,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Rounds of the main ingest comparison (every system once a round, in turn); each
    /// system's row is its median round by points per core-second (1 with --quick).
    #[arg(long)]
    ingest_rounds: Option<usize>,
    /// Hosts per Argus push (1 = each agent pushes its own batch, as deployed).
    #[arg(long, default_value_t = 1)]
    argus_hosts_per_batch: usize,
    /// Hosts per remote-write request (28 × 72 series ≈ 2,000 samples, Prometheus' default
    /// max_samples_per_send).
    #[arg(long, default_value_t = 28)]
    rw_hosts_per_batch: usize,
    /// Argus storage fsyncs each write before acknowledging (its default durability).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    argus_fsync: bool,
    /// Hosts of the PromQL query benchmark (one tenant; 0 skips it).
    #[arg(long)]
    query_hosts: Option<usize>,
    /// Hours of history the query benchmark writes for its long per-host query.
    #[arg(long, default_value_t = 24)]
    query_hours: i64,
    /// Timed repetitions of each query (after one warm-up); fast queries repeat for at least
    /// 5 s (0.2 s with --quick).
    #[arg(long)]
    query_reps: Option<usize>,
    /// Seconds one query may spend repeating (it stops early after 5 repetitions past this).
    #[arg(long)]
    query_budget_secs: Option<u64>,
    /// Agent comparison window in seconds (0 skips it).
    #[arg(long)]
    agent_secs: Option<u64>,
    /// Alerts per alert-latency configuration (0 skips the scenario).
    #[arg(long)]
    alert_hosts: Option<usize>,
    /// Hosts of the rules benchmark (one tenant; 0 skips it).
    #[arg(long)]
    rule_hosts: Option<usize>,
    /// Host groups of the rules benchmark: each of its 50 recording and 50 alert rule templates
    /// becomes one rule per group (20 groups: 1,000 of each).
    #[arg(long)]
    rule_groups: Option<usize>,
    /// Evaluation interval of the rules, seconds.
    #[arg(long)]
    rule_interval_secs: Option<u64>,
    /// Seconds of each phase of the fairness scenario (alone, flooded).
    #[arg(long)]
    flood_secs: Option<u64>,
    /// Scenarios to run, comma-separated: ingest (with cost growth), storage, queries, agent,
    /// alerts, rules, flood (tenant fairness).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,storage,queries,agent,alerts,rules,flood"
    )]
    scenarios: Vec<String>,
    /// Merge into the existing results file (`--out`): replace only the scenarios this run
    /// measures, and say so in its notes.
    #[arg(long)]
    merge: bool,
    /// Scratch directory (default: a temporary directory, removed after).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Results file.
    #[arg(long, default_value = "target/argus-bench/results.json")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// Results file written by `run`.
    #[arg(long, default_value = "target/argus-bench/results.json")]
    results: PathBuf,
    /// The benchmarks document whose scenario section is (re)written.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    doc: PathBuf,
    /// Directory of the PNG plots.
    #[arg(long, default_value = "docs/bench")]
    plots: PathBuf,
}

fn run_opts(a: RunArgs) -> anyhow::Result<run::RunOpts> {
    let q = a.quick;
    let systems = a
        .systems
        .iter()
        .map(|s| {
            Kind::parse(s).ok_or_else(|| {
                anyhow::anyhow!(
                    "--systems: unknown system {s:?} (argus, argus-rw, argus-vm, prometheus, victoriametrics)"
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    const SCENARIOS: [&str; 7] = [
        "ingest", "storage", "queries", "agent", "alerts", "rules", "flood",
    ];
    if let Some(bad) = a
        .scenarios
        .iter()
        .find(|s| !SCENARIOS.contains(&s.as_str()))
    {
        anyhow::bail!(
            "--scenarios: unknown scenario {bad:?} ({})",
            SCENARIOS.join(", ")
        );
    }
    let on = |s: &str| a.scenarios.iter().any(|x| x == s);
    Ok(run::RunOpts {
        hosts: a.hosts.unwrap_or(if q { 40 } else { 2_000 }),
        tenants: a.tenants,
        steps: a.steps.unwrap_or(if q { 4 } else { 30 }),
        scale: a.scale.unwrap_or(if q {
            vec![10, 40, 80]
        } else {
            vec![500, 2_000, 8_000]
        }),
        scale_steps: a.scale_steps.unwrap_or(if q { 3 } else { 6 }),
        storage_hosts: a.storage_hosts.unwrap_or(if q { 4 } else { 100 }),
        storage_steps: if on("storage") {
            a.storage_steps.unwrap_or(if q { 30 } else { 360 })
        } else {
            0
        },
        systems,
        concurrency: a.concurrency,
        ingest_rounds: a.ingest_rounds.unwrap_or(if q { 1 } else { 3 }).max(1),
        argus_hosts_per_batch: a.argus_hosts_per_batch,
        rw_hosts_per_batch: a.rw_hosts_per_batch,
        argus_fsync: a.argus_fsync,
        agent_secs: if on("agent") {
            a.agent_secs.unwrap_or(if q { 6 } else { 60 })
        } else {
            0
        },
        agent_step: if q { 2 } else { 10 },
        alert_hosts: if on("alerts") {
            a.alert_hosts.unwrap_or(if q { 3 } else { 12 })
        } else {
            0
        },
        // Past the default storm window (group_wait 5 s): each alert is a lone alert, the first
        // of its group, as each Prometheus alert is under group_by [alertname, endpoint].
        alert_spacing: Duration::from_millis(if q { 500 } else { 6_000 }),
        queries: match a.query_hosts.unwrap_or(if q { 10 } else { 2_000 }) {
            _ if !on("queries") => None,
            0 => None,
            hosts => Some(queries::QueryOpts {
                hosts,
                hours: a.query_hours,
                full_steps: 30,
                reps: a.query_reps.unwrap_or(if q { 3 } else { 30 }),
                min_reps: if q { 1 } else { 5 },
                min_time: Duration::from_millis(if q { 200 } else { 5_000 }),
                budget: Duration::from_secs(a.query_budget_secs.unwrap_or(if q { 2 } else { 60 })),
                idle_wait: Duration::from_secs(if q { 2 } else { 60 }),
                concurrency: a.concurrency,
                hosts_per_request: a.rw_hosts_per_batch,
                argus_fsync: a.argus_fsync,
            }),
        },
        rules: match a.rule_hosts.unwrap_or(if q { 40 } else { 2_000 }) {
            _ if !on("rules") => None,
            0 => None,
            hosts => Some(rules::RuleOpts {
                hosts,
                groups: a.rule_groups.unwrap_or(if q { 2 } else { 20 }).max(1),
                templates: if q { 10 } else { 50 },
                interval_secs: a
                    .rule_interval_secs
                    .unwrap_or(if q { 5 } else { 30 })
                    .max(1),
                intervals: if q { 1 } else { 4 },
                pull_secs: if q { 2 } else { 30 },
                concurrency: a.concurrency,
                hosts_per_request: a.rw_hosts_per_batch,
                argus_fsync: a.argus_fsync,
            }),
        },
        flood: on("flood").then(|| flood::FloodOpts {
            quota: if q { 5_000.0 } else { 20_000.0 },
            secs: a.flood_secs.unwrap_or(if q { 3 } else { 30 }),
            quiet_rps: 10,
            factor: 10.0,
            senders: 8,
        }),
        ingest: on("ingest"),
        merge: a.merge,
        settle: Duration::from_secs(if q { 1 } else { 3 }),
        work_dir: a.work_dir,
        out: a.out,
        quick: q,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    })
}

fn main() -> anyhow::Result<()> {
    argus_store::allocator::tune();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ARGUS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.cmd {
        Cmd::Run(a) => {
            let opts = run_opts(*a)?;
            rt.block_on(run::run(opts))?;
        }
        Cmd::Report(a) => report::write(&a.results, &a.doc, &a.plots)?,
        Cmd::ServeArgus {
            data_dir,
            fsync,
            tenants,
            alerting,
            web_api_token_sha256,
            remote_storage,
            rules,
            rules_pull_secs,
            quota_points_per_sec,
        } => rt.block_on(node::serve_argus(
            data_dir,
            fsync,
            tenants,
            alerting,
            web_api_token_sha256,
            remote_storage,
            rules.then_some(rules_pull_secs),
            quota_points_per_sec,
        ))?,
        Cmd::ServeAgent {
            listen,
            transfer,
            token,
            step_secs,
        } => rt.block_on(node::serve_agent(listen, transfer, token, step_secs))?,
    }
    Ok(())
}
