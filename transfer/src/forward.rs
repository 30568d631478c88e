//! Hands accepted points to the region's storage nodes and judges.
//!
//! A write is acknowledged once every storage node holding the points has made them durable;
//! judges get their copy best-effort after that.

use argus_core::wire::{encode_body, Batch, Encoding, PushResponse};
use argus_core::Point;
use std::time::Duration;

/// Why points could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No storage node is configured.
    #[error("no storage node is configured")]
    NoStore,
    /// A storage node refused or did not answer.
    #[error("storage node {node}: {reason}")]
    Store {
        /// The node's URL.
        node: String,
        /// Why.
        reason: String,
    },
}

/// Sends points downstream.
#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    stores: Vec<String>,
    judges: Vec<String>,
    internal_token: String,
}

impl Forwarder {
    /// A forwarder to `stores` and `judges`.
    pub fn new(
        stores: Vec<String>,
        judges: Vec<String>,
        internal_token: String,
        timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("http client");
        Forwarder {
            client,
            stores,
            judges,
            internal_token,
        }
    }

    async fn post(&self, url: String, body: Vec<u8>) -> Result<reqwest::Response, reqwest::Error> {
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("content-encoding", Encoding::Zstd.as_str())
            .body(body);
        if !self.internal_token.is_empty() {
            req = req.bearer_auth(&self.internal_token);
        }
        req.send().await
    }

    /// Writes `points` to every storage node; returns once all have them durable.
    pub async fn write(&self, points: Vec<Point>) -> Result<(), ForwardError> {
        if self.stores.is_empty() {
            return Err(ForwardError::NoStore);
        }
        let body = encode_body(Encoding::Zstd, &Batch { points }.to_json());
        for node in &self.stores {
            let url = format!("{}/internal/v1/write", node.trim_end_matches('/'));
            let resp = self
                .post(url, body.clone())
                .await
                .map_err(|e| ForwardError::Store {
                    node: node.clone(),
                    reason: e.to_string(),
                })?;
            let status = resp.status();
            if !status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                return Err(ForwardError::Store {
                    node: node.clone(),
                    reason: format!("{status}: {text}"),
                });
            }
            let _: PushResponse = resp.json().await.map_err(|e| ForwardError::Store {
                node: node.clone(),
                reason: e.to_string(),
            })?;
        }
        for judge in &self.judges {
            let url = format!("{}/internal/v1/points", judge.trim_end_matches('/'));
            let this = self.clone();
            let body = body.clone();
            let judge = judge.clone();
            tokio::spawn(async move {
                if let Err(e) = this.post(url, body).await {
                    tracing::warn!(%judge, error = %e, "judge did not take points");
                }
            });
        }
        Ok(())
    }
}
