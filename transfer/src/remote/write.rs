//! Points to the backend by Prometheus remote write (protocol 1.0: snappy-compressed protobuf).
//!
//! A batch becomes one request (label tenancy) or one per tenant (accounts, header). Samples
//! are at the points' seconds, in milliseconds. Falcon `COUNTER`/`DERIVE` points are written
//! as they arrived (the raw counter): a backend has no counter types, so read them with
//! `rate()` (docs/DEPLOY.md).
//!
//! Answers: 2xx is durable on the backend. 400 and 422 mean the backend refused some samples
//! as invalid (out of order, duplicate timestamp with another value, too old) after taking the
//! others, as Prometheus and Mimir answer: such samples can never be taken, so the write counts
//! as done and the refusal is logged and counted. Otherwise the one retry rule applies
//! (`argus_core::http::Failure`): 5xx, 408, 425, 429, and 401/403/404 from a misconfigured URL
//! or credential are retried from the spool (no point is dropped because of the operator's
//! mistake); any other 4xx (413, 415...) refuses the request itself, which is set aside.

use super::{stored_name, Backend};
use crate::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use crate::sink::SendError;
use argus_core::series::ENDPOINT_MARKER_TAG;
use argus_core::{Point, TenantId};
use std::collections::HashMap;
use xxhash_rust::xxh3::xxh3_64;

/// The labels of `p` as written: `__name__`, `endpoint` unless it came from another label,
/// tags (names made valid, the tenant label's name exported), the tenant label; sorted by name,
/// as remote write requires.
pub(crate) fn labels_of_point(p: &Point, tenant_label: Option<&str>) -> Vec<Label> {
    let marked = p.tags.get(ENDPOINT_MARKER_TAG).is_some();
    let mut labels: Vec<Label> = Vec::with_capacity(p.tags.len() + 3);
    for (k, v) in p.tags.iter() {
        // The series' own endpoint and metric win over tags of the same names, as in PromQL.
        if k == ENDPOINT_MARKER_TAG
            || v.is_empty()
            || k == "__name__"
            || (!marked && k == "endpoint")
        {
            continue;
        }
        labels.push(Label {
            name: stored_name(k, tenant_label).into_owned(),
            value: v.to_string(),
        });
    }
    if !marked && !p.endpoint.is_empty() {
        labels.push(Label {
            name: "endpoint".into(),
            value: p.endpoint.clone(),
        });
    }
    labels.push(Label {
        name: "__name__".into(),
        value: p.metric.clone(),
    });
    if let Some(t) = tenant_label {
        labels.push(Label {
            name: t.to_string(),
            value: p.tenant.as_str().to_string(),
        });
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    // Two tags may map to one name (`a.b` and `a_b`): the first wins, as a backend would
    // refuse a series with a repeated label.
    labels.dedup_by(|a, b| a.name == b.name);
    labels
}

/// One remote-write request of `points`, samples of one series together.
pub(crate) fn request_of(points: &[&Point], tenant_label: Option<&str>) -> WriteRequest {
    let mut index: HashMap<u64, usize> = HashMap::with_capacity(points.len());
    let mut timeseries: Vec<TimeSeries> = Vec::with_capacity(points.len());
    for p in points {
        let labels = labels_of_point(p, tenant_label);
        let mut h = 0u64;
        for l in &labels {
            h = xxh3_64(l.name.as_bytes()) ^ h.rotate_left(7);
            h = xxh3_64(l.value.as_bytes()) ^ h.rotate_left(11);
        }
        let sample = Sample {
            value: p.value,
            timestamp: p.timestamp.saturating_mul(1000),
        };
        match index.get(&h) {
            Some(&i) if timeseries[i].labels == labels => timeseries[i].samples.push(sample),
            _ => {
                index.insert(h, timeseries.len());
                timeseries.push(TimeSeries {
                    labels,
                    samples: vec![sample],
                });
            }
        }
    }
    for ts in &mut timeseries {
        // Remote write wants each series' samples in time order.
        ts.samples.sort_by_key(|s| s.timestamp);
    }
    WriteRequest { timeseries }
}

impl Backend {
    /// Writes `points`: `Ok` once the backend has them (or refused some as invalid for good).
    pub(crate) async fn write(&self, points: &[Point]) -> Result<(), SendError> {
        let label = self.tenant_label().map(str::to_owned);
        if label.is_some() {
            let all: Vec<&Point> = points.iter().collect();
            return self.write_one(None, &all, label.as_deref()).await;
        }
        let mut by_tenant: HashMap<&TenantId, Vec<&Point>> = HashMap::new();
        for p in points {
            by_tenant.entry(&p.tenant).or_default().push(p);
        }
        for (tenant, pts) in by_tenant {
            self.write_one(Some(tenant), &pts, None).await?;
        }
        Ok(())
    }

    async fn write_one(
        &self,
        tenant: Option<&TenantId>,
        points: &[&Point],
        tenant_label: Option<&str>,
    ) -> Result<(), SendError> {
        let url = match tenant {
            Some(t) => self
                .url_for(&self.cfg.write_url, t)
                // Pushes of such tenants are refused before they are acknowledged; one found
                // in a spool waits there until the account is configured.
                .map_err(|e| SendError::Retryable(e.to_string()))?,
            None => self.cfg.write_url.clone(),
        };
        let body = crate::remote_write::encode(&request_of(points, tenant_label));
        let resp = self
            .request(reqwest::Method::POST, &url, tenant)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .header("x-prometheus-remote-write-version", "0.1.0")
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Retryable(format!("{url}: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        let msg = format!(
            "{url} answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
        if matches!(status.as_u16(), 400 | 422) {
            self.refused.inc();
            tracing::warn!(backend = %url, reason = %msg, points = points.len(),
                "the backend refused samples as invalid; the others were taken");
            return Ok(());
        }
        if argus_core::http::Failure::of_status(status.as_u16()).keeps_data() {
            Err(SendError::Retryable(msg))
        } else {
            Err(SendError::Refused(msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::Tags;

    fn point(endpoint: &str, metric: &str, tags: &[(&str, &str)], ts: i64) -> Point {
        let mut p = Point::gauge(
            endpoint,
            metric,
            Tags::from_pairs(tags.iter().copied()),
            1.5,
            ts,
        );
        p.tenant = TenantId::new("acme").unwrap();
        p
    }

    fn names(ls: &[Label]) -> Vec<String> {
        ls.iter()
            .map(|l| format!("{}={}", l.name, l.value))
            .collect()
    }

    #[test]
    fn labels_are_promql_labels_plus_tenant() {
        let p = point(
            "web1",
            "cpu.idle",
            &[("dc", "a"), ("tenant", "theirs"), ("x.y", "1")],
            10,
        );
        assert_eq!(
            names(&labels_of_point(&p, Some("tenant"))),
            [
                "__name__=cpu.idle",
                "dc=a",
                "endpoint=web1",
                "exported_tenant=theirs",
                "tenant=acme",
                "x_y=1"
            ]
        );
        // A series whose endpoint came from `instance` has no `endpoint` label.
        let p = point(
            "10.0.0.1:9100",
            "up",
            &[
                ("instance", "10.0.0.1:9100"),
                (ENDPOINT_MARKER_TAG, "instance"),
            ],
            10,
        );
        assert_eq!(
            names(&labels_of_point(&p, None)),
            ["__name__=up", "instance=10.0.0.1:9100"]
        );
    }

    #[test]
    fn samples_of_a_series_go_together_in_order() {
        let a2 = point("h", "m", &[], 20);
        let a1 = point("h", "m", &[], 10);
        let b = point("h2", "m", &[], 10);
        let req = request_of(&[&a2, &b, &a1], Some("tenant"));
        assert_eq!(req.timeseries.len(), 2);
        let ts: Vec<i64> = req.timeseries[0]
            .samples
            .iter()
            .map(|s| s.timestamp)
            .collect();
        assert_eq!(ts, [10_000, 20_000]);
    }
}
