//! `argus-agent`: the host agent.

use argus_core::service::{self, Component as _, ServiceArgs};
use clap::Parser;

/// Every key of the configuration file, shown by `--help` (a test keeps it complete).
const CONFIG_KEYS: &str = "\
CONFIGURATION FILE (--config FILE, TOML; every key optional; override any key with the
environment variable ARGUS_AGENT__<KEY>, e.g. ARGUS_AGENT__STEP_SECS=30):

  hostname = \"\"                 Endpoint name to report as; empty = the system host name.
  listen = \"127.0.0.1:1988\"     Local push port: POST /v1/push (open-falcon format) and
                                /api/v1/push (Argus batch); also /health and /metrics.
  transfers = [\"http://127.0.0.1:6060\"]
                                Transfer base URLs, tried in order with failover.
  token = \"\"                    The tenant's agent token (bearer to transfers and the center).
  step_secs = 10                Collection step in seconds (the center may override it).
  flush_interval_ms = 1000      How often queued points are pushed.
  batch_max_points = 5000       Most points in one batch.
  buffer_max_points = 500000    Most points waiting in memory; past it the oldest are dropped.
  data_dir = \"/var/lib/argus-agent\"
                                State: on-disk buffer, log offsets, cached center config.
                                Empty = memory only. Locked: one agent per directory.
  buffer_max_bytes = 67108864   Bound of the on-disk buffer (64 MiB); past it the oldest
                                batches are dropped, counted and logged.
  backoff_initial_ms = 500      First wait after no transfer answered (doubles, with jitter).
  backoff_max_ms = 30000        Longest wait between attempts.
  collect_host_metrics = true   Collect cpu.*, mem.*, df.*, disk.io.*, net.if.*, ...
  plugin_dir = \"/etc/argus-agent/plugins\"
                                Plugin executables; `<secs>_<name>` files run on their own.
  listen_ports = []             TCP ports reported as net.port.listen (tag port), besides
                                the host groups' (with collect_host_metrics).
  du_paths = []                 Absolute directories reported as du.bs (tag path).
  tags_on_points = false        Also add [tags] to every point sent (a point's own tag
                                wins). Off, as falcon-agent: it changes every series.
  remote_config = true          Pull the config and send heartbeats.
  config_url = \"\"               Where: empty = the transfers (default); else web directly.
  config_interval_secs = 60     How often the config is pulled (with ETag).
  heartbeat_interval_secs = 60  How often a heartbeat is sent.
  [limits]                      Bounds on pushed points:
    max_name_len = 256          longest endpoint, metric, tag key or value (bytes);
    max_tags = 32               most tags on a point;
    max_future_secs = 600       how far ahead a timestamp may be;
    max_past_secs = 1296000     how far back a timestamp may be;
    max_step = 86400            longest step.
  [tags]                        This host's tags, e.g. env = \"prod\": reported in heartbeats,
                                shown with the host, matched by host groups' rules.
  [tls]                         https to transfers and the config center:
    ca_file = \"/etc/argus/tls/ca.pem\"
                                extra PEM roots trusted (the installation's private CA),
                                on top of the public ones;
    cert_file, key_file         PEM: would make the loopback push port HTTPS only (unset).
  [[plugins]]                   name, path (relative to plugin_dir), args, interval_secs,
                                timeout_secs.
  [[log_rules]]                 path_glob, regex, metric, tags = { k = \"v\" }.
  [[procs]]                     proc.num checks: name (equals the process name) and/or
                                cmdline (a substring of the command line).
  [[probes]]                    kind = \"http\": name, url, expect_status, body_regex,
                                timeout_secs; kind = \"tcp\": name, addr, timeout_secs;
                                kind = \"dns\": name, host, timeout_secs; kind = \"tls\":
                                name, addr, server_name, timeout_secs; kind = \"icmp\":
                                name, host, timeout_secs.

Metric names: docs/METRICS.md.";

/// Argus agent: collects this host's metrics, runs plugins, log keyword rules and probes, takes
/// points pushed by local scripts, and sends everything to the region's transfers, buffering on
/// disk while none answers.
#[derive(Parser, Debug)]
#[command(name = "argus-agent", version, about, after_long_help = CONFIG_KEYS)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    /// Print the effective configuration (file, environment and defaults) as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// One runtime thread is plenty for an agent (the push port has its own worker thread), and
/// it keeps the footprint small on every host.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // glibc gives each thread its own malloc arena (up to 8 per core), which costs resident
    // memory for no gain at the agent's allocation rate.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    let cfg = service::setup::<argus_agent::Running>(&cli.service)?;
    if cli.print_config {
        print!("{}", toml::to_string(&cfg)?);
        return Ok(());
    }
    let running = argus_agent::Running::start(cfg, &cli.service).await?;
    service::serve(running).await;
    Ok(())
}
