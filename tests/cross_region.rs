//! Cross-region bandwidth: simulated agents in every region of the multi-region topology, each
//! running the real agent's collector, sender, heartbeat and config pull, for a minute of wall
//! time. Agents talk only to their region's transfers (points, config pulls, heartbeats); the
//! transfers pass one heartbeat batch per interval to web and answer config pulls from every
//! tenant's agent configuration pulled from web with an ETag. Measures the bytes that cross
//! between each region and the global zone (events, config, query results: the relays of
//! `Cluster::cross_region_bytes`) against a centralized design in which every agent ships its
//! points, heartbeats and config pulls to the global zone (as a single open-falcon installation
//! does): there, the agents' traffic itself crosses, so it is measured byte for byte on a
//! counting relay between the simulated agents and their region's transfers.
//!
//! The figures are printed (docs/BENCHMARKS.md, `## cross-region`) for the first minute (agents'
//! first config pulls and heartbeats go whole; web learns which region each host is in) and for
//! the steady state after it. Asserted: the goal in the steady state (the centralized design
//! carries at least 50 times more bytes across regions), no point crosses (everything that
//! crossed is less than the agents' traffic), the nodes' own counters
//! (`argus_cross_region_bytes_sent_total`) agree with the links' counts within a factor of 3,
//! the points are readable in their region, and web lists the hosts alive from the transfers'
//! heartbeat batches.
//!
//! `ARGUS_XREGION_HOSTS` (hosts per region, default 200: the per-region costs, node config
//! pulls and dashboards, are shared by the region's hosts), `ARGUS_XREGION_WARMUP_SECS` (default
//! 65) and `ARGUS_XREGION_SECS` (the steady-state window, default 60) change the run.

use argus::cluster::{Cluster, ClusterSpec, Role};
use argus::link::{Link, Relay};
use argus_agent::collect::Collector;
use argus_agent::remote::{heartbeat_loop_to, host_facts, Puller};
use argus_agent::sender::Sender;
use argus_core::agentconf::AgentRemoteConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The agent's default collection step, heartbeat and config-pull intervals.
const STEP: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(60);
const CONFIG_PULL: Duration = Duration::from_secs(60);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a loopback URL")
}

fn total(relays: &[Relay]) -> u64 {
    relays.iter().map(|r| r.bytes.load(Ordering::Relaxed)).sum()
}

/// One simulated host: collects this machine's metrics under its own name every step and pushes
/// them with the agent's sender; heartbeats and pulls its configuration, all to its region's
/// transfers (the agent's defaults).
async fn host(
    name: String,
    transfers: Vec<String>,
    token: String,
    until: Instant,
    acked: Arc<AtomicU64>,
) {
    let hb = tokio::spawn(heartbeat_loop_to(
        transfers.clone(),
        token.clone(),
        host_facts(&name, &transfers[0]),
        HEARTBEAT,
        tokio::sync::watch::channel(Arc::new(AgentRemoteConfig::default())).1,
        argus_core::telemetry::Registry::new().counter("heartbeat_failures", "unused", &[]),
        argus_core::tls::ClientTls::default(),
    ));
    let mut puller = Puller::with_centers(&transfers, &name, &token, None);
    let mut collector = Collector::new(name, STEP.as_secs() as u32);
    let mut sender = Sender::new(transfers, token);
    let mut next_pull = Instant::now();
    while Instant::now() < until {
        let tick = Instant::now() + STEP;
        if Instant::now() >= next_pull {
            let _ = puller.pull(|_| Ok(())).await;
            next_pull += CONFIG_PULL;
        }
        let points = collector.collect(argus_core::time::now_secs());
        if let Ok(r) = sender.send(&points).await {
            acked.fetch_add(r.accepted as u64, Ordering::Relaxed);
        }
        tokio::time::sleep_until(tick.into()).await;
    }
    hb.abort();
}

/// The sum of `argus_cross_region_bytes_sent_total` by `(kind, to)` in `node`'s `/metrics`.
async fn sent_by_node(url: &str) -> Vec<(String, String, u64)> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("argus_cross_region_bytes_sent_total{")?;
            let (labels, v) = rest.split_once("} ")?;
            let label = |k: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
            };
            Some((label("kind")?, label("to")?, v.trim().parse().ok()?))
        })
        .collect()
}

/// Byte counts at one moment.
#[derive(Default)]
struct Snapshot {
    /// The agents' traffic to their transfers.
    push: u64,
    /// What the links carried, by region and kind.
    links: BTreeMap<(String, String), u64>,
    /// What the nodes counted they sent, by region (the sender's or the destination's) and kind.
    nodes: BTreeMap<(String, String), u64>,
}

async fn snapshot(cluster: &Cluster, push_relays: &[Relay]) -> Snapshot {
    let mut s = Snapshot {
        push: total(push_relays),
        ..Default::default()
    };
    for r in &cluster.regions {
        for (kind, v) in cluster.cross_region_bytes(r) {
            s.links.insert((r.clone(), kind.to_string()), v);
        }
    }
    for n in &cluster.nodes {
        for (kind, to, v) in sent_by_node(&n.url).await {
            let region = match &n.region {
                Some(r) => {
                    assert_eq!(to, "global", "{} sent to {to}", n.name);
                    r.clone()
                }
                None => to,
            };
            assert_ne!(
                kind, "points",
                "{} counts points sent across regions",
                n.name
            );
            *s.nodes.entry((region, kind)).or_insert(0) += v;
        }
    }
    s
}

/// Prints the figures of `[from, to]` (`secs` long) and checks that the nodes' counters agree
/// with the links; answers the ratio centralized / regional.
fn report(label: &str, from: &Snapshot, to: &Snapshot, hosts: u64, secs: u64) -> f64 {
    let delta = |a: &BTreeMap<(String, String), u64>, b: &BTreeMap<(String, String), u64>| {
        b.iter()
            .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0)))
            .collect::<BTreeMap<_, _>>()
    };
    let links = delta(&from.links, &to.links);
    let nodes = delta(&from.nodes, &to.nodes);
    let per = |b: u64| b as f64 / hosts as f64 / (secs as f64 / 60.0);
    println!("  {label} ({secs} s):");
    for ((region, kind), link) in &links {
        let own = nodes
            .get(&(region.clone(), kind.clone()))
            .copied()
            .unwrap_or(0);
        println!("    region {region}, {kind}: link {link} B, nodes' counters {own} B");
        // Same order of magnitude: the counters estimate the HTTP heads the relay sees.
        assert!(
            *link < 2_000 || (own * 3 >= *link && own <= link * 3),
            "{label}: region {region}, {kind}: the link carried {link} B, the nodes counted {own} B"
        );
    }
    let push = to.push - from.push;
    let cross: u64 = links.values().sum();
    println!(
        "    agents' traffic (pushes, heartbeats, config pulls: stays in the region here, crosses when centralized): {:.0} B/host/min",
        per(push)
    );
    println!(
        "    nodes' events + config + heartbeat batches + query results (cross here only): {:.1} B/host/min",
        per(cross)
    );
    push as f64 / cross.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_stay_in_their_region() {
    let secs = env_or("ARGUS_XREGION_SECS", 60);
    let warmup = env_or("ARGUS_XREGION_WARMUP_SECS", 65);
    let per_region = env_or("ARGUS_XREGION_HOSTS", 200) as usize;
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new(
        dir.path().to_path_buf(),
        env!("CARGO_BIN_EXE_argus").into(),
        3,
    );
    let mut cluster = Cluster::up(&spec).await.expect("cluster starts");
    let web = cluster.web_url();

    // Per region: a counting relay in front of each transfer: all the agents' traffic (pushes,
    // heartbeats, config pulls), which a centralized design would carry to the global zone.
    let mut push_relays = Vec::new();
    let acked = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(warmup + secs);
    let mut tasks = Vec::new();
    for region in cluster.regions.clone().iter() {
        let link = Link::new();
        let mut transfers = Vec::new();
        for t in cluster.nodes_of(region, Role::Transfer) {
            let r = link.relay(addr_of(&t.url)).await.unwrap();
            transfers.push(format!("http://{}", r.listen));
            push_relays.push(r);
        }
        for h in 0..per_region {
            let tenant = &cluster.tenants[h % cluster.tenants.len()];
            let mut transfers = transfers.clone();
            let n = transfers.len();
            transfers.rotate_left(h % n);
            tasks.push(tokio::spawn(host(
                format!("{}-{region}-{h:03}", tenant.tenant),
                transfers,
                tenant.agent_token.clone(),
                until,
                acked.clone(),
            )));
        }
        // A dashboard: each tenant looks at one of its hosts in this region every step.
        let tenants = cluster.tenants.clone();
        let (web, region) = (web.clone(), region.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while Instant::now() < until {
                for (ti, t) in tenants.iter().enumerate() {
                    let now = argus_core::time::now_secs();
                    let _ = client
                        .get(format!(
                            "{web}/api/v1/query?endpoint={}-{region}-{ti:03}&metric=cpu.idle&start={}&end={now}",
                            t.tenant,
                            now - 600
                        ))
                        .bearer_auth(&t.api_token)
                        .send()
                        .await;
                }
                tokio::time::sleep(STEP).await;
            }
        }));
    }
    // The first minute (agents' first config pulls and heartbeats go whole, web learns where
    // each host is), then the steady state.
    let first = snapshot(&cluster, &push_relays).await;
    tokio::time::sleep_until((start + Duration::from_secs(warmup)).into()).await;
    let warm = snapshot(&cluster, &push_relays).await;
    for t in tasks {
        t.await.unwrap();
    }
    let end = snapshot(&cluster, &push_relays).await;
    let hosts = (per_region * cluster.regions.len()) as u64;
    println!(
        "cross-region figures ({hosts} hosts; points acknowledged: {}):",
        acked.load(Ordering::Relaxed)
    );
    let cold = report("first minute", &first, &warm, hosts, warmup);
    let ratio = report("steady state", &warm, &end, hosts, secs);
    println!("  ratio: {cold:.1}x in the first minute, {ratio:.1}x in the steady state");

    // Behaviour: the points were acknowledged, everything that crossed regions is less than the
    // points themselves (so no point crossed), and the goal holds once agents run.
    assert!(acked.load(Ordering::Relaxed) > 0, "no point acknowledged");
    assert!(
        cold > 1.0,
        "cross-region traffic is not smaller than the agents' traffic"
    );
    assert!(
        ratio >= 50.0,
        "goal: at least 50 times less across regions than centralized, got {ratio:.1}x"
    );
    // And they are readable in their region, through the global API.
    let t = &cluster.tenants[0];
    let host = format!("{}-{}-000", t.tenant, cluster.regions[0]);
    let r: Vec<serde_json::Value> = reqwest::Client::new()
        .get(format!(
            "{web}/api/v1/query?endpoint={host}&metric=agent.alive"
        ))
        .bearer_auth(&t.api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r.len(), 1, "{host}'s agent.alive series: {r:?}");
    // Web lists the hosts alive, from the transfers' heartbeat batches (one a minute).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!("{web}/api/v1/hosts"))
            .bearer_auth(&t.api_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let alive = v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["alive"] == true && h["agent_version"].is_string())
            .count();
        // Tenant 0 has every other host of every region.
        let expected = cluster.regions.len() * per_region.div_ceil(cluster.tenants.len());
        if alive == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "web lists {alive} of {expected} hosts of {} alive: {v}",
            t.tenant
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    cluster.down();
}
