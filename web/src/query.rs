//! Metric queries from the console and API. The tenant comes from the caller's credential; the
//! query goes to each region's query endpoint and only results come back.

use crate::auth::Auth;
use crate::config::RegionEndpoint;
use crate::server::State;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use argus_core::query::{Aggregation, LastQuery, MatchOp, RangeQuery, Selector, TagMatcher};
use argus_core::telemetry::{CrossKind, GLOBAL_REGION, REGION_HEADER};
use argus_core::Tags;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Query-string parameters of `GET /api/v1/query` and `GET /api/v1/query/last`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// Exact endpoint.
    pub endpoint: Option<String>,
    /// Exact metric.
    pub metric: Option<String>,
    /// Tag equalities, `k=v,k2=v2`.
    pub tags: Option<String>,
    /// Start, Unix seconds (default: an hour ago).
    #[serde(default, deserialize_with = "param::start")]
    pub start: Option<i64>,
    /// End, Unix seconds (default: now).
    #[serde(default, deserialize_with = "param::end")]
    pub end: Option<i64>,
    /// Output step in seconds.
    #[serde(default, deserialize_with = "param::step")]
    pub step: Option<u32>,
    /// avg, min, max, sum, count or last.
    pub agg: Option<String>,
}

/// Number parameters whose errors name the parameter (the query-string decoder's own errors
/// do not say which one was wrong).
mod param {
    use serde::{de::Error, Deserialize, Deserializer};
    use std::str::FromStr;

    fn number<'de, D: Deserializer<'de>, T: FromStr>(
        d: D,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| D::Error::custom(format!("`{name}` must be {what}, got {v:?}"))),
        }
    }
    pub(super) fn start<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        number(d, "start", "a Unix time in seconds")
    }
    pub(super) fn end<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        number(d, "end", "a Unix time in seconds")
    }
    pub(super) fn step<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        number(d, "step", "a positive number of seconds")
    }
}

impl QueryParams {
    fn selector(&self) -> Result<Selector, ApiError> {
        let tags = match &self.tags {
            Some(t) => Tags::parse_falcon(t).map_err(|e| ApiError::bad_field("tags", e))?,
            None => Tags::new(),
        };
        Ok(Selector {
            endpoint: self.endpoint.clone().filter(|s| !s.is_empty()),
            metric: self.metric.clone().filter(|s| !s.is_empty()),
            tags: tags
                .iter()
                .map(|(k, v)| TagMatcher {
                    key: k.into(),
                    op: MatchOp::Eq,
                    value: v.into(),
                })
                .collect(),
        })
    }
}

/// The answers of the regions to one query.
pub struct RegionAnswers<R> {
    /// The data of every region that answered.
    pub data: Vec<R>,
    /// Regions that did not answer (partitioned or down): their data is missing.
    pub unreachable: Vec<String>,
}

impl<R: Serialize> RegionAnswers<R> {
    /// 200 with the data; a partial answer says which regions are missing in the
    /// `X-Argus-Unreachable-Regions` header, so one unreachable region never hides the others.
    pub fn respond(self) -> HttpResponse {
        let mut r = HttpResponse::Ok();
        if !self.unreachable.is_empty() {
            r.insert_header(("X-Argus-Unreachable-Regions", self.unreachable.join(",")));
        }
        r.json(self.data)
    }
}

/// Sends `q` to every region's query endpoint at `path` at once and concatenates the answers.
/// A region that does not answer is listed in [`RegionAnswers::unreachable`]; only when no
/// region answers is the query refused (503). A region refusing the query (400) refuses it.
pub async fn to_regions<Q: Serialize, R: DeserializeOwned>(
    st: &State,
    path: &str,
    q: &Q,
) -> Result<RegionAnswers<R>, ApiError> {
    to_some_regions(st, &st.cfg.regions, path, q).await
}

/// The regions that may hold the data of `selector` of `tenant`: the one its endpoint's agent
/// reports from (recorded from the transfers' heartbeat batches) when the selector names a known
/// host, else every region. A query about one host then crosses to one region only.
pub async fn regions_for<'a>(
    st: &'a State,
    tenant: &argus_core::TenantId,
    selector: &Selector,
) -> &'a [RegionEndpoint] {
    let all = &st.cfg.regions[..];
    let Some(endpoint) = &selector.endpoint else {
        return all;
    };
    let host = crate::store::by_name(
        &st.db,
        tenant.as_str(),
        crate::api::kinds::Kind::Host.path(),
        endpoint,
    )
    .await;
    let region = host.ok().flatten().and_then(|o| {
        o.body
            .pointer("/heartbeat/region")?
            .as_str()
            .map(str::to_owned)
    });
    match region.and_then(|r| all.iter().position(|e| e.name == r)) {
        Some(i) => &all[i..=i],
        None => all,
    }
}

/// Asks one query endpoint (`base`) of region `name`.
async fn ask_region<Q: Serialize, R>(
    st: &State,
    name: &str,
    base: &str,
    path: &str,
    q: &Q,
    read: &Read<'_, R>,
) -> Result<Vec<R>, ApiError> {
    let url = format!("{}/internal/v1/query/{path}", base.trim_end_matches('/'));
    let mut req = st
        .client
        .post(&url)
        .header(REGION_HEADER, GLOBAL_REGION)
        .json(q);
    if let Some(accept) = read.accept {
        req = req.header(reqwest::header::ACCEPT, accept);
    }
    if !st.cfg.internal_token.is_empty() {
        req = req.bearer_auth(&st.cfg.internal_token);
    }
    let req = req
        .build()
        .map_err(|e| ApiError::internal(format!("query to region {name}: {e}")))?;
    st.xr.sent(
        CrossKind::Query,
        name,
        argus_core::http::request_wire_len(&req),
    );
    let resp = st
        .client
        .execute(req)
        .await
        .map_err(|e| ApiError::unavailable(format!("region {name} did not answer: {e}"), 5))?;
    // By the one retry rule (argus_core::http::Failure): only a refusal of the query itself is
    // the caller's fault; a busy region or a wrong internal token/URL is the region being
    // unavailable.
    let refused = argus_core::http::Failure::of_status(resp.status().as_u16())
        == argus_core::http::Failure::Refused;
    if refused {
        // A PromQL limit a region reached (422) stays one, message and all.
        if resp.status().as_u16() == 422 {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            let why = body["error"].as_str().unwrap_or("limit reached").to_owned();
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                why,
            ));
        }
        let text = resp.text().await.unwrap_or_default();
        return Err(ApiError::bad_request(format!(
            "region {name} refused the query: {text}"
        )));
    }
    if !resp.status().is_success() {
        return Err(ApiError::unavailable(
            format!("region {name}: {}", resp.status()),
            5,
        ));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp
        .bytes()
        .await
        .map_err(|e| ApiError::unavailable(format!("region {name}: {e}"), 5))?;
    (read.decode)(&content_type, &body)
        .map_err(|e| ApiError::unavailable(format!("region {name}: {e}"), 5))
}

/// Reads a region's answer: its items from its content type and body.
pub type Decode<'a, R> = dyn Fn(&str, &[u8]) -> Result<Vec<R>, String> + Sync + 'a;

/// How a region's answer is asked for and read.
pub struct Read<'a, R> {
    /// The `Accept` header to send (none: JSON).
    pub accept: Option<&'a str>,
    /// How the answer is read.
    pub decode: &'a Decode<'a, R>,
}

/// A JSON list of `R`.
fn json_list<R: DeserializeOwned>(_: &str, body: &[u8]) -> Result<Vec<R>, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// [`to_regions`] to `regions` only.
pub async fn to_some_regions<Q: Serialize, R: DeserializeOwned>(
    st: &State,
    regions: &[RegionEndpoint],
    path: &str,
    q: &Q,
) -> Result<RegionAnswers<R>, ApiError> {
    let read = Read {
        accept: None,
        decode: &json_list::<R>,
    };
    to_some_regions_as(st, regions, path, q, &read).await
}

/// [`to_some_regions`] with answers asked for and read as `read` says.
pub async fn to_some_regions_as<Q: Serialize, R>(
    st: &State,
    regions: &[RegionEndpoint],
    path: &str,
    q: &Q,
    read: &Read<'_, R>,
) -> Result<RegionAnswers<R>, ApiError> {
    let calls = regions.iter().map(|region| async move {
        // The endpoint that answered last first; the others in turn when it does not answer.
        // A refusal (4xx) is the region's answer and is not asked again elsewhere.
        let urls = region.urls();
        let first = st.preferred_endpoint(&region.name) % urls.len();
        let mut failure = None;
        for i in 0..urls.len() {
            let at = (first + i) % urls.len();
            match ask_region(st, &region.name, urls[at], path, q, read).await {
                Ok(v) => {
                    if at != first {
                        tracing::info!(region = %region.name, url = urls[at], "region answers from another query endpoint");
                        st.prefer_endpoint(&region.name, at);
                    }
                    return Ok(v);
                }
                Err(e) if e.status.is_client_error() => return Err(e),
                Err(e) => {
                    tracing::warn!(region = %region.name, url = urls[at], error = %e, "query endpoint did not answer");
                    failure = Some(e);
                }
            }
        }
        Err(failure.expect("a region has a query endpoint"))
    });
    let answers = futures_util::future::join_all(calls).await;
    let mut out = RegionAnswers {
        data: Vec::new(),
        unreachable: Vec::new(),
    };
    let mut last_err = None;
    for (region, answer) in regions.iter().zip(answers) {
        match answer {
            Ok(v) => out.data.extend(v),
            Err(e) if e.status.is_client_error() => return Err(e),
            Err(e) => {
                tracing::warn!(region = %region.name, error = %e, "region did not answer a query");
                out.unreachable.push(region.name.clone());
                last_err = Some(e);
            }
        }
    }
    match last_err {
        Some(e) if out.unreachable.len() == regions.len() => Err(e),
        _ => Ok(out),
    }
}

/// `GET /api/v1/query`: a range read.
pub async fn range(
    auth: Auth,
    p: web::Query<QueryParams>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let now = argus_core::time::now_secs();
    let aggregation = match &p.agg {
        Some(a) => Aggregation::parse(a)
            .ok_or_else(|| ApiError::bad_field("agg", format!("unknown aggregation {a:?}")))?,
        None => Aggregation::Avg,
    };
    let q = RangeQuery {
        tenant: auth.tenant,
        selector: p.selector()?,
        start: p.start.unwrap_or(now - 3600),
        end: p.end.unwrap_or(now + 60),
        step: p.step,
        aggregation,
        group_by: None,
    };
    if q.end < q.start {
        return Err(ApiError::bad_field("end", "must not be before start"));
    }
    let regions = regions_for(&st, &q.tenant, &q.selector).await;
    let data: RegionAnswers<argus_core::query::SeriesData> =
        to_some_regions(&st, regions, "range", &q).await?;
    Ok(data.respond())
}

/// `GET /api/v1/query/last`: the latest value of each selected series.
pub async fn last(
    auth: Auth,
    p: web::Query<QueryParams>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let q = LastQuery {
        tenant: auth.tenant,
        selector: p.selector()?,
    };
    let regions = regions_for(&st, &q.tenant, &q.selector).await;
    let data: RegionAnswers<argus_core::query::LastValue> =
        to_some_regions(&st, regions, "last", &q).await?;
    Ok(data.respond())
}
