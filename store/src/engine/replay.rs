//! Rebuilding the heads from the write-ahead log when the engine opens.

use crate::codec::Reader;
use argus_core::log::{Log, LogOptions, Recovery, SyncPolicy};
use std::collections::HashMap;
use std::sync::Arc;

use super::{Registry, SeriesMeta, REC_SAMPLES, REC_SAMPLES_DELTA};

/// Opens the WAL, replaying it into the registry's heads (a torn tail is cut off).
pub(super) fn replay_wal(
    dir: &std::path::Path,
    sync: SyncPolicy,
    reg: &mut Registry,
) -> std::io::Result<(Log, Recovery)> {
    let mut refs: HashMap<u64, Arc<SeriesMeta>> = HashMap::new();
    let mut cur_seg = u64::MAX;
    let mut bad = 0u64;
    let opts = LogOptions {
        suffix: super::WAL_SUFFIX,
        sync,
        // Records refer to series described earlier in their segment (generation): segments
        // change only by `rotate`, which starts a generation.
        segment_bytes: u64::MAX,
        bound: None,
        cursor: false,
    };
    let (log, rep) = Log::open(dir, opts, |seg, payload| {
        if seg != cur_seg {
            refs.clear();
            cur_seg = seg;
        }
        if decode_record(payload, reg, &mut refs).is_err() {
            bad += 1;
        }
    })?;
    if bad > 0 {
        tracing::warn!(
            records = bad,
            "write-ahead log records with unknown series or bad content skipped"
        );
    }
    Ok((log, rep))
}

fn decode_record(
    payload: &[u8],
    reg: &mut Registry,
    refs: &mut HashMap<u64, Arc<SeriesMeta>>,
) -> Result<(), crate::codec::DecodeError> {
    let mut r = Reader::new(payload);
    let delta = match r.u8()? {
        REC_SAMPLES => false,
        REC_SAMPLES_DELTA => true,
        _ => {
            return Err(crate::codec::DecodeError {
                at: 0,
                what: "record kind",
            })
        }
    };
    let ndefs = r.uvarint()?;
    for _ in 0..ndefs {
        let id = r.uvarint()?;
        let (key, ct) = r.key()?;
        refs.insert(id, reg.get_or_create(&key, ct));
    }
    let n = r.uvarint()?;
    let base = if delta && n > 0 { r.ivarint()? } else { 0 };
    for _ in 0..n {
        let id = r.uvarint()?;
        let t = r.ivarint()?.wrapping_add(base);
        let v = r.f64()?;
        if let Some(m) = refs.get(&id) {
            m.insert(t, v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Engine, EngineConfig, REC_SAMPLES};
    use crate::codec::{put_ivarint, put_key, put_uvarint};
    use argus_core::point::{CounterType, Tags};
    use argus_core::{Point, SeriesKey, TenantId};

    fn pt(v: f64, ts: i64) -> Point {
        let mut p = Point::gauge("h", "m", Tags::default(), v, ts);
        p.tenant = TenantId::new("acme").expect("tenant");
        p
    }

    /// A log written before timestamps were delta-coded (record kind 1) still replays after an
    /// upgrade; a new write goes in the delta-coded kind and replays too.
    #[test]
    fn a_log_of_absolute_timestamp_records_replays_after_an_upgrade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = argus_core::time::now_secs() - 3600;
        let key = SeriesKey::new(
            TenantId::new("acme").expect("tenant"),
            "h",
            "m",
            Tags::default(),
        );
        let mut payload = vec![REC_SAMPLES];
        put_uvarint(&mut payload, 1);
        put_uvarint(&mut payload, 7);
        put_key(&mut payload, &key, CounterType::Gauge);
        put_uvarint(&mut payload, 2);
        for (dt, v) in [(0i64, 1.5f64), (10, 2.5)] {
            put_uvarint(&mut payload, 7);
            put_ivarint(&mut payload, t + dt);
            payload.extend_from_slice(&v.to_le_bytes());
        }
        let mut record = (payload.len() as u32).to_le_bytes().to_vec();
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        std::fs::create_dir_all(dir.path().join("wal")).expect("wal dir");
        std::fs::write(dir.path().join("wal").join("0000000001.wal"), record).expect("segment");

        let cfg = EngineConfig {
            data_dir: dir.path().to_path_buf(),
            background: false,
            ..Default::default()
        };
        let head = |e: &Engine| -> Vec<(i64, f64)> {
            e.core.reg.read().expect("registry lock").series[0]
                .state
                .lock()
                .expect("series lock")
                .head
                .to_vec()
        };
        let e = Engine::open(&cfg).expect("open");
        assert_eq!(head(&e), vec![(t, 1.5), (t + 10, 2.5)]);
        let w = e.write(&[pt(3.5, t + 20), pt(4.5, t + 19)]).expect("write");
        assert_eq!(w.accepted, 2);
        drop(e);
        let e = Engine::open(&cfg).expect("reopen");
        assert_eq!(
            head(&e),
            vec![(t, 1.5), (t + 10, 2.5), (t + 19, 4.5), (t + 20, 3.5)]
        );
    }
}
