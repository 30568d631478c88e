//! Rules on PromQL queries: recording rules (a query's result written back as series) and alert
//! rules (each output series of a query is an alert), as Prometheus defines them.
//!
//! Web stores them per tenant and serves them to the regions in one [`RulesDocument`]
//! (`GET /internal/v1/config/rules`); the regions' judges evaluate them. The expressions are
//! checked by web with the PromQL parser when saved; here they are plain text.

use crate::strategy::Priority;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A rule's id, unique in its tenant (web's database id).
pub type RuleId = u64;

/// Evaluation interval when a rule names none, seconds (Prometheus's default).
pub const DEFAULT_INTERVAL_SECS: u32 = 60;

fn default_interval() -> u32 {
    DEFAULT_INTERVAL_SECS
}

/// A recording rule: `expr`'s result stored as series named `record`, with `labels` added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingRule {
    /// The id.
    pub id: RuleId,
    /// The output metric name (a valid PromQL metric name).
    pub record: String,
    /// The PromQL expression.
    pub expr: String,
    /// Labels added to (or replacing those of) every output series.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Evaluation interval, seconds.
    #[serde(default = "default_interval")]
    pub interval_secs: u32,
    /// Evaluated where every region's data meets (the global zone) instead of in each region.
    #[serde(default)]
    pub global: bool,
}

/// An alert rule: each output series of `expr` is an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// The id.
    pub id: RuleId,
    /// The alert's name (label `alertname` of its events).
    pub alert: String,
    /// The PromQL expression.
    pub expr: String,
    /// How long an output series must be present before it fires (pending until then).
    #[serde(default)]
    pub for_secs: u32,
    /// How long a firing alert keeps firing after its series is gone.
    #[serde(default)]
    pub keep_firing_for_secs: u32,
    /// Labels added to every alert.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations, templates over the alert's labels and value (`{{ $labels.instance }}`,
    /// `{{ $value }}`), as in Prometheus.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The priority of its events.
    #[serde(default)]
    pub priority: Priority,
    /// Evaluation interval, seconds.
    #[serde(default = "default_interval")]
    pub interval_secs: u32,
    /// Evaluated where every region's data meets (the global zone) instead of in each region.
    #[serde(default)]
    pub global: bool,
}

/// One tenant's rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantRules {
    /// Recording rules.
    #[serde(default)]
    pub recording: Vec<RecordingRule>,
    /// Alert rules.
    #[serde(default)]
    pub alerting: Vec<AlertRule>,
}

/// Every tenant's rules, as the configuration center serves them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesDocument {
    /// The configuration version this document was made from.
    #[serde(default)]
    pub version: u64,
    /// Rules by tenant.
    #[serde(default)]
    pub tenants: BTreeMap<TenantId, TenantRules>,
}
