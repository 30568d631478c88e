//! The outgoing side: a bounded in-memory queue of points, drained in batches to the transfers
//! with failover, exponential backoff with jitter, and the on-disk [`Spool`] while no transfer
//! answers. Order is kept: once anything is buffered on disk, newer points go behind it.

use crate::spool::Spool;
use argus_core::http::Failure;
use argus_core::telemetry::{Counter, Registry};
use argus_core::wire::{frame, PushResponse};
use argus_core::Point;
use rand::Rng;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Points waiting to be sent.
pub struct Queue {
    points: Mutex<VecDeque<Point>>,
    max: usize,
    /// Points dropped because the queue was full.
    pub dropped: Arc<Counter>,
    wake: Notify,
    /// Tags added to every point pushed (`tags_on_points`); empty: none.
    tags: argus_core::Tags,
}

impl Queue {
    /// A queue holding at most `max` points.
    pub fn new(max: usize, dropped: Arc<Counter>) -> Self {
        Queue {
            points: Mutex::new(VecDeque::new()),
            max,
            dropped,
            wake: Notify::new(),
            tags: argus_core::Tags::new(),
        }
    }

    /// The queue adding `tags` to every point pushed, unless the point has that tag already.
    pub fn with_tags(mut self, tags: argus_core::Tags) -> Self {
        self.tags = tags;
        self
    }

    /// Appends points, dropping the oldest past the bound (counted and logged).
    pub fn push(&self, pts: impl IntoIterator<Item = Point>) {
        let mut q = self.points.lock().expect("queue lock");
        if self.tags.is_empty() {
            q.extend(pts);
        } else {
            q.extend(pts.into_iter().map(|mut p| {
                for (k, v) in self.tags.iter() {
                    if p.tags.get(k).is_none() {
                        p.tags.insert(k, v);
                    }
                }
                p
            }));
        }
        let over = q.len().saturating_sub(self.max);
        if over > 0 {
            q.drain(..over);
            self.dropped.add(over as u64);
            tracing::warn!(
                points = over,
                max = self.max,
                "memory queue full: dropped the oldest points"
            );
        }
        drop(q);
        self.wake.notify_one();
    }

    fn take(&self, n: usize) -> Vec<Point> {
        let mut q = self.points.lock().expect("queue lock");
        let n = n.min(q.len());
        q.drain(..n).collect()
    }

    fn put_back(&self, pts: Vec<Point>) {
        let mut q = self.points.lock().expect("queue lock");
        for p in pts.into_iter().rev() {
            q.push_front(p);
        }
        let over = q.len().saturating_sub(self.max);
        if over > 0 {
            q.truncate(self.max);
            self.dropped.add(over as u64);
            tracing::warn!(
                points = over,
                max = self.max,
                "memory queue full: dropped the newest points"
            );
        }
    }

    /// Points waiting.
    pub fn len(&self) -> usize {
        self.points.lock().expect("queue lock").len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a batch was not delivered.
#[derive(Debug)]
pub enum SendError {
    /// No transfer answered (or each said to retry later): keep the batch and retry.
    Retry(String),
    /// A transfer refused the batch as a whole (400, 413): retrying cannot help.
    Refused(String),
}

/// Pushes batches to transfers, starting with the one that answered last.
pub struct Sender {
    client: reqwest::Client,
    transfers: Vec<String>,
    token: String,
    current: usize,
}

impl Sender {
    /// A sender to `transfers` with the agent `token`.
    pub fn new(transfers: Vec<String>, token: String) -> Self {
        Self::with_tls(transfers, token, &argus_core::tls::ClientTls::default())
    }

    /// [`Sender::new`] trusting the extra roots of `[tls] ca_file` for `https://` transfers.
    pub fn with_tls(
        transfers: Vec<String>,
        token: String,
        tls: &argus_core::tls::ClientTls,
    ) -> Self {
        let client = tls
            .builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("http client");
        Sender {
            client,
            transfers,
            token,
            current: 0,
        }
    }

    /// The transfer tried first.
    pub fn current(&self) -> Option<&str> {
        self.transfers.get(self.current).map(String::as_str)
    }

    /// Sends one batch, trying each transfer once, the last good one first.
    pub async fn send(&mut self, points: &[Point]) -> Result<PushResponse, SendError> {
        if self.transfers.is_empty() {
            return Err(SendError::Retry("no transfer configured".into()));
        }
        // The binary point frame, zstd-compressed: several times cheaper for the transfer to
        // read than the JSON batch (which it still takes from scripts and other senders).
        let body = frame::encode_batch(points);
        let mut errors = Vec::new();
        for i in 0..self.transfers.len() {
            let idx = (self.current + i) % self.transfers.len();
            let url = format!("{}/api/v1/push", self.transfers[idx].trim_end_matches('/'));
            let res = self
                .client
                .post(&url)
                .bearer_auth(&self.token)
                .header("content-type", frame::CONTENT_TYPE)
                .header("content-encoding", "zstd")
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    if idx != self.current {
                        tracing::info!(transfer = %self.transfers[idx], "failed over to another transfer");
                    }
                    self.current = idx;
                    // A 2xx means durable; an unreadable answer is logged, not retried
                    // (retrying would duplicate the points).
                    return Ok(r.json::<PushResponse>().await.unwrap_or_else(|e| {
                        tracing::warn!(%url, error = %e, "unreadable push answer");
                        PushResponse {
                            accepted: points.len(),
                            rejected: vec![],
                        }
                    }));
                }
                // By the one retry rule: only a refusal of the batch itself drops it; a busy
                // transfer or a wrong token/URL keeps it for the next transfer or the buffer.
                Ok(r) if !Failure::of_status(r.status().as_u16()).keeps_data() => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    return Err(SendError::Refused(format!("{url}: {status}: {text}")));
                }
                Ok(r) => errors.push(format!("{url}: {}", r.status())),
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        Err(SendError::Retry(errors.join("; ")))
    }
}

/// How the send loop behaves.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Most points per batch.
    pub batch_max: usize,
    /// Time between flushes.
    pub interval: Duration,
    /// First backoff.
    pub backoff_initial: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

/// Counters of the send loop.
pub struct SendMetrics {
    sent: Arc<Counter>,
    rejected: Arc<Counter>,
    refused: Arc<Counter>,
    failures: Arc<Counter>,
}

impl SendMetrics {
    /// Registers the counters in `r`.
    pub fn new(r: &Registry) -> Self {
        SendMetrics {
            sent: r.counter(
                "argus_agent_points_sent_total",
                "Points a transfer acknowledged.",
                &[],
            ),
            rejected: r.counter(
                "argus_agent_points_rejected_total",
                "Points a transfer rejected one by one (invalid).",
                &[],
            ),
            refused: r.counter(
                "argus_agent_points_dropped_total",
                "Points dropped, by reason.",
                &[("reason", "refused")],
            ),
            failures: r.counter(
                "argus_agent_send_failures_total",
                "Rounds in which no transfer answered.",
                &[],
            ),
        }
    }
}

/// The exponential backoff with jitter between rounds in which no transfer answered.
struct Backoff {
    next: Duration,
    initial: Duration,
    max: Duration,
}

impl Backoff {
    fn reset(&mut self) {
        self.next = self.initial;
    }

    /// The wait before the next round: the current step, scaled by a random 50–100 % so that
    /// agents that lost their transfer together do not come back in lockstep.
    fn wait(&mut self) -> Duration {
        let d = self.next.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        self.next = (self.next * 2).min(self.max);
        d
    }
}

/// The send loop: owns the sender and the on-disk buffer.
pub struct SendLoop {
    /// Points to send.
    pub queue: Arc<Queue>,
    /// The transfers.
    pub sender: Sender,
    /// The on-disk buffer; `None` without a `data_dir` (points then wait in memory).
    pub spool: Option<Spool>,
    /// Options.
    pub opts: SendOptions,
    /// Counters.
    pub metrics: SendMetrics,
}

/// What one attempt at a batch came to.
enum Outcome {
    Delivered,
    Retry,
}

impl SendLoop {
    /// Drains the queue until `stop` turns true; then makes one last attempt and writes what is
    /// left to the on-disk buffer, so a restart loses nothing.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff {
            next: self.opts.backoff_initial,
            initial: self.opts.backoff_initial,
            max: self.opts.backoff_max,
        };
        loop {
            let stopping = *stop.borrow();
            let ok = self.round().await;
            if stopping {
                self.save_rest();
                return;
            }
            let wait = if ok {
                backoff.reset();
                self.opts.interval
            } else {
                self.metrics.failures.inc();
                backoff.wait()
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.queue.wake.notified(), if ok => {
                    // Let a burst of pushes gather into one batch.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ = stop.changed() => {}
            }
        }
    }

    /// One round: fresh points (behind anything buffered), then the buffer. False when no
    /// transfer answered.
    async fn round(&mut self) -> bool {
        let mut failed = false;
        loop {
            let batch = self.queue.take(self.opts.batch_max);
            if batch.is_empty() {
                break;
            }
            if let Some(sp) = self.spool.as_mut().filter(|s| !s.is_empty()) {
                write_spool(sp, &batch, &self.queue);
                continue;
            }
            if let Outcome::Retry = self.deliver(&batch).await {
                failed = true;
                match self.spool.as_mut() {
                    Some(sp) => write_spool(sp, &batch, &self.queue),
                    None => {
                        self.queue.put_back(batch);
                        return false;
                    }
                }
            }
        }
        if failed {
            return false;
        }
        while let Some(batch) = self.spool.as_mut().and_then(Spool::head) {
            match self.deliver(&batch).await {
                Outcome::Delivered => self.spool.as_mut().expect("spool").pop(),
                Outcome::Retry => return false,
            }
        }
        true
    }

    async fn deliver(&mut self, batch: &[Point]) -> Outcome {
        match self.sender.send(batch).await {
            Ok(resp) => {
                self.metrics.sent.add(resp.accepted as u64);
                self.metrics.rejected.add(resp.rejected.len() as u64);
                for r in resp.rejected.iter().take(5) {
                    tracing::warn!(rejection = %r, "transfer rejected a point");
                }
                Outcome::Delivered
            }
            Err(SendError::Refused(e)) => {
                self.metrics.refused.add(batch.len() as u64);
                tracing::error!(error = %e, points = batch.len(), "transfer refused a whole batch; dropped");
                Outcome::Delivered
            }
            Err(SendError::Retry(e)) => {
                tracing::warn!(error = %e, points = batch.len(), "no transfer answered; buffering");
                Outcome::Retry
            }
        }
    }

    fn save_rest(&mut self) {
        let rest = self.queue.take(usize::MAX);
        if rest.is_empty() {
            return;
        }
        match self.spool.as_mut() {
            Some(sp) => {
                for chunk in rest.chunks(self.opts.batch_max.max(1)) {
                    write_spool(sp, chunk, &self.queue);
                }
            }
            None => {
                self.queue.dropped.add(rest.len() as u64);
                tracing::warn!(
                    points = rest.len(),
                    "stopping without a data_dir: unsent points lost"
                );
            }
        }
    }
}

fn write_spool(sp: &mut Spool, batch: &[Point], queue: &Queue) {
    if let Err(e) = sp.append(batch) {
        queue.dropped.add(batch.len() as u64);
        tracing::error!(error = %e, points = batch.len(), "cannot write the on-disk buffer; points dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_max() {
        let mut b = Backoff {
            next: Duration::from_millis(100),
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        let waits: Vec<_> = (0..4).map(|_| b.wait()).collect();
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
        assert!(waits[1] >= Duration::from_millis(100) && waits[1] <= Duration::from_millis(200));
        assert!(waits[3] >= Duration::from_millis(175) && waits[3] <= Duration::from_millis(350));
        b.reset();
        assert!(b.wait() <= Duration::from_millis(100));
    }
}
