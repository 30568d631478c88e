//! No secret in the logs, none stored in clear (issue 12).
//!
//! Runs the `argus standalone` binary as a child with `RUST_LOG=debug`, capturing everything it
//! logs, while logging in (also with a wrong password), creating a tenant with its admin, users
//! and tokens, changing a password, pushing with tokens (also an unknown one), calling the API,
//! and configuring webhook secrets that the alarm then signs a delivery with. Then asserts that
//! none of the tokens, passwords, webhook secrets, session cookies, CSRF tokens or the internal
//! credential (any `argus_int_…` in full) appear in the log, and that no token or password is
//! found in clear in any file of the data directory (web's SQLite database and its WAL, the
//! store, spools) other than the standalone credentials file, which holds the demo credentials
//! by design.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The running child and what it logged so far.
struct Standalone {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
    log_thread: Option<std::thread::JoinHandle<()>>,
    web: String,
    transfer: String,
}

/// Starts `argus standalone` with debug logs; waits for its banner and reads the URLs from it.
fn spawn(dir: &Path) -> Standalone {
    let cfg = dir.join("standalone.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\nagent = true\nstep_secs = 1\nconfig_pull_secs = 1\n\
             [ports]\nweb = 0\ntransfer = 0\nstore = 0\nagent = 0\njudge = 0\nalarm = 0\n",
            dir.join("data").display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_argus"))
        .args(["standalone", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("argus standalone starts");
    let log: Arc<Mutex<Vec<u8>>> = Arc::default();
    let mut stderr = child.stderr.take().unwrap();
    let l = log.clone();
    let log_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            l.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    // The banner (stdout) names the URLs; it also shows the demo credentials, by design, which
    // is why only stderr — the log — is checked.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        // Drains stdout to the end: a closed pipe would make the child's last messages panic.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut web, mut transfer) = (String::new(), String::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    while web.is_empty() || transfer.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "no banner from argus standalone: {}",
                String::from_utf8_lossy(&log.lock().unwrap())
            )
        });
        let url = line.rsplit(' ').next().unwrap_or("").to_string();
        if line.trim_start().starts_with("console and API") {
            web = url;
        } else if line.trim_start().starts_with("transfer ") {
            transfer = url;
        }
    }
    Standalone {
        child,
        log,
        log_thread: Some(log_thread),
        web,
        transfer,
    }
}

impl Standalone {
    /// Stops the child with SIGTERM (a clean shutdown, flushing its logs), then answers the log.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.wait();
        if let Some(t) = self.log_thread.take() {
            t.join().unwrap();
        }
        let log = self.log.lock().unwrap();
        String::from_utf8_lossy(&log).into_owned()
    }
}

/// A console session: cookie and CSRF token, both secrets too.
struct Session {
    cookie: String,
    csrf: String,
}

async fn login(web: &str, login: &str, password: &str) -> Result<Session, u16> {
    let r = reqwest::Client::new()
        .post(format!("{web}/api/v1/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        return Err(r.status().as_u16());
    }
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let v: Value = r.json().await.unwrap();
    Ok(Session {
        cookie,
        csrf: v["csrf_token"].as_str().unwrap().to_string(),
    })
}

async fn call(
    web: &str,
    s: &Session,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(method, format!("{web}{path}"))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn ok(web: &str, s: &Session, method: reqwest::Method, path: &str, body: Value) -> Value {
    let (status, v) = call(web, s, method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

async fn push(transfer: &str, path: &str, token: &str, body: &Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{transfer}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every full token (`argus_<kind>_` and 64 hex digits) in `text`.
fn full_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("argus_") {
        let rest = &text[i + 6..];
        let Some(us) = rest.find('_').filter(|&u| u <= 8) else {
            continue;
        };
        let hex: String = rest[us + 1..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if hex.len() >= 16 {
            out.push(text[i..i + 6 + us + 1 + hex.len()].to_string());
        }
    }
    out
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_or_stored_in_clear() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(dir.path());
    let (web, transfer) = (child.web.clone(), child.transfer.clone());
    let creds: Value = toml::from_str::<toml::Value>(
        &std::fs::read_to_string(dir.path().join("data/standalone-credentials.toml")).unwrap(),
    )
    .map(|t| serde_json::to_value(t).unwrap())
    .unwrap();
    let s = |k: &str| creds[k].as_str().unwrap().to_string();
    let (admin_login, admin_password) = (s("admin_login"), s("admin_password"));
    let (demo_agent, demo_api) = (s("agent_token"), s("api_token"));

    // Logins, one with a wrong password.
    let wrong_password = "wrong-password-8f3a";
    assert_eq!(
        login(&web, &admin_login, wrong_password).await.err(),
        Some(401)
    );
    let admin = login(&web, &admin_login, &admin_password).await.unwrap();

    // Tokens, a tenant with its admin, a user whose password changes.
    let api_token = ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/tokens",
        json!({"name": "ci", "kind": "api", "role": "admin"}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let agent_token = ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/tokens",
        json!({"name": "hosts", "kind": "agent"}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let tenant_password = "zeta-password-5c1e";
    ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/tenants",
        json!({"id": "zeta", "admin_login": "zeta-admin", "admin_password": tenant_password}),
    )
    .await;
    let zeta = login(&web, "zeta-admin", tenant_password).await.unwrap();
    let zeta_token = ok(
        &web,
        &zeta,
        Method::POST,
        "/api/v1/tokens",
        json!({"name": "zeta-agent", "kind": "agent"}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (user_pw1, user_pw2) = ("user-password-41d7", "user-password-9b02");
    let user = ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/users",
        json!({"login": "alice", "password": user_pw1, "role": "editor"}),
    )
    .await;
    ok(
        &web,
        &admin,
        Method::PUT,
        &format!("/api/v1/users/{}", user["id"]),
        json!({"login": "alice", "password": user_pw2, "role": "editor"}),
    )
    .await;
    let alice = login(&web, "alice", user_pw2).await.unwrap();

    // Webhook secrets, set and changed; a strategy and subscription so the alarm signs with one.
    let (secret1, secret2) = ("whsec-first-7e21c9", "whsec-second-40ad5b");
    let contact = ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/contacts",
        json!({"name": "oncall", "webhook_url": "http://127.0.0.1:9/hook",
               "webhook_secret": secret1}),
    )
    .await;
    ok(
        &web,
        &admin,
        Method::PUT,
        &format!("/api/v1/contacts/{}", contact["id"]),
        json!({"name": "oncall", "webhook_url": "http://127.0.0.1:9/hook",
               "webhook_secret": secret2}),
    )
    .await;
    let tpl = ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/templates",
        json!({"name": "base"}),
    )
    .await;
    ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/strategies",
        json!({"template_id": tpl["id"], "metric": "app.load", "condition": "all(#1) > 10",
               "priority": 1}),
    )
    .await;
    ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/host_groups",
        json!({"name": "web", "hosts": ["web-01"], "templates": [tpl["id"]]}),
    )
    .await;
    ok(
        &web,
        &admin,
        Method::POST,
        "/api/v1/subscriptions",
        json!({"target": {"kind": "priority", "max_priority": 5},
               "contact_id": contact["id"], "channels": ["webhook"]}),
    )
    .await;

    // Pushes with every token, and with unknown ones; API calls with tokens.
    let unknown_agent = argus_core::auth::generate_token("argus_agt");
    let unknown_api = argus_core::auth::generate_token("argus_api");
    let now = argus_core::time::now_secs();
    let falcon = |ts: i64, v: f64| {
        json!([{"endpoint": "web-01", "metric": "app.load", "timestamp": ts, "step": 1,
                "value": v, "counterType": "GAUGE"}])
    };
    assert_eq!(
        push(&transfer, "/v1/push", &unknown_agent, &falcon(now, 1.0)).await,
        401
    );
    let r = reqwest::Client::new()
        .get(format!("{web}/api/v1/hosts"))
        .bearer_auth(&unknown_api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for t in [&api_token, &demo_api] {
        let r = reqwest::Client::new()
            .get(format!("{web}/api/v1/query?endpoint=web-01"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let batch = json!({"points": [{"endpoint": "web-02", "metric": "app.load",
                                   "timestamp": now, "value": 1.0}]});
    // The tenants' new agent tokens reach the transfer with its next configuration pull.
    let deadline = Instant::now() + Duration::from_secs(60);
    for t in [&agent_token, &zeta_token] {
        while push(&transfer, "/api/v1/push", t, &batch).await != 200 {
            assert!(Instant::now() < deadline, "new agent token never accepted");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // Until the alarm has tried to deliver a signed webhook.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ts = now - 100;
    loop {
        ts += 1;
        assert_eq!(
            push(&transfer, "/v1/push", &agent_token, &falcon(ts, 50.0)).await,
            200
        );
        let (_, d) = call(&web, &alice, Method::GET, "/api/v1/deliveries", Value::Null).await;
        let attempted = d["deliveries"]
            .as_array()
            .is_some_and(|a| a.iter().any(|d| d["attempts"].as_u64() >= Some(1)));
        if attempted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no webhook delivery attempted within 120 s: {d}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    call(&web, &alice, Method::POST, "/api/v1/logout", Value::Null).await;

    let log = child.stop();
    assert!(
        !log.contains("panicked"),
        "argus standalone did not stop cleanly: {log}"
    );
    let lines = log.lines().count();
    println!("figures: secrets log lines scanned {lines}");
    assert!(
        lines > 50 && log.contains("DEBUG"),
        "the debug log was not captured ({lines} lines)"
    );

    let secrets: Vec<(&str, String)> = vec![
        ("demo agent token", demo_agent.clone()),
        ("demo API token", demo_api.clone()),
        ("demo admin password", admin_password.clone()),
        ("wrong password", wrong_password.into()),
        ("new API token", api_token.clone()),
        ("new agent token", agent_token.clone()),
        ("tenant agent token", zeta_token.clone()),
        ("tenant admin password", tenant_password.into()),
        ("user password", user_pw1.into()),
        ("changed user password", user_pw2.into()),
        ("unknown agent token", unknown_agent),
        ("unknown API token", unknown_api),
        ("webhook secret", secret1.into()),
        ("changed webhook secret", secret2.into()),
        ("admin session cookie", admin.cookie.clone()),
        ("admin CSRF token", admin.csrf.clone()),
        ("tenant session cookie", zeta.cookie.clone()),
        ("user session cookie", alice.cookie.clone()),
    ];
    for (what, secret) in &secrets {
        // A cookie is `argus_session=<value>`: the value is the secret.
        let value = secret.rsplit('=').next().unwrap();
        assert!(!log.contains(value), "the log shows the {what}");
    }
    let leaked = full_tokens(&log);
    assert!(
        leaked.is_empty(),
        "the log shows full tokens (the internal credential is argus_int_…): {leaked:?}"
    );
    println!("figures: secrets checked in the log {}", secrets.len() + 1);

    // Stored: nothing in clear anywhere in the data directory but the credentials file.
    let mut all = Vec::new();
    files(&dir.path().join("data"), &mut all);
    let web_files: Vec<_> = all
        .iter()
        .filter(|p| p.starts_with(dir.path().join("data/web")))
        .collect();
    assert!(!web_files.is_empty(), "no web database under data/web");
    let stored = [
        ("new API token", &api_token),
        ("new agent token", &agent_token),
        ("tenant agent token", &zeta_token),
        ("demo API token", &demo_api),
        ("demo agent token", &demo_agent),
        ("demo admin password", &admin_password),
        ("tenant admin password", &tenant_password.to_string()),
        ("user password", &user_pw2.to_string()),
    ];
    let mut hashes_found = 0;
    for f in &all {
        if f.ends_with("standalone-credentials.toml") || f.ends_with("standalone.toml") {
            continue;
        }
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        for (what, secret) in &stored {
            let hit = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!hit, "{} holds the {what} in clear", f.display());
        }
        let hash = argus_core::auth::hash_token(&api_token);
        if bytes.windows(hash.len()).any(|w| w == hash.as_bytes()) {
            hashes_found += 1;
        }
    }
    assert!(
        hashes_found > 0,
        "the new API token's SHA-256 is not stored anywhere: is it stored at all?"
    );
}
