//! Plugins: good output becomes points, a timeout kills and reports, garbage is reported with
//! the plugin's name and the reason.

mod common;
use argus_agent::plugins::{self, PluginContext, PluginError};
use argus_core::agentconf::PluginSpec;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

fn script(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ctx(dir: &Path) -> PluginContext {
    PluginContext {
        dir: dir.to_path_buf(),
        endpoint: "h1".into(),
        queue: Arc::new(argus_agent::sender::Queue::new(1000, Arc::default())),
        limits: Default::default(),
        registry: Default::default(),
    }
}

fn spec(name: &str, path: &str, timeout: u64) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        path: path.into(),
        args: vec![],
        interval_secs: 60,
        timeout_secs: timeout,
    }
}

#[tokio::test]
async fn good_output_becomes_points_with_defaults() {
    let d = tempfile::tempdir().unwrap();
    script(
        d.path(),
        "ok.sh",
        r#"echo '[{"metric":"app.qps","value":3,"tags":"svc=api"},{"endpoint":"other","metric":"x","value":"1.5","timestamp":NOW,"step":30,"counterType":"GAUGE"}]' | sed "s/NOW/$(date +%s)/""#,
    );
    let pts = plugins::run_once(&spec("ok", "ok.sh", 5), &ctx(d.path()))
        .await
        .unwrap();
    assert_eq!(pts.len(), 2);
    assert_eq!(
        (
            pts[0].endpoint.as_str(),
            pts[0].metric.as_str(),
            pts[0].value,
            pts[0].step
        ),
        ("h1", "app.qps", 3.0, 60)
    );
    assert_eq!(pts[0].tags.get("svc"), Some("api"));
    assert!((pts[0].timestamp - argus_core::time::now_secs()).abs() < 60);
    assert_eq!(
        (pts[1].endpoint.as_str(), pts[1].value, pts[1].step),
        ("other", 1.5, 30)
    );
}

#[tokio::test]
async fn a_plugin_past_its_timeout_is_killed_and_reported() {
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("still-running");
    script(
        d.path(),
        "slow.sh",
        &format!("sleep 3; touch {}", marker.display()),
    );
    let start = std::time::Instant::now();
    let err = plugins::run_once(&spec("slow", "slow.sh", 1), &ctx(d.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Timeout { secs: 1, .. }), "{err}");
    assert_eq!(err.kind(), "timeout");
    assert!(err.to_string().contains("plugin slow"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(3));
    // Killed, not left running: the marker never appears.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !marker.exists(),
        "the plugin kept running after its timeout"
    );
}

#[tokio::test]
async fn garbage_output_is_reported_with_name_and_reason() {
    let d = tempfile::tempdir().unwrap();
    script(d.path(), "garbage.sh", "echo 'hello, I am not JSON'");
    script(d.path(), "wrong.sh", r#"echo '[{"value": 1}]'"#);
    script(d.path(), "fails.sh", "echo boom >&2; exit 3");
    let c = ctx(d.path());
    let e = plugins::run_once(&spec("garbage", "garbage.sh", 5), &c)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "bad_output");
    let msg = e.to_string();
    assert!(
        msg.contains("plugin garbage") && msg.contains("not JSON") && msg.contains("hello"),
        "{msg}"
    );
    let e = plugins::run_once(&spec("wrong", "wrong.sh", 5), &c)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("plugin wrong") && e.to_string().contains("metric"),
        "{e}"
    );
    let e = plugins::run_once(&spec("fails", "fails.sh", 5), &c)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "exit");
    assert!(e.to_string().contains("boom"), "{e}");
    let e = plugins::run_once(&spec("esc", "../etc/passwd", 5), &c)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "bad_path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_runs_discovered_plugins_and_reports_failures_in_metrics() {
    let d = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    let plugins = d.path().join("plugins");
    script(
        &plugins,
        "1_hello.sh",
        r#"echo '[{"metric":"hello","value":42}]'"#,
    );
    script(&plugins, "1_junk.sh", "echo '{{{'");
    let agent = argus_agent::start(test_config(d.path(), vec![t.url()]))
        .await
        .unwrap();
    wait_for(30, "the plugin's point", || {
        t.points()
            .iter()
            .any(|p| p.metric == "hello" && p.value == 42.0)
    })
    .await;
    wait_for(30, "junk reported", || {
        agent
            .registry
            .render()
            .contains(r#"argus_agent_plugin_failures_total{plugin="junk.sh",reason="bad_output"}"#)
    })
    .await;
    wait_for(30, "agent.plugin.ok 0 for junk", || {
        t.points().iter().any(|p| {
            p.metric == "agent.plugin.ok"
                && p.tags.get("plugin") == Some("junk.sh")
                && p.value == 0.0
        })
    })
    .await;
    agent.stop().await;
}

/// `argus standalone`'s defaults: a relative data directory (`./data`), the agent's state in
/// `./data/agent` and its plugins in `./data/agent/plugins`, all relative to where it was
/// started. The plugin used to fail with "No such file or directory" (its relative path was
/// looked up from inside the plugin directory, the child's working directory). Run as the real
/// binary, so the relative paths resolve against its own working directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_run_under_standalone_relative_defaults() {
    let d = tempfile::tempdir().unwrap();
    let t = fake_transfer();
    script(
        &d.path().join("data/agent/plugins"),
        "1_rel.sh",
        // The working directory is the plugin directory, as documented.
        r#"test -x ./1_rel.sh && echo '[{"metric":"rel.ok","value":7}]'"#,
    );
    std::fs::write(
        d.path().join("agent.toml"),
        format!(
            "hostname = \"rel-host\"\nlisten = \"127.0.0.1:0\"\ntransfers = [\"{}\"]\n\
             token = \"t\"\nflush_interval_ms = 100\ncollect_host_metrics = false\n\
             remote_config = false\ndata_dir = \"./data/agent\"\n\
             plugin_dir = \"./data/agent/plugins\"\n",
            t.url()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_argus-agent"))
        .args(["--config", "agent.toml"])
        .current_dir(d.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(30, "the relative plugin's point", || {
        t.points()
            .iter()
            .any(|p| p.metric == "rel.ok" && p.value == 7.0 && p.endpoint == "rel-host")
    })
    .await;
    wait_for(30, "agent.plugin.ok 1 for the relative plugin", || {
        t.points().iter().any(|p| {
            p.metric == "agent.plugin.ok"
                && p.tags.get("plugin") == Some("rel.sh")
                && p.value == 1.0
        })
    })
    .await;
    child.kill().await.unwrap();
}
