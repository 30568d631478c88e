//! How an Argus series appears in PromQL, and label matchers.
//!
//! `__name__` is the metric; the endpoint is the label `endpoint`; tags are labels. A series
//! written by a label-based format (Prometheus remote write, InfluxDB line protocol) whose
//! endpoint came from another label, or from the default, carries the tag
//! [`ENDPOINT_MARKER_TAG`]; it shows exactly the labels it was written with (its tags without
//! the marker) and no `endpoint` label.

use crate::value::{Labels, METRIC_NAME};
use crate::Error;
use argus_core::query::{MatchOp, Selector, TagMatcher};
pub use argus_core::series::ENDPOINT_MARKER_TAG;
use argus_core::SeriesKey;
use regex::Regex;
use std::collections::BTreeMap;

/// The label that holds the endpoint of a series written with one.
pub const ENDPOINT_LABEL: &str = "endpoint";

/// A stored series read back (whole seconds) as a PromQL series (milliseconds, labels).
pub fn series_of(d: &argus_core::query::SeriesData) -> crate::value::Series {
    crate::value::Series {
        labels: labels_of(&d.key),
        points: d.points.iter().map(|&(t, v)| (t * 1000, v)).collect(),
    }
}

/// [`series_of`] taking the series: its point list becomes the PromQL series' (times made
/// milliseconds in place), not copied.
pub fn into_series(d: argus_core::query::SeriesData) -> crate::value::Series {
    crate::value::Series {
        labels: labels_of(&d.key),
        points: d.points.into_iter().map(|(t, v)| (t * 1000, v)).collect(),
    }
}

/// The labels of `key` as PromQL sees them.
pub fn labels_of(key: &SeriesKey) -> Labels {
    let marked = key.tags.get(ENDPOINT_MARKER_TAG).is_some();
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(key.tags.len() + 2);
    pairs.extend(
        key.tags
            .iter()
            .filter(|(k, _)| *k != ENDPOINT_MARKER_TAG)
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    // The series' own endpoint and metric win over tags of the same names (a falcon push may
    // carry a tag `endpoint`): they are its identity, and what the prefilter narrows on.
    if !marked {
        pairs.push((ENDPOINT_LABEL.to_owned(), key.endpoint.clone()));
    }
    pairs.push((METRIC_NAME.to_owned(), key.metric.clone()));
    Labels::new(pairs)
}

fn op_str(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Eq => "=",
        MatchOp::Ne => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    }
}

/// A canonical string of `matchers`: the same for the same set in any order (duplicates
/// count once), different for different sets.
pub fn matchers_key(matchers: &[TagMatcher]) -> String {
    let mut parts: Vec<String> = matchers
        .iter()
        // Debug quoting escapes quotes and commas' neighbours, so parts cannot run together.
        .map(|m| format!("{:?}{}{:?}", m.key, op_str(m.op), m.value))
        .collect();
    parts.sort_unstable();
    parts.dedup();
    format!("{{{}}}", parts.join(","))
}

/// A [`Selector`] a storage node can apply that selects a superset of the series `matchers`
/// select: `__name__` equality narrows the metric, a non-empty `endpoint` equality the
/// endpoint, matchers on other labels not starting with `__` become tag matchers (a store
/// compares a missing tag as `""`, as PromQL does); the rest is left to [`CompiledMatchers`].
pub fn prefilter(matchers: &[TagMatcher]) -> Selector {
    let mut sel = Selector::default();
    for m in matchers {
        match (m.key.as_str(), m.op) {
            // A second, different equality selects nothing; keeping the first is a superset.
            (METRIC_NAME, MatchOp::Eq) => {
                sel.metric.get_or_insert_with(|| m.value.clone());
            }
            (ENDPOINT_LABEL, MatchOp::Eq) if !m.value.is_empty() => {
                sel.endpoint.get_or_insert_with(|| m.value.clone());
            }
            // Other `endpoint` matchers: a marked series may have no endpoint label while its
            // stored endpoint is set, so only the exact post-filter can decide.
            (ENDPOINT_LABEL, _) => {}
            (k, _) if k.starts_with("__") => {}
            _ => sel.tags.push(m.clone()),
        }
    }
    sel
}

/// Label matchers ready to match: regexes compiled once, fully anchored as in Prometheus.
#[derive(Debug, Clone)]
pub struct CompiledMatchers {
    matchers: Vec<(TagMatcher, Option<Regex>)>,
}

impl CompiledMatchers {
    /// Compiles `matchers`; a bad regex is a `bad_data` error naming the matcher.
    pub fn new(matchers: &[TagMatcher]) -> Result<Self, Error> {
        let matchers = matchers
            .iter()
            .map(|m| {
                let re = match m.op {
                    MatchOp::Regex | MatchOp::NotRegex => {
                        Some(Regex::new(&format!("^(?:{})$", m.value)).map_err(|e| {
                            Error::bad_data(format!(
                                "invalid regular expression in matcher {}{}{:?}: {e}",
                                m.key,
                                op_str(m.op),
                                m.value
                            ))
                        })?)
                    }
                    MatchOp::Eq | MatchOp::Ne => None,
                };
                Ok((m.clone(), re))
            })
            .collect::<Result<_, Error>>()?;
        Ok(CompiledMatchers { matchers })
    }

    /// True when every matcher holds for `labels` (an absent label is `""`).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|(m, re)| {
            let v = labels.get(&m.key);
            match (m.op, re) {
                (MatchOp::Eq, _) => v == m.value,
                (MatchOp::Ne, _) => v != m.value,
                (MatchOp::Regex, Some(re)) => re.is_match(v),
                (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
                // Built by `new`, which compiles every regex matcher.
                (MatchOp::Regex | MatchOp::NotRegex, None) => false,
            }
        })
    }
}

/// A rule's output labels with its `labels` applied, as web's preview and the judges apply
/// them: the query's labels without `__name__`, then each of the rule's labels set (an empty
/// value removes the label).
pub fn with_rule_labels(
    out: &Labels,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = out
        .pairs()
        .iter()
        .filter(|(k, _)| k != METRIC_NAME)
        .cloned()
        .collect();
    for (k, v) in extra {
        if v.is_empty() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::{Tags, TenantId};

    fn key(endpoint: &str, metric: &str, tags: &[(&str, &str)]) -> SeriesKey {
        SeriesKey::new(
            TenantId::new("acme").unwrap(),
            endpoint,
            metric,
            Tags::from_pairs(tags.iter().copied()),
        )
    }

    fn m(key: &str, op: MatchOp, value: &str) -> TagMatcher {
        TagMatcher {
            key: key.into(),
            op,
            value: value.into(),
        }
    }

    fn pairs(l: &Labels) -> Vec<(&str, &str)> {
        l.pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn unmarked_series_have_name_endpoint_and_tags() {
        let l = labels_of(&key("web-1", "cpu.idle", &[("idc", "bj")]));
        assert_eq!(
            pairs(&l),
            [
                ("__name__", "cpu.idle"),
                ("endpoint", "web-1"),
                ("idc", "bj")
            ]
        );
        // A tag named like the identity does not override it.
        let l = labels_of(&key(
            "web-1",
            "m",
            &[("endpoint", "other"), ("__name__", "x")],
        ));
        assert_eq!(pairs(&l), [("__name__", "m"), ("endpoint", "web-1")]);
    }

    #[test]
    fn marked_series_show_exactly_their_written_labels() {
        // Remote write `up{instance="10.0.0.1:9100", job="node"}`: endpoint from `instance`.
        let l = labels_of(&key(
            "10.0.0.1:9100",
            "up",
            &[
                ("instance", "10.0.0.1:9100"),
                ("job", "node"),
                (ENDPOINT_MARKER_TAG, "instance"),
            ],
        ));
        assert_eq!(
            pairs(&l),
            [
                ("__name__", "up"),
                ("instance", "10.0.0.1:9100"),
                ("job", "node")
            ]
        );
        // No endpoint label at all: the default endpoint is not shown.
        let l = labels_of(&key("unknown", "m", &[(ENDPOINT_MARKER_TAG, "default")]));
        assert_eq!(pairs(&l), [("__name__", "m")]);
    }

    #[test]
    fn matchers_key_is_canonical() {
        let a = [
            m("__name__", MatchOp::Eq, "up"),
            m("job", MatchOp::Regex, "a|b"),
        ];
        let b = [
            m("job", MatchOp::Regex, "a|b"),
            m("__name__", MatchOp::Eq, "up"),
            m("job", MatchOp::Regex, "a|b"),
        ];
        assert_eq!(matchers_key(&a), matchers_key(&b));
        assert_eq!(matchers_key(&a), r#"{"__name__"="up","job"=~"a|b"}"#);
        assert_ne!(
            matchers_key(&[m("job", MatchOp::Eq, "a|b")]),
            matchers_key(&[m("job", MatchOp::Regex, "a|b")])
        );
        // Values with separators in them cannot collide with two matchers.
        assert_ne!(
            matchers_key(&[m("a", MatchOp::Eq, r#"1","b"="2"#)]),
            matchers_key(&[m("a", MatchOp::Eq, "1"), m("b", MatchOp::Eq, "2")])
        );
        assert_eq!(matchers_key(&[]), "{}");
    }

    #[test]
    fn prefilter_narrows_only_where_safe() {
        let sel = prefilter(&[
            m("__name__", MatchOp::Eq, "cpu.idle"),
            m("endpoint", MatchOp::Eq, "web-1"),
            m("idc", MatchOp::Ne, "sh"),
            m("svc", MatchOp::Regex, "api|db"),
            m("__name__", MatchOp::Regex, "cpu.*"),
            m("__endpoint_label__", MatchOp::Eq, "instance"),
        ]);
        assert_eq!(sel.metric.as_deref(), Some("cpu.idle"));
        assert_eq!(sel.endpoint.as_deref(), Some("web-1"));
        assert_eq!(
            sel.tags,
            [
                m("idc", MatchOp::Ne, "sh"),
                m("svc", MatchOp::Regex, "api|db")
            ]
        );
        for loose in [
            m("endpoint", MatchOp::Eq, ""),
            m("endpoint", MatchOp::Regex, "web-.*"),
            m("endpoint", MatchOp::Ne, "web-1"),
            m("__name__", MatchOp::Ne, "x"),
        ] {
            assert_eq!(
                prefilter(std::slice::from_ref(&loose)),
                Selector::default(),
                "{loose:?}"
            );
        }
    }

    #[test]
    fn compiled_matchers_are_prometheus_matchers() {
        let falcon = labels_of(&key("web-1", "cpu.idle", &[("idc", "bj")]));
        let rw = labels_of(&key(
            "10.0.0.1:9100",
            "up",
            &[
                ("instance", "10.0.0.1:9100"),
                (ENDPOINT_MARKER_TAG, "instance"),
            ],
        ));
        let ok = |ms: &[TagMatcher], l: &Labels| CompiledMatchers::new(ms).unwrap().matches(l);
        // A falcon metric name with dots, selected by `{__name__="cpu.idle"}`.
        assert!(ok(&[m("__name__", MatchOp::Eq, "cpu.idle")], &falcon));
        assert!(!ok(&[m("__name__", MatchOp::Eq, "cpu")], &falcon));
        // Anchored regexes.
        assert!(ok(&[m("__name__", MatchOp::Regex, "cpu\\..*")], &falcon));
        assert!(!ok(&[m("__name__", MatchOp::Regex, "cpu")], &falcon));
        assert!(!ok(&[m("idc", MatchOp::Regex, "b")], &falcon));
        assert!(ok(&[m("idc", MatchOp::NotRegex, "b")], &falcon));
        assert!(ok(&[m("__name__", MatchOp::Regex, ".+")], &rw));
        // Absent labels are "".
        assert!(ok(&[m("job", MatchOp::Eq, "")], &falcon));
        assert!(ok(&[m("job", MatchOp::Ne, "x")], &falcon));
        assert!(ok(&[m("job", MatchOp::Regex, "x|")], &falcon));
        assert!(!ok(&[m("job", MatchOp::NotRegex, ".*")], &falcon));
        // The marked series has no endpoint label, though its stored endpoint matches.
        assert!(ok(&[m("endpoint", MatchOp::Eq, "web-1")], &falcon));
        assert!(!ok(&[m("endpoint", MatchOp::Eq, "10.0.0.1:9100")], &rw));
        assert!(ok(&[m("endpoint", MatchOp::Eq, "")], &rw));
        assert!(ok(&[m("instance", MatchOp::Eq, "10.0.0.1:9100")], &rw));
        // The marker itself is not a label.
        assert!(!ok(&[m(ENDPOINT_MARKER_TAG, MatchOp::Eq, "instance")], &rw));
        // Every matcher must hold.
        assert!(!ok(
            &[
                m("__name__", MatchOp::Eq, "cpu.idle"),
                m("idc", MatchOp::Eq, "sh")
            ],
            &falcon
        ));
        let e = CompiledMatchers::new(&[m("job", MatchOp::Regex, "a(")]).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::BadData);
        assert!(e.message.contains("job=~\"a(\""), "{}", e.message);
    }

    #[test]
    fn prefilter_selects_a_superset() {
        // Every series the exact matchers select passes the prefilter, as a store applies it.
        let series = [
            key("web-1", "cpu.idle", &[("idc", "bj")]),
            key("web-2", "cpu.idle", &[]),
            key(
                "h",
                "up",
                &[
                    ("host", "h"),
                    ("job", "node"),
                    (ENDPOINT_MARKER_TAG, "host"),
                ],
            ),
            key("unknown", "up", &[(ENDPOINT_MARKER_TAG, "default")]),
        ];
        let sets = [
            vec![m("__name__", MatchOp::Eq, "cpu.idle")],
            vec![m("endpoint", MatchOp::Eq, "web-1")],
            vec![m("endpoint", MatchOp::Eq, "")],
            vec![m("idc", MatchOp::Ne, "bj")],
            vec![
                m("host", MatchOp::Eq, "h"),
                m("__name__", MatchOp::Eq, "up"),
            ],
            vec![m("job", MatchOp::Regex, "")],
            vec![m("__name__", MatchOp::Regex, ".+")],
        ];
        for ms in &sets {
            let exact = CompiledMatchers::new(ms).unwrap();
            let sel = prefilter(ms);
            for k in &series {
                if exact.matches(&labels_of(k)) {
                    assert!(store_matches(&sel, k), "{ms:?} lost {k}");
                }
            }
        }
    }

    /// A storage node's selector match (store/src/selector.rs), for the superset test.
    fn store_matches(sel: &Selector, k: &SeriesKey) -> bool {
        sel.endpoint.as_ref().is_none_or(|e| *e == k.endpoint)
            && sel.metric.as_ref().is_none_or(|x| *x == k.metric)
            && sel.tags.iter().all(|m| {
                let v = k.tags.get(&m.key).unwrap_or("");
                let re = || Regex::new(&format!("^(?:{})$", m.value)).unwrap();
                match m.op {
                    MatchOp::Eq => v == m.value,
                    MatchOp::Ne => v != m.value,
                    MatchOp::Regex => re().is_match(v),
                    MatchOp::NotRegex => !re().is_match(v),
                }
            })
    }
}
