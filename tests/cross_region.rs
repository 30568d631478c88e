//! Cross-region bandwidth: simulated agents in every region of the multi-region topology, each
//! running the real agent's collector, sender, heartbeat and config pull, for a minute of wall
//! time. Measures the bytes that cross between each region and the global zone (events, config,
//! query results: the relays of `Cluster::cross_region_bytes`) against a centralized design in
//! which every agent ships its points to the global zone (as a single open-falcon installation
//! does): there, the agents' push traffic itself crosses, so it is measured byte for byte on a
//! counting relay between the simulated agents and their region's transfers.
//!
//! The figures are printed (docs/BENCHMARKS.md, `## cross-region`). The assertion is about
//! behaviour, not speed: every byte that crossed regions together is less than the points the
//! agents pushed, so no point can have crossed, and the pushed points are readable in their
//! region.
//!
//! `ARGUS_XREGION_SECS` (default 60) and `ARGUS_XREGION_HOSTS` (hosts per region, default 10)
//! change the run.

use argus::cluster::{Cluster, ClusterSpec, Role};
use argus::link::{Link, Relay};
use argus_agent::collect::Collector;
use argus_agent::remote::{heartbeat_loop, host_facts, Puller};
use argus_agent::sender::Sender;
use argus_core::agentconf::AgentRemoteConfig;
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
/// them with the agent's sender; heartbeats and pulls its configuration from web.
async fn host(
    name: String,
    transfers: Vec<String>,
    center: String,
    token: String,
    until: Instant,
    acked: Arc<AtomicU64>,
) {
    let hb = tokio::spawn(heartbeat_loop(
        center.clone(),
        token.clone(),
        host_facts(&name, &center),
        HEARTBEAT,
        tokio::sync::watch::channel(Arc::new(AgentRemoteConfig::default())).1,
        argus_core::telemetry::Registry::new().counter("heartbeat_failures", "unused", &[]),
    ));
    let mut puller = Puller::new(&center, &name, &token, None);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_stay_in_their_region() {
    let secs = env_or("ARGUS_XREGION_SECS", 60);
    let per_region = env_or("ARGUS_XREGION_HOSTS", 10) as usize;
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new(
        dir.path().to_path_buf(),
        env!("CARGO_BIN_EXE_argus").into(),
        3,
    );
    let mut cluster = Cluster::up(&spec).await.expect("cluster starts");
    let web = cluster.web_url();

    // Per region: a counting relay in front of each transfer (the agents' push traffic, which a
    // centralized design would carry to the global zone) and one in front of web for the agents'
    // heartbeats and config pulls (which cross regions in both designs).
    let mut push_relays = Vec::new();
    let mut agent_ctl_relays = Vec::new();
    let acked = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for region in cluster.regions.clone().iter() {
        let link = Link::new();
        let mut transfers = Vec::new();
        for t in cluster.nodes_of(region, Role::Transfer) {
            let r = link.relay(addr_of(&t.url)).await.unwrap();
            transfers.push(format!("http://{}", r.listen));
            push_relays.push(r);
        }
        let ctl = link.relay(addr_of(&web)).await.unwrap();
        let center = format!("http://{}", ctl.listen);
        agent_ctl_relays.push(ctl);
        for h in 0..per_region {
            let tenant = &cluster.tenants[h % cluster.tenants.len()];
            let mut transfers = transfers.clone();
            let n = transfers.len();
            transfers.rotate_left(h % n);
            tasks.push(tokio::spawn(host(
                format!("{}-{region}-{h:03}", tenant.tenant),
                transfers,
                center.clone(),
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
    for t in tasks {
        t.await.unwrap();
    }
    let minutes = secs as f64 / 60.0;
    let hosts = (per_region * cluster.regions.len()) as f64;

    let push = total(&push_relays);
    let agent_ctl = total(&agent_ctl_relays);
    let mut cross = 0u64;
    println!("cross-region figures ({hosts} hosts, {secs} s):");
    for r in &cluster.regions {
        let by_kind = cluster.cross_region_bytes(r);
        println!("  region {r}: nodes <-> global {by_kind:?}");
        cross += by_kind.values().sum::<u64>();
    }
    let per = |b: u64| b as f64 / hosts / minutes;
    let ours = cross + agent_ctl;
    let centralized = push + agent_ctl;
    println!("  points acknowledged: {}", acked.load(Ordering::Relaxed));
    println!(
        "  agent pushes (stay in region here; cross in a centralized design): {:.0} B/host/min",
        per(push)
    );
    println!(
        "  agent heartbeats + config pulls (cross in both designs): {:.0} B/host/min",
        per(agent_ctl)
    );
    println!(
        "  nodes' events + config + query (cross here only): {:.0} B/host/min",
        per(cross)
    );
    println!(
        "  regional design: {:.0} B/host/min; centralized: {:.0} B/host/min; ratio {:.1}x",
        per(ours),
        per(centralized),
        centralized as f64 / ours.max(1) as f64
    );
    println!(
        "  without the agents' own control traffic: {:.0} vs {:.0} B/host/min, ratio {:.1}x",
        per(cross),
        per(push),
        push as f64 / cross.max(1) as f64
    );

    // Behaviour: the points were acknowledged, and everything that crossed regions is less than
    // the points themselves, so no point crossed.
    assert!(acked.load(Ordering::Relaxed) > 0, "no point acknowledged");
    assert!(
        cross < push,
        "cross-region traffic ({cross} B) is not smaller than the points pushed ({push} B)"
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
    cluster.down();
}
