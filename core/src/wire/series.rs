//! The binary selection answer (`application/x-argus-series-v1`): the series a storage node
//! selected with their raw points, as it answers a transfer that asks for it (`Accept`), in
//! place of the JSON list of [`SeriesData`] (which other readers still get).
//!
//! It is `b"AGS1"`, a varint series count, then each series: its key in canonical encoding
//! ([`put_series_key`]), a varint point count `n`, the `n` timestamps as zigzag varints of the
//! difference to the previous one (the first to 0), and the `n` values as f64 little-endian.
//! Points are the bulk of an answer: their encoding is a copy of the value and a byte or two
//! of time each, and decoding writes each series' points into one vector.

use super::frame::{put_ivarint, put_series_key, put_uvarint, DecodeError, Reader};
use crate::query::SeriesData;

/// The content type of the binary selection answer.
pub const CONTENT_TYPE: &str = "application/x-argus-series-v1";
const MAGIC: &[u8; 4] = b"AGS1";

/// Encodes `series` (see the module).
pub fn encode(series: &[SeriesData]) -> Vec<u8> {
    let points: usize = series.iter().map(|s| s.points.len()).sum();
    let mut out = Vec::with_capacity(16 + series.len() * 64 + points * 10);
    out.extend_from_slice(MAGIC);
    put_uvarint(&mut out, series.len() as u64);
    for s in series {
        let k = &s.key;
        put_series_key(&mut out, &k.tenant, &k.endpoint, &k.metric, &k.tags);
        put_uvarint(&mut out, s.points.len() as u64);
        let mut prev = 0i64;
        for &(t, _) in &s.points {
            put_ivarint(&mut out, t.wrapping_sub(prev));
            prev = t;
        }
        for &(_, v) in &s.points {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Decodes an answer [`encode`] made; malformed bytes are an error naming where.
pub fn decode(raw: &[u8]) -> Result<Vec<SeriesData>, DecodeError> {
    let mut r = Reader::new(raw);
    if r.bytes(4)? != MAGIC {
        return Err(DecodeError {
            at: 0,
            what: "magic (expected AGS1)",
        });
    }
    let n = r.uvarint()? as usize;
    // Each series takes some bytes: a count beyond them is malformed, not a reason to allocate.
    let mut out = Vec::with_capacity(n.min(raw.len() / 4));
    for _ in 0..n {
        let key = r.series_key()?;
        let at = r.pos();
        let count = r.uvarint()? as usize;
        // At least one byte of time and eight of value a point.
        if count > raw.len().saturating_sub(r.pos()) / 9 {
            return Err(DecodeError {
                at,
                what: "point count past the end",
            });
        }
        // Straight into the points: times first, then each value in its place.
        let mut points = Vec::with_capacity(count);
        let mut t = 0i64;
        for _ in 0..count {
            t = t.wrapping_add(r.ivarint()?);
            points.push((t, 0.0));
        }
        let values = r.bytes(count * 8)?;
        for (p, v) in points.iter_mut().zip(values.chunks_exact(8)) {
            p.1 = f64::from_le_bytes(v.try_into().expect("8 bytes"));
        }
        out.push(SeriesData { key, points });
    }
    if !r.is_empty() {
        return Err(DecodeError {
            at: r.pos(),
            what: "bytes after the last series",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::Tags;
    use crate::series::SeriesKey;
    use crate::tenant::TenantId;

    fn answer() -> Vec<SeriesData> {
        let t = TenantId::new("acme").unwrap();
        vec![
            SeriesData {
                key: SeriesKey::new(
                    t.clone(),
                    "h1",
                    "net.if.in.bytes",
                    Tags::from_pairs([("iface", "eth0")]),
                ),
                points: vec![
                    (-5, 1.5),
                    (1_764_000_000, f64::NAN),
                    (1_764_000_010, f64::INFINITY),
                    (1_764_000_020, -0.0),
                    (i64::MAX, f64::MIN_POSITIVE),
                ],
            },
            SeriesData {
                key: SeriesKey::new(t, "h2", "cpu.busy", Tags::default()),
                points: Vec::new(),
            },
        ]
    }

    fn bits(v: &[SeriesData]) -> Vec<(SeriesKey, Vec<(i64, u64)>)> {
        v.iter()
            .map(|s| {
                let p = s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect();
                (s.key.clone(), p)
            })
            .collect()
    }

    #[test]
    fn round_trips_keys_times_and_every_value_bit() {
        let a = answer();
        assert_eq!(bits(&decode(&encode(&a)).unwrap()), bits(&a));
        assert!(decode(&encode(&[])).unwrap().is_empty());
    }

    #[test]
    fn malformed_answers_are_refused_where_they_break() {
        let raw = encode(&answer());
        let e = decode(b"JSON").unwrap_err();
        assert_eq!(e.what, "magic (expected AGS1)");
        // Cut anywhere: an error, never a panic or a partial answer.
        for cut in 4..raw.len() {
            assert!(decode(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = raw.clone();
        long.push(0);
        assert_eq!(
            decode(&long).unwrap_err().what,
            "bytes after the last series"
        );
        // A point count far beyond the bytes is refused before anything is allocated for it.
        let mut huge = MAGIC.to_vec();
        put_uvarint(&mut huge, 1);
        put_series_key(
            &mut huge,
            &TenantId::new("acme").unwrap(),
            "h",
            "m",
            &Tags::default(),
        );
        put_uvarint(&mut huge, u64::MAX >> 8);
        assert_eq!(decode(&huge).unwrap_err().what, "point count past the end");
    }
}
