//! The region's query endpoint: a query from the console goes to the storage nodes that may
//! hold the series, and their answers are merged, so only results leave the region.

use crate::server::State;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::http::{check_internal, ApiError};
use argus_core::query::{LastQuery, LastValue, RangeQuery, SeriesData, SeriesQuery};
use argus_core::SeriesKey;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

async fn fan_out<Q: Serialize, R: DeserializeOwned>(
    st: &State,
    path: &str,
    q: &Q,
) -> Result<Vec<R>, ApiError> {
    let mut all = Vec::new();
    let mut answered = 0;
    let mut last_err = String::new();
    let topo = st.forwarder.topology();
    let nodes = topo.store_ring.members();
    for node in nodes {
        let mut req = st
            .client
            .post(format!(
                "{}/internal/v1/query/{path}",
                node.trim_end_matches('/')
            ))
            .json(q);
        if !st.cfg.internal_token.is_empty() {
            req = req.bearer_auth(&st.cfg.internal_token);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => match r.json::<Vec<R>>().await {
                Ok(v) => {
                    answered += 1;
                    all.extend(v);
                }
                Err(e) => last_err = format!("{node}: {e}"),
            },
            Ok(r) if r.status().is_client_error() => {
                let text = r.text().await.unwrap_or_default();
                return Err(ApiError::bad_request(format!(
                    "query refused by storage: {text}"
                )));
            }
            Ok(r) => last_err = format!("{node}: {}", r.status()),
            Err(e) => last_err = format!("{node}: {e}"),
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
    let parts: Vec<SeriesData> = fan_out(&st, "range", &q.into_inner()).await?;
    let mut merged: BTreeMap<SeriesKey, SeriesData> = BTreeMap::new();
    for d in parts {
        match merged.get(&d.key) {
            Some(have) if have.points.len() >= d.points.len() => {}
            _ => {
                merged.insert(d.key.clone(), d);
            }
        }
    }
    Ok(HttpResponse::Ok().json(merged.into_values().collect::<Vec<_>>()))
}

/// `POST /internal/v1/query/last`: the latest value per series across nodes.
pub async fn last(
    req: HttpRequest,
    q: web::Json<LastQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let parts: Vec<LastValue> = fan_out(&st, "last", &q.into_inner()).await?;
    let mut merged: BTreeMap<SeriesKey, LastValue> = BTreeMap::new();
    for v in parts {
        match merged.get(&v.key) {
            Some(have) if have.timestamp >= v.timestamp => {}
            _ => {
                merged.insert(v.key.clone(), v);
            }
        }
    }
    Ok(HttpResponse::Ok().json(merged.into_values().collect::<Vec<_>>()))
}

/// `POST /internal/v1/query/series`: the union of the nodes' series.
pub async fn series(
    req: HttpRequest,
    q: web::Json<SeriesQuery>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    check_internal(&req, &st.cfg.internal_token)?;
    let limit = q.limit;
    let parts: Vec<SeriesKey> = fan_out(&st, "series", &q.into_inner()).await?;
    let mut keys: Vec<SeriesKey> = parts
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.truncate(limit);
    Ok(HttpResponse::Ok().json(keys))
}
