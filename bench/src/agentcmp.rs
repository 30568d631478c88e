//! Agent footprint: the Argus agent and Prometheus' node_exporter on this host over the same
//! window, each collecting at the same interval (the agent pushes every step; node_exporter is
//! scraped every step, as a Prometheus would).

use crate::results::AgentResult;
use crate::servers::{self, Server};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Metric lines (not comments) in a Prometheus text exposition: the series one scrape yields.
pub(crate) fn count_series(exposition: &str) -> usize {
    exposition
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// The value of an unlabelled counter in a Prometheus text exposition.
pub(crate) fn counter_value(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

fn footprint(
    s: &Server,
    cpu0: f64,
    window: f64,
    mode: &str,
    series: usize,
) -> anyhow::Result<AgentResult> {
    let cpu = s.cpu_seconds()? - cpu0;
    let (rss, peak) = s.rss()?;
    Ok(AgentResult {
        system: s.name.clone(),
        mode: mode.into(),
        window_secs: window,
        cpu_secs: cpu,
        cpu_percent: 100.0 * cpu / window.max(1e-9),
        rss_bytes: rss,
        peak_rss_bytes: peak,
        series,
    })
}

/// The agent command: the `argus-agent` binary next to this one (or `ARGUS_BENCH_AGENT_BIN`),
/// else this binary's `serve-agent`, which runs the same library.
/// Also says which, for the results.
fn agent_command(
    listen: &str,
    transfer: &str,
    token: &str,
    step: u64,
    dir: &Path,
) -> anyhow::Result<(Command, &'static str)> {
    let me = std::env::current_exe()?;
    let sibling = me.with_file_name("argus-agent");
    let bin =
        servers::find_bin("ARGUS_BENCH_AGENT_BIN", &[]).or(sibling.is_file().then_some(sibling));
    Ok(match bin {
        Some(b) => {
            let cfg = dir.join("agent.toml");
            std::fs::write(
                &cfg,
                format!("listen = {listen:?}\ntransfers = [{transfer:?}]\ntoken = {token:?}\nstep_secs = {step}\n"),
            )?;
            let mut c = Command::new(b);
            c.arg("--config").arg(cfg);
            (c, "argus-agent binary")
        }
        None => {
            let mut c = Command::new(me);
            c.args([
                "serve-agent",
                "--listen",
                listen,
                "--transfer",
                transfer,
                "--token",
                token,
            ])
            .arg("--step-secs")
            .arg(step.to_string());
            (c, "agent library run by argus-bench serve-agent")
        }
    })
}

/// Runs both for `window` with collection every `step` seconds; `argus` is a running Argus
/// server the agent pushes to. Skips node_exporter when it is not installed.
pub(crate) async fn run(
    argus: &Server,
    dir: &Path,
    window: Duration,
    step: u64,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<AgentResult>> {
    let client = reqwest::Client::new();
    let port = servers::free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let (cmd, how) = agent_command(&listen, &argus.url, &argus.tokens[0], step, dir)?;
    let mut agent = servers::spawn_plain(
        "argus-agent",
        cmd,
        format!("http://{listen}"),
        dir.join("agent.log"),
    )?;
    servers::wait_ready(&mut agent, "/health").await?;
    let ne_bin = servers::find_bin(
        "ARGUS_BENCH_NODE_EXPORTER_BIN",
        &["prometheus-node-exporter", "node_exporter"],
    );
    let mut exporter = match &ne_bin {
        Some(b) => {
            let p = servers::free_port()?;
            let mut c = Command::new(b);
            c.arg(format!("--web.listen-address=127.0.0.1:{p}"));
            let mut s = servers::spawn_plain(
                "node_exporter",
                c,
                format!("http://127.0.0.1:{p}"),
                dir.join("node_exporter.log"),
            )?;
            servers::wait_ready(&mut s, "/metrics").await?;
            Some(s)
        }
        None => {
            notes.push("node_exporter not installed: agent compared with nothing".into());
            None
        }
    };
    let a0 = agent.cpu_seconds()?;
    let e0 = exporter
        .as_ref()
        .map(|e| e.cpu_seconds())
        .transpose()?
        .unwrap_or(0.0);
    let sent0 = agent_sent(&client, &agent).await;
    let start = Instant::now();
    let mut series = 0;
    let mut scrapes = 0;
    while start.elapsed() < window {
        if let Some(e) = &exporter {
            let text = client
                .get(format!("{}/metrics", e.url))
                .send()
                .await?
                .text()
                .await?;
            series = count_series(&text);
            scrapes += 1;
        }
        let next = Duration::from_secs(step * scrapes.max(1) as u64);
        let left = next
            .saturating_sub(start.elapsed())
            .min(window.saturating_sub(start.elapsed()));
        tokio::time::sleep(left.max(Duration::from_millis(50))).await;
    }
    let w = start.elapsed().as_secs_f64();
    let sent = agent_sent(&client, &agent).await - sent0;
    let rounds = (w / step as f64).floor().max(1.0);
    let mut out = vec![footprint(
        &agent,
        a0,
        w,
        &format!("{how}; collect and push every {step} s"),
        (sent / rounds).round() as usize,
    )?];
    if let Some(e) = &exporter {
        out.push(footprint(
            e,
            e0,
            w,
            &format!("scraped every {step} s ({scrapes} scrapes)"),
            series,
        )?);
    }
    agent.stop(Duration::from_secs(30)).await?;
    if let Some(e) = exporter.take() {
        e.stop(Duration::from_secs(30)).await?;
    }
    Ok(out)
}

async fn agent_sent(client: &reqwest::Client, agent: &Server) -> f64 {
    let text = match client.get(format!("{}/metrics", agent.url)).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    counter_value(&text, "argus_agent_points_sent_total").unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expositions() {
        let t = "# HELP x y\n# TYPE x counter\nx 12\nnode_cpu{cpu=\"0\"} 3.5\n\nargus_agent_points_sent_total 4200\n";
        assert_eq!(count_series(t), 3);
        assert_eq!(
            counter_value(t, "argus_agent_points_sent_total"),
            Some(4200.0)
        );
        assert_eq!(counter_value(t, "missing"), None);
    }
}
