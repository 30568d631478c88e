//! Login, sessions, CSRF, the login rate limit, users and roles, tokens shown once, and tenants
//! reserved to platform admins.

mod common;

use common::{start, Backend, Env};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Logs in; answers (cookie header value, csrf token) or the refusal status.
async fn login(e: &Env, login: &str, password: &str) -> Result<(String, String), StatusCode> {
    login_with(&e.http, e, login, password).await
}

/// Logs in from loopback address `from` (127.0.0.x: another client address).
async fn login_from(
    e: &Env,
    from: &str,
    login: &str,
    password: &str,
) -> Result<(String, String), StatusCode> {
    let http = reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    login_with(&http, e, login, password).await
}

async fn login_with(
    http: &reqwest::Client,
    e: &Env,
    login: &str,
    password: &str,
) -> Result<(String, String), StatusCode> {
    let resp = http
        .post(format!("{}/api/v1/login", e.url))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    if !resp.status().is_success() {
        return Err(resp.status());
    }
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let v: Value = resp.json().await.unwrap();
    Ok((cookie, v["csrf_token"].as_str().unwrap().to_string()))
}

async fn with_cookie(
    e: &Env,
    cookie: &str,
    csrf: Option<&str>,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = e
        .http
        .request(m, format!("{}{path}", e.url))
        .header("cookie", cookie);
    if let Some(c) = csrf {
        r = r.header("x-csrf-token", c);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn session_login_csrf_and_logout() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    assert_eq!(
        login(&e, "alice", "wrong-password").await.unwrap_err(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&e, "nobody", "wrong-password").await.unwrap_err(),
        StatusCode::UNAUTHORIZED
    );
    let (cookie, csrf) = login(&e, "alice", "alice-secret-1").await.unwrap();
    let (s, me) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            me["login"].as_str(),
            me["tenant"].as_str(),
            me["role"].as_str()
        ),
        (Some("alice"), Some("acme"), Some("admin"))
    );
    // Unsafe requests of a cookie session need the CSRF token.
    let body = json!({"name": "web-9"});
    let (s, v) = with_cookie(
        &e,
        &cookie,
        None,
        Method::POST,
        "/api/v1/hosts",
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("CSRF"));
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some("forged"),
        Method::POST,
        "/api/v1/hosts",
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/hosts",
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Logout ends the session.
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/logout",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // No credential at all.
    let resp = e
        .http
        .get(format!("{}/api/v1/hosts", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    e.running.stop().await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_and_never_lock_a_user_out() {
    let e = start(Backend::Sqlite, |c| c.login_attempts_per_minute = 3)
        .await
        .unwrap();
    // Successful logins do not count.
    for _ in 0..5 {
        login(&e, "alice", "alice-secret-1").await.unwrap();
    }
    for _ in 0..3 {
        assert_eq!(
            login(&e, "alice", "bad-password").await.unwrap_err(),
            StatusCode::UNAUTHORIZED
        );
    }
    // From this address, even the right password waits now.
    assert_eq!(
        login(&e, "alice", "alice-secret-1").await.unwrap_err(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // From another address, alice logs in: the guesser did not lock her out.
    login_from(&e, "127.0.0.2", "alice", "alice-secret-1")
        .await
        .unwrap();
    // One address guessing across logins is bounded too (5 × the per-login allowance).
    let mut refused = 0;
    for i in 0..20 {
        if login_from(&e, "127.0.0.2", &format!("guess-{i}"), "x")
            .await
            .unwrap_err()
            == StatusCode::TOO_MANY_REQUESTS
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 20 - 15, "15 failures from one address, then waits");
    // Huge logins are refused like wrong ones, and counted.
    let huge = "x".repeat(512 << 10);
    assert_eq!(
        login_from(&e, "127.0.0.3", &huge, "x").await.unwrap_err(),
        StatusCode::UNAUTHORIZED
    );
    e.running.stop().await;
}

#[tokio::test]
async fn logout_of_a_cookie_session_needs_its_csrf_token() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let (cookie, csrf) = login(&e, "alice", "alice-secret-1").await.unwrap();
    // Another site posting to the logout endpoint: refused, the session lives on.
    let (s, v) = with_cookie(&e, &cookie, None, Method::POST, "/api/v1/logout", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some("wrong"),
        Method::POST,
        "/api/v1/logout",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/logout",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An ended session's cookie is just cleared.
    let (s, _) = with_cookie(&e, &cookie, None, Method::POST, "/api/v1/logout", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    e.running.stop().await;
}

async fn users_roles_and_tokens_on(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    // Users: admin creates a viewer, who can read but not write, and cannot manage users.
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/users",
            Some(json!({"login": "carol", "password": "short", "role": "viewer"})),
        )
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("password"))
    );
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/users",
            Some(json!({"login": "carol", "password": "carol-secret", "role": "boss"})),
        )
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("role"))
    );
    let (s, u) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/users",
            Some(json!({"login": "carol", "password": "carol-secret", "role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    let uid = u["id"].as_i64().unwrap();
    let (s, _) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/users",
            Some(json!({"login": "carol", "password": "carol-secret", "role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (cookie, csrf) = login(&e, "carol", "carol-secret").await.unwrap();
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/hosts", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/hosts",
        Some(json!({"name": "h"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/users", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Promote to editor (and change the password): writes now work.
    let (s, _) = e
        .call(
            &e.a,
            Method::PUT,
            &format!("/api/v1/users/{uid}"),
            Some(json!({"login": "carol", "role": "editor", "password": "carol-secret-2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(login(&e, "carol", "carol-secret").await.is_err());
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a password change ends old sessions"
    );
    let (cookie, csrf) = login(&e, "carol", "carol-secret-2").await.unwrap();
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/hosts",
        Some(json!({"name": "h"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // Users of another tenant are invisible.
    let (s, _) = e
        .call(&e.b, Method::GET, &format!("/api/v1/users/{uid}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = e
        .call(&e.b, Method::DELETE, &format!("/api/v1/users/{uid}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, l) = e.call(&e.b, Method::GET, "/api/v1/users", None).await;
    assert!(!l.to_string().contains("carol"));
    let (s, _) = e
        .call(&e.a, Method::DELETE, &format!("/api/v1/users/{uid}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(login(&e, "carol", "carol-secret-2").await.is_err());

    // Tokens: shown once, listed without the value, revocable; agent tokens are not API tokens.
    let (s, t) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "ci", "kind": "api", "role": "editor"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let tok = t["token"].as_str().unwrap().to_string();
    let (_, list) = e.call(&e.a, Method::GET, "/api/v1/tokens", None).await;
    assert!(!list.to_string().contains(&tok) && list.to_string().contains("\"ci\""));
    let (s, _) = e
        .call(
            &tok,
            Method::POST,
            "/api/v1/hosts",
            Some(json!({"name": "from-ci"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = e.call(&tok, Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "editors do not manage tokens");
    let (s, _) = e
        .call(
            &e.b,
            Method::DELETE,
            &format!("/api/v1/tokens/{}", t["id"]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = e
        .call(
            &e.a,
            Method::DELETE,
            &format!("/api/v1/tokens/{}", t["id"]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = e.call(&tok, Method::GET, "/api/v1/hosts", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = e.call(&e.agent_a, Method::GET, "/api/v1/hosts", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "x", "kind": "root"})),
        )
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );
    e.running.stop().await;
}

async fn recreate(e: &Env, cookie: &str, csrf: &str, body: Value) -> (StatusCode, Value) {
    with_cookie(
        e,
        cookie,
        Some(csrf),
        Method::POST,
        "/api/v1/tenants",
        Some(body),
    )
    .await
}

async fn tenants_are_for_platform_admins_on(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else {
        return;
    };
    // API tokens are tenant-scoped, never platform admins.
    let (s, _) = e.call(&e.a, Method::GET, "/api/v1/tenants", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // alice was bootstrapped as a platform admin.
    let (cookie, csrf) = login(&e, "alice", "alice-secret-1").await.unwrap();
    let (s, v) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/tenants",
        Some(json!({"id": "Bad Id"})),
    )
    .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id"))
    );
    let (s, v) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/tenants",
        Some(json!({"id": "initech", "admin_login": "peter", "admin_password": "peter-secret"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::POST,
        "/api/v1/tenants",
        Some(json!({"id": "initech"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, l) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/tenants", None).await;
    let ids: Vec<&str> = l["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acme", "globex", "initech"]);
    let (pc, _) = login(&e, "peter", "peter-secret").await.unwrap();
    let (_, me) = with_cookie(&e, &pc, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        (me["tenant"].as_str(), me["platform_admin"].as_bool()),
        (Some("initech"), Some(false))
    );
    let (s, _) = with_cookie(&e, &pc, None, Method::GET, "/api/v1/tenants", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = with_cookie(
        &e,
        &cookie,
        Some(&csrf),
        Method::DELETE,
        "/api/v1/tenants/initech",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(login(&e, "peter", "peter-secret").await.is_err());
    // A deleted tenant's id is never given out again — its series stay in storage, and a new
    // tenant of that id would read them — also after a restart; other ids still are.
    let again = json!({"id": "initech", "admin_login": "peter2", "admin_password": "peter-secret"});
    let (s, v) = recreate(&e, &cookie, &csrf, again.clone()).await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::CONFLICT, Some("id")),
        "{v}"
    );
    assert!(
        v["error"].as_str().unwrap().contains("deleted tenant"),
        "{v}"
    );
    let e = e.restart().await;
    let (cookie, csrf) = login(&e, "alice", "alice-secret-1").await.unwrap();
    let (s, v) = recreate(&e, &cookie, &csrf, again).await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::CONFLICT, Some("id")),
        "{v}"
    );
    assert!(
        login(&e, "peter2", "peter-secret").await.is_err(),
        "no admin was made"
    );
    let (s, v) = recreate(&e, &cookie, &csrf, json!({"id": "initech2"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, l) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/tenants", None).await;
    let ids: Vec<&str> = l["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acme", "globex", "initech2"]);
    e.running.stop().await;
}

/// A tenant's quota: set by platform admins only (tenant users, admins included, do not see the
/// path), checked and named on save, and published to transfers with the tenant's tokens.
async fn tenant_quotas_are_for_platform_admins_on(backend: Backend) {
    let Some(e) = start(backend, |c| c.internal_token = "node-secret".into()).await else {
        return;
    };
    let path = "/api/v1/tenants/globex/quota";
    let body = json!({"points_per_sec": 5000.0, "batch_points": 200});
    // Tenant API tokens (acme's admin, and globex's own) never reach it, whatever the tenant.
    for token in [&e.a, &e.b] {
        for (m, b) in [
            (Method::GET, None),
            (Method::PUT, Some(body.clone())),
            (Method::DELETE, None),
        ] {
            let (s, _) = e.call(token, m.clone(), path, b).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path} with a tenant token");
        }
    }
    let (cookie, csrf) = login(&e, "alice", "alice-secret-1").await.unwrap();
    let call = |m: Method, p: &'static str, b: Option<Value>| {
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        let e = &e;
        async move { with_cookie(e, &cookie, Some(&csrf), m, p, b).await }
    };
    let (s, v) = call(Method::GET, path, None).await;
    assert_eq!((s, &v["quota"]), (StatusCode::OK, &json!({})), "{v}");
    for (bad, field) in [
        (json!({"points_per_sec": -1.0}), "points_per_sec"),
        (json!({"burst": 1e300}), "burst"),
        (json!({"batch_pionts": 5}), "batch_pionts"),
        (json!({}), "points_per_sec"),
    ] {
        let (s, v) = call(Method::PUT, path, Some(bad.clone())).await;
        assert_eq!(
            (s, v["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{bad}: {v}"
        );
    }
    let (s, _) = call(
        Method::PUT,
        "/api/v1/tenants/nobody/quota",
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(Method::PUT, path, Some(body.clone())).await;
    assert_eq!((s, &v["quota"]), (StatusCode::OK, &body), "{v}");
    // What GET answers can be written back as it is.
    let (_, got) = call(Method::GET, path, None).await;
    let (s, _) = call(Method::PUT, path, Some(got)).await;
    assert_eq!(s, StatusCode::OK);
    // Transfers get globex's quota with its tokens, and nobody else's changes.
    let doc: Value = e
        .http
        .get(format!("{}/internal/v1/config/transfer", e.url))
        .bearer_auth("node-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let of = |t: &str| {
        doc["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["tenant"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(of("globex")["quota"], body);
    assert!(of("acme").get("quota").is_none(), "{doc}");
    // The console's tenants panel (platform admins only) shows it in globex's row, in a form
    // that saves it again.
    let page = |cookie: String| {
        let e = &e;
        async move {
            e.http
                .get(format!("{}/admin", e.url))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let html = page(cookie.clone()).await;
    let row = html
        .split(r#"data-tenant="globex""#)
        .nth(1)
        .expect("globex's quota form");
    let row = &row[..row.find("</details>").unwrap()];
    assert!(
        row.contains("5000 pts/s") && row.contains("200 pts/request"),
        "{row}"
    );
    assert!(row.contains(r#"data-api="/api/v1/tenants/globex/quota" data-method="PUT""#));
    assert!(
        row.contains(r#"name="points_per_sec" data-type="int" value="5000""#),
        "{row}"
    );
    let acme_row = html.split(r#"data-tenant="acme""#).nth(1).unwrap();
    assert!(
        acme_row.starts_with("><summary>defaults</summary>"),
        "{acme_row}"
    );
    let (s, _) = call(Method::DELETE, path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(Method::DELETE, path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    e.running.stop().await;
}

#[tokio::test]
async fn tenant_quotas_are_for_platform_admins() {
    tenant_quotas_are_for_platform_admins_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn tenant_quotas_are_for_platform_admins_postgres() {
    tenant_quotas_are_for_platform_admins_on(Backend::Postgres).await;
}

#[tokio::test]
async fn users_roles_and_tokens() {
    users_roles_and_tokens_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn users_roles_and_tokens_postgres() {
    users_roles_and_tokens_on(Backend::Postgres).await;
}

#[tokio::test]
async fn tenants_are_for_platform_admins() {
    tenants_are_for_platform_admins_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn tenants_are_for_platform_admins_postgres() {
    tenants_are_for_platform_admins_on(Backend::Postgres).await;
}

#[tokio::test]
async fn a_fresh_installation_gets_its_first_admin_from_the_config() {
    let e = start(Backend::Sqlite, |c| {
        c.bootstrap_admin = Some(argus_web::config::BootstrapAdmin {
            tenant: argus_core::TenantId::new("ops").unwrap(),
            login: "root".into(),
            password: "first-password".into(),
        })
    })
    .await
    .unwrap();
    let (cookie, _) = login(&e, "root", "first-password").await.unwrap();
    let (_, me) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me["tenant"], "ops");
    assert_eq!(me["platform_admin"], true);
    e.running.stop().await;
}

#[tokio::test]
async fn console_logout_is_a_post_with_the_csrf_token() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let (cookie, csrf) = login(&e, "alice", "alice-secret-1").await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let logout = |token: Option<&str>| {
        let mut r = http
            .post(format!("{}/logout", e.url))
            .header("cookie", &cookie);
        if let Some(t) = token {
            r = r.form(&[("csrf", t)]);
        }
        r.send()
    };
    // The page offers a form carrying the token, never a link another site could embed.
    let page = http
        .get(format!("{}/hosts", e.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<form class="logout" method="post" action="/logout">"#)
            && page.contains(&format!(r#"name="csrf" value="{csrf}""#)),
        "{page}"
    );
    let get = http
        .get(format!("{}/logout", e.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        get.status().is_client_error(),
        "GET /logout: {}",
        get.status()
    );
    assert_eq!(
        logout(Some("forged")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert!(logout(None).await.unwrap().status().is_client_error());
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK, "a refused logout keeps the session");

    let r = logout(Some(&csrf)).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    let (s, _) = with_cookie(&e, &cookie, None, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the session has ended");
}
