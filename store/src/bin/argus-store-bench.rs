//! `argus-store-bench`: the storage benchmark recorded in docs/BENCHMARKS.md.
//!
//! Generates realistic host metrics (10 metrics per host at a 10 s step: CPU percentages and
//! load with two decimals, memory bytes, a constant, byte counters) and measures, for the Argus
//! engine in-process, the Argus node over HTTP and — in the same run, fed the same points — a
//! VictoriaMetrics single-node peer: ingest points/s, bytes per point on disk, range-query
//! latency (one series over one day), last value of 1,000 series and memory per million series.
//!
//! `cargo run --release -p argus-store --bin argus-store-bench -- [--hosts 100] [--hours 2]
//!  [--rss-series 200000] [--peer /usr/bin/victoria-metrics]`

use argus_core::benchfile::ratio;
use argus_core::point::{CounterType, Tags};
use argus_core::query::{Aggregation, LastQuery, RangeQuery, Selector};
use argus_core::{Point, TenantId};
use argus_store::{Engine, EngineConfig, StoreClient};
use clap::Parser;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Argus storage benchmark")]
struct Args {
    /// Hosts (10 series each).
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Hours of data at a 10 s step.
    #[arg(long, default_value_t = 2)]
    hours: i64,
    /// Series created to measure memory per series.
    #[arg(long, default_value_t = 200_000)]
    rss_series: usize,
    /// The VictoriaMetrics binary to compare with (skipped when absent).
    #[arg(long, default_value = "/usr/bin/victoria-metrics")]
    peer: String,
    /// Points per write request.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Save the figures to `bench/results/store.json` for docs/BENCHMARKS.md (needs the peer).
    #[arg(long)]
    save: bool,
}

const METRICS: [(&str, CounterType); 10] = [
    ("cpu.idle", CounterType::Gauge),
    ("cpu.user", CounterType::Gauge),
    ("cpu.system", CounterType::Gauge),
    ("load.1min", CounterType::Gauge),
    ("mem.used", CounterType::Gauge),
    ("mem.total", CounterType::Gauge),
    ("df.used.percent", CounterType::Gauge),
    ("net.if.in.bytes", CounterType::Counter),
    ("net.if.out.bytes", CounterType::Counter),
    ("disk.io.read_bytes", CounterType::Counter),
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

/// Points ordered by time (as agents send them), each host's 10 metrics per timestamp.
fn generate(hosts: usize, start: i64, steps: i64, endpoint_prefix: &str) -> Vec<Point> {
    let tenant = TenantId::new("bench").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut state: Vec<[f64; 10]> = (0..hosts)
        .map(|h| {
            [
                70.0,
                20.0,
                5.0,
                1.0,
                (4u64 << 30) as f64 + h as f64 * 4096.0,
                (16u64 << 30) as f64,
                40.0,
                1e9,
                5e8,
                2e9,
            ]
        })
        .collect();
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let mut out = Vec::with_capacity(hosts * steps as usize * 10);
    for i in 0..steps {
        for (h, st) in state.iter_mut().enumerate() {
            let ts = start + i * 10 + i64::from(rng.next() % 25 < 1); // rare 1 s jitter
            st[1] = round2((st[1] + (rng.unit() - 0.5) * 4.0).clamp(0.0, 60.0));
            st[2] = round2((st[2] + (rng.unit() - 0.5)).clamp(0.0, 20.0));
            st[0] = round2(100.0 - st[1] - st[2]);
            st[3] = round2((st[3] + (rng.unit() - 0.5) * 0.2).max(0.0));
            st[4] += ((rng.next() % 64) as f64 - 32.0) * 4096.0;
            st[6] = round2(st[6] + if rng.next() % 30 < 1 { 0.01 } else { 0.0 });
            st[7] += (rng.next() % 100_000) as f64;
            st[8] += (rng.next() % 50_000) as f64;
            st[9] += ((rng.next() % 10) * 4096) as f64;
            for (j, (m, ct)) in METRICS.iter().enumerate() {
                let mut p = Point::gauge(
                    &format!("{endpoint_prefix}{h:05}"),
                    m,
                    Tags::new(),
                    st[j],
                    ts,
                );
                p.tenant = tenant.clone();
                p.counter_type = *ct;
                out.push(p);
            }
        }
    }
    out
}

/// A scratch directory removed at the end.
struct TmpDir(std::path::PathBuf);
impl TmpDir {
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes per point of raw blocks only (rollups excluded), with a per-metric breakdown of the
/// chunk sizes on stderr.
fn raw_breakdown(dir: &Path, points: usize) -> f64 {
    let mut total = 0u64;
    let mut per: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with("r0-") || !name.ends_with(".blk") {
            continue;
        }
        let (b, keys) = argus_store::block::Block::open_with_keys(&e.path()).unwrap();
        total += b.bytes;
        for (en, key) in b.entries.iter().zip(keys) {
            let x = per.entry(key.metric).or_default();
            x.0 += en.chunk_bytes();
            x.1 += en.count;
        }
    }
    for (m, (bytes, n)) in per {
        eprintln!(
            "  {m:<20} {:.3} bytes/point in chunks",
            bytes as f64 / n as f64
        );
    }
    total as f64 / points as f64
}

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            n += if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            };
        }
    }
    n
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Figures {
    name: String,
    ingest_inproc: Option<f64>,
    ingest_inproc_cpu: Option<f64>,
    ingest_http: f64,
    bytes_per_point: f64,
    raw_bytes_per_point: Option<f64>,
    range_raw: Duration,
    range_step: Duration,
    last_1000: Duration,
    rss_per_million_mib: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rec = args.save.then(|| {
        argus_core::benchfile::Recorder::start(
            "store",
            &format!(
                "cargo run --release -p argus-store --bin argus-store-bench -- --hosts {} --hours {} --rss-series {} --save",
                args.hosts, args.hours, args.rss_series
            ),
        )
    });
    let now = argus_core::time::now_secs();
    let steps = args.hours * 360;
    let start = (now - 2 * 86400) / 7200 * 7200;
    let data = generate(args.hosts, start, steps, "host-");
    // One extra day-long series for the range query.
    let day: Vec<Point> = generate(1, now - 86400 - 600, 8640, "day-")
        .into_iter()
        .filter(|p| p.metric == "cpu.user")
        .collect();
    let npts = data.len();
    eprintln!("{npts} points, {} series", args.hosts * 10);
    let mut rows = Vec::new();

    // --- Argus in-process ---
    let tmp_dir = std::env::temp_dir().join(format!("argus-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp_dir)?;
    let tmp = TmpDir(tmp_dir);
    // Memory per series first, while the process is fresh: many series, one point each.
    let pid = std::process::id();
    let rss_per_million = {
        let e = Engine::open(&EngineConfig {
            data_dir: tmp.path().join("rss"),
            background: false,
            fsync: false,
            ..Default::default()
        })?;
        let pts = generate(args.rss_series / 10, now - 60, 1, "rss-");
        let before = rss_kib(pid);
        for b in pts.chunks(10_000) {
            e.write(b)?;
        }
        let after = rss_kib(pid);
        drop(pts);
        (after.saturating_sub(before)) as f64 / 1024.0 * 1e6 / args.rss_series as f64
    };
    let cfg = EngineConfig {
        data_dir: tmp.path().join("inproc"),
        background: false,
        ..Default::default()
    };
    let e = Engine::open(&cfg)?;
    let (t0, c0) = (Instant::now(), cpu_secs());
    for b in data.chunks(args.batch) {
        e.write(b)?;
    }
    let inproc = npts as f64 / t0.elapsed().as_secs_f64();
    let inproc_cpu = npts as f64 / (cpu_secs() - c0);
    e.write(&day)?;
    e.maintain(now)?;
    let st = e.stats();
    let bpp = st.block_bytes as f64 / (npts + day.len()) as f64;
    drop(e);
    let raw_bpp = raw_breakdown(&cfg.data_dir.join("blocks"), npts + day.len());

    // --- Argus node over HTTP (same engine, fresh directory) ---
    let node = argus_store::node::start(argus_store::node::StoreConfig {
        listen: "127.0.0.1:0".into(),
        engine: EngineConfig {
            data_dir: tmp.path().join("node"),
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    let client = StoreClient::new(node.server.url(), "", Duration::from_secs(120));
    let http = send_all(&data, args.batch, |b| {
        let c = client.clone();
        async move {
            c.write(&b)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!(e))
        }
    })
    .await?;
    client.write(&day).await?;
    node.engine.maintain(now)?;
    let q = |step: Option<u32>| RangeQuery {
        tenant: TenantId::new("bench").unwrap(),
        selector: Selector {
            endpoint: Some("day-00000".into()),
            metric: Some("cpu.user".into()),
            tags: vec![],
        },
        start: now - 86400,
        end: now,
        step,
        aggregation: Aggregation::Avg,
        group_by: None,
    };
    let mut raw_t = Vec::new();
    let mut step_t = Vec::new();
    let mut last_t = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = client.query_range(&q(None)).await?;
        raw_t.push(t.elapsed());
        assert!(r[0].points.len() >= 8000, "{}", r[0].points.len());
        let t = Instant::now();
        client.query_range(&q(Some(300))).await?;
        step_t.push(t.elapsed());
        let t = Instant::now();
        let l = client
            .last(&LastQuery {
                tenant: TenantId::new("bench").unwrap(),
                selector: Selector::default(),
            })
            .await?;
        last_t.push(t.elapsed());
        assert_eq!(l.len(), args.hosts * 10 + 1);
    }
    node.stop().await;

    rows.push(Figures {
        name: "argus-store".into(),
        ingest_inproc: Some(inproc),
        ingest_inproc_cpu: Some(inproc_cpu),
        ingest_http: http,
        bytes_per_point: bpp,
        raw_bytes_per_point: Some(raw_bpp),
        range_raw: median(raw_t),
        range_step: median(step_t),
        last_1000: median(last_t),
        rss_per_million_mib: rss_per_million,
    });

    if Path::new(&args.peer).exists() {
        match peer_vm(&args, &data, &day, now, tmp.path()).await {
            Ok(f) => rows.push(f),
            Err(e) => eprintln!("peer failed: {e:#}"),
        }
    } else {
        eprintln!("peer {} not installed; skipped", args.peer);
    }
    let (title, columns, cells, ratios) = table(&rows, npts, args.hosts * 10);
    println!(
        "{title}\n\n| {} |\n|{}",
        columns.join(" | "),
        "---|".repeat(columns.len())
    );
    for r in &cells {
        println!("| {} |", r.join(" | "));
    }
    if let Some(r) = &ratios {
        println!("\n{r}");
    }
    if let Some(mut rec) = rec {
        anyhow::ensure!(
            ratios.is_some(),
            "--save needs the peer: the saved figures are ratios to it"
        );
        let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
        rec.table(&title, &cols, cells);
        rec.finding(ratios.unwrap_or_default());
        let path = argus_core::benchfile::results_path(env!("CARGO_MANIFEST_DIR"), "store");
        rec.save(&path)?;
        println!("results: {}", path.display());
    }
    Ok(())
}

/// Sends `data` in batches from two concurrent senders; returns points per second.
async fn send_all<F, Fut>(data: &[Point], batch: usize, send: F) -> anyhow::Result<f64>
where
    F: Fn(Vec<Point>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let t0 = Instant::now();
    let chunks: Vec<Vec<Point>> = data.chunks(batch).map(|c| c.to_vec()).collect();
    let mut inflight = Vec::new();
    for c in chunks {
        inflight.push(tokio::spawn(send(c)));
        if inflight.len() == 2 {
            inflight.remove(0).await??;
        }
    }
    for h in inflight {
        h.await??;
    }
    Ok(data.len() as f64 / t0.elapsed().as_secs_f64())
}

fn prom_name(m: &str) -> String {
    m.replace('.', "_")
}

fn prom_text(points: &[Point]) -> String {
    let mut s = String::with_capacity(points.len() * 64);
    for p in points {
        use std::fmt::Write;
        let _ = writeln!(
            s,
            "{}{{endpoint=\"{}\"}} {} {}",
            prom_name(&p.metric),
            p.endpoint,
            p.value,
            p.timestamp * 1000
        );
    }
    s
}

async fn peer_vm(
    args: &Args,
    data: &[Point],
    day: &[Point],
    now: i64,
    tmp: &Path,
) -> anyhow::Result<Figures> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let dir = tmp.join("vm");
    let mut child = tokio::process::Command::new(&args.peer)
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .arg("-search.latencyOffset=0s")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss0 = rss_kib(pid);
    let url = format!("{base}/api/v1/import/prometheus");
    let ingest = send_all(data, args.batch, |b| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = zstd_free_gzip(prom_text(&b));
            let r = http
                .post(&url)
                .header("content-encoding", "gzip")
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "vm import: {}", r.status());
            Ok(())
        }
    })
    .await?;
    http.post(&url).body(prom_text(day)).send().await?;
    http.get(format!("{base}/internal/force_flush"))
        .send()
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = http
        .get(format!("{base}/internal/force_merge"))
        .send()
        .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let bytes = dir_bytes(&dir);
    let bpp = bytes as f64 / (data.len() + day.len()) as f64;
    let mut raw_t = Vec::new();
    let mut step_t = Vec::new();
    let mut last_t = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        // Raw samples of one series over a day.
        let r = http
            .get(format!("{base}/api/v1/export"))
            .query(&[
                ("match[]", "cpu_user{endpoint=\"day-00000\"}".to_string()),
                ("start", (now - 86400).to_string()),
                ("end", now.to_string()),
            ])
            .send()
            .await?
            .text()
            .await?;
        raw_t.push(t.elapsed());
        anyhow::ensure!(r.len() > 10_000, "vm export returned {} bytes", r.len());
        let t = Instant::now();
        http.get(format!("{base}/api/v1/query_range"))
            .query(&[
                (
                    "query",
                    "avg_over_time(cpu_user{endpoint=\"day-00000\"}[5m])".to_string(),
                ),
                ("start", (now - 86400).to_string()),
                ("end", now.to_string()),
                ("step", "300".to_string()),
            ])
            .send()
            .await?
            .text()
            .await?;
        step_t.push(t.elapsed());
        let t = Instant::now();
        let l = http
            .get(format!("{base}/api/v1/query"))
            .query(&[(
                "query",
                "last_over_time({endpoint=~\"host-.*\"}[3d])".to_string(),
            )])
            .send()
            .await?
            .text()
            .await?;
        last_t.push(t.elapsed());
        anyhow::ensure!(l.contains("host-"), "vm last: {l}");
    }
    let rss1 = rss_kib(pid);
    // Memory per series: the same many-series load.
    let pts = generate(args.rss_series / 10, now - 60, 1, "rss-");
    for b in pts.chunks(10_000) {
        http.post(&url).body(prom_text(b)).send().await?;
    }
    http.get(format!("{base}/internal/force_flush"))
        .send()
        .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss2 = rss_kib(pid);
    let _ = child.kill().await;
    eprintln!("vm rss: start {rss0} KiB, after load {rss1} KiB, after series {rss2} KiB");
    Ok(Figures {
        name: "victoria-metrics".into(),
        ingest_inproc: None,
        ingest_inproc_cpu: None,
        ingest_http: ingest,
        bytes_per_point: bpp,
        raw_bytes_per_point: None,
        range_raw: median(raw_t),
        range_step: median(step_t),
        last_1000: median(last_t),
        rss_per_million_mib: rss2.saturating_sub(rss1) as f64 / 1024.0 * 1e6
            / args.rss_series as f64,
    })
}

fn zstd_free_gzip(s: String) -> Vec<u8> {
    argus_core::wire::encode_body(argus_core::wire::Encoding::Gzip, s.as_bytes())
}

/// The run as a table (title, columns, cells) and, beside the peer, the ratios line.
fn table(
    rows: &[Figures],
    npts: usize,
    series: usize,
) -> (String, Vec<String>, Vec<Vec<String>>, Option<String>) {
    let title = format!(
        "{npts} points of {series} host series (10 s step), batches over HTTP from 2 senders"
    );
    let columns = [
        "system",
        "ingest in-process (points/s wall; per CPU-second)",
        "ingest over HTTP (points/s)",
        "bytes/point on disk (raw blocks only)",
        "1 series × 1 day raw (ms)",
        "same at 5 min step (ms)",
        &format!("last value of {series} series (ms)"),
        "RSS per 1M series (MiB)",
    ]
    .map(str::to_string)
    .to_vec();
    let cells = rows
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                f.ingest_inproc.map_or("–".into(), |x| {
                    format!("{x:.0}; {:.0}", f.ingest_inproc_cpu.unwrap_or(0.0))
                }),
                format!("{:.0}", f.ingest_http),
                format!(
                    "{:.3}{}",
                    f.bytes_per_point,
                    f.raw_bytes_per_point
                        .map_or(String::new(), |r| format!(" ({r:.3})"))
                ),
                format!("{:.2}", f.range_raw.as_secs_f64() * 1e3),
                format!("{:.2}", f.range_step.as_secs_f64() * 1e3),
                format!("{:.2}", f.last_1000.as_secs_f64() * 1e3),
                format!("{:.0}", f.rss_per_million_mib),
            ]
        })
        .collect();
    let ratios = (rows.len() == 2).then(|| {
        let (a, b) = (&rows[0], &rows[1]);
        format!(
            "Ratios {} ÷ {} (same run): ingest over HTTP {} (higher is better); bytes/point {}, raw range query {}, 5 min step {}, last value {}, RSS per series {} (lower is better).",
            a.name,
            b.name,
            ratio(a.ingest_http / b.ingest_http),
            ratio(a.bytes_per_point / b.bytes_per_point),
            ratio(a.range_raw.as_secs_f64() / b.range_raw.as_secs_f64()),
            ratio(a.range_step.as_secs_f64() / b.range_step.as_secs_f64()),
            ratio(a.last_1000.as_secs_f64() / b.last_1000.as_secs_f64()),
            ratio(a.rss_per_million_mib / b.rss_per_million_mib.max(1e-9)),
        )
    });
    (title, columns, cells, ratios)
}
