//! The binary point frame, and the compact encodings it is made of (varints, length-prefixed
//! strings, series keys), which the storage node's WAL and block files use too.
//!
//! The frame (`application/x-argus-points-v1`, zstd-compressed on the wire) is how agents send
//! the Argus batch by default (tenant left empty: the transfer takes it from the token) and how
//! transfers write to storage nodes (tenant set). It is
//! `b"AGP1"`, a varint point count, then each point: tenant, endpoint, metric (strings), tag count
//! and tag pairs (strings), value (f64 LE), timestamp (zigzag varint), step (varint), counter type
//! (one byte). Strings are a varint length and UTF-8 bytes.

use crate::point::{CounterType, Point, Tags};
use crate::series::SeriesKey;
use crate::tenant::TenantId;

/// The content type of the binary write frame.
pub const CONTENT_TYPE: &str = "application/x-argus-points-v1";
const MAGIC: &[u8; 4] = b"AGP1";

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed binary data at byte {at}: {what}")]
pub struct DecodeError {
    /// The offset where decoding failed.
    pub at: usize,
    /// What was expected.
    pub what: &'static str,
}

/// Appends a LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a zigzag varint.
pub fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed string.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn counter_byte(c: CounterType) -> u8 {
    match c {
        CounterType::Gauge => 0,
        CounterType::Counter => 1,
        CounterType::Derive => 2,
    }
}

/// Appends the canonical encoding of a series key: tenant, endpoint, metric, tag count and the
/// tag pairs in key order. The storage node identifies series by these bytes (hash and
/// equality), so a frame point whose key is written this way is matched without decoding it.
pub fn put_series_key(
    out: &mut Vec<u8>,
    tenant: &TenantId,
    endpoint: &str,
    metric: &str,
    tags: &Tags,
) {
    put_str(out, tenant.as_str());
    put_str(out, endpoint);
    put_str(out, metric);
    put_uvarint(out, tags.len() as u64);
    for (a, b) in tags.iter() {
        put_str(out, a);
        put_str(out, b);
    }
}

/// The canonical encoding of `k` (see [`put_series_key`]).
pub fn key_bytes(k: &SeriesKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_series_key(&mut out, &k.tenant, &k.endpoint, &k.metric, &k.tags);
    out
}

/// Appends a series key and its counter type.
pub fn put_key(out: &mut Vec<u8>, k: &SeriesKey, c: CounterType) {
    put_series_key(out, &k.tenant, &k.endpoint, &k.metric, &k.tags);
    out.push(counter_byte(c));
}

/// [`put_key`] of a key already in its canonical encoding ([`key_bytes`]).
pub fn put_key_bytes(out: &mut Vec<u8>, key_bytes: &[u8], c: CounterType) {
    out.extend_from_slice(key_bytes);
    out.push(counter_byte(c));
}

/// A cursor over bytes being decoded.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// What is left to read.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { at: self.pos, what }
    }

    /// Reads a varint.
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.err("varint"))?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    /// Reads a zigzag varint.
    pub fn ivarint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() - self.pos < n {
            return Err(self.err("bytes past the end"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }

    /// Reads a little-endian f64.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads a length-prefixed string.
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.uvarint()? as usize;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).map_err(|_| self.err("invalid UTF-8"))
    }

    /// Skips a length-prefixed string without checking it.
    fn skip_str(&mut self) -> Result<(), DecodeError> {
        let n = self.uvarint()? as usize;
        self.bytes(n).map(|_| ())
    }

    /// Reads a series key in its canonical encoding ([`put_series_key`]); tags are sorted
    /// whatever their order on the wire, and an empty tenant is the unset one.
    pub fn series_key(&mut self) -> Result<SeriesKey, DecodeError> {
        self.series_key_sharing(&mut TenantId::default())
    }

    /// [`Self::series_key`], sharing the tenant with `last` when it is the same (a frame's
    /// points mostly share one: checked and allocated once).
    fn series_key_sharing(&mut self, last: &mut TenantId) -> Result<SeriesKey, DecodeError> {
        let tenant = self.str()?;
        let tenant = if tenant.is_empty() {
            TenantId::default()
        } else if tenant == last.as_str() {
            last.clone()
        } else {
            *last = TenantId::new(tenant).map_err(|_| self.err("invalid tenant id"))?;
            last.clone()
        };
        let endpoint = self.str()?.to_string();
        let metric = self.str()?.to_string();
        let n = self.uvarint()? as usize;
        if n > MAX_TAGS {
            return Err(self.err("too many tags"));
        }
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((self.str()?.to_string(), self.str()?.to_string()));
        }
        Ok(SeriesKey::new(
            tenant,
            endpoint,
            metric,
            Tags::from_pairs(pairs),
        ))
    }

    /// Skips a series key, returning its bytes undecoded (not checked as UTF-8).
    fn series_key_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        self.skip_str()?;
        self.skip_str()?;
        self.skip_str()?;
        let n = self.uvarint()? as usize;
        if n > MAX_TAGS {
            return Err(self.err("too many tags"));
        }
        for _ in 0..2 * n {
            self.skip_str()?;
        }
        Ok(&self.buf[start..self.pos])
    }

    /// Reads a counter type byte.
    fn counter_type(&mut self) -> Result<CounterType, DecodeError> {
        match self.u8()? {
            0 => Ok(CounterType::Gauge),
            1 => Ok(CounterType::Counter),
            2 => Ok(CounterType::Derive),
            _ => Err(self.err("counter type")),
        }
    }

    /// Skips a series key (not checked as UTF-8) and reads its counter type: for readers that
    /// already know the series by position.
    pub fn skip_key(&mut self) -> Result<CounterType, DecodeError> {
        self.series_key_bytes()?;
        self.counter_type()
    }

    /// Reads a series key and its counter type.
    pub fn key(&mut self) -> Result<(SeriesKey, CounterType), DecodeError> {
        let key = self.series_key()?;
        Ok((key, self.counter_type()?))
    }
}

/// Most tags a frame or log record may give one series (a sanity bound on garbage; the
/// configured `limits.max_tags` is far lower).
const MAX_TAGS: usize = 1024;

/// Encodes points as the zstd-compressed binary write frame.
pub fn encode_batch(points: &[Point]) -> Vec<u8> {
    compress(&encode_raw(points))
}

/// Encodes points as the binary write frame, uncompressed.
pub fn encode_raw(points: &[Point]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(16 + points.len() * 64);
    put_header(&mut raw, points.len());
    for p in points {
        put_point(&mut raw, p);
    }
    raw
}

/// Appends a frame's header: the magic and the count of the points that follow.
pub fn put_header(out: &mut Vec<u8>, points: usize) {
    out.extend_from_slice(MAGIC);
    put_uvarint(out, points as u64);
}

/// Appends one point of a frame: its series key, value, timestamp, step and counter type. A
/// frame is [`put_header`] followed by as many of these; they may be encoded once and the bytes
/// copied into several frames.
pub fn put_point(out: &mut Vec<u8>, p: &Point) {
    put_series_key(out, &p.tenant, &p.endpoint, &p.metric, &p.tags);
    put_sample(out, p.value, p.timestamp, p.step, p.counter_type);
}

/// Appends the part of a frame point after its series key.
pub fn put_sample(out: &mut Vec<u8>, value: f64, timestamp: i64, step: u32, c: CounterType) {
    out.extend_from_slice(&value.to_le_bytes());
    put_ivarint(out, timestamp);
    put_uvarint(out, step as u64);
    out.push(counter_byte(c));
}

/// zstd level 1 with this thread's reused context (a context per frame was a visible cost of
/// every transfer → storage node write).
pub fn compress(raw: &[u8]) -> Vec<u8> {
    use std::cell::RefCell;
    thread_local! {
        static CCTX: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    }
    CCTX.with(|cell| {
        let mut c = cell.borrow_mut();
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(1).ok();
        }
        c.as_mut().and_then(|c| c.compress(raw).ok())
    })
    .unwrap_or_else(|| {
        zstd::bulk::compress(raw, 1).expect("zstd compression of a buffer cannot fail")
    })
}

/// Decodes an (already decompressed) binary write frame; any fault fails it whole.
pub fn decode_batch(raw: &[u8]) -> Result<Vec<Point>, DecodeError> {
    let mut last = TenantId::default();
    split_frame(raw)?
        .iter()
        .map(|f| Ok(f.point(f.key_reader(raw).series_key_sharing(&mut last)?)))
        .collect()
}

/// One point of a write frame with its series key left encoded: what the storage node's write
/// path works on, so a point of a known series costs no string decoding or allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramePoint<'a> {
    /// The series key as sent ([`put_series_key`]; canonical when the sender sorted the tags,
    /// as [`encode_batch`] does). Not yet checked as UTF-8.
    pub key: &'a [u8],
    /// The value.
    pub value: f64,
    /// Unix seconds.
    pub timestamp: i64,
    /// The expected interval, seconds.
    pub step: u32,
    /// How the value is read.
    pub counter_type: CounterType,
}

impl FramePoint<'_> {
    /// A reader at this point's key within `frame` (the frame it was split from), so decoding
    /// errors give their offset in the frame.
    fn key_reader<'f>(&self, frame: &'f [u8]) -> Reader<'f> {
        let pos = (self.key.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize);
        debug_assert!(
            pos + self.key.len() <= frame.len(),
            "key from another frame"
        );
        Reader { buf: frame, pos }
    }

    /// The point decoded whole (owned strings; tags sorted), its key read within `frame`.
    pub fn to_point(&self, frame: &[u8]) -> Result<Point, DecodeError> {
        Ok(self.point(self.key_reader(frame).series_key()?))
    }

    /// The point, given its decoded key.
    fn point(&self, key: SeriesKey) -> Point {
        Point {
            tenant: key.tenant,
            endpoint: key.endpoint,
            metric: key.metric,
            tags: key.tags,
            value: self.value,
            timestamp: self.timestamp,
            step: self.step,
            counter_type: self.counter_type,
        }
    }
}

/// A frame point's series key read in place: strings borrowed from the frame, nothing
/// allocated. What the transfer validates and routes an agent's frame by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyView<'a> {
    /// The tenant as sent (empty from agents).
    pub tenant: &'a str,
    /// The endpoint.
    pub endpoint: &'a str,
    /// The metric.
    pub metric: &'a str,
    /// The key's bytes after the tenant (endpoint, metric, tags) as sent: with another tenant
    /// written before them, the key of the same series for that tenant.
    pub after_tenant: &'a [u8],
    /// True when the tags are sorted by key without a repeated key: the key is then canonical
    /// ([`put_series_key`]), as every Argus sender writes it.
    pub canonical: bool,
}

impl<'a> FramePoint<'a> {
    /// This point's key read in place within `frame` (the frame it was split from), its tags
    /// into `tags` (cleared first). Fails as decoding the key would (invalid UTF-8, a bad
    /// tenant id), with the same errors.
    pub fn view(
        &self,
        frame: &'a [u8],
        tags: &mut Vec<(&'a str, &'a str)>,
    ) -> Result<KeyView<'a>, DecodeError> {
        let mut r = self.key_reader(frame);
        let tenant = r.str()?;
        if !tenant.is_empty() && TenantId::new(tenant).is_err() {
            return Err(r.err("invalid tenant id"));
        }
        let after = r.pos;
        let endpoint = r.str()?;
        let metric = r.str()?;
        let n = r.uvarint()? as usize;
        if n > MAX_TAGS {
            return Err(r.err("too many tags"));
        }
        tags.clear();
        let mut canonical = true;
        for _ in 0..n {
            let (k, v) = (r.str()?, r.str()?);
            if let Some((last, _)) = tags.last() {
                canonical &= *last < k;
            }
            tags.push((k, v));
        }
        Ok(KeyView {
            tenant,
            endpoint,
            metric,
            after_tenant: &frame[after..r.pos],
            canonical,
        })
    }
}

/// How many points a frame announces (its structure unchecked): what a receiver checks
/// against its per-request cap before splitting. [`split_frame`] refuses a frame that holds
/// another number of points.
pub fn announced_points(raw: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader::new(raw);
    if r.bytes(4)? != MAGIC {
        return Err(DecodeError {
            at: 0,
            what: "magic AGP1",
        });
    }
    r.uvarint()
}

/// Splits an (already decompressed) binary write frame into its points, checking its structure
/// but not decoding the series keys. Strings are checked when a key is decoded (new series).
pub fn split_frame(raw: &[u8]) -> Result<Vec<FramePoint<'_>>, DecodeError> {
    let n = announced_points(raw)? as usize;
    let mut r = Reader::new(raw);
    r.bytes(4)?;
    r.uvarint()?;
    // The smallest point takes 15 bytes: no allocation past what the frame can hold.
    let mut out = Vec::with_capacity(n.min(raw.len() / 15 + 1));
    for _ in 0..n {
        let key = r.series_key_bytes()?;
        let value = r.f64()?;
        let timestamp = r.ivarint()?;
        let step = u32::try_from(r.uvarint()?).map_err(|_| r.err("step"))?;
        let counter_type = r.counter_type()?;
        out.push(FramePoint {
            key,
            value,
            timestamp,
            step,
            counter_type,
        });
    }
    // Bytes past the announced points are a sender's bug or a smuggling attempt: refuse them.
    if r.pos != raw.len() {
        return Err(DecodeError {
            at: r.pos,
            what: "end of frame: bytes after the last announced point",
        });
    }
    Ok(out)
}

/// Decodes a frame from a sender leniently: a frame whose structure is broken is refused whole,
/// but a point whose key does not decode (invalid UTF-8, bad tenant) is refused alone with its
/// index and the others are kept. Tags come out sorted whatever their order on the wire.
pub fn decode_lenient(raw: &[u8]) -> Result<super::Decoded, DecodeError> {
    let split = split_frame(raw)?;
    let mut good = Vec::with_capacity(split.len());
    let mut rejected = Vec::new();
    let mut last = TenantId::default();
    for (i, f) in split.iter().enumerate() {
        match f.key_reader(raw).series_key_sharing(&mut last) {
            Ok(k) => good.push((i, f.point(k))),
            Err(e) => rejected.push(crate::validate::Rejection {
                index: i,
                field: "key".into(),
                reason: e.to_string(),
            }),
        }
    }
    Ok((good, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_and_rejects_garbage() {
        let mut p = Point::gauge("h", "m", Tags::parse_falcon("a=1,b=2").unwrap(), -2.5, -7);
        p.tenant = TenantId::new("acme").unwrap();
        p.counter_type = CounterType::Derive;
        p.step = 60;
        let enc = encode_batch(&[p.clone(), p.clone()]);
        let raw = zstd::bulk::decompress(&enc, 1 << 20).unwrap();
        assert_eq!(decode_batch(&raw).unwrap(), vec![p.clone(), p]);
        assert!(decode_batch(b"AGP1\x05").is_err());
        assert!(decode_batch(b"XXXX").is_err());
        assert!(decode_batch(&raw[..raw.len() - 1]).is_err());
        let mut trailing = raw.clone();
        trailing.push(0);
        let e = decode_batch(&trailing).unwrap_err();
        assert_eq!(e.at, raw.len());
        assert!(
            e.to_string().contains("after the last announced point"),
            "{e}"
        );
        assert!(decode_lenient(&trailing).is_err());
    }

    #[test]
    fn split_frame_gives_each_point_its_canonical_key_bytes() {
        let mut p = Point::gauge("h", "m", Tags::parse_falcon("z=1,a=2").unwrap(), 1.5, 9);
        p.tenant = TenantId::new("acme").unwrap();
        p.step = 30;
        let mut q = p.clone();
        q.metric = "n".into();
        q.counter_type = CounterType::Counter;
        let raw = zstd::bulk::decompress(&encode_batch(&[p.clone(), q.clone()]), 1 << 20).unwrap();
        let split = split_frame(&raw).unwrap();
        assert_eq!(split.len(), 2);
        for (f, p) in split.iter().zip([&p, &q]) {
            assert_eq!(f.key, key_bytes(&SeriesKey::of(p)).as_slice());
            assert_eq!(Reader::new(f.key).series_key().unwrap(), SeriesKey::of(p));
            assert_eq!(
                (f.value, f.timestamp, f.step, f.counter_type),
                (p.value, p.timestamp, p.step, p.counter_type)
            );
        }
        for cut in 5..raw.len() {
            assert!(split_frame(&raw[..cut]).is_err(), "cut at {cut}");
        }
        assert!(split_frame(b"AGP2\x00").is_err());
    }

    #[test]
    fn lenient_decoding_refuses_a_bad_key_alone() {
        let p = Point::gauge("h", "m", Tags::parse_falcon("a=1").unwrap(), 1.0, 5);
        let mut raw =
            zstd::bulk::decompress(&encode_batch(&[p.clone(), p.clone()]), 1 << 20).unwrap();
        // The first point's endpoint `h` (after MAGIC, count, empty tenant, length 1).
        assert_eq!(raw[7], b'h');
        raw[7] = 0xff;
        let (good, rejected) = decode_lenient(&raw).unwrap();
        assert_eq!(good, vec![(1, p)]);
        assert_eq!((rejected[0].index, rejected[0].field.as_str()), (0, "key"));
        assert!(
            rejected[0].reason.contains("UTF-8"),
            "{}",
            rejected[0].reason
        );
        assert!(decode_lenient(&raw[..raw.len() - 2]).is_err());
    }

    #[test]
    fn a_key_view_borrows_what_decoding_would_build() {
        let mut p = Point::gauge("h", "m", Tags::parse_falcon("a=1,b=2").unwrap(), 1.0, 5);
        p.tenant = TenantId::new("acme").unwrap();
        let raw = encode_raw(&[p.clone()]);
        let f = split_frame(&raw).unwrap()[0];
        let mut tags = Vec::new();
        let v = f.view(&raw, &mut tags).unwrap();
        assert_eq!((v.tenant, v.endpoint, v.metric), ("acme", "h", "m"));
        assert_eq!(tags, [("a", "1"), ("b", "2")]);
        assert!(v.canonical);
        assert_eq!(f.to_point(&raw).unwrap(), p);
        // Another tenant before the bytes after the tenant: that tenant's key of the series.
        let mut key = Vec::new();
        put_str(&mut key, "beta");
        key.extend_from_slice(v.after_tenant);
        let mut q = p.clone();
        q.tenant = TenantId::new("beta").unwrap();
        assert_eq!(key, key_bytes(&SeriesKey::of(&q)));
        // Unsorted or repeated tag keys are not canonical.
        let mut raw = b"AGP1\x01\x00\x01h\x01m\x02\x01b\x011\x01a\x012".to_vec();
        raw.extend_from_slice(&1.0f64.to_le_bytes());
        raw.extend_from_slice(&[10, 0, 0]);
        let f = split_frame(&raw).unwrap()[0];
        assert!(!f.view(&raw, &mut tags).unwrap().canonical);
        // A bad key fails as decoding it does.
        let mut bad = encode_raw(&[p.clone()]);
        bad[7] = 0xff;
        let f = split_frame(&bad).unwrap()[0];
        assert_eq!(
            f.view(&bad, &mut tags).unwrap_err(),
            f.to_point(&bad).unwrap_err()
        );
    }

    #[test]
    fn tenants_change_and_unset_within_a_frame() {
        let mk = |t: &str| {
            let mut p = Point::gauge("h", "m", Tags::new(), 1.0, 1);
            if !t.is_empty() {
                p.tenant = TenantId::new(t).unwrap();
            }
            p
        };
        let pts = vec![mk("a"), mk("a"), mk(""), mk("b"), mk("a"), mk("")];
        let raw = zstd::bulk::decompress(&encode_batch(&pts), 1 << 20).unwrap();
        assert_eq!(decode_batch(&raw).unwrap(), pts);
    }
}
