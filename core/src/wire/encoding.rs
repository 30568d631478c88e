//! `Content-Encoding` handling for batches: gzip, zstd or identity, with a decompressed-size bound
//! so a small compressed bomb cannot exhaust memory.

use super::WireError;
use std::io::{Read, Write};

/// A body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not compressed.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard.
    Zstd,
}

impl Encoding {
    /// Reads a `Content-Encoding` header value; `None` or empty means identity.
    pub fn from_header(v: Option<&str>) -> Result<Self, WireError> {
        match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Ok(Encoding::Identity),
            Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
            Some("zstd") => Ok(Encoding::Zstd),
            Some(other) => Err(WireError::UnsupportedEncoding(other.to_string())),
        }
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }
}

fn read_bounded(mut r: impl Read, limit: usize, enc: Encoding) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    let n = r
        .by_ref()
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| WireError::Decompress {
            encoding: enc.as_str(),
            reason: e.to_string(),
        })?;
    if n > limit {
        return Err(WireError::TooLarge { limit });
    }
    Ok(out)
}

/// A zstd body that is one frame stating its size (what `zstd::bulk`, the agent, the transfer
/// and most clients write), decompressed in one call into a buffer of that size with this
/// thread's reused context: creating a decompression context per request was a visible part of
/// the ingest CPU. `None` when the body is not such a frame (several frames, no size, or a size
/// far beyond what the body could hold): the streaming decoder then handles it, with its own
/// errors.
fn zstd_one_frame(body: &[u8], limit: usize) -> Result<Option<Vec<u8>>, WireError> {
    use std::cell::RefCell;
    thread_local! {
        static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    }
    let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(body) else {
        return Ok(None);
    };
    if size > limit as u64 {
        return Err(WireError::TooLarge { limit });
    }
    // A header may claim any size: only plausible ones get their buffer up front.
    let size = size as usize;
    if size > body.len().saturating_mul(256).max(1 << 16) {
        return Ok(None);
    }
    let out = DCTX.with(|cell| {
        let mut d = cell.borrow_mut();
        if d.is_none() {
            *d = zstd::bulk::Decompressor::new().ok();
        }
        d.as_mut().and_then(|d| d.decompress(body, size).ok())
    });
    Ok(out.filter(|o| o.len() == size))
}

/// Decodes `body` sent with encoding `enc`, refusing more than `limit` decompressed bytes.
pub fn decode_body(enc: Encoding, body: &[u8], limit: usize) -> Result<Vec<u8>, WireError> {
    match enc {
        Encoding::Identity => {
            if body.len() > limit {
                return Err(WireError::TooLarge { limit });
            }
            Ok(body.to_vec())
        }
        Encoding::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(body), limit, enc),
        Encoding::Zstd => {
            if let Some(out) = zstd_one_frame(body, limit)? {
                return Ok(out);
            }
            let d = zstd::stream::read::Decoder::new(body).map_err(|e| WireError::Decompress {
                encoding: enc.as_str(),
                reason: e.to_string(),
            })?;
            read_bounded(d, limit, enc)
        }
    }
}

/// Encodes `body` with `enc` (zstd at level 3, gzip at the default level).
pub fn encode_body(enc: Encoding, body: &[u8]) -> Vec<u8> {
    match enc {
        Encoding::Identity => body.to_vec(),
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).expect("writing to a Vec cannot fail");
            e.finish().expect("writing to a Vec cannot fail")
        }
        Encoding::Zstd => {
            zstd::bulk::compress(body, 3).expect("zstd compression of a buffer cannot fail")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_bounds() {
        let data = b"hello hello hello hello".repeat(100);
        for enc in [Encoding::Identity, Encoding::Gzip, Encoding::Zstd] {
            let c = encode_body(enc, &data);
            assert_eq!(decode_body(enc, &c, 1 << 20).unwrap(), data);
            assert!(matches!(
                decode_body(enc, &c, 100),
                Err(WireError::TooLarge { limit: 100 })
            ));
        }
        assert!(decode_body(Encoding::Gzip, b"not gzip", 100).is_err());
        // Several frames (no one-call path), a truncated frame, repeated use of the thread's
        // context.
        let mut two = encode_body(Encoding::Zstd, b"abc");
        two.extend(encode_body(Encoding::Zstd, b"def"));
        assert_eq!(decode_body(Encoding::Zstd, &two, 100).unwrap(), b"abcdef");
        let c = encode_body(Encoding::Zstd, &data);
        assert!(decode_body(Encoding::Zstd, &c[..c.len() - 3], 1 << 20).is_err());
        for _ in 0..3 {
            assert_eq!(decode_body(Encoding::Zstd, &c, 1 << 20).unwrap(), data);
        }
        assert!(Encoding::from_header(Some("br")).is_err());
        assert_eq!(Encoding::from_header(Some("GZIP")).unwrap(), Encoding::Gzip);
    }
}
