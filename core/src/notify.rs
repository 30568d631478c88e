//! Who hears about what: contacts, teams, subscriptions and silences. Stored and edited by web,
//! served by its configuration center, and applied by alarm.

use crate::point::Tags;
use crate::strategy::{HostGroupId, Priority, StrategyId, TemplateId};
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

/// A contact's id.
pub type ContactId = u64;
/// A team's id.
pub type TeamId = u64;

/// A person (or a system) that receives notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Unique id.
    pub id: ContactId,
    /// The owner.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Email address, if the contact takes email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Webhook URL, if the contact takes webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Secret used to sign webhooks (HMAC-SHA256). Served only to alarm, never shown in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Send Alertmanager-compatible webhook payloads instead of the Argus schema.
    #[serde(default)]
    pub webhook_alertmanager: bool,
    /// Chat and paging services the contact receives on, at most one of each type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChatReceiver>,
}

impl Contact {
    /// The contact's receiver of chat or paging service `ch`, if it has one.
    pub fn chat(&self, ch: Channel) -> Option<&ChatReceiver> {
        self.channels.iter().find(|r| r.kind == ch)
    }
}

/// A Microsoft Teams message format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamsFormat {
    /// The connector `MessageCard` (Office 365 connectors' incoming webhook).
    #[default]
    MessageCard,
    /// An Adaptive Card in a `message` (Teams Workflows' incoming webhook).
    AdaptiveCard,
}

/// A chat or paging service a contact receives notices on. Each is an HTTPS POST with the
/// service's own payload (docs/CHANNELS.md). The credential fields (`url` of the webhook
/// services, which carries their key, `secret`, `bot_token`, `routing_key`) reach alarm only:
/// the API shows them redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatReceiver {
    /// The service: `slack`, `teams`, `dingtalk`, `wecom`, `feishu`, `telegram` or `pagerduty`.
    #[serde(rename = "type")]
    pub kind: Channel,
    /// The incoming-webhook URL (Slack, Teams, DingTalk, WeCom, Feishu); for Telegram and
    /// PagerDuty the API's base URL, when not the public service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The signing secret of a DingTalk or Feishu robot with signature verification on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Telegram: the bot's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// Telegram: the chat (a number, or `@channelname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// PagerDuty: the Events API v2 integration (routing) key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Teams: the card format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TeamsFormat>,
    /// The message template (minijinja) replacing the service's default text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// The public endpoint of Telegram's Bot API.
pub const TELEGRAM_API: &str = "https://api.telegram.org";
/// The public endpoint of PagerDuty's Events API v2.
pub const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com/v2/enqueue";

impl ChatReceiver {
    /// True for the services whose webhook URL itself is the credential.
    pub fn url_is_secret(&self) -> bool {
        !matches!(self.kind, Channel::Telegram | Channel::Pagerduty)
    }

    /// Checks the fields the service needs; the error names the field (under `field`) and why.
    pub fn check(&self, field: &str) -> Result<(), (String, String)> {
        let bad = |f: &str, why: &str| Err((format!("{field}.{f}"), why.to_string()));
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if matches!(self.kind, Channel::Email | Channel::Webhook) {
            return bad(
                "type",
                "must be slack, teams, dingtalk, wecom, feishu, telegram or pagerduty (email and webhook are the contact's own fields)",
            );
        }
        if let Some(u) = &self.url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return bad("url", "must be an https:// (or http://) URL");
            }
        } else if self.url_is_secret() {
            return bad("url", "required: the service's incoming-webhook URL");
        }
        let own = |f: &str, v: bool, allowed: bool| {
            if v && !allowed {
                Err((
                    format!("{field}.{f}"),
                    format!("not a {} setting", self.kind.as_str()),
                ))
            } else {
                Ok(())
            }
        };
        own(
            "secret",
            self.secret.is_some(),
            matches!(self.kind, Channel::Dingtalk | Channel::Feishu),
        )?;
        own(
            "bot_token",
            self.bot_token.is_some(),
            self.kind == Channel::Telegram,
        )?;
        own(
            "chat_id",
            self.chat_id.is_some(),
            self.kind == Channel::Telegram,
        )?;
        own(
            "routing_key",
            self.routing_key.is_some(),
            self.kind == Channel::Pagerduty,
        )?;
        own("format", self.format.is_some(), self.kind == Channel::Teams)?;
        match self.kind {
            Channel::Telegram if !set(&self.bot_token) => bad("bot_token", "required"),
            Channel::Telegram if !set(&self.chat_id) => bad("chat_id", "required"),
            Channel::Pagerduty if !set(&self.routing_key) => bad("routing_key", "required"),
            _ => Ok(()),
        }
    }

    /// Where it sends, without its credential: the URL's scheme and host only when the URL
    /// carries the key (for delivery lists and logs).
    pub fn display(&self) -> String {
        let url = match (&self.url, self.kind) {
            (Some(u), _) => u.as_str(),
            (None, Channel::Telegram) => TELEGRAM_API,
            (None, _) => PAGERDUTY_EVENTS,
        };
        let shown = if self.url_is_secret() {
            redact_url(url)
        } else {
            url.to_string()
        };
        match &self.chat_id {
            Some(c) => format!("{} {shown} chat {c}", self.kind.as_str()),
            None => format!("{} {shown}", self.kind.as_str()),
        }
    }
}

/// `scheme://host/…`: a URL with its path and query (where webhook keys live) cut.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // A user:password@ part is a credential too.
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}/…")
}

/// A named set of contacts; escalation moves from one team to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    /// Unique id.
    pub id: TeamId,
    /// The owner.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Members.
    #[serde(default)]
    pub members: Vec<ContactId>,
    /// Who gets an unacknowledged P0/P1 problem after `escalate_after_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<TeamId>,
    /// Seconds before escalation.
    #[serde(default = "default_escalate_after")]
    pub escalate_after_secs: u64,
}

fn default_escalate_after() -> u64 {
    900
}

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email through SMTP.
    Email,
    /// Signed JSON POST.
    Webhook,
    /// Slack incoming webhook.
    Slack,
    /// Microsoft Teams incoming webhook.
    Teams,
    /// DingTalk group robot.
    Dingtalk,
    /// WeCom (WeChat Work) group robot.
    Wecom,
    /// Feishu/Lark custom bot.
    Feishu,
    /// Telegram Bot API `sendMessage`.
    Telegram,
    /// PagerDuty Events API v2.
    Pagerduty,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 9] = [
        Channel::Email,
        Channel::Webhook,
        Channel::Slack,
        Channel::Teams,
        Channel::Dingtalk,
        Channel::Wecom,
        Channel::Feishu,
        Channel::Telegram,
        Channel::Pagerduty,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Dingtalk => "dingtalk",
            Channel::Wecom => "wecom",
            Channel::Feishu => "feishu",
            Channel::Telegram => "telegram",
            Channel::Pagerduty => "pagerduty",
        }
    }

    /// Parses [`Channel::as_str`]'s form.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a subscription matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubscriptionTarget {
    /// Every strategy of a template (and of templates inheriting from it).
    Template {
        /// The template.
        template_id: TemplateId,
    },
    /// One strategy.
    Strategy {
        /// The strategy.
        strategy_id: StrategyId,
    },
    /// Every event at or above a priority (P0 is highest).
    Priority {
        /// The lowest urgency included, e.g. P2 includes P0, P1, P2.
        max_priority: Priority,
    },
}

/// A contact or team subscribing to events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Unique id.
    pub id: u64,
    /// The owner.
    pub tenant: TenantId,
    /// What it matches.
    pub target: SubscriptionTarget,
    /// A team, or...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// ... a single contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// Channels to use.
    pub channels: Vec<Channel>,
    /// Also send recovery (OK) notices.
    #[serde(default = "yes")]
    pub send_recovery: bool,
}

fn yes() -> bool {
    true
}

/// What a silence matches; every given part must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SilenceMatch {
    /// A host (endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A host group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_group_id: Option<HostGroupId>,
    /// A metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// A strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<StrategyId>,
    /// Tags the series must carry.
    #[serde(default)]
    pub tags: Tags,
    /// Label matchers over the event's labels (as routes see them), incl. regex and negation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<crate::route::Matcher>,
}

/// A silence or maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Unique id.
    pub id: u64,
    /// The owner.
    pub tenant: TenantId,
    /// What it silences.
    pub matcher: SilenceMatch,
    /// Start, Unix seconds.
    pub starts_at: i64,
    /// End, Unix seconds.
    pub ends_at: i64,
    /// For a recurring window: repeat every this many seconds (e.g. 604800 for weekly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_every_secs: Option<i64>,
    /// A window recurring on weekdays and hours of a named time zone, within
    /// `starts_at`..`ends_at` (then `repeat_every_secs` does not apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<crate::route::Recurrence>,
    /// Who created it.
    pub author: String,
    /// Why.
    pub reason: String,
}

/// Everything alarm needs of one tenant, as the config center serves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantNotifyConfig {
    /// The tenant.
    pub tenant: TenantId,
    /// Changes whenever anything below changes.
    pub version: u64,
    /// Contacts (with webhook secrets).
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Teams.
    #[serde(default)]
    pub teams: Vec<Team>,
    /// Subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Silences.
    #[serde(default)]
    pub silences: Vec<Silence>,
    /// Host group memberships, for silences by host group: `(group id, hosts)`.
    #[serde(default)]
    pub host_groups: Vec<(HostGroupId, Vec<String>)>,
    /// Template parents, for subscriptions to a template: `(template id, parent)`.
    #[serde(default)]
    pub template_parents: Vec<(TemplateId, Option<TemplateId>)>,
    /// Host group names, for the `hostgroup` label routes match on: `(group id, name)`.
    #[serde(default)]
    pub host_group_names: Vec<(HostGroupId, String)>,
    /// The label routing tree and inhibit rules (`PUT /api/v1/routes`), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<crate::route::RoutingConfig>,
    /// The tenant's email templates (`PUT /api/v1/email_templates`), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_templates: Option<EmailTemplates>,
}

/// A tenant's email templates (minijinja); a part not given is the alarm config's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplates {
    /// The subject (its first line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The plain-text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The HTML body (values HTML-escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}
