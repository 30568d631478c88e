//! Rules on PromQL queries: CRUD of `recording_rules` and `alert_rules` with validation, roles
//! and tenant isolation; Prometheus rule file import (one transaction) and export (round trip,
//! `promtool check rules` when installed); the configuration center's rules document with
//! ETags; the internal PromQL query of global rules.

mod common;

use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const INTERNAL: &str = "node-secret";

/// A rule file as people write them: several groups, comments, durations, templates.
const RULE_FILE: &str = r#"# Rules for the node fleet.
groups:
  - name: node-recording
    interval: 30s
    rules:
      # Per-job availability.
      - record: job:up:avg
        expr: avg by (job) (up)
        labels:
          source: recording
      - record: instance:cpu:rate5m
        expr: sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))

  - name: node-alerts
    interval: 1m
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.instance }} is down ({{ $value | humanizePercentage }})"
          description: >-
            {{ $labels.instance }} of job {{ $labels.job }} has been down
            for more than 5 minutes.
      - alert: DiskFilling
        expr: node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.1
        for: 1h30m
        keep_firing_for: 10m
        labels:
          severity: warning
          team: storage
        annotations:
          summary: 'Disk {{ .Labels.mountpoint }} on {{ .Labels.instance | toUpper }}: {{ printf "%.1f" $value }} left'

  - name: slo/global
    interval: 5m
    rules:
      - alert: ErrorBudgetBurn
        expr: |
          sum(rate(http_requests_total{code=~"5.."}[5m]))
            / sum(rate(http_requests_total[5m])) > 0.01
        labels:
          priority: P0
        annotations:
          summary: "burning {{ $value | humanize }} of the budget"
"#;

async fn post(e: &Env, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    e.call(token, Method::POST, path, Some(body)).await
}

/// Sends a rule file to the import endpoint.
async fn import(e: &Env, token: &str, file: &str) -> (StatusCode, Value) {
    let resp = e
        .http
        .post(format!("{}/api/v1/rules/import", e.url))
        .bearer_auth(token)
        .header("content-type", "application/yaml")
        .body(file.to_string())
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

async fn export(e: &Env, token: &str) -> String {
    let resp = e
        .http
        .get(format!("{}/api/v1/rules/export", e.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    resp.text().await.unwrap()
}

async fn count(e: &Env, token: &str, kind: &str) -> usize {
    let (s, v) = e
        .call(token, Method::GET, &format!("/api/v1/{kind}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v[kind].as_array().unwrap().len()
}

async fn internal(e: &Env, path: &str, etag: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut r = e.http.get(format!("{}{path}", e.url)).bearer_auth(INTERNAL);
    if let Some(t) = etag {
        r = r.header("if-none-match", t);
    }
    let resp = r.send().await.unwrap();
    let s = resp.status();
    let tag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (s, tag, resp.json().await.unwrap_or(Value::Null))
}

async fn crud_validation_and_isolation(backend: Backend) {
    let Some(e) = start(backend, |c| c.internal_token = INTERNAL.into()).await else {
        return;
    };
    let viewer = e.token(&e.a, "viewer").await;
    let (_, etag, _) = internal(&e, "/internal/v1/config/rules", None).await;
    let etag = etag.unwrap();

    let rec = json!({"record": "job:up:avg", "expr": "avg by (job) (up)",
                     "labels": {"source": "api"}, "interval_secs": 30});
    let (s, r) = post(&e, &e.a, "/api/v1/recording_rules", rec.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["record"], "job:up:avg");
    assert_eq!(r["global"], false, "defaults filled in");
    let alert = json!({"alert": "InstanceDown", "expr": "up == 0", "for_secs": 300,
                       "labels": {"severity": "critical"},
                       "annotations": {"summary": "{{ $labels.instance }} down"},
                       "priority": 1, "global": true});
    let (s, a) = post(&e, &e.a, "/api/v1/alert_rules", alert.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["interval_secs"], 60, "Prometheus's default interval");
    assert_eq!(a["keep_firing_for_secs"], 0);

    // Every write changes the configuration version the center serves.
    let (s, _, _) = internal(&e, "/internal/v1/config/rules", Some(&etag)).await;
    assert_eq!(s, StatusCode::OK, "a new rule changes the ETag");

    // Validation: 400 naming the field, with the reason (a PromQL error with its position).
    let bad: Vec<(&str, Value, &str, &str)> = vec![
        (
            "recording_rules",
            json!({"record": "job.up", "expr": "up"}),
            "record",
            "metric name",
        ),
        (
            "recording_rules",
            json!({"record": "a", "expr": "sum(up"}),
            "expr",
            "1:",
        ),
        (
            "recording_rules",
            json!({"record": "a", "expr": "up[5m]"}),
            "expr",
            "range vector",
        ),
        (
            "recording_rules",
            json!({"record": "a", "expr": "up", "interval_secs": 0}),
            "interval_secs",
            "1 to 86400",
        ),
        (
            "recording_rules",
            json!({"record": "a", "expr": "up", "interval_secs": 86401}),
            "interval_secs",
            "1 to 86400",
        ),
        (
            "recording_rules",
            json!({"record": "a", "expr": "up", "labels": {"__x": "1"}}),
            "labels.__x",
            "reserved",
        ),
        (
            "recording_rules",
            json!({"record": "a", "expr": "up", "labels": {"a.b": "1"}}),
            "labels.a.b",
            "label name",
        ),
        (
            "recording_rules",
            json!({"expr": "up"}),
            "record",
            "missing",
        ),
        (
            "recording_rules",
            json!({"record": "a", "expr": "up", "for_secs": 1}),
            "for_secs",
            "unknown field",
        ),
        (
            "alert_rules",
            json!({"alert": "", "expr": "up"}),
            "alert",
            "empty",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up ==\n  == 1"}),
            "expr",
            "parse error",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up", "for_secs": 700000}),
            "for_secs",
            "at most",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up", "keep_firing_for_secs": 700000}),
            "keep_firing_for_secs",
            "at most",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up", "priority": 6}),
            "priority",
            "0 to 5",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up", "annotations": {"s": "{{ $value | bogus }}"}}),
            "annotations.s",
            "1:13: unsupported function \"bogus\"",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up", "annotations": {"s": "{{ if $value }}x{{ end }}"}}),
            "annotations.s",
            "if is not supported",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up", "labels": {"s": "{{ $labels }}"}}),
            "labels.s",
            "label name",
        ),
        (
            "alert_rules",
            json!({"alert": "A", "expr": "up", "labels": {"priority": "P1"}}),
            "labels.priority",
            "priority field",
        ),
    ];
    for (kind, body, field, why) in bad {
        let (s, v) = post(&e, &e.a, &format!("/api/v1/{kind}"), body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{kind} {body}: {v}");
        assert_eq!(v["field"], field, "{kind} {body}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains(why),
            "{kind} {body}: {v}"
        );
    }
    // The parse error's position is where the problem is, on its line.
    let (_, v) = post(
        &e,
        &e.a,
        "/api/v1/alert_rules",
        json!({"alert": "A", "expr": "sum(rate(x[5m])) by (job"}),
    )
    .await;
    assert_eq!(v["field"], "expr");
    assert!(v["error"].as_str().unwrap().starts_with("1:"), "{v}");

    // Roles: a viewer reads, may not write.
    let item = format!("/api/v1/alert_rules/{}", a["id"]);
    let (s, _) = e.call(&viewer, Method::GET, &item, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = e
        .call(&viewer, Method::PUT, &item, Some(alert.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post(&e, &viewer, "/api/v1/alert_rules", alert.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = import(&e, &viewer, RULE_FILE).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "importing needs the editor role");

    // Update replaces the whole rule.
    let mut changed = alert.clone();
    changed["for_secs"] = json!(60);
    changed["annotations"] = json!({"summary": "{{ .Labels.instance | toUpper }}"});
    let (s, v) = e.call(&e.a, Method::PUT, &item, Some(changed)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["for_secs"], 60);
    let (_, v) = e.call(&e.a, Method::GET, &item, None).await;
    assert_eq!(
        v["annotations"]["summary"],
        "{{ .Labels.instance | toUpper }}"
    );
    assert_eq!(v["priority"], 1);

    // Another tenant: 404 by id for every verb, absent from its lists and its export.
    let rec_item = format!("/api/v1/recording_rules/{}", r["id"]);
    for (path, body) in [(&item, &alert), (&rec_item, &rec)] {
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            let b = (m == Method::PUT).then(|| body.clone());
            let (s, v) = e.call(&e.b, m.clone(), path, b).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "globex {m} {path}: {v}");
        }
    }
    assert_eq!(count(&e, &e.b, "alert_rules").await, 0);
    assert_eq!(count(&e, &e.b, "recording_rules").await, 0);
    let theirs = export(&e, &e.b).await;
    assert!(
        !theirs.contains("InstanceDown") && !theirs.contains("job:up:avg"),
        "{theirs}"
    );
    assert!(theirs.contains("groups: []"), "{theirs}");
    // Still there for acme after globex's attempts.
    let (s, _) = e.call(&e.a, Method::GET, &rec_item, None).await;
    assert_eq!(s, StatusCode::OK);

    // Delete.
    for path in [&item, &rec_item] {
        let (s, _) = e.call(&e.a, Method::DELETE, path, None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = e.call(&e.a, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    e.running.stop().await;
}

#[tokio::test]
async fn rules_crud_validation_and_isolation_sqlite() {
    crud_validation_and_isolation(Backend::Sqlite).await;
}

#[tokio::test]
async fn rules_crud_validation_and_isolation_postgres() {
    crud_validation_and_isolation(Backend::Postgres).await;
}

async fn import_export(backend: Backend) {
    let Some(e) = start(backend, |c| c.internal_token = INTERNAL.into()).await else {
        return;
    };
    let (s, v) = import(&e, &e.a, RULE_FILE).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let rec = v["recording_rules"].as_array().unwrap();
    let alerts = v["alert_rules"].as_array().unwrap();
    assert_eq!((rec.len(), alerts.len()), (2, 3), "{v}");
    assert_eq!(rec[0]["record"], "job:up:avg");
    assert_eq!(rec[0]["interval_secs"], 30, "the group's interval");
    assert_eq!(rec[0]["labels"]["source"], "recording");
    let down = &alerts[0];
    assert_eq!(down["alert"], "InstanceDown");
    assert_eq!(down["for_secs"], 300);
    assert_eq!(down["priority"], 1, "severity critical is P1");
    assert_eq!(
        down["annotations"]["summary"],
        "{{ $labels.instance }} is down ({{ $value | humanizePercentage }})"
    );
    assert_eq!(
        down["annotations"]["description"],
        "{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes."
    );
    let disk = &alerts[1];
    assert_eq!(
        (
            disk["for_secs"].as_u64(),
            disk["keep_firing_for_secs"].as_u64()
        ),
        (Some(5400), Some(600))
    );
    assert_eq!(disk["priority"], 3, "severity warning is P3");
    let slo = &alerts[2];
    assert_eq!(
        (slo["priority"].as_u64(), slo["global"].as_bool()),
        (Some(0), Some(true))
    );
    assert_eq!(slo["interval_secs"], 300);
    assert!(slo["labels"].get("priority").is_none(), "{slo}");
    // Stored as when created through the API.
    assert_eq!(count(&e, &e.a, "alert_rules").await, 3);
    assert_eq!(count(&e, &e.a, "recording_rules").await, 2);

    // A broken file is refused whole, naming the first bad rule's field and line; the good
    // rules before it are not stored.
    let broken = RULE_FILE.replace("expr: up == 0", "expr: up == ");
    let (s, v) = import(&e, &e.a, &broken).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "groups[1].rules[0].expr", "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.starts_with("line 18: 1:"), "{msg}");
    let broken = RULE_FILE.replace("for: 1h30m", "for: 90");
    let (s, v) = import(&e, &e.a, &broken).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "groups[1].rules[1].for", "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("line 29: "), "{v}");
    let broken = RULE_FILE.replace("{{ printf \"%.1f\" $value }}", "{{ printf \"%d\" $value }}");
    let (s, v) = import(&e, &e.a, &broken).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "groups[1].rules[1].annotations.summary", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("line 35: bad template at 1:"),
        "{v}"
    );
    let (s, v) = import(&e, &e.a, "groups:\n  - name: x\n    rules: [\n").await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("file")),
        "{v}"
    );
    assert_eq!(
        count(&e, &e.a, "alert_rules").await,
        3,
        "nothing of a refused file stored"
    );
    assert_eq!(count(&e, &e.a, "recording_rules").await, 2);

    // Export: a rule file the import reads back as the same rules (here into globex).
    let mine = export(&e, &e.a).await;
    assert!(mine.contains("name: \"argus-5m/global\""), "{mine}");
    let (s, v) = import(&e, &e.b, &mine).await;
    assert_eq!(s, StatusCode::CREATED, "{v}\n{mine}");
    let theirs = export(&e, &e.b).await;
    let body = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&theirs), body(&mine), "round trip");
    let strip = |mut v: Value| {
        for x in v.as_array_mut().unwrap() {
            let m = x.as_object_mut().unwrap();
            m.remove("id");
            m.remove("updated_at");
        }
        v
    };
    for kind in ["recording_rules", "alert_rules"] {
        let (_, a) = e
            .call(&e.a, Method::GET, &format!("/api/v1/{kind}"), None)
            .await;
        let (_, b) = e
            .call(&e.b, Method::GET, &format!("/api/v1/{kind}"), None)
            .await;
        assert_eq!(strip(a[kind].clone()), strip(b[kind].clone()), "{kind}");
    }

    // An API-made rule whose priority no label gives: exported with a priority label.
    let (s, v) = post(&e, &e.a, "/api/v1/alert_rules", json!({"alert": "Quiet", "expr": "vector(1)", "priority": 4, "labels": {"severity": "critical"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mine = export(&e, &e.a).await;
    assert!(mine.contains("\"priority\": \"P4\""), "{mine}");
    promtool_accepts(&mine);
    e.running.stop().await;
}

/// `promtool check rules` on `file`, when promtool is installed (Debian's `prometheus`).
fn promtool_accepts(file: &str) {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, file).unwrap();
    let out = std::process::Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool refuses the export: {}{}\n{file}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `promtool` on PATH. Without it: in CI the test fails; elsewhere it says so loudly and
/// skips the check.
fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "promtool is required in CI (Debian package prometheus)"
        );
        argus_core::testing::skipped("promtool not installed (Debian package prometheus): the export is not checked with promtool check rules");
    }
    found
}

#[tokio::test]
async fn rule_files_import_and_export_sqlite() {
    import_export(Backend::Sqlite).await;
}

#[tokio::test]
async fn rule_files_import_and_export_postgres() {
    import_export(Backend::Postgres).await;
}

#[tokio::test]
async fn config_center_serves_every_tenants_rules() {
    let e = start(Backend::Sqlite, |c| c.internal_token = INTERNAL.into())
        .await
        .unwrap();
    for token in [None, Some(e.a.as_str())] {
        let mut r = e.http.get(format!("{}/internal/v1/config/rules", e.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        assert_eq!(r.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let (s, v) = import(&e, &e.a, RULE_FILE).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = post(
        &e,
        &e.b,
        "/api/v1/recording_rules",
        json!({"record": "g:x", "expr": "sum(x)", "global": true}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let gid = v["id"].as_u64().unwrap();

    let (s, tag, v) = internal(&e, "/internal/v1/config/rules", None).await;
    assert_eq!(s, StatusCode::OK);
    let doc: argus_core::rules::RulesDocument = serde_json::from_value(v).unwrap();
    let tag = tag.unwrap();
    assert_eq!(tag, format!("\"{}\"", doc.version));
    let acme = &doc.tenants[&argus_core::TenantId::new("acme").unwrap()];
    assert_eq!(acme.recording.len(), 2);
    assert_eq!(acme.alerting.len(), 3);
    assert_eq!(acme.alerting[0].alert, "InstanceDown");
    assert_eq!(acme.alerting[0].priority.level(), 1);
    assert!(acme.alerting[2].global);
    let globex = &doc.tenants[&argus_core::TenantId::new("globex").unwrap()];
    assert_eq!(globex.recording.len(), 1);
    assert_eq!(
        (globex.recording[0].id, globex.recording[0].global),
        (gid, true)
    );
    assert!(globex.alerting.is_empty());
    // What a judge will render.
    let t =
        argus_promql::template::Template::parse(&acme.alerting[0].annotations["summary"]).unwrap();
    let labels = [("instance".to_string(), "web-1".to_string())].into();
    assert_eq!(t.render(&labels, 0.25), "web-1 is down (25%)");

    // ETag: unchanged → 304; gzip when asked.
    let (s, _, _) = internal(&e, "/internal/v1/config/rules", Some(&tag)).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(format!("{}/internal/v1/config/rules", e.url))
        .bearer_auth(INTERNAL)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    // A delete changes it, and the rule is gone from the document.
    let (s, _) = e
        .call(
            &e.b,
            Method::DELETE,
            &format!("/api/v1/recording_rules/{gid}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, tag2, v) = internal(&e, "/internal/v1/config/rules", Some(&tag)).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(tag2.unwrap(), tag);
    assert!(v["tenants"].get("globex").is_none(), "{v}");
    e.running.stop().await;
}

async fn promql(e: &Env, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut r = e
        .http
        .post(format!("{}/internal/v1/query/promql", e.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn internal_promql_query_for_global_rules() {
    let e = start(Backend::Sqlite, |c| c.internal_token = INTERNAL.into())
        .await
        .unwrap();
    let q = r#"{"tenant": "acme", "query": "vector(1) + 1", "time": 1700000000}"#;
    // The internal credential only, refused before the body is read.
    for token in [None, Some(e.a.as_str()), Some(e.agent_a.as_str())] {
        let (s, _) = promql(&e, token, q).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = promql(&e, token, "{").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, v) = promql(&e, Some(INTERNAL), q).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"resultType": "vector", "result": [{"metric": {}, "value": [1700000000, "2"]}]})
    );
    let (s, v) = promql(
        &e,
        Some(INTERNAL),
        r#"{"tenant": "acme", "query": "3 * 2", "time": 1700000000.5}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"resultType": "scalar", "result": [1700000000.5, "6"]})
    );
    // Errors as the Prometheus API gives them.
    let (s, v) = promql(
        &e,
        Some(INTERNAL),
        r#"{"tenant": "acme", "query": "sum(up"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errorType"], "bad_data");
    assert!(v["error"].as_str().unwrap().starts_with("1:"), "{v}");
    let (s, v) = promql(&e, Some(INTERNAL), r#"{"tenant": "nobody", "query": "up"}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("unknown tenant"),
        "{v}"
    );
    let (s, v) = promql(&e, Some(INTERNAL), r#"{"query": "up"}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("tenant"), "{v}");
    e.running.stop().await;
}
