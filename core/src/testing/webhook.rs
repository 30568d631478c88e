//! A real local webhook receiver for tests: an actix server on a free loopback port that records
//! every request (path, headers, body) and answers 200, or statuses scripted by the test.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Path.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// The status answered.
    pub answered: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Hit {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body parsed as JSON (panics when it is not: a test failure).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    hits: Vec<Hit>,
    /// Statuses to answer first (then 200), with an optional Retry-After.
    script: VecDeque<(u16, Option<u64>)>,
    /// When set, every answer is this status.
    always: Option<u16>,
}

/// A real local webhook receiver.
pub struct WebhookReceiver {
    /// Where to send: `http://127.0.0.1:PORT/hook` (any path is accepted and recorded).
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<Mutex<ReceiverState>>,
) -> HttpResponse {
    let mut s = st.lock().unwrap();
    let (status, retry_after) = match s.always {
        Some(code) => (code, None),
        None => s.script.pop_front().unwrap_or((200, None)),
    };
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    s.hits.push(Hit {
        path: req.path().to_string(),
        headers,
        body: body.to_vec(),
        answered: status,
        at: std::time::Instant::now(),
    });
    let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(ra) = retry_after {
        r.insert_header(("Retry-After", ra.to_string()));
    }
    r.body("")
}

impl WebhookReceiver {
    /// Starts the receiver on a free loopback port.
    pub async fn start() -> WebhookReceiver {
        Self::start_tls(&crate::tls::TlsConfig::default()).await
    }

    /// Starts the receiver serving HTTPS only with the certificate of `tls` (plain HTTP when it
    /// names none); its URL is then `https://localhost:PORT/hook`, the name of the test
    /// certificates of `tls::testing`.
    pub async fn start_tls(tls: &crate::tls::TlsConfig) -> WebhookReceiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let data = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1);
        let server = crate::http::listen(server, listener, tls, "webhook receiver")
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        WebhookReceiver {
            url: if tls.serves_https() {
                format!("https://localhost:{}/hook", addr.port())
            } else {
                format!("http://{addr}/hook")
            },
            state,
            handle,
        }
    }

    /// Answers these statuses first (then 200).
    pub fn script(&self, s: &[(u16, Option<u64>)]) {
        self.state.lock().unwrap().script.extend(s.iter().copied());
    }

    /// Answers `code` to everything (None: back to normal).
    pub fn always(&self, code: Option<u16>) {
        self.state.lock().unwrap().always = code;
    }

    /// Every request received so far, in order.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    /// Successful hits only.
    pub fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.answered < 300)
            .collect()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
