//! The write path: find or create each point's series, commit the accepted samples to the WAL,
//! then insert them into the heads.

use crate::codec::{key_bytes, put_ivarint, put_key_bytes, put_uvarint, FramePoint, Reader};
use argus_core::validate::{Rejection, ValidationError};
use argus_core::SeriesKey;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::registry::{key_hash, IdHasher};
use super::{Core, SeriesMeta, StoreError, WriteSummary, REC_SAMPLES_DELTA};

/// Checks the key of a series a write would create (a storage node applies its `[limits]`).
pub type NewSeriesCheck<'a> = dyn Fn(&SeriesKey) -> Result<(), ValidationError> + Sync + 'a;

/// Decodes the key of a series a write would create and checks it: a set tenant, then
/// `check_new`. The error names the field and the reason.
fn new_series_key(
    key_bytes: &[u8],
    check_new: &NewSeriesCheck,
) -> Result<SeriesKey, ValidationError> {
    let mut r = Reader::new(key_bytes);
    let key = r
        .series_key()
        .map_err(|e| ValidationError::new("key", e.to_string()))?;
    if key.tenant.is_unset() {
        return Err(ValidationError::new(
            "tenant",
            "must be set by the transfer",
        ));
    }
    check_new(&key)?;
    Ok(key)
}

impl Core {
    fn disk_check(&self) -> Result<(), StoreError> {
        let q = self.cfg.disk_quota_bytes;
        if q > 0 {
            let used = self.block_bytes.load(Ordering::Relaxed) + self.wal.size();
            if used >= q {
                return Err(StoreError::DiskFull(format!(
                    "data uses {used} bytes, engine.disk_quota_bytes is {q}"
                )));
            }
        }
        Ok(())
    }

    /// Finds the series of each point, creating missing ones within the tenant's cap; `None`
    /// for a point refused (its rejection is in `sum`).
    fn resolve(
        &self,
        points: &[FramePoint],
        check_new: &NewSeriesCheck,
        sum: &mut WriteSummary,
    ) -> Vec<Option<Arc<SeriesMeta>>> {
        let hashes: Vec<u64> = points.iter().map(|p| key_hash(p.key)).collect();
        let mut out: Vec<Option<Arc<SeriesMeta>>> = {
            let reg = self.reg.read().expect("registry lock");
            points
                .iter()
                .zip(&hashes)
                .map(|(p, &h)| reg.find(p.key, h).cloned())
                .collect()
        };
        if out.iter().all(Option::is_some) {
            return out;
        }
        // New series (or keys not in canonical form): decoded and checked outside the lock.
        let mut fresh = Vec::new();
        for (i, p) in points.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            match new_series_key(p.key, check_new) {
                Ok(key) => {
                    let kb = key_bytes(&key);
                    let h = key_hash(&kb);
                    fresh.push((i, key, kb, h));
                }
                Err(e) => sum.rejected.push(Rejection::new(i, e)),
            }
        }
        let cap = self.cfg.max_series_per_tenant;
        let mut reg = self.reg.write().expect("registry lock");
        for (i, key, kb, h) in fresh {
            out[i] = match reg.find(&kb, h) {
                Some(m) => Some(m.clone()),
                None if reg.index.cardinality(&key.tenant) >= cap => {
                    self.counters.cardinality.fetch_add(1, Ordering::Relaxed);
                    sum.rejected.push(Rejection {
                        index: i,
                        field: "tags".into(),
                        reason: format!(
                            "tenant {} reached its limit of {cap} series \
                             (engine.max_series_per_tenant); new series refused",
                            key.tenant
                        ),
                    });
                    None
                }
                None => {
                    sum.new_series += 1;
                    Some(reg.create(key, kb, points[i].counter_type, h))
                }
            };
        }
        out
    }

    pub(super) fn write(
        &self,
        points: &[FramePoint],
        check_new: &NewSeriesCheck,
        now: i64,
    ) -> Result<WriteSummary, StoreError> {
        let _gate = self.gate.read().expect("gate lock");
        self.disk_check()?;
        let mut sum = WriteSummary::default();
        let metas = self.resolve(points, check_new, &mut sum);
        let window = self.cfg.out_of_order_window_secs;
        let horizon = now - self.cfg.retention_raw_secs;
        let mut ok: Vec<(Arc<SeriesMeta>, i64, f64)> = Vec::with_capacity(points.len());
        let reject = |sum: &mut WriteSummary, i: usize, field: &str, reason: String| {
            sum.rejected.push(Rejection {
                index: i,
                field: field.into(),
                reason,
            })
        };
        // Each series' newest point as this batch would leave it. Series state changes only
        // once the WAL commit succeeds (as Prometheus's head appender does), so a failed
        // commit leaves `max_ts` as it was and a retry of the same points is not "too old".
        let mut batch_max: HashMap<u32, i64, BuildHasherDefault<IdHasher>> = HashMap::default();
        for (i, (p, m)) in points.iter().zip(metas).enumerate() {
            let Some(m) = m else { continue };
            let st = m.state.lock().expect("series lock");
            let newest = match batch_max.get(&m.id) {
                Some(&b) => st.max_ts.max(b),
                None => st.max_ts,
            };
            if newest != i64::MIN && p.timestamp < newest.saturating_sub(window) {
                self.counters.too_old.fetch_add(1, Ordering::Relaxed);
                let reason = format!(
                    "{} is more than the out-of-order window of {window} s older than the series' newest point {}",
                    p.timestamp, newest);
                drop(st);
                reject(&mut sum, i, "timestamp", reason);
                continue;
            }
            if p.timestamp < horizon {
                self.counters.too_old.fetch_add(1, Ordering::Relaxed);
                drop(st);
                reject(
                    &mut sum,
                    i,
                    "timestamp",
                    format!(
                        "{} is older than the raw retention ({} s)",
                        p.timestamp, self.cfg.retention_raw_secs
                    ),
                );
                continue;
            }
            drop(st);
            let b = batch_max.entry(m.id).or_insert(p.timestamp);
            *b = (*b).max(p.timestamp);
            ok.push((m, p.timestamp, p.value));
        }
        sum.rejected.sort_by_key(|r| r.index);
        if ok.is_empty() {
            return Ok(sum);
        }
        let seq = self
            .wal
            .append(|generation, buf| encode_record(generation, &ok, buf));
        self.wal.commit(seq).map_err(|e| {
            if e.is_disk_full() {
                StoreError::DiskFull(e.to_string())
            } else {
                StoreError::Wal(e.to_string())
            }
        })?;
        let mut grew = 0;
        for (m, t, v) in &ok {
            grew += m.insert(*t, *v) as usize;
        }
        self.head_points.fetch_add(grew, Ordering::Relaxed);
        self.counters
            .ingested
            .fetch_add(ok.len() as u64, Ordering::Relaxed);
        sum.accepted = ok.len();
        Ok(sum)
    }
}

/// Encodes one WAL record: series not yet described in this WAL generation, then the samples.
fn encode_record(generation: u64, ok: &[(Arc<SeriesMeta>, i64, f64)], buf: &mut Vec<u8>) {
    buf.push(REC_SAMPLES_DELTA);
    let defs: Vec<&SeriesMeta> = ok
        .iter()
        .filter(|(m, _, _)| m.wal_gen.swap(generation, Ordering::Relaxed) != generation)
        .map(|(m, _, _)| &**m)
        .collect();
    put_uvarint(buf, defs.len() as u64);
    for m in defs {
        put_uvarint(buf, m.id as u64);
        put_key_bytes(buf, &m.key_bytes, m.counter_type);
    }
    put_uvarint(buf, ok.len() as u64);
    let base = ok.first().map_or(0, |(_, t, _)| *t);
    if !ok.is_empty() {
        put_ivarint(buf, base);
    }
    for (m, t, v) in ok {
        put_uvarint(buf, m.id as u64);
        put_ivarint(buf, t.wrapping_sub(base));
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Engine, EngineConfig, StoreError};
    use argus_core::point::Tags;
    use argus_core::{Point, TenantId};

    fn pt(v: f64, ts: i64) -> Point {
        let mut p = Point::gauge("h", "m", Tags::default(), v, ts);
        p.tenant = TenantId::new("acme").expect("tenant");
        p
    }

    fn max_ts(e: &Engine) -> i64 {
        let reg = e.core.reg.read().expect("registry lock");
        let st = reg.series[0].state.lock().expect("series lock");
        st.max_ts
    }

    /// An engine without its background thread and with a 10-minute out-of-order window (kept
    /// alive by the returned directory), and a time an hour ago to write at.
    fn engine() -> (tempfile::TempDir, Engine, i64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(&EngineConfig {
            data_dir: dir.path().to_path_buf(),
            background: false,
            out_of_order_window_secs: 600,
            ..Default::default()
        })
        .expect("open");
        (dir, e, argus_core::time::now_secs() - 3600)
    }

    #[test]
    fn a_failed_wal_commit_leaves_max_ts_unchanged() {
        let (_dir, e, t) = engine();
        assert_eq!(e.write(&[pt(1.0, t)]).expect("write").accepted, 1);
        assert_eq!(max_ts(&e), t);

        // A read-only handle on the segment: the commit's write fails as on a broken disk.
        let ro = std::fs::File::open(e.core.wal.segment_path()).expect("open ro");
        let rw = e
            .core
            .wal
            .swap_file_for_test(ro)
            .expect("a segment is open");
        let err = e
            .write(&[pt(2.0, t + 3000), pt(3.0, t + 3001)])
            .expect_err("the WAL commit must fail");
        assert!(matches!(err, StoreError::Wal(_)), "{err}");
        assert_eq!(max_ts(&e), t, "a failed commit must not raise max_ts");
        e.core.wal.swap_file_for_test(rw);

        // Within the window of what was committed, though far behind the failed batch: taken.
        let s = e.write(&[pt(4.0, t + 1)]).expect("write");
        assert_eq!((s.accepted, s.rejected.len()), (1, 0), "{:?}", s.rejected);
        // And the failed batch itself, sent again, is taken.
        let s = e
            .write(&[pt(2.0, t + 3000), pt(3.0, t + 3001)])
            .expect("write");
        assert_eq!((s.accepted, s.rejected.len()), (2, 0), "{:?}", s.rejected);
        assert_eq!(max_ts(&e), t + 3001);
        let got: Vec<(i64, f64)> = e.core.reg.read().expect("registry lock").series[0]
            .state
            .lock()
            .expect("series lock")
            .head
            .to_vec();
        assert_eq!(
            got,
            vec![(t, 1.0), (t + 1, 4.0), (t + 3000, 2.0), (t + 3001, 3.0)]
        );
    }

    #[test]
    fn a_batch_is_checked_against_its_own_newer_points() {
        let (_dir, e, t) = engine();
        let s = e.write(&[pt(1.0, t), pt(2.0, t - 700)]).expect("write");
        assert_eq!(s.accepted, 1);
        assert_eq!(s.rejected.len(), 1);
        assert_eq!(s.rejected[0].index, 1);
    }
}
