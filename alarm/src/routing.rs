//! Who hears about an event: the tenants' notification configuration, indexed for lookups,
//! subscriptions resolved to (contact, channel) receivers, and silences.

use argus_core::event::{Event, EventStatus};
use argus_core::notify::{
    Channel, Contact, ContactId, Silence, SilenceMatch, SubscriptionTarget, Team, TeamId,
    TenantNotifyConfig,
};
use argus_core::route::{all_match, Labels};
use argus_core::strategy::{HostGroupId, TemplateId};
use argus_core::TenantId;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// One tenant's configuration with lookup tables.
#[derive(Debug, Default)]
pub struct TenantIndex {
    /// The configuration as served.
    pub cfg: TenantNotifyConfig,
    contacts: HashMap<ContactId, Contact>,
    teams: HashMap<TeamId, Team>,
    groups: HashMap<HostGroupId, HashSet<String>>,
    group_names: HashMap<HostGroupId, String>,
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

/// A channel as receivers and deliveries key it ([`Channel`] orders and parses itself).
pub type ChannelKey = Channel;

/// How a routed receiver's notices are grouped and timed (from its route in the tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// The group: route position and the values of its `group_by` labels.
    pub key: String,
    /// After a group's first message (sent at once), how long later notices gather (ms).
    pub wait_ms: u64,
    /// Between later messages of the group (ms).
    pub interval_ms: u64,
    /// Reminders of an open, unacknowledged problem (ms).
    pub repeat_ms: u64,
}

/// Where an event goes.
#[derive(Debug, Default, PartialEq)]
pub struct Route {
    /// Receivers, deduplicated; a receiver reached by the routing tree carries its route's
    /// grouping, one reached by a subscription only gets the service's defaults (None).
    pub receivers: BTreeMap<Receiver, Option<Grouping>>,
    /// For a problem: the team to escalate to and after how many seconds (a subscription's
    /// team escalates P0/P1 only; a team the routing tree reaches, every priority).
    pub escalation: Option<(TeamId, u64)>,
    /// Routes reached but muted by their time intervals now, and why: they send nothing.
    pub muted: Vec<String>,
    /// The shortest `repeat_interval` of the routes reached, muted ones included, so an open
    /// problem is reminded once a mute ends.
    pub repeat_ms: Option<u64>,
    /// The shortest `group_interval` of the routes reached: how often a problem held back by
    /// muted routes is looked at again (as Alertmanager flushes a group).
    pub group_interval_ms: Option<u64>,
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
                group_names: cfg.host_group_names.iter().cloned().collect(),
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

    /// The receivers of `e` at Unix time `now` by the subscriptions and the routing tree, and
    /// its escalation.
    pub fn route(&self, e: &Event, now: i64) -> Route {
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
                    let ch = *ch;
                    if self.contacts.get(&cid).is_some_and(|c| has_channel(c, ch)) {
                        route
                            .receivers
                            .entry(Receiver {
                                contact_id: cid,
                                channel: ch,
                            })
                            .or_insert(None);
                    }
                }
            }
        }
        let mut tree_escalation = None;
        if let Some(tree) = &self.cfg.routing {
            let labels = self.labels(e);
            for reached in tree.reach(&labels) {
                for (slot, ms) in [
                    (&mut route.repeat_ms, reached.repeat_interval_ms),
                    (&mut route.group_interval_ms, reached.group_interval_ms),
                ] {
                    *slot = Some(slot.map_or(ms, |x| x.min(ms)));
                }
                // A muted route still matched (the walk stopped there) but sends nothing.
                if let Some(why) = tree.muted(&reached, now) {
                    route.muted.push(why);
                    continue;
                }
                let grouping = Grouping {
                    // A recovery is its own message, as a subscription's is.
                    key: format!("{}|{}", reached.group_key(&labels), e.status.as_str()),
                    wait_ms: reached.group_wait_ms,
                    interval_ms: reached.group_interval_ms,
                    repeat_ms: reached.repeat_interval_ms,
                };
                let (members, team) = self.named_receiver(&reached.receiver);
                if let Some(next) =
                    team.and_then(|t| t.escalate_to.map(|n| (n, t.escalate_after_secs)))
                {
                    tree_escalation.get_or_insert(next);
                }
                for cid in members {
                    for r in self.contact_receivers(cid) {
                        // The first route reaching a receiver decides its grouping.
                        let slot = route.receivers.entry(r).or_insert(None);
                        if slot.is_none() {
                            *slot = Some(grouping.clone());
                        }
                    }
                }
            }
        }
        route.escalation = match () {
            _ if e.status != EventStatus::Problem => None,
            _ if e.priority.level() <= 1 => route.escalation.or(tree_escalation),
            _ => tree_escalation,
        };
        route
    }

    /// Every receiver of a team's members, on every channel they have (escalation).
    pub fn team_receivers(&self, team: TeamId) -> BTreeSet<Receiver> {
        let mut out = BTreeSet::new();
        if let Some(t) = self.teams.get(&team) {
            for cid in &t.members {
                out.extend(self.contact_receivers(*cid));
            }
        }
        out
    }

    /// A contact on every channel it has.
    fn contact_receivers(&self, cid: ContactId) -> Vec<Receiver> {
        let Some(c) = self.contacts.get(&cid) else {
            return vec![];
        };
        Channel::ALL
            .into_iter()
            .filter(|ch| has_channel(c, *ch))
            .map(|channel| Receiver {
                contact_id: cid,
                channel,
            })
            .collect()
    }

    /// A route's receiver name: a team's members (and the team), else a contact of that name.
    fn named_receiver(&self, name: &str) -> (Vec<ContactId>, Option<&Team>) {
        if let Some(t) = self.teams.values().find(|t| t.name == name) {
            return (t.members.clone(), Some(t));
        }
        let c = self
            .contacts
            .values()
            .filter(|c| c.name == name)
            .map(|c| c.id);
        (c.collect(), None)
    }

    /// The labels routes, silences and inhibit rules see for `e`: its tags, then `endpoint`,
    /// `metric`, `priority` (`P0`…), `region`, `hostgroup` (the endpoint's groups' names,
    /// sorted, comma-separated), `strategy` (id) and `alertname` (the metric; for an alert
    /// rule's event its labels, with `alertname` and `rule` its id).
    pub fn labels(&self, e: &Event) -> Labels {
        let mut l: Labels = e
            .series
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(r) = &e.rule {
            l.extend(r.labels.clone());
            l.insert("alertname".into(), r.alert.clone());
            l.insert("rule".into(), r.id.to_string());
        } else {
            l.insert("alertname".into(), e.series.metric.clone());
            l.insert("strategy".into(), e.strategy_id.to_string());
        }
        l.insert("endpoint".into(), e.series.endpoint.clone());
        l.insert("metric".into(), e.series.metric.clone());
        l.insert("priority".into(), format!("P{}", e.priority.level()));
        if !e.region.is_empty() {
            l.insert("region".into(), e.region.clone());
        }
        let mut groups: Vec<&str> = self
            .groups
            .iter()
            .filter(|(_, hosts)| hosts.contains(&e.series.endpoint))
            .filter_map(|(g, _)| self.group_names.get(g).map(String::as_str))
            .collect();
        if !groups.is_empty() {
            groups.sort_unstable();
            l.insert("hostgroup".into(), groups.join(","));
        }
        l.retain(|_, v| !v.is_empty());
        l
    }

    /// Why `e` is inhibited, if it is: by an open problem among `open` (event id, labels) that
    /// an inhibit rule names as its source, or — built in — by its host being down (an open
    /// `agent.alive` problem of the same endpoint).
    pub fn inhibited_by(&self, e: &Event, open: &[(String, Labels)]) -> Option<String> {
        if e.series.metric == HOST_DOWN_METRIC {
            return None;
        }
        let me = self.labels(e);
        for (id, src) in open {
            if *id == e.id.0 {
                continue;
            }
            if src.get("metric").map(String::as_str) == Some(HOST_DOWN_METRIC)
                && src.get("endpoint") == Some(&e.series.endpoint)
            {
                return Some(format!(
                    "inhibited: host {} is down ({id})",
                    e.series.endpoint
                ));
            }
            if let Some(rules) = self.cfg.routing.as_ref().map(|r| &r.inhibit_rules) {
                if let Some(i) = rules.iter().position(|r| r.inhibits(src, &me)) {
                    return Some(format!("inhibited by {id} (inhibit rule {i})"));
                }
            }
        }
        None
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
        if !m.matchers.is_empty() && !all_match(&m.matchers, &self.labels(e)) {
            return false;
        }
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

/// The metric whose open problem means the host is down: it inhibits the host's other alerts.
pub const HOST_DOWN_METRIC: &str = "agent.alive";

/// True when the contact can take `ch`.
pub fn has_channel(c: &Contact, ch: ChannelKey) -> bool {
    match ch {
        ChannelKey::Email => c.email.as_deref().is_some_and(|e| !e.is_empty()),
        ChannelKey::Webhook => c.webhook_url.as_deref().is_some_and(|u| !u.is_empty()),
        chat => c.chat(chat).is_some(),
    }
}

/// True when the silence's window covers `now`. A recurring window repeats every
/// `repeat_every_secs` from `starts_at`, each time lasting `ends_at - starts_at`.
/// A window with a `recurrence` covers its weekdays and hours (in its time zone) between
/// `starts_at` and `ends_at`.
pub fn silence_active(s: &Silence, now: i64) -> bool {
    if now < s.starts_at {
        return false;
    }
    if let Some(r) = &s.recurrence {
        return now < s.ends_at && r.covers(now);
    }
    match s.repeat_every_secs {
        // In i128: stored windows predate the API's bounds, and must not overflow.
        Some(every) if every > 0 => {
            let (now, start, end) = (
                i128::from(now),
                i128::from(s.starts_at),
                i128::from(s.ends_at),
            );
            (now - start) % i128::from(every) < end - start
        }
        _ => now < s.ends_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::notify::Subscription;

    #[test]
    fn silences_at_the_ends_of_time_neither_overflow_nor_misfire() {
        let mut s = Silence {
            id: 1,
            tenant: TenantId::new("acme").unwrap(),
            matcher: Default::default(),
            starts_at: i64::MIN,
            ends_at: i64::MAX,
            repeat_every_secs: Some(i64::MAX),
            recurrence: None,
            author: "a".into(),
            reason: "r".into(),
        };
        assert!(silence_active(&s, 0));
        assert!(silence_active(&s, i64::MAX - 1));
        s.repeat_every_secs = Some(100);
        s.ends_at = i64::MIN + 50;
        // i64::MIN is ...808, so 0 is 8 seconds into a period: inside the 50 s window.
        assert!(silence_active(&s, 0));
        assert!(!silence_active(&s, 50));
    }
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
            channels: vec![],
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
                recurrence: None,
                author: "bob".into(),
                reason: "maintenance".into(),
            }],
            host_groups: vec![(5, vec!["db-1".into()])],
            template_parents: vec![(3, Some(2)), (2, Some(1)), (1, None)],
            host_group_names: vec![(5, "db".into())],
            routing: None,
            email_templates: None,
        }
    }

    #[test]
    fn routes_through_inherited_templates_and_teams() {
        let ix = NotifyIndex::new(vec![cfg()]);
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let r = t.route(&event("web-1", 1, EventStatus::Problem), 0);
        let got: Vec<_> = r
            .receivers
            .keys()
            .map(|r| (r.contact_id, r.channel))
            .collect();
        assert_eq!(got, vec![(1, ChannelKey::Email), (2, ChannelKey::Webhook)]);
        assert_eq!(r.escalation, Some((11, 60)));
        assert_eq!(
            t.route(&event("web-1", 3, EventStatus::Problem), 0)
                .escalation,
            None
        );
        assert!(
            t.route(&event("web-1", 1, EventStatus::Ok), 0)
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
        let got: Vec<_> = t.route(&e, 0).receivers.into_keys().collect();
        assert_eq!(
            got,
            vec![Receiver {
                contact_id: 3,
                channel: ChannelKey::Email
            }]
        );
        e.strategy_id = 8;
        assert!(t.route(&e, 0).receivers.is_empty());
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

    fn with_tree(yaml_json: serde_json::Value) -> NotifyIndex {
        let mut c = cfg();
        c.subscriptions.clear();
        c.routing = Some(argus_core::route::RoutingConfig::from_alertmanager(&yaml_json).unwrap());
        NotifyIndex::new(vec![c])
    }

    #[test]
    fn event_labels_carry_tags_groups_and_priority() {
        let ix = NotifyIndex::new(vec![cfg()]);
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let l = t.labels(&event("db-1", 1, EventStatus::Problem));
        let want = [
            ("alertname", "cpu.idle"),
            ("dc", "x"),
            ("endpoint", "db-1"),
            ("hostgroup", "db"),
            ("metric", "cpu.idle"),
            ("priority", "P1"),
            ("region", "r1"),
            ("strategy", "7"),
        ];
        let want: Labels = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(l, want);
    }

    #[test]
    fn tree_routes_to_teams_and_contacts_by_name_with_grouping() {
        let ix = with_tree(serde_json::json!({"route": {
        "receiver": "c3", "group_by": ["endpoint"], "repeat_interval": "10m",
        "routes": [
            {"matchers": ["priority=~\"P[01]\"", "hostgroup=~\"(.*,)?db(,.*)?\""], "receiver": "l1", "group_wait": "2s", "continue": true},
            {"matchers": ["dc!=y"], "receiver": "c2"}
        ]}}));
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let r = t.route(&event("db-1", 1, EventStatus::Problem), 0);
        let got: Vec<_> = r
            .receivers
            .iter()
            .map(|(r, g)| (r.contact_id, r.channel, g.clone().unwrap()))
            .collect();
        assert_eq!(
            got.len(),
            2,
            "team l1 (contacts 1, 2) reached; c2 is contact 2 again: {got:?}"
        );
        assert_eq!(got[0].2.key, "route:0.0|endpoint=db-1|PROBLEM");
        assert_eq!(got[0].2.wait_ms, 2000);
        assert_eq!(got[0].2.repeat_ms, 600_000);
        assert_eq!(r.escalation, Some((11, 60)), "team l1 escalates");
        // Not in group db, P3: only c2, by the second route.
        let r = t.route(&event("web-1", 3, EventStatus::Problem), 0);
        let got: Vec<_> = r.receivers.keys().map(|r| r.contact_id).collect();
        assert_eq!(got, [2]);
        assert_eq!(r.escalation, None, "a contact does not escalate");
        // A team reached by a route escalates whatever the priority.
        let r = t.route(&event("db-1", 3, EventStatus::Problem), 0);
        assert!(r.receivers.is_empty() || r.escalation.is_none());
        let ix2 = with_tree(serde_json::json!({"route": {"receiver": "l1"}}));
        let t2 = ix2.tenant(&TenantId::new("acme").unwrap()).unwrap();
        assert_eq!(
            t2.route(&event("web-1", 4, EventStatus::Problem), 0)
                .escalation,
            Some((11, 60))
        );
        assert_eq!(
            t2.route(&event("web-1", 4, EventStatus::Ok), 0).escalation,
            None
        );
    }

    #[test]
    fn a_muted_route_stops_the_walk_sends_nothing_and_keeps_its_reminders() {
        let ix = with_tree(serde_json::json!({
            "route": {"receiver": "c3", "repeat_interval": "1h", "routes": [
                {"matchers": ["dc=x"], "receiver": "l1", "repeat_interval": "10m", "mute_time_intervals": ["weekend"]},
                {"matchers": ["dc=x"], "receiver": "c2"}
            ]},
            "time_intervals": [{"name": "weekend", "time_intervals": [{"weekdays": ["saturday", "sunday"], "location": "Asia/Shanghai"}]}]
        }));
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let e = event("web-1", 2, EventStatus::Problem);
        // Saturday 2026-03-07 00:30 in Shanghai is Friday 16:30 UTC.
        let sat = chrono_ts("2026-03-06T16:30:00Z");
        let r = t.route(&e, sat);
        assert!(
            r.receivers.is_empty(),
            "muted, and the sibling is not tried: {r:?}"
        );
        assert_eq!(r.escalation, None, "a muted team does not escalate");
        assert_eq!(r.repeat_ms, Some(600_000));
        assert_eq!(r.group_interval_ms, Some(300_000), "Alertmanager's default");
        assert!(r.muted[0].contains("\"weekend\""), "{:?}", r.muted);
        let r = t.route(&e, sat - 3600);
        let got: BTreeSet<_> = r.receivers.keys().map(|r| r.contact_id).collect();
        assert_eq!(got, BTreeSet::from([1, 2]), "Friday: team l1");
        assert!(r.muted.is_empty());
    }

    #[test]
    fn host_down_and_inhibit_rules() {
        let ix = with_tree(serde_json::json!({"route": {"receiver": "c3"},
            "inhibit_rules": [{"source_matchers": ["priority=P0"], "target_matchers": ["priority=~\"P[2-5]\""], "equal": ["dc"]}]}));
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let mut down = event("web-1", 0, EventStatus::Problem);
        down.series.metric = HOST_DOWN_METRIC.into();
        down.id = argus_core::event::EventId("down".into());
        let open = vec![(down.id.0.clone(), t.labels(&down))];
        let why = t
            .inhibited_by(&event("web-1", 1, EventStatus::Problem), &open)
            .unwrap();
        assert!(why.contains("host web-1 is down"), "{why}");
        assert!(
            t.inhibited_by(&down, &open).is_none(),
            "host-down itself is not inhibited"
        );
        // The P0 is a source for P2..P5 of the same dc only.
        assert!(t
            .inhibited_by(&event("db-1", 3, EventStatus::Problem), &open)
            .unwrap()
            .contains("inhibit rule 0"));
        assert!(t
            .inhibited_by(&event("db-1", 1, EventStatus::Problem), &open)
            .is_none());
        let mut other_dc = event("db-1", 3, EventStatus::Problem);
        other_dc.series.tags = Tags::parse_falcon("dc=y").unwrap();
        assert!(t.inhibited_by(&other_dc, &open).is_none());
    }

    #[test]
    fn silence_by_regex_and_negation_in_a_zone() {
        let mut c = cfg();
        c.silences = vec![Silence {
            id: 2,
            tenant: c.tenant.clone(),
            matcher: SilenceMatch {
                matchers: argus_core::route::Matcher::parse_list(r#"endpoint=~"db-.*", dc!="y""#)
                    .unwrap(),
                ..Default::default()
            },
            starts_at: 0,
            ends_at: i64::MAX,
            repeat_every_secs: None,
            // Every day 01:00-03:00 in New York (UTC-5 in winter, UTC-4 in summer).
            recurrence: Some(argus_core::route::Recurrence {
                time_zone: "America/New_York".into(),
                weekdays: vec![],
                start: "01:00".into(),
                end: "03:00".into(),
            }),
            author: "bob".into(),
            reason: "backups".into(),
        }];
        let ix = NotifyIndex::new(vec![c]);
        let t = ix.tenant(&TenantId::new("acme").unwrap()).unwrap();
        let e = event("db-7", 1, EventStatus::Problem);
        // New York leaves DST on 2026-11-01: 01:00 local is 05:00Z before, 06:00Z after.
        let utc = |s: &str| chrono_ts(s);
        assert!(
            t.silenced_by(&e, utc("2026-10-31T05:30:00Z")).is_some(),
            "01:30 EDT"
        );
        assert!(
            t.silenced_by(&e, utc("2026-10-31T07:30:00Z")).is_none(),
            "03:30 EDT"
        );
        assert!(
            t.silenced_by(&e, utc("2026-11-02T06:30:00Z")).is_some(),
            "01:30 EST"
        );
        assert!(
            t.silenced_by(&e, utc("2026-11-02T05:30:00Z")).is_none(),
            "00:30 EST"
        );
        assert!(t
            .silenced_by(
                &event("web-1", 1, EventStatus::Problem),
                utc("2026-10-31T05:30:00Z")
            )
            .is_none());
        let mut y = event("db-7", 1, EventStatus::Problem);
        y.series.tags = Tags::parse_falcon("dc=y").unwrap();
        assert!(
            t.silenced_by(&y, utc("2026-10-31T05:30:00Z")).is_none(),
            "negation"
        );
    }

    /// Unix seconds of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SSZ`.
    fn chrono_ts(s: &str) -> i64 {
        let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
        let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
        // Days from civil (Howard Hinnant's algorithm).
        let y2 = if m <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
    }
}
