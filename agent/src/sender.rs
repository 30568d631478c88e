//! The outgoing side: a bounded queue of points, drained in batches to the transfers with
//! failover. While no transfer answers, points wait in the queue; past its bound the oldest are
//! dropped and counted, never silently.

use argus_core::telemetry::Counter;
use argus_core::wire::{encode_body, Batch, Encoding, PushResponse};
use argus_core::Point;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Points waiting to be sent.
pub struct Queue {
    points: Mutex<VecDeque<Point>>,
    max: usize,
    /// Points dropped because the queue was full.
    pub dropped: Arc<Counter>,
    wake: Notify,
}

impl Queue {
    /// A queue holding at most `max` points.
    pub fn new(max: usize, dropped: Arc<Counter>) -> Self {
        Queue {
            points: Mutex::new(VecDeque::new()),
            max,
            dropped,
            wake: Notify::new(),
        }
    }

    /// Appends points, dropping the oldest past the bound.
    pub fn push(&self, pts: impl IntoIterator<Item = Point>) {
        let mut q = self.points.lock().expect("queue lock");
        q.extend(pts);
        while q.len() > self.max {
            q.pop_front();
            self.dropped.inc();
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
        while q.len() > self.max {
            q.pop_back();
            self.dropped.inc();
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

/// Pushes batches to transfers.
pub struct Sender {
    client: reqwest::Client,
    transfers: Vec<String>,
    token: String,
    /// Index of the transfer that answered last; tried first.
    current: usize,
}

impl Sender {
    /// A sender to `transfers` with the agent `token`.
    pub fn new(transfers: Vec<String>, token: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        Sender {
            client,
            transfers,
            token,
            current: 0,
        }
    }

    /// Sends one batch, trying each transfer once starting from the last good one.
    pub async fn send(&mut self, points: &[Point]) -> Result<PushResponse, String> {
        let body = encode_body(
            Encoding::Zstd,
            &Batch {
                points: points.to_vec(),
            }
            .to_json(),
        );
        let mut errors = Vec::new();
        for i in 0..self.transfers.len() {
            let idx = (self.current + i) % self.transfers.len();
            let url = format!("{}/api/v1/push", self.transfers[idx].trim_end_matches('/'));
            let res = self
                .client
                .post(&url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .header("content-encoding", "zstd")
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    self.current = idx;
                    return r.json::<PushResponse>().await.map_err(|e| e.to_string());
                }
                Ok(r) => errors.push(format!("{url}: {}", r.status())),
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        Err(errors.join("; "))
    }
}

/// Drains `queue` forever: a batch every `interval` (sooner when woken), backing off while no
/// transfer answers.
pub async fn run(queue: Arc<Queue>, mut sender: Sender, batch_max: usize, interval: Duration) {
    let mut backoff = Duration::from_millis(500);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = queue.wake.notified() => { tokio::time::sleep(Duration::from_millis(50)).await; }
        }
        loop {
            let batch = queue.take(batch_max);
            if batch.is_empty() {
                break;
            }
            match sender.send(&batch).await {
                Ok(resp) => {
                    backoff = Duration::from_millis(500);
                    for r in resp.rejected {
                        tracing::warn!(rejection = %r, "transfer rejected a point");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, points = batch.len(), "no transfer answered; keeping points");
                    queue.put_back(batch);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    break;
                }
            }
        }
    }
}
