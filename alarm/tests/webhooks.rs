//! End-to-end: events in over HTTP, webhooks out to a real local receiver.

mod common;

use argus_core::event::EventStatus;
use argus_core::notify::{Channel, Silence, SilenceMatch};
use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[tokio::test]
async fn webhook_content_signature_and_idempotent_ingest() {
    let t = "wh-content";
    let OneWebhook { rx, dir: _dir, cfg } = one_webhook(t, Some("s3cret")).await;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let e = event(t, "web-1", 7, 1, EventStatus::Problem, 1);
    let (s, body) = post_events(&alarm.url(), std::slice::from_ref(&e)).await;
    assert_eq!(
        (s, body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (200, Some(1), Some(0))
    );
    // The same event again (a judge retrying): stored once, acknowledged.
    let (s, body) = post_events(&alarm.url(), std::slice::from_ref(&e)).await;
    assert_eq!(
        (s, body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (200, Some(0), Some(1))
    );

    wait_for("the webhook", 60, || !rx.delivered().is_empty()).await;
    let hit = &rx.delivered()[0];
    let v = hit.json();
    assert_eq!(v["schema"], "argus.alarm.v1");
    assert_eq!(v["kind"], "alert");
    assert_eq!(v["tenant"], t);
    assert_eq!(v["status"], "PROBLEM");
    assert_eq!(v["hosts"][0], "web-1");
    assert_eq!(v["events"][0]["id"], e.id.0.as_str());
    assert_eq!(v["events"][0]["idempotency_key"], e.idempotency_key());
    assert_eq!(v["events"][0]["series"]["metric"], "cpu.busy");
    assert!(v["events"][0]["ack_url"]
        .as_str()
        .unwrap()
        .contains("/ack?token="));
    // Signature: HMAC-SHA256 over "timestamp.body" with the contact's secret.
    let ts = hit.header("x-argus-timestamp").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&hit.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(hit.header("x-argus-signature"), Some(want.as_str()));
    assert_eq!(hit.header("idempotency-key"), v["idempotency_key"].as_str());
    assert_eq!(hit.header("content-type"), Some("application/json"));

    // Recovery is sent (the subscription asks for it), as its own message.
    post_events(&alarm.url(), &[event(t, "web-1", 7, 1, EventStatus::Ok, 2)]).await;
    wait_for("the recovery", 60, || rx.delivered().len() >= 2).await;
    let ok = rx.delivered()[1].json();
    assert_eq!(ok["status"], "OK");
    assert_ne!(ok["idempotency_key"], v["idempotency_key"]);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        rx.hits().len(),
        2,
        "the duplicate event produced no second message"
    );

    // The console view: one alert, now OK; tenant-scoped.
    let (s, list) = get(&format!("{}/internal/v1/events?tenant={t}", alarm.url())).await;
    assert_eq!(s, 200);
    assert_eq!(list["events"].as_array().unwrap().len(), 1);
    assert_eq!(list["events"][0]["state"], "ok");
    let (_, other) = get(&format!(
        "{}/internal/v1/events?tenant=someone-else",
        alarm.url()
    ))
    .await;
    assert_eq!(other["events"].as_array().unwrap().len(), 0);
    let (s, d) = get(&format!(
        "{}/internal/v1/deliveries?tenant={t}&state=delivered",
        alarm.url()
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(d["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(d["deliveries"][0]["attempt_log"][0]["status"], 200);
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn ingest_requires_the_internal_credential_and_valid_events() {
    let dir = tempfile::tempdir().unwrap();
    let alarm = argus_alarm::start(config(dir.path(), vec![]))
        .await
        .unwrap();
    let r = client()
        .post(format!("{}/internal/v1/events", alarm.url()))
        .json(&serde_json::json!({"events": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let mut bad = event("t-a", "h", 1, 1, EventStatus::Problem, 1);
    bad.series.tenant = tenant("t-b");
    let (s, body) = post_events(
        &alarm.url(),
        &[event("t-a", "h", 1, 1, EventStatus::Problem, 1), bad],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(body["field"], "events[1].series.tenant");
    let (_, list) = get(&format!("{}/internal/v1/events?tenant=t-a", alarm.url())).await;
    assert_eq!(
        list["events"].as_array().unwrap().len(),
        0,
        "a refused request stores nothing"
    );
    let (s, body) = get(&format!(
        "{}/internal/v1/events?tenant=t-a&limit=lots",
        alarm.url()
    ))
    .await;
    assert_eq!(s, 400);
    assert!(
        body["error"].as_str().unwrap().contains("invalid query"),
        "{body}"
    );
    let (s, body) = get(&format!(
        "{}/internal/v1/events?tenant=t-a&limit=0",
        alarm.url()
    ))
    .await;
    assert_eq!((s, body["field"].as_str()), (400, Some("limit")));
    let (s, _) = post(
        &format!("{}/internal/v1/deliveries/x/retry?tenant=t-a", alarm.url()),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, body) = get(&format!("{}/internal/v1/events", alarm.url())).await;
    assert_eq!((s, body["field"].as_str()), (400, Some("tenant")));
    alarm.stop().await;
}

#[tokio::test]
async fn alertmanager_payload_option() {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = "wh-am";
    let mut c = contact(t, 1, None, Some(&rx.url), None);
    c.webhook_alertmanager = true;
    let cfg = config(
        dir.path(),
        vec![tenant_cfg(
            t,
            vec![c],
            vec![],
            vec![sub_all(t, 1, None, Some(1), vec![Channel::Webhook])],
        )],
    );
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "db-9", 3, 0, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("the webhook", 60, || !rx.delivered().is_empty()).await;
    let v = rx.delivered()[0].json();
    assert_eq!(v["version"], "4");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["alerts"][0]["status"], "firing");
    assert_eq!(v["alerts"][0]["labels"]["alertname"], "cpu.busy");
    assert_eq!(v["alerts"][0]["labels"]["endpoint"], "db-9");
    assert_eq!(v["alerts"][0]["labels"]["dc"], "eu1");
    assert_eq!(v["alerts"][0]["labels"]["severity"], "P0");
    assert_eq!(v["alerts"][0]["startsAt"], "2023-11-14T22:13:21Z");
    assert!(
        rx.delivered()[0].header("x-argus-signature").is_none(),
        "no secret, no signature"
    );
    assert!(
        !v["alerts"][0]["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/ack"),
        "generatorURL is never the acknowledgement link: {v}"
    );
    // The recovery keeps the problem's start; it ends at its own time.
    post_events(&alarm.url(), &[event(t, "db-9", 3, 0, EventStatus::Ok, 2)]).await;
    wait_for("the recovery", 60, || rx.delivered().len() >= 2).await;
    let ok = rx.delivered()[1].json();
    assert_eq!(ok["alerts"][0]["status"], "resolved");
    assert_eq!(ok["alerts"][0]["startsAt"], "2023-11-14T22:13:21Z");
    assert_eq!(ok["alerts"][0]["endsAt"], "2023-11-14T22:13:22Z");
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn storm_of_one_strategy_becomes_one_message_listing_hosts() {
    let t = "wh-storm";
    let OneWebhook {
        rx,
        dir: _dir,
        mut cfg,
    } = one_webhook(t, None).await;
    cfg.group_wait_secs = 3;
    // The first notice waits the window too, so the whole storm is one message (the default,
    // first message at once, is tested in tests/routing.rs).
    cfg.first_message_immediate = false;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let storm: Vec<_> = (0..6)
        .map(|i| event(t, &format!("web-{i}"), 42, 1, EventStatus::Problem, 1))
        .collect();
    // Arriving in three requests, as judges would send them.
    for chunk in storm.chunks(2) {
        post_events(&alarm.url(), chunk).await;
    }
    // Another strategy in the same window is a separate message.
    post_events(
        &alarm.url(),
        &[event(t, "db-1", 43, 1, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("two messages", 60, || rx.delivered().len() >= 2).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let msgs: Vec<_> = rx.delivered().iter().map(|h| h.json()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    let storm_msg = msgs
        .iter()
        .find(|m| m["kind"] == "storm")
        .expect("a storm message");
    assert_eq!(storm_msg["events"].as_array().unwrap().len(), 6);
    let mut hosts: Vec<_> = storm_msg["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        (0..6).map(|i| format!("web-{i}")).collect::<Vec<_>>()
    );
    assert!(storm_msg["title"].as_str().unwrap().contains("6 hosts"));
    let single = msgs.iter().find(|m| m["kind"] == "alert").unwrap();
    assert_eq!(single["hosts"][0], "db-1");
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn low_priorities_merge_into_a_digest_per_receiver() {
    let t = "wh-digest";
    let OneWebhook { rx, dir: _dir, cfg } = one_webhook(t, None).await;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    // P3..P5 from different strategies and hosts, plus one P0 that must not wait for the digest.
    let low = vec![
        event(t, "a", 1, 3, EventStatus::Problem, 1),
        event(t, "b", 2, 4, EventStatus::Problem, 1),
        event(t, "c", 3, 5, EventStatus::Problem, 1),
    ];
    post_events(&alarm.url(), &low).await;
    post_events(
        &alarm.url(),
        &[event(t, "urgent", 9, 0, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("the immediate P0 and the digest", 60, || {
        rx.delivered().len() >= 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let msgs: Vec<_> = rx.delivered().iter().map(|h| h.json()).collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["kind"], "alert", "the P0 goes first, at once");
    assert_eq!(msgs[0]["priority"], 0);
    assert_eq!(msgs[1]["kind"], "digest");
    assert_eq!(msgs[1]["events"].as_array().unwrap().len(), 3);
    assert_eq!(msgs[1]["priority"], 3);
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn silenced_events_and_their_recovery_are_recorded_not_sent() {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = "wh-silence";
    let mut tc = tenant_cfg(
        t,
        vec![contact(t, 1, None, Some(&rx.url), None)],
        vec![],
        vec![sub_all(t, 1, None, Some(1), vec![Channel::Webhook])],
    );
    let now = argus_core::time::now_secs();
    tc.silences.push(Silence {
        id: 5,
        tenant: tenant(t),
        matcher: SilenceMatch {
            host_group_id: Some(77),
            ..Default::default()
        },
        starts_at: now - 60,
        ends_at: now + 3600,
        repeat_every_secs: None,
        recurrence: None,
        author: "ops".into(),
        reason: "kernel upgrade".into(),
    });
    tc.silences.push(Silence {
        id: 6,
        tenant: tenant(t),
        matcher: SilenceMatch {
            tags: argus_core::Tags::parse_falcon("dc=eu1").unwrap(),
            strategy_id: Some(99),
            ..Default::default()
        },
        starts_at: now - 60,
        ends_at: now + 3600,
        repeat_every_secs: None,
        recurrence: None,
        author: "ops".into(),
        reason: "noisy".into(),
    });
    tc.host_groups.push((77, vec!["maint-1".into()]));
    let alarm = argus_alarm::start(config(dir.path(), vec![tc]))
        .await
        .unwrap();
    post_events(
        &alarm.url(),
        &[
            event(t, "maint-1", 1, 0, EventStatus::Problem, 1),
            event(t, "any", 99, 0, EventStatus::Problem, 1),
            event(t, "maint-1", 1, 0, EventStatus::Ok, 2),
            event(t, "live-1", 1, 0, EventStatus::Problem, 1),
        ],
    )
    .await;
    wait_for("the unsilenced event", 60, || !rx.delivered().is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let msgs: Vec<_> = rx.delivered().iter().map(|h| h.json()).collect();
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert_eq!(msgs[0]["hosts"][0], "live-1");
    let (_, list) = get(&format!(
        "{}/internal/v1/events?tenant={t}&state=silenced",
        alarm.url()
    ))
    .await;
    let hosts: Vec<_> = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"]["series"]["endpoint"].clone())
        .collect();
    assert_eq!(
        hosts,
        vec![serde_json::json!("any")],
        "maint-1 recovered (state ok), any stays silenced"
    );
    let (_, ok) = get(&format!(
        "{}/internal/v1/events?tenant={t}&status=ok",
        alarm.url()
    ))
    .await;
    assert_eq!(ok["events"][0]["event"]["series"]["endpoint"], "maint-1");
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn retries_after_a_500_then_succeeds_honouring_retry_after() {
    let t = "wh-retry";
    let OneWebhook { rx, dir: _dir, cfg } = one_webhook(t, None).await;
    rx.script(&[(500, None), (503, Some(1))]);
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "h", 1, 1, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("delivery after two failures", 60, || {
        !rx.delivered().is_empty()
    })
    .await;
    let hits = rx.hits();
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        vec![500, 503, 200]
    );
    // The 503 said Retry-After: 1, so the third try cannot come sooner than a second after it.
    let gap = hits[2].at - hits[1].at;
    assert!(
        gap >= std::time::Duration::from_millis(950),
        "Retry-After not honoured: {gap:?}"
    );
    let keys: Vec<_> = hits
        .iter()
        .map(|h| h.header("idempotency-key").unwrap().to_string())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "every try carries the same idempotency key"
    );
    let (_, d) = get(&format!(
        "{}/internal/v1/deliveries?tenant={t}",
        alarm.url()
    ))
    .await;
    let d = &d["deliveries"][0];
    assert_eq!(d["state"], "delivered");
    assert_eq!(d["attempts"], 3);
    let log: Vec<_> = d["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(log, vec![500, 503, 200]);
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn dead_letter_after_n_failures_then_operator_retry() {
    let t = "wh-dead";
    let OneWebhook {
        rx,
        dir: _dir,
        mut cfg,
    } = one_webhook(t, None).await;
    rx.always(Some(500));
    cfg.retry.webhook.max_attempts = 3;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "h", 1, 1, EventStatus::Problem, 1)],
    )
    .await;
    let url = format!(
        "{}/internal/v1/deliveries?tenant={t}&state=dead",
        alarm.url()
    );
    wait_for_async("a dead letter", 60, || async {
        get(&url).await.1["deliveries"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(rx.hits().len(), 3, "exactly N tries");
    let (_, d) = get(&url).await;
    let d = &d["deliveries"][0];
    assert_eq!(d["attempts"], 3);
    assert!(
        d["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{d}"
    );
    assert_eq!(d["attempt_log"].as_array().unwrap().len(), 3);
    let id = d["id"].as_i64().unwrap();
    // Another tenant cannot see or retry it.
    let (s, _) = post(
        &format!(
            "{}/internal/v1/deliveries/{id}/retry?tenant=other",
            alarm.url()
        ),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(s, 404);
    // The receiver is fixed; the operator retries.
    rx.always(None);
    let (s, body) = post(
        &format!(
            "{}/internal/v1/deliveries/{id}/retry?tenant={t}",
            alarm.url()
        ),
        serde_json::json!({}),
    )
    .await;
    assert_eq!((s, body["state"].as_str()), (200, Some("pending")));
    wait_for("the retried delivery", 60, || !rx.delivered().is_empty()).await;
    let (s, _) = post(
        &format!(
            "{}/internal/v1/deliveries/{id}/retry?tenant={t}",
            alarm.url()
        ),
        serde_json::json!({}),
    )
    .await;
    let _ = s; // pending or delivered by now: either way not dead
    let all = get(&format!(
        "{}/internal/v1/deliveries?tenant={t}",
        alarm.url()
    ))
    .await
    .1;
    wait_for_async("state delivered", 30, || async {
        get(&format!(
            "{}/internal/v1/deliveries?tenant={t}&state=delivered",
            alarm.url()
        ))
        .await
        .1["deliveries"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 1);
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allowed() {
    let t = "wh-ssrf";
    let OneWebhook {
        rx,
        dir: _dir,
        mut cfg,
    } = one_webhook(t, None).await;
    cfg.allow_private_webhooks = false;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "h", 1, 1, EventStatus::Problem, 1)],
    )
    .await;
    let url = format!(
        "{}/internal/v1/deliveries?tenant={t}&state=dead",
        alarm.url()
    );
    wait_for_async("the refusal", 60, || async {
        get(&url).await.1["deliveries"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let (_, d) = get(&url).await;
    assert!(d["deliveries"][0]["last_error"]
        .as_str()
        .unwrap()
        .contains("private or loopback"));
    assert_eq!(
        d["deliveries"][0]["attempts"], 1,
        "refusal is permanent: no retries"
    );
    assert!(rx.hits().is_empty());
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn acknowledgement_stops_escalation_to_the_next_team() {
    let first = Receiver::start().await;
    let second = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = "wh-escalate";
    let cfg = config(
        dir.path(),
        vec![tenant_cfg(
            t,
            vec![
                contact(t, 1, None, Some(&first.url), None),
                contact(t, 2, None, Some(&second.url), None),
            ],
            vec![
                team(t, 10, vec![1], Some(20), 6),
                team(t, 20, vec![2], None, 2),
            ],
            vec![sub_all(t, 1, Some(10), None, vec![Channel::Webhook])],
        )],
    );
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let ignored = event(t, "ignored", 1, 0, EventStatus::Problem, 1);
    let acked = event(t, "acked", 2, 1, EventStatus::Problem, 1);
    post_events(&alarm.url(), &[ignored.clone(), acked.clone()]).await;
    wait_for("the first team's two messages", 60, || {
        first.delivered().len() >= 2
    })
    .await;
    let (s, v) = post(
        &format!(
            "{}/internal/v1/events/{}/ack?tenant={t}",
            alarm.url(),
            acked.id
        ),
        serde_json::json!({"by": "alice", "comment": "on it"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "acknowledged");
    assert_eq!(v["acknowledged"]["by"], "alice");
    // Wrong tenant: not found.
    let (s, _) = post(
        &format!(
            "{}/internal/v1/events/{}/ack?tenant=other",
            alarm.url(),
            acked.id
        ),
        serde_json::json!({"by": "x"}),
    )
    .await;
    assert_eq!(s, 404);
    wait_for("the escalation of the ignored problem", 60, || {
        !second.delivered().is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let msgs: Vec<_> = second.delivered().iter().map(|h| h.json()).collect();
    assert_eq!(
        msgs.len(),
        1,
        "only the unacknowledged problem escalates: {msgs:#?}"
    );
    assert_eq!(msgs[0]["kind"], "escalation");
    assert_eq!(msgs[0]["hosts"][0], "ignored");
    assert_eq!(msgs[0]["escalation_level"], 1);
    let (_, list) = get(&format!(
        "{}/internal/v1/events?tenant={t}&state=problem",
        alarm.url()
    ))
    .await;
    assert_eq!(list["events"][0]["escalation_level"], 1);
    alarm.stop().await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn acknowledgement_link_in_the_message_works() {
    let t = "wh-acklink";
    let OneWebhook { rx, dir: _dir, cfg } = one_webhook(t, None).await;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "h", 1, 0, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("the message", 60, || !rx.delivered().is_empty()).await;
    let link = rx.delivered()[0].json()["events"][0]["ack_url"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client().get(format!("{link}x")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "a tampered token is refused");
    // Opening the link (as a mail scanner would) only shows a confirmation form.
    let r = client().get(&link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("method=\"post\""), "{page}");
    let (_, list) = get(&format!("{}/internal/v1/events?tenant={t}", alarm.url())).await;
    assert_eq!(
        list["events"][0]["state"], "problem",
        "a GET acknowledges nothing"
    );
    let token = link.split("token=").nth(1).unwrap();
    let r = client()
        .post(format!("{}/ack", alarm.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}x", token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "a tampered token is refused on POST too"
    );
    let r = client()
        .post(format!("{}/ack", alarm.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, list) = get(&format!("{}/internal/v1/events?tenant={t}", alarm.url())).await;
    assert_eq!(list["events"][0]["state"], "acknowledged");
    assert_eq!(list["events"][0]["acknowledged"]["by"], "link");
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn rate_limit_merges_what_exceeds_the_budget() {
    let t = "wh-rate";
    let OneWebhook {
        rx,
        dir: _dir,
        mut cfg,
    } = one_webhook(t, None).await;
    cfg.rate_limit_per_minute = 2;
    cfg.rate_limit_window_secs = 3600;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    // Two messages use the budget...
    post_events(
        &alarm.url(),
        &[event(t, "a", 1, 1, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("first", 60, || !rx.delivered().is_empty()).await;
    // ...then four events of four strategies arrive together: 1 left in the budget, so they
    // become one merged message.
    let burst: Vec<_> = (2..6)
        .map(|i| event(t, &format!("h{i}"), i, 1, EventStatus::Problem, 1))
        .collect();
    post_events(&alarm.url(), &burst).await;
    wait_for("the merged message", 60, || rx.delivered().len() >= 2).await;
    // Over budget now: later events wait (no third message within the window).
    post_events(
        &alarm.url(),
        &[event(t, "late", 9, 1, EventStatus::Problem, 1)],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let msgs: Vec<_> = rx.delivered().iter().map(|h| h.json()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert_eq!(msgs[1]["kind"], "digest");
    assert_eq!(msgs[1]["events"].as_array().unwrap().len(), 4);
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn answers_to_a_region_are_counted_as_cross_region_event_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let alarm = argus_alarm::start(config(dir.path(), vec![]))
        .await
        .unwrap();
    // A judge of region east says where it is; a caller without the header is not counted.
    for region in [Some("east"), None] {
        let mut r = client()
            .post(format!("{}/internal/v1/events", alarm.url()))
            .bearer_auth("internal-secret")
            .json(&serde_json::json!({
                "events": [event("t-a", "h", 1, 1, EventStatus::Problem, 1)]
            }));
        if let Some(region) = region {
            r = r.header("x-argus-region", region);
        }
        assert!(r.send().await.unwrap().status().is_success());
    }
    let text = client()
        .get(format!("{}/metrics", alarm.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("argus_cross_region_bytes_sent_total{"))
        .collect();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert!(
        counted[0].starts_with("argus_cross_region_bytes_sent_total{kind=\"events\",to=\"east\"}"),
        "{counted:?}"
    );
    let n: u64 = counted[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!((50..2000).contains(&n), "an answer's bytes: {n}");
    alarm.stop().await;
}

#[tokio::test]
async fn acknowledgement_links_survive_a_restart_with_a_new_internal_token() {
    let t = "wh-ackrestart";
    let OneWebhook { rx, dir: _dir, cfg } = one_webhook(t, None).await;
    assert!(cfg.ack_secret.is_empty(), "the key comes from the database");
    let alarm = argus_alarm::start(cfg.clone()).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "h", 1, 0, EventStatus::Problem, 1)],
    )
    .await;
    wait_for("the message", 60, || !rx.delivered().is_empty()).await;
    let link = rx.delivered()[0].json()["events"][0]["ack_url"]
        .as_str()
        .unwrap()
        .to_string();
    alarm.stop().await;
    // As `argus standalone` does: a fresh internal token at every start, same data directory.
    let mut again = cfg;
    again.internal_token = "another-internal-secret".into();
    let alarm = argus_alarm::start(again).await.unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let r = client()
        .post(format!("{}/ack", alarm.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}", r.text().await.unwrap());
    alarm.stop().await;
    rx.stop().await;
}
