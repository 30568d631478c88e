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
        assert!(Encoding::from_header(Some("br")).is_err());
        assert_eq!(Encoding::from_header(Some("GZIP")).unwrap(), Encoding::Gzip);
    }
}
