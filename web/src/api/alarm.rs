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

/// Most history events the alerts overview reads (pages of [`OVERVIEW_PAGE`]).
const OVERVIEW_MAX_EVENTS: usize = 10_000;
/// One page of alarm's history, its largest.
const OVERVIEW_PAGE: usize = 1000;
/// Most samples of the overview's count over time.
const OVERVIEW_MAX_POINTS: i64 = 1000;

/// `GET /api/v1/events/overview` parameters: the range (Unix seconds) and the step.
#[derive(Deserialize)]
pub struct OverviewParams {
    /// Range start.
    pub from: i64,
    /// Range end.
    pub to: i64,
    /// Seconds between samples (default and least: the range over 1000 samples).
    pub step: Option<i64>,
}

/// One alert as the overview counts it: its id, and its events in the range (time, whether a
/// PROBLEM) oldest first.
#[derive(Debug, Default)]
pub(crate) struct AlertRun {
    /// Open now, since this time (alarm's `first_seen`).
    pub open_since: Option<i64>,
    /// Its events in the range: (time, PROBLEM).
    pub events: Vec<(i64, bool)>,
}

/// The number of alerts open at each sample time from `from` to `to`, `step` apart and ending
/// at `to`. An alert
/// is open from a PROBLEM event until its next OK event. Before its first event in the range it
/// was open if that event is an OK (the PROBLEM came before the range), or if it is open now
/// since before that event; an alert open now with no event in the range was open from its
/// `open_since`.
pub(crate) fn open_over_time(
    alerts: &std::collections::HashMap<String, AlertRun>,
    from: i64,
    to: i64,
    step: i64,
) -> Vec<(i64, u64)> {
    // Counted back from `to`, so that the last sample is the range's end.
    let n = (to - from) / step;
    let times: Vec<i64> = (0..=n).map(|i| to - (n - i) * step).collect();
    let mut counts = vec![0u64; times.len()];
    for run in alerts.values() {
        let mut events = run.events.clone();
        events.sort_by_key(|(t, _)| *t);
        let mut open = match (events.first(), run.open_since) {
            (Some((_, false)), _) => true,
            (Some((t, true)), Some(since)) => since < *t,
            (Some(_), None) => false,
            (None, Some(since)) => since <= from,
            (None, None) => false,
        };
        let mut next = 0;
        for (i, t) in times.iter().enumerate() {
            while next < events.len() && events[next].0 <= *t {
                open = events[next].1;
                next += 1;
            }
            if events.is_empty() {
                open = run.open_since.is_some_and(|s| s <= *t);
            }
            if open {
                counts[i] += 1;
            }
        }
    }
    times.into_iter().zip(counts).collect()
}

/// `GET /api/v1/events/overview?from=&to=&step=`: the tenant's open problems by host group (a
/// problem counts in each group holding its host; `null` for hosts in none) and their number
/// at each step of the range, read from alarm's open problems and its event history.
pub async fn overview(
    auth: Auth,
    q: web::Query<OverviewParams>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    if q.to <= q.from {
        return Err(ApiError::bad_field("to", "must be after from"));
    }
    let least = ((q.to - q.from) + OVERVIEW_MAX_POINTS - 1) / OVERVIEW_MAX_POINTS;
    let step = match q.step {
        Some(s) if s <= 0 => return Err(ApiError::bad_field("step", "must be positive")),
        Some(s) => s.max(least),
        None => least,
    };
    let tenant = enc(auth.tenant.as_str());
    let ok = |(status, v): (StatusCode, Value)| {
        if status.is_success() {
            Ok(v)
        } else {
            Err(ApiError::new(
                status,
                v["error"].as_str().unwrap_or("alarm refused").to_string(),
            ))
        }
    };
    let active = ok(call_json(
        &st,
        reqwest::Method::GET,
        &format!("/internal/v1/events/active?tenant={tenant}&limit={OVERVIEW_PAGE}"),
        None,
    )
    .await?)?;
    let mut alerts: std::collections::HashMap<String, AlertRun> = Default::default();
    let mut open_hosts: Vec<Option<String>> = Vec::new();
    let listed = active["alerts"].as_array().cloned().unwrap_or_default();
    // A range reaching the present ends with the problems open now, even those a judge
    // stamped a little later than this clock reads.
    let live = q.to >= argus_core::time::now_secs() - step;
    for a in &listed {
        let id = a["event"]["id"].as_str().unwrap_or_default().to_string();
        let since = a["first_seen"].as_i64().unwrap_or(q.to);
        alerts.entry(id).or_default().open_since = Some(if live { since.min(q.to) } else { since });
        open_hosts.push(
            a["event"]["series"]["endpoint"]
                .as_str()
                .map(str::to_string),
        );
    }
    let mut truncated = active["total"].as_u64().unwrap_or(0) > listed.len() as u64;
    // The range's events, newest first, page by page.
    let mut before: Option<i64> = None;
    let mut read = 0;
    loop {
        let mut path = format!(
            "/internal/v1/events/history?tenant={tenant}&from={}&to={}&limit={OVERVIEW_PAGE}",
            q.from,
            q.to + 1
        );
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let page = ok(call_json(&st, reqwest::Method::GET, &path, None).await?)?;
        for e in page["events"].as_array().into_iter().flatten() {
            let ev = &e["event"];
            let id = ev["id"].as_str().unwrap_or_default().to_string();
            let problem = ev["status"].as_str() == Some("PROBLEM");
            if let Some(t) = ev["timestamp"].as_i64() {
                alerts.entry(id).or_default().events.push((t, problem));
            }
            read += 1;
        }
        before = page["next_before"].as_i64();
        if before.is_none() {
            break;
        }
        if read >= OVERVIEW_MAX_EVENTS {
            truncated = true;
            break;
        }
    }
    // By group: the tenant's groups (rules expanded), as the judges see them.
    let m = crate::model::tenant_strategies(&st.db, &auth.tenant).await?;
    // The busiest groups first, then by name; problems of hosts in no group last.
    let mut by_group: Vec<(Option<String>, u64)> = m
        .host_groups
        .iter()
        .map(|g| {
            let n = open_hosts
                .iter()
                .filter(|h| h.as_ref().is_some_and(|h| g.hosts.contains(h)))
                .count();
            (Some(g.name.clone()), n as u64)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let none = open_hosts
        .iter()
        .filter(|h| {
            !h.as_ref()
                .is_some_and(|h| m.host_groups.iter().any(|g| g.hosts.contains(h)))
        })
        .count();
    by_group.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if none > 0 {
        by_group.push((None, none as u64));
    }
    let over_time = open_over_time(&alerts, q.from, q.to, step);
    Ok(HttpResponse::Ok().json(json!({
        "open": listed.len(),
        "by_group": by_group
            .iter()
            .map(|(g, n)| json!({"group": g, "open": n}))
            .collect::<Vec<_>>(),
        "step": step,
        "over_time": over_time,
        "truncated": truncated,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(open_since: Option<i64>, events: &[(i64, bool)]) -> AlertRun {
        AlertRun {
            open_since,
            events: events.to_vec(),
        }
    }

    #[test]
    fn alerts_are_open_from_problem_to_ok() {
        let alerts: HashMap<String, AlertRun> = [
            // Opened at 150, closed at 350.
            ("a", run(None, &[(150, true), (350, false)])),
            // Opened before the range, closed at 250: open from the start.
            ("b", run(None, &[(250, false)])),
            // Open now since before the range, a repeated PROBLEM at 300.
            ("c", run(Some(50), &[(300, true)])),
            // Open now since 320, its PROBLEM beyond the history read.
            ("d", run(Some(320), &[])),
            // Opened and closed between two samples: never seen open.
            ("e", run(None, &[(210, true), (220, false)])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(
            open_over_time(&alerts, 100, 400, 100),
            vec![(100, 2), (200, 3), (300, 2), (400, 2)]
        );
    }
}
