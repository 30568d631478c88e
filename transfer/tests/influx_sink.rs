//! The InfluxDB v2 sink against a real server speaking the InfluxDB v2 write API
//! (VictoriaMetrics from Debian's packages, `.ci/services/victoriametrics.sh`): accepted points
//! are read back through VictoriaMetrics' export API, including points spooled while the sink
//! was unreachable.

mod common;

use common::*;
use std::time::Duration;

/// Series exported by VictoriaMetrics for `{run="<run>"}`: (name, endpoint, values).
async fn export(vm: &str, run: &str) -> Vec<(String, String, Vec<f64>)> {
    let http = reqwest::Client::new();
    let _ = http.get(format!("{vm}/internal/force_flush")).send().await;
    let text = http
        .get(format!("{vm}/api/v1/export"))
        .query(&[("match[]", format!("{{run=\"{run}\"}}"))])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["metric"]["tenant"], "acme", "the tenant travels as a tag");
        let mut values: Vec<f64> = v["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out.push((
            v["metric"]["__name__"].as_str().unwrap().to_string(),
            v["metric"]["endpoint"].as_str().unwrap().to_string(),
            values,
        ));
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_points_reach_the_influx_sink_even_after_an_outage() {
    let Some(vm) = argus_core::testing::require_server(
        "ARGUS_TEST_VICTORIAMETRICS_URL",
        "a VictoriaMetrics server (InfluxDB v2 write API)",
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let node = store(&d.path().join("store")).await;
    let run = format!("r{}", argus_core::auth::generate_token("x").split_at(10).1);
    let now = now();
    let pts = |base: f64, ts: i64| -> Vec<_> {
        (0..3)
            .map(|i| {
                let mut p = point(&format!("web-{i}"), "sink.test", base + i as f64, ts);
                p.tags.insert("run", run.clone());
                p
            })
            .collect()
    };

    // First the sink is unreachable: points are acknowledged from its spool.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut cfg = transfer_cfg(&d.path().join("t"), vec![node.server.url()]);
    cfg.influx.url = dead;
    cfg.influx.token = "unused".into();
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    let (s, _) = push(&t.server.url(), "tok-acme", &pts(10.0, now - 1)).await;
    assert_eq!(s, 200);
    t.stop().await;

    // Restarted towards the real server (same data dir): a spool left for a removed sink
    // address is not replayed elsewhere, so move it: the sink spool is keyed by URL.
    let old = d
        .path()
        .join("t/spool")
        .join(argus_transfer::sink::dir_name(
            argus_transfer::sink::Kind::Influx,
            &cfg.influx.url,
        ));
    let new = d
        .path()
        .join("t/spool")
        .join(argus_transfer::sink::dir_name(
            argus_transfer::sink::Kind::Influx,
            &vm,
        ));
    std::fs::rename(&old, &new).unwrap();
    cfg.influx.url = vm.clone();
    let t = argus_transfer::start(cfg).await.unwrap();
    let (s, _) = push(&t.server.url(), "tok-acme", &pts(20.0, now)).await;
    assert_eq!(s, 200);

    let mut got = Vec::new();
    for _ in 0..150 {
        got = export(&vm, &run).await;
        if got.len() == 3 && got.iter().all(|(_, _, v)| v.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both pushes arrived: the one spooled during the outage and the one after.
    let endpoints: Vec<&str> = got.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(endpoints, vec!["web-0", "web-1", "web-2"], "{got:?}");
    assert!(got[0].0.starts_with("sink.test"), "{got:?}");
    assert!(
        got.iter()
            .zip([[10.0, 20.0], [11.0, 21.0], [12.0, 22.0]])
            .all(|((_, _, v), want)| v[..] == want[..]),
        "{got:?}"
    );
    let replayed = format!("argus_transfer_replayed_points_total{{downstream=\"influx {vm}\"}}");
    assert!(metric(&t.server.url(), &replayed).await.unwrap() >= 3.0);
    t.stop().await;
    node.stop().await;
}

/// An HTTPS server taking the InfluxDB v2 write API, with the test CA's certificate: what it
/// received, line by line.
async fn https_influx(
    pki: &argus_core::tls::testing::TestPki,
) -> (
    argus_core::http::Served,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    async fn write(body: web::Bytes, lines: web::Data<Lines>) -> HttpResponse {
        let text = String::from_utf8_lossy(&body).to_string();
        lines
            .lock()
            .unwrap()
            .extend(text.lines().map(str::to_string));
        HttpResponse::NoContent().finish()
    }
    let lines: Lines = Default::default();
    let data = web::Data::new(lines.clone());
    let (l, addr) = argus_core::http::bind("127.0.0.1:0", "https influx").unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/api/v2/write", web::post().to(write))
    })
    .workers(1);
    let server = argus_core::http::listen(server, l, &pki.config(), "https influx")
        .unwrap()
        .run();
    (
        argus_core::http::Served::spawn(addr, server).with_https(true),
        lines,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_influx_signed_by_the_private_ca_of_tls_ca_file_is_trusted() {
    let d = tempfile::tempdir().unwrap();
    let pki = argus_core::tls::testing::TestPki::write(d.path());
    let (influx, lines) = https_influx(&pki).await;
    let url = format!("https://localhost:{}", influx.addr.port());
    let node = store(&d.path().join("store")).await;
    let now = now();

    // Without the CA the sink cannot reach it: the push is acknowledged from the spool.
    let mut cfg = transfer_cfg(&d.path().join("t1"), vec![node.server.url()]);
    cfg.influx.url = url.clone();
    cfg.influx.token = "tok".into();
    let t = argus_transfer::start(cfg.clone()).await.unwrap();
    let (s, _) = push(
        &t.server.url(),
        "tok-acme",
        &[point("web-1", "untrusted", 1.0, now)],
    )
    .await;
    assert_eq!(s, 200);
    let spooled = format!("argus_transfer_spooled_points_total{{downstream=\"influx {url}\"}}");
    wait_for("the untrusted sink's points spooled", || async {
        metric(&t.server.url(), &spooled).await.unwrap_or(0.0) >= 1.0
    })
    .await;
    t.stop().await;
    assert!(
        lines.lock().unwrap().is_empty(),
        "{:?}",
        lines.lock().unwrap()
    );

    // With `[tls] ca_file` naming the CA, it is trusted.
    let mut cfg = transfer_cfg(&d.path().join("t2"), vec![node.server.url()]);
    cfg.influx.url = url.clone();
    cfg.influx.token = "tok".into();
    cfg.tls = pki.client_config();
    let t = argus_transfer::start(cfg).await.unwrap();
    let (s, _) = push(
        &t.server.url(),
        "tok-acme",
        &[point("web-2", "trusted", 2.0, now)],
    )
    .await;
    assert_eq!(s, 200);
    wait_for("the point at the https sink", || async {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("trusted,"))
    })
    .await;
    let got = lines.lock().unwrap().clone();
    assert!(got[0].contains("endpoint=web-2"), "{got:?}");
    t.stop().await;
    node.stop().await;
}
