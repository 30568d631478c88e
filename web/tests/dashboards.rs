//! Dashboards through the API: create, read, list, replace and delete; validation errors naming
//! the field by its path (a PromQL parse error with the parser's position); the built-in
//! dashboards every tenant gets, read-only; roles (a viewer reads only); isolation (another
//! tenant's dashboard answers 404 by id and is absent from lists); the console's dashboard pages
//! render what they are given escaped, with the lines of the tenant's strategies on the panels
//! that ask for them; the alerts overview's counts by host group and over time, with a real
//! alarm. On SQLite, and on PostgreSQL when ARGUS_TEST_PG_URL is set.

mod common;

use common::{start, start_with_alarm, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const XSS: &str = "<script>alert(1)</script>";

fn dashboard(title: &str) -> Value {
    json!({
        "title": title,
        "variables": [
            {"name": "host", "type": "label_values", "metric": "cpu.busy", "label": "endpoint"},
            {"name": "group", "type": "host_group"}
        ],
        "range_secs": 3600,
        "refresh_secs": 30,
        "rows": [{"title": "CPU", "panels": [
            {"type": "timeseries", "title": "busy", "unit": "percent", "style": "stacked",
             "targets": [{"expr": "{__name__=\"cpu.busy\", endpoint=~\"$host\"}", "legend": "{{endpoint}}"}],
             "min": 0, "max": 100,
             "thresholds": [{"value": 80, "color": "orange"}, {"value": 90, "color": "red"}]},
            {"type": "bargauge", "title": "top", "limit": 5,
             "targets": [{"expr": "topk(5, avg_over_time({__name__=\"cpu.busy\", endpoint=~\"$group\"}[$__interval]))"}]},
            {"type": "missing", "title": "silent", "variable": "group",
             "targets": [{"expr": "max by (endpoint) ({__name__=\"agent.alive\", endpoint=~\"${group}\"})"}]}
        ]}]
    })
}

/// Sets `ptr` (a JSON pointer) of a copy of `doc` to `v`.
fn with(doc: &Value, ptr: &str, v: Value) -> Value {
    let mut d = doc.clone();
    *d.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = v;
    d
}

async fn bad(e: &Env, body: Value, field: &str, says: &str) {
    let (s, v) = e
        .call(&e.a, Method::POST, "/api/v1/dashboards", Some(body))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
    assert_eq!(v["field"], field, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains(says), "{field}: {msg:?} should say {says:?}");
}

async fn crud_roles_isolation(e: &Env) {
    // Every tenant lists the built-in dashboards first, read-only.
    for token in [&e.a, &e.b] {
        let (s, v) = e.call(token, Method::GET, "/api/v1/dashboards", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let ids: Vec<&str> = v["dashboards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["builtin-host", "builtin-host-group", "builtin-alerts"],
            "{v}"
        );
        assert!(v["dashboards"][0]["builtin"].as_bool().unwrap());
    }
    let (s, v) = e
        .call(
            &e.a,
            Method::GET,
            "/api/v1/dashboards/builtin-host-group",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["variables"][0]["type"], "host_group", "{v}");
    assert_eq!(v["rows"][1]["panels"][0]["type"], "bargauge", "{v}");
    for m in [Method::PUT, Method::DELETE] {
        let (s, v) = e
            .call(
                &e.a,
                m.clone(),
                "/api/v1/dashboards/builtin-host",
                Some(dashboard("mine")),
            )
            .await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{m} builtin: {v}");
        assert!(v["error"].as_str().unwrap().contains("clone"), "{v}");
    }
    let (s, _) = e
        .call(&e.a, Method::GET, "/api/v1/dashboards/builtin-nope", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Create, read, replace.
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/dashboards",
            Some(dashboard("CPU")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["rows"][0]["panels"][0]["style"], "stacked", "{v}");
    assert_eq!(v["rows"][0]["panels"][0]["unit"], "percent", "{v}");
    // Defaults are written out, so an export says everything.
    assert_eq!(v["rows"][0]["panels"][1]["unit"], "none", "{v}");
    assert_eq!(v["variables"][0]["multi"], false, "{v}");
    let path = format!("/api/v1/dashboards/{id}");
    let (s, got) = e.call(&e.a, Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, v);
    let (s, v) = e
        .call(&e.a, Method::PUT, &path, Some(dashboard("CPU 2")))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["title"], "CPU 2");
    // A clone is the same document POSTed again: titles need not be unique.
    let (s, v2) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/dashboards",
            Some(dashboard("CPU 2")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v2}");
    let clone = v2["id"].as_i64().unwrap();

    // Validation: the field by its path, the parser's position in a parse error.
    let d = dashboard("x");
    bad(
        e,
        with(
            &d,
            "/rows/0/panels/1/targets/0/expr",
            json!("sum(rate({__name__=\"x\"}[5m])"),
        ),
        "rows[0].panels[1].targets[0].expr",
        "1:",
    )
    .await;
    bad(
        e,
        with(
            &d,
            "/rows/0/panels/0/targets/0/expr",
            json!("up{a=\"$nope\"}"),
        ),
        "rows[0].panels[0].targets[0].expr",
        "$nope is not a variable",
    )
    .await;
    bad(
        e,
        with(
            &d,
            "/rows/0/panels/0/targets/0/expr",
            json!("{__name__=\"x\"}[5m]"),
        ),
        "rows[0].panels[0].targets[0].expr",
        "gives a matrix",
    )
    .await;
    bad(
        e,
        with(&d, "/rows/0/panels/0/unit", json!("furlongs")),
        "rows[0].panels[0].unit",
        "unknown variant",
    )
    .await;
    bad(
        e,
        with(&d, "/rows/0/panels/0/type", json!("pie")),
        "rows[0].panels[0].type",
        "unknown variant",
    )
    .await;
    bad(e, with(&d, "/title", json!(" ")), "title", "empty").await;
    bad(
        e,
        with(&d, "/variables/1/name", json!("host")),
        "variables[1].name",
        "earlier",
    )
    .await;
    bad(
        e,
        with(&d, "/variables/0/name", json!("__x")),
        "variables[0].name",
        "not a variable name",
    )
    .await;
    bad(
        e,
        with(&d, "/rows/0/panels/0/thresholds/1/value", json!(10)),
        "rows[0].panels[0].thresholds[1].value",
        "above",
    )
    .await;
    bad(
        e,
        with(&d, "/rows/0/panels/2/variable", json!("host")),
        "rows[0].panels[2].variable",
        "not a host_group variable",
    )
    .await;
    bad(
        e,
        with(&d, "/rows/0/panels/0/targets", json!([])),
        "rows[0].panels[0].targets",
        "1 to 8",
    )
    .await;
    bad(e, with(&d, "/refresh_secs", json!(1)), "refresh_secs", "5").await;
    let many: Vec<Value> = (0..49).map(|_| d["rows"][0]["panels"][0].clone()).collect();
    bad(
        e,
        with(&d, "/rows/0/panels", json!(many)),
        "rows",
        "at most 48 panels",
    )
    .await;
    let mut extra = d.clone();
    extra["owner"] = json!("me");
    bad(e, extra, "owner", "unknown field").await;

    // Roles: a viewer reads, and nothing more.
    let viewer = e.token(&e.a, "viewer").await;
    let (s, _) = e.call(&viewer, Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = e
        .call(
            &viewer,
            Method::POST,
            "/api/v1/dashboards",
            Some(dashboard("v")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = e
        .call(&viewer, Method::PUT, &path, Some(dashboard("v")))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = e.call(&viewer, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Isolation: globex neither reads, changes, deletes nor lists acme's dashboard.
    let (s, v) = e.call(&e.b, Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = e
        .call(&e.b, Method::PUT, &path, Some(dashboard("taken")))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = e.call(&e.b, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (_, v) = e.call(&e.b, Method::GET, "/api/v1/dashboards", None).await;
    assert!(!v.to_string().contains("CPU 2"), "{v}");
    let (_, v) = e.call(&e.a, Method::GET, "/api/v1/dashboards", None).await;
    assert_eq!(v["dashboards"].as_array().unwrap().len(), 5, "{v}");
    // Pages after the first hold stored dashboards only.
    let (_, v) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/api/v1/dashboards?limit=1&after={id}"),
            None,
        )
        .await;
    assert_eq!(v["dashboards"][0]["id"], clone, "{v}");
    assert_eq!(v["dashboards"].as_array().unwrap().len(), 1, "{v}");

    // Delete.
    let (s, _) = e.call(&e.a, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = e.call(&e.a, Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn dashboards_on_sqlite() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    crud_roles_isolation(&e).await;
    e.running.stop().await;
}

#[tokio::test]
async fn dashboards_on_postgres() {
    let Some(e) = start(Backend::Postgres, |_| {}).await else {
        return;
    };
    crud_roles_isolation(&e).await;
    e.running.stop().await;
}

/// A console session's cookie.
async fn session(e: &Env, login: &str, password: &str) -> String {
    let r = e
        .http
        .post(format!("{}/api/v1/login", e.url))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn page(e: &Env, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = e
        .http
        .get(format!("{}{path}", e.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn dashboard_pages_escape_markup_and_stay_in_their_tenant() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let mut d = dashboard(XSS);
    d["description"] = json!(XSS);
    d["rows"][0]["title"] = json!(XSS);
    d["rows"][0]["panels"][0]["title"] = json!(XSS);
    d["rows"][0]["panels"][0]["targets"][0]["legend"] = json!(XSS);
    d["variables"][0]["default"] = json!(XSS);
    let (s, v) = e
        .call(&e.a, Method::POST, "/api/v1/dashboards", Some(d))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, _) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/host_groups",
            Some(json!({"name": "<b>grp</b>", "hosts": ["web-1"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let alice = session(&e, "alice", "alice-secret-1").await;
    for path in [
        "/dashboards".to_string(),
        format!("/dashboards/{id}"),
        "/dashboards/builtin-host-group".to_string(),
    ] {
        let (s, html) = page(&e, &alice, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(!html.contains("<script>alert"), "{path} renders markup");
        assert!(!html.contains("<b>grp"), "{path} renders markup");
    }
    let (_, html) = page(&e, &alice, &format!("/dashboards/{id}")).await;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    // The editor is there for an editor of a stored dashboard, not on a built-in one.
    assert!(html.contains("id=\"add-panel\""));
    let (_, html) = page(&e, &alice, "/dashboards/builtin-host").await;
    assert!(!html.contains("id=\"add-panel\""));
    assert!(html.contains("data-var=\"endpoint\""));
    // The export is the document without id, loadable by POST as it is.
    let (s, text) = page(&e, &alice, &format!("/dashboards/{id}/export")).await;
    assert_eq!(s, StatusCode::OK);
    let exported: Value = serde_json::from_str(&text).unwrap();
    assert!(exported.get("id").is_none(), "{exported}");
    let (s, v) = e
        .call(&e.a, Method::POST, "/api/v1/dashboards", Some(exported))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // Bob (globex) gets neither the page nor the export of acme's dashboard.
    let bob = session(&e, "bob", "bob-secret-1").await;
    let (s, html) = page(&e, &bob, &format!("/dashboards/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("No such dashboard") && !html.contains("alert(1)"));
    let (s, text) = page(&e, &bob, &format!("/dashboards/{id}/export")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{text}");
    let (_, html) = page(&e, &bob, "/dashboards").await;
    assert!(!html.contains("alert(1)"));
    // Host groups offered by a built-in dashboard are the tenant's own.
    let (_, html) = page(&e, &bob, "/dashboards/builtin-host-group").await;
    assert!(!html.contains("grp"), "acme's group on globex's page");
    e.running.stop().await;
}

/// The strategy lines a dashboard page hands to console.js (its `data-strategy-lines`), by
/// panel; empty when it has none.
fn strategy_lines(html: &str) -> Value {
    let Some(start) = html.find("data-strategy-lines=\"") else {
        return json!({});
    };
    let rest = &html[start + "data-strategy-lines=\"".len()..];
    let raw = &rest[..rest.find('"').unwrap()];
    let text = raw
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Creates a template with one strategy on `metric` and a group of `hosts` binding it.
async fn bound_strategy(e: &Env, token: &str, group: &str, metric: &str, condition: &str) {
    let (s, t) = e
        .call(
            token,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": format!("{group} template")})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (s, v) = e
        .call(
            token,
            Method::POST,
            "/api/v1/strategies",
            Some(json!({"template_id": t["id"], "metric": metric, "condition": condition, "priority": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = e
        .call(
            token,
            Method::POST,
            "/api/v1/host_groups",
            Some(json!({"name": group, "hosts": ["web-1"], "templates": [t["id"]]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn panels_draw_the_thresholds_of_their_tenants_strategies() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let group = format!("web{XSS}");
    bound_strategy(
        &e,
        &e.a,
        &group,
        "cpu.busy",
        "all(#3) > 90 || avg(#5) >= 75",
    )
    .await;
    // A strategy on a metric no panel of the dashboard below shows, and another tenant's.
    bound_strategy(&e, &e.a, "db", "net.if.in.bytes", "all(#3) > 1000").await;
    bound_strategy(&e, &e.b, "gx", "cpu.busy", "all(#3) > 42").await;

    // A stored dashboard: the CPU panel asks for the lines, the second panel does not.
    let mut d = dashboard("lines");
    d["rows"][0]["panels"][0]["strategy_thresholds"] = json!(true);
    d["rows"][0]["panels"][1] = json!({"type": "timeseries", "title": "cpu again",
        "targets": [{"expr": "{__name__=\"cpu.busy\"}"}]});
    let (s, v) = e
        .call(&e.a, Method::POST, "/api/v1/dashboards", Some(d.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(
        v["rows"][0]["panels"][0]["strategy_thresholds"], true,
        "{v}"
    );
    // Only a time series panel draws them.
    let mut stat = d.clone();
    stat["rows"][0]["panels"][1] = json!({"type": "stat", "strategy_thresholds": true,
        "targets": [{"expr": "{__name__=\"cpu.busy\"}"}]});
    bad(
        &e,
        stat,
        "rows[0].panels[1].strategy_thresholds",
        "only a timeseries panel",
    )
    .await;

    let alice = session(&e, "alice", "alice-secret-1").await;
    let (_, html) = page(&e, &alice, &format!("/dashboards/{id}")).await;
    assert!(!html.contains("<script>alert"), "the group's name escaped");
    let lines = strategy_lines(&html);
    let got: Vec<(String, f64, Value)> = lines["0.0"]
        .as_array()
        .unwrap_or_else(|| panic!("{lines}"))
        .iter()
        .map(|l| {
            (
                l["op"].as_str().unwrap().to_string(),
                l["value"].as_f64().unwrap(),
                l["groups"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (">".to_string(), 90.0, json!([group])),
            (">=".to_string(), 75.0, json!([group])),
        ],
        "{lines}"
    );
    assert_eq!(lines.as_object().unwrap().len(), 1, "{lines}");
    // The built-in dashboards draw them on their percentages over time.
    let (_, html) = page(&e, &alice, "/dashboards/builtin-host-group").await;
    let lines = strategy_lines(&html);
    assert_eq!(lines["0.0"][0]["value"], 90.0, "the CPU panel: {lines}");
    assert!(
        !lines.to_string().contains("42"),
        "globex's strategy: {lines}"
    );
    // globex sees its own line only.
    let bob = session(&e, "bob", "bob-secret-1").await;
    let (_, html) = page(&e, &bob, "/dashboards/builtin-host-group").await;
    let lines = strategy_lines(&html);
    assert_eq!(lines["0.0"][0]["value"], 42.0, "{lines}");
    assert_eq!(lines["0.0"].as_array().unwrap().len(), 1, "{lines}");
    e.running.stop().await;
}

/// A classic strategy's event for `host` of `tenant`, as a judge sends it to alarm.
fn event(tenant: &str, host: &str, status: &str, occurrence: u64, ts: i64) -> Value {
    json!({"id": format!("{tenant}-cpu-{host}"), "tenant": tenant, "status": status,
           "occurrence": occurrence, "strategy_id": 1,
           "series": {"tenant": tenant, "endpoint": host, "metric": "cpu.busy", "tags": {}},
           "priority": 1, "condition": "all(#1) > 90", "value": 95.0, "timestamp": ts,
           "alarm_count": 1, "note": "", "region": "local"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_overview_counts_open_problems_by_group_and_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let (e, alarm) = start_with_alarm(dir.path(), |_| {}).await;
    for (name, hosts) in [("web", json!(["h1", "h2"])), ("db", json!(["h3"]))] {
        let (s, v) = e
            .call(
                &e.a,
                Method::POST,
                "/api/v1/host_groups",
                Some(json!({"name": name, "hosts": hosts})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let now = argus_core::time::now_secs();
    // h1 open since -600; h2 open from -900 to -300; h3 open since -400; h9 (in no group)
    // open since -200; and globex's h1, open since -1500 (before the range).
    let events = json!([
        event("acme", "h1", "PROBLEM", 1, now - 600),
        event("acme", "h2", "PROBLEM", 1, now - 900),
        event("acme", "h2", "OK", 2, now - 300),
        event("acme", "h3", "PROBLEM", 1, now - 400),
        event("acme", "h9", "PROBLEM", 1, now - 200),
        event("globex", "h1", "PROBLEM", 1, now - 1500),
    ]);
    let r = e
        .http
        .post(format!("{}/internal/v1/events", alarm.url()))
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "alarm takes the events");
    let path = format!(
        "/api/v1/events/overview?from={}&to={now}&step=300",
        now - 1200
    );
    let mut v = Value::Null;
    for _ in 0..100 {
        let (s, got) = e.call(&e.a, Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::OK, "{got}");
        v = got;
        let seen = v["over_time"].as_array().and_then(|p| p.last()).cloned();
        if v["open"] == 3 && seen.is_some_and(|p| p[1] == 3) && v["over_time"][1][1] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(v["open"], 3, "{v}");
    assert_eq!(
        v["by_group"],
        json!([{"group": "db", "open": 1}, {"group": "web", "open": 1}, {"group": null, "open": 1}]),
        "{v}"
    );
    assert_eq!(v["step"], 300);
    let counts: Vec<(i64, i64)> = v["over_time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_i64().unwrap() - now, p[1].as_i64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        vec![(-1200, 0), (-900, 1), (-600, 2), (-300, 2), (0, 3)],
        "{v}"
    );
    assert_eq!(v["truncated"], false);
    // globex sees its one problem, in no group of its own; acme's are not counted.
    let (s, g) = e.call(&e.b, Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{g}");
    assert_eq!(g["open"], 1, "{g}");
    assert_eq!(g["by_group"], json!([{"group": null, "open": 1}]), "{g}");
    assert_eq!(g["over_time"][0][1], 1, "open since before the range: {g}");
    // A range that ends before it starts is refused, naming the field.
    let (s, bad) = e
        .call(
            &e.a,
            Method::GET,
            "/api/v1/events/overview?from=10&to=5",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["field"], "to");
    // Without a credential, nothing.
    let r = e.http.get(format!("{}{path}", e.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    alarm.stop().await;
    e.running.stop().await;
}
