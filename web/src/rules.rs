//! Rules on PromQL queries (`recording_rules`, `alert_rules`): their input shapes, the checks
//! made when one is saved, and the core [`RecordingRule`] and [`AlertRule`] they become.
//!
//! The checks give the field and the reason, so that the REST API (fields of the body) and the
//! rule file import (`groups[i].rules[j].<yaml field>` and the line) report the same reasons.

use argus_core::rules::{AlertRule, RecordingRule, DEFAULT_INTERVAL_SECS};
use argus_core::strategy::Priority;
use argus_promql::template::Template;
use argus_promql::Query;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest interval, for and keep_firing_for: one day, a week.
pub(crate) const MAX_INTERVAL_SECS: u32 = 86_400;
pub(crate) const MAX_FOR_SECS: u32 = 7 * 86_400;
const MAX_EXPR_BYTES: usize = 16 << 10;
const MAX_LABELS: usize = 64;
const MAX_LABEL_VALUE_BYTES: usize = 1024;
const MAX_ANNOTATION_BYTES: usize = 8192;

fn default_interval() -> u32 {
    DEFAULT_INTERVAL_SECS
}

/// `recording_rules` input (Prometheus's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingRuleIn {
    /// The output metric name.
    pub record: String,
    /// The PromQL expression.
    pub expr: String,
    /// Labels added to every output series.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Evaluation interval, seconds.
    #[serde(default = "default_interval")]
    pub interval_secs: u32,
    /// Evaluated in the global zone over every region's series.
    #[serde(default)]
    pub global: bool,
}

/// `alert_rules` input (Prometheus's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleIn {
    /// The alert's name.
    pub alert: String,
    /// The PromQL expression.
    pub expr: String,
    /// Pending this long before firing, seconds.
    #[serde(default)]
    pub for_secs: u32,
    /// Firing this long after the series is gone, seconds.
    #[serde(default)]
    pub keep_firing_for_secs: u32,
    /// Labels added to every alert (templates).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// P0..P5.
    #[serde(default)]
    pub priority: Priority,
    /// Evaluation interval, seconds.
    #[serde(default = "default_interval")]
    pub interval_secs: u32,
    /// Evaluated in the global zone over every region's series.
    #[serde(default)]
    pub global: bool,
}

impl RecordingRuleIn {
    /// The core rule with id `id`.
    pub(crate) fn rule(&self, id: i64) -> RecordingRule {
        RecordingRule {
            id: id as u64,
            record: self.record.clone(),
            expr: self.expr.clone(),
            labels: self.labels.clone(),
            interval_secs: self.interval_secs,
            global: self.global,
        }
    }
}

impl AlertRuleIn {
    /// The core rule with id `id`.
    pub(crate) fn rule(&self, id: i64) -> AlertRule {
        AlertRule {
            id: id as u64,
            alert: self.alert.clone(),
            expr: self.expr.clone(),
            for_secs: self.for_secs,
            keep_firing_for_secs: self.keep_firing_for_secs,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            priority: self.priority,
            interval_secs: self.interval_secs,
            global: self.global,
        }
    }
}

/// A refused rule: the field (as the API names it) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An expression a rule can evaluate: it parses, and gives an instant vector or a scalar.
fn check_expr(expr: &str) -> Result<(), Invalid> {
    if expr.len() > MAX_EXPR_BYTES {
        return Err(invalid(
            "expr",
            format!("must be at most {MAX_EXPR_BYTES} bytes"),
        ));
    }
    let q = Query::parse(expr).map_err(|e| invalid("expr", e.message))?;
    match q.value_type() {
        "vector" | "scalar" => Ok(()),
        other => {
            let what = if other == "matrix" {
                "range vector"
            } else {
                other
            };
            Err(invalid(
                "expr",
                format!("a rule's expression must give an instant vector or a scalar, this gives a {what}"),
            ))
        }
    }
}

fn check_interval(secs: u32) -> Result<(), Invalid> {
    if !(1..=MAX_INTERVAL_SECS).contains(&secs) {
        return Err(invalid(
            "interval_secs",
            format!("must be 1 to {MAX_INTERVAL_SECS} seconds, got {secs}"),
        ));
    }
    Ok(())
}

/// Label names and values; for alerts (`templates`) the values are templates.
fn check_labels(labels: &BTreeMap<String, String>, templates: bool) -> Result<(), Invalid> {
    if labels.len() > MAX_LABELS {
        return Err(invalid("labels", format!("at most {MAX_LABELS} labels")));
    }
    for (k, v) in labels {
        let field = format!("labels.{k}");
        if !is_label_name(k) {
            return Err(invalid(
                field,
                "a label name is letters, digits and _, not starting with a digit",
            ));
        }
        if k.starts_with("__") {
            return Err(invalid(field, "label names starting with __ are reserved"));
        }
        if v.len() > MAX_LABEL_VALUE_BYTES {
            return Err(invalid(
                field,
                format!("a label value is at most {MAX_LABEL_VALUE_BYTES} bytes"),
            ));
        }
        if templates {
            Template::parse(v).map_err(|e| invalid(field, format!("bad template at {e}")))?;
        }
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.len() > 200 {
        return Err(invalid(field, "must be at most 200 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not hold control characters"));
    }
    Ok(())
}

/// Checks a recording rule.
pub(crate) fn check_recording(r: &RecordingRuleIn) -> Result<(), Invalid> {
    if !is_metric_name(&r.record) {
        return Err(invalid(
            "record",
            format!(
                "{:?} is not a metric name: letters, digits, _ and :, not starting with a digit",
                r.record
            ),
        ));
    }
    check_expr(&r.expr)?;
    check_labels(&r.labels, false)?;
    check_interval(r.interval_secs)
}

/// Checks an alert rule.
pub(crate) fn check_alert(r: &AlertRuleIn) -> Result<(), Invalid> {
    check_name("alert", &r.alert)?;
    check_expr(&r.expr)?;
    for (field, v) in [
        ("for_secs", r.for_secs),
        ("keep_firing_for_secs", r.keep_firing_for_secs),
    ] {
        if v > MAX_FOR_SECS {
            return Err(invalid(
                field,
                format!("must be at most {MAX_FOR_SECS} seconds (7 days), got {v}"),
            ));
        }
    }
    check_labels(&r.labels, true)?;
    if r.labels.contains_key("priority") {
        // The priority is a field; a label would say it twice (the rule file import turns a
        // `priority` label into the field).
        return Err(invalid(
            "labels.priority",
            "give the priority in the priority field (0-5), not as a label",
        ));
    }
    if r.annotations.len() > MAX_LABELS {
        return Err(invalid(
            "annotations",
            format!("at most {MAX_LABELS} annotations"),
        ));
    }
    for (k, v) in &r.annotations {
        let field = format!("annotations.{k}");
        if !is_label_name(k) {
            return Err(invalid(
                field,
                "an annotation name is letters, digits and _, not starting with a digit",
            ));
        }
        if v.len() > MAX_ANNOTATION_BYTES {
            return Err(invalid(
                field,
                format!("an annotation is at most {MAX_ANNOTATION_BYTES} bytes"),
            ));
        }
        Template::parse(v).map_err(|e| invalid(field, format!("bad template at {e}")))?;
    }
    check_interval(r.interval_secs)
}

/// The `line:col` a refusal's reason starts with (a PromQL parse error, `1:7: parse error:
/// ...`), or names after `bad template at ` (a template error), so that an editor can point at
/// it.
pub(crate) fn position(reason: &str) -> Option<(usize, usize)> {
    let rest = reason.strip_prefix("bad template at ").unwrap_or(reason);
    let (line, rest) = rest.split_once(':')?;
    let (col, _) = rest.split_once(':')?;
    Some((line.parse().ok()?, col.parse().ok()?))
}

/// The priority a rule file's alert gets from its labels: an explicit `priority` label
/// (`P0`..`P5` or `0`..`5`) wins; else `severity`: `critical` P1, `error` P2, `warning` P3,
/// `info` P5; else the default (P2). `Err` for a `priority` label that is no priority.
pub(crate) fn priority_from_labels(labels: &BTreeMap<String, String>) -> Result<Priority, String> {
    if let Some(p) = labels.get("priority") {
        let digits = p.trim().trim_start_matches(['P', 'p']);
        return digits
            .parse::<u8>()
            .ok()
            .and_then(|n| Priority::new(n).ok())
            .ok_or_else(|| format!("{p:?} is not a priority: P0 to P5"));
    }
    Ok(labels
        .get("severity")
        .and_then(|s| severity_priority(s))
        .unwrap_or_default())
}

/// The priority of a `severity` label value, if it is one of the known ones.
pub(crate) fn severity_priority(severity: &str) -> Option<Priority> {
    let level = match severity.trim().to_ascii_lowercase().as_str() {
        "critical" => 1,
        "error" => 2,
        "warning" => 3,
        "info" => 5,
        _ => return None,
    };
    Priority::new(level).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> AlertRuleIn {
        AlertRuleIn {
            alert: "Down".into(),
            expr: "up == 0".into(),
            for_secs: 300,
            keep_firing_for_secs: 0,
            labels: BTreeMap::new(),
            annotations: [(
                "summary".to_string(),
                "{{ $labels.instance }} down".to_string(),
            )]
            .into(),
            priority: Priority::default(),
            interval_secs: 60,
            global: false,
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "job:up:sum", "_x", ":a1"] {
            assert!(is_metric_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a.b", "a-b", "é"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
        assert!(is_label_name("a_1"));
        assert!(!is_label_name("a:b"));
        assert!(!is_label_name("9"));
    }

    #[test]
    fn alert_checks_name_the_field() {
        assert_eq!(check_alert(&alert()), Ok(()));
        type Change = Box<dyn Fn(&mut AlertRuleIn)>;
        let cases: Vec<(Change, &str, &str)> = vec![
            (Box::new(|a| a.alert = " ".into()), "alert", "empty"),
            (Box::new(|a| a.expr = "up ==".into()), "expr", "1:"),
            (
                Box::new(|a| a.expr = "up[5m]".into()),
                "expr",
                "range vector",
            ),
            (Box::new(|a| a.expr = "\"text\"".into()), "expr", "string"),
            (
                Box::new(|a| a.for_secs = MAX_FOR_SECS + 1),
                "for_secs",
                "at most",
            ),
            (
                Box::new(|a| a.keep_firing_for_secs = u32::MAX),
                "keep_firing_for_secs",
                "at most",
            ),
            (
                Box::new(|a| a.interval_secs = 0),
                "interval_secs",
                "1 to 86400",
            ),
            (
                Box::new(|a| {
                    a.labels.insert("__x".into(), "v".into());
                }),
                "labels.__x",
                "reserved",
            ),
            (
                Box::new(|a| {
                    a.labels.insert("a-b".into(), "v".into());
                }),
                "labels.a-b",
                "label name",
            ),
            (
                Box::new(|a| {
                    a.labels.insert("sev".into(), "{{ $x }}".into());
                }),
                "labels.sev",
                "1:4",
            ),
            (
                Box::new(|a| {
                    a.labels.insert("priority".into(), "P1".into());
                }),
                "labels.priority",
                "priority field",
            ),
            (
                Box::new(|a| {
                    a.annotations.insert("d".into(), "{{ if }}".into());
                }),
                "annotations.d",
                "bad template at 1:4: if is not supported",
            ),
        ];
        for (change, field, why) in cases {
            let mut a = alert();
            change(&mut a);
            let e = check_alert(&a).expect_err(field);
            assert_eq!(e.field, field, "{e:?}");
            assert!(e.reason.contains(why), "{field}: {e:?}");
        }
    }

    #[test]
    fn recording_checks() {
        let mut r = RecordingRuleIn {
            record: "job:up:sum".into(),
            expr: "sum by (job) (up)".into(),
            labels: BTreeMap::new(),
            interval_secs: 30,
            global: true,
        };
        assert_eq!(check_recording(&r), Ok(()));
        // Recording labels are not templates.
        r.labels.insert("note".into(), "{{ if }}".into());
        assert_eq!(check_recording(&r), Ok(()));
        r.record = "job.up".into();
        assert_eq!(check_recording(&r).unwrap_err().field, "record");
    }

    #[test]
    fn positions_of_refusals() {
        let mut a = alert();
        a.expr = "sum(up) by (job".into();
        let e = check_alert(&a).unwrap_err();
        let (line, col) = position(&e.reason).expect("a parse error has a position");
        assert_eq!(line, 1, "{e:?}");
        assert!(col > 1, "{e:?}");
        // An unclosed parenthesis is placed at the end of the text, here on its second line.
        a.expr = "sum(\n  up".into();
        let e = check_alert(&a).unwrap_err();
        assert_eq!(position(&e.reason).map(|p| p.0), Some(2), "{e:?}");
        let mut a = alert();
        a.annotations
            .insert("d".into(), "ok {{ $labels.x }} {{ bogus }}".into());
        let e = check_alert(&a).unwrap_err();
        let (line, col) = position(&e.reason).expect("a template error has a position");
        assert!(line == 1 && col > 18, "points past the good action: {e:?}");
        assert_eq!(position("must not be empty"), None);
        assert_eq!(position("a: b: c"), None);
    }

    #[test]
    fn priorities_from_labels() {
        let l = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let p = |pairs: &[(&str, &str)]| priority_from_labels(&l(pairs)).map(|p| p.level());
        assert_eq!(p(&[]), Ok(2));
        assert_eq!(p(&[("severity", "critical")]), Ok(1));
        assert_eq!(p(&[("severity", "Warning")]), Ok(3));
        assert_eq!(p(&[("severity", "info")]), Ok(5));
        assert_eq!(p(&[("severity", "page")]), Ok(2));
        assert_eq!(p(&[("severity", "info"), ("priority", "P0")]), Ok(0));
        assert_eq!(p(&[("priority", "4")]), Ok(4));
        assert!(p(&[("priority", "P9")]).is_err());
        assert!(p(&[("priority", "high")]).is_err());
    }
}
