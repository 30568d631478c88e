//! How points are sent to each kind of downstream.
//!
//! - storage node: through [`argus_store_client::StoreClient`] (the binary point frame,
//!   `argus_core::wire::frame`, points carrying their tenant), answered once durable;
//! - judge: `POST {url}/internal/v1/points`, the same frame;
//! - remote TSDB: Prometheus remote write ([`crate::remote`]);
//! - InfluxDB v2 sink: through the `influxdb2` crate's client (`POST {url}/api/v2/write?org=&
//!   bucket=&precision=s`, line protocol, `Authorization: Token ...`; the InfluxDB v2 write API,
//!   which VictoriaMetrics also speaks). The line protocol itself is written here
//!   ([`line_protocol`]), so the tag mapping (docs/INGEST.md) is ours and tested. That crate
//!   brings its own HTTP stack (reqwest 0.11, hyper 0.14) next to the workspace's reqwest 0.12;
//!   the price is build time, not behaviour.

use crate::payload::Payload;
use argus_core::tls::ClientTls;
use argus_core::wire::frame;
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
    /// The region's remote TSDB (`[remote_storage]`), by Prometheus remote write.
    Remote,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Store => "store",
            Kind::Judge => "judge",
            Kind::Influx => "influx",
            Kind::Remote => "remote",
        }
    }
}

/// A downstream's address and how to talk to it.
#[derive(Clone)]
pub struct Sink {
    kind: Kind,
    url: String,
    token: String,
    /// For the InfluxDB sink.
    influx: Option<InfluxTarget>,
    http: reqwest::Client,
    /// For a storage node.
    pub(crate) store: Option<argus_store_client::StoreClient>,
    /// For the remote TSDB.
    remote: Option<std::sync::Arc<crate::remote::Backend>>,
    /// Frames to storage nodes and judges go zstd-compressed.
    zstd: bool,
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
            store: (kind == Kind::Store).then(|| {
                argus_store_client::StoreClient::with_tls(url.clone(), token, timeout, tls)
            }),
            url,
            token: token.to_string(),
            influx: None,
            remote: None,
            zstd: false,
            http: tls
                .builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(2)))
                .build()
                .expect("reqwest client with checked roots always builds"),
        }
    }

    /// The InfluxDB v2 write API at `url` (scheme, host and port only: the `influxdb2` client
    /// puts `/api/v2/write` at the root), writing to `bucket` of `org` with `token`. An
    /// `https://` server may be signed by the private CA of `tls` (`[tls] ca_file`).
    pub fn influx(
        url: &str,
        org: &str,
        bucket: &str,
        token: &str,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Sink, SinkConfigError> {
        let url = crate::ring::normalize(url);
        let parsed = reqwest::Url::parse(&url).map_err(|e| SinkConfigError {
            field: "influx.url",
            reason: format!("{url:?} is not a URL: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SinkConfigError {
                field: "influx.url",
                reason: format!("{url:?}: only http and https are supported"),
            });
        }
        if parsed.path() != "/" || parsed.query().is_some() {
            return Err(SinkConfigError {
                field: "influx.url",
                reason: format!(
                    "{url:?} has a path or query; give the server's root (the write API is \
                     always at /api/v2/write)"
                ),
            });
        }
        let mut builder = reqwest011::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)));
        for der in tls.root_ders() {
            let cert = reqwest011::Certificate::from_der(der).map_err(|e| SinkConfigError {
                field: "tls.ca_file",
                reason: format!("not usable by the InfluxDB client: {e}"),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let influx = influxdb2::ClientBuilder::with_builder(builder, url.as_str(), org, token)
            .build()
            .map_err(|e| SinkConfigError {
                field: "influx.url",
                reason: format!("cannot build the InfluxDB client: {e}"),
            })?;
        Ok(Sink {
            kind: Kind::Influx,
            url,
            token: token.to_string(),
            influx: Some(InfluxTarget {
                client: influx,
                org: org.to_string(),
                bucket: bucket.to_string(),
            }),
            http: client(timeout),
            store: None,
            remote: None,
            zstd: false,
        })
    }

    /// The region's remote TSDB, written by Prometheus remote write.
    pub fn remote(backend: std::sync::Arc<crate::remote::Backend>) -> Sink {
        let url = backend.config().write_url.clone();
        Sink {
            kind: Kind::Remote,
            token: String::new(),
            influx: None,
            http: client(Duration::from_millis(backend.config().timeout_ms.max(1))),
            store: None,
            remote: Some(backend),
            zstd: false,
            url,
        }
    }

    /// Compresses the frames sent to a storage node or judge with zstd (see
    /// [`crate::config::TransferConfig::downstream_zstd`]).
    pub fn with_zstd(mut self, zstd: bool) -> Sink {
        self.zstd = zstd;
        self
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
    pub async fn send(&self, points: &Payload) -> Result<(), SendError> {
        if let Some(store) = &self.store {
            return match store.write_frame(points.frame(), self.zstd).await {
                Ok(r) => {
                    if !r.rejected.is_empty() {
                        tracing::warn!(node = %self.url, rejected = r.rejected.len(),
                            first = %r.rejected[0], "storage node refused some points");
                    }
                    Ok(())
                }
                Err(e) if e.failure().keeps_data() => Err(SendError::Retryable(e.to_string())),
                Err(e) => Err(SendError::Refused(e.to_string())),
            };
        }
        if self.influx.is_some() || self.remote.is_some() {
            // Fed points by the forwarder; a frame here would be a bug, refused loudly.
            let points = points
                .points()
                .map_err(|e| SendError::Refused(format!("undecodable frame body: {e}")))?;
            if let Some(influx) = &self.influx {
                return influx.write(&self.url, &points).await;
            }
            if let Some(remote) = &self.remote {
                return remote.write(&points).await;
            }
        }
        let url = format!("{}/internal/v1/points", self.url);
        let mut req = self
            .http
            .post(&url)
            .header("content-type", frame::CONTENT_TYPE);
        req = if self.zstd {
            req.header("content-encoding", "zstd")
                .body(frame::compress(&points.frame()))
        } else {
            req.body(points.frame())
        };
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
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
        Err(by_status(
            status.as_u16(),
            format!("{url} answered {status}: {}", truncate(&text, 300)),
        ))
    }
}

impl Sink {
    /// Posts a JSON control message to `path` of a judge or storage node.
    pub async fn post_json(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<(), SendError> {
        let url = format!("{}{path}", self.url);
        let mut req = self.http.post(&url).json(body);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::Retryable(format!("{url}: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        Err(by_status(
            status.as_u16(),
            format!("{url} answered {status}: {}", truncate(&text, 300)),
        ))
    }
}

/// By the one retry rule ([`argus_core::http::Failure`]): the spool keeps points refused for
/// a transient reason or a wrong token/URL; only a refusal of the request itself sets them aside.
fn by_status(status: u16, msg: String) -> SendError {
    if argus_core::http::Failure::of_status(status).keeps_data() {
        SendError::Retryable(msg)
    } else {
        SendError::Refused(msg)
    }
}

/// An InfluxDB sink's settings that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SinkConfigError {
    /// The configuration key.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

/// The InfluxDB v2 write API of one server, through the `influxdb2` client.
#[derive(Clone)]
struct InfluxTarget {
    client: influxdb2::Client,
    org: String,
    bucket: String,
}

impl InfluxTarget {
    /// Writes `points` in line protocol with second precision; `Ok` once the server answered
    /// 204 (VictoriaMetrics and InfluxDB both do for an accepted write).
    async fn write(&self, url: &str, points: &[Point]) -> Result<(), SendError> {
        use influxdb2::api::write::TimestampPrecision;
        use influxdb2::RequestError;
        let body = line_protocol(points);
        match self
            .client
            .write_line_protocol_with_precision(
                &self.org,
                &self.bucket,
                body,
                TimestampPrecision::Seconds,
            )
            .await
        {
            Ok(()) => Ok(()),
            // Any 2xx is a success, though the client expects exactly 204.
            Err(RequestError::Http { status, .. }) if status.is_success() => Ok(()),
            Err(RequestError::Http { status, text }) => Err(by_status(
                status.as_u16(),
                format!(
                    "{url}/api/v2/write answered {status}: {}",
                    truncate(&text, 300)
                ),
            )),
            // Connection refused, reset, timeout: the server may be back later.
            Err(e) => Err(SendError::Retryable(format!("{url}/api/v2/write: {e}"))),
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
    fn refusals_follow_the_one_retry_rule() {
        let kept = |s| matches!(by_status(s, String::new()), SendError::Retryable(_));
        // Busy or misconfigured: the spool keeps the points.
        for s in [500, 503, 507, 408, 429, 401, 403, 404] {
            assert!(kept(s), "{s}");
        }
        // The request itself is wrong: set aside.
        for s in [400, 413, 415, 422] {
            assert!(!kept(s), "{s}");
        }
    }

    #[test]
    fn influx_url_must_be_a_server_root() {
        let t = Duration::from_secs(1);
        let tls = ClientTls::default();
        assert!(Sink::influx("http://127.0.0.1:8086/", "o", "b", "", t, &tls).is_ok());
        for bad in [
            "127.0.0.1:8086",
            "ftp://x",
            "http://x/influx",
            "http://x/?a=1",
        ] {
            let e = Sink::influx(bad, "o", "b", "", t, &tls).err().expect(bad);
            assert_eq!(e.field, "influx.url", "{bad}");
        }
    }

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
        assert_eq!(
            Sink::parse_description("store http://x:1"),
            Some((Kind::Store, "http://x:1".into()))
        );
    }
}
