//! Label routing in Alertmanager's terms: label matchers (`=`, `!=`, `=~`, `!~`), the routing
//! tree of `alertmanager.yml`'s `route:` section, inhibit rules, its `time_intervals` (routes
//! muted or active by them), and silences' recurring windows, evaluated as time intervals. Web parses and checks them, alarm applies them; both use
//! this one implementation so `POST /api/v1/routes/test` answers what alarm does.
//!
//! Semantics follow Alertmanager 0.25: a missing label matches as the empty string, regexes are
//! anchored, child routes inherit receiver, `group_by` and timers, and the first matching child
//! stops the walk unless it has `continue: true`.

use chrono::{Datelike, TimeZone, Timelike};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A label set (an event's labels, or the labels given to `routes/test`).
pub type Labels = BTreeMap<String, String>;

/// A configuration error naming the field (as a path into the document) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RouteError {
    /// Where, e.g. `route.routes[1].matchers[0]`.
    pub field: String,
    /// Why.
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> RouteError {
    RouteError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A matcher's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~` (anchored regex)
    Re,
    /// `!~`
    NotRe,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

/// One label matcher, e.g. `severity=~"crit|warn"`. Serialized as that text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Matcher {
    /// The label.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value or regex as written.
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Matcher {
    /// A matcher; a regex is compiled anchored, as Alertmanager does.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        check_label_name(name)?;
        let re = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("bad regex {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// True when the label's value (empty when absent) satisfies the matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::NotRe, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }

    /// Parses one matcher or a brace list (`{a="b", c=~"d"}`), as in `matchers:`.
    pub fn parse_list(s: &str) -> Result<Vec<Matcher>, String> {
        let t = s.trim();
        let t = match t.strip_prefix('{') {
            Some(rest) => rest
                .strip_suffix('}')
                .ok_or_else(|| "a '{' without its closing '}'".to_string())?,
            None => t,
        };
        let mut out = Vec::new();
        for part in split_outside_quotes(t)? {
            if part.trim().is_empty() {
                continue;
            }
            out.push(Matcher::parse_one(part.trim())?);
        }
        if out.is_empty() {
            return Err("no matcher".into());
        }
        Ok(out)
    }

    fn parse_one(s: &str) -> Result<Matcher, String> {
        let pos = s
            .find(['=', '!'])
            .ok_or_else(|| format!("{s:?} has no operator (=, !=, =~, !~)"))?;
        let name = s[..pos].trim();
        let rest = &s[pos..];
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchOp::Re, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchOp::Ne, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchOp::NotRe, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchOp::Eq, r)
        } else {
            return Err(format!("{s:?} has no operator (=, !=, =~, !~)"));
        };
        let rest = rest.trim();
        let value = match rest.strip_prefix('"') {
            Some(q) => {
                let body = q
                    .strip_suffix('"')
                    .ok_or_else(|| format!("{s:?}: unterminated quoted value"))?;
                unescape(body)
            }
            None => rest.to_string(),
        };
        Matcher::new(name, op, &value)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.value.replace('\\', "\\\\").replace('"', "\\\"");
        write!(f, "{}{}\"{}\"", self.name, self.op.as_str(), v)
    }
}

impl From<Matcher> for String {
    fn from(m: Matcher) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for Matcher {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut v = Matcher::parse_list(&s)?;
        if v.len() != 1 {
            return Err(format!("{s:?} holds {} matchers, expected one", v.len()));
        }
        Ok(v.remove(0))
    }
}

fn check_label_name(n: &str) -> Result<(), String> {
    let ok = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{n:?} is not a label name (a letter or _, then letters, digits, _ : . -)"
        ))
    }
}

fn split_outside_quotes(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!("{s:?}: unterminated quoted value"));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// True when every matcher matches.
pub fn all_match(ms: &[Matcher], labels: &Labels) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

/// Alertmanager's defaults for the root route.
pub const DEFAULT_GROUP_WAIT_MS: u64 = 30_000;
/// Alertmanager's default `group_interval`.
pub const DEFAULT_GROUP_INTERVAL_MS: u64 = 300_000;
/// Alertmanager's default `repeat_interval`.
pub const DEFAULT_REPEAT_INTERVAL_MS: u64 = 4 * 3_600_000;

/// One node of the routing tree, as stored: only what it sets itself (children inherit the rest).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteNode {
    /// An Argus team or contact, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// All must match (`match`, `match_re` and `matchers` of the source, merged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<Matcher>,
    /// Labels grouping notices into one message; `["..."]` groups by every label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait_ms: Option<u64>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval_ms: Option<u64>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval_ms: Option<u64>,
    /// Keep looking at later siblings after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Names of time intervals during which this route sends nothing (not inherited).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which this route sends nothing (not inherited).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_time_intervals: Vec<String>,
    /// Children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteNode>,
}

/// An inhibit rule: an open problem matching `source` mutes the alerts matching `target` that
/// carry the same values of the `equal` labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InhibitRule {
    /// Matchers of the inhibiting alert.
    #[serde(default)]
    pub source: Vec<Matcher>,
    /// Matchers of the inhibited alert.
    #[serde(default)]
    pub target: Vec<Matcher>,
    /// Labels whose values must be equal in both (absent counts as empty).
    #[serde(default)]
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// True when an alert with `source` labels inhibits one with `target` labels. As in
    /// Alertmanager, when the target matches both sides a source that also does is ignored, so
    /// two alerts of one kind never mute each other.
    pub fn inhibits(&self, source: &Labels, target: &Labels) -> bool {
        let empty = String::new();
        all_match(&self.target, target)
            && all_match(&self.source, source)
            && !(all_match(&self.source, target) && all_match(&self.target, source))
            && self
                .equal
                .iter()
                .all(|l| source.get(l).unwrap_or(&empty) == target.get(l).unwrap_or(&empty))
    }
}

/// A tenant's routing: the tree and its inhibit rules, as `PUT /api/v1/routes` stores them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingConfig {
    /// The root route.
    pub route: RouteNode,
    /// Inhibit rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inhibit_rules: Vec<InhibitRule>,
    /// Named time intervals (`time_intervals`, and the older top-level `mute_time_intervals`),
    /// which routes name in their `mute_time_intervals` and `active_time_intervals`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
}

/// A route reached by a label set, with its inherited settings resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reached {
    /// The receiver's name.
    pub receiver: String,
    /// The route's position, e.g. `0.2.1` (root, its third child, that one's second).
    pub path: String,
    /// Grouping labels (`...`: all).
    pub group_by: Vec<String>,
    /// Milliseconds.
    pub group_wait_ms: u64,
    /// Milliseconds.
    pub group_interval_ms: u64,
    /// Milliseconds.
    pub repeat_interval_ms: u64,
    /// The route's own (never inherited, as in Alertmanager) mute intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<String>,
    /// The route's own active intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub active_time_intervals: Vec<String>,
}

impl Reached {
    /// The group an alert with `labels` falls in on this route: the route and its group_by
    /// labels' values.
    pub fn group_key(&self, labels: &Labels) -> String {
        let mut k = format!("route:{}", self.path);
        let all = self.group_by.iter().any(|g| g == "...");
        for (n, v) in labels {
            if all || self.group_by.iter().any(|g| g == n) {
                k.push_str(&format!("|{n}={v}"));
            }
        }
        k
    }
}

impl RoutingConfig {
    /// The routes `labels` reaches, in Alertmanager's order (as `amtool config routes test`).
    pub fn reach(&self, labels: &Labels) -> Vec<Reached> {
        let root = Reached {
            receiver: self.route.receiver.clone().unwrap_or_default(),
            path: "0".into(),
            group_by: self.route.group_by.clone().unwrap_or_default(),
            group_wait_ms: self.route.group_wait_ms.unwrap_or(DEFAULT_GROUP_WAIT_MS),
            group_interval_ms: self
                .route
                .group_interval_ms
                .unwrap_or(DEFAULT_GROUP_INTERVAL_MS),
            repeat_interval_ms: self
                .route
                .repeat_interval_ms
                .unwrap_or(DEFAULT_REPEAT_INTERVAL_MS),
            mute_time_intervals: vec![],
            active_time_intervals: vec![],
        };
        walk(&self.route, root, labels).unwrap_or_default()
    }

    /// Why the reached route sends nothing at Unix time `now`, if it does not: one of its mute
    /// intervals covers `now`, or it has active intervals and none covers `now` (Alertmanager's
    /// order: mute first). An interval name that is not defined covers nothing.
    pub fn muted(&self, r: &Reached, now: i64) -> Option<String> {
        let covers = |name: &String| {
            self.time_intervals
                .get(name)
                .is_some_and(|ts| ts.iter().any(|t| t.contains(now)))
        };
        if let Some(name) = r.mute_time_intervals.iter().find(|n| covers(n)) {
            return Some(format!(
                "route {} is muted by time interval {name:?}",
                r.path
            ));
        }
        if !r.active_time_intervals.is_empty() && !r.active_time_intervals.iter().any(covers) {
            return Some(format!(
                "route {} is outside its active time intervals {:?}",
                r.path, r.active_time_intervals
            ));
        }
        None
    }

    /// Every receiver name the tree uses, with its field path (for checking they exist).
    pub fn receivers(&self) -> Vec<(String, String)> {
        fn go(n: &RouteNode, path: String, out: &mut Vec<(String, String)>) {
            if let Some(r) = &n.receiver {
                out.push((format!("{path}.receiver"), r.clone()));
            }
            for (i, c) in n.routes.iter().enumerate() {
                go(c, format!("{path}.routes[{i}]"), out);
            }
        }
        let mut out = Vec::new();
        go(&self.route, "route".into(), &mut out);
        out
    }

    /// Reads an Alertmanager configuration (as JSON; YAML is converted by the caller): either
    /// a whole `alertmanager.yml` (its `route` and `inhibit_rules`; other sections ignored) or
    /// the root route alone.
    pub fn from_alertmanager(doc: &Value) -> Result<RoutingConfig, RouteError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| err("body", "must be a mapping with a `route` section"))?;
        let (route_v, prefix) = match obj.get("route") {
            Some(r) => (r, "route"),
            None if obj.contains_key("receiver") => (doc, "route"),
            None => return Err(err("route", "missing: paste the `route:` section")),
        };
        let route = node(route_v, prefix, true)?;
        let mut time_intervals = BTreeMap::new();
        // Alertmanager reads both; `mute_time_intervals` is the older name of the same list.
        for key in ["time_intervals", "mute_time_intervals"] {
            let Some(v) = obj.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let arr = v.as_array().ok_or_else(|| err(key, "must be a list"))?;
            for (i, x) in arr.iter().enumerate() {
                let (name, ts) = named_intervals(x, &format!("{key}[{i}]"))?;
                if time_intervals.insert(name.clone(), ts).is_some() {
                    return Err(err(
                        format!("{key}[{i}].name"),
                        format!("time interval {name:?} is defined twice"),
                    ));
                }
            }
        }
        check_interval_names(&route, prefix, &time_intervals)?;
        let mut inhibit_rules = Vec::new();
        if let Some(v) = obj.get("inhibit_rules").filter(|v| !v.is_null()) {
            let arr = v
                .as_array()
                .ok_or_else(|| err("inhibit_rules", "must be a list"))?;
            for (i, r) in arr.iter().enumerate() {
                inhibit_rules.push(inhibit(r, &format!("inhibit_rules[{i}]"))?);
            }
        }
        Ok(RoutingConfig {
            route,
            inhibit_rules,
            time_intervals,
        })
    }
}

fn walk(n: &RouteNode, me: Reached, labels: &Labels) -> Option<Vec<Reached>> {
    if !all_match(&n.matchers, labels) {
        return None;
    }
    let mut all = Vec::new();
    for (i, c) in n.routes.iter().enumerate() {
        let child = Reached {
            receiver: c.receiver.clone().unwrap_or_else(|| me.receiver.clone()),
            path: format!("{}.{i}", me.path),
            group_by: c.group_by.clone().unwrap_or_else(|| me.group_by.clone()),
            group_wait_ms: c.group_wait_ms.unwrap_or(me.group_wait_ms),
            group_interval_ms: c.group_interval_ms.unwrap_or(me.group_interval_ms),
            repeat_interval_ms: c.repeat_interval_ms.unwrap_or(me.repeat_interval_ms),
            mute_time_intervals: c.mute_time_intervals.clone(),
            active_time_intervals: c.active_time_intervals.clone(),
        };
        if let Some(found) = walk(c, child, labels) {
            all.extend(found);
            if !c.continue_ {
                break;
            }
        }
    }
    if all.is_empty() {
        all.push(me);
    }
    Some(all)
}

const ROUTE_KEYS: &[&str] = &[
    "receiver",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "match",
    "match_re",
    "matchers",
    "continue",
    "routes",
    "mute_time_intervals",
    "active_time_intervals",
];

fn node(v: &Value, path: &str, root: bool) -> Result<RouteNode, RouteError> {
    let o = v
        .as_object()
        .ok_or_else(|| err(path, "must be a mapping"))?;
    if let Some(k) = o.keys().find(|k| !ROUTE_KEYS.contains(&k.as_str())) {
        return Err(err(format!("{path}.{k}"), "unknown field"));
    }
    let mut n = RouteNode {
        receiver: opt_str(o.get("receiver"), &format!("{path}.receiver"))?,
        ..Default::default()
    };
    for (k, slot) in [
        ("mute_time_intervals", &mut n.mute_time_intervals),
        ("active_time_intervals", &mut n.active_time_intervals),
    ] {
        let Some(v) = o.get(k).filter(|x| !x.is_null()) else {
            continue;
        };
        let f = format!("{path}.{k}");
        if root {
            return Err(err(
                f,
                "the root route cannot have time intervals: set them on a child route",
            ));
        }
        let arr = v
            .as_array()
            .ok_or_else(|| err(&f, "must be a list of time interval names"))?;
        for (i, x) in arr.iter().enumerate() {
            let name = x
                .as_str()
                .ok_or_else(|| err(format!("{f}[{i}]"), "must be a string"))?;
            slot.push(name.to_string());
        }
    }
    if root && n.receiver.is_none() {
        return Err(err(
            format!("{path}.receiver"),
            "the root route needs a receiver",
        ));
    }
    if let Some(g) = o.get("group_by").filter(|x| !x.is_null()) {
        let arr = g
            .as_array()
            .ok_or_else(|| err(format!("{path}.group_by"), "must be a list of labels"))?;
        let mut labels = Vec::new();
        for (i, l) in arr.iter().enumerate() {
            let f = format!("{path}.group_by[{i}]");
            let s = l.as_str().ok_or_else(|| err(&f, "must be a string"))?;
            if s != "..." {
                check_label_name(s).map_err(|r| err(&f, r))?;
            }
            labels.push(s.to_string());
        }
        if labels.iter().any(|l| l == "...") && labels.len() > 1 {
            return Err(err(
                format!("{path}.group_by"),
                "\"...\" (every label) must stand alone",
            ));
        }
        n.group_by = Some(labels);
    }
    for (key, slot) in [
        ("group_wait", &mut n.group_wait_ms),
        ("group_interval", &mut n.group_interval_ms),
        ("repeat_interval", &mut n.repeat_interval_ms),
    ] {
        if let Some(s) = opt_str(o.get(key), &format!("{path}.{key}"))? {
            let ms = parse_duration_ms(&s).map_err(|r| err(format!("{path}.{key}"), r))?;
            if ms == 0 && key != "group_wait" {
                return Err(err(format!("{path}.{key}"), "must be more than zero"));
            }
            *slot = Some(ms);
        }
    }
    for (key, op) in [("match", MatchOp::Eq), ("match_re", MatchOp::Re)] {
        if let Some(m) = o.get(key).filter(|x| !x.is_null()) {
            let m = m
                .as_object()
                .ok_or_else(|| err(format!("{path}.{key}"), "must be a mapping"))?;
            for (name, val) in m {
                let f = format!("{path}.{key}.{name}");
                let val = scalar(val).ok_or_else(|| err(&f, "must be a string"))?;
                n.matchers
                    .push(Matcher::new(name, op, &val).map_err(|r| err(&f, r))?);
            }
        }
    }
    if let Some(ms) = o.get("matchers").filter(|x| !x.is_null()) {
        let arr = ms
            .as_array()
            .ok_or_else(|| err(format!("{path}.matchers"), "must be a list"))?;
        for (i, m) in arr.iter().enumerate() {
            let f = format!("{path}.matchers[{i}]");
            let s = m.as_str().ok_or_else(|| err(&f, "must be a string"))?;
            n.matchers
                .extend(Matcher::parse_list(s).map_err(|r| err(&f, r))?);
        }
    }
    if root && !n.matchers.is_empty() {
        return Err(err(
            format!("{path}.matchers"),
            "the root route must not have matchers: it takes every alert",
        ));
    }
    match o.get("continue") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) if !root || !*b => n.continue_ = *b,
        Some(Value::Bool(_)) => {
            return Err(err(
                format!("{path}.continue"),
                "the root route cannot have continue",
            ))
        }
        Some(_) => return Err(err(format!("{path}.continue"), "must be true or false")),
    }
    if let Some(rs) = o.get("routes").filter(|x| !x.is_null()) {
        let arr = rs
            .as_array()
            .ok_or_else(|| err(format!("{path}.routes"), "must be a list"))?;
        for (i, r) in arr.iter().enumerate() {
            n.routes
                .push(node(r, &format!("{path}.routes[{i}]"), false)?);
        }
    }
    Ok(n)
}

fn inhibit(v: &Value, path: &str) -> Result<InhibitRule, RouteError> {
    let o = v
        .as_object()
        .ok_or_else(|| err(path, "must be a mapping"))?;
    let mut r = InhibitRule::default();
    for (k, val) in o {
        let f = format!("{path}.{k}");
        let side = if k.starts_with("source") {
            &mut r.source
        } else {
            &mut r.target
        };
        match k.as_str() {
            "source_match" | "target_match" | "source_match_re" | "target_match_re" => {
                let op = if k.ends_with("_re") {
                    MatchOp::Re
                } else {
                    MatchOp::Eq
                };
                let m = val
                    .as_object()
                    .ok_or_else(|| err(&f, "must be a mapping"))?;
                for (name, x) in m {
                    let s =
                        scalar(x).ok_or_else(|| err(format!("{f}.{name}"), "must be a string"))?;
                    side.push(
                        Matcher::new(name, op, &s).map_err(|e| err(format!("{f}.{name}"), e))?,
                    );
                }
            }
            "source_matchers" | "target_matchers" => {
                let arr = val.as_array().ok_or_else(|| err(&f, "must be a list"))?;
                for (i, m) in arr.iter().enumerate() {
                    let s = m
                        .as_str()
                        .ok_or_else(|| err(format!("{f}[{i}]"), "must be a string"))?;
                    side.extend(Matcher::parse_list(s).map_err(|e| err(format!("{f}[{i}]"), e))?);
                }
            }
            "equal" => {
                let arr = val
                    .as_array()
                    .ok_or_else(|| err(&f, "must be a list of labels"))?;
                for (i, l) in arr.iter().enumerate() {
                    let s = l
                        .as_str()
                        .ok_or_else(|| err(format!("{f}[{i}]"), "must be a string"))?;
                    check_label_name(s).map_err(|e| err(format!("{f}[{i}]"), e))?;
                    r.equal.push(s.to_string());
                }
            }
            _ => return Err(err(f, "unknown field")),
        }
    }
    if r.source.is_empty() || r.target.is_empty() {
        return Err(err(
            path,
            "an inhibit rule needs source and target matchers (an empty side would match every alert)",
        ));
    }
    Ok(r)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn opt_str(v: Option<&Value>, field: &str) -> Result<Option<String>, RouteError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(x) => scalar(x)
            .map(Some)
            .ok_or_else(|| err(field, "must be a string")),
    }
}

/// Parses a Prometheus duration (`30s`, `5m`, `1h30m`, `500ms`, `1d`, `1w`, `1y`) to ms.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    const UNITS: &[(&str, u64)] = &[
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    let bad = || format!("{s:?} is not a duration like 30s, 5m, 1h30m or 500ms");
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut last_rank = None;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (rank, (unit, mult)) = UNITS
            .iter()
            .enumerate()
            .find(|(_, (u, _))| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
            .ok_or_else(bad)?;
        // Units must go from largest to smallest, each once (Prometheus's grammar).
        let order = ["y", "w", "d", "h", "m", "s", "ms"]
            .iter()
            .position(|u| u == unit)
            .unwrap_or(rank);
        if last_rank.is_some_and(|l| order <= l) {
            return Err(bad());
        }
        last_rank = Some(order);
        total = total
            .checked_add(n.checked_mul(*mult).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
    }
    Ok(total)
}

/// A window that recurs on given weekdays between two local times of a named IANA time zone,
/// e.g. Monday to Friday 22:00–06:00 in Asia/Shanghai. A window whose end is not after its
/// start runs past midnight; the weekday is the one it starts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    /// IANA name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// `mon` … `sun`; empty means every day.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM` (`24:00` for midnight).
    pub end: String,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a time HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Recurrence {
    /// Checks the fields; the error names the field.
    pub fn check(&self) -> Result<(), RouteError> {
        self.time_zone.parse::<chrono_tz::Tz>().map_err(|_| {
            err(
                "time_zone",
                format!("{:?} is not an IANA time zone name", self.time_zone),
            )
        })?;
        for (i, d) in self.weekdays.iter().enumerate() {
            if !WEEKDAYS.contains(&d.to_ascii_lowercase().as_str()) {
                return Err(err(
                    format!("weekdays[{i}]"),
                    format!("{d:?} is not one of mon, tue, wed, thu, fri, sat, sun"),
                ));
            }
        }
        hhmm(&self.start).map_err(|e| err("start", e))?;
        hhmm(&self.end).map_err(|e| err("end", e))?;
        Ok(())
    }

    /// True when the window covers Unix time `now` (a bad field covers nothing).
    pub fn covers(&self, now: i64) -> bool {
        self.intervals()
            .is_some_and(|ts| ts.iter().any(|t| t.contains(now)))
    }

    /// The window as Alertmanager time intervals, so silences and routes share one clock: a
    /// window past midnight is its evening on its weekdays and its morning on the next days.
    fn intervals(&self) -> Option<Vec<TimeInterval>> {
        let (start, end) = (hhmm(&self.start).ok()?, hhmm(&self.end).ok()?);
        self.time_zone.parse::<chrono_tz::Tz>().ok()?;
        let mut days = Vec::new();
        for w in &self.weekdays {
            let d = WEEKDAYS.iter().position(|x| w.eq_ignore_ascii_case(x))? as u32;
            days.push((d + 1) % 7); // Alertmanager counts from Sunday = 0
        }
        let on = |shift: u32| {
            days.iter()
                .map(|d| ((d + shift) % 7, (d + shift) % 7))
                .collect()
        };
        let part = |times: (u32, u32), shift| TimeInterval {
            times: vec![times],
            weekdays: on(shift),
            location: Some(self.time_zone.clone()),
            ..Default::default()
        };
        let parts = if start < end {
            vec![part((start, end), 0)]
        } else {
            vec![part((start, 24 * 60), 0), part((0, end), 1)]
        };
        Some(
            parts
                .into_iter()
                .filter(|p| p.times[0].0 < p.times[0].1)
                .collect(),
        )
    }
}

/// One of Alertmanager's time intervals (`time_intervals[].time_intervals[]`): every part that
/// is set must hold, and within a part any of its ranges. Ranges are inclusive except `times`,
/// whose end is exclusive. Evaluated on the wall clock of `location` (UTC when unset), so a
/// DST change moves the UTC instants, not the local hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeInterval {
    /// Minutes of the day, `[start, end)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<(u32, u32)>,
    /// Days of the week, Sunday = 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<(u32, u32)>,
    /// Days of the month; a negative one counts from the month's end (-1: its last day).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_of_month: Vec<(i32, i32)>,
    /// Months, January = 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<(u32, u32)>,
    /// Years.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<(i32, i32)>,
    /// IANA time zone; UTC when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

fn within<T: PartialOrd + Copy>(ranges: &[(T, T)], x: T) -> bool {
    ranges.is_empty() || ranges.iter().any(|&(a, b)| a <= x && x <= b)
}

fn days_in_month(year: i32, month: u32) -> i32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if chrono::NaiveDate::from_ymd_opt(year, 2, 29).is_some() => 29,
        2 => 28,
        _ => 31,
    }
}

impl TimeInterval {
    /// True when Unix time `now` falls in the interval (an unknown location covers nothing).
    pub fn contains(&self, now: i64) -> bool {
        let tz = match &self.location {
            Some(l) => match l.parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => return false,
            },
            None => chrono_tz::UTC,
        };
        let Some(t) = tz.timestamp_opt(now, 0).single() else {
            return false;
        };
        let minute = t.hour() * 60 + t.minute();
        if !self.times.is_empty() && !self.times.iter().any(|&(a, b)| a <= minute && minute < b) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let dim = i64::from(days_in_month(t.year(), t.month()));
            let day = i64::from(t.day());
            // As Alertmanager: negative days from the end; a day past the month's end skips.
            // In i64: a configuration read from a file is not range-checked.
            let hit = self.days_of_month.iter().any(|&(b, e)| {
                let from_end = |d: i32| {
                    let d = i64::from(d);
                    if d < 0 {
                        dim + d + 1
                    } else {
                        d
                    }
                };
                let (b, e) = (from_end(b), from_end(e));
                b <= dim && b.clamp(-dim, dim) <= day && day <= e.clamp(-dim, dim)
            });
            if !hit {
                return false;
            }
        }
        within(&self.weekdays, t.weekday().num_days_from_sunday())
            && within(&self.months, t.month())
            && within(&self.years, t.year())
    }
}

const AM_WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const AM_MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Parses `a` or `a:b` (Alertmanager's range syntax) with `member` reading each end.
fn range(
    v: &Value,
    f: &str,
    what: &str,
    member: impl Fn(&str) -> Option<i32>,
) -> Result<(i32, i32), RouteError> {
    let s = scalar(v)
        .ok_or_else(|| err(f, "must be a string"))?
        .to_ascii_lowercase();
    let one = |x: &str| member(x.trim()).ok_or_else(|| err(f, format!("{x:?} is not {what}")));
    let (a, b) = match s.split_once(':') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let a = one(&s)?;
            (a, a)
        }
    };
    Ok((a, b))
}

fn list<'a>(
    o: &'a serde_json::Map<String, Value>,
    k: &str,
    f: &str,
) -> Result<&'a [Value], RouteError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(err(format!("{f}.{k}"), "must be a list")),
    }
}

fn time_interval(v: &Value, f: &str) -> Result<TimeInterval, RouteError> {
    const KEYS: &[&str] = &[
        "times",
        "weekdays",
        "days_of_month",
        "months",
        "years",
        "location",
    ];
    let o = v.as_object().ok_or_else(|| err(f, "must be a mapping"))?;
    if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(err(format!("{f}.{k}"), "unknown field"));
    }
    let mut t = TimeInterval::default();
    for (i, x) in list(o, "times", f)?.iter().enumerate() {
        let fi = format!("{f}.times[{i}]");
        let m = x
            .as_object()
            .ok_or_else(|| err(&fi, "must be a mapping with start_time and end_time"))?;
        if let Some(k) = m.keys().find(|k| *k != "start_time" && *k != "end_time") {
            return Err(err(format!("{fi}.{k}"), "unknown field"));
        }
        let mut ends = [0; 2];
        for (slot, k) in ends.iter_mut().zip(["start_time", "end_time"]) {
            let fk = format!("{fi}.{k}");
            let s = opt_str(m.get(k), &fk)?.ok_or_else(|| err(&fk, "missing"))?;
            // Alertmanager takes exactly HH:MM, 00:00 to 24:00.
            *slot = hhmm(&s)
                .ok()
                .filter(|_| s.len() == 5)
                .ok_or_else(|| err(&fk, format!("{s:?} is not a time HH:MM (00:00 to 24:00)")))?;
        }
        if ends[0] >= ends[1] {
            return Err(err(
                fi,
                "start_time must be before end_time (split a range past midnight in two)",
            ));
        }
        t.times.push((ends[0], ends[1]));
    }
    for (i, x) in list(o, "weekdays", f)?.iter().enumerate() {
        let fi = format!("{f}.weekdays[{i}]");
        let (a, b) = range(x, &fi, "a weekday (monday … sunday)", |s| {
            AM_WEEKDAYS.iter().position(|d| *d == s).map(|d| d as i32)
        })?;
        if a > b {
            return Err(err(fi, "the start day is after the end day (Sunday is the week's first day: split the range)"));
        }
        t.weekdays.push((a as u32, b as u32));
    }
    for (i, x) in list(o, "days_of_month", f)?.iter().enumerate() {
        let fi = format!("{f}.days_of_month[{i}]");
        let (a, b) = range(x, &fi, "a day of the month (1 to 31, or -31 to -1)", |s| {
            s.parse::<i32>()
                .ok()
                .filter(|d| *d != 0 && (-31..=31).contains(d))
        })?;
        if a < 0 && b > 0 {
            return Err(err(
                fi,
                "the end day must be negative when the start day is",
            ));
        }
        // As Alertmanager: checked on a 28-day month, the shortest.
        let at28 = |d: i32| if d < 0 { 28 + d } else { d };
        if at28(a) > at28(b) {
            return Err(err(fi, "the end day is before the start day"));
        }
        t.days_of_month.push((a, b));
    }
    for (i, x) in list(o, "months", f)?.iter().enumerate() {
        let fi = format!("{f}.months[{i}]");
        let (a, b) = range(
            x,
            &fi,
            "a month (1 to 12, or january … december)",
            |s| match s.parse::<i32>() {
                Ok(n) => Some(n).filter(|n| (1..=12).contains(n)),
                Err(_) => AM_MONTHS.iter().position(|m| *m == s).map(|m| m as i32 + 1),
            },
        )?;
        if a > b {
            return Err(err(fi, "the end month is before the start month"));
        }
        t.months.push((a as u32, b as u32));
    }
    for (i, x) in list(o, "years", f)?.iter().enumerate() {
        let fi = format!("{f}.years[{i}]");
        let (a, b) = range(x, &fi, "a year", |s| {
            s.parse::<i32>().ok().filter(|y| *y > 0)
        })?;
        if a > b {
            return Err(err(fi, "the end year is before the start year"));
        }
        t.years.push((a, b));
    }
    if let Some(l) = opt_str(o.get("location"), &format!("{f}.location"))? {
        if l.parse::<chrono_tz::Tz>().is_err() {
            return Err(err(
                format!("{f}.location"),
                format!("{l:?} is not an IANA time zone name (e.g. Europe/Berlin; `Local` is not taken: name the zone)"),
            ));
        }
        t.location = Some(l);
    }
    Ok(t)
}

/// One entry of `time_intervals`: `{name, time_intervals: [...]}`.
fn named_intervals(v: &Value, f: &str) -> Result<(String, Vec<TimeInterval>), RouteError> {
    let o = v
        .as_object()
        .ok_or_else(|| err(f, "must be a mapping with name and time_intervals"))?;
    if let Some(k) = o.keys().find(|k| *k != "name" && *k != "time_intervals") {
        return Err(err(format!("{f}.{k}"), "unknown field"));
    }
    let name = opt_str(o.get("name"), &format!("{f}.name"))?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| err(format!("{f}.name"), "missing"))?;
    let ts = list(o, "time_intervals", f)?
        .iter()
        .enumerate()
        .map(|(i, x)| time_interval(x, &format!("{f}.time_intervals[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok((name, ts))
}

/// Every interval a route names must be defined.
fn check_interval_names(
    n: &RouteNode,
    path: &str,
    defined: &BTreeMap<String, Vec<TimeInterval>>,
) -> Result<(), RouteError> {
    for (k, names) in [
        ("mute_time_intervals", &n.mute_time_intervals),
        ("active_time_intervals", &n.active_time_intervals),
    ] {
        if let Some(i) = names.iter().position(|x| !defined.contains_key(x)) {
            return Err(err(
                format!("{path}.{k}[{i}]"),
                format!(
                    "no time interval is named {:?} (define it under time_intervals)",
                    names[i]
                ),
            ));
        }
    }
    for (i, c) in n.routes.iter().enumerate() {
        check_interval_names(c, &format!("{path}.routes[{i}]"), defined)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matchers_parse_and_match() {
        let ms = Matcher::parse_list(r#"{a="x,y", b=~"d.*", c!=z, d!~"q|r"}"#).unwrap();
        assert_eq!(ms.len(), 4);
        assert_eq!(ms[0].value, "x,y");
        let l = labels(&[("a", "x,y"), ("b", "db")]);
        assert!(all_match(&ms, &l), "missing c and d match != and !~");
        assert!(
            !all_match(&ms, &labels(&[("a", "x,y"), ("b", "xdb")])),
            "anchored"
        );
        assert!(Matcher::parse_list("a~b").is_err());
        assert!(Matcher::parse_list(r#"a=~"(""#)
            .unwrap_err()
            .contains("bad regex"));
        let m: Matcher = serde_json::from_value(json!(r#"x!~"a\"b""#)).unwrap();
        assert_eq!(m.value, "a\"b");
        assert_eq!(serde_json::to_value(&m).unwrap(), json!(r#"x!~"a\"b""#));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert!(parse_duration_ms("5").is_err());
        assert!(parse_duration_ms("5m1h").is_err());
        assert!(parse_duration_ms("").is_err());
    }

    #[test]
    fn tree_walk_inherits_and_continues() {
        let cfg = RoutingConfig::from_alertmanager(&json!({
            "route": {
                "receiver": "ops", "group_by": ["alertname"], "repeat_interval": "1h",
                "routes": [
                    {"matchers": ["severity=~\"crit|warn\""], "receiver": "pager", "continue": true, "group_wait": "0s"},
                    {"match": {"team": "db"}, "routes": [{"match_re": {"env": "prod.*"}, "receiver": "dba"}]},
                    {"match": {"team": "db"}, "receiver": "never"}
                ]
            },
            "receivers": [{"name": "ops"}]
        }))
        .unwrap();
        let r = cfg.reach(&labels(&[
            ("severity", "crit"),
            ("team", "db"),
            ("env", "prod1"),
        ]));
        let names: Vec<_> = r.iter().map(|x| x.receiver.as_str()).collect();
        assert_eq!(names, ["pager", "dba"]);
        assert_eq!(r[0].group_wait_ms, 0);
        assert_eq!(r[1].group_wait_ms, DEFAULT_GROUP_WAIT_MS);
        assert_eq!(r[1].repeat_interval_ms, 3_600_000, "inherited");
        assert_eq!(r[1].path, "0.1.0");
        // The db route matched, its child did not: the db route itself (receiver inherited).
        let r = cfg.reach(&labels(&[("team", "db"), ("env", "dev")]));
        assert_eq!(
            r.iter().map(|x| x.receiver.as_str()).collect::<Vec<_>>(),
            ["ops"]
        );
        assert_eq!(r[0].path, "0.1");
        assert_eq!(
            r[0].group_key(&labels(&[("alertname", "A"), ("x", "1")])),
            "route:0.1|alertname=A"
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = RoutingConfig::from_alertmanager(&json!({"route": {"routes": []}})).unwrap_err();
        assert_eq!(e.field, "route.receiver");
        let e = RoutingConfig::from_alertmanager(
            &json!({"route": {"receiver": "a", "routes": [{"matchers": ["x=~\"(\""]}]}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "route.routes[0].matchers[0]");
        let e = RoutingConfig::from_alertmanager(
            &json!({"route": {"receiver": "a", "group_wait": "soon"}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "route.group_wait");
        let e = RoutingConfig::from_alertmanager(&json!({"route": {"receiver": "a", "bogus": 1}}))
            .unwrap_err();
        assert_eq!(e.field, "route.bogus");
        let e = RoutingConfig::from_alertmanager(
            &json!({"route": {"receiver": "a"}, "inhibit_rules": [{"equal": ["x"]}]}),
        )
        .unwrap_err();
        assert_eq!(e.field, "inhibit_rules[0]");
    }

    #[test]
    fn inhibition_needs_equal_labels_and_skips_two_sided_sources() {
        let cfg = RoutingConfig::from_alertmanager(&json!({
            "route": {"receiver": "a"},
            "inhibit_rules": [{"source_matchers": ["severity=critical"], "target_matchers": ["severity=~warning|critical"], "equal": ["host"]}]
        }))
        .unwrap();
        let r = &cfg.inhibit_rules[0];
        let crit = labels(&[("severity", "critical"), ("host", "h1")]);
        assert!(r.inhibits(&crit, &labels(&[("severity", "warning"), ("host", "h1")])));
        assert!(!r.inhibits(&crit, &labels(&[("severity", "warning"), ("host", "h2")])));
        assert!(
            !r.inhibits(&crit, &labels(&[("severity", "critical"), ("host", "h1")])),
            "two-sided"
        );
    }

    #[test]
    fn recurrence_in_a_zone_across_dst() {
        // Weekdays 01:00–03:00 Berlin time. 2026-03-27 (Fri) is CET (UTC+1); 2026-03-30 (Mon)
        // is CEST (UTC+2), after the change on Sunday 29 March.
        let r = Recurrence {
            time_zone: "Europe/Berlin".into(),
            weekdays: vec!["mon".into(), "fri".into()],
            start: "01:00".into(),
            end: "03:00".into(),
        };
        r.check().unwrap();
        let utc = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        assert!(r.covers(utc("2026-03-27T00:30:00Z")), "01:30 CET");
        assert!(!r.covers(utc("2026-03-27T02:30:00Z")), "03:30 CET");
        assert!(
            r.covers(utc("2026-03-29T23:30:00Z")),
            "01:30 CEST on Monday"
        );
        assert!(!r.covers(utc("2026-03-30T01:30:00Z")), "03:30 CEST");
        assert!(!r.covers(utc("2026-03-28T00:30:00Z")), "Saturday");
        let night = Recurrence {
            start: "22:00".into(),
            end: "06:00".into(),
            weekdays: vec!["fri".into()],
            ..r.clone()
        };
        assert!(
            night.covers(utc("2026-03-28T03:00:00Z")),
            "Saturday 04:00 belongs to Friday's night"
        );
        assert!(!night.covers(utc("2026-03-29T03:00:00Z")));
        let bad = Recurrence {
            time_zone: "Mars/Olympus".into(),
            ..r
        };
        assert_eq!(bad.check().unwrap_err().field, "time_zone");
    }

    fn utc(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    /// A tree with a muted and an active-only child, as pasted from an alertmanager.yml.
    fn timed() -> RoutingConfig {
        RoutingConfig::from_alertmanager(&json!({
            "route": {"receiver": "ops", "mute_time_intervals": null, "routes": [
                {"matchers": ["team=db"], "receiver": "dba", "mute_time_intervals": ["nights"],
                 "routes": [{"matchers": ["env=prod"], "receiver": "dba-prod"}]},
                {"matchers": ["team=web"], "receiver": "web", "active_time_intervals": ["office", "month-end"]}
            ]},
            "time_intervals": [
                {"name": "nights", "time_intervals": [
                    {"times": [{"start_time": "22:00", "end_time": "24:00"}], "location": "Europe/Berlin"},
                    {"times": [{"start_time": "00:00", "end_time": "06:00"}], "location": "Europe/Berlin"}
                ]},
                {"name": "office", "time_intervals": [{"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}], "months": ["january:june", "12"], "years": ["2026:2027"], "location": "America/New_York"}]}
            ],
            "mute_time_intervals": [
                {"name": "month-end", "time_intervals": [{"days_of_month": ["-2:-1"]}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn time_intervals_mute_and_activate_routes_on_the_local_clock_across_dst() {
        let cfg = timed();
        let at = |labels_: &[(&str, &str)], when: &str| -> Vec<Option<String>> {
            cfg.reach(&labels(labels_))
                .iter()
                .map(|r| cfg.muted(r, utc(when)))
                .collect()
        };
        let db = [("team", "db")];
        // Berlin leaves DST on 2026-10-25: 22:00 local is 20:00Z before, 21:00Z after.
        assert!(at(&db, "2026-10-24T20:30:00Z")[0]
            .as_deref()
            .unwrap()
            .contains("\"nights\""));
        assert_eq!(at(&db, "2026-10-24T19:30:00Z"), [None], "21:30 CEST");
        assert_eq!(at(&db, "2026-10-26T20:30:00Z"), [None], "21:30 CET");
        assert!(at(&db, "2026-10-26T21:30:00Z")[0].is_some(), "22:30 CET");
        assert!(at(&db, "2026-10-27T04:59:00Z")[0].is_some(), "05:59 CET");
        assert_eq!(
            at(&db, "2026-10-27T05:00:00Z"),
            [None],
            "06:00 CET: end is exclusive"
        );
        // The muted route still matched: the walk stopped there. Its child does not inherit
        // the mute (Alertmanager copies intervals from each route itself).
        let prod = cfg.reach(&labels(&[("team", "db"), ("env", "prod")]));
        assert_eq!(prod[0].receiver, "dba-prod");
        assert_eq!(cfg.muted(&prod[0], utc("2026-10-24T20:30:00Z")), None);
        let web = [("team", "web")];
        // Office hours in New York: Monday 2026-03-09 is EDT (UTC-4) after the 8 March change.
        assert_eq!(
            at(&web, "2026-03-09T13:30:00Z"),
            [None],
            "09:30 EDT, a Monday"
        );
        assert!(
            at(&web, "2026-03-06T13:30:00Z")[0].is_some(),
            "08:30 EST on Friday"
        );
        assert_eq!(at(&web, "2026-03-06T14:30:00Z"), [None], "09:30 EST");
        assert!(
            at(&web, "2026-03-07T15:00:00Z")[0]
                .as_deref()
                .unwrap()
                .contains("outside"),
            "Saturday"
        );
        assert!(
            at(&web, "2026-07-06T15:00:00Z")[0].is_some(),
            "July is not in the months"
        );
        assert_eq!(at(&web, "2026-12-07T15:00:00Z"), [None], "December is");
        assert!(
            at(&web, "2028-01-03T15:00:00Z")[0].is_some(),
            "2028 is not in the years"
        );
        // Or the month's last two days, whatever the hour (February 2028 is a leap month).
        assert_eq!(at(&web, "2026-07-30T23:00:00Z"), [None]);
        assert!(at(&web, "2026-07-29T23:00:00Z")[0].is_some());
        assert_eq!(at(&web, "2028-02-28T03:00:00Z"), [None]);
        assert!(at(&web, "2028-02-27T03:00:00Z")[0].is_some());
        assert_eq!(
            at(&[("team", "x")], "2026-03-07T15:00:00Z"),
            [None],
            "the root"
        );
    }

    #[test]
    fn days_of_month_past_a_short_month_skip_as_alertmanager_does() {
        let t = |d: (i32, i32)| TimeInterval {
            days_of_month: vec![d],
            ..Default::default()
        };
        assert!(
            !t((31, 31)).contains(utc("2026-04-30T12:00:00Z")),
            "no 31 April"
        );
        assert!(
            t((29, 31)).contains(utc("2026-04-30T12:00:00Z")),
            "clamped end"
        );
        assert!(
            t((-31, -1)).contains(utc("2026-02-01T00:00:00Z")),
            "-31 is the 1st or before"
        );
        assert!(
            !t((-31, -30)).contains(utc("2026-02-01T00:00:00Z")),
            "wholly before a short month's start"
        );
        assert!(!t((1, 1)).contains(utc("2026-02-02T00:00:00Z")));
        assert!(
            !t((i32::MIN, i32::MIN)).contains(0) && t((i32::MIN, i32::MAX)).contains(0),
            "unchecked values neither overflow nor panic"
        );
    }

    #[test]
    fn time_interval_errors_name_the_field() {
        let with = |route: Value, intervals: Value| {
            RoutingConfig::from_alertmanager(&json!({"route": route, "time_intervals": intervals}))
                .unwrap_err()
        };
        let r =
            json!({"receiver": "a", "routes": [{"receiver": "b", "mute_time_intervals": ["x"]}]});
        let e = with(r.clone(), json!([]));
        assert_eq!(e.field, "route.routes[0].mute_time_intervals[0]");
        assert!(e.reason.contains("\"x\""), "{e}");
        let e = with(
            json!({"receiver": "a", "active_time_intervals": ["x"]}),
            json!([{"name": "x"}]),
        );
        assert_eq!(e.field, "route.active_time_intervals");
        for (iv, field) in [
            (
                json!({"times": [{"start_time": "9:00", "end_time": "17:00"}]}),
                "time_intervals[0].time_intervals[0].times[0].start_time",
            ),
            (
                json!({"times": [{"start_time": "18:00", "end_time": "06:00"}]}),
                "time_intervals[0].time_intervals[0].times[0]",
            ),
            (
                json!({"weekdays": ["saturday:sunday"]}),
                "time_intervals[0].time_intervals[0].weekdays[0]",
            ),
            (
                json!({"weekdays": ["funday"]}),
                "time_intervals[0].time_intervals[0].weekdays[0]",
            ),
            (
                json!({"days_of_month": ["0"]}),
                "time_intervals[0].time_intervals[0].days_of_month[0]",
            ),
            (
                json!({"days_of_month": ["-3:5"]}),
                "time_intervals[0].time_intervals[0].days_of_month[0]",
            ),
            (
                json!({"months": ["13"]}),
                "time_intervals[0].time_intervals[0].months[0]",
            ),
            (
                json!({"years": ["2027:2026"]}),
                "time_intervals[0].time_intervals[0].years[0]",
            ),
            (
                json!({"location": "Mars/Olympus"}),
                "time_intervals[0].time_intervals[0].location",
            ),
            (
                json!({"hours": ["1"]}),
                "time_intervals[0].time_intervals[0].hours",
            ),
        ] {
            let e = with(r.clone(), json!([{"name": "x", "time_intervals": [iv]}]));
            assert_eq!(e.field, field, "{e}");
        }
        let e = with(r, json!([{"name": "x"}, {"name": "x"}]));
        assert_eq!(e.field, "time_intervals[1].name");
    }
}
