//! The configuration database: SQLite (embedded, the default) or PostgreSQL, opened and
//! migrated by `argus_core::db` (shared with alarm). Queries use `$n` placeholders, which both
//! engines take.

use argus_core::db::Schema;
use argus_core::http::ApiError;
use std::time::Duration;

pub use argus_core::db::{opt_str, redact_url, Db, Dialect};

/// Versioned migrations; `{id}` becomes the engine's auto-increment primary key.
///
/// Configuration objects (host groups, templates, strategies, contacts, ...) share one table of
/// JSON documents: their ids are then unique across kinds (strategy ids must be unique across
/// the platform) and every kind gets the same tenant-scoped CRUD.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE IF NOT EXISTS web_meta (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO web_meta (name, value) VALUES ('version', 1);
CREATE TABLE IF NOT EXISTS web_tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_users (
  id {id},
  tenant TEXT NOT NULL,
  login TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  platform_admin BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_sessions (
  token_sha256 TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  csrf TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_tokens (
  id {id},
  tenant TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  token_sha256 TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_objects (
  id {id},
  tenant TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT,
  body TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_objects_kind ON web_objects (tenant, kind, id);
CREATE UNIQUE INDEX IF NOT EXISTS web_objects_name ON web_objects (tenant, kind, name)
"#,
    ),
    // Ids of deleted tenants, never given out again: their series stay in storage (and their
    // events in the alarm), and a new tenant of the same id would read them.
    (
        2,
        r#"
CREATE TABLE IF NOT EXISTS web_deleted_tenants (
  id TEXT PRIMARY KEY,
  deleted_at BIGINT NOT NULL
)
"#,
    ),
];

/// web's tables, migrated under the advisory lock "argusweb" on PostgreSQL (several web
/// instances may start together on a fresh database).
const SCHEMA: Schema = Schema {
    prefix: "web",
    migrations: MIGRATIONS,
    lock: 0x6172_6775_7377_6562,
    acquire_timeout: Duration::from_secs(15),
};

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and applies the migrations.
pub async fn open(url: &str) -> anyhow::Result<Db> {
    Db::open(url, &SCHEMA)
        .await
        .map_err(|e| anyhow::anyhow!("web database: {e}"))
}

/// Turns a database error into a 503 answer (the database is down or busy) or, for a broken
/// uniqueness constraint, a 409.
pub fn db_err(e: sqlx::Error) -> ApiError {
    let s = e.to_string();
    if s.contains("UNIQUE") || s.contains("unique") || s.contains("duplicate key") {
        return ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "already exists (a unique name or login is taken)",
        );
    }
    tracing::warn!(error = %s, "web database error");
    ApiError::unavailable(format!("configuration database: {s}"), 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    /// Web instances behind a balancer may start together on a fresh PostgreSQL database: each
    /// one opens it, and every migration is applied once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn instances_starting_together_on_a_fresh_postgres_database_all_open_it() {
        let Some(url) = argus_core::testing::postgres_database("argus_web_db", "PostgreSQL").await
        else {
            return;
        };
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { open(&url).await })
            })
            .collect();
        for o in opens {
            let db = o
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("a concurrent open failed: {e:#}"));
            let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM web_migrations")
                .fetch_one(&db.pool)
                .await
                .unwrap()
                .get("n");
            assert_eq!(n, MIGRATIONS.len() as i64);
            db.pool.close().await;
        }
    }
}
