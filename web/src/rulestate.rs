//! The state of the tenant's rules as web can know it, for the console and the Prometheus API's
//! `rules` and `alerts`. The judges evaluate rules in the regions and report nothing to web; an
//! alert rule's firing alerts reach the global zone as events, so they are read from alarm: its
//! open PROBLEM events that carry `rule`. Whether a rule evaluates well is known only to its
//! judge (`GET /internal/v1/rules/status`), so rules answer health `unknown`.

use crate::api::alarm::{call_json, enc};
use crate::rulefile::{format_duration, GLOBAL_SUFFIX};
use crate::server::State;
use argus_core::event::{Event, EventStatus};
use argus_core::rules::{RuleId, TenantRules};
use argus_core::TenantId;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Open events asked of alarm, its largest page.
const MAX_OPEN: usize = 1000;

/// What Prometheus answers for a time never reached (a rule never evaluated).
const NEVER: &str = "0001-01-01T00:00:00Z";

/// An entry of alarm's event list (`GET /internal/v1/events`).
#[derive(Debug, Deserialize)]
struct AlarmEntry {
    event: Event,
    state: String,
    first_seen: i64,
}

/// A firing alert of an alert rule, as alarm holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FiringAlert {
    /// The rule's id.
    pub rule: RuleId,
    /// Its labels (`alertname` included).
    pub labels: BTreeMap<String, String>,
    /// Its rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// The value of its latest event.
    pub value: f64,
    /// Since when it fires (Unix seconds): the first PROBLEM event of its current run.
    pub active_at: i64,
    /// alarm's state: `problem`, `acknowledged` or `silenced`.
    pub state: String,
}

/// The tenant's firing rule alerts (by rule, then labels), and whether alarm had more open
/// events than one page holds (then only the most recently updated were read).
pub(crate) async fn firing(
    st: &State,
    tenant: &TenantId,
) -> Result<(Vec<FiringAlert>, bool), String> {
    let path = format!(
        "/internal/v1/events?tenant={}&status=problem&limit={MAX_OPEN}",
        enc(tenant.as_str())
    );
    let (status, v) = call_json(st, reqwest::Method::GET, &path, None)
        .await
        .map_err(|e| e.message)?;
    if !status.is_success() {
        return Err(format!(
            "alarm service: {} {}",
            status.as_u16(),
            v["error"].as_str().unwrap_or("")
        ));
    }
    let entries: Vec<AlarmEntry> = serde_json::from_value(v["events"].clone())
        .map_err(|e| format!("alarm service answered an unexpected event list: {e}"))?;
    let truncated = entries.len() >= MAX_OPEN;
    let mut out: Vec<FiringAlert> = entries
        .into_iter()
        // alarm answers the named tenant only; an event of another would still not be shown.
        .filter(|e| &e.event.tenant == tenant && e.event.status == EventStatus::Problem)
        .filter_map(|e| {
            let rule = e.event.rule?;
            Some(FiringAlert {
                rule: rule.id,
                labels: rule.labels,
                annotations: rule.annotations,
                value: e.event.value,
                active_at: e.first_seen,
                state: e.state,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.rule, &a.labels).cmp(&(b.rule, &b.labels)));
    Ok((out, truncated))
}

/// [`firing`] for the Prometheus API: the alerts and the warnings to answer with (alarm not
/// answering leaves no alert and says why).
pub(crate) async fn firing_or_warning(
    st: &State,
    tenant: &TenantId,
) -> (Vec<FiringAlert>, Vec<String>) {
    match firing(st, tenant).await {
        Ok((alerts, false)) => (alerts, Vec::new()),
        Ok((alerts, true)) => (
            alerts,
            vec![format!(
                "alarm holds more than {MAX_OPEN} open problems of this tenant: only the {MAX_OPEN} most recently updated were read"
            )],
        ),
        Err(e) => (Vec::new(), vec![format!("alerts unknown: {e}")]),
    }
}

/// `rules`' `type` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleType {
    Alert,
    Record,
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, how Prometheus writes an alert's value
/// (`9.75e+01`).
fn go_exp(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').expect("an exponent");
    let exp: i32 = exp.parse().expect("a decimal exponent");
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// An alert in Prometheus's shape.
fn alert_json(a: &FiringAlert) -> Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": "firing",
        "activeAt": argus_core::time::rfc3339(a.active_at),
        "value": go_exp(a.value),
    })
}

/// The `data` of `alerts`: `{"alerts": [...]}`.
pub(crate) fn prometheus_alerts(firing: &[FiringAlert]) -> Value {
    json!({"alerts": firing.iter().map(alert_json).collect::<Vec<_>>()})
}

/// The `data` of `rules`: one group per interval and globalness, named as the rule file export
/// names them (`argus-1m`, `argus-5m/global`), rules by id, `only` the given type. Groups
/// left without rules by the filter are left out.
pub(crate) fn prometheus_rules(
    rules: &TenantRules,
    firing: &[FiringAlert],
    only: Option<RuleType>,
) -> Value {
    let mut groups: BTreeMap<(bool, u32), Vec<(RuleId, Value)>> = BTreeMap::new();
    if only != Some(RuleType::Alert) {
        for r in &rules.recording {
            groups
                .entry((r.global, r.interval_secs))
                .or_default()
                .push((
                    r.id,
                    json!({
                        "name": r.record,
                        "query": r.expr,
                        "labels": r.labels,
                        "health": "unknown",
                        "lastError": "",
                        "evaluationTime": 0,
                        "lastEvaluation": NEVER,
                        "type": "recording",
                    }),
                ));
        }
    }
    if only != Some(RuleType::Record) {
        for a in &rules.alerting {
            let alerts: Vec<Value> = firing
                .iter()
                .filter(|f| f.rule == a.id)
                .map(alert_json)
                .collect();
            groups
                .entry((a.global, a.interval_secs))
                .or_default()
                .push((
                    a.id,
                    json!({
                        "state": if alerts.is_empty() { "inactive" } else { "firing" },
                        "name": a.alert,
                        "query": a.expr,
                        "duration": a.for_secs,
                        "keepFiringFor": a.keep_firing_for_secs,
                        "labels": a.labels,
                        "annotations": a.annotations,
                        "alerts": alerts,
                        "health": "unknown",
                        "lastError": "",
                        "evaluationTime": 0,
                        "lastEvaluation": NEVER,
                        "type": "alerting",
                    }),
                ));
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|((global, interval), mut items)| {
            items.sort_by_key(|(id, _)| *id);
            let suffix = if global { GLOBAL_SUFFIX } else { "" };
            json!({
                "name": format!("argus-{}{suffix}", format_duration(interval)),
                "file": "argus",
                "rules": items.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
                "interval": interval,
                "limit": 0,
                "evaluationTime": 0,
                "lastEvaluation": NEVER,
            })
        })
        .collect();
    json!({ "groups": groups })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::rules::{AlertRule, RecordingRule};

    #[test]
    fn values_as_go_writes_them() {
        assert_eq!(go_exp(1.0), "1e+00");
        assert_eq!(go_exp(97.5), "9.75e+01");
        assert_eq!(go_exp(0.00125), "1.25e-03");
        assert_eq!(go_exp(0.0), "0e+00");
        assert_eq!(go_exp(-3e120), "-3e+120");
        assert_eq!(go_exp(f64::NAN), "NaN");
        assert_eq!(go_exp(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn rules_grouped_by_interval_with_their_alerts() {
        let rules = TenantRules {
            recording: vec![RecordingRule {
                id: 5,
                record: "job:up:sum".into(),
                expr: "sum(up)".into(),
                labels: BTreeMap::new(),
                interval_secs: 60,
                global: false,
            }],
            alerting: vec![
                AlertRule {
                    id: 3,
                    alert: "Down".into(),
                    expr: "up == 0".into(),
                    for_secs: 300,
                    keep_firing_for_secs: 0,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    priority: Default::default(),
                    interval_secs: 60,
                    global: false,
                },
                AlertRule {
                    id: 9,
                    alert: "Quiet".into(),
                    expr: "vector(1) == 0".into(),
                    for_secs: 0,
                    keep_firing_for_secs: 0,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    priority: Default::default(),
                    interval_secs: 300,
                    global: true,
                },
            ],
        };
        let firing = vec![FiringAlert {
            rule: 3,
            labels: [("alertname".to_string(), "Down".to_string())].into(),
            annotations: BTreeMap::new(),
            value: 0.0,
            active_at: 1_700_000_000,
            state: "problem".into(),
        }];
        let v = prometheus_rules(&rules, &firing, None);
        let g = v["groups"].as_array().unwrap();
        assert_eq!(g.len(), 2, "{v}");
        assert_eq!(g[0]["name"], "argus-1m");
        assert_eq!(g[0]["interval"], 60);
        // By id within a group: the alert rule 3 before the recording rule 5.
        assert_eq!(g[0]["rules"][0]["name"], "Down");
        assert_eq!(g[0]["rules"][0]["state"], "firing");
        assert_eq!(g[0]["rules"][0]["duration"], 300);
        assert_eq!(
            g[0]["rules"][0]["alerts"][0]["activeAt"],
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(g[0]["rules"][1]["type"], "recording");
        assert_eq!(g[1]["name"], "argus-5m/global");
        assert_eq!(g[1]["rules"][0]["state"], "inactive");
        let only = prometheus_rules(&rules, &firing, Some(RuleType::Record));
        assert_eq!(only["groups"].as_array().unwrap().len(), 1, "{only}");
        assert_eq!(only["groups"][0]["rules"].as_array().unwrap().len(), 1);
    }
}
