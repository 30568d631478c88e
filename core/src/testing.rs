//! Helpers for tests that need a real external server (PostgreSQL, an SMTP sink, Chromium, ...).
//!
//! `.ci/run` installs and starts those servers and exports where they are. On a laptop without
//! them a test says so loudly and skips; in CI (`CI` set) a missing server fails the test, so
//! nothing can skip there.
//!
//! [`WebhookReceiver`] is the real HTTP receiver the alerting tests deliver webhooks to.

// Needs the HTTP helpers: without the `http` feature (the fuzz targets) core builds without it.
#[cfg(feature = "http")]
mod webhook;
#[cfg(feature = "http")]
pub use webhook::{Hit, WebhookReceiver};

/// Reads the environment variable `var` naming a test server. When it is absent: in CI, panics;
/// elsewhere prints a loud `SKIPPED` line and returns `None`.
pub fn require_server(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI")
                .map(|v| !v.is_empty() && v != "false")
                .unwrap_or(false)
            {
                panic!(
                    "{what} is required in CI but {var} is not set: .ci/run should have started it"
                );
            }
            eprintln!("\n*** SKIPPED: {what} not available ({var} unset); run .ci/run to test against it ***\n");
            None
        }
    }
}
