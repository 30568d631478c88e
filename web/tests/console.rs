//! Console pages over plain HTTP: login redirects, escaping of everything rendered, tenant
//! isolation of pages, the embedded assets and their licence.

mod common;

use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn session(e: &Env, login: &str, password: &str) -> String {
    let r = e
        .http
        .post(format!("{}/api/v1/login", e.url))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn get(e: &Env, cookie: &str, path: &str) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}{path}", e.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let s = r.status();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    (s, if s.is_redirection() { loc } else { body })
}

#[tokio::test]
async fn pages_need_a_session_and_escape_what_they_render() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let (s, loc) = get(&e, "", "/templates").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc, "/login?next=%2Ftemplates");
    // No open redirect, however the path is dressed: browsers drop tabs and newlines and
    // read a backslash as a slash.
    for next in [
        "//evil.example",
        "/%09/evil.example/",
        "/%0A/evil.example/",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "https://evil.example/",
        "/\u{3000}/evil.example",
    ] {
        let (s, html) = get(&e, "", &format!("/login?next={next}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            !html.contains("evil.example"),
            "open redirect through {next}"
        );
        assert!(html.contains(r#"data-next="/hosts""#), "{next}");
    }
    let (_, html) = get(&e, "", "/login?next=%2Ftemplates%3Fpage%3D2").await;
    assert!(html.contains(r#"data-next="/templates?page=2""#), "{html}");

    let xss = "<script>alert(1)</script>";
    let (s, h) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/hosts",
            Some(json!({"name": "web-1", "note": xss})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, t) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": format!("t{xss}")})),
        )
        .await;
    e.call(&e.a, Method::POST, "/api/v1/strategies", Some(json!({"template_id": t["id"], "metric": "cpu.idle", "condition": "all(#3) < 10", "note": xss}))).await;
    e.call(
        &e.a,
        Method::POST,
        "/api/v1/contacts",
        Some(json!({"name": xss, "email": "x@example.com"})),
    )
    .await;
    // A group with a hostile name lists the host and binds the hostile template: the host page
    // shows both names (its groups, its strategies' template).
    let (s, _) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/host_groups",
            Some(json!({"name": format!("g{xss}"), "hosts": ["web-1"], "templates": [t["id"]]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let cookie = session(&e, "alice", "alice-secret-1").await;
    for page in [
        "/hosts",
        &format!("/hosts/{}", h["id"]),
        "/templates",
        &format!("/templates/{}", t["id"]),
        "/contacts",
        "/teams",
        "/subscriptions",
        "/silences",
        "/host_groups",
        "/expressions",
        "/explorer?metric=%3Cb%3E",
        "/explorer?query=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E",
        &format!(
            "/hosts/{}?metric=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E",
            h["id"]
        ),
        "/recording_rules",
        "/alert_rules",
        "/admin",
    ] {
        let (s, html) = get(&e, &cookie, page).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(!html.contains("<script>alert"), "{page} escapes");
        if page.starts_with("/explorer?metric") {
            assert!(
                html.contains("&lt;b&gt;"),
                "the explorer escapes its query input"
            );
        }
        assert!(
            html.contains("tenant <b>acme</b>") || html.contains("acme"),
            "{page}"
        );
    }
    let (_, html) = get(&e, &cookie, "/hosts").await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The host page: the group's and the template's names, escaped.
    let (_, html) = get(&e, &cookie, &format!("/hosts/{}", h["id"])).await;
    assert!(
        html.contains("<td>g&lt;script&gt;alert(1)&lt;/script&gt;</td>"),
        "the host's group: {html}"
    );
    assert!(
        html.contains("t&lt;script&gt;alert(1)&lt;/script&gt;</a>"),
        "the template of its strategy: {html}"
    );
    // A hostile metric asked for on the host page and a hostile query in the explorer are
    // written escaped into the chart's title, its query attribute and the form's input.
    let hostile = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;";
    for page in [
        format!(
            "/hosts/{}?metric=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E",
            h["id"]
        ),
        "/explorer?query=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E".to_string(),
    ] {
        let (_, html) = get(&e, &cookie, &page).await;
        assert!(
            html.contains(&format!("<h3>{hostile}</h3>")),
            "{page}: {html}"
        );
        assert!(
            html.contains(&format!(r#"value="{hostile}""#)),
            "{page}: {html}"
        );
        assert!(html.contains("data-promql=\""), "{page}: {html}");
        assert!(!html.contains("\"><script>"), "{page}: {html}");
    }

    // globex's admin sees none of acme's objects, by page or by id.
    let bob = session(&e, "bob", "bob-secret-1").await;
    let (_, html) = get(&e, &bob, "/hosts").await;
    assert!(!html.contains("web-1"));
    let (_, html) = get(&e, &bob, &format!("/hosts/{}", h["id"])).await;
    assert!(html.contains("Host not found") && !html.contains("web-1"));
    let (_, html) = get(&e, &bob, &format!("/templates/{}", t["id"])).await;
    assert!(html.contains("Template not found"));
    e.running.stop().await;
}

#[tokio::test]
async fn assets_are_embedded_with_their_licence() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    for (name, ct) in [
        ("uPlot.iife.min.js", "javascript"),
        ("console.js", "javascript"),
        ("console.css", "css"),
        ("uPlot.LICENSE", "text/plain"),
    ] {
        let r = e
            .http
            .get(format!("{}/assets/{name}", e.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert!(r.headers()["content-type"].to_str().unwrap().contains(ct));
        let body = r.text().await.unwrap();
        assert!(body.len() > 100, "{name}");
        if name == "uPlot.LICENSE" {
            assert!(body.contains("MIT License") && body.contains("Leon Sorokin"));
        }
    }
    let r = e.http.get(format!("{}/login", e.url)).send().await.unwrap();
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    let r = e
        .http
        .get(format!("{}/assets/../Cargo.toml", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    e.running.stop().await;
}
