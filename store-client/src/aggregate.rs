//! Query-side arithmetic: counter rates, merging overlapping sources, bucketing into
//! sum/count/min/max/last rows (the rollup shape), and combining series into groups.

use crate::rows::Rows;
use argus_core::point::CounterType;
use argus_core::point::Tags;
use argus_core::query::{Aggregation, RangeQuery, SeriesData};
use argus_core::SeriesKey;
use std::collections::BTreeMap;

/// Column order of a rollup row.
pub const SUM: usize = 0;
/// Count column.
pub const COUNT: usize = 1;
/// Minimum column.
pub const MIN: usize = 2;
/// Maximum column.
pub const MAX: usize = 3;
/// Last-value column.
pub const LAST: usize = 4;
/// Columns of a rollup row.
pub const NCOLS: usize = 5;

/// Per-second rates for counters: a counter going down (a reset) yields no point rather than a
/// negative spike; a DERIVE may go down. Gauges are returned as they are.
pub fn rates(ct: CounterType, pts: &[(i64, f64)]) -> Vec<(i64, f64)> {
    match ct {
        CounterType::Gauge => pts.to_vec(),
        CounterType::Counter | CounterType::Derive => pts
            .windows(2)
            .filter_map(|w| {
                let ((t0, v0), (t1, v1)) = (w[0], w[1]);
                let dv = v1 - v0;
                if (ct == CounterType::Counter && dv < 0.0) || t1 <= t0 {
                    return None;
                }
                Some((t1, dv / (t1 - t0) as f64))
            })
            .collect(),
    }
}

/// Merges sources given oldest first: for a timestamp present in several, the latest source
/// wins (a rewrite of a point replaces it).
pub fn merge_pairs(mut parts: Vec<Vec<(i64, f64)>>) -> Vec<(i64, f64)> {
    parts.retain(|p| !p.is_empty());
    match parts.len() {
        0 => return Vec::new(),
        1 => return parts.pop().expect("one"),
        _ => {}
    }
    let mut all: Vec<(i64, usize, f64)> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.iter().map(move |&(t, v)| (t, i, v)))
        .collect();
    all.sort_by_key(|&(t, i, _)| (t, i));
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(all.len());
    for (t, _, v) in all {
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => out.push((t, v)),
        }
    }
    out
}

/// Row-wise [`merge_pairs`] for multi-column rows.
pub fn merge_rows(mut parts: Vec<Rows>) -> Rows {
    parts.retain(|p| !p.is_empty());
    if parts.len() == 1 {
        return parts.pop().expect("one");
    }
    let ncols = parts.first().map_or(1, |p| p.cols.len());
    let mut idx: Vec<(i64, usize, usize)> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.ts.iter().enumerate().map(move |(r, &t)| (t, i, r)))
        .collect();
    idx.sort_by_key(|&(t, i, _)| (t, i));
    let mut out = Rows {
        ts: Vec::with_capacity(idx.len()),
        cols: vec![Vec::with_capacity(idx.len()); ncols],
    };
    for (t, i, r) in idx {
        let replace = out.ts.last() == Some(&t);
        if !replace {
            out.ts.push(t);
        }
        for c in 0..ncols {
            let v = parts[i].cols[c][r];
            if replace {
                *out.cols[c].last_mut().expect("row") = v;
            } else {
                out.cols[c].push(v);
            }
        }
    }
    out
}

/// Buckets raw `(t, v)` pairs (ascending) into rows of `[sum, count, min, max, last]` at bucket
/// starts aligned to `res` seconds.
pub fn bucket_raw(pts: &[(i64, f64)], res: i64) -> Rows {
    fold_into_buckets(pts.iter().map(|&(t, v)| (t, [v, 1.0, v, v, v])), res)
}

/// Decimal places (at most 6) that represent every value of `pts` exactly, if any.
pub fn decimals(pts: &[(i64, f64)]) -> Option<i32> {
    let mut d = 0;
    for &(_, v) in pts {
        while (v * 10f64.powi(d)).round() / 10f64.powi(d) != v {
            d += 1;
            if d > 6 {
                return None;
            }
        }
    }
    Some(d)
}

/// Rounds to `d` decimal places.
pub fn round_to(v: f64, d: i32) -> f64 {
    let m = 10f64.powi(d);
    let r = (v * m).round() / m;
    if r.is_finite() {
        r
    } else {
        v
    }
}

/// Rounds to 7 significant digits (relative error below 5e-8).
pub fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let e = v.abs().log10().floor() as i32;
    round_to(v, 6 - e)
}

/// Makes rollup rows compress well. When the raw values had `d` decimals (`Some(d)`), sums are
/// rounded to `d` places, which removes float summation noise and only makes them more exact;
/// otherwise (rates of counters, arbitrary doubles) sum, min, max and last keep 7 significant
/// digits — far beyond what a 5 minute or 1 hour summary is read with.
pub fn tidy_rollup(rows: &mut Rows, decimals: Option<i32>) {
    match decimals {
        Some(d) => rows.cols[SUM].iter_mut().for_each(|v| *v = round_to(*v, d)),
        None => {
            for c in [SUM, MIN, MAX, LAST] {
                rows.cols[c].iter_mut().for_each(|v| *v = round_sig(*v));
            }
        }
    }
}

/// Re-buckets rollup rows (ascending) into coarser buckets of `res` seconds.
pub fn rebucket(rows: &Rows, res: i64) -> Rows {
    let rows_of = rows
        .ts
        .iter()
        .enumerate()
        .map(|(r, &t)| (t, std::array::from_fn(|c| rows.cols[c][r])));
    fold_into_buckets(rows_of, res)
}

/// Folds rollup rows `(t, [sum, count, min, max, last])`, ascending, into buckets of `res`
/// seconds: a raw point is the row `[v, 1, v, v, v]`.
fn fold_into_buckets(rows: impl Iterator<Item = (i64, [f64; NCOLS])>, res: i64) -> Rows {
    let mut out = Rows {
        ts: Vec::new(),
        cols: vec![Vec::new(); NCOLS],
    };
    for (t, row) in rows {
        let b = t.div_euclid(res) * res;
        if out.ts.last() == Some(&b) {
            let c = &mut out.cols;
            *c[SUM].last_mut().expect("row") += row[SUM];
            *c[COUNT].last_mut().expect("row") += row[COUNT];
            let mn = c[MIN].last_mut().expect("row");
            *mn = mn.min(row[MIN]);
            let mx = c[MAX].last_mut().expect("row");
            *mx = mx.max(row[MAX]);
            *c[LAST].last_mut().expect("row") = row[LAST];
        } else {
            out.ts.push(b);
            for (c, x) in row.into_iter().enumerate() {
                out.cols[c].push(x);
            }
        }
    }
    out
}

/// The value `agg` asks for, from a rollup row.
pub fn pick(rows: &Rows, r: usize, agg: Aggregation) -> f64 {
    let c = &rows.cols;
    match agg {
        Aggregation::Avg => c[SUM][r] / c[COUNT][r],
        Aggregation::Sum => c[SUM][r],
        Aggregation::Min => c[MIN][r],
        Aggregation::Max => c[MAX][r],
        Aggregation::Count => c[COUNT][r],
        Aggregation::Last => c[LAST][r],
    }
}

/// `(t, value)` of every row for `agg`.
pub fn finish(rows: &Rows, agg: Aggregation) -> Vec<(i64, f64)> {
    (0..rows.len())
        .map(|r| (rows.ts[r], pick(rows, r, agg)))
        .collect()
}

/// Combines the per-series step values of a group, per timestamp: sum and count add up, min and
/// max take the extreme, avg and last average the series' values.
pub fn combine(series: &[Vec<(i64, f64)>], agg: Aggregation) -> Vec<(i64, f64)> {
    let mut acc: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
    for s in series {
        for &(t, v) in s {
            let e = acc.entry(t).or_insert((f64::NAN, 0.0));
            e.0 = match agg {
                Aggregation::Min if !e.0.is_nan() => e.0.min(v),
                Aggregation::Max if !e.0.is_nan() => e.0.max(v),
                _ if e.0.is_nan() => v,
                _ => e.0 + v,
            };
            e.1 += 1.0;
        }
    }
    acc.into_iter()
        .map(|(t, (v, n))| match agg {
            Aggregation::Avg | Aggregation::Last => (t, v / n),
            _ => (t, v),
        })
        .collect()
}

/// Combines per-series results into groups by the `by` tag keys.
pub fn group(data: Vec<SeriesData>, by: &[String], q: &RangeQuery) -> Vec<SeriesData> {
    let mut groups: BTreeMap<Tags, Vec<Vec<(i64, f64)>>> = BTreeMap::new();
    for d in data {
        let tags = Tags::from_pairs(
            by.iter()
                .filter_map(|k| d.key.tags.get(k).map(|v| (k.clone(), v.to_string()))),
        );
        groups.entry(tags).or_default().push(d.points);
    }
    groups
        .into_iter()
        .map(|(tags, series)| SeriesData {
            key: SeriesKey::new(
                q.tenant.clone(),
                q.selector.endpoint.clone().unwrap_or_default(),
                q.selector.metric.clone().unwrap_or_default(),
                tags,
            ),
            points: combine(&series, q.aggregation),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_reset_gives_no_negative_rate() {
        let p = [(0, 100.0), (10, 200.0), (20, 5.0), (30, 105.0)];
        assert_eq!(
            rates(CounterType::Counter, &p),
            vec![(10, 10.0), (30, 10.0)]
        );
        assert_eq!(rates(CounterType::Derive, &p)[1], (20, -19.5));
    }

    #[test]
    fn newest_source_wins() {
        let m = merge_pairs(vec![vec![(1, 1.0), (2, 2.0)], vec![(2, 20.0), (3, 3.0)]]);
        assert_eq!(m, vec![(1, 1.0), (2, 20.0), (3, 3.0)]);
    }

    #[test]
    fn rebucketing_equals_direct_bucketing() {
        let pts: Vec<_> = (0..1000).map(|i| (i * 7, ((i * 31) % 17) as f64)).collect();
        let direct = bucket_raw(&pts, 600);
        let via = rebucket(&bucket_raw(&pts, 300), 600);
        assert_eq!(direct, via);
    }
}
