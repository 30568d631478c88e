//! What a run measured, saved as JSON by `argus-bench run` and read by `argus-bench report`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The machine the run happened on.
pub(crate) use argus_core::benchfile::Machine;

/// How the load was shaped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Settings {
    /// Tenants the hosts are spread over.
    pub tenants: usize,
    /// Series each host reports.
    pub series_per_host: usize,
    /// Step in seconds.
    pub step_secs: i64,
    /// Hosts per Argus push (1: each agent pushes its own batch).
    pub argus_hosts_per_batch: usize,
    /// Hosts per remote-write request.
    pub remote_write_hosts_per_batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Whether Argus storage fsyncs each write before acknowledging it.
    pub argus_fsync: bool,
}

/// One system evaluating the rules benchmark's rule file (figures per evaluation interval).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RuleResult {
    /// `argus` or `prometheus`.
    pub system: String,
    /// Hosts of the fleet.
    pub hosts: usize,
    /// Host groups (one rule per template and group).
    pub groups: usize,
    /// Distinct series of the fleet.
    pub series: usize,
    /// Recording rules.
    pub recording_rules: usize,
    /// Alert rules.
    pub alert_rules: usize,
    /// Evaluation interval, seconds.
    pub interval_secs: u64,
    /// Intervals each CPU figure was measured over.
    pub intervals: u32,
    /// CPU seconds of the server per interval taking the live feed, before the rules.
    pub baseline_cpu_secs_per_interval: f64,
    /// CPU seconds per interval with the rules (and the feed).
    pub cpu_secs_per_interval: f64,
    /// The difference: what the rules cost per interval.
    pub rule_cpu_secs_per_interval: f64,
    /// The system's own sum of the rules' last evaluation times, seconds.
    pub evaluation_secs: f64,
    /// Rules whose last evaluation failed.
    pub failing_rules: usize,
    /// The first such error.
    pub first_error: Option<String>,
    /// Alerts firing at the end.
    pub alerts_firing: u64,
    /// Alerts pending at the end.
    pub alerts_pending: u64,
    /// Series of the recorded metrics (`group:*`) at the end.
    pub recorded_series: usize,
    /// Seconds from loading the rules until each had been evaluated once.
    pub first_evaluation_wait_secs: f64,
    /// Peak resident memory of the server.
    pub peak_rss_bytes: u64,
    /// Points of the fleet acknowledged.
    pub points_written: u64,
    /// Failed write requests.
    pub write_errors: u64,
}

/// One system ingesting one fleet.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct IngestResult {
    /// `argus`, `prometheus` or `victoriametrics`.
    pub system: String,
    /// `ingest` (the main size), `scale` (cost growth) or `storage` (one hour of data).
    pub scenario: String,
    /// Simulated hosts.
    pub hosts: usize,
    /// Distinct series.
    pub series: usize,
    /// Steps of data sent (each step = one point per series).
    pub steps: usize,
    /// Points sent.
    pub points_sent: u64,
    /// Points the server acknowledged.
    pub points_accepted: u64,
    /// Failed requests.
    pub request_errors: u64,
    /// Wall time from the first request to the last answer.
    pub wall_secs: f64,
    /// CPU seconds the server process used over the ingest, plus a short settle period.
    pub server_cpu_secs: f64,
    /// Accepted points per wall second.
    pub points_per_sec: f64,
    /// Accepted points per CPU second of the server.
    pub points_per_core_sec: f64,
    /// CPU cores the server needs for this fleet in real time (points per step / step / per-core rate).
    pub realtime_cores: f64,
    /// Peak resident memory of the server.
    pub peak_rss_bytes: u64,
    /// Bytes on disk after a clean stop.
    pub disk_bytes: u64,
    /// `disk_bytes / points_accepted`.
    pub bytes_per_point: f64,
    /// Every round's figures, in the order run, when the system ran more than once (this row
    /// is then its median round by points per core-second).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<Round>,
}

/// One round of a system's ingest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Round {
    /// Accepted points per CPU second of the server.
    pub points_per_core_sec: f64,
    /// Peak resident memory of the server.
    pub peak_rss_bytes: u64,
}

/// Agent footprint over the same window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AgentResult {
    /// `argus-agent` or `node_exporter`.
    pub system: String,
    /// How the numbers were obtained (push interval, scrape interval).
    pub mode: String,
    /// Window in seconds.
    pub window_secs: f64,
    /// CPU seconds over the window.
    pub cpu_secs: f64,
    /// CPU share of one core, in percent.
    pub cpu_percent: f64,
    /// Resident memory at the end.
    pub rss_bytes: u64,
    /// Peak resident memory.
    pub peak_rss_bytes: u64,
    /// Series one collection produced.
    pub series: usize,
}

/// Alert latency of one system in one configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AlertResult {
    /// e.g. `argus` or `prometheus+alertmanager (usual)`.
    pub system: String,
    /// The settings used.
    pub settings: String,
    /// Latencies in milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    /// Alerts expected but never received.
    pub missed: usize,
}

impl AlertResult {
    /// The `q` quantile (0..=1) of the latencies (nearest rank), if any.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.latencies_ms, q)
    }
}

/// Fairness under a flood (`flood.rs`): a quiet tenant's push latency alone and while another
/// tenant pushes at a multiple of the same quota.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FloodResult {
    /// Every tenant's quota, points per second.
    pub quota_points_per_sec: f64,
    /// The quiet tenant's requests per second.
    pub quiet_requests_per_sec: u64,
    /// Points in each of its requests.
    pub quiet_points_per_request: usize,
    /// Seconds of each phase.
    pub phase_secs: u64,
    /// Quiet tenant alone: p50, ms.
    pub alone_p50_ms: f64,
    /// Quiet tenant alone: p99, ms.
    pub alone_p99_ms: f64,
    /// Its requests answered 2xx alone.
    pub alone_requests: usize,
    /// Its requests that failed alone.
    pub alone_failed: u64,
    /// Quiet tenant during the flood: p50, ms.
    pub flooded_p50_ms: f64,
    /// Quiet tenant during the flood: p99, ms.
    pub flooded_p99_ms: f64,
    /// Its requests answered 2xx during the flood.
    pub flooded_requests: usize,
    /// Its requests that failed during the flood.
    pub flooded_failed: u64,
    /// The flooding tenant's offered rate during the measured phase.
    pub flood_offered_points_per_sec: f64,
    /// What the transfer took of it.
    pub flood_accepted_points_per_sec: f64,
    /// The flooding tenant's requests.
    pub flood_requests: u64,
    /// Of which refused (429) or failed.
    pub flood_refused: u64,
}

/// One system's load of the query benchmark's data.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct QueryLoad {
    /// `argus`, `prometheus` or `victoriametrics`.
    pub system: String,
    /// Points sent.
    pub points_sent: u64,
    /// Points acknowledged.
    pub points_accepted: u64,
    /// Failed requests.
    pub request_errors: u64,
    /// Wall time of the load.
    pub wall_secs: f64,
    /// Server CPU seconds over the load.
    pub cpu_secs: f64,
    /// Seconds waited after the load for the server to go idle.
    pub idle_wait_secs: f64,
    /// Share of a core the server still used in the last second of that wait.
    pub idle_cpu_share: f64,
    /// Peak resident memory of the server by the end of the queries.
    pub peak_rss_bytes: u64,
}

/// The query benchmark's data and method.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct QuerySetup {
    /// Hosts (one tenant).
    pub hosts: usize,
    /// Distinct series.
    pub series: usize,
    /// Series each host has.
    pub series_per_host: usize,
    /// Hours of `cpu.busy` history.
    pub history_hours: i64,
    /// Step of that history before the last hour.
    pub coarse_step_secs: i64,
    /// Span written at the full step for the dashboard's series (counters, buckets, cpu.busy).
    pub recent_secs: i64,
    /// Span at the end where every series of every host has points.
    pub full_secs: i64,
    /// The fleet's step.
    pub step_secs: i64,
    /// Points written into each system.
    pub points: u64,
    /// Fewest repetitions per query, unless one exceeded the time budget (fast queries repeat
    /// for at least `min_secs`).
    pub reps: usize,
    /// Least time a query is repeated for.
    #[serde(default)]
    pub min_secs: f64,
    /// Repetitions done even past the time budget.
    #[serde(default)]
    pub min_reps: usize,
    /// Time budget of one query's repetitions.
    pub budget_secs: f64,
    /// End of every query's range (the data's last step), UTC.
    pub end: String,
    /// Each system's load.
    pub loads: Vec<QueryLoad>,
}

/// One PromQL range query against one system.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct QueryResult {
    /// `argus`, `prometheus` or `victoriametrics`.
    pub system: String,
    /// The query's short name (the same for every system).
    pub query: String,
    /// The PromQL this system was asked.
    pub expr: String,
    /// Range, seconds.
    pub range_secs: i64,
    /// Resolution step, seconds.
    pub step_secs: i64,
    /// Timed repetitions (after one warm-up).
    pub reps: usize,
    /// Latencies of the successful repetitions, milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    /// Failed repetitions.
    pub errors: usize,
    /// Server CPU seconds over all the repetitions.
    pub cpu_secs: f64,
    /// Server CPU milliseconds per query.
    pub cpu_ms_per_query: f64,
    /// Series in the answer.
    pub result_series: usize,
    /// Points in the answer.
    pub result_points: usize,
    /// Mean of the answer's finite values (the systems should roughly agree).
    pub result_mean: f64,
    /// Raw points under the query's selectors (range plus the 5-minute window before it).
    #[serde(default)]
    pub points_selected: u64,
}

/// Opening a dashboard of several panels against one system: every panel's range query sent
/// at once (as a browser does, a few in flight), timed until the last answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DashboardResult {
    /// `argus`, `argus-vm`, `prometheus` or `victoriametrics`.
    pub system: String,
    /// Panels (one range query each).
    pub panels: usize,
    /// Queries in flight at once.
    pub in_flight: usize,
    /// Timed loads (after one warm-up).
    pub reps: usize,
    /// Time to the last panel's answer of each successful load, milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    /// Loads with a failed panel.
    pub errors: usize,
    /// Server CPU milliseconds per load.
    pub cpu_ms_per_load: f64,
}

impl DashboardResult {
    /// The `q` quantile of the load times (nearest rank), if any.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.latencies_ms, q)
    }
}

impl QueryResult {
    /// The `q` quantile of the latencies (nearest rank), if any.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.latencies_ms, q)
    }
}

/// Nearest-rank quantile of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// A whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Results {
    /// The exact command line.
    pub command: String,
    /// Quick (smoke) mode.
    pub quick: bool,
    /// Start, UTC (`YYYY-MM-DD HH:MM`).
    pub started: String,
    /// Whole run wall time.
    pub duration_secs: f64,
    /// Where it ran.
    pub machine: Machine,
    /// Versions of every system involved.
    pub versions: BTreeMap<String, String>,
    /// Load shape.
    pub settings: Settings,
    /// Ingest, cost growth and storage measurements.
    pub ingest: Vec<IngestResult>,
    /// Agent footprint.
    pub agent: Vec<AgentResult>,
    /// Alert latency.
    pub alerts: Vec<AlertResult>,
    /// Recording and alert rules' cost (absent from older results).
    #[serde(default)]
    pub rules: Vec<RuleResult>,
    /// The query benchmark's data and method (absent from older results).
    #[serde(default)]
    pub query_setup: Option<QuerySetup>,
    /// PromQL query latency and CPU (absent from older results).
    #[serde(default)]
    pub queries: Vec<QueryResult>,
    /// Opening a dashboard of the query benchmark's panels (absent from older results).
    #[serde(default)]
    pub dashboards: Vec<DashboardResult>,
    /// Fairness under a flood (absent from older results).
    #[serde(default)]
    pub flood: Option<FloodResult>,
    /// What was skipped and why, and other caveats.
    pub notes: Vec<String>,
}

/// `YYYY-MM-DD HH:MM UTC` of Unix seconds.
pub(crate) fn utc_string(secs: i64) -> String {
    format!("{} UTC", argus_core::time::UtcTime::of(secs).minutes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(utc_string(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_string(1_795_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(utc_string(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
