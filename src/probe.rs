//! `argus probe`: a write-then-read prober. It writes synthetic series through a region's
//! transfer and reads them back through the query API, reporting any point that was
//! acknowledged but cannot be read. Users run it against their own installation.

use argus_core::wire::{Batch, PushResponse};
use argus_core::{Point, Tags};
use clap::Args;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Options of `argus probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Base URL of a transfer of the region under test.
    #[arg(long, default_value = "http://127.0.0.1:6060")]
    pub transfer: String,
    /// The agent token the probe pushes with.
    #[arg(long, env = "ARGUS_PROBE_AGENT_TOKEN", hide_env_values = true)]
    pub agent_token: String,
    /// Base URL of the web API the probe reads back through.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub web: String,
    /// The API token the probe reads with (same tenant as the agent token).
    #[arg(long, env = "ARGUS_PROBE_API_TOKEN", hide_env_values = true)]
    pub api_token: String,
    /// Number of synthetic series written each round.
    #[arg(long, default_value_t = 10)]
    pub series: usize,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 1)]
    pub interval_secs: u64,
    /// Rounds to run (0 runs until interrupted).
    #[arg(long, default_value_t = 10)]
    pub rounds: u64,
    /// How long an acknowledged point may take to become readable, in seconds.
    #[arg(long, default_value_t = 10)]
    pub read_deadline_secs: u64,
    /// The endpoint name of the synthetic series.
    #[arg(long, default_value = "argus-probe")]
    pub endpoint: String,
    /// PEM file of extra CA certificates to trust for https URLs (the installation's private
    /// CA, `/etc/argus/tls/ca.pem` on its nodes).
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// What a probe run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Points the transfer acknowledged.
    pub acknowledged: u64,
    /// Acknowledged points read back.
    pub read_back: u64,
    /// Acknowledged points not readable within the deadline.
    pub lost: u64,
    /// Pushes that failed (not acknowledged: not a loss, but a sign of trouble).
    pub push_errors: u64,
}

/// Runs the probe, printing a line per round, and returns the totals.
pub async fn run(a: &ProbeArgs) -> anyhow::Result<ProbeReport> {
    let tls = argus_core::TlsConfig {
        ca_file: a.ca_file.clone(),
        ..Default::default()
    };
    let client = argus_core::tls::client_builder(&tls)?
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut report = ProbeReport::default();
    // series index -> timestamps acknowledged and not yet seen
    let mut pending: BTreeMap<usize, Vec<(i64, Instant)>> = BTreeMap::new();
    let start_ts = argus_core::time::now_secs();
    let mut round = 0u64;
    loop {
        let ts = start_ts + round as i64;
        let points: Vec<Point> = (0..a.series)
            .map(|i| {
                Point::gauge(
                    &a.endpoint,
                    "argus.probe",
                    Tags::from_pairs([("series", i.to_string())]),
                    ts as f64,
                    ts,
                )
            })
            .collect();
        match push(&client, a, points).await {
            Ok(acc) if acc == a.series => {
                report.acknowledged += acc as u64;
                for i in 0..a.series {
                    pending.entry(i).or_default().push((ts, Instant::now()));
                }
            }
            Ok(acc) => {
                report.push_errors += 1;
                eprintln!(
                    "round {round}: transfer accepted only {acc} of {} points",
                    a.series
                );
            }
            Err(e) => {
                report.push_errors += 1;
                eprintln!("round {round}: push failed: {e}");
            }
        }
        check(&client, a, &mut pending, &mut report, start_ts, false).await;
        println!(
            "round {round}: acknowledged {} read back {} lost {} push errors {}",
            report.acknowledged, report.read_back, report.lost, report.push_errors
        );
        round += 1;
        if a.rounds != 0 && round >= a.rounds {
            break;
        }
        tokio::time::sleep(Duration::from_secs(a.interval_secs)).await;
    }
    // Final read: wait up to the deadline for everything still pending.
    let deadline = Instant::now() + Duration::from_secs(a.read_deadline_secs);
    while pending.values().any(|v| !v.is_empty()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        check(&client, a, &mut pending, &mut report, start_ts, false).await;
    }
    check(&client, a, &mut pending, &mut report, start_ts, true).await;
    Ok(report)
}

async fn push(
    client: &reqwest::Client,
    a: &ProbeArgs,
    points: Vec<Point>,
) -> anyhow::Result<usize> {
    let r = client
        .post(format!("{}/api/v1/push", a.transfer.trim_end_matches('/')))
        .bearer_auth(&a.agent_token)
        .json(&Batch { points })
        .send()
        .await?;
    if !r.status().is_success() {
        anyhow::bail!("{}: {}", r.status(), r.text().await.unwrap_or_default());
    }
    Ok(r.json::<PushResponse>().await?.accepted)
}

/// Reads every series back and settles pending points: seen ones count as read back; on the
/// final pass, or past the deadline, unseen ones count as lost.
async fn check(
    client: &reqwest::Client,
    a: &ProbeArgs,
    pending: &mut BTreeMap<usize, Vec<(i64, Instant)>>,
    report: &mut ProbeReport,
    start_ts: i64,
    final_pass: bool,
) {
    let url = format!(
        "{}/api/v1/query?endpoint={}&metric=argus.probe&start={}&end={}",
        a.web.trim_end_matches('/'),
        a.endpoint,
        start_ts,
        argus_core::time::now_secs() + 3600
    );
    let data: Vec<argus_core::query::SeriesData> =
        match client.get(&url).bearer_auth(&a.api_token).send().await {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
            Ok(r) => {
                eprintln!("read back failed: {}", r.status());
                return;
            }
            Err(e) => {
                eprintln!("read back failed: {e}");
                return;
            }
        };
    let mut seen: BTreeMap<usize, std::collections::HashSet<i64>> = BTreeMap::new();
    for s in data {
        if let Some(i) = s
            .key
            .tags
            .get("series")
            .and_then(|v| v.parse::<usize>().ok())
        {
            seen.entry(i)
                .or_default()
                .extend(s.points.iter().map(|(t, _)| *t));
        }
    }
    let deadline = Duration::from_secs(a.read_deadline_secs);
    for (i, list) in pending.iter_mut() {
        list.retain(|(ts, at)| {
            if seen.get(i).is_some_and(|s| s.contains(ts)) {
                report.read_back += 1;
                false
            } else if final_pass || at.elapsed() > deadline {
                report.lost += 1;
                eprintln!("LOST: series {i} timestamp {ts} was acknowledged but is not readable");
                false
            } else {
                true
            }
        });
    }
}
