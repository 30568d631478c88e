//! The internal node credential checked before anything else of the request is read.
//!
//! A handler that takes `web::Json<T>` or `web::Bytes` has its body read and parsed by actix
//! before the handler runs, so a `check_internal` call inside the handler comes too late: an
//! unauthenticated caller can make the node buffer and parse up to `max_body_bytes`, and learns
//! from a 400 or 413 that the endpoint exists and how it parses. Wrapping the route in
//! [`InternalOnly`] answers 401 from the headers alone; the body is never touched.

use crate::http::check_internal;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, HttpRequest, ResponseError};
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

type Expected = Rc<dyn Fn(&HttpRequest) -> Option<String>>;

/// The middleware: `web::post().to(handler).wrap(InternalOnly::token(t))`.
#[derive(Clone)]
pub struct InternalOnly {
    expected: Expected,
}

impl InternalOnly {
    /// Requires `token` (empty: no check, as [`check_internal`]).
    pub fn token(token: impl Into<String>) -> Self {
        let t: String = token.into();
        InternalOnly {
            expected: Rc::new(move |_| Some(t.clone())),
        }
    }

    /// Requires the token `expected` finds for the request (typically in the app's state). When
    /// it finds none, the request is refused: a misconfigured server fails closed.
    pub fn from_request(expected: impl Fn(&HttpRequest) -> Option<String> + 'static) -> Self {
        InternalOnly {
            expected: Rc::new(expected),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for InternalOnly
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = InternalOnlyService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(InternalOnlyService {
            inner: service,
            expected: self.expected.clone(),
        }))
    }
}

/// The wrapped service of [`InternalOnly`].
pub struct InternalOnlyService<S> {
    inner: S,
    expected: Expected,
}

impl<S, B> Service<ServiceRequest> for InternalOnlyService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let verdict = match (self.expected)(req.request()) {
            Some(t) => check_internal(req.request(), &t),
            None => Err(crate::http::ApiError::internal(
                "the internal credential is not configured on this route",
            )),
        };
        match verdict {
            Ok(()) => {
                let fut = self.inner.call(req);
                Box::pin(async move { fut.await.map(ServiceResponse::map_into_left_body) })
            }
            Err(e) => {
                let resp = req.into_response(e.error_response()).map_into_right_body();
                Box::pin(async move { Ok(resp) })
            }
        }
    }
}
