//! PromQL conformance: Argus's `/prometheus/api/v1/*` against a real Prometheus 2.42 (the oracle,
//! Debian's package from `.ci/services/prometheus.sh`) on the same data.
//!
//! The harness starts Argus standalone (agent off) and a Prometheus with its remote-write
//! receiver on free loopback ports, generates a seeded data set (counters with resets, gauges,
//! classic histograms including broken ones, series that start and stop part-way, irregular
//! spacing, a dotted metric name, absent labels) and writes the same samples into both by
//! remote write. Once both read back exactly what was written, every query of [`GROUPS`] runs
//! as a range query and as an instant query against both, and every difference of every query
//! is reported at once.
//!
//! The query set checks itself against the oracle too: a query marked `!err` must fail in
//! Prometheus, a query marked `!empty` must answer nothing, any other must answer something; a
//! typo in a metric name or a query Prometheus refuses is a harness bug and fails the test.
//!
//! `ARGUS_PROMQL_ORACLE_ONLY=1` stops after the oracle's checks (data read back, every query
//! checked against Prometheus), for working on the harness without Argus's engine.
//! `ARGUS_PROMQL_REPORT=FILE` also writes the difference table to FILE;
//! `ARGUS_PROMQL_DEBUG=<query>` prints both answers to one query of the set at every evaluation.
//!
//! Deliberate differences: none in query semantics. Argus's data-level differences (it stores
//! no NaN or ±Inf samples, so staleness markers are dropped at ingest; timestamps are whole
//! seconds) are kept out of the data set: its values are finite, its timestamps whole seconds,
//! and it sends no staleness markers, so both sides hold the same samples. A deliberate
//! difference in semantics would be listed here with its reason and asserted.
//!
//! Run it with `cargo test --test promql_conformance`; docs/PROMQL.md explains what is compared.

mod common;

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use argus_transfer::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};
use common::peers::{binary, Kind, Peer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------
// The query set.
//
// Each group is one category of Prometheus's own PromQL compliance suite. `$AT` stands for a
// literal Unix time inside the data (for `@`). A leading `!err ` means Prometheus must refuse
// the query (Argus must then refuse it with the same errorType); `!empty ` means Prometheus
// answers no series at any of the evaluation times used. Every other query must give the
// oracle something to compare.
// ------------------------------------------------------------------------------------------

/// The queries, by category.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "literals and scalar arithmetic",
        &[
            "1",
            "-1",
            "1.5e3",
            "0x1F",
            "Inf",
            "-Inf",
            "NaN",
            r#""a string""#,
            "1 + 1",
            "-2^2",
            "2^3^2",
            "1 + 2 * 3 % 4",
            "(1 + 2) * 3",
            "2 * -3",
            "10 % 3",
            "-10 % 3",
            "5.5 % 2",
            "2 ^ 0.5",
            "(-8) ^ (1/3)",
            "0 / 0",
            "1 / 0",
            "-1 / 0",
            "1 % 0",
            "Inf - Inf",
            "0 * Inf",
            "1 == bool 1",
            "NaN == bool NaN",
            "NaN != bool NaN",
            "1 < bool 2",
            "2 >= bool 2",
            "1 != bool 1",
            "1 > bool 2",
            "1 <= bool 0",
            "Inf > bool 1",
            "!err 1 == 1",
            "!err 1 and 1",
            "!err 1 +",
            "!err (1",
        ],
    ),
    (
        "time() arithmetic",
        &[
            "time()",
            "time() - 100",
            "time() % 60",
            "time() / 60 > bool 0",
            "vector(time())",
            "node_temperature_celsius * 0 + on() group_left vector(time())",
            "time() - timestamp(node_temperature_celsius)",
        ],
    ),
    (
        "selectors and matchers",
        &[
            "http_requests_total",
            r#"http_requests_total{job="api"}"#,
            r#"http_requests_total{job!="api"}"#,
            r#"http_requests_total{instance=~"h[12]:.*"}"#,
            r#"http_requests_total{instance!~"h1.*"}"#,
            r#"http_requests_total{env=""}"#,
            r#"http_requests_total{env!=""}"#,
            r#"http_requests_total{env=~"prod|"}"#,
            r#"http_requests_total{env!~"prod"}"#,
            r#"http_requests_total{nonexistent=""}"#,
            r#"!empty http_requests_total{nonexistent="x"}"#,
            r#"http_requests_total{nonexistent!="x"}"#,
            r#"http_requests_total{job="api", method="post"}"#,
            r#"http_requests_total{job="api", job!="db"}"#,
            r#"up{instance=~"h1:9100|"}"#,
            r#"up{instance=~"h1:9100|.*9100"}"#,
            r#"up{instance!~""}"#,
            r#"{__name__="http_requests_total"}"#,
            r#"{__name__=~"http_.*"}"#,
            r#"{__name__=~"node_temperature_celsius|up", instance="h1:9100"}"#,
            r#"{__name__!="up", job="api"}"#,
            r#"{__name__!~"http.*|request.*", instance="h1:9100"}"#,
            r#"{__name__="cpu.idle"}"#,
            r#"{__name__="cpu.idle", instance="h2:9100"}"#,
            r#"{__name__=~"cpu[.].*"}"#,
            r#"{__name__=~"up|build_info"}"#,
            r#"!empty up{job=~"API"}"#,
            r#"up{job=~"(?i)API"}"#,
            r#"!empty up{job=~"p"}"#,
            r#"up{job=~"a.*|b.*"}"#,
            "batch_last_success",
            r#"batch_last_success{instance=""}"#,
            r#"!empty nonexistent_metric"#,
            r#"!err {job=~".*"}"#,
            r#"!err {__name__=~".*"}"#,
            r#"!err http_requests_total{job=~"("}"#,
            r#"!err http_requests_total{job="api""#,
        ],
    ),
    (
        "range selectors (instant queries; range queries must fail)",
        &[
            "node_temperature_celsius[1m]",
            "http_requests_total[1m]",
            "irregular_gauge[5m]",
            "node_temperature_celsius[20s]",
            "http_requests_total[1m] offset 1m",
            "session_active[10m] @ $AT",
            r#"{__name__="cpu.idle"}[30s]"#,
        ],
    ),
    (
        "offset and @",
        &[
            "http_requests_total offset 5m",
            "http_requests_total offset -5m",
            "node_temperature_celsius offset 40m",
"!empty node_temperature_celsius offset 1h",
            "node_temperature_celsius offset 30s",
            "node_temperature_celsius offset -1m30s",
            "rate(http_requests_total[5m] offset 10m)",
            "rate(http_requests_total[5m] offset -10m)",
            "http_requests_total @ start()",
            "http_requests_total @ end()",
            "node_temperature_celsius @ $AT",
            "node_temperature_celsius @ $AT offset 5m",
            "node_temperature_celsius offset 5m @ $AT",
            "sum(http_requests_total @ $AT)",
            "rate(http_requests_total[5m] @ end())",
            "max_over_time(node_temperature_celsius[10m] @ start())",
            "time() - timestamp(node_temperature_celsius offset 1m)",
            "session_active offset 6m",
            "node_temperature_celsius - node_temperature_celsius offset 1m",
        ],
    ),
    (
        "aggregations",
        &[
            "sum(http_requests_total)",
            "sum by (job) (http_requests_total)",
            "sum without (instance) (http_requests_total)",
            "sum by () (http_requests_total)",
            "sum without () (http_requests_total)",
            "sum by (nonexistent) (http_requests_total)",
            "sum without (nonexistent) (http_requests_total)",
            "sum by (env) (http_requests_total)",
            "sum(node_temperature_celsius) by (dc)",
            r#"sum by (__name__) ({__name__=~"http_requests_total|up"})"#,
            r#"sum without (__name__) ({__name__=~"http_requests_total|up"})"#,
            "avg(node_temperature_celsius)",
            "avg by (dc) (node_temperature_celsius)",
            "avg without (instance, dc) (node_temperature_celsius)",
            "avg(build_info)",
            "min(node_temperature_celsius)",
            "min by (job) (http_requests_total)",
            "min without (method) (http_requests_total)",
            "max(node_temperature_celsius)",
            "max by (dc, env) (http_requests_total)",
            "max by (le) (request_duration_seconds_bucket)",
            "count(node_temperature_celsius)",
            "count by (job) (up)",
            "count without (instance) (up)",
            "count(session_active)",
            "count by (phase) (session_active)",
            "count(count by (job) (up))",
            "group(http_requests_total)",
            "group by (job, dc) (http_requests_total)",
            "group without (method) (http_requests_total)",
            "stddev(node_temperature_celsius)",
            "stddev by (job) (http_requests_total)",
            "stddev(build_info)",
            "stdvar(node_temperature_celsius)",
            "stdvar without (instance, method) (http_requests_total)",
            "topk(2, node_temperature_celsius)",
            "topk by (dc) (1, node_temperature_celsius)",
            "topk(2, http_requests_total) by (job)",
            "bottomk(2, node_temperature_celsius)",
            "bottomk without (instance) (1, http_requests_total)",
            "!empty topk(0, node_temperature_celsius)",
            "!empty topk(-1, node_temperature_celsius)",
            "topk(1.5, node_temperature_celsius)",
            "!err topk(NaN, node_temperature_celsius)",
            "topk(100, node_temperature_celsius)",
            // NaN ranks below every number. Which of several NaN samples is kept depends on
            // input order (Prometheus's is its storage's series creation order, Argus's label
            // order: a documented difference), so these compare what does not depend on it.
            "sum(topk(2, sqrt(node_temperature_celsius)))",
            "count(topk(2, sqrt(node_temperature_celsius)))",
            "sum(bottomk(1, sqrt(node_temperature_celsius)))",
            "max(sqrt(node_temperature_celsius))",
            "min(sqrt(node_temperature_celsius))",
            "quantile(0.5, sqrt(node_temperature_celsius))",
            r#"count_values("v", node_temperature_celsius / 0)"#,
            r#"count_values by (job) ("job", up)"#,
            "avg(node_temperature_celsius * 1e308)",
            "sum(node_temperature_celsius * 1e308)",
            "stddev(node_temperature_celsius * 1e200)",
            "bottomk(100, http_requests_total)",
            "topk(scalar(count(up) or vector(5)) - 3, node_temperature_celsius)",
            "quantile(0.5, node_temperature_celsius)",
            "quantile(0, node_temperature_celsius)",
            "quantile(1, node_temperature_celsius)",
            "quantile(-1, node_temperature_celsius)",
            "quantile(1.5, node_temperature_celsius)",
            "quantile(NaN, node_temperature_celsius)",
            "quantile by (dc) (0.9, node_temperature_celsius)",
            "quantile(0.25, http_requests_total)",
            r#"count_values("value", up)"#,
            r#"count_values by (job) ("v", up)"#,
            r#"count_values("instance", up)"#,
            r#"count_values("value", node_temperature_celsius)"#,
            r#"count_values("value", http_requests_total)"#,
            r#"count_values("version", build_info)"#,
            r#"!err count_values("invalid-label", up)"#,
            r#"!empty sum(http_requests_total{job="nonexistent"})"#,
            "sum by (instance) (rate(http_requests_total[5m]))",
            r#"avg without (instance) ({__name__="cpu.idle"})"#,
            r#"count by (__name__) ({__name__=~".+_total|up"})"#,
            "!err sum by (job) (1)",
            r#"!err topk("a", up)"#,
            "!err quantile(up, up)",
            "!err sum(up[5m])",
        ],
    ),
    (
        "binary operators: scalar/vector",
        &[
            "node_temperature_celsius + 1",
            "1 - node_temperature_celsius",
            "node_temperature_celsius * -2",
            "node_temperature_celsius / 0",
            "0 / node_temperature_celsius",
            "node_temperature_celsius % 3",
            "-7 % node_temperature_celsius",
            "node_temperature_celsius ^ 2",
            "2 ^ node_temperature_celsius",
            "node_temperature_celsius > 0",
            "node_temperature_celsius > bool 0",
            "0 < node_temperature_celsius",
            "0 < bool node_temperature_celsius",
            "node_temperature_celsius != 0.5",
            "node_temperature_celsius <= -1",
            "node_temperature_celsius >= bool -1",
            "up == 1",
            "up == bool 1",
            "1 >= bool up",
            "!empty up > 1",
            "http_requests_total / 1e3",
            "100 - {__name__=\"cpu.idle\"}",
            "node_temperature_celsius * Inf",
            "node_temperature_celsius + NaN",
            "!empty node_temperature_celsius > NaN",
            "node_temperature_celsius != bool NaN",
            "(node_temperature_celsius - node_temperature_celsius) / 0",
            "-node_temperature_celsius / 0",
            "(up / 0) == bool Inf",
            "node_temperature_celsius + time()",
            "time() - batch_last_success",
            "scalar(up{instance=\"h1:9100\"}) * node_temperature_celsius",
        ],
    ),
    (
        "binary operators: vector/vector and matching",
        &[
            "http_requests_total - http_requests_total",
            "node_temperature_celsius * node_temperature_celsius",
            "node_temperature_celsius == node_temperature_celsius",
            "node_temperature_celsius == bool node_temperature_celsius",
            "node_temperature_celsius > node_temperature_celsius offset 1m",
            "node_temperature_celsius < bool node_temperature_celsius offset 1m",
            r#"http_requests_total{method="get"} + ignoring(method) http_requests_total{method="post"}"#,
            r#"http_requests_total{method="get"} + on(instance, job, dc, env) http_requests_total{method="post"}"#,
            "http_requests_total * on(instance) group_left(version) build_info",
            "http_requests_total * on(instance) group_left build_info",
            "build_info * on(instance) group_right(version) http_requests_total",
            "build_info * on(instance) group_right http_requests_total",
            "http_requests_total * on(instance) group_left up",
            "http_requests_total * on(instance) group_left(job) up",
            "http_requests_total * ignoring(method, dc, env) group_left up",
            "http_requests_total > on(instance) group_left node_temperature_celsius",
            "http_requests_total > bool on(instance) group_left node_temperature_celsius",
            "up == bool on(instance, job) up",
            "sum by (instance) (http_requests_total) / on(instance) node_temperature_celsius",
            r#"node_temperature_celsius - on(instance) {__name__="cpu.idle"}"#,
            r#"node_temperature_celsius - ignoring(dc) {__name__="cpu.idle"}"#,
            "rate(http_requests_total[5m]) / on(instance, job) group_left sum by (instance, job) (rate(http_requests_total[5m]))",
            "sum by (job) (http_requests_total) / on(job) group_left count by (job) (up)",
            "up * on() group_left vector(2)",
            "!empty http_requests_total + up",
            "!err http_requests_total + on(job) up",
            "!err up + on(instance) http_requests_total",
            "!err build_info * on(instance) group_left up + on(job) http_requests_total",
            r#"!err label_replace(node_temperature_celsius, "instance", "same", "", "")"#,
            r#"!err http_requests_total * on(job) group_left up"#,
            "!err http_requests_total + on(instance) group_left(version) on(job) up",
        ],
    ),
    (
        "set operators",
        &[
            "!empty http_requests_total and up",
            "http_requests_total and on(instance) up",
            "http_requests_total and on(instance) (up == 0)",
            "http_requests_total or node_temperature_celsius",
            "up or on(instance) node_temperature_celsius",
            "http_requests_total unless on(instance) (up == 0)",
            "node_temperature_celsius unless node_temperature_celsius > 0",
            "node_temperature_celsius and node_temperature_celsius < 0",
            r#"session_active{phase="early"} or session_active{phase="late"}"#,
            "(up == 1) or vector(0)",
            "up or up",
            "rate(http_requests_total[5m]) or rate(http_requests_total[10m])",
            "vector(1) + vector(1)",
            r#"http_requests_total and ignoring(method) http_requests_total{method="post"}"#,
            "session_active unless on(instance) (up == 0)",
            "vector(1) and on() up",
            "vector(1) unless on() nonexistent_metric",
            "sum(up) or vector(0)",
            "!err 1 and up",
            "!err up and bool up",
            "!err up or 1",
        ],
    ),
    (
        "unary minus and precedence",
        &[
            "-up",
            "-(up)",
            "- -up",
            "-node_temperature_celsius ^ 2",
            "(-node_temperature_celsius) ^ 2",
            "2 * node_temperature_celsius + 1 > bool 5",
            "up + up * up",
            "(up + up) * up",
            "up - up - up",
            "2 ^ up ^ 2",
            "-http_requests_total",
            "-sum(http_requests_total)",
            "+node_temperature_celsius",
        ],
    ),
    (
        "*_over_time",
        &[
            "avg_over_time(node_temperature_celsius[1s])",
            "avg_over_time(node_temperature_celsius[15s])",
            "avg_over_time(irregular_gauge[1m])",
            "avg_over_time(node_temperature_celsius[5m])",
            "avg_over_time(http_requests_total[1h])",
            "avg_over_time((node_temperature_celsius * 1e308)[5m:])",
            "sum_over_time((node_temperature_celsius * 1e308)[5m:])",
            "min_over_time(node_temperature_celsius[1s])",
            "min_over_time(irregular_gauge[15s])",
            "min_over_time(node_temperature_celsius[1m])",
            "min_over_time(irregular_gauge[5m])",
            "min_over_time(session_active[1h])",
            "max_over_time(irregular_gauge[1s])",
            "max_over_time(node_temperature_celsius[15s])",
            "max_over_time(http_requests_total[1m])",
            "max_over_time(session_active[5m])",
            "max_over_time(node_temperature_celsius[1h])",
            "sum_over_time(up[1s])",
            "sum_over_time(node_temperature_celsius[15s])",
            "sum_over_time(irregular_gauge[1m])",
            "sum_over_time(up[5m])",
            "sum_over_time(node_temperature_celsius[1h])",
            "count_over_time(build_info[1s])",
            "count_over_time(http_requests_total[15s])",
            "count_over_time(irregular_gauge[1m])",
            "count_over_time(session_active[5m])",
            "count_over_time(irregular_gauge[1h])",
            "quantile_over_time(0.5, node_temperature_celsius[1s])",
            "quantile_over_time(0.9, irregular_gauge[15s])",
            "quantile_over_time(0.5, node_temperature_celsius[1m])",
            "quantile_over_time(0.25, http_requests_total[5m])",
            "quantile_over_time(0.75, node_temperature_celsius[1h])",
            "quantile_over_time(0, irregular_gauge[5m])",
            "quantile_over_time(1, irregular_gauge[5m])",
            "quantile_over_time(-1, node_temperature_celsius[5m])",
            "quantile_over_time(1.5, node_temperature_celsius[5m])",
            "quantile_over_time(NaN, node_temperature_celsius[5m])",
            "stddev_over_time(node_temperature_celsius[1s])",
            "stddev_over_time(irregular_gauge[15s])",
            "stddev_over_time(node_temperature_celsius[1m])",
            "stddev_over_time(http_requests_total[5m])",
            "stddev_over_time(irregular_gauge[1h])",
            "stdvar_over_time(node_temperature_celsius[1s])",
            "stdvar_over_time(node_temperature_celsius[15s])",
            "stdvar_over_time(irregular_gauge[1m])",
            "stdvar_over_time(node_temperature_celsius[5m])",
            "stdvar_over_time(build_info[1h])",
            "last_over_time(up[1s])",
            "last_over_time(node_temperature_celsius[15s])",
            "last_over_time(irregular_gauge[1m])",
            "last_over_time(session_active[5m])",
            "last_over_time(session_active[1h])",
            "present_over_time(irregular_gauge[1s])",
            "present_over_time(session_active[15s])",
            "present_over_time(irregular_gauge[1m])",
            "present_over_time(session_active[5m])",
            "present_over_time(http_requests_total[1h])",
            "!err avg_over_time(node_temperature_celsius)",
            "!err quantile_over_time(node_temperature_celsius[5m])",
        ],
    ),
    (
        "math functions",
        &[
            "abs(node_temperature_celsius)",
            "ceil(node_temperature_celsius)",
            "floor(node_temperature_celsius)",
            "round(node_temperature_celsius)",
            "round(node_temperature_celsius, 0.5)",
            "round(node_temperature_celsius, 5)",
            "round(-node_temperature_celsius, 0.1)",
            "exp(node_temperature_celsius)",
            "exp(http_requests_total)",
            "ln(node_temperature_celsius)",
            "ln(up * 0)",
            "log2(http_requests_total)",
            "log10(node_temperature_celsius)",
            "sqrt(node_temperature_celsius)",
            "sgn(node_temperature_celsius)",
            "sin(node_temperature_celsius)",
            "cos(node_temperature_celsius)",
            "tan(node_temperature_celsius)",
            "asin(node_temperature_celsius / 10)",
            "acos(node_temperature_celsius)",
            "atan(node_temperature_celsius)",
            "sinh(node_temperature_celsius)",
            "cosh(node_temperature_celsius)",
            "tanh(node_temperature_celsius)",
            "asinh(node_temperature_celsius)",
            "acosh(node_temperature_celsius)",
            "atanh(node_temperature_celsius / 10)",
            "deg(node_temperature_celsius)",
            "rad(node_temperature_celsius)",
            "pi()",
            "node_temperature_celsius atan2 on(instance) up",
            "!err abs(up[5m])",
            "!err nonexistent_fn(up)",
            "!err abs()",
        ],
    ),
    (
        "rate, increase, delta, irate, idelta",
        &[
            "rate(http_requests_total[1m])",
            "rate(http_requests_total[5m])",
            "rate(http_requests_total[47s])",
            "rate(http_requests_total[1h])",
            "!empty rate(http_requests_total[1s])",
            "rate(request_duration_seconds_bucket[5m])",
            r#"rate({__name__="cpu.idle"}[5m])"#,
            "rate(irregular_gauge[2m])",
            "increase(http_requests_total[1m])",
            "increase(http_requests_total[5m])",
            "increase(http_requests_total[1h])",
            "increase(request_duration_seconds_count[10m])",
            "delta(node_temperature_celsius[1m])",
            "delta(node_temperature_celsius[5m])",
            "delta(irregular_gauge[10m])",
            "delta(http_requests_total[1h])",
            "irate(http_requests_total[1m])",
            "irate(http_requests_total[5m])",
            "irate(irregular_gauge[5m])",
            "idelta(node_temperature_celsius[1m])",
            "idelta(irregular_gauge[5m])",
            "idelta(http_requests_total[2m])",
            "sum(rate(http_requests_total[5m])) by (job)",
            "rate(session_active[5m])",
            "rate(jobs_processed_total[1m])",
            "rate(jobs_processed_total[5m])",
            "increase(jobs_processed_total[10m])",
            "delta(jobs_processed_total[5m])",
            "irate(jobs_processed_total[1m])",
            "increase(session_active[10m])",
            "!err rate(up)",
            "!err rate(sum(up))",
        ],
    ),
    (
        "counter resets, changes, deriv, predict_linear, holt_winters",
        &[
            "resets(http_requests_total[1h])",
            "resets(http_requests_total[5m])",
            "resets(node_temperature_celsius[10m])",
            "changes(node_temperature_celsius[5m])",
            "changes(up[1h])",
            "changes(build_info[1h])",
            "changes(irregular_gauge[1m])",
            "deriv(node_temperature_celsius[5m])",
            "deriv(node_temperature_celsius[1m])",
            "deriv(irregular_gauge[10m])",
            "deriv(http_requests_total[1h])",
            "predict_linear(node_temperature_celsius[5m], 600)",
            "predict_linear(node_temperature_celsius[10m], -60)",
            "predict_linear(http_requests_total[5m], 3600)",
            "predict_linear(irregular_gauge[15m], 0)",
            "holt_winters(node_temperature_celsius[10m], 0.5, 0.5)",
            "holt_winters(node_temperature_celsius[5m], 0.1, 0.9)",
            "holt_winters(irregular_gauge[20m], 0.3, 0.3)",
            "!err holt_winters(node_temperature_celsius[5m], 0, 0.5)",
            "!err holt_winters(node_temperature_celsius[5m], 0.5, 1)",
        ],
    ),
    (
        "label_replace and label_join",
        &[
            r#"label_replace(up, "foo", "$1", "instance", "(.*):.*")"#,
            r#"label_replace(up, "new", "x", "nonexistent", "")"#,
            r#"label_replace(up, "new", "x", "instance", "nomatch")"#,
            r#"label_replace(up, "new", "x", "instance", "h1")"#,
            r#"label_replace(up, "job", "", "job", "api")"#,
            r#"label_replace(http_requests_total, "dc", "$2-$1", "instance", "h([0-9]):([0-9]+)")"#,
            r#"label_replace(http_requests_total, "x", "${1}y", "job", "(.*)")"#,
            r#"label_replace(up, "__name__", "renamed", "", "")"#,
            r#"label_replace(node_temperature_celsius, "dc", "$1", "dc", "(e).*")"#,
            r#"label_join(up, "combo", "-", "job", "instance")"#,
            r#"label_replace(up, "x", "$2", "instance", "(.*)")"#,
            r#"label_replace(up, "x", "$name", "instance", "(?P<name>h[0-9])")"#,
            r#"label_join(up, "combo", "", "job")"#,
            r#"label_join(up, "job", ",", "nonexistent")"#,
            r#"label_join(http_requests_total, "env", "/", "env", "dc")"#,
            r#"!err label_join(up, "combo")"#,
            r#"!err label_replace(up, "invalid-name", "x", "instance", ".*")"#,
            r#"!err label_replace(up, "x", "y", "instance", "(")"#,
            r#"!err label_replace(up, "instance", "", "instance", ".*")"#,
            r#"!err label_join(up, "bad-name", "-", "job")"#,
            r#"!err label_join(up, "x", "-", "bad-src")"#,
            r#"!err label_replace(up, "x", "y", "instance")"#,
        ],
    ),
    (
        "date functions",
        &[
            "hour()",
            "minute()",
            "month()",
            "year()",
            "day_of_month()",
            "day_of_week()",
            "day_of_year()",
            "days_in_month()",
            "hour(timestamp(node_temperature_celsius))",
            "minute(timestamp(irregular_gauge))",
            "month(vector(1709251200))",
            "days_in_month(vector(1709164800))",
            "day_of_year(vector(1735603200))",
            "day_of_week(vector(0))",
            "year(vector(-1))",
            "hour(batch_last_success)",
            "minute(node_temperature_celsius * 1e6)",
        ],
    ),
    (
        "clamp",
        &[
            "clamp(node_temperature_celsius, -1, 1)",
            "!empty clamp(node_temperature_celsius, 1, -1)",
            "clamp(node_temperature_celsius, 0, 0)",
            "clamp(node_temperature_celsius, NaN, 1)",
            "clamp(node_temperature_celsius, -Inf, Inf)",
            "clamp_min(node_temperature_celsius, 0)",
            "clamp_max(node_temperature_celsius, 0)",
            "clamp_max(http_requests_total, 100)",
            "clamp_min(node_temperature_celsius, NaN)",
        ],
    ),
    (
        "vector, scalar, absent, absent_over_time, present_over_time",
        &[
            "vector(1)",
            "vector(time())",
            "vector(NaN)",
            r#"scalar(up{instance="h1:9100"})"#,
            "scalar(up)",
            r#"scalar(up{job="none"})"#,
            "scalar(sum(up))",
            "absent(up)",
            "absent(nonexistent_metric)",
            r#"absent(nonexistent{job="x", instance=~"y"})"#,
            r#"absent(nonexistent{job="x", job="y"})"#,
            r#"absent(up{job="x"})"#,
            "absent(sum(nonexistent))",
            r#"absent({__name__="cpu.nothing"})"#,
            "absent_over_time(nonexistent[5m])",
            r#"absent_over_time(session_active{phase="early"}[5m])"#,
            r#"absent_over_time(session_active{phase="gap"}[1m])"#,
            "absent_over_time(up[1m])",
            "present_over_time(session_active[5m])",
            r#"!empty present_over_time(nonexistent{job="x"}[5m])"#,
            "!err scalar(1)",
            "!err vector(up)",
        ],
    ),
    (
        "histogram_quantile",
        &[
            "histogram_quantile(0.5, request_duration_seconds_bucket)",
            "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
            "histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
            "histogram_quantile(0.5, sum by (job, le) (rate(request_duration_seconds_bucket[10m])))",
            "histogram_quantile(0, request_duration_seconds_bucket)",
            "histogram_quantile(1, request_duration_seconds_bucket)",
            "histogram_quantile(-0.5, request_duration_seconds_bucket)",
            "histogram_quantile(1.5, request_duration_seconds_bucket)",
            "histogram_quantile(NaN, request_duration_seconds_bucket)",
            "histogram_quantile(0.75, increase(request_duration_seconds_bucket[1h]))",
            r#"histogram_quantile(0.5, request_duration_seconds_bucket{instance="h3:9100"})"#,
            r#"histogram_quantile(0.5, request_duration_seconds_bucket{instance="h4:9100"})"#,
            r#"histogram_quantile(0.5, request_duration_seconds_bucket{le!="0.1"})"#,
            r#"histogram_quantile(0.5, label_replace(request_duration_seconds_bucket, "le", "1.0", "le", "1"))"#,
            r#"histogram_quantile(0.5, label_replace(request_duration_seconds_bucket, "le", "abc", "le", "0.5"))"#,
            "!empty histogram_quantile(0.5, up)",
            "!err histogram_quantile(up, request_duration_seconds_bucket)",
            "request_duration_seconds_sum / request_duration_seconds_count",
        ],
    ),
    (
        "subqueries",
        &[
            "max_over_time(rate(http_requests_total[1m])[10m:1m])",
            "max_over_time(rate(http_requests_total[1m])[10m:1m] offset 5m)",
            "avg_over_time(node_temperature_celsius[10m:])",
            "min_over_time(sum(node_temperature_celsius)[5m:30s])",
            "rate(http_requests_total[5m:1m])",
            "sum_over_time(up[10m:15s])",
            "count_over_time(session_active[10m:1m])",
            "max_over_time(deriv(node_temperature_celsius[2m])[15m:2m])",
            "node_temperature_celsius[10m:1m]",
            "last_over_time(node_temperature_celsius[5m:7s])",
            "avg_over_time(rate(http_requests_total[1m])[10m:1m] @ $AT)",
            "max_over_time((time() - timestamp(up))[5m:1m])",
            "min_over_time(irregular_gauge[20m:3m])",
            "sum_over_time(vector(1)[5m:1m])",
            "quantile_over_time(0.5, avg(node_temperature_celsius)[30m:5m])",
            "!err max_over_time(rate(http_requests_total[1m])[10m:1m:1m])",
            "!err http_requests_total[5m][5m]",
        ],
    ),
    (
        "series that come and go (lookback)",
        &[
            "session_active",
            r#"session_active{phase="early"}"#,
            r#"session_active{phase="late"}"#,
            r#"session_active{phase="gap"}"#,
            "irregular_gauge",
            "last_over_time(session_active[10m])",
            "sum(session_active)",
            "session_active + on(instance) group_left up",
            "timestamp(session_active)",
        ],
    ),
    (
        "timestamp",
        &[
            "timestamp(node_temperature_celsius)",
            "timestamp(irregular_gauge)",
            "time() - timestamp(irregular_gauge)",
            "timestamp(sum(up))",
            "timestamp(vector(1))",
            "timestamp(http_requests_total @ $AT)",
            "!err timestamp(1)",
        ],
    ),
    (
        "sort and sort_desc",
        &[
            "sort(node_temperature_celsius)",
            "sort_desc(node_temperature_celsius)",
            "sort_desc(http_requests_total)",
            "sort(rate(http_requests_total[5m]))",
            "sort_desc(sum by (job) (http_requests_total))",
            "sort(irregular_gauge)",
            "sort(sqrt(node_temperature_celsius))",
            "sort_desc(ln(node_temperature_celsius))",
            "sort(node_temperature_celsius / 0)",
        ],
    ),
];

// ------------------------------------------------------------------------------------------
// The data set.
// ------------------------------------------------------------------------------------------

/// The data spans `t0 ..= t0 + SPAN_SECS`, every timestamp a whole second.
const SPAN_SECS: i64 = 2_940;
/// The generator's seed: same seed, same data (relative to `t0`).
const SEED: u64 = 0x5EED_A4C5_2024_0001;

/// SplitMix64: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Labels = BTreeMap<String, String>;

/// One generated series: its labels (`__name__` among them) and samples (seconds, value).
struct Gen {
    labels: Labels,
    samples: Vec<(i64, f64)>,
}

fn labels(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.insert("__name__".into(), name.into());
    l
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Timestamps from `from` to `to` (inclusive) every `every` seconds.
fn ticks(from: i64, to: i64, every: i64) -> impl Iterator<Item = i64> {
    (0..)
        .map(move |k| from + k * every)
        .take_while(move |t| *t <= to)
}

/// The data set, relative to `t0`. Values are finite (Argus refuses NaN and ±Inf samples).
fn dataset(t0: i64) -> Vec<Gen> {
    let end = t0 + SPAN_SECS;
    let mut rng = Rng(SEED);
    let mut out = Vec::new();

    // Counters with resets (monotone, with occasional drops), one without `env`, one scraped
    // every 30 s instead of 15 s.
    let counters: &[&[(&str, &str)]] = &[
        &[
            ("job", "api"),
            ("instance", "h1:9100"),
            ("dc", "eu"),
            ("env", "prod"),
            ("method", "get"),
        ],
        &[
            ("job", "api"),
            ("instance", "h1:9100"),
            ("dc", "eu"),
            ("env", "prod"),
            ("method", "post"),
        ],
        &[
            ("job", "api"),
            ("instance", "h2:9100"),
            ("dc", "us"),
            ("env", "prod"),
            ("method", "get"),
        ],
        &[
            ("job", "api"),
            ("instance", "h2:9100"),
            ("dc", "us"),
            ("env", "staging"),
            ("method", "get"),
        ],
        &[
            ("job", "db"),
            ("instance", "h3:9100"),
            ("dc", "eu"),
            ("method", "get"),
        ],
        &[
            ("job", "db"),
            ("instance", "h4:9100"),
            ("dc", "us"),
            ("env", "prod"),
            ("method", "get"),
        ],
    ];
    for (i, l) in counters.iter().enumerate() {
        let every = if i == 5 { 30 } else { 15 };
        // Each series' values keep their own thousandths, so that no two series ever tie
        // (topk and bottomk may pick either of two equal samples).
        let off = (i + 1) as f64 / 1000.0;
        let mut v = rng.below(1000) as f64 + off;
        // Besides the random resets, one at a fixed tick so that every counter has one.
        let forced = t0 + 600 + 300 * i as i64;
        let samples = ticks(t0, end, every)
            .map(|t| {
                let inc = rng.below(21) as f64 + if rng.below(4) == 0 { 0.5 } else { 0.0 };
                if rng.unit() < 0.02 || t == forced {
                    // A reset: the counter restarts from a small value (keeping its offset).
                    v = inc + off;
                } else {
                    v += inc;
                }
                (t, v)
            })
            .collect();
        out.push(Gen {
            labels: labels("http_requests_total", l),
            samples,
        });
    }

    // Gauges: random walks through negative and fractional values. Each series' values end in
    // their own thousandth: no two series ever tie.
    for (i, (inst, dc)) in [
        ("h1:9100", "eu"),
        ("h2:9100", "us"),
        ("h3:9100", "eu"),
        ("h4:9100", "us"),
    ]
    .into_iter()
    .enumerate()
    {
        let off = (i + 1) as f64 / 1000.0;
        let mut v = r2(rng.unit() * 10.0 - 5.0);
        let samples = ticks(t0, end, 10)
            .map(|t| {
                v = r2(v + rng.unit() * 1.6 - 0.8);
                (t, v + off)
            })
            .collect();
        out.push(Gen {
            labels: labels(
                "node_temperature_celsius",
                &[("job", "node"), ("instance", inst), ("dc", dc)],
            ),
            samples,
        });
    }

    // up: 0/1 per target, mostly 1.
    for (job, inst) in [
        ("api", "h1:9100"),
        ("api", "h2:9100"),
        ("db", "h3:9100"),
        ("db", "h4:9100"),
        ("batch", "h5:9100"),
    ] {
        let samples = ticks(t0, end, 15)
            .map(|t| (t, if rng.unit() < 0.1 { 0.0 } else { 1.0 }))
            .collect();
        out.push(Gen {
            labels: labels("up", &[("job", job), ("instance", inst)]),
            samples,
        });
    }

    // build_info: constant 1, one per instance, for group_left/group_right joins.
    for (inst, job, version) in [
        ("h1:9100", "api", "1.2.3"),
        ("h2:9100", "api", "1.2.4"),
        ("h3:9100", "db", "2.0.0"),
        ("h4:9100", "db", "2.0.1"),
    ] {
        out.push(Gen {
            labels: labels(
                "build_info",
                &[("instance", inst), ("job", job), ("version", version)],
            ),
            samples: ticks(t0, end, 30).map(|t| (t, 1.0)).collect(),
        });
    }

    // Classic histograms: le 0.1, 0.5, 1, +Inf. h3 misses its +Inf bucket; h4's buckets are
    // not monotonic in le (its 0.5 and 1 buckets are swapped).
    let bounds = ["0.1", "0.5", "1", "+Inf"];
    for (job, inst) in [
        ("api", "h1:9100"),
        ("api", "h2:9100"),
        ("db", "h3:9100"),
        ("db", "h4:9100"),
    ] {
        let mut cum = [0.0f64; 4];
        let mut sum = 0.0f64;
        let mut rows: Vec<(i64, [f64; 4], f64)> = Vec::new();
        for t in ticks(t0, end, 15) {
            for _ in 0..rng.below(8) {
                let obs = r2(rng.unit() * rng.unit() * 2.0);
                sum += obs;
                for (b, c) in cum.iter_mut().enumerate() {
                    let le = match b {
                        0 => 0.1,
                        1 => 0.5,
                        2 => 1.0,
                        _ => f64::INFINITY,
                    };
                    if obs <= le {
                        *c += 1.0;
                    }
                }
            }
            rows.push((t, cum, r2(sum)));
        }
        for (b, le) in bounds.iter().enumerate() {
            if inst == "h3:9100" && *le == "+Inf" {
                continue;
            }
            let src = if inst == "h4:9100" && b == 1 {
                2
            } else if inst == "h4:9100" && b == 2 {
                1
            } else {
                b
            };
            out.push(Gen {
                labels: labels(
                    "request_duration_seconds_bucket",
                    &[("job", job), ("instance", inst), ("le", le)],
                ),
                samples: rows.iter().map(|(t, c, _)| (*t, c[src])).collect(),
            });
        }
        out.push(Gen {
            labels: labels(
                "request_duration_seconds_count",
                &[("job", job), ("instance", inst)],
            ),
            samples: rows.iter().map(|(t, c, _)| (*t, c[3])).collect(),
        });
        out.push(Gen {
            labels: labels(
                "request_duration_seconds_sum",
                &[("job", job), ("instance", inst)],
            ),
            samples: rows.iter().map(|(t, _, s)| (*t, *s)).collect(),
        });
    }

    // A metric whose name has a dot (only reachable through {__name__="cpu.idle"}).
    for inst in ["h1:9100", "h2:9100"] {
        let samples = ticks(t0, end, 10)
            .map(|t| (t, (rng.unit() * 1000.0).round() / 10.0))
            .collect();
        out.push(Gen {
            labels: labels("cpu.idle", &[("job", "node"), ("instance", inst)]),
            samples,
        });
    }

    // Series that stop part-way, start part-way, and pause for longer than the lookback.
    let mut session = |phase: &str, inst: &str, keep: &dyn Fn(i64) -> bool| {
        let samples = ticks(t0, end, 10)
            .filter(|t| keep(*t))
            .map(|t| (t, rng.below(50) as f64))
            .collect();
        out.push(Gen {
            labels: labels(
                "session_active",
                &[("job", "api"), ("instance", inst), ("phase", phase)],
            ),
            samples,
        });
    };
    session("early", "h1:9100", &|t| t <= t0 + 1_380);
    session("late", "h2:9100", &|t| t >= t0 + 1_620);
    session("gap", "h3:9100", &|t| t <= t0 + 1_000 || t >= t0 + 1_500);

    // Irregular spacing: gaps from 1 s to 2 min, and one of 7 minutes (longer than the lookback).
    let mut samples = Vec::new();
    let mut t = t0 + 3;
    let mut v = 0.0f64;
    let mut long_gap_done = false;
    while t <= end {
        v = r2(v + rng.unit() * 4.0 - 2.1);
        samples.push((t, v));
        let gaps = [1, 2, 3, 5, 7, 13, 29, 61, 97, 120];
        t += if !long_gap_done && t >= t0 + 2_000 {
            long_gap_done = true;
            420
        } else {
            gaps[rng.below(gaps.len() as u64) as usize]
        };
    }
    out.push(Gen {
        labels: labels(
            "irregular_gauge",
            &[("job", "batch"), ("instance", "h5:9100"), ("dc", "eu")],
        ),
        samples,
    });

    // A counter that starts part-way from a small value (rate's extrapolation stops at zero)
    // and stops part-way.
    let mut v = 3.0;
    let samples = ticks(t0 + 1_003, t0 + 2_500, 15)
        .map(|t| {
            v += (1 + rng.below(5)) as f64;
            (t, v)
        })
        .collect();
    out.push(Gen {
        labels: labels(
            "jobs_processed_total",
            &[("job", "worker"), ("instance", "h6:9100")],
        ),
        samples,
    });

    // A series without an `instance` label: the time of the last successful batch run.
    let mut last = t0 - 120;
    let samples = ticks(t0, end, 60)
        .map(|t| {
            if rng.below(5) == 0 {
                last = t - 7;
            }
            (t, last as f64)
        })
        .collect();
    out.push(Gen {
        labels: labels("batch_last_success", &[("job", "cron")]),
        samples,
    });
    out
}

/// Remote-write requests: the data cut in 10-minute windows, written in time order.
fn write_requests(data: &[Gen], t0: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut from = t0;
    while from <= t0 + SPAN_SECS {
        let to = from + 600;
        let timeseries: Vec<TimeSeries> = data
            .iter()
            .filter_map(|g| {
                let samples: Vec<Sample> = g
                    .samples
                    .iter()
                    .filter(|(t, _)| *t >= from && *t < to)
                    .map(|(t, v)| Sample {
                        value: *v,
                        timestamp: t * 1000,
                    })
                    .collect();
                (!samples.is_empty()).then(|| TimeSeries {
                    labels: g
                        .labels
                        .iter()
                        .map(|(k, v)| Label {
                            name: k.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                    samples,
                })
            })
            .collect();
        out.push(encode(&WriteRequest { timeseries }));
        from = to;
    }
    out
}

// ------------------------------------------------------------------------------------------
// Answers and their comparison.
// ------------------------------------------------------------------------------------------

/// A point: Unix ms, value.
type Point = (i64, f64);

/// A query's answer, normalised from the Prometheus HTTP API's JSON.
#[derive(Debug, Clone)]
enum Answer {
    Error { kind: String, message: String },
    Scalar(Point),
    Str(i64, String),
    Vector(Vec<(Labels, Point)>),
    Matrix(Vec<(Labels, Vec<Point>)>),
}

impl Answer {
    fn kind(&self) -> &str {
        match self {
            Answer::Error { .. } => "error",
            Answer::Scalar(_) => "scalar",
            Answer::Str(..) => "string",
            Answer::Vector(_) => "vector",
            Answer::Matrix(_) => "matrix",
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Answer::Vector(v) => v.is_empty(),
            Answer::Matrix(m) => m.is_empty(),
            _ => false,
        }
    }
}

fn parse_value(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn parse_point(v: &Value) -> Option<Point> {
    let a = v.as_array()?;
    if a.len() != 2 {
        return None;
    }
    Some((
        (a[0].as_f64()? * 1000.0).round() as i64,
        parse_value(&a[1])?,
    ))
}

fn parse_labels(v: &Value) -> Option<Labels> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// Reads an HTTP answer of the Prometheus API; anything malformed becomes an error answer of
/// kind `malformed` (which no Prometheus errorType equals).
fn parse_answer(status: u16, body: &str) -> Answer {
    let malformed = |why: &str| Answer::Error {
        kind: "malformed".into(),
        message: format!("{why}: HTTP {status}: {}", truncate(body, 300)),
    };
    let Ok(j) = serde_json::from_str::<Value>(body) else {
        return malformed("not JSON");
    };
    if j["status"] == "error" {
        return Answer::Error {
            kind: j["errorType"].as_str().unwrap_or("?").to_string(),
            message: j["error"].as_str().unwrap_or("").to_string(),
        };
    }
    if j["status"] != "success" {
        return malformed("no status");
    }
    let result = &j["data"]["result"];
    let parsed = match j["data"]["resultType"].as_str() {
        Some("scalar") => parse_point(result).map(Answer::Scalar),
        Some("string") => result.as_array().and_then(|a| {
            Some(Answer::Str(
                (a.first()?.as_f64()? * 1000.0).round() as i64,
                a.get(1)?.as_str()?.to_string(),
            ))
        }),
        Some("vector") => result.as_array().and_then(|a| {
            a.iter()
                .map(|s| Some((parse_labels(&s["metric"])?, parse_point(&s["value"])?)))
                .collect::<Option<Vec<_>>>()
                .map(Answer::Vector)
        }),
        Some("matrix") => result.as_array().and_then(|a| {
            a.iter()
                .map(|s| {
                    let points = s["values"]
                        .as_array()?
                        .iter()
                        .map(parse_point)
                        .collect::<Option<Vec<_>>>()?;
                    Some((parse_labels(&s["metric"])?, points))
                })
                .collect::<Option<Vec<_>>>()
                .map(Answer::Matrix)
        }),
        _ => None,
    };
    parsed.unwrap_or_else(|| malformed("unreadable result"))
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Values are equal within 1e-6 relative (1e-12 absolute near zero); NaN equals NaN; infinities
/// equal by sign.
fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-6)
}

fn show_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn show_point((t, v): Point) -> String {
    format!("{v}@{}", t as f64 / 1000.0)
}

/// Series by label set; a label set twice is itself a difference.
fn by_labels<T: Clone>(side: &str, rows: &[(Labels, T)]) -> Result<BTreeMap<Labels, T>, String> {
    let mut m = BTreeMap::new();
    for (l, x) in rows {
        if m.insert(l.clone(), x.clone()).is_some() {
            return Err(format!(
                "{side} answers the label set {} twice",
                show_labels(l)
            ));
        }
    }
    Ok(m)
}

/// The first difference between two series maps: series only on one side, else the first
/// series whose points differ.
fn diff_series<T>(
    want: &BTreeMap<Labels, T>,
    got: &BTreeMap<Labels, T>,
    diff: impl Fn(&T, &T) -> Option<String>,
) -> Option<String> {
    let missing: Vec<&Labels> = want.keys().filter(|l| !got.contains_key(*l)).collect();
    let extra: Vec<&Labels> = got.keys().filter(|l| !want.contains_key(*l)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut s = format!(
            "{} series vs {} expected; {} missing, {} unexpected",
            got.len(),
            want.len(),
            missing.len(),
            extra.len()
        );
        if let Some(l) = missing.first() {
            let _ = write!(s, "; missing e.g. {}", show_labels(l));
        }
        if let Some(l) = extra.first() {
            let _ = write!(s, "; unexpected e.g. {}", show_labels(l));
        }
        return Some(s);
    }
    want.iter()
        .find_map(|(l, w)| diff(w, &got[l]).map(|d| format!("{}: {d}", show_labels(l))))
}

fn diff_points(want: &[Point], got: &[Point]) -> Option<String> {
    for i in 0..want.len().max(got.len()) {
        match (want.get(i), got.get(i)) {
            (Some(w), Some(g)) if w.0 == g.0 && same_value(w.1, g.1) => continue,
            (Some(w), Some(g)) => {
                return Some(format!(
                    "point {i}: expected {}, got {}",
                    show_point(*w),
                    show_point(*g)
                ))
            }
            (Some(w), None) => {
                return Some(format!(
                    "{} points vs {} expected; first missing {}",
                    got.len(),
                    want.len(),
                    show_point(*w)
                ))
            }
            (None, Some(g)) => {
                return Some(format!(
                    "{} points vs {} expected; first unexpected {}",
                    got.len(),
                    want.len(),
                    show_point(*g)
                ))
            }
            (None, None) => unreachable!(),
        }
    }
    None
}

/// The first difference of `got` (Argus) from `want` (Prometheus), if any. `ordered`: the
/// order of an instant vector counts (sort, sort_desc); ties may come in any order, so the
/// sequence of values must be the same and the label sets the same.
fn diff(want: &Answer, got: &Answer, ordered: bool) -> Option<String> {
    match (want, got) {
        (Answer::Error { kind: wk, .. }, Answer::Error { kind: gk, message }) => {
            (wk != gk).then(|| {
                format!(
                    "errorType {gk:?} ({}), expected {wk:?}",
                    truncate(message, 200)
                )
            })
        }
        (Answer::Error { kind, message }, g) => Some(format!(
            "answered a {} where Prometheus fails with {kind:?} ({})",
            g.kind(),
            truncate(message, 200)
        )),
        (w, Answer::Error { kind, message }) => Some(format!(
            "error {kind:?} ({}) where Prometheus answers a {}",
            truncate(message, 300),
            w.kind()
        )),
        (Answer::Scalar(w), Answer::Scalar(g)) => diff_points(&[*w], &[*g]),
        (Answer::Str(wt, ws), Answer::Str(gt, gs)) => {
            (wt != gt || ws != gs).then(|| format!("string {gs:?}@{gt}, expected {ws:?}@{wt}"))
        }
        (Answer::Vector(w), Answer::Vector(g)) => {
            let (wm, gm) = match (by_labels("Prometheus", w), by_labels("Argus", g)) {
                (Ok(wm), Ok(gm)) => (wm, gm),
                (Err(e), _) | (_, Err(e)) => return Some(e),
            };
            if let Some(d) = diff_series(&wm, &gm, |a, b| diff_points(&[*a], &[*b])) {
                return Some(d);
            }
            if ordered {
                let order = |v: &[(Labels, Point)]| v.iter().map(|(_, p)| p.1).collect::<Vec<_>>();
                let (wo, go) = (order(w), order(g));
                if wo.iter().zip(&go).any(|(a, b)| !same_value(*a, *b)) {
                    return Some(format!("order differs: values {go:?}, expected {wo:?}"));
                }
            }
            None
        }
        (Answer::Matrix(w), Answer::Matrix(g)) => {
            let (wm, gm) = match (by_labels("Prometheus", w), by_labels("Argus", g)) {
                (Ok(wm), Ok(gm)) => (wm, gm),
                (Err(e), _) | (_, Err(e)) => return Some(e),
            };
            diff_series(&wm, &gm, |a, b| diff_points(a, b))
        }
        (w, g) => Some(format!("resultType {}, expected {}", g.kind(), w.kind())),
    }
}

// ------------------------------------------------------------------------------------------
// The two servers.
// ------------------------------------------------------------------------------------------

/// A Prometheus-API endpoint to query: base URL (ending before `/api/v1`) and bearer token.
#[derive(Clone)]
struct Api {
    name: &'static str,
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// How a query is evaluated. Times in Unix ms (some are not on a whole second).
#[derive(Debug, Clone, Copy)]
enum Eval {
    Instant(i64),
    Range { start: i64, end: i64, step_s: i64 },
}

fn secs(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

impl Eval {
    fn describe(&self, t0: i64) -> String {
        let rel = |ms: i64| {
            let s = (ms - t0 * 1000) as f64 / 1000.0;
            if s < 0.0 {
                format!("t0{s}")
            } else {
                format!("t0+{s}")
            }
        };
        match self {
            Eval::Instant(t) => format!("instant {}", rel(*t)),
            Eval::Range { start, end, step_s } => {
                format!("range {}..{} step {step_s}s", rel(*start), rel(*end))
            }
        }
    }
}

impl Api {
    async fn query(&self, q: &str, eval: Eval) -> Answer {
        let (path, params) = match eval {
            Eval::Instant(t) => ("query", vec![("query", q.to_string()), ("time", secs(t))]),
            Eval::Range { start, end, step_s } => (
                "query_range",
                vec![
                    ("query", q.to_string()),
                    ("start", secs(start)),
                    ("end", secs(end)),
                    ("step", step_s.to_string()),
                ],
            ),
        };
        let (status, body) = self.call(path, &params, true).await;
        parse_answer(status, &body)
    }

    /// Calls `/api/v1/<path>` with `params` as a POST form or a GET query string: the status
    /// and body (status 0 when unreachable).
    async fn call(&self, path: &str, params: &[(&str, String)], post: bool) -> (u16, String) {
        let url = format!("{}/api/v1/{path}", self.base);
        let mut req = if post {
            self.http.post(url).form(params)
        } else {
            self.http.get(url).query(params)
        };
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, format!("{} unreachable: {e}", self.name)),
        }
    }

    async fn remote_write(&self, url: &str, body: Vec<u8>) -> Result<(), String> {
        let mut req = self
            .http
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        // 204: everything taken. Argus answers 200 with the rejected samples otherwise.
        if status.as_u16() != 204 {
            return Err(format!("HTTP {status}: {}", truncate(&text, 2000)));
        }
        Ok(())
    }
}

async fn start_argus(dir: &Path) -> Platform {
    start(StandaloneConfig {
        data_dir: dir.to_path_buf(),
        ports: Ports::any(),
        agent: false,
        ..Default::default()
    })
    .await
    .expect("standalone starts")
}

// ------------------------------------------------------------------------------------------
// The test.
// ------------------------------------------------------------------------------------------

/// A query of the set with its marker.
struct Case {
    group: &'static str,
    query: String,
    expect_error: bool,
    expect_empty: bool,
}

fn cases(at: i64) -> Vec<Case> {
    let mut out = Vec::new();
    for (group, queries) in GROUPS {
        for q in *queries {
            let (expect_error, expect_empty, q) = if let Some(q) = q.strip_prefix("!err ") {
                (true, false, q)
            } else if let Some(q) = q.strip_prefix("!empty ") {
                (false, true, q)
            } else {
                (false, false, *q)
            };
            out.push(Case {
                group,
                query: q.replace("$AT", &at.to_string()),
                expect_error,
                expect_empty,
            });
        }
    }
    out
}

/// Every query is evaluated at all of these: ranges inside the data with steps from 10 s to 7
/// minutes (one not aligned to its step, one off the whole second, one starting before the
/// data and ending after it), and instants around the series that stop and start (the early
/// session's last sample is at t0+1380, so t0+1680 is exactly the end of its lookback), off the
/// whole second, at the end of the data and after it.
fn evals(t0: i64) -> Vec<Eval> {
    let s = |secs: i64| (t0 + secs) * 1000;
    let end = SPAN_SECS;
    vec![
        Eval::Range {
            start: s(600),
            end: s(end),
            step_s: 30,
        },
        Eval::Range {
            start: s(1_200),
            end: s(2_400),
            step_s: 10,
        },
        Eval::Range {
            start: s(-120),
            end: s(end),
            step_s: 60,
        },
        Eval::Range {
            start: s(905),
            end: s(2_705),
            step_s: 15,
        },
        Eval::Range {
            start: s(1_300) + 250,
            end: s(1_900),
            step_s: 20,
        },
        Eval::Range {
            start: s(-600),
            end: s(end + 300),
            step_s: 420,
        },
        Eval::Instant(s(1_500)),
        Eval::Instant(s(1_680)),
        Eval::Instant(s(1_700)),
        Eval::Instant(s(2_100)),
        Eval::Instant(s(1_234) + 500),
        Eval::Instant(s(end)),
        Eval::Instant(s(end + 17)),
    ]
}

/// What was written, as Prometheus answers `{__name__=~".+"}[1h]` at the end of the data.
fn expected_readback(data: &[Gen]) -> Answer {
    Answer::Matrix(
        data.iter()
            .map(|g| {
                (
                    g.labels.clone(),
                    g.samples.iter().map(|(t, v)| (t * 1000, *v)).collect(),
                )
            })
            .collect(),
    )
}

const READBACK: &str = r#"{__name__=~".+"}[1h]"#;

/// Waits until `api` reads back exactly what was written; the last difference otherwise.
async fn wait_readback(
    api: &Api,
    want: &Answer,
    at_ms: i64,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = api.query(READBACK, Eval::Instant(at_ms)).await;
        let d = match diff(want, &got, false) {
            None => return Ok(()),
            Some(d) => d,
        };
        if Instant::now() > deadline {
            return Err(d);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The first sample of a read-back answer whose value is not exactly the one written (a value
/// must come back bit for bit; Prometheus's JSON round-trips floats exactly).
fn inexact_readback(want: &Answer, got: &Answer) -> Option<String> {
    let (Answer::Matrix(w), Answer::Matrix(g)) = (want, got) else {
        return Some(format!("resultType {}", got.kind()));
    };
    let got: BTreeMap<&Labels, &Vec<Point>> = g.iter().map(|(l, p)| (l, p)).collect();
    let mut n = 0;
    let mut first = None;
    for (l, wp) in w {
        for (a, b) in wp
            .iter()
            .zip(got.get(l).map(|v| v.as_slice()).unwrap_or_default())
        {
            if a.1 != b.1 {
                n += 1;
                first.get_or_insert_with(|| {
                    format!("{}: wrote {:?}, read {:?}", show_labels(l), a.1, b.1)
                });
            }
        }
    }
    first.map(|f| format!("{n} samples read back inexactly, e.g. {f}"))
}

/// Every query at every evaluation: answers[case][eval].
async fn run_all(api: &Api, cases: &[Case], evals: &[Eval]) -> Vec<Vec<Answer>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in cases.iter().enumerate() {
        for (j, e) in evals.iter().enumerate() {
            let (api, q, sem, e) = (api.clone(), c.query.clone(), sem.clone(), *e);
            set.spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                (i, j, api.query(&q, e).await)
            });
        }
    }
    let mut out: Vec<Vec<Option<Answer>>> = vec![vec![None; evals.len()]; cases.len()];
    while let Some(r) = set.join_next().await {
        let (i, j, a) = r.expect("query task");
        out[i][j] = Some(a);
    }
    out.into_iter()
        .map(|row| row.into_iter().map(|a| a.unwrap()).collect())
        .collect()
}

/// The oracle's own checks: the query set means what its markers say.
fn check_oracle(cases: &[Case], evals: &[Eval], answers: &[Vec<Answer>]) -> Vec<String> {
    let mut problems = Vec::new();
    for (c, row) in cases.iter().zip(answers) {
        let fail = |why: String| format!("[{}] {}: {why}", c.group, c.query);
        let err = |a: &Answer| matches!(a, Answer::Error { .. });
        if let Some(Answer::Error { message, .. }) = row
            .iter()
            .find(|a| matches!(a, Answer::Error { kind, .. } if kind == "malformed"))
        {
            problems.push(fail(format!("Prometheus: {message}")));
            continue;
        }
        if c.expect_error {
            if let Some(a) = row.iter().find(|a| !err(a)) {
                problems.push(fail(format!(
                    "marked !err but Prometheus answers a {}",
                    a.kind()
                )));
            }
            continue;
        }
        // A range query of a string or a range vector must fail; anything else must answer.
        let instants = evals
            .iter()
            .zip(row)
            .filter(|(e, _)| matches!(e, Eval::Instant(_)));
        let range_must_fail = instants
            .clone()
            .any(|(_, a)| matches!(a, Answer::Str(..) | Answer::Matrix(_)));
        let mut bad = None;
        for (e, a) in evals.iter().zip(row) {
            let must_fail = range_must_fail && matches!(e, Eval::Range { .. });
            if must_fail != err(a) {
                bad = Some(format!("Prometheus answers a {} ({e:?})", a.kind()));
                break;
            }
        }
        if let Some(b) = bad {
            problems.push(fail(b));
            continue;
        }
        let empty = row.iter().all(|a| err(a) || a.is_empty());
        if c.expect_empty != empty {
            problems.push(fail(format!(
                "marked {}but Prometheus answers {}",
                if c.expect_empty { "!empty " } else { "" },
                if empty { "nothing" } else { "series" }
            )));
        }
    }
    problems
}

fn is_sorted_query(q: &str) -> bool {
    q.starts_with("sort(") || q.starts_with("sort_desc(")
}

/// The metadata endpoints compared (path, form parameters; `$START`/`$END` are replaced).
const METADATA: &[(&str, &[(&str, &str)])] = &[
    ("series", &[("match[]", "http_requests_total")]),
    ("series", &[("match[]", r#"{__name__=~".+"}"#)]),
    (
        "series",
        &[("match[]", r#"up{job="api"}"#), ("match[]", "build_info")],
    ),
    ("series", &[("match[]", r#"{__name__="cpu.idle"}"#)]),
    (
        "series",
        &[
            ("match[]", r#"session_active{phase="early"}"#),
            ("start", "$LATE"),
        ],
    ),
    ("labels", &[]),
    ("labels", &[("match[]", "request_duration_seconds_bucket")]),
    ("label/job/values", &[]),
    ("label/__name__/values", &[]),
    ("label/instance/values", &[]),
    ("label/le/values", &[("match[]", r#"{job="db"}"#)]),
    ("label/nonexistent/values", &[]),
];

/// A metadata answer as a sorted list of strings (label sets shown as strings), or the error.
fn metadata_answer(status: u16, body: &str) -> Result<Vec<String>, String> {
    let j: Value = serde_json::from_str(body)
        .map_err(|_| format!("HTTP {status}, not JSON: {}", truncate(body, 200)))?;
    if j["status"] != "success" {
        return Err(format!("{}", j["errorType"]));
    }
    let mut out = j["data"]
        .as_array()
        .ok_or_else(|| format!("no data array: {}", truncate(body, 200)))?
        .iter()
        .map(|v| match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => parse_labels(v).map(|l| show_labels(&l)),
        })
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| format!("unreadable data: {}", truncate(body, 200)))?;
    out.sort();
    Ok(out)
}

/// How two answers to a Grafana call must agree.
#[derive(Debug, Clone, Copy)]
enum Same {
    /// The same `data`, exactly.
    Data,
    /// The same keys in `data` (values are each server's own, e.g. versions).
    Keys,
    /// The same PromQL answer (as the query comparison judges it).
    Answer,
    /// The same strings or label sets in `data`, in any order.
    Sorted,
    /// Both errors, of the same type and HTTP status.
    Error,
}

/// One Grafana call: POST form (`true`) or GET, path, parameters, how answers must agree.
type GrafanaCall = (
    bool,
    &'static str,
    &'static [(&'static str, &'static str)],
    Same,
);

/// The calls Grafana's Prometheus data source makes (health check, query editor, variables,
/// panels), each as GET or POST form; `$START`/`$END` are replaced.
const GRAFANA: &[GrafanaCall] = &[
    (false, "status/buildinfo", &[], Same::Keys),
    (
        true,
        "query",
        &[("query", "1+1"), ("time", "$END")],
        Same::Answer,
    ),
    (
        false,
        "query",
        &[("query", "up"), ("time", "$END")],
        Same::Answer,
    ),
    (
        true,
        "query",
        &[("query", "up"), ("time", "$END")],
        Same::Answer,
    ),
    (
        true,
        "query_range",
        &[
            ("query", "sum by (job) (rate(http_requests_total[5m]))"),
            ("start", "$START"),
            ("end", "$END"),
            ("step", "60"),
        ],
        Same::Answer,
    ),
    (
        false,
        "query_range",
        &[
            ("query", "up"),
            ("start", "$START"),
            ("end", "$END"),
            ("step", "1m"),
        ],
        Same::Answer,
    ),
    (
        false,
        "query_exemplars",
        &[
            ("query", "http_requests_total"),
            ("start", "$START"),
            ("end", "$END"),
        ],
        Same::Data,
    ),
    (false, "metadata", &[], Same::Data),
    (
        false,
        "metadata",
        &[("metric", "http_requests_total"), ("limit", "1")],
        Same::Data,
    ),
    (
        true,
        "labels",
        &[("start", "$START"), ("end", "$END")],
        Same::Sorted,
    ),
    (
        true,
        "series",
        &[("match[]", "up"), ("start", "$START"), ("end", "$END")],
        Same::Sorted,
    ),
    (
        false,
        "label/job/values",
        &[("match[]", "up"), ("start", "$START"), ("end", "$END")],
        Same::Sorted,
    ),
    (false, "rules", &[], Same::Data),
    (false, "alerts", &[], Same::Data),
    (
        false,
        "format_query",
        &[(
            "query",
            "sum(rate(http_requests_total{job=~\"a.*\"}[5m]))by(job)",
        )],
        Same::Data,
    ),
    (false, "query", &[("query", "sum(rate(x[5m])")], Same::Error),
    (
        true,
        "query_range",
        &[
            ("query", "up"),
            ("start", "$END"),
            ("end", "$START"),
            ("step", "60"),
        ],
        Same::Error,
    ),
    (false, "series", &[], Same::Error),
];

/// Where a Grafana call's answers disagree, if they do.
fn grafana_diff(how: Same, want: (u16, &str), got: (u16, &str)) -> Option<String> {
    if want.0 != got.0 {
        return Some(format!(
            "HTTP {}, expected {}: {}",
            got.0,
            want.0,
            truncate(got.1, 300)
        ));
    }
    let json = |b: &str| serde_json::from_str::<Value>(b).unwrap_or(Value::Null);
    let (w, g) = (json(want.1), json(got.1));
    match how {
        Same::Data => {
            (w["data"] != g["data"]).then(|| format!("data {}, expected {}", g["data"], w["data"]))
        }
        Same::Keys => {
            let keys = |v: &Value| {
                v["data"]
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            (keys(&w) != keys(&g)).then(|| format!("keys {:?}, expected {:?}", keys(&g), keys(&w)))
        }
        Same::Answer => diff(
            &parse_answer(want.0, want.1),
            &parse_answer(got.0, got.1),
            false,
        ),
        Same::Sorted => {
            let (a, b) = (
                metadata_answer(want.0, want.1),
                metadata_answer(got.0, got.1),
            );
            (a != b).then(|| format!("{b:?}, expected {a:?}"))
        }
        Same::Error => {
            (w["status"] != "error" || g["status"] != "error" || w["errorType"] != g["errorType"])
                .then(|| {
                    format!(
                        "{}, expected an error like {}",
                        truncate(got.1, 300),
                        truncate(want.1, 300)
                    )
                })
        }
    }
}

/// One difference, for the report.
struct Row {
    group: &'static str,
    query: String,
    what: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_matches_prometheus() {
    let Some(bin) = binary(
        "ARGUS_TEST_PROMETHEUS_BIN",
        "prometheus",
        "a Prometheus binary",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prometheus")).unwrap();
    let mut prom = Peer::start(Kind::Prometheus, &bin, &dir.path().join("prometheus")).await;
    let argus = start_argus(&dir.path().join("argus")).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let oracle = Api {
        name: "Prometheus",
        base: prom.url.clone(),
        token: None,
        http: http.clone(),
    };
    let subject = Api {
        name: "Argus",
        base: format!("{}/prometheus", argus.web_url),
        token: Some(argus.credentials.api_token.clone()),
        http: http.clone(),
    };
    let writer = Api {
        name: "Argus transfer",
        base: argus.transfer_url.clone(),
        token: Some(argus.credentials.agent_token.clone()),
        http: http.clone(),
    };

    // The data, 50 minutes back from now, t0 on a whole minute so that steps and subquery
    // resolutions fall on the same sample times every run.
    let now = argus_core::time::now_secs();
    let t0 = (now - SPAN_SECS - 60).div_euclid(60) * 60;
    let end_ms = (t0 + SPAN_SECS) * 1000;
    let data = dataset(t0);
    let total: usize = data.iter().map(|g| g.samples.len()).sum();
    assert!(data
        .iter()
        .all(|g| g.samples.iter().all(|(_, v)| v.is_finite())));
    for body in write_requests(&data, t0) {
        oracle
            .remote_write(&format!("{}/api/v1/write", prom.url), body.clone())
            .await
            .unwrap_or_else(|e| panic!("Prometheus refused a remote write: {e}"));
        writer
            .remote_write(&format!("{}/api/v1/write", argus.transfer_url), body)
            .await
            .unwrap_or_else(|e| panic!("Argus's transfer refused a remote write: {e}"));
    }
    let want = expected_readback(&data);
    if let Err(d) = wait_readback(&oracle, &want, end_ms, Duration::from_secs(30)).await {
        panic!("Prometheus does not read back the {total} samples written: {d}");
    }
    let back = oracle.query(READBACK, Eval::Instant(end_ms)).await;
    if let Some(d) = inexact_readback(&want, &back) {
        panic!("Prometheus does not read back the samples exactly: {d}");
    }

    let at = t0 + 1_800;
    let cases = cases(at);
    let evals = evals(t0);
    let started = Instant::now();
    let expected = run_all(&oracle, &cases, &evals).await;
    let problems = check_oracle(&cases, &evals, &expected);
    assert!(
        problems.is_empty(),
        "the query set does not mean what its markers say ({} problems):\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "promql conformance: {} series, {total} samples; {} queries × {} evaluations answered by \
         Prometheus in {:?}",
        data.len(),
        cases.len(),
        evals.len(),
        started.elapsed()
    );
    if std::env::var("ARGUS_PROMQL_ORACLE_ONLY").is_ok_and(|v| !v.is_empty() && v != "0") {
        eprintln!("promql conformance: ARGUS_PROMQL_ORACLE_ONLY set, Argus not compared");
        argus.stop().await;
        let _ = prom.child.kill().await;
        return;
    }

    // Argus must read back exactly the series and samples written (labels included).
    let readback = wait_readback(&subject, &want, end_ms, Duration::from_secs(60)).await;
    let started = Instant::now();
    let got = run_all(&subject, &cases, &evals).await;
    let argus_time = started.elapsed();

    let mut rows = Vec::new();
    if let Err(d) = &readback {
        rows.push(Row {
            group: "data model",
            query: READBACK.to_string(),
            what: format!("Argus does not read back what was written: {d}"),
        });
    } else if let Some(d) =
        inexact_readback(&want, &subject.query(READBACK, Eval::Instant(end_ms)).await)
    {
        rows.push(Row {
            group: "data model",
            query: READBACK.to_string(),
            what: format!("Argus does not read back the values exactly: {d}"),
        });
    }
    // The metadata endpoints, over the data's span.
    let span = [
        ("$START", (t0 - 60).to_string()),
        ("$END", (t0 + SPAN_SECS + 60).to_string()),
        ("$LATE", (t0 + 2_000).to_string()),
    ];
    for (path, params) in METADATA {
        let mut form: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| {
                let v = span.iter().fold(v.to_string(), |v, (p, x)| v.replace(p, x));
                (*k, v)
            })
            .collect();
        if !form.iter().any(|(k, _)| *k == "start") {
            form.push(("start", span[0].1.clone()));
        }
        form.push(("end", span[1].1.clone()));
        let (s, b) = oracle.call(path, &form, false).await;
        let w = metadata_answer(s, &b)
            .unwrap_or_else(|e| panic!("Prometheus's /api/v1/{path} {form:?}: {e}"));
        let (s, b) = subject.call(path, &form, false).await;
        let g = metadata_answer(s, &b);
        if g.as_ref() != Ok(&w) {
            rows.push(Row {
                group: "metadata API",
                query: format!("/api/v1/{path} {params:?}"),
                what: match g {
                    Err(e) => format!("error {e}, expected {} items", w.len()),
                    Ok(g) => format!(
                        "{} items, expected {}; missing {:?}; unexpected {:?}",
                        g.len(),
                        w.len(),
                        w.iter()
                            .filter(|x| !g.contains(x))
                            .take(3)
                            .collect::<Vec<_>>(),
                        g.iter()
                            .filter(|x| !w.contains(x))
                            .take(3)
                            .collect::<Vec<_>>()
                    ),
                },
            });
        }
    }
    // Grafana's data-source calls, request by request.
    for (post, path, params, how) in GRAFANA {
        let form: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    span.iter().fold(v.to_string(), |v, (p, x)| v.replace(p, x)),
                )
            })
            .collect();
        let (ws, wb) = oracle.call(path, &form, *post).await;
        assert!(
            matches!(how, Same::Error) != (ws == 200),
            "Prometheus's answer to {path} {form:?} is not what the case expects: HTTP {ws} {wb}"
        );
        let (gs, gb) = subject.call(path, &form, *post).await;
        if let Some(what) = grafana_diff(*how, (ws, &wb), (gs, &gb)) {
            rows.push(Row {
                group: "Grafana calls",
                query: format!(
                    "{} /api/v1/{path} {params:?}",
                    if *post { "POST" } else { "GET" }
                ),
                what,
            });
        }
    }
    // `ARGUS_PROMQL_DEBUG=<query>` prints both sides' answers to that query at every evaluation.
    let debug = std::env::var("ARGUS_PROMQL_DEBUG").unwrap_or_default();
    let mut differing = 0;
    for (i, c) in cases.iter().enumerate() {
        if c.query == debug {
            for (j, e) in evals.iter().enumerate() {
                eprintln!(
                    "{}\n  Prometheus: {:?}\n  Argus:      {:?}",
                    e.describe(t0),
                    expected[i][j],
                    got[i][j]
                );
            }
        }
        let mut first = None;
        let mut n = 0;
        for (j, e) in evals.iter().enumerate() {
            let ordered = matches!(e, Eval::Instant(_)) && is_sorted_query(&c.query);
            if let Some(what) = diff(&expected[i][j], &got[i][j], ordered) {
                n += 1;
                first.get_or_insert_with(|| format!("{}: {what}", e.describe(t0)));
            }
        }
        if let Some(first) = first {
            differing += 1;
            rows.push(Row {
                group: c.group,
                query: c.query.clone(),
                what: format!("{n} of {} evaluations differ; first: {first}", evals.len()),
            });
        }
    }
    argus.stop().await;
    let _ = prom.child.kill().await;

    eprintln!(
        "promql conformance: Argus answered {} evaluations in {argus_time:?}; {differing} of {} \
         queries differ",
        cases.len() * evals.len(),
        cases.len()
    );
    if rows.is_empty() {
        return;
    }
    let mut report = format!(
        "Argus differs from Prometheus ({differing} of {} queries; t0 = {t0}, data \
         t0..t0+{SPAN_SECS}; `@ {at}` is t0+1800):\n\
         | category | query | difference |\n|---|---|---|\n",
        cases.len()
    );
    for r in &rows {
        let _ = writeln!(
            report,
            "| {} | `{}` | {} |",
            r.group,
            r.query,
            r.what.replace('|', "\\|")
        );
    }
    if let Ok(path) = std::env::var("ARGUS_PROMQL_REPORT") {
        std::fs::write(&path, &report).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    panic!("{report}");
}

#[test]
fn the_comparison_tells_differences_apart() {
    let l = |v: &str| labels("m", &[("instance", v)]);
    let vec = |rows: &[(&str, f64)]| {
        Answer::Vector(rows.iter().map(|(i, v)| (l(i), (1000, *v))).collect())
    };
    let a = vec(&[("a", 1.0), ("b", f64::NAN)]);
    assert!(diff(&a, &vec(&[("b", f64::NAN), ("a", 1.0 + 1e-9)]), false).is_none());
    assert!(
        diff(&a, &vec(&[("b", f64::NAN), ("a", 1.0)]), true).is_some(),
        "order counts"
    );
    assert!(diff(&a, &vec(&[("a", 1.0), ("b", 0.0)]), false).is_some());
    assert!(diff(&a, &vec(&[("a", 1.0)]), false).is_some());
    assert!(diff(&a, &vec(&[("a", 1.0), ("b", f64::NAN), ("c", 1.0)]), false).is_some());
    assert!(diff(&a, &vec(&[("a", 1.0), ("a", 1.0), ("b", f64::NAN)]), false).is_some());
    assert!(same_value(f64::INFINITY, f64::INFINITY));
    assert!(!same_value(f64::INFINITY, f64::NEG_INFINITY));
    assert!(!same_value(1.0, 1.00001));
    let err = |k: &str| Answer::Error {
        kind: k.into(),
        message: String::new(),
    };
    assert!(diff(&err("bad_data"), &err("bad_data"), false).is_none());
    assert!(diff(&err("bad_data"), &err("execution"), false).is_some());
    assert!(diff(&err("bad_data"), &a, false).is_some());
    assert!(diff(&a, &err("bad_data"), false).is_some());
    let m = |pts: &[(i64, f64)]| Answer::Matrix(vec![(l("a"), pts.to_vec())]);
    assert!(diff(
        &m(&[(1000, 1.0), (2000, 2.0)]),
        &m(&[(1000, 1.0), (2000, 2.0)]),
        false
    )
    .is_none());
    assert!(diff(
        &m(&[(1000, 1.0), (2000, 2.0)]),
        &m(&[(1000, 1.0), (3000, 2.0)]),
        false
    )
    .is_some());
    assert!(diff(&m(&[(1000, 1.0), (2000, 2.0)]), &m(&[(1000, 1.0)]), false).is_some());
    assert!(diff(&Answer::Scalar((1000, 1.0)), &m(&[(1000, 1.0)]), false).is_some());
    // The HTTP shapes.
    let v = parse_answer(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1.5,"+Inf"]}]}}"#,
    );
    assert!(matches!(&v, Answer::Vector(r) if r[0].1 == (1500, f64::INFINITY)));
    let e = parse_answer(
        400,
        r#"{"status":"error","errorType":"bad_data","error":"x"}"#,
    );
    assert!(matches!(&e, Answer::Error { kind, .. } if kind == "bad_data"));
    assert!(
        matches!(parse_answer(404, "not found"), Answer::Error { kind, .. } if kind == "malformed")
    );
}

#[test]
fn the_data_set_is_deterministic_and_covers_its_categories() {
    let a = dataset(1_700_000_000);
    let b = dataset(1_700_000_000);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.labels, y.labels);
        assert_eq!(x.samples, y.samples);
    }
    fn named<'a>(data: &'a [Gen], name: &'a str) -> impl Iterator<Item = &'a Gen> + 'a {
        data.iter().filter(move |g| g.labels["__name__"] == name)
    }
    let series = |name: &'static str| named(&a, name);
    // Counters reset, gauges go negative and fractional, spacing is irregular somewhere.
    assert!(series("http_requests_total").all(|g| g.samples.windows(2).any(|w| w[1].1 < w[0].1)));
    assert!(series("node_temperature_celsius").any(|g| g.samples.iter().any(|s| s.1 < 0.0)));
    assert!(
        series("node_temperature_celsius").any(|g| g.samples.iter().any(|s| s.1.fract() != 0.0))
    );
    let irregular = series("irregular_gauge").next().unwrap();
    assert!(irregular.samples.windows(2).any(|w| w[1].0 - w[0].0 > 300));
    // One histogram lacks +Inf; one has buckets out of order.
    let bucket = |inst: &str, le: &str| {
        series("request_duration_seconds_bucket")
            .find(|g| g.labels["instance"] == inst && g.labels["le"] == le)
            .map(|g| g.samples.last().unwrap().1)
    };
    assert!(bucket("h3:9100", "+Inf").is_none());
    assert!(bucket("h4:9100", "0.5").unwrap() > bucket("h4:9100", "1").unwrap());
    // Every series is time-ordered within the span (Prometheus refuses out-of-order samples).
    for g in &a {
        assert!(
            g.samples.windows(2).all(|w| w[0].0 < w[1].0),
            "{:?}",
            g.labels
        );
        assert!(g
            .samples
            .iter()
            .all(|s| (1_700_000_000..=1_700_000_000 + SPAN_SECS).contains(&s.0)));
    }
}
