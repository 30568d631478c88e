//! Queries shared by the store, the region query endpoint (transfer) and the web console.
//!
//! A query always names its tenant; a store answers only with that tenant's series.

use crate::series::SeriesKey;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

/// How a tag matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// `key=value`
    Eq,
    /// `key!=value`
    Ne,
    /// `key=~regex` (anchored)
    Regex,
    /// `key!~regex` (anchored)
    NotRegex,
}

/// One condition on a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagMatcher {
    /// The tag key.
    pub key: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or pattern.
    pub value: String,
}

/// Which series of a tenant a query is about. Absent parts match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// Exact endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Exact metric name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Tag conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagMatcher>,
}

/// How values are combined within a step or across series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Mean.
    #[default]
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Sum.
    Sum,
    /// Number of points.
    Count,
    /// The latest value.
    Last,
}

impl Aggregation {
    /// Parses `avg`, `min`, `max`, `sum`, `count` or `last`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "avg" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "sum" => Aggregation::Sum,
            "count" => Aggregation::Count,
            "last" => Aggregation::Last,
            _ => return None,
        })
    }
}

/// A range read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeQuery {
    /// The tenant whose series are read.
    pub tenant: TenantId,
    /// Which series.
    #[serde(default)]
    pub selector: Selector,
    /// Start, Unix seconds, inclusive.
    pub start: i64,
    /// End, Unix seconds, inclusive.
    pub end: i64,
    /// Output step in seconds; `None` returns raw points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// How points within a step are combined.
    #[serde(default)]
    pub aggregation: Aggregation,
    /// Combine series across the listed tag keys (an empty list with `Some` merges all series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
}

/// The points of one series (or one group) in a query result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesData {
    /// The series, or for a group the tenant with the group's tags.
    pub key: SeriesKey,
    /// `(timestamp, value)` in time order.
    pub points: Vec<(i64, f64)>,
}

/// A selection by label matchers (PromQL's view of a series: `__name__`, `endpoint`, tags; see
/// `argus-promql`'s `labels`), answered by a region with raw points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectQuery {
    /// The tenant whose series are read.
    pub tenant: TenantId,
    /// Conditions on labels, all of which must hold (`__name__` included).
    #[serde(default)]
    pub matchers: Vec<TagMatcher>,
    /// Start, Unix seconds, inclusive.
    pub start: i64,
    /// End, Unix seconds, inclusive.
    pub end: i64,
    /// Answer at most this many series (the caller's limit plus one tells it was exceeded
    /// without shipping everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Answer the series without their points (listings of series and labels).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub series_only: bool,
}

/// The latest value of each selected series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastQuery {
    /// The tenant.
    pub tenant: TenantId,
    /// Which series.
    #[serde(default)]
    pub selector: Selector,
}

/// One series' latest point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastValue {
    /// The series.
    pub key: SeriesKey,
    /// Unix seconds.
    pub timestamp: i64,
    /// The value.
    pub value: f64,
}

/// A listing of series matching a selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesQuery {
    /// The tenant.
    pub tenant: TenantId,
    /// Which series.
    #[serde(default)]
    pub selector: Selector,
    /// At most this many.
    #[serde(default = "default_series_limit")]
    pub limit: usize,
}

fn default_series_limit() -> usize {
    10_000
}

/// Which names to list: metric names, endpoints, tag keys or tag values (then `key` names the
/// tag), among the series of `tenant` matching `selector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelQuery {
    /// The tenant.
    pub tenant: TenantId,
    /// What to list.
    pub what: LabelKind,
    /// For `tag_values`: the tag key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Restricts to these series.
    #[serde(default)]
    pub selector: Selector,
    /// At most this many names.
    #[serde(default = "default_label_limit")]
    pub limit: usize,
}

fn default_label_limit() -> usize {
    10_000
}

/// What a [`LabelQuery`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Metric names.
    Metrics,
    /// Endpoints.
    Endpoints,
    /// Tag keys.
    TagKeys,
    /// Values of one tag key.
    TagValues,
}
