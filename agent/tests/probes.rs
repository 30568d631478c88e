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
    let client = probes::Prober::new(reqwest::Client::new(), std::iter::empty());
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

/// A TLS server on 127.0.0.1 presenting `chain` (leaf first), completing handshakes until the
/// test ends.
fn tls_server(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> std::net::SocketAddr {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let cfg = std::sync::Arc::new(cfg);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut c = rustls::ServerConnection::new(cfg.clone()).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            while c.is_handshaking() {
                if c.complete_io(&mut s).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

/// A leaf for `localhost` expiring on `y-m-d`, signed by `ca`.
fn leaf(
    ca: &rcgen::Certificate,
    ca_key: &rcgen::KeyPair,
    (y, m, d): (i32, u8, u8),
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2019, 1, 1);
    p.not_after = rcgen::date_time_ymd(y, m, d);
    (p.signed_by(&key, ca, ca_key).unwrap(), key)
}

fn tls(name: &str, addr: std::net::SocketAddr) -> Probe {
    Probe::Tls {
        name: name.into(),
        addr: format!("localhost:{}", addr.port()),
        server_name: String::new(),
        timeout_secs: 5,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_probe_reports_days_to_expiry_and_trust() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    // Valid until 2100-01-01T00:00:00Z (Unix 4102444800), and one expired on 2020-01-01
    // (1577836800).
    let (good, good_key) = leaf(&ca, &ca_key, (2100, 1, 1));
    let (old, old_key) = leaf(&ca, &ca_key, (2020, 1, 1));
    let good_addr = tls_server(vec![good.der().clone(), ca.der().clone()], &good_key);
    let old_addr = tls_server(vec![old.der().clone(), ca.der().clone()], &old_key);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (compiled, errors) = probes::compile(&[
        tls("good", good_addr),
        tls("expired", old_addr),
        tls("closed", closed),
        Probe::Tls {
            name: "wrong-name".into(),
            addr: good_addr.to_string(),
            server_name: "other.example".into(),
            timeout_secs: 5,
        },
    ]);
    assert!(errors.is_empty());
    // Trusting the test CA, as an agent with `ca_file` does.
    let trusting = probes::Prober::new(reqwest::Client::new(), std::iter::once(ca.der().as_ref()));
    let now = argus_core::time::now_secs() as f64;
    let pts = probes::run_all(&trusting, &compiled, "h1", 10, 123).await;
    let days = value(&pts, "good", "probe.tls.cert_expiry_days");
    let want = (4_102_444_800.0 - now) / 86_400.0;
    assert!((days - want).abs() < 0.01, "{days} vs {want}");
    assert_eq!(value(&pts, "good", "probe.tls.up"), 1.0);
    // Expired: measured all the same (negative), and not up.
    let days = value(&pts, "expired", "probe.tls.cert_expiry_days");
    let want = (1_577_836_800.0 - now) / 86_400.0;
    assert!((days - want).abs() < 0.01, "{days} vs {want}");
    assert_eq!(value(&pts, "expired", "probe.tls.up"), 0.0);
    // Nothing listening: down, no expiry.
    assert_eq!(value(&pts, "closed", "probe.tls.up"), 0.0);
    assert!(
        !pts.iter()
            .any(|p| p.metric == "probe.tls.cert_expiry_days"
                && p.tags.get("probe") == Some("closed"))
    );
    // A certificate not valid for the name asked: measured, not up.
    assert_eq!(value(&pts, "wrong-name", "probe.tls.up"), 0.0);
    assert!(value(&pts, "wrong-name", "probe.tls.cert_expiry_days") > 20_000.0);
    // Without the CA the good certificate is untrusted: not up, still measured.
    let public_only = probes::Prober::new(reqwest::Client::new(), std::iter::empty());
    let pts = probes::run_all(&public_only, &compiled[..1], "h1", 10, 123).await;
    assert_eq!(value(&pts, "good", "probe.tls.up"), 0.0);
    assert!(value(&pts, "good", "probe.tls.cert_expiry_days") > 20_000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_and_icmp_probes() {
    let (compiled, errors) = probes::compile(&[
        Probe::Dns {
            name: "local".into(),
            host: "localhost".into(),
            timeout_secs: 5,
        },
        Probe::Dns {
            name: "invalid".into(),
            // RFC 2606: `.invalid` never resolves.
            host: "no-such-host.invalid".into(),
            timeout_secs: 5,
        },
        Probe::Icmp {
            name: "lo".into(),
            host: "127.0.0.1".into(),
            timeout_secs: 2,
        },
        Probe::Icmp {
            name: "nowhere".into(),
            // Does not resolve: down. (An unrouted address is no sure test: some networks,
            // this test machine's among them, answer pings for any address.)
            host: "no-such-host.invalid".into(),
            timeout_secs: 1,
        },
    ]);
    assert!(errors.is_empty());
    let prober = probes::Prober::new(reqwest::Client::new(), std::iter::empty());
    let pts = probes::run_all(&prober, &compiled, "h1", 10, 123).await;
    assert_eq!(value(&pts, "local", "probe.dns.up"), 1.0);
    assert!(value(&pts, "local", "probe.dns.addresses") >= 1.0);
    assert_eq!(value(&pts, "invalid", "probe.dns.up"), 0.0);
    assert_eq!(value(&pts, "invalid", "probe.dns.addresses"), 0.0);
    // Whether this process may ping depends on the machine: either way the answer is explicit.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    let raw_ok = sock >= 0;
    if raw_ok {
        unsafe { libc::close(sock) };
    }
    if value(&pts, "lo", "probe.icmp.permitted") == 1.0 {
        assert_eq!(value(&pts, "lo", "probe.icmp.up"), 1.0);
        let ms = value(&pts, "lo", "probe.icmp.latency_ms");
        assert!((0.0..2000.0).contains(&ms), "{ms}");
        assert_eq!(value(&pts, "nowhere", "probe.icmp.up"), 0.0);
    } else {
        assert!(
            !raw_ok,
            "a raw ICMP socket opens, yet the probe says not permitted"
        );
        assert!(!pts.iter().any(|p| p.metric == "probe.icmp.up"));
    }
}
