//! The configuration center: what transfers, judges and alarm pull (internal credential) and
//! what agents pull and report (agent token). Every answer carries an `ETag`; a matching
//! `If-None-Match` answers 304 without a body.

use crate::api::kinds::Kind;
use crate::auth::agent_tenant;
use crate::db::db_err;
use crate::model;
use crate::server::State;
use crate::store;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::agentconf::Heartbeat;
use argus_core::http::{check_internal, ApiError};
use argus_core::TenantId;
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;

fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn answer(
    req: &HttpRequest,
    etag: String,
    body: impl FnOnce() -> serde_json::Value,
) -> HttpResponse {
    if not_modified(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header(("ETag", etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header(("ETag", etag))
        .json(body())
}

async fn tenant_ids(st: &State) -> Result<Vec<TenantId>, ApiError> {
    store::tenants(&st.db)
        .await?
        .into_iter()
        .map(|t| TenantId::new(t.id).map_err(ApiError::internal))
        .collect()
}

/// `GET /internal/v1/config/transfer`: each tenant's agent token hashes.
pub async fn transfer(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let version = store::global_version(&st.db).await?;
    let etag = format!("\"{version}\"");
    if not_modified(&req, &etag) {
        return Ok(answer(&req, etag, || json!({})));
    }
    let mut tenants = Vec::new();
    for t in tenant_ids(&st).await? {
        let rows = sqlx::query(
            "SELECT token_sha256 FROM web_tokens WHERE tenant = $1 AND kind = 'agent' ORDER BY id",
        )
        .bind(t.as_str())
        .fetch_all(&st.db.pool)
        .await
        .map_err(db_err)?;
        let hashes: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("token_sha256").ok())
            .collect();
        tenants.push(json!({"tenant": t, "token_sha256": hashes}));
    }
    Ok(answer(
        &req,
        etag,
        || json!({"version": version, "tenants": tenants}),
    ))
}

/// `GET /internal/v1/config/strategies`: every tenant's `TenantStrategies`.
pub async fn strategies(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let version = store::global_version(&st.db).await?;
    let etag = format!("\"{version}\"");
    if not_modified(&req, &etag) {
        return Ok(answer(&req, etag, || json!({})));
    }
    let mut tenants = Vec::new();
    for t in tenant_ids(&st).await? {
        tenants.push(model::tenant_strategies(&st.db, &t).await?);
    }
    Ok(answer(
        &req,
        etag,
        || json!({"version": version, "tenants": tenants}),
    ))
}

/// `GET /internal/v1/config/notify`: every tenant's `TenantNotifyConfig`.
pub async fn notify(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let version = store::global_version(&st.db).await?;
    let etag = format!("\"{version}\"");
    if not_modified(&req, &etag) {
        return Ok(answer(&req, etag, || json!({})));
    }
    let mut tenants = Vec::new();
    for t in tenant_ids(&st).await? {
        tenants.push(model::tenant_notify(&st.db, &t).await?);
    }
    Ok(answer(
        &req,
        etag,
        || json!({"version": version, "tenants": tenants}),
    ))
}

/// `?host=H`.
#[derive(Deserialize)]
pub struct HostParam {
    /// The host (endpoint).
    pub host: String,
}

/// `GET /api/v1/agent/config?host=H` (agent token): the host's effective agent configuration.
pub async fn agent_config(
    req: HttpRequest,
    q: web::Query<HostParam>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let tenant = agent_tenant(&req, &st.db).await?;
    if let Err(e) = crate::api::kinds::check_ident(&q.host) {
        return Err(ApiError::bad_field("host", e));
    }
    let cfg = model::agent_config(&st.db, &tenant, &q.host).await?;
    let etag = format!("\"{}\"", cfg.version);
    Ok(answer(&req, etag, || {
        serde_json::to_value(&cfg).expect("json")
    }))
}

/// `POST /api/v1/agent/heartbeat` (agent token): records the host as alive, creating it on its
/// first heartbeat.
pub async fn heartbeat(
    req: HttpRequest,
    body: web::Json<Heartbeat>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let tenant = agent_tenant(&req, &st.db).await?;
    let hb = body.into_inner();
    if let Err(e) = crate::api::kinds::check_ident(&hb.host) {
        return Err(ApiError::bad_field("host", e));
    }
    let t = tenant.as_str();
    let mut hbv = serde_json::to_value(&hb).expect("json");
    hbv["received_at"] = json!(argus_core::time::now_secs());
    match store::by_name(&st.db, t, Kind::Host.path(), &hb.host).await? {
        Some(mut o) => {
            o.body["heartbeat"] = hbv;
            store::update(
                &st.db,
                t,
                Kind::Host.path(),
                o.id,
                Some(&hb.host),
                &o.body,
                false,
            )
            .await?;
        }
        None => {
            let body = json!({"name": hb.host, "note": "", "heartbeat": hbv});
            // Two heartbeats racing: the loser's unique-name conflict is harmless.
            if let Err(e) =
                store::insert(&st.db, t, Kind::Host.path(), Some(&hb.host), &body, true).await
            {
                if e.status != actix_web::http::StatusCode::CONFLICT {
                    return Err(e);
                }
            }
        }
    }
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}
