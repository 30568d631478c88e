//! Routes accepted points to their storage nodes (by the storage ring, with replicas), their
//! judge (by the judge ring) and the optional InfluxDB sink.
//!
//! A write returns once every storage replica of every point — and the InfluxDB sink, when
//! configured — has the points durable, directly or in its spool; that is when the push is
//! acknowledged. Judges get their copy through their own spools without holding the push up.
//!
//! The topology (rings and members) is replaced whole on a config reload; downstreams that
//! leave it keep draining their spools.

use crate::config::TransferConfig;
use crate::downstream::{DeliverError, Delivery, Downstream};
use crate::payload::{FrameBody, Payload};
use crate::ring::Ring;
use crate::sink::{Kind, Sink};
use argus_core::series::series_hash;
use argus_core::telemetry::Registry;
use argus_core::tls::ClientTls;
use argus_core::Point;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Why points could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No storage node is configured.
    #[error("no storage node is configured")]
    NoStore,
    /// The remote TSDB has no place for the tenant.
    #[error("{0}")]
    NoAccount(#[from] crate::remote::NoAccount),
    /// A downstream neither took the points nor could spool them.
    #[error("{0}")]
    Deliver(#[from] DeliverError),
}

/// The rings in force and the downstream behind each member.
pub struct Topology {
    /// Storage nodes.
    pub store_ring: Ring,
    /// Judges.
    pub judge_ring: Ring,
    /// Copies of each series.
    pub replicas: usize,
    stores: Vec<Arc<Downstream>>,
    judges: Vec<Arc<Downstream>>,
}

impl Topology {
    /// The client of each storage node (ring member), in ring order: one pooled client per
    /// member, kept as long as the member, which writes and queries share.
    pub fn store_clients(&self) -> impl Iterator<Item = &argus_store_client::StoreClient> {
        self.stores.iter().filter_map(|d| d.store_client())
    }

    /// The storage nodes (ring members) holding the series of `p`.
    pub fn stores_of(&self, p: &Point) -> Vec<String> {
        let h = series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags);
        self.store_ring
            .replicas(h, self.replicas)
            .into_iter()
            .map(|i| self.store_ring.members()[i].clone())
            .collect()
    }
}

/// Sends points downstream.
pub struct Forwarder {
    topology: RwLock<Arc<Topology>>,
    /// Every downstream ever started, by spool directory name, so a member that leaves and
    /// comes back keeps its spool and one replayer.
    pool: Mutex<HashMap<String, Arc<Downstream>>>,
    influx: Option<Arc<Downstream>>,
    /// The region's remote TSDB, when it has one instead of storage nodes.
    remote: Option<(Arc<crate::remote::Backend>, Arc<Downstream>)>,
    spool_dir: PathBuf,
    cfg: Mutex<TransferConfig>,
    /// The roots of `[tls] ca_file`, for `https://` stores and judges.
    client_tls: ClientTls,
    registry: Registry,
    stop: watch::Receiver<bool>,
    /// Wakes the judge ring announcer after a reload.
    ring_changed: tokio::sync::Notify,
    /// Judges a reload removed that have not yet been told (they hand their series over).
    departed: Mutex<Vec<String>>,
}

impl Forwarder {
    /// Starts the downstreams of `cfg` (spools under `spool_dir`) and the replayers of
    /// leftover spools of downstreams no longer configured.
    pub fn start(
        cfg: &TransferConfig,
        spool_dir: PathBuf,
        registry: &Registry,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Forwarder> {
        let client_tls = cfg.tls.client()?;
        let influx = if cfg.influx.url.is_empty() {
            None
        } else {
            let sink = Sink::influx(
                &cfg.influx.url,
                &cfg.influx.org,
                &cfg.influx.bucket,
                &cfg.influx.token,
                Duration::from_millis(cfg.downstream_timeout_ms),
                &client_tls,
            )?;
            Some(Downstream::start(
                sink,
                &spool_dir,
                &cfg.spool,
                &cfg.breaker,
                cfg.downstream_writes_in_flight,
                registry,
                stop.clone(),
            )?)
        };
        let remote = if cfg.remote_storage.enabled() {
            let backend = Arc::new(crate::remote::Backend::new(
                &cfg.remote_storage,
                &client_tls,
                registry,
            )?);
            let d = Downstream::start(
                Sink::remote(backend.clone()),
                &spool_dir,
                &cfg.spool,
                &cfg.breaker,
                cfg.downstream_writes_in_flight,
                registry,
                stop.clone(),
            )?;
            Some((backend, d))
        } else {
            None
        };
        let f = Forwarder {
            remote,
            topology: RwLock::new(Arc::new(Topology {
                store_ring: Ring::default(),
                judge_ring: Ring::default(),
                replicas: 1,
                stores: vec![],
                judges: vec![],
            })),
            pool: Mutex::new(HashMap::new()),
            influx,
            spool_dir,
            cfg: Mutex::new(cfg.clone()),
            client_tls,
            registry: registry.clone(),
            stop,
            ring_changed: tokio::sync::Notify::new(),
            departed: Mutex::new(Vec::new()),
        };
        f.apply(cfg)?;
        f.resume_leftovers();
        Ok(f)
    }

    fn downstream(&self, kind: Kind, url: &str) -> anyhow::Result<Arc<Downstream>> {
        let key = crate::sink::dir_name(kind, url);
        let mut pool = self.pool.lock().expect("pool lock");
        if let Some(d) = pool.get(&key) {
            return Ok(d.clone());
        }
        let cfg = self.cfg.lock().expect("cfg lock").clone();
        let sink = Sink::internal_tls(
            kind,
            url,
            &cfg.internal_token,
            Duration::from_millis(cfg.downstream_timeout_ms),
            &self.client_tls,
        )
        .with_zstd(cfg.downstream_zstd);
        let d = Downstream::start(
            sink,
            &self.spool_dir,
            &cfg.spool,
            &cfg.breaker,
            cfg.downstream_writes_in_flight,
            &self.registry,
            self.stop.clone(),
        )?;
        pool.insert(key, d.clone());
        Ok(d)
    }

    /// Applies the routing part of `cfg` (stores, judges, replicas, vnodes).
    pub fn apply(&self, cfg: &TransferConfig) -> anyhow::Result<()> {
        *self.cfg.lock().expect("cfg lock") = cfg.clone();
        let store_ring = Ring::new(&cfg.stores, cfg.vnodes);
        let judge_ring = Ring::new(&cfg.judges, cfg.vnodes);
        let stores = store_ring
            .members()
            .iter()
            .map(|u| self.downstream(Kind::Store, u))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let judges = judge_ring
            .members()
            .iter()
            .map(|u| self.downstream(Kind::Judge, u))
            .collect::<anyhow::Result<Vec<_>>>()?;
        {
            let old = self.topology();
            let mut departed = self.departed.lock().expect("departed lock");
            for m in old.judge_ring.members() {
                if !judge_ring.members().contains(m) && !departed.contains(m) {
                    departed.push(m.clone());
                }
            }
            departed.retain(|m| !judge_ring.members().contains(m));
        }
        *self.topology.write().expect("topology lock") = Arc::new(Topology {
            store_ring,
            judge_ring,
            replicas: cfg.replicas.max(1),
            stores,
            judges,
        });
        self.ring_changed.notify_one();
        Ok(())
    }

    /// Tells every judge the judge ring and its place on it (see
    /// [`TransferConfig::judge_ring_announce_secs`]), until `stop`.
    pub async fn announce_judge_ring(
        self: Arc<Self>,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let topo = self.topology();
            let vnodes = self.cfg.lock().expect("cfg lock").vnodes;
            let members = topo.judge_ring.members().to_vec();
            if !members.is_empty() {
                for (d, this) in topo.judges.iter().zip(&members) {
                    // A judge that is down hears it at the next round.
                    if let Err(e) = d
                        .post_json("/internal/v1/ring", &ring_for(&members, vnodes, this))
                        .await
                    {
                        tracing::debug!(judge = %this, error = %e, "judge ring not announced");
                    }
                }
                // A removed judge, told it is off the ring, hands its series over.
                let departed = self.departed.lock().expect("departed lock").clone();
                for this in departed {
                    let Ok(d) = self.downstream(Kind::Judge, &this) else {
                        continue;
                    };
                    match d
                        .post_json("/internal/v1/ring", &ring_for(&members, vnodes, &this))
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(judge = %this, "removed judge told to hand its series over");
                            self.departed
                                .lock()
                                .expect("departed lock")
                                .retain(|m| *m != this);
                        }
                        Err(e) => {
                            tracing::debug!(judge = %this, error = %e, "removed judge not told yet")
                        }
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every.max(Duration::from_secs(1))) => {}
                _ = self.ring_changed.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Starts replayers for spools left by a previous run whose downstream is not configured.
    fn resume_leftovers(&self) {
        let Ok(dir) = std::fs::read_dir(&self.spool_dir) else {
            return;
        };
        for e in dir.flatten() {
            let Ok(desc) = std::fs::read_to_string(e.path().join("target")) else {
                continue;
            };
            let Some((kind, url)) = Sink::parse_description(&desc) else {
                continue;
            };
            let key = crate::sink::dir_name(kind, &url);
            if self.pool.lock().expect("pool lock").contains_key(&key) {
                continue;
            }
            match self.downstream(kind, &url) {
                Ok(d) if !d.spool_is_empty() => {
                    tracing::info!(downstream = %d.name(), bytes = d.spool_bytes(),
                        "replaying a spool left by a previous run");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%url, error = %e, "cannot open a leftover spool"),
            }
        }
    }

    /// The extra roots trusted for `https://` downstreams (`[tls] ca_file`).
    pub fn client_tls(&self) -> &ClientTls {
        &self.client_tls
    }

    /// The topology in force.
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.read().expect("topology lock").clone()
    }

    /// Every downstream (for `/metrics` and tests).
    pub fn downstreams(&self) -> Vec<Arc<Downstream>> {
        let mut v: Vec<_> = self
            .pool
            .lock()
            .expect("pool lock")
            .values()
            .cloned()
            .collect();
        v.extend(self.influx.clone());
        v.extend(self.remote.as_ref().map(|(_, d)| d.clone()));
        v
    }

    /// The region's remote TSDB, when it stores points there (reads go there too).
    pub fn remote(&self) -> Option<&Arc<crate::remote::Backend>> {
        self.remote.as_ref().map(|(b, _)| b)
    }

    /// Makes `points` (each carrying its tenant) durable on their storage replicas and the
    /// InfluxDB sink; hands judges their copy. Returns how many deliveries were spooled.
    pub async fn write(&self, points: Vec<Point>) -> Result<usize, ForwardError> {
        let topo = self.topology();
        if let Some((backend, d)) = &self.remote {
            return self.write_remote(&topo, backend, d, points).await;
        }
        if topo.stores.is_empty() {
            return Err(ForwardError::NoStore);
        }
        let (per_store, per_judge) =
            encode_for(&topo.store_ring, topo.replicas, &topo.judge_ring, &points);
        let influx = self.influx.is_some().then_some(points);
        self.deliver_frames(&topo, per_store, per_judge, influx)
            .await
    }

    /// True when accepted points may be handed over encoded ([`Self::write_encoded`]): storage
    /// nodes and judges only, no sink that needs the points themselves.
    pub fn takes_encoded(&self) -> bool {
        self.remote.is_none() && self.influx.is_none()
    }

    /// [`write`](Self::write) for points already encoded as frame points ([`FrameBody`]'s
    /// encoding, each carrying its tenant), given with their series and endpoint hashes: the
    /// bytes are copied to their replicas and judge as they are. Only when
    /// [`Self::takes_encoded`].
    pub async fn write_encoded<'a>(
        &self,
        points: impl ExactSizeIterator<Item = EncodedPoint<'a>>,
    ) -> Result<usize, ForwardError> {
        debug_assert!(self.takes_encoded(), "the caller checks takes_encoded");
        let topo = self.topology();
        if topo.stores.is_empty() {
            return Err(ForwardError::NoStore);
        }
        let (mut per_store, mut per_judge) = bodies(
            topo.stores.len(),
            topo.replicas,
            topo.judges.len(),
            points.len(),
        );
        let mut reps = Vec::with_capacity(topo.replicas);
        for p in points {
            topo.store_ring
                .replicas_into(p.series_hash, topo.replicas, &mut reps);
            for &i in &reps {
                per_store[i].push_encoded(p.bytes);
            }
            if let Some(j) = topo.judge_ring.owner(p.endpoint_hash) {
                per_judge[j].push_encoded(p.bytes);
            }
        }
        self.deliver_frames(&topo, per_store, per_judge, None).await
    }

    /// Hands judges their frames and waits until every storage node's frame, and the InfluxDB
    /// sink's points, are durable.
    async fn deliver_frames(
        &self,
        topo: &Topology,
        per_store: Vec<FrameBody>,
        per_judge: Vec<FrameBody>,
        influx: Option<Vec<Point>>,
    ) -> Result<usize, ForwardError> {
        hand_to_judges(topo, per_judge);
        // Each delivery on a task of its own: it finishes (and frees its write slot) even when
        // the push's connection drops.
        let mut waits = Vec::new();
        for (i, batch) in per_store.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let d = topo.stores[i].clone();
            waits.push(tokio::spawn(async move {
                d.deliver(Payload::Frame(batch)).await
            }));
        }
        // The sink writes its own format from the points themselves (no copy).
        if let (Some(d), Some(points)) = (&self.influx, influx) {
            let d = d.clone();
            waits.push(tokio::spawn(async move {
                d.deliver(Payload::Points(points)).await
            }));
        }
        let mut spooled = 0;
        let mut first_err = None;
        for w in waits {
            match w.await.expect("delivery task does not panic") {
                Ok(Delivery::Direct) => {}
                Ok(Delivery::Spooled) => spooled += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(spooled),
        }
    }

    /// [`write`](Self::write) for a region on a remote TSDB: the backend (or its spool) takes
    /// every point, judges and the InfluxDB sink their copies.
    async fn write_remote(
        &self,
        topo: &Topology,
        backend: &crate::remote::Backend,
        remote: &Arc<Downstream>,
        points: Vec<Point>,
    ) -> Result<usize, ForwardError> {
        // A tenant without a place on the backend is refused before anything is acknowledged.
        if let Some(p) = points.first() {
            backend.admits(&p.tenant)?;
            for p in &points[1..] {
                if p.tenant != points[0].tenant {
                    backend.admits(&p.tenant)?;
                }
            }
        }
        let mut per_judge: Vec<FrameBody> =
            (0..topo.judges.len()).map(|_| Default::default()).collect();
        if !topo.judges.is_empty() {
            for p in &points {
                // By endpoint, as in `encode_for`.
                if let Some(j) = topo
                    .judge_ring
                    .owner(argus_core::series::endpoint_hash(&p.tenant, &p.endpoint))
                {
                    per_judge[j].push(p);
                }
            }
        }
        hand_to_judges(topo, per_judge);
        let influx = self.influx.clone().map(|d| {
            let copy = Payload::Points(points.clone());
            tokio::spawn(async move { d.deliver(copy).await })
        });
        let mut spooled =
            usize::from(remote.deliver(Payload::Points(points)).await? == Delivery::Spooled);
        if let Some(w) = influx {
            if w.await.expect("delivery task does not panic")? == Delivery::Spooled {
                spooled += 1;
            }
        }
        Ok(spooled)
    }
}

/// The announcement of the judge ring `members` to judge `this`.
fn ring_for(members: &[String], vnodes: usize, this: &str) -> argus_core::ring::JudgeRing {
    argus_core::ring::JudgeRing {
        members: members.to_vec(),
        vnodes,
        this: this.to_string(),
    }
}

/// The frame body of each storage node and of each judge (by ring position): each point is
/// encoded once, and its bytes copied to every replica and to its judge.
fn encode_for(
    store_ring: &Ring,
    replicas: usize,
    judge_ring: &Ring,
    points: &[Point],
) -> (Vec<FrameBody>, Vec<FrameBody>) {
    let (mut per_store, mut per_judge) = bodies(
        store_ring.members().len(),
        replicas,
        judge_ring.members().len(),
        points.len(),
    );
    let mut reps = Vec::with_capacity(replicas);
    let mut one = Vec::with_capacity(128);
    for p in points {
        one.clear();
        argus_core::wire::frame::put_point(&mut one, p);
        let h = series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags);
        store_ring.replicas_into(h, replicas, &mut reps);
        for &i in &reps {
            per_store[i].push_encoded(&one);
        }
        // By endpoint, not series: a judge sees every metric of an endpoint (conditions
        // across metrics).
        if let Some(j) = judge_ring.owner(argus_core::series::endpoint_hash(&p.tenant, &p.endpoint))
        {
            per_judge[j].push_encoded(&one);
        }
    }
    (per_store, per_judge)
}

/// One accepted point encoded as a frame point, with what routes it.
#[derive(Debug, Clone, Copy)]
pub struct EncodedPoint<'a> {
    /// [`argus_core::series::series_hash`] of its series (the storage ring's key).
    pub series_hash: u64,
    /// [`argus_core::series::endpoint_hash`] of its tenant and endpoint (the judge ring's key).
    pub endpoint_hash: u64,
    /// The point as [`argus_core::wire::frame::put_point`] writes it.
    pub bytes: &'a [u8],
}

/// Empty frame bodies for `stores` storage nodes and `judges` judges, sized for an even spread
/// of `points` points of about 64 bytes, so filling them rarely reallocates.
fn bodies(
    stores: usize,
    replicas: usize,
    judges: usize,
    points: usize,
) -> (Vec<FrameBody>, Vec<FrameBody>) {
    let share = |members: usize, copies: usize| (points * copies / members.max(1) + 16) * 64;
    (
        (0..stores)
            .map(|_| FrameBody::with_capacity(share(stores, replicas)))
            .collect(),
        (0..judges)
            .map(|_| FrameBody::with_capacity(share(judges, 1)))
            .collect(),
    )
}

/// Gives each judge its points through its own downstream, without holding the push.
fn hand_to_judges(topo: &Topology, per_judge: Vec<FrameBody>) {
    for (j, batch) in per_judge.into_iter().enumerate() {
        if batch.is_empty() {
            continue;
        }
        let d = topo.judges[j].clone();
        tokio::spawn(async move {
            if let Err(e) = d.deliver(Payload::Frame(batch)).await {
                tracing::warn!(judge = %d.name(), error = %e, "judge copy lost");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::{Tags, TenantId};

    #[test]
    fn each_downstream_frame_decodes_to_exactly_its_points_and_replicas_get_the_same_bytes() {
        let stores: Vec<String> = (0..3).map(|i| format!("http://s{i}:1")).collect();
        let judges: Vec<String> = (0..2).map(|i| format!("http://j{i}:1")).collect();
        let (store_ring, judge_ring) = (Ring::new(&stores, 64), Ring::new(&judges, 64));
        let points: Vec<Point> = (0..300)
            .map(|i| {
                let mut p = Point::gauge(
                    &format!("host-{}", i % 17),
                    &format!("m.{}", i % 5),
                    Tags::from_pairs([("dc", "x"), ("i", &*(i % 7).to_string())]),
                    i as f64 * 0.25,
                    1_700_000_000 + i,
                );
                p.tenant = TenantId::new(if i % 2 == 0 { "acme" } else { "beta" }).unwrap();
                p
            })
            .collect();
        let (per_store, per_judge) = encode_for(&store_ring, 2, &judge_ring, &points);
        // What each downstream should get, in push order, by the rings themselves.
        let mut want_store = vec![Vec::new(); 3];
        let mut want_judge = vec![Vec::new(); 2];
        for p in &points {
            let h = series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags);
            let reps = store_ring.replicas(h, 2);
            assert_eq!(reps.len(), 2);
            for i in reps {
                want_store[i].push(p.clone());
            }
            let j = judge_ring.owner(argus_core::series::endpoint_hash(&p.tenant, &p.endpoint));
            want_judge[j.unwrap()].push(p.clone());
        }
        for (got, want) in per_store
            .iter()
            .zip(&want_store)
            .chain(per_judge.iter().zip(&want_judge))
        {
            assert_eq!(got.len(), want.len());
            assert_eq!(got.decode().unwrap(), *want);
            // The bytes are the frame encoding of exactly those points.
            assert_eq!(got.frame(), argus_core::wire::frame::encode_raw(want));
        }
        assert_eq!(per_store.iter().map(FrameBody::len).sum::<usize>(), 600);
    }
}
