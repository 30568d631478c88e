//! How points are sent to each kind of downstream.
//!
//! - storage node: through [`argus_store::StoreClient`] (the store's binary write frame, points
//!   carrying their tenant), answered once durable;
//! - judge: `POST {url}/internal/v1/points`, the same batch;
//! - InfluxDB v2 sink: `POST {url}/api/v2/write?org=&bucket=&precision=s` in line protocol with
//!   `Authorization: Token ...` (the InfluxDB v2 write API, which VictoriaMetrics also speaks).
//!   Written directly with the workspace's reqwest rather than through the `influxdb2` crate:
//!   the write API is one POST, and that crate would add a second HTTP stack (reqwest 0.11,
//!   hyper 0.14) plus chrono, nom, csv and opentelemetry to every build.

use argus_core::wire::{encode_body, Batch, Encoding};
use argus_core::tls::ClientTls;
use argus_core::Point;
use std::fmt::Write as _;
use std::time::Duration;
use xxhash_rust::xxh3::xxh3_64;

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Down, slow, overloaded: try again later (from the spool).
    #[error("{0}")]
    Retryable(String),
    /// The downstream says the request itself is wrong.
    #[error("{0}")]
    Refused(String),
}

/// Which kind of downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A storage node.
    Store,
    /// A judge.
    Judge,
    /// The InfluxDB v2 sink.
    Influx,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Store => "store",
            Kind::Judge => "judge",
            Kind::Influx => "influx",
        }
    }
}

/// A downstream's address and how to talk to it.
#[derive(Clone)]
pub struct Sink {
    kind: Kind,
    url: String,
    token: String,
    /// For the InfluxDB sink: the query string `org=..&bucket=..&precision=s`.
    influx_query: String,
    http: reqwest::Client,
    /// For a storage node.
    store: Option<argus_store::StoreClient>,
}

impl Sink {
    /// A storage node or judge at `url`, presenting the internal `token`.
    pub fn internal(kind: Kind, url: &str, token: &str, timeout: Duration) -> Sink {
        Sink::internal_tls(kind, url, token, timeout, &ClientTls::default())
    }

    /// [`Sink::internal`] trusting the extra roots of `[tls] ca_file` for an `https://` node.
    pub fn internal_tls(
        kind: Kind,
        url: &str,
        token: &str,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Sink {
        let url = crate::ring::normalize(url);
        Sink {
            kind,
            store: (kind == Kind::Store)
                .then(|| argus_store::StoreClient::with_tls(url.clone(), token, timeout, tls)),
            url,
            token: token.to_string(),
            influx_query: String::new(),
            http: tls
                .builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(2)))
                .build()
                .expect("reqwest client with checked roots always builds"),
        }
    }

    /// The InfluxDB v2 write API at `url`.
    pub fn influx(url: &str, org: &str, bucket: &str, token: &str, timeout: Duration) -> Sink {
        Sink {
            kind: Kind::Influx,
            url: crate::ring::normalize(url),
            token: token.to_string(),
            influx_query: format!(
                "org={}&bucket={}&precision=s",
                url_escape(org),
                url_escape(bucket)
            ),
            http: client(timeout),
            store: None,
        }
    }

    /// `kind url` as saved next to a spool.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind.as_str(), self.url)
    }

    /// Reads [`describe`](Self::describe)'s output back (storage nodes and judges only).
    pub fn parse_description(s: &str) -> Option<(Kind, String)> {
        let (k, url) = s.trim().split_once(' ')?;
        let kind = match k {
            "store" => Kind::Store,
            "judge" => Kind::Judge,
            _ => return None,
        };
        Some((kind, url.to_string()))
    }

    /// The downstream's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `kind url`, for logs and metrics.
    pub fn name(&self) -> String {
        self.describe()
    }

    /// The directory name of this downstream's spool: kind and a hash of the URL.
    pub fn dir_name(&self) -> String {
        dir_name(self.kind, &self.url)
    }

    /// Sends `points`; `Ok` once the downstream has them.
    pub async fn send(&self, points: &[Point]) -> Result<(), SendError> {
        if let Some(store) = &self.store {
            return match store.write(points).await {
                Ok(r) => {
                    if !r.rejected.is_empty() {
                        tracing::warn!(node = %self.url, rejected = r.rejected.len(),
                            first = %r.rejected[0], "storage node refused some points");
                    }
                    Ok(())
                }
                Err(e) if e.is_retryable() => Err(SendError::Retryable(e.to_string())),
                Err(e) => Err(SendError::Refused(e.to_string())),
            };
        }
        let (url, req) = match self.kind {
            Kind::Store | Kind::Judge => {
                let url = format!("{}/internal/v1/points", self.url);
                let body = encode_body(
                    Encoding::Zstd,
                    &Batch {
                        points: points.to_vec(),
                    }
                    .to_json(),
                );
                let mut req = self
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("content-encoding", "zstd")
                    .body(body);
                if !self.token.is_empty() {
                    req = req.bearer_auth(&self.token);
                }
                (url, req)
            }
            Kind::Influx => {
                let url = format!("{}/api/v2/write?{}", self.url, self.influx_query);
                let mut req = self
                    .http
                    .post(&url)
                    .header("content-type", "text/plain; charset=utf-8")
                    .body(line_protocol(points));
                if !self.token.is_empty() {
                    req = req.header("authorization", format!("Token {}", self.token));
                }
                (url, req)
            }
        };
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::Retryable(format!("{url}: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            // Drain the body so the connection is reused.
            let _ = resp.bytes().await;
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let msg = format!("{url} answered {status}: {}", truncate(&text, 300));
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(SendError::Retryable(msg))
        } else {
            Err(SendError::Refused(msg))
        }
    }
}

/// The spool directory name of a downstream.
pub fn dir_name(kind: Kind, url: &str) -> String {
    format!(
        "{}-{:016x}",
        kind.as_str(),
        xxh3_64(crate::ring::normalize(url).as_bytes())
    )
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .build()
        .expect("reqwest client without TLS always builds")
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn escape_lp(out: &mut String, s: &str, also_eq: bool) {
    for c in s.chars() {
        if c == ',' || c == ' ' || (also_eq && c == '=') || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Points in InfluxDB line protocol: measurement = metric, tags `tenant`, `endpoint` and the
/// point's tags, one field `value`, timestamp in seconds.
pub fn line_protocol(points: &[Point]) -> String {
    let mut out = String::with_capacity(points.len() * 96);
    for p in points {
        escape_lp(&mut out, &p.metric, false);
        out.push_str(",tenant=");
        escape_lp(&mut out, p.tenant.as_str(), true);
        out.push_str(",endpoint=");
        escape_lp(&mut out, &p.endpoint, true);
        for (k, v) in p.tags.iter() {
            if k == "tenant" || k == "endpoint" {
                continue;
            }
            out.push(',');
            escape_lp(&mut out, k, true);
            out.push('=');
            escape_lp(&mut out, v, true);
        }
        let _ = writeln!(out, " value={:?} {}", p.value, p.timestamp);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::{Tags, TenantId};

    #[test]
    fn line_protocol_escapes() {
        let mut p = Point::gauge(
            "web 1",
            "cpu.idle",
            Tags::from_pairs([("dc", "a b")]),
            1.0,
            17,
        );
        p.tenant = TenantId::new("acme").unwrap();
        assert_eq!(
            line_protocol(&[p]),
            "cpu.idle,tenant=acme,endpoint=web\\ 1,dc=a\\ b value=1.0 17\n"
        );
        assert_eq!(url_escape("a b&c"), "a%20b%26c");
        assert_eq!(
            Sink::parse_description("store http://x:1"),
            Some((Kind::Store, "http://x:1".into()))
        );
    }
}
