//! Golden-file tests: each `tests/golden/*.golden` file declares strategies, feeds points and
//! timer ticks to the engine, and lists the events expected after each step.
//!
//! ```text
//! # comment
//! tenant acme                                   # the tenant of what follows
//! template id=1 name=base parent=2
//! strategy id=10 template=1 metric=cpu.idle tags=k=v cond="all(#3) > 90" recovery="all(#1) < 80"
//!          priority=1 max=3 active=09:00-18:00 days=0,1 tz=Asia/Shanghai for=180 note="..."
//! expression id=20 metric=cpu.idle tags=service=db cond="max(#2) > 1"
//! group id=1 hosts=h1,h2 templates=1,2
//! hosts h5,h6                                   # registered hosts outside groups
//! liveness metric=agent.alive down=60 priority=1 # the built-in "host down" check
//! reload                                        # the config lines that follow replace it all
//! refused "cycle"                               # the last applied config refused a tenant so
//! > h1 cpu.idle{k=v} 95 @100                    # a point (endpoint, metric{tags}, value, time)
//! tick 400                                      # nodata timers at now = 400
//! restart                                       # snapshot to JSON, fresh engine, restore
//! judge b                                       # points go to judge b from here (first: a)
//! move h1,h2 to b                               # the ring moves endpoints to judge b: their
//!                                               # state goes there as JSON (`hand_off`, `adopt`)
//! < PROBLEM s=10 tpl=1 acme/h1/cpu.idle{k=v} occ=1 n=1 v=95 @100
//! ```
//! The `<` lines after a step are exactly the events that step emitted, in order.

use argus_core::event::Event;
use argus_core::strategy::{
    ActiveWindow, ExpressionStrategy, HostGroup, Priority, Strategy, Template, TenantStrategies,
};
use argus_core::{Point, Tags, TenantId};
use argus_judge::engine::{Engine, SeriesSnapshot};
use argus_judge::rules::{Liveness, Rules};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn kv(toks: &[String]) -> Vec<(String, String)> {
    toks.iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect()
}

fn get<'a>(kv: &'a [(String, String)], k: &str) -> Option<&'a str> {
    kv.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

fn ids(s: &str) -> Vec<u64> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect()
}

fn hhmm(s: &str) -> u16 {
    let (h, m) = s.split_once(':').expect("HH:MM");
    h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap()
}

fn strategy(kv: &[(String, String)]) -> Strategy {
    let active = get(kv, "active").map(|a| {
        let (s, e) = a.split_once('-').expect("active=HH:MM-HH:MM");
        ActiveWindow {
            start_minute: hhmm(s),
            end_minute: hhmm(e),
            days: get(kv, "days")
                .map(|d| ids(d).into_iter().map(|x| x as u8).collect())
                .unwrap_or_default(),
            time_zone: get(kv, "tz").map(String::from),
        }
    });
    Strategy {
        id: get(kv, "id").expect("id").parse().unwrap(),
        metric: get(kv, "metric").expect("metric").to_string(),
        tags: Tags::parse_falcon(get(kv, "tags").unwrap_or("")).unwrap(),
        condition: get(kv, "cond").expect("cond").to_string(),
        recovery: get(kv, "recovery").map(str::to_string),
        priority: Priority::new(get(kv, "priority").map_or(2, |p| p.parse().unwrap())).unwrap(),
        max_alarms: get(kv, "max").map_or(3, |m| m.parse().unwrap()),
        note: get(kv, "note").unwrap_or("").to_string(),
        active,
        for_secs: get(kv, "for").map_or(0, |f| f.parse().unwrap()),
    }
}

struct Model {
    tenants: Vec<TenantStrategies>,
    current: usize,
    version: u64,
    dirty: bool,
    liveness: Option<Liveness>,
}

impl Model {
    fn t(&mut self) -> &mut TenantStrategies {
        &mut self.tenants[self.current]
    }
    fn tenant_id(&self) -> TenantId {
        self.tenants[self.current].tenant.clone()
    }
}

fn point_line(tenant: &TenantId, toks: &[String]) -> Point {
    let (metric, tags) = match toks[1].split_once('{') {
        Some((m, t)) => (
            m.to_string(),
            Tags::parse_falcon(t.trim_end_matches('}')).unwrap(),
        ),
        None => (toks[1].clone(), Tags::new()),
    };
    let mut p = Point::gauge(
        &toks[0],
        &metric,
        tags,
        toks[2].parse().unwrap(),
        toks[3].trim_start_matches('@').parse().unwrap(),
    );
    p.tenant = tenant.clone();
    p
}

fn fmt_value(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn render(e: &Event) -> String {
    format!(
        "{} s={} tpl={} {} occ={} n={} v={} @{}",
        e.status.as_str(),
        e.strategy_id,
        e.template_id.map_or("-".to_string(), |t| t.to_string()),
        e.series,
        e.occurrence,
        e.alarm_count,
        fmt_value(e.value),
        e.timestamp
    )
}

fn run(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut model = Model {
        tenants: vec![],
        current: 0,
        version: 0,
        dirty: false,
        liveness: None,
    };
    // The judges of the file (each an engine), by name; points go to `current`.
    let mut judges: Vec<(String, Engine)> = vec![("a".into(), Engine::new("r1"))];
    let mut current = 0;
    let mut rules = Arc::new(Rules::default());
    let mut refused: Vec<String> = vec![];
    let mut actual: VecDeque<String> = VecDeque::new();
    let mut checked = 0;
    // The latest time the file has shown (points, ticks): when a reload takes effect.
    let mut clock = 0i64;
    for (n, raw) in text.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        let line = match raw.find(" #") {
            Some(i) if !raw.trim_start().starts_with('<') => &raw[..i],
            _ => raw,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(expected) = line.strip_prefix('<') {
            let expected = expected.trim();
            match actual.pop_front() {
                Some(got) => assert_eq!(got, expected, "{at}: event differs"),
                None => panic!("{at}: expected `{expected}` but no (more) events were emitted"),
            }
            checked += 1;
            continue;
        }
        let toks = tokens(line);
        let kvs = kv(&toks[1..]);
        let is_config = matches!(
            toks[0].as_str(),
            "tenant"
                | "template"
                | "strategy"
                | "expression"
                | "group"
                | "reload"
                | "hosts"
                | "liveness"
        );
        if !is_config {
            assert!(
                actual.is_empty(),
                "{at}: unexpected events before this line: {actual:#?}"
            );
            if model.dirty {
                model.version += 1;
                for t in &mut model.tenants {
                    t.version = model.version;
                }
                let (r, refs) =
                    Rules::build_with(&model.tenants, Some(&rules), model.liveness.as_ref());
                refused = refs
                    .iter()
                    .map(|r| format!("{}: {}", r.tenant, r.error))
                    .collect();
                rules = Arc::new(r);
                let mut closed = Vec::new();
                for (_, e) in &mut judges {
                    e.set_rules(rules.clone(), clock, &mut closed);
                }
                actual.extend(closed.iter().map(render));
                model.dirty = false;
            }
        } else {
            model.dirty = true;
        }
        let mut out = Vec::new();
        match toks[0].as_str() {
            "tenant" => {
                let id = TenantId::new(toks[1].clone()).unwrap();
                model.current = match model.tenants.iter().position(|t| t.tenant == id) {
                    Some(i) => i,
                    None => {
                        model.tenants.push(TenantStrategies {
                            tenant: id,
                            ..Default::default()
                        });
                        model.tenants.len() - 1
                    }
                };
            }
            "reload" => {
                model.tenants.clear();
                model.current = 0;
            }
            "template" => {
                let tenant = model.tenant_id();
                model.t().templates.push(Template {
                    id: get(&kvs, "id").unwrap().parse().unwrap(),
                    tenant,
                    name: get(&kvs, "name").unwrap_or("t").to_string(),
                    parent: get(&kvs, "parent").map(|p| p.parse().unwrap()),
                    strategies: vec![],
                });
            }
            "strategy" => {
                let tpl: u64 = get(&kvs, "template").expect("template=").parse().unwrap();
                let s = strategy(&kvs);
                let t = model.t().templates.iter_mut().find(|t| t.id == tpl);
                t.unwrap_or_else(|| panic!("{at}: template {tpl} not declared"))
                    .strategies
                    .push(s);
            }
            "expression" => {
                let tenant = model.tenant_id();
                model.t().expressions.push(ExpressionStrategy {
                    tenant,
                    strategy: strategy(&kvs),
                });
            }
            "group" => {
                let tenant = model.tenant_id();
                model.t().host_groups.push(HostGroup {
                    id: get(&kvs, "id").unwrap().parse().unwrap(),
                    tenant,
                    name: "g".into(),
                    hosts: get(&kvs, "hosts")
                        .unwrap_or("")
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                    templates: ids(get(&kvs, "templates").unwrap_or("")),
                });
            }
            "hosts" => {
                let hosts = toks[1].split(',').map(str::to_string);
                model.t().hosts.extend(hosts);
            }
            "liveness" => {
                model.liveness = Some(Liveness {
                    metric: get(&kvs, "metric").unwrap_or("agent.alive").to_string(),
                    down_after_secs: get(&kvs, "down").expect("down=").parse().unwrap(),
                    priority: Priority::new(
                        get(&kvs, "priority").map_or(1, |p| p.parse().unwrap()),
                    )
                    .unwrap(),
                });
            }
            "refused" => {
                let want = &toks[1];
                assert!(
                    refused.iter().any(|r| r.contains(want.as_str())),
                    "{at}: expected a refusal containing {want:?}, got {refused:?}"
                );
                checked += 1;
            }
            ">" => {
                let p = point_line(&model.tenant_id(), &toks[1..]);
                clock = clock.max(p.timestamp);
                judges[current].1.ingest(&p, &mut out)
            }
            "tick" => {
                clock = toks[1].parse().unwrap();
                for (_, e) in &mut judges {
                    e.tick(clock, &mut out);
                }
            }
            "restart" => {
                let engine = &mut judges[current].1;
                let json = serde_json::to_string(&engine.snapshot()).unwrap();
                let snaps: Vec<SeriesSnapshot> = serde_json::from_str(&json).unwrap();
                *engine = Engine::new("r1");
                engine.set_rules(rules.clone(), clock, &mut Vec::new());
                engine.restore(snaps);
            }
            "judge" => current = judge(&mut judges, &toks[1], &rules, clock),
            "move" => {
                assert_eq!(
                    toks.get(2).map(String::as_str),
                    Some("to"),
                    "{at}: move H,.. to J"
                );
                let hosts: Vec<&str> = toks[1].split(',').collect();
                let to = judge(&mut judges, &toks[3], &rules, clock);
                let from = current;
                assert_ne!(from, to, "{at}: moving to the same judge");
                let gone = judges[from].1.hand_off(|_, e| !hosts.contains(&e));
                assert!(!gone.is_empty(), "{at}: nothing to move");
                // As the judges send it: JSON.
                let json = serde_json::to_string(&gone).unwrap();
                judges[to].1.adopt(serde_json::from_str(&json).unwrap());
            }
            other => panic!("{at}: unknown directive {other:?}"),
        }
        actual.extend(out.iter().map(render));
    }
    assert!(
        actual.is_empty(),
        "{name}: unexpected events at the end: {actual:#?}"
    );
    assert!(checked > 0, "{name}: checks nothing");
}

/// The index of judge `name`, started (with `rules`) on first mention.
fn judge(judges: &mut Vec<(String, Engine)>, name: &str, rules: &Arc<Rules>, now: i64) -> usize {
    if let Some(i) = judges.iter().position(|(n, _)| n == name) {
        return i;
    }
    let mut e = Engine::new("r1");
    e.set_rules(rules.clone(), now, &mut Vec::new());
    judges.push((name.to_string(), e));
    judges.len() - 1
}

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "golden"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "golden files missing in {}",
        dir.display()
    );
    for f in &files {
        eprintln!("golden: {}", f.display());
        run(f);
    }
}
