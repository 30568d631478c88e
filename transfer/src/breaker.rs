//! A circuit breaker: after a run of failures a downstream is left alone for a while, so a dead
//! node is not hammered and pushes do not each wait for its timeout.

use std::time::{Duration, Instant};

/// The breaker of one downstream.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures, for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            failures: 0,
            open_until: None,
        }
    }

    /// True when a call may be tried now (closed, or open long enough for a probe).
    pub fn allow(&self) -> bool {
        self.open_until.is_none_or(|t| Instant::now() >= t)
    }

    /// True while open.
    pub fn is_open(&self) -> bool {
        !self.allow()
    }

    /// A call succeeded: closes.
    pub fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }

    /// A call failed: opens after enough of them (a failed probe re-opens at once).
    pub fn failure(&mut self) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.threshold {
            self.open_until = Some(Instant::now() + self.open_for);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_closes_on_success() {
        let mut b = Breaker::new(2, Duration::from_secs(3600));
        assert!(b.allow());
        b.failure();
        assert!(b.allow());
        b.failure();
        assert!(b.is_open());
        b.success();
        assert!(b.allow());
        let mut b = Breaker::new(1, Duration::ZERO);
        b.failure();
        assert!(b.allow(), "a probe is allowed once the open period is over");
    }
}
