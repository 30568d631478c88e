//! The systems under test, each as its own child process so that its CPU time and memory can be
//! read from /proc without counting the load generator: Argus (storage node + transfer, served
//! by `argus-bench serve-argus`), Prometheus with its remote-write receiver, and VictoriaMetrics.

use crate::procstat;
use anyhow::{bail, Context};
use argus_core::auth::{generate_token, hash_token};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which system a server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Argus transfer + embedded storage engine, fed Argus batches as agents push them.
    Argus,
    /// The same Argus, fed the peers' remote-write requests (the transfer's `/api/v1/write`).
    ArgusRemoteWrite,
    /// Argus keeping its points in a VictoriaMetrics (`[remote_storage]`), fed agent batches.
    ArgusVm,
    /// Prometheus TSDB fed by remote write.
    Prometheus,
    /// VictoriaMetrics single-node fed by remote write.
    VictoriaMetrics,
}

impl Kind {
    /// Short name used in results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Argus => "argus",
            Kind::ArgusRemoteWrite => "argus-rw",
            Kind::ArgusVm => "argus-vm",
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoriametrics",
        }
    }

    /// Parses a short name.
    pub(crate) fn parse(s: &str) -> Option<Kind> {
        match s.trim() {
            "argus" => Some(Kind::Argus),
            "argus-rw" => Some(Kind::ArgusRemoteWrite),
            "argus-vm" => Some(Kind::ArgusVm),
            "prometheus" | "prom" => Some(Kind::Prometheus),
            "victoriametrics" | "vm" => Some(Kind::VictoriaMetrics),
            _ => None,
        }
    }
}

/// A running server process.
pub(crate) struct Server {
    /// What it is (`argus`, `prometheus`, `node_exporter`, ...).
    pub name: String,
    /// Base URL.
    pub url: String,
    /// Where it keeps its data.
    pub data_dir: PathBuf,
    /// Agent tokens by tenant index (Argus only).
    pub tokens: Vec<String>,
    /// Base URL of the web service (the Prometheus HTTP API) when Argus runs one, else empty.
    pub web_url: String,
    /// The API token of the first tenant on `web_url` (Argus with web only).
    pub api_token: String,
    child: Option<Child>,
    log: PathBuf,
    /// A process it needs, measured with it (Argus on VictoriaMetrics: the VictoriaMetrics).
    companion: Option<Box<Server>>,
}

/// A free loopback TCP port (bound then released: the child binds it a moment later).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(l.local_addr()?.port())
}

/// The binary named by env var `var`, else the first of `names` found on PATH.
pub(crate) fn find_bin(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(v) = std::env::var(var) {
        let p = PathBuf::from(v);
        if p.is_file() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The first line of `bin <flag>` (stdout or stderr): the version banner; when the binary prints
/// none (Debian's VictoriaMetrics build), the version of Debian package `package`.
pub(crate) fn version_of(bin: &Path, flag: &str, package: &str) -> String {
    let banner = Command::new(bin)
        .arg(flag)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    if !banner.is_empty() {
        return banner;
    }
    Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${Package} ${Version} (Debian package)",
            package,
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl Server {
    /// Process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// CPU seconds used so far (with its companion's).
    /// Sends SIGHUP (Prometheus re-reads its configuration and rule files).
    pub(crate) fn reload(&self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child by its pid.
        if unsafe { libc::kill(self.pid() as i32, libc::SIGHUP) } != 0 {
            bail!(
                "signalling {}: {}",
                self.name,
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    pub(crate) fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let mine = procstat::cpu_seconds(self.pid())?;
        Ok(match &self.companion {
            Some(c) => mine + c.cpu_seconds()?,
            None => mine,
        })
    }

    /// (current, peak) resident bytes (with its companion's: the sum of the two peaks).
    pub(crate) fn rss(&self) -> anyhow::Result<(u64, u64)> {
        let (now, peak) = procstat::rss_bytes(self.pid())?;
        Ok(match &self.companion {
            Some(c) => {
                let (n, p) = c.rss()?;
                (now + n, peak + p)
            }
            None => (now, peak),
        })
    }

    /// Fails (with the tail of its log) when the process has exited.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.companion.as_mut() {
            c.check_alive()?;
        }
        if let Some(c) = self.child.as_mut() {
            if let Some(status) = c.try_wait()? {
                bail!(
                    "{} exited ({status}); log {}:\n{}",
                    self.name,
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
        }
        Ok(())
    }

    /// Asks the process to stop (SIGTERM: each system flushes on it) and waits for it; kills it
    /// after `timeout`.
    pub(crate) async fn stop(mut self, timeout: Duration) -> anyhow::Result<()> {
        let companion = self.companion.take();
        // Argus first (its spools drain to the backend), then the backend.
        let r = match self.child.take() {
            Some(child) => stop_child(child, timeout).await,
            None => Ok(()),
        };
        if let Some(c) = companion {
            Box::pin(c.stop(timeout)).await?;
        }
        r
    }
}

/// SIGTERM, then SIGKILL after `timeout`.
async fn stop_child(mut child: Child, timeout: Duration) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                child.kill()?;
                child.wait()?;
                bail!("did not stop within {timeout:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await?
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

async fn wait_http_ok(server: &mut Server, path: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", server.url);
    let start = Instant::now();
    loop {
        server.check_alive()?;
        if let Ok(r) = client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if start.elapsed() > timeout {
            bail!("{} did not answer {url} within {timeout:?}", server.name);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts Argus (transfer + storage node in one child process) for `tenants`, data under `dir`.
/// With `alerting` (a JSON `node::Alerting` file) it runs judge and alarm behind the transfer too.
pub(crate) async fn start_argus(
    dir: &Path,
    tenants: &[String],
    fsync: bool,
    alerting: Option<&Path>,
) -> anyhow::Result<Server> {
    spawn_argus(dir, tenants, fsync, alerting, Web::No, None, 0.0).await
}

/// Starts Argus as [`start_argus`] does, plus the web service (in the same process) that serves
/// the Prometheus HTTP API over the transfer's query endpoint, with an API token for the first
/// tenant in [`Server::api_token`] and its URL in [`Server::web_url`].
pub(crate) async fn start_argus_with_web(
    dir: &Path,
    tenants: &[String],
    fsync: bool,
) -> anyhow::Result<Server> {
    spawn_argus(dir, tenants, fsync, None, Web::Yes, None, 0.0).await
}

/// Starts a VictoriaMetrics and Argus keeping its points there (`[remote_storage]`, label
/// tenancy), with the web service when `web`. The VictoriaMetrics is the Argus server's
/// companion: measured and stopped with it; `data_dir` is its data (the points on disk).
pub(crate) async fn start_argus_on_vm(
    dir: &Path,
    tenants: &[String],
    web: bool,
    vm_bin: &Path,
) -> anyhow::Result<Server> {
    let vm = start_victoriametrics(vm_bin, &dir.join("vm")).await?;
    let web = if web { Web::Yes } else { Web::No };
    let mut argus = spawn_argus(dir, tenants, true, None, web, Some(&vm.url), 0.0).await?;
    argus.name = Kind::ArgusVm.name().into();
    argus.data_dir = vm.data_dir.clone();
    argus.companion = Some(Box::new(vm));
    Ok(argus)
}

/// Starts Argus with the web service, a judge evaluating the rules stored there and an alarm
/// (the rules scenario).
pub(crate) async fn start_argus_with_rules(
    dir: &Path,
    tenants: &[String],
    fsync: bool,
    pull_secs: u64,
) -> anyhow::Result<Server> {
    spawn_argus(
        dir,
        tenants,
        fsync,
        None,
        Web::WithRules(pull_secs),
        None,
        0.0,
    )
    .await
}

/// Starts Argus as [`start_argus`] does, with every tenant's quota at `points_per_sec` (burst:
/// one second's worth; the fairness scenario).
pub(crate) async fn start_argus_with_quota(
    dir: &Path,
    tenants: &[String],
    points_per_sec: f64,
) -> anyhow::Result<Server> {
    spawn_argus(dir, tenants, true, None, Web::No, None, points_per_sec).await
}

/// Whether serve-argus runs the web service, and the rules path behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Web {
    No,
    Yes,
    /// With the rules path, pulling configuration and reporting every this many seconds.
    WithRules(u64),
}

async fn spawn_argus(
    dir: &Path,
    tenants: &[String],
    fsync: bool,
    alerting: Option<&Path>,
    web: Web,
    remote_storage: Option<&str>,
    quota_points_per_sec: f64,
) -> anyhow::Result<Server> {
    let data_dir = dir.join("argus-data");
    std::fs::create_dir_all(&data_dir)?;
    let log = dir.join("argus.log");
    let tokens: Vec<String> = tenants
        .iter()
        .map(|_| generate_token("argus_agt"))
        .collect();
    let mut cmd = Command::new(std::env::current_exe().context("locating argus-bench")?);
    cmd.arg("serve-argus")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg(format!("--fsync={fsync}"));
    if let Some(a) = alerting {
        cmd.arg("--alerting").arg(a);
    }
    if let Some(r) = remote_storage {
        cmd.arg("--remote-storage").arg(r);
    }
    if quota_points_per_sec > 0.0 {
        cmd.arg(format!("--quota-points-per-sec={quota_points_per_sec}"));
    }
    for (t, tok) in tenants.iter().zip(&tokens) {
        cmd.arg("--tenant").arg(format!("{t}={}", hash_token(tok)));
    }
    if let Web::WithRules(pull) = web {
        cmd.arg("--rules").arg(format!("--rules-pull-secs={pull}"));
    }
    let api_token = if web != Web::No {
        let t = generate_token("argus_api");
        cmd.arg("--web-api-token-sha256").arg(hash_token(&t));
        t
    } else {
        String::new()
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("spawning argus-bench serve-argus")?;
    let stdout = child.stdout.take().expect("piped stdout");
    // `WEB <url>` (with the web service) comes before `READY <transfer url>`.
    let lines = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut r = BufReader::new(stdout);
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line)? == 0 || !line.starts_with("WEB ") {
                    lines.push(line);
                    return Ok::<_, std::io::Error>(lines);
                }
                lines.push(line);
            }
        }),
    )
    .await
    .context("argus did not report ready within 60 s")???;
    let web_url = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("WEB "))
        .unwrap_or_default()
        .to_string();
    let line = lines.last().cloned().unwrap_or_default();
    let mut server = Server {
        name: Kind::Argus.name().into(),
        url: String::new(),
        data_dir,
        tokens,
        web_url,
        api_token,
        child: Some(child),
        log,
        companion: None,
    };
    if web != Web::No && server.web_url.is_empty() {
        server.check_alive()?;
        bail!("argus said {line:?} without a WEB <url> line first");
    }
    let Some(url) = line.trim().strip_prefix("READY ") else {
        server.check_alive()?;
        bail!("argus said {line:?} instead of READY <url>");
    };
    server.url = url.to_string();
    Ok(server)
}

/// Starts Prometheus with the remote-write receiver and `config` (YAML) under `dir`.
pub(crate) async fn start_prometheus(
    bin: &Path,
    dir: &Path,
    config: &str,
) -> anyhow::Result<Server> {
    let data_dir = dir.join("prometheus-data");
    std::fs::create_dir_all(&data_dir)?;
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config)?;
    let port = free_port()?;
    let log = dir.join("prometheus.log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--storage.tsdb.retention.time=30d")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let mut server = Server {
        name: Kind::Prometheus.name().into(),
        url: format!("http://127.0.0.1:{port}"),
        data_dir,
        tokens: vec![],
        web_url: String::new(),
        api_token: String::new(),
        child: Some(child),
        log,
        companion: None,
    };
    wait_http_ok(&mut server, "/-/ready", Duration::from_secs(90)).await?;
    Ok(server)
}

/// Starts VictoriaMetrics single-node under `dir`.
pub(crate) async fn start_victoriametrics(bin: &Path, dir: &Path) -> anyhow::Result<Server> {
    let data_dir = dir.join("vm-data");
    std::fs::create_dir_all(&data_dir)?;
    let port = free_port()?;
    let log = dir.join("victoriametrics.log");
    let child = Command::new(bin)
        .arg(format!("-storageDataPath={}", data_dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=1y")
        .stdout(std::fs::File::create(dir.join("victoriametrics.out"))?)
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let mut server = Server {
        name: Kind::VictoriaMetrics.name().into(),
        url: format!("http://127.0.0.1:{port}"),
        data_dir,
        tokens: vec![],
        web_url: String::new(),
        api_token: String::new(),
        child: Some(child),
        log,
        companion: None,
    };
    wait_http_ok(&mut server, "/health", Duration::from_secs(90)).await?;
    Ok(server)
}

/// Spawns any long-running helper (agent, exporter) whose footprint is measured.
pub(crate) fn spawn_plain(
    name: &str,
    mut cmd: Command,
    url: String,
    log: PathBuf,
) -> anyhow::Result<Server> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("spawning helper process")?;
    Ok(Server {
        name: name.into(),
        url,
        data_dir: PathBuf::new(),
        tokens: vec![],
        web_url: String::new(),
        api_token: String::new(),
        child: Some(child),
        log,
        companion: None,
    })
}

/// Waits until `path` on a helper answers 2xx.
pub(crate) async fn wait_ready(server: &mut Server, path: &str) -> anyhow::Result<()> {
    wait_http_ok(server, path, Duration::from_secs(60)).await
}
