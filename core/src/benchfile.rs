//! Results files of the benchmarks: what every benchmark records about the run (machine, build,
//! load) and the file a component benchmark (store, judge, alarm) saves under `bench/results/`.
//!
//! `argus-bench report` renders each component file into its section of docs/BENCHMARKS.md, so
//! the page shows the last run's figures and never figures typed by hand. The tables are kept as
//! display strings: each benchmark knows its units and precision, and the report only lays
//! them out.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical CPUs available.
    pub cpus: usize,
    /// `MemTotal`.
    pub mem_total_bytes: u64,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads this machine's description from /proc.
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        Machine {
            cpu_model,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            mem_total_bytes: mem_total,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }

    /// One line for a report: "AMD EPYC, 2 logical CPUs, 23.5 GiB RAM, Linux 6.1".
    pub fn describe(&self) -> String {
        format!(
            "{}, {} logical CPUs, {:.1} GiB RAM, Linux {}",
            self.cpu_model,
            self.cpus,
            self.mem_total_bytes as f64 / (1u64 << 30) as f64,
            self.kernel
        )
    }
}

/// `/proc/loadavg`'s three averages: how busy the shared machine was.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The build being measured: `0.1.0 (git abc1234)`, saying so when the working tree holds
/// uncommitted changes (the binary was most likely built from them).
pub fn build_version() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let rev = git(&["rev-parse", "--short", "HEAD"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .filter(|o| !o.stdout.is_empty())
        .map(|_| " + uncommitted changes in the working tree")
        .unwrap_or("");
    format!("{} (git {rev}{dirty})", env!("CARGO_PKG_VERSION"))
}

/// One table of a component benchmark's results, cells already formatted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// A short title ("ingest and queries, 100 hosts × 24 h").
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows, as many cells as columns.
    pub rows: Vec<Vec<String>>,
}

/// A component benchmark's results file (`bench/results/<component>.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentResults {
    /// `store`, `judge` or `alarm`: the section of docs/BENCHMARKS.md it fills.
    pub component: String,
    /// The command that produced the file.
    pub command: String,
    /// When the run started (UTC, `YYYY-MM-DD HH:MM`).
    pub started: String,
    /// Seconds the run took.
    pub secs: f64,
    /// What was measured ([`build_version`]).
    pub build: String,
    /// Where.
    pub machine: Machine,
    /// Load averages at the start and at the end of the run.
    pub load: [String; 2],
    /// The figures.
    pub tables: Vec<Table>,
    /// Derived statements (ratios to a peer, goals met or not), one a line.
    pub findings: Vec<String>,
}

/// Records a component run as it goes: created at its start, saved at its end.
pub struct Recorder {
    results: ComponentResults,
    t0: std::time::Instant,
}

impl Recorder {
    /// Starts recording the run of `component` made by `command`.
    pub fn start(component: &str, command: &str) -> Recorder {
        let started = chrono::DateTime::from_timestamp(crate::time::now_secs(), 0)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        Recorder {
            results: ComponentResults {
                component: component.into(),
                command: command.into(),
                started,
                build: build_version(),
                machine: Machine::this(),
                load: [loadavg(), String::new()],
                ..Default::default()
            },
            t0: std::time::Instant::now(),
        }
    }

    /// Adds a table.
    pub fn table(&mut self, title: &str, columns: &[&str], rows: Vec<Vec<String>>) {
        debug_assert!(rows.iter().all(|r| r.len() == columns.len()));
        self.results.tables.push(Table {
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        });
    }

    /// Adds a finding.
    pub fn finding(&mut self, line: impl Into<String>) {
        self.results.findings.push(line.into());
    }

    /// Ends the run and writes the file (pretty JSON, so that a diff reads).
    pub fn save(mut self, path: &Path) -> std::io::Result<ComponentResults> {
        self.results.secs = self.t0.elapsed().as_secs_f64();
        self.results.load[1] = loadavg();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut json =
            serde_json::to_string_pretty(&self.results).map_err(std::io::Error::other)?;
        json.push('\n');
        std::fs::write(path, json)?;
        Ok(self.results)
    }
}

/// Where a component benchmark saves its results when asked to (`--save`): the workspace's
/// `bench/results/<component>.json`, found from the benchmark crate's manifest directory.
pub fn results_path(manifest_dir: &str, component: &str) -> std::path::PathBuf {
    Path::new(manifest_dir)
        .join("..")
        .join("bench")
        .join("results")
        .join(format!("{component}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_run_reads_back_with_its_tables_and_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("judge.json");
        let mut r = Recorder::start("judge", "cargo bench -p argus-judge --bench eval");
        r.table(
            "evaluation",
            &["values", "points/s"],
            vec![vec!["realistic".into(), "2.0 M".into()]],
        );
        r.finding("goal met");
        let saved = r.save(&path).expect("save");
        let back: ComponentResults =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("parse");
        assert_eq!(back, saved);
        assert_eq!(back.tables[0].rows[0][1], "2.0 M");
        assert_eq!(back.started.len(), "2026-12-03 07:00".len());
        assert!(back.build.contains("(git "), "{}", back.build);
        assert!(!back.load[1].is_empty());
        assert!(back.machine.cpus >= 1);
    }

    #[test]
    fn results_go_under_the_workspace_bench_folder() {
        let p = results_path("/src/argus/judge", "judge");
        assert!(p.ends_with("judge/../bench/results/judge.json"), "{p:?}");
    }
}

/// A ratio as the benchmark pages print it: `2.10×`; below 0.1 with two significant digits
/// (`0.0028×`, where two decimals would print `0.00×`); `–` when there is none (a zero or
/// missing divisor).
pub fn ratio(x: f64) -> String {
    if !x.is_finite() || x < 0.0 {
        return "–".into();
    }
    if x == 0.0 || x >= 0.0995 {
        return format!("{x:.2}×");
    }
    let decimals = (-x.log10().floor()) as usize + 1;
    format!("{x:.decimals$}×")
}

#[cfg(test)]
mod ratio_tests {
    use super::ratio;

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(ratio(2.104), "2.10×");
        assert_eq!(ratio(0.5), "0.50×");
        assert_eq!(ratio(0.1), "0.10×");
        assert_eq!(ratio(0.0123), "0.012×");
        assert_eq!(ratio(0.00028), "0.00028×");
        assert_eq!(ratio(0.0), "0.00×");
        assert_eq!(ratio(f64::NAN), "–");
        assert_eq!(ratio(f64::INFINITY), "–");
    }
}
