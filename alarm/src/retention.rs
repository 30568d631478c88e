//! Retention: the event log, finished deliveries with their attempts, and recovered alerts older
//! than `retention_days` are deleted (active instance, about hourly), so the database stays
//! bounded. An event re-sent after its record is gone is treated as new.

use crate::app::App;
use crate::db::db_err;
use crate::AlarmError;
use argus_core::time::now_secs;

/// Deletes what is older than the retention; returns the rows removed.
pub async fn sweep(app: &App) -> Result<u64, AlarmError> {
    if app.cfg.retention_days == 0 {
        return Ok(0);
    }
    let cutoff = now_secs() - app.cfg.retention_days as i64 * 86_400;
    let statements = [
        "DELETE FROM alarm_events WHERE processed = 1 AND received_at < $1",
        "DELETE FROM alarm_attempts WHERE delivery_id IN
           (SELECT id FROM alarm_deliveries WHERE state IN ('delivered', 'dead') AND created_at < $1)",
        "DELETE FROM alarm_deliveries WHERE state IN ('delivered', 'dead') AND created_at < $1",
        "DELETE FROM alarm_alerts WHERE status = 'OK' AND updated_at < $1",
        // A group idle that long starts afresh anyway (its next_ms is long past).
        "DELETE FROM alarm_groups WHERE next_ms < $1 * 1000",
    ];
    let mut n = 0;
    for sql in statements {
        n += sqlx::query(sql)
            .bind(cutoff)
            .execute(&app.db.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
    }
    if n > 0 {
        tracing::info!(rows = n, days = app.cfg.retention_days, "retention sweep");
    }
    Ok(n)
}
