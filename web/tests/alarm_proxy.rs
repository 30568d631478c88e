//! Events, acknowledgements, deliveries and retries through the web API, against the real alarm
//! service: always scoped to the caller's tenant.

mod common;

use common::{start, start_with_alarm, Backend};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn events_and_acks_are_tenant_scoped() {
    let dir = tempfile::tempdir().unwrap();
    let (e, alarm) = start_with_alarm(dir.path(), |_| {}).await;
    let alarm_url = alarm.url();
    let series = argus_core::SeriesKey {
        tenant: argus_core::TenantId::new("acme").unwrap(),
        endpoint: "db-1".into(),
        metric: "disk.io.util".into(),
        tags: argus_core::Tags::new(),
    };
    let id = argus_core::event::EventId::of(7, &series);
    let ev = json!({"events": [{"id": id, "tenant": "acme", "status": "PROBLEM", "occurrence": 1, "strategy_id": 7,
        "series": series, "priority": 0, "condition": "all(#3) > 95", "value": 99.0,
        "timestamp": argus_core::time::now_secs(), "alarm_count": 1}]});
    let r = e
        .http
        .post(format!("{alarm_url}/internal/v1/events"))
        .json(&ev)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // acme sees its problem; globex sees nothing and cannot acknowledge it.
    let mut found = false;
    for _ in 0..50 {
        let (s, v) = e
            .call(&e.a, Method::GET, "/api/v1/events?state=problem", None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["events"].as_array().is_some_and(|l| !l.is_empty()) {
            assert_eq!(v["events"][0]["event"]["id"], json!(id));
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(found, "the problem reached acme's event list");
    let (_, v) = e.call(&e.b, Method::GET, "/api/v1/events", None).await;
    assert!(v["events"].as_array().unwrap().is_empty(), "{v}");
    let ack_path = format!("/api/v1/events/{}/ack", argus_web::api::alarm::enc(&id.0));
    let (s, _) = e
        .call(
            &e.b,
            Method::POST,
            &ack_path,
            Some(json!({"comment": "mine?"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A viewer may look but not acknowledge.
    let viewer = e.token(&e.a, "viewer").await;
    let (s, _) = e
        .call(&viewer, Method::POST, &ack_path, Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let editor = e.token(&e.a, "editor").await;
    let (s, v) = e
        .call(
            &editor,
            Method::POST,
            &ack_path,
            Some(json!({"comment": "on it"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "acknowledged");
    assert_eq!(
        v["acknowledged"]["by"], "token:editor",
        "acknowledged as the caller"
    );
    assert_eq!(v["acknowledged"]["comment"], "on it");
    // History and the active view, through web: the caller's tenant only, filters passed on,
    // a tenant parameter of the caller's own not taken.
    let (s, v) = e
        .call(
            &e.a,
            Method::GET,
            "/api/v1/events/history?endpoint=db-1&priority=P0&status=problem&limit=10",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["events"][0]["event"]["id"], json!(id), "{v}");
    let (s, v) = e
        .call(&e.a, Method::GET, "/api/v1/events/history?priority=3", None)
        .await;
    assert_eq!(
        (s, v["events"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0)),
        "{v}"
    );
    let (s, v) = e
        .call(&e.a, Method::GET, "/api/v1/events/active", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["alerts"][0]["event"]["id"], json!(id), "{v}");
    assert_eq!(v["alerts"][0]["state"], "acknowledged");
    for path in ["/api/v1/events/history", "/api/v1/events/active"] {
        let (s, v) = e.call(&e.b, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(
            !v.to_string().contains(&id.0),
            "globex sees acme's event: {v}"
        );
    }
    let (s, _) = e
        .call(
            &e.b,
            Method::GET,
            "/api/v1/events/history?tenant=acme",
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "no tenant parameter from outside"
    );
    let (s, v) = e
        .call(&e.a, Method::GET, "/api/v1/events/history?priority=7", None)
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("priority")),
        "{v}"
    );
    // The console's page of one event (where messages link): acme's, not for globex.
    let console = |login: &'static str, password: &'static str| {
        let (e, id) = (&e, id.0.clone());
        async move {
            let r = e
                .http
                .post(format!("{}/api/v1/login", e.url))
                .json(&json!({"login": login, "password": password}))
                .send()
                .await
                .unwrap();
            let cookie = r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            let r = e
                .http
                .get(format!(
                    "{}/history?event={}",
                    e.url,
                    argus_web::api::alarm::enc(&id)
                ))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (s, html) = console("alice", "alice-secret-1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(&id.0) && html.contains("db-1") && html.contains("disk.io.util"),
        "{html}"
    );
    let (s, html) = console("bob", "bob-secret-1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !html.contains("db-1") && html.contains("No such event."),
        "{html}"
    );
    // Deliveries: listed per tenant; retrying an unknown or another tenant's one is 404.
    let (s, v) = e
        .call(&e.a, Method::GET, "/api/v1/deliveries?state=dead", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["deliveries"].is_array());
    let (s, _) = e
        .call(&e.a, Method::POST, "/api/v1/deliveries/999999/retry", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    alarm.stop().await;
    e.running.stop().await;
}

#[tokio::test]
async fn without_alarm_the_api_says_so() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let (s, v) = e.call(&e.a, Method::GET, "/api/v1/events", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(v["error"].as_str().unwrap().contains("alarm_url"), "{v}");
    e.running.stop().await;
}
