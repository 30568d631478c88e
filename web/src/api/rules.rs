//! Prometheus rule files: `POST /api/v1/rules/import` stores every rule of a file in one
//! transaction (or none, with the first bad rule's field and line), `GET /api/v1/rules/export`
//! writes the tenant's rules as a rule file (see [`crate::rulefile`]).

use crate::api::kinds::{present, Kind};
use crate::auth::{Auth, Role};
use crate::model;
use crate::rulefile::{self, FileRule};
use crate::server::State;
use crate::store;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use serde_json::{json, Value};

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
