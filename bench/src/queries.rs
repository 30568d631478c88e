//! The query benchmark: dashboard-like PromQL range queries over the bench fleet, each system
//! answering through its own `/api/v1/query_range` (Argus: the web service's
//! `/prometheus/api/v1/query_range` with an API token) on the same data, one system at a time.
//!
//! **Data.** One tenant of hosts reporting [`query_metric_set`] (the agent's set, byte counters
//! per interface and a classic latency histogram), laid out on one timeline that ends at a
//! fixed time `T` a minute or more in the past (the same `T` for every system):
//! - the last `full_steps` steps (10 s): every series of every host (the ingest scenario's shape:
//!   the index holds the whole fleet);
//! - the last hour and the 5 minutes before it (the `rate` window): the series the dashboard
//!   reads (`cpu.busy`, the counters, the buckets);
//! - the whole history (24 h by default) before it: `cpu.busy` at a coarse step (60 s).
//!
//! It is written oldest first, each slab of steps acknowledged whole before the next, so every
//! series arrives in time order: a fresh Prometheus then takes the history over remote write
//! without out-of-order support (it refuses samples older than an hour before the newest it has,
//! and a slab spans at most 30 minutes). Argus gets the Argus batch (binary point frame, falcon
//! names with dots, several hosts a request: the load is not what is measured here); the peers
//! get remote write with the names `encode::prom_name` gives them (`cpu.busy` → `cpu_busy`).
//!
//! **Measurement.** After the load, the server is left until idle (its background work — merges,
//! compactions — done), then each query is sent once to warm up and `reps` times one after the
//! other; latency is request sent → last byte of the answer received, and the CPU seconds of the
//! serving process (utime + stime from /proc, all of Argus's components being one process here)
//! over the repetitions, divided by them, is the CPU per query. VictoriaMetrics is asked with
//! `nocache=1`: its rollup-result cache would otherwise answer every repetition of the same
//! query from memory, which measures the cache, not the engine (Prometheus and Argus have none).

use crate::encode::{prom_name, put_bytes_field, put_label, Body};
use crate::ingest::{self, Counters};
use crate::results::{DashboardResult, QueryLoad, QueryResult, QuerySetup};
use crate::servers::{self, Kind, Server};
use crate::workload::{query_metric_set, Fleet};
use anyhow::{bail, Context};
use prost::encoding::{encode_key, encode_varint, WireType};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run the query benchmark.
#[derive(Debug, Clone)]
pub(crate) struct QueryOpts {
    /// Hosts of the fleet (one tenant).
    pub hosts: usize,
    /// Hours of `cpu.busy` history.
    pub hours: i64,
    /// Steps at the end that carry every series.
    pub full_steps: i64,
    /// Fewest timed repetitions of each query (after one warm-up) when within `budget`.
    pub reps: usize,
    /// Repeat for at least this long (and `reps` times).
    pub min_time: Duration,
    /// Fewest repetitions, however long they take.
    pub min_reps: usize,
    /// A query stops repeating once its repetitions took this long (and `min_reps` are done).
    pub budget: Duration,
    /// Longest wait for a server to go idle after the load.
    pub idle_wait: Duration,
    /// Requests in flight during the load.
    pub concurrency: usize,
    /// Hosts per load request.
    pub hosts_per_request: usize,
    /// Argus storage fsyncs each write.
    pub argus_fsync: bool,
}

impl QueryOpts {
    /// Whether `done` repetitions taking `took` are enough: at least `reps` and `min_time` (fast
    /// work repeats more, so that CPU ticks of 10 ms still resolve it), at most `budget` once
    /// `min_reps` are done.
    fn enough(&self, done: usize, took: Duration) -> bool {
        (done >= self.reps.max(1) && took >= self.min_time)
            || (done >= self.min_reps.max(1) && took > self.budget)
    }
}

/// Which part of the timeline a series is written over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The whole history (coarse before the last 65 minutes).
    History,
    /// The last 65 minutes at the fleet's step.
    Dashboard,
    /// Only the last `full_steps` steps.
    Rest,
}

/// Most repetitions of one query.
const MAX_REPS: usize = 5_000;

/// The steps (10 s) written at the fleet's step for the dashboard series: the last hour and the
/// 5-minute `rate` window before it.
const RECENT_STEPS: i64 = 390;
/// History before the last hour: one point every this many steps (60 s).
const COARSE_EVERY: i64 = 6;

/// The query benchmark's data: which series are written at which steps.
pub(crate) struct Dataset {
    /// The fleet (one tenant, [`query_metric_set`]).
    pub fleet: Fleet,
    /// Steps on the timeline (`hours` × 360).
    pub n_steps: i64,
    /// Timestamp of the last step (Unix seconds, a multiple of 300).
    pub t_end: i64,
    full_steps: i64,
    class: Vec<Class>,
    /// Host groups: when not 0, host `h` carries the tag `group="gNN"` (NN = h mod `groups`) on
    /// every series, as hosts of one service share a label in the rules benchmark.
    groups: usize,
}

impl Dataset {
    /// `hosts` hosts, `hours` of history ending at `t_end` (rounded down to 5 minutes).
    pub(crate) fn new(hosts: usize, hours: i64, full_steps: i64, t_end: i64) -> Self {
        let mut fleet = Fleet::new(hosts, 1, 44);
        fleet.series = query_metric_set();
        let class = fleet
            .series
            .iter()
            .map(|s| match s.metric {
                "cpu.busy" => Class::History,
                "net.if.in.bytes.total"
                | "net.if.out.bytes.total"
                | "http.request.duration.seconds.bucket" => Class::Dashboard,
                _ => Class::Rest,
            })
            .collect();
        let n_steps = (hours.max(1) * 3600 / fleet.step).max(RECENT_STEPS);
        Dataset {
            fleet,
            n_steps,
            t_end: t_end - t_end.rem_euclid(300),
            full_steps: full_steps.clamp(1, RECENT_STEPS),
            class,
            groups: 0,
        }
    }

    /// `hosts` hosts in `groups` host groups (tag `group`), every series of
    /// [`query_metric_set`] at each of `n_steps` steps ending at `t_end` (not rounded).
    pub(crate) fn every_step(hosts: usize, groups: usize, n_steps: i64, t_end: i64) -> Self {
        let mut fleet = Fleet::new(hosts, 1, 45);
        fleet.series = query_metric_set();
        let n = fleet.series.len();
        Dataset {
            fleet,
            n_steps: n_steps.max(1),
            t_end,
            full_steps: n_steps.max(1),
            class: vec![Class::Rest; n],
            groups,
        }
    }

    /// The `group` tag of host `h`, if hosts are grouped.
    pub(crate) fn group_of(&self, h: usize) -> Option<String> {
        (self.groups > 0).then(|| group_name(h % self.groups))
    }

    /// Whether series `i` has a point at step `k`.
    fn present(&self, i: usize, k: i64) -> bool {
        if k >= self.n_steps - self.full_steps {
            return true;
        }
        match self.class[i] {
            Class::Rest => false,
            Class::Dashboard => k >= self.n_steps - RECENT_STEPS,
            Class::History => k >= self.n_steps - RECENT_STEPS || k % COARSE_EVERY == 0,
        }
    }

    /// Unix seconds of step `k`.
    pub(crate) fn ts(&self, k: i64) -> i64 {
        self.t_end - (self.n_steps - 1 - k) * self.fleet.step
    }

    /// Points of the whole dataset.
    pub(crate) fn points(&self) -> u64 {
        let per_host: u64 = (0..self.fleet.series.len())
            .map(|i| (0..self.n_steps).filter(|&k| self.present(i, k)).count() as u64)
            .sum();
        per_host * self.fleet.hosts.len() as u64
    }

    /// Points of metric `metric` (of one host or of all) with timestamps in `(from, to]`.
    pub(crate) fn points_between(&self, metric: &str, one_host: bool, from: i64, to: i64) -> u64 {
        let per_host: u64 = (0..self.fleet.series.len())
            .filter(|&i| self.fleet.series[i].metric == metric)
            .map(|i| {
                (0..self.n_steps)
                    .filter(|&k| self.present(i, k) && self.ts(k) > from && self.ts(k) <= to)
                    .count() as u64
            })
            .sum();
        per_host
            * if one_host {
                1
            } else {
                self.fleet.hosts.len() as u64
            }
    }

    /// Distinct series.
    pub(crate) fn series(&self) -> usize {
        self.fleet.total_series()
    }

    /// The timeline cut into slabs `[from, to)` written one after another: 30 minutes of the
    /// coarse history, a minute of the last hour, one step of the final full steps (each
    /// request then carries roughly 1,000 to 2,500 points at 28 hosts a request).
    fn slabs(&self) -> Vec<(i64, i64)> {
        let recent = self.n_steps - RECENT_STEPS;
        let full = self.n_steps - self.full_steps;
        let mut out = Vec::new();
        let mut k = 0;
        while k < self.n_steps {
            let len = if k < recent {
                (recent - k).min(180)
            } else if k < full {
                (full - k).min(6)
            } else {
                1
            };
            out.push((k, k + len));
            k += len;
        }
        out
    }

    /// Argus batches (binary point frame, zstd) of `hosts` for steps `[from, to)`, one per
    /// `per_request` hosts. Counters go as gauges: Argus keeps the raw values, as the peers do.
    pub(crate) fn argus_bodies(
        &self,
        hosts: &[usize],
        from: i64,
        to: i64,
        per_request: usize,
    ) -> Vec<Body> {
        use argus_core::wire::frame::{put_ivarint, put_str, put_uvarint};
        let f = &self.fleet;
        let sorted: Vec<Vec<(&str, &str)>> = f
            .series
            .iter()
            .map(|s| {
                let mut t: Vec<(&str, &str)> =
                    s.tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
                t.sort_unstable();
                t
            })
            .collect();
        let mut out = Vec::new();
        let mut points = Vec::with_capacity(64 * 1024);
        for chunk in hosts.chunks(per_request.max(1)) {
            points.clear();
            let mut n = 0usize;
            for &h in chunk {
                let host = &f.hosts[h];
                let group = self.group_of(h);
                for (i, s) in f.series.iter().enumerate() {
                    let mut tags = sorted[i].clone();
                    if let Some(g) = &group {
                        tags.push(("group", g.as_str()));
                        tags.sort_unstable();
                    }
                    for k in (from..to).filter(|&k| self.present(i, k)) {
                        put_str(&mut points, "");
                        put_str(&mut points, &host.name);
                        put_str(&mut points, s.metric);
                        put_uvarint(&mut points, tags.len() as u64);
                        for (tk, tv) in &tags {
                            put_str(&mut points, tk);
                            put_str(&mut points, tv);
                        }
                        points.extend_from_slice(&f.value(host, i, k).to_le_bytes());
                        put_ivarint(&mut points, self.ts(k));
                        put_uvarint(&mut points, f.step as u64);
                        points.push(0); // GAUGE
                        n += 1;
                    }
                }
            }
            if n == 0 {
                continue;
            }
            let mut raw = Vec::with_capacity(points.len() + 16);
            raw.extend_from_slice(b"AGP1");
            put_uvarint(&mut raw, n as u64);
            raw.extend_from_slice(&points);
            out.push(Body {
                tenant: 0,
                bytes: zstd::bulk::compress(&raw, 1).expect("zstd of a buffer"),
                points: n,
            });
        }
        out
    }

    /// Remote-write requests (protobuf, snappy) of `hosts` for steps `[from, to)`: each series
    /// once with its samples in time order; labels as the ingest scenario writes them.
    pub(crate) fn remote_write_bodies(
        &self,
        hosts: &[usize],
        from: i64,
        to: i64,
        per_request: usize,
    ) -> Vec<Body> {
        let f = &self.fleet;
        let names: Vec<String> = f.series.iter().map(|s| prom_name(s.metric)).collect();
        // Before `labels`, which borrows them.
        let group_names: Vec<String> = (0..self.groups).map(group_name).collect();
        let (mut ts_buf, mut scratch, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        let mut out = Vec::new();
        for chunk in hosts.chunks(per_request.max(1)) {
            let mut req = Vec::new();
            let mut n = 0usize;
            for &h in chunk {
                let host = &f.hosts[h];
                let group = (self.groups > 0).then(|| &group_names[h % self.groups]);
                for (i, s) in f.series.iter().enumerate() {
                    let ks: Vec<i64> = (from..to).filter(|&k| self.present(i, k)).collect();
                    if ks.is_empty() {
                        continue;
                    }
                    labels.clear();
                    labels.push(("__name__", names[i].as_str()));
                    labels.push(("endpoint", host.name.as_str()));
                    if let Some(g) = group {
                        labels.push(("group", g.as_str()));
                    }
                    for (tk, tv) in &s.tags {
                        labels.push((tk, tv.as_str()));
                    }
                    labels.push(("tenant", f.tenants[host.tenant].as_str()));
                    labels.sort_by(|a, b| a.0.cmp(b.0));
                    ts_buf.clear();
                    for (ln, lv) in &labels {
                        put_label(&mut ts_buf, &mut scratch, ln, lv);
                    }
                    for k in ks {
                        scratch.clear();
                        encode_key(1, WireType::SixtyFourBit, &mut scratch);
                        scratch.extend_from_slice(&f.value(host, i, k).to_le_bytes());
                        encode_key(2, WireType::Varint, &mut scratch);
                        encode_varint((self.ts(k) * 1000) as u64, &mut scratch);
                        put_bytes_field(&mut ts_buf, 2, &scratch);
                        n += 1;
                    }
                    put_bytes_field(&mut req, 1, &ts_buf);
                }
            }
            if n == 0 {
                continue;
            }
            out.push(Body {
                tenant: 0,
                bytes: snap::raw::Encoder::new()
                    .compress_vec(&req)
                    .expect("snappy of a buffer"),
                points: n,
            });
        }
        out
    }
}

/// One query as each system is asked it.
#[derive(Debug, Clone)]
pub(crate) struct QuerySpec {
    /// Short name for tables.
    pub name: &'static str,
    /// The PromQL Argus is asked (falcon names: `{__name__="cpu.busy"}`).
    pub argus: String,
    /// The PromQL the peers are asked (remote-write names: `cpu_busy`).
    pub peer: String,
    /// Range, seconds (ending at the dataset's last step).
    pub range_secs: i64,
    /// Resolution step, seconds.
    pub step_secs: i64,
    /// Raw points the query's selectors cover: its series' points from 5 minutes (the `rate`
    /// window, or the lookback) before the range's start to its end.
    pub points_selected: u64,
}

/// The name of host group `i` (`g00`, `g01`, ...).
pub(crate) fn group_name(i: usize) -> String {
    format!("g{i:02}")
}

/// Both spellings of a PromQL template in which `@name@` is a metric: Argus's (falcon names,
/// `{__name__="cpu.busy"}`, a following `{...}` merged into it) and the peers' (the names
/// remote write gives them, `cpu_busy{...}`).
pub(crate) fn spell(template: &str) -> (String, String) {
    let mut argus = String::new();
    let mut peer = String::new();
    for (i, part) in template.split('@').enumerate() {
        if i % 2 == 1 {
            argus.push_str(&format!("{{__name__=\"{part}\"}}"));
            peer.push_str(&prom_name(part));
        } else {
            argus.push_str(part);
            peer.push_str(part);
        }
    }
    // `{__name__="x"}{endpoint="h"}` is not PromQL: merge the matchers.
    (argus.replace("\"}{", "\","), peer)
}

/// One query over `ds` from a template naming metrics between `@`s (see [`spell`]).
fn spec(
    ds: &Dataset,
    name: &'static str,
    template: &str,
    range_secs: i64,
    step_secs: i64,
) -> QuerySpec {
    let (argus, peer) = spell(template);
    let one_host = template.contains("endpoint=");
    let from = ds.t_end - range_secs - 300;
    let points_selected = template
        .split('@')
        .skip(1)
        .step_by(2)
        .map(|m| ds.points_between(m, one_host, from, ds.t_end))
        .sum();
    QuerySpec {
        name,
        argus,
        peer,
        range_secs,
        step_secs,
        points_selected,
    }
}

/// The dashboard's queries over `ds`, measured one at a time.
pub(crate) fn specs(ds: &Dataset) -> Vec<QuerySpec> {
    let host = &ds.fleet.hosts[0].name;
    let history = (ds.n_steps * ds.fleet.step).min(86_400);
    let q = |name, template: &str, range_secs, step_secs| {
        spec(ds, name, template, range_secs, step_secs)
    };
    vec![
        q(
            "one host's CPU, 1 h",
            &format!("@cpu.busy@{{endpoint=\"{host}\"}}"),
            3600,
            15,
        ),
        q(
            if history >= 86_400 {
                "one host's CPU, 24 h"
            } else {
                "one host's CPU, whole history"
            },
            &format!("@cpu.busy@{{endpoint=\"{host}\"}}"),
            history,
            300,
        ),
        q(
            "sum by (iface) of rate, fleet",
            "sum by (iface) (rate(@net.if.in.bytes.total@[5m]))",
            3600,
            15,
        ),
        q(
            "topk(10) hosts by rate",
            "topk(10, sum by (endpoint) (rate(@net.if.in.bytes.total@[5m])))",
            3600,
            15,
        ),
        q(
            "ratio of two sums",
            "sum(rate(@net.if.out.bytes.total@[5m])) / sum(rate(@net.if.in.bytes.total@[5m]))",
            3600,
            15,
        ),
        q(
            "histogram_quantile(0.99)",
            "histogram_quantile(0.99, sum by (le) (rate(@http.request.duration.seconds.bucket@[5m])))",
            3600,
            15,
        ),
    ]
}

/// Panels of a fleet dashboard (as the console's host-group dashboard or a Grafana board asks
/// them): 12 range queries over the last hour, sent together when the dashboard opens.
pub(crate) fn dashboard_specs(ds: &Dataset) -> Vec<QuerySpec> {
    let host = &ds.fleet.hosts[0].name;
    let q = |name, template: &str| spec(ds, name, template, 3600, 15);
    vec![
        q("average CPU", "avg(@cpu.busy@)"),
        q("busiest CPU", "max(@cpu.busy@)"),
        q("top 10 CPU", "topk(10, @cpu.busy@)"),
        q("hosts reporting", "count(@cpu.busy@)"),
        q("one host's CPU", &format!("@cpu.busy@{{endpoint=\"{host}\"}}")),
        q("in by interface", "sum by (iface) (rate(@net.if.in.bytes.total@[5m]))"),
        q("out by interface", "sum by (iface) (rate(@net.if.out.bytes.total@[5m]))"),
        q(
            "top 10 in",
            "topk(10, sum by (endpoint) (rate(@net.if.in.bytes.total@[5m])))",
        ),
        q(
            "top 10 out",
            "topk(10, sum by (endpoint) (rate(@net.if.out.bytes.total@[5m])))",
        ),
        q(
            "out / in",
            "sum(rate(@net.if.out.bytes.total@[5m])) / sum(rate(@net.if.in.bytes.total@[5m]))",
        ),
        q(
            "latency p99",
            "histogram_quantile(0.99, sum by (le) (rate(@http.request.duration.seconds.bucket@[5m])))",
        ),
        q(
            "latency p50",
            "histogram_quantile(0.5, sum by (le) (rate(@http.request.duration.seconds.bucket@[5m])))",
        ),
    ]
}

/// Writes `ds` into `server` (`kind`'s ingest format), slab by slab in time order.
async fn load(
    kind: Kind,
    server: &mut Server,
    ds: Arc<Dataset>,
    opts: &QueryOpts,
) -> anyhow::Result<QueryLoad> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Body>>(4);
    let gen = ds.clone();
    let per = opts.hosts_per_request;
    let generator = std::thread::spawn(move || {
        let hosts: Vec<usize> = (0..gen.fleet.hosts.len()).collect();
        for (from, to) in gen.slabs() {
            let bodies = match kind {
                Kind::Argus | Kind::ArgusVm => gen.argus_bodies(&hosts, from, to, per),
                _ => gen.remote_write_bodies(&hosts, from, to, per),
            };
            if tx.blocking_send(bodies).is_err() {
                return;
            }
        }
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.concurrency)
        .timeout(Duration::from_secs(120))
        .build()?;
    let url = ingest::push_url(kind, server);
    let counters = Arc::new(Counters::default());
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let token = Arc::new(server.tokens.first().cloned().unwrap_or_default());
    let mut sent = 0u64;
    let cpu0 = server.cpu_seconds()?;
    let start = Instant::now();
    while let Some(bodies) = rx.recv().await {
        let mut tasks = tokio::task::JoinSet::new();
        for body in bodies {
            sent += body.points as u64;
            let permit = sem.clone().acquire_owned().await?;
            let (client, url, c, token) =
                (client.clone(), url.clone(), counters.clone(), token.clone());
            tasks.spawn(async move {
                ingest::send_one(&client, kind, &url, Some(token.as_str()), body, &c).await;
                drop(permit);
            });
        }
        // The whole slab is acknowledged before the next starts: time order per series.
        while tasks.join_next().await.is_some() {}
        server.check_alive()?;
    }
    let wall = start.elapsed().as_secs_f64();
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))?;
    let cpu = server.cpu_seconds()? - cpu0;
    Ok(QueryLoad {
        system: kind.name().into(),
        points_sent: sent,
        points_accepted: counters.accepted.load(Ordering::Relaxed),
        request_errors: counters.errors.load(Ordering::Relaxed),
        wall_secs: wall,
        cpu_secs: cpu,
        ..Default::default()
    })
}

/// Waits until `server` uses under 2 % of a core over a second (background merges and
/// compactions done), at most `max`; returns its CPU share over the last second and the wait.
async fn wait_idle(server: &Server, max: Duration) -> anyhow::Result<(f64, f64)> {
    let start = Instant::now();
    loop {
        let c0 = server.cpu_seconds()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let share = server.cpu_seconds()? - c0;
        if share < 0.02 || start.elapsed() >= max {
            return Ok((share, start.elapsed().as_secs_f64()));
        }
    }
}

/// A query's answer, summed up.
#[derive(Debug, Default, Clone, Copy)]
struct Answer {
    series: usize,
    points: usize,
    mean: f64,
    /// Latest timestamp in the answer (Unix seconds).
    last_ts: i64,
}

/// Series, points and the mean of the finite values of a Prometheus `matrix` answer.
fn summarize(body: &[u8]) -> anyhow::Result<Answer> {
    let v: serde_json::Value = serde_json::from_slice(body).context("answer is not JSON")?;
    if v["status"] != "success" {
        bail!(
            "answer is not a success: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    let result = v["data"]["result"]
        .as_array()
        .context("answer without data.result")?;
    let (mut points, mut sum, mut finite, mut last_ts) = (0usize, 0f64, 0usize, i64::MIN);
    for s in result {
        for p in s["values"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            points += 1;
            if let Some(t) = p[0].as_f64() {
                last_ts = last_ts.max(t as i64);
            }
            if let Some(x) = p[1].as_str().and_then(|x| x.parse::<f64>().ok()) {
                if x.is_finite() {
                    sum += x;
                    finite += 1;
                }
            }
        }
    }
    Ok(Answer {
        series: result.len(),
        points,
        mean: if finite > 0 { sum / finite as f64 } else { 0.0 },
        last_ts,
    })
}

/// The request asking `server` one query, and its URL (for errors).
fn request(
    client: &reqwest::Client,
    kind: Kind,
    server: &Server,
    spec: &QuerySpec,
    end: i64,
) -> (String, reqwest::RequestBuilder) {
    let (url, expr) = match kind {
        Kind::Argus | Kind::ArgusRemoteWrite | Kind::ArgusVm => (
            format!("{}/prometheus/api/v1/query_range", server.web_url),
            &spec.argus,
        ),
        _ => (format!("{}/api/v1/query_range", server.url), &spec.peer),
    };
    let mut params = vec![
        ("query", expr.clone()),
        ("start", (end - spec.range_secs).to_string()),
        ("end", end.to_string()),
        ("step", spec.step_secs.to_string()),
    ];
    if kind == Kind::VictoriaMetrics {
        params.push(("nocache", "1".into()));
    }
    let mut req = client.get(&url).query(&params);
    if matches!(kind, Kind::Argus | Kind::ArgusVm) {
        req = req.bearer_auth(&server.api_token);
    }
    (url, req)
}

/// Sends one query; the answer's bytes, and the latency to its last byte.
async fn send(
    kind: Kind,
    url: String,
    req: reqwest::RequestBuilder,
) -> anyhow::Result<(Vec<u8>, Duration)> {
    let start = Instant::now();
    let r = req.send().await.with_context(|| format!("asking {url}"))?;
    let status = r.status();
    let body = r.bytes().await?;
    let took = start.elapsed();
    if !status.is_success() {
        bail!(
            "{} answered {status}: {}",
            kind.name(),
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok((body.to_vec(), took))
}

/// Asks `server` one query; the answer's bytes, and the latency to its last byte.
async fn ask(
    client: &reqwest::Client,
    kind: Kind,
    server: &Server,
    spec: &QuerySpec,
    end: i64,
) -> anyhow::Result<(Vec<u8>, Duration)> {
    let (url, req) = request(client, kind, server, spec, end);
    send(kind, url, req).await
}

/// Queries a browser sends at once to one server (its connections per host).
const DASHBOARD_IN_FLIGHT: usize = 6;

/// Opens the dashboard of [`dashboard_specs`] on `server` repeatedly: every panel's query sent
/// at once, at most [`DASHBOARD_IN_FLIGHT`] in flight, timed until the last answer is in.
async fn measure_dashboard(
    kind: Kind,
    server: &mut Server,
    ds: &Dataset,
    opts: &QueryOpts,
) -> anyhow::Result<DashboardResult> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let panels = dashboard_specs(ds);
    let open = |client: &reqwest::Client, server: &Server| {
        let gate = Arc::new(tokio::sync::Semaphore::new(DASHBOARD_IN_FLIGHT));
        let mut set = tokio::task::JoinSet::new();
        for spec in &panels {
            let (url, req) = request(client, kind, server, spec, ds.t_end);
            let gate = gate.clone();
            set.spawn(async move {
                let _slot = gate.acquire_owned().await?;
                send(kind, url, req).await
            });
        }
        async move {
            let start = Instant::now();
            let mut failed = 0;
            while let Some(r) = set.join_next().await {
                if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
                    failed += 1;
                    tracing::warn!(system = kind.name(), error = %e, "dashboard panel failed");
                }
            }
            (start.elapsed(), failed)
        }
    };
    // Warm-up.
    open(&client, server).await;
    server.check_alive()?;
    let (mut latencies, mut errors) = (Vec::new(), 0);
    let cpu0 = server.cpu_seconds()?;
    let began = Instant::now();
    for i in 1..=MAX_REPS {
        let (took, failed) = open(&client, server).await;
        if failed == 0 {
            latencies.push(took.as_secs_f64() * 1000.0);
        } else {
            errors += 1;
        }
        if opts.enough(i, began.elapsed()) {
            break;
        }
    }
    let cpu = server.cpu_seconds()? - cpu0;
    let reps = latencies.len() + errors;
    latencies.sort_by(f64::total_cmp);
    let r = DashboardResult {
        system: kind.name().into(),
        panels: panels.len(),
        in_flight: DASHBOARD_IN_FLIGHT,
        reps,
        latencies_ms: latencies,
        errors,
        cpu_ms_per_load: cpu * 1000.0 / reps.max(1) as f64,
    };
    eprintln!(
        "  {:<16} dashboard of {} panels           p50 {:>8.1} ms  p99 {:>8.1} ms  CPU {:>8.1} ms/load  ({} loads, {} failed)",
        r.system,
        r.panels,
        r.quantile(0.5).unwrap_or(f64::NAN),
        r.quantile(0.99).unwrap_or(f64::NAN),
        r.cpu_ms_per_load,
        r.reps,
        r.errors
    );
    Ok(r)
}

/// Runs every query against `server`.
async fn measure_queries(
    kind: Kind,
    server: &mut Server,
    ds: &Dataset,
    opts: &QueryOpts,
) -> anyhow::Result<Vec<QueryResult>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let mut out = Vec::new();
    for spec in specs(ds) {
        // Warm-up, until all the data is visible: VictoriaMetrics makes fresh points
        // searchable only once its in-memory buffers are flushed (seconds), so wait until the
        // answer reaches the last step (within two steps of the range).
        let deadline = Instant::now() + Duration::from_secs(30);
        let answer = loop {
            let (body, _) = ask(&client, kind, server, &spec, ds.t_end)
                .await
                .with_context(|| format!("{}: {}", kind.name(), spec.name))?;
            let a = summarize(&body).with_context(|| format!("{}: {}", kind.name(), spec.name))?;
            if a.series > 0 && a.last_ts >= ds.t_end - 2 * spec.step_secs {
                break a;
            }
            if Instant::now() > deadline {
                tracing::warn!(
                    system = kind.name(),
                    query = spec.name,
                    "answer still misses the last steps after 30 s"
                );
                break a;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        server.check_alive()?;
        let mut latencies = Vec::new();
        let mut errors = 0;
        let cpu0 = server.cpu_seconds()?;
        let began = Instant::now();
        for i in 1..=MAX_REPS {
            match ask(&client, kind, server, &spec, ds.t_end).await {
                Ok((_, took)) => latencies.push(took.as_secs_f64() * 1000.0),
                Err(e) => {
                    errors += 1;
                    tracing::warn!(system = kind.name(), query = spec.name, error = %e, "query failed");
                }
            }
            if opts.enough(i, began.elapsed()) {
                break;
            }
        }
        let cpu = server.cpu_seconds()? - cpu0;
        let reps = latencies.len() + errors;
        latencies.sort_by(f64::total_cmp);
        let r = QueryResult {
            system: kind.name().into(),
            query: spec.name.into(),
            expr: match kind {
                Kind::Argus | Kind::ArgusRemoteWrite | Kind::ArgusVm => spec.argus.clone(),
                _ => spec.peer.clone(),
            },
            range_secs: spec.range_secs,
            step_secs: spec.step_secs,
            reps,
            latencies_ms: latencies,
            errors,
            cpu_secs: cpu,
            cpu_ms_per_query: cpu * 1000.0 / reps.max(1) as f64,
            result_series: answer.series,
            result_points: answer.points,
            result_mean: answer.mean,
            points_selected: spec.points_selected,
        };
        eprintln!(
            "  {:<16} {:<32} p50 {:>8.1} ms  p99 {:>8.1} ms  CPU {:>8.1} ms/query  ({} reps, {} series, {} points)",
            r.system,
            r.query,
            r.quantile(0.5).unwrap_or(f64::NAN),
            r.quantile(0.99).unwrap_or(f64::NAN),
            r.cpu_ms_per_query,
            r.reps,
            r.result_series,
            r.result_points
        );
        out.push(r);
    }
    Ok(out)
}

/// Loads the dataset into each of `systems` in turn and measures the queries there.
pub(crate) async fn run(
    work: &Path,
    systems: &[Kind],
    opts: &QueryOpts,
    notes: &mut Vec<String>,
) -> anyhow::Result<(QuerySetup, Vec<QueryResult>, Vec<DashboardResult>)> {
    let now = argus_core::time::now_secs();
    // A minute or more in the past: VictoriaMetrics leaves the last 30 s out of range answers
    // (`-search.latencyOffset`), and every system must answer over the same data.
    let ds = Arc::new(Dataset::new(
        opts.hosts,
        opts.hours,
        opts.full_steps,
        now - 60,
    ));
    let mut setup = QuerySetup {
        hosts: opts.hosts,
        series: ds.series(),
        series_per_host: ds.fleet.series_per_host(),
        history_hours: opts.hours,
        coarse_step_secs: COARSE_EVERY * ds.fleet.step,
        recent_secs: RECENT_STEPS * ds.fleet.step,
        full_secs: ds.full_steps * ds.fleet.step,
        step_secs: ds.fleet.step,
        points: ds.points(),
        reps: opts.reps,
        budget_secs: opts.budget.as_secs_f64(),
        min_secs: opts.min_time.as_secs_f64(),
        min_reps: opts.min_reps,
        end: crate::results::utc_string(ds.t_end),
        ..Default::default()
    };
    eprintln!(
        "queries: {} hosts, {} series, {} points ({} h of cpu.busy history)",
        setup.hosts, setup.series, setup.points, opts.hours
    );
    let (prom, vm) = (
        servers::find_bin("ARGUS_BENCH_PROMETHEUS_BIN", &["prometheus"]),
        servers::find_bin(
            "ARGUS_BENCH_VICTORIAMETRICS_BIN",
            &["victoria-metrics", "victoria-metrics-prod"],
        ),
    );
    let mut results = Vec::new();
    let mut dashboards = Vec::new();
    for &kind in systems {
        let dir = work.join(format!("queries-{}", kind.name()));
        std::fs::create_dir_all(&dir)?;
        let mut server = match kind {
            Kind::Argus => {
                servers::start_argus_with_web(&dir, &ds.fleet.tenants, opts.argus_fsync).await?
            }
            Kind::Prometheus => {
                servers::start_prometheus(
                    &prom.clone().context("prometheus not installed")?,
                    &dir,
                    crate::run::PROM_INGEST_CONFIG,
                )
                .await?
            }
            Kind::VictoriaMetrics => {
                servers::start_victoriametrics(
                    &vm.clone().context("victoria-metrics not installed")?,
                    &dir,
                )
                .await?
            }
            Kind::ArgusVm => {
                servers::start_argus_on_vm(
                    &dir,
                    &ds.fleet.tenants,
                    true,
                    &vm.clone().context("victoria-metrics not installed")?,
                )
                .await?
            }
            Kind::ArgusRemoteWrite => continue,
        };
        let mut l = load(kind, &mut server, ds.clone(), opts)
            .await
            .with_context(|| format!("loading the query data into {}", kind.name()))?;
        let (idle, waited) = wait_idle(&server, opts.idle_wait).await?;
        l.idle_cpu_share = idle;
        l.idle_wait_secs = waited;
        eprintln!(
            "  {:<16} loaded {} of {} points in {:.1} s ({} failed requests); idle after {:.0} s ({:.1} % of a core)",
            l.system,
            l.points_accepted,
            l.points_sent,
            l.wall_secs,
            l.request_errors,
            waited,
            idle * 100.0
        );
        if l.request_errors > 0 || l.points_accepted < l.points_sent {
            notes.push(format!(
                "queries: {} acknowledged {} of {} points ({} failed requests) of the query data",
                l.system, l.points_accepted, l.points_sent, l.request_errors
            ));
        }
        if idle >= 0.02 {
            notes.push(format!(
                "queries: {} still used {:.0} % of a core in background work after {:.0} s; its query CPU includes some",
                l.system,
                idle * 100.0,
                waited
            ));
        }
        let r = measure_queries(kind, &mut server, &ds, opts).await;
        let d = match &r {
            Ok(_) => Some(measure_dashboard(kind, &mut server, &ds, opts).await),
            Err(_) => None,
        };
        let (_, peak) = server.rss().unwrap_or((0, 0));
        l.peak_rss_bytes = peak;
        server.stop(Duration::from_secs(120)).await?;
        let _ = std::fs::remove_dir_all(&dir);
        results.extend(r.with_context(|| format!("queries on {}", kind.name()))?);
        if let Some(d) = d {
            dashboards.push(d.with_context(|| format!("dashboard on {}", kind.name()))?);
        }
        setup.loads.push(l);
    }
    // The same question must get the same answer: say where the systems disagree.
    for spec in specs(&ds) {
        let rows: Vec<&QueryResult> = results.iter().filter(|r| r.query == spec.name).collect();
        let series: Vec<usize> = rows.iter().map(|r| r.result_series).collect();
        if series.windows(2).any(|w| w[0] != w[1]) {
            notes.push(format!(
                "queries: \"{}\" answered with different series counts: {}",
                spec.name,
                rows.iter()
                    .map(|r| format!("{} {}", r.system, r.result_series))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok((setup, results, dashboards))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn timeline_layout() {
        let ds = Dataset::new(3, 24, 30, 1_700_000_123);
        assert_eq!(ds.t_end % 300, 0);
        assert_eq!(ds.n_steps, 8640);
        assert_eq!(ds.ts(ds.n_steps - 1), ds.t_end);
        let idx = |m: &str| ds.fleet.series.iter().position(|s| s.metric == m).unwrap();
        let (busy, counter, idle) = (
            idx("cpu.busy"),
            idx("net.if.in.bytes.total"),
            idx("cpu.idle"),
        );
        // cpu.busy: every 6th step of the history, every step of the last hour.
        assert!(ds.present(busy, 0) && !ds.present(busy, 1) && ds.present(busy, 6));
        assert!(ds.present(busy, ds.n_steps - 359));
        assert!(!ds.present(counter, ds.n_steps - 391) && ds.present(counter, ds.n_steps - 390));
        assert!(!ds.present(idle, ds.n_steps - 31) && ds.present(idle, ds.n_steps - 30));
        // Slabs cover the timeline in order, none longer than 30 minutes.
        let slabs = ds.slabs();
        assert_eq!(slabs[0].0, 0);
        assert_eq!(slabs.last().unwrap().1, ds.n_steps);
        assert!(slabs.windows(2).all(|w| w[0].1 == w[1].0));
        assert!(slabs.iter().all(|(a, b)| b - a <= 180 && b > a));
        // Points: what the bodies carry.
        let hosts: Vec<usize> = (0..3).collect();
        let total: usize = slabs
            .iter()
            .flat_map(|&(a, b)| ds.argus_bodies(&hosts, a, b, 2))
            .map(|b| b.points)
            .sum();
        assert_eq!(total as u64, ds.points());
        let rw: usize = slabs
            .iter()
            .flat_map(|&(a, b)| ds.remote_write_bodies(&hosts, a, b, 28))
            .map(|b| b.points)
            .sum();
        assert_eq!(rw, total);
    }

    #[test]
    fn bodies_carry_the_same_points_in_time_order() {
        let ds = Dataset::new(2, 2, 30, 1_700_000_000);
        let slab = ds.slabs()[0];
        let argus = ds.argus_bodies(&[0, 1], slab.0, slab.1, 1);
        assert_eq!(argus.len(), 2);
        let raw = zstd::decode_all(&argus[0].bytes[..]).unwrap();
        let (good, bad) = argus_core::wire::frame::decode_lenient(&raw).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(good.len(), argus[0].points);
        assert!(good.iter().all(|(_, p)| p.metric == "cpu.busy"));
        assert_eq!(good[0].1.timestamp, ds.ts(slab.0));
        let rw = ds.remote_write_bodies(&[0, 1], slab.0, slab.1, 28);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&rw[0].bytes)
            .unwrap();
        let req = argus_transfer::remote_write::WriteRequest::decode(&raw[..]).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let ts = &req.timeseries[0];
        assert_eq!(ts.labels[0].value, "cpu_busy");
        assert!(ts
            .samples
            .windows(2)
            .all(|w| w[0].timestamp < w[1].timestamp));
        assert_eq!(ts.samples[0].value, good[0].1.value);
        assert_eq!(ts.samples[0].timestamp, good[0].1.timestamp * 1000);
        // Last step: every series of the host.
        let n = ds.n_steps;
        let last = ds.remote_write_bodies(&[0], n - 1, n, 28);
        assert_eq!(last[0].points, ds.fleet.series_per_host());
    }

    #[test]
    fn queries_are_the_same_for_every_system() {
        let ds = Dataset::new(2, 24, 30, 1_700_000_000);
        let s = specs(&ds);
        assert_eq!(s.len(), 6);
        assert_eq!(
            s[0].argus,
            r#"{__name__="cpu.busy",endpoint="t01-host-00000"}"#
        );
        assert_eq!(s[0].peer, r#"cpu_busy{endpoint="t01-host-00000"}"#);
        assert_eq!((s[1].range_secs, s[1].step_secs), (86_400, 300));
        // Raw points under the selectors: the last 65 minutes at 10 s (and cpu.busy's 60 s
        // history before them); the ratio reads two counters a host, two interfaces each.
        assert_eq!(s[0].points_selected, 390);
        assert_eq!(s[1].points_selected, 390 + 8250 / 6);
        assert_eq!(s[4].points_selected, 2 * 2 * 2 * 390);
        assert_eq!(s[5].points_selected, 2 * 10 * 390);
        assert_eq!(
            s[5].argus,
            r#"histogram_quantile(0.99, sum by (le) (rate({__name__="http.request.duration.seconds.bucket"}[5m])))"#
        );
        assert_eq!(
            s[4].peer,
            "sum(rate(net_if_out_bytes_total[5m])) / sum(rate(net_if_in_bytes_total[5m]))"
        );
        // A short history names itself.
        assert_eq!(Dataset::new(1, 2, 30, 0).n_steps, 720);
        assert!(specs(&Dataset::new(1, 2, 30, 0))[1]
            .name
            .contains("whole history"));
    }

    #[test]
    fn summarizes_matrix_answers() {
        let a = summarize(
            br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[1,"2"],[2,"4"]]},{"metric":{},"values":[[1,"NaN"]]}]}}"#,
        )
        .unwrap();
        assert_eq!((a.series, a.points), (2, 3));
        assert_eq!(a.mean, 3.0);
        assert_eq!(a.last_ts, 2);
        assert!(summarize(br#"{"status":"error","error":"x"}"#).is_err());
    }
}
