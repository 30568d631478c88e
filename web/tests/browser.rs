//! The console in headless Chromium (driven over WebDriver by fantoccini): log in, create a
//! template with a parent and a strategy (with live validation), see a host's chart drawn from
//! real points in a real storage node, see a problem raised by the real judge (from the strategy
//! made in the browser, pulled from the config center) through the real alarm service, and
//! acknowledge it. Screenshots of the main pages go to docs/screenshots/.

mod common;

use argus_web::bootstrap::{ensure_demo, Demo};
use common::{reserve_address, start_alarm, Region};
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
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

/// Chromium driven over WebDriver, with its profile in `dir/profile`.
struct Chromium {
    driver: Driver,
    client: Client,
}

impl Chromium {
    async fn open(driver_path: &str, dir: &std::path::Path) -> Chromium {
        let driver = start_driver(driver_path).await;
        let client = browser(&driver, &dir.join("profile")).await;
        Chromium { driver, client }
    }

    async fn close(self) {
        let _ = self.client.close().await;
        let mut child = self.driver.child;
        let _ = child.kill().await;
    }
}

/// The web service on `region` (in `dir/web`, two workers) with tenant acme, whose admin alice
/// logs in with [`PASSWORD`]; answers it and its URL.
async fn console_web(
    dir: &std::path::Path,
    region: &Region,
    agent_token: Option<&str>,
    tweak: impl FnOnce(&mut argus_web::WebConfig),
) -> (argus_web::Running, String) {
    let mut cfg = argus_web::WebConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("web").display().to_string(),
        regions: vec![region.endpoint()],
        workers: 2,
        ..Default::default()
    };
    tweak(&mut cfg);
    let web = argus_web::start(cfg).await.expect("web starts");
    ensure_demo(
        &web.db,
        &Demo {
            tenant: "acme",
            admin_login: "alice",
            admin_password: PASSWORD,
            agent_token,
            api_token: None,
        },
    )
    .await
    .expect("tenant acme");
    let url = web.server.url();
    (web, url)
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
    let now = argus_core::time::now_secs();
    let points: Vec<Value> = (0..60)
        .map(|i| json!({"tenant": "acme", "endpoint": "web-1", "metric": "cpu.busy", "tags": {},
            "value": 40.0 + 30.0 * ((i as f64) / 6.0).sin(), "timestamp": now - 600 + i * 10, "step": 10}))
        .collect();
    let region = Region::with_points(dir.path(), &points).await;

    // The web service, then the alarm service pulling its notification config from it.
    let (alarm_listen, alarm_url) = reserve_address();
    let agent_token = argus_core::auth::generate_token("argus_agt");
    let (web, url) = console_web(dir.path(), &region, Some(&agent_token), |c| {
        c.alarm_url = alarm_url.clone()
    })
    .await;
    let alarm = start_alarm(dir.path(), &alarm_listen, &url).await;
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

    let chromium = Chromium::open(&driver_path, dir.path()).await;
    let result = run(&chromium.client, &url, &alarm.url(), &judge.url(), &http).await;
    chromium.close().await;
    judge.stop().await;
    alarm.stop().await;
    web.stop().await;
    region.stop().await;
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
    // The alerts overview counts the problem in web-1's group and open now.
    c.goto(&format!("{url}/dashboards/builtin-alerts"))
        .await
        .unwrap();
    until(
        c,
        "the alerts overview drawn",
        "const p = document.querySelector('.dpanel[data-kind=alerts]'); return !!p && p.classList.contains('drawn')",
    )
    .await;
    let overview = c
        .execute(
            "const p = document.querySelector('.dpanel[data-kind=alerts]'); return [p.dataset.byGroup || '', (p.dataset.overTime || '').split(',').pop(), p.querySelector('table.by-group').textContent]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overview[0], "web=1", "by group: {overview}");
    assert_eq!(overview[1], "1", "open at the range's end: {overview}");
    assert_eq!(overview[2], "Host groupOpen problemsweb1", "{overview}");
    shot(c, "dashboard-alerts").await;
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
    let region = Region::with_points(dir.path(), &points).await;
    let (web, url) = console_web(dir.path(), &region, None, |_| {}).await;
    let chromium = Chromium::open(&driver_path, dir.path()).await;
    let result = edit_rules(&chromium.client, &url, &http).await;
    chromium.close().await;
    web.stop().await;
    region.stop().await;
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

/// Points of `metric` for `host` over the last 10 minutes, every 10 s, ending exactly at
/// `last` (earlier points wander around it, so charts have a shape).
fn wandering(host: &str, metric: &str, last: f64, now: i64) -> Vec<Value> {
    (0..60)
        .map(|i| {
            let v = if i == 59 {
                last
            } else {
                (last + last * 0.2 * ((i as f64) / 5.0).sin()).max(0.0)
            };
            json!({"tenant": "acme", "endpoint": host, "metric": metric, "tags": {},
                   "value": v, "timestamp": now - 590 + i * 10, "step": 10})
        })
        .collect()
}

/// Dashboards in Chromium: a dashboard created through the console, a variable added in its
/// JSON editor and a stat panel added by the panel form over a real storage node's series;
/// switching the variable changes the rendered value; a drag on a chart zooms (the URL takes
/// the absolute range); the export, imported through the list's form, renders the same panel.
/// The built-in host-group dashboard over the same data is the screenshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_in_chromium() {
    let Some(driver_path) =
        argus_core::testing::require_server("ARGUS_TEST_CHROMEDRIVER", "Chromium WebDriver")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let now = argus_core::time::now_secs();
    let mut points = Vec::new();
    for (host, cpu, mem, disk, net) in [
        ("web-1", 11.0, 40.0, 52.0, 2.0e6),
        ("web-2", 77.0, 63.0, 91.0, 9.0e6),
        ("web-3", 35.0, 22.0, 30.0, 0.5e6),
    ] {
        points.extend(wandering(host, "cpu.busy", cpu, now));
        points.extend(wandering(host, "mem.memused.percent", mem, now));
        points.extend(wandering(host, "df.bytes.used.percent", disk, now));
        points.extend(wandering(host, "net.if.in.bytes", net, now));
        points.extend(wandering(host, "net.if.out.bytes", net / 3.0, now));
        // web-3 stopped reporting: no agent.alive.
        if host != "web-3" {
            points.extend(wandering(host, "agent.alive", 1.0, now));
        }
    }
    let region = Region::with_points(dir.path(), &points).await;
    let (web, url) = console_web(dir.path(), &region, None, |_| {}).await;
    let chromium = Chromium::open(&driver_path, dir.path()).await;
    let result = use_dashboards(&chromium.client, &url, &http).await;
    chromium.close().await;
    web.stop().await;
    region.stop().await;
    result.unwrap();
}

/// Waits until the drawn table's rows read `want` (`series=value` each, space-separated).
async fn table_rows(c: &Client, what: &str, want: &str) {
    let js = "return [...document.querySelectorAll('.dpanel.drawn tbody tr')].map(r => r.cells[0].textContent + '=' + r.cells[1].textContent).join(' ')";
    let mut got = String::new();
    for _ in 0..100 {
        got = c
            .execute(js, vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = c
        .execute(
            "return document.querySelector('#dashboard').outerHTML.slice(-3000)",
            vec![],
        )
        .await
        .unwrap_or_default();
    panic!("{what}: the table reads {got:?}, not {want:?}; {page}");
}

/// The text of the `n`th panel's body.
async fn panel_text(c: &Client, n: usize) -> String {
    c.execute(
        &format!(
            "return document.querySelectorAll('.dpanel')[{n}].querySelector('.body').textContent"
        ),
        vec![],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap_or_default()
    .to_string()
}

async fn use_dashboards(c: &Client, url: &str, http: &reqwest::Client) -> Result<(), String> {
    c.goto(&format!("{url}/dashboards"))
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
        "the dashboards list",
        "return location.pathname === '/dashboards' && !!document.querySelector('#new-dashboard')",
    )
    .await;

    // Create one, then give it a variable in the JSON editor.
    fill(c, "#new-dashboard input[name=title]", "Fleet").await;
    click(c, "#new-dashboard button").await;
    until(
        c,
        "the new dashboard",
        "return /^\\/dashboards\\/\\d+$/.test(location.pathname) && !!document.querySelector('#edit-json')",
    )
    .await;
    let path = c.current_url().await.unwrap().path().to_string();
    let doc = json!({"title": "Fleet", "range_secs": 900, "variables": [
        {"name": "host", "type": "label_values", "metric": "cpu.busy", "label": "endpoint"}],
        "rows": []});
    c.execute(
        "document.querySelector('#edit-json textarea').value = arguments[0]",
        vec![json!(doc.to_string())],
    )
    .await
    .unwrap();
    click(c, "#edit-json button").await;
    until(
        c,
        "the variable's values",
        "const s = document.querySelector('select[data-var=host]'); return !!s && s.options.length === 3 && s.value === 'web-1'",
    )
    .await;

    // A panel whose query the engine refuses: the form says where.
    fill(c, "#add-panel textarea[name=expr]", "sum(").await;
    click(c, "#add-panel button").await;
    until(
        c,
        "the parse error",
        "return document.querySelector('#add-panel .err').textContent.startsWith('rows[0].panels[0].targets[0].expr: 1:')",
    )
    .await;
    // A stat panel over the variable.
    c.find(Locator::Css("#add-panel select[name=type]"))
        .await
        .unwrap()
        .select_by_value("stat")
        .await
        .unwrap();
    fill(c, "#add-panel input[name=title]", "CPU now").await;
    fill(
        c,
        "#add-panel textarea[name=expr]",
        r#"{__name__="cpu.busy", endpoint="$host"}"#,
    )
    .await;
    fill(c, "#add-panel input[name=legend]", "{{endpoint}}").await;
    c.find(Locator::Css("#add-panel select[name=unit]"))
        .await
        .unwrap()
        .select_by_value("percent")
        .await
        .unwrap();
    click(c, "#add-panel button").await;
    until(
        c,
        "web-1's value",
        "const p = document.querySelector('.dpanel.drawn'); return !!p && p.querySelector('.body').textContent === '11.0%web-1'",
    )
    .await;
    // Switch the variable: the panel shows web-2's value, and the URL says so.
    c.find(Locator::Css("select[data-var=host]"))
        .await
        .unwrap()
        .select_by_value("web-2")
        .await
        .unwrap();
    until(
        c,
        "web-2's value",
        "const p = document.querySelector('.dpanel.drawn'); return !!p && p.querySelector('.body').textContent === '77.0%web-2'",
    )
    .await;
    let here = c.current_url().await.unwrap();
    assert!(
        here.query().unwrap_or_default().contains("var-host=web-2"),
        "{here}"
    );

    // A chart; dragging across it zooms to an absolute range carried by the URL.
    fill(c, "#add-panel input[name=title]", "CPU over time").await;
    fill(
        c,
        "#add-panel textarea[name=expr]",
        r#"{__name__="cpu.busy", endpoint=~"$host"}"#,
    )
    .await;
    c.find(Locator::Css("#add-panel select[name=type]"))
        .await
        .unwrap()
        .select_by_value("timeseries")
        .await
        .unwrap();
    click(c, "#add-panel button").await;
    until(
        c,
        "the chart drawn with web-2 still picked",
        "const p = document.querySelectorAll('.dpanel')[1]; return !!p && p.classList.contains('drawn') && Number(p.dataset.points) > 0 && !!p.querySelector('.u-over') && document.querySelector('select[data-var=host]').value === 'web-2'",
    )
    .await;
    assert_eq!(panel_text(c, 0).await, "77.0%web-2");
    // A real drag with the mouse, from 30 % to 70 % of the plot's width.
    let over = c
        .find(Locator::Css(".dpanel:nth-child(2) .u-over"))
        .await
        .map_err(|e| e.to_string())?;
    let width = c
        .execute(
            "return document.querySelectorAll('.dpanel')[1].querySelector('.u-over').getBoundingClientRect().width",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap() as i64;
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: over,
            duration: None,
            x: -width / 5,
            y: 0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(150)),
            x: width * 2 / 5,
            y: 0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.map_err(|e| e.to_string())?;
    until(
        c,
        "an absolute range in the URL",
        "const q = new URLSearchParams(location.search); return /^\\d+$/.test(q.get('from') || '') && /^\\d+$/.test(q.get('to') || '') && document.querySelector('#dash-controls select[name=range]').value === 'absolute'",
    )
    .await;
    let q = c.current_url().await.unwrap();
    let pairs: std::collections::HashMap<String, String> = q.query_pairs().into_owned().collect();
    let (from, to): (i64, i64) = (pairs["from"].parse().unwrap(), pairs["to"].parse().unwrap());
    // 40 % of a 15 minute chart.
    assert!(
        to > from && to - from < 600 && to - from > 120,
        "zoomed range {from}..{to}"
    );
    assert_eq!(pairs["var-host"], "web-2");
    until(
        c,
        "the zoomed chart drawn",
        "return document.querySelectorAll('.dpanel.drawn').length === 2",
    )
    .await;
    shot(c, "dashboard").await;

    // Export, and import the export through the list's form: a second dashboard with the
    // same panels.
    c.goto(&format!("{url}/dashboards")).await.unwrap();
    let id = path.rsplit('/').next().unwrap().to_string();
    let exported = c
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(document.querySelector('tr[data-id=\"' + arguments[0] + '\"] a.export').href).then(r => r.text()).then(done)",
            vec![json!(id)],
        )
        .await
        .unwrap();
    let exported = exported.as_str().unwrap().to_string();
    let parsed: Value = serde_json::from_str(&exported).map_err(|e| e.to_string())?;
    assert_eq!(
        parsed["rows"][0]["panels"][0]["title"], "CPU now",
        "{parsed}"
    );
    c.execute(
        "document.querySelector('#import-dashboard textarea').value = arguments[0]",
        vec![json!(exported)],
    )
    .await
    .unwrap();
    click(c, "#import-dashboard button").await;
    until(
        c,
        "the imported dashboard drawn",
        &format!("return /^\\/dashboards\\/\\d+$/.test(location.pathname) && location.pathname !== '{path}' && !!document.querySelector('.dpanel.drawn') && document.querySelectorAll('.dpanel')[0].querySelector('.body').textContent === '11.0%web-1'"),
    )
    .await;
    assert_eq!(panel_text(c, 0).await, "11.0%web-1");

    // Auto-refresh (a second, from the URL) redraws the panels by itself.
    c.goto(&format!(
        "{url}{path}?from=now-900&to=now&var-host=web-2&refresh=1"
    ))
    .await
    .unwrap();
    until(
        c,
        "two redraws by the timer",
        "return Number(document.getElementById('dashboard').dataset.draws) >= 3 && document.querySelector('#dash-controls select[name=refresh]').value === '1'",
    )
    .await;
    assert_eq!(panel_text(c, 0).await, "77.0%web-2");

    // Clone a built-in dashboard from the list: an editable copy.
    c.goto(&format!("{url}/dashboards")).await.unwrap();
    click(c, "button[data-clone='builtin-host']").await;
    until(
        c,
        "the clone",
        "return /^\\/dashboards\\/\\d+$/.test(location.pathname) && document.querySelector('h1').textContent === 'Host (copy)' && !!document.querySelector('#add-panel')",
    )
    .await;

    // The copy rewritten in the JSON editor: a table over a multi-value variable with All.
    let table = json!({"title": "Table", "range_secs": 900, "variables": [
        {"name": "hosts", "type": "label_values", "metric": "cpu.busy", "label": "endpoint",
         "multi": true, "include_all": true},
        {"name": "one", "type": "query", "label": "endpoint",
         "query": "{__name__=\"cpu.busy\", endpoint=~\"$hosts\"}"}],
        "rows": [{"panels": [{"type": "table", "title": "CPU", "unit": "percent", "targets": [
            {"expr": "{__name__=\"cpu.busy\", endpoint=~\"$hosts\"}", "legend": "{{endpoint}}"}]}]}]});
    c.execute(
        "document.querySelector('#edit-json textarea').value = arguments[0]",
        vec![json!(table.to_string())],
    )
    .await
    .unwrap();
    click(c, "#edit-json button").await;
    table_rows(
        c,
        "every host, the busiest first",
        "web-2=77.0% web-3=35.0% web-1=11.0%",
    )
    .await;
    click(c, ".dpanel th[data-sort=name]").await;
    table_rows(c, "sorted by name", "web-1=11.0% web-2=77.0% web-3=35.0%").await;
    c.execute(
        "const s = document.querySelector('select[data-var=hosts]'); [...s.options].forEach(o => { o.selected = o.value === 'web-1' || o.value === 'web-3'; }); s.dispatchEvent(new Event('change', {bubbles: true}))",
        vec![],
    )
    .await
    .unwrap();
    table_rows(c, "two hosts picked", "web-3=35.0% web-1=11.0%").await;
    // A query variable over the first one offers only what the first one picked.
    until(
        c,
        "the query variable narrowed",
        "return [...document.querySelector('select[data-var=one]').options].map(o => o.value).join(',') === 'web-1,web-3'",
    )
    .await;
    let here = c.current_url().await.unwrap();
    assert!(
        here.query()
            .unwrap_or_default()
            .contains("var-hosts=web-1&var-hosts=web-3"),
        "{here}"
    );

    // The built-in host-group dashboard over a group of the three hosts: web-3 is not
    // reporting, web-2 is the busiest.
    // Its template watches CPU above 90%: the CPU chart draws that line.
    let (csrf, cookie) = session_of(c).await;
    let post = |path: &str, body: Value| {
        http.post(format!("{url}{path}"))
            .header("cookie", &cookie)
            .header("X-CSRF-Token", &csrf)
            .json(&body)
            .send()
    };
    let r = post("/api/v1/templates", json!({"name": "web servers"}))
        .await
        .unwrap();
    assert!(r.status().is_success());
    let tpl: Value = r.json().await.unwrap();
    let r = post(
        "/api/v1/strategies",
        json!({"template_id": tpl["id"], "metric": "cpu.busy", "condition": "all(#3) > 90", "priority": 1}),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    let r = post(
        "/api/v1/host_groups",
        json!({"name": "web", "hosts": ["web-1", "web-2", "web-3"], "templates": [tpl["id"]]}),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    c.goto(&format!(
        "{url}/dashboards/builtin-host-group?from=now-900&to=now"
    ))
    .await
    .unwrap();
    until(
        c,
        "every panel of the group dashboard drawn",
        "const ps = document.querySelectorAll('.dpanel'); return ps.length === 10 && [...ps].every(p => p.classList.contains('drawn'))",
    )
    .await;
    let missing = panel_text(c, 8).await;
    assert_eq!(missing, "web-3 ", "hosts not reporting");
    let top = panel_text(c, 4).await;
    assert!(top.starts_with("web-277.0%web-335.0%web-111.0%"), "{top}");
    assert_eq!(panel_text(c, 9).await, "2hosts");
    let cpu = c
        .execute(
            "const p = document.querySelectorAll('.dpanel')[0]; return [p.dataset.strategyLines, [...p.querySelectorAll('.u-legend .u-label')].map(l => l.textContent).join('|')]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(cpu[0], "> 90", "the strategy's line on the CPU chart");
    assert!(
        cpu[1].as_str().unwrap_or_default().contains("P1 > 90.0%"),
        "its legend: {cpu}"
    );
    shot(c, "dashboard-host-group").await;

    // The alerts overview: this web has no alarm service, which its problems panel says, and
    // its chart of hosts reporting is drawn all the same.
    c.goto(&format!("{url}/dashboards/builtin-alerts"))
        .await
        .unwrap();
    until(
        c,
        "the alerts overview drawn",
        "const ps = document.querySelectorAll('.dpanel'); return ps.length === 2 && [...ps].every(p => p.classList.contains('drawn'))",
    )
    .await;
    assert!(
        panel_text(c, 0).await.starts_with("alarm service: "),
        "{}",
        panel_text(c, 0).await
    );
    let points = c
        .execute(
            "return Number(document.querySelectorAll('.dpanel')[1].dataset.points)",
            vec![],
        )
        .await
        .unwrap();
    assert!(points.as_f64().unwrap() > 0.0, "hosts reporting: {points}");
    Ok(())
}
