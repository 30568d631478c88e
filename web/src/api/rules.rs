//! Rules beside their CRUD: `POST /api/v1/rules/import` stores every rule of a Prometheus rule
//! file in one transaction (or none, with the first bad rule's field and line),
//! `GET /api/v1/rules/export` writes the tenant's rules as a rule file (see [`crate::rulefile`]),
//! `POST /api/v1/rules/validate` checks a rule as its create would (the console's live
//! validation), and `POST /api/v1/rules/preview` runs a rule's expression now and shows what it
//! would record or which alerts it would fire. `GET /api/v1/rules/status` answers how each
//! rule evaluates in each region, as the judges report it.

use crate::api::kinds::{parse, present, Kind};
use crate::auth::{Auth, Role};
use crate::model;
use crate::rulefile::{self, FileRule};
use crate::rules::{check_alert, check_recording, AlertRuleIn, RecordingRuleIn};
use crate::server::State;
use crate::store;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use argus_promql::json::format_value;
use argus_promql::template::Template;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The largest rule file taken.
pub(crate) const MAX_FILE_BYTES: usize = 4 << 20;

/// `POST /api/v1/rules/import` (editor): the body is a Prometheus rule file (YAML). Answers 201
/// with the created `recording_rules` and `alert_rules`.
pub async fn import(
    auth: Auth,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_field("file", format!("not UTF-8 text: {e}")))?;
    let rules = rulefile::parse(text)?;
    let docs: Vec<(&str, Value)> = rules
        .iter()
        .map(|r| match r {
            FileRule::Recording(r) => (
                Kind::RecordingRule.path(),
                serde_json::to_value(r).expect("json"),
            ),
            FileRule::Alert(a) => (
                Kind::AlertRule.path(),
                serde_json::to_value(a).expect("json"),
            ),
        })
        .collect();
    let t = auth.tenant.as_str();
    let ids = store::insert_many(&st.db, t, &docs).await?;
    let (mut recording, mut alerting) = (Vec::new(), Vec::new());
    for ((kind, _), id) in docs.iter().zip(&ids) {
        let Some(o) = store::get(&st.db, t, kind, *id).await? else {
            continue;
        };
        if *kind == Kind::RecordingRule.path() {
            recording.push(present(Kind::RecordingRule, &o, 0));
        } else {
            alerting.push(present(Kind::AlertRule, &o, 0));
        }
    }
    tracing::info!(tenant = t, who = %auth.who, rules = ids.len(), "rule file imported");
    Ok(
        HttpResponse::Created()
            .json(json!({"recording_rules": recording, "alert_rules": alerting})),
    )
}

/// `GET /api/v1/rules/export`: the tenant's rules as a Prometheus rule file.
pub async fn export(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let rules = model::tenant_rules(&st.db, &auth.tenant).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(rulefile::export(auth.tenant.as_str(), &rules)))
}

/// `GET /api/v1/rules/status` (any role): each of the tenant's rules with its evaluation in
/// every region whose judge reported it lately (a regional rule is evaluated once per region;
/// a global one by the global judges): `health` the worst of them (`unknown` when none did).
pub async fn status(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    use crate::rulestate::{worst, RuleKind};
    let rules = model::tenant_rules(&st.db, &auth.tenant).await?;
    let statuses = st
        .rule_reports
        .of_tenant(&auth.tenant, argus_core::time::now_secs());
    let entry = |kind: RuleKind, id, name: &str, global: bool, interval: u32| {
        let regions = statuses.get(&(kind, id)).cloned().unwrap_or_default();
        json!({
            "kind": kind, "id": id, "name": name, "global": global, "interval_secs": interval,
            "health": worst(&regions), "regions": regions,
        })
    };
    let mut out: Vec<Value> = rules
        .recording
        .iter()
        .map(|r| {
            entry(
                RuleKind::Recording,
                r.id,
                &r.record,
                r.global,
                r.interval_secs,
            )
        })
        .collect();
    out.extend(
        rules
            .alerting
            .iter()
            .map(|a| entry(RuleKind::Alert, a.id, &a.alert, a.global, a.interval_secs)),
    );
    Ok(HttpResponse::Ok().json(json!({ "rules": out })))
}

/// A rule as its create takes it, parsed and checked.
pub(crate) enum Checked {
    Recording(RecordingRuleIn),
    Alert(AlertRuleIn),
}

impl Checked {
    fn expr(&self) -> &str {
        match self {
            Checked::Recording(r) => &r.expr,
            Checked::Alert(a) => &a.expr,
        }
    }
}

/// Parses and checks `input` as a rule of `kind` (`recording_rules` or `alert_rules`): what
/// their create and update do, and what validate and preview do, so that all answer alike.
pub(crate) fn checked(kind: Kind, input: Value) -> Result<Checked, ApiError> {
    let bad = |e: crate::rules::Invalid| ApiError::bad_field(e.field, e.reason);
    match kind {
        Kind::RecordingRule => {
            let r: RecordingRuleIn = parse(input)?;
            check_recording(&r).map_err(bad)?;
            Ok(Checked::Recording(r))
        }
        Kind::AlertRule => {
            let a: AlertRuleIn = parse(input)?;
            check_alert(&a).map_err(bad)?;
            Ok(Checked::Alert(a))
        }
        other => Err(ApiError::internal(format!("{} is no rule", other.noun()))),
    }
}

/// `?kind=` of validate and preview.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindParam {
    /// `recording_rules` or `alert_rules`.
    kind: String,
}

impl KindParam {
    fn kind(&self) -> Result<Kind, ApiError> {
        match Kind::from_path(&self.kind) {
            Some(k @ (Kind::RecordingRule | Kind::AlertRule)) => Ok(k),
            _ => Err(ApiError::bad_field(
                "kind",
                format!(
                    "must be recording_rules or alert_rules, got {:?}",
                    self.kind
                ),
            )),
        }
    }
}

/// The rule body without the fields an object carries but a create does not take, so that an
/// object read from the API validates as it is.
fn body_of(v: Value) -> Value {
    let mut v = v;
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
        m.remove("updated_at");
    }
    v
}

/// Where a refusal points, 1-based.
#[derive(Debug, Serialize)]
pub(crate) struct Position {
    line: usize,
    column: usize,
}

/// The answer of validate.
#[derive(Debug, Serialize)]
pub(crate) struct Validation {
    ok: bool,
    /// The field refused (`expr`, `annotations.summary`, ...).
    field: Option<String>,
    /// Why, as a create would say it.
    error: Option<String>,
    /// Where in the field's text, for a PromQL or template error.
    position: Option<Position>,
}

/// `POST /api/v1/rules/validate?kind=recording_rules|alert_rules` (any role; stores nothing):
/// the body checked as a create of that kind checks it. 200 `{"ok": true, ...}`, or
/// `{"ok": false, "field", "error", "position": {"line", "column"} or null}` with the error a
/// create would answer.
pub async fn validate(
    auth: Auth,
    q: web::Query<KindParam>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let _ = auth;
    let kind = q.kind()?;
    let v = match checked(kind, body_of(body.into_inner())) {
        Ok(_) => Validation {
            ok: true,
            field: None,
            error: None,
            position: None,
        },
        Err(e) if e.status == StatusCode::BAD_REQUEST => Validation {
            ok: false,
            position: crate::rules::position(&e.message)
                .map(|(line, column)| Position { line, column }),
            field: e.field,
            error: Some(e.message),
        },
        Err(e) => return Err(e),
    };
    Ok(HttpResponse::Ok().json(v))
}

/// A series a recording rule would record.
#[derive(Debug, Serialize)]
struct RecordedSample {
    /// Its labels, `__name__` (the rule's `record`) included.
    labels: BTreeMap<String, String>,
    /// Prometheus's text of the value.
    value: String,
}

/// An alert an alert rule would have.
#[derive(Debug, Serialize)]
struct PreviewAlert {
    /// Its labels: the query's, the rule's (rendered) and `alertname`.
    labels: BTreeMap<String, String>,
    /// The rule's annotations rendered for it.
    annotations: BTreeMap<String, String>,
    /// Prometheus's text of the value.
    value: String,
}

/// The answer of preview.
#[derive(Debug, Serialize)]
struct Preview {
    kind: &'static str,
    /// The evaluation time, Unix seconds.
    time: f64,
    /// What a recording rule would record (recording rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<Vec<RecordedSample>>,
    /// Samples that are not finite numbers, which a recording rule does not store.
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<usize>,
    /// The alerts (alert rules), and whether they would fire now (`firing`) or first wait
    /// `for_secs` (`pending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<Vec<PreviewAlert>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    /// Regions that did not answer.
    warnings: Vec<String>,
}

/// Two output series with the same labels once the rule's labels are applied: the judges
/// refuse the evaluation so, as Prometheus does.
fn duplicate(labels: &BTreeMap<String, String>) -> ApiError {
    ApiError {
        field: Some("expr".into()),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the result has several series with the labels {labels:?} once the rule's labels are applied"),
        )
    }
}

/// `POST /api/v1/rules/preview?kind=recording_rules|alert_rules` (any role: it reads, as a
/// query does): the body checked as a create checks it (400 naming the field), then its
/// expression evaluated now through the Prometheus API's instant query path over every
/// region, and what the rule would make of the result: the series a recording rule would
/// record, or the alerts an alert rule would have with their labels and rendered annotations.
pub async fn preview(
    auth: Auth,
    q: web::Query<KindParam>,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let kind = q.kind()?;
    let rule = checked(kind, body_of(body.into_inner()))?;
    let (t_ms, samples, warnings) =
        crate::prometheus::rule_samples(&st, &auth.tenant, rule.expr()).await?;
    let time = t_ms as f64 / 1000.0;
    let out = match &rule {
        Checked::Recording(r) => {
            let mut seen = BTreeSet::new();
            let mut recorded = Vec::new();
            let mut skipped = 0;
            for (labels, value) in &samples {
                let mut l = argus_promql::labels::with_rule_labels(labels, &r.labels);
                if !seen.insert(l.clone()) {
                    return Err(duplicate(&l));
                }
                if !value.is_finite() {
                    skipped += 1;
                    continue;
                }
                l.insert("__name__".into(), r.record.clone());
                recorded.push(RecordedSample {
                    labels: l,
                    value: format_value(*value),
                });
            }
            recorded.sort_by(|a, b| a.labels.cmp(&b.labels));
            Preview {
                kind: Kind::RecordingRule.path(),
                time,
                samples: Some(recorded),
                skipped: Some(skipped),
                alerts: None,
                state: None,
                warnings,
            }
        }
        Checked::Alert(a) => {
            // Checked above: every template parses.
            let compile =
                |m: &BTreeMap<String, String>| -> Result<Vec<(String, Template)>, ApiError> {
                    m.iter()
                        .map(|(k, v)| {
                            Template::parse(v)
                                .map(|t| (k.clone(), t))
                                .map_err(|e| ApiError::internal(format!("template {k}: {e}")))
                        })
                        .collect()
                };
            let (label_tpls, annotation_tpls) = (compile(&a.labels)?, compile(&a.annotations)?);
            let mut seen = BTreeSet::new();
            let mut alerts = Vec::new();
            for (out, value) in &samples {
                // Templates see the query's labels and value, as in the judges.
                let data: BTreeMap<String, String> = out.pairs().iter().cloned().collect();
                let render = |tpls: &[(String, Template)]| -> BTreeMap<String, String> {
                    tpls.iter()
                        .map(|(k, t)| (k.clone(), t.render(&data, *value)))
                        .collect()
                };
                let mut labels = argus_promql::labels::with_rule_labels(out, &render(&label_tpls));
                labels.insert("alertname".into(), a.alert.clone());
                if !seen.insert(labels.clone()) {
                    return Err(duplicate(&labels));
                }
                alerts.push(PreviewAlert {
                    annotations: render(&annotation_tpls),
                    labels,
                    value: format_value(*value),
                });
            }
            alerts.sort_by(|x, y| x.labels.cmp(&y.labels));
            Preview {
                kind: Kind::AlertRule.path(),
                time,
                samples: None,
                skipped: None,
                alerts: Some(alerts),
                state: Some(if a.for_secs > 0 { "pending" } else { "firing" }),
                warnings,
            }
        }
    };
    Ok(HttpResponse::Ok().json(out))
}
