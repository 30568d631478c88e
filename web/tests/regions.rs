//! A region answers queries through any of its query endpoints: losing one transfer hides none
//! of its data; the endpoint that answered is asked first from then on.

mod common;

use actix_web::{web, App, HttpResponse, HttpServer};
use argus_core::query::{LastQuery, LastValue};
use argus_core::series::SeriesKey;
use argus_core::Tags;
use common::{start, Backend};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A stand-in transfer's query endpoint: counts the queries it gets; answers the latest value
/// of `cpu.idle` on `web-1` for the asking tenant, or 503 when `down`.
struct Stub {
    asked: Arc<AtomicUsize>,
    url: String,
    server: actix_web::dev::ServerHandle,
}

async fn stub(down: bool) -> Stub {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().route(
            "/internal/v1/query/last",
            web::post().to(move |q: web::Json<LastQuery>| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if down {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    HttpResponse::Ok().json(vec![LastValue {
                        key: SeriesKey {
                            tenant: q.tenant.clone(),
                            endpoint: "web-1".into(),
                            metric: "cpu.idle".into(),
                            tags: Tags::new(),
                        },
                        timestamp: 1_700_000_000,
                        value: 42.0,
                    }])
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Stub {
        asked,
        url,
        server: handle,
    }
}

#[tokio::test]
async fn a_region_answers_through_its_other_query_endpoints() {
    let refusing = stub(true).await;
    let answering = stub(false).await;
    // A port nothing listens on: a transfer that is gone.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let e = start(Backend::Sqlite, |c| {
        c.regions = vec![argus_web::config::RegionEndpoint {
            name: "east".into(),
            query_url: gone.clone(),
            query_urls: vec![refusing.url.clone(), answering.url.clone()],
        }];
    })
    .await
    .unwrap();
    let last = || async {
        let r = e
            .http
            .get(format!(
                "{}/api/v1/query/last?endpoint=web-1&metric=cpu.idle",
                e.url
            ))
            .bearer_auth(&e.a)
            .send()
            .await
            .unwrap();
        let unreachable = r
            .headers()
            .get("x-argus-unreachable-regions")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status(), unreachable, r.json::<Value>().await.unwrap())
    };
    // The first endpoint is gone, the second answers 503: the third answers, in full.
    let (s, unreachable, v) = last().await;
    assert_eq!((s, unreachable), (StatusCode::OK, None), "{v}");
    assert_eq!(v[0]["value"], 42.0);
    assert_eq!(v[0]["key"]["tenant"], "acme", "the asking tenant's query");
    assert_eq!(refusing.asked.load(Ordering::SeqCst), 1);
    assert_eq!(answering.asked.load(Ordering::SeqCst), 1);
    // From then on the endpoint that answered is asked first.
    for _ in 0..3 {
        let (s, _, _) = last().await;
        assert_eq!(s, StatusCode::OK);
    }
    assert_eq!(refusing.asked.load(Ordering::SeqCst), 1);
    assert_eq!(answering.asked.load(Ordering::SeqCst), 4);
    // Every endpoint down: the region is unreachable, and the query says so.
    answering.server.stop(true).await;
    let (s, _, v) = last().await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(v["error"].as_str().unwrap().contains("east"), "{v}");
    assert_eq!(refusing.asked.load(Ordering::SeqCst), 2);
    refusing.server.stop(true).await;
    e.running.stop().await;
}
