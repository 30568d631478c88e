//! The local push port: scripts push points in the open-falcon format to `/v1/push` (or the
//! Argus batch to `/api/v1/push`), exactly as they did to falcon-agent. A missing endpoint
//! defaults to this host's name.

use crate::agent::Shared;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::http::ApiError;
use argus_core::validate::{validate_point, Rejection};
use argus_core::wire::{decode_body, falcon, Batch, Encoding, PushResponse};

/// Largest push body after decompression, in bytes (as the push port's payload limit).
pub const MAX_PUSH_BYTES: usize = 16 << 20;

/// Which format a push endpoint reads.
#[derive(Clone, Copy)]
pub enum Format {
    /// `[{endpoint, metric, timestamp, step, value, counterType, tags}]`.
    Falcon,
    /// `{"points": [...]}`.
    Argus,
}

/// Handles one push: keeps the good points, answers with the rejected ones.
pub async fn push(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<Shared>,
    format: Format,
) -> Result<HttpResponse, ApiError> {
    let enc = Encoding::from_header(
        req.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| ApiError::bad_field("Content-Encoding", e.to_string()))?;
    let body = decode_body(enc, &body, MAX_PUSH_BYTES)?;
    // More points than the buffer holds could not be kept anyway: decoding stops there (413)
    // instead of building them all from a small gzip body.
    let max = st.cfg.buffer_max_points.max(1);
    let (good, mut rejected) = match format {
        Format::Falcon => falcon::decode_at_most(&body, &st.endpoint, max),
        Format::Argus => Batch::decode_at_most(&body, max),
    }?;
    let now = argus_core::time::now_secs();
    let mut points = Vec::with_capacity(good.len());
    for (i, mut p) in good {
        if p.endpoint.is_empty() {
            p.endpoint = st.endpoint.clone();
        }
        match validate_point(&p, &st.cfg.limits, now) {
            Ok(()) => points.push(p),
            Err(e) => rejected.push(Rejection::new(i, e)),
        }
    }
    let rejected = argus_core::validate::cap_rejections(rejected);
    let accepted = points.len();
    st.queue.push(points);
    Ok(HttpResponse::Ok().json(PushResponse { accepted, rejected }))
}
