//! The HTTP API: event ingest from judges, the console endpoints for web (always tenant-scoped),
//! acknowledgement links, `/health` and `/metrics`. Shapes are in docs/PROTOCOLS.md ("alarm").

use crate::app::App;
use crate::db::{opt_i64, opt_str};
use crate::AlarmError;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::event::Event;
use argus_core::http::{check_internal, ApiError};
use argus_core::internal_auth::InternalOnly;
use argus_core::time::now_secs;
use argus_core::TenantId;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig, app: &std::sync::Arc<App>) {
    let (a, b) = (app.clone(), app.clone());
    argus_core::http::common_routes(
        cfg,
        move || health(&a),
        move |_: &HttpRequest| argus_core::http::metrics_response(&b.registry),
    );
    cfg.route(
        "/internal/v1/events",
        web::post().to(ingest_counted).wrap(internal()),
    )
    .route(
        "/internal/v1/events",
        web::get().to(list_events).wrap(internal()),
    )
    .route(
        "/internal/v1/events/history",
        web::get().to(events_history).wrap(internal()),
    )
    .route(
        "/internal/v1/events/active",
        web::get().to(events_active).wrap(internal()),
    )
    .route(
        "/internal/v1/events/{id}/ack",
        web::post().to(ack_api).wrap(internal()),
    )
    .route(
        "/internal/v1/deliveries",
        web::get().to(list_deliveries).wrap(internal()),
    )
    .route(
        "/internal/v1/deliveries/{id}/retry",
        web::post().to(retry).wrap(internal()),
    )
    .route("/ack", web::get().to(ack_confirm))
    .route("/ack", web::post().to(ack_link));
}

/// The internal credential, checked before the request's body or query is read (the handlers
/// check it again; this makes a wrong credential a 401 whatever the body).
fn internal() -> InternalOnly {
    InternalOnly::from_request(|req| {
        req.app_data::<web::Data<App>>()
            .map(|a| a.cfg.internal_token.clone())
    })
}

fn unavailable(e: AlarmError) -> ApiError {
    tracing::warn!(error = %e, "database unavailable");
    ApiError::unavailable(e.to_string(), 5)
}

fn sql_unavailable(e: sqlx::Error) -> ApiError {
    unavailable(crate::db::db_err(e))
}

/// `/health` says which alarm instance holds the lease (the active one sends).
fn health(app: &App) -> Value {
    json!({"status": "ok", "role": if app.is_active() { "active" } else { "standby" }})
}

/// `{"events": [...]}`.
#[derive(Deserialize)]
struct EventsBody {
    events: Vec<Event>,
}

fn check_event(i: usize, e: &Event) -> Result<(), ApiError> {
    let f = |name: &str| format!("events[{i}].{name}");
    if e.tenant.is_unset() {
        return Err(ApiError::bad_field(f("tenant"), "tenant must be set"));
    }
    if e.series.tenant != e.tenant {
        return Err(ApiError::bad_field(
            f("series.tenant"),
            "the series belongs to another tenant than the event",
        ));
    }
    if e.id.0.is_empty() {
        return Err(ApiError::bad_field(f("id"), "id must not be empty"));
    }
    if e.occurrence == 0 {
        return Err(ApiError::bad_field(
            f("occurrence"),
            "occurrence counts from 1",
        ));
    }
    if !e.value.is_finite() && e.value.is_nan() {
        return Err(ApiError::bad_field(f("value"), "value must be a number"));
    }
    Ok(())
}

/// [`ingest`], its answer counted as events bytes sent to the judge's region
/// (`X-Argus-Region`) in `argus_cross_region_bytes_sent_total`.
async fn ingest_counted(
    req: HttpRequest,
    app: web::Data<App>,
    body: web::Json<EventsBody>,
) -> Result<HttpResponse, ApiError> {
    use argus_core::telemetry::{http_head_len, CrossKind, CrossRegion, GLOBAL_REGION};
    let resp = ingest(req.clone(), app.clone(), body).await?;
    let to = req
        .headers()
        .get(argus_core::telemetry::REGION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !to.is_empty() {
        let body = match actix_web::body::MessageBody::size(resp.body()) {
            actix_web::body::BodySize::Sized(n) => n,
            _ => 0,
        };
        let head = http_head_len(
            "HTTP/1.1 ".len() + resp.status().to_string().len(),
            resp.headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes())),
            // content-length and date, added after the handler.
            55,
        );
        CrossRegion::new(&app.registry, GLOBAL_REGION).sent(CrossKind::Events, to, head + body);
    }
    Ok(resp)
}

async fn ingest(
    req: HttpRequest,
    app: web::Data<App>,
    body: web::Json<EventsBody>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &app.cfg.internal_token)?;
    let events = body.into_inner().events;
    if events.len() > app.cfg.max_events_per_request {
        return Err(ApiError::bad_field(
            "events",
            format!(
                "at most {} events per request",
                app.cfg.max_events_per_request
            ),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        check_event(i, e)?;
    }
    let now = now_secs();
    let mut tx = app.db.pool.begin().await.map_err(sql_unavailable)?;
    let mut accepted = 0u64;
    for e in &events {
        let body = serde_json::to_string(e).map_err(|x| ApiError::internal(x.to_string()))?;
        accepted += sqlx::query(
            "INSERT INTO alarm_events (idem_key, tenant, event_id, status, occurrence, priority, body, received_at, endpoint, event_ts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idem_key) DO NOTHING",
        )
        .bind(e.idempotency_key())
        .bind(e.tenant.as_str())
        .bind(&e.id.0)
        .bind(e.status.as_str())
        .bind(e.occurrence as i64)
        .bind(i64::from(e.priority.level()))
        .bind(body)
        .bind(now)
        .bind(&e.series.endpoint)
        .bind(e.timestamp)
        .execute(&mut *tx)
        .await
        .map_err(sql_unavailable)?
        .rows_affected();
    }
    tx.commit().await.map_err(sql_unavailable)?;
    let duplicates = events.len() as u64 - accepted;
    app.metrics.events_stored.add(accepted);
    app.metrics.events_duplicate.add(duplicates);
    if accepted > 0 {
        app.wake_decide.notify_one();
    }
    Ok(HttpResponse::Ok().json(json!({"accepted": accepted, "duplicates": duplicates})))
}

/// `?tenant=T&status=&state=&limit=`.
#[derive(Deserialize)]
struct ListQuery {
    tenant: Option<String>,
    status: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
}

fn tenant_param(t: &Option<String>) -> Result<TenantId, ApiError> {
    let t = t
        .as_deref()
        .ok_or_else(|| ApiError::bad_field("tenant", "the tenant query parameter is required"))?;
    TenantId::new(t).map_err(|e| ApiError::bad_field("tenant", e))
}

/// `status=problem|ok` as stored (`PROBLEM`, `OK`); none when not given.
fn status_param(s: &Option<String>) -> Result<Option<&'static str>, ApiError> {
    match s.as_deref() {
        None => Ok(None),
        Some("problem") => Ok(Some("PROBLEM")),
        Some("ok") => Ok(Some("OK")),
        Some(s) => Err(ApiError::bad_field(
            "status",
            format!("status must be problem or ok, got {s:?}"),
        )),
    }
}

fn limit_param(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_field(
            "limit",
            format!("limit must be 1 to 1000, got {n}"),
        )),
    }
}

fn alert_json(r: &AnyRow) -> Value {
    let event: Value = serde_json::from_str(&r.get::<String, _>("body")).unwrap_or(Value::Null);
    let acknowledged = opt_str(r, "ack_by").map(|by| {
        json!({"by": by, "comment": opt_str(r, "ack_comment").unwrap_or_default(), "at": opt_i64(r, "ack_at")})
    });
    json!({
        "event": event,
        "state": r.get::<String, _>("state"),
        "first_seen": r.get::<i64, _>("first_seen"),
        "updated_at": r.get::<i64, _>("updated_at"),
        "acknowledged": acknowledged,
        "escalation_level": r.get::<i64, _>("escalation_level"),
    })
}

const ALERT_COLS: &str =
    "body, state, first_seen, updated_at, ack_by, ack_comment, ack_at, escalation_level, status";

async fn list_events(
    req: HttpRequest,
    app: web::Data<App>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &app.cfg.internal_token)?;
    let tenant = tenant_param(&q.tenant)?;
    let limit = limit_param(q.limit)?;
    let status = status_param(&q.status)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s @ ("problem" | "ok" | "acknowledged" | "silenced" | "inhibited")) => Some(s),
        Some(s) => {
            return Err(ApiError::bad_field(
                "state",
                format!(
                    "state must be problem, ok, acknowledged, silenced or inhibited, got {s:?}"
                ),
            ))
        }
    };
    let sql = format!(
        "SELECT {ALERT_COLS} FROM alarm_alerts WHERE tenant = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR state = $3)
         ORDER BY updated_at DESC, event_id LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(status.unwrap_or(""))
        .bind(state.unwrap_or(""))
        .bind(limit)
        .fetch_all(&app.db.pool)
        .await
        .map_err(sql_unavailable)?;
    Ok(HttpResponse::Ok().json(json!({"events": rows.iter().map(alert_json).collect::<Vec<_>>()})))
}

/// `?tenant=T&status=&priority=&endpoint=&event=&from=&to=&before=&limit=` (history), the
/// same without `status`, `event`, `from`, `to`, `before` for the active view.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    tenant: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    endpoint: Option<String>,
    event: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

/// `priority=1` or `P1`, or a comma-separated list: the levels, validated (0 to 5).
fn priorities_param(p: &Option<String>) -> Result<Vec<i64>, ApiError> {
    let Some(p) = p.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(vec![]);
    };
    p.split(',')
        .map(|x| {
            let x = x.trim();
            x.trim_start_matches(['P', 'p'])
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=5).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_field(
                        "priority",
                        format!("priorities are 0 to 5 (or P0 to P5), comma-separated; got {x:?}"),
                    )
                })
        })
        .collect()
}

/// `GET /internal/v1/events/history`: every event received for the tenant, newest first,
/// filtered by status, priorities, endpoint, event id (one alert's run of events) and event
/// time (`from` inclusive, `to` exclusive, Unix seconds), paged by `before` (the
/// `next_before` of the previous page).
async fn events_history(
    req: HttpRequest,
    app: web::Data<App>,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &app.cfg.internal_token)?;
    let tenant = tenant_param(&q.tenant)?;
    let limit = limit_param(q.limit)?;
    let status = status_param(&q.status)?.unwrap_or("");
    let prios = priorities_param(&q.priority)?;
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f > t {
            return Err(ApiError::bad_field("from", "from must not be after to"));
        }
    }
    // The levels are validated integers: written into the statement, no binding needed.
    let prio_sql = if prios.is_empty() {
        String::new()
    } else {
        let l: Vec<String> = prios.iter().map(i64::to_string).collect();
        format!(" AND priority IN ({})", l.join(","))
    };
    let sql = format!(
        "SELECT seq, body, received_at, outcome FROM alarm_events
         WHERE tenant = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR endpoint = $3)
           AND event_ts >= $4 AND event_ts < $5 AND seq < $6 AND ($8 = '' OR event_id = $8){prio_sql}
         ORDER BY seq DESC LIMIT $7"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(status)
        .bind(q.endpoint.as_deref().unwrap_or(""))
        .bind(q.from.unwrap_or(i64::MIN))
        .bind(q.to.unwrap_or(i64::MAX))
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(limit)
        .bind(q.event.as_deref().unwrap_or(""))
        .fetch_all(&app.db.pool)
        .await
        .map_err(sql_unavailable)?;
    let events: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "seq": r.get::<i64, _>("seq"),
                "event": serde_json::from_str::<Value>(&r.get::<String, _>("body")).unwrap_or(Value::Null),
                "received_at": r.get::<i64, _>("received_at"),
                "outcome": opt_str(r, "outcome"),
            })
        })
        .collect();
    // A full page may have more behind it.
    let next = (events.len() as i64 == limit)
        .then(|| events.last().and_then(|e| e["seq"].as_i64()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({"events": events, "next_before": next})))
}

/// How many open problems the active view looks through.
const ACTIVE_MAX: i64 = 10_000;

/// `GET /internal/v1/events/active`: the tenant's open problems (acknowledged, silenced and
/// inhibited ones included, with their state), most urgent first, then newest; filtered by
/// priorities and endpoint.
async fn events_active(
    req: HttpRequest,
    app: web::Data<App>,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &app.cfg.internal_token)?;
    let tenant = tenant_param(&q.tenant)?;
    let limit = limit_param(q.limit)?;
    for (f, set) in [
        ("status", q.status.is_some()),
        ("event", q.event.is_some()),
        ("from", q.from.is_some()),
        ("to", q.to.is_some()),
        ("before", q.before.is_some()),
    ] {
        if set {
            return Err(ApiError::bad_field(
                f,
                "the active view takes priority, endpoint and limit only",
            ));
        }
    }
    let prios = priorities_param(&q.priority)?;
    let sql = format!(
        "SELECT {ALERT_COLS} FROM alarm_alerts WHERE tenant = $1 AND status = 'PROBLEM'
         ORDER BY first_seen DESC, event_id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(ACTIVE_MAX)
        .fetch_all(&app.db.pool)
        .await
        .map_err(sql_unavailable)?;
    let mut alerts: Vec<Value> = rows
        .iter()
        .map(alert_json)
        .filter(|a| {
            let e = &a["event"];
            let p = e["priority"].as_i64().unwrap_or(5);
            (prios.is_empty() || prios.contains(&p))
                && q.endpoint.as_deref().is_none_or(|h| {
                    h.is_empty() || e.pointer("/series/endpoint").and_then(Value::as_str) == Some(h)
                })
        })
        .collect();
    // Stable: within a priority, the newest first as fetched.
    alerts.sort_by_key(|a| a["event"]["priority"].as_i64().unwrap_or(5));
    let total = alerts.len();
    alerts.truncate(limit as usize);
    Ok(HttpResponse::Ok().json(json!({"alerts": alerts, "total": total})))
}

/// `{"by": "...", "comment": "..."}`.
#[derive(Deserialize)]
struct AckBody {
    by: String,
    #[serde(default)]
    comment: String,
}

/// `?tenant=T`.
#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

/// Acknowledges the current problem of `id`; gives the alert object.
pub async fn acknowledge(
    app: &App,
    tenant: &TenantId,
    id: &str,
    by: &str,
    comment: &str,
) -> Result<Value, ApiError> {
    let db = &app.db.pool;
    let sql = format!("SELECT {ALERT_COLS} FROM alarm_alerts WHERE tenant = $1 AND event_id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(db)
        .await
        .map_err(sql_unavailable)?;
    let row =
        row.ok_or_else(|| ApiError::not_found(format!("no event {id} for tenant {tenant}")))?;
    if row.get::<String, _>("status") != "PROBLEM" {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            format!("event {id} is not a current problem"),
        ));
    }
    // The first acknowledgement wins; it also stops escalation.
    sqlx::query(
        "UPDATE alarm_alerts SET ack_by = $1, ack_comment = $2, ack_at = $3, escalate_at = NULL,
         state = CASE WHEN state = 'problem' THEN 'acknowledged' ELSE state END
         WHERE tenant = $4 AND event_id = $5 AND ack_by IS NULL AND status = 'PROBLEM'",
    )
    .bind(by)
    .bind(comment)
    .bind(now_secs())
    .bind(tenant.as_str())
    .bind(id)
    .execute(db)
    .await
    .map_err(sql_unavailable)?;
    let row = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id)
        .fetch_one(db)
        .await
        .map_err(sql_unavailable)?;
    Ok(alert_json(&row))
}

async fn ack_api(
    req: HttpRequest,
    app: web::Data<App>,
    id: web::Path<String>,
    q: web::Query<TenantQuery>,
    body: web::Json<AckBody>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &app.cfg.internal_token)?;
    let tenant = tenant_param(&q.tenant)?;
    if body.by.trim().is_empty() {
        return Err(ApiError::bad_field("by", "by must name who acknowledges"));
    }
    let v = acknowledge(&app, &tenant, &id, body.by.trim(), &body.comment).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// `?token=...`.
#[derive(Deserialize)]
struct LinkQuery {
    token: String,
}

fn html_page(status: actix_web::http::StatusCode, msg: &str, form: Option<&str>) -> HttpResponse {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let form = form.map_or(String::new(), |token| {
        format!(
            "<form method=\"post\" action=\"ack\"><input type=\"hidden\" name=\"token\" value=\"{}\"><button type=\"submit\">Acknowledge</button></form>",
            esc(token)
        )
    });
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(format!(
            "<!doctype html><html><body><h3>Argus</h3><p>{}</p>{form}</body></html>",
            esc(msg)
        ))
}

/// `GET /ack?token=`: a confirmation page only. Mail scanners and link previews fetch links;
/// acknowledging takes the page's POST.
async fn ack_confirm(app: web::Data<App>, q: web::Query<LinkQuery>) -> HttpResponse {
    match crate::ack::verify(&app.ack_secret, &q.token, now_secs()) {
        Err(e) => html_page(actix_web::http::StatusCode::FORBIDDEN, e, None),
        Ok((_, id)) => html_page(
            actix_web::http::StatusCode::OK,
            &format!("Acknowledge problem {id}?"),
            Some(&q.token),
        ),
    }
}

/// The `token` field of a form body (`application/x-www-form-urlencoded`).
fn form_token(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    let bytes = raw.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `POST /ack` (form field `token`): acknowledges the link's problem.
async fn ack_link(app: web::Data<App>, body: web::Bytes) -> HttpResponse {
    let Some(token) = form_token(&body) else {
        return html_page(
            actix_web::http::StatusCode::BAD_REQUEST,
            "no token in the form",
            None,
        );
    };
    match crate::ack::verify(&app.ack_secret, &token, now_secs()) {
        Err(e) => html_page(actix_web::http::StatusCode::FORBIDDEN, e, None),
        Ok((tenant, id)) => match acknowledge(
            &app,
            &tenant,
            &id.0,
            "link",
            "acknowledged from a notification link",
        )
        .await
        {
            Ok(_) => html_page(
                actix_web::http::StatusCode::OK,
                &format!("Acknowledged {id}."),
                None,
            ),
            Err(e) => html_page(e.status, &e.message, None),
        },
    }
}

fn delivery_json(r: &AnyRow, attempts: Vec<Value>) -> Value {
    let state: String = r.get("state");
    let next = (state == "pending").then(|| r.get::<i64, _>("next_attempt_ms") / 1000);
    json!({
        "id": r.get::<i64, _>("id"),
        "tenant": r.get::<String, _>("tenant"),
        "contact_id": r.get::<i64, _>("contact_id"),
        "contact_name": r.get::<String, _>("contact_name"),
        "channel": r.get::<String, _>("channel"),
        "destination": r.get::<String, _>("destination"),
        "kind": r.get::<String, _>("kind"),
        "subject": r.get::<String, _>("subject"),
        "event_keys": serde_json::from_str::<Value>(&r.get::<String, _>("event_keys")).unwrap_or(Value::Null),
        "idempotency_key": r.get::<String, _>("idem_key"),
        "state": state,
        "attempts": r.get::<i64, _>("attempts"),
        "last_error": opt_str(r, "last_error"),
        "created_at": r.get::<i64, _>("created_at"),
        "next_attempt_at": next,
        "delivered_at": opt_i64(r, "delivered_at"),
        "attempt_log": attempts,
    })
}

const DELIVERY_COLS: &str = "id, tenant, contact_id, contact_name, channel, destination, kind, subject, event_keys, idem_key, state, attempts, last_error, created_at, next_attempt_ms, delivered_at";

async fn attempt_log(app: &App, id: i64) -> Result<Vec<Value>, ApiError> {
    let rows = sqlx::query(
        "SELECT at, ok, status, error FROM alarm_attempts WHERE delivery_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&app.db.pool)
    .await
    .map_err(sql_unavailable)?;
    Ok(rows
        .iter()
        .map(|a| {
            json!({"at": a.get::<i64, _>("at"), "ok": a.get::<i64, _>("ok") != 0, "status": opt_i64(a, "status"), "error": opt_str(a, "error")})
        })
        .collect())
}

async fn list_deliveries(
    req: HttpRequest,
    app: web::Data<App>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &app.cfg.internal_token)?;
    let tenant = tenant_param(&q.tenant)?;
    let limit = limit_param(q.limit)?;
    let state = match q.state.as_deref() {
        None => "",
        Some(s @ ("pending" | "delivered" | "dead")) => s,
        Some(s) => {
            return Err(ApiError::bad_field(
                "state",
                format!("state must be pending, delivered or dead, got {s:?}"),
            ))
        }
    };
    let sql = format!("SELECT {DELIVERY_COLS} FROM alarm_deliveries WHERE tenant = $1 AND ($2 = '' OR state = $2) ORDER BY id DESC LIMIT $3");
    let rows = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(state)
        .bind(limit)
        .fetch_all(&app.db.pool)
        .await
        .map_err(sql_unavailable)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(delivery_json(r, attempt_log(&app, r.get("id")).await?));
    }
    Ok(HttpResponse::Ok().json(json!({"deliveries": out})))
}

async fn retry(
    req: HttpRequest,
    app: web::Data<App>,
    id: web::Path<i64>,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &app.cfg.internal_token)?;
    let tenant = tenant_param(&q.tenant)?;
    let id = id.into_inner();
    let sql = format!("SELECT {DELIVERY_COLS} FROM alarm_deliveries WHERE tenant = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&app.db.pool)
        .await
        .map_err(sql_unavailable)?;
    let row =
        row.ok_or_else(|| ApiError::not_found(format!("no delivery {id} for tenant {tenant}")))?;
    if row.get::<String, _>("state") != "dead" {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            format!("delivery {id} is not dead"),
        ));
    }
    sqlx::query("UPDATE alarm_deliveries SET state = 'pending', attempts = 0, next_attempt_ms = $1 WHERE id = $2 AND state = 'dead'")
        .bind(argus_core::time::now_millis())
        .bind(id)
        .execute(&app.db.pool)
        .await
        .map_err(sql_unavailable)?;
    app.wake_send.notify_one();
    let row = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .map_err(sql_unavailable)?;
    Ok(HttpResponse::Ok().json(delivery_json(&row, attempt_log(&app, id).await?)))
}
