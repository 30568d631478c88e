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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email through SMTP.
    Email,
    /// Signed JSON POST.
    Webhook,
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
}
