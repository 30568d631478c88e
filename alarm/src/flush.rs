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
         WHERE due_at <= $1 GROUP BY tenant, contact_id, channel, group_key ORDER BY MIN(due_at) LIMIT 500",
    )
    .bind(now_ms)
    .fetch_all(&app.db.pool)
    .await
    .map_err(db_err)?;
    // Per receiver, its due groups in order.
    let mut by_receiver: Vec<((String, i64, String), Vec<String>)> = Vec::new();
    for g in groups {
        let r = (
            g.get::<String, _>("tenant"),
            g.get::<i64, _>("contact_id"),
            g.get::<String, _>("channel"),
        );
        let key: String = g.get("group_key");
        match by_receiver.iter_mut().find(|(k, _)| *k == r) {
            Some((_, v)) => v.push(key),
            None => by_receiver.push((r, vec![key])),
        }
    }
    let mut created = 0;
    for ((tenant, contact, channel), keys) in by_receiver {
        created += flush_receiver(app, &tenant, contact, &channel, &keys).await?;
    }
    if created > 0 {
        app.wake_send.notify_one();
    }
    Ok(created)
}

/// Messages a receiver may still get in the current rate window (None: unlimited), and when
/// the oldest message of the window leaves it (ms).
async fn budget(app: &App, tenant: &str, contact: i64) -> Result<(Option<usize>, i64), AlarmError> {
    let limit = app.cfg.rate_limit_per_minute as usize;
    if limit == 0 {
        return Ok((None, 0));
    }
    let window = app.cfg.rate_limit_window_secs.max(1) as i64;
    let now = now_secs();
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM alarm_deliveries WHERE tenant = $1 AND contact_id = $2 AND created_at > $3",
    )
    .bind(tenant)
    .bind(contact)
    .bind(now - window)
    .fetch_one(&app.db.pool)
    .await
    .map_err(db_err)?;
    let n = row.get::<i64, _>("n") as usize;
    let free_at = (opt_i64(&row, "oldest").unwrap_or(now) + window + 1) * 1000;
    Ok((Some(limit.saturating_sub(n)), free_at))
}

/// Flushes a receiver's due groups: one message each while its rate budget allows; past the
/// budget, all of them merged into one digest; with no budget left, they wait (and keep
/// collecting) until the window frees.
async fn flush_receiver(
    app: &App,
    tenant: &str,
    contact: i64,
    channel: &str,
    keys: &[String],
) -> Result<usize, AlarmError> {
    let (budget, free_at) = budget(app, tenant, contact).await?;
    match budget {
        Some(0) => {
            for g in keys {
                sqlx::query("UPDATE alarm_pending SET due_at = $1 WHERE tenant = $2 AND contact_id = $3 AND channel = $4 AND group_key = $5")
                    .bind(free_at)
                    .bind(tenant)
                    .bind(contact)
                    .bind(channel)
                    .bind(g)
                    .execute(&app.db.pool)
                    .await
                    .map_err(db_err)?;
            }
            app.metrics.rate_limited.inc();
            Ok(0)
        }
        Some(b) if b < keys.len() => {
            app.metrics.rate_limited.inc();
            Ok(usize::from(
                flush_group(app, tenant, contact, channel, keys, true).await?,
            ))
        }
        _ => {
            let mut n = 0;
            for g in keys {
                n += usize::from(
                    flush_group(
                        app,
                        tenant,
                        contact,
                        channel,
                        std::slice::from_ref(g),
                        false,
                    )
                    .await?,
                );
            }
            Ok(n)
        }
    }
}

async fn flush_group(
    app: &App,
    tenant: &str,
    contact: i64,
    channel: &str,
    groups: &[String],
    merged: bool,
) -> Result<bool, AlarmError> {
    let now = now_secs();
    let mut tx = app.db.pool.begin().await.map_err(db_err)?;
    let mut rows = Vec::new();
    for group in groups {
        rows.extend(
            sqlx::query(
                "SELECT id, kind, event_key, event_body, level FROM alarm_pending
                 WHERE tenant = $1 AND contact_id = $2 AND channel = $3 AND group_key = $4 ORDER BY id",
            )
            .bind(tenant)
            .bind(contact)
            .bind(channel)
            .bind(group)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?,
        );
    }
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
    let kind = match () {
        _ if merged => "digest".to_string(),
        _ if kind == "alert" && events.len() > 1 => "storm".to_string(),
        _ => kind,
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
        // A chat receiver's URL or token is its credential: the delivery keeps a redacted
        // form to show, and the sender looks the receiver up when it sends.
        (Some(c), Some(ch)) => c.chat(ch).map(|r| r.display()),
        _ => None,
    };
    // A recovery's problem start (its alert's first_seen, kept through the recovery).
    let mut problem_started = std::collections::BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.status == argus_core::event::EventStatus::Ok)
    {
        let row =
            sqlx::query("SELECT first_seen FROM alarm_alerts WHERE tenant = $1 AND event_id = $2")
                .bind(tenant)
                .bind(&e.id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if let Some(r) = row {
            problem_started.insert(e.id.0.clone(), r.get::<i64, _>("first_seen"));
        }
    }
    let notice = Notice {
        kind: kind.clone(),
        tenant: tid,
        problem_started,
        events,
        // For a reminder, level only keeps the reminders apart.
        escalation_level: if kind == "reminder" { 0 } else { level as u32 },
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
    .bind(app.renderer.subject(
        &notice,
        index
            .tenant(&notice.tenant)
            .and_then(|t| t.cfg.email_templates.as_ref()),
    ))
    .bind(serde_json::to_string(&keys).unwrap_or_default())
    .bind(serde_json::to_string(&notice).unwrap_or_default())
    .bind(state)
    .bind(error)
    .bind(now)
    .bind(now_millis())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    // A follow-up went out: the group's next message waits its group_interval. (After a first
    // message sent at once, next_ms is still ahead: the wait window stands.)
    for group in groups {
        sqlx::query(
            "UPDATE alarm_groups SET next_ms = $1 + interval_ms
             WHERE tenant = $2 AND contact_id = $3 AND channel = $4 AND group_key = $5 AND next_ms <= $1",
        )
        .bind(now_millis())
        .bind(tenant)
        .bind(contact)
        .bind(channel)
        .bind(group)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
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
