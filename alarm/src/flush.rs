//! Turning due groups of pending notices into deliveries: one message per receiver and group
//! (a storm of one strategy becomes one message listing its hosts; a digest collects a
//! receiver's P3–P5 events), within the receiver's rate limit.

use crate::app::App;
use crate::db::{db_err, opt_i64};
use crate::render::Notice;
use crate::routing::{has_channel, ChannelKey};
use crate::AlarmError;
use argus_core::event::Event;
use argus_core::time::{now_millis, now_secs};
use argus_core::TenantId;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The idempotency key of a message: the same receiver, channel, kind and events always give
/// the same key, so a message re-created after a failover is recognised as the same.
pub fn delivery_key(
    tenant: &str,
    contact: u64,
    channel: &str,
    kind: &str,
    level: i64,
    event_keys: &[String],
) -> String {
    let mut keys = event_keys.to_vec();
    keys.sort();
    let mut h = Sha256::new();
    for part in [
        tenant,
        &contact.to_string(),
        channel,
        kind,
        &level.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for k in &keys {
        h.update(k.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Flushes every due group; returns how many deliveries were created.
pub async fn flush_due(app: &App) -> Result<usize, AlarmError> {
    let now_ms = now_millis();
    let groups = sqlx::query(
        "SELECT tenant, contact_id, channel, group_key, MIN(due_at) AS due FROM alarm_pending
         GROUP BY tenant, contact_id, channel, group_key HAVING MIN(due_at) <= $1 ORDER BY MIN(due_at) LIMIT 500",
    )
    .bind(now_ms)
    .fetch_all(&app.db.pool)
    .await
    .map_err(db_err)?;
    let mut created = 0;
    for g in groups {
        let tenant: String = g.get("tenant");
        let contact: i64 = g.get("contact_id");
        let channel: String = g.get("channel");
        let group: String = g.get("group_key");
        if flush_group(app, &tenant, contact, &channel, &group).await? {
            created += 1;
        }
    }
    if created > 0 {
        app.wake_send.notify_one();
    }
    Ok(created)
}

async fn flush_group(
    app: &App,
    tenant: &str,
    contact: i64,
    channel: &str,
    group: &str,
) -> Result<bool, AlarmError> {
    let now = now_secs();
    let mut tx = app.db.pool.begin().await.map_err(db_err)?;
    if app.cfg.rate_limit_per_minute > 0 {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM alarm_deliveries WHERE tenant = $1 AND contact_id = $2 AND created_at > $3",
        )
        .bind(tenant)
        .bind(contact)
        .bind(now - 60)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let n: i64 = row.get("n");
        if n >= i64::from(app.cfg.rate_limit_per_minute) {
            // Over the limit: wait until the oldest message leaves the window; more notices
            // join the group meanwhile, so the receiver gets fewer, fuller messages.
            let until = (opt_i64(&row, "oldest").unwrap_or(now) + 61) * 1000;
            sqlx::query("UPDATE alarm_pending SET due_at = $1 WHERE tenant = $2 AND contact_id = $3 AND channel = $4 AND group_key = $5")
                .bind(until)
                .bind(tenant)
                .bind(contact)
                .bind(channel)
                .bind(group)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            app.metrics.rate_limited.inc();
            return Ok(false);
        }
    }
    let rows = sqlx::query(
        "SELECT id, kind, event_key, event_body, level FROM alarm_pending
         WHERE tenant = $1 AND contact_id = $2 AND channel = $3 AND group_key = $4 ORDER BY id",
    )
    .bind(tenant)
    .bind(contact)
    .bind(channel)
    .bind(group)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    if rows.is_empty() {
        return Ok(false);
    }
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    let mut events = Vec::new();
    for r in &rows {
        ids.push(r.get::<i64, _>("id"));
        keys.push(r.get::<String, _>("event_key"));
        if let Ok(e) = serde_json::from_str::<Event>(&r.get::<String, _>("event_body")) {
            events.push(e);
        }
    }
    let kind: String = rows[0].get("kind");
    let level: i64 = rows[0].get("level");
    let kind = if kind == "alert" && events.len() > 1 {
        "storm".to_string()
    } else {
        kind
    };
    let index = app.config.get();
    let tid = TenantId::new(tenant).unwrap_or_default();
    let who = index
        .tenant(&tid)
        .and_then(|t| t.contact(contact as u64))
        .cloned();
    let ch = ChannelKey::parse(channel);
    let destination = match (&who, ch) {
        (Some(c), Some(ChannelKey::Email)) if has_channel(c, ChannelKey::Email) => c.email.clone(),
        (Some(c), Some(ChannelKey::Webhook)) if has_channel(c, ChannelKey::Webhook) => {
            c.webhook_url.clone()
        }
        _ => None,
    };
    let notice = Notice {
        kind: kind.clone(),
        tenant: tid,
        events,
        escalation_level: level as u32,
    };
    let key = delivery_key(tenant, contact as u64, channel, &kind, level, &keys);
    // A contact removed (or its channel cleared) since: the delivery is recorded dead, visibly.
    let (state, error) = match &destination {
        Some(_) => ("pending", None),
        None => (
            "dead",
            Some(format!(
                "contact {contact} has no {channel} destination any more"
            )),
        ),
    };
    sqlx::query(
        "INSERT INTO alarm_deliveries (idem_key, tenant, contact_id, contact_name, channel, destination, kind, subject, event_keys, payload, state, attempts, last_error, created_at, next_attempt_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13, $14) ON CONFLICT (idem_key) DO NOTHING",
    )
    .bind(&key)
    .bind(tenant)
    .bind(contact)
    .bind(who.as_ref().map(|c| c.name.clone()).unwrap_or_default())
    .bind(channel)
    .bind(destination.unwrap_or_default())
    .bind(&kind)
    .bind(app.renderer.subject(&notice))
    .bind(serde_json::to_string(&keys).unwrap_or_default())
    .bind(serde_json::to_string(&notice).unwrap_or_default())
    .bind(state)
    .bind(error)
    .bind(now)
    .bind(now_millis())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    for id in ids {
        sqlx::query("DELETE FROM alarm_pending WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    app.metrics.deliveries_created.inc();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_event_order_but_not_receiver() {
        let a = delivery_key("t", 1, "email", "storm", 0, &["x".into(), "y".into()]);
        assert_eq!(
            a,
            delivery_key("t", 1, "email", "storm", 0, &["y".into(), "x".into()])
        );
        assert_ne!(
            a,
            delivery_key("t", 2, "email", "storm", 0, &["x".into(), "y".into()])
        );
        assert_ne!(
            a,
            delivery_key("t", 1, "webhook", "storm", 0, &["x".into(), "y".into()])
        );
    }
}
