//! The head of a series: its samples not yet in blocks, compressed as they arrive.
//!
//! Samples that extend the series (newer than any before) are appended to a Gorilla bit stream:
//! timestamps as delta-of-delta in a few bit widths, values XORed with the previous one. A
//! host metric at a steady step costs a few bits a sample instead of sixteen bytes, and the head
//! is most of a node's memory between flushes. The rare sample at or before the newest one (a
//! late or re-sent point) goes to a small sorted side list, which wins over the stream for the
//! same timestamp, as a rewrite replaced the value before.

use crate::chunk::BitReader;

/// Marks "no previous XOR window" in [`Enc::lead`].
const NO_WINDOW: u8 = u8::MAX;

/// Bytes of [`Enc`] at the front of a head's buffer.
const HDR: usize = 31;

/// One series' head: 32 bytes inline, nothing on the heap while empty (most series between a
/// flush and their next sample, and every series the store only knows from its blocks).
#[derive(Default)]
pub(crate) struct Head {
    /// [`Enc`] then the stream, most significant bit first; empty when the stream is.
    buf: Vec<u8>,
    /// Samples at or before the stream's newest when they arrived, ascending by time. Boxed:
    /// most heads never get one, and a pointer costs every series 8 bytes where a vector is 24.
    #[allow(clippy::box_collection)]
    late: Option<Box<Vec<(i64, f64)>>>,
}

/// The encoder's state, stored in the buffer's first [`HDR`] bytes.
struct Enc {
    last_t: i64,
    last_dt: i64,
    last_v: u64,
    /// Samples in the stream.
    n: u32,
    /// Bits used in the stream's last byte (8 when a new byte is needed).
    used: u8,
    /// The previous XOR's leading and trailing zero counts ([`NO_WINDOW`] when none yet).
    lead: u8,
    trail: u8,
}

impl Enc {
    fn load(b: &[u8]) -> Enc {
        let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Enc {
            last_t: u(0) as i64,
            last_dt: u(8) as i64,
            last_v: u(16),
            n: u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
            used: b[28],
            lead: b[29],
            trail: b[30],
        }
    }

    fn store(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.last_t.to_le_bytes());
        b[8..16].copy_from_slice(&self.last_dt.to_le_bytes());
        b[16..24].copy_from_slice(&self.last_v.to_le_bytes());
        b[24..28].copy_from_slice(&self.n.to_le_bytes());
        b[28] = self.used;
        b[29] = self.lead;
        b[30] = self.trail;
    }
}

impl Head {
    /// Samples in the stream.
    fn streamed(&self) -> usize {
        if self.buf.is_empty() {
            0
        } else {
            u32::from_le_bytes(self.buf[24..28].try_into().expect("4 bytes")) as usize
        }
    }

    /// Samples held (a rewritten timestamp counts once per copy).
    pub(crate) fn len(&self) -> usize {
        self.streamed() + self.late.as_ref().map_or(0, |l| l.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a sample; a sample for a timestamp already here replaces it. Returns whether the
    /// head holds one more sample.
    pub(crate) fn insert(&mut self, t: i64, v: f64) -> bool {
        if self.buf.is_empty() {
            let mut e = Enc {
                last_t: t,
                last_dt: 0,
                last_v: v.to_bits(),
                n: 1,
                used: 8,
                lead: NO_WINDOW,
                trail: 0,
            };
            self.buf.resize(HDR, 0);
            self.put(&mut e, t as u64, 64);
            self.put(&mut e, v.to_bits(), 64);
            e.store(&mut self.buf);
            return true;
        }
        let mut e = Enc::load(&self.buf);
        if t > e.last_t {
            self.append(&mut e, t, v);
            e.store(&mut self.buf);
            return true;
        }
        let late = self.late.get_or_insert_with(Default::default);
        match late.binary_search_by_key(&t, |p| p.0) {
            Ok(i) => {
                late[i].1 = v;
                false
            }
            Err(i) => {
                late.insert(i, (t, v));
                true
            }
        }
    }

    fn append(&mut self, e: &mut Enc, t: i64, v: f64) {
        let bits = v.to_bits();
        let dt = t.wrapping_sub(e.last_t);
        let dod = dt.wrapping_sub(e.last_dt);
        match dod {
            0 => self.put(e, 0, 1),
            -64..=63 => {
                self.put(e, 0b10, 2);
                self.put(e, dod as u64, 7);
            }
            -2048..=2047 => {
                self.put(e, 0b110, 3);
                self.put(e, dod as u64, 12);
            }
            -524_288..=524_287 => {
                self.put(e, 0b1110, 4);
                self.put(e, dod as u64, 20);
            }
            _ => {
                self.put(e, 0b1111, 4);
                self.put(e, dod as u64, 64);
            }
        }
        e.last_dt = dt;
        self.put_value(e, bits);
        e.last_t = t;
        e.last_v = bits;
        e.n += 1;
    }

    /// Codes a value against the previous one: `0` the same; `10` XOR in the previous window;
    /// `110` XOR in a new window; `111` decimal, whichever of the last three is shorter.
    fn put_value(&mut self, e: &mut Enc, bits: u64) {
        let x = bits ^ e.last_v;
        if x == 0 {
            self.put(e, 0, 1);
            return;
        }
        // Five bits hold the leading zeros: more than 31 are coded as 31.
        let lz = x.leading_zeros().min(31) as u8;
        let tz = x.trailing_zeros() as u8;
        let reuse = e.lead != NO_WINDOW && lz >= e.lead && tz >= e.trail;
        let xor_bits = if reuse {
            2 + u32::from(64 - e.lead - e.trail)
        } else {
            3 + 5 + 6 + u32::from(64 - lz - tz)
        };
        if let Some((d, delta)) = decimal(f64::from_bits(e.last_v), f64::from_bits(bits)) {
            let z = zigzag(delta);
            if 3 + 2 + bucket_bits(z) < xor_bits {
                self.put(e, 0b111, 3);
                self.put(e, u64::from(d), 2);
                self.put_bucket(e, z);
                return;
            }
        }
        if reuse {
            self.put(e, 0b10, 2);
            self.put(e, x >> e.trail, u32::from(64 - e.lead - e.trail));
        } else {
            let sig = 64 - lz - tz;
            self.put(e, 0b110, 3);
            self.put(e, u64::from(lz), 5);
            self.put(e, u64::from(sig - 1), 6);
            self.put(e, x >> tz, u32::from(sig));
            e.lead = lz;
            e.trail = tz;
        }
    }

    /// A zigzagged integer in one of four widths.
    fn put_bucket(&mut self, e: &mut Enc, z: u64) {
        match bucket_bits(z) {
            9 => {
                self.put(e, 0, 1);
                self.put(e, z, 8);
            }
            18 => {
                self.put(e, 0b10, 2);
                self.put(e, z, 16);
            }
            35 => {
                self.put(e, 0b110, 3);
                self.put(e, z, 32);
            }
            _ => {
                self.put(e, 0b111, 3);
                self.put(e, z, 64);
            }
        }
    }

    /// Appends the low `n` bits of `v`, most significant first.
    fn put(&mut self, e: &mut Enc, v: u64, mut n: u32) {
        while n > 0 {
            if e.used == 8 {
                self.buf.push(0);
                e.used = 0;
            }
            let free = 8 - u32::from(e.used);
            let take = free.min(n);
            let chunk = (v >> (n - take)) & ((1u64 << take) - 1);
            *self.buf.last_mut().expect("a byte was pushed") |= (chunk as u8) << (free - take);
            e.used += take as u8;
            n -= take;
        }
    }

    /// The samples, ascending by time; a late sample wins over the stream's at its timestamp.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        let mut stream = Stream {
            r: Bits(BitReader::new(self.buf.get(HDR..).unwrap_or_default())),
            left: self.streamed() as u32,
            first: true,
            t: 0,
            dt: 0,
            v: 0,
            lead: 0,
            trail: 0,
        }
        .peekable();
        let mut late = self
            .late
            .as_deref()
            .map_or(&[][..], |l| &l[..])
            .iter()
            .peekable();
        std::iter::from_fn(move || match (stream.peek(), late.peek()) {
            (Some(s), Some(l)) if l.0 <= s.0 => {
                if l.0 == s.0 {
                    stream.next();
                }
                late.next().copied()
            }
            (Some(_), _) => stream.next(),
            (None, _) => late.next().copied(),
        })
    }

    /// The samples within `[a, b]`, ascending.
    pub(crate) fn range(&self, a: i64, b: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.iter()
            .skip_while(move |p| p.0 < a)
            .take_while(move |p| p.0 <= b)
    }

    /// All samples, ascending (for tests and callers that need a slice).
    pub(crate) fn to_vec(&self) -> Vec<(i64, f64)> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter());
        v
    }
}

/// Reads a head's stream: reads stay within what was written (the stream knows its sample
/// count), so they cannot fail.
struct Bits<'a>(BitReader<'a>);

impl Bits<'_> {
    fn get(&mut self, n: u32) -> u64 {
        self.0
            .get(n)
            .expect("a head's stream holds its samples' bits")
    }

    fn bit(&mut self) -> bool {
        self.get(1) == 1
    }
}

/// Scales of the decimal value coding: values with up to three decimals.
const SCALES: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];

/// Largest integer every f64 below it holds exactly.
const EXACT: f64 = (1u64 << 53) as f64;

/// `v` as an integer count of `10^-d` (the smallest such `d`) and its difference from `prev`
/// counted the same way, when `v` is exactly that count divided by `10^d` (so decoding gives
/// back its very bits) and both counts are exact integers.
fn decimal(prev: f64, v: f64) -> Option<(u8, i64)> {
    SCALES.iter().zip(0u8..).find_map(|(&scale, d)| {
        let m = (v * scale).round();
        let p = (prev * scale).round();
        if !(m.abs() < EXACT && p.abs() < EXACT) {
            return None;
        }
        let m = m as i64;
        ((m as f64 / scale).to_bits() == v.to_bits()).then(|| (d, m - p as i64))
    })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Bits [`Head::put_bucket`] spends on `z`.
fn bucket_bits(z: u64) -> u32 {
    match z {
        0..=0xff => 9,
        0x100..=0xffff => 18,
        0x1_0000..=0xffff_ffff => 35,
        _ => 67,
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decodes the stream of a [`Head`].
struct Stream<'a> {
    r: Bits<'a>,
    left: u32,
    first: bool,
    t: i64,
    dt: i64,
    v: u64,
    lead: u32,
    trail: u32,
}

impl Iterator for Stream<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.first {
            self.first = false;
            self.t = self.r.get(64) as i64;
            self.v = self.r.get(64);
            return Some((self.t, f64::from_bits(self.v)));
        }
        let dod = if !self.r.bit() {
            0
        } else if !self.r.bit() {
            sign_extend(self.r.get(7), 7)
        } else if !self.r.bit() {
            sign_extend(self.r.get(12), 12)
        } else if !self.r.bit() {
            sign_extend(self.r.get(20), 20)
        } else {
            self.r.get(64) as i64
        };
        self.dt = self.dt.wrapping_add(dod);
        self.t = self.t.wrapping_add(self.dt);
        if self.r.bit() {
            if !self.r.bit() {
                let sig = 64 - self.lead - self.trail;
                self.v ^= self.r.get(sig) << self.trail;
            } else if !self.r.bit() {
                self.lead = self.r.get(5) as u32;
                let sig = self.r.get(6) as u32 + 1;
                self.trail = 64 - self.lead - sig;
                self.v ^= self.r.get(sig) << self.trail;
            } else {
                let d = self.r.get(2) as usize;
                let z = if !self.r.bit() {
                    self.r.get(8)
                } else if !self.r.bit() {
                    self.r.get(16)
                } else if !self.r.bit() {
                    self.r.get(32)
                } else {
                    self.r.get(64)
                };
                let scale = SCALES[d];
                let prev = (f64::from_bits(self.v) * scale).round() as i64;
                let m = prev.wrapping_add(unzigzag(z));
                self.v = (m as f64 / scale).to_bits();
            }
        }
        Some((self.t, f64::from_bits(self.v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a plain sorted vector with replace-on-same-time would hold.
    fn model(samples: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let mut m: std::collections::BTreeMap<i64, f64> = Default::default();
        for &(t, v) in samples {
            m.insert(t, v);
        }
        m.into_iter().collect()
    }

    fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
    }

    #[test]
    fn steady_series_take_a_few_bytes_and_read_back_exactly() {
        let mut h = Head::default();
        let t0 = 1_700_000_000;
        let pts: Vec<(i64, f64)> = (0..360)
            .map(|i| (t0 + 10 * i, 40.0 + ((i * 7) % 13) as f64 / 100.0))
            .collect();
        for &(t, v) in &pts {
            assert!(h.insert(t, v));
        }
        assert!(same(&h.to_vec(), &pts));
        // Two-decimal values are coded as hundredths: about two bytes a sample, not sixteen.
        assert!(h.buf.len() < 360 * 5 / 2, "{} bytes", h.buf.len());
        let mut counter = Head::default();
        for i in 0..360 {
            counter.insert(t0 + 10 * i, (1_000_000 + 4096 * i) as f64);
        }
        assert!(counter.buf.len() < 360 * 3, "{} bytes", counter.buf.len());
        let r: Vec<_> = h.range(t0 + 100, t0 + 200).collect();
        assert!(same(&r, &pts[10..=20]));
    }

    #[test]
    fn a_head_is_small_and_empty_heads_hold_nothing_on_the_heap() {
        assert_eq!(std::mem::size_of::<Head>(), 32);
        let h = Head::default();
        assert_eq!(h.buf.capacity(), 0);
        assert!(h.is_empty() && h.iter().next().is_none());
    }

    #[test]
    fn late_and_rewritten_samples_win_at_their_time() {
        let mut h = Head::default();
        for (t, v) in [(10, 1.0), (20, 2.0), (30, 3.0)] {
            h.insert(t, v);
        }
        assert!(!h.insert(20, 2.5) || h.len() == 4);
        assert!(h.insert(15, 1.5));
        assert!(
            !h.insert(15, 1.75),
            "a rewrite of a late sample does not grow"
        );
        assert!(h.insert(40, 4.0));
        assert!(same(
            &h.to_vec(),
            &[(10, 1.0), (15, 1.75), (20, 2.5), (30, 3.0), (40, 4.0)]
        ));
        assert!(same(
            &h.range(15, 20).collect::<Vec<_>>(),
            &[(15, 1.75), (20, 2.5)]
        ));
    }

    #[test]
    fn awkward_values_and_gaps_round_trip() {
        let vals = [
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            1e-300,
            -1.5,
            1.0,
            1.0,
            3.25,
        ];
        let gaps = [1, 1, 10, 70, 3000, 600_000, 1 << 40, 1, 2, 5, 9, 1];
        let mut h = Head::default();
        let mut pts = Vec::new();
        let mut t = -5_000_000i64;
        for (v, g) in vals.iter().zip(gaps) {
            t += g;
            h.insert(t, *v);
            pts.push((t, *v));
        }
        assert!(same(&h.to_vec(), &pts));
    }

    proptest::proptest! {
        #[test]
        fn any_arrival_order_reads_as_the_model(
            samples in proptest::collection::vec((-1000i64..1000, proptest::num::f64::ANY), 0..200)
        ) {
            let mut h = Head::default();
            for &(t, v) in &samples {
                h.insert(t, v);
            }
            let want = model(&samples);
            let got = h.to_vec();
            proptest::prop_assert!(same(&got, &want), "{:?} != {:?}", got, want);
        }

        #[test]
        fn decimal_values_of_any_scale_read_back_bit_for_bit(
            samples in proptest::collection::vec(
                (0i64..5000, -(1i64 << 54)..(1i64 << 54), 0u32..6, 0u8..4), 0..200)
        ) {
            let mut h = Head::default();
            let mut all = Vec::new();
            let mut now = 0;
            for (gap, m, d, size) in samples {
                // In order, so every value goes through the stream's value coding.
                now += 1 + gap % 30;
                let t = now;
                // Small, mid and huge counts, at scales the coding has and some it has not.
                let m = match size { 0 => m % 100, 1 => m % 100_000, 2 => m % (1 << 40), _ => m };
                let v = m as f64 / 10f64.powi(d as i32);
                h.insert(t, v);
                all.push((t, v));
            }
            let want = model(&all);
            let got = h.to_vec();
            proptest::prop_assert!(same(&got, &want), "{:?} != {:?}", got, want);
        }
    }
}
