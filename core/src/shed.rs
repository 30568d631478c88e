//! Load shedding: a bound on the requests one node works on at once.
//!
//! An ingest endpoint wrapped in [`Shed`] admits at most `limit` requests at a time; the next
//! one is answered at once with `503 Service Unavailable` and `Retry-After`, before its body is
//! read. A saturated node thus refuses quickly and cheaply (clients and transfers retry or
//! spool) instead of queueing without bound until it runs out of memory or every request times
//! out. The permit is held until the response is ready, so a request waiting on its body or on
//! a downstream counts as in flight.
//!
//! So that slow senders cannot hold every slot (a body trickled a byte at a time), an admitted
//! request's body must arrive whole within the body deadline ([`DEFAULT_BODY_DEADLINE`] unless
//! set with [`Shedder::with_body_deadline`]); past it, reading the body fails, the request is
//! answered 400 and its slot is free again.
//!
//! So that no caller can starve the others, a shedder may have a gate
//! ([`Shedder::with_gate`]): a check of the request's head (its credential) that runs before a
//! slot is taken and names the caller's class (its tenant). A request the gate refuses is
//! answered at once and never holds a slot, and each class holds at most its share of them.

use crate::http::ApiError;
use crate::telemetry::{Counter, Gauge};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, HttpMessage, ResponseError};
use std::collections::HashMap;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long an admitted request may take to send its whole body, unless configured.
pub const DEFAULT_BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Checks a request's head before it may take a slot: the caller's class (e.g. its tenant), or
/// the refusal to answer at once.
pub type Gate = Box<dyn Fn(&actix_web::HttpRequest) -> Result<String, ApiError> + Send + Sync>;

/// The shared in-flight count of one node's ingest endpoints and its counters.
pub struct Shedder {
    limit: usize,
    retry_after: u64,
    in_flight: AtomicUsize,
    shed: Arc<Counter>,
    gauge: Arc<Gauge>,
    body_deadline: Duration,
    gate: Option<Gate>,
    /// Most slots one class holds at once (0: no bound but `limit`).
    share: usize,
    classes: Mutex<HashMap<String, usize>>,
}

/// A slot taken by one admitted request; released on drop.
pub struct Permit(Arc<Shedder>, Option<String>);

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(class) = &self.1 {
            let mut classes = self.0.classes.lock().expect("shed lock");
            if let Some(n) = classes.get_mut(class) {
                *n -= 1;
                if *n == 0 {
                    classes.remove(class);
                }
            }
        }
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
            body_deadline: DEFAULT_BODY_DEADLINE,
            gate: None,
            share: 0,
            classes: Mutex::new(HashMap::new()),
        })
    }

    /// The shedder of a component's ingest routes, with its metrics in `registry`: at most
    /// `limit` requests in flight (0: no limit), refusals counted in
    /// `argus_<component>_shed_total` and the requests in flight shown by
    /// `argus_<component>_in_flight`; `what` names the requests in the metrics' help (a plural
    /// noun: "writes"). Each body must arrive within `body_timeout_secs` (0: no deadline).
    pub fn for_component(
        registry: &crate::telemetry::Registry,
        component: &str,
        what: &str,
        limit: usize,
        body_timeout_secs: u64,
    ) -> Arc<Shedder> {
        let mut chars = what.chars();
        let capitalised = match chars.next() {
            Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
            None => String::new(),
        };
        Shedder::new(
            limit,
            1,
            registry.counter(
                &format!("argus_{component}_shed_total"),
                &format!(
                    "{capitalised} refused with 503 because max_in_flight {what} were already in flight."
                ),
                &[],
            ),
            registry.gauge(
                &format!("argus_{component}_in_flight"),
                &format!("{capitalised} in flight."),
                &[],
            ),
        )
        .with_body_deadline(Duration::from_secs(body_timeout_secs))
    }

    /// Checks each request's head with `gate` before it may take a slot, and lets one class
    /// hold at most `share` slots at once (0: no bound but the limit). Call before the shedder
    /// is shared.
    pub fn with_gate(mut self: Arc<Self>, gate: Gate, share: usize) -> Arc<Self> {
        if let Some(s) = Arc::get_mut(&mut self) {
            s.gate = Some(gate);
            s.share = share;
        }
        self
    }

    /// Sets how long an admitted request may take to send its whole body (zero: no deadline).
    /// Call before the shedder is shared.
    pub fn with_body_deadline(mut self: Arc<Self>, deadline: Duration) -> Arc<Self> {
        if let Some(s) = Arc::get_mut(&mut self) {
            s.body_deadline = deadline;
        }
        self
    }

    /// A permit when there is room, else the 503 to answer (and the refusal is counted).
    pub fn try_enter(self: &Arc<Self>) -> Result<Permit, ApiError> {
        self.enter(None)
    }

    /// A permit for a request of `class` when there is room and the class is within its share.
    pub fn try_enter_as(self: &Arc<Self>, class: &str) -> Result<Permit, ApiError> {
        self.enter(Some(class))
    }

    fn enter(self: &Arc<Self>, class: Option<&str>) -> Result<Permit, ApiError> {
        let class = match class {
            Some(c) if self.share > 0 => {
                let mut classes = self.classes.lock().expect("shed lock");
                let held = classes.entry(c.to_string()).or_default();
                if *held >= self.share {
                    self.shed.inc();
                    return Err(ApiError::unavailable(
                        format!(
                            "overloaded: this caller already has {} requests in flight, its share; retry later",
                            self.share
                        ),
                        self.retry_after,
                    ));
                }
                *held += 1;
                Some(c.to_string())
            }
            _ => None,
        };
        // From here the permit owns the class's count: dropping it gives the slot back.
        let permit = Permit(self.clone(), class);
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        if self.limit > 0 && n > self.limit {
            drop(permit);
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
        Ok(permit)
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
        let admitted = match &self.shedder.gate {
            Some(gate) => match gate(req.request()) {
                Ok(class) => self.shedder.try_enter_as(&class),
                Err(e) => Err(e),
            },
            None => self.shedder.try_enter(),
        };
        match admitted {
            Err(e) => {
                let resp = req.into_response(e.error_response()).map_into_right_body();
                Box::pin(async move { Ok(resp) })
            }
            Ok(permit) => {
                let mut req = req;
                let deadline = self.shedder.body_deadline;
                if !deadline.is_zero() {
                    let body = req.take_payload();
                    let timed: actix_http::BoxedPayloadStream = Box::pin(BodyDeadline {
                        body,
                        expires: Box::pin(tokio::time::sleep(deadline)),
                        deadline,
                    });
                    req.set_payload(timed.into());
                }
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

/// A request body that fails once its deadline passes before it has all arrived.
struct BodyDeadline {
    body: actix_web::dev::Payload,
    expires: Pin<Box<tokio::time::Sleep>>,
    deadline: Duration,
}

impl futures_core::Stream for BodyDeadline {
    type Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(chunk) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        if self.expires.as_mut().poll(cx).is_ready() {
            let e = std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the request body did not arrive within {} s",
                    self.deadline.as_secs_f64()
                ),
            );
            return Poll::Ready(Some(Err(e.into())));
        }
        Poll::Pending
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

    #[actix_web::test]
    async fn a_trickled_body_loses_its_slot_at_the_deadline() {
        use actix_web::{web, App, HttpResponse, HttpServer};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let s = shedder(1).with_body_deadline(Duration::from_secs(1));
        let shed = Shed(s.clone());
        let server = HttpServer::new(move || {
            App::new().route(
                "/push",
                web::post()
                    .to(|b: web::Bytes| async move { HttpResponse::Ok().body(b.len().to_string()) })
                    .wrap(shed.clone()),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);

        // A sender announcing 100 bytes and sending 5, then nothing.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello")
            .await
            .unwrap();
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(30), slow.read(&mut answer))
            .await
            .expect("the slow sender is answered, not kept waiting")
            .unwrap();
        let head = String::from_utf8_lossy(&answer[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");
        assert_eq!(s.in_flight(), 0, "its slot is free");

        let r = reqwest::Client::new()
            .post(format!("http://{addr}/push"))
            .body("0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.text().await.unwrap(),
            "10",
            "a whole body still gets through"
        );
        handle.stop(false).await;
    }

    #[test]
    fn a_class_holds_at_most_its_share() {
        let s = shedder(4).with_gate(Box::new(|_| Ok(String::new())), 2);
        let a1 = s.try_enter_as("a").expect("a's first");
        let _a2 = s.try_enter_as("a").expect("a's second");
        let e = s.try_enter_as("a").err().expect("a is past its share");
        assert_eq!(e.status.as_u16(), 503);
        assert!(e.message.contains("share"), "{}", e.message);
        assert_eq!(s.in_flight(), 2, "a refusal does not keep a slot");
        let _b1 = s.try_enter_as("b").expect("b is not starved by a");
        let _b2 = s.try_enter_as("b").expect("b's second");
        assert!(
            s.try_enter_as("c").is_err(),
            "the overall limit still holds"
        );
        drop(a1);
        assert!(
            s.try_enter_as("a").is_ok(),
            "a's released slot is a's again"
        );
        assert_eq!(s.shed_count(), 2);
    }

    #[test]
    fn a_components_shedder_names_its_metrics_after_it() {
        let r = Registry::new();
        let s = Shedder::for_component(&r, "store", "writes", 1, 30);
        let _held = s.try_enter().expect("first");
        assert!(s.try_enter().is_err(), "second is shed");
        let text = r.render();
        assert!(
            text.contains("# HELP argus_store_shed_total Writes refused with 503 because max_in_flight writes were already in flight."),
            "{text}"
        );
        assert!(text.contains("argus_store_shed_total 1"), "{text}");
        assert!(
            text.contains("# HELP argus_store_in_flight Writes in flight."),
            "{text}"
        );
        assert!(text.contains("argus_store_in_flight 1"), "{text}");
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
