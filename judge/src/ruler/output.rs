//! What rules produce: recorded points, and the labels and series of alerts.
//!
//! A recorded series must read back through PromQL with exactly the labels it was recorded
//! with, so its storage key is the inverse of `argus_promql::labels::labels_of`: a label
//! `endpoint` is the endpoint; otherwise the endpoint is taken from a label (`instance`,
//! `host`) or is [`DEFAULT_ENDPOINT`], and the tag `__endpoint_label__` names where it came
//! from, which hides the endpoint from PromQL.

use argus_core::point::CounterType;
use argus_core::rules::RecordingRule;
use argus_core::series::ENDPOINT_MARKER_TAG;
use argus_core::{Point, SeriesKey, Tags, TenantId};
use argus_promql::labels::ENDPOINT_LABEL;
use argus_promql::value::Labels;
use std::collections::BTreeMap;

/// The endpoint of a recorded series without an `endpoint`, `instance` or `host` label (the
/// transfers' default for label-based formats).
pub(crate) const DEFAULT_ENDPOINT: &str = "unknown";

/// Labels an endpoint is taken from when there is no `endpoint` label, in order.
const ENDPOINT_SOURCES: [&str; 2] = ["instance", "host"];

/// Can `s` be an endpoint (what `argus_core::validate` accepts)?
fn valid_endpoint(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '%')
        })
}

/// The endpoint and tags a series with `labels` (no `__name__`) is stored under, so that
/// `labels_of` gives back exactly `labels` (plus the name).
pub(crate) fn endpoint_and_tags(labels: &BTreeMap<String, String>) -> (String, Tags) {
    // The marker is not a label; one a query made up (label_replace) cannot round-trip.
    let pairs = labels
        .iter()
        .filter(|(k, v)| *k != ENDPOINT_MARKER_TAG && !v.is_empty());
    if let Some(ep) = labels.get(ENDPOINT_LABEL).filter(|v| !v.is_empty()) {
        let tags = Tags::from_pairs(
            pairs
                .filter(|(k, _)| *k != ENDPOINT_LABEL)
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        return (ep.clone(), tags);
    }
    let (marker, endpoint) = ENDPOINT_SOURCES
        .iter()
        .find_map(|name| {
            labels
                .get(*name)
                .filter(|v| valid_endpoint(v))
                .map(|v| (*name, v.clone()))
        })
        .unwrap_or(("default", DEFAULT_ENDPOINT.to_owned()));
    let mut tags: Vec<(String, String)> = pairs.map(|(k, v)| (k.clone(), v.clone())).collect();
    tags.push((ENDPOINT_MARKER_TAG.to_owned(), marker.to_owned()));
    (endpoint, Tags::from_pairs(tags))
}

/// The points a recording rule writes for the samples of its evaluation at `t`: one gauge per
/// sample, named `record`, of the rule's tenant. Samples that are not finite numbers cannot be
/// stored and are left out. Two samples with the same labels once the rule's labels are
/// applied are an error, as in Prometheus.
pub(crate) fn recorded(
    rule: &RecordingRule,
    tenant: &TenantId,
    samples: &[(Labels, f64)],
    t: i64,
) -> Result<Vec<Point>, String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(samples.len());
    for (labels, value) in samples {
        let labels = argus_promql::labels::with_rule_labels(labels, &rule.labels);
        if !seen.insert(labels.clone()) {
            return Err(format!(
                "the result has several series with the labels {labels:?} once the rule's labels are applied"
            ));
        }
        if !value.is_finite() {
            continue;
        }
        let (endpoint, tags) = endpoint_and_tags(&labels);
        out.push(Point {
            tenant: tenant.clone(),
            endpoint,
            metric: rule.record.clone(),
            tags,
            value: *value,
            timestamp: t,
            step: rule.interval_secs.clamp(1, 86_400),
            counter_type: CounterType::Gauge,
        });
    }
    Ok(out)
}

/// The series an alert's events name: endpoint from its `endpoint` (else `instance`) label,
/// metric = the alert's name, tags = its other labels (`alertname` aside).
pub(crate) fn alert_series(
    tenant: &TenantId,
    alert: &str,
    labels: &BTreeMap<String, String>,
) -> SeriesKey {
    let endpoint = labels
        .get(ENDPOINT_LABEL)
        .or_else(|| labels.get("instance"))
        .cloned()
        .unwrap_or_default();
    let tags = Tags::from_pairs(
        labels
            .iter()
            .filter(|(k, _)| *k != ENDPOINT_LABEL && *k != "alertname")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    SeriesKey::new(tenant.clone(), endpoint, alert, tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_promql::labels::labels_of;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Every recorded series reads back through PromQL with exactly its labels.
    #[test]
    fn recorded_series_read_back_with_their_labels() {
        let t = TenantId::new("acme").unwrap();
        for set in [
            labels(&[("endpoint", "web-1"), ("job", "node")]),
            labels(&[("instance", "10.0.0.1:9100"), ("job", "node")]),
            labels(&[("host", "h1")]),
            labels(&[("job", "node")]),
            labels(&[]),
            labels(&[("instance", "not an endpoint"), ("host", "h2")]),
            labels(&[("instance", "a b")]),
        ] {
            let (endpoint, tags) = endpoint_and_tags(&set);
            assert!(valid_endpoint(&endpoint), "{endpoint}");
            let key = SeriesKey::new(t.clone(), endpoint, "rec:x", tags);
            let back = labels_of(&key);
            let mut want = set.clone();
            want.insert("__name__".into(), "rec:x".into());
            let got: BTreeMap<String, String> = back.pairs().iter().cloned().collect();
            assert_eq!(got, want, "{key}");
        }
        let (ep, tags) = endpoint_and_tags(&labels(&[("instance", "i:1"), ("host", "h")]));
        assert_eq!(ep, "i:1");
        assert_eq!(tags.get(ENDPOINT_MARKER_TAG), Some("instance"));
    }

    #[test]
    fn rule_labels_replace_and_remove() {
        let out = Labels::new([
            ("__name__".to_string(), "up".to_string()),
            ("job".to_string(), "a".to_string()),
            ("env".to_string(), "x".to_string()),
        ]);
        let extra = labels(&[("job", "b"), ("env", ""), ("team", "t")]);
        assert_eq!(
            argus_promql::labels::with_rule_labels(&out, &extra),
            labels(&[("job", "b"), ("team", "t")])
        );
    }
}
