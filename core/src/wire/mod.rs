//! Wire formats: how points travel between senders, agents and transfers.
//!
//! - [`batch`] — the Argus batch, JSON `{"points": [...]}`, optionally gzip or zstd compressed;
//! - [`falcon`] — the open-falcon push format, so falcon-agent scripts work unchanged;
//! - [`encoding`] — `Content-Encoding` handling with a bound on the decompressed size.
//!
//! Decoders never fail a whole batch for one bad point: they return the good points with their
//! positions and a [`Rejection`](crate::validate::Rejection) for each bad one.

pub mod batch;
pub mod encoding;
pub mod falcon;

pub use batch::{Batch, PushResponse};
pub use encoding::{decode_body, encode_body, Encoding};

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
    #[error("body exceeds the limit of {limit} bytes")]
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
    // serde_json says "missing field `metric`" or "unknown field `x`" or "invalid type: ... at ...".
    if let Some(rest) = msg.split('`').nth(1) {
        return rest.to_string();
    }
    "point".to_string()
}
