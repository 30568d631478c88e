//! The rules benchmark: one rule file of recording and alert rules over the bench fleet,
//! evaluated by Argus (its judge, reading the region through the transfer and writing recorded
//! points back) and by Prometheus on the same data, in the same run, one system at a time.
//!
//! **Data.** One tenant of hosts reporting the query benchmark's metric set (the agent's set,
//! byte counters, a latency histogram), each host in one of `groups` host groups (tag `group`).
//! Six minutes of every series are written up to now, then one step every 10 s while the system
//! runs, as agents would keep pushing: rules always see fresh data.
//!
//! **Rules.** [`templates`] gives 50 recording and 50 alert rules of the shapes rule files hold
//! (group averages and maxima, quantiles, counter rates, histogram quantiles, ratios of two
//! metrics, `predict_linear`, `absent`, `*_over_time`); each is instantiated once per host group,
//! so 20 groups make 1,000 of each. One rule-file group per host group, all at one interval.
//! Argus imports the file (`POST /api/v1/rules/import`, falcon names spelled
//! `{__name__="cpu.busy"}`); Prometheus reads it (remote-write names) on SIGHUP.
//!
//! **Measurement.** CPU seconds of the serving process (all of Argus's components are one
//! process here) over `intervals` evaluation intervals with the live feed only (baseline), then
//! again once every rule has been evaluated once; the difference per interval is what the rules
//! cost. Each system's own account of its last evaluations (summed evaluation time, rules in
//! error, alerts pending and firing) and the number of recorded series are kept, so that the two
//! can be seen to do the same work.

use crate::encode::Body;
use crate::ingest::{self, Counters};
use crate::queries::{group_name, spell, Dataset};
use crate::results::RuleResult;
use crate::servers::{self, Kind, Server};
use anyhow::{bail, Context};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run the rules benchmark.
#[derive(Debug, Clone)]
pub(crate) struct RuleOpts {
    /// Hosts of the fleet (one tenant).
    pub hosts: usize,
    /// Host groups; each template becomes one rule per group.
    pub groups: usize,
    /// Templates of each kind used (at most 50).
    pub templates: usize,
    /// Evaluation interval, seconds.
    pub interval_secs: u64,
    /// Intervals measured (baseline and with rules each).
    pub intervals: u32,
    /// How often Argus's judge and alarm pull their configuration from web and the judge
    /// reports its rules' status (the deployed default is 30 s).
    pub pull_secs: u64,
    /// Requests in flight while writing the history.
    pub concurrency: usize,
    /// Hosts per write request.
    pub hosts_per_request: usize,
    /// Argus storage fsyncs each write.
    pub argus_fsync: bool,
}

/// Steps of history written before the live feed (six minutes: `rate(...[5m])` has its window).
const HISTORY_STEPS: i64 = 36;

/// One rule template: `@metric@` is a metric (see [`spell`]), `$G` the host group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template {
    /// `record` of a recording rule, `alert` of an alert rule.
    pub name: &'static str,
    /// The expression.
    pub expr: &'static str,
    /// Alert rules: the `for` duration, seconds.
    pub for_secs: u32,
}

const fn rec(name: &'static str, expr: &'static str) -> Template {
    Template {
        name,
        expr,
        for_secs: 0,
    }
}

const fn alert(name: &'static str, expr: &'static str, for_secs: u32) -> Template {
    Template {
        name,
        expr,
        for_secs,
    }
}

/// The 50 recording and 50 alert rule templates.
pub(crate) fn templates() -> (Vec<Template>, Vec<Template>) {
    let recording = vec![
        rec(
            "group:cpu_busy:avg",
            r#"avg by (group) (@cpu.busy@{group="$G"})"#,
        ),
        rec(
            "group:cpu_user:avg",
            r#"avg by (group) (@cpu.user@{group="$G"})"#,
        ),
        rec(
            "group:cpu_system:avg",
            r#"avg by (group) (@cpu.system@{group="$G"})"#,
        ),
        rec(
            "group:cpu_iowait:avg",
            r#"avg by (group) (@cpu.iowait@{group="$G"})"#,
        ),
        rec(
            "group:cpu_idle:avg",
            r#"avg by (group) (@cpu.idle@{group="$G"})"#,
        ),
        rec(
            "group:mem_used_percent:avg",
            r#"avg by (group) (@mem.memused.percent@{group="$G"})"#,
        ),
        rec(
            "group:mem_free_percent:avg",
            r#"avg by (group) (@mem.memfree.percent@{group="$G"})"#,
        ),
        rec(
            "group:df_used_percent:avg",
            r#"avg by (group, mount) (@df.bytes.used.percent@{group="$G"})"#,
        ),
        rec(
            "group:inodes_used_percent:avg",
            r#"avg by (group, mount) (@df.inodes.used.percent@{group="$G"})"#,
        ),
        rec(
            "group:disk_util:avg",
            r#"avg by (group, device) (@disk.io.util@{group="$G"})"#,
        ),
        rec(
            "group:ss_estab:sum",
            r#"sum by (group) (@ss.estab@{group="$G"})"#,
        ),
        rec(
            "group:proc_num:sum",
            r#"sum by (group) (@proc.num@{group="$G"})"#,
        ),
        rec(
            "group:cpu_busy:max",
            r#"max by (group) (@cpu.busy@{group="$G"})"#,
        ),
        rec(
            "group:cpu_iowait:max",
            r#"max by (group) (@cpu.iowait@{group="$G"})"#,
        ),
        rec(
            "group:mem_used_percent:max",
            r#"max by (group) (@mem.memused.percent@{group="$G"})"#,
        ),
        rec(
            "group:df_used_percent:max",
            r#"max by (group) (@df.bytes.used.percent@{group="$G"})"#,
        ),
        rec(
            "group:inodes_used_percent:max",
            r#"max by (group) (@df.inodes.used.percent@{group="$G"})"#,
        ),
        rec(
            "group:disk_util:max",
            r#"max by (group) (@disk.io.util@{group="$G"})"#,
        ),
        rec(
            "group:cpu_busy:min",
            r#"min by (group) (@cpu.busy@{group="$G"})"#,
        ),
        rec(
            "group:mem_used_percent:min",
            r#"min by (group) (@mem.memused.percent@{group="$G"})"#,
        ),
        rec(
            "group:cpu_busy:p90",
            r#"quantile by (group) (0.9, @cpu.busy@{group="$G"})"#,
        ),
        rec(
            "group:cpu_busy:p50",
            r#"quantile by (group) (0.5, @cpu.busy@{group="$G"})"#,
        ),
        rec(
            "group:mem_used_percent:p90",
            r#"quantile by (group) (0.9, @mem.memused.percent@{group="$G"})"#,
        ),
        rec(
            "group:disk_util:p90",
            r#"quantile by (group) (0.9, @disk.io.util@{group="$G"})"#,
        ),
        rec(
            "group:cpu_busy:stddev",
            r#"stddev by (group) (@cpu.busy@{group="$G"})"#,
        ),
        rec(
            "group:mem_used_percent:stddev",
            r#"stddev by (group) (@mem.memused.percent@{group="$G"})"#,
        ),
        rec(
            "group:cpu_busy_over_80:count",
            r#"count by (group) (@cpu.busy@{group="$G"} > 80)"#,
        ),
        rec(
            "group:mem_used_over_80:count",
            r#"count by (group) (@mem.memused.percent@{group="$G"} > 80)"#,
        ),
        rec(
            "group:df_used_over_80:count",
            r#"count by (group) (@df.bytes.used.percent@{group="$G"} > 80)"#,
        ),
        rec(
            "group:hosts:count",
            r#"count by (group) (@agent.alive@{group="$G"})"#,
        ),
        rec(
            "group:net_in_bytes:rate5m",
            r#"sum by (group, iface) (rate(@net.if.in.bytes.total@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:net_out_bytes:rate5m",
            r#"sum by (group, iface) (rate(@net.if.out.bytes.total@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:net_in_bytes:irate",
            r#"sum by (group) (irate(@net.if.in.bytes.total@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:net_out_bytes:increase5m",
            r#"sum by (group) (increase(@net.if.out.bytes.total@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:net_in_bytes:top5",
            r#"topk by (group) (5, rate(@net.if.in.bytes.total@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:net_out_in:ratio",
            r#"sum by (group) (rate(@net.if.out.bytes.total@{group="$G"}[5m])) / sum by (group) (rate(@net.if.in.bytes.total@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:http_requests:rate5m",
            r#"sum by (group) (rate(@http.request.duration.seconds.bucket@{group="$G",le="+Inf"}[5m]))"#,
        ),
        rec(
            "group:http_latency:p50",
            r#"histogram_quantile(0.5, sum by (group, le) (rate(@http.request.duration.seconds.bucket@{group="$G"}[5m])))"#,
        ),
        rec(
            "group:http_latency:p90",
            r#"histogram_quantile(0.9, sum by (group, le) (rate(@http.request.duration.seconds.bucket@{group="$G"}[5m])))"#,
        ),
        rec(
            "group:http_latency:p99",
            r#"histogram_quantile(0.99, sum by (group, le) (rate(@http.request.duration.seconds.bucket@{group="$G"}[5m])))"#,
        ),
        rec(
            "group:http_fast:ratio",
            r#"sum by (group) (rate(@http.request.duration.seconds.bucket@{group="$G",le="0.1"}[5m])) / sum by (group) (rate(@http.request.duration.seconds.bucket@{group="$G",le="+Inf"}[5m]))"#,
        ),
        rec(
            "group:cpu_busy:avg_over_5m",
            r#"avg by (group) (avg_over_time(@cpu.busy@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:cpu_busy:max_over_5m",
            r#"max by (group) (max_over_time(@cpu.busy@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:mem_used_percent:max_over_5m",
            r#"max by (group) (max_over_time(@mem.memused.percent@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:disk_util:max_over_5m",
            r#"max by (group) (max_over_time(@disk.io.util@{group="$G"}[5m]))"#,
        ),
        rec(
            "group:net_in_bytes_gauge:sum",
            r#"sum by (group) (@net.if.in.bytes@{group="$G"})"#,
        ),
        rec(
            "group:mem_used_bytes:ratio",
            r#"sum by (group) (@mem.memused@{group="$G"}) / sum by (group) (@mem.memtotal@{group="$G"})"#,
        ),
        rec(
            "group:df_bytes_used:ratio",
            r#"sum by (group) (@df.bytes.used@{group="$G"}) / sum by (group) (@df.bytes.total@{group="$G"})"#,
        ),
        rec(
            "group:load_busy_hosts:count",
            r#"count by (group) (@cpu.busy@{group="$G"} > on (endpoint, group) group_left @cpu.user@{group="$G"})"#,
        ),
        rec(
            "group:df_free_bytes:min",
            r#"min by (group, mount) (@df.bytes.free@{group="$G"})"#,
        ),
    ];
    let alerting = vec![
        alert("HostCpuBusy", r#"@cpu.busy@{group="$G"} > 95"#, 60),
        alert("HostCpuIowait", r#"@cpu.iowait@{group="$G"} > 20"#, 60),
        alert("HostCpuSteal", r#"@cpu.steal@{group="$G"} > 10"#, 60),
        alert(
            "HostMemUsed",
            r#"@mem.memused.percent@{group="$G"} > 95"#,
            60,
        ),
        alert(
            "HostSwapUsed",
            r#"@mem.swapused.percent@{group="$G"} > 80"#,
            60,
        ),
        alert(
            "HostDiskFull",
            r#"@df.bytes.used.percent@{group="$G"} > 90"#,
            0,
        ),
        alert(
            "HostInodesFull",
            r#"@df.inodes.used.percent@{group="$G"} > 90"#,
            0,
        ),
        alert("HostDiskBusy", r#"@disk.io.util@{group="$G"} > 90"#, 60),
        alert("HostTooManyProcs", r#"@proc.num@{group="$G"} > 2000"#, 0),
        alert("HostTooManyConns", r#"@ss.estab@{group="$G"} > 5000"#, 0),
        alert("HostNetErrors", r#"@net.if.in.errors@{group="$G"} > 10"#, 0),
        alert("HostNetDrops", r#"@net.if.in.dropped@{group="$G"} > 10"#, 0),
        alert(
            "GroupCpuBusy",
            r#"avg by (group) (@cpu.busy@{group="$G"}) > 80"#,
            60,
        ),
        alert(
            "GroupCpuIowait",
            r#"avg by (group) (@cpu.iowait@{group="$G"}) > 10"#,
            60,
        ),
        alert(
            "GroupMemUsed",
            r#"avg by (group) (@mem.memused.percent@{group="$G"}) > 90"#,
            60,
        ),
        alert(
            "GroupDiskUsed",
            r#"avg by (group) (@df.bytes.used.percent@{group="$G"}) > 85"#,
            0,
        ),
        alert(
            "GroupDiskBusy",
            r#"avg by (group) (@disk.io.util@{group="$G"}) > 70"#,
            60,
        ),
        alert(
            "GroupCpuUser",
            r#"avg by (group) (@cpu.user@{group="$G"}) > 70"#,
            60,
        ),
        alert(
            "GroupCpuSystem",
            r#"avg by (group) (@cpu.system@{group="$G"}) > 40"#,
            60,
        ),
        alert(
            "GroupHostsBusy",
            r#"count by (group) (@cpu.busy@{group="$G"} > 90) > 3"#,
            0,
        ),
        alert(
            "GroupHostsMissing",
            r#"count by (group) (@agent.alive@{group="$G"}) < 1"#,
            0,
        ),
        alert(
            "GroupAgentAbsent",
            r#"absent(@agent.alive@{group="$G"})"#,
            60,
        ),
        alert(
            "GroupCpuSpread",
            r#"stddev by (group) (@cpu.busy@{group="$G"}) > 40"#,
            0,
        ),
        alert(
            "GroupCpuP90",
            r#"quantile by (group) (0.9, @cpu.busy@{group="$G"}) > 95"#,
            60,
        ),
        alert(
            "HostNetInHigh",
            r#"rate(@net.if.in.bytes.total@{group="$G"}[5m]) > 1e9"#,
            60,
        ),
        alert(
            "HostNetOutHigh",
            r#"rate(@net.if.out.bytes.total@{group="$G"}[5m]) > 1e9"#,
            60,
        ),
        alert(
            "HostCounterReset",
            r#"resets(@net.if.in.bytes.total@{group="$G"}[5m]) > 0"#,
            0,
        ),
        alert(
            "GroupNetInHigh",
            r#"sum by (group) (rate(@net.if.in.bytes.total@{group="$G"}[5m])) > 1e12"#,
            0,
        ),
        alert(
            "GroupLatencyP99",
            r#"histogram_quantile(0.99, sum by (group, le) (rate(@http.request.duration.seconds.bucket@{group="$G"}[5m]))) > 2"#,
            60,
        ),
        alert(
            "GroupLatencyP90",
            r#"histogram_quantile(0.9, sum by (group, le) (rate(@http.request.duration.seconds.bucket@{group="$G"}[5m]))) > 1"#,
            60,
        ),
        alert(
            "HostLatencyP99",
            r#"histogram_quantile(0.99, rate(@http.request.duration.seconds.bucket@{group="$G"}[5m])) > 2.5"#,
            60,
        ),
        alert(
            "GroupSlowRequests",
            r#"1 - sum by (group) (rate(@http.request.duration.seconds.bucket@{group="$G",le="0.25"}[5m])) / sum by (group) (rate(@http.request.duration.seconds.bucket@{group="$G",le="+Inf"}[5m])) > 0.5"#,
            60,
        ),
        alert(
            "GroupNoRequests",
            r#"sum by (group) (rate(@http.request.duration.seconds.bucket@{group="$G",le="+Inf"}[5m])) == 0"#,
            60,
        ),
        alert(
            "HostDiskFillsIn4h",
            r#"predict_linear(@df.bytes.free@{group="$G"}[5m], 4 * 3600) < 0"#,
            60,
        ),
        alert(
            "HostInodesFillIn4h",
            r#"predict_linear(@df.inodes.free@{group="$G"}[5m], 4 * 3600) < 0"#,
            60,
        ),
        alert(
            "HostMemRatio",
            r#"@mem.memused@{group="$G"} / @mem.memtotal@{group="$G"} > 0.95"#,
            60,
        ),
        alert(
            "HostDiskRatio",
            r#"@df.bytes.used@{group="$G"} / @df.bytes.total@{group="$G"} > 0.95"#,
            0,
        ),
        alert(
            "HostCpuBusySustained",
            r#"avg_over_time(@cpu.busy@{group="$G"}[5m]) > 90"#,
            0,
        ),
        alert(
            "HostCpuBusyPeak",
            r#"max_over_time(@cpu.busy@{group="$G"}[5m]) > 99"#,
            0,
        ),
        alert(
            "HostMemPeak",
            r#"max_over_time(@mem.memused.percent@{group="$G"}[5m]) > 98"#,
            0,
        ),
        alert(
            "HostDiskUtilSustained",
            r#"min_over_time(@disk.io.util@{group="$G"}[5m]) > 80"#,
            0,
        ),
        alert(
            "HostCpuFlapping",
            r#"stddev_over_time(@cpu.busy@{group="$G"}[5m]) > 30"#,
            0,
        ),
        alert(
            "HostProcChurn",
            r#"changes(@proc.num@{group="$G"}[5m]) > 40"#,
            0,
        ),
        alert(
            "HostCpuRising",
            r#"deriv(@cpu.busy@{group="$G"}[5m]) > 1"#,
            60,
        ),
        alert(
            "HostCpuP95",
            r#"quantile_over_time(0.95, @cpu.busy@{group="$G"}[5m]) > 98"#,
            0,
        ),
        alert(
            "HostAgentStale",
            r#"count_over_time(@agent.alive@{group="$G"}[5m]) < 5"#,
            60,
        ),
        alert(
            "HostBusyAndIowait",
            r#"@cpu.busy@{group="$G"} > 90 and @cpu.iowait@{group="$G"} > 10"#,
            0,
        ),
        alert(
            "HostBusyUnlessUser",
            r#"@cpu.busy@{group="$G"} > 90 unless @cpu.user@{group="$G"} > 50"#,
            0,
        ),
        alert(
            "HostSystemOverUser",
            r#"@cpu.system@{group="$G"} > bool 3 * @cpu.user@{group="$G"} == 1"#,
            60,
        ),
        alert(
            "HostEstabPerProc",
            r#"@ss.estab@{group="$G"} / @proc.num@{group="$G"} > 50"#,
            0,
        ),
    ];
    (recording, alerting)
}

/// Single-quoted YAML scalar.
fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The rule file in both spellings (Argus's, the peers'), and the rule counts
/// `(recording, alerting)`.
pub(crate) fn rule_files(
    groups: usize,
    templates_per_kind: usize,
    interval_secs: u64,
) -> (String, String, usize, usize) {
    let (recording, alerting) = templates();
    let recording = &recording[..templates_per_kind.min(recording.len())];
    let alerting = &alerting[..templates_per_kind.min(alerting.len())];
    let (mut argus, mut peer) = (String::from("groups:\n"), String::from("groups:\n"));
    for g in 0..groups.max(1) {
        let group = group_name(g);
        for out in [&mut argus, &mut peer] {
            let _ = writeln!(out, "  # Host group {group}.\n  - name: {group}\n    interval: {interval_secs}s\n    rules:");
        }
        for t in recording {
            let (a, p) = spell(&t.expr.replace("$G", &group));
            let _ = writeln!(
                argus,
                "      - record: {}\n        expr: {}",
                t.name,
                yaml_quote(&a)
            );
            let _ = writeln!(
                peer,
                "      - record: {}\n        expr: {}",
                t.name,
                yaml_quote(&p)
            );
        }
        for t in alerting {
            let (a, p) = spell(&t.expr.replace("$G", &group));
            for (out, expr) in [(&mut argus, a), (&mut peer, p)] {
                let _ = writeln!(
                    out,
                    "      - alert: {}\n        expr: {}",
                    t.name,
                    yaml_quote(&expr)
                );
                if t.for_secs > 0 {
                    let _ = writeln!(out, "        for: {}s", t.for_secs);
                }
                let _ = writeln!(
                    out,
                    "        labels:\n          severity: warning\n        annotations:\n          summary: {}",
                    yaml_quote("{{ $labels.endpoint }} in {{ $labels.group }}: {{ $value }}")
                );
            }
        }
    }
    let n = groups.max(1);
    (argus, peer, recording.len() * n, alerting.len() * n)
}

/// Writes steps `[from, to)` of `ds` into the system at `url`, one request per
/// `per_request` hosts, `concurrency` at once.
#[allow(clippy::too_many_arguments)]
async fn push_steps(
    client: &reqwest::Client,
    kind: Kind,
    url: &str,
    token: &str,
    ds: &Dataset,
    (from, to): (i64, i64),
    per_request: usize,
    concurrency: usize,
    counters: &Arc<Counters>,
) {
    let hosts: Vec<usize> = (0..ds.fleet.hosts.len()).collect();
    for k in from..to {
        let bodies: Vec<Body> = match kind {
            Kind::Argus => ds.argus_bodies(&hosts, k, k + 1, per_request),
            _ => ds.remote_write_bodies(&hosts, k, k + 1, per_request),
        };
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for body in bodies {
            let Ok(permit) = sem.clone().acquire_owned().await else {
                return;
            };
            let (client, url, token, c) = (
                client.clone(),
                url.to_string(),
                token.to_string(),
                counters.clone(),
            );
            tasks.spawn(async move {
                ingest::send_one(&client, kind, &url, Some(&token), body, &c).await;
                drop(permit);
            });
        }
        // A step acknowledged whole before the next: time order per series.
        while tasks.join_next().await.is_some() {}
    }
}

/// Each system's own account of its rules' last evaluations.
#[derive(Debug, Default, Clone, PartialEq)]
struct Account {
    /// Rules evaluated at least once since `since`.
    evaluated: usize,
    rules: usize,
    /// Sum of the last evaluation's duration over the rules, seconds.
    evaluation_secs: f64,
    failing: usize,
    first_error: Option<String>,
    firing: u64,
    pending: u64,
}

/// GET `url` (with `token` as bearer when not empty) as JSON.
async fn get_json(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let mut req = client.get(url).query(query);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.with_context(|| format!("asking {url}"))?;
    let status = r.status();
    let body = r.bytes().await?;
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("{url}: not JSON"))
}

/// Argus: `GET /api/v1/rules/status` (every region's last evaluation of each rule).
fn argus_account(v: &Value, since: i64) -> Account {
    let mut a = Account::default();
    for r in v["rules"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        a.rules += 1;
        let regions = r["regions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if regions
            .iter()
            .any(|g| g["last_evaluation"].as_i64().is_some_and(|t| t >= since))
        {
            a.evaluated += 1;
        }
        for g in regions {
            a.evaluation_secs += g["evaluation_secs"].as_f64().unwrap_or(0.0);
            a.firing += g["firing"].as_u64().unwrap_or(0);
            a.pending += g["pending"].as_u64().unwrap_or(0);
            if let Some(e) = g["last_error"].as_str().filter(|e| !e.is_empty()) {
                a.failing += 1;
                a.first_error
                    .get_or_insert_with(|| format!("{}: {e}", r["name"].as_str().unwrap_or("?")));
            }
        }
    }
    a
}

/// Prometheus: `GET /api/v1/rules`.
fn prometheus_account(v: &Value, since: i64) -> Account {
    let mut a = Account::default();
    for g in v["data"]["groups"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        for r in g["rules"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            a.rules += 1;
            let at = r["lastEvaluation"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp())
                .unwrap_or(i64::MIN);
            if at >= since {
                a.evaluated += 1;
            }
            a.evaluation_secs += r["evaluationTime"].as_f64().unwrap_or(0.0);
            if r["health"].as_str().is_some_and(|h| h != "ok") {
                a.failing += 1;
                a.first_error.get_or_insert_with(|| {
                    format!(
                        "{}: {}",
                        r["name"].as_str().unwrap_or("?"),
                        r["lastError"].as_str().unwrap_or("")
                    )
                });
            }
            for al in r["alerts"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                match al["state"].as_str() {
                    Some("firing") => a.firing += 1,
                    Some("pending") => a.pending += 1,
                    _ => {}
                }
            }
        }
    }
    a
}

/// The system's rule account.
async fn account(
    client: &reqwest::Client,
    kind: Kind,
    server: &Server,
    since: i64,
) -> anyhow::Result<Account> {
    Ok(match kind {
        Kind::Argus => argus_account(
            &get_json(
                client,
                &format!("{}/api/v1/rules/status", server.web_url),
                &server.api_token,
                &[],
            )
            .await?,
            since,
        ),
        _ => prometheus_account(
            &get_json(client, &format!("{}/api/v1/rules", server.url), "", &[]).await?,
            since,
        ),
    })
}

/// Series the recording rules wrote, by an instant query.
async fn recorded_series(
    client: &reqwest::Client,
    kind: Kind,
    server: &Server,
) -> anyhow::Result<usize> {
    let q = [("query", r#"count({__name__=~"group:.+"})"#)];
    let v = match kind {
        Kind::Argus => {
            get_json(
                client,
                &format!("{}/prometheus/api/v1/query", server.web_url),
                &server.api_token,
                &q,
            )
            .await?
        }
        _ => get_json(client, &format!("{}/api/v1/query", server.url), "", &q).await?,
    };
    Ok(v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|x| x.parse::<f64>().ok())
        .unwrap_or(0.0) as usize)
}

/// Runs the scenario on `kind`.
async fn measure(
    kind: Kind,
    dir: &Path,
    opts: &RuleOpts,
    notes: &mut Vec<String>,
) -> anyhow::Result<RuleResult> {
    std::fs::create_dir_all(dir)?;
    let step = 10;
    let interval = Duration::from_secs(opts.interval_secs.max(1));
    let window = interval * opts.intervals.max(1);
    // The timeline: the history up to now, then live steps long enough for the whole scenario
    // (two measuring windows, the import and the wait for the first evaluations).
    let live_steps = ((window.as_secs() * 2 + interval.as_secs() * 4 + 300) / step as u64) as i64;
    let now = argus_core::time::now_secs();
    let ds = Arc::new(Dataset::every_step(
        opts.hosts,
        opts.groups,
        HISTORY_STEPS + live_steps,
        now + live_steps * step,
    ));
    let (argus_file, peer_file, n_rec, n_alert) =
        rule_files(opts.groups, opts.templates, opts.interval_secs);
    let rules_path = dir.join("rules.yml");
    let mut server = match kind {
        Kind::Argus => {
            servers::start_argus_with_rules(
                dir,
                &ds.fleet.tenants,
                opts.argus_fsync,
                opts.pull_secs,
            )
            .await?
        }
        Kind::Prometheus => {
            let bin = servers::find_bin("ARGUS_BENCH_PROMETHEUS_BIN", &["prometheus"])
                .context("prometheus not installed")?;
            // No rules until the baseline is measured; SIGHUP then loads them.
            std::fs::write(&rules_path, "groups: []\n")?;
            let config = format!(
                "global:\n  scrape_interval: 15s\n  evaluation_interval: {}s\nrule_files:\n  - {}\n",
                opts.interval_secs,
                rules_path.display()
            );
            servers::start_prometheus(&bin, dir, &config).await?
        }
        _ => bail!("the rules scenario runs argus and prometheus"),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let url = ingest::push_url(kind, &server);
    let token = server.tokens.first().cloned().unwrap_or_default();
    let counters = Arc::new(Counters::default());
    let per = opts.hosts_per_request;
    push_steps(
        &client,
        kind,
        &url,
        &token,
        &ds,
        (0, HISTORY_STEPS),
        per,
        opts.concurrency,
        &counters,
    )
    .await;
    server.check_alive()?;
    // The live feed: step k goes out when its time comes.
    let feed = {
        let (client, url, token, ds, counters) = (
            client.clone(),
            url.clone(),
            token.clone(),
            ds.clone(),
            counters.clone(),
        );
        tokio::spawn(async move {
            for k in HISTORY_STEPS..ds.n_steps {
                let wait = ds.ts(k) - argus_core::time::now_secs();
                if wait > 0 {
                    tokio::time::sleep(Duration::from_secs(wait as u64)).await;
                }
                push_steps(
                    &client,
                    kind,
                    &url,
                    &token,
                    &ds,
                    (k, k + 1),
                    per,
                    4,
                    &counters,
                )
                .await;
            }
        })
    };
    let result = async {
        // Baseline: the feed, no rules.
        tokio::time::sleep(interval).await;
        let c0 = server.cpu_seconds()?;
        tokio::time::sleep(window).await;
        let baseline = server.cpu_seconds()? - c0;
        server.check_alive()?;
        // The rules.
        let loaded_at = argus_core::time::now_secs();
        match kind {
            Kind::Argus => {
                let r = client
                    .post(format!("{}/api/v1/rules/import", server.web_url))
                    .bearer_auth(&server.api_token)
                    .header("content-type", "application/yaml")
                    .body(argus_file)
                    .send()
                    .await?;
                let status = r.status();
                if !status.is_success() {
                    bail!(
                        "importing the rules: {status}: {}",
                        r.text().await.unwrap_or_default()
                    );
                }
            }
            _ => {
                std::fs::write(&rules_path, &peer_file)?;
                server.reload()?;
            }
        }
        // Until every rule has been evaluated once (Argus: and reported to web).
        let started = Instant::now();
        let limit = interval * 4 + Duration::from_secs(60);
        loop {
            let a = account(&client, kind, &server, loaded_at).await?;
            if a.rules >= n_rec + n_alert && a.evaluated >= a.rules {
                break;
            }
            if started.elapsed() > limit {
                bail!(
                    "{} evaluated {} of {} rules within {limit:?}",
                    kind.name(),
                    a.evaluated,
                    n_rec + n_alert
                );
            }
            server.check_alive()?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let waited = started.elapsed().as_secs_f64();
        let c0 = server.cpu_seconds()?;
        tokio::time::sleep(window).await;
        let with_rules = server.cpu_seconds()? - c0;
        server.check_alive()?;
        let a = account(&client, kind, &server, loaded_at).await?;
        let recorded = recorded_series(&client, kind, &server).await?;
        let per_interval = |cpu: f64| cpu / opts.intervals.max(1) as f64;
        Ok::<_, anyhow::Error>(RuleResult {
            system: kind.name().into(),
            hosts: opts.hosts,
            groups: opts.groups,
            series: ds.series(),
            recording_rules: n_rec,
            alert_rules: n_alert,
            interval_secs: opts.interval_secs,
            intervals: opts.intervals,
            baseline_cpu_secs_per_interval: per_interval(baseline),
            cpu_secs_per_interval: per_interval(with_rules),
            rule_cpu_secs_per_interval: per_interval(with_rules - baseline),
            evaluation_secs: a.evaluation_secs,
            failing_rules: a.failing,
            first_error: a.first_error,
            alerts_firing: a.firing,
            alerts_pending: a.pending,
            recorded_series: recorded,
            first_evaluation_wait_secs: waited,
            peak_rss_bytes: server.rss().map(|(_, peak)| peak).unwrap_or(0),
            points_written: counters.accepted.load(Ordering::Relaxed),
            write_errors: counters.errors.load(Ordering::Relaxed),
        })
    }
    .await;
    feed.abort();
    server.stop(Duration::from_secs(60)).await?;
    let _ = std::fs::remove_dir_all(dir);
    let r = result?;
    if r.write_errors > 0 {
        notes.push(format!(
            "rules: {} refused {} write requests of the fleet's data",
            r.system, r.write_errors
        ));
    }
    if let Some(e) = &r.first_error {
        notes.push(format!(
            "rules: {} had {} rules in error, first: {e}",
            r.system, r.failing_rules
        ));
    }
    Ok(r)
}

/// Runs the scenario on each of `systems` that evaluates rules (argus, prometheus).
pub(crate) async fn run(
    work: &Path,
    systems: &[Kind],
    opts: &RuleOpts,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<RuleResult>> {
    let (_, _, n_rec, n_alert) = rule_files(opts.groups, opts.templates, opts.interval_secs);
    eprintln!(
        "rules: {n_rec} recording + {n_alert} alert rules every {} s over {} hosts in {} groups",
        opts.interval_secs, opts.hosts, opts.groups
    );
    let mut out = Vec::new();
    for &kind in systems
        .iter()
        .filter(|k| matches!(k, Kind::Argus | Kind::Prometheus))
    {
        let r = measure(
            kind,
            &work.join(format!("rules-{}", kind.name())),
            opts,
            notes,
        )
        .await
        .with_context(|| format!("rules on {}", kind.name()))?;
        eprintln!(
            "  {:<12} {:>7.2} CPU s per {} s interval for the rules ({:.2} with them, {:.2} feed only); evaluations {:.2} s; {} firing, {} pending; {} recorded series; {} failing",
            r.system,
            r.rule_cpu_secs_per_interval,
            r.interval_secs,
            r.cpu_secs_per_interval,
            r.baseline_cpu_secs_per_interval,
            r.evaluation_secs,
            r.alerts_firing,
            r.alerts_pending,
            r.recorded_series,
            r.failing_rules
        );
        out.push(r);
    }
    if let [a, b] = &out[..] {
        if a.recorded_series != b.recorded_series {
            notes.push(format!(
                "rules: recorded series differ: {} {}, {} {}",
                a.system, a.recorded_series, b.system, b.recorded_series
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_templates_of_each_kind_with_distinct_names() {
        let (rec, alert) = templates();
        assert_eq!((rec.len(), alert.len()), (50, 50));
        let mut names: Vec<&str> = rec.iter().chain(&alert).map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 100);
        assert!(rec.iter().chain(&alert).all(|t| t.expr.contains("$G")));
    }

    #[test]
    fn rule_files_in_both_spellings_parse_as_promql() {
        let (argus, peer, n_rec, n_alert) = rule_files(3, 50, 30);
        assert_eq!((n_rec, n_alert), (150, 150));
        assert_eq!(argus.matches("- record:").count(), 150);
        assert_eq!(peer.matches("- alert:").count(), 150);
        assert!(
            argus.contains(r#"expr: 'avg by (group) ({__name__="cpu.busy",group="g02"})'"#),
            "{argus}"
        );
        assert!(peer.contains(r#"expr: 'avg by (group) (cpu_busy{group="g02"})'"#));
        // Every expression is PromQL in both spellings.
        for text in [&argus, &peer] {
            for line in text.lines().filter_map(|l| l.trim().strip_prefix("expr: ")) {
                let expr = line.trim_matches('\'').replace("''", "'");
                promql_parser::parser::parse(&expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            }
        }
    }

    #[test]
    fn accounts_read_both_apis() {
        let argus: Value = serde_json::json!({"rules": [
            {"name": "a", "regions": [{"last_evaluation": 100, "evaluation_secs": 0.5, "firing": 2, "pending": 1}]},
            {"name": "b", "regions": [{"last_evaluation": 90, "evaluation_secs": 0.25, "last_error": "boom"}]},
            {"name": "c", "regions": []}
        ]});
        let a = argus_account(&argus, 95);
        assert_eq!(
            (a.rules, a.evaluated, a.failing, a.firing, a.pending),
            (3, 1, 1, 2, 1)
        );
        assert_eq!(a.evaluation_secs, 0.75);
        assert_eq!(a.first_error.as_deref(), Some("b: boom"));
        let prom: Value = serde_json::json!({"data": {"groups": [{"rules": [
            {"name": "x", "health": "ok", "lastEvaluation": "1970-01-01T00:01:40Z", "evaluationTime": 0.5,
             "alerts": [{"state": "firing"}, {"state": "pending"}]},
            {"name": "y", "health": "err", "lastError": "bad", "lastEvaluation": "0001-01-01T00:00:00Z", "evaluationTime": 0}
        ]}]}});
        let p = prometheus_account(&prom, 95);
        assert_eq!(
            (p.rules, p.evaluated, p.failing, p.firing, p.pending),
            (2, 1, 1, 1, 1)
        );
        assert_eq!(p.first_error.as_deref(), Some("y: bad"));
    }
}
