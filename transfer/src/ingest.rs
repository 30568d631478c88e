//! The push endpoints:
//! - `POST /api/v1/push` — the Argus batch: the binary point frame
//!   (`Content-Type: application/x-argus-points-v1`, what agents send) or JSON, gzip/zstd;
//! - `POST /v1/push` — the open-falcon format;
//! - `POST /api/v2/write` — InfluxDB line protocol (Telegraf, InfluxDB clients);
//! - `POST /api/v1/write` — Prometheus remote write (snappy protobuf).
//!
//! The tenant comes from the token (`Authorization: Bearer X`, or `Token X` for InfluxDB
//! clients), never from the payload. Each point is validated on its own; the answer lists the
//! rejected ones by index, field and reason, and `accepted` counts the points made durable
//! (on their storage nodes or in the spool). Per-tenant quotas apply before anything is sent.

use crate::lineproto::{self, Precision};
use crate::quota::Refusal;
use crate::remote_write;
use crate::server::State;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use argus_core::http::ApiError;
use argus_core::series::{endpoint_hash, endpoint_hash_of, series_hash, series_hash_of};
use argus_core::validate::{validate_point, Limits, Rejection, ValidationError};
use argus_core::validate::{validate_sample, validate_series_of};
use argus_core::wire::{
    decode_body, falcon, frame, Batch, Budget, Decoded, Encoding, PushResponse,
};
use argus_core::{Point, TenantId};

/// Which format a push endpoint reads.
#[derive(Clone, Copy)]
pub enum Format {
    /// `{"points": [...]}`.
    Argus,
    /// `[{endpoint, metric, ..., tags: "k=v"}]`.
    Falcon,
}

/// The tenant a request's token was found to belong to, kept on the request.
#[derive(Clone)]
struct Admitted(TenantId);

/// The tenant of a push's token (from its head). The shedding gate asks first, before the push
/// takes a slot; the handler then reuses its answer instead of hashing the token again.
pub(crate) fn authenticate(req: &HttpRequest, st: &State) -> Result<TenantId, ApiError> {
    if let Some(Admitted(t)) = req.extensions().get::<Admitted>() {
        return Ok(t.clone());
    }
    let tenant = token_tenant(req, st)?;
    req.extensions_mut().insert(Admitted(tenant.clone()));
    Ok(tenant)
}

fn token_tenant(req: &HttpRequest, st: &State) -> Result<TenantId, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = argus_core::auth::bearer(Some(header)).or_else(|| {
        let (scheme, t) = header.trim().split_once(' ')?;
        (scheme.eq_ignore_ascii_case("token") && !t.trim().is_empty()).then_some(t.trim())
    });
    let Some(token) = token else {
        st.metrics.auth_failures.inc();
        return Err(ApiError::unauthorized(
            "missing agent token: send Authorization: Bearer <token>",
        ));
    };
    st.tokens.tenant_of(token).ok_or_else(|| {
        st.metrics.auth_failures.inc();
        ApiError::unauthorized("unknown agent token")
    })
}

/// What decoding one of `tenant`'s pushes may build: the smaller of its quota of points per
/// request and the transfer's `max_points_per_request` (0 bounds neither); twice the body limit
/// of copied names, tags and label entries. Both bound it because quotas are on by default: the
/// transfer's cap protects the process whatever a tenant's quota says.
fn budget(st: &State, tenant: &TenantId) -> Budget {
    let bound = |n: usize| if n == 0 { usize::MAX } else { n };
    Budget {
        points: bound(st.quotas.batch_points(tenant)).min(bound(st.cfg.max_points_per_request)),
        copied_bytes: st.cfg.max_body_bytes.saturating_mul(2),
    }
}

fn body_encoding(req: &HttpRequest) -> Result<Encoding, ApiError> {
    Encoding::from_header(
        req.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| ApiError::bad_field("Content-Encoding", e.to_string()))
}

/// Handles a push in `format`.
pub async fn push(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
    format: Format,
) -> Result<HttpResponse, ApiError> {
    let tenant = authenticate(&req, &st)?;
    let raw = decode_body(body_encoding(&req)?, &body, st.cfg.max_body_bytes)?;
    let binary = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(frame::CONTENT_TYPE));
    let budget = budget(&st, &tenant);
    let decoded = match format {
        // The binary frame agents send by default; any tenant in it is replaced by the token's.
        Format::Argus if binary => {
            let bad = |e: frame::DecodeError| ApiError::bad_request(e.to_string());
            // Its count is announced up front (and `split_frame` holds it to it).
            let n = frame::announced_points(&raw).map_err(bad)?;
            budget.check("points", usize::try_from(n).unwrap_or(usize::MAX))?;
            if st.forwarder.takes_encoded() {
                let resp = accept_frame(&st, &tenant, &raw).await?;
                return Ok(HttpResponse::Ok().json(resp));
            }
            frame::decode_lenient(&raw).map_err(bad)?
        }
        Format::Argus => Batch::decode_at_most(&raw, budget.points)?,
        Format::Falcon => falcon::decode_at_most(&raw, "", budget.points)?,
    };
    let resp = accept(&st, &tenant, decoded).await?;
    Ok(HttpResponse::Ok().json(resp))
}

/// `POST /internal/v1/push` (internal credential): points made by Argus itself, such as
/// recording rules' results from the judges, in the binary point frame. Unlike agent pushes,
/// each point names its tenant (the caller is a trusted node, checked before the body is read);
/// quotas and validation apply per tenant as for agents.
pub async fn internal_push(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let raw = decode_body(body_encoding(&req)?, &body, st.cfg.max_body_bytes)?;
    let (good, mut rejected) =
        frame::decode_lenient(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<(usize, Point)>> =
        std::collections::BTreeMap::new();
    for (i, p) in good {
        if p.tenant.as_str().is_empty() {
            rejected.push(Rejection::new(
                i,
                argus_core::validate::ValidationError::new(
                    "tenant",
                    "an internal push names each point's tenant",
                ),
            ));
            continue;
        }
        by_tenant.entry(p.tenant.clone()).or_default().push((i, p));
    }
    let mut resp = PushResponse {
        accepted: 0,
        rejected: Vec::new(),
    };
    for (tenant, points) in by_tenant {
        let r = accept(&st, &tenant, (points, std::mem::take(&mut rejected))).await?;
        resp.accepted += r.accepted;
        resp.rejected.extend(r.rejected);
    }
    resp.rejected
        .extend(argus_core::validate::cap_rejections(rejected));
    Ok(HttpResponse::Ok().json(resp))
}

/// `POST /api/v2/write?org=&bucket=&precision=`: InfluxDB line protocol. Answers 204 when every
/// numeric field was taken (string fields are skipped and counted; what InfluxDB clients
/// expect), else 400 with the rejections.
pub async fn influx_write(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let tenant = authenticate(&req, &st)?;
    let precision = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()
        .and_then(|q| {
            q.iter()
                .find(|(k, _)| k == "precision")
                .map(|(_, v)| v.clone())
        });
    let precision =
        Precision::parse(precision.as_deref()).map_err(|e| ApiError::bad_field("precision", e))?;
    let raw = decode_body(body_encoding(&req)?, &body, st.cfg.max_body_bytes)?;
    let text = std::str::from_utf8(&raw)
        .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
    let ingest = st.ingest_config();
    let (decoded, skipped) = lineproto::decode_counted(
        text,
        precision,
        &ingest,
        argus_core::time::now_secs(),
        budget(&st, &tenant),
    )?;
    if skipped > 0 {
        st.tenant_metrics(&tenant)
            .string_fields_skipped
            .add(skipped as u64);
    }
    let resp = accept(&st, &tenant, decoded).await?;
    if resp.rejected.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(HttpResponse::BadRequest().json(serde_json::json!({
        "code": "invalid",
        "message": format!("partial write: {} points accepted, {} rejected; first: {}",
            resp.accepted, resp.rejected.len(), resp.rejected[0]),
        "accepted": resp.accepted,
        "rejected": resp.rejected,
    })))
}

/// `POST /api/v1/write`: Prometheus remote write. Answers 204 when every sample was taken, else
/// 200 with the rejections (a 4xx would make Prometheus drop the whole request).
pub async fn remote_write(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let tenant = authenticate(&req, &st)?;
    let budget = budget(&st, &tenant);
    let unreadable = |e| match e {
        remote_write::RemoteWriteError::OverBudget(e) => ApiError::from(e),
        e => ApiError::bad_request(e.to_string()),
    };
    let raw = remote_write::decompress(&body, st.cfg.max_body_bytes, budget).map_err(unreadable)?;
    let ingest = st.ingest_config();
    let resp = if st.forwarder.takes_encoded() {
        // Straight from the protobuf to the forwarder's bytes: no structure per sample, each
        // series' key checked once.
        let mut enc = Encoded::new(
            &tenant,
            &st.cfg.limits,
            argus_core::time::now_secs(),
            raw.len() * 2,
            0,
        );
        remote_write::to_encoded(&raw, &ingest, budget, &mut enc).map_err(unreadable)?;
        if let Err(r) = st.quotas.admit_request(&tenant, enc.points()) {
            return Err(refused(&st, &tenant, r));
        }
        forward(&st, &tenant, enc).await?
    } else {
        let wr = <remote_write::WriteRequest as prost::Message>::decode(&raw[..]).map_err(|e| {
            ApiError::bad_request(
                remote_write::RemoteWriteError::Protobuf(e.to_string()).to_string(),
            )
        })?;
        accept(&st, &tenant, remote_write::to_points(wr, &ingest, budget)?).await?
    };
    if resp.rejected.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(HttpResponse::Ok().json(resp))
}

/// Refuses a push of `tenant` from its head when the tenant's rate bucket is empty.
pub(crate) fn check_quota_head(st: &State, tenant: &TenantId) -> Result<(), ApiError> {
    st.quotas
        .check_head(tenant)
        .map_err(|r| refused(st, tenant, r))
}

/// The answer to a quota refusal, counted in the tenant's metrics.
fn refused(st: &State, tenant: &TenantId, r: Refusal) -> ApiError {
    let tm = st.tenant_metrics(tenant);
    match r {
        Refusal::Rate {
            retry_after,
            per_sec,
        } => {
            tm.limited_rate.inc();
            ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("tenant {tenant} is over its quota of {per_sec} points/s"),
                )
            }
        }
        Refusal::Batch { points, limit } => {
            tm.limited_batch.inc();
            ApiError {
                field: Some("points".into()),
                ..ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("{points} points in one request, the tenant's quota is {limit}"),
                )
            }
        }
    }
}

/// Applies quotas and validation to decoded points of `tenant`, forwards the good ones and
/// answers once they are durable.
pub async fn accept(
    st: &State,
    tenant: &TenantId,
    (good, mut rejected): Decoded,
) -> Result<PushResponse, ApiError> {
    let tm = st.tenant_metrics(tenant);
    let total = good.len() + rejected.len();
    if let Err(r) = st.quotas.admit_request(tenant, total) {
        return Err(refused(st, tenant, r));
    }
    let now = argus_core::time::now_secs();
    let mut idx = Vec::with_capacity(good.len());
    let mut points: Vec<Point> = Vec::with_capacity(good.len());
    for (i, mut p) in good {
        p.tenant = tenant.clone();
        match validate_point(&p, &st.cfg.limits, now) {
            Ok(()) => {
                idx.push(i);
                points.push(p);
            }
            Err(e) => rejected.push(Rejection::new(i, e)),
        }
    }
    let verdicts = st.quotas.admit_points(tenant, &points);
    if verdicts.iter().any(Option::is_some) {
        let mut kept = Vec::with_capacity(points.len());
        for ((i, p), v) in idx.into_iter().zip(points).zip(verdicts) {
            match v {
                None => kept.push(p),
                Some(e) => {
                    if e.field == "series" {
                        tm.limited_series.inc();
                    } else {
                        tm.limited_tags.inc();
                    }
                    rejected.push(Rejection::new(i, e));
                }
            }
        }
        points = kept;
    }
    let accepted = points.len();
    let written = match accepted {
        0 => Ok(0),
        _ => st.forwarder.write(points).await,
    };
    answer(st, tenant, accepted, rejected, written)
}

/// The end of every push: counts what was refused and taken, and answers; `written` is the
/// forwarder's outcome for the `accepted` points (how many writes went to the spool), and a
/// failure means nothing of the push is acknowledged.
fn answer(
    st: &State,
    tenant: &TenantId,
    accepted: usize,
    rejected: Vec<Rejection>,
    written: Result<usize, crate::forward::ForwardError>,
) -> Result<PushResponse, ApiError> {
    let tm = st.tenant_metrics(tenant);
    tm.rejected.add(rejected.len() as u64);
    match written {
        Ok(spooled) if spooled > 0 => st.metrics.spooled_writes.add(spooled as u64),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "push not durable");
            return Err(ApiError::unavailable(e.to_string(), 2));
        }
    }
    tm.accepted.add(accepted as u64);
    let rejected = argus_core::validate::cap_rejections(rejected);
    Ok(PushResponse { accepted, rejected })
}

/// [`accept`] for an agent's binary frame (the agents' default format), checked in place
/// instead of decoded: each point's key is read as strings borrowed from the frame, validated,
/// and re-encoded once by writing the token's tenant before the key's other bytes, which the
/// forwarder copies to the point's replicas and judge as they are. No `Point` is built, except
/// for a point whose tags are not sorted by key (decoded whole, which sorts them, so that its
/// series is routed and stored as the same series sent in order).
async fn accept_frame(st: &State, tenant: &TenantId, raw: &[u8]) -> Result<PushResponse, ApiError> {
    let split = frame::split_frame(raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Err(r) = st.quotas.admit_request(tenant, split.len()) {
        return Err(refused(st, tenant, r));
    }
    let mut enc = Encoded::new(
        tenant,
        &st.cfg.limits,
        argus_core::time::now_secs(),
        raw.len(),
        split.len(),
    );
    let mut tags = Vec::new();
    for (i, f) in split.iter().enumerate() {
        let sample = (f.value, f.timestamp, f.step, f.counter_type);
        match f.view(raw, &mut tags) {
            Ok(v) if v.canonical => {
                match SeriesOk::check(enc.tenant(), v.endpoint, v.metric, &tags, enc.limits()) {
                    Ok(key) => enc.push(i, &key, v.after_tenant, sample),
                    Err(e) => enc.reject(i, e),
                }
            }
            Ok(_) => match f.to_point(raw) {
                Ok(p) => enc.push_point(i, p),
                Err(e) => enc.reject(i, ValidationError::new("key", e.to_string())),
            },
            Err(e) => enc.reject(i, ValidationError::new("key", e.to_string())),
        }
    }
    forward(st, tenant, enc).await
}

/// A point's value, timestamp, step and counter type.
pub(crate) type Sample = (f64, i64, u32, argus_core::CounterType);

/// A series key that passed validation: what each of its points carries to the forwarder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesOk {
    /// Its tag count (the tags-per-point quota).
    tags: usize,
    series_hash: u64,
    endpoint_hash: u64,
}

impl SeriesOk {
    /// Validates the key of `tenant`'s series given as strings, its tags sorted by key
    /// without a repeated key (the canonical order).
    pub(crate) fn check(
        tenant: &str,
        endpoint: &str,
        metric: &str,
        tags: &[(&str, &str)],
        limits: &Limits,
    ) -> Result<SeriesOk, ValidationError> {
        validate_series_of(endpoint, metric, tags, limits)?;
        Ok(SeriesOk {
            tags: tags.len(),
            series_hash: series_hash_of(tenant, endpoint, metric, tags),
            endpoint_hash: endpoint_hash_of(tenant, endpoint),
        })
    }
}

/// Points of one push checked and encoded for the forwarder, each under the token's tenant,
/// and the ones refused on the way: what an agent's frame or a remote-write request becomes
/// without building a `Point`.
pub(crate) struct Encoded<'a> {
    tenant: &'a TenantId,
    limits: &'a Limits,
    now: i64,
    /// The kept points' bytes one after the other; each `Kept` says where its own end.
    bytes: Vec<u8>,
    kept: Vec<Kept>,
    rejected: Vec<Rejection>,
}

impl<'a> Encoded<'a> {
    /// Nothing yet, with room for about `bytes` bytes of `points` points.
    pub(crate) fn new(
        tenant: &'a TenantId,
        limits: &'a Limits,
        now: i64,
        bytes: usize,
        points: usize,
    ) -> Encoded<'a> {
        Encoded {
            tenant,
            limits,
            now,
            bytes: Vec::with_capacity(bytes + points * (tenant.as_str().len() + 1)),
            kept: Vec::with_capacity(points),
            rejected: Vec::new(),
        }
    }

    /// Point `index` of the series `key` (checked; the key's encoded bytes after the tenant,
    /// [`frame::put_series_key`], are `after_tenant`): kept when its sample is valid.
    pub(crate) fn push(&mut self, index: usize, key: &SeriesOk, after_tenant: &[u8], s: Sample) {
        if let Err(e) = validate_sample(s.0, s.1, s.2, self.limits, self.now) {
            return self.reject(index, e);
        }
        frame::put_str(&mut self.bytes, self.tenant.as_str());
        self.bytes.extend_from_slice(after_tenant);
        frame::put_sample(&mut self.bytes, s.0, s.1, s.2, s.3);
        self.keep(index, key);
    }

    /// Point `index` decoded whole (its tags sorted): validated and encoded canonically.
    fn push_point(&mut self, index: usize, mut p: Point) {
        p.tenant = self.tenant.clone();
        if let Err(e) = validate_point(&p, self.limits, self.now) {
            return self.reject(index, e);
        }
        frame::put_point(&mut self.bytes, &p);
        let key = SeriesOk {
            tags: p.tags.len(),
            series_hash: series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags),
            endpoint_hash: endpoint_hash(&p.tenant, &p.endpoint),
        };
        self.keep(index, &key);
    }

    fn keep(&mut self, index: usize, key: &SeriesOk) {
        self.kept.push(Kept {
            index,
            key: *key,
            end: self.bytes.len(),
        });
    }

    /// Point `index` refused for `e`.
    pub(crate) fn reject(&mut self, index: usize, e: ValidationError) {
        self.rejected.push(Rejection::new(index, e));
    }

    /// The token's tenant.
    pub(crate) fn tenant(&self) -> &'a str {
        self.tenant.as_str()
    }

    /// The limits points are checked against.
    pub(crate) fn limits(&self) -> &'a Limits {
        self.limits
    }

    /// The kept points as a frame, with each one's index in the push; and the refusals.
    #[cfg(test)]
    pub(crate) fn parts(&self) -> (Vec<u8>, Vec<usize>, &[Rejection]) {
        let mut f = Vec::with_capacity(self.bytes.len() + 16);
        frame::put_header(&mut f, self.kept.len());
        f.extend_from_slice(&self.bytes);
        (
            f,
            self.kept.iter().map(|k| k.index).collect(),
            &self.rejected,
        )
    }

    /// Points kept or refused so far.
    pub(crate) fn points(&self) -> usize {
        self.kept.len() + self.rejected.len()
    }
}

/// The end of [`accept_frame`] and of remote write: the series quotas, then the kept points to
/// the forwarder, answered once they are durable.
pub(crate) async fn forward(
    st: &State,
    tenant: &TenantId,
    enc: Encoded<'_>,
) -> Result<PushResponse, ApiError> {
    let tm = st.tenant_metrics(tenant);
    let Encoded {
        bytes,
        kept,
        mut rejected,
        ..
    } = enc;
    let verdicts = st
        .quotas
        .admit_series(tenant, kept.iter().map(|k| (k.key.tags, k.key.series_hash)));
    let mut points = Vec::with_capacity(kept.len());
    let mut start = 0;
    for (k, v) in kept.iter().zip(verdicts) {
        let own = &bytes[start..k.end];
        start = k.end;
        match v {
            None => points.push(crate::forward::EncodedPoint {
                series_hash: k.key.series_hash,
                endpoint_hash: k.key.endpoint_hash,
                bytes: own,
            }),
            Some(e) => {
                if e.field == "series" {
                    tm.limited_series.inc();
                } else {
                    tm.limited_tags.inc();
                }
                rejected.push(Rejection::new(k.index, e));
            }
        }
    }
    let accepted = points.len();
    let written = match accepted {
        0 => Ok(0),
        _ => st.forwarder.write_encoded(points.into_iter()).await,
    };
    answer(st, tenant, accepted, rejected, written)
}

/// A point that passed validation, as [`Encoded`] keeps it.
struct Kept {
    /// Its index in the push.
    index: usize,
    key: SeriesOk,
    /// Where its bytes end in the encoded points.
    end: usize,
}
