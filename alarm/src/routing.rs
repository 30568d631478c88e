//! Who hears about an event: the tenants' notification configuration, indexed for lookups,
//! subscriptions resolved to (contact, channel) receivers, and silences.

use argus_core::event::{Event, EventStatus};
use argus_core::notify::{
    Channel, Contact, ContactId, Silence, SilenceMatch, SubscriptionTarget, Team, TeamId,
    TenantNotifyConfig,
};
use argus_core::strategy::{HostGroupId, TemplateId};
use argus_core::TenantId;
use std::collections::{BTreeSet, HashMap, HashSet};

/// One tenant's configuration with lookup tables.
#[derive(Debug, Default)]
pub struct TenantIndex {
    /// The configuration as served.
    pub cfg: TenantNotifyConfig,
    contacts: HashMap<ContactId, Contact>,
    teams: HashMap<TeamId, Team>,
    groups: HashMap<HostGroupId, HashSet<String>>,
    parents: HashMap<TemplateId, Option<TemplateId>>,
}

/// Every tenant's notification configuration.
#[derive(Debug, Default)]
pub struct NotifyIndex {
    tenants: HashMap<TenantId, TenantIndex>,
}

/// One receiver of a notice: a contact on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Receiver {
    /// The contact.
    pub contact_id: ContactId,
    /// The channel.
    pub channel: ChannelKey,
}

/// A [`Channel`] that can live in ordered sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKey {
    /// Email.
    Email,
    /// Webhook.
    Webhook,
}

impl ChannelKey {
    /// `email` or `webhook`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKey::Email => "email",
            ChannelKey::Webhook => "webhook",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(ChannelKey::Email),
            "webhook" => Some(ChannelKey::Webhook),
            _ => None,
        }
    }
}

impl From<Channel> for ChannelKey {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Email => ChannelKey::Email,
            Channel::Webhook => ChannelKey::Webhook,
        }
    }
}

/// Where an event goes.
#[derive(Debug, Default, PartialEq)]
pub struct Route {
    /// Receivers, deduplicated.
    pub receivers: BTreeSet<Receiver>,
    /// For a P0/P1 problem: the team to escalate to and after how many seconds.
    pub escalation: Option<(TeamId, u64)>,
}

impl NotifyIndex {
    /// Indexes `tenants`.
    pub fn new(tenants: Vec<TenantNotifyConfig>) -> Self {
        let mut map = HashMap::new();
        for cfg in tenants {
            let ix = TenantIndex {
                contacts: cfg.contacts.iter().map(|c| (c.id, c.clone())).collect(),
                teams: cfg.teams.iter().map(|t| (t.id, t.clone())).collect(),
                groups: cfg
                    .host_groups
                    .iter()
                    .map(|(g, hs)| (*g, hs.iter().cloned().collect()))
                    .collect(),
                parents: cfg.template_parents.iter().cloned().collect(),
                cfg,
            };
            map.insert(ix.cfg.tenant.clone(), ix);
        }
        NotifyIndex { tenants: map }
    }

    /// The tenant's configuration, if any.
    pub fn tenant(&self, t: &TenantId) -> Option<&TenantIndex> {
        self.tenants.get(t)
    }
}

impl TenantIndex {
    /// A contact.
    pub fn contact(&self, id: ContactId) -> Option<&Contact> {
        self.contacts.get(&id)
    }

    /// A team.
    pub fn team(&self, id: TeamId) -> Option<&Team> {
        self.teams.get(&id)
    }

    /// True when `template` is `wanted` or inherits from it.
    fn template_within(&self, template: TemplateId, wanted: TemplateId) -> bool {
        let mut cur = Some(template);
        let mut seen = HashSet::new();
        while let Some(t) = cur {
            if t == wanted {
                return true;
            }
            if !seen.insert(t) {
                return false; // a cycle in bad data
            }
            cur = self.parents.get(&t).copied().flatten();
        }
        false
    }

    /// The receivers of `e` by the subscriptions, and its escalation for P0/P1 problems.
    pub fn route(&self, e: &Event) -> Route {
        let mut route = Route::default();
        for sub in &self.cfg.subscriptions {
            let hit = match &sub.target {
                SubscriptionTarget::Template { template_id } => e
                    .template_id
                    .is_some_and(|t| self.template_within(t, *template_id)),
                SubscriptionTarget::Strategy { strategy_id } => e.strategy_id == *strategy_id,
                SubscriptionTarget::Priority { max_priority } => e.priority <= *max_priority,
            };
            if !hit || (e.status == EventStatus::Ok && !sub.send_recovery) {
                continue;
            }
            let mut members: Vec<ContactId> = sub.contact_id.into_iter().collect();
            if let Some(team) = sub.team_id.and_then(|t| self.teams.get(&t)) {
                members.extend(&team.members);
                if let Some(next) = team.escalate_to {
                    if route.escalation.is_none() {
                        route.escalation = Some((next, team.escalate_after_secs));
                    }
                }
            }
            for cid in members {
                for ch in &sub.channels {
                    let ch = ChannelKey::from(*ch);
                    if self.contacts.get(&cid).is_some_and(|c| has_channel(c, ch)) {
                        route.receivers.insert(Receiver {
                            contact_id: cid,
                            channel: ch,
                        });
                    }
                }
            }
        }
        if e.status != EventStatus::Problem || e.priority.level() > 1 {
            route.escalation = None;
        }
        route
    }

    /// Every receiver of a team's members, on every channel they have (escalation).
    pub fn team_receivers(&self, team: TeamId) -> BTreeSet<Receiver> {
        let mut out = BTreeSet::new();
        if let Some(t) = self.teams.get(&team) {
            for cid in &t.members {
                if let Some(c) = self.contacts.get(cid) {
                    for ch in [ChannelKey::Email, ChannelKey::Webhook] {
                        if has_channel(c, ch) {
                            out.insert(Receiver {
                                contact_id: *cid,
                                channel: ch,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The silence that covers `e` at `now`, if any.
    pub fn silenced_by(&self, e: &Event, now: i64) -> Option<&Silence> {
        self.cfg
            .silences
            .iter()
            .find(|s| silence_active(s, now) && self.silence_matches(&s.matcher, e))
    }

    fn silence_matches(&self, m: &SilenceMatch, e: &Event) -> bool {
        let s = &e.series;
        m.endpoint.as_ref().is_none_or(|h| *h == s.endpoint)
            && m.metric.as_ref().is_none_or(|x| *x == s.metric)
            && m.strategy_id.is_none_or(|x| x == e.strategy_id)
            && m.host_group_id.is_none_or(|g| {
                self.groups
                    .get(&g)
                    .is_some_and(|hosts| hosts.contains(&s.endpoint))
            })
            && s.tags.contains_all(&m.tags)
    }
}

/// True when the contact can take `ch`.
pub fn has_channel(c: &Contact, ch: ChannelKey) -> bool {
    match ch {
        ChannelKey::Email => c.email.as_deref().is_some_and(|e| !e.is_empty()),
        ChannelKey::Webhook => c.webhook_url.as_deref().is_some_and(|u| !u.is_empty()),
    }
}

/// True when the silence's window covers `now`. A recurring window repeats every
/// `repeat_every_secs` from `starts_at`, each time lasting `ends_at - starts_at`.
pub fn silence_active(s: &Silence, now: i64) -> bool {
    if now < s.starts_at {
        return false;
    }
    match s.repeat_every_secs {
        Some(every) if every > 0 => (now - s.starts_at) % every < (s.ends_at - s.starts_at),
        _ => now < s.ends_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::notify::Subscription;
    use argus_core::strategy::Priority;
    use argus_core::{SeriesKey, Tags};

    fn event(endpoint: &str, prio: u8, status: EventStatus) -> Event {
        let t = TenantId::new("acme").unwrap();
        let series = SeriesKey::new(
            t.clone(),
            endpoint,
            "cpu.idle",
            Tags::parse_falcon("dc=x").unwrap(),
        );
        Event {
            id: argus_core::event::EventId::of(7, &series),
            tenant: t,
            status,
            occurrence: 1,
            strategy_id: 7,
            template_id: Some(3),
            series,
            priority: Priority::new(prio).unwrap(),
            condition: "all(#3) > 90".into(),
            value: 95.0,
            timestamp: 100,
            alarm_count: 1,
            note: String::new(),
            region: "r1".into(),
            rule: None,
        }
    }

    fn cfg() -> TenantNotifyConfig {
        let t = TenantId::new("acme").unwrap();
        let contact = |id, email: Option<&str>, hook: Option<&str>| Contact {
            id,
            tenant: t.clone(),
            name: format!("c{id}"),
            email: email.map(Into::into),
            webhook_url: hook.map(Into::into),
            webhook_secret: None,
            webhook_alertmanager: false,
        };
        TenantNotifyConfig {
            tenant: t.clone(),
            version: 1,
            contacts: vec![
                contact(1, Some("a@x"), None),
                contact(2, None, Some("http://h")),
                contact(3, Some("c@x"), None),
            ],
            teams: vec![
                Team {
                    id: 10,
                    tenant: t.clone(),
                    name: "l1".into(),
                    members: vec![1, 2],
                    escalate_to: Some(11),
                    escalate_after_secs: 60,
                },
                Team {
                    id: 11,
                    tenant: t.clone(),
                    name: "l2".into(),
                    members: vec![3],
                    escalate_to: None,
                    escalate_after_secs: 60,
                },
            ],
            subscriptions: vec![Subscription {
                id: 1,
                tenant: t.clone(),
                target: SubscriptionTarget::Template { template_id: 1 },
                team_id: Some(10),
                contact_id: None,
                channels: vec![Channel::Email, Channel::Webhook],
                send_recovery: false,
            }],
            silences: vec![Silence {
                id: 1,
                tenant: t,
                matcher: SilenceMatch {
                    host_group_id: Some(5),
                    ..Default::default()
                },
                starts_at: 0,
                ends_at: 10,
                repeat_every_secs: Some(100),
                author: "bob".into(),
                reason: "maintenance".into(),
            }],
            host_groups: vec![(5, vec!["db-1".into()])],
            template_parents: vec![(3, Some(2)), (2, Some(1)), (1, None)],
        }
    }

    #[test]
    fn routes_through_inherited_templates_and_teams() {
        let ix = NotifyIndex::new(vec![cfg()]);
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let r = t.route(&event("web-1", 1, EventStatus::Problem));
        let got: Vec<_> = r
            .receivers
            .iter()
            .map(|r| (r.contact_id, r.channel))
            .collect();
        assert_eq!(got, vec![(1, ChannelKey::Email), (2, ChannelKey::Webhook)]);
        assert_eq!(r.escalation, Some((11, 60)));
        assert_eq!(
            t.route(&event("web-1", 3, EventStatus::Problem)).escalation,
            None
        );
        assert!(
            t.route(&event("web-1", 1, EventStatus::Ok))
                .receivers
                .is_empty(),
            "no recovery subscribed"
        );
        assert_eq!(t.team_receivers(11).len(), 1);
    }

    #[test]
    fn routes_by_strategy_and_skips_missing_channels() {
        let mut c = cfg();
        c.subscriptions.push(Subscription {
            id: 2,
            tenant: c.tenant.clone(),
            target: SubscriptionTarget::Strategy { strategy_id: 7 },
            team_id: None,
            contact_id: Some(3),
            // Contact 3 has no webhook: only its email is used.
            channels: vec![Channel::Email, Channel::Webhook],
            send_recovery: true,
        });
        let ix = NotifyIndex::new(vec![c]);
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let mut e = event("web-1", 2, EventStatus::Ok);
        e.template_id = None;
        let got: Vec<_> = t.route(&e).receivers.into_iter().collect();
        assert_eq!(
            got,
            vec![Receiver {
                contact_id: 3,
                channel: ChannelKey::Email
            }]
        );
        e.strategy_id = 8;
        assert!(t.route(&e).receivers.is_empty());
        assert!(ix.tenant(&TenantId::new("other").unwrap()).is_none());
    }

    #[test]
    fn recurring_silence_by_host_group() {
        let ix = NotifyIndex::new(vec![cfg()]);
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let e = event("db-1", 1, EventStatus::Problem);
        assert!(t.silenced_by(&e, 5).is_some());
        assert!(t.silenced_by(&e, 15).is_none());
        assert!(t.silenced_by(&e, 205).is_some(), "the window recurs");
        assert!(t
            .silenced_by(&event("web-1", 1, EventStatus::Problem), 5)
            .is_none());
    }
}
