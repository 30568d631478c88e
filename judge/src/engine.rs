//! The evaluation engine: per-series windows, alert state machines and nodata timers.
//!
//! It is synchronous and deterministic: time comes from the points and from the `now` given to
//! [`Engine::tick`], so the golden tests drive it exactly as the server does. The server runs one
//! engine per shard of series.

use crate::rules::{Compiled, Rules};
use crate::wheel::Wheel;
use argus_core::condition::{Condition, Need, Windows, MAX_WINDOW};
use argus_core::event::{Event, EventId, EventStatus};
use argus_core::series::series_hash;
use argus_core::strategy::{StrategyId, HOST_DOWN_STRATEGY};
use argus_core::{Point, SeriesKey};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// The state of one strategy on one series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The condition holds (a PROBLEM was sent and no OK since).
    pub problem: bool,
    /// PROBLEM notices sent in the current run.
    pub alarms: u32,
    /// Events sent for this id so far (the last event's occurrence).
    pub occurrence: u64,
    /// For nodata strategies: when the next nodata check is due (Unix seconds, 0 = none).
    #[serde(default)]
    pub nodata_due: i64,
    /// For strategies with `for_secs`: since when the condition has held without a PROBLEM yet
    /// (the time of the first point it held on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<i64>,
}

struct Series {
    key: SeriesKey,
    hash: u64,
    strategies: Vec<Arc<Compiled>>,
    /// What its own strategies and those of other metrics reading it need kept.
    need: Need,
    values: VecDeque<f64>,
    /// The timestamps of `values`, as long.
    times: VecDeque<i64>,
    last_ts: i64,
    alerts: Vec<(StrategyId, Alert)>,
}

impl Series {
    fn snapshot(&self) -> SeriesSnapshot {
        SeriesSnapshot {
            key: self.key.clone(),
            values: self.values.iter().copied().collect(),
            times: self.times.iter().copied().collect(),
            last_ts: self.last_ts,
            alerts: self.alerts.clone(),
        }
    }

    fn alert(&mut self, id: StrategyId) -> &mut Alert {
        let i = match self.alerts.iter().position(|(s, _)| *s == id) {
            Some(i) => i,
            None => {
                self.alerts.push((id, Alert::default()));
                self.alerts.len() - 1
            }
        };
        &mut self.alerts[i].1
    }
}

/// A series as kept in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesSnapshot {
    /// The series.
    pub key: SeriesKey,
    /// Its latest values, oldest first.
    pub values: Vec<f64>,
    /// Their timestamps (absent in state saved before time windows: taken as `last_ts`).
    #[serde(default)]
    pub times: Vec<i64>,
    /// The timestamp of its latest point.
    pub last_ts: i64,
    /// The state of each strategy on it.
    pub alerts: Vec<(StrategyId, Alert)>,
}

/// Identity hasher for keys that already are good 64-bit hashes.
#[derive(Default)]
struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Counters of what the engine did.
#[derive(Debug, Default, Clone, Copy)]
pub struct EngineStats {
    /// Points evaluated.
    pub points: u64,
    /// Points dropped because they were not newer than the series' latest.
    pub stale: u64,
    /// Strategy evaluations.
    pub evaluations: u64,
}

/// Evaluates points against the rules and keeps the state of every watched series.
pub struct Engine {
    region: String,
    rules: Arc<Rules>,
    /// Series hash → index; a (vanishingly rare) hash collision goes to `collided`.
    index: IdMap<u32>,
    collided: HashMap<SeriesKey, u32>,
    series: Vec<Series>,
    wheel: Wheel<(u32, StrategyId)>,
    /// Which endpoints this engine watches for liveness before they report (`None`: all).
    owns: Option<Owner>,
    /// What it did so far.
    pub stats: EngineStats,
}

/// Whether an engine owns a tenant's endpoint (its judge on the ring, its shard in the judge).
pub type Owner = Arc<dyn Fn(&argus_core::TenantId, &str) -> bool + Send + Sync>;

impl Engine {
    /// An engine without rules yet; events carry `region`.
    pub fn new(region: impl Into<String>) -> Self {
        Engine {
            region: region.into(),
            rules: Arc::new(Rules::default()),
            index: IdMap::default(),
            collided: HashMap::new(),
            series: Vec::new(),
            wheel: Wheel::new(),
            owns: None,
            stats: EngineStats::default(),
        }
    }

    /// Limits the hosts this engine watches for liveness before their first point to those
    /// `owns` accepts (a host that reports is watched where its points arrive).
    pub fn set_owner(&mut self, owns: Owner) {
        self.owns = Some(owns);
    }

    /// Number of series watched.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Applies new rules, keeping every series' window and alert state; new nodata strategies
    /// start their timers. An open problem whose strategy no longer applies to its series (the
    /// strategy was deleted, its template unbound, the host left the group) is closed with an
    /// OK event at `now` appended to `out`, so that no alert stays open forever downstream.
    pub fn set_rules(&mut self, rules: Arc<Rules>, now: i64, out: &mut Vec<Event>) {
        self.rules = rules;
        for i in 0..self.series.len() {
            // The latest value, before the new rules trim the window.
            let value = self.series[i].values.back().copied().unwrap_or(0.0);
            let closed = self.refresh(i as u32, false);
            let s = &self.series[i];
            for (c, a) in closed {
                let mut ev = event(&self.region, &s.key, &c, &a, EventStatus::Ok, value, now);
                ev.note = closed_note(&c.strategy.note);
                out.push(ev);
            }
        }
        self.watch_registered(now);
    }

    /// Starts the liveness timer of every registered host this engine owns and has no
    /// heartbeat series for: a host silent since before a (re)start is still found down.
    fn watch_registered(&mut self, now: i64) {
        let Some(l) = self.rules.liveness.clone() else {
            return;
        };
        let rules = self.rules.clone();
        for (tenant, t) in &rules.tenants {
            for host in &t.registered {
                if self.owns.as_ref().is_some_and(|o| !o(tenant, host)) {
                    continue;
                }
                let key = SeriesKey::new(tenant.clone(), host, &l.metric, Default::default());
                let hash = key.hash();
                let known = match self.index.get(&hash) {
                    Some(&i) => {
                        self.series[i as usize].key == key || self.collided.contains_key(&key)
                    }
                    None => false,
                };
                if known {
                    continue;
                }
                let idx = self.insert(key, hash);
                self.refresh(idx, false);
                let a = self.series[idx as usize].alert(HOST_DOWN_STRATEGY);
                a.nodata_due = now + l.down_after_secs as i64;
                let due = a.nodata_due;
                self.wheel.schedule(due, (idx, HOST_DOWN_STRATEGY));
            }
        }
    }

    /// Re-matches series `idx` against the rules. Arms nodata timers that are not armed yet, and
    /// with `rearm` also those that are (after a restore, when the wheel is empty). Returns the
    /// open problems of strategies that no longer apply, each with its final (OK) state.
    fn refresh(&mut self, idx: u32, rearm: bool) -> Vec<(Arc<Compiled>, Alert)> {
        let s = &mut self.series[idx as usize];
        let before = std::mem::replace(&mut s.strategies, self.rules.matching(&s.key));
        if !self.rules.tenants.contains_key(&s.key.tenant) {
            // The tenant's strategies are not known yet (say, restored state while the config
            // center is unreachable): keep its windows and alerts for when they arrive.
            return Vec::new();
        }
        s.need = s
            .strategies
            .iter()
            .fold(self.rules.input_need(&s.key), |n, c| n.max(c.own));
        s.trim();
        let ids: Vec<StrategyId> = s.strategies.iter().map(|c| c.strategy.id).collect();
        let mut closed = Vec::new();
        s.alerts.retain(|(id, a)| {
            if ids.contains(id) {
                return true;
            }
            // After a restore the old strategy is unknown: nothing to describe the OK with.
            if let Some(c) = before.iter().find(|c| c.strategy.id == *id) {
                if a.problem {
                    let mut a = a.clone();
                    a.problem = false;
                    a.alarms = 0;
                    a.occurrence += 1;
                    closed.push((c.clone(), a));
                }
            }
            false
        });
        let last_ts = s.last_ts;
        let mut arm = Vec::new();
        let nodata: Vec<(StrategyId, u64)> = s
            .strategies
            .iter()
            .filter_map(|c| c.nodata_secs().map(|n| (c.strategy.id, n)))
            .collect();
        for (id, secs) in nodata {
            {
                // Armed by its first point, unless watched before one (host liveness).
                let armed = s.alerts.iter().any(|(x, a)| *x == id && a.nodata_due != 0);
                if last_ts == i64::MIN && !armed {
                    continue;
                }
                let a = s.alert(id);
                if a.nodata_due == 0 {
                    a.nodata_due = last_ts + secs as i64;
                } else if !rearm {
                    continue;
                }
                arm.push((a.nodata_due, id));
            }
        }
        for (due, id) in arm {
            self.wheel.schedule(due, (idx, id));
        }
        closed
    }

    fn find(&self, p: &Point, hash: u64) -> Option<u32> {
        let &i = self.index.get(&hash)?;
        let s = &self.series[i as usize];
        if s.key.tenant == p.tenant
            && s.key.endpoint == p.endpoint
            && s.key.metric == p.metric
            && s.key.tags == p.tags
        {
            Some(i)
        } else {
            self.collided.get(&SeriesKey::of(p)).copied()
        }
    }

    fn insert(&mut self, key: SeriesKey, hash: u64) -> u32 {
        let idx = self.series.len() as u32;
        self.series.push(Series {
            key: key.clone(),
            hash,
            strategies: Vec::new(),
            need: Need::default(),
            values: VecDeque::new(),
            times: VecDeque::new(),
            last_ts: i64::MIN,
            alerts: Vec::new(),
        });
        match self.index.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(key, idx);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(idx);
            }
        }
        idx
    }

    /// Evaluates one point (its tenant set), appending the events it causes to `out`.
    pub fn ingest(&mut self, p: &Point, out: &mut Vec<Event>) {
        let hash = series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags);
        self.ingest_hashed(p, hash, out)
    }

    /// [`ingest`](Self::ingest) with the series hash already computed.
    pub fn ingest_hashed(&mut self, p: &Point, hash: u64, out: &mut Vec<Event>) {
        let idx = match self.find(p, hash) {
            Some(i) => i,
            None => {
                let key = SeriesKey::of(p);
                // Series no strategy watches or reads are not kept: most series never alert.
                if self.rules.matching(&key).is_empty()
                    && self.rules.input_need(&key) == Need::default()
                {
                    return;
                }
                let i = self.insert(key, hash);
                self.refresh(i, false);
                i
            }
        };
        let s = &mut self.series[idx as usize];
        if p.timestamp <= s.last_ts {
            self.stats.stale += 1;
            return;
        }
        self.stats.points += 1;
        s.last_ts = p.timestamp;
        if s.need != Need::default() {
            s.values.push_back(p.value);
            s.times.push_back(p.timestamp);
            s.trim();
            // Windows are read as slices: of this series and, for expressions, of its siblings.
            s.values.make_contiguous();
            s.times.make_contiguous();
        }
        if s.strategies.is_empty() {
            return; // only read by other metrics' strategies
        }
        // The alerts change while the series (and its siblings) are read: take them out.
        let mut alerts = std::mem::take(&mut s.alerts);
        let strategies = std::mem::take(&mut s.strategies);
        let s = &self.series[idx as usize];
        let w = Siblings {
            series: &self.series,
            index: &self.index,
            collided: &self.collided,
            own: s,
        };
        let values = s.values.as_slices().0;
        let mut rearm = Vec::new();
        for c in &strategies {
            self.stats.evaluations += 1;
            let id = c.strategy.id;
            let i = match alerts.iter().position(|(x, _)| *x == id) {
                Some(i) => i,
                None => {
                    alerts.push((id, Alert::default()));
                    alerts.len() - 1
                }
            };
            let a = &mut alerts[i].1;
            if let Some(secs) = c.nodata_secs() {
                // A point ends a nodata problem whatever the hour.
                if a.problem {
                    a.problem = false;
                    a.alarms = 0;
                    a.occurrence += 1;
                    out.push(event(
                        &self.region,
                        &s.key,
                        c,
                        a,
                        EventStatus::Ok,
                        p.value,
                        p.timestamp,
                    ));
                }
                a.nodata_due = p.timestamp + secs as i64;
                rearm.push((a.nodata_due, id));
                continue;
            }
            if !c.strategy.is_active_at(p.timestamp) {
                continue;
            }
            let holds = check(&c.cond, values, p.timestamp, &w);
            if !a.problem {
                if holds != Some(true) {
                    a.pending_since = None;
                    continue;
                }
                if c.strategy.for_secs > 0 {
                    // Held on every point since `pending_since`: a PROBLEM once long enough.
                    let since = *a.pending_since.get_or_insert(p.timestamp);
                    if p.timestamp - since < c.strategy.for_secs as i64 {
                        continue;
                    }
                }
                a.pending_since = None;
                a.problem = true;
                a.alarms = 1;
                a.occurrence += 1;
                let v = value_of(&c.cond, values, p.timestamp, &w);
                out.push(event(
                    &self.region,
                    &s.key,
                    c,
                    a,
                    EventStatus::Problem,
                    v,
                    p.timestamp,
                ));
                continue;
            }
            let recovered = match &c.recovery {
                Some(r) => check(r, values, p.timestamp, &w) == Some(true),
                None => holds == Some(false),
            };
            if recovered {
                let value = value_of(
                    c.recovery.as_ref().unwrap_or(&c.cond),
                    values,
                    p.timestamp,
                    &w,
                );
                a.problem = false;
                a.alarms = 0;
                a.occurrence += 1;
                out.push(event(
                    &self.region,
                    &s.key,
                    c,
                    a,
                    EventStatus::Ok,
                    value,
                    p.timestamp,
                ));
            } else if holds == Some(true) && a.alarms < c.strategy.max_alarms {
                a.alarms += 1;
                a.occurrence += 1;
                let v = value_of(&c.cond, values, p.timestamp, &w);
                out.push(event(
                    &self.region,
                    &s.key,
                    c,
                    a,
                    EventStatus::Problem,
                    v,
                    p.timestamp,
                ));
            }
        }
        let s = &mut self.series[idx as usize];
        s.alerts = alerts;
        s.strategies = strategies;
        for (due, id) in rearm {
            self.wheel.schedule(due, (idx, id));
        }
    }

    /// Moves time to `now`: fires the nodata checks due, appending their events to `out`.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Event>) {
        let mut due = Vec::new();
        self.wheel.advance(now, |d, item| due.push((d, item)));
        for (deadline, (idx, id)) in due {
            let Some(s) = self.series.get_mut(idx as usize) else {
                continue;
            };
            let Some(c) = s.strategies.iter().find(|c| c.strategy.id == id).cloned() else {
                continue;
            };
            let Some(secs) = c.nodata_secs() else {
                continue;
            };
            let last_ts = s.last_ts;
            let Some((_, a)) = s.alerts.iter_mut().find(|(x, _)| *x == id) else {
                continue;
            };
            // A point since then moved the deadline: this entry is stale.
            if a.nodata_due != deadline {
                continue;
            }
            a.nodata_due = 0;
            // A host never heard from has been silent at least one period.
            let silent = if last_ts == i64::MIN {
                secs as i64
            } else {
                now - last_ts
            };
            if c.strategy.is_active_at(now) {
                if !a.problem {
                    a.problem = true;
                    a.alarms = 1;
                    a.occurrence += 1;
                    out.push(event(
                        &self.region,
                        &s.key,
                        &c,
                        a,
                        EventStatus::Problem,
                        silent as f64,
                        now,
                    ));
                } else if a.alarms < c.strategy.max_alarms {
                    a.alarms += 1;
                    a.occurrence += 1;
                    out.push(event(
                        &self.region,
                        &s.key,
                        &c,
                        a,
                        EventStatus::Problem,
                        silent as f64,
                        now,
                    ));
                }
            }
            // Check again one period later, for repeats or once the active hours begin.
            if !a.problem || a.alarms < c.strategy.max_alarms {
                a.nodata_due = now + secs as i64;
                let d = a.nodata_due;
                self.wheel.schedule(d, (idx, id));
            }
        }
    }

    /// The state of every series, for a snapshot.
    pub fn snapshot(&self) -> Vec<SeriesSnapshot> {
        self.series.iter().map(Series::snapshot).collect()
    }

    /// Restores series from a snapshot (after [`set_rules`](Self::set_rules)); a series already
    /// present is replaced.
    pub fn restore(&mut self, snaps: Vec<SeriesSnapshot>) {
        for snap in snaps {
            let hash = snap.key.hash();
            let known = match self.index.get(&hash) {
                Some(&i) if self.series[i as usize].key == snap.key => Some(i),
                _ => self.collided.get(&snap.key).copied(),
            };
            let idx = match known {
                Some(i) => i,
                None => self.insert(snap.key.clone(), hash),
            };
            let s = &mut self.series[idx as usize];
            s.times = if snap.times.len() == snap.values.len() {
                snap.times.into()
            } else {
                // Saved before timestamps were kept: as of the latest point.
                vec![snap.last_ts; snap.values.len()].into()
            };
            s.values = snap.values.into();
            s.last_ts = snap.last_ts;
            s.alerts = snap.alerts;
            self.refresh(idx, true);
        }
    }

    /// Forgets series with no point since `cutoff` (Unix seconds) and no open problem, and any
    /// series silent since `hard_cutoff`, so that decommissioned hosts do not hold memory
    /// forever. Rebuilds the index and the timer wheel; returns how many were dropped.
    pub fn evict_idle(&mut self, cutoff: i64, hard_cutoff: i64) -> usize {
        // A host's heartbeat series stays while the host is watched (bounded by the registered
        // hosts): forgetting it would forget that the host is down, or that it never reported.
        let keep = |s: &Series| {
            s.alerts.iter().any(|(id, _)| *id == HOST_DOWN_STRATEGY)
                || (s.last_ts >= hard_cutoff
                    && (s.last_ts >= cutoff || s.alerts.iter().any(|(_, a)| a.problem)))
        };
        self.retain(keep).len()
    }

    /// Removes the series whose endpoint `keep` refuses (the ring moved it to another judge) and
    /// returns their state, for [`Engine::adopt`] there. No event is emitted: the alert goes on
    /// where the series went.
    pub fn hand_off(
        &mut self,
        keep: impl Fn(&argus_core::TenantId, &str) -> bool,
    ) -> Vec<SeriesSnapshot> {
        self.retain(|s| keep(&s.key.tenant, &s.key.endpoint))
            .into_iter()
            .map(|s| s.snapshot())
            .collect()
    }

    /// Takes over series handed off by another judge. A series this engine has started since
    /// (points arrived here before the state did) keeps both windows, merged by time, and the
    /// further advanced alert state of each strategy (more events sent, or a `for` pending
    /// since earlier), so that occurrence numbers go on from where the other judge was.
    pub fn adopt(&mut self, snaps: Vec<SeriesSnapshot>) {
        let mut fresh = Vec::new();
        for snap in snaps {
            let hash = snap.key.hash();
            let known = match self.index.get(&hash) {
                Some(&i) if self.series[i as usize].key == snap.key => Some(i),
                _ => self.collided.get(&snap.key).copied(),
            };
            let Some(idx) = known else {
                fresh.push(snap);
                continue;
            };
            let s = &mut self.series[idx as usize];
            let mut pts: Vec<(i64, f64)> = s
                .times
                .iter()
                .copied()
                .zip(s.values.iter().copied())
                .collect();
            let theirs = if snap.times.len() == snap.values.len() {
                snap.times
            } else {
                vec![snap.last_ts; snap.values.len()]
            };
            for (t, v) in theirs.into_iter().zip(snap.values) {
                if !pts.iter().any(|(x, _)| *x == t) {
                    pts.push((t, v));
                }
            }
            pts.sort_by_key(|(t, _)| *t);
            s.times = pts.iter().map(|(t, _)| *t).collect();
            s.values = pts.iter().map(|(_, v)| *v).collect();
            s.last_ts = s.last_ts.max(snap.last_ts);
            for (id, theirs) in snap.alerts {
                let ours = s.alert(id);
                let further = theirs.occurrence > ours.occurrence
                    || (theirs.occurrence == ours.occurrence
                        && match (theirs.pending_since, ours.pending_since) {
                            (Some(a), Some(b)) => a < b,
                            (Some(_), None) => true,
                            _ => false,
                        });
                if further {
                    *ours = theirs;
                }
            }
            self.refresh(idx, true);
        }
        self.restore(fresh);
    }

    /// Starts watching the registered hosts this engine newly owns (after a ring change).
    pub fn rewatch(&mut self, now: i64) {
        self.watch_registered(now);
    }

    /// Keeps the series `keep` accepts, rebuilding the index and the timers; returns the others.
    fn retain(&mut self, keep: impl Fn(&Series) -> bool) -> Vec<Series> {
        if self.series.iter().all(&keep) {
            return Vec::new();
        }
        let old = std::mem::take(&mut self.series);
        self.index.clear();
        self.collided.clear();
        self.wheel = Wheel::new();
        let mut gone = Vec::new();
        for s in old {
            if keep(&s) {
                let idx = self.insert(s.key.clone(), s.hash);
                self.series[idx as usize] = s;
            } else {
                gone.push(s);
            }
        }
        for i in 0..self.series.len() {
            self.refresh(i as u32, true);
        }
        gone
    }

    /// The hash of series `i` (for tests and sharding checks).
    pub fn series_hash_at(&self, i: usize) -> Option<u64> {
        self.series.get(i).map(|s| s.hash)
    }
}

impl Series {
    /// Drops the points no strategy needs any more: beyond the largest count, and older than the
    /// longest time window (a time window keeps at most [`MAX_WINDOW`] points).
    fn trim(&mut self) {
        let n = self.need;
        let keep = if n.secs > 0 {
            n.points.max(MAX_WINDOW)
        } else {
            n.points
        };
        while self.values.len() > keep {
            self.values.pop_front();
            self.times.pop_front();
        }
        if n.secs > 0 {
            let cutoff = self.last_ts.saturating_sub(n.secs as i64);
            while self.values.len() > n.points && self.times.front().is_some_and(|&t| t <= cutoff) {
                self.values.pop_front();
                self.times.pop_front();
            }
        }
    }
}

/// The windows an expression reads: the evaluated series and the series of other metrics with
/// its tenant, endpoint and tags.
struct Siblings<'a> {
    series: &'a [Series],
    index: &'a IdMap<u32>,
    collided: &'a HashMap<SeriesKey, u32>,
    own: &'a Series,
}

impl Windows for Siblings<'_> {
    fn points(&self, metric: Option<&str>) -> Option<(&[i64], &[f64])> {
        let k = &self.own.key;
        let s = match metric {
            None => self.own,
            Some(m) if m == k.metric => self.own,
            Some(m) => {
                let hash = series_hash(&k.tenant, &k.endpoint, m, &k.tags);
                let same = |s: &Series| {
                    s.key.metric == m
                        && s.key.tenant == k.tenant
                        && s.key.endpoint == k.endpoint
                        && s.key.tags == k.tags
                };
                match self.index.get(&hash) {
                    Some(&i) if same(&self.series[i as usize]) => &self.series[i as usize],
                    _ => {
                        let key = SeriesKey::new(k.tenant.clone(), &k.endpoint, m, k.tags.clone());
                        &self.series[*self.collided.get(&key)? as usize]
                    }
                }
            }
        };
        // Kept contiguous after every point (see `ingest_hashed`).
        let (t, v) = (s.times.as_slices(), s.values.as_slices());
        (t.1.is_empty() && v.1.is_empty()).then_some((t.0, v.0))
    }
}

/// Whether `cond` holds (`None`: an expression lacking data, undecided).
fn check(cond: &Condition, values: &[f64], now: i64, w: &Siblings) -> Option<bool> {
    match cond {
        Condition::Program(p) => p.eval(now, w),
        c => Some(c.eval(values).holds),
    }
}

/// The value an event reports for `cond`.
fn value_of(cond: &Condition, values: &[f64], now: i64, w: &Siblings) -> f64 {
    match cond {
        Condition::Program(p) => p.value(now, w),
        c => c.eval(values).value,
    }
}

/// The note of an OK that closes a problem because its strategy no longer applies.
fn closed_note(note: &str) -> String {
    let why = "closed: the strategy no longer applies to this series";
    if note.is_empty() {
        why.to_string()
    } else {
        format!("{note} ({why})")
    }
}

fn event(
    region: &str,
    key: &SeriesKey,
    c: &Compiled,
    a: &Alert,
    status: EventStatus,
    value: f64,
    timestamp: i64,
) -> Event {
    Event {
        id: EventId::of(c.strategy.id, key),
        tenant: key.tenant.clone(),
        status,
        occurrence: a.occurrence,
        strategy_id: c.strategy.id,
        template_id: c.template,
        series: key.clone(),
        priority: c.strategy.priority,
        condition: c.strategy.condition.clone(),
        // JSON has no infinities: an overflowing difference is reported as the largest number.
        value: if value.is_nan() {
            0.0
        } else {
            value.clamp(f64::MIN, f64::MAX)
        },
        timestamp,
        alarm_count: if status == EventStatus::Problem {
            a.alarms
        } else {
            0
        },
        note: c.strategy.note.clone(),
        region: region.to_string(),
        rule: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::strategy::{HostGroup, Template, TenantStrategies};
    use argus_core::{Tags, TenantId};

    fn rules() -> Arc<Rules> {
        let t = TenantId::new("acme").unwrap();
        let ts = TenantStrategies {
            tenant: t.clone(),
            version: 1,
            templates: vec![Template {
                id: 1,
                tenant: t.clone(),
                name: "t".into(),
                parent: None,
                strategies: vec![serde_json::from_value(serde_json::json!({
                    "id": 7, "metric": "cpu", "condition": "all(#1) > 90"
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
        };
        Arc::new(Rules::build(&[ts], None).0)
    }

    fn point(v: f64, ts: i64) -> Point {
        let mut p = Point::gauge("h1", "cpu", Tags::new(), v, ts);
        p.tenant = TenantId::new("acme").unwrap();
        p
    }

    #[test]
    fn state_restored_before_its_rules_arrive_is_kept() {
        let mut e = Engine::new("r");
        e.set_rules(rules(), 0, &mut vec![]);
        let mut out = vec![];
        e.ingest(&point(95.0, 10), &mut out);
        assert_eq!(out.len(), 1);
        let snap = e.snapshot();
        // A restart while the config center is unreachable and nothing is cached.
        let mut e = Engine::new("r");
        e.restore(snap);
        e.set_rules(Arc::new(Rules::default()), 0, &mut vec![]);
        assert_eq!(e.snapshot()[0].alerts.len(), 1, "alert state kept");
        e.set_rules(rules(), 0, &mut vec![]);
        out.clear();
        e.ingest(&point(50.0, 20), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, EventStatus::Ok);
        assert_eq!(out[0].occurrence, 2);
        assert_eq!(out[0].id, EventId::of(7, &SeriesKey::of(&point(0.0, 0))));
    }

    #[test]
    fn idle_series_are_evicted_unless_in_trouble() {
        let mut e = Engine::new("r");
        e.set_rules(rules(), 0, &mut vec![]);
        let mut out = vec![];
        let mut p = point(10.0, 100);
        e.ingest(&p, &mut out);
        p.endpoint = "h1".into();
        p.tags.insert("disk", "sda");
        p.value = 95.0; // an open problem
        e.ingest(&p, &mut out);
        p.tags.insert("disk", "sdb");
        p.value = 1.0;
        p.timestamp = 500;
        e.ingest(&p, &mut out);
        assert_eq!((e.series_count(), out.len()), (3, 1));
        assert_eq!(
            e.evict_idle(200, 0),
            1,
            "the quiet series without a problem"
        );
        assert_eq!(e.series_count(), 2);
        // The survivors are still found and evaluated.
        let mut q = point(50.0, 600);
        q.tags.insert("disk", "sda");
        out.clear();
        e.ingest(&q, &mut out);
        assert_eq!(out[0].status, EventStatus::Ok);
        assert_eq!(
            e.evict_idle(0, 550),
            1,
            "past the hard cutoff, problem or not"
        );
        assert_eq!(e.series_count(), 1);
    }

    #[test]
    fn non_finite_values_are_reported_as_finite() {
        let mut e = Engine::new("r");
        e.set_rules(rules(), 0, &mut vec![]);
        let mut out = vec![];
        e.ingest(&point(f64::INFINITY, 10), &mut out);
        assert_eq!(out[0].value, f64::MAX);
        let back: Event = serde_json::from_str(&serde_json::to_string(&out[0]).unwrap()).unwrap();
        assert_eq!(back.value, f64::MAX);
    }
}
