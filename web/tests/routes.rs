//! Label routing: `PUT /api/v1/routes` takes an alertmanager.yml's route tree, and
//! `POST /api/v1/routes/test` answers what `amtool config routes test` of Alertmanager 0.25
//! answers for the same tree (conformance, with ARGUS_TEST_AMTOOL); roles and tenant isolation;
//! silences with label matchers and a recurring window in a time zone.

mod common;

use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A realistic alertmanager.yml: receivers named as Argus teams and contacts.
const AM_YML: &str = r#"
global:
  resolve_timeout: 5m
route:
  receiver: ops
  group_by: [alertname, endpoint]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 3h
  routes:
    - matchers: ['priority=~"P[01]"']
      receiver: pager
      continue: true
      group_wait: 0s
    - match:
        hostgroup: db
      receiver: dba
      routes:
        - matchers: ['env!="prod"']
          receiver: dev-team
        - match_re:
            metric: "disk\\..*"
          receiver: storage
          continue: true
        - matchers: ['region=~"eu-.*|ap-.*"', 'metric!~"net\\..*"']
          receiver: regional
    - matchers: ['{team="web", endpoint=~"web-[0-9]+"}']
      receiver: web
      continue: true
    - matchers: [team="web"]
      receiver: ops
inhibit_rules:
  - source_matchers: [alertname="agent.alive"]
    target_matchers: ['priority=~"P[2-5]"']
    equal: [endpoint]
receivers:
  - name: ops
  - name: pager
  - name: dba
  - name: dev-team
  - name: storage
  - name: regional
  - name: web
"#;

async fn receivers_exist(e: &Env, token: &str, names: &[&str]) {
    for (i, n) in names.iter().enumerate() {
        let (s, v) = e
            .call(
                token,
                Method::POST,
                "/api/v1/contacts",
                Some(json!({"name": n, "email": format!("r{i}@example.com")})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
}

async fn put_yaml(e: &Env, token: &str, body: &str) -> (StatusCode, Value) {
    let r = e
        .http
        .put(format!("{}/api/v1/routes", e.url))
        .bearer_auth(token)
        .header("content-type", "application/yaml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn argus_test(e: &Env, token: &str, labels: &[(&str, &str)]) -> String {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let (s, v) = e
        .call(
            token,
            Method::POST,
            "/api/v1/routes/test",
            Some(json!({"labels": labels})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: Vec<&str> = v["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    names.join(",")
}

const NAMES: &[&str] = &[
    "ops", "pager", "dba", "dev-team", "storage", "regional", "web",
];

/// Label sets covering every operator, nesting, continue, inheritance and missing labels.
const CASES: &[&[(&str, &str)]] = &[
    &[("alertname", "cpu.busy"), ("priority", "P3")],
    &[("priority", "P0"), ("endpoint", "h1")],
    &[
        ("priority", "P1"),
        ("hostgroup", "db"),
        ("env", "prod"),
        ("metric", "disk.used"),
    ],
    &[("hostgroup", "db"), ("env", "dev"), ("metric", "disk.used")],
    &[
        ("hostgroup", "db"),
        ("env", "prod"),
        ("metric", "disk.used"),
        ("region", "eu-west"),
    ],
    &[
        ("hostgroup", "db"),
        ("env", "prod"),
        ("metric", "net.in"),
        ("region", "eu-west"),
    ],
    &[
        ("hostgroup", "db"),
        ("env", "prod"),
        ("metric", "cpu.busy"),
        ("region", "ap-east"),
    ],
    &[
        ("hostgroup", "db"),
        ("env", "prod"),
        ("metric", "cpu.busy"),
        ("region", "us-east"),
    ],
    &[("hostgroup", "db")],
    &[("team", "web"), ("endpoint", "web-12")],
    &[("team", "web"), ("endpoint", "web-x")],
    &[("team", "web"), ("endpoint", "web-3"), ("priority", "P1")],
    &[("hostgroup", "dbx"), ("team", "webs")],
];

#[tokio::test]
async fn routes_test_answers_as_amtool_does() {
    let amtool = argus_core::testing::require_server(
        "ARGUS_TEST_AMTOOL",
        "amtool (Debian's prometheus-alertmanager)",
    );
    let Some(e) = start(Backend::Sqlite, |_| {}).await else {
        return;
    };
    receivers_exist(&e, &e.a, NAMES).await;
    let (s, v) = put_yaml(&e, &e.a, AM_YML).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["format"], "yaml");
    assert_eq!(
        v["config"]["inhibit_rules"][0]["equal"],
        json!(["endpoint"])
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alertmanager.yml");
    std::fs::write(&file, AM_YML).unwrap();
    for labels in CASES {
        let ours = argus_test(&e, &e.a, labels).await;
        if let Some(bin) = &amtool {
            let mut cmd = std::process::Command::new(bin);
            cmd.args([
                "config",
                "routes",
                "test",
                &format!("--config.file={}", file.display()),
            ]);
            for (k, v) in labels.iter() {
                cmd.arg(format!("{k}={v}"));
            }
            let out = cmd.output().expect("run amtool");
            assert!(
                out.status.success(),
                "amtool: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(
                ours, theirs,
                "labels {labels:?}: Argus {ours:?}, amtool {theirs:?}"
            );
        }
    }
    // Without amtool (skipped visibly above) the answers are still checked by hand.
    assert_eq!(argus_test(&e, &e.a, CASES[2]).await, "pager,storage");
    assert_eq!(argus_test(&e, &e.a, CASES[4]).await, "storage,regional");
    assert_eq!(argus_test(&e, &e.a, CASES[9]).await, "web,ops");
    // The inherited settings come with each route.
    let (_, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/routes/test",
            Some(json!({"labels": {"priority": "P0"}})),
        )
        .await;
    assert_eq!(v["routes"][0]["path"], "0.0");
    assert_eq!(v["routes"][0]["group_wait_ms"], 0);
    assert_eq!(v["routes"][0]["repeat_interval_ms"], 3 * 3_600_000);
    assert_eq!(v["routes"][0]["group_by"], json!(["alertname", "endpoint"]));
    // The pasted source reads back as YAML.
    let r = e
        .http
        .get(format!("{}/api/v1/routes?format=yaml", e.url))
        .bearer_auth(&e.a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), AM_YML);
    e.running.stop().await;
}

#[tokio::test]
async fn routes_are_checked_role_guarded_and_tenant_scoped() {
    let Some(e) = start(Backend::Sqlite, |c| c.internal_token = "node-secret".into()).await else {
        return;
    };
    receivers_exist(&e, &e.a, &["ops", "pager"]).await;
    let tree = json!({"route": {"receiver": "ops", "routes": [{"matchers": ["priority=P0"], "receiver": "pager"}]}});
    // Errors name the field.
    let bad = [
        (json!({"route": {"receiver": "nobody"}}), "route.receiver"),
        (
            json!({"route": {"receiver": "ops", "routes": [{"matchers": ["a=~\"(\""]}]}}),
            "route.routes[0].matchers[0]",
        ),
        (
            json!({"route": {"receiver": "ops", "group_interval": "often"}}),
            "route.group_interval",
        ),
        (json!({"receivers": []}), "route"),
    ];
    for (doc, field) in bad {
        let (s, v) = e.call(&e.a, Method::PUT, "/api/v1/routes", Some(doc)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["field"], field, "{v}");
    }
    let (s, v) = put_yaml(&e, &e.a, "route:\n  receiver: [ops\n").await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body")),
        "{v}"
    );
    // Roles: a viewer reads and tests but may not write.
    let viewer = e.token(&e.a, "viewer").await;
    let (s, _) = e
        .call(&viewer, Method::PUT, "/api/v1/routes", Some(tree.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = e
        .call(&e.a, Method::PUT, "/api/v1/routes", Some(tree.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["format"], "json");
    assert_eq!(
        argus_test(&e, &viewer, &[("priority", "P0")]).await,
        "pager"
    );
    // No credential: 401.
    let r = e
        .http
        .get(format!("{}/api/v1/routes", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = e
        .http
        .post(format!("{}/api/v1/routes/test", e.url))
        .json(&json!({"labels": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Another tenant sees none of it, cannot test it, delete it, or name acme's receivers.
    let (s, v) = e.call(&e.b, Method::GET, "/api/v1/routes", None).await;
    assert_eq!((s, &v["config"]), (StatusCode::OK, &Value::Null), "{v}");
    let (s, _) = e
        .call(
            &e.b,
            Method::POST,
            "/api/v1/routes/test",
            Some(json!({"labels": {"priority": "P0"}})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = e.call(&e.b, Method::DELETE, "/api/v1/routes", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = e
        .call(&e.b, Method::PUT, "/api/v1/routes", Some(tree.clone()))
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("route.receiver")),
        "{v}"
    );
    // Alarm gets acme's tree (and host group names) with acme's configuration only.
    let r = e
        .http
        .get(format!("{}/internal/v1/config/notify", e.url))
        .bearer_auth("node-secret")
        .send()
        .await
        .unwrap();
    let doc: Value = r.json().await.unwrap();
    let tenants: Vec<argus_core::notify::TenantNotifyConfig> =
        serde_json::from_value(doc["tenants"].clone()).unwrap();
    let of = |t: &str| tenants.iter().find(|x| x.tenant.as_str() == t).unwrap();
    let acme = of("acme").routing.as_ref().expect("acme's routing");
    assert_eq!(acme.route.routes[0].receiver.as_deref(), Some("pager"));
    assert!(of("globex").routing.is_none());
    // A receiver in use cannot be deleted; after the tree goes, it can.
    let (_, contacts) = e.call(&e.a, Method::GET, "/api/v1/contacts", None).await;
    let pager = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pager")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, v) = e
        .call(
            &e.a,
            Method::DELETE,
            &format!("/api/v1/contacts/{pager}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = e.call(&e.a, Method::DELETE, "/api/v1/routes", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = e
        .call(
            &e.a,
            Method::DELETE,
            &format!("/api/v1/contacts/{pager}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    e.running.stop().await;
}

#[tokio::test]
async fn silences_take_matchers_and_a_recurring_window_in_a_zone() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let base = json!({
        "matcher": {"matchers": ["endpoint=~\"db-.*\"", "dc!=\"eu1\""]},
        "starts_at": 1_700_000_000, "ends_at": 1_900_000_000,
        "recurrence": {"time_zone": "Asia/Shanghai", "weekdays": ["sat", "sun"], "start": "22:00", "end": "06:00"},
        "reason": "weekend batch jobs"
    });
    let (s, v) = e
        .call(&e.a, Method::POST, "/api/v1/silences", Some(base.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["matcher"]["matchers"][1], "dc!=\"eu1\"");
    assert_eq!(v["recurrence"]["time_zone"], "Asia/Shanghai");
    let with = |path: &str, val: Value| {
        let mut b = base.clone();
        *b.pointer_mut(path).unwrap() = val;
        b
    };
    for (body, field) in [
        (
            with("/recurrence/time_zone", json!("Asia/Atlantis")),
            "recurrence.time_zone",
        ),
        (
            with("/recurrence/start", json!("25:00")),
            "recurrence.start",
        ),
        (
            with("/recurrence/weekdays", json!(["funday"])),
            "recurrence.weekdays[0]",
        ),
        (
            with("/matcher/matchers", json!(["endpoint=~\"(\""])),
            "matcher.matchers[0]",
        ),
    ] {
        let (s, v) = e
            .call(&e.a, Method::POST, "/api/v1/silences", Some(body))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["field"], field, "{v}");
    }
    e.running.stop().await;
}

/// Routes muted or active by Alertmanager's time intervals, as pasted from an alertmanager.yml.
const AM_TIMED: &str = r#"
route:
  receiver: ops
  routes:
    - matchers: [team="db"]
      receiver: dba
      mute_time_intervals: [nights, holidays]
    - matchers: [team="web"]
      receiver: web
      active_time_intervals: [office]
time_intervals:
  - name: nights
    time_intervals:
      - times:
          - start_time: "22:00"
            end_time: "24:00"
          - start_time: "00:00"
            end_time: "06:00"
        location: Europe/Berlin
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: "09:00", end_time: "17:00"}]
        months: ['january:june', '12']
        days_of_month: ['1:10', '-3:-1']
        years: ['2026:2030']
        location: Asia/Shanghai
mute_time_intervals:
  - name: holidays
    time_intervals:
      - months: [december]
        days_of_month: ['24:26']
receivers:
  - name: ops
  - name: dba
  - name: web
"#;

/// `amtool check-config`'s verdict on `yml` (None without amtool).
fn amtool_accepts(amtool: &Option<String>, yml: &str) -> Option<bool> {
    let bin = amtool.as_ref()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alertmanager.yml");
    std::fs::write(&file, yml).unwrap();
    let out = std::process::Command::new(bin)
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run amtool");
    Some(out.status.success())
}

#[tokio::test]
async fn time_intervals_are_taken_and_refused_as_amtool_check_config_does() {
    let amtool = argus_core::testing::require_server(
        "ARGUS_TEST_AMTOOL",
        "amtool (Debian's prometheus-alertmanager)",
    );
    let Some(e) = start(Backend::Sqlite, |_| {}).await else {
        return;
    };
    receivers_exist(&e, &e.a, &["ops", "dba", "web"]).await;
    let (s, v) = put_yaml(&e, &e.a, AM_TIMED).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        amtool_accepts(&amtool, AM_TIMED),
        amtool.as_ref().map(|_| true)
    );
    let ti = &v["config"]["time_intervals"];
    assert_eq!(ti["office"][0]["days_of_month"], json!([[1, 10], [-3, -1]]));
    assert_eq!(ti["holidays"][0]["months"], json!([[12, 12]]));
    assert_eq!(ti["nights"][0]["location"], "Europe/Berlin");
    // routes/test shows a route's own intervals; the walk is unchanged by them.
    let (_, r) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/routes/test",
            Some(json!({"labels": {"team": "db"}})),
        )
        .await;
    assert_eq!(r["receivers"], json!(["dba"]));
    assert_eq!(
        r["routes"][0]["mute_time_intervals"],
        json!(["nights", "holidays"])
    );
    // What amtool refuses, Argus refuses, naming the field.
    let bad = [
        (
            "mute_time_intervals: [nights, holidays]",
            "mute_time_intervals: [nights, nope]",
            "route.routes[0].mute_time_intervals[1]",
        ),
        (
            "receiver: ops\n",
            "receiver: ops\n  active_time_intervals: [office]\n",
            "route.active_time_intervals",
        ),
        (
            "monday:friday",
            "saturday:sunday",
            "time_intervals[1].time_intervals[0].weekdays[0]",
        ),
        (
            "end_time: \"06:00\"",
            "end_time: \"00:00\"",
            "time_intervals[0].time_intervals[0].times[1]",
        ),
        (
            "start_time: \"09:00\"",
            "start_time: \"9:00\"",
            "time_intervals[1].time_intervals[0].times[0].start_time",
        ),
        (
            "'-3:-1'",
            "'-3:5'",
            "time_intervals[1].time_intervals[0].days_of_month[1]",
        ),
        (
            "'1:10'",
            "'0'",
            "time_intervals[1].time_intervals[0].days_of_month[0]",
        ),
        (
            "'2026:2030'",
            "'2030:2026'",
            "time_intervals[1].time_intervals[0].years[0]",
        ),
        (
            "Asia/Shanghai",
            "Mars/Olympus",
            "time_intervals[1].time_intervals[0].location",
        ),
        (
            "  - name: office",
            "  - name: nights",
            "time_intervals[1].name",
        ),
    ];
    for (from, to, field) in bad {
        assert!(AM_TIMED.contains(from), "{from}");
        let yml = AM_TIMED.replacen(from, to, 1);
        let (s, v) = put_yaml(&e, &e.a, &yml).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{to}: {v}");
        assert_eq!(v["field"], field, "{to}: {v}");
        assert_eq!(
            amtool_accepts(&amtool, &yml),
            amtool.as_ref().map(|_| false),
            "amtool took {to}"
        );
    }
    // The stored tree is still the good one.
    let (_, v) = e.call(&e.a, Method::GET, "/api/v1/routes", None).await;
    assert!(v["config"]["time_intervals"]["office"].is_array(), "{v}");
    e.running.stop().await;
}
