//! The events API: history paged with filters (status, priority, endpoint, event time), and the
//! active-alerts view; each tenant sees only its own.

mod common;

use argus_core::event::EventStatus;
use common::*;
use serde_json::Value;

fn ids(v: &Value, list: &str, at: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.pointer(at).unwrap().as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn history_pages_and_filters_and_the_active_view_is_per_tenant() {
    history_and_active(None).await;
}

#[tokio::test]
async fn history_pages_and_filters_and_the_active_view_is_per_tenant_postgres() {
    if let Some(url) = pg_database("the events API").await {
        history_and_active(Some(url)).await;
    }
}

async fn history_and_active(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), vec![]);
    if let Some(u) = database_url {
        cfg.database_url = u;
    }
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let base = alarm.url();
    // Tenant A: web-1 P1 problem then OK, web-2 P3 problem, db-1 P0 problem; tenant B: one.
    let a1 = event("ev-a", "web-1", 1, 1, EventStatus::Problem, 1);
    let a1ok = event("ev-a", "web-1", 1, 1, EventStatus::Ok, 2);
    let a2 = event("ev-a", "web-2", 2, 3, EventStatus::Problem, 3);
    let a3 = event("ev-a", "db-1", 3, 0, EventStatus::Problem, 4);
    let b1 = event("ev-b", "web-1", 1, 1, EventStatus::Problem, 1);
    for e in [&a1, &a1ok, &a2, &a3, &b1] {
        let (s, _) = post_events(&base, std::slice::from_ref(e)).await;
        assert_eq!(s, 200);
    }
    let h = |q: String| {
        let base = base.clone();
        async move { get(&format!("{base}/internal/v1/events/history?{q}")).await }
    };
    let all = |v: &Value| -> Vec<(String, String)> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["event"]["series"]["endpoint"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    x["event"]["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (s, v) = h("tenant=ev-a".into()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        all(&v),
        [
            ("db-1", "PROBLEM"),
            ("web-2", "PROBLEM"),
            ("web-1", "OK"),
            ("web-1", "PROBLEM")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .to_vec(),
        "newest first"
    );
    assert_eq!(v["next_before"], Value::Null, "one page");
    // Paging: two by two, the second page from the first's next_before, nothing repeated.
    let (_, p1) = h("tenant=ev-a&limit=2".into()).await;
    let next = p1["next_before"].as_i64().expect("a full page has a next");
    let (_, p2) = h(format!("tenant=ev-a&limit=2&before={next}")).await;
    let (_, p3) = h(format!(
        "tenant=ev-a&limit=2&before={}",
        p2["next_before"].as_i64().unwrap()
    ))
    .await;
    let mut paged = all(&p1);
    paged.extend(all(&p2));
    assert_eq!(paged, all(&v));
    assert_eq!(p3["events"].as_array().unwrap().len(), 0);
    // Filters.
    let (_, v) = h("tenant=ev-a&status=ok".into()).await;
    assert_eq!(all(&v), vec![("web-1".to_string(), "OK".to_string())]);
    let (_, v) = h("tenant=ev-a&priority=P0,3".into()).await;
    assert_eq!(
        all(&v).into_iter().map(|x| x.0).collect::<Vec<_>>(),
        ["db-1", "web-2"]
    );
    // One alert's run: its PROBLEM and its OK.
    let (_, v) = h(format!("tenant=ev-a&event={}", a1.id)).await;
    assert_eq!(
        all(&v),
        [("web-1", "OK"), ("web-1", "PROBLEM")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .to_vec()
    );
    let (_, v) = h(format!("tenant=ev-b&event={}", a1.id)).await;
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        0,
        "A's event id asked for in B's name: {v}"
    );
    let (_, v) = h("tenant=ev-a&endpoint=web-1&status=problem".into()).await;
    assert_eq!(all(&v), vec![("web-1".to_string(), "PROBLEM".to_string())]);
    // Event time: occurrence n is at 1_700_000_000 + n.
    let (_, v) = h("tenant=ev-a&from=1700000002&to=1700000004".into()).await;
    assert_eq!(
        all(&v),
        vec![
            ("web-2".to_string(), "PROBLEM".to_string()),
            ("web-1".to_string(), "OK".to_string())
        ]
    );
    // Bad parameters name the field.
    for (q, field) in [
        ("tenant=ev-a&priority=9", "priority"),
        ("tenant=ev-a&status=open", "status"),
        ("tenant=ev-a&from=5&to=4", "from"),
        ("tenant=ev-a&limit=0", "limit"),
        ("status=ok", "tenant"),
    ] {
        let (s, v) = h(q.into()).await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{q}: {v}");
    }
    // Another tenant: its own event only, whatever the filter.
    let (_, v) = h("tenant=ev-b".into()).await;
    assert_eq!(ids(&v, "events", "/event/id"), vec![b1.id.0.clone()]);
    let (_, v) = h("tenant=ev-b&endpoint=db-1".into()).await;
    assert_eq!(v["events"].as_array().unwrap().len(), 0);

    // Active: A's open problems once decided (web-1 recovered), most urgent first.
    let active = |q: &'static str| {
        let base = base.clone();
        async move { get(&format!("{base}/internal/v1/events/active?{q}")).await }
    };
    wait_for_async("A's alerts decided", 60, || async {
        let (_, v) = active("tenant=ev-a").await;
        v["total"] == 2
    })
    .await;
    let (s, v) = active("tenant=ev-a").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        ids(&v, "alerts", "/event/series/endpoint"),
        ["db-1", "web-2"]
    );
    assert_eq!(v["alerts"][0]["state"], "problem");
    let (_, v) = active("tenant=ev-a&priority=3").await;
    assert_eq!(ids(&v, "alerts", "/event/series/endpoint"), ["web-2"]);
    let (_, v) = active("tenant=ev-a&endpoint=db-1&limit=1").await;
    assert_eq!(ids(&v, "alerts", "/event/series/endpoint"), ["db-1"]);
    let (s, v) = active("tenant=ev-a&from=1").await;
    assert_eq!((s, v["field"].as_str()), (400, Some("from")), "{v}");
    wait_for_async("B's alert decided", 60, || async {
        let (_, v) = active("tenant=ev-b").await;
        v["total"] == 1
    })
    .await;
    let (_, v) = active("tenant=ev-b").await;
    assert_eq!(ids(&v, "alerts", "/event/id"), vec![b1.id.0.clone()]);
    alarm.stop().await;
}
