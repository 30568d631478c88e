//! The Argus batch: `{"points": [ {endpoint, metric, tags, value, timestamp, step, counter_type}, ... ]}`.

use super::WireError;
use crate::point::Point;
use crate::validate::Rejection;
use serde::{Deserialize, Serialize};

/// A batch of points as agents send it to transfers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The points, in the order they were collected.
    pub points: Vec<Point>,
}

/// The answer to a push: how many points were accepted and why the others were not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// Points accepted (durable when this answer is sent).
    pub accepted: usize,
    /// The refused points, by their index in the batch.
    #[serde(default)]
    pub rejected: Vec<Rejection>,
}

impl Batch {
    /// Decodes a JSON batch leniently: each point is read on its own, so a malformed point is
    /// rejected with its index while the others are kept. Only a body that is not a JSON object
    /// with a `points` array fails whole. Points are decoded as the parser reaches them, and only
    /// the first [`MAX_LISTED_REJECTIONS`](super::stream::MAX_LISTED_REJECTIONS) refusals are
    /// listed one by one (see [`super::stream`]).
    pub fn decode(json: &[u8]) -> Result<super::Decoded, WireError> {
        Batch::decode_at_most(json, usize::MAX)
    }

    /// [`Batch::decode`], refusing a batch of more than `max` points with
    /// [`WireError::TooMany`] as soon as the parser reaches point `max + 1`, so a small body
    /// (gzip) of many tiny points costs no more than `max` points' worth of memory.
    ///
    /// Well-formed batches (the common case) are read straight into points, several times
    /// cheaper than point by point through `serde_json::Value`; only a batch with a bad point
    /// takes the lenient path that keeps the good ones.
    pub fn decode_at_most(json: &[u8], max: usize) -> Result<super::Decoded, WireError> {
        let mut over = false;
        let seed = Typed {
            max,
            over: &mut over,
        };
        // UTF-8 is checked once for the whole body (a vectorised pass); parsing from `&str`
        // then skips serde_json's per-string check.
        let fast = match std::str::from_utf8(json) {
            Ok(text) => typed(serde_json::Deserializer::from_str(text), seed),
            Err(_) => typed(serde_json::Deserializer::from_slice(json), seed),
        };
        match fast {
            Ok(points) => Ok((points.into_iter().enumerate().collect(), Vec::new())),
            Err(_) if over => Err(WireError::TooMany {
                what: "points",
                limit: max,
            }),
            Err(_) => super::stream::batch(json, max, from_value_at::<Point>),
        }
    }

    /// Encodes the batch as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a batch always serializes")
    }
}

fn typed<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    seed: Typed<'_>,
) -> serde_json::Result<Vec<Point>> {
    let points = serde::Deserializer::deserialize_map(&mut de, seed)?;
    de.end()?;
    Ok(points)
}

/// `{"points": [...]}` read into points, counting them: past `max`, `over` is set and
/// parsing stops. Other keys are ignored, as `Batch`'s own `Deserialize` does.
struct Typed<'a> {
    max: usize,
    over: &'a mut bool,
}

impl<'de> serde::de::Visitor<'de> for Typed<'_> {
    type Value = Vec<Point>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object with a `points` array")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<Point>, A::Error> {
        use serde::de::Error as _;
        let mut points = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "points" {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else if points.is_some() {
                return Err(A::Error::duplicate_field("points"));
            } else {
                points = Some(map.next_value_seed(TypedPoints {
                    max: self.max,
                    over: &mut *self.over,
                })?);
            }
        }
        points.ok_or_else(|| A::Error::missing_field("points"))
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Typed<'_> {
    type Value = Vec<Point>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Point>, D::Error> {
        d.deserialize_map(self)
    }
}

struct TypedPoints<'a> {
    max: usize,
    over: &'a mut bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for TypedPoints<'_> {
    type Value = Vec<Point>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Point>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TypedPoints<'_> {
    type Value = Vec<Point>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of points")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Point>, A::Error> {
        let mut out = Vec::new();
        while let Some(p) = seq.next_element::<Point>()? {
            if out.len() >= self.max {
                *self.over = true;
                return Err(serde::de::Error::custom("too many points"));
            }
            out.push(p);
        }
        Ok(out)
    }
}

/// Deserializes one item, naming the offending field in the error (`value`, `tags.k`) — a bare
/// serde error says only "invalid type: string, expected f64", and the sender cannot tell which
/// field of the point it means.
pub(crate) fn from_value_at<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> Result<T, serde_json::Error> {
    use serde::de::Error as _;
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            inner
        } else {
            serde_json::Error::custom(format!("`{path}`: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_good_points_next_to_bad_ones() {
        let body = br#"{"points":[
            {"endpoint":"h","metric":"a","value":1,"timestamp":5},
            {"endpoint":"h","value":1,"timestamp":5},
            {"endpoint":"h","metric":"c","value":"x","timestamp":5},
            {"endpoint":"h","metric":"d","value":2,"timestamp":6,"tags":{"k":"v"},"counter_type":"COUNTER"}
        ]}"#;
        let (good, bad) = Batch::decode(body).unwrap();
        assert_eq!(good.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].index, 1);
        assert_eq!(bad[0].field, "metric");
        assert_eq!(bad[1].index, 2);
        assert_eq!(bad[1].field, "value");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let body = br#"{"points":[
            {"endpoint":"h","metric":"a","value":1,"timestamp":"yesterday"},
            {"endpoint":"h","metric":"a","value":1,"timestamp":1e30},
            {"endpoint":"h","metric":"a","value":1,"timestamp":5,"tags":{"k":7}},
            {"endpoint":"h","metric":["a"],"value":1,"timestamp":5},
            {"endpoint":"h","metric":"a","value":1,"timestamp":5,"step":-1}
        ]}"#;
        let (good, bad) = Batch::decode(body).unwrap();
        assert!(good.is_empty());
        let fields: Vec<&str> = bad.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(
            fields,
            ["timestamp", "timestamp", "tags.k", "metric", "step"]
        );
        assert!(bad[0].reason.contains("invalid type"), "{}", bad[0].reason);
    }

    #[test]
    fn unreadable_body_fails_whole() {
        assert!(matches!(
            Batch::decode(b"{not json"),
            Err(WireError::Json(_))
        ));
        assert!(Batch::decode(b"[1,2]").is_err());
    }
}
