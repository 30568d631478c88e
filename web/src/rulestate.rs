//! The state of the tenant's rules as web can know it, for the console, the API and the
//! Prometheus API's `rules` and `alerts`. The judges evaluate rules in the regions; an alert
//! rule's firing alerts reach the global zone as events, so they are read from alarm: its open
//! PROBLEM events that carry `rule`. How each rule evaluates (last evaluation, duration,
//! health, last error) is reported by every judge (`POST /internal/v1/rules/status`, see
//! [`RuleReports`]): web keeps each judge's latest report in memory, and a rule nobody
//! reported lately answers health `unknown`.

use crate::api::alarm::{call_json, enc};
use crate::rulefile::{format_duration, GLOBAL_SUFFIX};
use crate::server::State;
use argus_core::event::{Event, EventStatus};
use argus_core::rules::{RuleId, TenantRules};
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Open events asked of alarm, its largest page.
const MAX_OPEN: usize = 1000;

/// What Prometheus answers for a time never reached (a rule never evaluated).
const NEVER: &str = "0001-01-01T00:00:00Z";

/// A judge's report older than this (by web's clock at receipt) is left out: its judge
/// stopped, or lost web. Judges report at least every minute.
pub(crate) const REPORT_MAX_AGE_SECS: i64 = 300;

/// Most judges' reports kept; a new judge beyond it replaces the oldest report.
const MAX_REPORTS: usize = 1024;

/// Most rules taken from one report.
pub(crate) const MAX_REPORT_RULES: usize = 200_000;

/// The two kinds of rules, as judges report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RuleKind {
    Recording,
    Alert,
}

/// A rule's health in one region, from best to worst.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    Ok,
    #[default]
    Unknown,
    Error,
}

impl Health {
    /// As Prometheus names it.
    fn prometheus(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Unknown => "unknown",
            Health::Error => "err",
        }
    }
}

/// `POST /internal/v1/rules/status`: one judge's rules.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RulesReport {
    pub region: String,
    /// The judge's URL or a stable name: one report is kept per region and judge.
    pub judge: String,
    #[serde(default)]
    pub sent_at: i64,
    #[serde(default)]
    pub rules: Vec<ReportedRule>,
}

/// One rule in a judge's report.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ReportedRule {
    pub tenant: TenantId,
    pub kind: RuleKind,
    pub id: RuleId,
    /// Unix seconds of the last finished evaluation, by the judge's clock (web moves it to
    /// its own by the report's `sent_at`).
    #[serde(default)]
    pub last_evaluation: Option<i64>,
    #[serde(default)]
    pub evaluation_secs: f64,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub firing: u64,
    #[serde(default)]
    pub pending: u64,
}

/// A rule's status in one region (of one judge), as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RegionStatus {
    pub region: String,
    pub judge: String,
    pub health: Health,
    pub last_evaluation: Option<i64>,
    pub evaluation_secs: f64,
    pub last_error: Option<String>,
    pub firing: u64,
    pub pending: u64,
    /// When web received the report (Unix seconds).
    pub reported_at: i64,
}

/// A tenant's rules' statuses, by kind and id, each in every region reporting it.
pub(crate) type RuleStatuses = BTreeMap<(RuleKind, RuleId), Vec<RegionStatus>>;

struct Stored {
    received_at: i64,
    by_tenant: HashMap<TenantId, Vec<ReportedRule>>,
}

/// The latest report of each (region, judge), in memory.
#[derive(Default)]
pub(crate) struct RuleReports {
    reports: Mutex<HashMap<(String, String), Stored>>,
}

impl RuleReports {
    /// Keeps `report` as its judge's latest, received at `now`; answers how many rules it took.
    pub(crate) fn put(&self, report: RulesReport, now: i64) -> usize {
        let mut by_tenant: HashMap<TenantId, Vec<ReportedRule>> = HashMap::new();
        let n = report.rules.len().min(MAX_REPORT_RULES);
        for mut r in report.rules.into_iter().take(MAX_REPORT_RULES) {
            if !r.evaluation_secs.is_finite() || r.evaluation_secs < 0.0 {
                r.evaluation_secs = 0.0;
            }
            // The evaluation's age in the report, applied to web's clock (never in the
            // future), so that the judge's clock does not matter.
            if report.sent_at > 0 {
                r.last_evaluation = r.last_evaluation.map(|t| now - (report.sent_at - t).max(0));
            }
            by_tenant.entry(r.tenant.clone()).or_default().push(r);
        }
        let mut reports = self.reports.lock().expect("rule reports lock");
        reports.retain(|_, s| now - s.received_at <= REPORT_MAX_AGE_SECS);
        let key = (report.region, report.judge);
        if !reports.contains_key(&key) && reports.len() >= MAX_REPORTS {
            let oldest = reports
                .iter()
                .min_by_key(|(_, s)| s.received_at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                reports.remove(&k);
            }
        }
        reports.insert(
            key,
            Stored {
                received_at: now,
                by_tenant,
            },
        );
        n
    }

    /// The statuses of `tenant`'s rules in the reports received within
    /// [`REPORT_MAX_AGE_SECS`] of `now`; only rules the reports name for this tenant.
    pub(crate) fn of_tenant(&self, tenant: &TenantId, now: i64) -> RuleStatuses {
        let reports = self.reports.lock().expect("rule reports lock");
        let mut out = RuleStatuses::new();
        for ((region, judge), s) in reports.iter() {
            if now - s.received_at > REPORT_MAX_AGE_SECS {
                continue;
            }
            for r in s.by_tenant.get(tenant).into_iter().flatten() {
                if &r.tenant != tenant {
                    continue;
                }
                out.entry((r.kind, r.id)).or_default().push(RegionStatus {
                    region: region.clone(),
                    judge: judge.clone(),
                    health: r.health,
                    last_evaluation: r.last_evaluation,
                    evaluation_secs: r.evaluation_secs,
                    last_error: r.last_error.clone(),
                    firing: r.firing,
                    pending: r.pending,
                    reported_at: s.received_at,
                });
            }
        }
        for list in out.values_mut() {
            list.sort_by(|a, b| (&a.region, &a.judge).cmp(&(&b.region, &b.judge)));
        }
        out
    }
}

/// The worst health of a rule over the regions reporting it (`unknown` when none does).
pub(crate) fn worst(list: &[RegionStatus]) -> Health {
    list.iter()
        .map(|s| s.health)
        .max()
        .unwrap_or(Health::Unknown)
}

/// The Prometheus fields of a rule's evaluation over its regions: `health` (the worst),
/// `lastError` (each failing region's, named when several regions report), `evaluationTime`
/// (the longest) and `lastEvaluation` (the latest).
fn evaluation_fields(list: Option<&Vec<RegionStatus>>) -> Value {
    let list = list.map(Vec::as_slice).unwrap_or_default();
    let errors: Vec<String> = list
        .iter()
        .filter_map(|s| {
            let e = s.last_error.as_deref()?;
            Some(if list.len() > 1 {
                format!("{}: {e}", s.region)
            } else {
                e.to_string()
            })
        })
        .collect();
    let took = list.iter().map(|s| s.evaluation_secs).fold(0.0, f64::max);
    let last = list.iter().filter_map(|s| s.last_evaluation).max();
    json!({
        "health": worst(list).prometheus(),
        "lastError": errors.join("; "),
        "evaluationTime": took,
        "lastEvaluation": last.map_or(NEVER.to_string(), argus_core::time::rfc3339),
    })
}

/// Sets `rule`'s evaluation fields from its regions' statuses.
fn with_evaluation(mut rule: Value, list: Option<&Vec<RegionStatus>>) -> Value {
    if let (Value::Object(m), Value::Object(f)) = (&mut rule, evaluation_fields(list)) {
        m.extend(f);
    }
    rule
}

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
    status: &RuleStatuses,
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
                    with_evaluation(
                        json!({
                            "name": r.record,
                            "query": r.expr,
                            "labels": r.labels,
                            "type": "recording",
                        }),
                        status.get(&(RuleKind::Recording, r.id)),
                    ),
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
                    with_evaluation(
                        json!({
                            "state": if alerts.is_empty() { "inactive" } else { "firing" },
                            "name": a.alert,
                            "query": a.expr,
                            "duration": a.for_secs,
                            "keepFiringFor": a.keep_firing_for_secs,
                            "labels": a.labels,
                            "annotations": a.annotations,
                            "alerts": alerts,
                            "type": "alerting",
                        }),
                        status.get(&(RuleKind::Alert, a.id)),
                    ),
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

    fn reported(tenant: &str, id: RuleId, health: Health, error: Option<&str>) -> ReportedRule {
        ReportedRule {
            tenant: TenantId::new(tenant).unwrap(),
            kind: RuleKind::Alert,
            id,
            last_evaluation: Some(990),
            evaluation_secs: 0.5,
            health,
            last_error: error.map(str::to_string),
            firing: 0,
            pending: 0,
        }
    }

    #[test]
    fn reports_are_kept_per_judge_by_tenant_and_forgotten_when_old() {
        let r = RuleReports::default();
        let acme = TenantId::new("acme").unwrap();
        let report = |region: &str, judge: &str, rules| RulesReport {
            region: region.into(),
            judge: judge.into(),
            sent_at: 1000,
            rules,
        };
        r.put(
            report("r1", "j1", vec![reported("acme", 1, Health::Ok, None)]),
            1000,
        );
        r.put(
            report(
                "r2",
                "j2",
                vec![
                    reported("acme", 1, Health::Error, Some("boom")),
                    reported("other", 2, Health::Error, Some("theirs")),
                ],
            ),
            1100,
        );
        let s = r.of_tenant(&acme, 1100);
        assert_eq!(s.len(), 1, "{s:?}");
        let list = &s[&(RuleKind::Alert, 1)];
        assert_eq!(list.len(), 2);
        assert_eq!(worst(list), Health::Error);
        // Ages relative to `sent_at`, on web's clock.
        assert_eq!(list[0].last_evaluation, Some(990));
        assert_eq!(list[1].last_evaluation, Some(1090));
        let f = evaluation_fields(Some(list));
        assert_eq!(f["health"], "err");
        assert_eq!(f["lastError"], "r2: boom");
        // A newer report of the same judge replaces its older one.
        r.put(
            report("r2", "j2", vec![reported("acme", 1, Health::Ok, None)]),
            1200,
        );
        assert_eq!(
            worst(&r.of_tenant(&acme, 1200)[&(RuleKind::Alert, 1)]),
            Health::Ok
        );
        // j1's report is too old by then: only j2's counts.
        let s = r.of_tenant(&acme, 1000 + REPORT_MAX_AGE_SECS + 1);
        assert_eq!(s[&(RuleKind::Alert, 1)].len(), 1);
        assert_eq!(s[&(RuleKind::Alert, 1)][0].region, "r2");
        assert_eq!(worst(&[]), Health::Unknown);
        assert_eq!(evaluation_fields(None)["lastEvaluation"], NEVER);
    }

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
        let v = prometheus_rules(&rules, &firing, &RuleStatuses::new(), None);
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
        let only = prometheus_rules(
            &rules,
            &firing,
            &RuleStatuses::new(),
            Some(RuleType::Record),
        );
        assert_eq!(only["groups"].as_array().unwrap().len(), 1, "{only}");
        assert_eq!(only["groups"][0]["rules"].as_array().unwrap().len(), 1);
    }
}
