//! The region's query endpoint: a query from the console goes to the storage nodes of the
//! ring in force, and their answers are merged (replicas deduplicated), or to the region's
//! remote TSDB ([`crate::remote`]), so only results leave the region.

use crate::remote::Backend;
use crate::server::State;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::http::{check_internal, ApiError, Failure};
use argus_core::query::{
    LastQuery, LastValue, MatchOp, RangeQuery, SelectQuery, Selector, SeriesData, SeriesQuery,
    TagMatcher,
};
use argus_core::wire::series as series_wire;
use argus_core::{SeriesKey, TenantId};
use argus_promql::labels::{into_series, CompiledMatchers};
use argus_promql::split::{self, PartialSeries, RegionEval};
use argus_promql::Fetched;
use argus_store_client::aggregate;
use argus_store_client::{ClientError, StoreClient};
use std::collections::BTreeMap;
use std::future::Future;

/// Asks every storage node with `call` concurrently and concatenates the answers. A node that
/// refuses the query (4xx) fails it; the query fails as unavailable only when no node answered.
async fn fan_out<R, F, Fut>(st: &State, call: F) -> Result<Vec<R>, ApiError>
where
    F: Fn(StoreClient) -> Fut,
    Fut: Future<Output = Result<Vec<R>, ClientError>>,
{
    let topo = st.forwarder.topology();
    let nodes = topo.store_ring.members();
    // Each member's pooled client (its downstream's): a query opens no client or connection
    // of its own.
    let calls = topo.store_clients().map(|c| call(c.clone()));
    let mut all = Vec::new();
    let mut answered = 0;
    let mut last_err = String::new();
    for r in futures_util::future::join_all(calls).await {
        match r {
            Ok(v) => {
                answered += 1;
                all.extend(v);
            }
            // The query itself is wrong (by the one retry rule); a node that is down, busy or
            // misconfigured only counts as not answering.
            Err(ClientError::Status {
                status, message, ..
            }) if Failure::of_status(status) == Failure::Refused => {
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
    if let Some(b) = st.forwarder.remote() {
        return remote_range(st, b, &q).await;
    }
    let parts: Vec<SeriesData> = fan_out(st, |c| {
        let q = q.clone();
        async move { c.query_range(&q).await }
    })
    .await?;
    Ok(merge_replicas(parts))
}

/// One copy of each series from the nodes' answers: the fuller one (the first node's of equal
/// ones). Sorted by series key. Each node's answer is sorted already, so one node's answer is
/// only looked through.
fn merge_replicas(mut parts: Vec<SeriesData>) -> Vec<SeriesData> {
    // Stable: copies of a series stay in node order.
    parts.sort_by(|a, b| a.key.cmp(&b.key));
    parts.dedup_by(|later, kept| {
        if later.key != kept.key {
            return false;
        }
        if later.points.len() > kept.points.len() {
            std::mem::swap(later, kept);
        }
        true
    });
    parts
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
    // A reader that speaks the binary answer (web of this version) says so; others get JSON.
    let binary = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.split(';').next().unwrap_or("").trim() == series_wire::CONTENT_TYPE)
        });
    let mut out = selected(&st, &q).await?;
    out.truncate(q.limit.unwrap_or(usize::MAX));
    if !binary {
        return Ok(crate::agents::answer_json(&req, &out));
    }
    // Values travel as their bytes, which compress little: sent as they are. Encoding is a
    // copy, cheaper than the JSON answer that is encoded here too.
    Ok(crate::agents::answer_body(
        &req,
        series_wire::CONTENT_TYPE,
        series_wire::encode(&out),
        false,
    ))
}

/// `POST /internal/v1/query/eval`: partial aggregations of a split PromQL query
/// (`argus_promql::split`) evaluated over this region's series, less the series several
/// regions hold (`exclude`, aggregated by web over their merged points). Answers one list of
/// series per query, in binary when the caller accepts it (`split::PARTIALS_CONTENT_TYPE`),
/// else as JSON; only these partial answers leave the region.
pub async fn eval(
    req: HttpRequest,
    q: web::Json<RegionEval>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let binary = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(split::accepts_binary);
    let q = q.into_inner();
    if let Some(answer) = eval_on_node(&req, &st, &q, binary).await {
        return answer;
    }
    let q = std::sync::Arc::new(q);
    let plan = q
        .plan()
        .map_err(|e| ApiError::bad_field("queries", e.message))?;
    let mut answers = Vec::with_capacity(plan.len());
    for (query, selections) in plan {
        let mut fetched = Fetched::new();
        for sel in selections {
            let sq = q.select_query(&sel);
            let series: Vec<_> = selected(&st, &sq)
                .await?
                .into_iter()
                .map(into_series)
                .collect();
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
    if !binary {
        let json: Vec<Vec<PartialSeries>> = answers
            .iter()
            .map(|list| list.iter().map(PartialSeries::from_series).collect())
            .collect();
        return Ok(crate::agents::answer_json(&req, &json));
    }
    // Values travel as their bytes, which compress little: sent as they are.
    let body = web::block(move || split::encode_partials(&answers))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(crate::agents::answer_body(
        &req,
        split::PARTIALS_CONTENT_TYPE,
        body,
        false,
    ))
}

/// [`eval`] by the region's storage node when it is the only one: it evaluates next to its
/// data (its `query/eval`), so only the partial answers cross, not every selected series' raw
/// points (which were most of a fleet query's cost). `None` when the region has several nodes
/// or a remote TSDB, or its node has no such endpoint (an older version): evaluated here then.
async fn eval_on_node(
    req: &HttpRequest,
    st: &State,
    q: &RegionEval,
    binary: bool,
) -> Option<Result<HttpResponse, ApiError>> {
    if st.forwarder.remote().is_some() {
        return None;
    }
    let node = {
        let topo = st.forwarder.topology();
        let mut clients = topo.store_clients();
        match (
            topo.store_ring.members().len(),
            clients.next(),
            clients.next(),
        ) {
            (1, Some(c), None) => c.clone(),
            _ => return None,
        }
    };
    let accept = if binary {
        format!("{}, application/json", split::PARTIALS_CONTENT_TYPE)
    } else {
        "application/json".to_string()
    };
    Some(match node.eval(q, &accept).await {
        Ok((content_type, body)) => {
            let binary = content_type.starts_with(split::PARTIALS_CONTENT_TYPE);
            Ok(crate::agents::answer_body(
                req,
                if binary {
                    split::PARTIALS_CONTENT_TYPE
                } else {
                    "application/json"
                },
                body,
                !binary,
            ))
        }
        Err(ClientError::Status { status: 404, .. }) => return None,
        // The node's refusal (a bad query, a limit) with its status, as web passes it on.
        Err(ClientError::Status {
            status, message, ..
        }) if Failure::of_status(status) == Failure::Refused => Err(ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        )),
        Err(e) => Err(ApiError::unavailable(
            format!("no storage node answered ({e})"),
            2,
        )),
    })
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
    let parts: Vec<LastValue> = match st.forwarder.remote() {
        Some(b) => remote_last(&st, b, &q).await?,
        None => {
            fan_out(&st, |c| {
                let q = q.clone();
                async move { c.last(&q).await }
            })
            .await?
        }
    };
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
    let parts: Vec<SeriesKey> = match st.forwarder.remote() {
        Some(b) => {
            let now = argus_core::time::now_secs();
            let range = b.config().listing_range_secs.max(1);
            remote_rest(&st, b, &q.tenant, &q.selector, now - range, now, true)
                .await?
                .into_iter()
                .map(|d| d.key)
                .collect()
        }
        None => {
            fan_out(&st, |c| {
                let q = q.clone();
                async move { c.series(&q).await }
            })
            .await?
        }
    };
    let mut keys: Vec<SeriesKey> = parts
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.truncate(limit);
    Ok(crate::agents::answer_json(&req, &keys))
}

/// The series `q` selects with their raw points: from every storage node, replicas merged, or
/// from the region's remote TSDB.
async fn selected(st: &State, q: &SelectQuery) -> Result<Vec<SeriesData>, ApiError> {
    if let Some(b) = st.forwarder.remote() {
        return Ok(b.select(q, &st.ingest_config()).await?);
    }
    let parts: Vec<SeriesData> = fan_out(st, |c| {
        let q = q.clone();
        async move { c.select(&q).await }
    })
    .await?;
    Ok(merge_replicas(parts))
}

/// A REST selector's raw series from the remote TSDB. The endpoint is a label there only when
/// it was written as one, so each label an endpoint can come from is tried in turn
/// (`endpoint`, then `[ingest] endpoint_tags`), and the stored key decides.
async fn remote_rest(
    st: &State,
    b: &Backend,
    tenant: &TenantId,
    sel: &Selector,
    start: i64,
    end: i64,
    series_only: bool,
) -> Result<Vec<SeriesData>, ApiError> {
    let ingest = st.ingest_config();
    let mut base: Vec<TagMatcher> = Vec::with_capacity(sel.tags.len() + 2);
    base.push(match &sel.metric {
        Some(m) => TagMatcher {
            key: "__name__".into(),
            op: MatchOp::Eq,
            value: m.clone(),
        },
        // A selector needs one matcher that cannot match the empty string.
        None => TagMatcher {
            key: "__name__".into(),
            op: MatchOp::Regex,
            value: ".+".into(),
        },
    });
    base.extend(sel.tags.iter().cloned());
    let Some(endpoint) = &sel.endpoint else {
        let q = SelectQuery {
            tenant: tenant.clone(),
            matchers: base,
            start,
            end,
            limit: None,
            series_only,
        };
        return Ok(b.select(&q, &ingest).await?);
    };
    let mut labels = vec!["endpoint".to_string()];
    labels.extend(
        ingest
            .endpoint_tags
            .iter()
            .filter(|l| *l != "endpoint")
            .cloned(),
    );
    for label in labels {
        let mut matchers = base.clone();
        matchers.push(TagMatcher {
            key: label,
            op: MatchOp::Eq,
            value: endpoint.clone(),
        });
        let q = SelectQuery {
            tenant: tenant.clone(),
            matchers,
            start,
            end,
            limit: None,
            series_only,
        };
        let mut got = b.select(&q, &ingest).await?;
        got.retain(|d| d.key.endpoint == *endpoint);
        if !got.is_empty() {
            return Ok(got);
        }
    }
    Ok(Vec::new())
}

/// [`range`] over the remote TSDB: raw points bucketed by step and grouped here, as a storage
/// node does over its raw data.
async fn remote_range(
    st: &State,
    b: &Backend,
    q: &RangeQuery,
) -> Result<Vec<SeriesData>, ApiError> {
    if q.end < q.start {
        return Err(ApiError::bad_field("end", "must not be before start"));
    }
    let raw = remote_rest(st, b, &q.tenant, &q.selector, q.start, q.end, false).await?;
    let step = q.step.map(i64::from).filter(|&s| s > 0);
    let out: Vec<SeriesData> = raw
        .into_iter()
        .map(|d| {
            let points = match step {
                None if q.group_by.is_none() => d.points,
                None => aggregate::finish(&aggregate::bucket_raw(&d.points, 1), q.aggregation),
                Some(s) => aggregate::finish(&aggregate::bucket_raw(&d.points, s), q.aggregation),
            };
            SeriesData { key: d.key, points }
        })
        .collect();
    Ok(match &q.group_by {
        Some(by) => aggregate::group(out, by, q),
        None => out,
    })
}

/// [`last`] over the remote TSDB: the latest raw point within `last_lookback_secs`.
async fn remote_last(st: &State, b: &Backend, q: &LastQuery) -> Result<Vec<LastValue>, ApiError> {
    let now = argus_core::time::now_secs();
    let from = now - b.config().last_lookback_secs.max(1);
    let raw = remote_rest(st, b, &q.tenant, &q.selector, from, now, false).await?;
    Ok(raw
        .into_iter()
        .filter_map(|d| {
            let &(timestamp, value) = d.points.last()?;
            Some(LastValue {
                key: d.key,
                timestamp,
                value,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_merge_to_the_fuller_copy_sorted_by_key() {
        let t = TenantId::new("acme").unwrap();
        let d = |host: &str, n: usize, v: f64| SeriesData {
            key: SeriesKey::new(t.clone(), host, "cpu.busy", Default::default()),
            points: (0..n as i64).map(|i| (i, v)).collect(),
        };
        // Node A's answer, then node B's, each sorted by key.
        let parts = vec![d("h1", 3, 1.0), d("h2", 2, 1.0), d("h3", 1, 1.0)];
        let parts = parts
            .into_iter()
            .chain([d("h0", 1, 2.0), d("h2", 3, 2.0), d("h3", 1, 2.0)])
            .collect();
        let got: Vec<(String, usize, f64)> = merge_replicas(parts)
            .into_iter()
            .map(|s| (s.key.endpoint.clone(), s.points.len(), s.points[0].1))
            .collect();
        assert_eq!(
            got,
            vec![
                ("h0".into(), 1, 2.0),
                ("h1".into(), 3, 1.0),
                // The fuller copy; of equal ones, the first node's.
                ("h2".into(), 3, 2.0),
                ("h3".into(), 1, 1.0),
            ]
        );
    }
}
