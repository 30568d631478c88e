//! The configuration object kinds: their input shapes, validation (400 naming the field and the
//! reason) and how they are shown. Objects are stored as JSON documents (see [`crate::store`]).

use crate::store::{self, Object};
use actix_web::http::StatusCode;
use argus_core::agentconf::AgentRemoteConfig;
use argus_core::http::ApiError;
use argus_core::notify::{Channel, ChatReceiver, SilenceMatch, SubscriptionTarget};
use argus_core::strategy::{ActiveWindow, Priority, Strategy, StrategyError};
use argus_core::Tags;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::AnyConnection;

/// A kind of configuration object, named as in its API path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `hosts`
    Host,
    /// `host_groups`
    HostGroup,
    /// `templates`
    Template,
    /// `strategies` (belong to a template)
    Strategy,
    /// `expressions` (expression strategies)
    Expression,
    /// `contacts`
    Contact,
    /// `teams`
    Team,
    /// `subscriptions`
    Subscription,
    /// `silences`
    Silence,
    /// `recording_rules` (PromQL recording rules)
    RecordingRule,
    /// `alert_rules` (PromQL alert rules)
    AlertRule,
    /// `dashboards` (console dashboards over PromQL)
    Dashboard,
}

/// Every kind, for routing and tests.
pub const ALL: [Kind; 12] = [
    Kind::Host,
    Kind::HostGroup,
    Kind::Template,
    Kind::Strategy,
    Kind::Expression,
    Kind::Contact,
    Kind::Team,
    Kind::Subscription,
    Kind::Silence,
    Kind::RecordingRule,
    Kind::AlertRule,
    Kind::Dashboard,
];

impl Kind {
    /// The API path segment and stored kind.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Host => "hosts",
            Kind::HostGroup => "host_groups",
            Kind::Template => "templates",
            Kind::Strategy => "strategies",
            Kind::Expression => "expressions",
            Kind::Contact => "contacts",
            Kind::Team => "teams",
            Kind::Subscription => "subscriptions",
            Kind::Silence => "silences",
            Kind::RecordingRule => "recording_rules",
            Kind::AlertRule => "alert_rules",
            Kind::Dashboard => "dashboards",
        }
    }
    /// The kind of an API path segment.
    pub fn from_path(p: &str) -> Option<Kind> {
        ALL.into_iter().find(|k| k.path() == p)
    }
    /// A singular noun for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::HostGroup => "host group",
            Kind::Template => "template",
            Kind::Strategy => "strategy",
            Kind::Expression => "expression strategy",
            Kind::Contact => "contact",
            Kind::Team => "team",
            Kind::Subscription => "subscription",
            Kind::Silence => "silence",
            Kind::RecordingRule => "recording rule",
            Kind::AlertRule => "alert rule",
            Kind::Dashboard => "dashboard",
        }
    }
}

/// `hosts` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostIn {
    /// The endpoint name the agent reports as.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub note: String,
}

/// `host_groups` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostGroupIn {
    /// Display name, unique in the tenant.
    pub name: String,
    /// Member hosts, listed.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Membership rules: besides `hosts`, every host of the tenant that one of them matches
    /// (name glob, tags its agent reports, IP range), from its first heartbeat on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<argus_core::hostrule::HostRule>,
    /// Bound template ids.
    #[serde(default)]
    pub templates: Vec<i64>,
    /// What the agents of member hosts run (plugins, log rules, probes, step).
    #[serde(default)]
    pub agent: AgentRemoteConfig,
}

/// `templates` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    /// Display name, unique in the tenant.
    pub name: String,
    /// Parent template id.
    #[serde(default)]
    pub parent: Option<i64>,
}

fn three() -> u32 {
    3
}

/// The strategy fields shared by `strategies` and `expressions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleIn {
    /// The template holding it (`strategies` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<i64>,
    /// The metric.
    pub metric: String,
    /// Series tags it applies to.
    #[serde(default)]
    pub tags: Tags,
    /// The condition.
    pub condition: String,
    /// Recovery condition.
    #[serde(default)]
    pub recovery: Option<String>,
    /// P0..P5.
    #[serde(default)]
    pub priority: Priority,
    /// Notices per problem.
    #[serde(default = "three")]
    pub max_alarms: u32,
    /// Free text.
    #[serde(default)]
    pub note: String,
    /// Active window.
    #[serde(default)]
    pub active: Option<ActiveWindow>,
    /// Seconds the condition must hold before the PROBLEM.
    #[serde(default)]
    pub for_secs: u64,
}

impl RuleIn {
    /// The core strategy with id `id`.
    pub fn strategy(&self, id: i64) -> Strategy {
        Strategy {
            id: id as u64,
            metric: self.metric.clone(),
            tags: self.tags.clone(),
            condition: self.condition.clone(),
            recovery: self.recovery.clone().filter(|r| !r.trim().is_empty()),
            priority: self.priority,
            max_alarms: self.max_alarms,
            note: self.note.clone(),
            active: self.active.clone(),
            for_secs: self.for_secs,
        }
    }
}

/// `contacts` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    /// Display name, unique in the tenant.
    pub name: String,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Webhook URL.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Webhook signing secret (write-only; kept when omitted on update).
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Alertmanager-compatible payloads.
    #[serde(default)]
    pub webhook_alertmanager: bool,
    /// Chat and paging services (docs/CHANNELS.md); credentials write-only, see [`present`].
    /// Omitted on update (the console's form has none), the stored ones stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChatReceiver>>,
}

/// What the API shows in place of a stored secret; given back on update, it keeps the secret.
pub const HIDDEN: &str = "(hidden)";

/// The chat receivers' credentials as the API shows them: a URL carrying a key cut to its
/// scheme and host, a secret, bot token or routing key as [`HIDDEN`].
fn hide_channel_secrets(channels: &mut Value) {
    let Some(list) = channels.as_array_mut() else {
        return;
    };
    for ch in list {
        let Ok(r) = serde_json::from_value::<ChatReceiver>(ch.clone()) else {
            continue;
        };
        if let (true, Some(u)) = (r.url_is_secret(), &r.url) {
            ch["url"] = json!(argus_core::notify::redact_url(u));
        }
        for f in ["secret", "bot_token", "routing_key"] {
            if ch.get(f).is_some_and(|v| !v.is_null()) {
                ch[f] = json!(HIDDEN);
            }
        }
    }
}

/// On update: a receiver's credential omitted, or given back as the API showed it, keeps the
/// stored one of the same service.
fn keep_channel_secrets(new: &mut [ChatReceiver], old: &[ChatReceiver]) {
    for r in new {
        let Some(o) = old.iter().find(|o| o.kind == r.kind) else {
            continue;
        };
        let keep = |v: &Option<String>| v.is_none() || v.as_deref() == Some(HIDDEN);
        if r.url_is_secret() {
            let shown = o.url.as_deref().map(argus_core::notify::redact_url);
            if r.url.is_none() || r.url == shown {
                r.url = o.url.clone();
            }
        }
        if keep(&r.secret) {
            r.secret = o.secret.clone();
        }
        if keep(&r.bot_token) {
            r.bot_token = o.bot_token.clone();
        }
        if keep(&r.routing_key) {
            r.routing_key = o.routing_key.clone();
        }
    }
}

/// Checks a message template (alarm's minijinja context, docs/CHANNELS.md): it must compile,
/// and render over a sample message (an unknown filter or a type error shows only then). The
/// error names `field`, the line and what is wrong.
pub fn check_template(field: &str, src: &str) -> Result<(), ApiError> {
    let env = minijinja::Environment::new();
    // The name's extension decides HTML escaping, as in alarm; irrelevant to the check.
    let t = env
        .template_from_named_str("template", src)
        .map_err(|e| template_error(field, &e))?;
    t.render(sample_context())
        .map(|_| ())
        .map_err(|e| template_error(field, &e))
}

fn template_error(field: &str, e: &minijinja::Error) -> ApiError {
    let at = e
        .line()
        .map(|l| format!(" at line {l}"))
        .unwrap_or_default();
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    ApiError::bad_field(field, format!("template error{at}: {}{detail}", e.kind()))
}

/// A message as alarm's templates see it, for checking templates on save.
fn sample_context() -> Value {
    let event = json!({
        "id": "e1", "status": "PROBLEM", "priority": "P1", "endpoint": "web-1",
        "metric": "cpu.busy", "tags": "dc=eu1", "condition": "all(#3) > 90", "value": 97.5,
        "time": "2026-01-01T00:00:00Z", "note": "CPU saturated", "region": "eu1",
        "strategy_id": 7, "occurrence": 1, "ack_url": "https://argus.example/ack?token=t",
        "console_url": "https://argus.example/history?event=e1", "rule_id": null,
        "alertname": null, "labels": {}, "annotations": {},
    });
    json!({
        "kind": "alert", "tenant": "acme", "title": "cpu.busy on web-1", "status": "PROBLEM",
        "priority": "P1", "count": 1, "hosts": ["web-1"], "escalation_level": 0,
        "contact_name": "ops", "events": [event], "console_url": "https://argus.example",
    })
}

fn escalate_default() -> u64 {
    900
}

/// `teams` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamIn {
    /// Display name, unique in the tenant.
    pub name: String,
    /// Contact ids.
    #[serde(default)]
    pub members: Vec<i64>,
    /// Escalation team id.
    #[serde(default)]
    pub escalate_to: Option<i64>,
    /// Seconds before escalation.
    #[serde(default = "escalate_default")]
    pub escalate_after_secs: u64,
}

fn yes() -> bool {
    true
}

/// `subscriptions` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionIn {
    /// What it matches.
    pub target: SubscriptionTarget,
    /// A team...
    #[serde(default)]
    pub team_id: Option<i64>,
    /// ...or one contact.
    #[serde(default)]
    pub contact_id: Option<i64>,
    /// Channels.
    pub channels: Vec<Channel>,
    /// Also send recoveries.
    #[serde(default = "yes")]
    pub send_recovery: bool,
}

/// `silences` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceIn {
    /// What it silences.
    pub matcher: SilenceMatch,
    /// Start, Unix seconds.
    pub starts_at: i64,
    /// End, Unix seconds.
    pub ends_at: i64,
    /// Recurrence period.
    #[serde(default)]
    pub repeat_every_secs: Option<i64>,
    /// Or: weekdays and hours in a named time zone, within `starts_at`..`ends_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<argus_core::route::Recurrence>,
    /// Who (defaults to the caller).
    #[serde(default)]
    pub author: String,
    /// Why.
    pub reason: String,
}

/// Parses `v` as `T`, naming the offending field on error.
pub fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // "missing field `x`" at the top level: name x itself.
        let field = match (path.as_str(), inner.strip_prefix("missing field `")) {
            (".", Some(rest)) => rest.trim_end_matches('`').to_string(),
            (p, Some(rest)) => format!("{p}.{}", rest.trim_end_matches('`')),
            (".", None) => inner
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .unwrap_or("body")
                .to_string(),
            (p, None) => p.to_string(),
        };
        ApiError::bad_field(field, inner)
    })
}

/// Checks a metric or host name: 1 to 255 bytes of letters, digits and `. _ - : / @ %`.
pub fn check_ident(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 {
        return Err(format!("must be 1 to 255 bytes, got {}", s.len()));
    }
    if let Some(c) = s.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '%'))
    }) {
        return Err(format!(
            "may hold only letters, digits and . _ - : / @ %, found {c:?}"
        ));
    }
    Ok(())
}

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, msg)
}

fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(ApiError::bad_field(field, "must not be empty"));
    }
    if n.len() > 200 {
        return Err(ApiError::bad_field(field, "must be at most 200 bytes"));
    }
    if n.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_field(
            field,
            "must not hold control characters",
        ));
    }
    Ok(())
}

/// Fails with 400 naming `field` unless object `id` of `kind` is one of `tenant`'s, read on
/// `conn` (the write's transaction, which [`references`] then locks them in).
pub(crate) async fn must_exist(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: Kind,
    id: i64,
    field: &str,
) -> Result<Object, ApiError> {
    store::get_in(conn, tenant, kind.path(), id)
        .await?
        .ok_or_else(|| ApiError::bad_field(field, format!("{} {id} does not exist", kind.noun())))
}

/// Maps a core strategy error to the API field it blames.
pub fn strategy_error(e: StrategyError) -> ApiError {
    match &e {
        StrategyError::BadCondition { field, error, .. } => {
            ApiError::bad_field(*field, error.to_string())
        }
        StrategyError::Invalid { field, reason, .. } => ApiError::bad_field(*field, reason.clone()),
        _ => ApiError::bad_request(e.to_string()),
    }
}

/// Validates a rule (strategy or expression strategy) and returns it normalized.
pub fn check_rule(rule: &RuleIn, expression: bool) -> Result<(), ApiError> {
    if let Err(e) = check_ident(&rule.metric) {
        return Err(ApiError::bad_field("metric", e));
    }
    if expression && rule.tags.is_empty() {
        return Err(ApiError::bad_field(
            "tags",
            "an expression strategy selects series by tags: give at least one",
        ));
    }
    if rule.max_alarms == 0 {
        return Err(ApiError::bad_field("max_alarms", "must be at least 1"));
    }
    rule.strategy(0).check().map_err(strategy_error)
}

/// Validates `input` for `kind` in the caller's tenant. `id` is the object being replaced, if
/// any. Returns the unique name (for kinds that have one) and the document to store. Reads on
/// `conn`, the transaction that then writes the document.
pub async fn prepare(
    conn: &mut AnyConnection,
    tenant: &str,
    who: &str,
    kind: Kind,
    id: Option<i64>,
    input: Value,
) -> Result<(Option<String>, Value), ApiError> {
    if !input.is_object() {
        return Err(ApiError::bad_field("body", "must be a JSON object"));
    }
    match kind {
        Kind::Host => {
            let h: HostIn = parse(input)?;
            if let Err(e) = check_ident(&h.name) {
                return Err(ApiError::bad_field("name", e));
            }
            // Heartbeat fields survive an edit of the note.
            let mut body = json!({"name": h.name, "note": h.note});
            if let Some(old) = match id {
                Some(id) => store::get_in(conn, tenant, kind.path(), id).await?,
                None => None,
            } {
                if old.name.as_deref() != Some(h.name.as_str()) {
                    return Err(ApiError::bad_field("name", "a host cannot be renamed"));
                }
                if let Some(hb) = old.body.get("heartbeat") {
                    body["heartbeat"] = hb.clone();
                }
            }
            Ok((Some(h.name), body))
        }
        Kind::HostGroup => {
            let g: HostGroupIn = parse(input)?;
            check_name("name", &g.name)?;
            for (i, h) in g.hosts.iter().enumerate() {
                if let Err(e) = check_ident(h) {
                    return Err(ApiError::bad_field(format!("hosts[{i}]"), e));
                }
            }
            for (i, r) in g.rules.iter().enumerate() {
                r.check().map_err(|e| {
                    let field = match e.field.as_str() {
                        "" => format!("rules[{i}]"),
                        f => format!("rules[{i}].{f}"),
                    };
                    ApiError::bad_field(field, e.reason)
                })?;
            }
            for (i, t) in g.templates.iter().enumerate() {
                must_exist(conn, tenant, Kind::Template, *t, &format!("templates[{i}]")).await?;
            }
            g.agent
                .validate()
                .map_err(|e| ApiError::bad_field(format!("agent.{}", e.field), e.reason))?;
            Ok((
                Some(g.name.clone()),
                serde_json::to_value(&g).expect("json"),
            ))
        }
        Kind::Template => {
            let t: TemplateIn = parse(input)?;
            check_name("name", &t.name)?;
            if let Some(p) = t.parent {
                must_exist(conn, tenant, Kind::Template, p, "parent").await?;
                if let Some(me) = id {
                    check_no_cycle(conn, tenant, me, p).await?;
                }
            }
            Ok((
                Some(t.name.clone()),
                serde_json::to_value(&t).expect("json"),
            ))
        }
        Kind::Strategy | Kind::Expression => {
            let r: RuleIn = parse(input)?;
            let expression = kind == Kind::Expression;
            match (expression, r.template_id) {
                (false, None) => return Err(ApiError::bad_field("template_id", "required")),
                (false, Some(t)) => {
                    must_exist(conn, tenant, Kind::Template, t, "template_id").await?;
                }
                (true, Some(_)) => {
                    return Err(ApiError::bad_field(
                        "template_id",
                        "an expression strategy belongs to no template",
                    ))
                }
                (true, None) => {}
            }
            check_rule(&r, expression)?;
            Ok((None, serde_json::to_value(&r).expect("json")))
        }
        Kind::Contact => {
            let mut c: ContactIn = parse(input)?;
            check_name("name", &c.name)?;
            c.email = c.email.filter(|e| !e.trim().is_empty());
            c.webhook_url = c.webhook_url.filter(|e| !e.trim().is_empty());
            if let Some(e) = &c.email {
                let ok = e.split_once('@').is_some_and(|(a, b)| {
                    !a.is_empty() && b.contains('.') && !e.contains(char::is_whitespace)
                });
                if !ok {
                    return Err(ApiError::bad_field("email", "not an email address"));
                }
            }
            if let Some(u) = &c.webhook_url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(ApiError::bad_field(
                        "webhook_url",
                        "must be an http:// or https:// URL",
                    ));
                }
            }
            if let Some(id) = id {
                if let Some(old) = store::get_in(conn, tenant, kind.path(), id).await? {
                    if c.webhook_secret.is_none() {
                        c.webhook_secret = old
                            .body
                            .get("webhook_secret")
                            .and_then(|v| v.as_str())
                            .map(String::from);
                    }
                    let old: Vec<ChatReceiver> = old
                        .body
                        .get("channels")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default();
                    match &mut c.channels {
                        Some(new) => keep_channel_secrets(new, &old),
                        None => c.channels = Some(old).filter(|o| !o.is_empty()),
                    }
                }
            }
            let channels = c.channels.as_deref().unwrap_or_default();
            if c.email.is_none() && c.webhook_url.is_none() && channels.is_empty() {
                return Err(ApiError::bad_field(
                    "email",
                    "a contact needs an email address, a webhook URL or a channel",
                ));
            }
            for (i, r) in channels.iter().enumerate() {
                let field = format!("channels[{i}]");
                r.check(&field)
                    .map_err(|(f, why)| ApiError::bad_field(f, why))?;
                if channels[..i].iter().any(|o| o.kind == r.kind) {
                    return Err(ApiError::bad_field(
                        format!("{field}.type"),
                        format!("a contact has one {} receiver at most", r.kind.as_str()),
                    ));
                }
                for (f, v) in [
                    ("secret", &r.secret),
                    ("bot_token", &r.bot_token),
                    ("routing_key", &r.routing_key),
                ] {
                    if v.as_deref() == Some(HIDDEN) {
                        return Err(ApiError::bad_field(
                            format!("{field}.{f}"),
                            "no stored value to keep: give the real one",
                        ));
                    }
                }
                if r.url.as_deref().is_some_and(|u| u.ends_with("/…")) {
                    return Err(ApiError::bad_field(
                        format!("{field}.url"),
                        "a redacted URL with no stored one to keep: give the full URL",
                    ));
                }
                if let Some(t) = &r.template {
                    check_template(&format!("{field}.template"), t)?;
                }
            }
            Ok((
                Some(c.name.clone()),
                serde_json::to_value(&c).expect("json"),
            ))
        }
        Kind::Team => {
            let t: TeamIn = parse(input)?;
            check_name("name", &t.name)?;
            for (i, m) in t.members.iter().enumerate() {
                must_exist(conn, tenant, Kind::Contact, *m, &format!("members[{i}]")).await?;
            }
            if let Some(e) = t.escalate_to {
                if Some(e) == id {
                    return Err(ApiError::bad_field(
                        "escalate_to",
                        "a team cannot escalate to itself",
                    ));
                }
                must_exist(conn, tenant, Kind::Team, e, "escalate_to").await?;
            }
            Ok((
                Some(t.name.clone()),
                serde_json::to_value(&t).expect("json"),
            ))
        }
        Kind::Subscription => {
            let s: SubscriptionIn = parse(input)?;
            match (s.team_id, s.contact_id) {
                (Some(t), None) => {
                    must_exist(conn, tenant, Kind::Team, t, "team_id").await?;
                }
                (None, Some(c)) => {
                    must_exist(conn, tenant, Kind::Contact, c, "contact_id").await?;
                }
                _ => {
                    return Err(ApiError::bad_field(
                        "team_id",
                        "give exactly one of team_id and contact_id",
                    ))
                }
            }
            if s.channels.is_empty() {
                return Err(ApiError::bad_field("channels", "give at least one channel"));
            }
            match &s.target {
                SubscriptionTarget::Template { template_id } => {
                    must_exist(
                        conn,
                        tenant,
                        Kind::Template,
                        *template_id as i64,
                        "target.template_id",
                    )
                    .await?;
                }
                SubscriptionTarget::Strategy { strategy_id } => {
                    let sid = *strategy_id as i64;
                    let a = store::get_in(conn, tenant, Kind::Strategy.path(), sid).await?;
                    let b = store::get_in(conn, tenant, Kind::Expression.path(), sid).await?;
                    if a.is_none() && b.is_none() {
                        return Err(ApiError::bad_field(
                            "target.strategy_id",
                            format!("strategy {sid} does not exist"),
                        ));
                    }
                }
                SubscriptionTarget::Priority { .. } => {}
            }
            Ok((None, serde_json::to_value(&s).expect("json")))
        }
        Kind::Silence => {
            let mut s: SilenceIn = parse(input)?;
            // Seconds from 1970 to the end of year 9999: past that, a time is a mistake.
            const LAST: i64 = 253_402_300_799;
            for (field, t) in [("starts_at", s.starts_at), ("ends_at", s.ends_at)] {
                if !(0..=LAST).contains(&t) {
                    return Err(ApiError::bad_field(
                        field,
                        format!("{t} is not a time between 1970 and 9999 (Unix seconds)"),
                    ));
                }
            }
            if s.ends_at <= s.starts_at {
                return Err(ApiError::bad_field("ends_at", "must be after starts_at"));
            }
            if let Some(r) = s.repeat_every_secs {
                if r <= 0 || r > LAST {
                    return Err(ApiError::bad_field(
                        "repeat_every_secs",
                        "must be positive and at most 253402300799",
                    ));
                }
                if r < s.ends_at - s.starts_at {
                    return Err(ApiError::bad_field(
                        "repeat_every_secs",
                        "must not be shorter than the window itself",
                    ));
                }
            }
            if let Some(r) = &s.recurrence {
                if s.repeat_every_secs.is_some() {
                    return Err(ApiError::bad_field(
                        "recurrence",
                        "give either recurrence or repeat_every_secs, not both",
                    ));
                }
                r.check().map_err(|e| {
                    ApiError::bad_field(format!("recurrence.{}", e.field), e.reason)
                })?;
            }
            if s.reason.trim().is_empty() {
                return Err(ApiError::bad_field("reason", "say why (must not be empty)"));
            }
            if let Some(g) = s.matcher.host_group_id {
                must_exist(
                    conn,
                    tenant,
                    Kind::HostGroup,
                    g as i64,
                    "matcher.host_group_id",
                )
                .await?;
            }
            if let Some(sid) = s.matcher.strategy_id {
                // Another tenant's strategy id would never match, but accepting it would tell
                // the caller nothing and store a reference across tenants.
                let sid = sid as i64;
                let a = store::get_in(conn, tenant, Kind::Strategy.path(), sid).await?;
                let b = store::get_in(conn, tenant, Kind::Expression.path(), sid).await?;
                if a.is_none() && b.is_none() {
                    return Err(ApiError::bad_field(
                        "matcher.strategy_id",
                        format!("strategy {sid} does not exist"),
                    ));
                }
            }
            let m = &s.matcher;
            if m.endpoint.is_none()
                && m.host_group_id.is_none()
                && m.metric.is_none()
                && m.strategy_id.is_none()
                && m.tags.is_empty()
                && m.matchers.is_empty()
            {
                return Err(ApiError::bad_field(
                    "matcher",
                    "an empty matcher would silence everything: name at least one part",
                ));
            }
            if s.author.trim().is_empty() {
                s.author = who.to_string();
            }
            Ok((None, serde_json::to_value(&s).expect("json")))
        }
        Kind::RecordingRule | Kind::AlertRule => {
            let doc = match crate::api::rules::checked(kind, input)? {
                crate::api::rules::Checked::Recording(r) => serde_json::to_value(&r),
                crate::api::rules::Checked::Alert(a) => serde_json::to_value(&a),
            };
            Ok((None, doc.expect("json")))
        }
        // Titles need not be unique: a clone or an import keeps its title.
        Kind::Dashboard => Ok((None, crate::api::dashboards::checked(input)?)),
    }
}

/// The references `doc` (a checked document of `kind`) makes to other objects of its tenant,
/// for [`store::check_refs_in`]: [`prepare`] read them already with the same messages, and the
/// write locks them in the same transaction, so that an object deleted concurrently is not
/// referenced once stored.
pub(crate) fn references(kind: Kind, doc: &Value) -> Vec<store::Ref> {
    const STRATEGIES: &[&str] = &["strategies", "expressions"];
    let one = |kinds: &'static [&'static str], noun, ptr: &str, field: &str| {
        doc.pointer(ptr)
            .and_then(|v| v.as_i64())
            .map(|id| store::Ref {
                kinds,
                id,
                field: field.to_string(),
                noun,
            })
    };
    let many = |kinds: &'static [&'static str], noun, key: &str| {
        doc.get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, v)| {
                v.as_i64().map(|id| store::Ref {
                    kinds,
                    id,
                    field: format!("{key}[{i}]"),
                    noun,
                })
            })
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    match kind {
        Kind::HostGroup => out.extend(many(&["templates"], "template", "templates")),
        Kind::Template => out.extend(one(&["templates"], "template", "/parent", "parent")),
        Kind::Strategy => out.extend(one(
            &["templates"],
            "template",
            "/template_id",
            "template_id",
        )),
        Kind::Team => {
            out.extend(many(&["contacts"], "contact", "members"));
            out.extend(one(&["teams"], "team", "/escalate_to", "escalate_to"));
        }
        Kind::Subscription => {
            out.extend(one(&["teams"], "team", "/team_id", "team_id"));
            out.extend(one(&["contacts"], "contact", "/contact_id", "contact_id"));
            out.extend(one(
                &["templates"],
                "template",
                "/target/template_id",
                "target.template_id",
            ));
            out.extend(one(
                STRATEGIES,
                "strategy",
                "/target/strategy_id",
                "target.strategy_id",
            ));
        }
        Kind::Silence => {
            out.extend(one(
                &["host_groups"],
                "host group",
                "/matcher/host_group_id",
                "matcher.host_group_id",
            ));
            out.extend(one(
                STRATEGIES,
                "strategy",
                "/matcher/strategy_id",
                "matcher.strategy_id",
            ));
        }
        _ => {}
    }
    out
}

/// Refuses making `parent` the parent of template `me` if `me` is among `parent`'s ancestors.
async fn check_no_cycle(
    conn: &mut AnyConnection,
    tenant: &str,
    me: i64,
    parent: i64,
) -> Result<(), ApiError> {
    let mut chain = vec![me];
    let mut cur = Some(parent);
    while let Some(t) = cur {
        chain.push(t);
        if t == me {
            let path: Vec<String> = chain.iter().map(|x| x.to_string()).collect();
            return Err(ApiError::bad_field(
                "parent",
                format!("would create an inheritance cycle: {}", path.join(" -> ")),
            ));
        }
        if chain.len() > 1000 {
            break;
        }
        cur = store::get_in(conn, tenant, Kind::Template.path(), t)
            .await?
            .and_then(|o| o.body.get("parent").and_then(|p| p.as_i64()));
    }
    Ok(())
}

/// Refuses deleting an object that others still use (409 saying which).
/// Runs on `conn`, the transaction that deletes the object after locking it ([`store::lock_in`]):
/// a write that would reference it either committed before (and is seen here) or waits and
/// then finds it gone.
pub async fn check_delete(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: Kind,
    id: i64,
) -> Result<(), ApiError> {
    async fn refs(
        conn: &mut AnyConnection,
        tenant: &str,
        k: Kind,
        f: &'static str,
        id: i64,
    ) -> Result<Option<(Kind, i64)>, ApiError> {
        let all = store::list_in(conn, tenant, k.path()).await?;
        Ok(all
            .into_iter()
            .find(|o| uses(&o.body, f, id))
            .map(|o| (k, o.id)))
    }
    let found = match kind {
        Kind::Template => {
            let mut f = refs(conn, tenant, Kind::Template, "parent", id).await?;
            if f.is_none() {
                f = refs(conn, tenant, Kind::HostGroup, "templates", id).await?;
            }
            if f.is_none() {
                f = store::list_in(conn, tenant, Kind::Subscription.path())
                    .await?
                    .into_iter()
                    .find(|o| {
                        o.body
                            .pointer("/target/template_id")
                            .and_then(|v| v.as_i64())
                            == Some(id)
                    })
                    .map(|o| (Kind::Subscription, o.id));
            }
            f
        }
        Kind::Contact => {
            let mut f = refs(conn, tenant, Kind::Team, "members", id).await?;
            if f.is_none() {
                f = refs(conn, tenant, Kind::Subscription, "contact_id", id).await?;
            }
            f
        }
        Kind::Team => {
            let mut f = refs(conn, tenant, Kind::Subscription, "team_id", id).await?;
            if f.is_none() {
                f = refs(conn, tenant, Kind::Team, "escalate_to", id).await?;
            }
            f
        }
        _ => None,
    };
    if found.is_none() && matches!(kind, Kind::Contact | Kind::Team) {
        let name = store::get_in(conn, tenant, kind.path(), id)
            .await?
            .and_then(|o| o.name);
        if let Some(name) = name {
            if crate::api::routes::uses_receiver(conn, tenant, &name).await? {
                return Err(conflict(format!(
                    "{} {id} ({name}) is a receiver of the routing tree (/api/v1/routes)",
                    kind.noun()
                )));
            }
        }
    }
    match found {
        Some((k, other)) => Err(conflict(format!(
            "{} {id} is still used by {} {other}",
            kind.noun(),
            k.noun()
        ))),
        None => Ok(()),
    }
}

fn uses(body: &Value, field: &str, id: i64) -> bool {
    match body.get(field) {
        Some(Value::Array(a)) => a.iter().any(|v| v.as_i64() == Some(id)),
        Some(v) => v.as_i64() == Some(id),
        None => false,
    }
}

/// The API form of an object: its document with `id` (secrets hidden, host liveness added).
pub fn present(kind: Kind, o: &Object, dead_after_secs: i64) -> Value {
    let mut v = o.body.clone();
    v["id"] = json!(o.id);
    v["updated_at"] = json!(o.updated_at);
    match kind {
        Kind::Contact => {
            let set = v
                .as_object_mut()
                .and_then(|m| m.remove("webhook_secret"))
                .is_some_and(|s| !s.is_null());
            v["webhook_secret_set"] = json!(set);
            if let Some(ch) = v.get_mut("channels") {
                hide_channel_secrets(ch);
            }
        }
        Kind::Host => {
            let last = v.pointer("/heartbeat/received_at").and_then(|x| x.as_i64());
            let alive = last.is_some_and(|t| t >= argus_core::time::now_secs() - dead_after_secs);
            v["alive"] = json!(alive);
            v["last_seen"] = json!(last);
            v["agent_version"] = v
                .pointer("/heartbeat/agent_version")
                .cloned()
                .unwrap_or(Value::Null);
            // What membership rules match on, at the top for the console and scripts.
            v["ip"] = v
                .pointer("/heartbeat/ip")
                .filter(|ip| ip.as_str().is_some_and(|s| !s.is_empty()))
                .cloned()
                .unwrap_or(Value::Null);
            v["tags"] = v
                .pointer("/heartbeat/tags")
                .cloned()
                .unwrap_or_else(|| json!({}));
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_every_field_prepare_checks() {
        let refs = |kind, doc: Value| {
            references(kind, &doc)
                .into_iter()
                .map(|r| (r.kinds.join("|"), r.id, r.field))
                .collect::<Vec<_>>()
        };
        let s = |k: &str, id: i64, f: &str| (k.to_string(), id, f.to_string());
        assert_eq!(
            refs(Kind::HostGroup, json!({"name": "g", "templates": [4, 5]})),
            vec![
                s("templates", 4, "templates[0]"),
                s("templates", 5, "templates[1]")
            ]
        );
        assert_eq!(
            refs(Kind::Template, json!({"name": "t", "parent": null})),
            vec![]
        );
        assert_eq!(
            refs(Kind::Team, json!({"members": [1], "escalate_to": 2})),
            vec![s("contacts", 1, "members[0]"), s("teams", 2, "escalate_to")]
        );
        assert_eq!(
            refs(
                Kind::Subscription,
                json!({"target": {"kind": "strategy", "strategy_id": 9}, "team_id": 3, "contact_id": null})
            ),
            vec![
                s("teams", 3, "team_id"),
                s("strategies|expressions", 9, "target.strategy_id")
            ]
        );
        assert_eq!(
            refs(
                Kind::Silence,
                json!({"matcher": {"host_group_id": 7, "strategy_id": null}})
            ),
            vec![s("host_groups", 7, "matcher.host_group_id")]
        );
        assert!(refs(Kind::Contact, json!({"name": "c"})).is_empty());
    }
}
