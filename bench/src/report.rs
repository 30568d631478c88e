//! `argus-bench report`: the scenario section of docs/BENCHMARKS.md (machine, date, versions,
//! the exact commands, tables and ratios that name both sides) and the plots, from a results
//! JSON. The `## Scenario (argus-bench)` section is rewritten whole; in the component sections
//! below it only the figures between their markers are (`crate::components`), from the
//! component results files beside the scenario's.

use crate::plots::{self, human};
use crate::results::{DashboardResult, IngestResult, QueryResult, Results};
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The heading of the section this tool owns.
pub(crate) const HEADING: &str = "## Scenario (argus-bench)";

/// The document's skeleton when it does not exist yet.
const SKELETON: &str = "# Benchmarks\n\n## Scenario (argus-bench)\n\n## store\n\n## transfer\n\n## judge\n\n## alarm\n\n## agent\n";

/// Writes the plots and the section.
pub(crate) fn write(results: &Path, doc: &Path, plot_dir: &Path) -> anyhow::Result<()> {
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
    let new = crate::components::fill(&new, results.parent().unwrap_or(Path::new(".")))?;
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
pub(crate) fn replace_section(doc: &str, heading: &str, body: &str) -> String {
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
        "argus-vm" => "Argus on VictoriaMetrics",
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
            "{} = {} {} (higher is better)",
            pretty(a.0),
            argus_core::benchfile::ratio(ratio),
            pretty(b.0)
        )
    } else {
        format!(
            "{} = {} {} (lower is better)",
            pretty(a.0),
            argus_core::benchfile::ratio(ratio),
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
    let rounds: Vec<&&IngestResult> = rows.iter().filter(|r| !r.rounds.is_empty()).collect();
    if let Some(first) = rounds.first() {
        let _ = writeln!(
            out,
            "\nEach system ran {} rounds, in turn; its row is its median round by points per \
             core-second. Every round (points per core-second, peak RSS):\n",
            first.rounds.len()
        );
        for r in rounds {
            let each: Vec<String> = r
                .rounds
                .iter()
                .map(|x| {
                    format!(
                        "{} ({})",
                        human(x.points_per_core_sec),
                        mib(x.peak_rss_bytes)
                    )
                })
                .collect();
            let _ = writeln!(out, "- {}: {}", pretty(&r.system), each.join(", "));
        }
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
    // A region on an existing TSDB against the embedded storage, same agent batches.
    if let (Some(v), Some(a)) = (
        pick("ingest", "argus-vm", None),
        pick("ingest", "argus", None),
    ) {
        lines.push_str(&ratio_line(
            &format!(
                "ingest CPU efficiency on VictoriaMetrics against embedded storage, {} hosts \
                 (points per core-second, transfer and backend together)",
                v.hosts
            ),
            ("argus-vm", v.points_per_core_sec),
            ("argus", a.points_per_core_sec),
            human,
            true,
        ));
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
    query_summary(r, &mut lines);
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

/// Milliseconds, as a latency or CPU time reads best.
fn ms(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 1.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// The query row of `system` for query `name`.
fn query_row<'a>(r: &'a Results, system: &str, name: &str) -> Option<&'a QueryResult> {
    r.queries
        .iter()
        .find(|q| q.system == system && q.query == name)
}

/// Query names in the order they were run.
fn query_names(r: &Results) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for q in &r.queries {
        if !names.contains(&q.query.as_str()) {
            names.push(&q.query);
        }
    }
    names
}

fn p50(q: &QueryResult) -> f64 {
    q.quantile(0.5).unwrap_or(f64::NAN)
}

fn p99(q: &QueryResult) -> f64 {
    q.quantile(0.99).unwrap_or(f64::NAN)
}

fn cpu(q: &QueryResult) -> f64 {
    q.cpu_ms_per_query
}

/// `a / b` as `2.10×`, or `–`.
fn times(a: f64, b: f64) -> String {
    if b > 0.0 {
        argus_core::benchfile::ratio(a / b)
    } else {
        "–".into()
    }
}

/// For the summary: against each peer, the query where Argus does worst, in p50 latency and in
/// CPU per query.
fn query_summary(r: &Results, out: &mut String) {
    let hosts = r.query_setup.as_ref().map(|s| s.hosts).unwrap_or(0);
    type Metric = fn(&QueryResult) -> f64;
    for peer in ["victoriametrics", "prometheus"] {
        for (what, f) in [
            ("PromQL query latency p50", p50 as Metric),
            ("PromQL server CPU per query", cpu as Metric),
        ] {
            let worst = query_names(r)
                .into_iter()
                .filter_map(|n| Some((n, query_row(r, "argus", n)?, query_row(r, peer, n)?)))
                .map(|(n, a, p)| (n, f(a), f(p)))
                .filter(|(_, a, p)| a.is_finite() && p.is_finite() && *p > 0.0)
                .max_by(|x, y| (x.1 / x.2).total_cmp(&(y.1 / y.2)));
            if let Some((name, a, p)) = worst {
                out.push_str(&ratio_line(
                    &format!("{what}, {hosts} hosts, the query where Argus does worst ({name})"),
                    ("argus", a),
                    (peer, p),
                    ms,
                    false,
                ));
            }
        }
    }
}

/// `### PromQL queries`: the query benchmark's table, the goal, the queries as sent, whether the
/// answers agree, the method and the caveats.
fn queries_section(r: &Results, s: &mut String) {
    let Some(setup) = &r.query_setup else {
        return;
    };
    if r.queries.is_empty() {
        return;
    }
    let systems: Vec<&str> = ["argus", "argus-vm", "prometheus", "victoriametrics"]
        .into_iter()
        .filter(|sys| r.queries.iter().any(|q| q.system == *sys))
        .collect();
    let has_argus = systems.contains(&"argus");
    let peers: Vec<&str> = systems
        .iter()
        .copied()
        .filter(|x| !x.starts_with("argus"))
        .collect();
    let names = query_names(r);
    let _ = writeln!(
        s,
        "### PromQL queries: {} hosts, {} series\n",
        setup.hosts, setup.series
    );
    let _ = writeln!(
        s,
        "Dashboard-like range queries, each system asked through its own `/api/v1/query_range` on the \
         same data (Argus: the web service's `/prometheus/api/v1/query_range` with an API token; the \
         aggregations that can be split are evaluated in the region, by its storage node when it has \
         one as here (else by its transfer over the nodes' series), web the rest). One tenant \
         of {} hosts, {} series each: the agent's set plus byte counters per interface \
         (`net.if.{{in,out}}.bytes.total`) and a classic latency histogram \
         (`http.request.duration.seconds.bucket`, 10 `le` buckets). Every series of every host has the \
         last {:.0} minutes at a {} s step; the dashboard's series (`cpu.busy`, the counters, the \
         buckets) the last {:.0} minutes; `cpu.busy` also {} h of history before that at a {} s step: \
         {} points in each system, written oldest first (so Prometheus takes the history over remote \
         write: it arrives in time order into a fresh database). Every range ends at the data's last \
         step ({}). After the load each server is left until idle; then each query is sent once to \
         warm up, then one request at a time, at least {} times and for at least {:.1} s (stopping \
         after {:.0} s once {} are done). **Latency** is request sent → last byte of the answer \
         received; **CPU** is the serving process's utime + stime from /proc over the repetitions, \
         divided by them (Argus: one process holding store, transfer and web, as `argus standalone` \
         runs them).\n",
        setup.hosts,
        setup.series_per_host,
        setup.full_secs as f64 / 60.0,
        setup.step_secs,
        setup.recent_secs as f64 / 60.0,
        setup.history_hours,
        setup.coarse_step_secs,
        setup.points,
        setup.end,
        setup.reps,
        setup.min_secs,
        setup.budget_secs,
        setup.min_reps,
    );

    // The table.
    let mut head = String::from("| query | range, step | series out |");
    let mut rule = String::from("|---|---|---:|");
    for sys in &systems {
        let _ = write!(
            head,
            " {} p50 / p99 | {} CPU per query |",
            pretty(sys),
            pretty(sys)
        );
        rule.push_str("---:|---:|");
    }
    if has_argus {
        for peer in &peers {
            let _ = write!(head, " Argus ÷ {} (p50 · p99 · CPU) |", pretty(peer));
            rule.push_str("---:|");
        }
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for name in &names {
        let rows: Vec<&QueryResult> = systems
            .iter()
            .filter_map(|sys| query_row(r, sys, name))
            .collect();
        let Some(first) = rows.first() else {
            continue;
        };
        let range = if first.range_secs >= 3600 {
            format!("{} h, {} s", first.range_secs / 3600, first.step_secs)
        } else {
            format!("{} min, {} s", first.range_secs / 60, first.step_secs)
        };
        let mut series: Vec<String> = rows.iter().map(|q| q.result_series.to_string()).collect();
        series.dedup();
        let _ = write!(s, "| {name} | {range} | {} |", series.join(" / "));
        for sys in &systems {
            match query_row(r, sys, name) {
                Some(q) => {
                    let _ = write!(s, " {} / {} | {} |", ms(p50(q)), ms(p99(q)), ms(cpu(q)));
                }
                None => s.push_str(" – | – |"),
            }
        }
        if has_argus {
            for peer in &peers {
                match (query_row(r, "argus", name), query_row(r, peer, name)) {
                    (Some(a), Some(p)) => {
                        let _ = write!(
                            s,
                            " {} · {} · {} |",
                            times(p50(a), p50(p)),
                            times(p99(a), p99(p)),
                            times(cpu(a), cpu(p))
                        );
                    }
                    _ => s.push_str(" – |"),
                }
            }
        }
        s.push('\n');
    }
    s.push('\n');

    // The goal, query by query.
    if has_argus && peers.contains(&"victoriametrics") {
        let mut behind = Vec::new();
        for name in &names {
            if let (Some(a), Some(v)) = (
                query_row(r, "argus", name),
                query_row(r, "victoriametrics", name),
            ) {
                let (l, c) = (p50(a) / p50(v), cpu(a) / cpu(v));
                if l > 1.0 || c > 1.0 {
                    behind.push(format!(
                        "{name} (p50 {}, CPU {})",
                        times(p50(a), p50(v)),
                        times(cpu(a), cpu(v))
                    ));
                }
            }
        }
        let goal = "Goal (Argus at or below VictoriaMetrics in p50 latency and CPU on every query)";
        if behind.is_empty() {
            let _ = writeln!(s, "{goal}: **met** on all {} queries.\n", names.len());
        } else {
            let _ = writeln!(
                s,
                "{goal}: **not met** on {} of {} queries: {}.\n",
                behind.len(),
                names.len(),
                behind.join("; ")
            );
        }
    }

    dashboard_table(r, &systems, s);

    // A region on VictoriaMetrics against the embedded storage.
    if has_argus && systems.contains(&"argus-vm") {
        let rows: Vec<String> = names
            .iter()
            .filter_map(|name| {
                let (v, a) = (
                    query_row(r, "argus-vm", name)?,
                    query_row(r, "argus", name)?,
                );
                Some(format!(
                    "{name} {} · {}",
                    times(p50(v), p50(a)),
                    times(cpu(v), cpu(a))
                ))
            })
            .collect();
        let _ = writeln!(
            s,
            "Argus on VictoriaMetrics (`[remote_storage]`: web and transfer read raw samples from a \
             VictoriaMetrics by range-selector queries and evaluate; its CPU is Argus's and \
             VictoriaMetrics's together) ÷ Argus on its storage node, p50 · CPU: {}.\n",
            rows.join("; ")
        );
    }

    // Where the CPU goes: per raw point under the selectors.
    if r.queries.iter().any(|q| q.points_selected > 0) {
        s.push_str(
            "Server CPU per raw point under the query's selectors (nanoseconds; the range plus the \
             5 minutes before it): a cost that stays flat across queries is paid per point moved, \
             not per function evaluated.\n\n| query | points selected |",
        );
        for sys in &systems {
            let _ = write!(s, " {} |", pretty(sys));
        }
        s.push_str("\n|---|---:|");
        for _ in &systems {
            s.push_str("---:|");
        }
        s.push('\n');
        for name in &names {
            let points = systems
                .iter()
                .filter_map(|sys| query_row(r, sys, name))
                .map(|q| q.points_selected)
                .max()
                .unwrap_or(0);
            let _ = write!(s, "| {name} | {points} |");
            for sys in &systems {
                match query_row(r, sys, name) {
                    Some(q) if q.points_selected > 0 => {
                        let ns = cpu(q) * 1e6 / q.points_selected as f64;
                        let _ = write!(s, " {} |", human(ns));
                    }
                    _ => s.push_str(" – |"),
                }
            }
            s.push('\n');
        }
        s.push('\n');
    }

    // The queries as sent.
    s.push_str(
        "The queries, as each system was asked them (the peers hold the remote-write names: dots \
         made underscores):\n\n| query | Argus | Prometheus, VictoriaMetrics |\n|---|---|---|\n",
    );
    for name in &names {
        let expr = |sys: &str| {
            query_row(r, sys, name)
                .map(|q| format!("`{}`", q.expr.replace('|', "\\|")))
                .unwrap_or_else(|| "–".into())
        };
        let peer = peers.first().map(|p| expr(p)).unwrap_or_else(|| "–".into());
        let _ = writeln!(s, "| {name} | {} | {peer} |", expr("argus"));
    }
    s.push('\n');

    // Do the answers agree?
    s.push_str("Answers (series · points · mean of all values), to show like is compared with like:\n\n| query |");
    for sys in &systems {
        let _ = write!(s, " {} |", pretty(sys));
    }
    s.push_str("\n|---|");
    for _ in &systems {
        s.push_str("---:|");
    }
    s.push('\n');
    for name in &names {
        let _ = write!(s, "| {name} |");
        for sys in &systems {
            match query_row(r, sys, name) {
                Some(q) => {
                    let _ = write!(
                        s,
                        " {} · {} · {} |",
                        q.result_series,
                        q.result_points,
                        human(q.result_mean)
                    );
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s.push('\n');

    s.push_str(
        "Loading the data (not measured; for the record):\n\n\
         | system | points acked | failed requests | wall s | server CPU s | idle after s | peak RSS |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for l in &setup.loads {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {:.1} | {:.0} | {} |",
            pretty(&l.system),
            l.points_accepted,
            l.request_errors,
            l.wall_secs,
            l.cpu_secs,
            l.idle_wait_secs,
            mib(l.peak_rss_bytes)
        );
    }
    s.push('\n');
    let run = format!(
        "target/release/argus-bench run {}",
        reproduce_args(&r.command)
    );
    let _ = writeln!(
        s,
        "**Command:** part of `{}` (after `source .ci/services/peers.sh` and `cargo build --release \
         -p argus-bench`); `--query-hosts`, `--query-hours`, `--query-reps` and \
         `--query-budget-secs` size it, `--query-hosts 0` skips it.\n",
        run.trim_end()
    );
    s.push_str(QUERY_CAVEATS);
}

/// Opening a dashboard of the query benchmark's panels, system by system.
fn dashboard_table(r: &Results, systems: &[&str], s: &mut String) {
    let rows: Vec<&DashboardResult> = systems
        .iter()
        .filter_map(|sys| r.dashboards.iter().find(|d| d.system == *sys))
        .collect();
    let Some(first) = rows.first() else {
        return;
    };
    let vm = r.dashboards.iter().find(|d| d.system == "victoriametrics");
    let _ = writeln!(
        s,
        "**Opening a dashboard**: {} panels over the last hour (fleet average, maximum, top 10 \
         and count of `cpu.busy`; one host's CPU; traffic by interface in and out; top 10 hosts in \
         and out; the out/in ratio; latency p99 and p50 from the histogram), every panel's range \
         query sent at once with {} in flight, as a browser opens a dashboard: time until the last \
         panel's answer, and the server's CPU per load. No query is sent per host.\n",
        first.panels, first.in_flight
    );
    let _ = writeln!(
        s,
        "| system | loads | load time p50 / p99 | CPU per load | ÷ VictoriaMetrics (p50 · CPU) |\n|---|---:|---:|---:|---:|"
    );
    for d in rows {
        let ratio = match vm {
            Some(v) if d.system != "victoriametrics" => format!(
                "{} · {}",
                times(
                    d.quantile(0.5).unwrap_or(f64::NAN),
                    v.quantile(0.5).unwrap_or(f64::NAN)
                ),
                times(d.cpu_ms_per_load, v.cpu_ms_per_load)
            ),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {}{} | {} / {} | {} | {ratio} |",
            pretty(&d.system),
            d.reps,
            if d.errors > 0 {
                format!(" ({} failed)", d.errors)
            } else {
                String::new()
            },
            ms(d.quantile(0.5).unwrap_or(f64::NAN)),
            ms(d.quantile(0.99).unwrap_or(f64::NAN)),
            ms(d.cpu_ms_per_load)
        );
    }
    s.push('\n');
}

/// The ingest scenario's standing caveats: where Argus's CPU goes and what is left.
const INGEST_CAVEATS: &str = "**Caveats:**

- Shapes differ by design: the agents' batches are one host (71 points) a request, acknowledged \
only once fsynced; the remote-write rows get 28 hosts (about 2,000 samples) a request, as \
Prometheus sends them, and Argus still fsyncs before answering. VictoriaMetrics answers before \
its points reach the disk: an unclean stop loses the last few seconds \
(`-inmemoryDataFlushInterval`).
- Runs on this shared machine (2 cores, with steal time from its host) vary by up to a third \
from one run to the next, for every system alike: hence the rounds, and ratios read from the \
median rows.
- Where the agents' path spends its CPU (`perf record -g` of the serving process over 10 s of \
the 2000-host agent run, between two flushes): 57 % on the transfer's HTTP workers, most of it \
the HTTP exchange itself (14 % of all CPU the kernel putting threads to sleep and waking them \
for each push, much of it in epoll; 7 % sending answers), 4 % zstd, 3 % copying bodies, 5 % \
reading and checking the series keys; 43 % on the threads writing to the engine (17 % the \
`fdatasync` of each merged write, a quarter of that the file's new size written to its inode; \
5 % finding each point's series, 4 % appending to heads).
- Where the remote-write path spends it (the same, over a 90-step run of the 2000 hosts: three \
flushes): 48 % on the HTTP workers, mostly reading the requests (6 % mapping and encoding the \
series, 5 % walking the protobuf, 5 % checking that labels are UTF-8, 5 % checking names and \
tag values, 2 % snappy, 6 % copying); 31 % on the engine threads (7 % finding series, 6 % \
appending to heads); 20 % flushing heads to blocks (5 % encoding chunks). One request carries \
2,000 samples, so the HTTP exchange is small here; each series' key is checked and hashed once \
per request, and its strings checked as UTF-8 once.
- What is left on the agents' path is per request: a push of 71 points costs an HTTP exchange \
and a share of an fsync, where VictoriaMetrics spreads a request over 2,000 samples and does no \
fsync. At the fleet's real rate (one push per host every 10 s) that is the gap in the table's \
cores for real time. What would close it: fewer, larger requests (an agent sending several \
steps at once when it is behind, or a relay per rack merging its hosts' pushes), or answering \
before the fsync as VictoriaMetrics does (the storage node's `fsync = false`: a machine crash \
then loses up to `fsync_interval_ms` of acknowledged points; `--argus-fsync false` measures \
it). Two ideas were measured and dropped: a commit delay (holding a finished write's slot 1–2 \
ms for the next pushes) did not lower the CPU per point, and a table of series keys already \
checked gained less than the runs' noise and added about 30 MiB of peak memory at 2,000 \
hosts.
";

/// What the peak RSS figures hold, and the allocator's part in them.
const MEMORY_CAVEATS: &str = "**Memory:**

- Argus's peak RSS is one process: the transfer and the storage node together. Most of it is the \
series (their keys, index and state, about 300 bytes each) and their heads (the samples since the \
last flush, coded as they arrive: about two bytes a sample for two-decimal values). A flush \
writes the head series by series; it used to copy the whole head first, which was the peak of \
the 2000-host run (375 MiB then, agents' batches).
- The remote-write row peaks higher than the agents' batches on the same data. The allocator \
(mimalloc) keeps freed pages for `MIMALLOC_PURGE_DELAY` (1 s in Argus, against page-fault and \
zeroing costs), and 2,000-sample requests free larger buffers faster. In single runs of the \
2000-host remote-write case on this machine: 300 MiB at 1 s, 251 MiB and about 9 % more CPU at \
10 ms, 202 MiB and about 28 % more CPU at 0. An operator who prefers memory sets the variable.
";

/// The query benchmark's standing caveats.
const QUERY_CAVEATS: &str = "**Caveats:**

- VictoriaMetrics is asked with `nocache=1`: its rollup-result cache would otherwise answer every \
repetition of the same range from memory (a refreshing dashboard does get that benefit; Prometheus and \
Argus have no such cache). Its `rate` is MetricsQL's (no extrapolation at the window's edges; the \
sample before the window counts), which can differ from Prometheus's where a series starts or \
stops; the answers table shows whether the three agree.
- One request at a time on an otherwise idle server: latency without concurrency. CPU is counted in \
clock ticks (10 ms) over all repetitions, which is why fast queries repeat for at least the minimum \
time.
- Argus's figures include the hops of its deployed query path (web → transfer over loopback \
HTTP; transfer → storage node over loopback HTTP for the partial answers the storage node \
computes, passed on in binary by the transfer to web; a plain selection's points (one host's \
CPU) taken from the storage node in the transfer's process without HTTP, as `argus standalone` \
does, and sent to web in the binary selection answer); the peers answer from one process.
- Where Argus's CPU went before this run (`perf record` of the serving process at 2000 hosts): on \
`sum by (iface)`, 45 % in the storage node's read (chunk decoding 14 %, merging a series' sources \
by a sort 10 %, binary encoding 7 %), 30 % in the transfer's evaluation (the `rate` passes 26 %), \
13 % in the transfer taking the answer in (decoding, copying into the evaluator's series) and 9 % \
in the kernel zeroing fresh pages; on topk, a quarter in gzip of the partial answers (values as \
JSON strings) and inflating them in web, and a sixth in web's step-by-step `topk(sum by \
(endpoint))` over the 2000 partial sums. Since then the partial answers cross in binary, \
aggregations and topk/bottomk over selectors, range functions and other aggregations are \
evaluated series by series (same answers to the bit), a series' sources are concatenated rather \
than sorted together, chunk bits are read a word at a time, a large selection is read, and \
its range function computed, on both cores, `rate` and `increase` skip the reset search on \
windows without a drop, and a region of one storage node has the node evaluate the partial \
aggregations (no raw points leave it). What is left: chunks are decoded again by every query \
(decoding is now the largest share), the threads of a parallel read are started per query (each \
with a fresh allocator heap, so fresh pages to zero; a persistent pool would keep them), and a \
point is still copied from the decoded chunk into the node's selection.
- Beyond the last 65 minutes the history is `cpu.busy` alone, at 60 s: the 24 h query reads one \
series; the fleet queries read the last hour plus the 5-minute `rate` window of 2 to 10 series a \
host (the points-selected column).
- The machine is shared with other work (2 cores); each system ran alone, one after another, on the \
same data, with the same client. When other builds run meanwhile every system's figures rise \
(compare the ratios within one run, not figures across runs).

";

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
/// `### Recording and alert rules`: CPU per evaluation interval of the same rule file, beside
/// each system's own account of the work.
fn rules_section(r: &Results, s: &mut String) {
    let Some(first) = r.rules.first() else {
        return;
    };
    let _ = writeln!(
        s,
        "### Recording and alert rules: {} + {} rules every {} s over {} hosts
",
        first.recording_rules, first.alert_rules, first.interval_secs, first.hosts
    );
    let _ = writeln!(
        s,
        "One rule file, in each system's spelling of the metric names: 50 recording and 50 alert rule \
         templates (group averages, maxima and quantiles, counter rates, histogram quantiles, ratios of \
         two metrics, `predict_linear`, `absent`, `*_over_time`, `and`/`unless`; `bench/src/rules.rs`), each \
         instantiated for each of {} host groups (a `group` tag on every series of a host), one rule-file group \
         per host group. The fleet ({} series) keeps pushing one step every 10 s throughout. Argus imports the \
         file through `POST /api/v1/rules/import`; its judge evaluates the rules with the deployed defaults \
         (4 at once), reading the series through the transfer and writing recorded points back through it \
         (acknowledged after fsync); web, transfer, storage node, judge and alarm are one process here. \
         Prometheus loads the file on SIGHUP and evaluates it against its TSDB. CPU is the serving \
         process's, over {} intervals, with the rules minus without them (the feed alone).\n",
        first.groups, first.series, first.intervals
    );
    s.push_str("| system | CPU s per interval for the rules | with rules | feed only | summed evaluation time | rules failing | alerts firing | pending | recorded series | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for x in &r.rules {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} s | {} | {} | {} | {} | {} |",
            pretty(&x.system),
            x.rule_cpu_secs_per_interval,
            x.cpu_secs_per_interval,
            x.baseline_cpu_secs_per_interval,
            x.evaluation_secs,
            x.failing_rules,
            x.alerts_firing,
            x.alerts_pending,
            x.recorded_series,
            mib(x.peak_rss_bytes)
        );
    }
    if let (Some(a), Some(p)) = (
        r.rules.iter().find(|x| x.system == "argus"),
        r.rules.iter().find(|x| x.system == "prometheus"),
    ) {
        s.push('\n');
        s.push_str(&ratio_line(
            "CPU per interval for the rules",
            ("argus", a.rule_cpu_secs_per_interval),
            ("prometheus", p.rule_cpu_secs_per_interval),
            |v| format!("{v:.2} s"),
            false,
        ));
        let share = a.rule_cpu_secs_per_interval / a.interval_secs.max(1) as f64;
        let _ = writeln!(
            s,
            "\nArgus's rules take {:.0} % of one core at this interval. \"Summed evaluation time\" is each system's own \
             report of its rules' last evaluations added up (wall time; Argus's includes reading through the transfer \
             and writing the recorded points), and the alert and series counts show both systems doing the same work (they differ by a few percent: each system has taken the live feed's newest step at a slightly different moment when it evaluates).\n",
            share * 100.0
        );
    }
}

pub(crate) fn render(r: &Results, plots: &[(String, PathBuf)]) -> String {
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
         Argus (an `argus-transfer` in front of an `argus-store` node with its embedded engine, in one \
         process as `argus standalone` runs them: the transfer hands its writes to the node without HTTP, \
         queries go over loopback HTTP; each host's batch pushed as the agent pushes it: the binary point frame, zstd, {} host(s) a request) \
         and to each peer by Prometheus remote write (protobuf, snappy, {} hosts ≈ {} samples a request, \
         Prometheus' default `max_samples_per_send`); \"Argus (remote write)\" is the same Argus fed those very remote-write requests on the transfer's `/api/v1/write`, the like-for-like protocol comparison. \"Argus on VictoriaMetrics\" (main comparison and queries only) is the same transfer keeping its points in a VictoriaMetrics single node (`[remote_storage]`, tenant label, `max_response_bytes` raised to 2 GiB and `timeout_ms` to 120 s for the fleet-wide selections) instead of a storage node, fed the agents' batches: its CPU, memory and disk are the transfer's and the VictoriaMetrics's together. {} requests are in flight; each step is sent whole \
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
        s.push_str(INGEST_CAVEATS);
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
        s.push_str(MEMORY_CAVEATS);
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
                    blocks later, so its bytes per point here are those of its write-ahead state, not of compacted blocks. \
                    Argus writes its head to compressed blocks when it stops cleanly, so its figure is the compressed size; \
                    while it runs it also holds up to `flush_interval_secs` (10 min) of the newest points in its write-ahead \
                    log at about 11 bytes each.\n\n");
    }
    queries_section(r, &mut s);
    rules_section(r, &mut s);
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
        s.push_str("From the point that crosses the threshold being sent to the webhook receiver getting the notification. The hosts cross one after another, 6 s apart: past Argus's default storm window (`group_wait_secs` 5 s), so each alert is the first of its group and is measured alone, as each Prometheus alert is under `group_by [alertname, endpoint]`. Alerts of one strategy closer together than the window are merged into one follow-up message and wait for it, by design (a 20-host storm arrives as two messages: `alarm/tests`).\n\n| system | settings | alerts | missed | p50 | p99 |\n|---|---|---:|---:|---:|---:|\n");
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
        s.push_str("\nArgus's alarm sends the first event of a new group at once and merges the events that join the group within `group_wait_secs` (5 s by default) into one follow-up message, so a storm still arrives as at most two messages. An event wakes the alarm's loops, so a lone alert's latency is the judge → alarm → webhook path itself, with the default settings as with group_wait 0. Prometheus's latency adds up to one scrape interval, one evaluation interval and Alertmanager's group_wait.\n\n");
    }
    if let Some(f) = &r.flood {
        s.push_str("### Tenant fairness under a flood\n\n");
        let _ = writeln!(
            s,
            "Two tenants with the same quota ({:.0} points/s, burst one second's worth). The quiet one pushes {} requests/s of {} points (one host's step), {} s alone, then {} s while the other pushes at ten times the quota from 8 concurrent senders. Latency is the quiet tenant's, from sending its request to reading the answer.\n",
            f.quota_points_per_sec, f.quiet_requests_per_sec, f.quiet_points_per_request, f.phase_secs, f.phase_secs
        );
        s.push_str("| quiet tenant | requests | failed | p50 | p99 |\n|---|---:|---:|---:|---:|\n");
        for (name, n, failed, p50, p99) in [
            (
                "alone",
                f.alone_requests,
                f.alone_failed,
                f.alone_p50_ms,
                f.alone_p99_ms,
            ),
            (
                "during the flood",
                f.flooded_requests,
                f.flooded_failed,
                f.flooded_p50_ms,
                f.flooded_p99_ms,
            ),
        ] {
            let _ = writeln!(s, "| {name} | {n} | {failed} | {} | {} |", ms(p50), ms(p99));
        }
        let _ = writeln!(
            s,
            "\n**p99 during the flood ÷ p99 alone: {:.2}×** (goal: at most 2×). The flooding tenant offered {:.0} points/s and had {:.0} taken ({} requests, {} refused with 429).\n",
            f.flooded_p99_ms / f.alone_p99_ms,
            f.flood_offered_points_per_sec,
            f.flood_accepted_points_per_sec,
            f.flood_requests,
            f.flood_refused
        );
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

    #[test]
    fn renders_the_query_section_with_ratios_to_each_peer() {
        let q = |system: &str, query: &str, lat: f64, cpu: f64| QueryResult {
            system: system.into(),
            query: query.into(),
            expr: format!("{query} for {system}"),
            range_secs: 3600,
            step_secs: 15,
            reps: 2,
            latencies_ms: vec![lat, lat * 2.0],
            cpu_ms_per_query: cpu,
            result_series: 1,
            points_selected: 1000,
            ..Default::default()
        };
        let r = Results {
            command: "argus-bench run".into(),
            query_setup: Some(crate::results::QuerySetup {
                hosts: 2000,
                series: 170_000,
                ..Default::default()
            }),
            queries: vec![
                q("argus", "host", 2.0, 1.0),
                q("prometheus", "host", 4.0, 2.0),
                q("victoriametrics", "host", 1.0, 1.0),
                q("argus", "topk", 30.0, 20.0),
                q("prometheus", "topk", 60.0, 40.0),
                q("victoriametrics", "topk", 60.0, 40.0),
            ],
            dashboards: ["argus", "victoriametrics"]
                .iter()
                .zip([300.0, 100.0])
                .map(|(sys, t)| crate::results::DashboardResult {
                    system: sys.to_string(),
                    panels: 12,
                    in_flight: 6,
                    reps: 3,
                    latencies_ms: vec![t, t, 2.0 * t],
                    errors: 0,
                    cpu_ms_per_load: t / 2.0,
                })
                .collect(),
            ..Default::default()
        };
        let md = render(&r, &[]);
        assert!(md.contains("**Opening a dashboard**: 12 panels"), "{md}");
        assert!(
            md.contains("| Argus | 3 | 300 ms / 600 ms | 150 ms | 3.00× · 3.00× |"),
            "{md}"
        );
        assert!(
            md.contains("### PromQL queries: 2000 hosts, 170000 series"),
            "{md}"
        );
        assert!(md.contains("| host | 1 h, 15 s | 1 | 2.0 ms / 4.0 ms | 1.0 ms | 4.0 ms / 8.0 ms | 2.0 ms | 1.0 ms / 2.0 ms | 1.0 ms | 0.50× · 0.50× · 0.50× | 2.00× · 2.00× · 1.00× |"), "{md}");
        assert!(
            md.contains("**not met** on 1 of 2 queries: host (p50 2.00×, CPU 1.00×)"),
            "{md}"
        );
        // The summary names both sides and picks Argus's worst query.
        assert!(md.contains("- PromQL query latency p50, 2000 hosts, the query where Argus does worst (host): Argus 2.0 ms vs VictoriaMetrics 1.0 ms → Argus = 2.00× VictoriaMetrics (lower is better)"), "{md}");
        assert!(md.contains("| topk | `topk for argus` | `topk for prometheus` |"));
        // 20 ms of CPU over 1000 points: 20 µs a point.
        assert!(md.contains("| topk | 1000 | 20k | 40k | 40k |"), "{md}");
        // Older results without queries render no such section.
        let none = render(&Results::default(), &[]);
        assert!(!none.contains("PromQL"));
    }
}
