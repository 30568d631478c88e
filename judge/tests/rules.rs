//! Recording and alert rules over real HTTP: a judge evaluates the rules it pulls from a local
//! config center over the series of a local region, which answers selections by matching its
//! stored series' PromQL labels, stores the points pushed to it, and (as web) evaluates global
//! rules' queries with the same PromQL engine; events go to a local alarm receiver.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::event::{Event, EventStatus};
use argus_core::query::{SelectQuery, SeriesData};
use argus_core::wire::{decode_body, frame, Encoding};
use argus_core::{Point, SeriesKey, Tags, TenantId};
use argus_judge::{start, JudgeConfig, Running};
use argus_promql::labels::{labels_of, series_of, CompiledMatchers};
use argus_promql::{EvalRange, Fetched, Limits, Query};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "node-secret";

/// The region (transfer select and push), web (rules document, global queries) and alarm.
#[derive(Default)]
struct World {
    series: Mutex<BTreeMap<SeriesKey, BTreeMap<i64, f64>>>,
    /// Every push that was answered 200, in order.
    pushes: Mutex<Vec<Vec<Point>>>,
    /// Pushes answered 503 before any is taken.
    fail_pushes: AtomicUsize,
    rules: Mutex<Value>,
    events: Mutex<Vec<Event>>,
    /// The rules' status reports posted to web, decompressed, with their region header.
    reports: Mutex<Vec<(Option<String>, Value)>>,
}

impl World {
    fn put(
        &self,
        tenant: &str,
        endpoint: &str,
        metric: &str,
        tags: &[(&str, &str)],
        v: f64,
        t: i64,
    ) {
        let key = SeriesKey::new(
            TenantId::new(tenant).unwrap(),
            endpoint,
            metric,
            Tags::from_pairs(tags.iter().copied()),
        );
        self.series
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .insert(t, v);
    }

    fn select(&self, q: &SelectQuery) -> Result<Vec<SeriesData>, String> {
        let m = CompiledMatchers::new(&q.matchers).map_err(|e| e.message)?;
        Ok(self
            .series
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.tenant == q.tenant && m.matches(&labels_of(k)))
            .map(|(k, pts)| SeriesData {
                key: k.clone(),
                points: pts.range(q.start..=q.end).map(|(t, v)| (*t, *v)).collect(),
            })
            .filter(|d| !d.points.is_empty())
            .collect())
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn events_of(&self, rule: u64) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.rule.as_ref().is_some_and(|r| r.id == rule))
            .collect()
    }

    fn pushed(&self) -> Vec<Point> {
        self.pushes.lock().unwrap().concat()
    }
}

fn authorized(req: &HttpRequest) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
}

async fn select(
    req: HttpRequest,
    q: web::Json<SelectQuery>,
    w: web::Data<Arc<World>>,
) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    match w.select(&q) {
        Ok(data) => HttpResponse::Ok().json(data),
        Err(e) => HttpResponse::BadRequest().body(e),
    }
}

async fn push(req: HttpRequest, body: web::Bytes, w: web::Data<Arc<World>>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let h = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok());
    assert_eq!(h("content-type"), Some(frame::CONTENT_TYPE));
    if w.fail_pushes
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let enc = Encoding::from_header(h("content-encoding")).unwrap();
    let raw = decode_body(enc, &body, 64 << 20).unwrap();
    let (good, rejected) = frame::decode_lenient(&raw).unwrap();
    assert!(rejected.is_empty());
    let points: Vec<Point> = good.into_iter().map(|(_, p)| p).collect();
    for p in &points {
        let tags: Vec<(&str, &str)> = p.tags.iter().collect();
        w.put(
            p.tenant.as_str(),
            &p.endpoint,
            &p.metric,
            &tags,
            p.value,
            p.timestamp,
        );
    }
    let n = points.len();
    w.pushes.lock().unwrap().push(points);
    HttpResponse::Ok().json(json!({"accepted": n, "rejected": []}))
}

/// Web's `/internal/v1/query/promql`: the query evaluated over every stored series.
async fn promql(
    req: HttpRequest,
    body: web::Json<Value>,
    w: web::Data<Arc<World>>,
) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let tenant = TenantId::new(body["tenant"].as_str().unwrap()).unwrap();
    let t_ms = body["time"].as_i64().unwrap() * 1000;
    let query = match Query::parse(body["query"].as_str().unwrap()) {
        Ok(q) => q,
        Err(e) => return HttpResponse::BadRequest().body(argus_promql::json::error(&e)),
    };
    let range = EvalRange::instant(t_ms);
    let mut fetched = Fetched::new();
    for sel in query.selections(&range) {
        let q = SelectQuery {
            tenant: tenant.clone(),
            matchers: sel.matchers.clone(),
            start: sel.start_ms.div_euclid(1000),
            end: sel.end_ms.div_euclid(1000),
            limit: None,
            series_only: false,
        };
        let series = w.select(&q).unwrap().iter().map(series_of).collect();
        fetched.insert(sel.key(), series);
    }
    match query.eval(&range, &fetched, &Limits::default()) {
        Ok(a) => HttpResponse::Ok()
            .content_type("application/json")
            .body(argus_promql::json::answer(&a, t_ms, &[])),
        Err(e) => HttpResponse::UnprocessableEntity().body(argus_promql::json::error(&e)),
    }
}

async fn rules(req: HttpRequest, w: web::Data<Arc<World>>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let doc = w.rules.lock().unwrap().clone();
    let etag = format!("\"{}\"", doc["version"]);
    if req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some(&etag)
    {
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok().insert_header(("etag", etag)).json(doc)
}

async fn events(
    req: HttpRequest,
    body: web::Json<Value>,
    w: web::Data<Arc<World>>,
) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let events: Vec<Event> = serde_json::from_value(body["events"].clone()).unwrap();
    w.events.lock().unwrap().extend(events);
    HttpResponse::Ok().json(json!({"accepted": 1, "duplicates": 0}))
}

/// Web's `/internal/v1/rules/status`: a judge's report of its rules, zstd-compressed.
async fn rules_status(
    req: HttpRequest,
    body: web::Bytes,
    w: web::Data<Arc<World>>,
) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let h = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok());
    assert_eq!(h("content-encoding"), Some("zstd"));
    let report: Value = serde_json::from_slice(&zstd::decode_all(&body[..]).unwrap()).unwrap();
    let region = h("x-argus-region").map(str::to_string);
    w.reports.lock().unwrap().push((region, report));
    HttpResponse::Ok().json(json!({}))
}

/// Serves the world; its base URL (transfer, web and alarm at once).
async fn serve(w: Arc<World>) -> String {
    let data = web::Data::new(w);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/internal/v1/query/select", web::post().to(select))
            .route("/internal/v1/push", web::post().to(push))
            .route("/internal/v1/query/promql", web::post().to(promql))
            .route("/internal/v1/config/rules", web::get().to(rules))
            .route(
                "/internal/v1/config/strategies",
                web::get()
                    .to(|| async { HttpResponse::Ok().json(json!({"version": 0, "tenants": []})) }),
            )
            .route("/internal/v1/events", web::post().to(events))
            .route("/internal/v1/rules/status", web::post().to(rules_status))
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    tokio::spawn(server);
    format!("http://{addr}")
}

fn config(dir: &Path, url: &str) -> JudgeConfig {
    let mut c = JudgeConfig {
        listen: "127.0.0.1:0".into(),
        region: "r1".into(),
        internal_token: TOKEN.into(),
        config_center: Some(url.into()),
        alarm: vec![url.into()],
        data_dir: dir.to_path_buf(),
        shards: 1,
        workers: 1,
        max_backoff_ms: 300,
        pull_interval_secs: 1,
        ..Default::default()
    };
    c.rules.transfers = vec![url.into()];
    c
}

fn now() -> i64 {
    argus_core::time::now_secs()
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn status(judge: &Running) -> Value {
    reqwest::Client::new()
        .get(format!("{}/internal/v1/rules/status", judge.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn rule_status(status: &Value, kind: &str, id: u64) -> Value {
    status["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind && r["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls the judge's status until `f` holds for it.
async fn wait_status(judge: &Running, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let s = status(judge).await;
        if f(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}: {}", status(judge).await);
}

fn alert(id: u64, name: &str, expr: &str, for_secs: u32) -> Value {
    json!({"id": id, "alert": name, "expr": expr, "for_secs": for_secs, "interval_secs": 1,
           "priority": 1, "labels": {"severity": "page"},
           "annotations": {"summary": "{{ $labels.endpoint }} is hot: {{ $value }}"}})
}

#[actix_web::test]
async fn alert_rule_pending_firing_resolved_and_a_failing_rule_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(World::default());
    let t0 = now();
    w.put("acme", "h1", "temp", &[], 95.0, t0 - 5);
    w.put("acme", "h2", "temp", &[], 50.0, t0 - 5);
    // Another tenant's hot host: never an alert of acme's rules.
    w.put("beta", "h9", "temp", &[], 99.0, t0 - 5);
    *w.rules.lock().unwrap() = json!({"version": 1, "tenants": {"acme": {"alerting": [
        alert(1, "Hot", "temp > 90", 2),
        alert(2, "Broken", "temp * on() temp", 0),
        alert(3, "Patient", "temp > 90", 3600),
    ]}}});
    let url = serve(w.clone()).await;
    let judge = start(config(&dir.path().join("j"), &url)).await.unwrap();

    // Pending first: nothing is sent before `for` elapsed.
    let s = wait_status(&judge, "rule 1 pending", |s| {
        rule_status(s, "alert", 1)["alerts"][0]["state"] == "pending"
    })
    .await;
    let active_at = rule_status(&s, "alert", 1)["alerts"][0]["active_at"]
        .as_i64()
        .unwrap();
    assert!(w.events_of(1).is_empty());

    wait_for("the PROBLEM", || !w.events_of(1).is_empty()).await;
    let e = w.events_of(1)[0].clone();
    assert_eq!(e.status, EventStatus::Problem);
    assert_eq!(e.tenant.as_str(), "acme");
    assert_eq!(e.series.tenant.as_str(), "acme");
    assert!(
        e.timestamp - active_at >= 2,
        "fired at {} for active_at {active_at}",
        e.timestamp
    );
    assert_eq!((e.occurrence, e.priority.level(), e.strategy_id), (1, 1, 0));
    assert_eq!(
        (e.series.endpoint.as_str(), e.series.metric.as_str()),
        ("h1", "Hot")
    );
    assert_eq!(e.value, 95.0);
    let r = e.rule.as_ref().unwrap();
    assert_eq!(
        r.labels,
        BTreeMap::from([
            ("alertname".to_string(), "Hot".to_string()),
            ("endpoint".to_string(), "h1".to_string()),
            ("severity".to_string(), "page".to_string()),
        ])
    );
    assert_eq!(r.annotations["summary"], "h1 is hot: 95");
    assert_eq!(e.note, "h1 is hot: 95");

    // The failing rule is reported, and did not stop the others.
    let s = status(&judge).await;
    let broken = rule_status(&s, "alert", 2);
    assert_eq!(broken["health"], "error", "{broken}");
    assert!(
        broken["last_error"]
            .as_str()
            .unwrap()
            .contains("many-to-many"),
        "{broken}"
    );
    assert_eq!(rule_status(&s, "alert", 1)["health"], "ok");

    // `for` not elapsed: pending, never sent.
    let patient = rule_status(&s, "alert", 3);
    assert_eq!(patient["alerts"][0]["state"], "pending", "{patient}");
    assert!(w.events_of(3).is_empty());

    // h1 cools down: resolved.
    w.put("acme", "h1", "temp", &[], 10.0, now());
    wait_for("the OK", || w.events_of(1).len() >= 2).await;
    let ok = &w.events_of(1)[1];
    assert_eq!(ok.status, EventStatus::Ok);
    assert_eq!((ok.id.clone(), ok.occurrence), (e.id.clone(), 2));
    assert_eq!(ok.tenant.as_str(), "acme");

    // Rule 3 was dropped silently with its pending alert; the other tenant's series never seen.
    let s = status(&judge).await;
    assert_eq!(rule_status(&s, "alert", 3)["alerts"], json!([]));
    assert!(w.events_of(3).is_empty());
    assert_eq!(w.events().len(), 2, "{:?}", w.events());
    assert!(w.events().iter().all(|e| e.series.endpoint != "h9"));

    // The status needs the internal credential; metrics count evaluations by result.
    let r = reqwest::get(format!("{}/internal/v1/rules/status", judge.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let m = reqwest::get(format!("{}/metrics", judge.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |needle: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        count(r#"argus_judge_rule_evaluations_total{kind="alert",result="error"}"#) >= 1,
        "{m}"
    );
    assert!(
        count(r#"argus_judge_rule_evaluations_total{kind="alert",result="ok"}"#) >= 3,
        "{m}"
    );
    assert!(
        count("argus_judge_rule_evaluation_seconds_count") >= 4,
        "{m}"
    );
    judge.stop().await;
}

#[actix_web::test]
async fn restart_keeps_the_for_timer_and_does_not_send_a_firing_alert_again() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(World::default());
    let t0 = now();
    w.put("acme", "h1", "temp", &[], 95.0, t0 - 5);
    w.put("acme", "h2", "load", &[], 9.0, t0 - 5);
    *w.rules.lock().unwrap() = json!({"version": 1, "tenants": {"acme": {"alerting": [
        alert(1, "Hot", "temp > 90", 5),
        alert(2, "Loaded", "load > 5", 0),
    ]}}});
    let url = serve(w.clone()).await;
    let cfg = config(&dir.path().join("j"), &url);
    let judge = start(cfg.clone()).await.unwrap();
    let s = wait_status(&judge, "rule 1 pending", |s| {
        rule_status(s, "alert", 1)["alerts"][0]["state"] == "pending"
    })
    .await;
    let active_at = rule_status(&s, "alert", 1)["alerts"][0]["active_at"]
        .as_i64()
        .unwrap();
    wait_for("rule 2's PROBLEM", || w.events_of(2).len() == 1).await;
    judge.stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let judge = start(cfg).await.unwrap();
    wait_for("rule 1's PROBLEM", || !w.events_of(1).is_empty()).await;
    let e = &w.events_of(1)[0];
    // At its original time (or the first evaluation after it), not 5 s after the restart.
    assert!(
        (5..=6).contains(&(e.timestamp - active_at)),
        "fired at {} for active_at {active_at}",
        e.timestamp
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.events_of(2).len(), 1, "{:?}", w.events_of(2));
    assert_eq!(w.events_of(1).len(), 1);
    judge.stop().await;
}

#[actix_web::test]
async fn recording_rules_write_points_that_read_back_with_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(World::default());
    let t0 = now();
    // As remote write stores them: the endpoint from `instance`, marked.
    for (inst, v) in [("10.0.0.1:9100", 1.0), ("10.0.0.2:9100", 0.0)] {
        w.put(
            "acme",
            inst,
            "up",
            &[
                ("instance", inst),
                ("job", "node"),
                ("__endpoint_label__", "instance"),
            ],
            v,
            t0 - 5,
        );
    }
    w.put("acme", "h1", "temp", &[("dc", "x")], 21.0, t0 - 5);
    w.put("beta", "h9", "temp", &[], 99.0, t0 - 5);
    *w.rules.lock().unwrap() = json!({"version": 1, "tenants": {
        "acme": {"recording": [
            {"id": 1, "record": "job:up:count", "expr": "count by (job) (up)", "interval_secs": 1,
             "labels": {"team": "core"}},
            {"id": 2, "record": "temp:double", "expr": "temp * 2", "interval_secs": 1},
        ]},
        "beta": {"recording": [
            {"id": 1, "record": "temp:double", "expr": "temp * 2", "interval_secs": 1},
        ]},
    }});
    // The first transfer is down and the other refuses twice: points are kept and sent later.
    w.fail_pushes.store(2, Ordering::SeqCst);
    let url = serve(w.clone()).await;
    let mut cfg = config(&dir.path().join("j"), &url);
    cfg.rules.transfers = vec!["http://127.0.0.1:9".into(), url.clone()];
    let judge = start(cfg).await.unwrap();
    wait_status(&judge, "a push failure reported", |s| {
        rule_status(s, "recording", 1)["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("kept for the next evaluation"))
            || !w.pushed().is_empty()
    })
    .await;
    wait_for("points of both tenants", || {
        let p = w.pushed();
        p.iter().any(|p| p.tenant.as_str() == "beta")
            && p.iter().any(|p| p.metric == "job:up:count")
    })
    .await;
    let pushed = w.pushed();
    let first = pushed.iter().map(|p| p.timestamp).min().unwrap();
    assert!(first >= t0 - 1 && first <= now(), "{first} vs {t0}");
    for p in &pushed {
        assert_eq!(p.counter_type, argus_core::CounterType::Gauge);
        assert_eq!(p.step, 1);
    }
    let count = pushed.iter().find(|p| p.metric == "job:up:count").unwrap();
    assert_eq!((count.tenant.as_str(), count.value), ("acme", 2.0));
    let back: BTreeMap<String, String> = labels_of(&SeriesKey::of(count))
        .pairs()
        .iter()
        .cloned()
        .collect();
    assert_eq!(
        back,
        BTreeMap::from([
            ("__name__".to_string(), "job:up:count".to_string()),
            ("job".to_string(), "node".to_string()),
            ("team".to_string(), "core".to_string()),
        ])
    );
    let double: Vec<&Point> = pushed
        .iter()
        .filter(|p| p.metric == "temp:double")
        .collect();
    for p in &double {
        match p.tenant.as_str() {
            "acme" => {
                assert_eq!((p.endpoint.as_str(), p.value), ("h1", 42.0));
                assert_eq!(p.tags, Tags::from_pairs([("dc", "x")]));
            }
            "beta" => assert_eq!((p.endpoint.as_str(), p.value), ("h9", 198.0)),
            t => panic!("tenant {t}"),
        }
    }
    // The evaluations whose push failed were delivered later: a series at several times in
    // one push.
    let batches = w.pushes.lock().unwrap().clone();
    assert!(
        batches.iter().any(|b| {
            let mut n: BTreeMap<SeriesKey, usize> = BTreeMap::new();
            for p in b {
                *n.entry(SeriesKey::of(p)).or_default() += 1;
            }
            n.values().any(|c| *c >= 2)
        }),
        "no push carried kept points: {batches:?}"
    );
    // Through PromQL, the recorded series is a series like any other.
    wait_for("the recorded series readable", || {
        w.select(&SelectQuery {
            tenant: TenantId::new("acme").unwrap(),
            matchers: Query::parse_selector(r#"job:up:count{team="core",job="node"}"#).unwrap(),
            start: 0,
            end: i64::MAX,
            limit: None,
            series_only: false,
        })
        .unwrap()
        .len()
            == 1
    })
    .await;
    judge.stop().await;
}

/// `xxh3(tenant, 0, id) % shard_count`, as documented for `[rules]`.
fn shard_of(tenant: &str, id: u64, count: u64) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(tenant.as_bytes());
    h.update(&[0]);
    h.update(&id.to_le_bytes());
    h.digest() % count
}

#[actix_web::test]
async fn rules_are_sharded_and_global_rules_go_to_global_judges() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(World::default());
    w.put("acme", "h1", "temp", &[], 95.0, now() - 5);
    let recording: Vec<Value> = (1..=12)
        .map(|id| json!({"id": id, "record": format!("r{id}"), "expr": "temp", "interval_secs": 1}))
        .collect();
    let mut global = alert(100, "GlobalHot", "max(temp) > 90", 0);
    global["global"] = json!(true);
    *w.rules.lock().unwrap() = json!({"version": 1, "tenants": {"acme": {
        "recording": recording, "alerting": [global]}}});
    let url = serve(w.clone()).await;
    let mut judges = Vec::new();
    for i in 0..2 {
        let mut cfg = config(&dir.path().join(format!("j{i}")), &url);
        cfg.rules.shard_index = i;
        cfg.rules.shard_count = 2;
        cfg.rules.global = i == 1;
        judges.push(start(cfg).await.unwrap());
    }
    let mut seen = Vec::new();
    for (i, j) in judges.iter().enumerate() {
        let s = status(j).await;
        for r in s["rules"].as_array().unwrap() {
            let id = r["id"].as_u64().unwrap();
            assert_eq!(shard_of("acme", id, 2), i as u64, "judge {i} took {r}");
            if r["global"] == true {
                assert_eq!(i, 1, "a global rule on a regional judge: {r}");
            }
            seen.push((r["kind"].as_str().unwrap().to_string(), id));
        }
    }
    seen.sort();
    let mut want: Vec<(String, u64)> = (1..=12).map(|id| ("recording".to_string(), id)).collect();
    if shard_of("acme", 100, 2) == 1 {
        want.push(("alert".to_string(), 100));
    }
    want.sort();
    assert_eq!(seen, want, "each rule once");
    // Every recording rule is written, each by one judge: one series per rule.
    wait_for("every recording rule's points", || {
        let p = w.pushed();
        (1..=12).all(|id| p.iter().any(|p| p.metric == format!("r{id}")))
    })
    .await;
    for j in judges {
        j.stop().await;
    }
}

#[actix_web::test]
async fn a_global_alert_rule_is_evaluated_by_web_and_fires() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(World::default());
    w.put("acme", "h1", "temp", &[], 95.0, now() - 5);
    w.put("beta", "h9", "temp", &[], 99.0, now() - 5);
    let mut global = alert(7, "FleetHot", "max(temp) > 90", 0);
    global["global"] = json!(true);
    *w.rules.lock().unwrap() = json!({"version": 1, "tenants": {"beta": {"alerting": [global]}}});
    let url = serve(w.clone()).await;
    let mut cfg = config(&dir.path().join("j"), &url);
    cfg.rules.global = true;
    cfg.rules.transfers = vec![];
    let judge = start(cfg).await.unwrap();
    wait_for("the global PROBLEM", || !w.events_of(7).is_empty()).await;
    let e = &w.events_of(7)[0];
    assert_eq!(
        (e.tenant.as_str(), e.series.tenant.as_str()),
        ("beta", "beta")
    );
    assert_eq!(e.value, 99.0, "beta's series only");
    assert_eq!(
        e.rule.as_ref().unwrap().annotations["summary"],
        " is hot: 99"
    );
    judge.stop().await;
}

#[actix_web::test]
async fn the_judge_reports_its_rules_status_to_web() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(World::default());
    let t0 = now();
    w.put("acme", "h1", "temp", &[], 95.0, t0 - 5);
    w.put("acme", "h2", "temp", &[], 50.0, t0 - 5);
    *w.rules.lock().unwrap() = json!({"version": 1, "tenants": {"acme": {
        "alerting": [alert(1, "Hot", "temp > 90", 3600), alert(2, "Broken", "temp * on() temp", 0)],
        "recording": [{"id": 7, "record": "temp:max", "expr": "max(temp)", "interval_secs": 1}],
    }}});
    let url = serve(w.clone()).await;
    let judge = start(config(&dir.path().join("j"), &url)).await.unwrap();
    let reported = |kind: &str, id: u64| -> Value {
        let reports = w.reports.lock().unwrap();
        let Some((_, r)) = reports.last() else {
            return Value::Null;
        };
        r["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    for _ in 0..200 {
        if reported("alert", 2)["health"] == "error"
            && reported("alert", 1)["pending"] == 1
            && reported("recording", 7)["health"] == "ok"
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        reported("alert", 2)["health"],
        "error",
        "{:?}",
        w.reports.lock().unwrap().last()
    );
    assert_eq!(reported("alert", 1)["pending"], 1);
    assert_eq!(
        reported("recording", 7)["health"],
        "ok",
        "{}",
        status(&judge).await
    );
    let (region, report) = w.reports.lock().unwrap().last().cloned().unwrap();
    assert_eq!(region.as_deref(), Some("r1"));
    assert_eq!(report["region"], "r1");
    assert_eq!(report["judge"], judge.url());
    assert!(
        (report["sent_at"].as_i64().unwrap() - now()).abs() <= 5,
        "{report}"
    );
    assert_eq!(report["rules"].as_array().unwrap().len(), 3, "{report}");
    let broken = reported("alert", 2);
    assert_eq!(broken["tenant"], "acme");
    assert!(
        broken["last_error"]
            .as_str()
            .unwrap()
            .contains("many-to-many"),
        "{broken}"
    );
    assert!(
        broken["last_evaluation"].as_i64().unwrap() >= t0,
        "{broken}"
    );
    let hot = reported("alert", 1);
    assert_eq!(
        (hot["health"].clone(), hot["firing"].clone()),
        (json!("ok"), json!(0))
    );
    assert!(hot["last_error"].is_null(), "{hot}");
    assert!(hot["evaluation_secs"].as_f64().unwrap() >= 0.0);

    // Reported again as evaluations go on; counted as config sent to the global zone.
    let n = w.reports.lock().unwrap().len();
    wait_for("another report", || w.reports.lock().unwrap().len() > n).await;
    let m = reqwest::get(format!("{}/metrics", judge.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("argus_cross_region_bytes_sent_total")
                && l.contains(r#"kind="config""#)
                && !l.ends_with(" 0")),
        "{m}"
    );
    judge.stop().await;
}
