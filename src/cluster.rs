//! `argus cluster up`: the multi-region topology as separate processes on one machine.
//!
//! Per region: transfers, storage nodes and judges; globally: web and the alarm instances. Each
//! node is an `argus <component> --config <file>` child process with its own config file, data
//! directory and log under the cluster directory, on loopback ports. The integration and chaos
//! tests use [`Cluster`] to start it, kill and restart nodes, and stop it.

use crate::link::{Link, Relay};
use anyhow::Context;
use argus_core::auth::{generate_token, hash_token};
use argus_core::TenantId;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shape of the topology.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Where configs, data and logs go.
    pub dir: PathBuf,
    /// The `argus` binary to run each node with.
    pub bin: PathBuf,
    /// Number of regions.
    pub regions: usize,
    /// Transfers per region.
    pub transfers: usize,
    /// Storage nodes per region.
    pub stores: usize,
    /// Judges per region.
    pub judges: usize,
    /// Tenants to create, with tokens.
    pub tenants: Vec<String>,
    /// PostgreSQL URL for the alarm service. With it, two alarm instances run active/standby on
    /// it; without it, one alarm instance runs on embedded SQLite.
    pub alarm_database_url: Option<String>,
    /// Let alarm deliver webhooks to loopback receivers (tests).
    pub allow_private_webhooks: bool,
    /// How often judges, transfers and alarm pull configuration from web, in seconds.
    pub config_pull_secs: u64,
    /// How often transfers pull their agents' configuration from web, in seconds.
    pub agent_config_secs: u64,
    /// How often transfers send their agents' heartbeats to web in one batch, in seconds.
    pub heartbeat_batch_secs: u64,
    /// The root of a Prometheus-API TSDB (e.g. VictoriaMetrics at `http://127.0.0.1:8428`)
    /// that every region keeps its points in instead of storage nodes: writes go to
    /// `{url}/api/v1/write`, reads to `{url}/api/v1/query`, tenants apart by a `tenant` label.
    pub remote_storage: Option<String>,
}

impl ClusterSpec {
    /// The documented example: `regions` regions of two transfers and two storage nodes each.
    pub fn new(dir: PathBuf, bin: PathBuf, regions: usize) -> Self {
        ClusterSpec {
            dir,
            bin,
            regions,
            transfers: 2,
            stores: 2,
            judges: 2,
            tenants: vec!["acme".into(), "globex".into()],
            alarm_database_url: None,
            allow_private_webhooks: false,
            config_pull_secs: 10,
            agent_config_secs: 60,
            heartbeat_batch_secs: 60,
            remote_storage: None,
        }
    }
}

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Console, API, configuration center (global zone).
    Web,
    /// Ingest (region).
    Transfer,
    /// Storage node (region).
    Store,
    /// Strategy evaluation (region).
    Judge,
    /// Alarm service (global zone, active/standby).
    Alarm,
}

impl Role {
    fn subcommand(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Transfer => "transfer",
            Role::Store => "store",
            Role::Judge => "judge",
            Role::Alarm => "alarm",
        }
    }
}

/// One node of the cluster.
#[derive(Debug)]
pub struct Node {
    /// Unique name, e.g. `east-store-1`.
    pub name: String,
    /// What it does.
    pub role: Role,
    /// Its region (`None` for the global zone).
    pub region: Option<String>,
    /// Its base URL.
    pub url: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A tenant's credentials in the cluster.
#[derive(Debug, Clone)]
pub struct TenantCreds {
    /// The tenant.
    pub tenant: TenantId,
    /// Token to push with.
    pub agent_token: String,
    /// Token for the API.
    pub api_token: String,
}

/// A running cluster.
pub struct Cluster {
    /// Every node.
    pub nodes: Vec<Node>,
    /// The tenants and their tokens.
    pub tenants: Vec<TenantCreds>,
    /// Region names, in order.
    pub regions: Vec<String>,
    /// The credential between nodes.
    pub internal_token: String,
    /// Per region, the link to the global zone that carries every region ↔ global connection.
    pub links: Vec<RegionLink>,
    bin: PathBuf,
}

/// The link between one region and the global zone, with its relays by kind of traffic.
pub struct RegionLink {
    /// The region.
    pub region: String,
    /// Cut it to partition the region from the global zone.
    pub link: Link,
    /// `(kind, relay)`: `events` (judges → alarm), `config` (region → web), `query` (web →
    /// the region's query endpoint).
    pub relays: Vec<(&'static str, Relay)>,
}

impl RegionLink {
    fn url(&self, kind: &str, target_port: u16) -> String {
        let r = self
            .relays
            .iter()
            .find(|(k, r)| *k == kind && r.target.port() == target_port)
            .expect("relay exists");
        format!("http://{}", r.1.listen)
    }
}

/// The name of region `i`.
pub fn region_name(i: usize) -> String {
    const NAMES: [&str; 4] = ["east", "west", "north", "south"];
    NAMES
        .get(i)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("region-{}", i + 1))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn write_config<T: serde::Serialize>(path: &Path, cfg: &T) -> anyhow::Result<()> {
    let text = toml::to_string(cfg).with_context(|| format!("rendering {}", path.display()))?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Collects nodes while their configs are written.
struct Builder<'a> {
    spec: &'a ClusterSpec,
    nodes: Vec<Node>,
    internal_token: &'a str,
}

impl Builder<'_> {
    fn add<T: serde::Serialize>(
        &mut self,
        name: String,
        role: Role,
        region: Option<&String>,
        port: u16,
        cfg: &T,
    ) -> anyhow::Result<()> {
        debug_assert!(!self.internal_token.is_empty());
        let config = self.spec.dir.join("config").join(format!("{name}.toml"));
        write_config(&config, cfg)?;
        self.nodes.push(Node::new(
            &self.spec.dir,
            name,
            role,
            region.cloned(),
            port,
            config,
        ));
        Ok(())
    }
}

/// Creates each tenant, an admin `admin-<tenant>` (password: its API token) and the tenant's
/// tokens in web's database before web starts.
async fn bootstrap_web(web: &argus_web::WebConfig, tenants: &[TenantCreds]) -> anyhow::Result<()> {
    std::fs::create_dir_all(&web.data_dir)?;
    let db = argus_web::db::open(&web.database()).await?;
    for t in tenants {
        let login = format!("admin-{}", t.tenant);
        argus_web::bootstrap::ensure_demo(
            &db,
            &argus_web::bootstrap::Demo {
                tenant: t.tenant.as_str(),
                admin_login: &login,
                admin_password: &t.api_token,
                agent_token: Some(&t.agent_token),
                api_token: Some(&t.api_token),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating tenant {}: {e}", t.tenant))?;
    }
    Ok(())
}

impl Cluster {
    /// Writes every node's config, creates the tenants in web's database, starts every node,
    /// and waits until all are healthy.
    pub async fn up(spec: &ClusterSpec) -> anyhow::Result<Cluster> {
        for sub in ["config", "data", "logs"] {
            std::fs::create_dir_all(spec.dir.join(sub))?;
        }
        let internal_token = generate_token("argus_int");
        let tenants: Vec<TenantCreds> = spec
            .tenants
            .iter()
            .map(|t| {
                Ok(TenantCreds {
                    tenant: TenantId::new(t.clone()).map_err(anyhow::Error::msg)?,
                    agent_token: generate_token("argus_agt"),
                    api_token: generate_token("argus_api"),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let regions: Vec<String> = (0..spec.regions).map(region_name).collect();
        let mut b = Builder {
            spec,
            nodes: Vec::new(),
            internal_token: &internal_token,
        };

        // The global zone first: every region points at it.
        let web_port = free_port()?;
        let web_url = format!("http://127.0.0.1:{web_port}");
        let alarm_count = if spec.alarm_database_url.is_some() {
            2
        } else {
            1
        };
        let alarm_ports: Vec<u16> = (0..alarm_count)
            .map(|_| free_port())
            .collect::<Result<_, _>>()?;
        let alarm_urls: Vec<String> = alarm_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let ack_secret = generate_token("argus_ack");
        for (i, port) in alarm_ports.iter().enumerate() {
            let name = format!("global-alarm-{}", (b'a' + i as u8) as char);
            #[allow(clippy::needless_update)]
            let cfg = argus_alarm::AlarmConfig {
                listen: format!("127.0.0.1:{port}"),
                internal_token: internal_token.clone(),
                instance_id: name.clone(),
                data_dir: spec.dir.join("data").join(&name),
                database_url: spec.alarm_database_url.clone().unwrap_or_default(),
                ack_secret: ack_secret.clone(),
                web_url: web_url.clone(),
                config_poll_secs: spec.config_pull_secs,
                allow_private_webhooks: spec.allow_private_webhooks,
                workers: 1,
                ..Default::default()
            };
            b.add(name, Role::Alarm, None, *port, &cfg)?;
        }

        let mut region_endpoints = Vec::new();
        let mut links = Vec::new();
        let local = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        for (r, region) in regions.iter().enumerate() {
            let transfer_ports: Vec<u16> = (0..spec.transfers)
                .map(|_| free_port())
                .collect::<Result<_, _>>()?;
            let link = Link::new();
            let mut relays = vec![("config", link.relay(local(web_port)).await?)];
            for p in &alarm_ports {
                relays.push(("events", link.relay(local(*p)).await?));
            }
            // Web queries the region through each of its transfers in turn (failover).
            for p in &transfer_ports {
                relays.push(("query", link.relay(local(*p)).await?));
            }
            let rl = RegionLink {
                region: region.clone(),
                link,
                relays,
            };
            let via_web = rl.url("config", web_port);
            let via_alarms: Vec<String> =
                alarm_ports.iter().map(|p| rl.url("events", *p)).collect();
            region_endpoints.push(argus_web::config::RegionEndpoint {
                name: region.clone(),
                query_url: rl.url("query", transfer_ports[0]),
                query_urls: transfer_ports[1..]
                    .iter()
                    .map(|p| rl.url("query", *p))
                    .collect(),
            });
            links.push(rl);
            let stores = if spec.remote_storage.is_some() {
                0
            } else {
                spec.stores
            };
            let store_ports: Vec<u16> =
                (0..stores).map(|_| free_port()).collect::<Result<_, _>>()?;
            let judge_ports: Vec<u16> = (0..spec.judges)
                .map(|_| free_port())
                .collect::<Result<_, _>>()?;
            let urls = |ports: &[u16]| {
                ports
                    .iter()
                    .map(|p| format!("http://127.0.0.1:{p}"))
                    .collect::<Vec<_>>()
            };
            for (i, port) in store_ports.iter().enumerate() {
                let name = format!("{region}-store-{}", i + 1);
                let cfg = argus_store::node::StoreConfig {
                    listen: format!("127.0.0.1:{port}"),
                    internal_token: internal_token.clone(),
                    workers: 1,
                    engine: argus_store::EngineConfig {
                        data_dir: spec.dir.join("data").join(&name),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                b.add(name, Role::Store, Some(region), *port, &cfg)?;
            }
            let transfer_urls = urls(&transfer_ports);
            for (i, port) in judge_ports.iter().enumerate() {
                let name = format!("{region}-judge-{}", i + 1);
                let cfg = argus_judge::JudgeConfig {
                    listen: format!("127.0.0.1:{port}"),
                    region: region.clone(),
                    internal_token: internal_token.clone(),
                    config_center: Some(via_web.clone()),
                    alarm: via_alarms.clone(),
                    snapshot_interval_secs: 1,
                    data_dir: spec.dir.join("data").join(&name),
                    pull_interval_secs: spec.config_pull_secs,
                    workers: 1,
                    shards: 1,
                    // The region's judges share its rules; the first region's also the global ones.
                    rules: argus_judge::config::RulesConfig {
                        shard_index: i as u64,
                        shard_count: judge_ports.len() as u64,
                        global: r == 0,
                        transfers: transfer_urls.clone(),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                b.add(name, Role::Judge, Some(region), *port, &cfg)?;
            }
            for (i, port) in transfer_ports.iter().copied().enumerate() {
                let name = format!("{region}-transfer-{}", i + 1);
                let cfg = argus_transfer::TransferConfig {
                    listen: format!("127.0.0.1:{port}"),
                    region: region.clone(),
                    internal_token: internal_token.clone(),
                    stores: urls(&store_ports),
                    remote_storage: match &spec.remote_storage {
                        Some(root) => {
                            let root = root.trim_end_matches('/');
                            argus_transfer::remote::RemoteStorageConfig {
                                write_url: format!("{root}/api/v1/write"),
                                read_url: root.to_string(),
                                ..Default::default()
                            }
                        }
                        None => Default::default(),
                    },
                    judges: urls(&judge_ports),
                    replicas: 2,
                    // Static too, so agents are accepted before the first pull from web.
                    tenants: tenants
                        .iter()
                        .map(|t| argus_transfer::config::TenantTokens {
                            tenant: t.tenant.clone(),
                            token_sha256: vec![hash_token(&t.agent_token)],
                        })
                        .collect(),
                    data_dir: spec.dir.join("data").join(&name),
                    config_center: argus_transfer::config::ConfigCenterConfig {
                        url: via_web.clone(),
                        poll_secs: spec.config_pull_secs,
                    },
                    // The region's agents pull their config and heartbeat here; the transfer
                    // pulls every tenant's agent config and batches heartbeats to web.
                    agents: argus_transfer::agents::AgentsConfig {
                        refresh_secs: spec.agent_config_secs,
                        heartbeat_batch_secs: spec.heartbeat_batch_secs,
                    },
                    workers: 1,
                    ..Default::default()
                };
                b.add(name, Role::Transfer, Some(region), port, &cfg)?;
            }
        }

        let web = argus_web::WebConfig {
            listen: format!("127.0.0.1:{web_port}"),
            internal_token: internal_token.clone(),
            regions: region_endpoints,
            data_dir: spec
                .dir
                .join("data")
                .join("global-web")
                .display()
                .to_string(),
            alarm_url: alarm_urls[0].clone(),
            workers: 1,
            ..Default::default()
        };
        bootstrap_web(&web, &tenants).await?;
        b.add("global-web".into(), Role::Web, None, web_port, &web)?;

        let mut cluster = Cluster {
            nodes: b.nodes,
            tenants,
            regions,
            internal_token,
            links,
            bin: spec.bin.clone(),
        };
        for i in 0..cluster.nodes.len() {
            cluster.nodes[i].spawn(&cluster.bin)?;
        }
        cluster.wait_healthy(Duration::from_secs(60)).await?;
        Ok(cluster)
    }

    /// Waits until every running node answers `/health`.
    pub async fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + timeout;
        for n in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                match client.get(format!("{}/health", n.url)).send().await {
                    Ok(r) if r.status().is_success() => break,
                    _ if Instant::now() > deadline => {
                        anyhow::bail!("{} did not become healthy; see {}", n.name, n.log.display())
                    }
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The nodes of `region` with `role`.
    pub fn nodes_of(&self, region: &str, role: Role) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.role == role && n.region.as_deref() == Some(region))
            .collect()
    }

    /// Cuts (`true`) or heals (`false`) the link between `region` and the global zone.
    pub fn partition(&self, region: &str, cut: bool) {
        for l in self.links.iter().filter(|l| l.region == region) {
            l.link.set_cut(cut);
        }
    }

    /// Bytes that crossed between `region` and the global zone so far, by kind (`events`,
    /// `config`, `query`). Metric points never cross: they have no relay.
    pub fn cross_region_bytes(
        &self,
        region: &str,
    ) -> std::collections::BTreeMap<&'static str, u64> {
        let mut m = std::collections::BTreeMap::new();
        for l in self.links.iter().filter(|l| l.region == region) {
            for (kind, r) in &l.relays {
                *m.entry(*kind).or_insert(0) += r.bytes.load(std::sync::atomic::Ordering::Relaxed);
            }
        }
        m
    }

    /// The web service's base URL.
    pub fn web_url(&self) -> String {
        self.nodes
            .iter()
            .find(|n| n.role == Role::Web)
            .map(|n| n.url.clone())
            .unwrap_or_default()
    }

    /// Kills node `name` with SIGKILL, as a crash would.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .context("no such node")?;
        if let Some(mut c) = n.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Starts node `name` again (after [`kill`](Cluster::kill)) and waits until it is healthy.
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let bin = self.bin.clone();
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .context("no such node")?;
        if n.child.is_none() {
            n.spawn(&bin)?;
        }
        self.wait_healthy(Duration::from_secs(60)).await
    }

    /// Stops every node with SIGTERM (clean shutdown), then SIGKILL for any that hang.
    pub fn down(&mut self) {
        for n in self.nodes.iter_mut().rev() {
            if let Some(mut c) = n.child.take() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(c.id().to_string())
                    .status();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// A table of where everything is.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{:<24} {:<9} {:<8} url", "node", "role", "region");
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "{:<24} {:<9} {:<8} {}",
                n.name,
                n.role.subcommand(),
                n.region.as_deref().unwrap_or("global"),
                n.url
            );
        }
        let _ = writeln!(
            s,
            "agents: transfers = the transfers of their region (config pulls and heartbeats go there too)"
        );
        for t in &self.tenants {
            let _ = writeln!(
                s,
                "tenant {}: agent token {}  API token {}",
                t.tenant, t.agent_token, t.api_token
            );
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.down();
    }
}

impl Node {
    fn new(
        dir: &Path,
        name: String,
        role: Role,
        region: Option<String>,
        port: u16,
        config: PathBuf,
    ) -> Self {
        let log = dir.join("logs").join(format!("{name}.log"));
        Node {
            name,
            role,
            region,
            url: format!("http://127.0.0.1:{port}"),
            config,
            log,
            child: None,
        }
    }

    fn spawn(&mut self, bin: &Path) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(bin)
            .arg(self.role.subcommand())
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} with {}", self.name, bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// True while the node's process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The last `lines` lines of the node's log, for a failing check to show.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}
