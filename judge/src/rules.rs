//! Compiled strategies: every tenant's effective strategies, parsed once and indexed by host and
//! metric so that a new series finds its strategies with two lookups.

use argus_core::condition::{self, Condition, Need};
use argus_core::strategy::{
    effective_strategies, Priority, Strategy, StrategyError, TemplateId, TenantStrategies,
    HOST_DOWN_STRATEGY,
};
use argus_core::{SeriesKey, TenantId};
use std::collections::HashMap;
use std::sync::Arc;

/// One strategy, ready to evaluate.
#[derive(Debug)]
pub struct Compiled {
    /// The strategy as configured.
    pub strategy: Strategy,
    /// The template it came from (`None` for an expression strategy).
    pub template: Option<TemplateId>,
    /// The parsed condition.
    pub cond: Condition,
    /// The parsed recovery condition (hysteresis).
    pub recovery: Option<Condition>,
    /// How many points of its own series evaluation needs.
    pub window: usize,
    /// What evaluation needs kept of its own series (by count and by time).
    pub own: Need,
    /// What it needs of other metrics of the same endpoint and tags (expression conditions).
    pub inputs: Vec<(String, Need)>,
}

impl Compiled {
    /// Parses `strategy`'s conditions.
    pub fn new(strategy: Strategy, template: Option<TemplateId>) -> Result<Self, StrategyError> {
        strategy.check()?;
        let bad = |field, error| StrategyError::BadCondition {
            strategy: strategy.id,
            field,
            error,
        };
        let cond = condition::parse(&strategy.condition).map_err(|e| bad("condition", e))?;
        let recovery = match &strategy.recovery {
            Some(r) => Some(condition::parse(r).map_err(|e| bad("recovery", e))?),
            None => None,
        };
        let mut own = Need::default();
        let mut inputs: Vec<(String, Need)> = Vec::new();
        for (m, n) in cond
            .needs()
            .into_iter()
            .chain(recovery.iter().flat_map(|r| r.needs()))
        {
            match m.filter(|m| *m != strategy.metric) {
                None => own = own.max(n),
                Some(m) => match inputs.iter_mut().find(|(x, _)| x == m) {
                    Some((_, x)) => *x = x.max(n),
                    None => inputs.push((m.to_string(), n)),
                },
            }
        }
        Ok(Compiled {
            window: own.points,
            strategy,
            template,
            cond,
            recovery,
            own,
            inputs,
        })
    }

    /// The nodata period, when this is a nodata strategy.
    pub fn nodata_secs(&self) -> Option<u64> {
        self.cond.nodata_secs()
    }

    fn applies_to(&self, key: &SeriesKey) -> bool {
        key.metric == self.strategy.metric && key.tags.contains_all(&self.strategy.tags)
    }
}

/// The built-in "host down" check: a nodata strategy on the heartbeat metric of every
/// registered host.
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    /// The heartbeat metric (the agent's `agent.alive`).
    pub metric: String,
    /// Seconds without it before the host is down.
    pub down_after_secs: u64,
    /// The event's priority.
    pub priority: Priority,
}

impl Liveness {
    fn strategy(&self) -> Strategy {
        Strategy {
            id: HOST_DOWN_STRATEGY,
            metric: self.metric.clone(),
            tags: Default::default(),
            condition: format!("nodata({})", self.down_after_secs),
            recovery: None,
            priority: self.priority,
            // Once per outage: the host is down, repeating it says nothing new.
            max_alarms: 1,
            note: format!(
                "host down: no {} for {} s",
                self.metric, self.down_after_secs
            ),
            active: None,
            for_secs: 0,
        }
    }
}

/// One tenant's compiled strategies.
#[derive(Debug, Default)]
pub struct TenantRules {
    /// The config version they were compiled from.
    pub version: u64,
    /// The model they were compiled from: an unchanged model is not recompiled (compared whole,
    /// so a version the center forgot to bump cannot hide a change).
    source: TenantStrategies,
    /// host → metric → strategies (template strategies, after inheritance and group union).
    hosts: HashMap<String, HashMap<String, Vec<Arc<Compiled>>>>,
    /// metric → expression strategies.
    expressions: HashMap<String, Vec<Arc<Compiled>>>,
    /// host → metric read by another metric's strategy → the strategies that read it.
    host_inputs: HashMap<String, HashMap<String, Vec<Arc<Compiled>>>>,
    /// metric read by an expression strategy of another metric → those strategies.
    expression_inputs: HashMap<String, Vec<Arc<Compiled>>>,
    /// The registered hosts watched for liveness (empty without it).
    pub registered: Vec<String>,
}

impl TenantRules {
    /// Compiles a tenant's model; fails whole on the first error so that the caller can keep the
    /// tenant's last good set.
    pub fn compile(
        ts: &TenantStrategies,
        liveness: Option<&Liveness>,
    ) -> Result<Self, StrategyError> {
        ts.check()?;
        let mut cache: HashMap<u64, Arc<Compiled>> = HashMap::new();
        let mut hosts: HashMap<String, HashMap<String, Vec<Arc<Compiled>>>> = HashMap::new();
        let mut host_inputs: HashMap<String, HashMap<String, Vec<Arc<Compiled>>>> = HashMap::new();
        let all_hosts = ts.host_groups.iter().flat_map(|g| g.hosts.iter());
        for host in all_hosts {
            if hosts.contains_key(host) {
                continue;
            }
            let mut by_metric: HashMap<String, Vec<Arc<Compiled>>> = HashMap::new();
            for e in effective_strategies(host, &ts.host_groups, &ts.templates)? {
                // The same strategy reaches many hosts: compile it once.
                let key = e.strategy.id ^ (e.template.unwrap_or(0).rotate_left(32));
                let c = match cache.get(&key) {
                    Some(c) => c.clone(),
                    None => {
                        let c = Arc::new(Compiled::new(e.strategy, e.template)?);
                        cache.insert(key, c.clone());
                        c
                    }
                };
                for (m, _) in &c.inputs {
                    host_inputs
                        .entry(host.clone())
                        .or_default()
                        .entry(m.clone())
                        .or_default()
                        .push(c.clone());
                }
                by_metric
                    .entry(c.strategy.metric.clone())
                    .or_default()
                    .push(c);
            }
            hosts.insert(host.clone(), by_metric);
        }
        let mut registered = Vec::new();
        if let Some(l) = liveness {
            let c = Arc::new(Compiled::new(l.strategy(), None)?);
            for host in ts.registered_hosts() {
                registered.push(host.to_string());
                let v = hosts
                    .entry(host.to_string())
                    .or_default()
                    .entry(l.metric.clone())
                    .or_default();
                // A user strategy on the heartbeat metric stands beside it.
                v.push(c.clone());
            }
        }
        let mut expressions: HashMap<String, Vec<Arc<Compiled>>> = HashMap::new();
        let mut expression_inputs: HashMap<String, Vec<Arc<Compiled>>> = HashMap::new();
        for e in &ts.expressions {
            let c = Arc::new(Compiled::new(e.strategy.clone(), None)?);
            for (m, _) in &c.inputs {
                expression_inputs
                    .entry(m.clone())
                    .or_default()
                    .push(c.clone());
            }
            expressions
                .entry(c.strategy.metric.clone())
                .or_default()
                .push(c);
        }
        Ok(TenantRules {
            version: ts.version,
            source: ts.clone(),
            hosts,
            expressions,
            host_inputs,
            expression_inputs,
            registered,
        })
    }

    /// What strategies of other metrics need kept of series `key` (the same endpoint, and tags
    /// that the strategy selects).
    fn input_need(&self, key: &SeriesKey) -> Need {
        let mut need = Need::default();
        let host = self
            .host_inputs
            .get(&key.endpoint)
            .and_then(|m| m.get(&key.metric));
        let expr = self.expression_inputs.get(&key.metric);
        for c in host.into_iter().chain(expr).flatten() {
            if key.tags.contains_all(&c.strategy.tags) {
                for (m, n) in &c.inputs {
                    if *m == key.metric {
                        need = need.max(*n);
                    }
                }
            }
        }
        need
    }

    fn matching(&self, key: &SeriesKey, out: &mut Vec<Arc<Compiled>>) {
        if let Some(v) = self
            .hosts
            .get(&key.endpoint)
            .and_then(|m| m.get(&key.metric))
        {
            out.extend(v.iter().filter(|c| c.applies_to(key)).cloned());
        }
        if let Some(v) = self.expressions.get(&key.metric) {
            for c in v.iter().filter(|c| c.applies_to(key)) {
                // A host strategy and an expression strategy with the same id are one strategy.
                if !out.iter().any(|x| x.strategy.id == c.strategy.id) {
                    out.push(c.clone());
                }
            }
        }
    }

    /// Number of compiled (host, strategy) bindings plus expression strategies.
    pub fn size(&self) -> usize {
        self.hosts
            .values()
            .flat_map(|m| m.values())
            .map(Vec::len)
            .sum::<usize>()
            + self.expressions.values().map(Vec::len).sum::<usize>()
    }
}

/// Every tenant's compiled strategies.
#[derive(Debug, Default)]
pub struct Rules {
    /// Increases with every change applied.
    pub generation: u64,
    /// Per tenant.
    pub tenants: HashMap<TenantId, Arc<TenantRules>>,
    /// The host liveness check they were compiled with.
    pub liveness: Option<Liveness>,
}

/// A tenant whose new model was refused (its previous rules, if any, stay in force).
#[derive(Debug)]
pub struct Refused {
    /// The tenant.
    pub tenant: TenantId,
    /// Why.
    pub error: StrategyError,
}

impl Rules {
    /// The strategies that apply to series `key`.
    pub fn matching(&self, key: &SeriesKey) -> Vec<Arc<Compiled>> {
        let mut out = Vec::new();
        if let Some(t) = self.tenants.get(&key.tenant) {
            t.matching(key, &mut out);
        }
        out
    }

    /// What strategies of other metrics need kept of series `key` (zero when none reads it).
    pub fn input_need(&self, key: &SeriesKey) -> Need {
        self.tenants
            .get(&key.tenant)
            .map_or(Need::default(), |t| t.input_need(key))
    }

    /// Compiles `sets` into the next rules. A tenant whose model is refused keeps its rules from
    /// `previous`; a tenant whose model did not change reuses them without recompiling.
    pub fn build(sets: &[TenantStrategies], previous: Option<&Rules>) -> (Rules, Vec<Refused>) {
        Self::build_with(sets, previous, None)
    }

    /// [`build`](Self::build) with the host liveness check (`None`: without).
    pub fn build_with(
        sets: &[TenantStrategies],
        previous: Option<&Rules>,
        liveness: Option<&Liveness>,
    ) -> (Rules, Vec<Refused>) {
        let mut tenants = HashMap::new();
        let mut refused = Vec::new();
        // Compiled with another liveness check: nothing to reuse.
        let same_liveness = previous.is_some_and(|p| p.liveness.as_ref() == liveness);
        for ts in sets {
            let prev = previous.and_then(|p| p.tenants.get(&ts.tenant));
            if let Some(p) = prev.filter(|p| same_liveness && p.source == *ts) {
                tenants.insert(ts.tenant.clone(), p.clone());
                continue;
            }
            match TenantRules::compile(ts, liveness) {
                Ok(r) => {
                    tenants.insert(ts.tenant.clone(), Arc::new(r));
                }
                Err(error) => {
                    if let Some(p) = prev {
                        tenants.insert(ts.tenant.clone(), p.clone());
                    }
                    refused.push(Refused {
                        tenant: ts.tenant.clone(),
                        error,
                    });
                }
            }
        }
        let generation = previous.map_or(0, |p| p.generation) + 1;
        (
            Rules {
                generation,
                tenants,
                liveness: liveness.cloned(),
            },
            refused,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::strategy::{HostGroup, Template};

    fn model(cond: &str) -> TenantStrategies {
        let t = TenantId::new("acme").unwrap();
        TenantStrategies {
            tenant: t.clone(),
            version: 1,
            templates: vec![Template {
                id: 1,
                tenant: t.clone(),
                name: "t".into(),
                parent: None,
                strategies: vec![serde_json::from_value(serde_json::json!({
                    "id": 7, "metric": "cpu", "condition": cond
                }))
                .unwrap()],
            }],
            host_groups: vec![HostGroup {
                id: 1,
                tenant: t,
                name: "g".into(),
                hosts: vec!["h1".into()],
                templates: vec![1],
            }],
            expressions: vec![],
            hosts: vec![],
        }
    }

    #[test]
    fn reuses_unchanged_recompiles_changed_keeps_last_good() {
        let key = SeriesKey::new(
            TenantId::new("acme").unwrap(),
            "h1",
            "cpu",
            Default::default(),
        );
        let (r1, refused) = Rules::build(&[model("all(#1) > 1")], None);
        assert!(refused.is_empty());
        let (r2, _) = Rules::build(&[model("all(#1) > 1")], Some(&r1));
        assert!(Arc::ptr_eq(
            &r1.tenants[&key.tenant],
            &r2.tenants[&key.tenant]
        ));
        // Same version, different condition: still recompiled.
        let (r3, _) = Rules::build(&[model("all(#2) > 1")], Some(&r2));
        assert_eq!(r3.matching(&key)[0].window, 2);
        // A bad condition is refused and the last good set stays.
        let (r4, refused) = Rules::build(&[model("all(#2) >")], Some(&r3));
        assert_eq!(refused.len(), 1);
        assert!(refused[0].error.to_string().contains("position"));
        assert_eq!(r4.matching(&key)[0].window, 2);
        assert_eq!(r4.generation, 4);
    }
}
