//! Notification config pulled from web's configuration center, with ETag / If-None-Match.

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::event::EventStatus;
use argus_core::notify::Channel;
use common::*;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn pulls_notify_config_from_web_with_etags() {
    let rx = Receiver::start().await;
    let t = "cc-web";
    let doc = serde_json::json!({
        "version": 3,
        "tenants": [tenant_cfg(t, vec![contact(t, 1, None, Some(&rx.url), None)], vec![], vec![sub_all(t, 1, None, Some(1), vec![Channel::Webhook])])],
    });
    // (authorization, if-none-match, answered status) of every request.
    let seen: Arc<Mutex<Vec<(String, String, u16)>>> = Arc::default();
    let (seen2, doc2) = (seen.clone(), doc.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let (seen, doc) = (seen2.clone(), doc2.clone());
        App::new().route(
            "/internal/v1/config/notify",
            web::get().to(move |req: HttpRequest| {
                let (seen, doc) = (seen.clone(), doc.clone());
                async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    let (auth, inm) = (h("authorization"), h("if-none-match"));
                    let status = if inm == "\"v3\"" { 304 } else { 200 };
                    seen.lock().unwrap().push((auth, inm, status));
                    if status == 304 {
                        HttpResponse::NotModified().finish()
                    } else {
                        HttpResponse::Ok()
                            .insert_header(("ETag", "\"v3\""))
                            .json(doc)
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), vec![]);
    cfg.web_url = format!("http://{addr}");
    cfg.config_poll_secs = 1;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "h", 1, 1, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("the webhook routed by web's config", 60, || {
        !rx.delivered().is_empty()
    })
    .await;
    wait_for("a conditional poll", 60, || seen.lock().unwrap().len() >= 2).await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|(auth, _, _)| auth == "Bearer internal-secret"),
        "{seen:?}"
    );
    assert_eq!(seen[0].2, 200);
    assert_eq!((seen[1].1.as_str(), seen[1].2), ("\"v3\"", 304), "{seen:?}");
    alarm.stop().await;
    handle.stop(false).await;
    rx.stop().await;
}

#[tokio::test]
async fn health_metrics_and_config_checks() {
    let dir = tempfile::tempdir().unwrap();
    let alarm = argus_alarm::start(config(dir.path(), vec![]))
        .await
        .unwrap();
    wait_for_async("active", 30, || async {
        client()
            .get(format!("{}/health", alarm.url()))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["role"]
            == "active"
    })
    .await;
    post_events(
        &alarm.url(),
        &[event("cc-m", "h", 1, 1, EventStatus::Problem, 1)],
    )
    .await;
    let text = client()
        .get(format!("{}/metrics", alarm.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("argus_alarm_events_stored_total 1"), "{text}");
    assert!(text.contains("argus_alarm_active 1"), "{text}");
    alarm.stop().await;
    let mut bad = config(dir.path(), vec![]);
    bad.lease_renew_secs = bad.lease_ttl_secs;
    let e = argus_alarm::start(bad).await.err().unwrap().to_string();
    assert!(e.contains("lease_renew_secs"), "{e}");
    let e = argus_core::config::from_str::<argus_alarm::AlarmConfig>(
        "[smtp]\nsecurity = 'ssl'",
        "alarm.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("smtp.security"), "{e}");
}

#[tokio::test]
async fn retention_sweeps_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), vec![]);
    cfg.retention_days = 1;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let e = event("cc-ret", "h", 1, 1, EventStatus::Ok, 1);
    post_events(&alarm.url(), std::slice::from_ref(&e)).await;
    let url = format!("{}/internal/v1/events?tenant=cc-ret", alarm.url());
    wait_for_async("processed", 30, || async {
        get(&url).await.1["events"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    // Nothing is old yet.
    assert_eq!(argus_alarm::retention::sweep(&alarm.app).await.unwrap(), 0);
    for sql in [
        "UPDATE alarm_events SET received_at = 0",
        "UPDATE alarm_alerts SET updated_at = 0",
    ] {
        sqlx::query(sql).execute(&alarm.app.db.pool).await.unwrap();
    }
    assert_eq!(argus_alarm::retention::sweep(&alarm.app).await.unwrap(), 2);
    assert_eq!(get(&url).await.1["events"].as_array().unwrap().len(), 0);
    let (_, b) = post_events(&alarm.url(), &[e]).await;
    assert_eq!(b["accepted"], 1, "a swept event is new again");
    alarm.stop().await;
}
