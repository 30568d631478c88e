//! The ingest measurement: replay `steps` steps of the fleet's data, oldest first and ending
//! now, into one system as fast as it acknowledges, with a fixed number of requests in flight.
//!
//! Bodies are encoded on a separate thread one step ahead of the sender. Each step is sent whole
//! before the next starts, so every series arrives in time order (Prometheus refuses
//! out-of-order samples). The server's CPU seconds over the replay (plus a short settle, so that
//! work a system defers past its acknowledgement is counted too) give points per core-second.

use crate::encode::{self, Body};
use crate::results::IngestResult;
use crate::servers::{Kind, Server};
use crate::workload::Fleet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to drive one ingest.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Scenario label for the results.
    pub scenario: String,
    /// Steps of data to send.
    pub steps: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// Hosts per Argus push.
    pub argus_hosts_per_batch: usize,
    /// Hosts per remote-write request.
    pub rw_hosts_per_batch: usize,
    /// Wait after the last answer before reading CPU time.
    pub settle: Duration,
}

/// Points acknowledged and requests failed so far.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// The push URL of a system.
pub(crate) fn push_url(kind: Kind, server: &Server) -> String {
    match kind {
        Kind::Argus | Kind::ArgusVm => format!("{}/api/v1/push", server.url),
        Kind::ArgusRemoteWrite | Kind::Prometheus | Kind::VictoriaMetrics => {
            format!("{}/api/v1/write", server.url)
        }
    }
}

/// Sends one body to `url` as `kind` expects it; counts what was acknowledged or failed.
pub(crate) async fn send_one(
    client: &reqwest::Client,
    kind: Kind,
    url: &str,
    token: Option<&str>,
    body: Body,
    c: &Counters,
) {
    let mut req = client.post(url);
    req = match kind {
        Kind::Argus | Kind::ArgusVm => req
            .header("content-type", argus_core::wire::frame::CONTENT_TYPE)
            .header("content-encoding", "zstd")
            .bearer_auth(token.unwrap_or_default()),
        _ => req
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .header("x-prometheus-remote-write-version", "0.1.0"),
    };
    if kind == Kind::ArgusRemoteWrite {
        req = req.bearer_auth(token.unwrap_or_default());
    }
    let points = body.points as u64;
    let result = req.body(body.bytes).send().await;
    let ok = match result {
        Ok(r) if r.status().is_success() => match kind {
            Kind::Argus | Kind::ArgusVm => match r.json::<argus_core::wire::PushResponse>().await {
                Ok(pr) => {
                    c.accepted.fetch_add(pr.accepted as u64, Ordering::Relaxed);
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable push answer");
                    false
                }
            },
            // Argus answers remote write with its push answer (or 204 when all went in).
            Kind::ArgusRemoteWrite if r.status() != reqwest::StatusCode::NO_CONTENT => {
                match r.json::<argus_core::wire::PushResponse>().await {
                    Ok(pr) => {
                        c.accepted.fetch_add(pr.accepted as u64, Ordering::Relaxed);
                        pr.rejected.is_empty()
                    }
                    Err(_) => false,
                }
            }
            _ => {
                c.accepted.fetch_add(points, Ordering::Relaxed);
                true
            }
        },
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            if c.errors.load(Ordering::Relaxed) < 3 {
                tracing::warn!(system = kind.name(), %status, body = %text.chars().take(300).collect::<String>(), "push refused");
            }
            false
        }
        Err(e) => {
            if c.errors.load(Ordering::Relaxed) < 3 {
                tracing::warn!(system = kind.name(), error = %e, "push failed");
            }
            false
        }
    };
    if !ok {
        c.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Replays the fleet into `server` and stops it; returns what was measured.
pub(crate) async fn run(
    kind: Kind,
    mut server: Server,
    fleet: Arc<Fleet>,
    plan: &Plan,
) -> anyhow::Result<IngestResult> {
    let steps = plan.steps.max(1);
    let now = argus_core::time::now_secs();
    let t0 = (now - now.rem_euclid(fleet.step)) - (steps as i64 - 1) * fleet.step;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Body>>(2);
    let gen_fleet = fleet.clone();
    let (ahb, rhb) = (plan.argus_hosts_per_batch, plan.rw_hosts_per_batch);
    let generator = std::thread::spawn(move || {
        let hosts: Vec<usize> = (0..gen_fleet.hosts.len()).collect();
        for k in 0..steps as i64 {
            let bodies = match kind {
                Kind::Argus | Kind::ArgusVm => encode::argus_step(&gen_fleet, &hosts, k, t0, ahb),
                _ => encode::remote_write_step(&gen_fleet, &hosts, k, t0, rhb),
            };
            if tx.blocking_send(bodies).is_err() {
                return;
            }
        }
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .timeout(Duration::from_secs(120))
        .build()?;
    let url = push_url(kind, &server);
    let counters = Arc::new(Counters::default());
    let sem = Arc::new(tokio::sync::Semaphore::new(plan.concurrency.max(1)));
    let tokens = Arc::new(server.tokens.clone());
    let mut sent = 0u64;
    let cpu0 = server.cpu_seconds()?;
    let start = Instant::now();
    while let Some(bodies) = rx.recv().await {
        let mut tasks = tokio::task::JoinSet::new();
        for body in bodies {
            sent += body.points as u64;
            let permit = sem.clone().acquire_owned().await?;
            let (client, url, c, tokens) = (
                client.clone(),
                url.clone(),
                counters.clone(),
                tokens.clone(),
            );
            tasks.spawn(async move {
                let token = tokens.get(body.tenant).map(String::as_str);
                send_one(&client, kind, &url, token, body, &c).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        server.check_alive()?;
    }
    let wall = start.elapsed().as_secs_f64();
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))?;
    tokio::time::sleep(plan.settle).await;
    let cpu = server.cpu_seconds()? - cpu0;
    let (_, peak_rss) = server.rss()?;
    let data_dir = server.data_dir.clone();
    server.stop(Duration::from_secs(120)).await?;
    let disk = crate::procstat::disk_bytes(&data_dir);
    let accepted = counters.accepted.load(Ordering::Relaxed);
    let per_core = if cpu > 0.0 {
        accepted as f64 / cpu
    } else {
        0.0
    };
    let realtime_pps = fleet.total_series() as f64 / fleet.step as f64;
    Ok(IngestResult {
        system: kind.name().into(),
        scenario: plan.scenario.clone(),
        hosts: fleet.hosts.len(),
        series: fleet.total_series(),
        steps,
        points_sent: sent,
        points_accepted: accepted,
        request_errors: counters.errors.load(Ordering::Relaxed),
        wall_secs: wall,
        server_cpu_secs: cpu,
        points_per_sec: accepted as f64 / wall.max(1e-9),
        points_per_core_sec: per_core,
        realtime_cores: if per_core > 0.0 {
            realtime_pps / per_core
        } else {
            0.0
        },
        peak_rss_bytes: peak_rss,
        disk_bytes: disk,
        bytes_per_point: if accepted > 0 {
            disk as f64 / accepted as f64
        } else {
            0.0
        },
        rounds: Vec::new(),
    })
}
