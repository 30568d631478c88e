//! # argus-promql
//!
//! PromQL with Prometheus 2.x semantics, answered over Argus series. A query is
//! [parsed](Query::parse) once (with the `promql-parser` crate), tells which
//! [selections](Query::selections) of series it needs over which time span, and is then
//! [evaluated](Query::eval) over the series the caller fetched for those selections. Fetching is
//! the caller's: web asks the regions, a region asks its storage nodes, so this crate does no
//! I/O and every tenant check happens where the data is read.
//!
//! - [`value`] — label sets, samples, series and values;
//! - [`labels`] — how an Argus series key appears as a label set, and label matchers;
//! - [`json`] — answers and errors in the Prometheus HTTP API's JSON shapes;
//! - [`template`] — the alert label and annotation templates (a strict subset of Prometheus's).

#![warn(missing_docs)]

mod eval;
mod functions;
pub mod json;
pub mod labels;
mod par;
pub mod split;
pub mod template;
pub mod value;

use argus_core::query::TagMatcher;
use promql_parser::parser::Expr;
use std::collections::BTreeMap;
use value::{Series, Value};

/// Prometheus's default lookback: an instant selector takes the latest sample no older than this.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Why a query failed; [`ErrorKind`] maps onto Prometheus's `errorType` and HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The class of error.
    pub kind: ErrorKind,
    /// What went wrong, in Prometheus's words where it has them.
    pub message: String,
}

/// Prometheus's error classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query or a parameter is malformed (`bad_data`, 400).
    BadData,
    /// The query is well formed but cannot be evaluated (`execution`, 422): many-to-many
    /// matching, duplicate series, a limit reached.
    Execution,
    /// The query ran out of time (`timeout`, 503).
    Timeout,
}

impl Error {
    /// A `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::BadData,
            message: message.into(),
        }
    }

    /// A `timeout` error.
    pub fn timeout(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Timeout,
            message: message.into(),
        }
    }

    /// An `execution` error.
    pub fn execution(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Execution,
            message: message.into(),
        }
    }
}

/// When a query is evaluated: at `start`, `start + step`, … up to `end` (an instant query has
/// `start == end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalRange {
    /// First evaluation time, Unix ms.
    pub start_ms: i64,
    /// Last evaluation time (inclusive), Unix ms.
    pub end_ms: i64,
    /// Between evaluations, ms; 0 marks an instant query (a range query's step is positive).
    pub step_ms: i64,
    /// How far back an instant selector looks for a sample.
    pub lookback_ms: i64,
}

impl EvalRange {
    /// One evaluation at `t_ms`.
    pub fn instant(t_ms: i64) -> Self {
        EvalRange {
            start_ms: t_ms,
            end_ms: t_ms,
            step_ms: 0,
            lookback_ms: DEFAULT_LOOKBACK_MS,
        }
    }

    /// Evaluations from `start_ms` to `end_ms` every `step_ms`.
    pub fn range(start_ms: i64, end_ms: i64, step_ms: i64) -> Self {
        EvalRange {
            start_ms,
            end_ms,
            step_ms: step_ms.max(1),
            lookback_ms: DEFAULT_LOOKBACK_MS,
        }
    }
}

/// Bounds on one query's work, checked before and while it is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Series the selections may return in all.
    pub max_series: usize,
    /// Samples the selections may load in all.
    pub max_samples: usize,
    /// Steps (intervals between start and end) of a range query; Prometheus refuses more than
    /// 11,000.
    pub max_steps: i64,
    /// When evaluation gives up with a `timeout` error (checked between steps).
    pub deadline: Option<std::time::Instant>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_series: 100_000,
            max_samples: 50_000_000,
            max_steps: 11_000,
            deadline: None,
        }
    }
}

/// Series to read: those whose labels satisfy every matcher, with their samples between
/// `start_ms` and `end_ms` inclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Matchers on labels (`__name__` included), as the query wrote them.
    pub matchers: Vec<TagMatcher>,
    /// Earliest sample time needed, Unix ms.
    pub start_ms: i64,
    /// Latest sample time needed, Unix ms.
    pub end_ms: i64,
}

impl Selection {
    /// The key under which [`Query::eval`] looks up this selection's series.
    pub fn key(&self) -> String {
        labels::matchers_key(&self.matchers)
    }
}

/// The series fetched for a query's selections, by [`Selection::key`].
pub type Fetched = BTreeMap<String, Vec<Series>>;

/// Where a parse error is, as Prometheus writes it (`line:column`, 1-based). The parser's
/// messages carry no position; the best evidence is the text they quote (a bad duration, an
/// unknown function), and the end of the query for input that stops too early.
fn error_position(text: &str, message: &str) -> String {
    let offset = if message.contains("end of input") || message.contains("unclosed") {
        Some(text.trim_end().len())
    } else {
        // The last quoted or colon-separated fragment of the message, found in the query.
        let fragment = message
            .rsplit(['"', '\'', ':'])
            .map(str::trim)
            .find(|f| f.len() > 1 && text.contains(*f));
        fragment.and_then(|f| text.find(f))
    };
    let offset = offset.unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

/// `e` with its `1:1` placeholder replaced by the position of what it names.
fn locate(text: &str, e: Error) -> Error {
    match e.message.strip_prefix("1:1: ") {
        Some(rest) => Error {
            kind: e.kind,
            message: format!("{}: {rest}", error_position(text, rest)),
        },
        None => e,
    }
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    expr: Expr,
}

impl std::fmt::Display for Query {
    /// The query as PromQL text (the parser reads it back as the same query).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.expr)
    }
}

/// The answer of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An instant query's value (`vector`, `scalar` or `string`; `matrix` for a range selector).
    Instant(Value),
    /// A range query's series, sorted by labels.
    Range(Vec<Series>),
}

impl Query {
    /// Parses `text`; a syntax error is `bad_data` with the parser's message and its position.
    pub fn parse(text: &str) -> Result<Query, Error> {
        if text.trim().is_empty() {
            return Err(Error::bad_data("query must not be empty"));
        }
        eval::register_functions();
        // The parser is another crate's: should it panic on some text, that text is refused
        // rather than taking the serving thread down.
        let parsed = std::panic::catch_unwind(|| promql_parser::parser::parse(text))
            .map_err(|_| Error::bad_data("1:1: parse error: the query could not be parsed"))?;
        let expr = parsed.map_err(|e| {
            Error::bad_data(format!("{}: parse error: {e}", error_position(text, &e)))
        })?;
        eval::check(&expr).map_err(|e| locate(text, e))?;
        Ok(Query { expr })
    }

    /// Parses a series selector (a `match[]` parameter): its matchers, `__name__` included.
    pub fn parse_selector(text: &str) -> Result<Vec<TagMatcher>, Error> {
        let q = Query::parse(text)?;
        match &q.expr {
            Expr::VectorSelector(vs) => Ok(eval::selector_matchers(vs)),
            other => Err(Error::bad_data(format!(
                "1:1: parse error: expected a series selector, got {}",
                eval::value_type(other)
            ))),
        }
    }

    /// The query laid out as Prometheus's `format_query` lays it out.
    pub fn pretty(&self) -> String {
        self.expr.prettify()
    }

    /// The expression's value type: `vector`, `matrix`, `scalar` or `string`.
    pub fn value_type(&self) -> &'static str {
        eval::value_type(&self.expr)
    }

    /// The selections the query reads when evaluated over `range`, each with the whole time
    /// span any evaluation needs (offsets, `@`, ranges and subqueries taken into account);
    /// selections with the same matchers are merged.
    pub fn selections(&self, range: &EvalRange) -> Vec<Selection> {
        eval::selections(&self.expr, range)
    }

    /// Evaluates the query over `range` with the series `data` holds for its selections: an
    /// instant query ([`EvalRange::instant`]) answers [`Answer::Instant`], a range query
    /// [`Answer::Range`] (even when it starts and ends at the same time). A range query over an
    /// expression that is not an instant vector or scalar is `bad_data`, as in Prometheus.
    pub fn eval(
        &self,
        range: &EvalRange,
        data: &Fetched,
        limits: &Limits,
    ) -> Result<Answer, Error> {
        eval::run(&self.expr, range, data, limits)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Falcon names with dots: `{__name__="cpu.idle"}`, or the quoted-name form.
    #[test]
    fn dotted_names_are_reachable_quoted() {
        let r = EvalRange::instant(0);
        let keys = |q: &str| -> Vec<String> {
            Query::parse(q)
                .unwrap()
                .selections(&r)
                .iter()
                .map(Selection::key)
                .collect()
        };
        assert_eq!(keys(r#"{"cpu.idle"}"#), keys(r#"{__name__="cpu.idle"}"#));
        assert_eq!(
            keys(r#"{"cpu.idle", endpoint="h1"}"#),
            keys(r#"{__name__="cpu.idle", endpoint="h1"}"#)
        );
    }
}
