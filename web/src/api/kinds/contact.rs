//! `contacts`: email, webhook and chat receivers; their credentials are write-only.

use super::{check_name, uses_by, Kind, Spec, Write};
use crate::store;
use argus_core::http::ApiError;
use argus_core::notify::ChatReceiver;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::AnyConnection;

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
    /// Chat and paging services (docs/CHANNELS.md); credentials write-only, see `Spec::present`.
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

/// A message as alarm's templates see it (one problem event of a strategy), for checking
/// templates on save: built by the same code alarm renders from.
fn sample_context() -> Value {
    use argus_core::event::{Event, EventId, EventStatus};
    let series = argus_core::SeriesKey::new(
        argus_core::TenantId::new("acme").expect("tenant id"),
        "web-1",
        "cpu.busy",
        argus_core::Tags::from_pairs([("dc", "eu1")]),
    );
    let event = Event {
        id: EventId::of(7, &series),
        tenant: series.tenant.clone(),
        status: EventStatus::Problem,
        occurrence: 1,
        strategy_id: 7,
        template_id: None,
        series,
        priority: argus_core::strategy::Priority::new(1).expect("P1"),
        condition: "all(#3) > 90".into(),
        value: 97.5,
        timestamp: 1_767_225_600,
        alarm_count: 1,
        note: "CPU saturated".into(),
        region: "eu1".into(),
        rule: None,
    };
    let notice = argus_core::notice::Notice {
        kind: "alert".into(),
        tenant: event.tenant.clone(),
        events: vec![event],
        escalation_level: 0,
        problem_started: Default::default(),
    };
    notice.context(
        "ops",
        &[Some("https://argus.example/ack?token=t".into())],
        "https://argus.example",
    )
}

/// The `contacts` kind.
pub(crate) struct Contact;

impl Spec for Contact {
    const KIND: Kind = Kind::Contact;
    const RECEIVER: bool = true;
    type Input = ContactIn;

    async fn check(w: Write<'_>, input: ContactIn) -> Result<(Option<String>, Value), ApiError> {
        let Write {
            conn, tenant, id, ..
        } = w;
        let kind = Self::KIND;
        let mut c = input;
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

    async fn used_by(
        conn: &mut AnyConnection,
        tenant: &str,
        id: i64,
    ) -> Result<Option<(Kind, i64)>, ApiError> {
        let mut f = uses_by(conn, tenant, Kind::Team, "members", id).await?;
        if f.is_none() {
            f = uses_by(conn, tenant, Kind::Subscription, "contact_id", id).await?;
        }
        Ok(f)
    }

    fn present(v: &mut Value, _dead_after_secs: i64) {
        let set = v
            .as_object_mut()
            .and_then(|m| m.remove("webhook_secret"))
            .is_some_and(|s| !s.is_null());
        v["webhook_secret_set"] = json!(set);
        if let Some(ch) = v.get_mut("channels") {
            hide_channel_secrets(ch);
        }
    }
}
