//! The alarm database: SQLite (embedded) or PostgreSQL through `sqlx::Any`, one set of
//! migrations for both. Queries use `$n` placeholders, which both engines understand.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// Which engine is behind the pool (a few statements differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database handle shared by every part of the service.
#[derive(Clone)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// The engine.
    pub dialect: Dialect,
}

/// Versioned migrations; `{id}` becomes the engine's auto-increment primary key.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
    r#"
CREATE TABLE IF NOT EXISTS alarm_events (
  seq {id},
  idem_key TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  event_id TEXT NOT NULL,
  status TEXT NOT NULL,
  occurrence BIGINT NOT NULL,
  priority BIGINT NOT NULL,
  body TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  processed BIGINT NOT NULL DEFAULT 0,
  outcome TEXT
);
CREATE INDEX IF NOT EXISTS alarm_events_todo ON alarm_events (processed, seq);
CREATE TABLE IF NOT EXISTS alarm_alerts (
  tenant TEXT NOT NULL,
  event_id TEXT NOT NULL,
  status TEXT NOT NULL,
  state TEXT NOT NULL,
  occurrence BIGINT NOT NULL,
  body TEXT NOT NULL,
  first_seen BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  silenced BIGINT NOT NULL DEFAULT 0,
  ack_by TEXT,
  ack_comment TEXT,
  ack_at BIGINT,
  escalate_at BIGINT,
  escalate_team BIGINT,
  escalation_level BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, event_id)
);
CREATE INDEX IF NOT EXISTS alarm_alerts_escalate ON alarm_alerts (escalate_at);
CREATE TABLE IF NOT EXISTS alarm_pending (
  id {id},
  tenant TEXT NOT NULL,
  contact_id BIGINT NOT NULL,
  channel TEXT NOT NULL,
  group_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  event_key TEXT NOT NULL,
  event_body TEXT NOT NULL,
  level BIGINT NOT NULL DEFAULT 0,
  due_at BIGINT NOT NULL,
  UNIQUE (tenant, contact_id, channel, kind, event_key, level)
);
CREATE INDEX IF NOT EXISTS alarm_pending_due ON alarm_pending (due_at);
CREATE TABLE IF NOT EXISTS alarm_deliveries (
  id {id},
  idem_key TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  contact_id BIGINT NOT NULL,
  contact_name TEXT NOT NULL,
  channel TEXT NOT NULL,
  destination TEXT NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  event_keys TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  next_attempt_ms BIGINT NOT NULL,
  delivered_at BIGINT
);
CREATE INDEX IF NOT EXISTS alarm_deliveries_due ON alarm_deliveries (state, next_attempt_ms);
CREATE INDEX IF NOT EXISTS alarm_deliveries_tenant ON alarm_deliveries (tenant, id);
CREATE INDEX IF NOT EXISTS alarm_deliveries_contact ON alarm_deliveries (tenant, contact_id, created_at);
CREATE TABLE IF NOT EXISTS alarm_attempts (
  id {id},
  delivery_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  ok BIGINT NOT NULL,
  status BIGINT,
  error TEXT
);
CREATE INDEX IF NOT EXISTS alarm_attempts_delivery ON alarm_attempts (delivery_id);
CREATE TABLE IF NOT EXISTS alarm_lease (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_ms BIGINT NOT NULL
);
"#,
    ),
    (
        2,
        // Group lookups (joining a group, flushing it) must not scan all of a busy receiver's
        // pending notices.
        "CREATE INDEX IF NOT EXISTS alarm_pending_group ON alarm_pending (tenant, contact_id, channel, group_key, due_at)",
    ),
    (
        3,
        // Reminders (a route's repeat_interval), the teams an escalation reached (they get the
        // recovery too), the acknowledgement-link key, and each group's timing: when its next message
        // may go, so a new group's first notice goes at once and later ones merge.
        r#"
ALTER TABLE alarm_alerts ADD COLUMN remind_at BIGINT;
ALTER TABLE alarm_alerts ADD COLUMN remind_every BIGINT;
ALTER TABLE alarm_alerts ADD COLUMN reminders BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alarm_alerts ADD COLUMN escalated_teams TEXT;
CREATE INDEX IF NOT EXISTS alarm_alerts_remind ON alarm_alerts (remind_at);
CREATE TABLE IF NOT EXISTS alarm_groups (
  tenant TEXT NOT NULL,
  contact_id BIGINT NOT NULL,
  channel TEXT NOT NULL,
  group_key TEXT NOT NULL,
  next_ms BIGINT NOT NULL,
  interval_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant, contact_id, channel, group_key)
);
CREATE TABLE IF NOT EXISTS alarm_meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
"#,
    ),
    (
        4,
        // The events history is paged by tenant and filtered by host and event time. Events
        // stored before have no endpoint here (they match no endpoint filter); their time is
        // when they were received.
        r#"
ALTER TABLE alarm_events ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE alarm_events ADD COLUMN event_ts BIGINT NOT NULL DEFAULT 0;
UPDATE alarm_events SET event_ts = received_at;
CREATE INDEX IF NOT EXISTS alarm_events_tenant ON alarm_events (tenant, seq);
"#,
    ),
    (
        5,
        // Every recovery looks for the tenant's inhibited alerts it may release.
        "CREATE INDEX IF NOT EXISTS alarm_alerts_state ON alarm_alerts (tenant, state)",
    ),
];

impl Db {
    /// Connects to `url` and applies the migrations.
    pub async fn open(url: &str) -> Result<Db, crate::AlarmError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        if dialect == Dialect::Sqlite {
            if let Some(path) = url
                .strip_prefix("sqlite://")
                .map(|p| p.split('?').next().unwrap_or(p))
            {
                if let Some(dir) = std::path::Path::new(path).parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            crate::AlarmError::Database(format!("creating {}: {e}", dir.display()))
                        })?;
                    }
                }
            }
        }
        // SQLite allows one writer: a single connection avoids busy errors inside transactions.
        let max = if dialect == Dialect::Sqlite { 1 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| {
                crate::AlarmError::Database(format!("connecting to {}: {e}", redact_url(url)))
            })?;
        let db = Db { pool, dialect };
        if dialect == Dialect::Sqlite {
            db.exec("PRAGMA journal_mode=WAL").await?;
        }
        db.migrate().await?;
        Ok(db)
    }

    /// The acknowledgement-link key kept in the database: made at random by the first
    /// instance that asks, then the same for every instance and restart.
    pub async fn ack_secret(&self) -> Result<Vec<u8>, crate::AlarmError> {
        let fresh = hex::encode(rand::random::<[u8; 32]>());
        sqlx::query(
            "INSERT INTO alarm_meta (name, value) VALUES ('ack_secret', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&fresh)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        let row = sqlx::query("SELECT value FROM alarm_meta WHERE name = 'ack_secret'")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.get::<String, _>("value").into_bytes())
    }

    async fn exec(&self, sql: &str) -> Result<(), crate::AlarmError> {
        sqlx::query(sql).execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    /// Applies the migrations not applied yet. On PostgreSQL the instances of an active/standby
    /// pair may start together on a fresh database: a session advisory lock makes them migrate
    /// one after the other (concurrent `CREATE TABLE IF NOT EXISTS` is not safe there).
    async fn migrate(&self) -> Result<(), crate::AlarmError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let postgres = matches!(self.dialect, Dialect::Postgres);
        if postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        let result = self.migrate_on(&mut conn).await;
        if postgres {
            // Also released when the session ends, should this fail.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await;
        }
        result
    }

    async fn migrate_on(&self, conn: &mut sqlx::AnyConnection) -> Result<(), crate::AlarmError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS alarm_migrations (version BIGINT PRIMARY KEY)")
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        let id = match self.dialect {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        for (version, sql) in MIGRATIONS {
            let done: Option<AnyRow> =
                sqlx::query("SELECT version FROM alarm_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
            if done.is_some() {
                continue;
            }
            let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db_err)?;
            for stmt in sql
                .replace("{id}", id)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                sqlx::query(stmt).execute(&mut *tx).await.map_err(db_err)?;
            }
            sqlx::query("INSERT INTO alarm_migrations (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(())
    }
}

/// The PostgreSQL advisory lock key that serializes migrations ("argusalm").
const MIGRATION_LOCK: i64 = 0x6172_6775_7361_6c6d;

/// Wraps a sqlx error.
pub fn db_err(e: sqlx::Error) -> crate::AlarmError {
    crate::AlarmError::Database(e.to_string())
}

/// Reads an optional i64 column.
pub fn opt_i64(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

/// Reads an optional text column.
pub fn opt_str(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://a:secret@h:5/db"),
            "postgres://a:***@h:5/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[tokio::test]
    async fn migrates_twice_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("a/alarm.db").display()
        );
        let db = Db::open(&url).await.unwrap();
        drop(db);
        let db = Db::open(&url).await.unwrap();
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM alarm_migrations")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get("n");
        assert_eq!(n, MIGRATIONS.len() as i64);
    }
}
