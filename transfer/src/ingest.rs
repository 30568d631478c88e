//! The push endpoints: `POST /api/v1/push` (Argus batch) and `POST /v1/push` (open-falcon).
//!
//! The tenant comes from the bearer token, never from the payload. Each point is validated on
//! its own; the answer lists the rejected ones by index, field and reason, and `accepted` counts
//! the points made durable downstream.

use crate::server::State;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::http::{bearer_token, ApiError};
use argus_core::validate::{validate_point, Rejection};
use argus_core::wire::{decode_body, falcon, Batch, Encoding, PushResponse};
use argus_core::{Point, TenantId};

/// Which format a push endpoint reads.
#[derive(Clone, Copy)]
pub enum Format {
    /// `{"points": [...]}`.
    Argus,
    /// `[{endpoint, metric, ..., tags: "k=v"}]`.
    Falcon,
}

fn authenticate(req: &HttpRequest, st: &State) -> Result<TenantId, ApiError> {
    let token = bearer_token(req).ok_or_else(|| {
        ApiError::unauthorized("missing agent token: send Authorization: Bearer <token>")
    })?;
    st.tokens
        .read()
        .expect("token lock")
        .tenant_of(token)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("unknown agent token"))
}

/// Handles a push in `format`.
pub async fn push(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
    format: Format,
) -> Result<HttpResponse, ApiError> {
    let tenant = authenticate(&req, &st)?;
    let enc = Encoding::from_header(
        req.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| ApiError::bad_field("Content-Encoding", e.to_string()))?;
    let json = decode_body(enc, &body, st.cfg.max_body_bytes)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let decoded = match format {
        Format::Argus => Batch::decode(&json),
        Format::Falcon => falcon::decode(&json, ""),
    };
    let (good, mut rejected) = decoded.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let points = admit(good, &tenant, &st, &mut rejected);
    st.metrics.points_rejected.add(rejected.len() as u64);
    let accepted = points.len();
    if accepted > 0 {
        st.forwarder
            .write(points)
            .await
            .map_err(|e| ApiError::unavailable(e.to_string(), 2))?;
        st.metrics.points_accepted.add(accepted as u64);
    }
    rejected.sort_by_key(|r| r.index);
    Ok(HttpResponse::Ok().json(PushResponse { accepted, rejected }))
}

/// Stamps the tenant on each decoded point and validates it; refused points join `rejected`.
fn admit(
    good: Vec<(usize, Point)>,
    tenant: &TenantId,
    st: &State,
    rejected: &mut Vec<Rejection>,
) -> Vec<Point> {
    let now = argus_core::time::now_secs();
    let mut points = Vec::with_capacity(good.len());
    for (i, mut p) in good {
        p.tenant = tenant.clone();
        match validate_point(&p, &st.cfg.limits, now) {
            Ok(()) => points.push(p),
            Err(e) => rejected.push(Rejection::new(i, e)),
        }
    }
    points
}
