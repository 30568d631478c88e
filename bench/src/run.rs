//! `argus-bench run`: every measurement in one run, the systems side by side.

use crate::ingest::{self, Plan};
use crate::results::{IngestResult, Results, Round, Settings};
use crate::servers::{self, Kind};
use crate::workload::Fleet;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The run's parameters (the `run` subcommand's flags, after `--quick` is applied).
#[derive(Debug, Clone)]
pub(crate) struct RunOpts {
    /// Hosts of the main ingest comparison.
    pub hosts: usize,
    /// Tenants.
    pub tenants: usize,
    /// Steps sent in the main comparison.
    pub steps: usize,
    /// Host counts for cost growth (the main size is reused when listed).
    pub scale: Vec<usize>,
    /// Steps sent at each cost-growth size.
    pub scale_steps: usize,
    /// Hosts of the storage scenario.
    pub storage_hosts: usize,
    /// Steps of the storage scenario (360 = one hour at 10 s).
    pub storage_steps: usize,
    /// Systems to run.
    pub systems: Vec<Kind>,
    /// Requests in flight.
    pub concurrency: usize,
    /// Rounds of the main ingest comparison.
    pub ingest_rounds: usize,
    /// Hosts per Argus push.
    pub argus_hosts_per_batch: usize,
    /// Hosts per remote-write request.
    pub rw_hosts_per_batch: usize,
    /// Argus storage fsyncs every write.
    pub argus_fsync: bool,
    /// Agent comparison window (0 skips it).
    pub agent_secs: u64,
    /// Agent collection step.
    pub agent_step: u64,
    /// Alert hosts per alert-latency case (0 skips it).
    pub alert_hosts: usize,
    /// Time between two hosts' threshold crossings.
    pub alert_spacing: Duration,
    /// The query benchmark (None skips it).
    pub queries: Option<crate::queries::QueryOpts>,
    /// The rules benchmark (None skips it).
    pub rules: Option<crate::rules::RuleOpts>,
    /// The fairness scenario (None skips it).
    pub flood: Option<crate::flood::FloodOpts>,
    /// Run the ingest scenario and its cost growth.
    pub ingest: bool,
    /// Replace only this run's scenarios in the existing results file.
    pub merge: bool,
    /// Settle time after an ingest before reading CPU.
    pub settle: Duration,
    /// Scratch directory for data (a temporary one when empty).
    pub work_dir: Option<PathBuf>,
    /// Where the results JSON goes.
    pub out: PathBuf,
    /// Smoke mode.
    pub quick: bool,
    /// The command line, recorded.
    pub command: String,
}

fn peer_bins() -> (Option<PathBuf>, Option<PathBuf>) {
    (
        servers::find_bin("ARGUS_BENCH_PROMETHEUS_BIN", &["prometheus"]),
        servers::find_bin(
            "ARGUS_BENCH_VICTORIAMETRICS_BIN",
            &["victoria-metrics", "victoria-metrics-prod"],
        ),
    )
}

fn versions() -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("argus".into(), argus_core::benchfile::build_version());
    let (prom, vm) = peer_bins();
    if let Some(b) = prom {
        v.insert(
            "prometheus".into(),
            servers::version_of(&b, "--version", "prometheus"),
        );
    }
    if let Some(b) = vm {
        v.insert(
            "victoriametrics".into(),
            servers::version_of(&b, "-version", "victoria-metrics"),
        );
    }
    if let Some(b) = servers::find_bin(
        "ARGUS_BENCH_NODE_EXPORTER_BIN",
        &["prometheus-node-exporter", "node_exporter"],
    ) {
        v.insert(
            "node_exporter".into(),
            servers::version_of(&b, "--version", "prometheus-node-exporter"),
        );
    }
    if let Some(b) = servers::find_bin(
        "ARGUS_BENCH_ALERTMANAGER_BIN",
        &["prometheus-alertmanager", "alertmanager"],
    ) {
        v.insert(
            "alertmanager".into(),
            servers::version_of(&b, "--version", "prometheus-alertmanager"),
        );
    }
    v
}

pub(crate) const PROM_INGEST_CONFIG: &str =
    "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n";

/// `new` (a run of some scenarios) merged into the results already at `path`: the scenarios it
/// measured replace theirs, and its notes say when and how they were measured.
fn merge_into(path: &Path, new: Results) -> anyhow::Result<Results> {
    let text =
        std::fs::read(path).with_context(|| format!("--merge: reading {}", path.display()))?;
    let mut old: Results = serde_json::from_slice(&text)
        .with_context(|| format!("--merge: {} is not a results file", path.display()))?;
    let mut measured = Vec::new();
    if !new.ingest.is_empty() {
        let scenarios: std::collections::BTreeSet<&str> =
            new.ingest.iter().map(|r| r.scenario.as_str()).collect();
        old.ingest
            .retain(|r| !scenarios.contains(r.scenario.as_str()));
        old.ingest.extend(new.ingest.iter().cloned());
        measured.extend(scenarios.iter().map(|s| s.to_string()));
    }
    if !new.agent.is_empty() {
        old.agent = new.agent.clone();
        measured.push("agent".into());
    }
    if !new.alerts.is_empty() {
        old.alerts = new.alerts.clone();
        measured.push("alerts".into());
    }
    if !new.queries.is_empty() {
        old.queries = new.queries.clone();
        old.dashboards = new.dashboards.clone();
        old.query_setup = new.query_setup.clone();
        measured.push("queries".into());
    }
    if !new.rules.is_empty() {
        old.rules = new.rules.clone();
        measured.push("rules".into());
    }
    if new.flood.is_some() {
        old.flood = new.flood.clone();
        measured.push("flood".into());
    }
    forget_remeasured(&mut old.notes, &measured);
    old.notes.push(format!(
        "{}{LATER_RUN}, started {} ({}): {}",
        measured.join(", "),
        new.started,
        new.versions.get("argus").cloned().unwrap_or_default(),
        new.notes.join("; ")
    ));
    Ok(old)
}

/// How a merged run's note begins, after the scenarios it measured.
const LATER_RUN: &str = " measured in a later run";

/// Takes the scenarios `measured` again out of earlier merged runs' notes (a note left naming
/// none is dropped), so each scenario's note names the run its figures come from.
fn forget_remeasured(notes: &mut Vec<String>, measured: &[String]) {
    notes.retain_mut(|n| {
        let Some(at) = n.find(LATER_RUN) else {
            return true;
        };
        let left: Vec<&str> = n[..at]
            .split(", ")
            .filter(|s| !measured.iter().any(|m| m == s))
            .collect();
        if left.is_empty() {
            return false;
        }
        *n = format!("{}{}", left.join(", "), &n[at..]);
        true
    });
}

/// Starts `kind` with its data under `dir`.
async fn start(
    kind: Kind,
    dir: &Path,
    fleet: &Fleet,
    opts: &RunOpts,
) -> anyhow::Result<servers::Server> {
    std::fs::create_dir_all(dir)?;
    let (prom, vm) = peer_bins();
    match kind {
        Kind::Argus | Kind::ArgusRemoteWrite => {
            servers::start_argus(dir, &fleet.tenants, opts.argus_fsync, None).await
        }
        Kind::ArgusVm => {
            servers::start_argus_on_vm(
                dir,
                &fleet.tenants,
                false,
                &vm.context("victoria-metrics not installed")?,
            )
            .await
        }
        Kind::Prometheus => {
            servers::start_prometheus(
                &prom.context("prometheus not installed")?,
                dir,
                PROM_INGEST_CONFIG,
            )
            .await
        }
        Kind::VictoriaMetrics => {
            servers::start_victoriametrics(&vm.context("victoria-metrics not installed")?, dir)
                .await
        }
    }
}

async fn measure(
    kind: Kind,
    dir: &Path,
    fleet: Arc<Fleet>,
    plan: &Plan,
    opts: &RunOpts,
) -> anyhow::Result<IngestResult> {
    let server = start(kind, dir, &fleet, opts).await?;
    let r = ingest::run(kind, server, fleet, plan).await?;
    eprintln!(
        "  {:<16} {:>6} hosts {:>4} steps: {:>10} points in {:>6.1} s = {:>9.0} points/s, {:>9.0} points per core-second, peak RSS {:>6.1} MiB, {:.2} bytes/point{}",
        r.system,
        r.hosts,
        r.steps,
        r.points_accepted,
        r.wall_secs,
        r.points_per_sec,
        r.points_per_core_sec,
        r.peak_rss_bytes as f64 / 1048576.0,
        r.bytes_per_point,
        if r.request_errors > 0 { format!(", {} failed requests", r.request_errors) } else { String::new() }
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(r)
}

/// A system's median round by points per core-second, with every round's figures kept in it
/// (none when it ran once).
fn median_round(mut runs: Vec<IngestResult>) -> Option<IngestResult> {
    if runs.len() < 2 {
        return runs.pop();
    }
    let rounds: Vec<Round> = runs
        .iter()
        .map(|r| Round {
            points_per_core_sec: r.points_per_core_sec,
            peak_rss_bytes: r.peak_rss_bytes,
        })
        .collect();
    runs.sort_by(|a, b| a.points_per_core_sec.total_cmp(&b.points_per_core_sec));
    let mut median = runs.swap_remove(runs.len() / 2);
    median.rounds = rounds;
    Some(median)
}

/// Runs everything and writes the results JSON.
pub(crate) async fn run(opts: RunOpts) -> anyhow::Result<Results> {
    let began = Instant::now();
    let tmp;
    let work = match &opts.work_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new().prefix("argus-bench-").tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let mut notes = vec![format!(
        "load average at start: {}",
        argus_core::benchfile::loadavg()
    )];
    let (prom, vm) = peer_bins();
    let systems: Vec<Kind> = opts
        .systems
        .iter()
        .copied()
        .filter(|k| match k {
            Kind::Prometheus if prom.is_none() => {
                notes.push("prometheus not installed (set ARGUS_BENCH_PROMETHEUS_BIN or source .ci/services/peers.sh): skipped".into());
                false
            }
            Kind::VictoriaMetrics | Kind::ArgusVm if vm.is_none() => {
                notes.push("victoria-metrics not installed (set ARGUS_BENCH_VICTORIAMETRICS_BIN): skipped".into());
                false
            }
            _ => true,
        })
        .collect();
    let sample = Fleet::new(1, 1, 1);
    let mut results = Results {
        command: opts.command.clone(),
        quick: opts.quick,
        started: crate::results::utc_string(argus_core::time::now_secs()),
        machine: crate::results::Machine::this(),
        versions: versions(),
        settings: Settings {
            tenants: opts.tenants,
            series_per_host: sample.series_per_host(),
            step_secs: sample.step,
            argus_hosts_per_batch: opts.argus_hosts_per_batch,
            remote_write_hosts_per_batch: opts.rw_hosts_per_batch,
            concurrency: opts.concurrency,
            argus_fsync: opts.argus_fsync,
        },
        ..Default::default()
    };
    let plan = |scenario: &str, steps: usize| Plan {
        scenario: scenario.into(),
        steps,
        concurrency: opts.concurrency,
        argus_hosts_per_batch: opts.argus_hosts_per_batch,
        rw_hosts_per_batch: opts.rw_hosts_per_batch,
        settle: opts.settle,
    };

    // 1-3. Ingest at the main size, then cost growth at the other sizes.
    let mut sizes = vec![opts.hosts];
    sizes.extend(opts.scale.iter().copied().filter(|&h| h != opts.hosts));
    if !opts.ingest {
        sizes.clear();
    }
    for (i, &hosts) in sizes.iter().enumerate() {
        let fleet = Arc::new(Fleet::new(hosts, opts.tenants, 42));
        let (scenario, steps) = if i == 0 {
            ("ingest", opts.steps)
        } else {
            ("scale", opts.scale_steps)
        };
        eprintln!(
            "{scenario}: {hosts} hosts, {} series, {steps} steps",
            fleet.total_series()
        );
        // This shared machine's runs vary by a third: the main size runs in rounds, each
        // system once a round in turn, and keeps each system's median round.
        let rounds = if i == 0 { opts.ingest_rounds } else { 1 };
        let mut runs: Vec<Vec<IngestResult>> = vec![Vec::new(); systems.len()];
        for round in 0..rounds {
            if rounds > 1 {
                eprintln!("round {} of {rounds}", round + 1);
            }
            for (k, &kind) in systems.iter().enumerate() {
                // Argus on VictoriaMetrics: the main comparison only (its growth is
                // VictoriaMetrics's).
                if kind == Kind::ArgusVm && scenario != "ingest" {
                    continue;
                }
                let dir = work.join(format!("{scenario}-{hosts}-{}", kind.name()));
                let r = measure(kind, &dir, fleet.clone(), &plan(scenario, steps), &opts)
                    .await
                    .with_context(|| format!("{scenario} with {} at {hosts} hosts", kind.name()))?;
                runs[k].push(r);
            }
        }
        results
            .ingest
            .extend(runs.into_iter().filter_map(median_round));
    }

    // 3. Storage: one hour of data.
    if opts.storage_steps > 0 {
        let fleet = Arc::new(Fleet::new(opts.storage_hosts, opts.tenants, 43));
        eprintln!(
            "storage: {} hosts, {} steps",
            opts.storage_hosts, opts.storage_steps
        );
        for &kind in systems.iter().filter(|k| **k != Kind::ArgusVm) {
            let dir = work.join(format!("storage-{}", kind.name()));
            let r = measure(
                kind,
                &dir,
                fleet.clone(),
                &plan("storage", opts.storage_steps),
                &opts,
            )
            .await
            .with_context(|| format!("storage with {}", kind.name()))?;
            results.ingest.push(r);
        }
    }

    // 4. PromQL queries over the fleet, each system on the same data.
    if let Some(q) = &opts.queries {
        let kinds: Vec<Kind> = systems
            .iter()
            .copied()
            .filter(|k| *k != Kind::ArgusRemoteWrite)
            .collect();
        let (setup, r, d) = crate::queries::run(&work, &kinds, q, &mut notes)
            .await
            .context("query benchmark")?;
        results.query_setup = Some(setup);
        results.queries = r;
        results.dashboards = d;
    }

    // 5. Recording and alert rules, each system on the same data and rule file.
    if let Some(ro) = &opts.rules {
        results.rules = crate::rules::run(&work, &systems, ro, &mut notes)
            .await
            .context("rules benchmark")?;
    }

    // 6. Agent footprint.
    if opts.agent_secs > 0 {
        eprintln!(
            "agent: argus-agent vs node_exporter for {} s",
            opts.agent_secs
        );
        let fleet = Fleet::new(1, 1, 1);
        let dir = work.join("agent");
        let argus = start(Kind::Argus, &dir, &fleet, &opts).await?;
        let r = crate::agentcmp::run(
            &argus,
            &dir,
            Duration::from_secs(opts.agent_secs),
            opts.agent_step,
            &mut notes,
        )
        .await;
        argus.stop(Duration::from_secs(60)).await?;
        for a in r.context("agent comparison")? {
            eprintln!(
                "  {:<14} {:>6.2} % CPU, RSS {:>6.1} MiB, {} series",
                a.system,
                a.cpu_percent,
                a.rss_bytes as f64 / 1048576.0,
                a.series
            );
            results.agent.push(a);
        }
    }

    // 7. Alert latency.
    if opts.alert_hosts > 0 {
        eprintln!(
            "alert latency: {} alerts per configuration",
            opts.alert_hosts
        );
        let r = crate::alerts::run(
            &work.join("alerts"),
            opts.alert_hosts,
            opts.alert_spacing,
            opts.quick,
            &mut notes,
        )
        .await
        .context("alert latency")?;
        for a in r {
            eprintln!(
                "  {:<58} p50 {:>8.0} ms, p99 {:>8.0} ms, {} missed",
                a.system,
                a.quantile(0.5).unwrap_or(f64::NAN),
                a.quantile(0.99).unwrap_or(f64::NAN),
                a.missed
            );
            results.alerts.push(a);
        }
    }

    // 8. Fairness: a quiet tenant while another floods at ten times its quota.
    if let Some(fo) = &opts.flood {
        eprintln!(
            "flood: a quiet tenant, then the same while another pushes {}x its quota of {} points/s",
            fo.factor, fo.quota
        );
        let f = crate::flood::run(&work.join("flood"), fo)
            .await
            .context("flood")?;
        eprintln!(
            "  quiet tenant p99 alone {:.1} ms, flooded {:.1} ms ({:.2}x); flood offered {:.0} points/s, {:.0} taken",
            f.alone_p99_ms,
            f.flooded_p99_ms,
            f.flooded_p99_ms / f.alone_p99_ms,
            f.flood_offered_points_per_sec,
            f.flood_accepted_points_per_sec
        );
        results.flood = Some(f);
    }

    notes.push(format!(
        "load average at end: {}",
        argus_core::benchfile::loadavg()
    ));
    results.notes = notes;
    results.duration_secs = began.elapsed().as_secs_f64();
    if opts.merge {
        results = merge_into(&opts.out, results)?;
    }
    if let Some(parent) = opts.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&opts.out, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", opts.out.display()))?;
    eprintln!(
        "results: {} ({:.0} s)",
        opts.out.display(),
        results.duration_secs
    );
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merged_run_takes_its_scenarios_out_of_earlier_runs_notes() {
        let mut notes = vec![
            "load average at start: 1.0".to_string(),
            format!("ingest, scale, queries{LATER_RUN}, started A (git a): x"),
            format!("rules{LATER_RUN}, started B (git b): y"),
            format!("scale{LATER_RUN}, started C (git c): z"),
        ];
        forget_remeasured(&mut notes, &["ingest".into(), "scale".into()]);
        assert_eq!(
            notes,
            [
                "load average at start: 1.0".to_string(),
                format!("queries{LATER_RUN}, started A (git a): x"),
                format!("rules{LATER_RUN}, started B (git b): y"),
            ]
        );
    }
}
