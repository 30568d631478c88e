//! Wire formats: how points travel between senders, agents and transfers.
//!
//! - [`batch`] — the Argus batch, JSON `{"points": [...]}`, optionally gzip or zstd compressed;
//! - [`frame`] — the binary point frame (agents → transfers by default, transfers → storage
//!   nodes), and the compact encodings the storage node's files share with it;
//! - [`series`] — the binary selection answer (storage nodes → transfers);
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
pub mod series;
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

/// What decoding one request may build, so that a small body cannot make a decoder build far
/// more than it: points (or series, samples), and bytes built beyond the points themselves
/// (names and tags copied from one line or series into each of its points, tag and label
/// entries). Decoders count with a [`Spend`] as they go and stop at the first item past it
/// ([`WireError::TooMany`], [`WireError::TooMuchCopying`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most points (series, samples) in one request.
    pub points: usize,
    /// Most bytes built beyond the points.
    pub copied_bytes: usize,
}

impl Budget {
    /// No bound (trusted callers, tests, fuzzing).
    pub const UNLIMITED: Budget = Budget {
        points: usize::MAX,
        copied_bytes: usize::MAX,
    };

    /// Refuses `n` items of `what` past the points bound.
    pub fn check(&self, what: &'static str, n: usize) -> Result<(), WireError> {
        if n > self.points {
            return Err(WireError::TooMany {
                what,
                limit: self.points,
            });
        }
        Ok(())
    }

    /// The bytes one copy of a point's endpoint, metric and tags takes (strings and the tag
    /// vector's entries).
    pub fn key_bytes(endpoint: &str, metric: &str, tags: &crate::point::Tags) -> usize {
        endpoint.len()
            + metric.len()
            + tags
                .iter()
                .map(|(k, v)| k.len() + v.len() + TAG_ENTRY_BYTES)
                .sum::<usize>()
    }
}

/// The bytes of one tag or label entry besides its strings: two `String`s.
pub const TAG_ENTRY_BYTES: usize = 2 * std::mem::size_of::<String>();

/// What a decoder has spent of its [`Budget`] so far.
#[derive(Debug)]
pub struct Spend {
    budget: Budget,
    points: usize,
    bytes: usize,
}

impl Spend {
    /// Nothing spent yet.
    pub fn new(budget: Budget) -> Spend {
        Spend {
            budget,
            points: 0,
            bytes: 0,
        }
    }

    /// Takes `n` more points (counted as `what` in the refusal).
    pub fn points(&mut self, what: &'static str, n: usize) -> Result<(), WireError> {
        self.points = self.points.saturating_add(n);
        self.budget.check(what, self.points)
    }

    /// Takes `n` more bytes built beyond the points.
    pub fn bytes(&mut self, n: usize) -> Result<(), WireError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.budget.copied_bytes {
            return Err(WireError::TooMuchCopying {
                limit: self.budget.copied_bytes,
            });
        }
        Ok(())
    }
}

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
    /// More points (or series, samples) than one request may carry; decoding stopped there, so
    /// the rest of the body was never materialised.
    #[error("more than {limit} {what} in one request: the limit per request is {limit}")]
    TooMany {
        /// What was counted: `points`, `series`, `samples`, `labels`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Decoding would build more than `limit` bytes beyond the points (a series' strings are
    /// copied into each of its points; each tag or label is an entry); refused before it does.
    #[error("decoding this request would build more than {limit} bytes of names, tags and labels beyond its points (the limit per request)")]
    TooMuchCopying {
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
