//! [`StoreClient`]: the one client every component uses to talk to a storage node.
//!
//! Writes travel in the compact binary frame of [`argus_core::wire::frame`] (zstd-compressed, versioned by
//! content type) and are answered once durable; queries are JSON. Errors say whether a retry may
//! help ([`ClientError::is_retryable`]), which is what replication and spooling need.

use argus_core::http::Failure;
use argus_core::query::{
    LabelQuery, LastQuery, LastValue, RangeQuery, SelectQuery, SeriesData, SeriesQuery,
};
use argus_core::wire::series as series_wire;
use argus_core::wire::PushResponse;
use argus_core::{Point, SeriesKey};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Why a call to a storage node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached or did not answer in time (retryable).
    #[error("storage node {url}: {reason}")]
    Transport {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an error status.
    #[error("storage node {url} answered {status}: {message}")]
    Status {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The node's error message.
        message: String,
        /// Seconds the node asked us to wait (503/429).
        retry_after: Option<u64>,
    },
    /// The answer could not be read.
    #[error("storage node {url}: unreadable answer: {reason}")]
    Decode {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// What the failure means, by the one rule of [`argus_core::http::Failure`] (no answer or
    /// an unreadable one is transient).
    pub fn failure(&self) -> Failure {
        match self {
            ClientError::Transport { .. } | ClientError::Decode { .. } => Failure::Transient,
            ClientError::Status { status, .. } => Failure::of_status(*status),
        }
    }

    /// True when sending the same request again later may succeed (node down, overloaded, disk
    /// full, timeout); false when the request or the credential is wrong.
    pub fn is_retryable(&self) -> bool {
        self.failure() == Failure::Transient
    }

    /// The server's Retry-After hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => retry_after.map(Duration::from_secs),
            _ => None,
        }
    }
}

/// A client of one storage node. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct StoreClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl StoreClient {
    /// A client of the node at `base_url` (`http://host:port`), presenting `internal_token`
    /// (empty: none), giving up on a call after `timeout`.
    pub fn new(
        base_url: impl Into<String>,
        internal_token: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        Self::with_tls(
            base_url,
            internal_token,
            timeout,
            &argus_core::tls::ClientTls::default(),
        )
    }

    /// [`Self::new`] for an `https://` node whose certificate is signed by a private CA: `tls`
    /// holds the extra roots of the caller's `[tls] ca_file`.
    pub fn with_tls(
        base_url: impl Into<String>,
        internal_token: impl Into<String>,
        timeout: Duration,
        tls: &argus_core::tls::ClientTls,
    ) -> Self {
        let http = tls
            .builder()
            .timeout(timeout)
            .build()
            .expect("reqwest client with checked roots always builds");
        StoreClient {
            base: base_url.into().trim_end_matches('/').to_string(),
            token: internal_token.into(),
            http,
        }
    }

    /// The node's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Writes `points` (each carrying its tenant); `Ok` means the node made the accepted ones
    /// durable. Points the node refused are listed in the answer with their index.
    pub async fn write(&self, points: &[Point]) -> Result<PushResponse, ClientError> {
        let url = format!("{}/internal/v1/write", self.base);
        let body = argus_core::wire::frame::encode_batch(points);
        let req = self
            .auth(self.http.post(&url))
            .header("content-type", argus_core::wire::frame::CONTENT_TYPE)
            .header("content-encoding", "zstd")
            .body(body);
        self.finish(&url, req).await
    }

    /// Writes an already encoded, uncompressed binary frame ([`argus_core::wire::frame`],
    /// points carrying their tenant), compressed with zstd when `zstd` (worth it across a slow
    /// link; on loopback or a LAN the compression costs more CPU than the bytes it saves).
    /// Answered as [`Self::write`]. A node serving in this process ([`crate::local`]) is
    /// handed the frame directly.
    pub async fn write_frame(
        &self,
        frame: Vec<u8>,
        zstd: bool,
    ) -> Result<PushResponse, ClientError> {
        let url = format!("{}/internal/v1/write", self.base);
        if let Some(node) = crate::local::find(&self.base) {
            return node
                .write_frame(&self.token, frame)
                .await
                .map_err(|r| r.at(url));
        }
        let mut req = self
            .auth(self.http.post(&url))
            .header("content-type", argus_core::wire::frame::CONTENT_TYPE);
        req = if zstd {
            req.header("content-encoding", "zstd")
                .body(argus_core::wire::frame::compress(&frame))
        } else {
            req.body(frame)
        };
        self.finish(&url, req).await
    }

    /// A range read.
    pub async fn query_range(&self, q: &RangeQuery) -> Result<Vec<SeriesData>, ClientError> {
        self.post_json("query/range", q).await
    }

    /// The series selected by PromQL label matchers, with their raw points.
    /// Asked for in the binary answer ([`argus_core::wire::series`]), which a node of an
    /// older version, answering JSON, is read in too. A node serving in this process
    /// ([`crate::local`]) answers without encoding.
    pub async fn select(&self, q: &SelectQuery) -> Result<Vec<SeriesData>, ClientError> {
        let url = format!("{}/internal/v1/query/select", self.base);
        if let Some(node) = crate::local::find(&self.base) {
            return node
                .select(&self.token, q.clone())
                .await
                .map_err(|r| r.at(url));
        }
        let req = self
            .auth(self.http.post(&url))
            .header(
                reqwest::header::ACCEPT,
                format!("{}, application/json", series_wire::CONTENT_TYPE),
            )
            .json(q);
        let (content_type, bytes) = self.answer(&url, req).await?;
        let decoded = if content_type.starts_with(series_wire::CONTENT_TYPE) {
            series_wire::decode(&bytes).map_err(|e| e.to_string())
        } else {
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        };
        decoded.map_err(|reason| ClientError::Decode { url, reason })
    }

    /// The node's evaluation of a region's partial queries (`query/eval`, a
    /// `argus_promql::split::RegionEval` as `q`): the answer's content type and bytes, in the
    /// first of the types `accept` lists that the node speaks.
    pub async fn eval<Q: Serialize>(
        &self,
        q: &Q,
        accept: &str,
    ) -> Result<(String, Vec<u8>), ClientError> {
        let url = format!("{}/internal/v1/query/eval", self.base);
        let req = self
            .auth(self.http.post(&url))
            .header(reqwest::header::ACCEPT, accept)
            .json(q);
        self.answer(&url, req).await
    }

    /// The latest value of each selected series.
    pub async fn last(&self, q: &LastQuery) -> Result<Vec<LastValue>, ClientError> {
        self.post_json("query/last", q).await
    }

    /// The selected series.
    pub async fn series(&self, q: &SeriesQuery) -> Result<Vec<SeriesKey>, ClientError> {
        self.post_json("query/series", q).await
    }

    /// Metric names, tag keys or tag values of a tenant (see [`LabelQuery`]).
    pub async fn labels(&self, q: &LabelQuery) -> Result<Vec<String>, ClientError> {
        self.post_json("query/labels", q).await
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.token.is_empty() {
            r
        } else {
            r.bearer_auth(&self.token)
        }
    }

    async fn post_json<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        q: &Q,
    ) -> Result<A, ClientError> {
        let url = format!("{}/internal/v1/{path}", self.base);
        let req = self.auth(self.http.post(&url)).json(q);
        self.finish(&url, req).await
    }

    async fn finish<A: DeserializeOwned>(
        &self,
        url: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<A, ClientError> {
        let (_, bytes) = self.answer(url, req).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }

    /// A successful answer's content type and body; an error status as [`ClientError::Status`].
    async fn answer(
        &self,
        url: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<(String, Vec<u8>), ClientError> {
        let resp = req.send().await.map_err(|e| ClientError::Transport {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<argus_core::http::ErrorBody>(&text)
                .map(|b| b.error)
                .unwrap_or(text);
            return Err(ClientError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                message,
                retry_after,
            });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        Ok((content_type, bytes.into()))
    }
}
