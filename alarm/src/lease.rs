//! Active/standby: one lease row names the active instance. The active one renews it; a
//! standby takes it once it has expired. Only the active instance decides and sends.

use crate::db::{db_err, Db};
use crate::AlarmError;
use argus_core::time::now_millis;

/// Takes or renews the lease for `holder` for `ttl_ms`; true when `holder` holds it now.
pub async fn try_acquire(db: &Db, holder: &str, ttl_ms: i64) -> Result<bool, AlarmError> {
    let now = now_millis();
    let n = sqlx::query(
        "INSERT INTO alarm_lease (name, holder, expires_ms) VALUES ('alarm', $1, $2)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
         WHERE alarm_lease.holder = excluded.holder OR alarm_lease.expires_ms < $3",
    )
    .bind(holder)
    .bind(now + ttl_ms)
    .bind(now)
    .execute(&db.pool)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(n == 1)
}

/// Gives the lease up (clean stop), so the standby need not wait for it to expire.
pub async fn release(db: &Db, holder: &str) -> Result<(), AlarmError> {
    sqlx::query("DELETE FROM alarm_lease WHERE name = 'alarm' AND holder = $1")
        .bind(holder)
        .execute(&db.pool)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("l.db").display()
        ))
        .await
        .unwrap();
        assert!(try_acquire(&db, "a", 60_000).await.unwrap());
        assert!(!try_acquire(&db, "b", 60_000).await.unwrap());
        assert!(try_acquire(&db, "a", 60_000).await.unwrap(), "renewal");
        release(&db, "a").await.unwrap();
        assert!(try_acquire(&db, "b", 1).await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(
            try_acquire(&db, "a", 60_000).await.unwrap(),
            "expired lease is taken over"
        );
    }
}
