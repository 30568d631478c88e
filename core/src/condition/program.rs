//! Expression conditions: arithmetic and boolean logic over window functions of one or several
//! metrics, compiled once into an `evalexpr` operator tree whose functions are the window
//! functions.
//!
//! The parser ([`super::parse`]) checks the user's text and emits a canonical `evalexpr` text in
//! which every window function call is replaced by a call with the index of its [`Call`], e.g.
//! `avg(mem.used,#3) / avg(mem.total,#3) * 100 > 90` becomes
//! `(((avg(0)) / (avg(1))) * (100.0)) > (90.0)`. That text is built by the parser (never taken
//! from the user) and turned into a tree once; evaluation walks the tree with a context that
//! answers each call from the series' windows.

use super::{eval_term, CmpOp, Func, Term};
use evalexpr::{Context, EvalexprError, EvalexprResult, Node, Value};
use std::cell::Cell;
use std::fmt;

/// Which points of a series a window function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The latest N points received (`#N`).
    Points(usize),
    /// The points of the last S seconds before the evaluated point, that point included
    /// (`30s`, `5m`, `1h`, `1d`).
    Secs(u64),
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Points(n) => write!(f, "#{n}"),
            Window::Secs(s) => write!(f, "{s}s"),
        }
    }
}

/// A check that compares point by point, so that it is only written compared with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// `all(...) op T`: every point satisfies it.
    All,
    /// `diff(...) op T`: the latest value minus some earlier one satisfies it.
    Diff,
    /// `pdiff(...) op T`: the same difference in percent of the earlier value.
    PDiff,
    /// `lookup(#M,N) op T`: at least M of the last N points satisfy it.
    Lookup(usize),
}

/// What a window function computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Agg {
    /// Mean.
    Avg,
    /// Sum.
    Sum,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Number of points.
    Count,
    /// Per-second increase of a raw counter (a decrease counts as a reset to zero).
    Rate,
    /// Population standard deviation.
    Stddev,
    /// The P-th percentile (0 to 100), interpolated between the closest ranks.
    Percentile(f64),
    /// The value the least-squares line predicts this many seconds after the latest point.
    Forecast(f64),
    /// Seconds from the latest point until the least-squares line reaches this value: 0 when
    /// the window already crossed it, infinite when the line is flat or moves away from it.
    TimeLeft(f64),
    /// A point-by-point check with its comparison: a boolean.
    Test(Test, CmpOp, f64),
}

impl Agg {
    /// The function's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Sum => "sum",
            Agg::Max => "max",
            Agg::Min => "min",
            Agg::Count => "count",
            Agg::Rate => "rate",
            Agg::Stddev => "stddev",
            Agg::Percentile(_) => "percentile",
            Agg::Forecast(_) => "forecast",
            Agg::TimeLeft(_) => "timeleft",
            Agg::Test(Test::All, ..) => "all",
            Agg::Test(Test::Diff, ..) => "diff",
            Agg::Test(Test::PDiff, ..) => "pdiff",
            Agg::Test(Test::Lookup(_), ..) => "lookup",
        }
    }

    /// The fewest points the function can be computed on.
    fn min_points(&self) -> usize {
        match self {
            Agg::Rate | Agg::Forecast(_) | Agg::TimeLeft(_) => 2,
            Agg::Test(Test::Diff | Test::PDiff, ..) => 2,
            _ => 1,
        }
    }
}

/// One window function call of an expression condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// What it computes.
    pub agg: Agg,
    /// The metric it reads, of the same endpoint and tags as the evaluated series; `None` for
    /// the strategy's own metric.
    pub metric: Option<String>,
    /// Which points.
    pub window: Window,
}

/// What a condition needs kept of one metric's series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Need {
    /// The latest points, by count.
    pub points: usize,
    /// The points of the last seconds (0 = none by time).
    pub secs: u64,
}

impl Need {
    /// The larger of both needs.
    pub fn max(self, o: Need) -> Need {
        Need {
            points: self.points.max(o.points),
            secs: self.secs.max(o.secs),
        }
    }
}

impl Call {
    /// What this call needs kept of its series.
    pub fn need(&self) -> Need {
        match self.window {
            Window::Points(n) => Need {
                // diff/pdiff compare the latest with the N points before it.
                points: if matches!(self.agg, Agg::Test(Test::Diff | Test::PDiff, ..)) {
                    n + 1
                } else {
                    n
                },
                secs: 0,
            },
            Window::Secs(s) => Need { points: 0, secs: s },
        }
    }
}

/// The series an expression condition reads, as the judge keeps them.
pub trait Windows {
    /// The timestamps and values (oldest first, equally long) of `metric` for the evaluated
    /// endpoint and tags (`None`: the evaluated series itself), or `None` when it has none.
    fn points(&self, metric: Option<&str>) -> Option<(&[i64], &[f64])>;
}

/// A compiled expression condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub(crate) calls: Vec<Call>,
    /// The canonical evalexpr text the tree was built from (the parser's, not the user's).
    pub(crate) text: String,
    pub(crate) tree: Node,
    /// The left side of the first comparison, reported as the event's value.
    pub(crate) value: Option<Node>,
}

impl Program {
    /// Builds the trees from the parser's canonical text.
    pub(crate) fn build(calls: Vec<Call>, text: String, value: Option<String>) -> Program {
        // The text is generated by the parser from a checked tree: a failure is a bug here.
        let tree = evalexpr::build_operator_tree(&text)
            .unwrap_or_else(|e| panic!("generated condition {text:?} does not build: {e}"));
        let value = value.map(|v| {
            evalexpr::build_operator_tree(&v)
                .unwrap_or_else(|e| panic!("generated value {v:?} does not build: {e}"))
        });
        Program {
            calls,
            text,
            tree,
            value,
        }
    }

    /// The window function calls, in the order of their indexes.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The canonical evalexpr form (for diagnostics).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What each metric needs kept (`None`: the strategy's own metric).
    pub fn needs(&self) -> Vec<(Option<&str>, Need)> {
        let mut out: Vec<(Option<&str>, Need)> = Vec::new();
        for c in &self.calls {
            let m = c.metric.as_deref();
            match out.iter_mut().find(|(x, _)| *x == m) {
                Some((_, n)) => *n = n.max(c.need()),
                None => out.push((m, c.need())),
            }
        }
        out
    }

    /// Whether the condition holds at `now` (the evaluated point's time), or `None` when one of
    /// its window functions has no data (a metric not arrived, too few points, an empty time
    /// window): such a condition is undecided, neither a problem nor a recovery.
    pub fn eval(&self, now: i64, w: &dyn Windows) -> Option<bool> {
        let ctx = Ctx {
            p: self,
            w,
            now,
            missing: Cell::new(false),
        };
        let r = self.tree.eval_boolean_with_context(&ctx);
        if ctx.missing.get() {
            return None;
        }
        r.ok()
    }

    /// The value reported with an event: the left side of the first comparison, or the latest
    /// value of the series when that is a point-by-point check.
    pub fn value(&self, now: i64, w: &dyn Windows) -> f64 {
        let latest = || {
            w.points(None)
                .and_then(|(_, v)| v.last().copied())
                .unwrap_or(0.0)
        };
        let Some(t) = &self.value else {
            return latest();
        };
        let ctx = Ctx {
            p: self,
            w,
            now,
            missing: Cell::new(false),
        };
        match t.eval_number_with_context(&ctx) {
            Ok(v) if !ctx.missing.get() => v,
            _ => latest(),
        }
    }
}

struct Ctx<'a> {
    p: &'a Program,
    w: &'a dyn Windows,
    now: i64,
    missing: Cell<bool>,
}

impl Context for Ctx<'_> {
    fn get_value(&self, _identifier: &str) -> Option<&Value> {
        None
    }

    fn call_function(&self, identifier: &str, argument: &Value) -> EvalexprResult<Value> {
        let i = argument.as_int()?;
        let call = usize::try_from(i)
            .ok()
            .and_then(|i| self.p.calls.get(i))
            .filter(|c| c.agg.name() == identifier)
            .ok_or_else(|| EvalexprError::FunctionIdentifierNotFound(identifier.to_string()))?;
        let boolean = matches!(call.agg, Agg::Test(..));
        Ok(match compute(call, self.now, self.w) {
            Some(Computed::Num(v)) => Value::Float(v),
            Some(Computed::Bool(b)) => Value::Boolean(b),
            None => {
                self.missing.set(true);
                if boolean {
                    Value::Boolean(false)
                } else {
                    Value::Float(f64::NAN)
                }
            }
        })
    }

    fn are_builtin_functions_disabled(&self) -> bool {
        true
    }

    fn set_builtin_functions_disabled(&mut self, _disabled: bool) -> EvalexprResult<()> {
        Err(EvalexprError::ContextNotMutable)
    }
}

enum Computed {
    Num(f64),
    Bool(bool),
}

/// Computes one call at `now`, or `None` without enough data.
fn compute(call: &Call, now: i64, w: &dyn Windows) -> Option<Computed> {
    let (ts, vs) = w.points(call.metric.as_deref())?;
    let (ts, vs) = match call.window {
        Window::Points(_) => {
            let need = call.need().points;
            if vs.len() < need {
                return None;
            }
            (&ts[ts.len() - need..], &vs[vs.len() - need..])
        }
        Window::Secs(s) => {
            // Another metric's series may already hold points newer than the evaluated one.
            let end = ts.partition_point(|&t| t <= now);
            let start = ts[..end].partition_point(|&t| t <= now.saturating_sub(s as i64));
            (&ts[start..end], &vs[start..end])
        }
    };
    if vs.len() < call.agg.min_points() {
        return None;
    }
    let n = vs.len() as f64;
    let num = |v: f64| Some(Computed::Num(v));
    match call.agg {
        Agg::Avg => num(vs.iter().sum::<f64>() / n),
        Agg::Sum => num(vs.iter().sum()),
        Agg::Max => num(vs.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        Agg::Min => num(vs.iter().copied().fold(f64::INFINITY, f64::min)),
        Agg::Count => num(n),
        Agg::Stddev => {
            let mean = vs.iter().sum::<f64>() / n;
            num((vs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt())
        }
        Agg::Rate => {
            let dt = (ts[ts.len() - 1] - ts[0]) as f64;
            if dt <= 0.0 {
                return None;
            }
            let mut inc = 0.0;
            for p in vs.windows(2) {
                // A counter that went down was restarted from zero.
                inc += if p[1] >= p[0] { p[1] - p[0] } else { p[1] };
            }
            num(inc / dt)
        }
        Agg::Percentile(p) => {
            let mut s = vs.to_vec();
            s.sort_by(f64::total_cmp);
            let rank = p / 100.0 * (s.len() - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            num(s[lo] + (s[hi] - s[lo]) * (rank - lo as f64))
        }
        Agg::Forecast(ahead) => {
            let (mean_x, mean_y, slope) = regression(ts, vs)?;
            num(mean_y + slope * (ahead - mean_x))
        }
        Agg::TimeLeft(target) => {
            let (mean_x, mean_y, slope) = regression(ts, vs)?;
            let latest = vs[vs.len() - 1];
            if slope == 0.0 {
                return num(if latest == target { 0.0 } else { f64::INFINITY });
            }
            let at = mean_x + (target - mean_y) / slope;
            if at >= 0.0 {
                return num(at);
            }
            // The line met the value in the past: reached if the window crossed it, never if
            // the whole window lies beyond it and moves away.
            let crossed = (vs[0] - target).signum() != (latest - target).signum();
            num(if crossed || latest == target {
                0.0
            } else {
                f64::INFINITY
            })
        }
        Agg::Test(t, op, threshold) => {
            let len = vs.len();
            let func = match t {
                Test::All => Func::All(len),
                Test::Diff => Func::Diff(len - 1),
                Test::PDiff => Func::PDiff(len - 1),
                Test::Lookup(m) => Func::Lookup { m, n: len },
            };
            let term = Term {
                func,
                op,
                threshold,
            };
            Some(Computed::Bool(eval_term(&term, vs).holds))
        }
    }
}

/// The least-squares line through the points, with times relative to the latest point:
/// (mean time, mean value, slope per second); `None` when all points share one time.
fn regression(ts: &[i64], vs: &[f64]) -> Option<(f64, f64, f64)> {
    let last = ts[ts.len() - 1];
    let n = vs.len() as f64;
    let xs = ts.iter().map(|&t| (t - last) as f64);
    let mean_x = xs.clone().sum::<f64>() / n;
    let mean_y = vs.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in xs.zip(vs) {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    if sxx == 0.0 {
        return None;
    }
    Some((mean_x, mean_y, sxy / sxx))
}
