//! Active/standby: one lease row names the active instance. The active one renews it; a
//! standby takes it once it has expired. Only the active instance decides and sends.

use crate::db::{db_err, Db, Dialect};
use crate::AlarmError;
use argus_core::time::now_millis;

/// Takes or renews the lease for `holder` for `ttl_ms`; true when `holder` holds it now.
/// On PostgreSQL the database's clock decides expiry, so instances on hosts with skewed clocks
/// still agree.
pub async fn try_acquire(db: &Db, holder: &str, ttl_ms: i64) -> Result<bool, AlarmError> {
    let now = match db.dialect {
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Dialect::Sqlite => "$3",
    };
    let sql = format!(
        "INSERT INTO alarm_lease (name, holder, expires_ms) VALUES ('alarm', $1, {now} + $2)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
         WHERE alarm_lease.holder = excluded.holder OR alarm_lease.expires_ms < {now}"
    );
    let mut q = sqlx::query(&sql).bind(holder).bind(ttl_ms);
    if db.dialect == Dialect::Sqlite {
        q = q.bind(now_millis());
    }
    let n = q.execute(&db.pool).await.map_err(db_err)?.rows_affected();
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
        let db = crate::db::open(&format!(
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
