//! The values PromQL computes with: label sets, instant vectors, range vectors and scalars.
//!
//! Times are Unix milliseconds, as in Prometheus; Argus stores seconds, so times read from
//! storage are whole seconds times 1000.

use std::sync::Arc;

/// The label name that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A label set: pairs sorted by name, names unique, no empty values. Shared, because the same
/// set is carried by every step of a series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Arc<Vec<(String, String)>>);

impl Labels {
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
        Labels(Arc::new(v))
    }

    /// Builds a set from pairs already sorted by name with unique names and no empty values.
    pub fn from_sorted(v: Vec<(String, String)>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        Labels(Arc::new(v))
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`, `""` when absent (PromQL's view).
    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => &self.0[i].1,
            Err(_) => "",
        }
    }

    /// True when `name` has a (non-empty) value.
    pub fn has(&self, name: &str) -> bool {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .is_ok()
    }

    /// The set with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v: Vec<(String, String)> =
            self.0.iter().filter(|(k, _)| k != name).cloned().collect();
        if !value.is_empty() {
            let i = v.partition_point(|(k, _)| k.as_str() < name);
            v.insert(i, (name.to_owned(), value.to_owned()));
        }
        Labels(Arc::new(v))
    }

    /// The set without `names`.
    pub fn without(&self, names: &[&str]) -> Labels {
        if !self.0.iter().any(|(k, _)| names.contains(&k.as_str())) {
            return self.clone();
        }
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        ))
    }

    /// The set without its metric name (what most functions and operators return).
    pub fn drop_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// Only the labels named in `names`.
    pub fn only(&self, names: &[&str]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()))
                .cloned()
                .collect(),
        ))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Labels {
    /// `{a="1", b="2"}`, as Prometheus prints a label set in its messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
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
