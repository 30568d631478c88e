//! Raw series from the backend's Prometheus query API, confined to one tenant.
//!
//! A selection `{matchers}` over `[start, end]` is asked as the instant query
//! `{matchers, tenant="t"}[Rs]` at `end` (R = end − start + 1): every Prometheus-API backend
//! answers a range selector with the raw samples in the window. Listings use `/api/v1/series`.
//! The query text is built here from structured matchers, never from a user's PromQL, and the
//! tenant's matcher is added to every selector (label tenancy) or the tenant is put in the
//! request's URL or header (account, header tenancy); an answered series without the tenant's
//! label is dropped all the same.

use super::{stored_name, Backend};
use crate::config::IngestConfig;
use crate::lineproto::endpoint_and_tags;
use argus_core::query::{MatchOp, SelectQuery, SeriesData, TagMatcher};
use argus_core::{SeriesKey, TenantId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Why a read from the backend failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The backend refused the query (bad regex, …): the caller's fault.
    #[error("the region's storage refused the query: {0}")]
    Refused(String),
    /// The answer would be larger than `max_response_bytes`, or the backend hit a limit.
    #[error("{0}")]
    TooLarge(String),
    /// The backend is down, slow or broken.
    #[error("the region's storage did not answer: {0}")]
    Unavailable(String),
}

impl From<ReadError> for argus_core::http::ApiError {
    fn from(e: ReadError) -> Self {
        use actix_web::http::StatusCode;
        match e {
            ReadError::Refused(_) => Self::bad_request(e.to_string()),
            ReadError::TooLarge(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            ReadError::Unavailable(_) => Self::unavailable(e.to_string(), 2),
        }
    }
}

#[derive(Deserialize)]
struct Answer<T> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<MatrixSeries>,
}

#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A Prometheus string literal: double-quoted, with `\` `"` and control characters escaped.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Backend {
    /// The selector `{…}` for `matchers`, confined to `tenant` when a label separates tenants.
    pub(crate) fn selector(&self, tenant: &TenantId, matchers: &[TagMatcher]) -> String {
        let label = self.tenant_label();
        let mut out = String::from("{");
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
        };
        for m in matchers {
            sep(&mut out);
            out.push_str(&stored_name(&m.key, label));
            out.push_str(match m.op {
                MatchOp::Eq => "=",
                MatchOp::Ne => "!=",
                MatchOp::Regex => "=~",
                MatchOp::NotRegex => "!~",
            });
            quote(&mut out, &m.value);
        }
        if let Some(label) = label {
            sep(&mut out);
            out.push_str(label);
            out.push('=');
            quote(&mut out, tenant.as_str());
        }
        out.push('}');
        out
    }

    /// The series of `q` with their raw points in `[start, end]` (none with `series_only`),
    /// at most `limit` of them, keyed as the transfer would have stored them.
    pub async fn select(
        &self,
        q: &SelectQuery,
        ingest: &IngestConfig,
    ) -> Result<Vec<SeriesData>, ReadError> {
        let sel = self.selector(&q.tenant, &q.matchers);
        // A tenant without an account on the backend has no series there.
        let Ok(root) = self.url_for(&self.cfg.read_url, &q.tenant) else {
            return Ok(Vec::new());
        };
        let root = root.trim_end_matches('/');
        let series: Vec<MatrixSeries> = if q.series_only {
            let form = [
                ("match[]", sel),
                ("start", q.start.to_string()),
                ("end", q.end.to_string()),
            ];
            let maps: Vec<BTreeMap<String, String>> = self
                .call(&format!("{root}/api/v1/series"), &form, &q.tenant)
                .await?;
            maps.into_iter()
                .map(|metric| MatrixSeries {
                    metric,
                    values: vec![],
                })
                .collect()
        } else {
            let range = (q.end - q.start).max(0) + 1;
            let form = [
                ("query", format!("{sel}[{range}s]")),
                ("time", q.end.to_string()),
            ];
            let data: QueryData = self
                .call(&format!("{root}/api/v1/query"), &form, &q.tenant)
                .await?;
            if data.result_type != "matrix" {
                return Err(ReadError::Unavailable(format!(
                    "expected a matrix for a range selector, got {}",
                    data.result_type
                )));
            }
            data.result
        };
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let Some(key) = self.key_of(&q.tenant, s.metric, ingest) else {
                continue;
            };
            let mut points: Vec<(i64, f64)> = Vec::with_capacity(s.values.len());
            for (t, v) in s.values {
                let t = t.floor() as i64;
                let Some(v) = argus_promql::json::parse_value(&v) else {
                    continue;
                };
                if t < q.start || t > q.end {
                    continue;
                }
                // Samples are whole seconds in Argus: of two in one second the later wins.
                match points.last_mut() {
                    Some(last) if last.0 == t => last.1 = v,
                    _ => points.push((t, v)),
                }
            }
            if !q.series_only && points.is_empty() {
                continue;
            }
            out.push(SeriesData { key, points });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        out.truncate(q.limit.unwrap_or(usize::MAX));
        Ok(out)
    }

    /// The series key of an answered label set, or `None` when it is not the tenant's.
    fn key_of(
        &self,
        tenant: &TenantId,
        mut labels: BTreeMap<String, String>,
        ingest: &IngestConfig,
    ) -> Option<SeriesKey> {
        if let Some(label) = self.tenant_label() {
            if labels.remove(label).as_deref() != Some(tenant.as_str()) {
                tracing::error!(%tenant, "the backend answered a series of another tenant; dropped");
                return None;
            }
            if let Some(v) = labels.remove(&format!("exported_{label}")) {
                labels.insert(label.to_string(), v);
            }
        }
        let metric = labels.remove("__name__").unwrap_or_default();
        let (endpoint, tags) = endpoint_and_tags(labels.into_iter().collect(), ingest);
        Some(SeriesKey::new(tenant.clone(), endpoint, metric, tags))
    }

    /// POSTs `form` to `url` for `tenant` and reads a Prometheus API answer, at most
    /// `max_response_bytes` of it.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        form: &[(&str, String)],
        tenant: &TenantId,
    ) -> Result<T, ReadError> {
        let mut resp = self
            .request(reqwest::Method::POST, url, Some(tenant))
            .form(form)
            .send()
            .await
            .map_err(|e| ReadError::Unavailable(format!("{url}: {e}")))?;
        let status = resp.status();
        let max = self.cfg.max_response_bytes;
        if resp.content_length().is_some_and(|n| n as usize > max) {
            return Err(too_large(max));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ReadError::Unavailable(format!("{url}: {e}")))?
        {
            if body.len() + chunk.len() > max {
                return Err(too_large(max));
            }
            body.extend_from_slice(&chunk);
        }
        let answer: Answer<T> = serde_json::from_slice(&body).map_err(|e| {
            ReadError::Unavailable(format!(
                "{url} answered {status} with no Prometheus API body: {e}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })?;
        match (answer.status.as_str(), answer.data) {
            ("success", Some(d)) => Ok(d),
            _ => {
                let msg = format!("{url}: {} {}: {}", status, answer.error_type, answer.error);
                Err(match (status.as_u16(), answer.error_type.as_str()) {
                    (422, _) | (_, "execution") => ReadError::TooLarge(msg),
                    (400, _) | (_, "bad_data") => ReadError::Refused(msg),
                    _ => ReadError::Unavailable(msg),
                })
            }
        }
    }
}

fn too_large(max: usize) -> ReadError {
    ReadError::TooLarge(format!(
        "the selection is larger than remote_storage.max_response_bytes ({max} bytes): \
         narrow the query or its time range"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{RemoteStorageConfig, Tenancy};
    use argus_core::tls::ClientTls;

    fn backend(tenancy: Tenancy) -> Backend {
        let cfg = RemoteStorageConfig {
            tenancy,
            ..Default::default()
        };
        Backend::new(
            &cfg,
            &ClientTls::default(),
            &argus_core::telemetry::Registry::new(),
        )
        .unwrap()
    }

    fn m(key: &str, op: MatchOp, value: &str) -> TagMatcher {
        TagMatcher {
            key: key.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn every_selector_is_confined() {
        let acme = TenantId::new("acme").unwrap();
        let b = backend(Tenancy::Label);
        let sel = b.selector(
            &acme,
            &[
                m("__name__", MatchOp::Regex, ".+"),
                m("tenant", MatchOp::Eq, "other"),
                m("path", MatchOp::Eq, "a\"b\\c\n"),
            ],
        );
        assert_eq!(
            sel,
            r#"{__name__=~".+",exported_tenant="other",path="a\"b\\c\n",tenant="acme"}"#
        );
        assert_eq!(b.selector(&acme, &[]), r#"{tenant="acme"}"#);
        // With a header or account, the selector is the caller's alone.
        assert_eq!(
            backend(Tenancy::Header).selector(&acme, &[m("tenant", MatchOp::Eq, "x")]),
            r#"{tenant="x"}"#
        );
    }

    #[test]
    fn answered_labels_become_the_stored_key() {
        let acme = TenantId::new("acme").unwrap();
        let b = backend(Tenancy::Label);
        let ingest = IngestConfig::default();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let k = b
            .key_of(
                &acme,
                labels(&[
                    ("__name__", "cpu.idle"),
                    ("endpoint", "web1"),
                    ("tenant", "acme"),
                    ("exported_tenant", "theirs"),
                ]),
                &ingest,
            )
            .unwrap();
        assert_eq!(
            (k.endpoint.as_str(), k.metric.as_str(), k.tags.to_string()),
            ("web1", "cpu.idle", "tenant=theirs".to_string())
        );
        let k = b
            .key_of(
                &acme,
                labels(&[
                    ("__name__", "up"),
                    ("instance", "h:9100"),
                    ("tenant", "acme"),
                ]),
                &ingest,
            )
            .unwrap();
        assert_eq!(k.endpoint, "h:9100");
        assert_eq!(
            k.tags.to_string(),
            "__endpoint_label__=instance,instance=h:9100"
        );
        assert!(b
            .key_of(
                &acme,
                labels(&[("__name__", "up"), ("tenant", "beta")]),
                &ingest
            )
            .is_none());
    }
}
