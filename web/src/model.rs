//! Assembles the core model (`TenantStrategies`, `TenantNotifyConfig`, `AgentRemoteConfig`)
//! from the stored documents: what the configuration center serves and the console shows.

use crate::api::kinds::{
    ContactIn, HostGroupIn, Kind, RuleIn, SilenceIn, SubscriptionIn, TeamIn, TemplateIn,
};
use crate::db::Db;
use crate::store;
use argus_core::agentconf::{AgentGroup, AgentRemoteConfig};
use argus_core::hostrule::{any_matches, HostFacts};
use argus_core::http::ApiError;
use argus_core::notify::{Contact, Silence, Subscription, Team, TenantNotifyConfig};
use argus_core::strategy::{ExpressionStrategy, HostGroup, Template, TenantStrategies};
use argus_core::{Tags, TenantId};

fn doc<T: serde::de::DeserializeOwned>(o: &store::Object) -> Result<T, ApiError> {
    serde_json::from_value(o.body.clone())
        .map_err(|e| ApiError::internal(format!("stored object {} is malformed: {e}", o.id)))
}

async fn tenant_version(db: &Db, tenant: &str) -> Result<u64, ApiError> {
    Ok(store::tenants(db)
        .await?
        .into_iter()
        .find(|t| t.id == tenant)
        .map(|t| t.version as u64)
        .unwrap_or(0))
}

/// The hosts of `tenant` as membership rules see them: name, and the IP address and tags of
/// their last heartbeat. Only the tenant's own hosts: a rule never sees another tenant's.
pub(crate) async fn known_hosts(db: &Db, tenant: &str) -> Result<Vec<HostFacts>, ApiError> {
    Ok(store::list(db, tenant, Kind::Host.path())
        .await?
        .into_iter()
        .filter_map(|o| {
            let name = o.name?;
            let hb = o.body.get("heartbeat");
            let ip = hb
                .and_then(|h| h.get("ip"))
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok());
            let tags = hb
                .and_then(|h| h.get("tags"))
                .and_then(|t| serde_json::from_value::<Tags>(t.clone()).ok())
                .unwrap_or_default();
            Some(HostFacts { name, ip, tags })
        })
        .collect())
}

/// The members of `g`: its listed hosts, then the known hosts one of its rules matches (by id),
/// each once.
pub(crate) fn members(g: &HostGroupIn, hosts: &[HostFacts]) -> Vec<String> {
    let mut out = g.hosts.clone();
    if g.rules.is_empty() {
        return out;
    }
    for h in hosts {
        if any_matches(&g.rules, h) && !out.contains(&h.name) {
            out.push(h.name.clone());
        }
    }
    out
}

/// The templates (with their strategies), host groups and expression strategies of `tenant`.
pub async fn tenant_strategies(db: &Db, tenant: &TenantId) -> Result<TenantStrategies, ApiError> {
    let t = tenant.as_str();
    let mut templates: Vec<Template> = Vec::new();
    for o in store::list(db, t, Kind::Template.path()).await? {
        let ti: TemplateIn = doc(&o)?;
        templates.push(Template {
            id: o.id as u64,
            tenant: tenant.clone(),
            name: ti.name,
            parent: ti.parent.map(|p| p as u64),
            strategies: vec![],
        });
    }
    for o in store::list(db, t, Kind::Strategy.path()).await? {
        let r: RuleIn = doc(&o)?;
        if let Some(tpl) = templates
            .iter_mut()
            .find(|x| Some(x.id as i64) == r.template_id)
        {
            tpl.strategies.push(r.strategy(o.id));
        }
    }
    let known = known_hosts(db, t).await?;
    let mut host_groups = Vec::new();
    for o in store::list(db, t, Kind::HostGroup.path()).await? {
        let g: HostGroupIn = doc(&o)?;
        host_groups.push(HostGroup {
            id: o.id as u64,
            tenant: tenant.clone(),
            hosts: members(&g, &known),
            name: g.name,
            templates: g.templates.into_iter().map(|x| x as u64).collect(),
        });
    }
    let mut expressions = Vec::new();
    for o in store::list(db, t, Kind::Expression.path()).await? {
        let r: RuleIn = doc(&o)?;
        expressions.push(ExpressionStrategy {
            tenant: tenant.clone(),
            strategy: r.strategy(o.id),
        });
    }
    // Registered hosts, for the judges' "host down" event.
    let hosts = known.into_iter().map(|h| h.name).collect();
    Ok(TenantStrategies {
        tenant: tenant.clone(),
        version: tenant_version(db, t).await?,
        templates,
        host_groups,
        expressions,
        hosts,
    })
}

/// Contacts (with secrets), teams, subscriptions, silences, group memberships and template
/// parents of `tenant`.
pub async fn tenant_notify(db: &Db, tenant: &TenantId) -> Result<TenantNotifyConfig, ApiError> {
    let t = tenant.as_str();
    let mut out = TenantNotifyConfig {
        tenant: tenant.clone(),
        version: tenant_version(db, t).await?,
        ..Default::default()
    };
    for o in store::list(db, t, Kind::Contact.path()).await? {
        let c: ContactIn = doc(&o)?;
        out.contacts.push(Contact {
            id: o.id as u64,
            tenant: tenant.clone(),
            name: c.name,
            email: c.email,
            webhook_url: c.webhook_url,
            webhook_secret: c.webhook_secret,
            webhook_alertmanager: c.webhook_alertmanager,
            channels: c.channels.unwrap_or_default(),
        });
    }
    for o in store::list(db, t, Kind::Team.path()).await? {
        let m: TeamIn = doc(&o)?;
        out.teams.push(Team {
            id: o.id as u64,
            tenant: tenant.clone(),
            name: m.name,
            members: m.members.into_iter().map(|x| x as u64).collect(),
            escalate_to: m.escalate_to.map(|x| x as u64),
            escalate_after_secs: m.escalate_after_secs,
        });
    }
    for o in store::list(db, t, Kind::Subscription.path()).await? {
        let s: SubscriptionIn = doc(&o)?;
        out.subscriptions.push(Subscription {
            id: o.id as u64,
            tenant: tenant.clone(),
            target: s.target,
            team_id: s.team_id.map(|x| x as u64),
            contact_id: s.contact_id.map(|x| x as u64),
            channels: s.channels,
            send_recovery: s.send_recovery,
        });
    }
    for o in store::list(db, t, Kind::Silence.path()).await? {
        let s: SilenceIn = doc(&o)?;
        out.silences.push(Silence {
            id: o.id as u64,
            tenant: tenant.clone(),
            matcher: s.matcher,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            repeat_every_secs: s.repeat_every_secs,
            recurrence: s.recurrence,
            author: s.author,
            reason: s.reason,
        });
    }
    let known = known_hosts(db, t).await?;
    for o in store::list(db, t, Kind::HostGroup.path()).await? {
        let g: HostGroupIn = doc(&o)?;
        out.host_groups.push((o.id as u64, members(&g, &known)));
        out.host_group_names.push((o.id as u64, g.name));
    }
    for o in store::list(db, t, Kind::Template.path()).await? {
        let ti: TemplateIn = doc(&o)?;
        out.template_parents
            .push((o.id as u64, ti.parent.map(|p| p as u64)));
    }
    out.routing = crate::api::routes::load(db, t).await?;
    out.email_templates = crate::api::email_templates::load(db, t).await?;
    Ok(out)
}

/// The agent sections of `tenant`'s host groups, in id order, with their members (listed and
/// by rule).
pub async fn agent_groups(db: &Db, tenant: &TenantId) -> Result<Vec<AgentGroup>, ApiError> {
    let mut out = Vec::new();
    let mut known = None;
    for o in store::list(db, tenant.as_str(), Kind::HostGroup.path()).await? {
        let g: HostGroupIn = doc(&o)?;
        // Only a group with an agent section needs its rules expanded here, and the hosts are
        // read once, on the first such group.
        let hosts = if g.rules.is_empty() || g.agent == AgentRemoteConfig::default() {
            g.hosts.clone()
        } else {
            if known.is_none() {
                known = Some(known_hosts(db, tenant.as_str()).await?);
            }
            members(&g, known.as_deref().unwrap_or_default())
        };
        out.push(AgentGroup {
            hosts,
            agent: g.agent,
        });
    }
    Ok(out)
}

/// The agent configuration of `host`: the union over its host groups of their plugins, log
/// rules and probes (first by name wins), the smallest non-zero step, and a content version
/// ([`argus_core::agentconf::effective_config`], which transfers use too).
pub async fn agent_config(
    db: &Db,
    tenant: &TenantId,
    host: &str,
) -> Result<AgentRemoteConfig, ApiError> {
    let groups = agent_groups(db, tenant).await?;
    Ok(argus_core::agentconf::effective_config(&groups, host))
}

/// The recording and alert rules of `tenant`, by id.
pub async fn tenant_rules(
    db: &Db,
    tenant: &TenantId,
) -> Result<argus_core::rules::TenantRules, ApiError> {
    let t = tenant.as_str();
    let mut rules = argus_core::rules::TenantRules::default();
    for o in store::list(db, t, Kind::RecordingRule.path()).await? {
        let r: crate::rules::RecordingRuleIn = doc(&o)?;
        rules.recording.push(r.rule(o.id));
    }
    for o in store::list(db, t, Kind::AlertRule.path()).await? {
        let r: crate::rules::AlertRuleIn = doc(&o)?;
        rules.alerting.push(r.rule(o.id));
    }
    Ok(rules)
}
