//! Load shedding: a bound on the requests one node works on at once.
//!
//! An ingest endpoint wrapped in [`Shed`] admits at most `limit` requests at a time; the next
//! one is answered at once with `503 Service Unavailable` and `Retry-After`, before its body is
//! read. A saturated node thus refuses quickly and cheaply (clients and transfers retry or
//! spool) instead of queueing without bound until it runs out of memory or every request times
//! out. The permit is held until the response is ready, so a request waiting on its body or on
//! a downstream counts as in flight.

use crate::http::ApiError;
use crate::telemetry::{Counter, Gauge};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, ResponseError};
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The shared in-flight count of one node's ingest endpoints and its counters.
pub struct Shedder {
    limit: usize,
    retry_after: u64,
    in_flight: AtomicUsize,
    shed: Arc<Counter>,
    gauge: Arc<Gauge>,
}

/// A slot taken by one admitted request; released on drop.
pub struct Permit(Arc<Shedder>);

impl Drop for Permit {
    fn drop(&mut self) {
        let n = self.0.in_flight.fetch_sub(1, Ordering::AcqRel) - 1;
        self.0.gauge.set(n as i64);
    }
}

impl Shedder {
    /// Admits at most `limit` requests at once (0: no limit); refusals ask clients to come back
    /// after `retry_after` seconds, and are counted in `shed`; `gauge` shows the requests in
    /// flight.
    pub fn new(
        limit: usize,
        retry_after: u64,
        shed: Arc<Counter>,
        gauge: Arc<Gauge>,
    ) -> Arc<Shedder> {
        Arc::new(Shedder {
            limit,
            retry_after: retry_after.max(1),
            in_flight: AtomicUsize::new(0),
            shed,
            gauge,
        })
    }

    /// A permit when there is room, else the 503 to answer (and the refusal is counted).
    pub fn try_enter(self: &Arc<Self>) -> Result<Permit, ApiError> {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        if self.limit > 0 && n > self.limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.shed.inc();
            return Err(ApiError::unavailable(
                format!(
                    "overloaded: the limit of {} requests in flight is reached; retry later",
                    self.limit
                ),
                self.retry_after,
            ));
        }
        self.gauge.set(n as i64);
        Ok(Permit(self.clone()))
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests refused so far.
    pub fn shed_count(&self) -> u64 {
        self.shed.get()
    }
}

/// The actix middleware: `web::post().to(handler).wrap(Shed(shedder.clone()))`.
#[derive(Clone)]
pub struct Shed(pub Arc<Shedder>);

impl<S, B> Transform<S, ServiceRequest> for Shed
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = ShedService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ShedService {
            inner: Rc::new(service),
            shedder: self.0.clone(),
        }))
    }
}

/// The wrapped service of [`Shed`].
pub struct ShedService<S> {
    inner: Rc<S>,
    shedder: Arc<Shedder>,
}

impl<S, B> Service<ServiceRequest> for ShedService<S>
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
        match self.shedder.try_enter() {
            Err(e) => {
                let resp = req.into_response(e.error_response()).map_into_right_body();
                Box::pin(async move { Ok(resp) })
            }
            Ok(permit) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let r = fut.await;
                    drop(permit);
                    r.map(ServiceResponse::map_into_left_body)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Registry;

    fn shedder(limit: usize) -> Arc<Shedder> {
        let r = Registry::new();
        Shedder::new(
            limit,
            1,
            r.counter("shed_total", "", &[]),
            r.gauge("in_flight", "", &[]),
        )
    }

    #[test]
    fn admits_up_to_the_limit_and_frees_on_drop() {
        let s = shedder(2);
        let a = s.try_enter().expect("first");
        let _b = s.try_enter().expect("second");
        let e = s.try_enter().err().expect("third is shed");
        assert_eq!(e.status.as_u16(), 503);
        assert_eq!(e.retry_after, Some(1));
        assert_eq!(s.shed_count(), 1);
        assert_eq!(s.in_flight(), 2, "a refusal does not keep a slot");
        drop(a);
        assert!(s.try_enter().is_ok(), "a released slot is reused");
    }

    #[test]
    fn zero_means_unlimited() {
        let s = shedder(0);
        let permits: Vec<_> = (0..1000)
            .map(|_| s.try_enter().expect("admitted"))
            .collect();
        assert_eq!(s.in_flight(), 1000);
        drop(permits);
        assert_eq!(s.in_flight(), 0);
    }
}
