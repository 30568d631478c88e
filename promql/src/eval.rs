//! The evaluator: Prometheus 2.x semantics, one evaluation time at a time.
//!
//! A range query is evaluated at each of its steps as an instant query would be, and the
//! vectors are gathered into series by label set; Prometheus's range evaluation gives the same
//! answer, step by step. Selectors read the series the caller fetched for the query's
//! [selections](crate::Query::selections).

mod stepped;

use crate::functions::{self, Arg, CallCtx, Window, WindowSeries};
use crate::value::{Labels, Sample, Series, Value, METRIC_NAME};
use crate::{Answer, Error, EvalRange, Fetched, Limits, Selection};
use argus_core::query::{MatchOp as TagOp, TagMatcher};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, Offset,
    SubqueryExpr, VectorMatchCardinality, VectorSelector,
};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The evaluator's maps are keyed by label-set hashes (made once per set) and by identities:
/// a multiply-and-fold hasher of those integers instead of SipHash over them at every step.
/// (A tenant able to collide label hashes slows only its own queries, which are bounded.)
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<KeyHasher>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let x = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Fold the high bits down: the table indexes by the low ones, and identities are
        // aligned addresses.
        self.0 = x ^ (x >> 32);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64)
    }
}
use std::time::{Duration, SystemTime};

/// The default subquery resolution: Prometheus's default global evaluation interval.
const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

fn ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => ms(d),
        Some(Offset::Neg(d)) => -ms(d),
    }
}

fn system_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// The time an `@` modifier pins a selector or subquery to, if any.
fn at_ms(at: &Option<AtModifier>, range: &EvalRange) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(range.start_ms),
        Some(AtModifier::End) => Some(range.end_ms),
        Some(AtModifier::At(t)) => Some(system_ms(t)),
    }
}

/// The matchers of a selector, its metric name included.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> Vec<TagMatcher> {
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(TagMatcher {
            key: METRIC_NAME.to_owned(),
            op: TagOp::Eq,
            value: name.clone(),
        });
    }
    out.extend(vs.matchers.matchers.iter().map(tag_matcher));
    out
}

fn tag_matcher(m: &Matcher) -> TagMatcher {
    TagMatcher {
        key: m.name.clone(),
        op: match m.op {
            MatchOp::Equal => TagOp::Eq,
            MatchOp::NotEqual => TagOp::Ne,
            MatchOp::Re(_) => TagOp::Regex,
            MatchOp::NotRe(_) => TagOp::NotRegex,
        },
        value: m.value.clone(),
    }
}

/// The functions of Prometheus 2.42; the parser also knows later versions' functions, which
/// are refused as 2.42 refuses them.
const FUNCTIONS_2_42: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_sum",
    "histogram_fraction",
    "histogram_quantile",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_replace",
    "label_join",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Makes the parser accept `holt_winters`, 2.x's name for what later versions renamed.
pub(crate) fn register_functions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use promql_parser::parser::value::ValueType;
        use promql_parser::parser::Function;
        // Fails only on a clash with a built-in name, which `holt_winters` is not.
        let _ = promql_parser::parser::register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

/// Checks what the parser leaves to the engine.
pub(crate) fn check(expr: &Expr) -> Result<(), Error> {
    let mut err = None;
    walk(expr, &mut |e| {
        if err.is_some() {
            return;
        }
        if let Expr::Call(c) = e {
            if !FUNCTIONS_2_42.contains(&c.func.name) {
                err = Some(Error::bad_data(format!(
                    "1:1: parse error: unknown function with name {:?}",
                    c.func.name
                )));
            }
            return;
        }
        if let Expr::Aggregate(a) = e {
            let op = a.op.to_string();
            if op == "limitk" || op == "limit_ratio" {
                err = Some(Error::bad_data(format!(
                    "1:1: parse error: unexpected identifier {op:?}"
                )));
            }
            return;
        }
        let vs = match e {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return,
        };
        if !vs.matchers.or_matchers.is_empty() {
            err = Some(Error::bad_data(
                "`or` inside a selector's braces is not PromQL 2.x",
            ));
            return;
        }
        let non_empty = vs.name.is_some() || vs.matchers.matchers.iter().any(|m| !m.is_match(""));
        if !non_empty {
            err = Some(Error::bad_data(format!(
                "vector selector must contain at least one non-empty matcher: {vs}"
            )));
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Visits `expr` and every expression below it.
fn walk(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, f);
            }
        }
        _ => {}
    }
}

pub(crate) fn value_type(expr: &Expr) -> &'static str {
    use promql_parser::parser::value::ValueType;
    match expr.value_type() {
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
    }
}

/// The selections `expr` reads when evaluated at every time in `[lo, hi]`.
pub(crate) fn selections(expr: &Expr, range: &EvalRange) -> Vec<Selection> {
    let mut out: BTreeMap<String, Selection> = BTreeMap::new();
    plan(expr, range.start_ms, range.end_ms, range, &mut out);
    out.into_values().collect()
}

fn plan(expr: &Expr, lo: i64, hi: i64, range: &EvalRange, out: &mut BTreeMap<String, Selection>) {
    // The times a selector or subquery is read at, with `@` and offset applied.
    let shift = |at: &Option<AtModifier>, off: &Option<Offset>| {
        let o = offset_ms(off);
        match at_ms(at, range) {
            Some(t) => (t - o, t - o),
            None => (lo - o, hi - o),
        }
    };
    let mut add = |vs: &VectorSelector, back: i64| {
        let (a, b) = shift(&vs.at, &vs.offset);
        let sel = Selection {
            matchers: selector_matchers(vs),
            start_ms: a - back,
            end_ms: b,
        };
        out.entry(sel.key())
            .and_modify(|s| {
                s.start_ms = s.start_ms.min(sel.start_ms);
                s.end_ms = s.end_ms.max(sel.end_ms);
            })
            .or_insert(sel);
    };
    match expr {
        Expr::VectorSelector(vs) => add(vs, range.lookback_ms),
        Expr::MatrixSelector(m) => add(&m.vs, ms(&m.range)),
        Expr::Subquery(s) => {
            let (a, b) = shift(&s.at, &s.offset);
            plan(&s.expr, a - ms(&s.range), b, range, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                plan(p, lo, hi, range, out);
            }
            plan(&a.expr, lo, hi, range, out);
        }
        Expr::Unary(u) => plan(&u.expr, lo, hi, range, out),
        Expr::Binary(b) => {
            plan(&b.lhs, lo, hi, range, out);
            plan(&b.rhs, lo, hi, range, out);
        }
        Expr::Paren(p) => plan(&p.expr, lo, hi, range, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                plan(a, lo, hi, range, out);
            }
        }
        _ => {}
    }
}

/// Evaluates `expr` over `range`.
pub(crate) fn run(
    expr: &Expr,
    range: &EvalRange,
    data: &Fetched,
    limits: &Limits,
) -> Result<Answer, Error> {
    let series: usize = data.values().map(Vec::len).sum();
    if series > limits.max_series {
        return Err(Error::execution(format!(
            "query selects {series} series, more than the limit of {} (max_series)",
            limits.max_series
        )));
    }
    let samples: usize = data
        .values()
        .flat_map(|v| v.iter())
        .map(|s| s.points.len())
        .sum();
    if samples > limits.max_samples {
        return Err(Error::execution(format!(
            "query processing would load too many samples into memory: {samples} samples, \
             the limit is {} (max_samples)",
            limits.max_samples
        )));
    }
    // Selectors yield series in label order, as Prometheus's storage does: which of equal
    // values topk keeps, and float sums, depend on the input order.
    let sorted: Fetched;
    let data = if data
        .values()
        .all(|v| v.windows(2).all(|w| w[0].labels <= w[1].labels))
    {
        data
    } else {
        sorted = data
            .iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.sort_by(|a, b| a.labels.cmp(&b.labels));
                (k.clone(), v)
            })
            .collect();
        &sorted
    };
    let ev = Evaluator {
        data,
        range,
        found: RefCell::new(HashMap::default()),
        groups: RefCell::new(HashMap::default()),
        inputs: RefCell::new(HashMap::default()),
        deadline: limits.deadline,
    };
    if range.step_ms == 0 {
        return Ok(Answer::Instant(ev.eval(expr, range.start_ms)?));
    }
    let t = value_type(expr);
    if t != "vector" && t != "scalar" {
        return Err(Error::bad_data(format!(
            "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
            if t == "matrix" { "range vector" } else { t }
        )));
    }
    if range.step_ms < 0 {
        return Err(Error::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (range.end_ms - range.start_ms) / range.step_ms > limits.max_steps {
        return Err(Error::bad_data(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            limits.max_steps
        )));
    }
    if !stepped::disabled() {
        if let Some(answer) = stepped::range(&ev, expr) {
            return answer.map(Answer::Range);
        }
    }
    // Steps gathered into series: found by the shared label set's identity first (the same
    // set at every step, mostly), by its contents otherwise.
    let mut series: Vec<Series> = Vec::new();
    let mut by_id: HashMap<usize, usize> = HashMap::default();
    let mut by_labels: HashMap<Labels, usize> = HashMap::default();
    let mut add = |labels: Labels, t: i64, v: f64| -> Result<(), Error> {
        let i = match by_id.get(&labels.id()) {
            Some(&i) => i,
            None => {
                let i = *by_labels.entry(labels.clone()).or_insert_with(|| {
                    series.push(Series {
                        labels: labels.clone(),
                        points: Vec::new(),
                    });
                    series.len() - 1
                });
                // Only the set kept in `series` has a stable identity.
                if series[i].labels.id() == labels.id() {
                    by_id.insert(labels.id(), i);
                }
                i
            }
        };
        let pts = &mut series[i].points;
        if pts.last().is_some_and(|p| p.0 == t) {
            return Err(Error::execution(
                "vector cannot contain metrics with the same labelset",
            ));
        }
        pts.push((t, v));
        Ok(())
    };
    let mut t = range.start_ms;
    while t <= range.end_ms {
        ev.in_time()?;
        match ev.eval(expr, t)? {
            Value::Scalar(v) => add(Labels::default(), t, v)?,
            Value::Vector(vec) => {
                for s in vec {
                    add(s.labels, t, s.value)?;
                }
            }
            other => {
                return Err(Error::bad_data(format!(
                    "invalid expression type {:?} for range query",
                    other.type_name()
                )))
            }
        }
        t += range.step_ms;
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Answer::Range(series))
}

struct Evaluator<'a> {
    data: &'a Fetched,
    range: &'a EvalRange,
    deadline: Option<std::time::Instant>,
    /// Each selector's series, found once by the selector's address (every step reads them).
    found: RefCell<HashMap<usize, &'a [Series]>>,
    /// Per range-vector function call (by address): its input series seen so far.
    inputs: RefCell<HashMap<usize, CallInputs>>,
    /// Per aggregation (by address) and input label set (by identity): its group's labels.
    groups: RefCell<HashMap<(usize, usize), (Labels, Labels)>>,
}

/// The input series a range-vector function call has seen over the steps so far.
#[derive(Default)]
struct CallInputs {
    /// Input label sets already looked at, by identity (the set kept so it stays unique).
    known: HashMap<usize, Labels>,
    /// Each output label set's input, and whether that input gave it at some step.
    owner: HashMap<Labels, (Labels, bool)>,
    /// Two inputs give the same output label set.
    shared: bool,
}

/// Entries of the aggregation group memo before it starts over (label sets made anew at every
/// step would otherwise grow it without bound).
const GROUP_MEMO_MAX: usize = 200_000;

/// `v` unless it is a vector holding two samples with the same labels.
fn checked(v: Value) -> Result<Value, Error> {
    if let Value::Vector(samples) = &v {
        let mut seen = HashSet::with_capacity_and_hasher(samples.len(), Default::default());
        for s in samples {
            if !seen.insert(&s.labels) {
                return Err(Error::execution(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
        }
    }
    Ok(v)
}

impl<'a> Evaluator<'a> {
    fn series_of(&self, vs: &VectorSelector) -> &'a [Series] {
        let addr = vs as *const VectorSelector as usize;
        if let Some(s) = self.found.borrow().get(&addr) {
            return s;
        }
        let s = self
            .data
            .get(&crate::labels::matchers_key(&selector_matchers(vs)))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        self.found.borrow_mut().insert(addr, s);
        s
    }

    /// A `timeout` error once the deadline has passed.
    fn in_time(&self) -> Result<(), Error> {
        match self.deadline {
            Some(d) if std::time::Instant::now() > d => {
                Err(Error::timeout("query timed out in query execution"))
            }
            _ => Ok(()),
        }
    }

    /// The reference time of a selector or subquery evaluated at `t`.
    fn ref_time(&self, t: i64, at: &Option<AtModifier>, off: &Option<Offset>) -> i64 {
        at_ms(at, self.range).unwrap_or(t) - offset_ms(off)
    }

    fn eval(&self, expr: &Expr, t: i64) -> Result<Value, Error> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(
                self.instant(vs, t)
                    .into_iter()
                    .map(|(labels, _, value)| Sample { labels, value })
                    .collect(),
            )),
            Expr::MatrixSelector(m) => Ok(Value::Matrix(owned(self.window(m, t)))),
            Expr::Subquery(s) => Ok(Value::Matrix(owned(self.subquery(s, t)?))),
            Expr::Unary(u) => Ok(match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Value::Scalar(-v),
                Value::Vector(v) => Value::Vector(
                    v.into_iter()
                        .map(|s| Sample {
                            labels: s.labels.drop_name(),
                            value: -s.value,
                        })
                        .collect(),
                ),
                other => other,
            })
            .and_then(checked),
            // Prometheus checks every operator's and function's result at every step.
            Expr::Binary(b) => self.binary(b, t).and_then(checked),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Call(c) => self.call(c, t).and_then(checked),
            Expr::Extension(_) => Err(Error::bad_data("extension expressions are not PromQL")),
        }
    }

    /// Each selected series' latest sample at `t` within the lookback: `(labels, time, value)`.
    fn instant(&self, vs: &VectorSelector, t: i64) -> Vec<(Labels, i64, f64)> {
        let rt = self.ref_time(t, &vs.at, &vs.offset);
        // A partial answer (see `split`) has a sample at exactly each evaluation time.
        let partial = vs
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with(crate::split::PARTIAL_PREFIX));
        let from = rt - if partial { 0 } else { self.range.lookback_ms };
        let mut out = Vec::new();
        for s in self.series_of(vs) {
            let i = s.points.partition_point(|p| p.0 <= rt);
            if i == 0 {
                continue;
            }
            let (pt, v) = s.points[i - 1];
            if pt >= from {
                out.push((s.labels.clone(), pt, v));
            }
        }
        out
    }

    /// A range selector's points at `t`: the window `[rt - range, rt]`, both ends included.
    fn window(&self, m: &MatrixSelector, t: i64) -> Window<'a> {
        let rt = self.ref_time(t, &m.vs.at, &m.vs.offset);
        let from = rt - ms(&m.range);
        let mut series = Vec::new();
        for s in self.series_of(&m.vs) {
            let a = s.points.partition_point(|p| p.0 < from);
            let b = s.points.partition_point(|p| p.0 <= rt);
            if a < b {
                series.push(WindowSeries {
                    labels: s.labels.clone(),
                    points: Cow::Borrowed(&s.points[a..b]),
                });
            }
        }
        Window {
            series,
            start_ms: from,
            end_ms: rt,
        }
    }

    /// A subquery at `t`: the inner expression evaluated at the multiples of its step within
    /// `[rt - range, rt]`.
    fn subquery(&self, s: &SubqueryExpr, t: i64) -> Result<Window<'a>, Error> {
        let rt = self.ref_time(t, &s.at, &s.offset);
        let step = s
            .step
            .as_ref()
            .map(ms)
            .filter(|&d| d > 0)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
        let from = rt - ms(&s.range);
        let mut it = from.div_euclid(step) * step;
        if it < from {
            it += step;
        }
        let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        while it <= rt {
            self.in_time()?;
            match self.eval(&s.expr, it)? {
                Value::Vector(v) => {
                    for smp in v {
                        out.entry(smp.labels).or_default().push((it, smp.value));
                    }
                }
                Value::Scalar(v) => out.entry(Labels::default()).or_default().push((it, v)),
                other => {
                    return Err(Error::bad_data(format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        other.type_name()
                    )))
                }
            }
            it += step;
        }
        Ok(Window {
            series: out
                .into_iter()
                .map(|(labels, points)| WindowSeries {
                    labels,
                    points: Cow::Owned(points),
                })
                .collect(),
            start_ms: from,
            end_ms: rt,
        })
    }

    fn call(&self, c: &Call, t: i64) -> Result<Value, Error> {
        let name = c.func.name;
        // timestamp() of a selector answers each sample's own time, not the evaluation time.
        if name == "timestamp" {
            if let Some(vs) = unwrap_selector(&c.args.args[0]) {
                return Ok(Value::Vector(
                    self.instant(vs, t)
                        .into_iter()
                        .map(|(labels, pt, _)| Sample {
                            labels: labels.drop_name(),
                            value: pt as f64 / 1000.0,
                        })
                        .collect(),
                ));
            }
        }
        let mut args = Vec::with_capacity(c.args.args.len());
        for a in &c.args.args {
            args.push(match unparen(a) {
                Expr::MatrixSelector(m) => Arg::Matrix(self.window(m, t)),
                Expr::Subquery(s) => Arg::Matrix(self.subquery(s, t)?),
                e => match self.eval(e, t)? {
                    Value::Scalar(v) => Arg::Scalar(v),
                    Value::String(s) => Arg::String(s),
                    Value::Vector(v) => Arg::Vector(v),
                    Value::Matrix(m) => Arg::Matrix(Window {
                        series: m
                            .into_iter()
                            .map(|s| WindowSeries {
                                labels: s.labels,
                                points: Cow::Owned(s.points),
                            })
                            .collect(),
                        start_ms: t,
                        end_ms: t,
                    }),
                },
            });
        }
        let ctx = CallCtx {
            t_ms: t,
            arg_exprs: &c.args.args,
        };
        let matrix = args.iter().position(|a| matches!(a, Arg::Matrix(_)));
        let (Some(m), true) = (matrix, self.range.step_ms > 0 && name != "absent_over_time") else {
            return functions::call(name, args, &ctx);
        };
        // A range query's range-vector function: Prometheus evaluates it over the whole span
        // at once and refuses a result where two input series end with the same label set
        // (names dropped), even when they never have samples at the same step. The input
        // behind each output label set is remembered across steps to refuse the same; where
        // two inputs share an output label set, each is called alone to know which answered.
        let keeps_name = name == "last_over_time";
        let key = |l: &Labels| if keeps_name { l.clone() } else { l.drop_name() };
        let Arg::Matrix(w) = &args[m] else {
            unreachable!("found above")
        };
        // Whether two inputs of this call, at any step so far, share an output label set:
        // each input series is looked at once (by the identity of its shared label set).
        let shared = {
            let mut all = self.inputs.borrow_mut();
            let seen = all.entry(c as *const Call as usize).or_default();
            if seen.known.len() > GROUP_MEMO_MAX {
                seen.known.clear();
            }
            for s in &w.series {
                if seen.known.contains_key(&s.labels.id()) {
                    continue;
                }
                seen.known.insert(s.labels.id(), s.labels.clone());
                match seen.owner.get(&key(&s.labels)) {
                    Some((owner, _)) => seen.shared |= *owner != s.labels,
                    None => {
                        seen.owner.insert(key(&s.labels), (s.labels.clone(), false));
                    }
                }
            }
            seen.shared
        };
        // While no two inputs share an output label set, each output's input is its owner.
        if !shared {
            let out = functions::call(name, args, &ctx)?;
            if let Value::Vector(v) = &out {
                let mut all = self.inputs.borrow_mut();
                let seen = all.entry(c as *const Call as usize).or_default();
                for smp in v {
                    if let Some((_, gave)) = seen.owner.get_mut(&smp.labels) {
                        *gave = true;
                    }
                }
            }
            return Ok(out);
        }
        let Arg::Matrix(w) = std::mem::replace(&mut args[m], Arg::Scalar(0.0)) else {
            unreachable!("found above")
        };
        let mut out = Vec::new();
        for series in w.series {
            let input = series.labels.clone();
            let mut one = args.clone();
            one[m] = Arg::Matrix(Window {
                series: vec![series],
                start_ms: w.start_ms,
                end_ms: w.end_ms,
            });
            if let Value::Vector(v) = functions::call(name, one, &ctx)? {
                for smp in v {
                    self.same_origin(c, &smp.labels, &input)?;
                    out.push(smp);
                }
            }
        }
        Ok(Value::Vector(out))
    }

    /// Records that `input` gave `output` in call `c`; another input having given it too, at
    /// this step or any other, is an error.
    fn same_origin(&self, c: &Call, output: &Labels, input: &Labels) -> Result<(), Error> {
        let mut all = self.inputs.borrow_mut();
        let seen = all.entry(c as *const Call as usize).or_default();
        match seen.owner.get_mut(output) {
            Some((owner, gave)) if owner != input => {
                if *gave {
                    return Err(Error::execution(
                        "vector cannot contain metrics with the same labelset",
                    ));
                }
                *owner = input.clone();
                *gave = true;
            }
            Some((_, gave)) => *gave = true,
            None => {
                seen.owner.insert(output.clone(), (input.clone(), true));
            }
        }
        Ok(())
    }

    fn vector(&self, e: &Expr, t: i64) -> Result<Vec<Sample>, Error> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(Error::bad_data(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Value, Error> {
        let op = b.op.to_string();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let l = self.eval(&b.lhs, t)?;
        let r = self.eval(&b.rhs, t)?;
        match (l, r) {
            (Value::Scalar(a), Value::Scalar(c)) => {
                let (v, keep) = elem_op(&op, a, c)?;
                if is_comparison(&op) {
                    // The parser only lets a scalar comparison through with `bool`.
                    return Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }));
                }
                Ok(Value::Scalar(v))
            }
            (Value::Vector(v), Value::Scalar(c)) => {
                self.vector_scalar(&op, v, c, false, return_bool)
            }
            (Value::Scalar(c), Value::Vector(v)) => {
                self.vector_scalar(&op, v, c, true, return_bool)
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let (card, on, labels) = matching(b);
                match op.as_str() {
                    "and" | "or" | "unless" => {
                        Ok(Value::Vector(set_op(&op, l, r, on, &labels)))
                    }
                    _ => vector_vector(&op, l, r, &card, on, &labels, return_bool)
                        .map(Value::Vector),
                }
            }
            (l, r) => Err(Error::bad_data(format!(
                "binary expression must contain only scalar and instant vector types, got {} and {}",
                l.type_name(),
                r.type_name()
            ))),
        }
    }

    fn vector_scalar(
        &self,
        op: &str,
        v: Vec<Sample>,
        c: f64,
        swap: bool,
        return_bool: bool,
    ) -> Result<Value, Error> {
        let mut out = Vec::with_capacity(v.len());
        for s in v {
            let (a, b) = if swap { (c, s.value) } else { (s.value, c) };
            let (mut value, keep) = elem_op(op, a, b)?;
            // A comparison keeps the vector's sample, whichever side it is on.
            if is_comparison(op) && swap {
                value = b;
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            let labels = if drops_name(op) || return_bool {
                s.labels.drop_name()
            } else {
                s.labels
            };
            out.push(Sample { labels, value });
        }
        Ok(Value::Vector(out))
    }

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Value, Error> {
        let op = a.op.to_string();
        let input = self.vector(&a.expr, t)?;
        let (by, names): (bool, Vec<&str>) = match &a.modifier {
            None => (true, Vec::new()),
            Some(LabelModifier::Include(l)) => {
                (true, l.labels.iter().map(String::as_str).collect())
            }
            Some(LabelModifier::Exclude(l)) => {
                let mut n: Vec<&str> = l.labels.iter().map(String::as_str).collect();
                n.push(METRIC_NAME);
                (false, n)
            }
        };
        // The parameter is evaluated before the group memo is taken: it may aggregate too.
        let param = match &a.param {
            Some(p) => Some(self.eval(p, t)?),
            None => None,
        };
        let scalar_param = || match &param {
            Some(Value::Scalar(v)) => Ok(*v),
            other => Err(Error::bad_data(format!(
                "expected scalar parameter, got {}",
                other.as_ref().map_or("nothing", Value::type_name)
            ))),
        };
        // A series' group is the same at every step: found once per shared label set.
        let node = a as *const AggregateExpr as usize;
        let mut memo = self.groups.borrow_mut();
        let mut group_of = |l: &Labels| {
            if memo.len() > GROUP_MEMO_MAX {
                memo.clear();
            }
            memo.entry((node, l.id()))
                .or_insert_with(|| {
                    let g = if by {
                        l.only(&names)
                    } else {
                        l.without(&names)
                    };
                    // The key's set is held with its group, so its identity stays unique.
                    (l.clone(), g)
                })
                .1
                .clone()
        };
        match op.as_str() {
            "topk" | "bottomk" => {
                let k = topk_param(scalar_param()?)?;
                Ok(Value::Vector(topk(op == "topk", k, input, group_of)))
            }
            "count_values" => {
                let label = match &param {
                    Some(Value::String(s)) => s.clone(),
                    other => {
                        return Err(Error::bad_data(format!(
                            "expected string parameter, got {}",
                            other.as_ref().map_or("nothing", Value::type_name)
                        )))
                    }
                };
                if !is_label_name(&label) {
                    return Err(Error::execution(format!("invalid label name {label:?}")));
                }
                let mut counts: Vec<(Labels, f64)> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::default();
                for s in &input {
                    // The value label is set before grouping: `by` keeps it, and `without`
                    // naming it drops it, as in Prometheus.
                    let l = s.labels.with(&label, &crate::json::format_value(s.value));
                    let g = if by {
                        let mut n = names.clone();
                        n.push(&label);
                        l.only(&n)
                    } else {
                        l.without(&names)
                    };
                    match index.get(&g) {
                        Some(&i) => counts[i].1 += 1.0,
                        None => {
                            index.insert(g.clone(), counts.len());
                            counts.push((g, 1.0));
                        }
                    }
                }
                Ok(Value::Vector(
                    counts
                        .into_iter()
                        .map(|(labels, value)| Sample { labels, value })
                        .collect(),
                ))
            }
            _ => {
                let q = match op.as_str() {
                    "quantile" => Some(scalar_param()?),
                    _ => None,
                };
                let mut groups: Vec<(Labels, Vec<f64>)> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::default();
                for s in input {
                    let g = group_of(&s.labels);
                    match index.get(&g) {
                        Some(&i) => groups[i].1.push(s.value),
                        None => {
                            index.insert(g.clone(), groups.len());
                            groups.push((g, vec![s.value]));
                        }
                    }
                }
                let mut out = Vec::with_capacity(groups.len());
                for (labels, vals) in groups {
                    let value = reduce(&op, &vals, q)?;
                    out.push(Sample { labels, value });
                }
                Ok(Value::Vector(out))
            }
        }
    }
}

/// One group's value of the aggregation `op` over its samples' values in input order (the
/// order decides float sums and which NaN wins); `q` is quantile's parameter.
fn reduce(op: &str, vals: &[f64], q: Option<f64>) -> Result<f64, Error> {
    if op == "quantile" {
        return Ok(quantile(q.unwrap_or(f64::NAN), vals.to_vec()));
    }
    let kind = Fold::kind(op)?;
    let mut acc = Fold::default();
    for &v in vals {
        acc.add(kind, v);
    }
    Ok(acc.value(kind))
}

/// An aggregation without parameter, as a fold over a group's values in input order: both the
/// step-by-step evaluation and the series-by-series one (`stepped`) compute groups with it, so they agree
/// to the bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FoldKind {
    Sum,
    Avg,
    Count,
    Group,
    Min,
    Max,
    Stddev,
    Stdvar,
}

/// The running state of a [`FoldKind`] over the values added so far.
#[derive(Debug, Clone, Copy, Default)]
struct Fold {
    /// Values added.
    n: u64,
    /// The sum, mean, minimum or maximum so far.
    x: f64,
    /// The sum of squared differences from the mean (Welford's method), for the variances.
    s: f64,
}

impl Fold {
    fn kind(op: &str) -> Result<FoldKind, Error> {
        Ok(match op {
            "sum" => FoldKind::Sum,
            "avg" => FoldKind::Avg,
            "count" => FoldKind::Count,
            "group" => FoldKind::Group,
            "min" => FoldKind::Min,
            "max" => FoldKind::Max,
            "stddev" => FoldKind::Stddev,
            "stdvar" => FoldKind::Stdvar,
            other => {
                return Err(Error::bad_data(format!(
                    "aggregation {other:?} is not PromQL 2.x"
                )))
            }
        })
    }

    fn add(&mut self, kind: FoldKind, v: f64) {
        self.n += 1;
        if self.n == 1 {
            self.x = v;
            return;
        }
        let n = self.n as f64;
        match kind {
            FoldKind::Sum => self.x += v,
            // Prometheus's incremental mean, which keeps an infinite mean infinite.
            FoldKind::Avg => {
                let m = self.x;
                if m.is_infinite()
                    && ((v.is_infinite() && (m > 0.0) == (v > 0.0))
                        || (!v.is_infinite() && !v.is_nan()))
                {
                    return;
                }
                self.x += v / n - m / n;
            }
            FoldKind::Count | FoldKind::Group => {}
            FoldKind::Min => {
                if self.x > v || self.x.is_nan() {
                    self.x = v;
                }
            }
            FoldKind::Max => {
                if self.x < v || self.x.is_nan() {
                    self.x = v;
                }
            }
            FoldKind::Stddev | FoldKind::Stdvar => {
                let d = v - self.x;
                self.x += d / n;
                self.s += d * (v - self.x);
            }
        }
    }

    /// The aggregation's value (only asked of a fold that was given a value).
    fn value(&self, kind: FoldKind) -> f64 {
        match kind {
            FoldKind::Sum | FoldKind::Avg | FoldKind::Min | FoldKind::Max => self.x,
            FoldKind::Count => self.n as f64,
            FoldKind::Group => 1.0,
            FoldKind::Stdvar => self.s / self.n as f64,
            FoldKind::Stddev => (self.s / self.n as f64).sqrt(),
        }
    }
}

/// A window's series as a range vector value (a top-level range selector or subquery).
fn owned(w: Window<'_>) -> Vec<Series> {
    w.series
        .into_iter()
        .map(|s| Series {
            labels: s.labels,
            points: s.points.into_owned(),
        })
        .collect()
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        e => e,
    }
}

fn unwrap_selector(e: &Expr) -> Option<&VectorSelector> {
    match unparen(e) {
        Expr::VectorSelector(vs) => Some(vs),
        _ => None,
    }
}

/// The φ-quantile of `vals` with linear interpolation between ranks.
pub(crate) fn quantile(q: f64, mut vals: Vec<f64>) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lower as usize] * (1.0 - w) + vals[upper as usize] * w
}

/// topk's and bottomk's parameter as the count it is; NaN or out of range is an error, as
/// Prometheus's conversion check makes it.
fn topk_param(k: f64) -> Result<i64, Error> {
    if !(-9.223_372_036_854_775e18..=9.223_372_036_854_775e18).contains(&k) {
        return Err(Error::execution(format!(
            "Scalar value {} overflows int64",
            crate::json::format_value(k)
        )));
    }
    Ok(k as i64)
}

/// topk/bottomk per group, choosing among equal values exactly as Prometheus does (see
/// [`heap_offer`]).
fn topk(
    top: bool,
    k: i64,
    input: Vec<Sample>,
    mut group_of: impl FnMut(&Labels) -> Labels,
) -> Vec<Sample> {
    if k < 1 {
        return Vec::new();
    }
    let k = k as usize;
    // Each group's heap of (value, input index).
    let mut groups: Vec<Vec<(f64, u32)>> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    for (i, s) in input.iter().enumerate() {
        let g = group_of(&s.labels);
        let g = *index.entry(g).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        heap_offer(&mut groups[g], k, top, (s.value, i as u32));
    }
    let mut input: Vec<Option<Sample>> = input.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for mut g in groups {
        // Best first; which samples were kept is already decided.
        heap_best_first(&mut g, top);
        out.extend(
            g.iter()
                .map(|&(_, i)| input[i as usize].take().expect("a sample is kept once")),
        );
    }
    out
}

/// The heap's "less" of topk (`top`) or bottomk: NaN first, then the weakest kept value on top.
fn heap_less(top: bool) -> impl Fn(f64, f64) -> bool {
    move |a, b| a.is_nan() || if top { a < b } else { a > b }
}

/// Offers `item` (a value and its input's index) to the heap `h` of at most `k` kept values:
/// Prometheus's selection through Go's binary heap, whose order decides which of equal values
/// stay. The step-by-step and the series-by-series evaluations both select with it.
fn heap_offer(h: &mut Vec<(f64, u32)>, k: usize, top: bool, item: (f64, u32)) {
    let Some(&(weakest, _)) = h.first() else {
        h.push(item);
        return;
    };
    let less = heap_less(top);
    let weaker = if top {
        weakest < item.0
    } else {
        weakest > item.0
    };
    if h.len() < k || weaker || weakest.is_nan() {
        if h.len() == k {
            if k == 1 {
                h[0] = item;
                return;
            }
            heap_pop(h, &less);
        }
        h.push(item);
        let n = h.len() - 1;
        heap_up(h, n, &less);
    }
}

/// A heap's values best first (equal values keep their heap order).
fn heap_best_first(h: &mut [(f64, u32)], top: bool) {
    let less = heap_less(top);
    h.sort_by(|a, b| {
        if less(a.0, b.0) {
            std::cmp::Ordering::Greater
        } else if less(b.0, a.0) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Equal
        }
    });
}

/// Go's `container/heap` sift-up.
fn heap_up(h: &mut [(f64, u32)], mut j: usize, less: &impl Fn(f64, f64) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j].0, h[i].0) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` Pop: the top is swapped to the end, sifted down, then removed.
fn heap_pop(h: &mut Vec<(f64, u32)>, less: &impl Fn(f64, f64) -> bool) {
    let n = h.len() - 1;
    h.swap(0, n);
    let mut i = 0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(h[j1 + 1].0, h[j1].0) {
            j = j1 + 1;
        }
        if !less(h[j].0, h[i].0) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    h.pop();
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^" | "atan2")
}

/// One operation on two numbers: the value, and for comparisons whether it holds.
fn elem_op(op: &str, a: f64, b: f64) -> Result<(f64, bool), Error> {
    Ok(match op {
        "+" => (a + b, true),
        "-" => (a - b, true),
        "*" => (a * b, true),
        "/" => (a / b, true),
        "%" => (a % b, true),
        "^" => (a.powf(b), true),
        "atan2" => (a.atan2(b), true),
        "==" => (a, a == b),
        "!=" => (a, a != b),
        ">" => (a, a > b),
        "<" => (a, a < b),
        ">=" => (a, a >= b),
        "<=" => (a, a <= b),
        other => {
            return Err(Error::bad_data(format!(
                "operator {other:?} is not PromQL 2.x"
            )))
        }
    })
}

/// The cardinality, whether matching is `on`, and the matching labels of a binary expression.
fn matching(b: &BinaryExpr) -> (VectorMatchCardinality, bool, Vec<String>) {
    match &b.modifier {
        None => (VectorMatchCardinality::OneToOne, false, Vec::new()),
        Some(m) => {
            let (on, labels) = match &m.matching {
                Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
                Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
                None => (false, Vec::new()),
            };
            (m.card.clone(), on, labels)
        }
    }
}

/// The match signature of a sample: the `on` labels, or every label but the ignored ones and
/// the metric name.
fn signature(l: &Labels, on: bool, names: &[String]) -> Labels {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if on {
        l.only(&names)
    } else {
        let mut n = names;
        n.push(METRIC_NAME);
        l.without(&n)
    }
}

fn set_op(op: &str, l: Vec<Sample>, r: Vec<Sample>, on: bool, names: &[String]) -> Vec<Sample> {
    let rsigs: HashSet<Labels> = r.iter().map(|s| signature(&s.labels, on, names)).collect();
    match op {
        "and" => l
            .into_iter()
            .filter(|s| rsigs.contains(&signature(&s.labels, on, names)))
            .collect(),
        "unless" => l
            .into_iter()
            .filter(|s| !rsigs.contains(&signature(&s.labels, on, names)))
            .collect(),
        _ => {
            let lsigs: HashSet<Labels> =
                l.iter().map(|s| signature(&s.labels, on, names)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|s| !lsigs.contains(&signature(&s.labels, on, names))),
            );
            out
        }
    }
}

fn vector_vector(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    card: &VectorMatchCardinality,
    on: bool,
    names: &[String],
    return_bool: bool,
) -> Result<Vec<Sample>, Error> {
    let (one_to_many, include): (bool, Vec<&str>) = match card {
        VectorMatchCardinality::OneToMany(l) => {
            (true, l.labels.iter().map(String::as_str).collect())
        }
        VectorMatchCardinality::ManyToOne(l) => {
            (false, l.labels.iter().map(String::as_str).collect())
        }
        _ => (false, Vec::new()),
    };
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    // The "one" side is indexed; for group_right the sides swap and swap back for the values.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, Sample> =
        HashMap::with_capacity_and_hasher(one.len(), Default::default());
    for s in one {
        let sig = signature(&s.labels, on, names);
        if let Some(dup) = one_by_sig.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(Error::execution(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: \
                 [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                s.labels, dup.labels
            )));
        }
        one_by_sig.insert(sig, s);
    }
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::default();
    let mut out = Vec::new();
    for s in many {
        let sig = signature(&s.labels, on, names);
        let Some(o) = one_by_sig.get(&sig) else {
            continue;
        };
        let (a, b) = if one_to_many {
            (o.value, s.value)
        } else {
            (s.value, o.value)
        };
        let (mut value, keep) = elem_op(op, a, b)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut labels = s.labels.clone();
        if drops_name(op) || return_bool {
            labels = labels.drop_name();
        }
        if one_to_one {
            let n: Vec<&str> = names.iter().map(String::as_str).collect();
            labels = if on {
                labels.only(&n)
            } else {
                labels.without(&n)
            };
        }
        for ln in &include {
            labels = labels.with(ln, o.labels.get(ln));
        }
        let seen = matched.entry(sig).or_default();
        if one_to_one {
            if !seen.is_empty() {
                return Err(Error::execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            seen.insert(Labels::default());
        } else if !seen.insert(labels.clone()) {
            return Err(Error::execution(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Query, DEFAULT_LOOKBACK_MS};

    pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    /// What a caller fetches for `query`'s selections over `range` from `db`.
    pub(crate) fn fetch_from(query: &Query, range: &EvalRange, db: &[Series]) -> Fetched {
        let mut fetched = Fetched::new();
        for sel in query.selections(range) {
            let exact = crate::labels::CompiledMatchers::new(&sel.matchers).unwrap();
            let got = db
                .iter()
                .filter(|s| exact.matches(&s.labels))
                .map(|s| Series {
                    labels: s.labels.clone(),
                    points: s
                        .points
                        .iter()
                        .copied()
                        .filter(|p| p.0 >= sel.start_ms && p.0 <= sel.end_ms)
                        .collect(),
                })
                .collect();
            fetched.insert(sel.key(), got);
        }
        fetched
    }

    /// Evaluates `q` over `range` on an in-memory set of series, fetched as a caller would.
    fn eval(q: &str, range: EvalRange, db: &[Series]) -> Result<Answer, Error> {
        let query = Query::parse(q)?;
        query.eval(&range, &fetch_from(&query, &range, db), &Limits::default())
    }

    pub(crate) fn db() -> Vec<Series> {
        let every = |from: i64, to: i64, f: &dyn Fn(i64) -> f64| {
            (from..=to)
                .step_by(10)
                .map(|s| (s * 1000, f(s)))
                .collect::<Vec<_>>()
        };
        vec![
            Series {
                labels: labels(&[("__name__", "up"), ("dc", "bj"), ("endpoint", "h1")]),
                points: every(0, 1000, &|_| 1.0),
            },
            Series {
                labels: labels(&[("__name__", "up"), ("dc", "sh"), ("endpoint", "h2")]),
                points: every(0, 60, &|_| 0.0),
            },
            Series {
                labels: labels(&[("__name__", "load"), ("dc", "bj"), ("endpoint", "h1")]),
                points: every(0, 1000, &|s| s as f64),
            },
            Series {
                labels: labels(&[("__name__", "cap"), ("dc", "bj")]),
                points: every(0, 1000, &|_| 4.0),
            },
            // h2's up, renamed, starting after up stops.
            Series {
                labels: labels(&[("__name__", "late"), ("dc", "sh"), ("endpoint", "h2")]),
                points: every(100, 1000, &|s| s as f64),
            },
        ]
    }

    fn vector(a: Answer) -> Vec<(String, f64)> {
        let Answer::Instant(Value::Vector(v)) = a else {
            panic!("not a vector: {a:?}")
        };
        let mut out: Vec<(String, f64)> = v
            .into_iter()
            .map(|s| (s.labels.to_string(), s.value))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn instant_selector_takes_the_latest_sample_within_the_lookback() {
        let db = db();
        // h2 stopped at 60 s: visible at 360 s (exactly the lookback), gone at 361 s.
        let at = |t: i64| vector(eval("up", EvalRange::instant(t), &db).unwrap());
        assert_eq!(at(360_000).len(), 2);
        assert_eq!(at(361_000).len(), 1);
        let v = vector(eval("load offset 1m", EvalRange::instant(305_000), &db).unwrap());
        assert_eq!(
            v,
            vec![(r#"{__name__="load", dc="bj", endpoint="h1"}"#.into(), 240.0)]
        );
        let v = vector(eval("load @ 100", EvalRange::instant(900_000), &db).unwrap());
        assert_eq!(v[0].1, 100.0);
        assert!(eval("{dc=~\".*\"}", EvalRange::instant(0), &db).is_err());
    }

    #[test]
    fn aggregation_and_matching() {
        let db = db();
        let t = EvalRange::instant(30_000);
        let v = vector(eval("sum by (dc) (up)", t, &db).unwrap());
        assert_eq!(
            v,
            vec![(r#"{dc="bj"}"#.into(), 1.0), (r#"{dc="sh"}"#.into(), 0.0)]
        );
        let v = vector(eval("count without (endpoint) (up)", t, &db).unwrap());
        assert_eq!(
            v,
            vec![(r#"{dc="bj"}"#.into(), 1.0), (r#"{dc="sh"}"#.into(), 1.0)]
        );
        // Many load series may share one cap by dc.
        let v = vector(eval("load / on(dc) group_left cap", t, &db).unwrap());
        assert_eq!(v, vec![(r#"{dc="bj", endpoint="h1"}"#.into(), 7.5)]);
        let v = vector(eval("up > bool 0", t, &db).unwrap());
        assert_eq!(v[0], (r#"{dc="bj", endpoint="h1"}"#.into(), 1.0));
        let v = vector(eval("up == 1", t, &db).unwrap());
        assert_eq!(
            v,
            vec![(r#"{__name__="up", dc="bj", endpoint="h1"}"#.into(), 1.0)]
        );
        let e = eval(r#"{__name__=~"load|up", dc="bj"} + on(dc) cap"#, t, &db).unwrap_err();
        assert!(e.message.contains("multiple matches"), "{e}");
        let e = eval(r#"cap + on(dc) group_left {__name__=~"load|up"}"#, t, &db).unwrap_err();
        assert!(e.message.contains("found duplicate series"), "{e}");
        let v = vector(eval("up unless on(dc) cap", t, &db).unwrap());
        assert_eq!(v.len(), 1);
        let v = vector(eval("topk(1, load or up)", t, &db).unwrap());
        assert_eq!(v[0].1, 30.0);
        let v = vector(eval("quantile(0.5, up)", t, &db).unwrap());
        assert_eq!(v[0].1, 0.5);
        // A parameter that aggregates itself.
        let v = vector(eval("topk(scalar(count(up)) - 1, load)", t, &db).unwrap());
        assert_eq!(v.len(), 1);
        let v = vector(eval(r#"count_values("v", up)"#, t, &db).unwrap());
        assert_eq!(
            v,
            vec![(r#"{v="0"}"#.into(), 1.0), (r#"{v="1"}"#.into(), 1.0)]
        );
    }

    #[test]
    fn parse_errors_say_where() {
        let msg = |q: &str| Query::parse(q).unwrap_err().message;
        assert_eq!(
            msg("rate(foo[5x])"),
            "1:10: parse error: bad number or duration syntax: 5x"
        );
        assert!(
            msg("sum(rate(foo[5m])").starts_with("1:18: parse error"),
            "{}",
            msg("sum(rate(foo[5m])")
        );
        assert!(msg("x +\n sort_by_label(x)").starts_with("2:2: parse error: unknown function"));
        assert!(
            msg("sum by (a) (foo{a=\"1\"}").starts_with("1:23:"),
            "{}",
            msg("sum by (a) (foo{a=\"1\"}")
        );
    }

    #[test]
    fn subquery_steps_are_aligned_to_absolute_multiples() {
        let db = db();
        let a = eval("load[1m:25s]", EvalRange::instant(130_000), &db).unwrap();
        let Answer::Instant(Value::Matrix(m)) = a else {
            panic!()
        };
        assert_eq!(
            m[0].points,
            vec![(75_000, 70.0), (100_000, 100.0), (125_000, 120.0)]
        );
    }

    #[test]
    fn range_query_gathers_steps_into_sorted_series() {
        let db = db();
        let r = EvalRange::range(0, 120_000, 30_000);
        let Answer::Range(s) = eval("up", r, &db).unwrap() else {
            panic!()
        };
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels.get("dc"), "bj");
        assert_eq!(s[0].points.len(), 5);
        let Answer::Range(s) = eval("1 + 2", r, &db).unwrap() else {
            panic!()
        };
        assert_eq!(s[0].points[4], (120_000, 3.0));
        let e = eval(r#"{__name__=~"up|load", dc="bj"} * 1"#, r, &db).unwrap_err();
        assert!(e.message.contains("same labelset"), "{e}");
        // Two inputs that become one label set, never at the same step: still refused.
        let e = eval(r#"rate({__name__=~"up|late", dc="sh"}[1m])"#, r, &db).unwrap_err();
        assert!(e.message.contains("same labelset"), "{e}");
        let past = Limits {
            deadline: Some(std::time::Instant::now()),
            ..Default::default()
        };
        let q = Query::parse("up").unwrap();
        let e = q.eval(&r, &Fetched::new(), &past).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Timeout);
        let e = eval("up[1m]", r, &db).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::BadData);
        assert_eq!(DEFAULT_LOOKBACK_MS, 300_000);
    }

    /// Counters of 12 hosts in 3 racks, with resets, gaps, a NaN, an infinity, a series that
    /// stops and one that starts late: the inputs aggregations over range functions see.
    pub(crate) fn fleet() -> Vec<Series> {
        let mut out = Vec::new();
        for h in 0..12i64 {
            let points = (0..=120i64)
                .filter(|k| h % 5 != 1 || k % 7 != 0)
                .filter(|k| h != 3 || *k < 40)
                .filter(|k| h != 4 || *k > 70)
                .map(|k| {
                    let v = match (h, k) {
                        (5, 50) => f64::NAN,
                        (6, 60) => f64::INFINITY,
                        // A counter reset every 30 steps on odd hosts.
                        _ if h % 2 == 1 => ((k % 30) * (h + 1)) as f64 * 1.5,
                        _ => (k * (h + 1)) as f64 / 3.0,
                    };
                    (k * 10_000, v)
                })
                .collect();
            out.push(Series {
                labels: labels(&[
                    ("__name__", "bytes"),
                    ("endpoint", &format!("h{h:02}")),
                    ("rack", &format!("r{}", h % 3)),
                ]),
                points,
            });
        }
        out
    }

    /// The series-by-series evaluation of `aggr (f(sel[r]))` gives, to the bit, what the
    /// step-by-step evaluation gives (forced here by an exact `* 1` between the two).
    #[test]
    fn aggregations_over_range_functions_equal_the_step_by_step_answer() {
        let fleet = fleet();
        let bits = |a: Answer| -> Vec<(Labels, Vec<(i64, u64)>)> {
            let Answer::Range(s) = a else {
                panic!("not a range")
            };
            s.into_iter()
                .map(|s| {
                    (
                        s.labels,
                        s.points.iter().map(|p| (p.0, p.1.to_bits())).collect(),
                    )
                })
                .collect()
        };
        let ranges = [
            EvalRange::range(0, 1_200_000, 15_000),
            EvalRange::range(200_000, 900_000, 60_000),
            EvalRange::range(-100_000, 100_000, 7_000),
        ];
        let mut checked = 0;
        for aggr in [
            "sum", "avg", "count", "group", "min", "max", "stddev", "stdvar",
        ] {
            for grouping in ["", " by (rack)", " without (endpoint)", " by (endpoint)"] {
                for f in [
                    "rate",
                    "increase",
                    "delta",
                    "irate",
                    "idelta",
                    "deriv",
                    "resets",
                    "changes",
                    "avg_over_time",
                    "sum_over_time",
                    "min_over_time",
                    "max_over_time",
                    "count_over_time",
                    "stddev_over_time",
                    "last_over_time",
                    "present_over_time",
                ] {
                    for sel in [
                        "bytes[1m]",
                        "bytes[5m] offset 2m",
                        r#"bytes{rack!="r1"}[30s]"#,
                    ] {
                        let fast = format!("{aggr}{grouping} ({f}({sel}))");
                        let slow = format!("{aggr}{grouping} ({f}({sel}) * 1)");
                        for r in ranges {
                            let a = eval(&fast, r, &fleet).unwrap();
                            let b = eval(&slow, r, &fleet).unwrap();
                            assert_eq!(bits(a), bits(b), "{fast} over {r:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 8 * 4 * 16 * 3 * 3);
        // Two inputs with one output label set: refused as the step-by-step path refuses it.
        let e = eval(
            r#"sum(rate({__name__=~"up|late", dc="sh"}[1m]))"#,
            EvalRange::range(0, 120_000, 30_000),
            &db(),
        );
        assert!(e.unwrap_err().message.contains("same labelset"));
    }
}
