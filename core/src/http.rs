//! HTTP helpers shared by every component's server: binding, the stop handle, JSON errors,
//! bearer-token checks and the `/metrics` endpoint.

use crate::telemetry::Registry;
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use std::net::{SocketAddr, TcpListener};

/// A running HTTP server: where it listens and how to stop it.
pub struct Served {
    /// The bound address (the real port when the config said port 0).
    pub addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
    https: bool,
}

impl Served {
    /// Starts `server` (an [`actix_web::HttpServer`] already bound) in the background.
    pub fn spawn(addr: SocketAddr, server: actix_web::dev::Server) -> Self {
        let handle = server.handle();
        let task = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "http server failed");
            }
        });
        Served {
            addr,
            handle,
            task,
            https: false,
        }
    }

    /// Marks the server as serving HTTPS (see [`listen`]), so that [`Self::url`] says `https`.
    pub fn with_https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// The base URL, `http://addr` (`https://addr` when it serves TLS).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// Binds a TCP listener, saying which address failed and why.
pub fn bind(addr: &str, what: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).map_err(|e| {
        std::io::Error::new(e.kind(), format!("{what}: cannot listen on {addr}: {e}"))
    })?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// Serves `server` on `listener`: HTTPS only when `tls` names a certificate and key, plain
/// HTTP otherwise. A certificate or key that cannot be used is an error naming the file
/// (`what` names the component).
pub fn listen<F, I, S, B>(
    server: actix_web::HttpServer<F, I, S, B>,
    listener: TcpListener,
    tls: &crate::tls::TlsConfig,
    what: &str,
) -> std::io::Result<actix_web::HttpServer<F, I, S, B>>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: actix_service::IntoServiceFactory<S, actix_http::Request>,
    S: actix_web::dev::ServiceFactory<actix_http::Request, Config = actix_web::dev::AppConfig>
        + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<actix_web::dev::Response<B>> + 'static,
    <S::Service as actix_web::dev::Service<actix_http::Request>>::Future: 'static,
    S::Service: 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let config = tls.server_config().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    })?;
    match config {
        Some(c) => server.listen_rustls_0_23(listener, c),
        None => server.listen(listener),
    }
}

/// The JSON body of every error answer: `{"error": "...", "field": "..."}`.
#[derive(Debug, Serialize, serde::Deserialize, Clone)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// The offending field, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
}

/// An error answer: a status and a message, optionally naming a field.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message.
    pub message: String,
    /// The field to blame.
    pub field: Option<String>,
    /// Seconds to wait before retrying (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    /// 400 naming `field`.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    /// 503 with Retry-After.
    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            r.insert_header(("Retry-After", s.to_string()));
        }
        r.json(ErrorBody {
            error: self.message.clone(),
            field: self.field.clone(),
        })
    }
}

/// The bearer token of a request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    crate::auth::bearer(
        req.headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
    )
}

/// Checks the internal node credential: a request between Argus nodes must carry
/// `Authorization: Bearer <internal token>`. An empty configured token disables the check
/// (standalone on loopback only; refused elsewhere by each component's config check).
pub fn check_internal(req: &HttpRequest, expected: &str) -> Result<(), ApiError> {
    check_internal_token(bearer_token(req), expected)
}

/// [`check_internal`] on the token a caller presented (`None`: none), for callers reached
/// without an HTTP request (a storage node called in its own process).
pub fn check_internal_token(presented: Option<&str>, expected: &str) -> Result<(), ApiError> {
    if expected.is_empty() {
        return Ok(());
    }
    match presented {
        Some(t) if crate::auth::constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("invalid internal credential")),
        None => Err(ApiError::unauthorized(
            "missing internal credential (Authorization: Bearer ...)",
        )),
    }
}

/// The `/metrics` answer of a component whose figures name tenants: in full to a caller with
/// the internal credential (`internal_token`; also when it is empty, standalone on loopback),
/// summed over tenants to anyone else, so that an unauthenticated scrape learns no tenant id.
pub fn metrics_for(req: &HttpRequest, registry: &Registry, internal_token: &str) -> HttpResponse {
    let hidden = match check_internal(req, internal_token) {
        Ok(()) => None,
        Err(_) => Some("tenant"),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(registry.render_hiding(hidden))
}

/// The `/health` answer of a component that is up: `{"status": "ok"}`.
pub fn healthy() -> serde_json::Value {
    serde_json::json!({"status": "ok"})
}

/// Registers the routes every component serves about itself, before its own: `/health` (200
/// with the JSON `health` returns: [`healthy`] unless the component says more) for load
/// balancers and supervisors, and `/metrics`, the answer `metrics` renders for the request
/// (usually [`metrics_response`] or [`metrics_for`] after refreshing the component's gauges).
pub fn common_routes<H, M>(cfg: &mut actix_web::web::ServiceConfig, health: H, metrics: M)
where
    H: Fn() -> serde_json::Value + Clone + 'static,
    M: Fn(&HttpRequest) -> HttpResponse + Clone + 'static,
{
    use actix_web::web;
    cfg.route(
        "/health",
        web::get().to(move || {
            let body = health();
            async move { HttpResponse::Ok().json(body) }
        }),
    )
    .route(
        "/metrics",
        web::get().to(move |req: HttpRequest| {
            let answer = metrics(&req);
            async move { answer }
        }),
    );
}

/// The `/metrics` answer for `registry`.
pub fn metrics_response(registry: &Registry) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(registry.render())
}

/// A query-string config whose errors are JSON 400 answers naming the parameter, like every
/// other error (actix's default is a plain-text body).
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _req| {
        let msg = err.to_string();
        let msg = msg
            .strip_prefix("Query deserialize error: ")
            .unwrap_or(&msg)
            .to_string();
        let field = msg.split('`').nth(1).map(String::from);
        ApiError {
            field,
            ..ApiError::bad_request(format!("invalid query parameters: {msg}"))
        }
        .into()
    })
}

impl From<crate::wire::WireError> for ApiError {
    /// A body that is too large is 413; any other unreadable body is 400.
    fn from(e: crate::wire::WireError) -> Self {
        match e {
            crate::wire::WireError::TooLarge { .. }
            | crate::wire::WireError::TooMuchCopying { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            crate::wire::WireError::TooMany { what, .. } => ApiError {
                field: Some(what.into()),
                ..ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            },
            _ => ApiError::bad_request(e.to_string()),
        }
    }
}

/// A JSON-config error handler that turns body-parsing failures into a 400 that says why.
pub fn json_config(limit: usize) -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let msg = err.to_string();
            ApiError::bad_request(format!("invalid JSON body: {msg}")).into()
        })
}

/// The bytes of `req` on the wire, for [`crate::telemetry::CrossRegion`]: request line, headers
/// (plus an estimate for those the client adds itself: host, accept, accept-encoding,
/// content-length) and body.
pub fn request_wire_len(req: &reqwest::Request) -> u64 {
    let line = req.method().as_str().len() + req.url().path().len() + " HTTP/1.1 ".len();
    let body = req.body().and_then(|b| b.as_bytes()).map_or(0, |b| b.len());
    crate::telemetry::http_head_len(
        line,
        req.headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes())),
        90,
    ) + body as u64
}

/// What a failed HTTP call means for whoever sent it: the one rule every sender uses (agent to
/// transfer, transfer to storage nodes, judges and remote TSDBs, judge to alarm, alarm to
/// webhooks and chat services, web to regions, config-center pulls).
///
/// - No answer at all (refused connection, timeout, reset, an answer cut short) and 5xx, 408,
///   425 and 429 are [`Failure::Transient`]: the receiver is down, busy or slow, and the same
///   request may succeed later (after its `Retry-After`, if it gave one). Every receiver here
///   dedupes or overwrites, so a request that did arrive may be sent again.
/// - 401, 403 and 404 are [`Failure::Misconfigured`]: the credential or the URL the sender was
///   given is wrong. Sending the same request again cannot help until an operator (or the
///   config center) fixes it, so it is not retried as if the receiver were busy; but the
///   request is fine, so its data is never dropped for it. Durable queues (the agent's buffer,
///   the transfer's spool, the judge's outbox) keep it and retry at their backoff; alarm's
///   deliveries dead-letter it, from where the console sends it again; a query reports the
///   receiver as unavailable, not the query as wrong.
/// - Every other 4xx is [`Failure::Refused`]: the request itself is wrong (malformed, too
///   large, invalid) and never will be taken; the sender sets it aside and says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Worth sending again later.
    Transient,
    /// The sender's credential or URL is wrong: keep the data, fix the configuration.
    Misconfigured,
    /// The request itself is wrong: sending it again can never succeed.
    Refused,
}

impl Failure {
    /// The meaning of a non-2xx `status` (a 1xx/2xx/3xx a client did not follow counts as
    /// transient: nothing says the request was wrong).
    pub fn of_status(status: u16) -> Failure {
        match status {
            408 | 425 | 429 => Failure::Transient,
            401 | 403 | 404 => Failure::Misconfigured,
            400..=499 => Failure::Refused,
            _ => Failure::Transient,
        }
    }

    /// True for failures where the same data should be sent again rather than set aside
    /// (transient ones and misconfigurations: see [`Failure`]). What durable queues use.
    pub fn keeps_data(self) -> bool {
        self != Failure::Refused
    }
}

/// True when the same request may succeed later without anyone changing anything (5xx, 408,
/// 425, 429; see [`Failure`]). A call that got no answer is always retryable.
pub fn retryable(status: u16) -> bool {
    Failure::of_status(status) == Failure::Transient
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn the_retry_rule() {
        for s in [500, 502, 503, 504, 507, 408, 425, 429] {
            assert_eq!(Failure::of_status(s), Failure::Transient, "{s}");
            assert!(retryable(s), "{s}");
            assert!(Failure::of_status(s).keeps_data(), "{s}");
        }
        for s in [401, 403, 404] {
            assert_eq!(Failure::of_status(s), Failure::Misconfigured, "{s}");
            assert!(!retryable(s), "{s}");
            assert!(Failure::of_status(s).keeps_data(), "{s}");
        }
        for s in [400, 405, 409, 410, 411, 413, 414, 415, 422, 431] {
            assert_eq!(Failure::of_status(s), Failure::Refused, "{s}");
            assert!(!retryable(s), "{s}");
            assert!(!Failure::of_status(s).keeps_data(), "{s}");
        }
    }
}
