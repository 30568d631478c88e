//! Events: the transitions of a strategy on a series, or of an alert rule's alert, from judge
//! to alarm to receivers.

use crate::rules::RuleId;
use crate::series::SeriesKey;
use crate::strategy::{Priority, StrategyId};
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The stable identity of an alert: tenant + strategy + series. Every PROBLEM and OK of the same
/// strategy on the same series carries the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl EventId {
    /// The id of `strategy` firing on `series` (the series names its tenant).
    pub fn of(strategy: StrategyId, series: &SeriesKey) -> Self {
        use xxhash_rust::xxh3::Xxh3;
        let mut h = Xxh3::new();
        h.update(series.tenant.as_str().as_bytes());
        h.update(&[0]);
        h.update(&strategy.to_le_bytes());
        h.update(&series.hash().to_le_bytes());
        EventId(format!("{}-{:016x}", series.tenant, h.digest()))
    }

    /// The id of alert rule `rule` of `tenant` firing for the label set `labels` (its
    /// `alertname` and the rule's labels included): the same for every evaluation that yields
    /// the same set, whichever judge evaluates it.
    pub fn of_rule(tenant: &TenantId, rule: RuleId, labels: &BTreeMap<String, String>) -> Self {
        use xxhash_rust::xxh3::Xxh3;
        let mut h = Xxh3::new();
        // A domain of its own: a rule id and a strategy id may be the same number.
        h.update(b"rule\0");
        h.update(tenant.as_str().as_bytes());
        h.update(&[0]);
        h.update(&rule.to_le_bytes());
        for (k, v) in labels {
            // Lengths first, so that no two different sets hash the same bytes.
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        EventId(format!("{}-{:016x}", tenant, h.digest()))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventStatus {
    /// The condition holds.
    Problem,
    /// The condition stopped holding (recovery).
    Ok,
}

impl EventStatus {
    /// `PROBLEM` or `OK`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Problem => "PROBLEM",
            EventStatus::Ok => "OK",
        }
    }
}

/// One transition (or repeat) of an alert, as the judge emits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// tenant + strategy + series.
    pub id: EventId,
    /// The owner; alarm checks it against the sender.
    pub tenant: TenantId,
    /// PROBLEM or OK.
    pub status: EventStatus,
    /// Counts every event sent for this id (1, 2, 3, ...): with `id` and `status` it makes the
    /// idempotency key, so duplicates are recognised all the way to the receiver.
    pub occurrence: u64,
    /// The strategy that fired.
    pub strategy_id: StrategyId,
    /// The template that holds the strategy, when it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<u64>,
    /// The series.
    pub series: SeriesKey,
    /// The strategy's priority.
    pub priority: Priority,
    /// The condition as written, e.g. `all(#3) > 90`.
    pub condition: String,
    /// The value that decided the transition.
    pub value: f64,
    /// The time of the point that decided it, Unix seconds.
    pub timestamp: i64,
    /// How many PROBLEM notices this alert has produced so far (1 for the first).
    #[serde(default)]
    pub alarm_count: u32,
    /// The strategy's note.
    #[serde(default)]
    pub note: String,
    /// The region of the judge that emitted it.
    #[serde(default)]
    pub region: String,
    /// For an alert of an alert rule (a PromQL query; `strategy_id` is then 0): the rule, the
    /// alert's labels and its rendered annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleAlert>,
}

/// What an event of an alert rule carries besides the common fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleAlert {
    /// The rule's id.
    pub id: RuleId,
    /// The alert's name (its `alertname` label).
    pub alert: String,
    /// The alert's labels: the query's output labels with the rule's labels and `alertname`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations rendered for this alert.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Event {
    /// The key receivers deduplicate on: `id:status:occurrence`.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}:{}", self.id, self.status.as_str(), self.occurrence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_stable_per_label_set_and_old_events_still_read() {
        let t = TenantId::new("acme").unwrap();
        let l = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let a = l(&[("alertname", "Hot"), ("instance", "h1")]);
        assert_eq!(EventId::of_rule(&t, 1, &a), EventId::of_rule(&t, 1, &a));
        assert!(EventId::of_rule(&t, 1, &a).0.starts_with("acme-"));
        assert_ne!(EventId::of_rule(&t, 1, &a), EventId::of_rule(&t, 2, &a));
        let other = TenantId::new("beta").unwrap();
        assert_ne!(EventId::of_rule(&t, 1, &a), EventId::of_rule(&other, 1, &a));
        // Values cannot run into names.
        assert_ne!(
            EventId::of_rule(&t, 1, &l(&[("a", "bc")])),
            EventId::of_rule(&t, 1, &l(&[("ab", "c")]))
        );
        // An event of an earlier version (no `rule`) reads, and one without a rule writes none.
        let old = r#"{"id":"acme-1","tenant":"acme","status":"PROBLEM","occurrence":1,
            "strategy_id":3,"series":{"tenant":"acme","endpoint":"h","metric":"m","tags":{}},
            "priority":1,"condition":"all(#1) > 1","value":2.0,"timestamp":10}"#;
        let e: Event = serde_json::from_str(old).unwrap();
        assert_eq!(e.rule, None);
        assert!(!serde_json::to_string(&e).unwrap().contains("\"rule\""));
    }
}
