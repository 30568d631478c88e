//! Splitting a query so that aggregations are computed where the data is.
//!
//! An aggregation whose input is computed series by series (selectors, functions of one series,
//! arithmetic with numbers) can be split: each region aggregates its own series into a partial
//! answer (per group: a sum, a count, a minimum, candidates for topk …), and the partial answers
//! are combined into the final one. Only the partial answers cross regions.
//!
//! A series several regions hold (a host that moved) must not be aggregated in pieces: its
//! points are merged first. The caller finds such series, keeps them out of every region's
//! partial (`exclude`) and computes their own partial centrally over the merged points; the
//! combination then treats that partial like a region's.

use crate::value::{Labels, Series};
use crate::{eval, Error, EvalRange, Query};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use serde::{Deserialize, Serialize};

/// The metric name of the selector that stands for the `i`-th partial answer in
/// [`Split::outer`]. Its samples are taken at exactly the evaluation time (no lookback).
pub(crate) const PARTIAL_PREFIX: &str = "__argus_partial_";

/// A query with its splittable aggregations replaced by their combination.
#[derive(Debug, Clone)]
pub struct Split {
    /// The query as combined: each split aggregation is now an aggregation of the selector
    /// `__argus_partial_<i>`, whose series are the partial answers to
    /// `partials[i]` from every region (and from the central evaluation of shared series).
    pub outer: Query,
    /// What each region evaluates over its own series: the partial aggregations.
    pub partials: Vec<Query>,
}

impl Split {
    /// The key under which [`Split::outer`] reads the partial answers to `partials[i]`.
    pub fn partial_key(i: usize) -> String {
        crate::labels::matchers_key(&[argus_core::query::TagMatcher {
            key: crate::value::METRIC_NAME.into(),
            op: argus_core::query::MatchOp::Eq,
            value: format!("{PARTIAL_PREFIX}{i}"),
        }])
    }
}

impl Query {
    /// The query split into partial aggregations and their combination, when it holds any
    /// aggregation that can be split (outside subqueries, whose steps differ from the query's);
    /// `None` when nothing would be gained.
    pub fn split(&self) -> Option<Split> {
        let mut outer = self.expr.clone();
        let mut partials = Vec::new();
        rewrite(&mut outer, &mut partials);
        if partials.is_empty() {
            return None;
        }
        Some(Split {
            outer: Query { expr: outer },
            partials,
        })
    }
}

fn rewrite(e: &mut Expr, partials: &mut Vec<Query>) {
    if let Expr::Aggregate(a) = e {
        if let Some(combined) = split_aggregate(a, partials) {
            *e = combined;
            return;
        }
    }
    match e {
        Expr::Aggregate(a) => rewrite(&mut a.expr, partials),
        Expr::Unary(u) => rewrite(&mut u.expr, partials),
        Expr::Binary(b) => {
            rewrite(&mut b.lhs, partials);
            rewrite(&mut b.rhs, partials);
        }
        Expr::Paren(p) => rewrite(&mut p.expr, partials),
        Expr::Call(c) => {
            for a in c.args.args.iter_mut() {
                rewrite(a, partials);
            }
        }
        // A subquery evaluates its inside at its own steps, not the query's: left whole.
        _ => {}
    }
}

/// The combination that replaces `a`, with its partial aggregation(s) added to `partials`.
fn split_aggregate(a: &AggregateExpr, partials: &mut Vec<Query>) -> Option<Expr> {
    let op = a.op.to_string();
    if !matches!(
        op.as_str(),
        "sum" | "count" | "min" | "max" | "avg" | "group" | "topk" | "bottomk"
    ) || !series_local(&a.expr)
    {
        return None;
    }
    let param = match &a.param {
        Some(p) if !constant(p) => return None,
        Some(p) => format!("{p}, "),
        None => String::new(),
    };
    let grouping = match &a.modifier {
        None => String::new(),
        Some(LabelModifier::Include(l)) => format!(" by ({})", l.labels.join(", ")),
        Some(LabelModifier::Exclude(l)) => format!(" without ({})", l.labels.join(", ")),
    };
    let mut partial = |agg: &str| -> Option<String> {
        let q = Query::parse(&format!("{agg}{grouping} ({param}{})", a.expr)).ok()?;
        partials.push(q);
        Some(format!("{PARTIAL_PREFIX}{}", partials.len() - 1))
    };
    let combined = match op.as_str() {
        // Counts add up; a group is present wherever a part has it.
        "sum" | "count" => format!("sum{grouping} ({})", partial(&op)?),
        "avg" => {
            let (s, c) = (partial("sum")?, partial("count")?);
            format!("(sum{grouping} ({s}) / sum{grouping} ({c}))")
        }
        // The parts' own best candidates hold the overall ones.
        "topk" | "bottomk" => format!("{op}{grouping} ({param}{})", partial(&op)?),
        _ => format!("{op}{grouping} ({})", partial(&op)?),
    };
    Query::parse(&combined).ok().map(|q| q.expr)
}

/// True when `e` is computed for each series from that series alone (and numbers), so that a
/// series' result does not depend on which other series are evaluated with it.
fn series_local(e: &Expr) -> bool {
    if constant(e) {
        return true;
    }
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Paren(p) => series_local(&p.expr),
        Expr::Unary(u) => series_local(&u.expr),
        Expr::Subquery(s) => series_local(&s.expr),
        Expr::Binary(b) => {
            let vector = |x: &Expr| eval::value_type(x) == "vector";
            // Vector with vector matches series across regions: not local.
            !(vector(&b.lhs) && vector(&b.rhs))
                && series_local(&b.lhs)
                && series_local(&b.rhs)
                && (constant(&b.lhs) || constant(&b.rhs))
        }
        Expr::Call(c) => {
            !matches!(
                c.func.name,
                // These look at several series at once (or at none).
                "absent"
                    | "absent_over_time"
                    | "scalar"
                    | "vector"
                    | "sort"
                    | "sort_desc"
                    | "histogram_quantile"
                    | "time"
            ) && c.args.args.iter().all(|a| series_local(a))
        }
        _ => false,
    }
}

/// True when `e` reads no series: the same number in every region.
fn constant(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Paren(p) => constant(&p.expr),
        Expr::Unary(u) => constant(&u.expr),
        Expr::Binary(b) => constant(&b.lhs) && constant(&b.rhs),
        Expr::Call(c) => c.func.name == "time" || c.func.name == "pi",
        _ => false,
    }
}

/// A region's request to evaluate partial aggregations over its own series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionEval {
    /// The tenant whose series are read.
    pub tenant: argus_core::TenantId,
    /// The partial queries ([`Split::partials`], as text).
    pub queries: Vec<String>,
    /// First evaluation time, Unix ms.
    pub start_ms: i64,
    /// Last evaluation time, Unix ms.
    pub end_ms: i64,
    /// Between evaluations, ms; 0 for an instant query.
    pub step_ms: i64,
    /// The instant selectors' lookback, ms.
    pub lookback_ms: i64,
    /// Series (by labels) to leave out: those several regions hold, aggregated centrally.
    #[serde(default)]
    pub exclude: Vec<Vec<(String, String)>>,
    /// Series the region may select for one query.
    pub max_series: usize,
    /// Samples the region may load for one query.
    pub max_samples: usize,
}

impl RegionEval {
    /// The partial queries, each with the selections it reads.
    pub fn plan(&self) -> Result<Vec<(Query, Vec<crate::Selection>)>, Error> {
        let range = self.range();
        self.queries
            .iter()
            .map(|text| {
                let q = Query::parse(text)?;
                let sels = q.selections(&range);
                Ok((q, sels))
            })
            .collect()
    }

    /// The storage read of one selection of a partial query: whole seconds within its span,
    /// at most one series more than the limit (which tells the limit is passed).
    pub fn select_query(&self, sel: &crate::Selection) -> argus_core::query::SelectQuery {
        argus_core::query::SelectQuery {
            tenant: self.tenant.clone(),
            matchers: sel.matchers.clone(),
            start: sel.start_ms.div_euclid(1000),
            end: sel.end_ms.div_euclid(1000),
            limit: Some(self.max_series.saturating_add(1)),
            series_only: false,
        }
    }

    /// Evaluates `query` over the region's series `fetched` for its selections, less the
    /// excluded ones: the partial answer to send ([`encode_partials`], or as
    /// [`PartialSeries`]).
    pub fn answer(&self, query: &Query, mut fetched: crate::Fetched) -> Result<Vec<Series>, Error> {
        if !self.exclude.is_empty() {
            let exclude: std::collections::HashSet<Labels> =
                self.exclude.iter().cloned().map(Labels::new).collect();
            for series in fetched.values_mut() {
                series.retain(|s| !exclude.contains(&s.labels));
            }
        }
        let limits = crate::Limits {
            max_series: self.max_series,
            max_samples: self.max_samples,
            ..crate::Limits::default()
        };
        let range = self.range();
        let answer = query.eval(&range, &fetched, &limits)?;
        Ok(answer_series(answer, range.start_ms))
    }

    /// The evaluation range.
    pub fn range(&self) -> EvalRange {
        EvalRange {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            step_ms: self.step_ms,
            lookback_ms: self.lookback_ms,
        }
    }
}

/// One series of a partial answer, as it crosses from a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialSeries {
    /// Labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// `(unix ms, value)`; values may be NaN or infinite, so they travel as strings.
    pub points: Vec<(i64, String)>,
}

impl PartialSeries {
    /// For the wire.
    pub fn from_series(s: &Series) -> Self {
        PartialSeries {
            labels: s.labels.pairs().to_vec(),
            points: s
                .points
                .iter()
                .map(|&(t, v)| (t, crate::json::format_value(v)))
                .collect(),
        }
    }

    /// From the wire; a value that is not a number is an error.
    pub fn into_series(self) -> Result<Series, Error> {
        let points = self
            .points
            .into_iter()
            .map(|(t, v)| {
                crate::json::parse_value(&v)
                    .map(|x| (t, x))
                    .ok_or_else(|| Error::execution(format!("a region sent {v:?} as a value")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Series {
            labels: Labels::new(self.labels),
            points,
        })
    }
}

/// The content type of a region's partial answers in binary ([`encode_partials`]), which web
/// asks for (`Accept`) in place of the JSON lists of [`PartialSeries`] (which older webs still
/// get): a value crosses as its 8 bytes instead of a string, and nothing is parsed.
pub const PARTIALS_CONTENT_TYPE: &str = "application/x-argus-partials-v1";
const PARTIALS_MAGIC: &[u8; 4] = b"AGQ1";

/// True when an `Accept` header value names [`PARTIALS_CONTENT_TYPE`].
pub fn accepts_binary(accept: &str) -> bool {
    accept
        .split(',')
        .any(|t| t.split(';').next().unwrap_or("").trim() == PARTIALS_CONTENT_TYPE)
}

/// Encodes a region's partial answers, one list of series per partial query: `b"AGQ1"`, a
/// varint list count, then each list: a varint series count, then each series: a varint label
/// count and the names and values as length-prefixed strings, a varint point count `n`, the `n`
/// times (zigzag varints: the first time, the difference to it, then the change of the
/// difference, which is 0 along a range query's steps) and the `n` values as f64
/// little-endian.
pub fn encode_partials(answers: &[Vec<Series>]) -> Vec<u8> {
    use argus_core::wire::frame::{put_ivarint, put_str, put_uvarint};
    let points: usize = answers.iter().flatten().map(|s| s.points.len()).sum();
    let series: usize = answers.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(16 + series * 64 + points * 9);
    out.extend_from_slice(PARTIALS_MAGIC);
    put_uvarint(&mut out, answers.len() as u64);
    for list in answers {
        put_uvarint(&mut out, list.len() as u64);
        for s in list {
            put_uvarint(&mut out, s.labels.len() as u64);
            for (k, v) in s.labels.pairs() {
                put_str(&mut out, k);
                put_str(&mut out, v);
            }
            put_uvarint(&mut out, s.points.len() as u64);
            let (mut prev, mut prev_d) = (0i64, 0i64);
            for (j, &(t, _)) in s.points.iter().enumerate() {
                let d = t.wrapping_sub(prev);
                put_ivarint(&mut out, if j < 2 { d } else { d.wrapping_sub(prev_d) });
                (prev, prev_d) = (t, d);
            }
            for &(_, v) in &s.points {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

/// Decodes what [`encode_partials`] made; malformed bytes are an error saying where.
pub fn decode_partials(raw: &[u8]) -> Result<Vec<Vec<Series>>, Error> {
    use argus_core::wire::frame::Reader;
    let bad = |e: argus_core::wire::frame::DecodeError| {
        Error::execution(format!("a region sent an unreadable partial answer: {e}"))
    };
    let mut r = Reader::new(raw);
    if r.bytes(4).map_err(bad)? != PARTIALS_MAGIC {
        return Err(Error::execution(
            "a region sent an unreadable partial answer: not AGQ1",
        ));
    }
    // Counts beyond the bytes left are malformed, not a reason to allocate.
    let count = |r: &mut Reader<'_>, min_bytes: usize| -> Result<usize, Error> {
        let at = r.pos();
        let n = r.uvarint().map_err(bad)? as usize;
        if n > raw.len().saturating_sub(r.pos()) / min_bytes {
            return Err(bad(argus_core::wire::frame::DecodeError {
                at,
                what: "count past the end",
            }));
        }
        Ok(n)
    };
    let lists = count(&mut r, 1)?;
    let mut out = Vec::with_capacity(lists);
    for _ in 0..lists {
        let n = count(&mut r, 2)?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            let labels = count(&mut r, 2)?;
            let mut pairs = Vec::with_capacity(labels);
            for _ in 0..labels {
                let k = r.str().map_err(bad)?.to_owned();
                let v = r.str().map_err(bad)?.to_owned();
                pairs.push((k, v));
            }
            // At least one byte of time and eight of value a point.
            let n = count(&mut r, 9)?;
            let mut points = Vec::with_capacity(n);
            let (mut t, mut d) = (0i64, 0i64);
            for j in 0..n {
                let x = r.ivarint().map_err(bad)?;
                d = if j < 2 { x } else { d.wrapping_add(x) };
                t = t.wrapping_add(d);
                points.push((t, 0.0));
            }
            let values = r.bytes(n * 8).map_err(bad)?;
            for (p, v) in points.iter_mut().zip(values.chunks_exact(8)) {
                p.1 = f64::from_le_bytes(v.try_into().expect("8 bytes"));
            }
            list.push(Series {
                labels: Labels::new(pairs),
                points,
            });
        }
        out.push(list);
    }
    if !r.is_empty() {
        return Err(Error::execution(
            "a region sent an unreadable partial answer: bytes after the last list",
        ));
    }
    Ok(out)
}

/// An answer as series (an instant query's vector as one point per series at its time).
pub fn answer_series(a: crate::Answer, t_ms: i64) -> Vec<Series> {
    match a {
        crate::Answer::Range(s) => s,
        crate::Answer::Instant(crate::value::Value::Vector(v)) => v
            .into_iter()
            .map(|s| Series {
                labels: s.labels,
                points: vec![(t_ms, s.value)],
            })
            .collect(),
        crate::Answer::Instant(crate::value::Value::Scalar(x)) => vec![Series {
            labels: Labels::default(),
            points: vec![(t_ms, x)],
        }],
        crate::Answer::Instant(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(q: &str) -> Option<(String, Vec<String>)> {
        let s = Query::parse(q).unwrap().split()?;
        Some((
            s.outer.expr.to_string(),
            s.partials.iter().map(|p| p.expr.to_string()).collect(),
        ))
    }

    #[test]
    fn splits_what_each_region_can_aggregate_alone() {
        let (outer, parts) = texts("sum by (dc) (rate(http_requests_total[5m]))").unwrap();
        assert_eq!(parts, vec!["sum by (dc) (rate(http_requests_total[5m]))"]);
        assert_eq!(outer, "sum by (dc) (__argus_partial_0)");
        let (outer, parts) = texts("avg without (instance) (x * 2)").unwrap();
        assert_eq!(parts.len(), 2);
        assert!(
            parts[1].starts_with("count without (instance)"),
            "{parts:?}"
        );
        assert!(outer.contains(" / "), "{outer}");
        let (_, parts) = texts("topk(3, x) / on() group_left sum(y)").unwrap();
        assert_eq!(parts.len(), 2);
        // Not splittable: matching across series, quantiles, aggregations in subqueries.
        assert!(texts("sum(x / y)").is_none());
        assert!(texts("quantile(0.5, x)").is_none());
        assert!(texts("max_over_time(sum(x)[5m:1m])").is_none());
        assert!(texts("topk(scalar(y), x)").is_none());
        assert!(texts("sum(absent(x))").is_none());
    }

    #[test]
    fn partials_round_trip_in_binary_to_the_bit() {
        let lbl =
            |p: &[(&str, &str)]| Labels::new(p.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let answers = vec![
            vec![
                Series {
                    labels: lbl(&[("endpoint", "h1"), ("iface", "eth0")]),
                    points: vec![
                        (-5, 1.5),
                        (15_000, f64::NAN),
                        (30_000, f64::INFINITY),
                        (45_000, -0.0),
                        (90_000, f64::MIN_POSITIVE),
                        (i64::MAX, f64::NEG_INFINITY),
                    ],
                },
                Series {
                    labels: Labels::default(),
                    points: vec![(7, 1.0)],
                },
            ],
            Vec::new(),
            vec![Series {
                labels: lbl(&[("le", "+Inf")]),
                points: Vec::new(),
            }],
        ];
        type Bits = Vec<Vec<(Labels, Vec<(i64, u64)>)>>;
        let bits = |a: &[Vec<Series>]| -> Bits {
            a.iter()
                .map(|l| {
                    l.iter()
                        .map(|s| {
                            let p = s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect();
                            (s.labels.clone(), p)
                        })
                        .collect()
                })
                .collect()
        };
        let raw = encode_partials(&answers);
        assert_eq!(bits(&decode_partials(&raw).unwrap()), bits(&answers));
        // Regular steps cost one byte of time a point.
        let steps = vec![vec![Series {
            labels: Labels::default(),
            points: (0..241)
                .map(|k| (1_764_000_000_000 + k * 15_000, 1.0))
                .collect(),
        }]];
        assert!(encode_partials(&steps).len() < 241 * 9 + 32);
        // Cut anywhere, or with bytes after: an error, never a panic.
        for cut in 0..raw.len() {
            assert!(decode_partials(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = raw.clone();
        long.push(0);
        assert!(decode_partials(&long).is_err());
        assert!(accepts_binary(
            "application/x-argus-partials-v1, application/json"
        ));
        assert!(accepts_binary(
            "application/json;q=0.5,application/x-argus-partials-v1;q=1"
        ));
        assert!(!accepts_binary("application/json"));
    }

    /// Evaluates `q` split over two "regions" holding halves of the test series (one series
    /// in both), the shared series aggregated centrally, and compares with the whole.
    #[test]
    fn split_answers_equal_the_whole() {
        use crate::eval::tests::{db, fetch_from};
        use crate::{Answer, Fetched, Limits};
        let all = db();
        let a: Vec<Series> = all.iter().step_by(2).cloned().collect();
        let b: Vec<Series> = all.iter().skip(1).step_by(2).cloned().collect();
        let shared = all[0].clone();
        let b: Vec<Series> = b.into_iter().chain([shared.clone()]).collect();
        // The shared series is left out of both regions and aggregated over its own points.
        let without = |v: &[Series]| -> Vec<Series> {
            v.iter()
                .filter(|s| s.labels != shared.labels)
                .cloned()
                .collect()
        };
        let limits = Limits::default();
        for q in [
            "sum(up)",
            "sum by (dc) (load)",
            "avg by (dc) ({__name__=~\"up|load\"})",
            "count without (endpoint) (up)",
            "max(load) - min(load)",
            "topk(2, {__name__=~\"up|load|cap\"})",
            "bottomk by (dc) (1, load * 2)",
            "group by (endpoint) (up)",
            "sum(rate(load[1m])) / count(up)",
        ] {
            for range in [
                EvalRange::instant(300_000),
                EvalRange::range(0, 900_000, 60_000),
            ] {
                let query = Query::parse(q).unwrap();
                let whole = query
                    .eval(&range, &fetch_from(&query, &range, &all), &limits)
                    .unwrap();
                let split = query.split().unwrap();
                let mut parts = Fetched::new();
                for (i, p) in split.partials.iter().enumerate() {
                    let mut series = Vec::new();
                    for region in [without(&a), without(&b), vec![shared.clone()]] {
                        let ans = p.eval(&range, &fetch_from(p, &range, &region), &limits);
                        series.extend(answer_series(ans.unwrap(), range.start_ms));
                    }
                    parts.insert(Split::partial_key(i), series);
                }
                for (k, v) in fetch_from(&split.outer, &range, &all) {
                    parts.entry(k).or_insert(v);
                }
                let got = split.outer.eval(&range, &parts, &limits).unwrap();
                let norm = |a: Answer| -> Vec<Series> {
                    let mut s = answer_series(a, range.start_ms);
                    s.sort_by(|x, y| x.labels.cmp(&y.labels));
                    s
                };
                assert_eq!(norm(got), norm(whole), "{q} over {range:?}");
            }
        }
    }
}
