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
    /// Seconds the condition must hold, on every point in between, before the PROBLEM (as
    /// Prometheus's `for`); 0 raises it at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub for_secs: u64,
}

/// The longest `for_secs`, a week.
pub const MAX_FOR_SECS: u64 = 7 * 86_400;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn default_max_alarms() -> u32 {
    3
}

/// Hours of the day and days of the week during which a strategy is evaluated, in a time zone
/// (UTC unless named).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveWindow {
    /// Start, minutes after midnight, inclusive.
    pub start_minute: u16,
    /// End, minutes after midnight, exclusive; may be below start to wrap past midnight.
    pub end_minute: u16,
    /// Days of the week, 0 = Monday .. 6 = Sunday; empty means every day.
    #[serde(default)]
    pub days: Vec<u8>,
    /// The IANA time zone of the hours and days (e.g. `Asia/Shanghai`), following its daylight
    /// saving changes; none means UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
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
    /// The registered hosts (besides those of host groups): the judge raises the built-in
    /// "host down" event for each that stops reporting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// The strategy id of the built-in "host down" event (no user strategy has it: web's ids are
/// database ids).
pub const HOST_DOWN_STRATEGY: StrategyId = u64::MAX;

impl TenantStrategies {
    /// Every registered host: `hosts` and the members of host groups, each once, sorted.
    pub fn registered_hosts(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .hosts
            .iter()
            .chain(self.host_groups.iter().flat_map(|g| g.hosts.iter()))
            .map(String::as_str)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Why a tenant's strategy model cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// Following parents leads back to a template already on the path.
    #[error("template inheritance cycle: {}", chain.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The templates on the cycle, ending with the one seen twice.
        chain: Vec<TemplateId>,
    },
    /// A template names a parent that does not exist (in this tenant).
    #[error("template {template}: parent template {parent} does not exist")]
    UnknownParent {
        /// The child.
        template: TemplateId,
        /// The missing parent.
        parent: TemplateId,
    },
    /// A host group binds a template that does not exist (in this tenant).
    #[error("host group {group}: bound template {template} does not exist")]
    UnknownTemplate {
        /// The group.
        group: HostGroupId,
        /// The missing template.
        template: TemplateId,
    },
    /// An item of one tenant's model names another tenant as its owner: nothing crosses tenants.
    #[error("{kind} {id} belongs to tenant {owner}, not to {tenant}")]
    ForeignTenant {
        /// `template`, `host group` or `expression strategy`.
        kind: &'static str,
        /// Its id.
        id: u64,
        /// The tenant it names.
        owner: TenantId,
        /// The tenant whose model holds it.
        tenant: TenantId,
    },
    /// A strategy's condition or recovery does not parse.
    #[error("strategy {strategy}: {field}: {error}")]
    BadCondition {
        /// The strategy.
        strategy: StrategyId,
        /// `condition` or `recovery`.
        field: &'static str,
        /// The parser's error, with the position.
        error: crate::condition::ConditionError,
    },
    /// A strategy is malformed otherwise.
    #[error("strategy {strategy}: {field}: {reason}")]
    Invalid {
        /// The strategy.
        strategy: StrategyId,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl Strategy {
    /// Checks the strategy: its condition and recovery parse, a recovery is not nodata, and the
    /// active window is within the day.
    pub fn check(&self) -> Result<(), StrategyError> {
        use crate::condition::parse;
        let cond = parse(&self.condition).map_err(|error| StrategyError::BadCondition {
            strategy: self.id,
            field: "condition",
            error,
        })?;
        if let Some(r) = &self.recovery {
            let rc = parse(r).map_err(|error| StrategyError::BadCondition {
                strategy: self.id,
                field: "recovery",
                error,
            })?;
            if rc.nodata_secs().is_some() || cond.nodata_secs().is_some() {
                return Err(StrategyError::Invalid {
                    strategy: self.id,
                    field: "recovery",
                    reason: "a nodata strategy recovers when a point arrives; it takes no recovery condition".into(),
                });
            }
        }
        if self.for_secs > MAX_FOR_SECS {
            return Err(StrategyError::Invalid {
                strategy: self.id,
                field: "for_secs",
                reason: format!(
                    "must be at most {MAX_FOR_SECS} seconds (a week), got {}",
                    self.for_secs
                ),
            });
        }
        if self.for_secs > 0 && cond.nodata_secs().is_some() {
            return Err(StrategyError::Invalid {
                strategy: self.id,
                field: "for_secs",
                reason: "a nodata strategy already waits its period; it takes no for_secs".into(),
            });
        }
        if self.metric.is_empty() {
            return Err(StrategyError::Invalid {
                strategy: self.id,
                field: "metric",
                reason: "must not be empty".into(),
            });
        }
        if let Some(a) = &self.active {
            if a.start_minute > 1440 || a.end_minute > 1440 {
                return Err(StrategyError::Invalid {
                    strategy: self.id,
                    field: "active",
                    reason: "minutes after midnight must be 0 to 1440".into(),
                });
            }
            if a.days.iter().any(|d| *d > 6) {
                return Err(StrategyError::Invalid {
                    strategy: self.id,
                    field: "active.days",
                    reason: "days are 0 (Monday) to 6 (Sunday)".into(),
                });
            }
            if let Some(z) = &a.time_zone {
                if z.parse::<chrono_tz::Tz>().is_err() {
                    return Err(StrategyError::Invalid {
                        strategy: self.id,
                        field: "active.time_zone",
                        reason: format!(
                            "unknown time zone {z:?}: give an IANA name such as Europe/Berlin"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether the strategy is active at Unix time `ts` (UTC).
    pub fn is_active_at(&self, ts: i64) -> bool {
        self.active.as_ref().is_none_or(|a| a.contains(ts))
    }
}

impl ActiveWindow {
    /// Whether Unix time `ts` falls in the window, read in its time zone. A window wrapping
    /// past midnight counts its early-morning part on the day it started.
    pub fn contains(&self, ts: i64) -> bool {
        // The local wall-clock time as if it were UTC: days and minutes then count as below.
        // (A name refused by `check` cannot reach here; were it to, UTC applies.)
        let ts = match self.time_zone.as_deref().map(str::parse::<chrono_tz::Tz>) {
            Some(Ok(tz)) => {
                use chrono::{Offset, TimeZone};
                let offset = tz.offset_from_utc_datetime(
                    &chrono::DateTime::from_timestamp(ts, 0)
                        .unwrap_or_default()
                        .naive_utc(),
                );
                ts + i64::from(offset.fix().local_minus_utc())
            }
            _ => ts,
        };
        let day = ts.div_euclid(86_400);
        let minute = (ts.rem_euclid(86_400) / 60) as u16;
        // 1970-01-01 was a Thursday (3 with Monday = 0).
        let weekday = |d: i64| ((d + 3).rem_euclid(7)) as u8;
        let day_ok = |d: i64| self.days.is_empty() || self.days.contains(&weekday(d));
        let (s, e) = (self.start_minute, self.end_minute);
        if s == e {
            day_ok(day)
        } else if s < e {
            minute >= s && minute < e && day_ok(day)
        } else if minute >= s {
            day_ok(day)
        } else {
            minute < e && day_ok(day - 1)
        }
    }
}

/// A strategy as it applies to a host, with the template it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectiveStrategy {
    /// The template that holds it (after overrides), or `None` for an expression strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateId>,
    /// The strategy.
    pub strategy: Strategy,
}

/// The strategies of template `id` with its ancestors': ancestors first, a descendant's
/// strategies replacing an ancestor's with the same metric and tags. Refuses cycles and missing
/// parents.
pub fn template_strategies(
    templates: &[Template],
    id: TemplateId,
) -> Result<Vec<EffectiveStrategy>, StrategyError> {
    let find = |t: TemplateId| templates.iter().find(|x| x.id == t);
    let mut chain: Vec<&Template> = Vec::new();
    let mut cur = find(id).ok_or(StrategyError::UnknownParent {
        template: id,
        parent: id,
    })?;
    loop {
        if chain.iter().any(|t| t.id == cur.id) {
            let mut ids: Vec<TemplateId> = chain.iter().map(|t| t.id).collect();
            ids.push(cur.id);
            return Err(StrategyError::Cycle { chain: ids });
        }
        chain.push(cur);
        match cur.parent {
            None => break,
            Some(p) => {
                cur = find(p).ok_or(StrategyError::UnknownParent {
                    template: cur.id,
                    parent: p,
                })?
            }
        }
    }
    let mut out: Vec<EffectiveStrategy> = Vec::new();
    for t in chain.iter().rev() {
        // A level's strategies replace its ancestors' with the same metric and tags; several
        // strategies of one template on the same metric (warning, critical) all stand.
        out.retain(|x| {
            !t.strategies
                .iter()
                .any(|s| x.strategy.metric == s.metric && x.strategy.tags == s.tags)
        });
        out.extend(t.strategies.iter().map(|s| EffectiveStrategy {
            template: Some(t.id),
            strategy: s.clone(),
        }));
    }
    Ok(out)
}

/// The effective strategies of `host`: the union over the host groups it belongs to of their
/// templates' strategies (each with its ancestors', overrides applied), without duplicates.
/// Expression strategies are not included: they apply by tags, see [`TenantStrategies`].
pub fn effective_strategies(
    host: &str,
    groups: &[HostGroup],
    templates: &[Template],
) -> Result<Vec<EffectiveStrategy>, StrategyError> {
    let mut out: Vec<EffectiveStrategy> = Vec::new();
    let mut seen_templates: Vec<TemplateId> = Vec::new();
    for g in groups.iter().filter(|g| g.hosts.iter().any(|h| h == host)) {
        for &t in &g.templates {
            if seen_templates.contains(&t) {
                continue;
            }
            seen_templates.push(t);
            if !templates.iter().any(|x| x.id == t) {
                return Err(StrategyError::UnknownTemplate {
                    group: g.id,
                    template: t,
                });
            }
            for e in template_strategies(templates, t)? {
                if !out.iter().any(|x| x.strategy.id == e.strategy.id) {
                    out.push(e);
                }
            }
        }
    }
    Ok(out)
}

impl TenantStrategies {
    /// Checks the whole tenant: every template resolves (no cycle, no missing parent), every
    /// group binds existing templates, every strategy parses, and nothing names another tenant.
    pub fn check(&self) -> Result<(), StrategyError> {
        let foreign = |kind, id, owner: &TenantId| StrategyError::ForeignTenant {
            kind,
            id,
            owner: owner.clone(),
            tenant: self.tenant.clone(),
        };
        for t in &self.templates {
            if t.tenant != self.tenant {
                return Err(foreign("template", t.id, &t.tenant));
            }
        }
        for g in &self.host_groups {
            if g.tenant != self.tenant {
                return Err(foreign("host group", g.id, &g.tenant));
            }
        }
        for e in &self.expressions {
            if e.tenant != self.tenant {
                return Err(foreign("expression strategy", e.strategy.id, &e.tenant));
            }
        }
        for t in &self.templates {
            template_strategies(&self.templates, t.id)?;
            for s in &t.strategies {
                s.check()?;
            }
        }
        for g in &self.host_groups {
            for &t in &g.templates {
                if !self.templates.iter().any(|x| x.id == t) {
                    return Err(StrategyError::UnknownTemplate {
                        group: g.id,
                        template: t,
                    });
                }
            }
        }
        for e in &self.expressions {
            e.strategy.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strat(id: StrategyId, metric: &str, cond: &str) -> Strategy {
        Strategy {
            id,
            metric: metric.into(),
            tags: Tags::new(),
            condition: cond.into(),
            recovery: None,
            priority: Priority::default(),
            max_alarms: 3,
            note: String::new(),
            active: None,
            for_secs: 0,
        }
    }

    fn tpl(id: TemplateId, parent: Option<TemplateId>, s: Vec<Strategy>) -> Template {
        Template {
            id,
            tenant: TenantId::new("t").unwrap(),
            name: format!("t{id}"),
            parent,
            strategies: s,
        }
    }

    fn group(id: HostGroupId, hosts: &[&str], templates: &[TemplateId]) -> HostGroup {
        HostGroup {
            id,
            tenant: TenantId::new("t").unwrap(),
            name: format!("g{id}"),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            templates: templates.to_vec(),
        }
    }

    #[test]
    fn inheritance_overrides_and_union() {
        let ts = vec![
            tpl(
                1,
                None,
                vec![
                    strat(10, "cpu", "all(#1) > 90"),
                    strat(11, "mem", "all(#1) > 1"),
                ],
            ),
            tpl(2, Some(1), vec![strat(20, "cpu", "all(#1) > 50")]),
            tpl(3, None, vec![strat(30, "disk", "all(#1) > 1")]),
        ];
        let got = template_strategies(&ts, 2).unwrap();
        let ids: Vec<_> = got.iter().map(|e| (e.template, e.strategy.id)).collect();
        assert_eq!(ids, vec![(Some(1), 11), (Some(2), 20)]);
        let gs = vec![group(1, &["h1"], &[2]), group(2, &["h1", "h2"], &[3, 2])];
        let eff = effective_strategies("h1", &gs, &ts).unwrap();
        let ids: Vec<_> = eff.iter().map(|e| e.strategy.id).collect();
        assert_eq!(ids, vec![11, 20, 30]);
        // Two strategies of one template on the same metric both stand.
        let two = vec![tpl(
            1,
            None,
            vec![
                strat(1, "cpu", "all(#1) > 80"),
                strat(2, "cpu", "all(#1) > 90"),
            ],
        )];
        assert_eq!(template_strategies(&two, 1).unwrap().len(), 2);
        let eff = effective_strategies("h2", &gs, &ts).unwrap();
        assert_eq!(eff.len(), 3);
        assert!(effective_strategies("h3", &gs, &ts).unwrap().is_empty());
    }

    #[test]
    fn cycles_and_missing_are_refused() {
        let ts = vec![
            tpl(1, Some(3), vec![]),
            tpl(2, Some(1), vec![]),
            tpl(3, Some(2), vec![]),
        ];
        let e = template_strategies(&ts, 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template inheritance cycle: 2 -> 1 -> 3 -> 2"
        );
        let ts = vec![tpl(1, Some(9), vec![])];
        assert!(template_strategies(&ts, 1)
            .unwrap_err()
            .to_string()
            .contains("parent template 9"));
        let gs = vec![group(5, &["h"], &[7])];
        let e = effective_strategies("h", &gs, &ts).unwrap_err();
        assert!(e.to_string().contains("host group 5"), "{e}");
    }

    #[test]
    fn check_names_strategy_and_position() {
        let t = TenantStrategies {
            tenant: TenantId::new("t").unwrap(),
            version: 1,
            templates: vec![tpl(1, None, vec![strat(10, "cpu", "max(#3) >> 1")])],
            ..Default::default()
        };
        let e = t.check().unwrap_err().to_string();
        assert!(
            e.contains("strategy 10") && e.contains("position 10"),
            "{e}"
        );
        let mut t = t;
        t.templates[0].strategies.clear();
        t.check().unwrap();
        t.templates[0].tenant = TenantId::new("other").unwrap();
        let e = t.check().unwrap_err().to_string();
        assert_eq!(e, "template 1 belongs to tenant other, not to t");
    }

    #[test]
    fn active_window() {
        // 1970-01-05 was a Monday; 09:30 UTC that day.
        let mon_0930 = 4 * 86_400 + 9 * 3600 + 30 * 60;
        let w = ActiveWindow {
            start_minute: 9 * 60,
            end_minute: 18 * 60,
            days: vec![0],
            time_zone: None,
        };
        assert!(w.contains(mon_0930));
        assert!(!w.contains(mon_0930 + 86_400), "Tuesday");
        assert!(!w.contains(mon_0930 - 3600), "08:30");
        let night = ActiveWindow {
            start_minute: 22 * 60,
            end_minute: 6 * 60,
            days: vec![0],
            time_zone: None,
        };
        assert!(night.contains(4 * 86_400 + 23 * 3600));
        assert!(
            night.contains(5 * 86_400 + 3600),
            "Tuesday 01:00 belongs to Monday night"
        );
        assert!(
            !night.contains(4 * 86_400 + 3600),
            "Monday 01:00 belongs to Sunday night"
        );
        // In Asia/Shanghai (UTC+8), Monday 09:00-18:00 is 01:00-10:00 UTC.
        let sh = ActiveWindow {
            time_zone: Some("Asia/Shanghai".into()),
            ..w.clone()
        };
        assert!(sh.contains(4 * 86_400 + 3600), "01:00 UTC is 09:00 there");
        assert!(!sh.contains(mon_0930 + 3600), "10:30 UTC is 18:30 there");
        assert!(
            !sh.contains(4 * 86_400 - 3600),
            "Sunday 23:00 UTC is Monday 07:00"
        );
        // Across a daylight saving change: 2026-03-29 (a Sunday) Europe/Berlin goes from UTC+1
        // to UTC+2. A daily 08:00-09:00 window is 07:00 UTC before, 06:00 UTC after.
        let berlin = ActiveWindow {
            start_minute: 8 * 60,
            end_minute: 9 * 60,
            days: vec![],
            time_zone: Some("Europe/Berlin".into()),
        };
        let sun = 1_774_742_400; // 2026-03-29T00:00:00Z; clocks go forward at 01:00 UTC
        let sat = sun - 86_400;
        assert!(berlin.contains(sat + 7 * 3600 + 1800));
        assert!(!berlin.contains(sat + 6 * 3600 + 1800));
        for day in [sun, sun + 86_400] {
            assert!(berlin.contains(day + 6 * 3600 + 1800));
            assert!(!berlin.contains(day + 7 * 3600 + 1800));
        }
        let bad = Strategy {
            active: Some(ActiveWindow {
                time_zone: Some("Mars/Olympus".into()),
                ..w.clone()
            }),
            ..strat(1, "cpu", "all(#1) > 1")
        };
        let e = bad.check().unwrap_err().to_string();
        assert!(
            e.contains("active.time_zone") && e.contains("Mars/Olympus"),
            "{e}"
        );
    }
}
