//! Dashboards: a typed, validated document of variables and rows of panels over PromQL
//! queries, stored per tenant like the other kinds (`/api/v1/dashboards`), plus the built-in
//! dashboards every tenant gets (served read-only, never stored). Panels are drawn by the
//! console in the browser from the Prometheus API; here the document is only checked: every
//! expression parses with the engine's parser once its `$variables` are stood in for.

use crate::api::kinds::{parse, present, Kind};
use crate::auth::{Auth, Role};
use crate::server::State;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use argus_promql::Query;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Most variables a dashboard may have.
pub(crate) const MAX_VARIABLES: usize = 16;
/// Most rows.
pub(crate) const MAX_ROWS: usize = 24;
/// Most panels, over all rows (each is one or more queries per load).
pub(crate) const MAX_PANELS: usize = 48;
/// Most queries of one panel.
pub(crate) const MAX_TARGETS: usize = 8;
/// Most thresholds of one panel.
pub(crate) const MAX_THRESHOLDS: usize = 8;
/// Longest expression, in bytes.
pub(crate) const MAX_EXPR_BYTES: usize = 8192;
/// Longest relative range: the store keeps raw points 15 days, rollups longer.
const MAX_RANGE_SECS: u64 = 365 * 86_400;

fn hour() -> u64 {
    3600
}

/// A dashboard as created, replaced, exported and imported.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DashboardIn {
    /// Shown in lists and at the top of the page.
    pub title: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Selectors at the top of the page, used in expressions as `$name`.
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// The default time range: the last this many seconds.
    #[serde(default = "hour")]
    pub range_secs: u64,
    /// Redraw every this many seconds; 0: never.
    #[serde(default)]
    pub refresh_secs: u64,
    /// Rows of panels.
    #[serde(default)]
    pub rows: Vec<Row>,
}

/// Where a variable's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VarKind {
    /// The values of `label` over the series of `metric` (every series when no metric).
    LabelValues,
    /// The values of `label` over the series a selector (`query`) matches.
    Query,
    /// The tenant's host groups; `$var` stands for the group's members as a regex
    /// alternation (`a|b`), to use as `endpoint=~"$var"`.
    HostGroup,
}

/// A dashboard variable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Variable {
    /// `[A-Za-z_][A-Za-z0-9_]*`, used as `$name` or `${name}`.
    pub name: String,
    /// Where the values come from.
    #[serde(rename = "type")]
    pub kind: VarKind,
    /// The label whose values are offered (`label_values`, `query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The metric whose series are looked at (`label_values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// A series selector (`query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Several values may be picked; `$name` is then a regex alternation.
    #[serde(default)]
    pub multi: bool,
    /// An "All" choice (`.*`).
    #[serde(default)]
    pub include_all: bool,
    /// The value picked when the URL names none (else the first value, or All).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A row of panels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Row {
    /// Shown above the row; may be empty.
    #[serde(default)]
    pub title: String,
    /// The panels, left to right.
    #[serde(default)]
    pub panels: Vec<Panel>,
}

/// What a panel draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PanelKind {
    /// A chart over the range (`query_range`).
    Timeseries,
    /// The current value of each series, coloured by thresholds.
    Stat,
    /// The current values as a sortable table.
    Table,
    /// The `limit` largest current values as bars.
    Bargauge,
    /// The values of a host-group variable (`variable`) with no series in the query's answer:
    /// hosts not reporting.
    Missing,
    /// The tenant's open problems from the alarm service, counted by priority and listed.
    Alerts,
}

/// How a time series panel draws several series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Style {
    /// One line each.
    #[default]
    Lines,
    /// Stacked areas.
    Stacked,
}

/// How values are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Unit {
    /// Plain numbers.
    #[default]
    #[serde(rename = "none")]
    None,
    /// `42.1%`.
    #[serde(rename = "percent")]
    Percent,
    /// `1.5 GiB`.
    #[serde(rename = "bytes")]
    Bytes,
    /// `1.5 MiB/s`.
    #[serde(rename = "bytes/s")]
    BytesPerSec,
    /// `1.5 s`, `3 ms`.
    #[serde(rename = "seconds")]
    Seconds,
    /// `1.5k ops/s`.
    #[serde(rename = "ops")]
    Ops,
}

/// The colours a threshold may take (named, so no style text reaches the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Color {
    /// OK.
    Green,
    /// Neutral.
    Blue,
    /// Warning.
    Yellow,
    /// Worse.
    Orange,
    /// Bad.
    Red,
}

/// From `value` up, a value is drawn in `color` (the highest threshold reached wins); a time
/// series panel draws a line at `value`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Threshold {
    /// Where it starts.
    pub value: f64,
    /// Its colour.
    pub color: Color,
}

/// One query of a panel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    /// PromQL, with `$variables`.
    pub expr: String,
    /// A series' name in legends and tables: text with `{{label}}` replaced by the label's value
    /// (empty: every label).
    #[serde(default)]
    pub legend: String,
}

/// A panel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Panel {
    /// What it draws.
    #[serde(rename = "type")]
    pub kind: PanelKind,
    /// Shown above it.
    #[serde(default)]
    pub title: String,
    /// Lines or stacked (`timeseries`).
    #[serde(default)]
    pub style: Style,
    /// Its queries (none for `alerts`, one for `missing`).
    #[serde(default)]
    pub targets: Vec<Target>,
    /// How values are written.
    #[serde(default)]
    pub unit: Unit,
    /// The axis' (or bar's) lower end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The axis' (or bar's) upper end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Colours by value, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Threshold>,
    /// How many bars (`bargauge`, default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The host-group variable whose hosts are looked for (`missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// Also draw, as dashed lines, the thresholds of the tenant's strategies on the metrics
    /// its queries select (`timeseries`); see [`strategy_lines`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub strategy_thresholds: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Variables every dashboard has: the step of the chart and the range shown, as durations.
const BUILTIN_VARS: &[&str] = &["__interval", "__range"];

fn is_var_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `expr` with each `$name` and `${name}` stood in for by text of the same length, so that the
/// parser's positions are the user's: a name (valid as a label value, a regex and an
/// identifier) for a dashboard variable, a duration for `$__interval` and `$__range`. Err: the
/// first reference to a variable the dashboard does not have.
pub(crate) fn stand_in(expr: &str, known: &[&str]) -> Result<String, String> {
    let b = expr.as_bytes();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let ch = expr[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let braced = b.get(i + 1) == Some(&b'{');
        let start = i + 1 + usize::from(braced);
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        let closed = !braced || b.get(end) == Some(&b'}');
        if name.is_empty() || !closed || !is_var_name(name) {
            out.push('$');
            i += 1;
            continue;
        }
        let len = end + usize::from(braced) - i;
        if BUILTIN_VARS.contains(&name) {
            // A duration as long as the reference: leading zeros are still one minute.
            out.push_str(&"0".repeat(len - 2));
            out.push_str("1m");
        } else if known.contains(&name) {
            out.push('_');
            out.push_str(name);
            out.push_str(&"_".repeat(len - 1 - name.len()));
        } else {
            return Err(format!(
                "${name} is not a variable of this dashboard (variables: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        i += len;
    }
    Ok(out)
}

fn check_text(field: &str, s: &str, max: usize, required: bool) -> Result<(), ApiError> {
    if required && s.trim().is_empty() {
        return Err(ApiError::bad_field(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(ApiError::bad_field(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad_field(
            field,
            "must not hold control characters",
        ));
    }
    Ok(())
}

fn check_label_name(field: &str, s: &str) -> Result<(), ApiError> {
    if !is_var_name(s) {
        return Err(ApiError::bad_field(
            field,
            format!("{s:?} is not a label name ([A-Za-z_][A-Za-z0-9_]*)"),
        ));
    }
    Ok(())
}

/// An expression of a panel: it must parse (variables stood in for) and give what a panel can
/// show, an instant vector or a scalar.
fn check_expr(field: &str, expr: &str, known: &[&str]) -> Result<(), ApiError> {
    if expr.trim().is_empty() {
        return Err(ApiError::bad_field(field, "must not be empty"));
    }
    if expr.len() > MAX_EXPR_BYTES {
        return Err(ApiError::bad_field(
            field,
            format!("must be at most {MAX_EXPR_BYTES} bytes"),
        ));
    }
    let text = stand_in(expr, known).map_err(|e| ApiError::bad_field(field, e))?;
    let q = Query::parse(&text).map_err(|e| ApiError::bad_field(field, e.message))?;
    match q.value_type() {
        "vector" | "scalar" => Ok(()),
        other => Err(ApiError::bad_field(
            field,
            format!(
                "a panel's query must give an instant vector or a scalar, this gives a {other}"
            ),
        )),
    }
}

impl DashboardIn {
    /// Every check of a save; the error names the field by its path (`rows[0].panels[1].targets[0].expr`).
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        check_text("title", &self.title, 200, true)?;
        check_text("description", &self.description, 4096, false)?;
        if self.range_secs < 60 || self.range_secs > MAX_RANGE_SECS {
            return Err(ApiError::bad_field(
                "range_secs",
                format!("must be between 60 and {MAX_RANGE_SECS} seconds"),
            ));
        }
        if self.refresh_secs != 0 && !(5..=86_400).contains(&self.refresh_secs) {
            return Err(ApiError::bad_field(
                "refresh_secs",
                "must be 0 (off) or between 5 and 86400 seconds",
            ));
        }
        if self.variables.len() > MAX_VARIABLES {
            return Err(ApiError::bad_field(
                "variables",
                format!("at most {MAX_VARIABLES} variables"),
            ));
        }
        let mut known: Vec<&str> = Vec::new();
        for (i, v) in self.variables.iter().enumerate() {
            let f = |x: &str| format!("variables[{i}].{x}");
            if !is_var_name(&v.name) || v.name.starts_with("__") {
                return Err(ApiError::bad_field(
                    f("name"),
                    format!(
                        "{:?} is not a variable name ([A-Za-z_][A-Za-z0-9_]*, not starting with __)",
                        v.name
                    ),
                ));
            }
            if known.contains(&v.name.as_str()) {
                return Err(ApiError::bad_field(
                    f("name"),
                    format!("a variable {} comes earlier", v.name),
                ));
            }
            match v.kind {
                VarKind::LabelValues | VarKind::Query => {
                    let label = v
                        .label
                        .as_deref()
                        .ok_or_else(|| ApiError::bad_field(f("label"), "required"))?;
                    check_label_name(&f("label"), label)?;
                }
                VarKind::HostGroup => {
                    if v.label.is_some() || v.metric.is_some() || v.query.is_some() {
                        return Err(ApiError::bad_field(
                            f("type"),
                            "a host_group variable takes no label, metric or query",
                        ));
                    }
                }
            }
            match (v.kind, &v.metric, &v.query) {
                (VarKind::LabelValues, Some(m), _) => {
                    crate::api::kinds::check_ident(m)
                        .map_err(|e| ApiError::bad_field(f("metric"), e))?;
                }
                (VarKind::Query, _, None) => {
                    return Err(ApiError::bad_field(f("query"), "required"))
                }
                (VarKind::Query, _, Some(q)) => {
                    // Earlier variables may narrow it (`{endpoint=~"$host"}`).
                    let text =
                        stand_in(q, &known).map_err(|e| ApiError::bad_field(f("query"), e))?;
                    Query::parse_selector(&text)
                        .map_err(|e| ApiError::bad_field(f("query"), e.message))?;
                }
                _ => {}
            }
            if v.kind != VarKind::Query && v.query.is_some() {
                return Err(ApiError::bad_field(
                    f("query"),
                    "only a query variable takes a query",
                ));
            }
            if v.kind == VarKind::Query && v.metric.is_some() {
                return Err(ApiError::bad_field(
                    f("metric"),
                    "a query variable selects its series with query",
                ));
            }
            if let Some(d) = &v.default {
                check_text(&f("default"), d, 1024, false)?;
            }
            known.push(&v.name);
        }
        if self.rows.len() > MAX_ROWS {
            return Err(ApiError::bad_field(
                "rows",
                format!("at most {MAX_ROWS} rows"),
            ));
        }
        let panels: usize = self.rows.iter().map(|r| r.panels.len()).sum();
        if panels > MAX_PANELS {
            return Err(ApiError::bad_field(
                "rows",
                format!("at most {MAX_PANELS} panels in all, got {panels}"),
            ));
        }
        for (r, row) in self.rows.iter().enumerate() {
            check_text(&format!("rows[{r}].title"), &row.title, 200, false)?;
            for (p, panel) in row.panels.iter().enumerate() {
                panel.check(&format!("rows[{r}].panels[{p}]"), self, &known)?;
            }
        }
        Ok(())
    }
}

impl Panel {
    fn check(&self, at: &str, d: &DashboardIn, known: &[&str]) -> Result<(), ApiError> {
        let f = |x: &str| format!("{at}.{x}");
        check_text(&f("title"), &self.title, 200, false)?;
        let targets = match self.kind {
            PanelKind::Alerts => 0..=0,
            PanelKind::Missing => 1..=1,
            _ => 1..=MAX_TARGETS,
        };
        if !targets.contains(&self.targets.len()) {
            let want = match self.kind {
                PanelKind::Alerts => "an alerts panel has no query".to_string(),
                PanelKind::Missing => "a missing panel has exactly one query".to_string(),
                _ => format!("give 1 to {MAX_TARGETS} queries"),
            };
            return Err(ApiError::bad_field(f("targets"), want));
        }
        for (t, target) in self.targets.iter().enumerate() {
            check_expr(&f(&format!("targets[{t}].expr")), &target.expr, known)?;
            check_text(
                &f(&format!("targets[{t}].legend")),
                &target.legend,
                500,
                false,
            )?;
        }
        if self.style != Style::Lines && self.kind != PanelKind::Timeseries {
            return Err(ApiError::bad_field(
                f("style"),
                "only a timeseries panel is stacked",
            ));
        }
        for (k, v) in [("min", self.min), ("max", self.max)] {
            if v.is_some_and(|x| !x.is_finite()) {
                return Err(ApiError::bad_field(f(k), "must be a finite number"));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            if lo >= hi {
                return Err(ApiError::bad_field(f("max"), "must be above min"));
            }
        }
        if self.thresholds.len() > MAX_THRESHOLDS {
            return Err(ApiError::bad_field(
                f("thresholds"),
                format!("at most {MAX_THRESHOLDS} thresholds"),
            ));
        }
        for (i, t) in self.thresholds.iter().enumerate() {
            if !t.value.is_finite() {
                return Err(ApiError::bad_field(
                    f(&format!("thresholds[{i}].value")),
                    "must be a finite number",
                ));
            }
            if i > 0 && t.value <= self.thresholds[i - 1].value {
                return Err(ApiError::bad_field(
                    f(&format!("thresholds[{i}].value")),
                    "thresholds go up: must be above the one before",
                ));
            }
        }
        if self.strategy_thresholds && self.kind != PanelKind::Timeseries {
            return Err(ApiError::bad_field(
                f("strategy_thresholds"),
                "only a timeseries panel draws the strategies' thresholds",
            ));
        }
        match (self.kind, self.limit) {
            (PanelKind::Bargauge, Some(n)) if !(1..=100).contains(&n) => {
                return Err(ApiError::bad_field(f("limit"), "must be 1 to 100"))
            }
            (PanelKind::Bargauge, _) | (_, None) => {}
            (_, Some(_)) => {
                return Err(ApiError::bad_field(
                    f("limit"),
                    "only a bargauge panel takes a limit",
                ))
            }
        }
        match (self.kind, &self.variable) {
            (PanelKind::Missing, None) => {
                return Err(ApiError::bad_field(
                    f("variable"),
                    "required: the host_group variable whose hosts are looked for",
                ))
            }
            (PanelKind::Missing, Some(v)) => {
                let ok = d
                    .variables
                    .iter()
                    .any(|x| x.name == *v && x.kind == VarKind::HostGroup);
                if !ok {
                    return Err(ApiError::bad_field(
                        f("variable"),
                        format!("{v:?} is not a host_group variable of this dashboard"),
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(ApiError::bad_field(
                    f("variable"),
                    "only a missing panel takes a variable",
                ))
            }
            (_, None) => {}
        }
        Ok(())
    }
}

/// Checks a dashboard body and returns the document to store.
pub(crate) fn checked(input: Value) -> Result<Value, ApiError> {
    let d: DashboardIn = parse(input)?;
    d.check()?;
    Ok(serde_json::to_value(&d).expect("json"))
}

/// The prefix of built-in dashboards' ids (numbers are stored dashboards).
pub(crate) const BUILTIN_PREFIX: &str = "builtin-";

fn sel(metric: &str, rest: &str) -> String {
    format!("{{__name__=\"{metric}\", {rest}}}")
}

fn target(expr: String, legend: &str) -> Target {
    Target {
        expr,
        legend: legend.to_string(),
    }
}

fn panel(kind: PanelKind, title: &str, unit: Unit, targets: Vec<Target>) -> Panel {
    Panel {
        kind,
        title: title.to_string(),
        style: Style::Lines,
        targets,
        unit,
        min: None,
        max: None,
        thresholds: Vec::new(),
        limit: None,
        variable: None,
        strategy_thresholds: false,
    }
}

fn usage_thresholds() -> Vec<Threshold> {
    vec![
        Threshold {
            value: 0.0,
            color: Color::Green,
        },
        Threshold {
            value: 80.0,
            color: Color::Orange,
        },
        Threshold {
            value: 90.0,
            color: Color::Red,
        },
    ]
}

/// A percentage: 0 to 100, coloured by usage, and (over time) with the strategies' lines.
fn percent(mut p: Panel) -> Panel {
    p.min = Some(0.0);
    p.max = Some(100.0);
    p.thresholds = usage_thresholds();
    p.strategy_thresholds = p.kind == PanelKind::Timeseries;
    p
}

/// A line a panel draws from a strategy: the strategy's condition compares the latest values
/// of `metric` with `value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StrategyLine {
    /// The strategy.
    pub strategy: u64,
    /// The metric it watches (one the panel's queries select).
    pub metric: String,
    /// The comparison (`>`, `>=`, `<`, `<=`, `==`, `!=`).
    pub op: &'static str,
    /// The threshold.
    pub value: f64,
    /// Its priority, 0 to 5.
    pub priority: u8,
    /// The host groups whose bound templates hold it (with their ancestors'): it applies to
    /// their hosts. Empty for an expression strategy, which applies by tags to any host.
    pub groups: Vec<String>,
}

/// The metric names `expr` selects by name (`__name__="…"`, or `metric{…}`), each once. The
/// dashboard's `$variables` (names in `known`) are stood in for first; an expression that does
/// not parse selects none.
pub(crate) fn metrics_of(expr: &str, known: &[&str]) -> Vec<String> {
    let Ok(text) = stand_in(expr, known) else {
        return Vec::new();
    };
    let Ok(q) = Query::parse(&text) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for sel in q.selections(&argus_promql::EvalRange::instant(0)) {
        for m in sel.matchers {
            if m.key == "__name__"
                && m.op == argus_core::query::MatchOp::Eq
                && !out.contains(&m.value)
            {
                out.push(m.value);
            }
        }
    }
    out
}

/// The thresholds a condition compares a metric's values with: those of its `all`, `max`,
/// `min` and `avg` terms. Sums, differences, `lookup`, `nodata` and conditions over several
/// metrics compare other quantities, so they draw no line on the metric's chart.
fn condition_lines(condition: &str) -> Vec<(&'static str, f64)> {
    use argus_core::condition::{parse, Condition, Expr, Func};
    fn walk(e: &Expr, out: &mut Vec<(&'static str, f64)>) {
        match e {
            Expr::Term(t) => {
                if matches!(
                    t.func,
                    Func::All(_) | Func::Max(_) | Func::Min(_) | Func::Avg(_)
                ) && t.threshold.is_finite()
                {
                    out.push((t.op.as_str(), t.threshold));
                }
            }
            Expr::And(list) | Expr::Or(list) => list.iter().for_each(|x| walk(x, out)),
        }
    }
    let mut out = Vec::new();
    if let Ok(Condition::Expr(e)) = parse(condition) {
        walk(&e, &mut out);
    }
    out
}

/// For each panel of `d` that asks for them (`strategy_thresholds`), keyed `row.panel` (its
/// indices), the lines of `m`'s strategies on the metrics its queries select: the strategies of
/// templates bound to a host group (each line naming the groups it applies to) and the
/// expression strategies. Panels without lines are left out.
pub(crate) fn strategy_lines(
    d: &DashboardIn,
    m: &argus_core::strategy::TenantStrategies,
) -> std::collections::BTreeMap<String, Vec<StrategyLine>> {
    let mut known: Vec<&str> = d.variables.iter().map(|v| v.name.as_str()).collect();
    known.extend(BUILTIN_VARS);
    // Every strategy that applies somewhere, with the groups it applies to.
    let mut applied: Vec<(&argus_core::strategy::Strategy, Vec<String>)> = Vec::new();
    for g in &m.host_groups {
        for t in &g.templates {
            // A broken inheritance chain is refused at save; one left by a race draws nothing.
            let Ok(eff) = argus_core::strategy::template_strategies(&m.templates, *t) else {
                continue;
            };
            for e in eff {
                let Some(s) = m
                    .templates
                    .iter()
                    .flat_map(|t| &t.strategies)
                    .find(|s| s.id == e.strategy.id)
                else {
                    continue;
                };
                match applied.iter_mut().find(|(x, _)| x.id == s.id) {
                    Some((_, groups)) => {
                        if !groups.contains(&g.name) {
                            groups.push(g.name.clone());
                        }
                    }
                    None => applied.push((s, vec![g.name.clone()])),
                }
            }
        }
    }
    applied.extend(m.expressions.iter().map(|x| (&x.strategy, Vec::new())));
    let mut out = std::collections::BTreeMap::new();
    for (r, row) in d.rows.iter().enumerate() {
        for (p, panel) in row.panels.iter().enumerate() {
            if !panel.strategy_thresholds {
                continue;
            }
            let mut metrics: Vec<String> = Vec::new();
            for t in &panel.targets {
                for x in metrics_of(&t.expr, &known) {
                    if !metrics.contains(&x) {
                        metrics.push(x);
                    }
                }
            }
            let mut lines = Vec::new();
            for (s, groups) in applied.iter().filter(|(s, _)| metrics.contains(&s.metric)) {
                for (op, value) in condition_lines(&s.condition) {
                    lines.push(StrategyLine {
                        strategy: s.id,
                        metric: s.metric.clone(),
                        op,
                        value,
                        priority: s.priority.level(),
                        groups: groups.clone(),
                    });
                }
            }
            if !lines.is_empty() {
                out.insert(format!("{r}.{p}"), lines);
            }
        }
    }
    out
}

/// The built-in dashboards, by id: what the host page shows on the engine (`host`), a host
/// group's resources and silent hosts (`host-group`), and the open problems (`alerts`). Built
/// from the agent's metric names (docs/METRICS.md), so they follow them.
pub(crate) fn builtins() -> Vec<(&'static str, DashboardIn)> {
    use PanelKind::*;
    let host = "endpoint=\"$endpoint\"";
    let host_dash = DashboardIn {
        title: "Host".into(),
        description: "One host's resources, as the host page shows them.".into(),
        variables: vec![Variable {
            name: "endpoint".into(),
            kind: VarKind::LabelValues,
            label: Some("endpoint".into()),
            metric: Some("agent.alive".into()),
            query: None,
            multi: false,
            include_all: false,
            default: None,
        }],
        range_secs: 3600,
        refresh_secs: 60,
        rows: vec![
            Row {
                title: "Now".into(),
                panels: vec![
                    percent(panel(
                        Stat,
                        "CPU busy",
                        Unit::Percent,
                        vec![target(sel("cpu.busy", host), "{{endpoint}}")],
                    )),
                    percent(panel(
                        Stat,
                        "Memory used",
                        Unit::Percent,
                        vec![target(sel("mem.memused.percent", host), "{{endpoint}}")],
                    )),
                    percent(panel(
                        Stat,
                        "Fullest file system",
                        Unit::Percent,
                        vec![target(
                            format!("max({})", sel("df.bytes.used.percent", host)),
                            "",
                        )],
                    )),
                    panel(
                        Stat,
                        "Load (1 min)",
                        Unit::None,
                        vec![target(sel("load.1min", host), "{{endpoint}}")],
                    ),
                ],
            },
            Row {
                title: "Over time".into(),
                panels: vec![
                    percent(panel(
                        Timeseries,
                        "CPU busy %",
                        Unit::Percent,
                        vec![target(sel("cpu.busy", host), "busy")],
                    )),
                    percent(panel(
                        Timeseries,
                        "Memory used %",
                        Unit::Percent,
                        vec![target(sel("mem.memused.percent", host), "used")],
                    )),
                    percent(panel(
                        Timeseries,
                        "Disk used %",
                        Unit::Percent,
                        vec![target(sel("df.bytes.used.percent", host), "{{mount}}")],
                    )),
                    percent(panel(
                        Timeseries,
                        "Disk I/O util %",
                        Unit::Percent,
                        vec![target(sel("disk.io.util", host), "{{device}}")],
                    )),
                    panel(
                        Timeseries,
                        "Network in",
                        Unit::BytesPerSec,
                        vec![target(sel("net.if.in.bytes", host), "{{iface}}")],
                    ),
                    panel(
                        Timeseries,
                        "Network out",
                        Unit::BytesPerSec,
                        vec![target(sel("net.if.out.bytes", host), "{{iface}}")],
                    ),
                ],
            },
        ],
    };
    let g = "endpoint=~\"$group\"";
    let top = |title: &str, metric: &str, unit: Unit| {
        let mut p = panel(
            Bargauge,
            title,
            unit,
            vec![target(
                format!("topk(10, max by (endpoint) ({}))", sel(metric, g)),
                "{{endpoint}}",
            )],
        );
        p.limit = Some(10);
        if unit == Unit::Percent {
            p = percent(p);
        }
        p
    };
    let group_dash = DashboardIn {
        title: "Host group".into(),
        description: "A host group's resources over its members, its busiest and fullest hosts, and the hosts not reporting.".into(),
        variables: vec![Variable {
            name: "group".into(),
            kind: VarKind::HostGroup,
            label: None,
            metric: None,
            query: None,
            multi: false,
            include_all: false,
            default: None,
        }],
        range_secs: 3600,
        refresh_secs: 60,
        rows: vec![
            Row {
                title: "Over the group".into(),
                panels: vec![
                    percent(panel(
                        Timeseries,
                        "CPU busy % (average, max)",
                        Unit::Percent,
                        vec![
                            target(format!("avg({})", sel("cpu.busy", g)), "average"),
                            target(format!("max({})", sel("cpu.busy", g)), "busiest"),
                        ],
                    )),
                    percent(panel(
                        Timeseries,
                        "Memory used % (average, max)",
                        Unit::Percent,
                        vec![
                            target(format!("avg({})", sel("mem.memused.percent", g)), "average"),
                            target(format!("max({})", sel("mem.memused.percent", g)), "fullest"),
                        ],
                    )),
                    percent(panel(
                        Timeseries,
                        "Disk used % (fullest file system)",
                        Unit::Percent,
                        vec![target(format!("max({})", sel("df.bytes.used.percent", g)), "fullest")],
                    )),
                    {
                        let mut p = panel(
                            Timeseries,
                            "Network (all members)",
                            Unit::BytesPerSec,
                            vec![
                                target(format!("sum({})", sel("net.if.in.bytes", g)), "in"),
                                target(format!("sum({})", sel("net.if.out.bytes", g)), "out"),
                            ],
                        );
                        p.style = Style::Stacked;
                        p
                    },
                ],
            },
            Row {
                title: "Top 10 hosts".into(),
                panels: vec![
                    top("CPU busy %", "cpu.busy", Unit::Percent),
                    top("Memory used %", "mem.memused.percent", Unit::Percent),
                    top("Disk used % (fullest file system)", "df.bytes.used.percent", Unit::Percent),
                    top("Network in", "net.if.in.bytes", Unit::BytesPerSec),
                ],
            },
            Row {
                title: "Reporting".into(),
                panels: vec![
                    {
                        let mut p = panel(
                            Missing,
                            "Hosts not reporting (no agent.alive for 5 min)",
                            Unit::None,
                            vec![target(format!("max by (endpoint) ({})", sel("agent.alive", g)), "")],
                        );
                        p.variable = Some("group".into());
                        p
                    },
                    panel(
                        Stat,
                        "Hosts reporting",
                        Unit::None,
                        vec![target(format!("count(max by (endpoint) ({}))", sel("agent.alive", g)), "hosts")],
                    ),
                ],
            },
        ],
    };
    let alerts_dash = DashboardIn {
        title: "Alerts overview".into(),
        description:
            "Open problems by priority, by host group and over time (from the alarm service), and hosts reporting over time."
                .into(),
        variables: Vec::new(),
        range_secs: 6 * 3600,
        refresh_secs: 30,
        rows: vec![Row {
            title: String::new(),
            panels: vec![
                panel(Alerts, "Open problems", Unit::None, Vec::new()),
                panel(
                    Timeseries,
                    "Hosts reporting",
                    Unit::None,
                    vec![target("count({__name__=\"agent.alive\"})".into(), "hosts")],
                ),
            ],
        }],
    };
    vec![
        ("builtin-host", host_dash),
        ("builtin-host-group", group_dash),
        ("builtin-alerts", alerts_dash),
    ]
}

/// A built-in dashboard as the API shows it.
pub(crate) fn present_builtin(id: &str, d: &DashboardIn) -> Value {
    let mut v = serde_json::to_value(d).expect("json");
    v["id"] = json!(id);
    v["builtin"] = json!(true);
    v["updated_at"] = Value::Null;
    v
}

/// The built-in dashboards as the first page of the list shows them.
pub(crate) fn builtin_list() -> Vec<Value> {
    builtins()
        .iter()
        .map(|(id, d)| present_builtin(id, d))
        .collect()
}

/// A dashboard by the id of its URL: a built-in one or a stored one of the caller's tenant.
pub(crate) async fn find(st: &State, tenant: &str, id: &str) -> Result<Value, ApiError> {
    let missing = || ApiError::not_found(format!("dashboard {id} not found"));
    if id.starts_with(BUILTIN_PREFIX) {
        return builtins()
            .iter()
            .find(|(b, _)| *b == id)
            .map(|(b, d)| present_builtin(b, d))
            .ok_or_else(missing);
    }
    let n: i64 = id.parse().map_err(|_| missing())?;
    let o = crate::store::get(&st.db, tenant, Kind::Dashboard.path(), n)
        .await?
        .ok_or_else(missing)?;
    Ok(present(Kind::Dashboard, &o, 0))
}

fn read_only(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("dashboard {id} is built in and read-only: clone it (POST its JSON) to change it"),
    )
}

/// `GET /api/v1/dashboards/{id}`: a stored dashboard (number) or a built-in one (`builtin-...`).
pub(crate) async fn get(
    auth: Auth,
    path: web::Path<String>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(find(&st, auth.tenant.as_str(), &path).await?))
}

/// The stored id of a path's id; a built-in one cannot change, anything else is unknown.
fn stored_id(id: &str) -> Result<i64, ApiError> {
    if id.starts_with(BUILTIN_PREFIX) {
        return Err(read_only(id));
    }
    id.parse()
        .map_err(|_| ApiError::not_found(format!("dashboard {id} not found")))
}

/// `PUT /api/v1/dashboards/{id}` (editor).
pub(crate) async fn update(
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    let id = stored_id(&path)?;
    crate::api::objects::update(
        auth,
        web::Path::from((Kind::Dashboard.path().to_string(), id)),
        body,
        st,
    )
    .await
}

/// `DELETE /api/v1/dashboards/{id}` (editor).
pub(crate) async fn delete(
    auth: Auth,
    path: web::Path<String>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    let id = stored_id(&path)?;
    crate::api::objects::delete(
        auth,
        web::Path::from((Kind::Dashboard.path().to_string(), id)),
        st,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::strategy::{HostGroup, Priority, Strategy, Template, TenantStrategies};
    use argus_core::TenantId;

    #[test]
    fn stand_ins_keep_positions_and_parse() {
        let known = ["host", "g"];
        let e = r#"rate({__name__="x", endpoint=~"$host"}[$__interval]) + ${g}"#;
        let s = stand_in(e, &known).unwrap();
        assert_eq!(s.len(), e.len());
        assert_eq!(
            s,
            r#"rate({__name__="x", endpoint=~"_host"}[0000000001m]) + _g__"#
        );
        Query::parse(&s).expect("the stand-in parses");
        assert!(stand_in("up{a=\"$nope\"}", &known)
            .unwrap_err()
            .contains("$nope is not a variable"));
        // A lone `$` or `${` is left for the parser to refuse.
        assert_eq!(stand_in("a$ ${", &known).unwrap(), "a$ ${");
    }

    fn strategy(id: u64, metric: &str, condition: &str, priority: u8) -> Strategy {
        Strategy {
            id,
            metric: metric.into(),
            tags: Default::default(),
            condition: condition.into(),
            recovery: None,
            priority: Priority::new(priority).unwrap(),
            max_alarms: 3,
            note: String::new(),
            active: None,
            for_secs: 0,
        }
    }

    #[test]
    fn metrics_are_read_from_selectors_with_variables_stood_in() {
        let known = ["group", "__interval"];
        assert_eq!(
            metrics_of(
                r#"avg({__name__="cpu.busy", endpoint=~"$group"}) / max_over_time(mem_used{a="b"}[$__interval] offset 1m)"#,
                &known
            ),
            vec!["cpu.busy".to_string(), "mem_used".to_string()]
        );
        // No name matcher, a regex on the name, or an expression that does not parse: none.
        assert!(metrics_of(r#"{__name__=~"cpu.*"} + vector(1)"#, &known).is_empty());
        assert!(metrics_of("sum(", &known).is_empty());
    }

    #[test]
    fn condition_lines_are_the_value_thresholds() {
        assert_eq!(condition_lines("all(#3) > 90"), vec![(">", 90.0)]);
        assert_eq!(
            condition_lines("max(#3) >= 95 || avg(#10) > 70 && min(#2) < 5"),
            vec![(">=", 95.0), (">", 70.0), ("<", 5.0)]
        );
        for none in [
            "sum(#3) > 10",
            "diff(#2) > 5",
            "lookup(#2,3) > 1",
            "nodata(60)",
            "bad",
        ] {
            assert!(condition_lines(none).is_empty(), "{none}");
        }
    }

    #[test]
    fn strategy_lines_follow_the_groups_that_bind_the_templates() {
        let tpl = |id: u64, parent: Option<u64>, strategies: Vec<Strategy>| Template {
            id,
            tenant: TenantId::new("acme").unwrap(),
            name: format!("t{id}"),
            parent,
            strategies,
        };
        let group = |id: u64, name: &str, templates: Vec<u64>| HostGroup {
            id,
            tenant: TenantId::new("acme").unwrap(),
            name: name.into(),
            hosts: vec![format!("{name}-1")],
            templates,
        };
        let m = TenantStrategies {
            tenant: TenantId::new("acme").unwrap(),
            version: 1,
            templates: vec![
                // The parent's CPU strategy is inherited by template 2.
                tpl(1, None, vec![strategy(10, "cpu.busy", "all(#3) > 90", 1)]),
                tpl(
                    2,
                    Some(1),
                    vec![strategy(20, "mem.memused.percent", "avg(#5) >= 85", 2)],
                ),
                // Bound to no group: applies to no host.
                tpl(3, None, vec![strategy(30, "cpu.busy", "all(#3) > 50", 3)]),
            ],
            host_groups: vec![group(100, "web", vec![2]), group(101, "db", vec![1])],
            expressions: vec![argus_core::strategy::ExpressionStrategy {
                tenant: TenantId::new("acme").unwrap(),
                strategy: strategy(40, "cpu.busy", "max(#2) > 99", 0),
            }],
            hosts: Vec::new(),
        };
        let d: DashboardIn = serde_json::from_value(json!({
            "title": "t",
            "variables": [{"name": "group", "type": "host_group"}],
            "rows": [{"panels": [
                {"type": "timeseries", "strategy_thresholds": true,
                 "targets": [{"expr": "avg({__name__=\"cpu.busy\", endpoint=~\"$group\"})"}]},
                {"type": "timeseries",
                 "targets": [{"expr": "{__name__=\"cpu.busy\"}"}]},
                {"type": "timeseries", "strategy_thresholds": true,
                 "targets": [{"expr": "{__name__=\"disk.io.util\"}"}]}
            ]}]
        }))
        .unwrap();
        d.check().unwrap();
        let lines = strategy_lines(&d, &m);
        // Only the first panel: the second did not ask, the third's metric has no strategy.
        assert_eq!(lines.keys().collect::<Vec<_>>(), vec!["0.0"]);
        let got: Vec<(u64, &str, f64, u8, Vec<String>)> = lines["0.0"]
            .iter()
            .map(|l| (l.strategy, l.op, l.value, l.priority, l.groups.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (10, ">", 90.0, 1, vec!["web".to_string(), "db".to_string()]),
                (40, ">", 99.0, 0, vec![]),
            ]
        );
    }

    #[test]
    fn strategy_thresholds_are_for_timeseries_panels() {
        let d: DashboardIn = serde_json::from_value(json!({
            "title": "t",
            "rows": [{"panels": [{"type": "stat", "strategy_thresholds": true,
                                  "targets": [{"expr": "up"}]}]}]
        }))
        .unwrap();
        let e = d.check().unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("rows[0].panels[0].strategy_thresholds")
        );
    }

    #[test]
    fn builtins_pass_their_own_checks() {
        for (id, d) in builtins() {
            d.check().unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert!(id.starts_with(BUILTIN_PREFIX));
        }
    }
}
