//! Tenant isolation (issue 12): as tenant A (the standalone demo tenant), try to read, list,
//! change, delete, query, subscribe to, silence or acknowledge everything of a second tenant B
//! through every API — the REST API by id and by listing, metric queries, events and
//! deliveries, the agent config center, the transfer's push, cross-tenant references in A's own
//! objects, and the console pages with A's session cookie — and assert refusal (404, or B's
//! things simply absent) every time. B is created through the API by the platform admin, with
//! its own admin and tokens, and gets a real alert and delivery through the whole pipeline.
//! Internal endpoints of every component refuse calls without the internal credential.
//!
//! The requests are rows of a table ([`Row`]: who asks, method, URL, body, the answer expected
//! and what it must not show). Every row runs; a failing row names itself (caller, method, URL)
//! and the test fails at the end listing every failed row and check, not only the first. The
//! steps that need the pipeline (B's alert, A's pushes and remote write, the rule alert firing,
//! B's next problem run) are code between the sections of rows.
//!
//! A second test stores markup in every name field the API accepts and checks that the console
//! renders it escaped.
//!
//! `cargo test --test isolation -- --nocapture` prints `figures: isolation checks N`.

mod common;

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every isolation check made, for the figure in docs/SECURITY.md.
static CHECKS: AtomicUsize = AtomicUsize::new(0);

/// Every failed isolation row or check, by name: the test goes on and lists them all at the end.
static FAILED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Counts `cond` as one isolation check and records a failure unless it holds.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {{
        CHECKS.fetch_add(1, Ordering::Relaxed);
        if !$cond {
            FAILED.lock().unwrap().push(format!($($msg)+));
        }
    }};
}

/// Every escaping check of the console test (a separate count: the tests run concurrently).
static MARKUP_CHECKS: AtomicUsize = AtomicUsize::new(0);

/// Asserts `cond` and counts it as one escaping check.
macro_rules! xcheck {
    ($cond:expr, $($msg:tt)+) => {{
        MARKUP_CHECKS.fetch_add(1, Ordering::Relaxed);
        assert!($cond, $($msg)+);
    }};
}

/// Someone calling the platform: a bearer token, a console session (cookie + CSRF token), any
/// other `Authorization` header, or nobody.
#[derive(Clone)]
struct Caller {
    /// How a row names this caller ("A's token", "A's session", …).
    name: &'static str,
    base: String,
    /// The `Authorization` header sent, if any.
    authorization: Option<String>,
    cookie: Option<(String, String)>,
}

impl Caller {
    fn token(name: &'static str, base: &str, token: &str) -> Self {
        Caller {
            name,
            base: base.to_string(),
            authorization: Some(format!("Bearer {token}")),
            cookie: None,
        }
    }

    /// No credential at all, or a raw `Authorization` header.
    fn anonymous(name: &'static str, authorization: Option<&str>) -> Self {
        Caller {
            name,
            base: String::new(),
            authorization: authorization.map(str::to_string),
            cookie: None,
        }
    }

    /// Logs in through `POST /api/v1/login` and keeps the session cookie and CSRF token.
    async fn login(name: &'static str, base: &str, login: &str, password: &str) -> Self {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/login"))
            .json(&json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login {login}");
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let v: Value = r.json().await.unwrap();
        Caller {
            name,
            base: base.to_string(),
            authorization: None,
            cookie: Some((cookie, v["csrf_token"].as_str().unwrap().to_string())),
        }
    }

    fn is_token(&self) -> bool {
        self.authorization.is_some()
    }

    /// A request to `url` (absolute) with this caller's credential.
    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let mut rq = reqwest::Client::new().request(method, url);
        if let Some(a) = &self.authorization {
            rq = rq.header("authorization", a);
        }
        if let Some((c, csrf)) = &self.cookie {
            rq = rq.header("cookie", c).header("x-csrf-token", csrf);
        }
        rq
    }

    /// Any request; answers the status and the body as text.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, String) {
        let mut rq = self.request(method, &format!("{}{path}", self.base));
        if let Some(b) = body {
            rq = rq.json(b);
        }
        let r = rq.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// A call that must succeed; answers its JSON.
    async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let b = (!body.is_null()).then_some(&body);
        let (s, text) = self.call(method, path, b).await;
        assert!((200..300).contains(&s), "{path}: {s} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.call(Method::GET, path, None).await
    }

    /// A row of this caller's for `path` on its base URL.
    fn row(&self, method: Method, path: &str, expect: Expect) -> Row {
        Row {
            name: format!("{}: {method} {path}", self.name),
            who: self.clone(),
            method,
            url: format!("{}{path}", self.base),
            body: Body::None,
            expect,
            marks: vec!["zeta".to_string()],
            allowed: Vec::new(),
        }
    }
}

/// What a row's answer must be (besides not showing any of [`Row::marks`]).
#[derive(Clone, Debug)]
enum Expect {
    /// 404: for this caller the thing does not exist.
    NotFound,
    /// A client error other than 401 and 403: a reference to B's object is refused as unknown.
    Refused,
    /// 400 naming this field.
    RefusedField(&'static str),
    /// One of these statuses.
    Status(&'static [u16]),
    /// 200 with exactly this JSON.
    Json(Value),
    /// 401 or 403.
    Unauthorised,
}

/// The body a row sends.
#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    /// `application/x-www-form-urlencoded`, as Grafana posts queries.
    Form(String),
    /// Raw bytes sent as `application/json`, whatever they are.
    Raw(Vec<u8>),
}

/// One isolation row: who asks what, and what the answer must be. A failing row names itself
/// (caller, method, URL), and every failing row of the suite is listed, not only the first.
struct Row {
    name: String,
    who: Caller,
    method: Method,
    url: String,
    body: Body,
    expect: Expect,
    /// What the answer must not contain (B's things: every name of B's has `zeta` in it). A 404
    /// is not searched when the row expects one: it may repeat what was asked for.
    marks: Vec<String>,
    /// Strings A may legitimately see in this answer (what it asked for, echoed back; its own
    /// objects named like B's): removed before the body is searched for B's things.
    allowed: Vec<String>,
}

impl Row {
    fn json(mut self, body: &Value) -> Self {
        self.body = Body::Json(body.clone());
        self
    }

    fn form(mut self, form: &str) -> Self {
        self.body = Body::Form(form.to_string());
        self.name.push_str(" (form body)");
        self
    }

    fn raw(mut self, bytes: Vec<u8>, what: &str) -> Self {
        self.body = Body::Raw(bytes);
        self.name.push_str(&format!(" ({what} body)"));
        self
    }

    fn marks(mut self, marks: &[&str]) -> Self {
        self.marks = marks.iter().map(|m| m.to_string()).collect();
        self
    }

    fn allow(mut self, s: &str) -> Self {
        self.allowed.push(s.to_string());
        self
    }

    /// A row of an absolute URL (another component's, or a caller without a base).
    fn to(who: &Caller, method: Method, url: &str, expect: Expect) -> Self {
        let mut row = who.row(method, "", expect);
        row.url = url.to_string();
        row.name = format!("{}: {} {url}", who.name, row.method);
        row
    }

    /// Sends the row; `Err` says what was wrong with the answer.
    async fn run(&self) -> Result<(), String> {
        let mut rq = self.who.request(self.method.clone(), &self.url);
        rq = match &self.body {
            Body::None => rq,
            Body::Json(v) => rq.json(v),
            Body::Form(f) => rq
                .header("content-type", "application/x-www-form-urlencoded")
                .body(f.clone()),
            Body::Raw(b) => rq
                .header("content-type", "application/json")
                .body(b.clone()),
        };
        let r = rq
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let s = r.status().as_u16();
        let raw = r.text().await.unwrap_or_default();
        let mut text = raw.clone();
        for a in &self.allowed {
            text = text.replace(a.as_str(), "");
        }
        let problem = match &self.expect {
            Expect::NotFound => (s != 404).then(|| "want 404".to_string()),
            Expect::Refused => (!(400..500).contains(&s) || s == 401 || s == 403)
                .then(|| "want a 4xx other than 401/403".into()),
            Expect::RefusedField(field) => {
                let err: Value = serde_json::from_str(&raw).unwrap_or_default();
                (s != 400 || err["field"] != *field).then(|| format!("want 400 naming {field}"))
            }
            Expect::Status(any) => (!any.contains(&s)).then(|| format!("want one of {any:?}")),
            Expect::Json(want) => {
                let got: Value = serde_json::from_str(&raw).unwrap_or_default();
                (s != 200 || got != *want).then(|| format!("want 200 {want}"))
            }
            Expect::Unauthorised => (s != 401 && s != 403).then(|| "want 401 or 403".into()),
        };
        let searched = s != 404 || !matches!(self.expect, Expect::NotFound);
        let leak = searched
            .then(|| self.marks.iter().find(|m| text.contains(m.as_str())))
            .flatten()
            .map(|m| format!("shows {m:?}"));
        match problem.into_iter().chain(leak).collect::<Vec<_>>() {
            p if p.is_empty() => Ok(()),
            p => {
                let mut body = raw;
                if body.len() > 400 {
                    let mut end = 400;
                    while !body.is_char_boundary(end) {
                        end -= 1;
                    }
                    body.truncate(end);
                    body.push('…');
                }
                Err(format!("{}: {s} {body}", p.join(", ")))
            }
        }
    }
}

/// Runs `rows` in order, counting each as one isolation check; a failing row is recorded in
/// [`FAILED`] under its name.
async fn run_rows(section: &str, rows: Vec<Row>) {
    for row in &rows {
        CHECKS.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = row.run().await {
            FAILED
                .lock()
                .unwrap()
                .push(format!("[{section}] {}: {e}", row.name));
        }
    }
}

async fn platform(dir: &std::path::Path) -> Platform {
    start(StandaloneConfig {
        data_dir: dir.to_path_buf(),
        ports: Ports::any(),
        agent: false,
        config_pull_secs: 1,
        ..Default::default()
    })
    .await
    .expect("standalone starts")
}

/// Tenant B as created through the API: its admin session, tokens and object ids.
struct TenantB {
    admin: Caller,
    api: Caller,
    agent_token: String,
    api_token_id: Value,
    user_id: Value,
    /// kind → (id, body it was created with).
    objects: Vec<(&'static str, Value, Value)>,
}

impl TenantB {
    fn id(&self, kind: &str) -> Value {
        self.objects
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, id, _)| id.clone())
            .unwrap()
    }
}

/// The platform admin creates tenant `zeta` with its admin; that admin makes tokens, a user and
/// one object of every kind. Every name B uses contains `zeta`, so its absence can be checked.
async fn make_tenant_b(p: &Platform, platform_admin: &Caller) -> TenantB {
    platform_admin
        .ok(
            Method::POST,
            "/api/v1/tenants",
            json!({"id": "zeta", "name": "Zeta corp", "admin_login": "zeta-admin",
                   "admin_password": "zeta-password-1"}),
        )
        .await;
    let admin = Caller::login("B's session", &p.web_url, "zeta-admin", "zeta-password-1").await;
    let t = admin
        .ok(
            Method::POST,
            "/api/v1/tokens",
            json!({"name": "zeta-api", "kind": "api", "role": "admin"}),
        )
        .await;
    let api = Caller::token("B's token", &p.web_url, t["token"].as_str().unwrap());
    let api_token_id = t["id"].clone();
    let agent = admin
        .ok(
            Method::POST,
            "/api/v1/tokens",
            json!({"name": "zeta-agent", "kind": "agent"}),
        )
        .await;
    let user = api
        .ok(
            Method::POST,
            "/api/v1/users",
            json!({"login": "zeta-user", "password": "zeta-password-2", "role": "viewer"}),
        )
        .await;

    let mut objects = Vec::new();
    let make = |kind: &'static str, body: Value| {
        let api = api.clone();
        async move {
            let o = api
                .ok(Method::POST, &format!("/api/v1/{kind}"), body.clone())
                .await;
            (kind, o["id"].clone(), body)
        }
    };
    let host = make("hosts", json!({"name": "zeta-host", "note": "zeta-note"})).await;
    let tpl = make("templates", json!({"name": "zeta-tpl", "parent": null})).await;
    let strategy = make(
        "strategies",
        json!({"template_id": tpl.1, "metric": "zeta.load", "condition": "all(#1) > 10",
               "priority": 1, "max_alarms": 3, "note": "zeta-strategy"}),
    )
    .await;
    let expr = make(
        "expressions",
        json!({"metric": "zeta.expr", "tags": {"svc": "zeta"}, "condition": "all(#1) > 10",
               "priority": 2, "note": "zeta-expression"}),
    )
    .await;
    let group = make(
        "host_groups",
        json!({"name": "zeta-group", "hosts": ["zeta-host"], "templates": [tpl.1],
               "agent": {"step_secs": 37, "plugins": [
                   {"name": "zeta-plugin", "path": "zeta.sh", "interval_secs": 60}]}}),
    )
    .await;
    // Port 9 (discard) on loopback: deliveries are made and stay pending.
    let contact = make(
        "contacts",
        json!({"name": "zeta-contact", "email": "zeta@example.com",
               "webhook_url": "http://127.0.0.1:9/zeta-hook", "webhook_secret": "zeta-secret"}),
    )
    .await;
    let team = make(
        "teams",
        json!({"name": "zeta-team", "members": [contact.1]}),
    )
    .await;
    let sub = make(
        "subscriptions",
        json!({"target": {"kind": "priority", "max_priority": 5}, "contact_id": contact.1,
               "channels": ["webhook"]}),
    )
    .await;
    let now = argus_core::time::now_secs();
    let silence = make(
        "silences",
        json!({"matcher": {"metric": "zeta.never"}, "starts_at": now, "ends_at": now + 86_400,
               "reason": "zeta-reason"}),
    )
    .await;
    let recording = make(
        "recording_rules",
        json!({"record": "zeta:load:sum", "expr": "sum(zeta_load)", "labels": {"team": "zeta"}}),
    )
    .await;
    let alert_rule = make(
        "alert_rules",
        json!({"alert": "ZetaDown", "expr": "zeta_up == 0", "labels": {"team": "zeta"},
               "annotations": {"summary": "zeta {{ $labels.instance }} is down"}}),
    )
    .await;
    // Fires from B's own zeta.load (pushed by `b_alert`), and keeps firing after the pushes
    // stop, so that B has a firing rule alert A must not see.
    let hot_rule = make(
        "alert_rules",
        json!({"alert": "ZetaHot", "expr": "{__name__=\"zeta.load\"} > 10", "interval_secs": 1,
               "keep_firing_for_secs": 3600,
               "annotations": {"summary": "zeta {{ $labels.endpoint }} hot"}}),
    )
    .await;
    let dashboard = make(
        "dashboards",
        json!({"title": "zeta-dashboard", "variables": [{"name": "zeta_var", "type": "host_group"}],
               "rows": [{"title": "zeta-row", "panels": [{"type": "stat", "title": "zeta-panel",
                   "targets": [{"expr": "{__name__=\"zeta.load\", endpoint=~\"$zeta_var\"}"}]}]}]}),
    )
    .await;
    let (s, t) = api
        .call(
            Method::PUT,
            "/api/v1/email_templates",
            Some(&json!({"subject": "zeta-subject {{ title }}"})),
        )
        .await;
    assert_eq!(s, 200, "B's email templates: {t}");
    objects.extend([
        host, tpl, strategy, expr, group, contact, team, sub, silence, recording, alert_rule,
        hot_rule, dashboard,
    ]);
    TenantB {
        admin,
        api,
        agent_token: agent["token"].as_str().unwrap().to_string(),
        api_token_id,
        user_id: user["id"].clone(),
        objects,
    }
}

/// Pushes B's over-threshold point once a second until B has an event and a delivery; answers
/// (event id, delivery id).
async fn b_alert(p: &Platform, b: &TenantB) -> (String, Value) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ts = argus_core::time::now_secs() - 200;
    loop {
        ts += 1;
        let body = json!([{"endpoint": "zeta-host", "metric": "zeta.load", "timestamp": ts,
                           "step": 1, "value": 50, "counterType": "GAUGE"}]);
        let _ = reqwest::Client::new()
            .post(format!("{}/v1/push", p.transfer_url))
            .bearer_auth(&b.agent_token)
            .json(&body)
            .send()
            .await;
        let (_, events) = b.api.get("/api/v1/events").await;
        let (_, deliveries) = b.api.get("/api/v1/deliveries").await;
        let ev: Value = serde_json::from_str(&events).unwrap_or(Value::Null);
        let dl: Value = serde_json::from_str(&deliveries).unwrap_or(Value::Null);
        // The streaming strategy's event (B's rule alert keeps firing for an hour, so it
        // cannot serve the OK/PROBLEM runs below).
        if let (Some(e), Some(d)) = (
            ev["events"]
                .as_array()
                .and_then(|a| a.iter().find(|e| e["event"]["rule"].is_null())),
            dl["deliveries"].as_array().and_then(|a| a.first()),
        ) {
            return (
                e["event"]["id"].as_str().unwrap().to_string(),
                d["id"].clone(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "tenant B got no event and delivery within 120 s: {events} {deliveries}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// B's alert of this event id, as B's API lists it.
async fn b_alert_of(b: &TenantB, event: &str) -> Value {
    let (_, t) = b.api.get("/api/v1/events").await;
    let ev: Value = serde_json::from_str(&t).unwrap();
    ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["id"] == event)
        .cloned()
        .unwrap_or(Value::Null)
}

fn id_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The expression of the rule A imports under the name of one of B's: A's own, so it may show
/// in A's answers.
const A_IMPORTED_EXPR: &str = "zeta_up == 0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_a_can_reach_nothing_of_tenant_b() {
    let dir = tempfile::tempdir().unwrap();
    let p = platform(dir.path()).await;
    let c = &p.credentials;
    let a_admin = Caller::login("A's session", &p.web_url, &c.admin_login, &c.admin_password).await;
    let a = Caller::token("A's token", &p.web_url, &c.api_token);
    let b = make_tenant_b(&p, &a_admin).await;
    let (b_event, b_delivery) = b_alert(&p, &b).await;
    let b_delivery = id_str(&b_delivery);

    // A's own objects, the ones A would try to point at B's.
    let a_tpl = a
        .ok(Method::POST, "/api/v1/templates", json!({"name": "a-tpl"}))
        .await["id"]
        .clone();
    let a_contact = a
        .ok(
            Method::POST,
            "/api/v1/contacts",
            json!({"name": "a-contact", "email": "a@example.com"}),
        )
        .await["id"]
        .clone();
    let a_group = a
        .ok(
            Method::POST,
            "/api/v1/host_groups",
            json!({"name": "a-group", "hosts": [], "templates": [a_tpl]}),
        )
        .await["id"]
        .clone();

    let now = argus_core::time::now_secs();
    let overview = format!(
        "/api/v1/events/overview?from={}&to={}",
        now - 3600,
        now + 60
    );
    let (s, t) = b.api.get(&overview).await;
    check!(
        s == 200 && t.contains("zeta-group"),
        "B's own overview shows its open problem's group: {s} {t}"
    );

    // 1. Every resource kind, by id (read, replace, delete) and by listing; both as A's API
    //    token and as A's console session.
    let mut rows = Vec::new();
    for who in [&a, &a_admin] {
        for (kind, id, body) in &b.objects {
            let path = format!("/api/v1/{kind}/{}", id_str(id));
            rows.push(who.row(Method::GET, &path, Expect::NotFound));
            rows.push(who.row(Method::PUT, &path, Expect::NotFound).json(body));
            rows.push(who.row(Method::DELETE, &path, Expect::NotFound));
            rows.push(who.row(
                Method::GET,
                &format!("/api/v1/{kind}"),
                Expect::Status(&[200]),
            ));
        }
        let host = id_str(&b.id("hosts"));
        let tpl = id_str(&b.id("templates"));
        for path in [
            format!("/api/v1/hosts/{host}/strategies"),
            format!("/api/v1/templates/{tpl}/effective"),
        ] {
            rows.push(who.row(Method::GET, &path, Expect::NotFound));
        }

        // Users and tokens.
        let user = format!("/api/v1/users/{}", id_str(&b.user_id));
        rows.push(who.row(Method::GET, &user, Expect::NotFound));
        rows.push(
            who.row(Method::PUT, &user, Expect::NotFound)
                .json(&json!({"login": "zeta-user", "password": "taken-over-1", "role": "admin"})),
        );
        rows.push(who.row(Method::DELETE, &user, Expect::NotFound));
        for list in ["/api/v1/users", "/api/v1/tokens"] {
            rows.push(who.row(Method::GET, list, Expect::Status(&[200])));
        }
        let token = format!("/api/v1/tokens/{}", id_str(&b.api_token_id));
        rows.push(who.row(Method::DELETE, &token, Expect::NotFound));

        // Metric queries by B's endpoint and metric names.
        for q in [
            "/api/v1/query?endpoint=zeta-host",
            "/api/v1/query?endpoint=zeta-host&metric=zeta.load",
            "/api/v1/query?metric=zeta.load",
            "/api/v1/query/last?endpoint=zeta-host&metric=zeta.load",
            "/api/v1/query/last?endpoint=zeta-host",
        ] {
            rows.push(who.row(Method::GET, q, Expect::Json(json!([]))));
        }
        // A tenant named in the query string is no way in either.
        rows.push(
            who.row(
                Method::GET,
                "/api/v1/query?endpoint=zeta-host&metric=zeta.load&tenant=zeta",
                Expect::Status(&[200, 400]),
            )
            .marks(&["zeta.load"]),
        );

        // Events, acknowledgement, deliveries, retry; the alerts overview counts A's problems
        // only (B's open one, in zeta-group, shows in B's own overview: checked above).
        for q in [
            "/api/v1/events",
            "/api/v1/events?state=problem",
            "/api/v1/events/history",
            "/api/v1/events/history?endpoint=zeta-host",
            "/api/v1/events/active",
            "/api/v1/events/active?endpoint=zeta-host",
            overview.as_str(),
            "/api/v1/email_templates",
            "/api/v1/deliveries",
        ] {
            rows.push(
                who.row(Method::GET, q, Expect::Status(&[200]))
                    .marks(&["zeta", &b_event]),
            );
        }
        rows.push(who.row(
            Method::DELETE,
            "/api/v1/email_templates",
            Expect::Status(&[403, 404]),
        ));
        let ack = format!("/api/v1/events/{}/ack", enc(&b_event));
        rows.push(
            who.row(Method::POST, &ack, Expect::NotFound)
                .json(&json!({"comment": "mine now"})),
        );
        let retry = format!("/api/v1/deliveries/{b_delivery}/retry");
        rows.push(who.row(Method::POST, &retry, Expect::NotFound));

        // Rule files: A's export holds none of B's rules.
        rows.push(who.row(Method::GET, "/api/v1/rules/export", Expect::Status(&[200])));

        // Tenants are platform business: A's API token does not see them (the session of the
        // platform admin does, by design), nor their quotas: B's, nor A's own.
        if who.is_token() {
            rows.push(who.row(Method::GET, "/api/v1/tenants", Expect::NotFound));
            rows.push(who.row(Method::DELETE, "/api/v1/tenants/zeta", Expect::NotFound));
            for tenant in ["zeta", "demo"] {
                let path = format!("/api/v1/tenants/{tenant}/quota");
                rows.push(who.row(Method::GET, &path, Expect::NotFound));
                rows.push(
                    who.row(Method::PUT, &path, Expect::NotFound)
                        .json(&json!({"points_per_sec": 0.0})),
                );
                rows.push(who.row(Method::DELETE, &path, Expect::NotFound));
            }
        }
    }
    run_rows("1. B's objects", rows).await;

    // A's import of a rule named like B's makes a rule of A's.
    let file = format!("groups:\n  - name: zeta\n    rules:\n      - alert: ZetaDown\n        expr: {A_IMPORTED_EXPR}\n");
    let r = a
        .request(Method::POST, &format!("{}/api/v1/rules/import", p.web_url))
        .body(file)
        .send()
        .await
        .unwrap();
    check!(r.status() == 201, "A's import: {}", r.status());
    let (_, t) = b.api.get("/api/v1/alert_rules").await;
    let theirs: Value = serde_json::from_str(&t).unwrap();
    check!(
        theirs["alert_rules"].as_array().map(Vec::len) == Some(2),
        "A's import reached B's rules: {t}"
    );
    let (_, t) = a.get("/api/v1/alert_rules").await;
    check!(
        t.contains("ZetaDown") && !t.contains("zeta {{"),
        "A's imported rule is A's own: {t}"
    );

    // 2. A's objects may not point at B's.
    let now_s = argus_core::time::now_secs();
    let b_tpl = b.id("templates");
    let b_strategy = b.id("strategies");
    let b_contact = b.id("contacts");
    let b_team = b.id("teams");
    let mut rows = vec![
        a.row(Method::POST, "/api/v1/host_groups", Expect::Refused)
            .json(&json!({"name": "a-group-2", "hosts": [], "templates": [b_tpl]})),
        a.row(
            Method::PUT,
            &format!("/api/v1/host_groups/{}", id_str(&a_group)),
            Expect::Refused,
        )
        .json(&json!({"name": "a-group", "hosts": [], "templates": [a_tpl, b_tpl]})),
        a.row(Method::POST, "/api/v1/templates", Expect::Refused)
            .json(&json!({"name": "a-child", "parent": b_tpl})),
        a.row(
            Method::PUT,
            &format!("/api/v1/templates/{}", id_str(&a_tpl)),
            Expect::Refused,
        )
        .json(&json!({"name": "a-tpl", "parent": b_tpl})),
        a.row(Method::POST, "/api/v1/strategies", Expect::Refused)
            .json(
                &json!({"template_id": b_tpl, "metric": "zeta.load", "condition": "all(#1) > 1",
                    "priority": 1}),
            ),
        a.row(Method::POST, "/api/v1/teams", Expect::Refused)
            .json(&json!({"name": "a-team", "members": [b_contact]})),
        a.row(Method::POST, "/api/v1/teams", Expect::Refused).json(
            &json!({"name": "a-team-2", "members": [a_contact], "escalate_to": b_team,
                    "escalate_after_secs": 60}),
        ),
        a.row(Method::POST, "/api/v1/subscriptions", Expect::Refused)
            .json(
                &json!({"target": {"kind": "strategy", "strategy_id": b_strategy},
                    "contact_id": a_contact, "channels": ["email"]}),
            ),
        a.row(Method::POST, "/api/v1/subscriptions", Expect::Refused)
            .json(
                &json!({"target": {"kind": "template", "template_id": b_tpl},
                    "contact_id": a_contact, "channels": ["email"]}),
            ),
        a.row(Method::POST, "/api/v1/subscriptions", Expect::Refused)
            .json(&json!({"target": {"kind": "priority", "max_priority": 5},
                    "contact_id": b_contact, "channels": ["webhook"]})),
        a.row(Method::POST, "/api/v1/subscriptions", Expect::Refused)
            .json(&json!({"target": {"kind": "priority", "max_priority": 5},
                    "team_id": b_team, "channels": ["webhook"]})),
    ];

    // Silences are matchers over A's own events: one naming B's endpoint or metric is accepted
    // (names are not owned; it matches nothing of A's) and must silence nothing of B's —
    // checked below after B's next points. One naming B's strategy, expression or host group
    // by id is refused with 400 naming the field, on create and on update.
    let silence = |matcher: &Value| {
        json!({"matcher": matcher, "starts_at": now_s, "ends_at": now_s + 3600,
               "reason": "a-hush"})
    };
    let (s, t) = a
        .call(
            Method::POST,
            "/api/v1/silences",
            Some(&silence(
                &json!({"endpoint": "zeta-host", "metric": "zeta.load"}),
            )),
        )
        .await;
    check!(s == 201, "A's silence naming B's endpoint: {s} {t}");
    let a_silence = serde_json::from_str::<Value>(&t).unwrap_or_default()["id"].clone();
    for (matcher, field) in [
        (json!({"strategy_id": b_strategy}), "matcher.strategy_id"),
        (
            json!({"strategy_id": b.id("expressions")}),
            "matcher.strategy_id",
        ),
        (
            json!({"host_group_id": b.id("host_groups")}),
            "matcher.host_group_id",
        ),
    ] {
        for (m, path) in [
            (Method::POST, "/api/v1/silences".to_string()),
            (
                Method::PUT,
                format!("/api/v1/silences/{}", id_str(&a_silence)),
            ),
        ] {
            let mut row = a
                .row(m, &path, Expect::RefusedField(field))
                .json(&silence(&matcher));
            row.name.push_str(&format!(" naming B's {matcher}"));
            rows.push(row);
        }
    }
    run_rows("2. references to B's objects", rows).await;

    // 3. The console, with A's session cookie, for B's ids and names. Filter forms and chart
    //    queries echo what was asked for; only that may appear (the data behind a chart comes
    //    from the query API, checked above).
    let host = id_str(&b.id("hosts"));
    let tpl = id_str(&b_tpl);
    let mut rows = Vec::new();
    for page in [
        format!("/hosts/{host}"),
        format!("/templates/{tpl}"),
        format!("/templates/{tpl}?edit={}", id_str(&b_strategy)),
        // B's strategy in the editor of A's own template.
        format!("/templates/{}?edit={}", id_str(&a_tpl), id_str(&b_strategy)),
        "/templates?host=zeta-host".to_string(),
        format!("/host_groups?edit={}", id_str(&b.id("host_groups"))),
        format!("/expressions?edit={}", id_str(&b.id("expressions"))),
        format!("/recording_rules?edit={}", id_str(&b.id("recording_rules"))),
        format!("/alert_rules?edit={}", id_str(&b.id("alert_rules"))),
        format!("/dashboards/{}", id_str(&b.id("dashboards"))),
        format!("/dashboards/{}/export", id_str(&b.id("dashboards"))),
        "/dashboards".to_string(),
        // Its host-group variable offers A's groups only.
        "/dashboards/builtin-host-group".to_string(),
        "/recording_rules".to_string(),
        "/alert_rules".to_string(),
        "/explorer?endpoint=zeta-host&metric=zeta.load".to_string(),
        "/hosts".to_string(),
        format!("/hosts?group={}", id_str(&b.id("host_groups"))),
        "/hosts?q=zeta-host".to_string(),
        "/host_groups".to_string(),
        "/templates".to_string(),
        "/expressions".to_string(),
        "/contacts".to_string(),
        "/teams".to_string(),
        "/subscriptions".to_string(),
        "/silences".to_string(),
        "/problems".to_string(),
        "/history".to_string(),
        "/deliveries".to_string(),
        "/deliveries?state=pending".to_string(),
    ] {
        let mut row = a_admin
            .row(Method::GET, &page, Expect::Status(&[200, 404]))
            // A's own rule imported above with B's rule's text.
            .allow(A_IMPORTED_EXPR);
        for asked in ["zeta-host", "zeta.load"] {
            // A's own silences above name B's endpoint and metric.
            if page.contains(asked) || page == "/silences" {
                row = row.allow(asked);
            }
        }
        rows.push(row);
    }

    // 4. The agent side: A's agent token asking for B's host gets nothing of B's; an agent
    //    token is no way into the REST API.
    let agent_a = Caller::token("A's agent token", &p.web_url, &c.agent_token);
    rows.push(
        agent_a
            .row(
                Method::GET,
                "/api/v1/agent/config?host=zeta-host",
                Expect::Status(&[200, 404]),
            )
            .marks(&["zeta", "\"step_secs\":37"]),
    );
    rows.push(agent_a.row(Method::GET, "/api/v1/hosts", Expect::Unauthorised));
    run_rows("3–4. console pages and agent config", rows).await;

    // A heartbeat naming B's host makes a host of A's; points naming tenant zeta land as A's.
    let (s, t) = agent_a
        .call(
            Method::POST,
            "/api/v1/agent/heartbeat",
            Some(
                &json!({"host": "zeta-host", "agent_version": "evil", "uptime_secs": 1,
                         "os": "linux", "kernel": "x", "cpu_count": 1, "mem_total": 1,
                         "ip": "10.0.0.66", "config_version": "", "timestamp":
                         argus_core::time::now_secs()}),
            ),
        )
        .await;
    check!((200..300).contains(&s), "A's heartbeat: {s} {t}");
    let (_, t) = b.api.get(&format!("/api/v1/hosts/{host}")).await;
    check!(
        !t.contains("10.0.0.66") && !t.contains("evil"),
        "A's heartbeat reached B's host: {t}"
    );

    let now = argus_core::time::now_secs();
    let pushes = [
        (
            "/v1/push",
            json!([{"endpoint": "zeta-host", "metric": "zeta.load", "timestamp": now,
                    "step": 1, "value": 123456, "counterType": "GAUGE", "tenant": "zeta"}]),
        ),
        (
            "/api/v1/push",
            json!({"points": [{"tenant": "zeta", "endpoint": "zeta-host", "metric": "zeta.load",
                               "timestamp": now + 1, "value": 123457.0}]}),
        ),
    ];
    for (path, body) in &pushes {
        let r = agent_a
            .request(Method::POST, &format!("{}{path}", p.transfer_url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        check!(
            status == 200 && v["accepted"] == 1,
            "push {path} naming tenant zeta: {status} {v}"
        );
    }
    // Both land as A's: readable by A with tenant demo, never by B.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, t) = a
            .get("/api/v1/query?endpoint=zeta-host&metric=zeta.load&start=0")
            .await;
        let v: Value = serde_json::from_str(&t).unwrap();
        let pts = v[0]["points"].as_array().map(Vec::len).unwrap_or(0);
        if pts == 2 {
            check!(v[0]["key"]["tenant"] == "demo", "A's points: {v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A's pushed points not readable: {t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, t) = b
        .api
        .get("/api/v1/query?endpoint=zeta-host&metric=zeta.load&start=0")
        .await;
    check!(
        !t.contains("123456") && !t.contains("123457") && t.contains("zeta"),
        "A's points reached B: {t}"
    );

    // 4b. PromQL (`/prometheus/api/v1/*`): B's token never sees A's series, whatever the query
    //     shape: A's remote-write series with distinctive labels, and A's `zeta.load` on an
    //     endpoint named like B's.
    let a_rw = argus_transfer::remote_write::WriteRequest {
        timeseries: vec![argus_transfer::remote_write::TimeSeries {
            labels: [
                ("__name__", "a_secret"),
                ("instance", "a-inst:1"),
                ("job", "a-job"),
            ]
            .iter()
            .map(|(n, v)| argus_transfer::remote_write::Label {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
            samples: vec![argus_transfer::remote_write::Sample {
                value: 4242.0,
                timestamp: now * 1000,
            }],
        }],
    };
    let r = agent_a
        .request(Method::POST, &format!("{}/api/v1/write", p.transfer_url))
        .body(argus_transfer::remote_write::encode(&a_rw))
        .send()
        .await
        .unwrap();
    check!(r.status() == 204, "A's remote write: {}", r.status());
    let t_eval = (now + 2).to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, t) = a
            .get(&format!(
                "/prometheus/api/v1/query?query=a_secret&time={t_eval}"
            ))
            .await;
        if t.contains("4242") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A's a_secret not readable by A: {t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    const A_MARKS: &[&str] = &["a_secret", "a-inst", "a-job", "4242", "123456", "123457"];
    let span = format!("start={}&end={t_eval}", now - 3600);
    let mut shapes: Vec<String> = [
        "a_secret",
        r#"{__name__="a_secret"}"#,
        r#"{__name__=~".+"}"#,
        r#"{__name__=~"a_.*"}"#,
        r#"{instance="a-inst:1"}"#,
        r#"{job=~"a-.*"}"#,
        r#"{endpoint="a-inst:1"}"#,
        r#"{endpoint="zeta-host"}"#,
        r#"{__name__="zeta.load", endpoint="zeta-host"}"#,
        r#"sum({__name__=~".+"})"#,
        r#"sum by (job, instance) ({__name__=~".+"})"#,
        r#"max_over_time({__name__=~".+"}[1h])"#,
        r#"count({__name__=~".*"})"#,
        r#"count({__name__=~".+"})"#,
        r#"absent(a_secret)"#,
        r#"absent_over_time(a_secret[1h])"#,
        r#"{__name__=~".+"} or vector(1)"#,
        r#"label_replace({__name__=~".+"}, "x", "$1", "job", "(.*)")"#,
    ]
    .iter()
    .flat_map(|e| {
        let e = enc(e);
        [
            format!("/prometheus/api/v1/query?query={e}&time={t_eval}"),
            format!("/prometheus/api/v1/query_range?query={e}&{span}&step=60"),
        ]
    })
    .collect();
    for m in [r#"{__name__=~".+"}"#, "a_secret", r#"{job="a-job"}"#] {
        shapes.push(format!(
            "/prometheus/api/v1/series?match[]={}&{span}",
            enc(m)
        ));
        shapes.push(format!(
            "/prometheus/api/v1/labels?match[]={}&{span}",
            enc(m)
        ));
    }
    for name in ["__name__", "endpoint", "instance", "job"] {
        shapes.push(format!("/prometheus/api/v1/label/{name}/values?{span}"));
        shapes.push(format!("/prometheus/api/v1/label/{name}/values"));
    }
    shapes.push(format!("/prometheus/api/v1/labels?{span}"));
    shapes.push("/prometheus/api/v1/labels".to_string());
    let nobody = Caller::anonymous("no credential", None);
    let mut rows = Vec::new();
    for path in &shapes {
        let answer = Expect::Status(&[200, 400]);
        rows.push(b.api.row(Method::GET, path, answer.clone()).marks(A_MARKS));
        // The same as a POST form, as Grafana sends it.
        let (url, form) = path.split_once('?').unwrap_or((path, ""));
        rows.push(
            b.api
                .row(Method::POST, url, answer)
                .form(form)
                .marks(A_MARKS),
        );
        // Without a credential: 401, nothing else.
        rows.push(
            Row::to(
                &nobody,
                Method::GET,
                &format!("{}{path}", p.web_url),
                Expect::Status(&[401]),
            )
            .marks(A_MARKS),
        );
    }
    run_rows("4b. PromQL shapes", rows).await;

    // B sees its own series, only: one series, absent() finds no a_secret.
    let q = |e: &str| format!("/prometheus/api/v1/query?query={}&time={t_eval}", enc(e));
    let (_, t) = b
        .api
        .get(&q(r#"count(count_over_time({__name__=~".+"}[2h]))"#))
        .await;
    let v: Value = serde_json::from_str(&t).unwrap();
    check!(
        v["data"]["result"][0]["value"][1] == "1",
        "B's series count: {t}"
    );
    let (_, t) = b.api.get(&q("absent(a_secret)")).await;
    let v: Value = serde_json::from_str(&t).unwrap();
    check!(
        v["data"]["result"][0]["value"][1] == "1",
        "absent(a_secret) for B: {t}"
    );
    let (_, t) = b.api.get("/prometheus/api/v1/label/endpoint/values").await;
    let v: Value = serde_json::from_str(&t).unwrap();
    check!(v["data"] == json!(["zeta-host"]), "B's endpoints: {t}");
    // And the other way round: A's `zeta.load` holds A's two points only, none of B's.
    let (_, t) = a
        .get(&q(r#"count_over_time({__name__="zeta.load"}[2h])"#))
        .await;
    let v: Value = serde_json::from_str(&t).unwrap();
    check!(
        v["data"]["result"].as_array().map(Vec::len) == Some(1)
            && v["data"]["result"][0]["value"][1] == "2",
        "A's zeta.load mixes in B's points: {t}"
    );

    // 4c. Rules in the Prometheus API: B's firing rule alert is in B's `alerts` and `rules`;
    //     A's answers hold none of B's rules or alerts.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, t) = b.api.get("/prometheus/api/v1/alerts").await;
        if t.contains("ZetaHot") && t.contains("zeta zeta-host hot") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's rule alert never firing in B's /prometheus/api/v1/alerts: {t}"
        );
        // Fresh points of B's, so the rule has a series to fire on.
        let body = json!([{"endpoint": "zeta-host", "metric": "zeta.load", "step": 1, "value": 50,
                           "timestamp": argus_core::time::now_secs(), "counterType": "GAUGE"}]);
        let _ = reqwest::Client::new()
            .post(format!("{}/v1/push", p.transfer_url))
            .bearer_auth(&b.agent_token)
            .json(&body)
            .send()
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (_, t) = b.api.get("/prometheus/api/v1/rules").await;
    check!(
        t.contains("ZetaDown") && t.contains("zeta:load:sum") && t.contains("zeta zeta-host hot"),
        "B's own rules and firing alert in B's /prometheus/api/v1/rules: {t}"
    );
    let mut rows = Vec::new();
    let a_own = Expect::Status(&[200]);
    for path in [
        "/prometheus/api/v1/rules",
        "/prometheus/api/v1/rules?type=alert",
        "/prometheus/api/v1/rules?type=record",
        "/prometheus/api/v1/alerts",
    ] {
        for who in [&a, &a_admin] {
            rows.push(
                who.row(Method::GET, path, a_own.clone())
                    .allow(A_IMPORTED_EXPR),
            );
        }
        rows.push(
            a.row(Method::POST, path, a_own.clone())
                .allow(A_IMPORTED_EXPR),
        );
    }
    for page in ["/alert_rules", "/recording_rules"] {
        rows.push(
            a_admin
                .row(Method::GET, page, a_own.clone())
                .allow(A_IMPORTED_EXPR),
        );
    }
    run_rows("4c. rules with B's alert firing", rows).await;

    // 5. B is intact: every object still there, its problem neither acknowledged nor silenced
    //    (A's silence has had several config pulls to apply), its delivery untouched.
    let mut rows = Vec::new();
    for (kind, id, _) in &b.objects {
        let path = format!("/api/v1/{kind}/{}", id_str(id));
        rows.push(
            b.api
                .row(Method::GET, &path, Expect::Status(&[200]))
                .marks(&[]),
        );
    }
    for path in [
        format!("/api/v1/users/{}", id_str(&b.user_id)),
        "/api/v1/me".to_string(),
    ] {
        rows.push(
            b.admin
                .row(Method::GET, &path, Expect::Status(&[200]))
                .marks(&[]),
        );
    }
    run_rows("5. B intact", rows).await;
    let (_, t) = b.api.get("/api/v1/tokens").await;
    check!(t.contains("zeta-api"), "B's API token deleted: {t}");
    let mine = b_alert_of(&b, &b_event).await;
    check!(
        mine["state"] == "problem" && mine["acknowledged"].is_null(),
        "B's problem touched by A: {mine}"
    );
    // A new problem run of B, judged by the alarm after A's silences were pulled: it must not
    // be silenced by them.
    let mut ts = argus_core::time::now_secs();
    for (value, status) in [(1.0, "OK"), (50.0, "PROBLEM")] {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            ts += 1;
            let body = json!([{"endpoint": "zeta-host", "metric": "zeta.load", "timestamp": ts,
                               "step": 1, "value": value, "counterType": "GAUGE"}]);
            let r = reqwest::Client::new()
                .post(format!("{}/v1/push", p.transfer_url))
                .bearer_auth(&b.agent_token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let mine = b_alert_of(&b, &b_event).await;
            if mine["event"]["status"] == status {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "B's alert never {status}: {mine}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let mine = b_alert_of(&b, &b_event).await;
    check!(
        mine["state"] == "problem",
        "B's new problem run silenced by A's silences: {mine}"
    );

    // 6. Internal endpoints refuse calls without the internal credential, or with a tenant's:
    //    with a well-formed body for any of them, so only the credential can be refused. A
    //    malformed or garbage body without a credential, or with a wrong one, gets 401 from the
    //    headers alone — none reads or parses the body first (which would answer 400 or 413 and
    //    spend the work for an unauthenticated caller).
    let (store, transfer) = (&p.store_url, &p.transfer_url);
    let (judge, alarm, web) = (&p.judge_url, &p.alarm_url, &p.web_url);
    let b_event_url = enc(&b_event);
    let internal = [
        (Method::POST, format!("{store}/internal/v1/write")),
        (Method::POST, format!("{store}/internal/v1/query/range")),
        (Method::POST, format!("{store}/internal/v1/query/last")),
        (Method::POST, format!("{store}/internal/v1/query/series")),
        (Method::POST, format!("{store}/internal/v1/query/select")),
        (Method::POST, format!("{store}/internal/v1/query/labels")),
        (Method::POST, format!("{store}/internal/v1/query/eval")),
        (Method::POST, format!("{transfer}/internal/v1/query/range")),
        (Method::POST, format!("{transfer}/internal/v1/query/last")),
        (Method::POST, format!("{transfer}/internal/v1/query/series")),
        (Method::POST, format!("{transfer}/internal/v1/query/select")),
        (Method::POST, format!("{transfer}/internal/v1/query/eval")),
        (Method::POST, format!("{judge}/internal/v1/points")),
        (Method::POST, format!("{alarm}/internal/v1/events")),
        (
            Method::GET,
            format!("{alarm}/internal/v1/events?tenant=zeta"),
        ),
        (
            Method::POST,
            format!("{alarm}/internal/v1/events/{b_event_url}/ack?tenant=zeta"),
        ),
        (
            Method::GET,
            format!("{alarm}/internal/v1/deliveries?tenant=zeta"),
        ),
        (
            Method::POST,
            format!("{alarm}/internal/v1/deliveries/{b_delivery}/retry?tenant=zeta"),
        ),
        (Method::GET, format!("{web}/internal/v1/config/transfer")),
        (Method::GET, format!("{web}/internal/v1/config/strategies")),
        (Method::GET, format!("{web}/internal/v1/config/notify")),
        (Method::GET, format!("{web}/internal/v1/config/agents")),
        (Method::GET, format!("{web}/internal/v1/config/rules")),
        (Method::POST, format!("{web}/internal/v1/query/promql")),
        (Method::POST, format!("{web}/internal/v1/agents/heartbeats")),
    ];
    let well_formed = br#"{"tenant":"zeta","start":0,"end":9999999999,"points":[],"events":[],
                           "by":"x"}"#
        .to_vec();
    let garbage: Vec<u8> = (0..256 * 1024).map(|i| (i * 31 % 256) as u8).collect();
    let wrong = Caller::anonymous(
        "a wrong internal credential",
        Some("Bearer not-the-internal-token"),
    );
    let callers = [
        &nobody,
        &Caller::token("A's token", "", &c.api_token),
        &Caller::token("A's agent token", "", &c.agent_token),
    ];
    let mut rows = Vec::new();
    for (m, url) in &internal {
        for who in callers {
            rows.push(
                Row::to(who, m.clone(), url, Expect::Unauthorised)
                    .raw(well_formed.clone(), "well-formed"),
            );
        }
        if *m == Method::POST {
            for (body, what) in [(b"{".to_vec(), "malformed"), (garbage.clone(), "garbage")] {
                for who in [&nobody, &wrong] {
                    rows.push(
                        Row::to(who, m.clone(), url, Expect::Status(&[401]))
                            .raw(body.clone(), what),
                    );
                }
            }
        }
    }
    run_rows("6. internal endpoints", rows).await;

    let failed = FAILED.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} isolation rows and checks failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let n = CHECKS.load(Ordering::Relaxed);
    println!("figures: isolation checks {n}");
    common::figures::check(
        "docs/SECURITY.md",
        "tests/isolation.rs tenant_a_can_reach_nothing_of_tenant_b",
        &format!(
            "`tenant_a_can_reach_nothing_of_tenant_b`: {} cross-tenant and credential rows and checks, all refused.",
            common::figures::grouped(n)
        ),
    );
    p.stop().await;
}

/// The markup stored in every name field: a script element and an attribute breakout.
const MARKUP: [&str; 2] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
];

/// How the console (maud) renders `s`: attributes are double-quoted, so `'` stays as it is.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_escapes_markup_in_every_name_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = platform(dir.path()).await;
    let c = &p.credentials;
    let admin = Caller::login("A's session", &p.web_url, &c.admin_login, &c.admin_password).await;
    let now = argus_core::time::now_secs();
    // (field, value) of every value stored, accepted or refused at input.
    let mut accepted: Vec<(String, String)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut ids: Vec<(&str, Value)> = Vec::new();

    for (i, m) in MARKUP.iter().enumerate() {
        let v = |field: &str| format!("{field}{i}{m}");
        // Every kind with every free-text field it has, in dependency order.
        let tpl = admin
            .ok(
                Method::POST,
                "/api/v1/templates",
                json!({"name": v("template")}),
            )
            .await["id"]
            .clone();
        accepted.push(("template name".into(), v("template")));
        ids.push(("templates", tpl.clone()));
        let mut bodies = vec![
            (
                "hosts",
                json!({"name": v("host"), "note": v("hostnote")}),
                vec!["name", "note"],
            ),
            (
                "hosts",
                json!({"name": format!("web-{i}"), "note": v("hostnote2")}),
                vec!["note"],
            ),
            (
                "host_groups",
                json!({"name": v("group"), "hosts": [format!("web-{i}")], "templates": [tpl]}),
                vec!["name"],
            ),
            (
                "strategies",
                json!({"template_id": tpl, "metric": "app.load", "condition": "all(#1) > 10",
                       "priority": 1, "note": v("strategynote"),
                       "tags": {"svc": v("strategytag")}}),
                vec!["note", "tags"],
            ),
            (
                "strategies",
                json!({"template_id": tpl, "metric": "app.load", "condition": "all(#1) > 10",
                       "priority": 2, "note": v("firingnote")}),
                vec!["note"],
            ),
            (
                "expressions",
                json!({"metric": "app.x", "tags": {"svc": v("exprtag")},
                       "condition": "all(#1) > 10", "priority": 2, "note": v("exprnote")}),
                vec!["note", "tags"],
            ),
            (
                "contacts",
                json!({"name": v("contact"), "email": format!("c{i}@example.com"),
                       "webhook_url": format!("http://127.0.0.1:9/{}", v("url"))}),
                vec!["name", "webhook_url"],
            ),
            (
                "contacts",
                json!({"name": format!("plain-{i}"), "email": v("email")}),
                vec!["email"],
            ),
            (
                "silences",
                json!({"matcher": {"endpoint": v("silenceendpoint"), "metric": v("silencemetric"),
                                   "tags": {"k": v("silencetag")}},
                       "starts_at": now, "ends_at": now + 3600,
                       "author": v("author"), "reason": v("reason")}),
                vec!["matcher", "author", "reason"],
            ),
            (
                "alert_rules",
                json!({"alert": v("alertrule"), "expr": "vector(1) > 0",
                       "labels": {"team": v("rulelabel")},
                       "annotations": {"summary": v("annotation")}}),
                vec!["alert", "labels", "annotations"],
            ),
            (
                "dashboards",
                json!({"title": v("dashboard"), "description": v("dashdesc"),
                       "variables": [{"name": "h", "type": "label_values", "label": "endpoint",
                                      "default": v("dashdefault")}],
                       "rows": [{"title": v("dashrow"), "panels": [{"type": "stat",
                           "title": v("dashpanel"),
                           "targets": [{"expr": "vector(1)", "legend": v("dashlegend")}]}]}]}),
                vec!["title", "description"],
            ),
            (
                "recording_rules",
                json!({"record": "markup:rule",
                       "expr": format!("label_replace(vector(1), \"x\", '{}', \"\", \"\")", v("ruleexpr")),
                       "labels": {"team": v("reclabel")}}),
                vec!["expr", "labels"],
            ),
        ];
        let mut contact = Value::Null;
        for (kind, body, fields) in bodies.drain(..) {
            let (s, t) = admin
                .call(Method::POST, &format!("/api/v1/{kind}"), Some(&body))
                .await;
            if s == 201 || s == 200 {
                let o: Value = serde_json::from_str(&t).unwrap();
                if kind == "contacts" && contact.is_null() {
                    contact = o["id"].clone();
                }
                ids.push((kind, o["id"].clone()));
                for f in fields {
                    for (label, value) in collect_strings(&body[f], f) {
                        if value.contains(m) {
                            accepted.push((format!("{kind} {label}"), value));
                        }
                    }
                }
            } else {
                xcheck!(s == 400, "{kind} {body}: {s} {t}");
                refused.push(format!("{kind} ({})", fields.join(", ")));
            }
        }
        // Names that refer to the ones above.
        if !contact.is_null() {
            let team = admin
                .ok(
                    Method::POST,
                    "/api/v1/teams",
                    json!({"name": v("team"), "members": [contact]}),
                )
                .await;
            accepted.push(("team name".into(), v("team")));
            admin
                .ok(
                    Method::POST,
                    "/api/v1/subscriptions",
                    json!({"target": {"kind": "template", "template_id": tpl},
                           "team_id": team["id"], "channels": ["webhook"]}),
                )
                .await;
            admin
                .ok(
                    Method::POST,
                    "/api/v1/subscriptions",
                    json!({"target": {"kind": "priority", "max_priority": 5},
                           "contact_id": contact, "channels": ["webhook", "email"]}),
                )
                .await;
        }
        for (path, body, label) in [
            (
                "/api/v1/tokens",
                json!({"name": v("token"), "kind": "api", "role": "viewer"}),
                "token name",
            ),
            (
                "/api/v1/users",
                json!({"login": v("login"), "password": "long-enough-1", "role": "viewer"}),
                "user login",
            ),
            (
                "/api/v1/tenants",
                json!({"id": format!("t{i}"), "name": v("tenant")}),
                "tenant name",
            ),
        ] {
            let (s, t) = admin.call(Method::POST, path, Some(&body)).await;
            if s == 201 || s == 200 {
                let key = if label == "user login" {
                    "login"
                } else {
                    "name"
                };
                accepted.push((label.into(), body[key].as_str().unwrap().to_string()));
            } else {
                xcheck!(s == 400, "{path} {body}: {s} {t}");
                refused.push(label.to_string());
            }
        }
    }

    // An event whose note carries markup, to the problem, history and delivery pages.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ts = now - 200;
    loop {
        ts += 1;
        for (i, m) in MARKUP.iter().enumerate() {
            let body = json!([{"endpoint": format!("web-{i}"), "metric": "app.load",
                               "timestamp": ts, "step": 1, "value": 50, "counterType": "GAUGE",
                               "tags": format!("svc={}", format_args!("strategytag{i}{m}"))},
                              {"endpoint": format!("web-{i}"), "metric": "app.load",
                               "timestamp": ts, "step": 1, "value": 50, "counterType": "GAUGE"}]);
            let _ = reqwest::Client::new()
                .post(format!("{}/v1/push", p.transfer_url))
                .bearer_auth(&c.agent_token)
                .json(&body)
                .send()
                .await
                .unwrap();
        }
        let (_, ev) = admin.get("/api/v1/events").await;
        let (_, dl) = admin.get("/api/v1/deliveries").await;
        if (0..MARKUP.len()).all(|i| ev.contains(&format!("firingnote{i}")))
            && dl.contains("deliveries\":[{")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no event with markup in its note within 120 s: {ev} {dl}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Acknowledgement comments carry markup too.
    let (_, ev) = admin.get("/api/v1/events").await;
    let ev: Value = serde_json::from_str(&ev).unwrap();
    let ids_ev: Vec<String> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_string())
        .collect();
    for (i, m) in MARKUP.iter().enumerate() {
        admin
            .ok(
                Method::POST,
                &format!("/api/v1/events/{}/ack", enc(&ids_ev[i % ids_ev.len()])),
                json!({"comment": format!("ackcomment{i}{m}")}),
            )
            .await;
        accepted.push((
            "acknowledgement comment".into(),
            format!("ackcomment{i}{m}"),
        ));
    }

    // Every page, and every page of an object.
    let mut pages: Vec<String> = [
        "/hosts",
        "/host_groups",
        "/templates",
        "/expressions",
        "/recording_rules",
        "/alert_rules",
        "/contacts",
        "/teams",
        "/subscriptions",
        "/silences",
        "/problems",
        "/history",
        "/deliveries",
        "/admin",
        "/explorer?endpoint=web-0&metric=app.load",
        "/dashboards",
        "/dashboards/builtin-host-group",
        "/templates?host=web-0",
        "/templates?host=web-1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (kind, id) in &ids {
        let id = id_str(id);
        match *kind {
            "hosts" => pages.push(format!("/hosts/{id}")),
            "templates" => pages.push(format!("/templates/{id}")),
            "host_groups" => {
                pages.push(format!("/host_groups?edit={id}"));
                pages.push(format!("/hosts?group={id}"));
            }
            "expressions" => pages.push(format!("/expressions?edit={id}")),
            "alert_rules" => pages.push(format!("/alert_rules?edit={id}")),
            "recording_rules" => pages.push(format!("/recording_rules?edit={id}")),
            "dashboards" => pages.push(format!("/dashboards/{id}")),
            // A strategy's note is shown in its editor, on its template's page.
            "strategies" => {
                for (k, t) in &ids {
                    if *k == "templates" {
                        pages.push(format!("/templates/{}?edit={id}", id_str(t)));
                    }
                }
            }
            _ => {}
        }
    }
    let mut all = String::new();
    for page in &pages {
        let (s, t) = admin.get(page).await;
        xcheck!(s == 200, "console {page}: {s}");
        for m in MARKUP {
            xcheck!(!t.contains(m), "console {page} renders {m} unescaped");
        }
        xcheck!(
            !t.contains("<img src=x") && !t.contains("<script>alert"),
            "console {page} renders markup"
        );
        if page == "/problems" {
            for (i, m) in MARKUP.iter().enumerate() {
                let comment = escaped(&format!("ackcomment{i}{m}"));
                xcheck!(t.contains(&comment), "{page} does not show {comment}");
            }
        }
        all.push_str(&t);
    }
    // Each accepted value is rendered somewhere, escaped: the check above saw it.
    let mut unseen = Vec::new();
    for (field, value) in &accepted {
        if !all.contains(&escaped(value)) {
            unseen.push(format!("{field}: {value}"));
        }
    }
    xcheck!(
        unseen.is_empty(),
        "values not found escaped on any page: {unseen:#?}"
    );
    let n = MARKUP_CHECKS.load(Ordering::Relaxed);
    println!(
        "figures: markup values accepted and rendered escaped {}, refused at input {} {refused:?}, pages {}, escaping checks {n}",
        accepted.len(),
        refused.len(),
        pages.len()
    );
    p.stop().await;
}

/// Every string inside `v`, labelled with its path.
fn collect_strings(v: &Value, path: &str) -> Vec<(String, String)> {
    match v {
        Value::String(s) => vec![(path.to_string(), s.clone())],
        Value::Object(o) => o
            .iter()
            .flat_map(|(k, x)| collect_strings(x, &format!("{path}.{k}")))
            .collect(),
        _ => Vec::new(),
    }
}
