//! `argus-bench serve-argus` and `serve-agent`: the Argus side of the benchmark as a child
//! process, so its CPU and memory are measured apart from the load generator.
//!
//! serve-argus runs what one region's ingest path runs — a transfer in front of a storage node
//! (the embedded engine) in one process, as `argus standalone` runs them: writes go to the node
//! without HTTP, queries over loopback HTTP — with the benchmark's tenants.

use anyhow::Context;
use argus_core::TenantId;
use std::io::Write;
use std::path::PathBuf;

/// Waits for SIGTERM or Ctrl-C.
async fn wait_for_stop() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Parses `tenant=sha256hex`.
pub(crate) fn parse_tenant(s: &str) -> anyhow::Result<argus_transfer::config::TenantTokens> {
    let (t, h) = s
        .split_once('=')
        .with_context(|| format!("--tenant {s:?}: expected TENANT=SHA256"))?;
    Ok(argus_transfer::config::TenantTokens {
        tenant: TenantId::new(t).map_err(|e| anyhow::anyhow!("--tenant {t:?}: {e}"))?,
        token_sha256: vec![h.to_string()],
    })
}

/// The alerting path of the alert-latency scenario: which hosts carry the strategy, where
/// notifications go, and the alarm's grouping settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Alerting {
    /// Tenant of the alert hosts.
    pub tenant: String,
    /// Hosts in the host group bound to the template holding the strategy.
    pub hosts: Vec<String>,
    /// The metric watched.
    pub metric: String,
    /// The judge condition, e.g. `all(#1) > 90`.
    pub condition: String,
    /// The contact's webhook.
    pub webhook: String,
    /// Alarm's storm window (its `group_wait_secs`).
    pub group_wait_secs: u64,
    /// Alarm's loop interval when not woken.
    pub poll_interval_ms: u64,
}

/// Judge + alarm for `a`, in this process, data under `dir`; returns them and the judge URL.
async fn start_alerting(
    dir: &std::path::Path,
    a: &Alerting,
) -> anyhow::Result<(argus_judge::Running, argus_alarm::Running, String)> {
    use serde_json::json;
    let notify: argus_core::notify::TenantNotifyConfig = serde_json::from_value(json!({
        "tenant": a.tenant, "version": 1,
        "contacts": [{"id": 1, "tenant": a.tenant, "name": "bench", "webhook_url": a.webhook}],
        "teams": [],
        "subscriptions": [{"id": 1, "tenant": a.tenant, "target": {"kind": "priority", "max_priority": 5},
                           "contact_id": 1, "channels": ["webhook"], "send_recovery": false}]
    }))
    .context("building the alarm's notify config")?;
    let alarm = argus_alarm::start(argus_alarm::AlarmConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("alarm"),
        tenants: vec![notify],
        group_wait_secs: a.group_wait_secs,
        poll_interval_ms: a.poll_interval_ms,
        allow_private_webhooks: true,
        rate_limit_per_minute: 0,
        ..Default::default()
    })
    .await?;
    let strategies = json!({"version": 1, "tenants": [{
        "tenant": a.tenant, "version": 1,
        "templates": [{"id": 1, "tenant": a.tenant, "name": "bench", "strategies": [
            {"id": 1, "metric": a.metric, "condition": a.condition, "priority": 1, "max_alarms": 3, "note": "bench"}
        ]}],
        "host_groups": [{"id": 1, "tenant": a.tenant, "name": "bench", "hosts": a.hosts, "templates": [1]}]
    }]});
    std::fs::create_dir_all(dir)?;
    let file = dir.join("strategies.json");
    std::fs::write(&file, strategies.to_string())?;
    let judge = argus_judge::start(argus_judge::JudgeConfig {
        listen: "127.0.0.1:0".into(),
        alarm: vec![format!("http://{}", alarm.addr)],
        data_dir: dir.join("judge"),
        strategies_file: Some(file),
        pull_interval_secs: 1,
        ..Default::default()
    })
    .await?;
    let url = format!("http://{}", judge.addr);
    Ok((judge, alarm, url))
}

/// The rules path as `argus standalone` runs it: an alarm pulling its configuration from web,
/// and a judge pulling the rules from web, reading the region's series from the transfer and
/// writing recorded points back to it, its alerts to the alarm.
async fn start_ruler(
    web_dir: &std::path::Path,
    internal_token: &str,
    web_url: &str,
    transfer_url: &str,
    pull: u64,
) -> anyhow::Result<(argus_judge::Running, argus_alarm::Running)> {
    let dir = web_dir.with_file_name("rules");
    let alarm = argus_alarm::start(argus_alarm::AlarmConfig {
        listen: "127.0.0.1:0".into(),
        internal_token: internal_token.into(),
        data_dir: dir.join("alarm"),
        web_url: web_url.into(),
        config_poll_secs: pull,
        workers: 1,
        ..Default::default()
    })
    .await?;
    let judge = argus_judge::start(argus_judge::JudgeConfig {
        listen: "127.0.0.1:0".into(),
        region: "local".into(),
        internal_token: internal_token.into(),
        config_center: Some(web_url.into()),
        alarm: vec![format!("http://{}", alarm.addr)],
        data_dir: dir.join("judge"),
        pull_interval_secs: pull,
        workers: 1,
        shards: 1,
        rules: argus_judge::config::RulesConfig {
            transfers: vec![transfer_url.into()],
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    Ok((judge, alarm))
}

/// Runs storage node + transfer (and judge + alarm when `alerting` names a JSON [`Alerting`]
/// file; and the web service with the Prometheus HTTP API when `web_api_token_sha256` is given,
/// the token acting for the first tenant; and with `rules`, a judge evaluating the rules stored
/// in web and an alarm for their alerts, wired as `argus standalone` wires them) until SIGTERM;
/// prints `WEB <web url>` (with web) and then `READY <transfer url>` once serving.
#[allow(clippy::field_reassign_with_default)] // on purpose, see below
#[allow(clippy::too_many_arguments)] // one per flag of the hidden serve-argus command
pub(crate) async fn serve_argus(
    data_dir: PathBuf,
    fsync: bool,
    tenants: Vec<String>,
    alerting: Option<PathBuf>,
    web_api_token_sha256: Option<String>,
    remote_storage: Option<String>,
    rules_pull_secs: Option<u64>,
    quota_points_per_sec: f64,
) -> anyhow::Result<()> {
    if rules_pull_secs.is_some() && web_api_token_sha256.is_none() {
        anyhow::bail!("--rules needs the web service (--web-api-token-sha256)");
    }
    // Nodes authenticate each other, as deployed.
    let internal_token = argus_core::auth::generate_token("argus_int");
    let alerting = match alerting {
        Some(f) => {
            let a: Alerting =
                serde_json::from_slice(&std::fs::read(&f)?).context("reading the alerting file")?;
            Some(start_alerting(&data_dir.join("alerting"), &a).await?)
        }
        None => None,
    };
    let tenants = tenants
        .iter()
        .map(|s| parse_tenant(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Field by field: the engine's config grows as the store developer adds options.
    let mut engine = argus_store::EngineConfig::default();
    let web_dir = data_dir.join("web");
    let first_tenant = tenants.first().map(|t| t.tenant.clone());
    engine.data_dir = data_dir;
    engine.fsync = fsync;
    let store = match &remote_storage {
        Some(_) => None,
        None => Some(
            argus_store::node::start(argus_store::node::StoreConfig {
                listen: "127.0.0.1:0".into(),
                internal_token: internal_token.clone(),
                engine,
                ..Default::default()
            })
            .await?,
        ),
    };
    // On an existing TSDB the transfer's spools are the region's only local data: beside the
    // others, not in a temporary directory.
    let transfer_dir = match &remote_storage {
        Some(_) => web_dir.with_file_name("transfer"),
        None => PathBuf::new(),
    };
    let transfer = argus_transfer::start(argus_transfer::TransferConfig {
        listen: "127.0.0.1:0".into(),
        internal_token: internal_token.clone(),
        stores: store.iter().map(|s| s.server.url()).collect(),
        remote_storage: match &remote_storage {
            Some(root) => argus_transfer::remote::RemoteStorageConfig {
                write_url: format!("{}/api/v1/write", root.trim_end_matches('/')),
                read_url: root.clone(),
                // The fleet's histogram buckets over an hour are a few hundred MB of JSON from
                // the backend: above the default bound, which is for interactive use.
                max_response_bytes: 2 << 30,
                // Six such selections at once (a dashboard opening) take longer than the
                // interactive default of 10 s: wait as long as web's query timeout does.
                timeout_ms: 120_000,
                ..Default::default()
            },
            None => Default::default(),
        },
        data_dir: transfer_dir,
        judges: alerting.iter().map(|(_, _, url)| url.clone()).collect(),
        tenants,
        // The peers have no quotas: neither does Argus here, so the figures compare engines
        // (unless a scenario asks for one).
        quotas: argus_transfer::config::QuotaConfig {
            default: argus_transfer::config::Quota {
                points_per_sec: quota_points_per_sec,
                burst: quota_points_per_sec,
                ..argus_transfer::config::Quota::unlimited()
            },
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    // The console's query path as deployed in a region: web asks the transfer's query endpoint,
    // which reads the storage node (the Prometheus API selects there, evaluates in web).
    let web = match (&web_api_token_sha256, first_tenant) {
        (Some(hash), Some(first)) => {
            std::fs::create_dir_all(&web_dir)?;
            let cfg = argus_web::WebConfig {
                listen: "127.0.0.1:0".into(),
                internal_token: internal_token.clone(),
                regions: vec![argus_web::config::RegionEndpoint::new(
                    "local",
                    transfer.server.url(),
                )],
                bootstrap_tokens: vec![argus_web::config::BootstrapToken {
                    tenant: first,
                    token_sha256: hash.clone(),
                }],
                data_dir: web_dir.display().to_string(),
                ..Default::default()
            };
            Some(argus_web::start(cfg).await?)
        }
        _ => None,
    };
    let ruler = match (&web, rules_pull_secs) {
        (Some(w), Some(pull)) => Some(
            start_ruler(
                &web_dir,
                &internal_token,
                &w.server.url(),
                &transfer.server.url(),
                pull,
            )
            .await?,
        ),
        _ => None,
    };
    {
        let mut out = std::io::stdout().lock();
        if let Some(w) = &web {
            writeln!(out, "WEB {}", w.server.url())?;
        }
        writeln!(out, "READY {}", transfer.server.url())?;
        out.flush()?;
    }
    wait_for_stop().await?;
    if let Some(w) = web {
        w.stop().await;
    }
    transfer.stop().await;
    if let Some(store) = store {
        store.stop().await;
    }
    let judges_and_alarms = alerting.map(|(j, a, _)| (j, a)).into_iter().chain(ruler);
    let mut exit = false;
    for (judge, alarm) in judges_and_alarms {
        // Their state does not matter after the scenario; do not let a slow shutdown hold the
        // run up.
        let limit = std::time::Duration::from_secs(5);
        if tokio::time::timeout(limit, judge.stop()).await.is_err() {
            tracing::warn!("judge did not stop within 5 s");
        }
        if tokio::time::timeout(limit, alarm.stop()).await.is_err() {
            tracing::warn!("alarm did not stop within 5 s");
        }
        exit = true;
    }
    if exit {
        // Background tasks of judge and alarm may still hold the runtime.
        std::process::exit(0);
    }
    Ok(())
}

/// Runs the Argus agent (the library the `argus-agent` binary runs) until SIGTERM.
pub(crate) async fn serve_agent(
    listen: String,
    transfer: String,
    token: String,
    step_secs: u64,
) -> anyhow::Result<()> {
    let agent = argus_agent::start(argus_agent::AgentConfig {
        listen,
        transfers: vec![transfer],
        token,
        step_secs,
        // As measured before agents pulled their config from the transfers: push only.
        remote_config: false,
        ..Default::default()
    })
    .await?;
    wait_for_stop().await?;
    agent.stop().await;
    Ok(())
}
