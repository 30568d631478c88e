//! Recording and alert rules (PromQL), evaluated every interval by the one judge of the region
//! that owns each (`[rules] shard_index`/`shard_count`; global rules by the judges with
//! `[rules] global = true`).
//!
//! A regional rule's query is planned here, its selections read from the region's transfers
//! and evaluated on a blocking thread; a global rule's query is evaluated by web over every
//! region. A recording rule's samples are written back through the region's transfers as
//! points of the rule's tenant; an alert rule's alerts go pending → firing → resolved, and
//! firing and resolving become PROBLEM and OK events in the judge's outbox, like a strategy's.
//!
//! Each rule evaluates on its own task with a timeout, at most `max_concurrency` at once, so a
//! slow or failing rule delays no other. Alerts (pending timers, firing alerts, occurrence
//! counts) are saved to `rules.state.json` (fsynced) after every round that changed them, and
//! at stop: a restart neither sends a PROBLEM again nor restarts a `for` timer.

mod alerts;
mod io;
mod output;

use crate::config::RulesConfig;
use crate::outbox::Outbox;
use crate::source::CenterDoc;
use alerts::{Alert, AlertState, Seen};
use anyhow::Context;
use argus_core::event::{Event, EventId, EventStatus, RuleAlert};
use argus_core::rules::{AlertRule, RecordingRule, RuleId, RulesDocument};
use argus_core::telemetry::{Counter, CrossRegion, Gauge, Registry};
use argus_core::{Point, TenantId};
use argus_promql::template::Template;
use argus_promql::value::{Labels, Value};
use argus_promql::{Answer, EvalRange, Fetched, Limits, Query};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The two kinds of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Recording,
    Alert,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Recording => "recording",
            Kind::Alert => "alert",
        }
    }
}

/// A rule's identity: ids are unique per tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RuleKey {
    tenant: TenantId,
    kind: Kind,
    id: RuleId,
}

#[derive(Debug, Clone, PartialEq)]
enum Def {
    Recording(RecordingRule),
    Alert(AlertRule),
}

/// A rule ready to evaluate: its query parsed and an alert rule's label and annotation
/// templates compiled once.
struct Compiled {
    key: RuleKey,
    def: Def,
    /// What is wrong with the rule (its query or a template does not parse): its error at
    /// every evaluation, so that it shows in the status.
    query: Result<Arc<Query>, String>,
    labels: Vec<(String, Template)>,
    annotations: Vec<(String, Template)>,
}

impl Compiled {
    fn new(tenant: &TenantId, def: Def) -> Self {
        let (kind, id, expr) = match &def {
            Def::Recording(r) => (Kind::Recording, r.id, r.expr.as_str()),
            Def::Alert(a) => (Kind::Alert, a.id, a.expr.as_str()),
        };
        let key = RuleKey {
            tenant: tenant.clone(),
            kind,
            id,
        };
        let mut errors = Vec::new();
        let query = Query::parse(expr)
            .map(Arc::new)
            .map_err(|e| format!("expr: {}", e.message));
        if let Err(e) = &query {
            errors.push(e.clone());
        }
        let mut labels = Vec::new();
        let mut annotations = Vec::new();
        if let Def::Alert(a) = &def {
            for (what, from, to) in [
                ("label", &a.labels, &mut labels),
                ("annotation", &a.annotations, &mut annotations),
            ] {
                for (name, text) in from {
                    match Template::parse(text) {
                        Ok(t) => to.push((name.clone(), t)),
                        Err(e) => errors.push(format!("{what} {name}: template {e}")),
                    }
                }
            }
        }
        let query = match (query, errors.is_empty()) {
            (Ok(q), true) => Ok(q),
            _ => Err(errors.join("; ")),
        };
        let c = Compiled {
            key,
            def,
            query,
            labels,
            annotations,
        };
        if let Err(e) = &c.query {
            tracing::error!(tenant = %tenant, kind = kind.as_str(), rule = id, name = %c.name(), error = %e, "invalid rule: it is not evaluated");
        }
        c
    }

    fn name(&self) -> &str {
        match &self.def {
            Def::Recording(r) => &r.record,
            Def::Alert(a) => &a.alert,
        }
    }

    fn expr(&self) -> &str {
        match &self.def {
            Def::Recording(r) => &r.expr,
            Def::Alert(a) => &a.expr,
        }
    }

    fn interval(&self) -> i64 {
        let secs = match &self.def {
            Def::Recording(r) => r.interval_secs,
            Def::Alert(a) => a.interval_secs,
        };
        i64::from(secs.max(1))
    }

    fn global(&self) -> bool {
        match &self.def {
            Def::Recording(r) => r.global,
            Def::Alert(a) => a.global,
        }
    }
}

/// True when the judge with `cfg` is the one of its region (or of the global judges) that
/// evaluates rule `id` of `tenant`.
pub(crate) fn owns(cfg: &RulesConfig, tenant: &TenantId, id: RuleId) -> bool {
    use xxhash_rust::xxh3::Xxh3;
    let mut h = Xxh3::new();
    h.update(tenant.as_str().as_bytes());
    h.update(&[0]);
    h.update(&id.to_le_bytes());
    h.digest() % cfg.shard_count.max(1) == cfg.shard_index
}

/// What is known of one rule between evaluations.
#[derive(Default)]
struct RuleState {
    /// The last evaluation time started (aligned to the interval).
    last_t: i64,
    running: bool,
    /// The evaluation time of the last finished evaluation.
    evaluated_at: Option<i64>,
    duration: Duration,
    error: Option<String>,
    /// Output series of the last successful evaluation.
    samples: usize,
    /// An alert rule's definition, kept to describe the OK of its firing alerts should the
    /// rule be deleted.
    alert_rule: Option<AlertRule>,
    alerts: BTreeMap<String, Alert>,
    /// Recorded points no transfer took yet, oldest first.
    unsent: VecDeque<Point>,
}

/// A judge reports its rules' status to web at least this often, changed or not.
const REPORT_AT_LEAST_SECS: u64 = 60;

/// One rule's status in the report to web (`POST /internal/v1/rules/status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Reported {
    tenant: TenantId,
    kind: Kind,
    id: RuleId,
    /// Unix seconds (the aligned evaluation time) of the last finished evaluation.
    last_evaluation: Option<i64>,
    evaluation_secs: f64,
    health: &'static str,
    last_error: Option<String>,
    firing: usize,
    pending: usize,
}

/// `rules.state.json`: the alert rules' alerts.
#[derive(Default, Serialize, Deserialize)]
struct StateFile {
    rules: Vec<SavedRule>,
}

#[derive(Serialize, Deserialize)]
struct SavedRule {
    tenant: TenantId,
    rule: AlertRule,
    alerts: BTreeMap<String, Alert>,
}

/// Fixed-bucket histogram of evaluation times (the registry has counters and gauges only).
struct Histogram {
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

const BUCKETS: [f64; 11] = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: (0..=BUCKETS.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str) -> String {
        use std::fmt::Write;
        let mut out = format!("# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cum = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cum += c.load(Ordering::Relaxed);
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cum}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cum}");
        out
    }
}

struct RuleMetrics {
    /// By kind (recording, alert) and result (ok, error).
    evaluations: [[Arc<Counter>; 2]; 2],
    seconds: Histogram,
    owned: Arc<Gauge>,
    firing: Arc<Gauge>,
    events: Arc<Counter>,
}

impl RuleMetrics {
    fn new(registry: &Registry, events: Arc<Counter>) -> Self {
        let c = |kind: &str, result: &str| {
            registry.counter(
                "argus_judge_rule_evaluations_total",
                "Rule evaluations by kind (recording, alert) and result (ok, error).",
                &[("kind", kind), ("result", result)],
            )
        };
        RuleMetrics {
            evaluations: [
                [c("recording", "ok"), c("recording", "error")],
                [c("alert", "ok"), c("alert", "error")],
            ],
            seconds: Histogram::new(),
            owned: registry.gauge("argus_judge_rules", "Rules this judge evaluates.", &[]),
            firing: registry.gauge(
                "argus_judge_rule_alerts_firing",
                "Alerts of alert rules firing.",
                &[],
            ),
            events,
        }
    }
}

/// Where the ruler finds what it needs.
pub(crate) struct RulerSetup {
    pub(crate) cfg: RulesConfig,
    pub(crate) region: String,
    pub(crate) token: String,
    /// Web: the config center, and the global rules' queries.
    pub(crate) web: Option<String>,
    pub(crate) data_dir: PathBuf,
    /// Inactive alerts (kept for their occurrence count) are forgotten after this long.
    pub(crate) forget_after_secs: u64,
    pub(crate) client: reqwest::Client,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) xr: CrossRegion,
    pub(crate) registry: Registry,
    pub(crate) events: Arc<Counter>,
}

/// The rules this judge owns, their state and their evaluation.
pub(crate) struct Ruler {
    cfg: RulesConfig,
    region: String,
    token: String,
    web: Option<String>,
    client: reqwest::Client,
    outbox: Arc<Outbox>,
    xr: CrossRegion,
    rules: Mutex<Arc<BTreeMap<RuleKey, Arc<Compiled>>>>,
    states: Mutex<BTreeMap<RuleKey, RuleState>>,
    state_path: PathBuf,
    dirty: AtomicBool,
    forget_after: i64,
    permits: Arc<tokio::sync::Semaphore>,
    metrics: RuleMetrics,
    /// The rules document in force, pulled from web (None: no config center).
    center: tokio::sync::Mutex<Option<CenterDoc<RulesDocument>>>,
}

impl Ruler {
    /// A ruler with its saved alerts restored and the cached rules loaded; call
    /// [`pull`](Self::pull) to get the center's.
    pub(crate) fn new(s: RulerSetup) -> anyhow::Result<Arc<Self>> {
        let metrics = RuleMetrics::new(&s.registry, s.events);
        let mut center = s.web.as_deref().map(|base| {
            CenterDoc::<RulesDocument>::new(
                base,
                "/internal/v1/config/rules",
                s.data_dir.join("rules.cache.json"),
            )
        });
        let ruler = Arc::new(Ruler {
            permits: Arc::new(tokio::sync::Semaphore::new(s.cfg.max_concurrency.max(1))),
            cfg: s.cfg,
            region: s.region,
            token: s.token,
            web: s.web,
            client: s.client,
            outbox: s.outbox,
            xr: s.xr,
            rules: Mutex::new(Arc::new(BTreeMap::new())),
            states: Mutex::new(BTreeMap::new()),
            state_path: s.data_dir.join("rules.state.json"),
            dirty: AtomicBool::new(false),
            forget_after: s.forget_after_secs as i64,
            metrics,
            center: tokio::sync::Mutex::new(None),
        });
        let restored = ruler.restore()?;
        if restored > 0 {
            tracing::info!(alerts = restored, "rules: alerts restored");
        }
        if let Some(c) = &mut center {
            if c.load_cache() {
                tracing::info!(version = c.doc().version, "rules: loaded the cached set");
                ruler.apply(c.doc());
            }
        }
        *ruler.center.try_lock().expect("not shared yet") = center;
        Ok(ruler)
    }

    /// Pulls the rules from the center once and applies them when they changed. Errors are
    /// logged; the rules in force stay.
    pub(crate) async fn pull(&self) {
        let mut center = self.center.lock().await;
        let Some(c) = center.as_mut() else {
            return;
        };
        match c.pull(&self.client, &self.token, Some(&self.xr)).await {
            Ok(true) => {
                tracing::info!(
                    version = c.doc().version,
                    "rules: new set from the config center"
                );
                self.apply(c.doc());
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "rules: keeping the set in force"),
        }
    }

    /// Does this judge evaluate the rule?
    fn takes(&self, tenant: &TenantId, id: RuleId, global: bool) -> bool {
        let here = if global {
            self.cfg.global
        } else {
            !self.cfg.transfers.is_empty()
        };
        here && owns(&self.cfg, tenant, id)
    }

    /// Takes `doc`'s rules this judge owns. A firing alert of an alert rule no longer owned
    /// (deleted, or now another judge's) is resolved with an OK, so none stays open downstream.
    fn apply(&self, doc: &RulesDocument) {
        let old = self.rules.lock().expect("rules lock").clone();
        let mut owned: BTreeMap<RuleKey, Arc<Compiled>> = BTreeMap::new();
        for (tenant, set) in &doc.tenants {
            let defs = set
                .recording
                .iter()
                .filter(|r| self.takes(tenant, r.id, r.global))
                .map(|r| Def::Recording(r.clone()))
                .chain(
                    set.alerting
                        .iter()
                        .filter(|a| self.takes(tenant, a.id, a.global))
                        .map(|a| Def::Alert(a.clone())),
                );
            for def in defs {
                let c = Compiled::new_or_same(tenant, def, &old);
                owned.insert(c.key.clone(), c);
            }
        }
        let now = argus_core::time::now_secs();
        let mut closed = Vec::new();
        let mut states = self.states.lock().expect("rules state lock");
        states.retain(|key, st| {
            if owned.contains_key(key) {
                return true;
            }
            if let Some(rule) = &st.alert_rule {
                for (id, a) in st.alerts.iter_mut() {
                    if a.state == AlertState::Firing {
                        a.occurrence += 1;
                        let mut ev = self.event(&key.tenant, rule, id, a, EventStatus::Ok, now);
                        ev.note =
                            format!("closed: the rule is no longer evaluated here. {}", ev.note);
                        closed.push(ev);
                    }
                }
            }
            false
        });
        for (key, c) in &owned {
            let st = states.entry(key.clone()).or_default();
            if let Def::Alert(a) = &c.def {
                st.alert_rule = Some(a.clone());
            }
        }
        if let Err(e) = self.outbox.append(&closed) {
            tracing::error!(error = %e, events = closed.len(), "could not write the OK events of removed rules to the outbox");
        }
        self.metrics.events.add(closed.len() as u64);
        self.dirty.store(true, Ordering::SeqCst);
        drop(states);
        self.metrics.owned.set(owned.len() as i64);
        tracing::info!(rules = owned.len(), version = doc.version, "rules applied");
        *self.rules.lock().expect("rules lock") = Arc::new(owned);
    }

    /// The rules due at `now` (their aligned time passed and they are not running), marked
    /// running.
    fn due(&self, now: i64) -> Vec<(Arc<Compiled>, i64)> {
        let rules = self.rules.lock().expect("rules lock").clone();
        let mut states = self.states.lock().expect("rules state lock");
        let mut out = Vec::new();
        for (key, rule) in rules.iter() {
            let t = now - now.rem_euclid(rule.interval());
            let st = states.entry(key.clone()).or_default();
            if !st.running && t > st.last_t {
                st.running = true;
                st.last_t = t;
                out.push((rule.clone(), t));
            }
        }
        out
    }

    /// Evaluates rules forever (abort the task to stop; the state is saved by
    /// [`save`](Self::save) at stop).
    pub(crate) async fn run(self: Arc<Self>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            while tasks.try_join_next().is_some() {}
            for (rule, t) in self.due(argus_core::time::now_secs()) {
                tasks.spawn(self.clone().evaluate(rule, t));
            }
            if self.dirty.swap(false, Ordering::SeqCst) {
                let me = self.clone();
                let saved = tokio::task::spawn_blocking(move || me.save()).await;
                if let Ok(Err(e)) = saved {
                    tracing::error!(error = %format!("{e:#}"), "rules: alerts not saved; trying again");
                    self.dirty.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    /// Pulls the rules every `every` forever.
    pub(crate) async fn run_pulls(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            self.pull().await;
        }
    }

    async fn evaluate(self: Arc<Self>, rule: Arc<Compiled>, t: i64) {
        let Ok(_permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let started = Instant::now();
        let limit = Duration::from_secs(self.cfg.timeout_secs.min(rule.interval() as u64).max(1));
        let run = self.clone().run_rule(rule.clone(), t, started + limit);
        let outcome = match tokio::time::timeout(limit, run).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {} s", limit.as_secs())),
        };
        self.finish(&rule, t, started.elapsed(), outcome);
    }

    /// One evaluation: the query's samples, then the points or the alerts they make. Returns
    /// the number of samples.
    async fn run_rule(
        self: Arc<Self>,
        rule: Arc<Compiled>,
        t: i64,
        deadline: Instant,
    ) -> Result<usize, String> {
        let query = rule.query.clone()?;
        let samples = if rule.global() {
            let web = self
                .web
                .as_deref()
                .ok_or("a global rule needs web (`config_center`)")?;
            io::query_web(
                &self.client,
                web,
                &self.token,
                Some(&self.xr),
                &rule.key.tenant,
                rule.expr(),
                t,
            )
            .await?
        } else {
            self.eval_regional(&rule.key.tenant, query, t, deadline)
                .await?
        };
        let n = samples.len();
        match &rule.def {
            Def::Recording(r) => {
                let points = output::recorded(r, &rule.key.tenant, &samples, t)?;
                self.record(&rule.key, points).await?;
            }
            Def::Alert(_) => {
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.alert_step(&rule, t, samples))
                    .await
                    .map_err(|e| format!("alert evaluation failed: {e}"))??;
            }
        }
        Ok(n)
    }

    /// `query` at `t` over the region's series: the selections read from the transfers, the
    /// evaluation on a blocking thread within the tenant's limits.
    async fn eval_regional(
        &self,
        tenant: &TenantId,
        query: Arc<Query>,
        t: i64,
        deadline: Instant,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let mut range = EvalRange::instant(t * 1000);
        range.lookback_ms = self.cfg.lookback_delta_secs as i64 * 1000;
        let lim = self.cfg.limits_of(tenant.as_str());
        let limits = Limits {
            max_series: lim.max_series,
            max_samples: lim.max_samples,
            deadline: Some(deadline),
            ..Limits::default()
        };
        let mut fetched = Fetched::new();
        for sel in query.selections(&range) {
            let series = io::select(
                &self.client,
                &self.cfg.transfers,
                &self.token,
                tenant,
                &sel,
                lim.max_series,
            )
            .await?;
            fetched.insert(sel.key(), series);
        }
        let answer = tokio::task::spawn_blocking(move || query.eval(&range, &fetched, &limits))
            .await
            .map_err(|e| format!("evaluation failed: {e}"))?
            .map_err(|e| e.message)?;
        match answer {
            Answer::Instant(Value::Vector(samples)) => {
                Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect())
            }
            Answer::Instant(Value::Scalar(x)) => Ok(vec![(Labels::default(), x)]),
            Answer::Instant(v) => Err(format!(
                "the rule's expression must give a vector or a scalar, not a {}",
                v.type_name()
            )),
            Answer::Range(_) => Err("the rule's expression gave a range answer".into()),
        }
    }

    /// Writes a recording rule's points, after those earlier evaluations could not write.
    /// Points no transfer took are kept for the next evaluation (up to `max_unsent_points`).
    async fn record(&self, key: &RuleKey, points: Vec<Point>) -> Result<(), String> {
        let batch: Vec<Point> = {
            let mut states = self.states.lock().expect("rules state lock");
            let Some(st) = states.get_mut(key) else {
                return Ok(());
            };
            st.unsent.extend(points);
            let max = self.cfg.max_unsent_points.max(1);
            while st.unsent.len() > max {
                st.unsent.pop_front();
            }
            st.unsent.iter().cloned().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        // Taken off the queue only once answered: a cancelled push is sent again (a point
        // written twice is the same point).
        let taken = |n: usize| {
            if let Some(st) = self.states.lock().expect("rules state lock").get_mut(key) {
                st.unsent.drain(..n.min(st.unsent.len()));
            }
        };
        match io::push(&self.client, &self.cfg.transfers, &self.token, &batch).await {
            io::Pushed::Done { refused: None } => {
                taken(batch.len());
                Ok(())
            }
            io::Pushed::Done { refused: Some(e) } | io::Pushed::Refused(e) => {
                taken(batch.len());
                Err(e)
            }
            io::Pushed::Failed(e) => Err(format!(
                "{e}; {} points kept for the next evaluation",
                batch.len()
            )),
        }
    }

    /// Advances an alert rule's alerts to `t` with its samples; the events of the changes are
    /// made durable in the outbox before the new state is kept (a crash in between makes the
    /// same events again, which alarm recognises as repeats).
    fn alert_step(
        &self,
        rule: &Compiled,
        t: i64,
        samples: Vec<(Labels, f64)>,
    ) -> Result<(), String> {
        let Def::Alert(a) = &rule.def else {
            return Ok(());
        };
        let tenant = &rule.key.tenant;
        let mut seen = BTreeMap::new();
        for (out, value) in samples {
            // Templates see the query's labels and value, as in Prometheus.
            let data: BTreeMap<String, String> = out.pairs().iter().cloned().collect();
            let extra: BTreeMap<String, String> = rule
                .labels
                .iter()
                .map(|(k, tpl)| (k.clone(), tpl.render(&data, value)))
                .collect();
            let mut labels = argus_promql::labels::with_rule_labels(&out, &extra);
            labels.insert("alertname".into(), a.alert.clone());
            let id = EventId::of_rule(tenant, a.id, &labels).0;
            let annotations = rule
                .annotations
                .iter()
                .map(|(k, tpl)| (k.clone(), tpl.render(&data, value)))
                .collect();
            let s = Seen {
                labels,
                value,
                annotations,
            };
            if let Some(prev) = seen.insert(id, s) {
                return Err(format!(
                    "the result has several series with the labels {:?} once the rule's labels are applied",
                    prev.labels
                ));
            }
        }
        let mut states = self.states.lock().expect("rules state lock");
        // Removed meanwhile (its firing alerts were closed then).
        let Some(st) = states.get_mut(&rule.key) else {
            return Ok(());
        };
        let mut next = st.alerts.clone();
        let changes = alerts::step(a, t, seen, &mut next, self.forget_after);
        let events: Vec<Event> = changes
            .iter()
            .map(|(id, status)| self.event(tenant, a, id, &next[id], *status, t))
            .collect();
        self.outbox
            .append(&events)
            .map_err(|e| format!("events not written to the outbox: {e}"))?;
        self.metrics.events.add(events.len() as u64);
        if shape(&next) != shape(&st.alerts) {
            self.dirty.store(true, Ordering::SeqCst);
        }
        st.alerts = next;
        let firing = states
            .values()
            .flat_map(|s| s.alerts.values())
            .filter(|a| a.state == AlertState::Firing)
            .count();
        self.metrics.firing.set(firing as i64);
        Ok(())
    }

    fn event(
        &self,
        tenant: &TenantId,
        rule: &AlertRule,
        id: &str,
        a: &Alert,
        status: EventStatus,
        t: i64,
    ) -> Event {
        let note = ["summary", "description"]
            .iter()
            .find_map(|k| a.annotations.get(*k))
            .cloned()
            .unwrap_or_default();
        Event {
            id: EventId(id.to_string()),
            tenant: tenant.clone(),
            status,
            occurrence: a.occurrence,
            strategy_id: 0,
            template_id: None,
            series: output::alert_series(tenant, &rule.alert, &a.labels),
            priority: rule.priority,
            condition: rule.expr.clone(),
            // JSON has no NaN or infinities.
            value: if a.value.is_nan() {
                0.0
            } else {
                a.value.clamp(f64::MIN, f64::MAX)
            },
            timestamp: t,
            alarm_count: u32::from(status == EventStatus::Problem),
            note,
            region: self.region.clone(),
            rule: Some(RuleAlert {
                id: rule.id,
                alert: rule.alert.clone(),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
            }),
        }
    }

    fn finish(&self, rule: &Compiled, t: i64, took: Duration, outcome: Result<usize, String>) {
        let kind = match rule.key.kind {
            Kind::Recording => 0,
            Kind::Alert => 1,
        };
        self.metrics.evaluations[kind][usize::from(outcome.is_err())].inc();
        self.metrics.seconds.observe(took);
        let mut states = self.states.lock().expect("rules state lock");
        let Some(st) = states.get_mut(&rule.key) else {
            return;
        };
        st.running = false;
        st.evaluated_at = Some(t);
        st.duration = took;
        let k = &rule.key;
        match outcome {
            Ok(n) => {
                if st.error.take().is_some() {
                    tracing::info!(tenant = %k.tenant, kind = k.kind.as_str(), rule = k.id, name = %rule.name(), "rule evaluates again");
                }
                st.samples = n;
            }
            Err(e) => {
                // Logged when it starts or changes, not at every interval.
                if st.error.as_ref() != Some(&e) {
                    tracing::error!(tenant = %k.tenant, kind = k.kind.as_str(), rule = k.id, name = %rule.name(), expr = %rule.expr(), error = %e, "rule evaluation failed");
                }
                st.error = Some(e);
            }
        }
    }

    /// Saves the alerts (atomically, fsynced).
    pub(crate) fn save(&self) -> anyhow::Result<()> {
        let file = {
            let states = self.states.lock().expect("rules state lock");
            StateFile {
                rules: states
                    .iter()
                    .filter(|(_, s)| !s.alerts.is_empty())
                    .filter_map(|(k, s)| {
                        Some(SavedRule {
                            tenant: k.tenant.clone(),
                            rule: s.alert_rule.clone()?,
                            alerts: s.alerts.clone(),
                        })
                    })
                    .collect(),
            }
        };
        write_synced(&self.state_path, &serde_json::to_vec(&file)?)
    }

    fn restore(&self) -> anyhow::Result<usize> {
        let body = match std::fs::read(&self.state_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", self.state_path.display()))
            }
        };
        let file: StateFile = serde_json::from_slice(&body).with_context(|| {
            format!(
                "rules state file {} is unreadable",
                self.state_path.display()
            )
        })?;
        let mut states = self.states.lock().expect("rules state lock");
        let mut n = 0;
        for r in file.rules {
            n += r.alerts.len();
            let key = RuleKey {
                tenant: r.tenant,
                kind: Kind::Alert,
                id: r.rule.id,
            };
            states.insert(
                key,
                RuleState {
                    alert_rule: Some(r.rule),
                    alerts: r.alerts,
                    ..Default::default()
                },
            );
        }
        Ok(n)
    }

    /// Every owned rule's last evaluation and, for alert rules, its active alerts.
    pub(crate) fn status(&self) -> serde_json::Value {
        let rules = self.rules.lock().expect("rules lock").clone();
        let states = self.states.lock().expect("rules state lock");
        let list: Vec<serde_json::Value> = rules
            .iter()
            .map(|(key, rule)| {
                let st = states.get(key);
                let mut v = serde_json::json!({
                    "tenant": key.tenant,
                    "kind": key.kind.as_str(),
                    "id": key.id,
                    "name": rule.name(),
                    "expr": rule.expr(),
                    "interval_secs": rule.interval(),
                    "global": rule.global(),
                    "health": match st.map(|s| (s.evaluated_at, &s.error)) {
                        Some((Some(_), None)) => "ok",
                        Some((_, Some(_))) => "error",
                        _ => "unknown",
                    },
                    "last_evaluation": st.and_then(|s| s.evaluated_at),
                    "last_duration_seconds": st.map_or(0.0, |s| s.duration.as_secs_f64()),
                    "last_error": st.and_then(|s| s.error.clone()),
                    "samples": st.map_or(0, |s| s.samples),
                });
                if key.kind == Kind::Alert {
                    let alerts: Vec<serde_json::Value> = st
                        .into_iter()
                        .flat_map(|s| s.alerts.iter())
                        .filter(|(_, a)| a.state != AlertState::Inactive)
                        .map(|(id, a)| {
                            serde_json::json!({
                                "id": id, "state": a.state, "labels": a.labels,
                                "annotations": a.annotations, "active_at": a.active_at,
                                "fired_at": (a.fired_at > 0).then_some(a.fired_at),
                                "value": if a.value.is_finite() { a.value.to_string() } else { format!("{}", a.value) },
                            })
                        })
                        .collect();
                    v["alerts"] = serde_json::Value::Array(alerts);
                } else {
                    v["unsent_points"] = st.map_or(0, |s| s.unsent.len()).into();
                }
                v
            })
            .collect();
        serde_json::json!({
            "region": self.region,
            "shard_index": self.cfg.shard_index,
            "shard_count": self.cfg.shard_count,
            "global": self.cfg.global,
            "rules": list,
        })
    }

    /// Every owned rule's status as reported to web.
    fn reported(&self) -> Vec<Reported> {
        let rules = self.rules.lock().expect("rules lock").clone();
        let states = self.states.lock().expect("rules state lock");
        rules
            .keys()
            .map(|key| {
                let st = states.get(key);
                let count = |s: AlertState| {
                    st.map_or(0, |st| st.alerts.values().filter(|a| a.state == s).count())
                };
                Reported {
                    tenant: key.tenant.clone(),
                    kind: key.kind,
                    id: key.id,
                    last_evaluation: st.and_then(|s| s.evaluated_at),
                    evaluation_secs: st.map_or(0.0, |s| s.duration.as_secs_f64()),
                    health: match st.map(|s| (s.evaluated_at, &s.error)) {
                        Some((Some(_), None)) => "ok",
                        Some((_, Some(_))) => "error",
                        _ => "unknown",
                    },
                    last_error: st.and_then(|s| s.error.clone()),
                    firing: count(AlertState::Firing),
                    pending: count(AlertState::Pending),
                }
            })
            .collect()
    }

    /// Reports the rules' status to web (`POST /internal/v1/rules/status`) every `every`
    /// when it changed, and at least every [`REPORT_AT_LEAST_SECS`] (web forgets a judge
    /// whose report is too old). `judge` names this judge in its region.
    pub(crate) async fn run_reports(self: Arc<Self>, every: Duration, judge: String) {
        let Some(web) = self.web.clone() else {
            return;
        };
        let url = format!("{}/internal/v1/rules/status", web.trim_end_matches('/'));
        let mut last: Option<(Vec<Reported>, Instant)> = None;
        let mut last_error: Option<String> = None;
        loop {
            let rules = self.reported();
            let same = last.as_ref().is_some_and(|(prev, at)| {
                *prev == rules && at.elapsed() < Duration::from_secs(REPORT_AT_LEAST_SECS)
            });
            if !same {
                match self.send_report(&url, &judge, &rules).await {
                    Ok(()) => {
                        if last_error.take().is_some() {
                            tracing::info!("rules: status reported to web again");
                        }
                        last = Some((rules, Instant::now()));
                    }
                    Err(e) => {
                        // Logged when it starts or changes, not at every interval.
                        if last_error.as_ref() != Some(&e) {
                            tracing::warn!(error = %e, "rules: status not reported to web; trying again");
                        }
                        last_error = Some(e);
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn send_report(&self, url: &str, judge: &str, rules: &[Reported]) -> Result<(), String> {
        let report = serde_json::json!({
            "region": self.region,
            "judge": judge,
            "sent_at": argus_core::time::now_secs(),
            "rules": rules,
        });
        let json = serde_json::to_vec(&report).expect("json");
        let body = zstd::encode_all(&json[..], 3).map_err(|e| format!("zstd: {e}"))?;
        let mut req = self
            .client
            .post(url)
            .header(argus_core::telemetry::REGION_HEADER, &self.region)
            .header("content-type", "application/json")
            .header("content-encoding", "zstd")
            .body(body);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        let req = req.build().map_err(|e| format!("{url}: {e}"))?;
        self.xr.sent(
            argus_core::telemetry::CrossKind::Config,
            argus_core::telemetry::GLOBAL_REGION,
            argus_core::http::request_wire_len(&req),
        );
        let resp = self
            .client
            .execute(req)
            .await
            .map_err(|e| format!("{url}: {}", argus_core::center::error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("{url} answered {}", resp.status()));
        }
        Ok(())
    }

    /// The metrics the registry cannot hold (the evaluation time histogram).
    pub(crate) fn render_metrics(&self) -> String {
        self.metrics.seconds.render(
            "argus_judge_rule_evaluation_seconds",
            "Time taken by rule evaluations.",
        )
    }
}

impl Compiled {
    /// The compiled rule for `def`: the one in force when the definition is unchanged (its
    /// query is not parsed again).
    fn new_or_same(
        tenant: &TenantId,
        def: Def,
        old: &BTreeMap<RuleKey, Arc<Compiled>>,
    ) -> Arc<Compiled> {
        let (kind, id) = match &def {
            Def::Recording(r) => (Kind::Recording, r.id),
            Def::Alert(a) => (Kind::Alert, a.id),
        };
        let key = RuleKey {
            tenant: tenant.clone(),
            kind,
            id,
        };
        match old.get(&key) {
            Some(c) if c.def == def => c.clone(),
            _ => Arc::new(Compiled::new(tenant, def)),
        }
    }
}

/// What of the alerts must survive a restart (values and annotations change at every
/// evaluation and need not be saved each time).
fn shape(a: &BTreeMap<String, Alert>) -> Vec<(&str, AlertState, i64, i64, u64)> {
    a.iter()
        .map(|(id, a)| {
            (
                id.as_str(),
                a.state,
                a.active_at,
                a.absent_since,
                a.occurrence,
            )
        })
        .collect()
}

/// Writes `body` to `path` atomically and durably: a temporary file synced, renamed, and the
/// directory synced.
fn write_synced(path: &Path, body: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(body)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}
