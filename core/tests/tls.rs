//! The `[tls]` section against a real rustls listener: HTTPS served with the configured
//! certificate, trusted by a client given the private CA, refused by a client without it and
//! by a plain-HTTP client; and the config errors for bad files.

use actix_web::{web, App, HttpResponse, HttpServer};
use argus_core::http::{bind, listen, Served};
use argus_core::tls::{client_builder, testing::TestPki, TlsConfig, TlsError};
use std::time::Duration;

async fn serve(tls: &TlsConfig) -> Served {
    let (listener, addr) = bind("127.0.0.1:0", "tls-test").unwrap();
    let server = HttpServer::new(|| {
        App::new().route(
            "/hello",
            web::get().to(|| async { HttpResponse::Ok().body("hi") }),
        )
    })
    .workers(1);
    let server = listen(server, listener, tls, "tls-test").unwrap().run();
    Served::spawn(addr, server).with_https(tls.serves_https())
}

fn https_url(s: &Served) -> String {
    // The certificate names localhost and 127.0.0.1; use the name to check SNI too.
    format!("https://localhost:{}/hello", s.addr.port())
}

#[tokio::test]
async fn client_with_the_ca_reaches_a_tls_listener_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let served = serve(&pki.config()).await;
    assert!(served.url().starts_with("https://127.0.0.1:"));

    let trusting = client_builder(&pki.client_config())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for url in [https_url(&served), format!("{}/hello", served.url())] {
        let r = trusting.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.text().await.unwrap(), "hi");
    }

    // No CA: the public roots do not know the private CA.
    let plain_roots = client_builder(&TlsConfig::default())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let e = plain_roots
        .get(https_url(&served))
        .send()
        .await
        .unwrap_err();
    let chain = format!("{:?}", e);
    assert!(e.is_connect(), "{chain}");
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );

    // Plain HTTP to the TLS port is never answered with a page.
    let r = plain_roots
        .get(format!("http://127.0.0.1:{}/hello", served.addr.port()))
        .send()
        .await;
    match r {
        Err(_) => {}
        Ok(resp) => assert_ne!(resp.status(), 200, "plain HTTP served on the TLS port"),
    }
    served.stop().await;
}

#[tokio::test]
async fn plain_listener_without_tls_section() {
    let served = serve(&TlsConfig::default()).await;
    assert!(served.url().starts_with("http://"));
    let r = reqwest::get(format!("{}/hello", served.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    served.stop().await;
}

fn server_err(cfg: &TlsConfig) -> String {
    cfg.server_config().unwrap_err().to_string()
}

#[test]
fn config_errors_name_the_key_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write(dir.path());
    let missing = dir.path().join("nope.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM at all\n").unwrap();

    // Missing certificate file.
    let e = server_err(&TlsConfig {
        cert_file: Some(missing.clone()),
        ..pki.config()
    });
    assert!(e.starts_with("tls.cert_file: cannot read "), "{e}");
    assert!(e.contains("nope.pem"), "{e}");

    // Garbage certificate file.
    let e = server_err(&TlsConfig {
        cert_file: Some(garbage.clone()),
        ..pki.config()
    });
    assert!(e.starts_with("tls.cert_file: "), "{e}");
    assert!(
        e.contains("garbage.pem") && e.contains("no certificate"),
        "{e}"
    );

    // A certificate where the key should be.
    let e = server_err(&TlsConfig {
        key_file: Some(pki.cert_file.clone()),
        ..pki.config()
    });
    assert!(
        e.starts_with("tls.key_file: ") && e.contains("no usable private key"),
        "{e}"
    );

    // A key that is not the certificate's.
    let other = tempfile::tempdir().unwrap();
    let other_pki = TestPki::write(other.path());
    let e = server_err(&TlsConfig {
        key_file: Some(other_pki.key_file.clone()),
        ..pki.config()
    });
    assert!(
        e.starts_with("tls.key_file: ") && e.contains("does not fit"),
        "{e}"
    );

    // One without the other.
    let e = server_err(&TlsConfig {
        key_file: None,
        ..pki.config()
    });
    assert_eq!(
        e,
        "tls.key_file: required when tls.cert_file is set (a listener needs both)"
    );

    // The client side: a missing or garbage ca_file.
    for (path, want) in [(&missing, "cannot read"), (&garbage, "no certificate")] {
        let cfg = TlsConfig {
            ca_file: Some(path.clone()),
            ..TlsConfig::default()
        };
        let e = client_builder(&cfg).unwrap_err();
        assert!(matches!(
            e,
            TlsError::Read { .. } | TlsError::Invalid { .. }
        ));
        let e = e.to_string();
        assert!(e.starts_with("tls.ca_file: ") && e.contains(want), "{e}");
        assert!(cfg.check().is_err());
    }

    // And the good set checks.
    pki.config().check().unwrap();
    assert_eq!(pki.client_config().client().unwrap().extra_roots(), 1);
}

#[test]
fn tls_section_parses_from_toml_and_refuses_unknown_keys() {
    #[derive(serde::Deserialize)]
    struct Outer {
        tls: TlsConfig,
    }
    let o: Outer = toml::from_str(
        "[tls]\ncert_file = \"/etc/argus/tls/node.pem\"\nkey_file = \"/etc/argus/tls/node.key\"\nca_file = \"/etc/argus/tls/ca.pem\"\n",
    )
    .unwrap();
    assert!(o.tls.serves_https());
    assert_eq!(o.tls.scheme(), "https");
    assert!(toml::from_str::<Outer>("[tls]\ncert = \"x\"\n").is_err());
    assert!(!TlsConfig::default().serves_https());
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pki = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        TestPki::write(&d)
    };
    let (old, new) = (pki("old"), pki("new"));
    // The listener's files start as the old CA's certificate.
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let (cert, key) = (live.join("node.pem"), live.join("node.key"));
    std::fs::copy(&old.cert_file, &cert).unwrap();
    std::fs::copy(&old.key_file, &key).unwrap();
    let tls = TlsConfig {
        cert_file: Some(cert.clone()),
        key_file: Some(key.clone()),
        ca_file: None,
    };
    let served = serve(&tls).await;
    // A fresh client per request: no connection is reused across the renewal.
    let get = |trust: &TestPki| {
        let client = client_builder(&trust.client_config())
            .unwrap()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let url = https_url(&served);
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(get(&old).await.unwrap(), 200);
    assert!(
        get(&new).await.is_err(),
        "the new CA did not sign what is served"
    );

    // Renewal: the files are replaced, the process keeps running.
    std::fs::copy(&new.cert_file, &cert).unwrap();
    std::fs::copy(&new.key_file, &key).unwrap();
    let deadline = std::time::Instant::now() + argus_core::tls::RELOAD_CHECK * 10;
    while get(&new).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        get(&old).await.is_err(),
        "the old certificate is no longer served"
    );

    // A broken renewal keeps the working certificate.
    std::fs::write(&cert, "not a certificate").unwrap();
    tokio::time::sleep(argus_core::tls::RELOAD_CHECK + Duration::from_millis(500)).await;
    assert_eq!(get(&new).await.unwrap(), 200);
    served.stop().await;
}
