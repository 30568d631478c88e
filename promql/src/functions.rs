//! PromQL's functions (Prometheus 2.x): each called at one evaluation time with its arguments
//! already evaluated by the evaluator.

mod dates;
mod label_fns;
mod quantile;
mod range;

use crate::value::{Labels, Sample, Value, METRIC_NAME};
use crate::Error;
use dates::DateField;
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashSet;

/// One evaluated argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'w> {
    /// A number (also a scalar-typed expression).
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector: each series' points inside the window `[start_ms, end_ms]` (both ends
    /// inclusive, as in Prometheus 2.x), already shifted by offset/`@`.
    Matrix(Window<'w>),
}

/// The points of a range-vector argument at one evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Window<'w> {
    /// Series with at least one point in the window (labels as selected, name included).
    pub series: Vec<WindowSeries<'w>>,
    /// The window's first instant, Unix ms.
    pub start_ms: i64,
    /// The window's last instant, Unix ms.
    pub end_ms: i64,
}

/// One series of a window: its points borrowed from the fetched series where a selector
/// reads them (every step of a range query cuts a window: no copy), owned where a subquery
/// computed them.
#[derive(Debug, Clone)]
pub(crate) struct WindowSeries<'w> {
    /// The series' labels.
    pub labels: Labels,
    /// `(unix ms, value)` in time order.
    pub points: Cow<'w, [(i64, f64)]>,
}

/// What a call knows besides its arguments.
pub(crate) struct CallCtx<'a> {
    /// The evaluation time, Unix ms.
    pub t_ms: i64,
    /// The unevaluated arguments (`absent` and `absent_over_time` take labels from them).
    pub arg_exprs: &'a [Box<Expr>],
}

/// Calls `name` with `args`; returns an instant vector or a scalar. Two samples with the same
/// labels in the result (e.g. after a dropped name) are the caller's to reject.
pub(crate) fn call(name: &str, args: Vec<Arg<'_>>, ctx: &CallCtx<'_>) -> Result<Value, Error> {
    let mut args = Args {
        name,
        args: args.into_iter(),
    };
    if let Some(f) = math_fn(name) {
        return Ok(map_values(args.vector()?, f));
    }
    if let Some(field) = DateField::of(name) {
        return Ok(Value::Vector(date_fn(
            args.optional_vector()?,
            field,
            ctx.t_ms,
        )));
    }
    if let Some(f) = range_fn(name) {
        let window = args.matrix()?;
        let keep_name = name == "last_over_time";
        return Ok(Value::Vector(per_series(&window, keep_name, |p| {
            f(p, &window)
        })));
    }
    let out = match name {
        "round" => {
            let v = args.vector()?;
            let to_nearest = args.optional_scalar()?.unwrap_or(1.0);
            // Multiplying by the inverse is what Prometheus does (it rounds fewer cases wrongly
            // than dividing); ties round up.
            let inverse = 1.0 / to_nearest;
            map_values(v, |x| (x * inverse + 0.5).floor() / inverse)
        }
        "clamp" => {
            let (v, min, max) = (args.vector()?, args.scalar()?, args.scalar()?);
            if max < min {
                Value::Vector(Vec::new())
            } else {
                map_values(v, |x| go_max(min, go_min(max, x)))
            }
        }
        "clamp_max" => {
            let (v, max) = (args.vector()?, args.scalar()?);
            map_values(v, |x| go_min(max, x))
        }
        "clamp_min" => {
            let (v, min) = (args.vector()?, args.scalar()?);
            map_values(v, |x| go_max(min, x))
        }
        "pi" => Value::Scalar(std::f64::consts::PI),
        "time" => Value::Scalar(ctx.t_ms as f64 / 1000.0),
        // The evaluator answers `timestamp(selector)` with the samples' own times; any other
        // argument's samples are stamped with the evaluation time.
        "timestamp" => map_values(args.vector()?, |_| ctx.t_ms as f64 / 1000.0),
        "scalar" => {
            let v = args.vector()?;
            Value::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN })
        }
        "vector" => Value::Vector(vec![Sample {
            labels: Labels::default(),
            value: args.scalar()?,
        }]),
        "sort" => Value::Vector(sort_by_value(args.vector()?, false)),
        "sort_desc" => Value::Vector(sort_by_value(args.vector()?, true)),
        "absent" => Value::Vector(if args.vector()?.is_empty() {
            absent_sample(ctx)
        } else {
            Vec::new()
        }),
        "absent_over_time" => {
            let window = args.matrix()?;
            Value::Vector(if window.series.iter().all(|s| s.points.is_empty()) {
                absent_sample(ctx)
            } else {
                Vec::new()
            })
        }
        "quantile_over_time" => {
            let q = args.scalar()?;
            let window = args.matrix()?;
            Value::Vector(per_series(&window, false, |p| {
                Some(quantile::quantile(q, p.iter().map(|&(_, v)| v).collect()))
            }))
        }
        "predict_linear" => {
            let window = args.matrix()?;
            let secs = args.scalar()?;
            Value::Vector(per_series(&window, false, |p| {
                range::predict_linear(p, ctx.t_ms, secs)
            }))
        }
        "holt_winters" => {
            let window = args.matrix()?;
            let (sf, tf) = (args.scalar()?, args.scalar()?);
            // Prometheus checks the factors only when there is a series to smooth.
            if window.series.iter().any(|s| !s.points.is_empty()) {
                if sf <= 0.0 || sf >= 1.0 {
                    return Err(Error::execution(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                        go_fmt_f(sf)
                    )));
                }
                if tf <= 0.0 || tf >= 1.0 {
                    return Err(Error::execution(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                        go_fmt_f(tf)
                    )));
                }
            }
            Value::Vector(per_series(&window, false, |p| {
                range::holt_winters(p, sf, tf)
            }))
        }
        "histogram_quantile" => {
            let q = args.scalar()?;
            Value::Vector(quantile::histogram_quantile(q, args.vector()?))
        }
        // Native-histogram functions: they skip float samples, and Argus has no others.
        "histogram_count" | "histogram_sum" => {
            args.vector()?;
            Value::Vector(Vec::new())
        }
        "histogram_fraction" => {
            let _ = (args.scalar()?, args.scalar()?, args.vector()?);
            Value::Vector(Vec::new())
        }
        "label_replace" => {
            let v = args.vector()?;
            let (dst, repl, src, re) = (
                args.string()?,
                args.string()?,
                args.string()?,
                args.string()?,
            );
            Value::Vector(label_fns::label_replace(v, &dst, &repl, &src, &re)?)
        }
        "label_join" => {
            let v = args.vector()?;
            let (dst, sep) = (args.string()?, args.string()?);
            let mut srcs = Vec::new();
            while args.args.len() > 0 {
                srcs.push(args.string()?);
            }
            Value::Vector(label_fns::label_join(v, &dst, &sep, &srcs)?)
        }
        _ => {
            return Err(Error::bad_data(format!(
                "function {name:?} is not supported"
            )))
        }
    };
    Ok(out)
}

/// The arguments of one call, taken in order; a missing or mistyped one is an error (the parser
/// and evaluator should have rejected the call already).
struct Args<'a, 'w> {
    name: &'a str,
    args: std::vec::IntoIter<Arg<'w>>,
}

impl<'w> Args<'_, 'w> {
    fn unexpected(&self) -> Error {
        Error::bad_data(format!("unexpected arguments to {}()", self.name))
    }

    fn vector(&mut self) -> Result<Vec<Sample>, Error> {
        match self.args.next() {
            Some(Arg::Vector(v)) => Ok(v),
            _ => Err(self.unexpected()),
        }
    }

    fn optional_vector(&mut self) -> Result<Option<Vec<Sample>>, Error> {
        match self.args.len() {
            0 => Ok(None),
            _ => self.vector().map(Some),
        }
    }

    fn scalar(&mut self) -> Result<f64, Error> {
        match self.args.next() {
            Some(Arg::Scalar(v)) => Ok(v),
            _ => Err(self.unexpected()),
        }
    }

    fn optional_scalar(&mut self) -> Result<Option<f64>, Error> {
        match self.args.len() {
            0 => Ok(None),
            _ => self.scalar().map(Some),
        }
    }

    fn string(&mut self) -> Result<String, Error> {
        match self.args.next() {
            Some(Arg::String(s)) => Ok(s),
            _ => Err(self.unexpected()),
        }
    }

    fn matrix(&mut self) -> Result<Window<'w>, Error> {
        match self.args.next() {
            Some(Arg::Matrix(w)) => Ok(w),
            _ => Err(self.unexpected()),
        }
    }
}

/// Applies `f` to every value, dropping the metric name (the result is no longer that metric).
fn map_values(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Value {
    Value::Vector(
        v.into_iter()
            .map(|s| Sample {
                labels: s.labels.drop_name(),
                value: f(s.value),
            })
            .collect(),
    )
}

/// Go's `math.Min`: -Inf wins, then NaN, and -0 is less than +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Go's `math.Max`: +Inf wins, then NaN, and +0 is greater than -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_positive() {
            a
        } else {
            b
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// The one-argument math functions. `log2` and `log10` follow Go's formulas; the rest come from
/// the platform's libm, which may differ from Go's `math` in the last bit for some inputs.
fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => go_log2,
        "log10" => go_log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                // 0, -0 and NaN are their own sign.
                v
            }
        },
        _ => return None,
    })
}

/// Go's `math.Log10`: the natural log times 1/ln(10) (rounded once, as Go folds the constant),
/// which is not always the correctly rounded base-10 logarithm.
fn go_log10(v: f64) -> f64 {
    v.ln() * std::f64::consts::LOG10_E
}

/// Go's `math.Log2`: exact for powers of two, otherwise from the natural log of the mantissa.
fn go_log2(v: f64) -> f64 {
    let (frac, exp) = frexp(v);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * std::f64::consts::LOG2_E + f64::from(exp)
}

/// Go's `math.Frexp`: `v = frac * 2^exp` with `|frac|` in [0.5, 1); zero, infinities and NaN
/// come back unchanged with exponent 0.
fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || v.is_infinite() || v.is_nan() {
        return (v, 0);
    }
    let (mut v, mut exp) = (v, 0);
    if v.abs() < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range first.
        v *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = v.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's `%f`: six decimals, and `+Inf`/`-Inf`/`NaN` spelled Go's way.
fn go_fmt_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v:.6}")
    }
}

/// The date functions: over each sample's value taken as Unix seconds (name dropped), or over
/// the evaluation time when called without an argument.
fn date_fn(v: Option<Vec<Sample>>, field: DateField, t_ms: i64) -> Vec<Sample> {
    match v {
        None => vec![Sample {
            labels: Labels::default(),
            value: dates::date_field(t_ms / 1000, field),
        }],
        Some(v) => v
            .into_iter()
            .map(|s| Sample {
                labels: s.labels.drop_name(),
                value: dates::date_field(dates::go_f64_to_i64(s.value), field),
            })
            .collect(),
    }
}

/// The range-vector functions that take only the range vector: each gives a series' value from
/// its points and the window, or nothing.
pub(crate) type RangeFn = fn(&[(i64, f64)], &Window<'_>) -> Option<f64>;

pub(crate) fn range_fn(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |p, w| range::extrapolated_rate(p, w, true, true),
        "increase" => |p, w| range::extrapolated_rate(p, w, true, false),
        "delta" => |p, w| range::extrapolated_rate(p, w, false, false),
        "irate" => |p, _| range::instant_value(p, true),
        "idelta" => |p, _| range::instant_value(p, false),
        "deriv" => |p, _| range::deriv(p),
        "resets" => |p, _| Some(range::resets(p)),
        "changes" => |p, _| Some(range::changes(p)),
        "avg_over_time" => |p, _| Some(range::avg_over_time(p)),
        "sum_over_time" => |p, _| Some(range::sum_over_time(p)),
        "min_over_time" => |p, _| Some(range::extreme_over_time(p, false)),
        "max_over_time" => |p, _| Some(range::extreme_over_time(p, true)),
        "count_over_time" => |p, _| Some(p.len() as f64),
        "stddev_over_time" => |p, _| Some(range::stdvar_over_time(p).sqrt()),
        "stdvar_over_time" => |p, _| Some(range::stdvar_over_time(p)),
        "last_over_time" => |p, _| p.last().map(|&(_, v)| v),
        "present_over_time" => |_, _| Some(1.0),
        _ => return None,
    })
}

/// For a range function that looks for counter resets (`rate`, `increase`), the same function
/// over a window whose points are known to hold no drop: it skips the search, which is the
/// function's whole cost on a long window.
pub(crate) fn range_fn_without_drops(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |p, w| range::counter_rate_without_drops(p, w, true),
        "increase" => |p, w| range::counter_rate_without_drops(p, w, false),
        _ => return None,
    })
}

/// One sample per series of `window` that has points and for which `f` gives a value; the
/// metric name is dropped unless `keep_name`.
fn per_series(
    window: &Window<'_>,
    keep_name: bool,
    mut f: impl FnMut(&[(i64, f64)]) -> Option<f64>,
) -> Vec<Sample> {
    window
        .series
        .iter()
        .filter(|s| !s.points.is_empty())
        .filter_map(|s| {
            let value = f(&s.points)?;
            let labels = if keep_name {
                s.labels.clone()
            } else {
                s.labels.drop_name()
            };
            Some(Sample { labels, value })
        })
        .collect()
}

/// `sort` (ascending) and `sort_desc`: by value, equal values keeping their order and NaNs
/// last. Prometheus sorts with Go's (unstable) sort and a comparison under which NaNs swap
/// among themselves; on inputs of up to 12 samples that sort is an insertion sort, which gives
/// exactly this order with the NaNs reversed, so they are reversed here too.
fn sort_by_value(v: Vec<Sample>, descending: bool) -> Vec<Sample> {
    let (mut numbers, mut nans): (Vec<Sample>, Vec<Sample>) =
        v.into_iter().partition(|s| !s.value.is_nan());
    numbers.sort_by(|a, b| {
        // Not total_cmp: -0 and +0 are equal to Go and keep their order.
        let ord = a.value.partial_cmp(&b.value).unwrap_or(Ordering::Equal);
        if descending {
            ord.reverse()
        } else {
            ord
        }
    });
    nans.reverse();
    numbers.extend(nans);
    numbers
}

/// The sample `absent` and `absent_over_time` return for an empty argument.
fn absent_sample(ctx: &CallCtx<'_>) -> Vec<Sample> {
    let labels = ctx
        .arg_exprs
        .first()
        .map_or_else(Labels::default, |e| absent_labels(e));
    vec![Sample { labels, value: 1.0 }]
}

/// The labels `absent(x)` reports: those `x` pins with an equality matcher, when `x` is a
/// selector (parentheses aside). Prometheus's historic rule: a label is kept only when its last
/// matcher is its first equality matcher, so `x{a="1",a="2"}` or `x{a="1",a!="2"}` give no `a`.
fn absent_labels(expr: &Expr) -> Labels {
    let mut expr = expr;
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    let matchers = match expr {
        Expr::VectorSelector(vs) => &vs.matchers.matchers,
        Expr::MatrixSelector(ms) => &ms.vs.matchers.matchers,
        _ => return Labels::default(),
    };
    let mut labels = Labels::default();
    let mut set: HashSet<&str> = HashSet::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && set.insert(m.name.as_str()) {
            labels = labels.with(&m.name, &m.value);
        } else {
            labels = labels.without(&[m.name.as_str()]);
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn sample(pairs: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: labels(pairs),
            value,
        }
    }

    /// A window `[start_s, end_s]` with one series `m{job="a"}` of `(seconds, value)` points.
    fn window(start_s: i64, end_s: i64, points: &[(i64, f64)]) -> Arg<'static> {
        Arg::Matrix(Window {
            series: vec![WindowSeries {
                labels: labels(&[("__name__", "m"), ("job", "a")]),
                points: points.iter().map(|&(t, v)| (t * 1000, v)).collect(),
            }],
            start_ms: start_s * 1000,
            end_ms: end_s * 1000,
        })
    }

    fn run_at(t_ms: i64, name: &str, args: Vec<Arg>) -> Result<Value, Error> {
        call(
            name,
            args,
            &CallCtx {
                t_ms,
                arg_exprs: &[],
            },
        )
    }

    fn run(name: &str, args: Vec<Arg>) -> Value {
        run_at(0, name, args).unwrap()
    }

    fn vector(v: Value) -> Vec<Sample> {
        match v {
            Value::Vector(v) => v,
            other => panic!("not a vector: {other:?}"),
        }
    }

    /// The value of a one-sample vector.
    fn only(v: Value) -> f64 {
        let v = vector(v);
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].value
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn rate_with_counter_reset_extrapolates_to_window_edges() {
        // 10 20 | 5 15 25: the drop to 5 is a reset, so the counter grew 10 + (20 - 10) + 25 =
        // 35 over the 40 s sampled; both edges are 10 s away (within 1.1 intervals), so the
        // result covers the whole 60 s window: 35 * 60 / 40.
        let pts = [(10, 10.0), (20, 20.0), (30, 5.0), (40, 15.0), (50, 25.0)];
        let increase = only(run("increase", vec![window(0, 60, &pts)]));
        assert!(close(increase, 52.5), "{increase}");
        let rate = only(run("rate", vec![window(0, 60, &pts)]));
        assert!(close(rate, 52.5 / 60.0), "{rate}");
        // delta ignores resets: (25 - 10) * 60 / 40.
        let delta = only(run("delta", vec![window(0, 60, &pts)]));
        assert!(close(delta, 22.5), "{delta}");
        // The result no longer is the metric.
        let v = vector(run("rate", vec![window(0, 60, &pts)]));
        assert_eq!(v[0].labels, labels(&[("job", "a")]));
    }

    #[test]
    fn rate_does_not_extrapolate_a_counter_below_zero() {
        // The line through 1, 11, ..., 41 reaches zero 1 s before the first sample, nearer
        // than the window start (10 s): extrapolate by 1 s there, 10 s at the end.
        let pts = [(10, 1.0), (20, 11.0), (30, 21.0), (40, 31.0), (50, 41.0)];
        let increase = only(run("increase", vec![window(0, 60, &pts)]));
        assert!(close(increase, 40.0 * 51.0 / 40.0), "{increase}");
    }

    #[test]
    fn rate_extrapolates_half_an_interval_past_a_distant_edge() {
        // The window starts 30 s before the first sample (more than 1.1 * 10 s): assume the
        // series began 5 s before it; the end is 10 s away and reached.
        let pts = [(30, 100.0), (40, 110.0), (50, 120.0)];
        let delta = only(run("delta", vec![window(0, 60, &pts)]));
        assert!(close(delta, 20.0 * 35.0 / 20.0), "{delta}");
        // One sample gives nothing.
        assert!(vector(run("rate", vec![window(0, 60, &[(30, 1.0)])])).is_empty());
    }

    #[test]
    fn irate_and_idelta_use_the_last_two_samples() {
        let pts = [(10, 5.0), (20, 30.0), (25, 10.0)];
        // 30 -> 10 is a reset: it counted 10 in 5 s.
        assert_eq!(only(run("irate", vec![window(0, 30, &pts)])), 2.0);
        assert_eq!(only(run("idelta", vec![window(0, 30, &pts)])), -20.0);
    }

    #[test]
    fn histogram_quantile_interpolates_within_the_bucket() {
        let h = |le: &str, v: f64| sample(&[("__name__", "h_bucket"), ("job", "a"), ("le", le)], v);
        let buckets = vec![h("1", 10.0), h("2", 20.0), h("+Inf", 30.0)];
        let q = |q: f64| {
            let v = vector(run(
                "histogram_quantile",
                vec![Arg::Scalar(q), Arg::Vector(buckets.clone())],
            ));
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].labels, labels(&[("job", "a")]));
            v[0].value
        };
        // Rank 15 is half-way through the (1, 2] bucket's 10 observations.
        assert_eq!(q(0.5), 1.5);
        // The lowest bucket starts at 0: rank 7.5 of its 10.
        assert_eq!(q(0.25), 0.75);
        // A rank in the +Inf bucket gives the highest finite bound.
        assert_eq!(q(0.9), 2.0);
        assert_eq!(q(-0.5), f64::NEG_INFINITY);
        assert_eq!(q(1.5), f64::INFINITY);
        assert!(q(f64::NAN).is_nan());
    }

    #[test]
    fn histogram_quantile_needs_inf_bucket_and_repairs_monotonicity() {
        let h = |job: &str, le: &str, v: f64| sample(&[("job", job), ("le", le)], v);
        let input = vec![
            // No +Inf bucket: NaN.
            h("a", "1", 10.0),
            h("a", "2", 20.0),
            // Counts 10, 8, 20, 20: the 8 is raised to 10, so rank 10 is reached in the first
            // bucket (without the repair the search would land in (2, 3] and give 2.1667).
            h("b", "1", 10.0),
            h("b", "2", 8.0),
            h("b", "3", 20.0),
            h("b", "+Inf", 20.0),
            // Without a usable `le` a series is ignored.
            h("b", "x", 1000.0),
            sample(&[("job", "b")], 1000.0),
        ];
        let v = vector(run(
            "histogram_quantile",
            vec![Arg::Scalar(0.5), Arg::Vector(input)],
        ));
        assert_eq!(v.len(), 2);
        let a = v
            .iter()
            .find(|s| s.labels == labels(&[("job", "a")]))
            .unwrap();
        assert!(a.value.is_nan());
        let b = v
            .iter()
            .find(|s| s.labels == labels(&[("job", "b")]))
            .unwrap();
        assert_eq!(b.value, 1.0);
    }

    #[test]
    fn go_float_parsing_of_bucket_bounds() {
        use quantile::parse_go_float;
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_go_float("0.25"), Some(0.25));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("0x1p-2"), Some(0.25));
        assert_eq!(parse_go_float("-0x1.8p1"), Some(-3.0));
        assert!(parse_go_float("NaN").unwrap().is_nan());
        // Go rejects these (a sign before NaN, overflow, empty, junk).
        for bad in ["+NaN", "1e400", "", "1.0x", "0x1", " 1"] {
            assert_eq!(parse_go_float(bad), None, "{bad:?}");
        }
    }

    fn label_replace(input: Vec<Sample>, args: [&str; 4]) -> Result<Vec<Sample>, Error> {
        let mut all = vec![Arg::Vector(input)];
        all.extend(args.iter().map(|s| Arg::String(s.to_string())));
        run_at(0, "label_replace", all).map(vector)
    }

    #[test]
    fn label_replace_expands_like_go() {
        let input = vec![
            sample(&[("__name__", "up"), ("src", "a-b")], 1.0),
            sample(&[("__name__", "up"), ("src", "ab")], 2.0),
        ];
        // $$ is a dollar, $3 does not exist, $1x names a (missing) group "1x", ${2} and $name
        // are the second group, and a lone $ stays.
        let out = label_replace(
            input,
            [
                "dst",
                "$1-${2}x$$ $3|$name|$1x|$",
                "src",
                r"(\w*)-(?P<name>.*)",
            ],
        )
        .unwrap();
        assert_eq!(
            out[0].labels,
            labels(&[("__name__", "up"), ("dst", "a-bx$ |b||$"), ("src", "a-b")])
        );
        // The regex must match the whole value: "ab" passes unchanged.
        assert_eq!(out[1].labels, labels(&[("__name__", "up"), ("src", "ab")]));
        assert_eq!(out[1].value, 2.0);
    }

    #[test]
    fn label_replace_removes_empty_results_and_uses_ascii_classes() {
        let input = vec![sample(&[("dst", "old"), ("src", "x")], 1.0)];
        let out = label_replace(input, ["dst", "", "src", ".*"]).unwrap();
        assert_eq!(out[0].labels, labels(&[("src", "x")]));
        // Go's \d is ASCII-only: an Arabic-Indic digit does not match.
        let input = vec![sample(&[("src", "\u{663}")], 1.0)];
        let out = label_replace(input, ["dst", "digit", "src", r"\d"]).unwrap();
        assert!(!out[0].labels.has("dst"));
        // \b and \Q...\E, which Rust's regex spells differently, work too.
        let input = vec![sample(&[("src", "a.b c")], 1.0)];
        let out = label_replace(input, ["dst", "$1", "src", r"\Qa.b\E\b(.*)"]).unwrap();
        assert_eq!(out[0].labels.get("dst"), " c");
        // Inside a class Go takes `]` (first), `[`, `&&` and `~~` literally.
        let input = vec![sample(&[("src", "]a[&&~~5")], 1.0)];
        let out = label_replace(input, ["dst", "ok", "src", r"[]a[&~[:digit:]]+"]).unwrap();
        assert_eq!(out[0].labels.get("dst"), "ok");
    }

    #[test]
    fn label_replace_errors() {
        let err = label_replace(vec![], ["dst", "", "src", "(a"]).unwrap_err();
        assert_eq!(
            err.message,
            "invalid regular expression in label_replace(): (a"
        );
        assert_eq!(err.kind, ErrorKind::Execution);
        let err = label_replace(vec![], ["1dst", "", "src", "a"]).unwrap_err();
        assert_eq!(
            err.message,
            "invalid destination label name in label_replace(): 1dst"
        );
    }

    #[test]
    fn label_join_joins_and_checks_names() {
        let input = vec![sample(&[("__name__", "m"), ("a", "x"), ("c", "z")], 1.0)];
        let args = |dst: &str, srcs: &[&str]| {
            let mut v = vec![
                Arg::Vector(input.clone()),
                Arg::String(dst.into()),
                Arg::String("-".into()),
            ];
            v.extend(srcs.iter().map(|s| Arg::String(s.to_string())));
            v
        };
        let out = vector(run("label_join", args("d", &["a", "b", "c"])));
        assert_eq!(out[0].labels.get("d"), "x--z");
        assert_eq!(out[0].labels.get("__name__"), "m");
        let err = run_at(0, "label_join", args("d", &["a", "b-c"])).unwrap_err();
        assert_eq!(
            err.message,
            "invalid source label name in label_join(): b-c"
        );
    }

    #[test]
    fn quantile_over_time_interpolates_between_ranks() {
        let pts = [(1, 4.0), (2, 1.0), (3, 3.0), (4, 2.0)];
        let q = |q: f64| {
            only(run(
                "quantile_over_time",
                vec![Arg::Scalar(q), window(0, 5, &pts)],
            ))
        };
        // Sorted 1 2 3 4: rank 1.5 and rank 2.7.
        assert_eq!(q(0.5), 2.5);
        assert!(close(q(0.9), 3.7));
        assert_eq!(q(0.0), 1.0);
        assert_eq!(q(1.0), 4.0);
        assert_eq!(q(-1.0), f64::NEG_INFINITY);
        assert_eq!(q(2.0), f64::INFINITY);
        assert!(q(f64::NAN).is_nan());
    }

    #[test]
    fn predict_linear_and_deriv_fit_least_squares() {
        // Points (0, 0), (10, 20), (20, 10): slope 100 / 200 = 0.5 per second through the mean
        // (10 s, 10); at the evaluation time 20 s the line is at 15, and 10 s later at 20.
        let pts = [(0, 0.0), (10, 20.0), (20, 10.0)];
        assert!(close(only(run("deriv", vec![window(0, 20, &pts)])), 0.5));
        let p = only(
            run_at(
                20_000,
                "predict_linear",
                vec![window(0, 20, &pts), Arg::Scalar(10.0)],
            )
            .unwrap(),
        );
        assert!(close(p, 20.0), "{p}");
        // Anchored at the evaluation time, not at the window's end: from 50 s the prediction
        // 10 s ahead is 15 + 0.5 * 40.
        let p = only(
            run_at(
                50_000,
                "predict_linear",
                vec![window(0, 20, &pts), Arg::Scalar(10.0)],
            )
            .unwrap(),
        );
        assert!(close(p, 35.0), "{p}");
        // A constant series has slope exactly 0.
        let flat = [(0, 7.0), (10, 7.0)];
        assert_eq!(only(run("deriv", vec![window(0, 10, &flat)])), 0.0);
    }

    #[test]
    fn holt_winters_smooths_with_trend() {
        // s=1, b=1; then s = .5*2 + .5*(1+1) = 2; b = .5*(2-1) + .5*1 = 1, s = .5*4 + .5*(2+1).
        let pts = [(0, 1.0), (10, 2.0), (20, 4.0)];
        let hw = |sf: f64, tf: f64| {
            run_at(
                0,
                "holt_winters",
                vec![window(0, 20, &pts), Arg::Scalar(sf), Arg::Scalar(tf)],
            )
        };
        assert_eq!(only(hw(0.5, 0.5).unwrap()), 3.5);
        let err = hw(1.0, 0.5).unwrap_err();
        assert_eq!(
            err.message,
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        let err = hw(0.5, 0.0).unwrap_err();
        assert_eq!(
            err.message,
            "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"
        );
    }

    #[test]
    fn over_time_aggregations() {
        let pts = [
            (1, 2.0),
            (2, f64::NAN),
            (3, 4.0),
            (4, 4.0),
            (5, 5.0),
            (6, 5.0),
            (7, 7.0),
            (8, 9.0),
        ];
        let f = |name: &str| only(run(name, vec![window(0, 10, &pts)]));
        assert_eq!(f("count_over_time"), 8.0);
        assert_eq!(f("min_over_time"), 2.0);
        assert_eq!(f("max_over_time"), 9.0);
        assert!(f("sum_over_time").is_nan());
        // 2->NaN, NaN->4, 4->5, 5->7 and 7->9.
        assert_eq!(f("changes"), 5.0);
        assert_eq!(f("resets"), 0.0);
        // Population variance of 2 4 4 4 5 5 7 9 is 4.
        let clean = [
            (1, 2.0),
            (2, 4.0),
            (3, 4.0),
            (4, 4.0),
            (5, 5.0),
            (6, 5.0),
            (7, 7.0),
            (8, 9.0),
        ];
        let g = |name: &str| only(run(name, vec![window(0, 10, &clean)]));
        assert_eq!(g("stdvar_over_time"), 4.0);
        assert_eq!(g("stddev_over_time"), 2.0);
        assert_eq!(g("avg_over_time"), 5.0);
        // last_over_time keeps the name; the others drop it.
        let v = vector(run("last_over_time", vec![window(0, 10, &clean)]));
        assert_eq!((v[0].labels.get("__name__"), v[0].value), ("m", 9.0));
        let v = vector(run("present_over_time", vec![window(0, 10, &clean)]));
        assert_eq!((v[0].labels.get("__name__"), v[0].value), ("", 1.0));
    }

    /// The labels `absent` reports for the expression `arg` (when its vector is empty).
    fn absent_of(arg: &str, name: &str, input: Arg) -> Vec<Sample> {
        let expr = promql_parser::parser::parse(&format!("{name}({arg})")).unwrap();
        let Expr::Call(c) = expr else {
            panic!("not a call")
        };
        let ctx = CallCtx {
            t_ms: 0,
            arg_exprs: &c.args.args,
        };
        vector(call(name, vec![input], &ctx).unwrap())
    }

    #[test]
    fn absent_takes_labels_from_unique_equality_matchers() {
        let empty = || Arg::Vector(vec![]);
        let out = absent_of(
            r#"nope{a="1",b=~"x",c="2",c="3",d!="4",d="5",e=""}"#,
            "absent",
            empty(),
        );
        assert_eq!(out, vec![sample(&[("a", "1"), ("d", "5")], 1.0)]);
        // Parentheses are looked through; other expressions give no labels.
        let out = absent_of(r#"(nope{a="1"})"#, "absent", empty());
        assert_eq!(out, vec![sample(&[("a", "1")], 1.0)]);
        let out = absent_of(r#"sum(nope{a="1"})"#, "absent", empty());
        assert_eq!(out, vec![sample(&[], 1.0)]);
        // Something present: nothing.
        let out = absent_of("up", "absent", Arg::Vector(vec![sample(&[], 3.0)]));
        assert!(out.is_empty());
    }

    #[test]
    fn absent_over_time_of_an_empty_window() {
        let empty = Arg::Matrix(Window {
            series: vec![],
            start_ms: 0,
            end_ms: 60_000,
        });
        let out = absent_of(r#"nope{job="x"}[1m]"#, "absent_over_time", empty);
        assert_eq!(out, vec![sample(&[("job", "x")], 1.0)]);
        let out = absent_of(
            r#"nope{job="x"}[1m]"#,
            "absent_over_time",
            window(0, 60, &[(1, 1.0)]),
        );
        assert!(out.is_empty());
    }

    #[test]
    fn sort_keeps_labels_and_puts_nan_last() {
        let input = vec![
            sample(&[("__name__", "m"), ("i", "0")], f64::NAN),
            sample(&[("__name__", "m"), ("i", "1")], 2.0),
            sample(&[("__name__", "m"), ("i", "2")], 1.0),
            sample(&[("__name__", "m"), ("i", "3")], f64::NAN),
            sample(&[("__name__", "m"), ("i", "4")], 2.0),
        ];
        let order = |name: &str| {
            vector(run(name, vec![Arg::Vector(input.clone())]))
                .iter()
                .map(|s| {
                    assert_eq!(s.labels.get("__name__"), "m");
                    s.labels.get("i").to_owned()
                })
                .collect::<Vec<_>>()
                .join("")
        };
        // Ties keep their order; NaNs come last, reversed (as Go's insertion sort leaves them).
        assert_eq!(order("sort"), "21430");
        assert_eq!(order("sort_desc"), "14230");
    }

    #[test]
    fn math_clamp_round_and_scalars() {
        let v = |x: f64| Arg::Vector(vec![sample(&[("__name__", "m"), ("j", "a")], x)]);
        let out = vector(run("abs", vec![v(-2.0)]));
        assert_eq!(out, vec![sample(&[("j", "a")], 2.0)]);
        assert_eq!(only(run("log10", vec![v(1000.0)])), 3.0);
        assert_eq!(only(run("log2", vec![v(8.0)])), 3.0);
        assert!(only(run("sgn", vec![v(f64::NAN)])).is_nan());
        assert_eq!(only(run("round", vec![v(2.5)])), 3.0);
        assert_eq!(only(run("round", vec![v(-2.5)])), -2.0);
        assert_eq!(only(run("round", vec![v(7.3), Arg::Scalar(5.0)])), 5.0);
        assert_eq!(
            only(run(
                "clamp",
                vec![v(7.0), Arg::Scalar(0.0), Arg::Scalar(5.0)]
            )),
            5.0
        );
        assert!(vector(run(
            "clamp",
            vec![v(7.0), Arg::Scalar(5.0), Arg::Scalar(0.0)]
        ))
        .is_empty());
        // Go's Max lets +Inf win over NaN.
        assert_eq!(
            only(run(
                "clamp_min",
                vec![v(f64::NAN), Arg::Scalar(f64::INFINITY)]
            )),
            f64::INFINITY
        );
        assert!(only(run("clamp_min", vec![v(f64::NAN), Arg::Scalar(0.0)])).is_nan());
        assert_eq!(run("scalar", vec![v(4.0)]), Value::Scalar(4.0));
        assert!(matches!(run("scalar", vec![Arg::Vector(vec![])]), Value::Scalar(x) if x.is_nan()));
        assert_eq!(run_at(1500, "time", vec![]).unwrap(), Value::Scalar(1.5));
        assert_eq!(
            vector(run("vector", vec![Arg::Scalar(2.0)])),
            vec![sample(&[], 2.0)]
        );
    }

    #[test]
    fn date_functions() {
        // 2024-02-29 13:45:10 UTC, a Thursday.
        let t = 1_709_214_310i64;
        let at = |name: &str| only(run_at(t * 1000 + 999, name, vec![]).unwrap());
        assert_eq!(at("year"), 2024.0);
        assert_eq!(at("month"), 2.0);
        assert_eq!(at("day_of_month"), 29.0);
        assert_eq!(at("days_in_month"), 29.0);
        assert_eq!(at("day_of_year"), 60.0);
        assert_eq!(at("day_of_week"), 4.0);
        assert_eq!(at("hour"), 13.0);
        assert_eq!(at("minute"), 45.0);
        // With an argument: its values are the times (fractions truncated), names dropped.
        let arg = Arg::Vector(vec![sample(&[("__name__", "m")], 86_399.9)]);
        let out = vector(run("hour", vec![arg]));
        assert_eq!(out, vec![sample(&[], 23.0)]);
    }
}
