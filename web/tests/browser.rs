//! The console in headless Chromium (driven over WebDriver by fantoccini): log in, create a
//! template with a parent and a strategy (with live validation), see a host's chart drawn from
//! real points in a real storage node, see a problem raised by the real judge (from the strategy
//! made in the browser, pulled from the config center) through the real alarm service, and
//! acknowledge it. Screenshots of the main pages go to docs/screenshots/.

use argus_web::bootstrap::{ensure_demo, Demo};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const PASSWORD: &str = "alice-secret-1";

struct Driver {
    child: tokio::process::Child,
    url: String,
}

async fn start_driver(path: &str) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..150 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            return Driver { child, url };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not answer on {url}");
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut opts = json!({"args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
        "--window-size=1366,900", format!("--user-data-dir={}", profile.display()),
    ]});
    if let Ok(b) = std::env::var("ARGUS_TEST_CHROMIUM") {
        if !b.is_empty() {
            opts["binary"] = json!(b);
        }
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), opts);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn shots_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Waits (generously) until `js` (a function body returning a boolean) holds on the page.
async fn until(c: &Client, what: &str, js: &str) {
    for _ in 0..150 {
        if c.execute(js, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let src = c.source().await.unwrap_or_default();
    panic!(
        "timed out waiting for {what}; page:\n{}",
        &src[..src.len().min(4000)]
    );
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium() {
    let Some(driver_path) =
        argus_core::testing::require_server("ARGUS_TEST_CHROMEDRIVER", "Chromium WebDriver")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    // A real storage node holding a real series for web-1.
    let store = argus_store::node::start(argus_store::node::StoreConfig {
        listen: "127.0.0.1:0".into(),
        engine: argus_store::EngineConfig {
            data_dir: dir.path().join("store"),
            ..Default::default()
        },
        workers: 1,
        ..Default::default()
    })
    .await
    .expect("store starts");
    let store_url = store.server.url();
    let now = argus_core::time::now_secs();
    let points: Vec<Value> = (0..60)
        .map(|i| json!({"tenant": "acme", "endpoint": "web-1", "metric": "cpu.busy", "tags": {},
            "value": 40.0 + 30.0 * ((i as f64) / 6.0).sin(), "timestamp": now - 600 + i * 10, "step": 10}))
        .collect();
    let resp = http
        .post(format!("{store_url}/internal/v1/write"))
        .json(&json!({"points": points}))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "store write: {}",
        resp.text().await.unwrap()
    );

    // The web service, then the alarm service pulling its notification config from it.
    let alarm_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let web = argus_web::start(argus_web::WebConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("web").display().to_string(),
        regions: vec![argus_web::config::RegionEndpoint::new(
            "local",
            store_url.clone(),
        )],
        alarm_url: format!("http://127.0.0.1:{alarm_port}"),
        workers: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = web.server.url();
    let agent_token = argus_core::auth::generate_token("argus_agt");
    ensure_demo(
        &web.db,
        &Demo {
            tenant: "acme",
            admin_login: "alice",
            admin_password: PASSWORD,
            agent_token: Some(&agent_token),
            api_token: None,
        },
    )
    .await
    .unwrap();
    let alarm = argus_alarm::start(argus_alarm::AlarmConfig {
        listen: format!("127.0.0.1:{alarm_port}"),
        data_dir: dir.path().join("alarm"),
        web_url: url.clone(),
        workers: 1,
        ..Default::default()
    })
    .await
    .expect("alarm starts");
    let judge = argus_judge::start(argus_judge::JudgeConfig {
        listen: "127.0.0.1:0".into(),
        region: "local".into(),
        config_center: Some(url.clone()),
        alarm: vec![alarm.url()],
        data_dir: dir.path().join("judge"),
        pull_interval_secs: 1,
        workers: 1,
        shards: 1,
        ..Default::default()
    })
    .await
    .expect("judge starts");
    // web-1's agent says hello.
    let resp = http
        .post(format!("{url}/api/v1/agent/heartbeat"))
        .bearer_auth(&agent_token)
        .json(&json!({"host": "web-1", "agent_version": "0.1.0", "os": "Debian GNU/Linux 12", "kernel": "6.1.0", "cpu_count": 4, "mem_total": 8u64 << 30, "ip": "10.0.0.11", "timestamp": now}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    let driver = start_driver(&driver_path).await;
    let c = browser(&driver, &dir.path().join("profile")).await;
    let result = run(&c, &url, &alarm.url(), &judge.url(), &http).await;
    let _ = c.close().await;
    let mut child = driver.child;
    let _ = child.kill().await;
    judge.stop().await;
    alarm.stop().await;
    web.stop().await;
    store.stop().await;
    result.unwrap();
}

async fn run(
    c: &Client,
    url: &str,
    alarm_url: &str,
    judge_url: &str,
    http: &reqwest::Client,
) -> Result<(), String> {
    // Log in: an unauthenticated page sends us to the login form.
    c.goto(&format!("{url}/hosts"))
        .await
        .map_err(|e| e.to_string())?;
    until(
        c,
        "the login form",
        "return !!document.querySelector('form#login')",
    )
    .await;
    assert!(c.current_url().await.unwrap().path().starts_with("/login"));
    fill(c, "input[name=login]", "alice").await;
    fill(c, "input[name=password]", "wrong-password").await;
    click(c, "form#login button").await;
    until(
        c,
        "the refusal",
        "return document.querySelector('form#login .err').textContent.includes('wrong')",
    )
    .await;
    shot(c, "login").await;
    fill(c, "input[name=password]", PASSWORD).await;
    click(c, "form#login button").await;
    until(
        c,
        "the hosts page",
        "return location.pathname === '/hosts' && !!document.querySelector('table')",
    )
    .await;
    until(
        c,
        "web-1 alive",
        "return [...document.querySelectorAll('td')].some(td => td.textContent === 'alive')",
    )
    .await;
    shot(c, "hosts").await;

    // A template with a parent.
    c.goto(&format!("{url}/templates")).await.unwrap();
    fill(
        c,
        "form[data-api='/api/v1/templates'] input[name=name]",
        "linux-base",
    )
    .await;
    click(c, "form[data-api='/api/v1/templates'] button").await;
    until(c, "linux-base in the tree", "return [...document.querySelectorAll('ul.tree a')].some(a => a.textContent === 'linux-base')").await;
    fill(
        c,
        "form[data-api='/api/v1/templates'] input[name=name]",
        "web-servers",
    )
    .await;
    c.find(Locator::Css("select[name=parent]"))
        .await
        .unwrap()
        .select_by_label("linux-base")
        .await
        .unwrap();
    click(c, "form[data-api='/api/v1/templates'] button").await;
    until(c, "web-servers under linux-base", "return [...document.querySelectorAll('ul.tree li ul li a')].some(a => a.textContent === 'web-servers')").await;
    // A strategy on the child, with live validation of the condition.
    let href = c
        .execute("return [...document.querySelectorAll('ul.tree a')].find(a => a.textContent === 'web-servers').getAttribute('href')", vec![])
        .await
        .unwrap();
    c.goto(&format!("{url}{}", href.as_str().unwrap()))
        .await
        .unwrap();
    fill(c, "#strategy-form input[name=metric]", "cpu.busy").await;
    fill(c, "#strategy-form input[name=condition]", "all(#3) >> 90").await;
    until(
        c,
        "a live validation error",
        "return document.querySelector('#strategy-form .live').textContent.includes('position')",
    )
    .await;
    fill(c, "#strategy-form input[name=condition]", "all(#3) > 90").await;
    until(
        c,
        "the condition accepted",
        "return document.querySelector('#strategy-form .live').textContent.includes('valid')",
    )
    .await;
    c.find(Locator::Css("#strategy-form select[name=priority]"))
        .await
        .unwrap()
        .select_by_label("P1")
        .await
        .unwrap();
    // A short `for`, so the judge below still raises the problem within the test.
    fill(c, "#strategy-form input[name=for_secs]", "10").await;
    click(c, "#strategy-form button").await;
    until(
        c,
        "the strategy listed",
        "return [...document.querySelectorAll('td')].some(td => td.textContent === 'all(#3) > 90')",
    )
    .await;
    // Its `for` wait was saved and is shown.
    until(
        c,
        "the for wait listed",
        "return [...document.querySelectorAll('td')].some(td => td.textContent === '10 s')",
    )
    .await;
    shot(c, "template-strategy-editor").await;

    // Bind it to web-1 through a host group made in the console (first without the template,
    // then edited to bind it).
    let (csrf, cookie) = session_of(c).await;
    c.goto(&format!("{url}/host_groups")).await.unwrap();
    fill(
        c,
        "form[data-api='/api/v1/host_groups'] input[name=name]",
        "web",
    )
    .await;
    fill(
        c,
        "form[data-api='/api/v1/host_groups'] input[name=hosts]",
        "web-1, web 2",
    )
    .await;
    click(c, "form[data-api='/api/v1/host_groups'] button").await;
    until(
        c,
        "the bad host name refused",
        "return document.querySelector('form .err').textContent.includes('hosts[1]')",
    )
    .await;
    fill(
        c,
        "form[data-api='/api/v1/host_groups'] input[name=hosts]",
        "web-1",
    )
    .await;
    click(c, "form[data-api='/api/v1/host_groups'] button").await;
    until(
        c,
        "the group listed",
        "return !!document.querySelector('a[href^=\"/host_groups?edit=\"]')",
    )
    .await;
    click(c, "a[href^='/host_groups?edit=']").await;
    until(
        c,
        "the edit form",
        "return !!document.querySelector('form[data-method=PUT]')",
    )
    .await;
    c.find(Locator::Css("form[data-method=PUT] select[name=templates]"))
        .await
        .unwrap()
        .select_by_label("web-servers")
        .await
        .unwrap();
    click(c, "form[data-method=PUT] button").await;
    until(
        c,
        "the template bound",
        "return [...document.querySelectorAll('td a')].some(a => a.textContent === 'web-servers')",
    )
    .await;
    c.goto(&format!("{url}/hosts")).await.unwrap();
    click(c, "td a[href^='/hosts/']").await;
    until(c, "the cpu chart drawn with points", "const el = document.querySelector('.chart[data-promql*=\"cpu.busy\"]'); return !!el && el.classList.contains('drawn') && Number(el.dataset.points) >= 50 && !!el.querySelector('canvas')").await;
    until(
        c,
        "the effective strategy",
        "return document.querySelector('#strategies').textContent.includes('web-servers')",
    )
    .await;
    shot(c, "host-detail").await;
    c.goto(&format!("{url}/explorer?metric=cpu.busy&range=3600"))
        .await
        .unwrap();
    until(c, "the explorer chart", "const el = document.querySelector('.chart'); return !!el && el.classList.contains('drawn') && Number(el.dataset.points) > 0").await;
    // PromQL in the explorer: an aggregation across hosts, with completion from the API.
    c.goto(&format!(
        "{url}/explorer?range=3600&query={}",
        "max%20by%20(endpoint)%20(%7B__name__%3D%22cpu.busy%22%7D)%20*%202"
    ))
    .await
    .unwrap();
    until(c, "the PromQL chart", "const el = document.querySelector('.chart'); return !!el && el.classList.contains('drawn') && Number(el.dataset.series) === 1 && Number(el.dataset.points) >= 50").await;
    c.execute(
        "const i = document.querySelector('input[name=query]'); i.value = 'cpu.b'; i.focus(); i.setSelectionRange(5, 5); i.dispatchEvent(new Event('input'));",
        vec![],
    )
    .await
    .unwrap();
    until(c, "metric name completion", "return [...document.querySelectorAll('#promql-suggestions li')].some(li => li.textContent === 'cpu.busy')").await;
    shot(c, "metric-explorer").await;

    // The judge pulls the strategy from the config center; points above 90 make it raise a
    // problem, which alarm holds and the console shows.
    let mut raised = false;
    for round in 0..60i64 {
        let now = argus_core::time::now_secs();
        let pts: Vec<Value> = (0..3)
            .map(|i| {
                json!({"tenant": "acme", "endpoint": "web-1", "metric": "cpu.busy", "tags": {},
                "value": 97.5, "timestamp": now - 20 + i * 10 + round % 10, "step": 10})
            })
            .collect();
        let r = http
            .post(format!("{judge_url}/internal/v1/points"))
            .json(&json!({"points": pts}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "judge takes points");
        let ev: Value = http
            .get(format!(
                "{alarm_url}/internal/v1/events?tenant=acme&state=problem"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ev["events"].as_array().is_some_and(|l| !l.is_empty()) {
            raised = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    assert!(
        raised,
        "the judge raised a problem from the strategy made in the browser"
    );
    c.goto(&format!("{url}/problems")).await.unwrap();
    for _ in 0..50 {
        let found = c
            .execute(
                "return !!document.querySelector('button[data-call*=\"/ack\"]')",
                vec![],
            )
            .await
            .unwrap();
        if found.as_bool() == Some(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.refresh().await.unwrap();
    }
    shot(c, "problems").await;
    click(c, "button[data-call*='/ack']").await;
    until(c, "the acknowledgement", "return [...document.querySelectorAll('.badge')].some(b => b.textContent === 'acknowledged') && document.body.textContent.includes('alice')").await;
    c.goto(&format!("{url}/history")).await.unwrap();
    until(c, "the history", "return !!document.querySelector('table')").await;
    shot(c, "history").await;
    // Some notification setup, so that the remaining screenshots show real rows.
    let post = |path: &'static str, body: Value| {
        let (http, cookie, csrf) = (http.clone(), cookie.clone(), csrf.clone());
        async move {
            let r = http
                .post(format!("{url}{path}"))
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201, "{path}");
            r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
        }
    };
    let alice = post(
        "/api/v1/contacts",
        json!({"name": "Alice Ops", "email": "alice@example.com"}),
    )
    .await;
    let hook = post(
        "/api/v1/contacts",
        json!({"name": "chat-hook", "webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "s",
        "channels": [{"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/KEEPME"}]}),
    )
    .await;
    let team = post(
        "/api/v1/teams",
        json!({"name": "ops", "members": [alice, hook]}),
    )
    .await;
    post("/api/v1/subscriptions", json!({"target": {"kind": "priority", "max_priority": 2}, "team_id": team, "channels": ["email", "webhook"]})).await;
    let now = argus_core::time::now_secs();
    let silence = post("/api/v1/silences", json!({"matcher": {"endpoint": "web-1", "metric": "disk.io.util"}, "starts_at": now, "ends_at": now + 7200, "reason": "disk replacement"})).await;

    // Edit forms: a contact's webhook (its secret left empty, so kept) and a silence's reason.
    let api_get = |path: String| {
        let (http, cookie) = (http.clone(), cookie.clone());
        async move {
            let r = http
                .get(format!("{url}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    c.goto(&format!("{url}/contacts")).await.unwrap();
    click(c, &format!("a[href='/contacts?edit={hook}']")).await;
    until(
        c,
        "the contact edit form",
        "return !!document.querySelector('form[data-method=PUT] input[name=webhook_url]')",
    )
    .await;
    fill(
        c,
        "form[data-method=PUT] input[name=webhook_url]",
        "http://127.0.0.1:9/hook2",
    )
    .await;
    // The Slack receiver shows switched on, its URL only as the API's cut placeholder; a
    // PagerDuty receiver is added through the form.
    let slack_on = c
        .execute("return document.querySelector('form[data-method=PUT] fieldset[data-channel=slack] input[data-on]').checked", vec![])
        .await
        .unwrap();
    assert_eq!(slack_on, Value::Bool(true));
    let pd = "form[data-method=PUT] fieldset[data-channel=pagerduty]";
    click(c, &format!("{pd} input[data-on]")).await;
    fill(
        c,
        &format!("{pd} input[data-field=routing_key]"),
        "R0123PDSECRETKEY",
    )
    .await;
    fill(
        c,
        &format!("{pd} textarea[data-field=template]"),
        "{{ title }} (console)",
    )
    .await;
    click(c, "form[data-method=PUT] button").await;
    until(
        c,
        "the contact saved",
        "return location.search === '' && document.body.textContent.includes('/hook2')",
    )
    .await;
    let saved = api_get(format!("/api/v1/contacts/{hook}")).await;
    assert_eq!(saved["webhook_url"], "http://127.0.0.1:9/hook2", "{saved}");
    assert_eq!(
        saved["webhook_secret_set"], true,
        "the secret is kept: {saved}"
    );
    assert_eq!(saved["name"], "chat-hook", "{saved}");
    // The Slack receiver left as shown is kept (shown cut); the PagerDuty one is added, its
    // key hidden.
    assert_eq!(saved["channels"][0]["type"], "slack", "{saved}");
    assert_eq!(
        saved["channels"][0]["url"], "https://hooks.slack.com/…",
        "{saved}"
    );
    assert_eq!(saved["channels"][1]["type"], "pagerduty", "{saved}");
    assert_eq!(saved["channels"][1]["routing_key"], "(hidden)", "{saved}");
    assert_eq!(
        saved["channels"][1]["template"], "{{ title }} (console)",
        "{saved}"
    );
    // No credential reaches the page, not even in the edit form.
    c.goto(&format!("{url}/contacts?edit={hook}"))
        .await
        .unwrap();
    until(c, "the contact edit form again", "return !!document.querySelector('form[data-method=PUT] fieldset[data-channel=pagerduty] input[data-on]:checked')").await;
    let src = c.source().await.unwrap();
    assert!(
        !src.contains("R0123PDSECRETKEY") && !src.contains("KEEPME"),
        "a credential is on the page"
    );
    // A new contact with a Telegram receiver: a missing field is refused and marked, then
    // given, it is created.
    c.goto(&format!("{url}/contacts")).await.unwrap();
    let tg = "form[data-method=POST] fieldset[data-channel=telegram]";
    until(
        c,
        "the new contact form",
        &format!("return !!document.querySelector('{tg}')"),
    )
    .await;
    fill(c, "form[data-method=POST] input[name=name]", "tg-oncall").await;
    click(c, &format!("{tg} input[data-on]")).await;
    fill(
        c,
        &format!("{tg} input[data-field=bot_token]"),
        "123456:TGSECRET",
    )
    .await;
    click(c, "form[data-method=POST] button").await;
    until(
        c,
        "the missing chat refused",
        &format!("return document.querySelector('form[data-method=POST] .err').textContent.includes('channels[0].chat_id') && !!document.querySelector('{tg} [data-field=chat_id].invalid')"),
    )
    .await;
    fill(
        c,
        &format!("{tg} input[data-field=chat_id]"),
        "-1001234567890",
    )
    .await;
    click(c, "form[data-method=POST] button").await;
    until(
        c,
        "the Telegram contact created",
        "return document.body.textContent.includes('tg-oncall') && document.body.textContent.includes('telegram')",
    )
    .await;
    let all = api_get("/api/v1/contacts".to_string()).await;
    let tgc = all["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "tg-oncall")
        .cloned()
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(
        tgc["channels"],
        json!([{"type": "telegram", "bot_token": "(hidden)", "chat_id": "-1001234567890"}]),
        "{tgc}"
    );

    c.goto(&format!("{url}/silences?edit={silence}"))
        .await
        .unwrap();
    until(
        c,
        "the silence edit form",
        "return !!document.querySelector('form[data-method=PUT] input[name=reason]')",
    )
    .await;
    fill(
        c,
        "form[data-method=PUT] input[name=reason]",
        "disk replacement, second try",
    )
    .await;
    click(c, "form[data-method=PUT] button").await;
    until(
        c,
        "the silence saved",
        "return location.search === '' && document.body.textContent.includes('second try')",
    )
    .await;
    let saved = api_get(format!("/api/v1/silences/{silence}")).await;
    assert_eq!(saved["matcher"]["endpoint"], "web-1", "{saved}");
    assert_eq!(saved["matcher"]["metric"], "disk.io.util", "{saved}");
    let ends = saved["ends_at"].as_i64().unwrap();
    assert!(
        (ends - (now + 7200)).abs() < 60,
        "the window kept (to the minute): {saved}"
    );
    // A template renamed, and moved under its own child refused with the reason shown.
    c.goto(&format!("{url}/templates")).await.unwrap();
    click(c, "ul.tree > li > a").await;
    until(
        c,
        "the template page",
        "return document.querySelector('h1').textContent.includes('linux-base')",
    )
    .await;
    c.find(Locator::Css("form[data-method=PUT] select[name=parent]"))
        .await
        .unwrap()
        .select_by_label("web-servers")
        .await
        .unwrap();
    click(c, "form[data-method=PUT] button").await;
    until(c, "the cycle refused", "return document.querySelector('form[data-method=PUT] .err').textContent.includes('parent')").await;
    c.find(Locator::Css("form[data-method=PUT] select[name=parent]"))
        .await
        .unwrap()
        .select_by_label("(none)")
        .await
        .unwrap();
    fill(c, "form[data-method=PUT] input[name=name]", "linux-common").await;
    click(c, "form[data-method=PUT] button").await;
    until(
        c,
        "the template renamed",
        "return document.querySelector('h1').textContent.includes('linux-common')",
    )
    .await;

    for (page, name) in [
        ("/hosts", "hosts"),
        ("/host_groups", "host-groups"),
        ("/contacts", "contacts"),
        ("/teams", "teams"),
        ("/subscriptions", "subscriptions"),
        ("/silences", "silences"),
        ("/deliveries", "deliveries"),
        ("/templates?host=web-1", "templates"),
        ("/admin", "users-and-tokens"),
    ] {
        c.goto(&format!("{url}{page}")).await.unwrap();
        until(
            c,
            page,
            "return document.readyState === 'complete' && !!document.querySelector('main')",
        )
        .await;
        shot(c, name).await;
    }
    Ok(())
}

/// The session cookie and CSRF token of the browser (to prepare data through the API).
async fn session_of(c: &Client) -> (String, String) {
    let csrf = c
        .execute(
            "return document.querySelector('meta[name=csrf]').content",
            vec![],
        )
        .await
        .unwrap();
    let cookie = c
        .get_named_cookie("argus_session")
        .await
        .expect("session cookie");
    (
        csrf.as_str().unwrap().to_string(),
        format!("argus_session={}", cookie.value()),
    )
}

/// The alert rule editor in Chromium: a bad expression typed shows the engine's error with its
/// position (and a caret under it), a good one is accepted, the preview shows the alert the rule
/// would fire over a real storage node's series with its annotation rendered, and saving lists
/// the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_editor_in_chromium() {
    let Some(driver_path) =
        argus_core::testing::require_server("ARGUS_TEST_CHROMEDRIVER", "Chromium WebDriver")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let store = argus_store::node::start(argus_store::node::StoreConfig {
        listen: "127.0.0.1:0".into(),
        engine: argus_store::EngineConfig {
            data_dir: dir.path().join("store"),
            ..Default::default()
        },
        workers: 1,
        ..Default::default()
    })
    .await
    .expect("store starts");
    let store_url = store.server.url();
    let now = argus_core::time::now_secs();
    let points: Vec<Value> = [("web-1", 93.0), ("web-2", 12.0)]
        .iter()
        .flat_map(|(host, v)| {
            (0..12).map(move |i| {
                json!({"tenant": "acme", "endpoint": host, "metric": "cpu.busy",
                "tags": {}, "value": v, "timestamp": now - 120 + i * 10, "step": 10})
            })
        })
        .collect();
    let resp = http
        .post(format!("{store_url}/internal/v1/write"))
        .json(&json!({"points": points}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let web = argus_web::start(argus_web::WebConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("web").display().to_string(),
        regions: vec![argus_web::config::RegionEndpoint::new(
            "local",
            store_url.clone(),
        )],
        workers: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = web.server.url();
    ensure_demo(
        &web.db,
        &Demo {
            tenant: "acme",
            admin_login: "alice",
            admin_password: PASSWORD,
            agent_token: None,
            api_token: None,
        },
    )
    .await
    .unwrap();
    let driver = start_driver(&driver_path).await;
    let c = browser(&driver, &dir.path().join("profile")).await;
    let result = edit_rules(&c, &url, &http).await;
    let _ = c.close().await;
    let mut child = driver.child;
    let _ = child.kill().await;
    web.stop().await;
    store.stop().await;
    result.unwrap();
}

async fn edit_rules(c: &Client, url: &str, http: &reqwest::Client) -> Result<(), String> {
    c.goto(&format!("{url}/alert_rules"))
        .await
        .map_err(|e| e.to_string())?;
    until(
        c,
        "the login form",
        "return !!document.querySelector('form#login')",
    )
    .await;
    fill(c, "input[name=login]", "alice").await;
    fill(c, "input[name=password]", PASSWORD).await;
    click(c, "form#login button").await;
    until(
        c,
        "the alert rules page",
        "return location.pathname === '/alert_rules' && !!document.querySelector('#rule-form')",
    )
    .await;
    fill(c, "#rule-form input[name=alert]", "BusyHost").await;
    // Unclosed: the parser's error is placed at the end of the expression, column 31.
    fill(
        c,
        "#rule-form textarea[name=expr]",
        r#"max by (endpoint) ({__name__="cpu.busy"}"#,
    )
    .await;
    until(
        c,
        "the parse error with its position",
        "const t = document.querySelector('#rule-form .live').textContent; return t.startsWith('expr: 1:') && t.includes('parse error') && /\\(line 1, column \\d+\\)$/.test(t)",
    )
    .await;
    let live = c
        .execute(
            "return [document.querySelector('#rule-form .live').textContent, document.querySelector('#rule-form .caret').textContent, document.querySelector('#rule-form textarea[name=expr]').classList.contains('invalid')]",
            vec![],
        )
        .await
        .unwrap();
    let text = live[0].as_str().unwrap();
    let col: usize = text
        .rsplit("column ")
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .ok_or(format!("no column in {text}"))?;
    assert!(text.starts_with(&format!("expr: 1:{col}: ")), "{text}");
    let caret = live[1].as_str().unwrap();
    assert!(
        caret.ends_with(&format!("\n{}^", " ".repeat(col - 1))),
        "the caret under column {col}: {caret:?}"
    );
    assert_eq!(live[2], json!(true), "the expression is marked invalid");
    c.execute(
        "document.querySelector('#rule-form .live').scrollIntoView({block: 'end'})",
        vec![],
    )
    .await
    .unwrap();
    shot(c, "alert-rule-error").await;
    fill(
        c,
        "#rule-form textarea[name=expr]",
        r#"max by (endpoint) ({__name__="cpu.busy"}) > 90"#,
    )
    .await;
    until(
        c,
        "the expression accepted",
        "return document.querySelector('#rule-form .live').textContent.includes('valid') && document.querySelector('#rule-form .caret').textContent === ''",
    )
    .await;
    fill(
        c,
        "#rule-form textarea[name=annotations]",
        "summary={{ $labels.endpoint }} is busy: {{ $value }}%",
    )
    .await;
    fill(c, "#rule-form textarea[name=labels]", "team=web").await;
    click(c, "#rule-form button[data-rule-preview-run]").await;
    until(
        c,
        "the preview of the alert",
        "const p = document.querySelector('#rule-form .preview'); return p.dataset.count === '1' && p.textContent.includes('web-1 is busy: 93%') && p.textContent.includes('alertname=BusyHost')",
    )
    .await;
    let preview = c
        .execute(
            "return document.querySelector('#rule-form .preview').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        !preview.as_str().unwrap().contains("web-2"),
        "web-2 is under the threshold: {preview}"
    );
    c.execute(
        "document.querySelector('#rule-form .preview').scrollIntoView({block: 'end'})",
        vec![],
    )
    .await
    .unwrap();
    shot(c, "alert-rule-preview").await;
    click(c, "#rule-form button:not([type=button])").await;
    until(
        c,
        "the rule listed",
        "return location.pathname === '/alert_rules' && [...document.querySelectorAll('td')].some(td => td.textContent === 'BusyHost') && document.querySelector('#rule-form .live').textContent.includes('type an expression')",
    )
    .await;
    let (_, cookie) = session_of(c).await;
    let saved: Value = http
        .get(format!("{url}/api/v1/alert_rules"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rule = &saved["alert_rules"][0];
    assert_eq!(rule["alert"], "BusyHost", "{saved}");
    assert_eq!(
        rule["annotations"]["summary"], "{{ $labels.endpoint }} is busy: {{ $value }}%",
        "{saved}"
    );
    assert_eq!(rule["labels"], json!({"team": "web"}), "{saved}");
    assert_eq!(rule["interval_secs"], 60, "{saved}");
    shot(c, "alert-rules").await;
    Ok(())
}
