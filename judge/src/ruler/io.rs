//! A rule's requests: its series from the region's transfers (`/internal/v1/query/select`), a
//! global rule's answer from web (`/internal/v1/query/promql`), recorded points to the
//! region's transfers (`/internal/v1/push`). Each goes to the first transfer that answers.

use argus_core::center::error_chain;
use argus_core::query::{SelectQuery, SeriesData};
use argus_core::telemetry::{CrossKind, CrossRegion, GLOBAL_REGION, REGION_HEADER};
use argus_core::wire::frame;
use argus_core::{Point, TenantId};
use argus_promql::labels::series_of;
use argus_promql::value::{Labels, Series};
use argus_promql::Selection;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a request failed: worth trying the next transfer (no answer, 5xx) or not (4xx).
enum Failure {
    Transient(String),
    Refused(String),
}

/// Sends `make(url)` to each base URL in turn until one answers 2xx; a 4xx ends the tries.
async fn first_answer(
    bases: &[String],
    path: &str,
    make: impl Fn(&str) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, String> {
    if bases.is_empty() {
        return Err("no transfer configured (`rules.transfers`)".into());
    }
    let mut errors = Vec::new();
    for base in bases {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        match send(make(&url), &url).await {
            Ok(r) => return Ok(r),
            Err(Failure::Refused(e)) => return Err(e),
            Err(Failure::Transient(e)) => errors.push(e),
        }
    }
    Err(format!("no transfer answered: {}", errors.join("; ")))
}

async fn send(req: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response, Failure> {
    checked(req.send().await, url).await
}

/// A 2xx answer, or why not.
async fn checked(
    sent: Result<reqwest::Response, reqwest::Error>,
    url: &str,
) -> Result<reqwest::Response, Failure> {
    let resp = sent.map_err(|e| Failure::Transient(format!("{url}: {}", error_chain(&e))))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let msg = format!("{url} answered {status}: {}", truncate(&body, 300));
    // By the one retry rule (argus_core::http::Failure): a wrong token/URL is not the rule's
    // fault, so it is transient here too.
    if !argus_core::http::Failure::of_status(status.as_u16()).keeps_data() {
        Err(Failure::Refused(msg))
    } else {
        Err(Failure::Transient(msg))
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The series of `tenant` that `sel` selects in the region, by PromQL labels (a series stored
/// under two keys with the same labels is one series, points unioned by time). More than
/// `max_series` is an error.
pub(crate) async fn select(
    client: &reqwest::Client,
    transfers: &[String],
    token: &str,
    tenant: &TenantId,
    sel: &Selection,
    max_series: usize,
) -> Result<Vec<Series>, String> {
    let q = SelectQuery {
        tenant: tenant.clone(),
        matchers: sel.matchers.clone(),
        // The store keeps whole seconds: those within [start_ms, end_ms].
        start: sel.start_ms.div_euclid(1000) + i64::from(sel.start_ms.rem_euclid(1000) != 0),
        end: sel.end_ms.div_euclid(1000),
        limit: Some(max_series.saturating_add(1)),
        series_only: false,
    };
    if q.end < q.start {
        return Ok(Vec::new());
    }
    let resp = first_answer(transfers, "/internal/v1/query/select", |url| {
        let r = client.post(url).json(&q);
        if token.is_empty() {
            r
        } else {
            r.bearer_auth(token)
        }
    })
    .await?;
    let data: Vec<SeriesData> = resp
        .json()
        .await
        .map_err(|e| format!("select answer unreadable: {}", error_chain(&e)))?;
    let mut merged: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
    // A transfer never sends another tenant's series; should one, it is not this rule's.
    for d in data.iter().filter(|d| &d.key.tenant == tenant) {
        let s = series_of(d);
        let points = merged.entry(s.labels).or_default();
        for (t, v) in s.points {
            points.entry(t).or_insert(v);
        }
    }
    if merged.len() > max_series {
        return Err(format!(
            "the query selects more than {max_series} series, the limit (rules.limits.max_series)"
        ));
    }
    Ok(merged
        .into_iter()
        .map(|(labels, points)| Series {
            labels,
            points: points.into_iter().collect(),
        })
        .collect())
}

/// The Prometheus instant-query `data` object.
#[derive(Deserialize)]
struct PromData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct PromSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (serde_json::Value, String),
}

/// A value as Prometheus writes it: Go's float text, `NaN`, `+Inf`, `-Inf`.
fn prom_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("not a sample value: {s:?}")),
    }
}

/// A global rule's query evaluated by web over every region at `t` (Unix seconds): its samples
/// (a scalar is one sample without labels).
pub(crate) async fn query_web(
    client: &reqwest::Client,
    web: &str,
    token: &str,
    xr: Option<&CrossRegion>,
    tenant: &TenantId,
    query: &str,
    t: i64,
) -> Result<Vec<(Labels, f64)>, String> {
    let url = format!("{}/internal/v1/query/promql", web.trim_end_matches('/'));
    let mut req = client
        .post(&url)
        .json(&serde_json::json!({"tenant": tenant, "query": query, "time": t}));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(xr) = xr {
        req = req.header(REGION_HEADER, xr.region());
    }
    let req = req.build().map_err(|e| format!("{url}: {e}"))?;
    if let Some(xr) = xr {
        xr.sent(
            CrossKind::Query,
            GLOBAL_REGION,
            argus_core::http::request_wire_len(&req),
        );
    }
    let resp = checked(client.execute(req).await, &url)
        .await
        .map_err(|e| match e {
            Failure::Transient(m) | Failure::Refused(m) => m,
        })?;
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("{url}: answer unreadable: {}", error_chain(&e)))?;
    // The `data` object, bare or in Prometheus's `{"status","data"}` envelope.
    let data = match body.get("data") {
        Some(d) if body.get("status").is_some() => d.clone(),
        _ => body,
    };
    let data: PromData =
        serde_json::from_value(data).map_err(|e| format!("{url}: not a query answer: {e}"))?;
    match data.result_type.as_str() {
        "vector" => {
            let samples: Vec<PromSample> = serde_json::from_value(data.result)
                .map_err(|e| format!("{url}: not a vector: {e}"))?;
            samples
                .into_iter()
                .map(|s| Ok((Labels::new(s.metric), prom_value(&s.value.1)?)))
                .collect()
        }
        "scalar" => {
            let (_, v): (serde_json::Value, String) = serde_json::from_value(data.result)
                .map_err(|e| format!("{url}: not a scalar: {e}"))?;
            Ok(vec![(Labels::default(), prom_value(&v)?)])
        }
        other => Err(format!(
            "the rule's expression must give a vector or a scalar, not a {other}"
        )),
    }
}

/// The transfer's answer to a push.
#[derive(Deserialize)]
struct PushAnswer {
    #[serde(default)]
    rejected: Vec<serde_json::Value>,
}

/// How a push ended.
pub(crate) enum Pushed {
    /// Taken; `refused` says how many were invalid, and the first reason.
    Done { refused: Option<String> },
    /// Refused as a whole (4xx): sending it again cannot help.
    Refused(String),
    /// No transfer took it: worth sending again.
    Failed(String),
}

/// Writes `points` (each of its tenant) through the first transfer that takes them, as the
/// binary point frame (zstd), like an agent's push.
pub(crate) async fn push(
    client: &reqwest::Client,
    transfers: &[String],
    token: &str,
    points: &[Point],
) -> Pushed {
    if transfers.is_empty() {
        return Pushed::Failed("no transfer configured (`rules.transfers`)".into());
    }
    let body = frame::encode_batch(points);
    let mut errors = Vec::new();
    for base in transfers {
        let url = format!("{}/internal/v1/push", base.trim_end_matches('/'));
        let mut req = client
            .post(&url)
            .header("content-type", frame::CONTENT_TYPE)
            .header("content-encoding", "zstd")
            .body(body.clone());
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        match send(req, &url).await {
            Ok(resp) => {
                let answer: PushAnswer = match resp.json().await {
                    Ok(a) => a,
                    // Taken (2xx) even if the summary is unreadable: sending again would
                    // write the points twice.
                    Err(_) => PushAnswer {
                        rejected: Vec::new(),
                    },
                };
                let refused = answer.rejected.first().map(|r| {
                    format!(
                        "{url} refused {} of {} points, the first: {r}",
                        answer.rejected.len(),
                        points.len()
                    )
                });
                return Pushed::Done { refused };
            }
            Err(Failure::Refused(e)) => return Pushed::Refused(e),
            Err(Failure::Transient(e)) => errors.push(e),
        }
    }
    Pushed::Failed(format!(
        "no transfer took the points: {}",
        errors.join("; ")
    ))
}
