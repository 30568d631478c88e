//! Prometheus rule files (YAML) in and out: `parse` reads one into rules, refusing it whole
//! at its first bad rule with `groups[i].rules[j].<field>` and the line; `export` writes a
//! tenant's rules as a file that `parse` and `promtool check rules` accept.
//!
//! Mapping (docs/API.md): a group's `interval` (default 1m) becomes each of its rules'
//! `interval_secs`; a group's `labels` are added to each rule's (the rule's win); an alert's
//! priority comes from its `priority` label (`P0`..`P5`, taken out of the labels) or else its
//! `severity` label (see `crate::rules::priority_from_labels`); rules of a group whose name
//! ends in `GLOBAL_SUFFIX` are `global`. Export writes one group per interval and
//! globalness, named `argus-<interval>` (+ the suffix), rules in id order, and a `priority`
//! label only where the labels would not give the rule's priority back.

use crate::rules::{
    check_alert, check_recording, priority_from_labels, AlertRuleIn, Invalid, RecordingRuleIn,
    MAX_FOR_SECS, MAX_INTERVAL_SECS,
};
use argus_core::http::ApiError;
use argus_core::rules::{TenantRules, DEFAULT_INTERVAL_SECS};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A group name ending in this holds global rules.
pub(crate) const GLOBAL_SUFFIX: &str = "/global";

/// A rule read from a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FileRule {
    Recording(RecordingRuleIn),
    Alert(AlertRuleIn),
}

/// Why a file was refused: the path of the offending field, its line and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileError {
    pub field: String,
    pub line: usize,
    pub reason: String,
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> ApiError {
        ApiError::bad_field(e.field, format!("line {}: {}", e.line, e.reason))
    }
}

fn fail(field: impl Into<String>, line: usize, reason: impl Into<String>) -> FileError {
    FileError {
        field: field.into(),
        line,
        reason: reason.into(),
    }
}

/// The source text and where each character starts (saphyr's positions count characters).
struct Source<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl Source<'_> {
    fn slice(&self, from: usize, to: usize) -> &str {
        let at = |i: usize| self.starts.get(i).copied().unwrap_or(self.text.len());
        &self.text[at(from)..at(to).max(at(from))]
    }
}

type Node<'a> = MarkedYaml<'a>;

fn line(n: &Node) -> usize {
    n.span.start.line()
}

/// A mapping's entries by key, refusing keys not in `known` (Prometheus reads rule files
/// strictly, so a misspelt key is an error, not ignored).
fn entries<'n, 'a>(
    n: &'n Node<'a>,
    path: &str,
    known: &[&str],
    src: &Source,
) -> Result<Vec<(String, &'n Node<'a>)>, FileError> {
    let YamlData::Mapping(m) = &n.data else {
        return Err(fail(
            path,
            line(n),
            format!("must be a mapping, not {}", kind(n)),
        ));
    };
    let mut out = Vec::new();
    for (k, v) in m.iter() {
        let key = text(k, src).ok().flatten().unwrap_or_default();
        if !known.is_empty() && !known.contains(&key.as_str()) {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            return Err(fail(
                field,
                line(k),
                format!(
                    "unknown field {key:?}: expected one of {}",
                    known.join(", ")
                ),
            ));
        }
        out.push((key, v));
    }
    Ok(out)
}

fn kind(n: &Node) -> &'static str {
    match &n.data {
        YamlData::Mapping(_) => "a mapping",
        YamlData::Sequence(_) => "a list",
        YamlData::Value(Scalar::Null) => "empty",
        YamlData::Value(_) | YamlData::Representation(..) => "a scalar",
        _ => "this kind of node",
    }
}

/// A scalar's text (numbers and booleans as written); `None` for null.
fn text(n: &Node, src: &Source) -> Result<Option<String>, String> {
    match &n.data {
        YamlData::Value(Scalar::Null) => Ok(None),
        YamlData::Value(Scalar::String(s)) => Ok(Some(s.to_string())),
        YamlData::Value(_) => Ok(Some(
            src.slice(n.span.start.index(), n.span.end.index())
                .trim()
                .to_string(),
        )),
        YamlData::Representation(s, ..) => Ok(Some(s.to_string())),
        _ => Err(format!("must be text, not {}", kind(n))),
    }
}

fn required_text(n: &Node, field: &str, src: &Source) -> Result<String, FileError> {
    match text(n, src) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(fail(field, line(n), "must not be empty")),
        Err(e) => Err(fail(field, line(n), e)),
    }
}

/// A Prometheus duration (`30s`, `5m`, `1h30m`, `0`) in whole seconds, at most `max`.
fn duration(s: &str, max: u32) -> Result<u32, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    if s.parse::<f64>().is_ok() {
        return Err(format!("{s:?} needs a unit: 30s, 5m, 1h30m"));
    }
    let ms = crate::prometheus::parse_duration(s)
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| format!("{s:?} is not a duration (like 30s, 5m, 1h30m)"))?;
    if ms % 1000 != 0 {
        return Err(format!("{s:?} is not a whole number of seconds"));
    }
    u32::try_from(ms / 1000)
        .ok()
        .filter(|secs| *secs <= max)
        .ok_or_else(|| format!("{s:?} is longer than {}", format_duration(max)))
}

/// Seconds as a Prometheus duration: `1d2h3m4s`, `5m`, `0s`.
pub(crate) fn format_duration(secs: u32) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= n {
            let _ = write!(out, "{}{unit}", rest / n);
            rest %= n;
        }
    }
    out
}

/// A mapping of text to text (`labels`, `annotations`), with the line of each value.
fn string_map(
    n: &Node,
    path: &str,
    src: &Source,
) -> Result<BTreeMap<String, (String, usize)>, FileError> {
    if matches!(n.data, YamlData::Value(Scalar::Null)) {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    for (k, v) in entries(n, path, &[], src)? {
        let value = text(v, src)
            .map_err(|e| fail(format!("{path}.{k}"), line(v), e))?
            .unwrap_or_default();
        out.insert(k, (value, line(v)));
    }
    Ok(out)
}

/// Reads a Prometheus rule file. Every rule is checked as if saved through the API; the
/// first problem refuses the whole file.
pub(crate) fn parse(text_in: &str) -> Result<Vec<FileRule>, FileError> {
    let src = Source {
        text: text_in,
        starts: text_in.char_indices().map(|(i, _)| i).collect(),
    };
    let docs = MarkedYaml::load_from_str(text_in).map_err(|e| {
        fail(
            "file",
            e.marker().line(),
            format!(
                "column {}: not valid YAML: {}",
                e.marker().col() + 1,
                e.info()
            ),
        )
    })?;
    let root = match docs.as_slice() {
        [] => return Err(fail("groups", 1, "the file is empty: it needs groups:")),
        [one] => one,
        [_, second, ..] => {
            return Err(fail(
                "file",
                line(second),
                format!("holds {} YAML documents; a rule file is one", docs.len()),
            ))
        }
    };
    let top = entries(root, "", &["groups"], &src)?;
    let Some((_, groups)) = top.into_iter().find(|(k, _)| k == "groups") else {
        return Err(fail(
            "groups",
            line(root),
            "missing: a rule file is groups: [...]",
        ));
    };
    let groups: &[Node] = match &groups.data {
        YamlData::Sequence(s) => s,
        YamlData::Value(Scalar::Null) => &[],
        _ => return Err(fail("groups", line(groups), "must be a list of groups")),
    };
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (i, g) in groups.iter().enumerate() {
        let gp = format!("groups[{i}]");
        let fields = entries(
            g,
            &gp,
            &[
                "name",
                "interval",
                "rules",
                "labels",
                "limit",
                "query_offset",
            ],
            &src,
        )?;
        let mut name = None;
        let mut interval = DEFAULT_INTERVAL_SECS;
        let mut interval_line = line(g);
        let mut rules: &[Node] = &[];
        let mut group_labels = BTreeMap::new();
        for (k, v) in fields {
            let field = format!("{gp}.{k}");
            match k.as_str() {
                "name" => name = Some(required_text(v, &field, &src)?),
                "interval" => {
                    if let Some(t) = text(v, &src).map_err(|e| fail(&field, line(v), e))? {
                        interval = duration(&t, MAX_INTERVAL_SECS)
                            .map_err(|e| fail(&field, line(v), e))?;
                        if interval == 0 {
                            return Err(fail(&field, line(v), "must be at least 1s"));
                        }
                        interval_line = line(v);
                    }
                }
                "rules" => match &v.data {
                    YamlData::Sequence(s) => rules = s,
                    YamlData::Value(Scalar::Null) => {}
                    _ => return Err(fail(field, line(v), "must be a list of rules")),
                },
                "labels" => group_labels = string_map(v, &field, &src)?,
                // Argus evaluates every rule of a group; these have no equivalent.
                _ => {
                    return Err(fail(
                        field,
                        line(v),
                        format!("{k} is not supported by Argus"),
                    ))
                }
            }
        }
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            return Err(fail(format!("{gp}.name"), line(g), "a group needs a name"));
        };
        if !names.insert(name.clone()) {
            return Err(fail(
                format!("{gp}.name"),
                line(g),
                format!("group name {name:?} is repeated in the file"),
            ));
        }
        let global = name.ends_with(GLOBAL_SUFFIX);
        for (j, r) in rules.iter().enumerate() {
            let group = Group {
                path: &gp,
                interval,
                interval_line,
                labels: &group_labels,
                global,
            };
            out.push(rule(r, &format!("{gp}.rules[{j}]"), &group, &src)?);
        }
    }
    Ok(out)
}

/// What a group gives each of its rules.
struct Group<'a> {
    path: &'a str,
    interval: u32,
    interval_line: usize,
    labels: &'a BTreeMap<String, (String, usize)>,
    global: bool,
}

fn rule(r: &Node, rp: &str, group: &Group, src: &Source) -> Result<FileRule, FileError> {
    let fields = entries(
        r,
        rp,
        &[
            "record",
            "alert",
            "expr",
            "for",
            "keep_firing_for",
            "labels",
            "annotations",
        ],
        src,
    )?;
    let at = |k: &str| -> usize {
        fields
            .iter()
            .find(|(f, _)| f == k)
            .map_or(line(r), |(_, v)| line(v))
    };
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| *v);
    let text_of = |k: &str| -> Result<Option<String>, FileError> {
        match get(k) {
            None => Ok(None),
            Some(v) => text(v, src).map_err(|e| fail(format!("{rp}.{k}"), line(v), e)),
        }
    };
    let record = text_of("record")?;
    let alert = text_of("alert")?;
    let expr = text_of("expr")?.ok_or_else(|| {
        fail(
            format!("{rp}.expr"),
            line(r),
            "missing: every rule needs an expr",
        )
    })?;
    // Group labels first: the rule's own win.
    let mut labels: BTreeMap<String, (String, usize)> = group.labels.clone();
    if let Some(v) = get("labels") {
        labels.extend(string_map(v, &format!("{rp}.labels"), src)?);
    }
    let annotations = match get("annotations") {
        Some(v) => string_map(v, &format!("{rp}.annotations"), src)?,
        None => BTreeMap::new(),
    };
    let plain = |m: &BTreeMap<String, (String, usize)>| -> BTreeMap<String, String> {
        m.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect()
    };
    // The field of an API check as the file names it, and its line.
    let locate = |e: Invalid| -> FileError {
        let (field, line) = match e.field.as_str() {
            "interval_secs" => (format!("{}.interval", group.path), group.interval_line),
            "for_secs" => (format!("{rp}.for"), at("for")),
            "keep_firing_for_secs" => (format!("{rp}.keep_firing_for"), at("keep_firing_for")),
            f => {
                let line = match f.split_once('.') {
                    Some(("labels", k)) => labels.get(k).map_or(at("labels"), |(_, l)| *l),
                    Some(("annotations", k)) => {
                        annotations.get(k).map_or(at("annotations"), |(_, l)| *l)
                    }
                    _ => at(f),
                };
                (format!("{rp}.{f}"), line)
            }
        };
        fail(field, line, e.reason)
    };
    match (record, alert) {
        (Some(record), None) => {
            for k in ["for", "keep_firing_for", "annotations"] {
                if get(k).is_some() {
                    return Err(fail(
                        format!("{rp}.{k}"),
                        at(k),
                        format!("a recording rule takes no {k} (only alert rules do)"),
                    ));
                }
            }
            let r = RecordingRuleIn {
                record,
                expr,
                labels: plain(&labels),
                interval_secs: group.interval,
                global: group.global,
            };
            check_recording(&r).map_err(locate)?;
            Ok(FileRule::Recording(r))
        }
        (None, Some(alert)) => {
            let secs = |k: &str| -> Result<u32, FileError> {
                match text_of(k)? {
                    None => Ok(0),
                    Some(t) => {
                        duration(&t, MAX_FOR_SECS).map_err(|e| fail(format!("{rp}.{k}"), at(k), e))
                    }
                }
            };
            let for_secs = secs("for")?;
            let keep_firing_for_secs = secs("keep_firing_for")?;
            let mut plain_labels = plain(&labels);
            let priority = priority_from_labels(&plain_labels).map_err(|e| {
                let line = labels.get("priority").map_or(at("labels"), |(_, l)| *l);
                fail(format!("{rp}.labels.priority"), line, e)
            })?;
            plain_labels.remove("priority");
            let a = AlertRuleIn {
                alert,
                expr,
                for_secs,
                keep_firing_for_secs,
                labels: plain_labels,
                annotations: plain(&annotations),
                priority,
                interval_secs: group.interval,
                global: group.global,
            };
            check_alert(&a).map_err(locate)?;
            Ok(FileRule::Alert(a))
        }
        (Some(_), Some(_)) => Err(fail(
            format!("{rp}.record"),
            at("record"),
            "a rule has record (a recording rule) or alert (an alert rule), not both",
        )),
        (None, None) => Err(fail(
            rp,
            line(r),
            "a rule needs record (a recording rule) or alert (an alert rule)",
        )),
    }
}

/// A YAML double-quoted scalar: JSON's escapes, and `\u` for what YAML may not hold raw.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}') =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_map(out: &mut String, key: &str, m: &BTreeMap<String, String>) {
    if m.is_empty() {
        return;
    }
    let _ = writeln!(out, "        {key}:");
    for (k, v) in m {
        let _ = writeln!(out, "          {}: {}", quote(k), quote(v));
    }
}

/// `rules` as a Prometheus rule file.
pub(crate) fn export(tenant: &str, rules: &TenantRules) -> String {
    enum Item<'a> {
        Recording(&'a argus_core::rules::RecordingRule),
        Alert(&'a argus_core::rules::AlertRule),
    }
    let mut groups: BTreeMap<(bool, u32), Vec<(u64, Item)>> = BTreeMap::new();
    for r in &rules.recording {
        groups
            .entry((r.global, r.interval_secs))
            .or_default()
            .push((r.id, Item::Recording(r)));
    }
    for a in &rules.alerting {
        groups
            .entry((a.global, a.interval_secs))
            .or_default()
            .push((a.id, Item::Alert(a)));
    }
    let mut out = format!(
        "# The rules of tenant {tenant}, exported by Argus: one group per interval; groups \
         named ...{GLOBAL_SUFFIX} hold global rules.\n"
    );
    if groups.is_empty() {
        out.push_str("groups: []\n");
        return out;
    }
    out.push_str("groups:\n");
    for ((global, interval), mut items) in groups {
        items.sort_by_key(|(id, _)| *id);
        let every = format_duration(interval);
        let suffix = if global { GLOBAL_SUFFIX } else { "" };
        let _ = writeln!(
            out,
            "  - name: {}",
            quote(&format!("argus-{every}{suffix}"))
        );
        let _ = writeln!(out, "    interval: {every}");
        out.push_str("    rules:\n");
        for (_, item) in items {
            match item {
                Item::Recording(r) => {
                    let _ = writeln!(out, "      - record: {}", quote(&r.record));
                    let _ = writeln!(out, "        expr: {}", quote(&r.expr));
                    write_map(&mut out, "labels", &r.labels);
                }
                Item::Alert(a) => {
                    let _ = writeln!(out, "      - alert: {}", quote(&a.alert));
                    let _ = writeln!(out, "        expr: {}", quote(&a.expr));
                    if a.for_secs > 0 {
                        let _ = writeln!(out, "        for: {}", format_duration(a.for_secs));
                    }
                    if a.keep_firing_for_secs > 0 {
                        let _ = writeln!(
                            out,
                            "        keep_firing_for: {}",
                            format_duration(a.keep_firing_for_secs)
                        );
                    }
                    let mut labels = a.labels.clone();
                    // Only where the labels would not give the priority back on import.
                    if priority_from_labels(&labels).ok() != Some(a.priority) {
                        labels.insert("priority".into(), format!("P{}", a.priority.level()));
                    }
                    write_map(&mut out, "labels", &labels);
                    write_map(&mut out, "annotations", &a.annotations);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
# Node alerts.
groups:
  - name: node
    interval: 30s
    labels:
      team: infra
    rules:
      - record: instance:up:sum   # a comment
        expr: sum by (instance) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        keep_firing_for: 1h30m
        labels:
          severity: critical
          code: 500
        annotations:
          summary: "{{ $labels.instance }} is down ({{ $value | humanizePercentage }})"
          description: |
            {{ $labels.instance }} of job {{ $labels.job }}
            has been down for 5 minutes.
  - name: slo/global
    rules:
      - alert: ErrorBudget
        expr: |
          sum(rate(errors_total[5m]))
            / sum(rate(requests_total[5m])) > 0.01
        labels:
          severity: warning
          priority: P0
"#;

    #[test]
    fn reads_a_real_looking_file() {
        let rules = parse(FILE).unwrap();
        assert_eq!(rules.len(), 3);
        let FileRule::Recording(r) = &rules[0] else {
            panic!("{rules:?}")
        };
        assert_eq!(r.record, "instance:up:sum");
        assert_eq!(r.expr, "sum by (instance) (up)");
        assert_eq!(r.interval_secs, 30);
        assert_eq!(r.labels["team"], "infra");
        assert!(!r.global);
        let FileRule::Alert(a) = &rules[1] else {
            panic!("{rules:?}")
        };
        assert_eq!((a.for_secs, a.keep_firing_for_secs), (300, 5400));
        assert_eq!(a.priority.level(), 1);
        // A number written as a label value stays as written.
        assert_eq!(a.labels["code"], "500");
        assert_eq!(a.labels["team"], "infra");
        assert!(a.annotations["description"].starts_with("{{ $labels.instance }} of job"));
        let FileRule::Alert(b) = &rules[2] else {
            panic!("{rules:?}")
        };
        assert!(b.global);
        assert_eq!(b.interval_secs, 60);
        assert_eq!(b.priority.level(), 0, "an explicit priority label wins");
        assert!(
            !b.labels.contains_key("priority"),
            "taken out of the labels"
        );
    }

    #[test]
    fn refusals_name_the_rule_field_and_line() {
        let bad_expr = FILE.replace("expr: up == 0", "expr: up == ");
        let cases: Vec<(String, &str, usize, &str)> = vec![
            (bad_expr, "groups[0].rules[1].expr", 12, "parse error"),
            (
                FILE.replace("for: 5m", "for: 5"),
                "groups[0].rules[1].for",
                13,
                "needs a unit",
            ),
            (
                FILE.replace("for: 5m", "for: 8d"),
                "groups[0].rules[1].for",
                13,
                "longer than",
            ),
            (
                FILE.replace("interval: 30s", "interval: 2d"),
                "groups[0].interval",
                5,
                "longer than",
            ),
            (
                FILE.replace("record: instance:up:sum", "record: instance.up"),
                "groups[0].rules[0].record",
                9,
                "metric name",
            ),
            (
                FILE.replace("severity: critical", "severity-x: critical"),
                "groups[0].rules[1].labels.severity-x",
                16,
                "label name",
            ),
            (
                FILE.replace("{{ $value | humanizePercentage }}", "{{ $value | nope }}"),
                "groups[0].rules[1].annotations.summary",
                19,
                "bad template at 1:45",
            ),
            (
                FILE.replace("keep_firing_for: 1h30m", "keep_for: 1h"),
                "groups[0].rules[1].keep_for",
                14,
                "unknown field",
            ),
            (
                FILE.replace("priority: P0", "priority: P7"),
                "groups[1].rules[0].labels.priority",
                31,
                "not a priority",
            ),
            (
                FILE.replace("name: slo/global", "name: node"),
                "groups[1].name",
                23,
                "repeated",
            ),
            (
                FILE.replace(
                    "      - record: instance:up:sum   # a comment\n",
                    "      - record: x\n        for: 1m\n",
                ),
                "groups[0].rules[0].for",
                10,
                "recording rule takes no for",
            ),
            (
                FILE.replace("  - name: node\n", "  - name: node\n    limit: 5\n"),
                "groups[0].limit",
                5,
                "not supported",
            ),
            (
                FILE.replace("groups:", "groupz:"),
                "groupz",
                3,
                "unknown field",
            ),
            (
                "groups:\n  - name: x\n    rules:\n      - expr: up\n".into(),
                "groups[0].rules[0]",
                4,
                "needs record",
            ),
            (
                "groups:\n  - name: x\n    rules:\n      - alert: A\n".into(),
                "groups[0].rules[0].expr",
                4,
                "missing",
            ),
            ("groups: [\n".into(), "file", 2, "not valid YAML"),
            ("a: 1\n---\nb: 2\n".into(), "file", 3, "2 YAML documents"),
            ("".into(), "groups", 1, "empty"),
        ];
        for (text, field, line, why) in cases {
            let e = parse(&text).expect_err(field);
            assert_eq!(e.field, field, "{e:?}");
            assert_eq!(e.line, line, "{e:?}");
            assert!(e.reason.contains(why), "{field}: {e:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration("0", 10), Ok(0));
        assert_eq!(duration("90s", 1000), Ok(90));
        assert_eq!(duration("1h30m", 10_000), Ok(5400));
        assert_eq!(duration("1d", 86_400), Ok(86_400));
        assert!(duration("1500ms", 100).unwrap_err().contains("whole"));
        assert!(duration("60", 100).unwrap_err().contains("unit"));
        assert!(duration("5 m", 1000).is_err());
        for s in [0, 1, 59, 60, 90, 3600, 5400, 86_400, 90_061, 604_800] {
            assert_eq!(duration(&format_duration(s), u32::MAX), Ok(s), "{s}");
        }
        assert_eq!(format_duration(5400), "1h30m");
    }

    #[test]
    fn export_reads_back_the_same() {
        let mut rules = TenantRules::default();
        for (i, f) in parse(FILE).unwrap().into_iter().enumerate() {
            match f {
                FileRule::Recording(r) => rules.recording.push(r.rule(i as i64 + 1)),
                FileRule::Alert(a) => rules.alerting.push(a.rule(i as i64 + 1)),
            }
        }
        // Characters YAML needs escaped, and a priority no label gives.
        rules.alerting[0]
            .annotations
            .insert("odd".into(), "tab\t\"q\" \\ é \u{85} #x: y".into());
        rules.alerting[0].priority = argus_core::strategy::Priority::new(4).unwrap();
        let text = export("acme", &rules);
        let back = parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let mut again = TenantRules::default();
        for (i, f) in back.into_iter().enumerate() {
            match f {
                FileRule::Recording(r) => again.recording.push(r.rule(i as i64 + 1)),
                FileRule::Alert(a) => again.alerting.push(a.rule(i as i64 + 1)),
            }
        }
        assert_eq!(again, rules, "{text}");
        assert!(text.contains("name: \"argus-30s\""), "{text}");
        assert!(text.contains("name: \"argus-1m/global\""), "{text}");
        assert_eq!(
            export("acme", &TenantRules::default()).lines().last(),
            Some("groups: []")
        );
    }
}
