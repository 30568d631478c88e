//! The region's query endpoint: a query from the console goes to the storage nodes of the
//! ring in force, and their answers are merged (replicas deduplicated), so only results leave
//! the region.

use crate::server::State;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::http::{check_internal, ApiError};
use argus_core::query::{LastQuery, LastValue, RangeQuery, SelectQuery, SeriesData, SeriesQuery};
use argus_core::SeriesKey;
use argus_promql::labels::{series_of, CompiledMatchers};
use argus_promql::split::{PartialSeries, RegionEval};
use argus_promql::Fetched;
use argus_store::{ClientError, StoreClient};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// Asks every storage node with `call` concurrently and concatenates the answers. A node that
/// refuses the query (4xx) fails it; the query fails as unavailable only when no node answered.
async fn fan_out<R, F, Fut>(st: &State, call: F) -> Result<Vec<R>, ApiError>
where
    F: Fn(StoreClient) -> Fut,
    Fut: Future<Output = Result<Vec<R>, ClientError>>,
{
    let topo = st.forwarder.topology();
    let nodes = topo.store_ring.members();
    let timeout = Duration::from_millis(st.cfg.downstream_timeout_ms);
    let calls = nodes.iter().map(|n| {
        call(StoreClient::with_tls(
            n.clone(),
            st.cfg.internal_token.clone(),
            timeout,
            st.forwarder.client_tls(),
        ))
    });
    let mut all = Vec::new();
    let mut answered = 0;
    let mut last_err = String::new();
    for r in futures_util::future::join_all(calls).await {
        match r {
            Ok(v) => {
                answered += 1;
                all.extend(v);
            }
            Err(ClientError::Status {
                status, message, ..
            }) if (400..500).contains(&status) && status != 429 => {
                return Err(ApiError::bad_request(format!(
                    "query refused by storage: {message}"
                )));
            }
            Err(e) => last_err = e.to_string(),
        }
    }
    if answered == 0 && !nodes.is_empty() {
        return Err(ApiError::unavailable(
            format!("no storage node answered ({last_err})"),
            2,
        ));
    }
    Ok(all)
}

/// `POST /internal/v1/query/range`: merged range read (replicas of a series keep the fuller one).
pub async fn range(
    req: HttpRequest,
    q: web::Json<RangeQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let q = q.into_inner();
    let merged = range_merged(&st, q).await?;
    Ok(crate::agents::answer_json(&req, &merged))
}

/// The raw or bucketed range read of every node, replicas merged: of the copies of a series the
/// fuller one is kept. Sorted by series key.
async fn range_merged(st: &State, q: RangeQuery) -> Result<Vec<SeriesData>, ApiError> {
    let parts: Vec<SeriesData> = fan_out(st, |c| {
        let q = q.clone();
        async move { c.query_range(&q).await }
    })
    .await?;
    Ok(merge_replicas(parts))
}

/// One copy of each series from the nodes' answers: the fuller one. Sorted by series key.
fn merge_replicas(parts: Vec<SeriesData>) -> Vec<SeriesData> {
    let mut merged: BTreeMap<SeriesKey, SeriesData> = BTreeMap::new();
    for d in parts {
        match merged.get(&d.key) {
            Some(have) if have.points.len() >= d.points.len() => {}
            _ => {
                merged.insert(d.key.clone(), d);
            }
        }
    }
    merged.into_values().collect()
}

/// `POST /internal/v1/query/select`: the series whose PromQL labels satisfy the matchers, with
/// their raw points in `[start, end]`. Each node selects exactly (`argus-store`'s `select`);
/// here replicas are merged, the fuller copy of a series kept.
pub async fn select(
    req: HttpRequest,
    q: web::Json<SelectQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let q = q.into_inner();
    // Refused here too, so a bad query costs no node a request.
    CompiledMatchers::new(&q.matchers).map_err(|e| ApiError::bad_field("matchers", e.message))?;
    if q.end < q.start {
        return Err(ApiError::bad_field("end", "must not be before start"));
    }
    let parts: Vec<SeriesData> = fan_out(&st, |c| {
        let q = q.clone();
        async move { c.select(&q).await }
    })
    .await?;
    let out: Vec<SeriesData> = merge_replicas(parts)
        .into_iter()
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    Ok(crate::agents::answer_json(&req, &out))
}

/// `POST /internal/v1/query/eval`: partial aggregations of a split PromQL query
/// (`argus_promql::split`) evaluated over this region's series, less the series several
/// regions hold (`exclude`, aggregated by web over their merged points). Answers one list of
/// series per query; only these partial answers leave the region.
pub async fn eval(
    req: HttpRequest,
    q: web::Json<RegionEval>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let q = std::sync::Arc::new(q.into_inner());
    let plan = q
        .plan()
        .map_err(|e| ApiError::bad_field("queries", e.message))?;
    let mut answers: Vec<Vec<PartialSeries>> = Vec::with_capacity(plan.len());
    for (query, selections) in plan {
        let mut fetched = Fetched::new();
        for sel in selections {
            let sq = q.select_query(&sel);
            let parts: Vec<SeriesData> = fan_out(&st, |c| {
                let sq = sq.clone();
                async move { c.select(&sq).await }
            })
            .await?;
            let series: Vec<_> = merge_replicas(parts).iter().map(series_of).collect();
            fetched.insert(sel.key(), series);
        }
        // Evaluation is CPU work: off the server's worker thread.
        let q = q.clone();
        let answer = web::block(move || q.answer(&query, fetched))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(region_eval_error)?;
        answers.push(answer);
    }
    Ok(crate::agents::answer_json(&req, &answers))
}

/// A partial evaluation's error with the status the PromQL API gives it (a bad query 400, a
/// limit 422), which web passes on.
fn region_eval_error(e: argus_promql::Error) -> ApiError {
    let status = StatusCode::from_u16(argus_promql::json::status(e.kind))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::new(status, e.message)
}

/// `POST /internal/v1/query/last`: the latest value per series across nodes.
pub async fn last(
    req: HttpRequest,
    q: web::Json<LastQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let q = q.into_inner();
    let parts: Vec<LastValue> = fan_out(&st, |c| {
        let q = q.clone();
        async move { c.last(&q).await }
    })
    .await?;
    let mut merged: BTreeMap<SeriesKey, LastValue> = BTreeMap::new();
    for v in parts {
        match merged.get(&v.key) {
            Some(have) if have.timestamp >= v.timestamp => {}
            _ => {
                merged.insert(v.key.clone(), v);
            }
        }
    }
    Ok(crate::agents::answer_json(
        &req,
        &merged.into_values().collect::<Vec<_>>(),
    ))
}

/// `POST /internal/v1/query/series`: the union of the nodes' series.
pub async fn series(
    req: HttpRequest,
    q: web::Json<SeriesQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let limit = q.limit;
    let q = q.into_inner();
    let parts: Vec<SeriesKey> = fan_out(&st, |c| {
        let q = q.clone();
        async move { c.series(&q).await }
    })
    .await?;
    let mut keys: Vec<SeriesKey> = parts
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.truncate(limit);
    Ok(crate::agents::answer_json(&req, &keys))
}
