//! Events and deliveries, proxied to the alarm service (see the alarm section of
//! docs/PROTOCOLS.md), always scoped to the caller's tenant.

use crate::auth::{Auth, Role};
use crate::server::State;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Calls alarm and relays its status and JSON body.
pub async fn call(
    st: &State,
    method: reqwest::Method,
    path_and_query: &str,
    body: Option<Value>,
) -> Result<HttpResponse, ApiError> {
    let (status, v) = call_json(st, method, path_and_query, body).await?;
    Ok(HttpResponse::build(status).json(v))
}

/// Calls alarm; answers its status and JSON body.
pub async fn call_json(
    st: &State,
    method: reqwest::Method,
    path_and_query: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), ApiError> {
    if st.cfg.alarm_url.is_empty() {
        return Err(ApiError::unavailable(
            "no alarm service is configured (alarm_url)",
            30,
        ));
    }
    let url = format!("{}{path_and_query}", st.cfg.alarm_url.trim_end_matches('/'));
    let mut req = st.client.request(method, &url);
    if !st.cfg.internal_token.is_empty() {
        req = req.bearer_auth(&st.cfg.internal_token);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::unavailable(format!("alarm service did not answer: {e}"), 5))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let v: Value = resp
        .json()
        .await
        .unwrap_or_else(|_| json!({"error": "alarm answered no JSON"}));
    Ok((status, v))
}

/// Filters of the event list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// problem | ok.
    pub status: Option<String>,
    /// problem | ok | acknowledged | silenced.
    pub state: Option<String>,
    /// At most this many.
    pub limit: Option<u32>,
}

/// The alarm query string for the caller's tenant.
pub fn event_query(tenant: &str, p: &EventParams) -> String {
    let mut q = format!("tenant={}", enc(tenant));
    if let Some(s) = &p.status {
        q.push_str(&format!("&status={}", enc(s)));
    }
    if let Some(s) = &p.state {
        q.push_str(&format!("&state={}", enc(s)));
    }
    if let Some(l) = p.limit {
        q.push_str(&format!("&limit={l}"));
    }
    q
}

/// `GET /api/v1/events`: current problems and history.
pub async fn events(
    auth: Auth,
    q: web::Query<EventParams>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let path = format!(
        "/internal/v1/events?{}",
        event_query(auth.tenant.as_str(), &q)
    );
    call(&st, reqwest::Method::GET, &path, None).await
}

/// `GET /api/v1/events/history` and `/api/v1/events/active` parameters (checked by alarm).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// problem | ok (history only).
    pub status: Option<String>,
    /// Levels, `1` or `P1`, comma-separated.
    pub priority: Option<String>,
    /// One host.
    pub endpoint: Option<String>,
    /// One event id: an alert's events (history only).
    pub event: Option<String>,
    /// Event time from (Unix seconds, inclusive; history only).
    pub from: Option<i64>,
    /// Event time to (exclusive; history only).
    pub to: Option<i64>,
    /// The previous page's `next_before` (history only).
    pub before: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<i64>,
}

fn history_query(tenant: &str, p: &HistoryParams) -> String {
    let mut q = format!("tenant={}", enc(tenant));
    for (k, v) in [
        ("status", p.status.clone()),
        ("priority", p.priority.clone()),
        ("endpoint", p.endpoint.clone()),
        ("event", p.event.clone()),
        ("from", p.from.map(|x| x.to_string())),
        ("to", p.to.map(|x| x.to_string())),
        ("before", p.before.map(|x| x.to_string())),
        ("limit", p.limit.map(|x| x.to_string())),
    ] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", enc(&v)));
        }
    }
    q
}

/// `GET /api/v1/events/history`: the caller's tenant's events, newest first, filtered and
/// paged (docs/API.md).
pub async fn history(
    auth: Auth,
    q: web::Query<HistoryParams>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    events_view(&st, "history", &auth, &q).await
}

/// `GET /api/v1/events/active`: the caller's tenant's open problems, most urgent first.
pub async fn active(
    auth: Auth,
    q: web::Query<HistoryParams>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    events_view(&st, "active", &auth, &q).await
}

/// Relays an events view of alarm for the caller's tenant.
async fn events_view(
    st: &State,
    view: &str,
    auth: &Auth,
    q: &HistoryParams,
) -> Result<HttpResponse, ApiError> {
    let path = format!(
        "/internal/v1/events/{view}?{}",
        history_query(auth.tenant.as_str(), q)
    );
    call(st, reqwest::Method::GET, &path, None).await
}

/// `POST /api/v1/events/{id}/ack` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AckIn {
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/v1/events/{id}/ack` (editor): acknowledges as the caller.
pub async fn ack(
    auth: Auth,
    id: web::Path<String>,
    body: Option<web::Json<AckIn>>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    let comment = body.map(|b| b.into_inner().comment).unwrap_or_default();
    let path = format!(
        "/internal/v1/events/{}/ack?tenant={}",
        enc(&id),
        enc(auth.tenant.as_str())
    );
    call(
        &st,
        reqwest::Method::POST,
        &path,
        Some(json!({"by": auth.who, "comment": comment})),
    )
    .await
}

/// Filters of the delivery list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// pending | delivered | dead.
    pub state: Option<String>,
    /// At most this many.
    pub limit: Option<u32>,
}

/// `GET /api/v1/deliveries`.
pub async fn deliveries(
    auth: Auth,
    q: web::Query<DeliveryParams>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let mut path = format!(
        "/internal/v1/deliveries?tenant={}",
        enc(auth.tenant.as_str())
    );
    if let Some(s) = &q.state {
        path.push_str(&format!("&state={}", enc(s)));
    }
    if let Some(l) = q.limit {
        path.push_str(&format!("&limit={l}"));
    }
    call(&st, reqwest::Method::GET, &path, None).await
}

/// `POST /api/v1/deliveries/{id}/retry` (editor): re-queues a dead delivery.
pub async fn retry(
    auth: Auth,
    id: web::Path<i64>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    let path = format!(
        "/internal/v1/deliveries/{}/retry?tenant={}",
        *id,
        enc(auth.tenant.as_str())
    );
    call(&st, reqwest::Method::POST, &path, None).await
}
