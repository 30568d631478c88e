//! `argus-bench serve-argus` and `serve-agent`: the Argus side of the benchmark as a child
//! process, so its CPU and memory are measured apart from the load generator.
//!
//! serve-argus runs what one region's ingest path runs — a transfer in front of a storage node
//! (the embedded engine), talking real HTTP on loopback — with the benchmark's tenants.

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
pub fn parse_tenant(s: &str) -> anyhow::Result<argus_transfer::config::TenantTokens> {
    let (t, h) = s
        .split_once('=')
        .with_context(|| format!("--tenant {s:?}: expected TENANT=SHA256"))?;
    Ok(argus_transfer::config::TenantTokens {
        tenant: TenantId::new(t).map_err(|e| anyhow::anyhow!("--tenant {t:?}: {e}"))?,
        token_sha256: vec![h.to_string()],
    })
}

/// Runs storage node + transfer until SIGTERM; prints `READY <transfer url>` once serving.
#[allow(clippy::field_reassign_with_default)] // on purpose, see below
pub async fn serve_argus(
    data_dir: PathBuf,
    fsync: bool,
    tenants: Vec<String>,
) -> anyhow::Result<()> {
    let tenants = tenants
        .iter()
        .map(|s| parse_tenant(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Field by field: the engine's config grows as the store developer adds options.
    let mut engine = argus_store::EngineConfig::default();
    engine.data_dir = data_dir;
    engine.fsync = fsync;
    let store = argus_store::node::start(argus_store::node::StoreConfig {
        listen: "127.0.0.1:0".into(),
        engine,
        ..Default::default()
    })
    .await?;
    let transfer = argus_transfer::start(argus_transfer::TransferConfig {
        listen: "127.0.0.1:0".into(),
        stores: vec![store.server.url()],
        tenants,
        ..Default::default()
    })
    .await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY {}", transfer.server.url())?;
        out.flush()?;
    }
    wait_for_stop().await?;
    transfer.stop().await;
    store.stop().await;
    Ok(())
}

/// Runs the Argus agent (the library the `argus-agent` binary runs) until SIGTERM.
pub async fn serve_agent(
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
        ..Default::default()
    })
    .await?;
    wait_for_stop().await?;
    agent.stop().await;
    Ok(())
}
