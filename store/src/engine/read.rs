//! Reads: series selection, raw and rolled-up ranges, last values and label listings.

use crate::aggregate::{self, bucket_raw, finish, merge_pairs, merge_rows, rates, rebucket};
use crate::chunk::Rows;
use crate::selector::CompiledSelector;
use argus_core::point::CounterType;
use argus_core::query::{LastQuery, LastValue, RangeQuery, SeriesData};
use argus_core::TenantId;
use std::sync::Arc;

use super::{BlockRef, Core, LabelKind, LabelQuery, SeriesMeta, StoreError};

/// Series a read takes before it is spread over the cores (a thread costs tens of µs).
const PARALLEL_MIN_SERIES: usize = 512;

/// `f` over `items`, in contiguous parts on the machine's cores when there are many: a fleet
/// query's chunks are decoded on every core, the results in the order one thread gives.
fn map_parallel<I: Sync, R: Send, E: Send>(
    items: &[I],
    f: impl Fn(&I) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let threads = if items.len() >= PARALLEL_MIN_SERIES {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    let one = |part: &[I]| part.iter().map(&f).collect::<Result<Vec<R>, E>>();
    if threads <= 1 {
        return one(items);
    }
    let parts: Vec<Result<Vec<R>, E>> = std::thread::scope(|s| {
        let mut chunks = items.chunks(items.len().div_ceil(threads));
        let first = chunks.next().unwrap_or(&[]);
        let others: Vec<_> = chunks.map(|c| s.spawn(move || one(c))).collect();
        let mut parts = vec![one(first)];
        for h in others {
            parts.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        parts
    });
    let mut out = Vec::with_capacity(items.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

impl Core {
    /// The series of `tenant` matching `sel`, ascending by id.
    pub(super) fn select(&self, tenant: &TenantId, sel: &CompiledSelector) -> Vec<Arc<SeriesMeta>> {
        let reg = self.reg.read().expect("registry lock");
        reg.index
            .candidates(tenant, sel)
            .into_iter()
            .map(|id| reg.series[id as usize].clone())
            .filter(|m| sel.matches_view(&m.view()))
            .collect()
    }

    /// Raw stored points of a series within `[a, b]`, merged across blocks, frozen heads and the
    /// live head.
    pub(super) fn raw(
        &self,
        m: &SeriesMeta,
        a: i64,
        b: i64,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        // Each source's points go straight into one list; where the sources follow each other
        // in time (older blocks, then frozen heads, then the live head: the usual case) that
        // list is the answer, and only overlapping sources are merged.
        let mut out: Vec<(i64, f64)> = Vec::new();
        let mut bounds: Vec<usize> = Vec::new();
        let mut in_order = true;
        let mut part = |out: &mut Vec<(i64, f64)>, pts: &mut dyn Iterator<Item = (i64, f64)>| {
            let start = out.len();
            out.extend(pts);
            if out.len() > start {
                in_order &= start == 0 || out[start - 1].0 < out[start].0;
                bounds.push(start);
            }
        };
        let blocks: Vec<Arc<BlockRef>> = self.blocks.read().expect("blocks lock").clone();
        // The series' chunks that overlap `[a, b]`, as (block, entry).
        let chunks = || {
            blocks
                .iter()
                .filter(|br| {
                    br.block.meta.resolution == 0
                        && br.block.meta.start <= b
                        && br.block.meta.end > a
                })
                .filter_map(|br| {
                    let i = br.by_id.get(m.id)?;
                    let e = &br.block.entries[i];
                    (e.min_t <= b && e.max_t >= a).then_some((br, i))
                })
        };
        // Room for the chunks' rows up front: growing the list chunk by chunk copied it and
        // touched fresh pages each time.
        out.reserve(
            chunks()
                .map(|(br, i)| br.block.entries[i].count as usize)
                .sum(),
        );
        for (br, i) in chunks() {
            let rows = br.block.read(i)?;
            let lo = rows.ts.partition_point(|&t| t < a);
            let hi = rows.ts.partition_point(|&t| t <= b);
            let vals = &rows.cols[0][lo..hi];
            part(
                &mut out,
                &mut rows.ts[lo..hi].iter().copied().zip(vals.iter().copied()),
            );
        }
        for f in self.frozen.read().expect("frozen lock").iter() {
            if let Some((_, head)) = f.data.get(&m.id) {
                part(&mut out, &mut head.range(a, b));
            }
        }
        {
            let st = m.state.lock().expect("series lock");
            part(&mut out, &mut st.head.range(a, b));
        }
        if in_order {
            return Ok(out);
        }
        bounds.push(out.len());
        Ok(merge_pairs(
            bounds
                .windows(2)
                .map(|w| out[w[0]..w[1]].to_vec())
                .collect(),
        ))
    }

    /// Rollup rows of resolution `res` within `[a, b]`.
    fn rolled(&self, m: &SeriesMeta, res: u32, a: i64, b: i64) -> Result<Rows, StoreError> {
        let mut parts = Vec::new();
        let blocks: Vec<Arc<BlockRef>> = self.blocks.read().expect("blocks lock").clone();
        for br in blocks.iter().filter(|br| {
            br.block.meta.resolution == res && br.block.meta.start <= b && br.block.meta.end > a
        }) {
            if let Some(i) = br.by_id.get(m.id) {
                let rows = br.block.read(i)?;
                let lo = rows.ts.partition_point(|&t| t < a);
                let hi = rows.ts.partition_point(|&t| t <= b);
                parts.push(Rows {
                    ts: rows.ts[lo..hi].to_vec(),
                    cols: rows.cols.iter().map(|c| c[lo..hi].to_vec()).collect(),
                });
            }
        }
        Ok(merge_rows(parts))
    }

    /// What a reader sees of a series in `[a, b]`: raw values, or per-second rates for counters.
    pub(crate) fn readable(
        &self,
        m: &SeriesMeta,
        a: i64,
        b: i64,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        if m.counter_type == CounterType::Gauge {
            return self.raw(m, a, b);
        }
        let raw = self.raw(m, a.saturating_sub(self.cfg.counter_lookback_secs), b)?;
        Ok(rates(m.counter_type, &raw)
            .into_iter()
            .filter(|p| p.0 >= a)
            .collect())
    }

    /// The end of the newest raw partition that has rollups (everything before is rolled up).
    fn rolled_until(&self) -> i64 {
        self.rollups
            .lock()
            .expect("rollup lock")
            .keys()
            .next_back()
            .map_or(i64::MIN, |s| s + self.cfg.partition_secs)
    }

    /// The resolution that answers `[start, ..]` at `step`: raw while raw data is retained, else
    /// the finest rollup that divides the step and is retained.
    fn resolution_for(&self, start: i64, step: i64, now: i64) -> u32 {
        if step <= 0 || start >= now - self.cfg.retention_raw_secs {
            return 0;
        }
        if step % 300 == 0 && start >= now - self.cfg.retention_5m_secs {
            return 300;
        }
        if step % 3600 == 0 {
            return 3600;
        }
        if step % 300 == 0 {
            return 300;
        }
        0
    }

    /// One series' step buckets (`[sum, count, min, max, last]` rows) at `step`.
    fn buckets(
        &self,
        m: &SeriesMeta,
        q: &RangeQuery,
        step: i64,
        now: i64,
    ) -> Result<Rows, StoreError> {
        let res = self.resolution_for(q.start, step, now);
        if res == 0 {
            return Ok(bucket_raw(&self.readable(m, q.start, q.end)?, step));
        }
        // Rollups up to where they exist, raw (while retained) after.
        let split = self.rolled_until().clamp(q.start, q.end.saturating_add(1));
        let mut parts = vec![self.rolled(m, res, q.start, split - 1)?];
        if split <= q.end {
            parts.push(bucket_raw(&self.readable(m, split, q.end)?, res as i64));
        }
        Ok(rebucket(&merge_rows(parts), step))
    }

    pub(super) fn query_range(
        &self,
        q: &RangeQuery,
        now: i64,
    ) -> Result<Vec<SeriesData>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        if q.end < q.start {
            return Err(StoreError::BadQuery("end: is before start".into()));
        }
        let series = self.select(&q.tenant, &sel);
        let step = q.step.map(|s| s as i64).filter(|&s| s > 0);
        let mut out = map_parallel(&series, |m| -> Result<SeriesData, StoreError> {
            let points = match step {
                None if q.group_by.is_none() => self.readable(m, q.start, q.end)?,
                None => finish(
                    &bucket_raw(&self.readable(m, q.start, q.end)?, 1),
                    q.aggregation,
                ),
                Some(s) => finish(&self.buckets(m, q, s, now)?, q.aggregation),
            };
            Ok(SeriesData {
                key: m.key(),
                points,
            })
        })?;
        if let Some(by) = &q.group_by {
            return Ok(aggregate::group(out, by, q));
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(super) fn last(&self, q: &LastQuery) -> Result<Vec<LastValue>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        let mut out = Vec::new();
        for m in self.select(&q.tenant, &sel) {
            let (last, max_ts) = {
                let st = m.state.lock().expect("series lock");
                (st.last.as_slice().to_vec(), st.max_ts)
            };
            let need = if m.counter_type == CounterType::Gauge {
                1
            } else {
                2
            };
            let complete = last.len() >= need && last.last().map(|p| p.0) == Some(max_ts);
            let last = if complete || max_ts == i64::MIN {
                last
            } else {
                // After a restart the newest points may be only in blocks.
                let lb = self.cfg.counter_lookback_secs.max(self.cfg.partition_secs);
                let raw = self.raw(&m, max_ts - lb, max_ts)?;
                raw[raw.len().saturating_sub(2)..].to_vec()
            };
            if let Some(&(t, v)) = rates(m.counter_type, &last).last() {
                out.push(LastValue {
                    key: m.key(),
                    timestamp: t,
                    value: v,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(super) fn labels(&self, q: &LabelQuery) -> Result<Vec<String>, StoreError> {
        if q.what == LabelKind::TagValues && q.key.is_none() {
            return Err(StoreError::BadQuery("key: required for tag_values".into()));
        }
        let empty = q.selector == argus_core::query::Selector::default();
        if empty {
            // Straight from the index.
            let reg = self.reg.read().expect("registry lock");
            let Some(t) = reg.index.tenant(&q.tenant) else {
                return Ok(Vec::new());
            };
            let names: Vec<String> = match q.what {
                LabelKind::Metrics => t.metrics.keys().take(q.limit).cloned().collect(),
                LabelKind::Endpoints => t.endpoints.keys().take(q.limit).cloned().collect(),
                LabelKind::TagKeys => t.tags.keys().take(q.limit).cloned().collect(),
                LabelKind::TagValues => t
                    .tags
                    .get(q.key.as_deref().unwrap_or_default())
                    .map(|v| v.keys().take(q.limit).cloned().collect())
                    .unwrap_or_default(),
            };
            return Ok(names);
        }
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        let mut set = std::collections::BTreeSet::new();
        for m in self.select(&q.tenant, &sel) {
            let k = m.view();
            match q.what {
                LabelKind::Metrics => {
                    set.insert(k.metric.to_string());
                }
                LabelKind::Endpoints => {
                    set.insert(k.endpoint.to_string());
                }
                LabelKind::TagKeys => set.extend(k.tags().map(|(a, _)| a.to_string())),
                LabelKind::TagValues => {
                    if let Some(v) = k.tag(q.key.as_deref().unwrap_or_default()) {
                        set.insert(v.to_string());
                    }
                }
            }
        }
        Ok(set.into_iter().take(q.limit).collect())
    }
}
