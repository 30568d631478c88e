//! The values PromQL computes with: label sets, instant vectors, range vectors and scalars.
//!
//! Times are Unix milliseconds, as in Prometheus; Argus stores seconds, so times read from
//! storage are whole seconds times 1000.

use std::sync::{Arc, OnceLock};

/// The label name that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A label set: pairs sorted by name, names unique, no empty values. Shared, because the same
/// set is carried by every step of a series; it remembers its set without the metric name,
/// which most operators ask for at every step.
#[derive(Clone, Default)]
pub struct Labels(Arc<Inner>);

struct Inner {
    pairs: Vec<(String, String)>,
    /// The pairs' hash, made once: label sets are map keys at every step of an evaluation.
    hash: u64,
    unnamed: OnceLock<Labels>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            hash: hash_pairs(&[]),
            pairs: Vec::new(),
            unnamed: OnceLock::new(),
        }
    }
}

fn hash_pairs(pairs: &[(String, String)]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (k, v) in pairs {
        h.update(k.as_bytes());
        h.update(&[0]);
        h.update(v.as_bytes());
        h.update(&[0]);
    }
    h.digest()
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash && self.0.pairs == other.0.pairs)
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash)
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Name by name, then value by value, as Prometheus orders label sets.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.pairs.cmp(&other.0.pairs)
    }
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Labels").field(&self.0.pairs).finish()
    }
}

impl Labels {
    fn of(pairs: Vec<(String, String)>) -> Self {
        Labels(Arc::new(Inner {
            hash: hash_pairs(&pairs),
            pairs,
            unnamed: OnceLock::new(),
        }))
    }

    /// Builds a set from pairs in any order; empty values are dropped (PromQL treats a label
    /// with an empty value as absent) and a later duplicate name replaces an earlier one.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut v: Vec<(String, String)> = Vec::new();
        for (k, val) in pairs {
            if let Some(i) = v.iter().position(|(n, _)| *n == k) {
                v.remove(i);
            }
            if !val.is_empty() {
                v.push((k, val));
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Labels::of(v)
    }

    /// Builds a set from pairs already sorted by name with unique names and no empty values.
    pub fn from_sorted(v: Vec<(String, String)>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        Labels::of(v)
    }

    /// An identity for this shared set (the same for its clones), for memos within one
    /// evaluation that also hold a clone, so that the identity cannot be reused meanwhile.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0.pairs
    }

    /// The value of `name`, `""` when absent (PromQL's view).
    pub fn get(&self, name: &str) -> &str {
        match self.0.pairs.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => &self.0.pairs[i].1,
            Err(_) => "",
        }
    }

    /// True when `name` has a (non-empty) value.
    pub fn has(&self, name: &str) -> bool {
        self.0
            .pairs
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .is_ok()
    }

    /// The set with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v: Vec<(String, String)> = self
            .0
            .pairs
            .iter()
            .filter(|(k, _)| k != name)
            .cloned()
            .collect();
        if !value.is_empty() {
            let i = v.partition_point(|(k, _)| k.as_str() < name);
            v.insert(i, (name.to_owned(), value.to_owned()));
        }
        Labels::of(v)
    }

    /// The set without `names`.
    pub fn without(&self, names: &[&str]) -> Labels {
        if !self
            .0
            .pairs
            .iter()
            .any(|(k, _)| names.contains(&k.as_str()))
        {
            return self.clone();
        }
        Labels::of(
            self.0
                .pairs
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// The set without its metric name (what most functions and operators return): made once
    /// per shared set, then the same set at every step.
    pub fn drop_name(&self) -> Labels {
        if !self.has(METRIC_NAME) {
            return self.clone();
        }
        self.0
            .unnamed
            .get_or_init(|| self.without(&[METRIC_NAME]))
            .clone()
    }

    /// Only the labels named in `names`.
    pub fn only(&self, names: &[&str]) -> Labels {
        Labels::of(
            self.0
                .pairs
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.pairs.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.pairs.is_empty()
    }
}

impl std::fmt::Display for Labels {
    /// `{a="1", b="2"}`, as Prometheus prints a label set in its messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// A series with its points (a range vector element, or one series of a range query's answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// `(unix ms, value)` in time order.
    pub points: Vec<(i64, f64)>,
}

/// What an expression evaluates to at one time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector.
    Matrix(Vec<Series>),
}

impl Value {
    /// The type's name as Prometheus's messages and API say it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}
