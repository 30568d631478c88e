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
            skipped(&format!(
                "{what} not available ({var} unset); run .ci/run to test against it"
            ));
            None
        }
    }
}

/// A fresh, empty PostgreSQL database on the server `ARGUS_TEST_PG_URL` names (whose URL ends
/// with `/dbname`), named `<prefix>_<random>`: its URL, or `None` (skipped, see
/// [`require_server`]; `what` names the check skipped) without the server.
#[cfg(feature = "db")]
pub async fn postgres_database(prefix: &str, what: &str) -> Option<String> {
    let base = require_server("ARGUS_TEST_PG_URL", what)?;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .expect("connect to ARGUS_TEST_PG_URL");
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    let (head, _) = base
        .rsplit_once('/')
        .expect("a database URL ends with /dbname");
    Some(format!("{head}/{name}"))
}

/// Says loudly that a test skips a check, where a plain `cargo test` shows it: written to the
/// process's stderr directly, since the test harness captures `eprintln!` of passing tests.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n*** SKIPPED: {why} ***\n");
}

#[cfg(test)]
mod tests {
    /// Run by [`a_skip_is_shown_by_a_plain_cargo_test`] in a child test process.
    #[test]
    fn skip_probe() {
        if std::env::var_os("ARGUS_SKIP_PROBE").is_some() {
            super::skipped("probe of the skip message");
        }
    }

    #[test]
    fn a_skip_is_shown_by_a_plain_cargo_test() {
        // The harness captures output as `cargo test` does by default; the line must get out.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "testing::tests::skip_probe"])
            .env("ARGUS_SKIP_PROBE", "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("*** SKIPPED: probe of the skip message ***"),
            "stderr: {err}"
        );
    }
}
