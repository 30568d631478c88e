//! One downstream (a storage node, a judge, or the InfluxDB sink) with its spool, circuit
//! breaker and replayer.
//!
//! [`Downstream::deliver`] makes points durable for this downstream: sent directly when the
//! downstream is healthy and has nothing spooled, otherwise appended to its spool (fsynced).
//! A background replayer drains the spool in order once the downstream answers again.
//! Direct writes are coalesced ([`crate::coalesce`]): at most
//! [`TransferConfig::downstream_writes_in_flight`](crate::config::TransferConfig::downstream_writes_in_flight)
//! at once, the deliveries that arrive meanwhile going together in the next write.

use crate::breaker::Breaker;
use crate::coalesce::Coalescer;
use crate::config::{BreakerConfig, SpoolConfig};
use crate::payload::Payload;
use crate::sink::{SendError, Sink};
use crate::spool::{Spool, SpoolError};
use argus_core::telemetry::{Counter, Gauge, Registry};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How a delivery was made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The downstream has the points.
    Direct,
    /// The points are in the downstream's spool.
    Spooled,
}

/// Why points could not be made durable for a downstream.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The downstream refused the points as invalid (retrying would not help).
    #[error("{0}")]
    Refused(String),
    /// A merged write carrying the points was abandoned (the transfer is stopping): they are
    /// neither sent nor spooled, so the push is not acknowledged.
    #[error("{downstream}: the write carrying the points was abandoned")]
    Abandoned {
        /// The downstream.
        downstream: String,
    },
    /// The downstream failed and the spool could not take the points.
    #[error("{downstream} failed ({cause}) and its spool could not take the points: {spool}")]
    Spool {
        /// The downstream.
        downstream: String,
        /// Why the direct write failed (or was not tried).
        cause: String,
        /// The spool's error.
        spool: SpoolError,
    },
}

struct Stats {
    spool_bytes: Arc<Gauge>,
    spooled: Arc<Counter>,
    replayed: Arc<Counter>,
    dropped: Arc<Counter>,
    breaker_open: Arc<Gauge>,
    writes: Arc<Counter>,
    coalesced: Arc<Counter>,
}

/// Most points in one merged write (a single larger delivery still goes whole).
pub const MAX_MERGED_POINTS: usize = 20_000;

/// One downstream.
pub struct Downstream {
    sink: Sink,
    spool: Arc<Spool>,
    breaker: Mutex<Breaker>,
    wake: Notify,
    stats: Stats,
    coalescer: Coalescer,
    replay_batch: usize,
    max_backoff: Duration,
    write_timeout: Duration,
}

impl Downstream {
    /// The pooled client of this downstream's storage node (`None` for a judge or another
    /// kind): queries reuse its connections instead of opening their own.
    pub fn store_client(&self) -> Option<&argus_store_client::StoreClient> {
        self.sink.store.as_ref()
    }

    /// Opens the downstream's spool under `spool_dir` and starts its replayer, which runs until
    /// `stop` turns true. At most `writes_in_flight` direct writes go out at once.
    pub fn start(
        sink: Sink,
        spool_dir: &Path,
        spool: &SpoolConfig,
        breaker: &BreakerConfig,
        writes_in_flight: usize,
        registry: &Registry,
        stop: watch::Receiver<bool>,
    ) -> Result<Arc<Downstream>, SpoolError> {
        let name = sink.name();
        let labels: &[(&str, &str)] = &[("downstream", &name)];
        let dir = spool_dir.join(sink.dir_name());
        let s = Spool::open(&dir, spool.segment_bytes, spool.max_bytes)?;
        // Remember where a leftover spool is to go, so a restarted transfer drains it even if
        // the downstream has left the configuration.
        let _ = std::fs::write(dir.join("target"), sink.describe());
        let d = Arc::new(Downstream {
            stats: Stats {
                spool_bytes: registry.gauge(
                    "argus_transfer_spool_bytes",
                    "Bytes in the downstream's spool.",
                    labels,
                ),
                spooled: registry.counter(
                    "argus_transfer_spooled_points_total",
                    "Points written to the spool.",
                    labels,
                ),
                replayed: registry.counter(
                    "argus_transfer_replayed_points_total",
                    "Points replayed from the spool.",
                    labels,
                ),
                dropped: registry.counter(
                    "argus_transfer_spool_dropped_points_total",
                    "Spooled points the downstream refused as invalid.",
                    labels,
                ),
                breaker_open: registry.gauge(
                    "argus_transfer_breaker_open",
                    "1 while the downstream's circuit breaker is open.",
                    labels,
                ),
                writes: registry.counter(
                    "argus_transfer_downstream_writes_total",
                    "Direct writes sent to the downstream (merged ones count once).",
                    labels,
                ),
                coalesced: registry.counter(
                    "argus_transfer_coalesced_deliveries_total",
                    "Deliveries that waited for a write slot and went in a merged write.",
                    labels,
                ),
            },
            coalescer: Coalescer::new(writes_in_flight, MAX_MERGED_POINTS),
            sink,
            spool: Arc::new(s),
            breaker: Mutex::new(Breaker::new(
                breaker.failures,
                Duration::from_millis(breaker.open_ms),
            )),
            wake: Notify::new(),
            replay_batch: spool.replay_batch_points.max(1),
            max_backoff: Duration::from_millis(spool.max_backoff_ms.max(10)),
            write_timeout: Duration::from_millis(breaker.write_timeout_ms.max(1)),
        });
        d.stats.spool_bytes.set(d.spool.bytes() as i64);
        tokio::spawn(d.clone().replay(stop));
        Ok(d)
    }

    /// The downstream's name (its URL).
    pub fn name(&self) -> String {
        self.sink.name()
    }

    /// Posts a JSON control message (not points) to `path` of the downstream.
    pub async fn post_json(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<(), crate::sink::SendError> {
        self.sink.post_json(path, body).await
    }

    /// True when nothing is waiting in the spool.
    pub fn spool_is_empty(&self) -> bool {
        self.spool.is_empty()
    }

    /// Bytes in the spool.
    pub fn spool_bytes(&self) -> u64 {
        self.spool.bytes()
    }

    /// Makes `points` durable for this downstream: directly, or in its spool.
    pub async fn deliver(self: &Arc<Self>, points: Payload) -> Result<Delivery, DeliverError> {
        let allow = self.breaker.lock().expect("breaker lock").allow();
        let (cause, points) = if !allow {
            ("circuit breaker open".to_string(), points)
        } else if !self.spool.is_empty() {
            ("older points are spooled".to_string(), points)
        } else {
            let (sent, points) = self.send_coalesced(points).await?;
            match sent {
                Ok(()) => {
                    self.success();
                    return Ok(Delivery::Direct);
                }
                Err(SendError::Refused(m)) => return Err(DeliverError::Refused(m)),
                Err(SendError::Retryable(m)) => {
                    self.failure();
                    (m, points)
                }
            }
        };
        let n = points.len() as u64;
        let spool = self.spool.clone();
        let dir = self.spool.dir().display().to_string();
        // The spool keeps points: frame bodies are decoded back (only on this slow path).
        let append = move || match points.into_points() {
            Ok(points) => spool.append(&points),
            Err(e) => Err(SpoolError::Io {
                dir,
                source: std::io::Error::other(format!("undecodable frame body: {e}")),
            }),
        };
        let r = match tokio::task::spawn_blocking(append).await {
            Ok(r) => r,
            Err(e) => Err(SpoolError::Io {
                dir: self.spool.dir().display().to_string(),
                source: std::io::Error::other(e.to_string()),
            }),
        };
        match r {
            Ok(()) => {
                self.stats.spooled.add(n);
                self.stats.spool_bytes.set(self.spool.bytes() as i64);
                self.wake.notify_one();
                Ok(Delivery::Spooled)
            }
            Err(spool) => Err(DeliverError::Spool {
                downstream: self.name(),
                cause,
                spool,
            }),
        }
    }

    /// Sends `points` in a write of their own when a slot is free, else in the next merged
    /// write; gives the points back with the outcome.
    async fn send_coalesced(
        self: &Arc<Self>,
        points: Payload,
    ) -> Result<crate::coalesce::Outcome, DeliverError> {
        match self.coalescer.admit(points) {
            Ok(points) => {
                let sent = self.timed_send(&points).await;
                self.release_slot();
                Ok((sent, points))
            }
            Err(answer) => answer.await.map_err(|_| DeliverError::Abandoned {
                downstream: self.name(),
            }),
        }
    }

    /// Hands a finished write's slot to the deliveries that waited, merged into one write.
    fn release_slot(self: &Arc<Self>) {
        let Some(merged) = self.coalescer.release() else {
            return;
        };
        self.stats.coalesced.add(merged.deliveries() as u64);
        let d = self.clone();
        tokio::spawn(async move {
            let sent = d.timed_send(&merged.points).await;
            merged.finish(&sent);
            d.release_slot();
        });
    }

    /// One write to the downstream. A slow downstream must not hold the push: past the write
    /// timeout the points are spooled (the replayer retries them) and the slowness counts
    /// towards the breaker.
    async fn timed_send(&self, points: &Payload) -> Result<(), SendError> {
        self.stats.writes.inc();
        tokio::time::timeout(self.write_timeout, self.sink.send(points))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Retryable(format!(
                    "no answer within breaker.write_timeout_ms ({} ms)",
                    self.write_timeout.as_millis()
                )))
            })
    }

    fn success(&self) {
        self.breaker.lock().expect("breaker lock").success();
        self.stats.breaker_open.set(0);
    }

    fn failure(&self) {
        let mut b = self.breaker.lock().expect("breaker lock");
        b.failure();
        self.stats.breaker_open.set(b.is_open() as i64);
    }

    /// Drains the spool in order, backing off while the downstream fails.
    async fn replay(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let base = Duration::from_millis(50);
        let mut backoff = base;
        loop {
            if *stop.borrow() {
                return;
            }
            let spool = self.spool.clone();
            let max = self.replay_batch;
            // A join error only happens when the runtime shuts down.
            let Ok(next) = tokio::task::spawn_blocking(move || spool.peek(max)).await else {
                return;
            };
            let (points, pos) = match next {
                Ok(Some((points, pos))) => (Payload::Points(points), pos),
                Ok(None) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(downstream = %self.name(), error = %e, "cannot read spool");
                    self.pause(&mut stop, self.max_backoff).await;
                    continue;
                }
            };
            let allowed = self.breaker.lock().expect("breaker lock").allow();
            let result = if points.is_empty() || !allowed {
                None
            } else {
                Some(self.sink.send(&points).await)
            };
            match result {
                None if points.is_empty() => {}
                None => {
                    self.pause(&mut stop, backoff).await;
                    continue;
                }
                Some(Ok(())) => {
                    self.success();
                    self.stats.replayed.add(points.len() as u64);
                    backoff = base;
                }
                Some(Err(SendError::Refused(m))) => {
                    // A poison record would block the spool for ever: drop it, loudly.
                    tracing::error!(downstream = %self.name(), points = points.len(), reason = %m,
                        "downstream refused spooled points as invalid; dropping them");
                    self.stats.dropped.add(points.len() as u64);
                }
                Some(Err(SendError::Retryable(m))) => {
                    self.failure();
                    tracing::debug!(downstream = %self.name(), error = %m, "replay failed");
                    self.pause(&mut stop, backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                    continue;
                }
            }
            let spool = self.spool.clone();
            let Ok(r) = tokio::task::spawn_blocking(move || spool.commit(pos)).await else {
                return;
            };
            if let Err(e) = r {
                tracing::error!(downstream = %self.name(), error = %e, "cannot save spool cursor");
            }
            self.stats.spool_bytes.set(self.spool.bytes() as i64);
        }
    }

    async fn pause(&self, stop: &mut watch::Receiver<bool>, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop.changed() => {}
        }
    }
}
