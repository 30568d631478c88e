//! Compressed chunks: the samples of one series within one block.
//!
//! A chunk holds `n` rows of a timestamp and `ncols` values (1 for raw data; 5 for rollups:
//! sum, count, min, max, last). Timestamps are Gorilla delta-of-delta coded. Each value column is
//! coded in whichever of two ways is smaller for it:
//! - Gorilla XOR (the paper's float coding), good for arbitrary doubles;
//! - decimal: when every value is an integer multiple of 10^-d (d <= 6) well inside the exactly
//!   representable range, the scaled integers are delta or delta-of-delta coded in variable bit
//!   widths, which is what makes host metrics (percentages with two decimals, byte counters)
//!   much smaller than XOR.

use crate::codec::{put_uvarint, DecodeError, Reader};

/// Writes bits, most significant first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    cur: u64,
    nbits: u32,
}

impl BitWriter {
    fn put(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let mut n = n;
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        while n > 0 {
            let space = 64 - self.nbits;
            let take = n.min(space);
            let part = if take == 64 {
                v
            } else {
                (v >> (n - take)) & ((1u64 << take) - 1)
            };
            self.cur = if take == 64 {
                part
            } else {
                (self.cur << take) | part
            };
            self.nbits += take;
            n -= take;
            if self.nbits == 64 {
                self.out.extend_from_slice(&self.cur.to_be_bytes());
                self.cur = 0;
                self.nbits = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.nbits >= 8 {
            self.nbits -= 8;
            self.out.push((self.cur >> self.nbits) as u8);
        }
        if self.nbits > 0 {
            self.out.push((self.cur << (8 - self.nbits)) as u8);
        }
        self.out
    }
}

/// Reads bits written by [`BitWriter`].
struct BitReader<'a> {
    buf: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    fn get(&mut self, n: u32) -> Result<u64, DecodeError> {
        if self.bit + n as usize > self.buf.len() * 8 {
            return Err(DecodeError {
                at: self.bit / 8,
                what: "chunk bits past the end",
            });
        }
        let mut v = 0u64;
        let mut n = n;
        while n > 0 {
            let byte = self.buf[self.bit / 8];
            let off = (self.bit % 8) as u32;
            let avail = 8 - off;
            let take = avail.min(n);
            let bits = (byte >> (avail - take)) & ((1u16 << take) - 1) as u8;
            v = (v << take) | bits as u64;
            self.bit += take as usize;
            n -= take;
        }
        Ok(v)
    }

    fn bytes_used(&self) -> usize {
        self.bit.div_ceil(8)
    }
}

fn put_timestamps(w: &mut BitWriter, ts: &[i64]) {
    let mut prev = 0i64;
    let mut prev_delta = 0i64;
    for (i, &t) in ts.iter().enumerate() {
        if i == 0 {
            w.put(t as u64, 64);
        } else {
            let delta = t - prev;
            let dod = delta - prev_delta;
            match dod {
                0 => w.put(0, 1),
                -63..=64 => {
                    w.put(0b10, 2);
                    w.put(dod as u64, 7);
                }
                -255..=256 => {
                    w.put(0b110, 3);
                    w.put(dod as u64, 9);
                }
                -2047..=2048 => {
                    w.put(0b1110, 4);
                    w.put(dod as u64, 12);
                }
                _ => {
                    w.put(0b1111, 4);
                    w.put(dod as u64, 64);
                }
            }
            prev_delta = delta;
        }
        prev = t;
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn get_timestamps(r: &mut BitReader, n: usize) -> Result<Vec<i64>, DecodeError> {
    let mut out = Vec::with_capacity(n);
    let mut prev = 0i64;
    let mut prev_delta = 0i64;
    for i in 0..n {
        let t = if i == 0 {
            r.get(64)? as i64
        } else {
            let dod = if r.get(1)? == 0 {
                0
            } else if r.get(1)? == 0 {
                sign_extend(r.get(7)?, 7)
            } else if r.get(1)? == 0 {
                sign_extend(r.get(9)?, 9)
            } else if r.get(1)? == 0 {
                sign_extend(r.get(12)?, 12)
            } else {
                r.get(64)? as i64
            };
            let delta = prev_delta.wrapping_add(dod);
            prev_delta = delta;
            prev.wrapping_add(delta)
        };
        out.push(t);
        prev = t;
    }
    Ok(out)
}

fn put_xor(w: &mut BitWriter, vals: &[f64]) {
    let mut prev = 0u64;
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for (i, v) in vals.iter().enumerate() {
        let bits = v.to_bits();
        if i == 0 {
            w.put(bits, 64);
            prev = bits;
            continue;
        }
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.put(0, 1);
            continue;
        }
        w.put(1, 1);
        let l = x.leading_zeros().min(31);
        let t = x.trailing_zeros();
        if lead != u32::MAX && l >= lead && t >= trail {
            w.put(0, 1);
            w.put(x >> trail, 64 - lead - trail);
        } else {
            lead = l;
            trail = t;
            let sig = 64 - l - t;
            w.put(1, 1);
            w.put(l as u64, 5);
            w.put((sig - 1) as u64, 6);
            w.put(x >> t, sig);
        }
    }
}

fn get_xor(r: &mut BitReader, n: usize) -> Result<Vec<f64>, DecodeError> {
    let mut out = Vec::with_capacity(n);
    let mut prev = 0u64;
    let (mut lead, mut trail) = (0u32, 0u32);
    for i in 0..n {
        if i == 0 {
            prev = r.get(64)?;
        } else if r.get(1)? == 1 {
            if r.get(1)? == 1 {
                lead = r.get(5)? as u32;
                let sig = r.get(6)? as u32 + 1;
                if lead + sig > 64 {
                    return Err(DecodeError {
                        at: r.bytes_used(),
                        what: "xor window",
                    });
                }
                trail = 64 - lead - sig;
            }
            let sig = 64 - lead - trail;
            prev ^= r.get(sig)? << trail;
        }
        out.push(f64::from_bits(prev));
    }
    Ok(out)
}

/// The power of ten that makes every value an exact integer, if there is a small one.
fn decimal_scale(vals: &[f64]) -> Option<(u32, Vec<i64>)> {
    'scale: for d in 0..=6u32 {
        let m = 10f64.powi(d as i32);
        let mut ints = Vec::with_capacity(vals.len());
        for &v in vals {
            let s = v * m;
            if !s.is_finite() || s.abs() > 9.0e15 {
                return None;
            }
            let r = s.round();
            if r / m != v || (r == 0.0 && v.is_sign_negative() && v != 0.0) {
                continue 'scale;
            }
            if v == 0.0 && v.is_sign_negative() {
                return None; // -0.0 must round-trip bit for bit
            }
            ints.push(r as i64);
        }
        return Some((d, ints));
    }
    None
}

fn put_int(w: &mut BitWriter, v: i64) {
    match v {
        0 => w.put(0, 1),
        -63..=64 => {
            w.put(0b10, 2);
            w.put(v as u64, 7);
        }
        -255..=256 => {
            w.put(0b110, 3);
            w.put(v as u64, 9);
        }
        -2047..=2048 => {
            w.put(0b1110, 4);
            w.put(v as u64, 12);
        }
        -524287..=524288 => {
            w.put(0b11110, 5);
            w.put(v as u64, 20);
        }
        _ => {
            w.put(0b11111, 5);
            w.put(v as u64, 64);
        }
    }
}

fn get_int(r: &mut BitReader) -> Result<i64, DecodeError> {
    Ok(if r.get(1)? == 0 {
        0
    } else if r.get(1)? == 0 {
        sign_extend(r.get(7)?, 7)
    } else if r.get(1)? == 0 {
        sign_extend(r.get(9)?, 9)
    } else if r.get(1)? == 0 {
        sign_extend(r.get(12)?, 12)
    } else if r.get(1)? == 0 {
        sign_extend(r.get(20)?, 20)
    } else {
        r.get(64)? as i64
    })
}

/// Scaled integers coded as deltas (`order` 1) or deltas of deltas (`order` 2).
fn put_ints(ints: &[i64], order: u8) -> Vec<u8> {
    let mut w = BitWriter::default();
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for (i, &x) in ints.iter().enumerate() {
        if i == 0 {
            w.put(x as u64, 64);
        } else {
            let delta = x.wrapping_sub(prev);
            put_int(
                &mut w,
                if order == 2 {
                    delta.wrapping_sub(prev_delta)
                } else {
                    delta
                },
            );
            prev_delta = delta;
        }
        prev = x;
    }
    w.finish()
}

fn put_column(out: &mut Vec<u8>, vals: &[f64]) {
    let mut xor = BitWriter::default();
    put_xor(&mut xor, vals);
    let mut best = (0u8, xor.finish());
    if let Some((d, ints)) = decimal_scale(vals) {
        for order in [1u8, 2] {
            let enc = put_ints(&ints, order);
            if enc.len() < best.1.len() {
                best = (1 + d as u8 + if order == 2 { 7 } else { 0 }, enc);
            }
        }
    }
    out.push(best.0);
    put_uvarint(out, best.1.len() as u64);
    out.extend_from_slice(&best.1);
}

fn get_column(r: &mut Reader, n: usize) -> Result<Vec<f64>, DecodeError> {
    let mode = r.u8()?;
    let len = r.uvarint()? as usize;
    let body = r.bytes(len)?;
    if mode == 0 {
        return get_xor(&mut BitReader { buf: body, bit: 0 }, n);
    }
    if mode > 14 {
        return Err(DecodeError {
            at: r.pos(),
            what: "column mode",
        });
    }
    let (d, order) = if mode > 7 {
        (mode - 8, 2)
    } else {
        (mode - 1, 1)
    };
    let m = 10f64.powi(d as i32);
    let mut br = BitReader { buf: body, bit: 0 };
    let mut out = Vec::with_capacity(n);
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for i in 0..n {
        if i == 0 {
            prev = br.get(64)? as i64;
        } else {
            let x = get_int(&mut br)?;
            let delta = if order == 2 {
                prev_delta.wrapping_add(x)
            } else {
                x
            };
            prev = prev.wrapping_add(delta);
            prev_delta = delta;
        }
        out.push(prev as f64 / m);
    }
    Ok(out)
}

/// Rows decoded from a chunk: timestamps and value columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    /// Timestamps, ascending.
    pub ts: Vec<i64>,
    /// Value columns, each `ts.len()` long.
    pub cols: Vec<Vec<f64>>,
}

impl Rows {
    /// Raw rows (one column) from `(t, v)` pairs.
    pub fn from_pairs(p: &[(i64, f64)]) -> Self {
        Rows {
            ts: p.iter().map(|x| x.0).collect(),
            cols: vec![p.iter().map(|x| x.1).collect()],
        }
    }

    /// `(t, v)` pairs of column `c`.
    pub fn pairs(&self, c: usize) -> Vec<(i64, f64)> {
        self.ts
            .iter()
            .copied()
            .zip(self.cols[c].iter().copied())
            .collect()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

/// Encodes rows (timestamps ascending) into a chunk.
pub fn encode(rows: &Rows) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + rows.len() * 2);
    put_uvarint(&mut out, rows.len() as u64);
    out.push(rows.cols.len() as u8);
    let mut w = BitWriter::default();
    put_timestamps(&mut w, &rows.ts);
    let tsb = w.finish();
    put_uvarint(&mut out, tsb.len() as u64);
    out.extend_from_slice(&tsb);
    for c in &rows.cols {
        put_column(&mut out, c);
    }
    out
}

/// Decodes a chunk.
pub fn decode(buf: &[u8]) -> Result<Rows, DecodeError> {
    let mut r = Reader::new(buf);
    let n = r.uvarint()? as usize;
    if n > buf.len() * 8 + 1 {
        return Err(DecodeError {
            at: 0,
            what: "row count larger than the chunk can hold",
        });
    }
    let ncols = r.u8()? as usize;
    let tlen = r.uvarint()? as usize;
    let ts = get_timestamps(
        &mut BitReader {
            buf: r.bytes(tlen)?,
            bit: 0,
        },
        n,
    )?;
    let mut cols = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        cols.push(get_column(&mut r, n)?);
    }
    Ok(Rows { ts, cols })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(pairs: &[(i64, f64)]) -> usize {
        let rows = Rows::from_pairs(pairs);
        let enc = encode(&rows);
        let dec = decode(&enc).unwrap();
        assert_eq!(dec.ts, rows.ts);
        for (a, b) in dec.cols[0].iter().zip(&rows.cols[0]) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
        enc.len()
    }

    #[test]
    fn round_trips_awkward_values() {
        let vals = [
            0.0,
            -0.0,
            1.5,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            1e300,
            -3.25,
            0.1 + 0.2,
            123456789.123,
        ];
        let pairs: Vec<_> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (1_700_000_000 + (i as i64) * 10 + (i as i64 % 3) * 1000, *v))
            .collect();
        round_trip(&pairs);
        round_trip(&[(-5, 1.0)]);
        round_trip(&[]);
        round_trip(&[(i64::MIN / 2, 1.0), (i64::MAX / 2, 2.0)]);
    }

    #[test]
    fn regular_series_compress_well() {
        let pairs: Vec<_> = (0..720)
            .map(|i| (1_700_000_000 + i * 10, ((i * 37) % 1000) as f64 / 100.0))
            .collect();
        let n = round_trip(&pairs);
        assert!(n < 720 * 3, "{n} bytes for 720 points");
        let constant: Vec<_> = (0..720).map(|i| (1_700_000_000 + i * 10, 42.0)).collect();
        assert!(
            round_trip(&constant) < 210,
            "constant series: about 2 bits a point"
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for seed in 0..200u64 {
            let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
            let buf: Vec<u8> = (0..(seed % 40))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode(&buf);
        }
    }
}
