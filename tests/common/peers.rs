//! The peer servers tests run beside Argus: a real Prometheus (remote-write receiver on) and a
//! real VictoriaMetrics, each in its own process, directory and port. Binaries come from
//! `ARGUS_TEST_PROMETHEUS_BIN` / `ARGUS_TEST_VICTORIAMETRICS_BIN` (set by `.ci/run`), else the
//! PATH; absent, a test skips loudly on a laptop and fails in CI.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A free loopback port now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary named by `var`, else `name` on the PATH, else none (skipped on a laptop, a
/// failure in CI).
pub(crate) fn binary(var: &str, name: &str, what: &str) -> Option<String> {
    if let Ok(b) = std::env::var(var) {
        if !b.is_empty() {
            return Some(b);
        }
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }) {
        return Some(p.display().to_string());
    }
    argus_core::testing::require_server(var, what)
}

/// Which peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Prometheus 2.x with `--web.enable-remote-write-receiver`.
    Prometheus,
    /// VictoriaMetrics single-node.
    VictoriaMetrics,
}

/// A running peer; killed when dropped.
pub(crate) struct Peer {
    /// Which.
    pub kind: Kind,
    /// The process.
    pub child: tokio::process::Child,
    /// Its root URL (`/api/v1/...` below it).
    pub url: String,
    bin: String,
    dir: PathBuf,
    port: u16,
}

impl Peer {
    /// Starts `kind` from `bin` with its data under `dir`, on a free port, and waits until ready.
    pub(crate) async fn start(kind: Kind, bin: &str, dir: &Path) -> Peer {
        Peer::start_on(kind, bin, dir, free_port()).await
    }

    async fn start_on(kind: Kind, bin: &str, dir: &Path, port: u16) -> Peer {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = tokio::process::Command::new(bin);
        match kind {
            Kind::Prometheus => {
                let cfg = dir.join("prometheus.yml");
                // No scrape targets: the TSDB holds only what the test writes.
                std::fs::write(&cfg, "global: {}\nscrape_configs: []\n").unwrap();
                cmd.arg(format!("--config.file={}", cfg.display()))
                    .arg(format!(
                        "--storage.tsdb.path={}",
                        dir.join("tsdb").display()
                    ))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                    .arg("--web.enable-remote-write-receiver")
                    .arg("--storage.tsdb.retention.time=1d");
            }
            Kind::VictoriaMetrics => {
                // No latency offset and no result cache: a point is readable once written.
                cmd.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                    .arg(format!("-storageDataPath={}", dir.join("data").display()))
                    .arg("-retentionPeriod=1d")
                    .arg("-search.latencyOffset=0s")
                    .arg("-search.disableCache");
            }
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let ready = match kind {
            Kind::Prometheus => format!("{url}/-/ready"),
            Kind::VictoriaMetrics => format!("{url}/health"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(&ready).await {
                if r.status().is_success() {
                    break;
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("{kind:?} not ready after 60 s; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Peer {
            kind,
            child,
            url,
            bin: bin.to_string(),
            dir: dir.to_path_buf(),
            port,
        }
    }

    /// Stops the server the way an operator does (SIGTERM) and waits for it to exit.
    pub(crate) async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = self.child.kill().await;
    }

    /// Starts it again on the same port and data.
    pub(crate) async fn restart(self) -> Peer {
        let Peer {
            kind,
            bin,
            dir,
            port,
            ..
        } = self;
        Peer::start_on(kind, &bin, &dir, port).await
    }
}
