//! Config from the center: pull with ETag (304), applied without a restart, cached on disk and
//! used at start when the center is unreachable; heartbeats with host facts and token.

mod common;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::agentconf::{AgentRemoteConfig, Heartbeat, Probe};
use argus_core::http::Served;
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Center {
    config: Mutex<AgentRemoteConfig>,
    not_modified: AtomicUsize,
    pulls: Mutex<Vec<(String, String)>>,
    heartbeats: Mutex<Vec<Heartbeat>>,
}

async fn config(req: HttpRequest, st: web::Data<Arc<Center>>) -> HttpResponse {
    let auth = argus_core::http::bearer_token(&req)
        .unwrap_or_default()
        .to_string();
    st.pulls
        .lock()
        .unwrap()
        .push((req.query_string().to_string(), auth.clone()));
    if auth != "agent-token" {
        return HttpResponse::Unauthorized().finish();
    }
    let cfg = st.config.lock().unwrap().clone();
    let etag = format!("\"{}\"", cfg.version);
    if req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        st.not_modified.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok().insert_header(("ETag", etag)).json(cfg)
}

async fn heartbeat(body: web::Json<Heartbeat>, st: web::Data<Arc<Center>>) -> HttpResponse {
    st.heartbeats.lock().unwrap().push(body.into_inner());
    HttpResponse::Ok().json(serde_json::json!({}))
}

fn center(state: Arc<Center>) -> Served {
    let (l, a) = argus_core::http::bind("127.0.0.1:0", "center").unwrap();
    let st = web::Data::new(state);
    let s = HttpServer::new(move || {
        App::new()
            .app_data(st.clone())
            .route("/api/v1/agent/config", web::get().to(config))
            .route("/api/v1/agent/heartbeat", web::post().to(heartbeat))
    })
    .workers(1)
    .listen(l)
    .unwrap()
    .run();
    Served::spawn(a, s)
}

fn tcp_probe(name: &str, addr: String) -> Probe {
    Probe::Tcp {
        name: name.into(),
        addr,
        timeout_secs: 2,
    }
}

fn has_probe(t: &FakeTransfer, name: &str) -> bool {
    t.points()
        .iter()
        .any(|p| p.metric == "probe.tcp.up" && p.tags.get("probe") == Some(name) && p.value == 1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_with_etag_applies_without_restart_and_starts_from_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    let state = Arc::new(Center::default());
    *state.config.lock().unwrap() = AgentRemoteConfig {
        version: "v1".into(),
        step_secs: 1,
        probes: vec![tcp_probe("first", t.server.addr.to_string())],
        ..Default::default()
    };
    let c = center(state.clone());
    let mut cfg = test_config(d.path(), vec![t.url()]);
    cfg.config_url = c.url();
    cfg.config_interval_secs = 1;
    cfg.heartbeat_interval_secs = 1;
    let agent = argus_agent::start(cfg.clone()).await.unwrap();

    wait_for(30, "the v1 probe's points", || has_probe(&t, "first")).await;
    wait_for(30, "a 304", || {
        state.not_modified.load(Ordering::SeqCst) > 0
    })
    .await;
    let (query, token) = state.pulls.lock().unwrap()[0].clone();
    assert_eq!(
        (query.as_str(), token.as_str()),
        ("host=test-host", "agent-token")
    );
    wait_for(30, "a heartbeat naming v1", || {
        state
            .heartbeats
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.config_version == "v1")
    })
    .await;
    let hb = state.heartbeats.lock().unwrap().last().cloned().unwrap();
    assert_eq!(hb.host, "test-host");
    assert_eq!(hb.agent_version, env!("CARGO_PKG_VERSION"));
    assert!(
        hb.cpu_count > 0 && hb.mem_total > 0 && !hb.kernel.is_empty(),
        "{hb:?}"
    );
    assert_eq!(hb.ip, "127.0.0.1");
    // From sysinfo now: the same figure as /proc/meminfo's MemTotal.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(hb.mem_total, kb * 1024);

    // A new version is applied without a restart.
    state.config.lock().unwrap().version = "v2".into();
    state.config.lock().unwrap().probes = vec![tcp_probe("second", t.server.addr.to_string())];
    wait_for(30, "the v2 probe's points", || has_probe(&t, "second")).await;
    agent.stop().await;
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("data/remote-config.json")).unwrap())
            .unwrap();
    assert_eq!(cached["doc"]["version"], "v2");

    // The center goes away: the next start runs the cached config.
    c.stop().await;
    let t2 = fake_transfer();
    let mut cfg2 = cfg.clone();
    cfg2.transfers = vec![t2.url()];
    let agent = argus_agent::start(cfg2).await.unwrap();
    wait_for(30, "the cached probe's points", || {
        t2.points()
            .iter()
            .any(|p| p.metric == "probe.tcp.up" && p.tags.get("probe") == Some("second"))
    })
    .await;
    agent.stop().await;
}

/// Pushes one falcon point `metric` with falcon `tags` to the agent's push port.
async fn push_one(agent_url: &str, metric: &str, tags: &str) {
    let now = argus_core::time::now_secs();
    let r = reqwest::Client::new()
        .post(format!("{agent_url}/v1/push"))
        .json(
            &serde_json::json!([{"metric": metric, "value": 1, "timestamp": now, "step": 10,
                                   "counterType": "GAUGE", "tags": tags}]),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tags_are_reported_in_heartbeats_and_added_to_points_only_when_asked() {
    let d = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    let state = Arc::new(Center::default());
    let c = center(state.clone());
    // The file's shape: a [tags] table.
    let mut cfg: argus_agent::AgentConfig =
        argus_core::config::from_str("[tags]\nenv = \"prod\"\nrack = \"r1\"\n", "agent.toml")
            .unwrap();
    assert!(!cfg.tags_on_points, "off by default");
    let tags = cfg.tags.clone();
    assert_eq!(tags.get("env"), Some("prod"));
    cfg = argus_agent::AgentConfig {
        tags: tags.clone(),
        config_url: c.url(),
        config_interval_secs: 1,
        heartbeat_interval_secs: 1,
        ..test_config(d.path(), vec![t.url()])
    };
    let agent = argus_agent::start(cfg.clone()).await.unwrap();
    wait_for(30, "a heartbeat", || {
        !state.heartbeats.lock().unwrap().is_empty()
    })
    .await;
    let hb = state.heartbeats.lock().unwrap()[0].clone();
    assert_eq!(hb.tags, tags, "{hb:?}");
    push_one(&agent.server.url(), "plain.m", "").await;
    wait_for(30, "the pushed point", || {
        t.points().iter().any(|p| p.metric == "plain.m")
    })
    .await;
    let p = t
        .points()
        .into_iter()
        .find(|p| p.metric == "plain.m")
        .unwrap();
    assert!(
        p.tags.is_empty(),
        "falcon-agent's habit: no host tags on points: {p:?}"
    );
    agent.stop().await;

    // Opted in: every point gets the tags, a point's own value winning.
    let d2 = tempfile::tempdir().unwrap();
    let agent = argus_agent::start(argus_agent::AgentConfig {
        tags: tags.clone(),
        tags_on_points: true,
        remote_config: false,
        ..test_config(d2.path(), vec![t.url()])
    })
    .await
    .unwrap();
    push_one(&agent.server.url(), "tagged.m", "").await;
    push_one(&agent.server.url(), "own.m", "env=staging").await;
    wait_for(30, "both pushed points", || {
        let pts = t.points();
        pts.iter().any(|p| p.metric == "tagged.m") && pts.iter().any(|p| p.metric == "own.m")
    })
    .await;
    let pts = t.points();
    let tagged = pts.iter().find(|p| p.metric == "tagged.m").unwrap();
    assert_eq!(tagged.tags, tags);
    let own = pts.iter().find(|p| p.metric == "own.m").unwrap();
    assert_eq!(
        (own.tags.get("env"), own.tags.get("rack")),
        (Some("staging"), Some("r1"))
    );
    agent.stop().await;

    // Tags a series could not carry are refused at start, naming the tag.
    let bad = argus_agent::start(argus_agent::AgentConfig {
        tags: argus_core::Tags::from_pairs([("env", "a,b")]),
        ..test_config(d2.path(), vec![t.url()])
    })
    .await;
    let err = bad.err().expect("refused").to_string();
    assert!(err.contains("tags.env"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_neither_applied_nor_cached() {
    let d = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    let state = Arc::new(Center::default());
    let mut bad = AgentRemoteConfig {
        version: "bad".into(),
        step_secs: 1,
        probes: vec![tcp_probe("p", t.server.addr.to_string())],
        ..Default::default()
    };
    bad.log_rules.push(argus_core::agentconf::LogRule {
        path_glob: "/tmp/*.log".into(),
        regex: "(unclosed".into(),
        metric: "log.x".into(),
        tags: Default::default(),
    });
    *state.config.lock().unwrap() = bad;
    let c = center(state.clone());
    let mut cfg = test_config(d.path(), vec![t.url()]);
    cfg.config_url = c.url();
    cfg.config_interval_secs = 1;
    let agent = argus_agent::start(cfg).await.unwrap();
    wait_for(30, "two pulls", || state.pulls.lock().unwrap().len() >= 2).await;
    assert!(!d.path().join("data/remote-config.json").exists());
    assert!(agent
        .registry
        .render()
        .lines()
        .any(|l| l.starts_with("argus_agent_config_pull_failures_total") && !l.ends_with(" 0")));
    assert!(!t.points().iter().any(|p| p.metric == "probe.tcp.up"));
    agent.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_config_and_heartbeats_go_to_the_transfers_with_failover() {
    let d = tempfile::tempdir().unwrap();
    let state = Arc::new(Center::default());
    *state.config.lock().unwrap() = AgentRemoteConfig {
        version: "v7".into(),
        ..Default::default()
    };
    // The region's transfers: the first is down, the second answers (as a transfer does).
    let c = center(state.clone());
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut cfg = test_config(d.path(), vec![dead, c.url()]);
    assert!(
        cfg.config_url.is_empty() && cfg.remote_config,
        "the defaults"
    );
    cfg.config_interval_secs = 1;
    cfg.heartbeat_interval_secs = 1;
    let agent = argus_agent::start(cfg.clone()).await.unwrap();
    wait_for(30, "a heartbeat naming v7 at the second transfer", || {
        state
            .heartbeats
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.config_version == "v7")
    })
    .await;
    agent.stop().await;
    // Off: nothing is pulled.
    let pulls = state.pulls.lock().unwrap().len();
    cfg.remote_config = false;
    assert!(cfg.config_centers().is_empty());
    cfg.config_url = "http://web.example".into();
    cfg.remote_config = true;
    assert_eq!(cfg.config_centers(), vec!["http://web.example".to_string()]);
    assert!(pulls > 0);
}

/// open-falcon's checks configured per host group reach the agent through its config: a port
/// it listens on, a port nobody does, and a process by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_group_checks_reach_the_agent() {
    let d = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = Arc::new(Center::default());
    *state.config.lock().unwrap() = AgentRemoteConfig {
        version: "checks".into(),
        step_secs: 1,
        listen_ports: vec![open, closed],
        procs: vec![argus_core::agentconf::ProcCheck {
            // This test process, as the kernel names it (at most 15 characters).
            name: std::fs::read_to_string("/proc/self/comm")
                .unwrap()
                .trim()
                .to_string(),
            cmdline: String::new(),
        }],
        ..Default::default()
    };
    let c = center(state.clone());
    let mut cfg = test_config(d.path(), vec![t.url()]);
    cfg.config_url = c.url();
    cfg.config_interval_secs = 1;
    cfg.collect_host_metrics = true;
    let agent = argus_agent::start(cfg).await.unwrap();
    let port = |t: &FakeTransfer, p: u16, v: f64| {
        t.points().iter().any(|x| {
            x.metric == "net.port.listen"
                && x.tags.get("port") == Some(p.to_string().as_str())
                && x.value == v
        })
    };
    wait_for(30, "net.port.listen 1 for the open port", || {
        port(&t, open, 1.0)
    })
    .await;
    wait_for(30, "net.port.listen 0 for the closed port", || {
        port(&t, closed, 0.0)
    })
    .await;
    wait_for(30, "proc.num of this process's name", || {
        t.points()
            .iter()
            .any(|x| x.metric == "proc.num" && x.tags.get("name").is_some() && x.value >= 1.0)
    })
    .await;
    agent.stop().await;
    drop(listener);
}

/// `git` in `dir` with a fixed identity; its stdout.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn write_script(dir: &std::path::Path, name: &str, metric: &str, value: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!("#!/bin/sh\necho '[{{\"metric\":\"{metric}\",\"value\":{value}}}]'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// open-falcon's plugin.git habit: the host group names a repository and a revision; the agent
/// checks it out, runs only the plugins the group lists, follows the branch, and pins a commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_sync_from_a_git_repository() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("plugins.git");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    write_script(&repo, "nginx.sh", "repo.nginx", 1);
    write_script(&repo, "other.sh", "repo.other", 1);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "v1"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);

    let t = fake_transfer();
    let state = Arc::new(Center::default());
    let spec = argus_core::agentconf::PluginSpec {
        name: "nginx".into(),
        path: "nginx.sh".into(),
        interval_secs: 1,
        ..Default::default()
    };
    *state.config.lock().unwrap() = AgentRemoteConfig {
        version: "repo-main".into(),
        plugins: vec![spec],
        plugin_repo: Some(argus_core::agentconf::PluginRepo {
            url: repo.display().to_string(),
            rev: "main".into(),
        }),
        ..Default::default()
    };
    let c = center(state.clone());
    let mut cfg = test_config(d.path(), vec![t.url()]);
    cfg.config_url = c.url();
    cfg.config_interval_secs = 1;
    let agent = argus_agent::start(cfg).await.unwrap();
    let seen = |t: &FakeTransfer, v: f64, after: i64| {
        t.points()
            .iter()
            .any(|p| p.metric == "repo.nginx" && p.value == v && p.timestamp >= after)
    };
    wait_for(30, "the repository's plugin", || seen(&t, 1.0, 0)).await;

    // The branch moves: the agent follows it.
    write_script(&repo, "nginx.sh", "repo.nginx", 2);
    git(&repo, &["commit", "--quiet", "-am", "v2"]);
    wait_for(30, "the plugin as of the new commit", || seen(&t, 2.0, 0)).await;

    // Pinned to the first commit: back to its version.
    let pinned_at = argus_core::time::now_secs() + 1;
    {
        let mut cfg = state.config.lock().unwrap();
        cfg.version = "repo-pinned".into();
        cfg.plugin_repo.as_mut().unwrap().rev = first;
    }
    wait_for(30, "the plugin as of the pinned commit", || {
        seen(&t, 1.0, pinned_at)
    })
    .await;
    // Only what the group lists runs.
    assert!(!t.points().iter().any(|p| p.metric == "repo.other"));
    assert!(d.path().join("data/plugin-repo/other.sh").exists());
    agent.stop().await;
}
