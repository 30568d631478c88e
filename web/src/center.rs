//! The configuration center: what transfers, judges and alarm pull (internal credential) and
//! what agents pull and report (agent token). Every answer carries an `ETag`; a matching
//! `If-None-Match` answers 304 without a body; a body is gzip-compressed when the caller accepts
//! it. Agents normally pull their configuration from their region's transfers, which pull every
//! tenant's agent configuration here ([`agents`]) and forward their agents' heartbeats in one
//! batch per interval ([`heartbeats`]): only that crosses regions, not one exchange per host.
//!
//! Answers to a node of another region (`X-Argus-Region`) are counted in
//! `argus_cross_region_bytes_sent_total{kind="config"}`.

use crate::api::kinds::Kind;
use crate::auth::agent_tenant;
use crate::db::db_err;
use crate::model;
use crate::server::State;
use crate::store;
use actix_web::body::MessageBody;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::agentconf::{
    AgentGroup, AgentsDocument, Heartbeat, HeartbeatBatch, HeartbeatBatchAnswer, TenantAgents,
};
use argus_core::http::{check_internal, ApiError};
use argus_core::telemetry::{http_head_len, CrossKind, REGION_HEADER};
use argus_core::TenantId;
use serde_json::json;
use sqlx::Row;

fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// The caller's region, when a node of a region says it (`X-Argus-Region`).
fn caller_region(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(REGION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|r| !r.is_empty())
}

/// Counts `resp` as `kind` bytes sent to the caller's region (when it is another region).
pub fn count_answer(st: &State, req: &HttpRequest, kind: CrossKind, resp: &HttpResponse) {
    let Some(to) = caller_region(req) else { return };
    let body = match resp.body().size() {
        actix_web::body::BodySize::Sized(n) => n,
        _ => 0,
    };
    let status_line = "HTTP/1.1 ".len() + resp.status().to_string().len();
    let head = http_head_len(
        status_line,
        resp.headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes())),
        // content-length and date, added by the server after the handler.
        55,
    );
    st.xr.sent(kind, to, head + body);
}

/// The JSON `body`, gzip-compressed when the caller accepts it and it is worth it.
fn json_body(req: &HttpRequest, body: &serde_json::Value) -> (Vec<u8>, bool) {
    let json = serde_json::to_vec(body).expect("json");
    let gzip = json.len() > 512
        && req
            .headers()
            .get("accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !gzip {
        return (json, false);
    }
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(&json);
    match enc.finish() {
        Ok(z) => (z, true),
        Err(_) => (json, false),
    }
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
    let (bytes, gzip) = json_body(req, &body());
    let mut r = HttpResponse::Ok();
    r.insert_header(("ETag", etag))
        .content_type("application/json");
    if gzip {
        r.insert_header(("Content-Encoding", "gzip"));
    }
    r.body(bytes)
}

/// [`answer`], counted as configuration sent to the caller's region.
fn config_answer(
    st: &State,
    req: &HttpRequest,
    etag: String,
    body: impl FnOnce() -> serde_json::Value,
) -> HttpResponse {
    let resp = answer(req, etag, body);
    count_answer(st, req, CrossKind::Config, &resp);
    resp
}

async fn tenant_ids(st: &State) -> Result<Vec<TenantId>, ApiError> {
    store::tenants(&st.db)
        .await?
        .into_iter()
        .map(|t| TenantId::new(t.id).map_err(ApiError::internal))
        .collect()
}

/// `GET /internal/v1/config/transfer`: each tenant's agent token hashes and the quota the
/// platform admin set for it.
pub async fn transfer(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let version = store::global_version(&st.db).await?;
    let etag = format!("\"{version}\"");
    if not_modified(&req, &etag) {
        return Ok(config_answer(&st, &req, etag, || json!({})));
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
        let mut doc = json!({"tenant": t, "token_sha256": hashes});
        if let Some(q) = crate::api::quotas::load(&st.db, t.as_str()).await? {
            doc["quota"] = serde_json::to_value(q).expect("json");
        }
        tenants.push(doc);
    }
    Ok(config_answer(
        &st,
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
        return Ok(config_answer(&st, &req, etag, || json!({})));
    }
    let mut tenants = Vec::new();
    for t in tenant_ids(&st).await? {
        tenants.push(model::tenant_strategies(&st.db, &t).await?);
    }
    Ok(config_answer(
        &st,
        &req,
        etag,
        || json!({"version": version, "tenants": tenants}),
    ))
}

/// `GET /internal/v1/config/rules`: every tenant's recording and alert rules, a
/// [`RulesDocument`](argus_core::rules::RulesDocument) (tenants without rules are left out).
pub async fn rules(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let version = store::global_version(&st.db).await?;
    let etag = format!("\"{version}\"");
    if not_modified(&req, &etag) {
        return Ok(config_answer(&st, &req, etag, || json!({})));
    }
    let mut doc = argus_core::rules::RulesDocument {
        version: version as u64,
        tenants: Default::default(),
    };
    for t in tenant_ids(&st).await? {
        let rules = model::tenant_rules(&st.db, &t).await?;
        if !rules.recording.is_empty() || !rules.alerting.is_empty() {
            doc.tenants.insert(t, rules);
        }
    }
    Ok(config_answer(&st, &req, etag, || {
        serde_json::to_value(&doc).expect("json")
    }))
}

/// `GET /internal/v1/config/notify`: every tenant's `TenantNotifyConfig`.
pub async fn notify(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let version = store::global_version(&st.db).await?;
    let etag = format!("\"{version}\"");
    if not_modified(&req, &etag) {
        return Ok(config_answer(&st, &req, etag, || json!({})));
    }
    let mut tenants = Vec::new();
    for t in tenant_ids(&st).await? {
        tenants.push(model::tenant_notify(&st.db, &t).await?);
    }
    Ok(config_answer(
        &st,
        &req,
        etag,
        || json!({"version": version, "tenants": tenants}),
    ))
}

/// `GET /api/v1/agent/config?host=H` (agent token): the host's effective agent configuration.
pub async fn agent_config(
    req: HttpRequest,
    q: web::Query<argus_core::agentconf::HostParam>,
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
    hb.check_tags()
        .map_err(|e| ApiError::bad_field(e.field, e.reason))?;
    record_heartbeat(&st, &tenant, &hb, argus_core::time::now_secs(), None).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}

/// Stores `hb` as the host's last heartbeat, received at `received_at`, creating the host on its
/// first heartbeat (which bumps the configuration version, as does a change of the IP address or
/// tags it reports, so that host groups by rule take it in at the next pull).
/// `region` is the region it came through (from a transfer's batch), kept so that queries about
/// the host go to that region only.
async fn record_heartbeat(
    st: &State,
    tenant: &TenantId,
    hb: &Heartbeat,
    received_at: i64,
    region: Option<&str>,
) -> Result<(), ApiError> {
    let t = tenant.as_str();
    let mut hbv = serde_json::to_value(hb).expect("json");
    hbv["received_at"] = json!(received_at);
    if let Some(r) = region.filter(|r| !r.is_empty()) {
        hbv["region"] = json!(r);
    }
    match store::by_name(&st.db, t, Kind::Host.path(), &hb.host).await? {
        Some(mut o) => {
            // A new IP address or new tags may move the host in or out of groups by rule:
            // then the configuration changes, and judges and transfers must pull it again.
            let facts = |v: Option<&serde_json::Value>| {
                let get = |k: &str| v.and_then(|h| h.get(k)).cloned();
                (
                    get("ip").filter(|x| x.as_str() != Some("")),
                    get("tags").filter(|x| x.as_object().is_some_and(|m| !m.is_empty())),
                )
            };
            let moved = facts(o.body.get("heartbeat")) != facts(Some(&hbv));
            o.body["heartbeat"] = hbv;
            store::update(
                &st.db,
                t,
                Kind::Host.path(),
                o.id,
                Some(&hb.host),
                &o.body,
                moved,
            )
            .await?;
        }
        None => {
            // Inserting bumps the version: the host's groups by rule take it at the next pull.
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
    Ok(())
}

/// Marks a known host as seen at `received_at` (its last heartbeat's facts stay); false when the
/// host or its heartbeat is unknown.
async fn record_alive(
    st: &State,
    tenant: &TenantId,
    host: &str,
    received_at: i64,
    region: &str,
) -> Result<bool, ApiError> {
    let t = tenant.as_str();
    let Some(mut o) = store::by_name(&st.db, t, Kind::Host.path(), host).await? else {
        return Ok(false);
    };
    let Some(hb) = o.body.get_mut("heartbeat").filter(|h| h.is_object()) else {
        return Ok(false);
    };
    let before = hb.get("received_at").and_then(|v| v.as_i64()).unwrap_or(0);
    if received_at <= before {
        return Ok(true);
    }
    hb["received_at"] = json!(received_at);
    if !region.is_empty() {
        hb["region"] = json!(region);
    }
    store::update(
        &st.db,
        t,
        Kind::Host.path(),
        o.id,
        Some(host),
        &o.body,
        false,
    )
    .await?;
    Ok(true)
}

/// `GET /internal/v1/config/agents` (internal credential): every tenant's agent configuration
/// (an [`AgentsDocument`]), which each transfer caches to answer its agents' config pulls.
pub async fn agents(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let version = store::global_version(&st.db).await?;
    let etag = format!("\"{version}\"");
    if not_modified(&req, &etag) {
        return Ok(config_answer(&st, &req, etag, || json!({})));
    }
    let mut doc = AgentsDocument {
        version,
        tenants: Vec::new(),
    };
    for t in tenant_ids(&st).await? {
        let groups: Vec<AgentGroup> = model::agent_groups(&st.db, &t)
            .await?
            .into_iter()
            .filter(|g| g.agent != Default::default())
            .collect();
        doc.tenants.push(TenantAgents { tenant: t, groups });
    }
    Ok(config_answer(&st, &req, etag, || {
        serde_json::to_value(&doc).expect("json")
    }))
}

/// Most bytes a heartbeat batch may take once decompressed.
const MAX_BATCH_BYTES: usize = 64 << 20;

/// A region's body: JSON, `Content-Encoding: zstd` or none, at most [`MAX_BATCH_BYTES`] once
/// decompressed.
fn decoded(req: &HttpRequest, body: &web::Bytes) -> Result<Vec<u8>, ApiError> {
    let zstd = req
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("zstd"));
    if !zstd {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let dec = zstd::stream::read::Decoder::new(&body[..])
        .map_err(|e| ApiError::bad_request(format!("body: not zstd: {e}")))?;
    use std::io::Read as _;
    dec.take(MAX_BATCH_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("body: not zstd: {e}")))?;
    if out.len() > MAX_BATCH_BYTES {
        return Err(ApiError::bad_request("body: too large once decompressed"));
    }
    Ok(out)
}

/// `POST /internal/v1/rules/status` (internal credential; JSON, `Content-Encoding: zstd` or
/// none): a judge's `RulesReport` (`crate::rulestate`), kept in memory as the
/// latest of its region and judge. Each rule's status is shown only to the rule's tenant.
pub async fn rules_status(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let json = decoded(&req, &body)?;
    let report: crate::rulestate::RulesReport = serde_json::from_slice(&json)
        .map_err(|e| ApiError::bad_request(format!("body: not a rules status report: {e}")))?;
    if report.region.is_empty() || report.judge.is_empty() {
        return Err(ApiError::bad_request(
            "body: `region` and `judge` are required",
        ));
    }
    let (region, judge) = (report.region.clone(), report.judge.clone());
    let n = st.rule_reports.put(report, argus_core::time::now_secs());
    tracing::debug!(%region, %judge, rules = n, "rules status reported");
    let resp = HttpResponse::Ok().json(json!({"rules": n}));
    count_answer(&st, &req, CrossKind::Config, &resp);
    Ok(resp)
}

/// `POST /internal/v1/agents/heartbeats` (internal credential; JSON, `Content-Encoding: zstd`
/// or none): a transfer's [`HeartbeatBatch`]. Changed hosts are stored whole; the others only
/// get their last-seen time moved. Seen times are taken relative to the batch's `sent_at`, so
/// the transfer's clock does not matter. Answers the hosts it does not know.
pub async fn heartbeats(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let json = decoded(&req, &body)?;
    let batch: HeartbeatBatch = serde_json::from_slice(&json)
        .map_err(|e| ApiError::bad_request(format!("body: not a heartbeat batch: {e}")))?;
    let now = argus_core::time::now_secs();
    // The batch's age of each host, applied to web's clock (never in the future).
    let at = |seen: i64| now - (batch.sent_at - seen).max(0);
    for c in &batch.changed {
        // The transfer refused these already; a batch is not refused whole for one.
        if crate::api::kinds::check_ident(&c.heartbeat.host).is_err()
            || c.heartbeat.check_tags().is_err()
        {
            continue;
        }
        record_heartbeat(
            &st,
            &c.tenant,
            &c.heartbeat,
            at(c.seen_at),
            Some(&batch.region),
        )
        .await?;
    }
    let mut answer = HeartbeatBatchAnswer::default();
    for (tenant, hosts) in &batch.alive {
        for (host, seen) in hosts {
            if crate::api::kinds::check_ident(host).is_err() {
                continue;
            }
            if !record_alive(&st, tenant, host, at(*seen), &batch.region).await? {
                answer.unknown.push((tenant.clone(), host.clone()));
            }
        }
    }
    let resp = HttpResponse::Ok().json(&answer);
    count_answer(&st, &req, CrossKind::Config, &resp);
    Ok(resp)
}
