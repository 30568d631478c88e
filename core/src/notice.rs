//! A notification's content: the notice (one message's events) and the template context that
//! alarm renders its messages from (documented in docs/CHANNELS.md) and web checks tenants'
//! templates against when they are saved, so that both see the same context.

use crate::event::{Event, EventStatus};
use crate::time::rfc3339;
use crate::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One message's content, stored with its delivery and rendered when it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `alert`, `storm`, `digest` or `escalation`.
    pub kind: String,
    /// The owner.
    pub tenant: TenantId,
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// For escalations: how many times escalated.
    #[serde(default)]
    pub escalation_level: u32,
    /// For recoveries: when their problem started (event id → Unix seconds), for
    /// Alertmanager's `startsAt`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub problem_started: std::collections::BTreeMap<String, i64>,
}

impl Notice {
    /// `PROBLEM`, `OK`, or `MIXED`.
    pub fn status(&self) -> &'static str {
        let problems = self
            .events
            .iter()
            .filter(|e| e.status == EventStatus::Problem)
            .count();
        match problems {
            0 => "OK",
            n if n == self.events.len() => "PROBLEM",
            _ => "MIXED",
        }
    }

    /// The most urgent priority, `P0`..`P5`.
    pub fn priority(&self) -> String {
        format!(
            "P{}",
            self.events
                .iter()
                .map(|e| e.priority.level())
                .min()
                .unwrap_or(5)
        )
    }

    /// The distinct hosts, in order of appearance.
    pub fn hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.events {
            if !out.contains(&e.series.endpoint) {
                out.push(e.series.endpoint.clone());
            }
        }
        out
    }

    /// A one-line title.
    pub fn title(&self) -> String {
        let first = match self.events.first() {
            Some(e) => e,
            None => return "no events".into(),
        };
        // An alert rule's alert may have no endpoint: its name alone.
        let what = if first.series.endpoint.is_empty() {
            first.series.metric.clone()
        } else {
            format!("{} on {}", first.series.metric, first.series.endpoint)
        };
        match self.kind.as_str() {
            "storm" => format!(
                "{}: {} events on {} hosts ({})",
                first.series.metric,
                self.events.len(),
                self.hosts().len(),
                self.hosts().join(", ")
            ),
            "digest" => format!("digest of {} events", self.events.len()),
            "escalation" => format!("ESCALATED (level {}): {what}", self.escalation_level),
            "reminder" => format!("REMINDER: still open, not acknowledged: {what}"),
            _ => what,
        }
    }

    /// The template context of a notice (documented in docs/CHANNELS.md); `console` is the
    /// console's base URL, empty when unknown.
    pub fn context(&self, contact: &str, ack_urls: &[Option<String>], console: &str) -> Value {
        let events: Vec<Value> = self
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                json!({
                    "id": e.id, "status": e.status.as_str(), "priority": format!("P{}", e.priority.level()),
                    "endpoint": e.series.endpoint, "metric": e.series.metric, "tags": e.series.tags.to_string(),
                    "condition": e.condition, "value": e.value, "time": rfc3339(e.timestamp), "note": e.note,
                    "region": e.region, "strategy_id": e.strategy_id, "occurrence": e.occurrence,
                    "ack_url": ack_urls.get(i).cloned().flatten(),
                    "console_url": event_link(console, e),
                    "rule_id": e.rule.as_ref().map(|r| r.id),
                    "alertname": e.rule.as_ref().map(|r| r.alert.clone()),
                    "labels": e.rule.as_ref().map(|r| r.labels.clone()).unwrap_or_default(),
                    "annotations": e.rule.as_ref().map(|r| r.annotations.clone()).unwrap_or_default(),
                })
            })
            .collect();
        json!({
            "kind": self.kind, "tenant": self.tenant, "title": self.title(), "status": self.status(),
            "priority": self.priority(), "count": self.events.len(), "hosts": self.hosts(),
            "escalation_level": self.escalation_level, "contact_name": contact, "events": events,
            "console_url": console,
        })
    }
}

/// The event's page in the console (`console`: its base URL; empty when unknown).
pub fn event_link(console: &str, e: &Event) -> String {
    if console.is_empty() {
        String::new()
    } else {
        format!("{console}/history?event={}", e.id)
    }
}
