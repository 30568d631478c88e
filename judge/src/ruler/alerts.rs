//! The alerts of an alert rule, as Prometheus keeps them: each output series of the rule's query
//! is an alert keyed by its label set. It is pending from the evaluation it appears at, firing
//! once it has been present for `for_secs` (at once when 0), resolved once absent for
//! `keep_firing_for_secs`; a pending alert that disappears is dropped without a word.
//!
//! Deterministic: time is the evaluation time given to [`step`], so tests drive it directly.

use argus_core::event::EventStatus;
use argus_core::rules::AlertRule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AlertState {
    /// Present, for less than `for_secs` so far.
    Pending,
    /// A PROBLEM was sent and no OK since.
    Firing,
    /// Resolved (or never fired); kept only for its occurrence count.
    Inactive,
}

/// One alert of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alert {
    /// Its labels (output labels, the rule's labels, `alertname`).
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) state: AlertState,
    /// The evaluation time it became pending at (Unix seconds).
    pub(crate) active_at: i64,
    /// The evaluation time it fired at (0: not firing).
    #[serde(default)]
    pub(crate) fired_at: i64,
    /// Since when a firing alert's series is absent (0: present).
    #[serde(default)]
    pub(crate) absent_since: i64,
    /// When it was last resolved (Inactive alerts are forgotten a while after).
    #[serde(default)]
    pub(crate) resolved_at: i64,
    /// Events sent for its id so far: the next one is `occurrence + 1`. Kept across resolutions
    /// so that the next PROBLEM of the same id is not taken for a repeat downstream.
    pub(crate) occurrence: u64,
    /// The latest value of its series.
    pub(crate) value: f64,
    /// The rule's annotations rendered at the latest evaluation it was present at.
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

/// An output series of the rule at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
    pub(crate) annotations: BTreeMap<String, String>,
}

/// Advances `alerts` (by event id) to evaluation time `t`, given the series present then
/// (`seen`, by event id). Returns the ids whose state changed into firing (`Problem`) or
/// resolved (`Ok`), in id order; their [`Alert::occurrence`] is that event's. Inactive alerts
/// resolved more than `forget_after` seconds ago are forgotten (0: never).
pub(crate) fn step(
    rule: &AlertRule,
    t: i64,
    seen: BTreeMap<String, Seen>,
    alerts: &mut BTreeMap<String, Alert>,
    forget_after: i64,
) -> Vec<(String, EventStatus)> {
    let mut out = Vec::new();
    let hold = i64::from(rule.for_secs);
    let keep = i64::from(rule.keep_firing_for_secs);
    let absent: Vec<String> = alerts
        .keys()
        .filter(|id| !seen.contains_key(*id))
        .cloned()
        .collect();
    for (id, s) in seen {
        let a = alerts.entry(id.clone()).or_insert_with(|| Alert {
            labels: BTreeMap::new(),
            state: AlertState::Inactive,
            active_at: t,
            fired_at: 0,
            absent_since: 0,
            resolved_at: 0,
            occurrence: 0,
            value: 0.0,
            annotations: BTreeMap::new(),
        });
        if a.state == AlertState::Inactive {
            a.state = AlertState::Pending;
            a.active_at = t;
        }
        a.labels = s.labels;
        a.value = s.value;
        a.annotations = s.annotations;
        a.absent_since = 0;
        if a.state == AlertState::Pending && t - a.active_at >= hold {
            a.state = AlertState::Firing;
            a.fired_at = t;
            a.occurrence += 1;
            out.push((id, EventStatus::Problem));
        }
    }
    for id in absent {
        let a = alerts.get_mut(&id).expect("listed above");
        match a.state {
            AlertState::Pending if a.occurrence == 0 => {
                alerts.remove(&id);
            }
            AlertState::Pending => a.state = AlertState::Inactive,
            AlertState::Firing => {
                if a.absent_since == 0 {
                    a.absent_since = t;
                }
                if t - a.absent_since >= keep {
                    a.state = AlertState::Inactive;
                    a.resolved_at = t;
                    a.fired_at = 0;
                    a.absent_since = 0;
                    a.occurrence += 1;
                    out.push((id, EventStatus::Ok));
                }
            }
            AlertState::Inactive => {
                if forget_after > 0 && t - a.resolved_at > forget_after {
                    alerts.remove(&id);
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(for_secs: u32, keep: u32) -> AlertRule {
        AlertRule {
            id: 1,
            alert: "Hot".into(),
            expr: "x > 1".into(),
            for_secs,
            keep_firing_for_secs: keep,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            priority: Default::default(),
            interval_secs: 10,
            global: false,
        }
    }

    fn seen(ids: &[(&str, f64)]) -> BTreeMap<String, Seen> {
        ids.iter()
            .map(|(id, v)| {
                (
                    id.to_string(),
                    Seen {
                        labels: BTreeMap::from([("alertname".into(), "Hot".into())]),
                        value: *v,
                        annotations: BTreeMap::new(),
                    },
                )
            })
            .collect()
    }

    fn st(alerts: &BTreeMap<String, Alert>, id: &str) -> Option<AlertState> {
        alerts.get(id).map(|a| a.state)
    }

    #[test]
    fn pending_fires_after_for_and_resolves() {
        let r = rule(20, 0);
        let mut a = BTreeMap::new();
        assert!(step(&r, 100, seen(&[("a", 2.0)]), &mut a, 0).is_empty());
        assert_eq!(st(&a, "a"), Some(AlertState::Pending));
        assert!(step(&r, 110, seen(&[("a", 3.0)]), &mut a, 0).is_empty());
        let ev = step(&r, 120, seen(&[("a", 4.0)]), &mut a, 0);
        assert_eq!(ev, vec![("a".to_string(), EventStatus::Problem)]);
        assert_eq!(
            (a["a"].occurrence, a["a"].value, a["a"].fired_at),
            (1, 4.0, 120)
        );
        // Still present: nothing more.
        assert!(step(&r, 130, seen(&[("a", 5.0)]), &mut a, 0).is_empty());
        let ev = step(&r, 140, seen(&[]), &mut a, 0);
        assert_eq!(ev, vec![("a".to_string(), EventStatus::Ok)]);
        assert_eq!(a["a"].occurrence, 2);
        assert_eq!(a["a"].value, 5.0, "the OK carries the last value");
        // A new run continues the occurrence count.
        let ev = step(&r, 150, seen(&[("a", 2.0)]), &mut a, 0);
        assert!(ev.is_empty());
        assert_eq!(a["a"].active_at, 150, "the timer restarts");
        let ev = step(&r, 170, seen(&[("a", 2.0)]), &mut a, 0);
        assert_eq!(ev, vec![("a".to_string(), EventStatus::Problem)]);
        assert_eq!(a["a"].occurrence, 3);
    }

    #[test]
    fn pending_that_disappears_is_dropped_and_for_zero_fires_at_once() {
        let r = rule(20, 0);
        let mut a = BTreeMap::new();
        step(&r, 100, seen(&[("a", 2.0)]), &mut a, 0);
        assert!(step(&r, 110, seen(&[]), &mut a, 0).is_empty());
        assert!(a.is_empty(), "{a:?}");
        step(&r, 120, seen(&[("a", 2.0)]), &mut a, 0);
        assert!(step(&r, 130, seen(&[("a", 2.0)]), &mut a, 0).is_empty());
        assert_eq!(
            a["a"].active_at, 120,
            "the timer restarted at the reappearance"
        );

        let r = rule(0, 0);
        let mut a = BTreeMap::new();
        let ev = step(&r, 100, seen(&[("a", 2.0), ("b", 1.0)]), &mut a, 0);
        assert_eq!(
            ev,
            vec![
                ("a".to_string(), EventStatus::Problem),
                ("b".to_string(), EventStatus::Problem)
            ]
        );
    }

    #[test]
    fn keep_firing_for_holds_the_alert_and_inactive_ones_are_forgotten() {
        let r = rule(0, 30);
        let mut a = BTreeMap::new();
        step(&r, 100, seen(&[("a", 2.0)]), &mut a, 0);
        assert!(step(&r, 110, seen(&[]), &mut a, 100).is_empty());
        assert!(step(&r, 130, seen(&[]), &mut a, 100).is_empty());
        // Back before keep_firing_for ran out: the absence is forgotten.
        assert!(step(&r, 135, seen(&[("a", 2.0)]), &mut a, 100).is_empty());
        assert!(step(&r, 140, seen(&[]), &mut a, 100).is_empty());
        assert!(step(&r, 160, seen(&[]), &mut a, 100).is_empty());
        let ev = step(&r, 170, seen(&[]), &mut a, 100);
        assert_eq!(ev, vec![("a".to_string(), EventStatus::Ok)]);
        assert_eq!(st(&a, "a"), Some(AlertState::Inactive));
        step(&r, 270, seen(&[]), &mut a, 100);
        assert!(a.contains_key("a"), "not yet past forget_after");
        step(&r, 271, seen(&[]), &mut a, 100);
        assert!(a.is_empty());
    }
}
