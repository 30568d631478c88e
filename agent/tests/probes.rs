//! HTTP and TCP probes against local servers.

use actix_web::{web, App, HttpResponse, HttpServer};
use argus_agent::probes;
use argus_core::agentconf::Probe;
use argus_core::http::Served;

fn server() -> Served {
    let (l, a) = argus_core::http::bind("127.0.0.1:0", "probe target").unwrap();
    let s = HttpServer::new(|| {
        App::new()
            .route(
                "/ok",
                web::get().to(|| async { HttpResponse::Ok().body("all systems go") }),
            )
            .route(
                "/broken",
                web::get().to(|| async { HttpResponse::InternalServerError().body("oops") }),
            )
    })
    .workers(1)
    .listen(l)
    .unwrap()
    .run();
    Served::spawn(a, s)
}

fn http(name: &str, url: String, status: Option<u16>, body: Option<&str>) -> Probe {
    Probe::Http {
        name: name.into(),
        url,
        expect_status: status,
        body_regex: body.map(str::to_owned),
        timeout_secs: 5,
    }
}

fn value(points: &[argus_core::Point], probe: &str, metric: &str) -> f64 {
    points
        .iter()
        .find(|p| p.metric == metric && p.tags.get("probe") == Some(probe))
        .unwrap_or_else(|| panic!("no {metric} for {probe}"))
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_tcp_probes_report_status_latency_and_body_match() {
    let s = server();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let (compiled, errors) = probes::compile(&[
        http("ok", format!("{}/ok", s.url()), None, Some("systems go")),
        http(
            "body-mismatch",
            format!("{}/ok", s.url()),
            Some(200),
            Some("^nope$"),
        ),
        http("broken", format!("{}/broken", s.url()), None, None),
        http(
            "broken-expected",
            format!("{}/broken", s.url()),
            Some(500),
            None,
        ),
        http("refused", format!("http://{dead_addr}/"), None, None),
        Probe::Tcp {
            name: "tcp-up".into(),
            addr: s.addr.to_string(),
            timeout_secs: 5,
        },
        Probe::Tcp {
            name: "tcp-down".into(),
            addr: dead_addr.to_string(),
            timeout_secs: 2,
        },
    ]);
    assert!(errors.is_empty());
    let client = reqwest::Client::new();
    let pts = probes::run_all(&client, &compiled, "h1", 10, 123).await;
    assert!(pts
        .iter()
        .all(|p| p.endpoint == "h1" && p.timestamp == 123 && p.step == 10));
    assert_eq!(value(&pts, "ok", "probe.http.up"), 1.0);
    assert_eq!(value(&pts, "ok", "probe.http.status"), 200.0);
    let lat = value(&pts, "ok", "probe.http.latency_ms");
    assert!(lat > 0.0 && lat < 5000.0, "{lat}");
    assert_eq!(value(&pts, "body-mismatch", "probe.http.up"), 0.0);
    assert_eq!(value(&pts, "broken", "probe.http.up"), 0.0);
    assert_eq!(value(&pts, "broken", "probe.http.status"), 500.0);
    assert_eq!(value(&pts, "broken-expected", "probe.http.up"), 1.0);
    assert_eq!(value(&pts, "refused", "probe.http.up"), 0.0);
    assert_eq!(value(&pts, "refused", "probe.http.status"), 0.0);
    assert_eq!(value(&pts, "tcp-up", "probe.tcp.up"), 1.0);
    assert_eq!(value(&pts, "tcp-down", "probe.tcp.up"), 0.0);
    s.stop().await;
}

#[test]
fn a_bad_body_regex_is_reported() {
    let (ok, errors) = probes::compile(&[http("x", "http://a/".into(), None, Some("(bad"))]);
    assert!(ok.is_empty());
    assert!(
        errors[0].contains("probes[0].body_regex") && errors[0].contains("(x)"),
        "{errors:?}"
    );
}
