//! The strategy model: templates with inheritance, host groups that bind them, strategies, and
//! expression strategies that apply by tags. Shared by web (which stores and edits it), judge
//! (which evaluates it) and alarm (which routes by it).

use crate::point::Tags;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

/// A strategy's id, unique across the platform.
pub type StrategyId = u64;
/// A template's id.
pub type TemplateId = u64;
/// A host group's id.
pub type HostGroupId = u64;

/// Alert priority, P0 (most urgent) to P5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    /// The most urgent.
    pub const P0: Priority = Priority(0);
    /// Makes a priority of 0 to 5.
    pub fn new(p: u8) -> Result<Self, String> {
        if p <= 5 {
            Ok(Priority(p))
        } else {
            Err(format!("priority must be 0 to 5 (P0 to P5), got {p}"))
        }
    }
    /// 0 to 5.
    pub fn level(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Priority {
    type Error = String;
    fn try_from(p: u8) -> Result<Self, String> {
        Priority::new(p)
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority(2)
    }
}

/// A threshold rule on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strategy {
    /// Unique id.
    pub id: StrategyId,
    /// The metric it watches.
    pub metric: String,
    /// Only series carrying all these tags.
    #[serde(default)]
    pub tags: Tags,
    /// The condition, e.g. `all(#3) > 90` or `max(#3) > 90 && avg(#10) > 70`.
    pub condition: String,
    /// Optional recovery condition (hysteresis), e.g. `all(#3) < 80`; without it, recovery is
    /// the condition no longer holding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
    /// P0 to P5.
    #[serde(default)]
    pub priority: Priority,
    /// At most this many PROBLEM notices while the problem lasts.
    #[serde(default = "default_max_alarms")]
    pub max_alarms: u32,
    /// Free text shown in notifications.
    #[serde(default)]
    pub note: String,
    /// When the strategy is active; `None` means always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveWindow>,
}

fn default_max_alarms() -> u32 {
    3
}

/// Hours of the day and days of the week during which a strategy is evaluated (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveWindow {
    /// Start, minutes after midnight, inclusive.
    pub start_minute: u16,
    /// End, minutes after midnight, exclusive; may be below start to wrap past midnight.
    pub end_minute: u16,
    /// Days of the week, 0 = Monday .. 6 = Sunday; empty means every day.
    #[serde(default)]
    pub days: Vec<u8>,
}

/// A reusable set of strategies, inheriting its parent's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Unique id.
    pub id: TemplateId,
    /// The owner.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// The parent template, whose strategies this one inherits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<TemplateId>,
    /// The template's own strategies.
    #[serde(default)]
    pub strategies: Vec<Strategy>,
}

/// A set of hosts that binds templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostGroup {
    /// Unique id.
    pub id: HostGroupId,
    /// The owner.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Member hosts (endpoints).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Bound templates.
    #[serde(default)]
    pub templates: Vec<TemplateId>,
}

/// A strategy that applies to every series carrying given tags, whatever its host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpressionStrategy {
    /// The owner.
    pub tenant: TenantId,
    /// The strategy; its `metric` and `tags` select the series.
    pub strategy: Strategy,
}

/// Everything the judge needs of one tenant, as the config center serves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantStrategies {
    /// The tenant.
    pub tenant: TenantId,
    /// Changes whenever anything below changes.
    pub version: u64,
    /// All templates of the tenant.
    #[serde(default)]
    pub templates: Vec<Template>,
    /// All host groups of the tenant.
    #[serde(default)]
    pub host_groups: Vec<HostGroup>,
    /// Expression strategies.
    #[serde(default)]
    pub expressions: Vec<ExpressionStrategy>,
}
