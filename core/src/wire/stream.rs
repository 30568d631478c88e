//! Streaming, bounded decoding of a batch's items.
//!
//! Items are converted one at a time as the parser reaches them, so a body never exists as one
//! `serde_json::Value` tree, and only the first [`MAX_LISTED_REJECTIONS`] refusals are kept one
//! by one. Without both, a 32 MiB body of `{},{},...` — 31 KiB gzipped — held 2 GiB of memory
//! and produced a 778 MB answer listing 11 million refusals.

use super::{field_of_serde_error, WireError};
use crate::validate::{Rejection, ValidationError};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// Most refusals a decoder lists one by one; past it, one last refusal (field `points`) says how
/// many more there were.
pub const MAX_LISTED_REJECTIONS: usize = 1000;

/// The good items with their index, and the refusals.
pub(crate) type Collected<T> = (Vec<(usize, T)>, Vec<Rejection>);

/// Collects converted items: the good ones with their index, the first refusals, a count of
/// the rest.
pub(crate) struct Collector<T, F> {
    conv: F,
    next: usize,
    good: Vec<(usize, T)>,
    bad: Vec<Rejection>,
    unlisted: usize,
    first_unlisted: usize,
}

impl<T, F> Collector<T, F>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    pub(crate) fn new(conv: F) -> Self {
        Collector {
            conv,
            next: 0,
            good: Vec::new(),
            bad: Vec::new(),
            unlisted: 0,
            first_unlisted: 0,
        }
    }

    /// Converts the next item.
    pub(crate) fn push(&mut self, v: serde_json::Value) {
        let i = self.next;
        self.next += 1;
        match (self.conv)(v) {
            Ok(p) => self.good.push((i, p)),
            Err(_) if self.bad.len() >= MAX_LISTED_REJECTIONS => {
                if self.unlisted == 0 {
                    self.first_unlisted = i;
                }
                self.unlisted += 1;
            }
            Err(e) => {
                let msg = e.to_string();
                self.bad.push(Rejection::new(
                    i,
                    ValidationError::new(field_of_serde_error(&msg), msg),
                ));
            }
        }
    }

    /// The good items and the refusals.
    pub(crate) fn finish(mut self) -> Collected<T> {
        if self.unlisted > 0 {
            self.bad.push(Rejection {
                index: self.first_unlisted,
                field: "points".to_string(),
                reason: format!(
                    "{} more points from this index on were refused; only the first {} refusals are listed",
                    self.unlisted, MAX_LISTED_REJECTIONS
                ),
            });
        }
        (self.good, self.bad)
    }
}

/// Feeds each element of a JSON array to a collector.
struct Items<'c, T, F>(&'c mut Collector<T, F>);

impl<'de, T, F> DeserializeSeed<'de> for Items<'_, T, F>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T, F> Visitor<'de> for Items<'_, T, F>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of points")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            self.0.push(v);
        }
        Ok(())
    }
}

/// `{"points": [...], ...}`: other keys are ignored, as before.
struct BatchObject<'c, T, F>(&'c mut Collector<T, F>);

impl<'de, T, F> Visitor<'de> for BatchObject<'_, T, F>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a `points` array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "points" {
                if seen {
                    return Err(de::Error::duplicate_field("points"));
                }
                seen = true;
                map.next_value_seed(Items(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen {
            return Err(de::Error::missing_field("points"));
        }
        Ok(())
    }
}

/// A falcon body: an array of points, or a single point object.
struct FalconBody<'c, T, F>(&'c mut Collector<T, F>);

impl<T, F> FalconBody<'_, T, F> {
    fn not_array<E: de::Error>(kind: &str) -> Result<(), E> {
        Err(E::custom(format!(
            "expected a JSON array of points, got {kind}"
        )))
    }
}

impl<'de, T, F> Visitor<'de> for FalconBody<'_, T, F>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of points")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Items(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.0.push(v);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Self::not_array("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Self::not_array("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Self::not_array("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Self::not_array("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Self::not_array("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Self::not_array("null")
    }
}

fn run<'a>(
    json: &'a [u8],
    f: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::SliceRead<'a>>,
    ) -> serde_json::Result<()>,
) -> Result<(), WireError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    f(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| WireError::Json(e.to_string()))
}

/// Decodes an Argus batch body item by item.
pub(crate) fn batch<T, F>(json: &[u8], conv: F) -> Result<Collected<T>, WireError>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    let mut c = Collector::new(conv);
    run(json, |de| {
        de::Deserializer::deserialize_map(de, BatchObject(&mut c))
    })?;
    Ok(c.finish())
}

/// Decodes a falcon body item by item.
pub(crate) fn falcon<T, F>(json: &[u8], conv: F) -> Result<Collected<T>, WireError>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    let mut c = Collector::new(conv);
    run(json, |de| {
        de::Deserializer::deserialize_any(de, FalconBody(&mut c))
    })?;
    Ok(c.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{falcon, Batch};

    fn many_empty(n: usize, batch: bool) -> Vec<u8> {
        let items = vec!["{}"; n].join(",");
        if batch {
            format!("{{\"points\":[{items}]}}").into_bytes()
        } else {
            format!("[{items}]").into_bytes()
        }
    }

    /// Regression: refusals were listed without bound — 11 million of them for a 32 MiB body of
    /// `{}` items — after the whole body had been built as one JSON tree.
    #[test]
    fn refusals_past_the_cap_are_counted_not_listed() {
        for batch in [true, false] {
            let body = many_empty(MAX_LISTED_REJECTIONS + 2500, batch);
            let (good, bad) = if batch {
                Batch::decode(&body).unwrap()
            } else {
                falcon::decode(&body, "h").unwrap()
            };
            assert!(good.is_empty());
            assert_eq!(bad.len(), MAX_LISTED_REJECTIONS + 1);
            assert_eq!(
                bad[MAX_LISTED_REJECTIONS - 1].index,
                MAX_LISTED_REJECTIONS - 1
            );
            let last = &bad[MAX_LISTED_REJECTIONS];
            assert_eq!(
                (last.index, last.field.as_str()),
                (MAX_LISTED_REJECTIONS, "points")
            );
            assert!(
                last.reason.starts_with("2500 more points"),
                "{}",
                last.reason
            );
        }
    }

    #[test]
    fn good_points_past_the_cap_are_still_kept() {
        let mut items = vec!["{}".to_string(); MAX_LISTED_REJECTIONS + 10];
        items.push(r#"{"endpoint":"h","metric":"m","value":1,"timestamp":5}"#.to_string());
        let body = format!("{{\"points\":[{}]}}", items.join(","));
        let (good, bad) = Batch::decode(body.as_bytes()).unwrap();
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].0, MAX_LISTED_REJECTIONS + 10);
        assert_eq!(bad.len(), MAX_LISTED_REJECTIONS + 1);
    }

    #[test]
    fn whole_body_errors_keep_their_words() {
        let e = |b: &[u8]| Batch::decode(b).unwrap_err().to_string();
        assert!(e(b"[1,2]").contains("not valid JSON"), "{}", e(b"[1,2]"));
        assert!(e(br#"{"x":1}"#).contains("missing field `points`"));
        assert!(e(br#"{"points":[],"points":[]}"#).contains("duplicate field"));
        assert!(e(br#"{"points":[]} trailing"#).contains("trailing"));
        assert!(e(br#"{"points":{"a":1}}"#).contains("not valid JSON"));
        let f = |b: &[u8]| falcon::decode(b, "h").unwrap_err().to_string();
        assert!(f(b"5").contains("expected a JSON array of points, got a number"));
        assert!(f(b"\"x\"").contains("got a string"));
        assert!(f(b"null").contains("got null"));
        assert!(f(b"[1] [2]").contains("trailing"));
        // Extra keys around the points are ignored, as before.
        let (good, _) = Batch::decode(
            br#"{"v":{"deep":[1]},"points":[{"endpoint":"h","metric":"m","value":1,"timestamp":5}]}"#,
        )
        .unwrap();
        assert_eq!(good.len(), 1);
    }
}
