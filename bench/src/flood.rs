//! Fairness under a flood: one tenant's push latency alone, then while another tenant pushes
//! at ten times its quota. Both tenants have the same quota; the quiet one stays far inside it.
//! A fair transfer keeps the quiet tenant's latency close to its latency alone, because the
//! flooding tenant's excess is refused from its requests' heads, before any decoding.

use crate::encode::{self, Body};
use crate::results::{quantile, FloodResult};
use crate::servers;
use crate::workload::Fleet;
use anyhow::Context;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenario's parameters.
#[derive(Debug, Clone)]
pub(crate) struct FloodOpts {
    /// Every tenant's quota, points per second.
    pub quota: f64,
    /// Seconds of each phase (alone, flooded).
    pub secs: u64,
    /// The quiet tenant's requests per second (one host's step each).
    pub quiet_rps: u64,
    /// The flooding tenant's offered rate as a multiple of its quota.
    pub factor: f64,
    /// The flooding tenant's concurrent senders.
    pub senders: usize,
}

/// A phase's latencies of the quiet tenant, milliseconds.
async fn quiet_phase(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    bodies: &[Body],
    next: &mut usize,
    o: &FloodOpts,
) -> (Vec<f64>, u64) {
    let mut lat = Vec::new();
    let mut failed = 0;
    let every = Duration::from_secs_f64(1.0 / o.quiet_rps.max(1) as f64);
    let end = Instant::now() + Duration::from_secs(o.secs);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < end {
        tick.tick().await;
        let b = &bodies[*next % bodies.len()];
        *next += 1;
        let t = Instant::now();
        let r = client
            .post(url)
            .header("content-type", argus_core::wire::frame::CONTENT_TYPE)
            .header("content-encoding", "zstd")
            .bearer_auth(token)
            .body(b.bytes.clone())
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            _ => failed += 1,
        }
    }
    lat.sort_by(f64::total_cmp);
    (lat, failed)
}

/// Runs the scenario against an Argus started under `dir`.
pub(crate) async fn run(dir: &Path, o: &FloodOpts) -> anyhow::Result<FloodResult> {
    // Two tenants, 40 hosts each: t01 is quiet, t02 floods.
    let fleet = Fleet::new(80, 2, 44);
    let quiet_hosts: Vec<usize> = (0..80).filter(|h| fleet.hosts[*h].tenant == 0).collect();
    let flood_hosts: Vec<usize> = (0..80).filter(|h| fleet.hosts[*h].tenant == 1).collect();
    let steps = (o.secs * 2 * o.quiet_rps / quiet_hosts.len() as u64 + 2) as i64;
    let now = argus_core::time::now_secs();
    let t0 = now - now.rem_euclid(fleet.step) - steps * fleet.step;
    // Bodies made before the clock starts, so the harness's encoding is not measured.
    let quiet: Vec<Body> = (0..steps)
        .flat_map(|k| encode::argus_step(&fleet, &quiet_hosts, k, t0, 1))
        .collect();
    // About 1,000 points a request, as a batching client floods.
    let per = (1_000 / fleet.series_per_host()).max(1);
    let flood: Vec<Body> = (0..steps.min(20))
        .flat_map(|k| encode::argus_step(&fleet, &flood_hosts, k, t0, per))
        .collect();
    let flood_points = flood.iter().map(|b| b.points).sum::<usize>() as f64 / flood.len() as f64;

    std::fs::create_dir_all(dir)?;
    let server = servers::start_argus_with_quota(dir, &fleet.tenants, o.quota).await?;
    let url = format!("{}/api/v1/push", server.url);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.senders + 4)
        .build()?;
    let mut next = 0;
    // Warm-up: connections, series created.
    let _ = quiet_phase(
        &client,
        &url,
        &server.tokens[0],
        &quiet,
        &mut next,
        &FloodOpts {
            secs: 2,
            ..o.clone()
        },
    )
    .await;
    let (alone, failed_alone) =
        quiet_phase(&client, &url, &server.tokens[0], &quiet, &mut next, o).await;

    // The flood: `senders` loops, each paced to its share of factor x quota.
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let accepted_points = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = Arc::new(flood);
    let per_sender_rps = o.factor * o.quota / flood_points / o.senders.max(1) as f64;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.senders.max(1) {
        let (client, url, token) = (client.clone(), url.clone(), server.tokens[1].clone());
        let (sent, refused, accepted_points, stop, flood) = (
            sent.clone(),
            refused.clone(),
            accepted_points.clone(),
            stop.clone(),
            flood.clone(),
        );
        tasks.spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / per_sender_rps.max(0.1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let b = &flood[n % flood.len()];
                n += 7;
                sent.fetch_add(1, Ordering::Relaxed);
                match client
                    .post(&url)
                    .header("content-type", argus_core::wire::frame::CONTENT_TYPE)
                    .header("content-encoding", "zstd")
                    .bearer_auth(&token)
                    .body(b.bytes.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        accepted_points.fetch_add(b.points as u64, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        let _ = r.bytes().await;
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    // Let the flood use up its burst first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (s0, a0) = (
        sent.load(Ordering::Relaxed),
        accepted_points.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let (flooded, failed_flooded) =
        quiet_phase(&client, &url, &server.tokens[0], &quiet, &mut next, o).await;
    let secs = started.elapsed().as_secs_f64();
    let (s1, a1) = (
        sent.load(Ordering::Relaxed),
        accepted_points.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    server
        .stop(Duration::from_secs(30))
        .await
        .context("stopping argus")?;
    let q = |v: &[f64], x| quantile(v, x).unwrap_or(f64::NAN);
    Ok(FloodResult {
        quota_points_per_sec: o.quota,
        quiet_requests_per_sec: o.quiet_rps,
        quiet_points_per_request: quiet[0].points,
        phase_secs: o.secs,
        alone_p50_ms: q(&alone, 0.5),
        alone_p99_ms: q(&alone, 0.99),
        alone_requests: alone.len(),
        alone_failed: failed_alone,
        flooded_p50_ms: q(&flooded, 0.5),
        flooded_p99_ms: q(&flooded, 0.99),
        flooded_requests: flooded.len(),
        flooded_failed: failed_flooded,
        flood_offered_points_per_sec: (s1 - s0) as f64 * flood_points / secs,
        flood_accepted_points_per_sec: (a1 - a0) as f64 / secs,
        flood_requests: sent.load(Ordering::Relaxed),
        flood_refused: refused.load(Ordering::Relaxed),
    })
}
