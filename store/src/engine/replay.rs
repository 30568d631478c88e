//! Rebuilding the heads from the write-ahead log when the engine opens.

use crate::codec::Reader;
use std::collections::HashMap;
use std::sync::Arc;

use super::{Registry, SeriesMeta, REC_SAMPLES};

/// Replays the WAL into the registry's heads.
pub(super) fn replay_wal(
    dir: &std::path::Path,
    reg: &mut Registry,
) -> std::io::Result<crate::wal::Replay> {
    let mut refs: HashMap<u64, Arc<SeriesMeta>> = HashMap::new();
    let mut cur_seg = u64::MAX;
    let mut bad = 0u64;
    let rep = crate::wal::replay(dir, true, |seg, payload| {
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
    Ok(rep)
}

fn decode_record(
    payload: &[u8],
    reg: &mut Registry,
    refs: &mut HashMap<u64, Arc<SeriesMeta>>,
) -> Result<(), crate::codec::DecodeError> {
    let mut r = Reader::new(payload);
    if r.u8()? != REC_SAMPLES {
        return Err(crate::codec::DecodeError {
            at: 0,
            what: "record kind",
        });
    }
    let ndefs = r.uvarint()?;
    for _ in 0..ndefs {
        let id = r.uvarint()?;
        let (key, ct) = r.key()?;
        refs.insert(id, reg.get_or_create(&key, ct));
    }
    let n = r.uvarint()?;
    for _ in 0..n {
        let id = r.uvarint()?;
        let t = r.ivarint()?;
        let v = r.f64()?;
        if let Some(m) = refs.get(&id) {
            m.insert(t, v);
        }
    }
    Ok(())
}
