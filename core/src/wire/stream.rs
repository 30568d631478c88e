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
    /// Most items taken; the next one stops decoding (see [`Collector::full`]).
    max: usize,
    over: bool,
}

impl<T, F> Collector<T, F>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    pub(crate) fn new(conv: F, max: usize) -> Self {
        Collector {
            conv,
            next: 0,
            good: Vec::new(),
            bad: Vec::new(),
            unlisted: 0,
            first_unlisted: 0,
            max,
            over: false,
        }
    }

    /// Whether one more item would pass the cap; then it is noted, and the decoder stops
    /// without materialising anything after it.
    fn full(&mut self) -> bool {
        self.over |= self.next >= self.max;
        self.over
    }

    /// The refusal of a body with more items than the cap.
    fn too_many(&self) -> WireError {
        WireError::TooMany {
            what: "points",
            limit: self.max,
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

    /// Refuses the next item without converting it.
    pub(crate) fn refuse(&mut self, field: &str, reason: String) {
        let i = self.next;
        self.next += 1;
        if self.bad.len() >= MAX_LISTED_REJECTIONS {
            if self.unlisted == 0 {
                self.first_unlisted = i;
            }
            self.unlisted += 1;
        } else {
            self.bad.push(Rejection {
                index: i,
                field: field.to_string(),
                reason,
            });
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
            // The one item past the cap is read (a sequence cannot be peeked), none after it.
            if self.0.full() {
                return Err(de::Error::custom("too many points"));
            }
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
        if self.0.full() {
            return Err(de::Error::custom("too many points"));
        }
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

/// Decodes an Argus batch body item by item, refusing it past `max` items.
pub(crate) fn batch<T, F>(json: &[u8], max: usize, mut conv: F) -> Result<Collected<T>, WireError>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    let whole = {
        let mut c = Collector::new(&mut conv, max);
        let r = run(json, |de| {
            de::Deserializer::deserialize_map(de, BatchObject(&mut c))
        });
        match r {
            Err(_) if c.over => return Err(c.too_many()),
            r => r.map(|()| c.finish()),
        }
    };
    whole.or_else(|e| item_by_item(json, scan::batch_items(json, max), max, conv).unwrap_or(Err(e)))
}

/// Decodes a falcon body item by item, refusing it past `max` items.
pub(crate) fn falcon<T, F>(json: &[u8], max: usize, mut conv: F) -> Result<Collected<T>, WireError>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    let whole = {
        let mut c = Collector::new(&mut conv, max);
        let r = run(json, |de| {
            de::Deserializer::deserialize_any(de, FalconBody(&mut c))
        });
        match r {
            Err(_) if c.over => return Err(c.too_many()),
            r => r.map(|()| c.finish()),
        }
    };
    whole.or_else(|e| item_by_item(json, scan::array_items(json, max), max, conv).unwrap_or(Err(e)))
}

/// The second chance of a body the parser refused: when its structure holds and the fault is
/// inside items (a number beyond f64, invalid UTF-8 in a string), those items are refused
/// alone and the others kept. `None` when the fault is not an item's: the body's error stands.
fn item_by_item<T, F>(
    json: &[u8],
    items: Option<Vec<std::ops::Range<usize>>>,
    max: usize,
    conv: F,
) -> Option<Result<Collected<T>, WireError>>
where
    F: FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
{
    let items = items?;
    let mut c = Collector::new(conv, max);
    if items.len() > max {
        c.over = true;
        return Some(Err(c.too_many()));
    }
    let mut faulty = 0;
    for r in items {
        match serde_json::from_slice::<serde_json::Value>(&json[r]) {
            Ok(v) => c.push(v),
            Err(e) => {
                faulty += 1;
                c.refuse("point", format!("not valid JSON: {e}"));
            }
        }
    }
    (faulty > 0).then(|| Ok(c.finish()))
}

/// A structural scan of JSON bodies: where each item of the points array begins and ends,
/// without reading numbers or checking strings' UTF-8 (what may fail inside one item). Nesting
/// is followed with a counter, never recursion.
mod scan {
    use std::ops::Range;

    fn ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }

    /// The end of the string starting at `i` (a quote).
    fn string(b: &[u8], mut i: usize) -> Option<usize> {
        i += 1;
        while i < b.len() {
            match b[i] {
                b'"' => return Some(i + 1),
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        None
    }

    /// The end of the value starting at `i`.
    fn value(b: &[u8], i: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut i = i;
        loop {
            i = ws(b, i);
            match *b.get(i)? {
                b'"' => i = string(b, i)?,
                b'{' | b'[' => {
                    depth += 1;
                    i += 1;
                    continue;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    i += 1;
                }
                b',' | b':' if depth > 0 => {
                    i += 1;
                    continue;
                }
                _ => {
                    let start = i;
                    while i < b.len()
                        && !matches!(
                            b[i],
                            b',' | b':'
                                | b'}'
                                | b']'
                                | b' '
                                | b'\t'
                                | b'\n'
                                | b'\r'
                                | b'"'
                                | b'{'
                                | b'['
                        )
                    {
                        i += 1;
                    }
                    if i == start {
                        return None;
                    }
                }
            }
            if depth == 0 {
                return Some(i);
            }
        }
    }

    /// The items of the array starting at `i` (no more than `max + 1` of them: past the cap the
    /// rest are only walked over), and the end of the array.
    fn items(b: &[u8], i: usize, max: usize) -> Option<(Vec<Range<usize>>, usize)> {
        let mut i = ws(b, i);
        if b.get(i) != Some(&b'[') {
            return None;
        }
        let mut out = Vec::new();
        i = ws(b, i + 1);
        if b.get(i) == Some(&b']') {
            return Some((out, i + 1));
        }
        loop {
            let start = ws(b, i);
            let end = value(b, start)?;
            if out.len() <= max {
                out.push(start..end);
            }
            i = ws(b, end);
            match *b.get(i)? {
                b',' => i += 1,
                b']' => return Some((out, i + 1)),
                _ => return None,
            }
        }
    }

    /// The items of a falcon body (a top-level array).
    pub(super) fn array_items(b: &[u8], max: usize) -> Option<Vec<Range<usize>>> {
        let (items, end) = items(b, 0, max)?;
        (ws(b, end) == b.len()).then_some(items)
    }

    /// The items of an Argus batch's `points` array (the one `points` key of the top object).
    pub(super) fn batch_items(b: &[u8], max: usize) -> Option<Vec<Range<usize>>> {
        let mut i = ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i += 1;
        let mut points = None;
        loop {
            i = ws(b, i);
            if b.get(i) == Some(&b'}') && points.is_none() {
                return None;
            }
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = string(b, i)?;
            let key = &b[i + 1..key_end - 1];
            i = ws(b, key_end);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
            if key == b"points" {
                if points.is_some() {
                    return None;
                }
                let (items, end) = items(b, i, max)?;
                points = Some(items);
                i = end;
            } else {
                i = value(b, i)?;
            }
            i = ws(b, i);
            match *b.get(i)? {
                b',' => i += 1,
                b'}' => break,
                _ => return None,
            }
        }
        (ws(b, i + 1) == b.len()).then_some(points).flatten()
    }
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

    /// Regression: a 110 KB gzip of 318k tiny points was built whole (328 MB) before the
    /// batch quota was checked. Every path counts: typed, point by point, item by item.
    #[test]
    fn a_body_past_the_points_cap_is_refused_while_decoding() {
        let good = r#"{"endpoint":"h","metric":"m","value":1,"timestamp":5}"#;
        let huge = r#"{"endpoint":"h","metric":"m","value":1e999,"timestamp":5}"#;
        let too_many = |r: Result<crate::wire::Decoded, WireError>| {
            matches!(
                r,
                Err(WireError::TooMany {
                    what: "points",
                    limit: 3
                })
            )
        };
        for item in [good, "{}", huge] {
            let batch = |n: usize| format!(r#"{{"points":[{}]}}"#, vec![item; n].join(","));
            let array = |n: usize| format!("[{}]", vec![item; n].join(","));
            assert!(
                too_many(Batch::decode_at_most(batch(4).as_bytes(), 3)),
                "{item}"
            );
            assert!(too_many(falcon::decode_at_most(
                array(4).as_bytes(),
                "h",
                3
            )));
            let (g, b) = Batch::decode_at_most(batch(3).as_bytes(), 3).unwrap();
            assert_eq!(g.len() + b.len(), 3, "{item}");
            let (g, b) = falcon::decode_at_most(array(3).as_bytes(), "h", 3).unwrap();
            assert_eq!(g.len() + b.len(), 3, "{item}");
        }
        let one = falcon::decode_at_most(good.as_bytes(), "h", 0);
        assert!(matches!(one, Err(WireError::TooMany { limit: 0, .. })));
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
    fn a_fault_inside_one_item_refuses_that_item_only() {
        let good = r#"{"endpoint":"h","metric":"m","value":1,"timestamp":5}"#;
        let huge = r#"{"endpoint":"h","metric":"m","value":1e999,"timestamp":5}"#;
        let body = format!(r#"{{"v": 1, "points": [{good}, {huge}, {good}]}}"#);
        let (ok, bad) = Batch::decode(body.as_bytes()).unwrap();
        assert_eq!(ok.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 2]);
        assert_eq!((bad[0].index, bad[0].field.as_str()), (1, "point"));
        assert!(bad[0].reason.contains("out of range"), "{}", bad[0].reason);
        // Invalid UTF-8 in one falcon item.
        let body = [
            &b"[ "[..],
            good.as_bytes(),
            b",{\"endpoint\":\"h\xff\",\"metric\":\"m\",\"value\":1,\"timestamp\":5} ]",
        ]
        .concat();
        let (ok, bad) = falcon::decode(&body, "h").unwrap();
        assert_eq!((ok.len(), bad.len(), bad[0].index), (1, 1, 1));
        // Faults outside the items, or a broken structure, still refuse the body.
        let e = |b: &str| Batch::decode(b.as_bytes()).unwrap_err().to_string();
        assert!(e(&format!(r#"{{"x": tru, "points": [{good}]}}"#)).contains("not valid JSON"));
        assert!(e(&format!(r#"{{"points": [{good}, {huge}"#)).contains("not valid JSON"));
        assert!(e(&format!(r#"{{"points": [{huge}]}} x"#)).contains("out of range"));
        assert!(falcon::decode(format!("[{huge}").as_bytes(), "h").is_err());
    }

    #[test]
    fn the_structural_scan_finds_the_items() {
        assert_eq!(
            scan::array_items(br#" [ {"a":[1,{"b":"]"}]} , "x\"y" ,3 ] "#, usize::MAX),
            Some(vec![3..22, 25..31, 33..34])
        );
        assert_eq!(scan::array_items(b"[]", usize::MAX), Some(vec![]));
        assert_eq!(scan::array_items(b"[1,]", usize::MAX), None);
        assert_eq!(scan::array_items(b"[1] 2", usize::MAX), None);
        assert_eq!(scan::array_items(b"[{]", usize::MAX), None);
        assert_eq!(
            scan::batch_items(br#"{"a":{"points":[9]},"points":[1, 2]}"#, usize::MAX),
            Some(vec![30..31, 33..34])
        );
        assert_eq!(scan::batch_items(br#"{"a":1}"#, usize::MAX), None);
        assert_eq!(
            scan::batch_items(br#"{"points":[1],"points":[2]}"#, usize::MAX),
            None
        );
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
