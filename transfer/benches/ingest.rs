//! Points per second per CPU core through the transfer into a storage node, for each ingest
//! format (Argus batch zstd, Prometheus remote write, InfluxDB line protocol), and in the same
//! run Prometheus (remote-write receiver) and VictoriaMetrics (remote write and line protocol)
//! fed the same series by the same load generator.
//!
//! ```text
//! cargo bench -p argus-transfer --bench ingest
//! ARGUS_BENCH_SERIES=20000 ARGUS_BENCH_ROUNDS=20 cargo bench -p argus-transfer --bench ingest
//! ```
//! Peers are found through `ARGUS_TEST_PROMETHEUS_BIN` / `ARGUS_TEST_VICTORIAMETRICS_BIN` or on
//! the PATH (`prometheus`, `victoria-metrics`), and skipped when absent.
//!
//! CPU is read from /proc: the peers' process time, and for Argus (transfer and storage node in
//! this process) the process time minus the load generator's own thread. Each system is
//! measured from its first request until 3 s after its last, so asynchronous flushing is
//! counted. Argus acknowledges only durable points (the storage node fsyncs each write); the
//! peers acknowledge once in memory and their WAL.

use argus_core::auth::hash_token;
use argus_core::wire::{encode_body, Batch, Encoding};
use argus_core::{Point, Tags, TenantId};
use argus_transfer::config::TenantTokens;
use argus_transfer::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator the argus-transfer and argus-store binaries use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of a /proc stat file, in seconds (USER_HZ = 100 on Linux).
fn cpu_secs(stat: &str) -> f64 {
    let s = std::fs::read_to_string(stat).unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

struct Workload {
    /// The Argus batch as agents send it: the binary point frame, zstd.
    frames: Vec<Vec<u8>>,
    /// The Argus batch as JSON, zstd (scripts and other senders).
    argus: Vec<Vec<u8>>,
    rw: Vec<Vec<u8>>,
    lp: Vec<Vec<u8>>,
    points: usize,
}

fn workload(series: usize, rounds: usize, batch: usize) -> Workload {
    let now = argus_core::time::now_secs();
    let mut all = Vec::with_capacity(series * rounds);
    for r in 0..rounds {
        let ts = now - ((rounds - r) as i64) * 10;
        for i in 0..series {
            let tags = Tags::from_pairs([("dc", format!("dc-{}", i % 3))]);
            all.push(Point::gauge(
                &format!("host-{}", i / 10),
                &format!("bench.m{}", i % 10),
                tags,
                (r * 7 + i) as f64 * 0.5,
                ts,
            ));
        }
    }
    let mut w = Workload {
        frames: vec![],
        argus: vec![],
        rw: vec![],
        lp: vec![],
        points: all.len(),
    };
    for chunk in all.chunks(batch) {
        let json = Batch {
            points: chunk.to_vec(),
        }
        .to_json();
        w.argus.push(encode_body(Encoding::Zstd, &json));
        w.frames.push(argus_core::wire::frame::encode_batch(chunk));
        let req = WriteRequest {
            timeseries: chunk
                .iter()
                .map(|p| TimeSeries {
                    labels: vec![
                        Label {
                            name: "__name__".into(),
                            value: p.metric.replace('.', "_"),
                        },
                        Label {
                            name: "dc".into(),
                            value: p.tags.get("dc").unwrap_or("").into(),
                        },
                        Label {
                            name: "instance".into(),
                            value: p.endpoint.clone(),
                        },
                    ],
                    samples: vec![Sample {
                        value: p.value,
                        timestamp: p.timestamp * 1000,
                    }],
                })
                .collect(),
        };
        w.rw.push(remote_write::encode(&req));
        let mut lp = String::new();
        for p in chunk {
            let _ = writeln!(
                lp,
                "{},host={},dc={} value={} {}",
                p.metric.replace('.', "_"),
                p.endpoint,
                p.tags.get("dc").unwrap_or(""),
                p.value,
                p.timestamp
            );
        }
        w.lp.push(lp.into_bytes());
    }
    w
}

struct Target {
    system: &'static str,
    format: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    bodies: Arc<Vec<Vec<u8>>>,
    /// /proc stat file of the serving process, or None for this process.
    pid: Option<u32>,
}

struct Outcome {
    wall: f64,
    server_cpu: f64,
    failures: usize,
}

/// Sends every body with `conc` concurrent requests from a dedicated thread; returns wall time,
/// the server's CPU seconds and the count of non-2xx answers.
fn drive(t: &Target, conc: usize) -> Outcome {
    let stat = match t.pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let before = cpu_secs(&stat);
    let bodies = t.bodies.clone();
    let url = t.url.clone();
    let headers = t.headers.clone();
    let (wall, gen_cpu, failures) = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let gen0 = cpu_secs("/proc/thread-self/stat");
        let start = Instant::now();
        let failures = rt.block_on(async move {
            let http = reqwest::Client::new();
            let next = Arc::new(AtomicUsize::new(0));
            let failed = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..conc {
                let (http, next, failed, bodies, url, headers) = (
                    http.clone(),
                    next.clone(),
                    failed.clone(),
                    bodies.clone(),
                    url.clone(),
                    headers.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(b) = bodies.get(i) else { break };
                        let mut req = http.post(&url).body(b.clone());
                        for (k, v) in &headers {
                            req = req.header(*k, v);
                        }
                        match req.send().await {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                            }
                            Ok(r) => {
                                if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                    let s = r.status();
                                    eprintln!("{url}: {s} {}", r.text().await.unwrap_or_default());
                                }
                            }
                            Err(e) => {
                                if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                    eprintln!("{url}: {e}");
                                }
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            failed.load(Ordering::Relaxed)
        });
        let wall = start.elapsed().as_secs_f64();
        (wall, cpu_secs("/proc/thread-self/stat") - gen0, failures)
    })
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut server_cpu = cpu_secs(&stat) - before;
    if t.pid.is_none() {
        server_cpu -= gen_cpu;
    }
    Outcome {
        wall,
        server_cpu,
        failures,
    }
}

fn find_bin(var: &str, name: &str) -> Option<PathBuf> {
    if let Ok(v) = std::env::var(var) {
        if !v.is_empty() {
            return Some(PathBuf::from(v));
        }
    }
    if std::env::var("ARGUS_BENCH_PEERS").is_ok_and(|v| v == "0") {
        return None;
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_ok(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..300 {
        let ok = rt.block_on(async {
            reqwest::get(url)
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        });
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} never answered");
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> std::process::Child {
    let f = std::fs::File::create(log).unwrap();
    std::process::Command::new(bin)
        .args(args)
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()))
}

fn main() {
    argus_store::allocator::tune();
    let series = env("ARGUS_BENCH_SERIES", 10_000);
    let rounds = env("ARGUS_BENCH_ROUNDS", 20);
    let batch = env("ARGUS_BENCH_BATCH", 2_000);
    let conc = env("ARGUS_BENCH_CONCURRENCY", 4);
    let w = workload(series, rounds, batch);
    let dir = tempfile::tempdir().unwrap();
    eprintln!(
        "{} series x {} rounds = {} points per format, batches of {batch}, {conc} concurrent",
        series, rounds, w.points
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tenants = ["bench-frame", "bench-argus", "bench-rw", "bench-lp"];
    let (store, transfer) = rt.block_on(async {
        let store = argus_store::node::start(argus_store::node::StoreConfig {
            listen: "127.0.0.1:0".into(),
            workers: 2,
            engine: argus_store::EngineConfig {
                data_dir: dir.path().join("store"),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let transfer = argus_transfer::start(argus_transfer::TransferConfig {
            listen: "127.0.0.1:0".into(),
            stores: vec![store.server.url()],
            replicas: 1,
            workers: 2,
            data_dir: dir.path().join("transfer"),
            // The peers have no quotas: neither does Argus here.
            quotas: argus_transfer::config::QuotaConfig {
                default: argus_transfer::config::Quota::unlimited(),
                ..Default::default()
            },
            tenants: tenants
                .iter()
                .map(|t| TenantTokens {
                    tenant: TenantId::new(*t).unwrap(),
                    token_sha256: vec![hash_token(&format!("tok-{t}"))],
                })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap();
        (store, transfer)
    });
    let turl = transfer.server.url();
    let frames = Arc::new(w.frames);
    let argus = Arc::new(w.argus);
    let rw = Arc::new(w.rw);
    let lp = Arc::new(w.lp);
    let mut targets = vec![
        Target {
            system: "Argus",
            format: "Argus batch (zstd binary)",
            url: format!("{turl}/api/v1/push"),
            headers: vec![
                ("authorization", "Bearer tok-bench-frame".into()),
                ("content-encoding", "zstd".into()),
                ("content-type", argus_core::wire::frame::CONTENT_TYPE.into()),
            ],
            bodies: frames.clone(),
            pid: None,
        },
        Target {
            system: "Argus",
            format: "Argus batch (zstd JSON)",
            url: format!("{turl}/api/v1/push"),
            headers: vec![
                ("authorization", "Bearer tok-bench-argus".into()),
                ("content-encoding", "zstd".into()),
                ("content-type", "application/json".into()),
            ],
            bodies: argus.clone(),
            pid: None,
        },
        Target {
            system: "Argus",
            format: "remote write",
            url: format!("{turl}/api/v1/write"),
            headers: vec![
                ("authorization", "Bearer tok-bench-rw".into()),
                ("content-encoding", "snappy".into()),
                ("content-type", "application/x-protobuf".into()),
            ],
            bodies: rw.clone(),
            pid: None,
        },
        Target {
            system: "Argus",
            format: "line protocol",
            url: format!("{turl}/api/v2/write?precision=s"),
            headers: vec![("authorization", "Token tok-bench-lp".into())],
            bodies: lp.clone(),
            pid: None,
        },
    ];
    let mut children = Vec::new();
    let mut versions = Vec::new();
    if let Some(bin) = find_bin("ARGUS_TEST_PROMETHEUS_BIN", "prometheus") {
        let port = free_port();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            "global:\n  scrape_interval: 1h\nstorage:\n  tsdb:\n    out_of_order_time_window: 2h\n",
        )
        .unwrap();
        let child = spawn(
            &bin,
            &[
                format!("--config.file={}", cfg.display()),
                format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--web.enable-remote-write-receiver".into(),
            ],
            &dir.path().join("prometheus.log"),
        );
        wait_ok(&format!("http://127.0.0.1:{port}/-/ready"));
        versions.push(version(&bin, "--version"));
        targets.push(Target {
            system: "Prometheus",
            format: "remote write",
            url: format!("http://127.0.0.1:{port}/api/v1/write"),
            headers: vec![
                ("content-encoding", "snappy".into()),
                ("content-type", "application/x-protobuf".into()),
                ("x-prometheus-remote-write-version", "0.1.0".into()),
            ],
            bodies: rw.clone(),
            pid: Some(child.id()),
        });
        children.push(child);
    } else {
        eprintln!("Prometheus not found: skipped");
    }
    if let Some(bin) = find_bin("ARGUS_TEST_VICTORIAMETRICS_BIN", "victoria-metrics") {
        for (format, path, bodies, headers) in [
            (
                "remote write",
                "/api/v1/write",
                rw.clone(),
                vec![
                    ("content-encoding", "snappy".to_string()),
                    ("content-type", "application/x-protobuf".to_string()),
                ],
            ),
            (
                "line protocol",
                "/api/v2/write?precision=s",
                lp.clone(),
                vec![],
            ),
        ] {
            // A fresh server per format, so each is measured alone.
            let port = free_port();
            let child = spawn(
                &bin,
                &[
                    format!("-httpListenAddr=127.0.0.1:{port}"),
                    format!(
                        "-storageDataPath={}",
                        dir.path().join(format!("vm-{port}")).display()
                    ),
                ],
                &dir.path().join(format!("vm-{port}.log")),
            );
            wait_ok(&format!("http://127.0.0.1:{port}/health"));
            targets.push(Target {
                system: "VictoriaMetrics",
                format,
                url: format!("http://127.0.0.1:{port}{path}"),
                headers,
                bodies,
                pid: Some(child.id()),
            });
            children.push(child);
        }
        versions.push(version(&bin, "-version"));
    } else {
        eprintln!("VictoriaMetrics not found: skipped");
    }

    let mut rows = Vec::new();
    for t in &targets {
        let o = drive(t, conc);
        let per_core = w.points as f64 / o.server_cpu.max(0.001);
        let per_sec = w.points as f64 / o.wall;
        eprintln!(
            "{:16} {:24} {:>12.0} points/s wall {:>12.0} points per CPU-second  ({:.2} CPU-s, {} failed requests)",
            t.system, t.format, per_sec, per_core, o.server_cpu, o.failures
        );
        rows.push((t.system, t.format, per_sec, per_core, o.failures));
    }
    let argus_best = |fmt: &str| {
        rows.iter()
            .find(|r| r.0 == "Argus" && r.1 == fmt)
            .map(|r| r.3)
    };
    println!("\n| system | format | points/s (wall) | points per CPU-second | Argus (same format) ÷ this, per core | failed requests |");
    println!("|---|---|---|---|---|---|");
    for (sys, fmt, per_sec, per_core, failures) in &rows {
        let ratio = argus_best(fmt)
            .map(|a| argus_core::benchfile::ratio(a / per_core))
            .unwrap_or_else(|| "–".into());
        println!("| {sys} | {fmt} | {per_sec:.0} | {per_core:.0} | {ratio} | {failures} |");
    }
    println!("\nArgus per core ÷ peer per core (this run):");
    for (_, afmt, _, acore, _) in rows.iter().filter(|r| r.0 == "Argus") {
        for (psys, pfmt, _, pcore, _) in rows.iter().filter(|r| r.0 != "Argus") {
            println!(
                "  Argus {afmt} ÷ {psys} {pfmt}: {}",
                argus_core::benchfile::ratio(acore / pcore)
            );
        }
    }
    for v in versions {
        println!("\npeer: {v}");
    }
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    rt.block_on(async {
        transfer.stop().await;
        store.stop().await;
    });
}

fn version(bin: &Path, flag: &str) -> String {
    std::process::Command::new(bin)
        .arg(flag)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).to_string();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or("").to_string()
        })
        .unwrap_or_default()
}
