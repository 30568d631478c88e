//! Alert latency: from the moment the value that crosses a threshold leaves the host to the
//! moment a webhook receiver gets the notification, for each alert host, p50/p99.
//!
//! - Argus: the point is pushed to the transfer, which hands it to the judge (`all(#1) > 90`),
//!   whose event goes to alarm, which posts to the contact's webhook. Clock starts before the push.
//! - Prometheus + Alertmanager: a local exporter's gauge flips above 90; Prometheus scrapes it,
//!   evaluates the rule `cpu_busy > 90`, sends the alert to Alertmanager, which posts to its
//!   webhook receiver after `group_wait`. Clock starts when the exporter's value flips.
//!
//! All cases run at once (each with its own hosts, receiver and servers): latency is dominated by
//! intervals and waits, not by CPU. The hosts cross their threshold one after another, further
//! apart than Argus's default storm window, so each alert is measured alone; a storm's merging
//! is the alarm's tests' business.

use crate::results::AlertResult;
use crate::servers::{self, Server};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use argus_core::wire::{encode_body, Batch, Encoding};
use argus_core::{Point, Tags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One configuration to measure.
#[derive(Debug, Clone)]
pub(crate) enum Case {
    /// Argus with alarm's storm window and loop interval.
    Argus {
        /// Alarm `group_wait_secs`.
        group_wait_secs: u64,
        /// Alarm `poll_interval_ms`.
        poll_interval_ms: u64,
        /// Label in the results.
        label: &'static str,
    },
    /// Prometheus + Alertmanager.
    Prometheus {
        /// Scrape and evaluation interval, seconds.
        interval_secs: u64,
        /// Alertmanager `group_wait`, seconds.
        group_wait_secs: u64,
        /// Label in the results.
        label: &'static str,
    },
}

impl Case {
    fn label(&self) -> &'static str {
        match self {
            Case::Argus { label, .. } | Case::Prometheus { label, .. } => label,
        }
    }

    fn settings(&self) -> String {
        match self {
            Case::Argus { group_wait_secs, poll_interval_ms, .. } => format!(
                "judge `all(#1) > 90`; alarm group_wait_secs {group_wait_secs}, poll_interval_ms {poll_interval_ms}"
            ),
            Case::Prometheus { interval_secs, group_wait_secs, .. } => format!(
                "scrape and evaluation every {interval_secs} s, rule `cpu_busy > 90` (no `for`), Alertmanager group_by [alertname, endpoint], group_wait {group_wait_secs} s"
            ),
        }
    }

    /// Longest plausible latency of this case (how long to wait after the last crossing).
    fn grace(&self) -> Duration {
        match self {
            Case::Argus {
                group_wait_secs, ..
            } => Duration::from_secs(group_wait_secs + 15),
            Case::Prometheus {
                interval_secs,
                group_wait_secs,
                ..
            } => Duration::from_secs(2 * interval_secs + group_wait_secs + 20),
        }
    }
}

/// Requests received, with arrival time and body.
type Hits = Arc<Mutex<Vec<(Instant, String)>>>;

/// The exporter's gauges: (host, value).
type Gauges = Arc<Mutex<Vec<(String, f64)>>>;

/// A tiny HTTP server: records POST bodies (webhook receiver) and serves `/metrics` from a
/// shared list of (host, value) gauges (exporter).
struct Http {
    url: String,
    hits: Hits,
    gauges: Gauges,
    served: argus_core::http::Served,
}

async fn record(body: web::Bytes, hits: web::Data<Hits>) -> HttpResponse {
    hits.lock()
        .expect("hits lock")
        .push((Instant::now(), String::from_utf8_lossy(&body).into_owned()));
    HttpResponse::Ok().finish()
}

async fn exposition(g: web::Data<Gauges>) -> HttpResponse {
    let mut s = String::from("# TYPE cpu_busy gauge\n");
    for (h, v) in g.lock().expect("gauges lock").iter() {
        s.push_str(&format!("cpu_busy{{endpoint=\"{h}\"}} {v}\n"));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(s)
}

impl Http {
    fn start(gauges: Vec<(String, f64)>) -> anyhow::Result<Http> {
        let hits: Hits = Arc::default();
        let gauges = Arc::new(Mutex::new(gauges));
        let (listener, addr) = argus_core::http::bind("127.0.0.1:0", "bench receiver")?;
        let (h, g) = (web::Data::new(hits.clone()), web::Data::new(gauges.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(h.clone())
                .app_data(g.clone())
                .route("/metrics", web::get().to(exposition))
                .default_service(web::to(record))
        })
        .workers(1)
        .listen(listener)?
        .run();
        Ok(Http {
            url: format!("http://{addr}"),
            hits,
            gauges,
            served: argus_core::http::Served::spawn(addr, server),
        })
    }

    /// When a request mentioning `name` first arrived after `since`.
    fn first_mention(&self, name: &str, since: Instant) -> Option<Instant> {
        self.hits
            .lock()
            .expect("hits lock")
            .iter()
            .find(|(t, body)| *t >= since && body.contains(name))
            .map(|(t, _)| *t)
    }

    fn set(&self, host: &str, v: f64) {
        for g in self.gauges.lock().expect("gauges lock").iter_mut() {
            if g.0 == host {
                g.1 = v;
            }
        }
    }
}

/// Host names of a case: unique, and none is a substring of another (`-h001x`).
fn hosts(label: &str, n: usize) -> Vec<String> {
    let slug: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    (0..n).map(|i| format!("{slug}-h{i:03}x")).collect()
}

async fn push(
    client: &reqwest::Client,
    server: &Server,
    host: &str,
    value: f64,
    ts: i64,
) -> anyhow::Result<()> {
    let p = Point::gauge(host, "cpu.busy", Tags::new(), value, ts);
    let body = encode_body(Encoding::Zstd, &Batch { points: vec![p] }.to_json());
    let r = client
        .post(format!("{}/api/v1/push", server.url))
        .bearer_auth(&server.tokens[0])
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "push answered {}", r.status());
    Ok(())
}

/// Waits until every host was notified or `deadline`; returns latencies (ms, sorted) and misses.
async fn collect(
    http: &Http,
    names: &[String],
    sent: &[Instant],
    deadline: Instant,
) -> (Vec<f64>, usize) {
    loop {
        let got: Vec<Option<Instant>> = names
            .iter()
            .zip(sent)
            .map(|(n, s)| http.first_mention(n, *s))
            .collect();
        if got.iter().all(Option::is_some) || Instant::now() >= deadline {
            let mut lat: Vec<f64> = got
                .iter()
                .zip(sent)
                .filter_map(|(g, s)| g.map(|g| g.duration_since(*s).as_secs_f64() * 1000.0))
                .collect();
            lat.sort_by(f64::total_cmp);
            let missed = names.len() - lat.len();
            return (lat, missed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run_argus(
    case: &Case,
    dir: &Path,
    n: usize,
    spacing: Duration,
) -> anyhow::Result<AlertResult> {
    let Case::Argus {
        group_wait_secs,
        poll_interval_ms,
        label,
    } = case
    else {
        unreachable!()
    };
    let http = Http::start(vec![])?;
    let names = hosts(label, n);
    let alerting = crate::node::Alerting {
        tenant: "t01".into(),
        hosts: names.clone(),
        metric: "cpu.busy".into(),
        condition: "all(#1) > 90".into(),
        webhook: format!("{}/hook", http.url),
        group_wait_secs: *group_wait_secs,
        poll_interval_ms: *poll_interval_ms,
    };
    std::fs::create_dir_all(dir)?;
    let file = dir.join("alerting.json");
    std::fs::write(&file, serde_json::to_vec(&alerting)?)?;
    let server = servers::start_argus(dir, &["t01".to_string()], true, Some(&file)).await?;
    let client = reqwest::Client::new();
    let now = argus_core::time::now_secs();
    for h in &names {
        push(&client, &server, h, 20.0, now - 10).await?;
    }
    // Let the judge load its strategies and alarm take its lease.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut sent = Vec::new();
    let start = Instant::now();
    for (i, h) in names.iter().enumerate() {
        tokio::time::sleep_until((start + spacing * i as u32).into()).await;
        sent.push(Instant::now());
        push(&client, &server, h, 95.0, argus_core::time::now_secs()).await?;
    }
    let (lat, missed) = collect(&http, &names, &sent, Instant::now() + case.grace()).await;
    server.stop(Duration::from_secs(30)).await?;
    http.served.stop().await;
    Ok(AlertResult {
        system: label.to_string(),
        settings: case.settings(),
        latencies_ms: lat,
        missed,
    })
}

async fn run_prometheus(
    case: &Case,
    dir: &Path,
    n: usize,
    spacing: Duration,
    prom: &Path,
    am: &Path,
) -> anyhow::Result<AlertResult> {
    let Case::Prometheus {
        interval_secs,
        group_wait_secs,
        label,
    } = case
    else {
        unreachable!()
    };
    let names = hosts(label, n);
    let http = Http::start(names.iter().map(|h| (h.clone(), 20.0)).collect())?;
    std::fs::create_dir_all(dir)?;
    let am_cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &am_cfg,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, endpoint]\n  group_wait: {group_wait_secs}s\n  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}/hook\n        send_resolved: false\n",
            http.url
        ),
    )?;
    let log = dir.join("alertmanager.log");
    // The port is free when picked but may be taken before Alertmanager binds it: a bind
    // failure is tried again on another port.
    let mut attempt = 0;
    let (am_port, am_server) = loop {
        attempt += 1;
        let am_port = servers::free_port()?;
        let mut cmd = std::process::Command::new(am);
        cmd.arg(format!("--config.file={}", am_cfg.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=");
        let mut am_server = servers::spawn_plain(
            "alertmanager",
            cmd,
            format!("http://127.0.0.1:{am_port}"),
            log.clone(),
        )?;
        match servers::wait_ready(&mut am_server, "/-/ready").await {
            Ok(()) => break (am_port, am_server),
            Err(_)
                if attempt < 3
                    && std::fs::read_to_string(&log)
                        .is_ok_and(|l| l.contains("address already in use")) =>
            {
                eprintln!("  alertmanager: port {am_port} was taken meanwhile, trying another");
            }
            Err(e) => return Err(e),
        }
    };
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: bench\n    rules:\n      - alert: CpuBusy\n        expr: cpu_busy > 90\n",
    )?;
    let exporter = http.url.trim_start_matches("http://").to_string();
    let config = format!(
        "global:\n  scrape_interval: {interval_secs}s\n  evaluation_interval: {interval_secs}s\nrule_files:\n  - {}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: ['{exporter}']\n",
        dir.join("rules.yml").display()
    );
    let prom_server = servers::start_prometheus(prom, dir, &config).await?;
    // Wait for the first scrape, so every host starts below the threshold in Prometheus.
    let client = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(3 * interval_secs + 30);
    loop {
        let r = client
            .get(format!("{}/api/v1/query", prom_server.url))
            .query(&[("query", "count(cpu_busy)")])
            .send()
            .await?
            .text()
            .await?;
        if r.contains(&format!("\"{n}\"")) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "prometheus never scraped the bench exporter: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut sent = Vec::new();
    let start = Instant::now();
    for (i, h) in names.iter().enumerate() {
        tokio::time::sleep_until((start + spacing * i as u32).into()).await;
        sent.push(Instant::now());
        http.set(h, 95.0);
    }
    let (lat, missed) = collect(&http, &names, &sent, Instant::now() + case.grace()).await;
    prom_server.stop(Duration::from_secs(30)).await?;
    am_server.stop(Duration::from_secs(30)).await?;
    http.served.stop().await;
    Ok(AlertResult {
        system: label.to_string(),
        settings: case.settings(),
        latencies_ms: lat,
        missed,
    })
}

/// The cases of a run: Argus default and fastest, Prometheus + Alertmanager fastest, and (unless
/// `quick`) with usual production settings.
pub(crate) fn cases(quick: bool) -> Vec<Case> {
    let mut c = vec![
        Case::Argus {
            group_wait_secs: 5,
            poll_interval_ms: 500,
            label: "argus (default: group_wait 5 s)",
        },
        Case::Argus {
            group_wait_secs: 0,
            poll_interval_ms: 50,
            label: "argus (fastest: group_wait 0)",
        },
        Case::Prometheus {
            interval_secs: 1,
            group_wait_secs: 0,
            label: "prometheus+alertmanager (fastest: 1 s, group_wait 0)",
        },
    ];
    if !quick {
        c.push(Case::Prometheus {
            interval_secs: 15,
            group_wait_secs: 30,
            label: "prometheus+alertmanager (usual: 15 s, group_wait 30 s)",
        });
    }
    c
}

/// Runs every case at once; a case whose peer is not installed is skipped with a note.
pub(crate) async fn run(
    dir: &Path,
    n: usize,
    spacing: Duration,
    quick: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<AlertResult>> {
    let prom = servers::find_bin("ARGUS_BENCH_PROMETHEUS_BIN", &["prometheus"]);
    let am = servers::find_bin(
        "ARGUS_BENCH_ALERTMANAGER_BIN",
        &["prometheus-alertmanager", "alertmanager"],
    );
    let mut tasks = tokio::task::JoinSet::new();
    for (i, case) in cases(quick).into_iter().enumerate() {
        let d: PathBuf = dir.join(format!("alert-{i}"));
        match (&case, &prom, &am) {
            (Case::Argus { .. }, _, _) => {
                tasks.spawn(async move {
                    run_argus(&case, &d, n, spacing)
                        .await
                        .with_context(|| case.label())
                });
            }
            (Case::Prometheus { .. }, Some(p), Some(a)) => {
                let (p, a) = (p.clone(), a.clone());
                tasks.spawn(async move {
                    run_prometheus(&case, &d, n, spacing, &p, &a)
                        .await
                        .with_context(|| case.label())
                });
            }
            _ => notes.push(format!(
                "{}: prometheus or alertmanager not installed, skipped",
                case.label()
            )),
        }
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r??);
    }
    out.sort_by(|a, b| a.system.cmp(&b.system));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_never_contain_each_other() {
        let h = hosts("argus (default)", 120);
        for (i, a) in h.iter().enumerate() {
            for (j, b) in h.iter().enumerate() {
                assert!(i == j || !a.contains(b.as_str()), "{a} contains {b}");
            }
        }
    }
}
