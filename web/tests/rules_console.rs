//! Rules in the console and the Prometheus API: the rule pages escape what they render and
//! give viewers no editor; `POST /api/v1/rules/validate` answers a save's error with its
//! position; `POST /api/v1/rules/preview` runs the expression over a real storage node; the
//! Prometheus API's `rules` and `alerts` answer the tenant's rules and the firing alerts a real
//! alarm service holds, and nothing of another tenant.

mod common;

use common::{start, start_with_alarm, Backend, Env, Region};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const XSS: &str = "<script>alert(1)</script>";
const XSS_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

/// A console session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

async fn login(e: &Env, login: &str, password: &str) -> Session {
    let r = e
        .http
        .post(format!("{}/api/v1/login", e.url))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let v: Value = r.json().await.unwrap();
    Session {
        cookie,
        csrf: v["csrf_token"].as_str().unwrap().to_string(),
    }
}

async fn page(e: &Env, s: &Session, path: &str) -> (StatusCode, String) {
    let r = e
        .http
        .get(format!("{}{path}", e.url))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A call with the session's cookie and (when `csrf`) its CSRF token.
async fn as_session(
    e: &Env,
    s: &Session,
    csrf: bool,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = e
        .http
        .request(method, format!("{}{path}", e.url))
        .header("cookie", &s.cookie);
    if csrf {
        r = r.header("x-csrf-token", &s.csrf);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn created(e: &Env, token: &str, kind: &str, body: Value) -> i64 {
    let (s, v) = e
        .call(token, Method::POST, &format!("/api/v1/{kind}"), Some(body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

#[tokio::test]
async fn rule_pages_escape_markup_and_give_viewers_no_editor() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let rec = created(
        &e,
        &e.a,
        "recording_rules",
        json!({"record": "job:x:sum",
               "expr": format!("label_replace(vector(1), \"note\", '{XSS}', \"\", \"\")"),
               "labels": {"team": XSS}}),
    )
    .await;
    let alert = created(
        &e,
        &e.a,
        "alert_rules",
        json!({"alert": format!("Hot{XSS}"), "expr": "vector(1) > 0", "labels": {"team": XSS},
               "annotations": {"summary": format!("{XSS} at {{{{ $value }}}}")}}),
    )
    .await;
    let admin = login(&e, "alice", "alice-secret-1").await;
    for path in [
        "/recording_rules".to_string(),
        "/alert_rules".to_string(),
        format!("/recording_rules?edit={rec}"),
        format!("/alert_rules?edit={alert}"),
    ] {
        let (s, html) = page(&e, &admin, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(!html.contains("<script>alert"), "{path} renders markup");
        assert!(html.contains(XSS_ESCAPED), "{path} shows the rule escaped");
        assert!(
            html.contains(r#"href="/recording_rules""#) && html.contains(r#"href="/alert_rules""#),
            "{path}: the rule pages are in the navigation"
        );
        assert!(
            html.contains(r#"id="rule-form""#),
            "{path}: an editor for an admin"
        );
    }
    // The edit form sends a PUT of that rule, filled in (annotations one name=value a line).
    let (_, html) = page(&e, &admin, &format!("/alert_rules?edit={alert}")).await;
    assert!(
        html.contains(&format!(
            r#"data-api="/api/v1/alert_rules/{alert}" data-method="PUT""#
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "summary={XSS_ESCAPED} at {{{{ $value }}}}</textarea>"
        )),
        "the annotation in its textarea: {html}"
    );
    assert!(html.contains(&format!("Edit alert rule Hot{XSS_ESCAPED}")));
    // No alarm service here: the rules' state is unknown, and the page says why.
    assert!(
        html.contains(r#"<span class="badge">unknown</span>"#),
        "{html}"
    );
    assert!(html.contains("alerts unknown: no alarm service is configured"));

    // A viewer reads the rules but gets no editor, and the API refuses its writes.
    e.call(
        &e.a,
        Method::POST,
        "/api/v1/users",
        Some(json!({"login": "vera", "password": "vera-secret-1", "role": "viewer"})),
    )
    .await;
    let viewer = login(&e, "vera", "vera-secret-1").await;
    for path in [
        "/recording_rules".to_string(),
        "/alert_rules".to_string(),
        format!("/alert_rules?edit={alert}"),
    ] {
        let (s, html) = page(&e, &viewer, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(
            html.contains(XSS_ESCAPED),
            "{path}: the viewer sees the rules"
        );
        for editing in ["rule-form", "data-call=", "?edit=", "data-method="] {
            assert!(!html.contains(editing), "{path} offers a viewer {editing}");
        }
    }
    let body = json!({"alert": "ByViewer", "expr": "vector(1)"});
    for (m, path) in [
        (Method::POST, "/api/v1/alert_rules".to_string()),
        (Method::PUT, format!("/api/v1/alert_rules/{alert}")),
        (Method::DELETE, format!("/api/v1/alert_rules/{alert}")),
        (Method::DELETE, format!("/api/v1/recording_rules/{rec}")),
    ] {
        let (s, v) = as_session(&e, &viewer, true, m.clone(), &path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {path} as a viewer: {v}");
    }
    // Checking a rule stores nothing: a viewer may.
    let (s, v) = as_session(
        &e,
        &viewer,
        true,
        Method::POST,
        "/api/v1/rules/validate?kind=alert_rules",
        Some(body.clone()),
    )
    .await;
    assert_eq!((s, v["ok"].clone()), (StatusCode::OK, json!(true)), "{v}");
    // Without its CSRF token even the admin's session cannot delete.
    let (s, _) = as_session(
        &e,
        &admin,
        false,
        Method::DELETE,
        &format!("/api/v1/alert_rules/{alert}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/api/v1/alert_rules/{alert}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the rule is still there");
    // The admin's Delete button (with the token) removes it.
    let (_, html) = page(&e, &admin, "/alert_rules").await;
    assert!(html.contains(&format!(
        r#"data-call="/api/v1/alert_rules/{alert}" data-method="DELETE""#
    )));
    let (s, _) = as_session(
        &e,
        &admin,
        true,
        Method::DELETE,
        &format!("/api/v1/alert_rules/{alert}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, html) = page(&e, &admin, "/alert_rules").await;
    assert!(html.contains("No alert rules."), "{html}");

    // globex sees none of acme's rules, even asking for one by id.
    let bob = login(&e, "bob", "bob-secret-1").await;
    let (_, html) = page(&e, &bob, &format!("/recording_rules?edit={rec}")).await;
    assert!(
        !html.contains("job:x:sum") && !html.contains(XSS_ESCAPED),
        "{html}"
    );
    assert!(html.contains("New recording rule"));
    e.running.stop().await;
}

#[tokio::test]
async fn validate_answers_the_error_of_a_save_with_its_position() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let validate = |kind: &str, body: Value| {
        let path = format!("/api/v1/rules/validate?kind={kind}");
        let e = &e;
        async move {
            let (s, v) = e.call(&e.a, Method::POST, &path, Some(body)).await;
            assert_eq!(s, StatusCode::OK, "{path}: {v}");
            v
        }
    };
    let v = validate("alert_rules", json!({"alert": "A", "expr": "up == 0"})).await;
    assert_eq!(
        v,
        json!({"ok": true, "field": null, "error": null, "position": null})
    );

    // A parse error: the position is the one the message starts with, and a save answers the
    // same error.
    let bad = json!({"alert": "A", "expr": "sum(rate(x[5m]) by (job"});
    let v = validate("alert_rules", bad.clone()).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["field"], "expr", "{v}");
    let (line, col) = (
        v["position"]["line"].as_u64().unwrap(),
        v["position"]["column"].as_u64().unwrap(),
    );
    assert_eq!(line, 1, "{v}");
    assert!(col > 1, "the error is not at the start: {v}");
    let err = v["error"].as_str().unwrap();
    assert!(
        err.starts_with(&format!("{line}:{col}: parse error")),
        "{v}"
    );
    let (s, saved) = e
        .call(&e.a, Method::POST, "/api/v1/alert_rules", Some(bad))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        (&saved["field"], &saved["error"]),
        (&v["field"], &v["error"])
    );

    // An unclosed parenthesis on the second line is pointed at there.
    let v = validate(
        "recording_rules",
        json!({"record": "a:b", "expr": "sum(\n  rate(x[5m])"}),
    )
    .await;
    assert_eq!(v["position"]["line"], 2, "{v}");
    // A template error in an annotation: the annotation and where in its text.
    let v = validate(
        "alert_rules",
        json!({"alert": "A", "expr": "up", "annotations": {"summary": "{{ $labels.x }} {{ bogus }}"}}),
    )
    .await;
    assert_eq!(v["field"], "annotations.summary", "{v}");
    assert_eq!(v["position"]["line"], 1, "{v}");
    assert!(v["position"]["column"].as_u64().unwrap() > 15, "{v}");
    // Errors without a position.
    let v = validate(
        "recording_rules",
        json!({"record": "a:b", "expr": "up[5m]"}),
    )
    .await;
    assert_eq!(v["field"], "expr");
    assert!(v["error"].as_str().unwrap().contains("range vector"), "{v}");
    assert_eq!(v["position"], Value::Null);
    let v = validate("recording_rules", json!({"expr": "up"})).await;
    assert_eq!(
        (v["ok"].clone(), v["field"].clone()),
        (json!(false), json!("record"))
    );
    let v = validate(
        "alert_rules",
        json!({"alert": "A", "expr": "up", "for_secs": 9e9}),
    )
    .await;
    assert_eq!(v["field"], "for_secs", "{v}");

    // A rule as the API answers it (with id and updated_at) validates as it is.
    let id = created(
        &e,
        &e.a,
        "alert_rules",
        json!({"alert": "A", "expr": "up == 0"}),
    )
    .await;
    let (_, got) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/api/v1/alert_rules/{id}"),
            None,
        )
        .await;
    let v = validate("alert_rules", got).await;
    assert_eq!(v["ok"], true, "{v}");

    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/rules/validate?kind=strategies",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s, v["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("kind"))
    );
    let r = e
        .http
        .post(format!("{}/api/v1/rules/validate?kind=alert_rules", e.url))
        .json(&json!({"alert": "A", "expr": "up"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    e.running.stop().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The alert of event `value` of alert rule `rule`, as a judge sends it to alarm.
fn rule_event(rule: i64, now: i64, value: f64) -> Value {
    json!({"id": format!("acme-busy-{rule}"), "tenant": "acme", "status": "PROBLEM", "occurrence": 1,
           "strategy_id": 0, "series": {"tenant": "acme", "endpoint": "h1", "metric": "Busy",
           "tags": {"severity": "h1-hot"}}, "priority": 2, "condition": "{__name__=\"cpu.busy\"} > 50",
           "value": value, "timestamp": now - 30, "alarm_count": 1, "note": "h1 at 80%",
           "region": "local",
           "rule": {"id": rule, "alert": "Busy",
                    "labels": {"alertname": "Busy", "endpoint": "h1", "severity": "h1-hot"},
                    "annotations": {"summary": "h1 at 80%"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_and_prometheus_rules_over_real_data_and_a_real_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let now = argus_core::time::now_secs();
    let mut points = Vec::new();
    for (tenant, host, value) in [
        ("acme", "h1", 80.0),
        ("acme", "h2", 20.0),
        ("globex", "h9", 99.0),
    ] {
        for i in 0..12 {
            points.push(
                json!({"tenant": tenant, "endpoint": host, "metric": "cpu.busy", "tags": {},
                               "value": value, "timestamp": now - 120 + i * 10, "step": 10}),
            );
        }
    }
    let region = Region::with_points(dir.path(), &points).await;
    let (e, alarm) = start_with_alarm(dir.path(), |c| c.regions = vec![region.endpoint()]).await;

    let preview = |token: &str, kind: &str, body: Value| {
        let path = format!("/api/v1/rules/preview?kind={kind}");
        let (e, token) = (&e, token.to_string());
        async move { e.call(&token, Method::POST, &path, Some(body)).await }
    };
    // A recording rule: what it would record, the values the query API answers.
    let sum = r#"sum by (endpoint) ({__name__="cpu.busy"})"#;
    let (s, v) = preview(
        &e.a,
        "recording_rules",
        json!({"record": "endpoint:cpu_busy:sum", "expr": sum, "labels": {"team": "ops"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["samples"],
        json!([
            {"labels": {"__name__": "endpoint:cpu_busy:sum", "endpoint": "h1", "team": "ops"}, "value": "80"},
            {"labels": {"__name__": "endpoint:cpu_busy:sum", "endpoint": "h2", "team": "ops"}, "value": "20"},
        ]),
        "{v}"
    );
    assert_eq!(v["skipped"], 0);
    assert!(
        (v["time"].as_f64().unwrap() - now as f64).abs() < 60.0,
        "{v}"
    );
    let (_, q) = e
        .call(
            &e.a,
            Method::GET,
            &format!("/prometheus/api/v1/query?query={}", urlencode(sum)),
            None,
        )
        .await;
    let mut answered: Vec<(String, String)> = q["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["endpoint"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    answered.sort();
    assert_eq!(
        answered,
        vec![("h1".into(), "80".into()), ("h2".into(), "20".into())]
    );

    // An alert rule: its alerts with rendered labels and annotations; pending with a `for`.
    let busy = json!({"alert": "Busy", "expr": r#"{__name__="cpu.busy"} > 50"#,
                      "labels": {"severity": "{{ $labels.endpoint }}-hot"},
                      "annotations": {"summary": "{{ $labels.endpoint }} at {{ $value }}%"}});
    let (s, v) = preview(&e.a, "alert_rules", busy.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "firing");
    assert_eq!(
        v["alerts"],
        json!([{"labels": {"alertname": "Busy", "endpoint": "h1", "severity": "h1-hot"},
                "annotations": {"summary": "h1 at 80%"}, "value": "80"}]),
        "{v}"
    );
    let mut pending = busy.clone();
    pending["for_secs"] = json!(300);
    let (_, v) = preview(&e.a, "alert_rules", pending).await;
    assert_eq!(v["state"], "pending", "{v}");
    // globex's preview of the same rule sees its own series only; a viewer may preview.
    let (_, v) = preview(&e.b, "alert_rules", busy.clone()).await;
    assert_eq!(v["alerts"][0]["labels"]["endpoint"], "h9", "{v}");
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1, "{v}");
    let viewer = e.token(&e.a, "viewer").await;
    let (s, v) = preview(&viewer, "alert_rules", busy.clone()).await;
    assert_eq!(
        (s, v["alerts"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    // Series that the rule's labels make the same: refused as the judges refuse them.
    let (s, v) = preview(
        &e.a,
        "recording_rules",
        json!({"record": "x", "expr": r#"{__name__="cpu.busy"}"#, "labels": {"endpoint": "same"}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "expr");
    assert!(
        v["error"].as_str().unwrap().contains("several series"),
        "{v}"
    );
    let (s, v) = preview(
        &e.a,
        "recording_rules",
        json!({"record": "x", "expr": "sum("}),
    )
    .await;
    assert_eq!(
        (s, v["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("expr")),
        "{v}"
    );

    // The Prometheus API lists the rules, grouped by interval, with alarm's firing alerts.
    let rec = created(
        &e,
        &e.a,
        "recording_rules",
        json!({"record": "endpoint:cpu_busy:sum", "expr": sum}),
    )
    .await;
    let busy_id = created(&e, &e.a, "alert_rules", busy.clone()).await;
    let quiet = created(
        &e,
        &e.a,
        "alert_rules",
        json!({"alert": "Quiet", "expr": "vector(1) == 0", "interval_secs": 300, "global": true,
               "for_secs": 120}),
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("{}/internal/v1/events", alarm.url()))
        .json(&json!({"events": [rule_event(busy_id, now, 80.0)]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "alarm takes the event");
    let mut alerts = Value::Null;
    for _ in 0..150 {
        let (_, v) = e
            .call(&e.a, Method::GET, "/prometheus/api/v1/alerts", None)
            .await;
        if v["data"]["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            alerts = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        alerts["data"]["alerts"],
        json!([{"labels": {"alertname": "Busy", "endpoint": "h1", "severity": "h1-hot"},
                "annotations": {"summary": "h1 at 80%"}, "state": "firing",
                "activeAt": argus_core::time::rfc3339(now - 30), "value": "8e+01"}]),
        "{alerts}"
    );
    let (s, v) = e
        .call(&e.a, Method::GET, "/prometheus/api/v1/rules", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    let groups = v["data"]["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["argus-1m", "argus-5m/global"], "{v}");
    assert_eq!(groups[0]["interval"], 60);
    assert_eq!(groups[0]["file"], "argus");
    let g0 = groups[0]["rules"].as_array().unwrap();
    assert_eq!(g0.len(), 2, "{v}");
    assert_eq!(g0[0]["type"], "recording");
    assert_eq!(g0[0]["name"], "endpoint:cpu_busy:sum");
    assert_eq!(g0[0]["query"], sum);
    assert_eq!(g0[0]["health"], "unknown");
    assert!(g0[0].get("alerts").is_none());
    assert_eq!(g0[1]["type"], "alerting");
    assert_eq!(g0[1]["name"], "Busy");
    assert_eq!(g0[1]["state"], "firing");
    assert_eq!(g0[1]["duration"], 0);
    assert_eq!(g0[1]["labels"], busy["labels"]);
    assert_eq!(g0[1]["annotations"], busy["annotations"]);
    assert_eq!(g0[1]["alerts"], alerts["data"]["alerts"]);
    let q = &groups[1]["rules"][0];
    assert_eq!(
        (q["name"].clone(), q["state"].clone()),
        (json!("Quiet"), json!("inactive"))
    );
    assert_eq!(
        (q["duration"].clone(), q["alerts"].clone()),
        (json!(120), json!([]))
    );
    assert!(rec < busy_id && busy_id < quiet);
    // Filtered by type, as a GET or a POST form (as Grafana sends it).
    let (_, v) = e
        .call(
            &e.a,
            Method::GET,
            "/prometheus/api/v1/rules?type=record",
            None,
        )
        .await;
    let only: Vec<&Value> = v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(only.len(), 1, "{v}");
    assert_eq!(only[0]["type"], "recording");
    let r = e
        .http
        .post(format!("{}/prometheus/api/v1/rules", e.url))
        .bearer_auth(&e.a)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("type=alert")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let n: usize = v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 2, "{v}");
    let (s, v) = e
        .call(
            &e.a,
            Method::GET,
            "/prometheus/api/v1/rules?type=bogus",
            None,
        )
        .await;
    assert_eq!(
        (s, v["errorType"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_data"))
    );
    // globex: none of acme's rules or alerts.
    for path in ["/prometheus/api/v1/rules", "/prometheus/api/v1/alerts"] {
        let (s, v) = e.call(&e.b, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK);
        let t = v.to_string();
        assert!(
            !t.contains("Busy") && !t.contains("cpu_busy") && !t.contains("Quiet"),
            "{path}: {t}"
        );
    }
    let (_, v) = e
        .call(&e.b, Method::GET, "/prometheus/api/v1/rules", None)
        .await;
    assert_eq!(v["data"], json!({"groups": []}));

    // The console shows the state: Busy firing with its annotation, Quiet without data.
    let admin = login(&e, "alice", "alice-secret-1").await;
    let (_, html) = page(&e, &admin, "/alert_rules").await;
    assert!(
        html.contains(r#"<span class="badge bad">firing 1</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="badge">no data</span>"#),
        "{html}"
    );
    assert!(
        html.contains("h1 at 80%") && html.contains("severity=h1-hot"),
        "{html}"
    );
    assert!(!html.contains("alerts unknown"));

    alarm.stop().await;
    e.running.stop().await;
    region.stop().await;
}

/// Posts a judge's rules status report to web, zstd-compressed or plain.
async fn report(e: &Env, token: Option<&str>, body: &Value, zstd: bool) -> StatusCode {
    let json = serde_json::to_vec(body).unwrap();
    let mut r = e
        .http
        .post(format!("{}/internal/v1/rules/status", e.url))
        .header("content-type", "application/json");
    r = if zstd {
        r.header("content-encoding", "zstd")
            .body(zstd::encode_all(&json[..], 3).unwrap())
    } else {
        r.body(json)
    };
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().status()
}

#[tokio::test]
async fn judges_reports_show_each_rule_evaluation_to_its_tenant_only() {
    const NODE: &str = "node-secret";
    let e = start(Backend::Sqlite, |c| c.internal_token = NODE.into())
        .await
        .unwrap();
    let rec = created(
        &e,
        &e.a,
        "recording_rules",
        json!({"record": "job:x:sum", "expr": "sum(up)"}),
    )
    .await;
    let alert = created(
        &e,
        &e.a,
        "alert_rules",
        json!({"alert": "Slow", "expr": "vector(1) > 0"}),
    )
    .await;
    let unreported = created(
        &e,
        &e.a,
        "alert_rules",
        json!({"alert": "Quiet", "expr": "vector(1) < 0"}),
    )
    .await;
    let theirs = created(
        &e,
        &e.b,
        "alert_rules",
        json!({"alert": "Theirs", "expr": "vector(1) > 0"}),
    )
    .await;
    let now = argus_core::time::now_secs();
    let r1 = json!({"region": "r1", "judge": "http://judge-1:6081", "sent_at": now, "rules": [
        {"tenant": "acme", "kind": "alert", "id": alert, "last_evaluation": now - 3,
         "evaluation_secs": 2.5, "health": "error",
         "last_error": "timed out after 2 s <b>", "firing": 0, "pending": 0},
        {"tenant": "acme", "kind": "recording", "id": rec, "last_evaluation": now - 3,
         "evaluation_secs": 0.004, "health": "ok", "last_error": null, "firing": 0, "pending": 0},
        // Another tenant's rules in the same report: only ever shown to that tenant, even
        // under an id of acme's.
        {"tenant": "globex", "kind": "alert", "id": theirs, "last_evaluation": now - 3,
         "evaluation_secs": 0.1, "health": "error", "last_error": "globex-private failure",
         "firing": 0, "pending": 0},
        {"tenant": "globex", "kind": "alert", "id": alert, "last_evaluation": now - 3,
         "evaluation_secs": 0.1, "health": "error", "last_error": "globex-private twin",
         "firing": 0, "pending": 0},
    ]});
    // The internal credential is required.
    assert_eq!(report(&e, None, &r1, true).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        report(&e, Some("wrong"), &r1, true).await,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = e
        .call(&e.a, Method::GET, "/api/v1/rules/status", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["health"] == "unknown" && r["regions"] == json!([])));
    assert_eq!(report(&e, Some(NODE), &r1, true).await, StatusCode::OK);
    // A second region evaluates the alert rule well (plain JSON).
    let r2 = json!({"region": "r2", "judge": "judge-b", "sent_at": now, "rules": [
        {"tenant": "acme", "kind": "alert", "id": alert, "last_evaluation": now - 1,
         "evaluation_secs": 0.02, "health": "ok", "firing": 1, "pending": 0},
    ]});
    assert_eq!(report(&e, Some(NODE), &r2, false).await, StatusCode::OK);
    assert_eq!(
        report(&e, Some(NODE), &json!({"rules": "nope"}), false).await,
        StatusCode::BAD_REQUEST
    );

    // The API: each rule in every region reporting it, the worst health first.
    let (s, v) = e
        .call(&e.a, Method::GET, "/api/v1/rules/status", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let text = v.to_string();
    assert!(!text.contains("globex-private"), "{v}");
    let of = |kind: &str, id: i64| -> Value {
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let slow = of("alert", alert);
    assert_eq!(slow["name"], "Slow");
    assert_eq!(slow["health"], "error", "{slow}");
    let regions = slow["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2, "{slow}");
    assert_eq!(regions[0]["region"], "r1");
    assert_eq!(regions[0]["judge"], "http://judge-1:6081");
    assert_eq!(regions[0]["evaluation_secs"], 2.5);
    assert_eq!(regions[0]["last_error"], "timed out after 2 s <b>");
    let le = regions[0]["last_evaluation"].as_i64().unwrap();
    assert!((now - 5..=now).contains(&le), "{slow}");
    assert_eq!(
        (regions[1]["region"].clone(), regions[1]["health"].clone()),
        (json!("r2"), json!("ok"))
    );
    assert_eq!(regions[1]["firing"], 1);
    assert_eq!(of("recording", rec)["health"], "ok");
    assert_eq!(of("alert", unreported)["health"], "unknown");
    assert_eq!(of("alert", unreported)["regions"], json!([]));
    assert!(of("alert", theirs).is_null(), "{v}");

    // globex sees its own rule's status, and nothing of acme's.
    let (_, g) = e
        .call(&e.b, Method::GET, "/api/v1/rules/status", None)
        .await;
    let gt = g.to_string();
    assert!(gt.contains("globex-private failure"), "{g}");
    assert!(
        !gt.contains("timed out") && !gt.contains("globex-private twin"),
        "{g}"
    );
    assert_eq!(g["rules"].as_array().unwrap().len(), 1, "{g}");
    assert_eq!(g["rules"][0]["health"], "error");

    // The Prometheus API: worst health ("err"), the error named by region, the times.
    let (s, p) = e
        .call(&e.a, Method::GET, "/prometheus/api/v1/rules", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let rules: Vec<Value> = p["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect();
    let named = |n: &str| rules.iter().find(|r| r["name"] == n).cloned().unwrap();
    let slow = named("Slow");
    assert_eq!(slow["health"], "err", "{slow}");
    assert_eq!(slow["lastError"], "r1: timed out after 2 s <b>");
    assert_eq!(slow["evaluationTime"], 2.5);
    assert_eq!(
        slow["lastEvaluation"],
        argus_core::time::rfc3339(regions[1]["last_evaluation"].as_i64().unwrap())
    );
    let rec_rule = named("job:x:sum");
    assert_eq!(
        (rec_rule["health"].clone(), rec_rule["lastError"].clone()),
        (json!("ok"), json!(""))
    );
    let quiet = named("Quiet");
    assert_eq!(quiet["health"], "unknown");
    assert_eq!(quiet["lastEvaluation"], "0001-01-01T00:00:00Z");
    assert!(!p.to_string().contains("globex-private"));
    let (_, gp) = e
        .call(&e.b, Method::GET, "/prometheus/api/v1/rules", None)
        .await;
    assert!(gp.to_string().contains("globex-private failure"), "{gp}");
    assert!(!gp.to_string().contains("timed out"), "{gp}");

    // The console: last evaluation, duration and error per rule and region, escaped.
    let alice = login(&e, "alice", "alice-secret-1").await;
    let (_, html) = page(&e, &alice, "/alert_rules").await;
    assert!(html.contains("Last evaluation (UTC)"), "{html}");
    assert!(html.contains("timed out after 2 s &lt;b&gt;"), "{html}");
    assert!(!html.contains("2 s <b>"), "{html}");
    assert!(
        html.contains("2.50 s") && html.contains("20.0 ms"),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="badge bad">error</span>"#),
        "{html}"
    );
    assert!(html.contains("not reported"), "{html}");
    assert!(!html.contains("globex-private"), "{html}");
    let (_, html) = page(&e, &alice, "/recording_rules").await;
    assert!(
        html.contains("4.0 ms") && html.contains(r#"<span class="badge ok">ok</span>"#),
        "{html}"
    );
    let bob = login(&e, "bob", "bob-secret-1").await;
    let (_, html) = page(&e, &bob, "/alert_rules").await;
    assert!(html.contains("globex-private failure"), "{html}");
    assert!(
        !html.contains("timed out") && !html.contains("twin"),
        "{html}"
    );
    e.running.stop().await;
}
