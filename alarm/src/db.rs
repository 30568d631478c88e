//! The alarm database: SQLite (embedded) or PostgreSQL, opened and migrated by
//! `argus_core::db` (shared with web). Queries use `$n` placeholders, which both engines
//! understand.

use argus_core::db::Schema;
use sqlx::Row;
use std::time::Duration;

pub use argus_core::db::{opt_i64, opt_str, redact_url, Db, Dialect};

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

/// alarm's tables. The instances of an active/standby pair may start together on a fresh
/// PostgreSQL database: they migrate one after the other under the advisory lock "argusalm".
const SCHEMA: Schema = Schema {
    prefix: "alarm",
    migrations: MIGRATIONS,
    lock: 0x6172_6775_7361_6c6d,
    acquire_timeout: Duration::from_secs(10),
};

/// Connects to `url` and applies the migrations.
pub async fn open(url: &str) -> Result<Db, crate::AlarmError> {
    Db::open(url, &SCHEMA)
        .await
        .map_err(|e| crate::AlarmError::Database(e.to_string()))
}

/// The acknowledgement-link key kept in the database: made at random by the first instance
/// that asks, then the same for every instance and restart.
pub async fn ack_secret(db: &Db) -> Result<Vec<u8>, crate::AlarmError> {
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    sqlx::query(
        "INSERT INTO alarm_meta (name, value) VALUES ('ack_secret', $1) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&fresh)
    .execute(&db.pool)
    .await
    .map_err(db_err)?;
    let row = sqlx::query("SELECT value FROM alarm_meta WHERE name = 'ack_secret'")
        .fetch_one(&db.pool)
        .await
        .map_err(db_err)?;
    Ok(row.get::<String, _>("value").into_bytes())
}

/// Wraps a sqlx error.
pub fn db_err(e: sqlx::Error) -> crate::AlarmError {
    crate::AlarmError::Database(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrates_twice_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("a/alarm.db").display()
        );
        let db = open(&url).await.unwrap();
        drop(db);
        let db = open(&url).await.unwrap();
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM alarm_migrations")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get("n");
        assert_eq!(n, MIGRATIONS.len() as i64);
    }
}
