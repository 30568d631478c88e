//! `argus-bench report`: the scenario section of docs/BENCHMARKS.md (machine, date, versions,
//! the exact commands, tables and ratios that name both sides) and the plots, from a results
//! JSON. Only the `## Scenario (argus-bench)` section is rewritten: the component sections below
//! it belong to their developers.

use crate::plots::{self, human};
use crate::results::{IngestResult, Results};
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The heading of the section this tool owns.
pub const HEADING: &str = "## Scenario (argus-bench)";

/// The document's skeleton when it does not exist yet.
const SKELETON: &str = "# Benchmarks\n\n## Scenario (argus-bench)\n\n## store\n\n## transfer\n\n## judge\n\n## alarm\n\n## agent\n";

/// Writes the plots and the section.
pub fn write(results: &Path, doc: &Path, plot_dir: &Path) -> anyhow::Result<()> {
    let r: Results = serde_json::from_slice(&std::fs::read(results).with_context(|| {
        format!(
            "reading {} (run `argus-bench run` first)",
            results.display()
        )
    })?)
    .with_context(|| format!("parsing {}", results.display()))?;
    let pngs = plots::draw(&r, plot_dir)?;
    let doc_dir = doc.parent().unwrap_or(Path::new("."));
    let rel: Vec<(String, PathBuf)> = pngs
        .into_iter()
        .map(|(t, p)| {
            let rel = pathdiff(&p, doc_dir);
            (t, rel)
        })
        .collect();
    let section = render(&r, &rel);
    let old = std::fs::read_to_string(doc).unwrap_or_else(|_| SKELETON.to_string());
    let new = replace_section(&old, HEADING, &section);
    if let Some(d) = doc.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(doc, new).with_context(|| format!("writing {}", doc.display()))?;
    eprintln!(
        "wrote {} and {} plots in {}",
        doc.display(),
        rel.len(),
        plot_dir.display()
    );
    Ok(())
}

/// `p` relative to `base` when it lies under it (plots under docs/ linked from docs/BENCHMARKS.md).
fn pathdiff(p: &Path, base: &Path) -> PathBuf {
    let abs = |x: &Path| std::fs::canonicalize(x).unwrap_or_else(|_| x.to_path_buf());
    let (p, base) = (abs(p), abs(base));
    p.strip_prefix(&base).map(Path::to_path_buf).unwrap_or(p)
}

/// Replaces the body of the section starting at `heading` (up to the next `## ` heading) with
/// `body`; adds the section after the title when absent. Other sections are kept byte for byte.
pub fn replace_section(doc: &str, heading: &str, body: &str) -> String {
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == heading);
    let mut out = String::new();
    match start {
        Some(s) => {
            let end = lines[s + 1..]
                .iter()
                .position(|l| l.starts_with("## "))
                .map(|e| s + 1 + e)
                .unwrap_or(lines.len());
            out.extend(lines[..s].iter().copied());
            push_section(&mut out, heading, body);
            out.extend(lines[end..].iter().copied());
        }
        None => {
            let title = lines
                .iter()
                .position(|l| l.starts_with("# "))
                .map(|t| t + 1)
                .unwrap_or(0);
            out.extend(lines[..title].iter().copied());
            if title > 0 {
                out.push('\n');
            }
            push_section(&mut out, heading, body);
            out.extend(lines[title..].iter().copied());
        }
    }
    out
}

fn push_section(out: &mut String, heading: &str, body: &str) {
    out.push_str(heading);
    out.push_str("\n\n");
    out.push_str(body.trim_end());
    out.push_str("\n\n");
}

/// Bytes in the largest binary unit that keeps a number ≥ 1.
fn mib(b: u64) -> String {
    let b = b as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= 1048576.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else {
        format!("{:.0} KiB", b / 1024.0)
    }
}

fn pretty(system: &str) -> &str {
    match system {
        "argus" => "Argus",
        "argus-rw" => "Argus (remote write)",
        "prometheus" => "Prometheus",
        "victoriametrics" => "VictoriaMetrics",
        other => other,
    }
}

/// "Argus 120k vs Prometheus 40k points per core-second: Argus 3.00× Prometheus".
fn ratio_line(
    metric: &str,
    a: (&str, f64),
    b: (&str, f64),
    fmt: impl Fn(f64) -> String,
    higher_better: bool,
) -> String {
    let ratio = if b.1 > 0.0 { a.1 / b.1 } else { f64::NAN };
    let verdict = if !ratio.is_finite() {
        "no ratio".to_string()
    } else if higher_better {
        format!(
            "{} = {ratio:.2}× {} (higher is better)",
            pretty(a.0),
            pretty(b.0)
        )
    } else {
        format!(
            "{} = {ratio:.2}× {} (lower is better)",
            pretty(a.0),
            pretty(b.0)
        )
    };
    format!(
        "- {metric}: {} {} vs {} {} → {verdict}\n",
        pretty(a.0),
        fmt(a.1),
        pretty(b.0),
        fmt(b.1)
    )
}

fn ratios(rows: &[&IngestResult], out: &mut String) {
    for argus in rows.iter().filter(|r| r.system.starts_with("argus")) {
        for peer in rows.iter().filter(|r| !r.system.starts_with("argus")) {
            let a = |f: fn(&IngestResult) -> f64| (argus.system.as_str(), f(argus));
            let b = |f: fn(&IngestResult) -> f64| (peer.system.as_str(), f(peer));
            out.push_str(&ratio_line(
                "points per core-second",
                a(|r| r.points_per_core_sec),
                b(|r| r.points_per_core_sec),
                human,
                true,
            ));
            out.push_str(&ratio_line(
                "points per second (wall)",
                a(|r| r.points_per_sec),
                b(|r| r.points_per_sec),
                human,
                true,
            ));
            out.push_str(&ratio_line(
                "peak RSS",
                a(|r| r.peak_rss_bytes as f64),
                b(|r| r.peak_rss_bytes as f64),
                |v| mib(v as u64),
                false,
            ));
            out.push_str(&ratio_line(
                "bytes per point on disk",
                a(|r| r.bytes_per_point),
                b(|r| r.bytes_per_point),
                |v| format!("{v:.2}"),
                false,
            ));
        }
    }
}

fn ingest_table(rows: &[&IngestResult], out: &mut String) {
    out.push_str("| system | hosts | series | steps | points acked | failed requests | wall s | points/s | server CPU s | points per core-second | cores for real time | peak RSS | disk | bytes/point |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.1} | {} | {:.1} | {} | {:.3} | {} | {} | {:.2} |",
            pretty(&r.system),
            r.hosts,
            r.series,
            r.steps,
            r.points_accepted,
            r.request_errors,
            r.wall_secs,
            human(r.points_per_sec),
            r.server_cpu_secs,
            human(r.points_per_core_sec),
            r.realtime_cores,
            mib(r.peak_rss_bytes),
            mib(r.disk_bytes),
            r.bytes_per_point
        );
    }
}

/// The headline ratios, each naming both sides, before the details.
fn summary(r: &Results, s: &mut String) {
    let mut lines = String::new();
    let pick = |scenario: &str, system: &str, hosts: Option<usize>| {
        r.ingest
            .iter()
            .filter(|x| x.scenario == scenario || (scenario == "scale" && x.scenario == "ingest"))
            .filter(|x| hosts.is_none_or(|h| x.hosts == h))
            .find(|x| x.system == system)
            .cloned()
    };
    for peer in ["prometheus", "victoriametrics"] {
        if let (Some(a), Some(p)) = (pick("ingest", "argus-rw", None), pick("ingest", peer, None)) {
            lines.push_str(&ratio_line(
                &format!("ingest CPU efficiency, same remote-write requests, {} hosts (points per core-second)", a.hosts),
                ("argus-rw", a.points_per_core_sec),
                (peer, p.points_per_core_sec),
                human,
                true,
            ));
        }
        if let (Some(a), Some(p)) = (pick("ingest", "argus", None), pick("ingest", peer, None)) {
            lines.push_str(&ratio_line(
                &format!(
                    "ingest CPU efficiency, {} hosts (points per core-second)",
                    a.hosts
                ),
                ("argus", a.points_per_core_sec),
                (peer, p.points_per_core_sec),
                human,
                true,
            ));
        }
        let largest = r.ingest.iter().map(|x| x.hosts).max();
        if let (Some(a), Some(p)) = (
            pick("scale", "argus", largest),
            pick("scale", peer, largest),
        ) {
            lines.push_str(&ratio_line(
                &format!("peak memory at {} hosts", a.hosts),
                ("argus", a.peak_rss_bytes as f64),
                (peer, p.peak_rss_bytes as f64),
                |v| mib(v as u64),
                false,
            ));
        }
        if let (Some(a), Some(p)) = (pick("storage", "argus", None), pick("storage", peer, None)) {
            lines.push_str(&ratio_line(
                &format!("bytes per point on disk after {} steps", a.steps),
                ("argus", a.bytes_per_point),
                (peer, p.bytes_per_point),
                |v| format!("{v:.2}"),
                false,
            ));
        }
    }
    let agent = |n: &str| r.agent.iter().find(|x| x.system == n);
    if let (Some(a), Some(n)) = (agent("argus-agent"), agent("node_exporter")) {
        lines.push_str(&ratio_line(
            "agent CPU",
            ("argus-agent", a.cpu_percent),
            ("node_exporter", n.cpu_percent),
            |v| format!("{v:.2} %"),
            false,
        ));
    }
    alert_ratios(r, &mut lines);
    if !lines.is_empty() {
        s.push_str("**Summary** (details, method and caveats below):\n\n");
        s.push_str(&lines);
        s.push('\n');
    }
}

/// Argus's alert latency p99 against each Prometheus + Alertmanager configuration.
fn alert_ratios(r: &Results, out: &mut String) {
    let p99 = |a: &crate::results::AlertResult| a.quantile(0.99).unwrap_or(f64::NAN);
    let fmt = |v: f64| {
        if v < 1000.0 {
            format!("{v:.0} ms")
        } else {
            format!("{:.2} s", v / 1000.0)
        }
    };
    for a in r.alerts.iter().filter(|a| a.system.starts_with("argus")) {
        for p in r
            .alerts
            .iter()
            .filter(|p| p.system.starts_with("prometheus"))
        {
            if (a.system.contains("fastest")) == (p.system.contains("fastest")) {
                out.push_str(&ratio_line(
                    "alert latency p99",
                    (&a.system, p99(a)),
                    (&p.system, p99(p)),
                    fmt,
                    false,
                ));
            }
        }
    }
}

/// The `run` arguments of a recorded command line, without those naming local paths.
fn reproduce_args(command: &str) -> String {
    let mut out = Vec::new();
    let mut it = command
        .split_whitespace()
        .skip_while(|a| *a != "run")
        .skip(1);
    while let Some(a) = it.next() {
        if a == "--out" || a == "--work-dir" {
            it.next();
        } else if !a.starts_with("--out=") && !a.starts_with("--work-dir=") {
            out.push(a);
        }
    }
    out.join(" ")
}

/// The section's markdown.
pub fn render(r: &Results, plots: &[(String, PathBuf)]) -> String {
    let mut s = String::new();
    let set = &r.settings;
    if r.quick {
        s.push_str("> **Quick (smoke) run: tiny sizes, the figures mean nothing.** Run without `--quick` for real figures.\n\n");
    }
    summary(r, &mut s);
    let _ = writeln!(
        s,
        "One scenario, every system in the same run on the same machine: a fleet of simulated hosts \
         spread over {} tenants, each reporting the agent's metric set (docs/METRICS.md: cpu.*, load.*, \
         mem.*, df.* on two mounts, disk.io.*, net.if.* on two interfaces, ss/proc/kernel; {} series a host) \
         at a {} s step, with values that move like a real host's. The same series and values go to \
         Argus (an `argus-transfer` in front of an `argus-store` node with its embedded engine, real HTTP \
         on loopback; each host's batch pushed as the agent pushes it: the binary point frame, zstd, {} host(s) a request) \
         and to each peer by Prometheus remote write (protobuf, snappy, {} hosts ≈ {} samples a request, \
         Prometheus' default `max_samples_per_send`); \"Argus (remote write)\" is the same Argus fed those very remote-write requests on the transfer's `/api/v1/write`, the like-for-like protocol comparison. {} requests are in flight; each step is sent whole \
         before the next, oldest first, ending now. Each server runs as its own process; its CPU time \
         (utime + stime from /proc, over the replay plus a short settle so deferred work counts) gives \
         points per core-second, and \"cores for real time\" is the fleet's real-time rate (series ÷ step) \
         divided by it. Peak RSS is VmHWM; disk is the allocated size of the data directory after a clean stop.\n",
        set.tenants,
        set.series_per_host,
        set.step_secs,
        set.argus_hosts_per_batch,
        set.remote_write_hosts_per_batch,
        set.remote_write_hosts_per_batch * set.series_per_host,
        set.concurrency
    );
    let _ = writeln!(
        s,
        "Durability differs and is part of the price: Argus acknowledges a push only once the points are {} \
         Prometheus acknowledges after appending to its WAL (no fsync per request); VictoriaMetrics buffers \
         in memory and writes parts in the background.\n",
        if set.argus_fsync { "fsync'd on disk (its default);" } else { "written (fsync turned off for this run);" }
    );
    let m = &r.machine;
    let _ = writeln!(
        s,
        "**Run:** {} — {}, {} logical CPUs, {:.1} GiB RAM, Linux {}; whole run {:.0} s. The machine was shared \
         with other work (builds), so absolute figures are noisy; the ratios come from the same conditions.\n",
        r.started,
        m.cpu_model,
        m.cpus,
        m.mem_total_bytes as f64 / (1u64 << 30) as f64,
        m.kernel,
        r.duration_secs
    );
    s.push_str("**Versions:**\n");
    for (k, v) in &r.versions {
        let _ = writeln!(s, "- {k}: {v}");
    }
    let run = format!(
        "target/release/argus-bench run {}",
        reproduce_args(&r.command)
    );
    let _ = writeln!(
        s,
        "\n**Reproduce** (as root on Debian; the peers come from Debian's packages; about {:.0} minutes):\n\n```sh\nsource .ci/services/peers.sh\ncargo build --release -p argus-bench\n{}\ntarget/release/argus-bench report\n```\n",
        (r.duration_secs / 60.0).ceil(),
        run.trim_end()
    );

    let main: Vec<&IngestResult> = r.ingest.iter().filter(|x| x.scenario == "ingest").collect();
    if let Some(first) = main.first() {
        let _ = writeln!(
            s,
            "### Ingest: {} hosts, {} series, {} steps\n",
            first.hosts, first.series, first.steps
        );
        ingest_table(&main, &mut s);
        s.push('\n');
        ratios(&main, &mut s);
        s.push('\n');
    }
    let mut scale: Vec<&IngestResult> = r
        .ingest
        .iter()
        .filter(|x| x.scenario == "ingest" || x.scenario == "scale")
        .collect();
    scale.sort_by(|a, b| a.hosts.cmp(&b.hosts).then(a.system.cmp(&b.system)));
    if scale.len() > main.len() {
        s.push_str("### Cost growth\n\nThe same measurement at each fleet size (the main size above included).\n\n");
        s.push_str("| hosts | series | system | points per core-second | cores for real time | peak RSS |\n|---:|---:|---|---:|---:|---:|\n");
        for x in &scale {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.3} | {} |",
                x.hosts,
                x.series,
                pretty(&x.system),
                human(x.points_per_core_sec),
                x.realtime_cores,
                mib(x.peak_rss_bytes)
            );
        }
        let largest = scale.iter().map(|x| x.hosts).max().unwrap_or(0);
        let big: Vec<&IngestResult> = scale
            .iter()
            .copied()
            .filter(|x| x.hosts == largest)
            .collect();
        if big.len() > 1 {
            let _ = writeln!(s, "\nAt {largest} hosts:\n");
            if let Some(a) = big.iter().find(|x| x.system == "argus") {
                for p in big.iter().filter(|x| x.system != "argus") {
                    s.push_str(&ratio_line(
                        "cores for real time",
                        ("argus", a.realtime_cores),
                        (&p.system, p.realtime_cores),
                        |v| format!("{v:.3}"),
                        false,
                    ));
                    s.push_str(&ratio_line(
                        "peak RSS",
                        ("argus", a.peak_rss_bytes as f64),
                        (&p.system, p.peak_rss_bytes as f64),
                        |v| mib(v as u64),
                        false,
                    ));
                }
            }
        }
        s.push('\n');
    }
    let storage: Vec<&IngestResult> = r
        .ingest
        .iter()
        .filter(|x| x.scenario == "storage")
        .collect();
    if let Some(first) = storage.first() {
        let _ = writeln!(
            s,
            "### Storage: {} hosts, {} steps ({:.0} minutes of data)\n",
            first.hosts,
            first.steps,
            first.steps as f64 * set.step_secs as f64 / 60.0
        );
        ingest_table(&storage, &mut s);
        s.push('\n');
        ratios(&storage, &mut s);
        s.push_str("\nPrometheus keeps its most recent two hours in the head (WAL + head chunks) and compacts them into \
                    blocks later, so its bytes per point here are those of its write-ahead state, not of compacted blocks.\n\n");
    }
    if !r.agent.is_empty() {
        s.push_str("### Agent footprint on this host\n\n| system | mode | window s | CPU % of one core | RSS | peak RSS | series a round |\n|---|---|---:|---:|---:|---:|---:|\n");
        for a in &r.agent {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.2} | {} | {} | {} |",
                a.system,
                a.mode,
                a.window_secs,
                a.cpu_percent,
                mib(a.rss_bytes),
                mib(a.peak_rss_bytes),
                a.series
            );
        }
        if let (Some(a), Some(n)) = (
            r.agent.iter().find(|x| x.system == "argus-agent"),
            r.agent.iter().find(|x| x.system == "node_exporter"),
        ) {
            s.push('\n');
            s.push_str(&ratio_line(
                "CPU",
                ("argus-agent", a.cpu_percent),
                ("node_exporter", n.cpu_percent),
                |v| format!("{v:.2} %"),
                false,
            ));
            s.push_str(&ratio_line(
                "RSS",
                ("argus-agent", a.rss_bytes as f64),
                ("node_exporter", n.rss_bytes as f64),
                |v| mib(v as u64),
                false,
            ));
            s.push_str("\nnode_exporter exposes several hundred series (Go runtime and every collector); the agent sends the open-falcon host set. Neither is configured down.\n");
        }
        s.push('\n');
    }
    s.push_str("### Alert latency\n\n");
    if r.alerts.is_empty() {
        s.push_str("Not measured in this run: the judge and alarm services were not yet available to the harness.\n\n");
    } else {
        s.push_str("From the point that crosses the threshold being sent to the webhook receiver getting the notification.\n\n| system | settings | alerts | missed | p50 | p99 |\n|---|---|---:|---:|---:|---:|\n");
        for a in &r.alerts {
            let q = |x| {
                a.quantile(x)
                    .map(|v| {
                        if v < 1000.0 {
                            format!("{v:.0} ms")
                        } else {
                            format!("{:.2} s", v / 1000.0)
                        }
                    })
                    .unwrap_or_else(|| "–".into())
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                a.system,
                a.settings,
                a.latencies_ms.len(),
                a.missed,
                q(0.5),
                q(0.99)
            );
        }
        s.push('\n');
        alert_ratios(r, &mut s);
        s.push_str("\nArgus's default alarm waits `group_wait_secs` (5 s) to merge a storm into one message; with it at 0 the path is judge → alarm → webhook with no wait. Prometheus's latency adds up to one scrape interval, one evaluation interval and Alertmanager's group_wait.\n\n");
    }
    if !plots.is_empty() {
        s.push_str("### Plots\n\n");
        for (title, p) in plots {
            let _ = writeln!(s, "![{title}]({})\n", p.display());
        }
    }
    if !r.notes.is_empty() {
        s.push_str("### Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_section() {
        let doc = "# Benchmarks\n\n## Scenario (argus-bench)\n\nold text\n\n## store\n\nstore figures\n## judge\nj\n";
        let new = replace_section(doc, HEADING, "new text\n");
        assert_eq!(new, "# Benchmarks\n\n## Scenario (argus-bench)\n\nnew text\n\n## store\n\nstore figures\n## judge\nj\n");
        // Idempotent.
        assert_eq!(replace_section(&new, HEADING, "new text\n"), new);
    }

    #[test]
    fn adds_the_section_after_the_title_when_absent() {
        let doc = "# Benchmarks\n\n## store\n\nfigures\n";
        let new = replace_section(doc, HEADING, "body");
        assert!(
            new.starts_with("# Benchmarks\n\n## Scenario (argus-bench)\n\nbody\n\n"),
            "{new}"
        );
        assert!(new.ends_with("## store\n\nfigures\n"));
        assert!(SKELETON.contains("## transfer") && SKELETON.contains("## agent"));
    }

    #[test]
    fn every_ratio_names_both_sides() {
        let row = |system: &str, v: f64| IngestResult {
            system: system.into(),
            scenario: "ingest".into(),
            hosts: 10,
            points_per_core_sec: v,
            points_per_sec: v,
            peak_rss_bytes: 100 << 20,
            bytes_per_point: 1.5,
            ..Default::default()
        };
        let r = Results {
            ingest: vec![
                row("argus", 300_000.0),
                row("prometheus", 100_000.0),
                row("victoriametrics", 150_000.0),
            ],
            command: "argus-bench run --quick".into(),
            ..Default::default()
        };
        let md = render(&r, &[]);
        let lines: Vec<&str> = md.lines().filter(|l| l.contains('×')).collect();
        // 8 in the ingest section, 4 in the summary (CPU and memory per peer).
        assert_eq!(lines.len(), 12);
        for l in lines {
            assert!(
                l.contains("Argus") && (l.contains("Prometheus") || l.contains("VictoriaMetrics")),
                "{l}"
            );
        }
        assert!(md.contains("Argus = 3.00× Prometheus (higher is better)"));
        assert!(md.contains("target/release/argus-bench run --quick\n"));
        assert_eq!(
            reproduce_args("x/argus-bench run --hosts 5 --out /tmp/r.json --work-dir=/w --quick"),
            "--hosts 5 --quick"
        );
    }
}
