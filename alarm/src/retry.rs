//! When to try a failed delivery again: exponential backoff with jitter, or the receiver's
//! `Retry-After` when it gave one.

use crate::config::RetryPolicy;
use std::time::Duration;

/// The wait after the `attempts`-th failed try (1 for the first failure).
pub fn backoff(p: &RetryPolicy, attempts: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(ra) = retry_after {
        return ra.min(Duration::from_secs(p.max_retry_after_secs));
    }
    let exp = attempts.saturating_sub(1).min(30);
    let full = p
        .initial_backoff_ms
        .saturating_mul(1u64 << exp)
        .min(p.max_backoff_ms);
    // Jitter in [50%, 100%]: spreads retries of a burst without ever waiting longer than the cap.
    let jittered = full / 2 + (rand::random::<f64>() * (full - full / 2) as f64) as u64;
    Duration::from_millis(jittered)
}

/// Parses a `Retry-After` header given in seconds (an HTTP date is ignored: backoff applies).
pub fn parse_retry_after(v: Option<&str>) -> Option<Duration> {
    v?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff_ms: 1000,
            max_backoff_ms: 5000,
            max_retry_after_secs: 60,
        };
        for _ in 0..50 {
            let b1 = backoff(&p, 1, None).as_millis();
            assert!((500..=1000).contains(&b1), "{b1}");
            let b3 = backoff(&p, 3, None).as_millis();
            assert!((2000..=4000).contains(&b3), "{b3}");
            assert!(backoff(&p, 20, None).as_millis() <= 5000);
        }
        assert_eq!(
            backoff(&p, 1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            backoff(&p, 1, Some(Duration::from_secs(7200))),
            Duration::from_secs(60)
        );
        assert_eq!(
            parse_retry_after(Some(" 12 ")),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}
