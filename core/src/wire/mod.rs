//! Wire formats: how points travel between senders, agents and transfers.
//!
//! - [`batch`] — the Argus batch, JSON `{"points": [...]}`, optionally gzip or zstd compressed;
//! - [`frame`] — the binary point frame (agents → transfers by default, transfers → storage
//!   nodes), and the compact encodings the storage node's files share with it;
//! - [`falcon`] — the open-falcon push format, so falcon-agent scripts work unchanged;
//! - [`encoding`] — `Content-Encoding` handling with a bound on the decompressed size;
//! - [`stream`] — item-by-item decoding with a cap on the refusals listed.
//!
//! Decoders never fail a whole batch for one bad point: they return the good points with their
//! positions and a [`Rejection`](crate::validate::Rejection) for each bad one (the first
//! [`MAX_LISTED_REJECTIONS`] one by one, then a count).

pub mod batch;
pub mod encoding;
pub mod falcon;
pub mod frame;
pub mod stream;

pub use batch::{Batch, PushResponse};
pub use encoding::{decode_body, encode_body, Encoding};
pub use stream::MAX_LISTED_REJECTIONS;

/// A leniently decoded body: the good points with their index in the batch, and a rejection for
/// each bad one.
pub type Decoded = (
    Vec<(usize, crate::point::Point)>,
    Vec<crate::validate::Rejection>,
);

/// Why a body could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The body is not valid JSON of the expected shape.
    #[error("body is not valid JSON: {0}")]
    Json(String),
    /// Decompressing the body failed.
    #[error("body could not be decompressed as {encoding}: {reason}")]
    Decompress {
        /// The declared encoding.
        encoding: &'static str,
        /// Why.
        reason: String,
    },
    /// The body (after decompression) is larger than allowed.
    #[error("body exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The `Content-Encoding` is not one we speak.
    #[error("unsupported Content-Encoding {0:?} (use gzip, zstd or identity)")]
    UnsupportedEncoding(String),
}

/// Turns a serde error for one item into the field it names and a readable reason.
pub(crate) fn field_of_serde_error(msg: &str) -> String {
    // serde_json says "missing field `metric`" or "unknown field `x`"; our own messages start with
    // the field, "`value` ...". Anything else ("invalid type: integer `42`, expected struct
    // Point") quotes a value, not a field: blame the whole point.
    let named = msg.starts_with('`')
        || msg.starts_with("missing field `")
        || msg.starts_with("unknown field `");
    match msg.split('`').nth(1) {
        Some(field) if named => field.to_string(),
        _ => "point".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a point that is not an object (`42`) was blamed on a field named "42".
    #[test]
    fn only_field_names_are_taken_as_fields() {
        assert_eq!(field_of_serde_error("missing field `metric`"), "metric");
        assert_eq!(field_of_serde_error("`tags.k`: invalid type"), "tags.k");
        assert_eq!(
            field_of_serde_error("invalid type: integer `42`, expected struct Point"),
            "point"
        );
        assert_eq!(
            field_of_serde_error("invalid type: null, expected a map"),
            "point"
        );
    }
}
