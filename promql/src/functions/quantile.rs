//! Quantiles: `histogram_quantile` over classic `le` buckets and `quantile_over_time`.

use crate::value::{Labels, Sample, METRIC_NAME};
use std::collections::HashMap;

/// The label holding a classic histogram bucket's upper bound.
const BUCKET_LABEL: &str = "le";

/// `histogram_quantile(q, buckets)`: series are grouped by their labels other than `le` (the
/// metric name included, as in Prometheus 2.x; it is dropped from the result), and each group
/// yields one sample. Series without a parsable `le` are ignored.
pub(crate) fn histogram_quantile(q: f64, input: Vec<Sample>) -> Vec<Sample> {
    // Groups in order of first appearance: (labels without `le`, buckets as (bound, count)).
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let Some(bound) = parse_go_float(s.labels.get(BUCKET_LABEL)) else {
            continue;
        };
        let key = s.labels.without(&[BUCKET_LABEL]);
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((bound, s.value));
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| Sample {
            labels: labels.without(&[METRIC_NAME]),
            value: bucket_quantile(q, buckets),
        })
        .collect()
}

/// The `q` quantile of one classic histogram, interpolating linearly inside the bucket the rank
/// falls in (from 0 for the lowest bucket when its bound is positive). NaN without a `+Inf`
/// bucket, with fewer than two buckets, or without observations; a rank in the `+Inf` bucket
/// gives the highest finite bound.
pub(crate) fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    sort_buckets(&mut buckets);
    if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(&mut buckets);
    ensure_monotonic(&mut buckets);
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = go_search(n - 1, |i| buckets[i].1 >= rank);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let bucket_end = buckets[b].0;
    let mut count = buckets[b].1;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Sorts buckets by bound. Without NaN bounds any sort gives the same result (equal bounds are
/// merged afterwards); with NaN bounds, an insertion sort reproduces what Go's sort does on
/// short inputs.
fn sort_buckets(buckets: &mut [(f64, f64)]) {
    if buckets.iter().any(|b| b.0.is_nan()) {
        for i in 1..buckets.len() {
            let mut j = i;
            while j > 0 && buckets[j].0 < buckets[j - 1].0 {
                buckets.swap(j, j - 1);
                j -= 1;
            }
        }
    } else {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
}

/// Merges adjacent buckets with the same bound, summing their counts.
fn coalesce(buckets: &mut Vec<(f64, f64)>) {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(bound, count) in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => out.push((bound, count)),
        }
    }
    *buckets = out;
}

/// Counts must not decrease with the bound; buckets scraped or rated at slightly different
/// moments can break that, so each count is raised to the largest count below it.
fn ensure_monotonic(buckets: &mut [(f64, f64)]) {
    let mut max = buckets[0].1;
    for b in &mut buckets[1..] {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
}

/// Go's `sort.Search`: the smallest index in `[0, n)` where `f` holds, assuming `f` is false
/// then true; `n` when it never holds. Reproduced step for step so that NaN counts (for which
/// `f` is not monotonic) land where Prometheus's do.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = (i + j) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// The `q` quantile of `values` (`quantile_over_time`): linear interpolation between the two
/// closest ranks. NaN values sort first, as in Prometheus.
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Parses a float as Go's `strconv.ParseFloat(s, 64)` accepts it: decimal or hexadecimal
/// (`0x1p-3`) notation, `inf`/`infinity`/`nan` in any case (a sign only before the infinities),
/// and out-of-range values are errors rather than infinities.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        return (body.len() == s.len()).then_some(f64::NAN);
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        let v = parse_hex_float(hex)?;
        return Some(if negative { -v } else { v });
    }
    // Rust's parser accepts a superset of Go's decimal syntax only in the special words handled
    // above; digits, '.', and exponents are read the same way.
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// The part of a Go hexadecimal float after `0x` (lowercased): hex digits with an optional
/// point, then a mandatory binary exponent `p[+-]digits`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once('p')?;
    let exp: i64 = match exp.strip_prefix('+') {
        Some(rest) if !rest.starts_with(['+', '-']) => rest.parse().ok()?,
        _ => exp.parse().ok()?,
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    // Up to 30 hex digits fit a u128 exactly; later digits only scale the exponent (their
    // rounding contribution is lost, which only matters past double precision many times over).
    let mut m: u128 = 0;
    let mut scale: i64 = 0;
    let mut digits = 0;
    for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
        let d = c.to_digit(16)? as u128;
        let in_fraction = i >= int_part.len();
        if digits < 30 {
            m = m * 16 + d;
            if m > 0 {
                digits += 1;
            }
            if in_fraction {
                scale -= 4;
            }
        } else if !in_fraction {
            scale += 4;
        }
    }
    let v = m as f64 * 2f64.powi((exp + scale).clamp(-2000, 2000) as i32);
    v.is_finite().then_some(v)
}
