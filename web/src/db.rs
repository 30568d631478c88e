//! The configuration database: SQLite (embedded, the default) or PostgreSQL through `sqlx::Any`,
//! with one set of migrations for both. Queries use `$n` placeholders, which both engines take.

use argus_core::http::ApiError;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// Which engine is behind the pool (the auto-increment column differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database handle shared by the handlers.
#[derive(Clone)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// The engine.
    pub dialect: Dialect,
}

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

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and applies the migrations.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        anyhow::anyhow!("web database: creating {}: {e}", dir.display())
                    })?;
                }
            }
        }
        // SQLite allows one writer: a single connection avoids busy errors inside transactions.
        let max = if dialect == Dialect::Sqlite { 1 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(15))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("web database: connecting to {}: {e}", redact_url(url)))?;
        let db = Db { pool, dialect };
        if dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&db.pool)
                .await?;
        }
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS web_migrations (version BIGINT PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        let id = match self.dialect {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        for (version, sql) in MIGRATIONS {
            let done: Option<AnyRow> =
                sqlx::query("SELECT version FROM web_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&self.pool)
                    .await?;
            if done.is_some() {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            for stmt in sql
                .replace("{id}", id)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                sqlx::query(stmt).execute(&mut *tx).await?;
            }
            // Two instances starting together: the loser's insert conflicts and rolls back.
            sqlx::query("INSERT INTO web_migrations (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }
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

/// Reads an optional text column.
pub fn opt_str(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = url[s + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
