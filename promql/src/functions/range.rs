//! Functions over a range vector: each series' points in the window give at most one value.

use super::Window;

/// One series' points, `(unix ms, value)` in time order.
type Points = [(i64, f64)];

/// Compensated addition (Neumaier's variant of Kahan summation), as Prometheus sums: returns the
/// new sum and the new compensation term.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    // The compensation captures the low-order bits lost by whichever operand is smaller.
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Seconds in `ms` milliseconds, computed the way Go's `Duration.Seconds` does (whole seconds
/// plus the fraction), so that rates divide by exactly the same number.
fn duration_seconds(ms: i64) -> f64 {
    (ms / 1000) as f64 + ((ms % 1000) * 1_000_000) as f64 / 1e9
}

/// `rate`, `increase` and `delta`: the change over the window, corrected for counter resets and
/// extrapolated towards the window's edges (by at most half an average sample interval beyond
/// the first and last samples, and never below a counter's zero point). `None` with fewer than
/// two samples.
pub(crate) fn extrapolated_rate(
    points: &Points,
    window: &Window<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    extrapolate(points, window, is_counter, is_rate, true)
}

/// [`extrapolated_rate`] of a counter over points known to hold no drop (no value below the
/// one before it): there is no reset to look for, and the answer is the same.
pub(crate) fn counter_rate_without_drops(
    points: &Points,
    window: &Window<'_>,
    is_rate: bool,
) -> Option<f64> {
    extrapolate(points, window, true, is_rate, false)
}

fn extrapolate(
    points: &Points,
    window: &Window<'_>,
    is_counter: bool,
    is_rate: bool,
    may_drop: bool,
) -> Option<f64> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[n - 1];

    let mut result = last_v - first_v;
    if is_counter && may_drop {
        // A drop means the counter restarted from zero: add back what it had counted.
        let mut prev = first_v;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }

    let mut to_start = (first_t - window.start_ms) as f64 / 1000.0;
    let to_end = (window.end_ms - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_interval = sampled / (n - 1) as f64;

    if is_counter && result > 0.0 && first_v >= 0.0 {
        // Extrapolating backwards must not take the counter below zero: stop where the line
        // through the samples would reach zero if that is nearer than the window start.
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }

    // Extrapolate to an edge only when it is within 1.1 average intervals of the nearest
    // sample (the series probably continues there); otherwise assume it ended half an
    // interval after its last sample (or began half an interval before its first).
    let threshold = avg_interval * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_interval / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_interval / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= duration_seconds(window.end_ms - window.start_ms);
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples only.
pub(crate) fn instant_value(points: &Points, is_rate: bool) -> Option<f64> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let (prev_t, prev_v) = points[n - 2];
    let (last_t, last_v) = points[n - 1];
    let mut result = if is_rate && last_v < prev_v {
        // Counter reset: it counted `last_v` since restarting.
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares fit of value against time (seconds relative to `intercept_ms`): returns the
/// slope per second and the fitted value at `intercept_ms`. A constant series has slope 0 (NaN
/// when the constant is infinite), which the general formula would not give exactly.
pub(crate) fn linear_regression(points: &Points, intercept_ms: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = points[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv`: the regression slope; times are taken relative to the first sample to keep the
/// arithmetic near zero (large Unix times lose precision when squared).
pub(crate) fn deriv(points: &Points) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    Some(linear_regression(points, points[0].0).0)
}

/// `predict_linear`: the regression line (anchored at the evaluation time) `secs` ahead.
pub(crate) fn predict_linear(points: &Points, t_ms: i64, secs: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(points, t_ms);
    Some(slope * secs + intercept)
}

/// `holt_winters` (double exponential smoothing) with smoothing factor `sf` and trend factor
/// `tf`, both already checked to be in (0, 1). `None` with fewer than two samples.
pub(crate) fn holt_winters(points: &Points, sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    // s0/s1: the previous and current smoothed values; b: the trend.
    let mut s0 = 0.0;
    let mut s1 = points[0].1;
    let mut b = points[1].1 - points[0].1;
    for (i, &(_, v)) in points.iter().enumerate().skip(1) {
        let x = sf * v;
        // The first step keeps the initial trend; later ones blend in the latest change.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

/// `resets`: how many times the value dropped.
pub(crate) fn resets(points: &Points) -> f64 {
    points.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64
}

/// `changes`: how many times the value changed (NaN to NaN is no change).
pub(crate) fn changes(points: &Points) -> f64 {
    points
        .windows(2)
        .filter(|w| {
            let (prev, cur) = (w[0].1, w[1].1);
            cur != prev && !(cur.is_nan() && prev.is_nan())
        })
        .count() as f64
}

/// `avg_over_time`: an incremental mean (robust against overflow of a plain sum), with
/// compensated summation; an infinite mean absorbs finite values and infinities of its sign.
pub(crate) fn avg_over_time(points: &Points) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// `sum_over_time`, with compensated summation.
pub(crate) fn sum_over_time(points: &Points) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0);
    for &(_, v) in points {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// `min_over_time` / `max_over_time`: NaNs are ignored unless every value is NaN.
pub(crate) fn extreme_over_time(points: &Points, want_max: bool) -> f64 {
    let mut best = points[0].1;
    for &(_, v) in points {
        let better = if want_max { v > best } else { v < best };
        if better || best.is_nan() {
            best = v;
        }
    }
    best
}

/// `stdvar_over_time` (population variance) by Welford's method with compensated sums.
pub(crate) fn stdvar_over_time(points: &Points) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}
