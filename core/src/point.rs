//! The metric point: one value of one series at one time.

use crate::tenant::TenantId;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// How a series' raw values are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum CounterType {
    /// The value is the measurement itself (temperature, bytes used).
    #[default]
    Gauge,
    /// A monotonically increasing counter; readers see its per-second rate, and a reset (the
    /// counter going down) yields no negative spike.
    Counter,
    /// Like a counter, but decreases are legitimate (per-second rate of any change).
    Derive,
}

impl CounterType {
    /// Parses `GAUGE`, `COUNTER` or `DERIVE` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "GAUGE" => Some(CounterType::Gauge),
            "COUNTER" => Some(CounterType::Counter),
            "DERIVE" => Some(CounterType::Derive),
            _ => None,
        }
    }

    /// The canonical upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CounterType::Gauge => "GAUGE",
            CounterType::Counter => "COUNTER",
            CounterType::Derive => "DERIVE",
        }
    }
}

/// The tags of a series: `key=value` pairs, kept sorted by key with unique keys.
///
/// Serialized as a JSON object; deserialized from an object or from the open-falcon string form
/// `"k=v,k2=v2"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Tags(Vec<(String, String)>);

impl Tags {
    /// No tags.
    pub fn new() -> Self {
        Tags(Vec::new())
    }

    /// Builds tags from pairs; sorts them, and a later duplicate key replaces an earlier one.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Tags::from_unsorted(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Sorts `pairs` by key, a later duplicate replacing an earlier one. O(n log n): inserting
    /// one by one is quadratic on reverse-ordered input, and tags come from senders — 200k
    /// reverse-ordered falcon tags (a 2 MB body) took 35 s of CPU that way.
    fn from_unsorted(mut pairs: Vec<(String, String)>) -> Self {
        // Already sorted with unique keys (every frame from a transfer, most senders): kept as
        // it is, without a second vector; this runs for every decoded point.
        if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            return Tags(pairs);
        }
        // Stable, so equal keys keep their input order and the last one wins below.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        Tags(out)
    }

    /// Parses the open-falcon form `k=v,k2=v2` (spaces around items are trimmed, empty items
    /// skipped). An item without `=` is an error naming it.
    pub fn parse_falcon(s: &str) -> Result<Self, String> {
        let mut pairs = Vec::new();
        for item in s.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match item.split_once('=') {
                Some((k, v)) => pairs.push((k.trim().to_string(), v.trim().to_string())),
                None => return Err(format!("tag {item:?} is not of the form key=value")),
            }
        }
        Ok(Tags::from_unsorted(pairs))
    }

    /// Inserts or replaces a tag, keeping the order.
    pub fn insert(&mut self, k: impl Into<String>, v: impl Into<String>) {
        let (k, v) = (k.into(), v.into());
        match self.0.binary_search_by(|(ek, _)| ek.as_str().cmp(&k)) {
            Ok(i) => self.0[i].1 = v,
            Err(i) => self.0.insert(i, (k, v)),
        }
    }

    /// The value of tag `k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(ek, _)| ek.as_str().cmp(k))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when every tag of `filter` is present here with the same value.
    pub fn contains_all(&self, filter: &Tags) -> bool {
        filter.iter().all(|(k, v)| self.get(k) == Some(v))
    }
}

impl fmt::Display for Tags {
    /// The canonical `k=v,k2=v2` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TagsVisitor;
        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string tags or a string \"k=v,k2=v2\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tags, E> {
                Tags::parse_falcon(v).map_err(E::custom)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Tags, E> {
                Ok(Tags::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
                let mut pairs = Vec::new();
                while let Some(kv) = map.next_entry::<String, String>()? {
                    pairs.push(kv);
                }
                Ok(Tags::from_unsorted(pairs))
            }
        }
        d.deserialize_any(TagsVisitor)
    }
}

/// One value of one series at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The owner. Set by the transfer from the sender's credential; whatever a payload says here
    /// is overwritten.
    #[serde(default, skip_serializing_if = "TenantId::is_unset")]
    pub tenant: TenantId,
    /// The host (or other entity) the value is about.
    pub endpoint: String,
    /// The metric name, e.g. `cpu.idle`.
    pub metric: String,
    /// The series' tags.
    #[serde(default)]
    pub tags: Tags,
    /// The value.
    pub value: f64,
    /// Unix seconds.
    pub timestamp: i64,
    /// The reporting interval in seconds.
    #[serde(default = "default_step")]
    pub step: u32,
    /// How the value is to be read.
    #[serde(default, rename = "counter_type", alias = "counterType")]
    pub counter_type: CounterType,
}

/// The default step: 10 seconds.
pub fn default_step() -> u32 {
    10
}

impl Point {
    /// A gauge point with the default step and no tenant yet.
    pub fn gauge(endpoint: &str, metric: &str, tags: Tags, value: f64, timestamp: i64) -> Self {
        Point {
            tenant: TenantId::default(),
            endpoint: endpoint.to_string(),
            metric: metric.to_string(),
            tags,
            value,
            timestamp,
            step: default_step(),
            counter_type: CounterType::Gauge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_sort_dedupe_and_render() {
        let t = Tags::parse_falcon(" b=2, a=1,,b=3").unwrap();
        assert_eq!(t.to_string(), "a=1,b=3");
        assert_eq!(t.get("b"), Some("3"));
        assert!(Tags::parse_falcon("novalue")
            .unwrap_err()
            .contains("novalue"));
    }

    /// Regression: tags were inserted one by one, quadratic on reverse-ordered input (a 2 MB
    /// falcon body with 200k tags held a worker for 35 s). Order and last-wins must hold.
    #[test]
    fn many_reverse_ordered_tags_parse_sorted_last_wins() {
        let n = 100_000;
        let text: Vec<String> = (0..n).rev().map(|i| format!("k{i:06}=v{i}")).collect();
        let t = Tags::parse_falcon(&format!("{},k000001=last", text.join(","))).unwrap();
        assert_eq!(t.len(), n);
        assert!(t.iter().zip(t.iter().skip(1)).all(|(a, b)| a.0 < b.0));
        assert_eq!(t.get("k000001"), Some("last"));
        assert_eq!(t.get("k099999"), Some("v99999"));
        let json = format!(
            "{{{}}}",
            (0..n)
                .rev()
                .map(|i| format!("\"k{i:06}\":\"v\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut de = serde_json::Deserializer::from_str(&json);
        let t = Tags::deserialize(&mut de).unwrap();
        assert_eq!(t.len(), n);
        assert_eq!(t.iter().next().unwrap().0, "k000000");
        let p = Tags::from_pairs([("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(p.to_string(), "a=2,b=3");
    }

    #[test]
    fn sorted_tags_are_kept_and_a_repeated_key_still_dedupes() {
        let t = Tags::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]);
        assert_eq!(t.to_string(), "a=1,b=2,c=3");
        let t = Tags::from_pairs([("a", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(t.to_string(), "a=2,b=3");
    }

    #[test]
    fn tags_deserialize_from_object_or_string() {
        let a: Tags = serde_json::from_str(r#"{"z":"1","a":"2"}"#).unwrap();
        let b: Tags = serde_json::from_str(r#""a=2,z=1""#).unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"a":"2","z":"1"}"#);
    }

    #[test]
    fn point_defaults() {
        let p: Point =
            serde_json::from_str(r#"{"endpoint":"h","metric":"m","value":1.5,"timestamp":10}"#)
                .unwrap();
        assert_eq!(p.step, 10);
        assert_eq!(p.counter_type, CounterType::Gauge);
        assert!(p.tenant.is_unset());
    }
}
