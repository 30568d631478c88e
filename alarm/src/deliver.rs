//! Sending deliveries (active instance only): each due delivery is tried on its own channel,
//! every attempt recorded; failures back off and retry, and the last failure dead-letters it.

use crate::app::App;
use crate::db::db_err;
use crate::render::{alertmanager_payload, argus_payload, Notice};
use crate::routing::ChannelKey;
use crate::send::Outcome;
use crate::AlarmError;
use argus_core::time::{now_millis, now_secs};
use sqlx::Row;
use std::sync::Arc;

/// A delivery picked for sending.
#[derive(Debug, Clone)]
struct Due {
    id: i64,
    key: String,
    tenant: String,
    contact_id: i64,
    channel: ChannelKey,
    destination: String,
    payload: String,
    attempts: i64,
}

/// Starts sending every due delivery not already in flight; returns how many were started.
pub async fn send_due(app: &Arc<App>) -> Result<usize, AlarmError> {
    let rows = sqlx::query(
        "SELECT id, idem_key, tenant, contact_id, channel, destination, payload, attempts FROM alarm_deliveries
         WHERE state = 'pending' AND next_attempt_ms <= $1 ORDER BY next_attempt_ms LIMIT 500",
    )
    .bind(now_millis())
    .fetch_all(&app.db.pool)
    .await
    .map_err(db_err)?;
    let mut started = 0;
    for r in rows {
        let id: i64 = r.get("id");
        let Some(channel) = ChannelKey::parse(&r.get::<String, _>("channel")) else {
            continue;
        };
        if !app.in_flight.lock().expect("in-flight lock").insert(id) {
            continue;
        }
        let d = Due {
            id,
            key: r.get("idem_key"),
            tenant: r.get("tenant"),
            contact_id: r.get("contact_id"),
            channel,
            destination: r.get("destination"),
            payload: r.get("payload"),
            attempts: r.get("attempts"),
        };
        // Every HTTP channel shares the webhook slots (and retry policy): one client, one pool.
        let sem = match channel {
            ChannelKey::Email => app.email_slots.clone(),
            _ => app.webhook_slots.clone(),
        };
        // A channel with every slot busy (a slow webhook receiver) waits for the next pass
        // without holding up the other channel.
        let Ok(permit) = sem.try_acquire_owned() else {
            app.in_flight.lock().expect("in-flight lock").remove(&id);
            app.send_saturated
                .store(true, std::sync::atomic::Ordering::SeqCst);
            continue;
        };
        let app2 = app.clone();
        tokio::spawn(async move {
            // The row was read before the lock on `in_flight`: another task may have finished
            // it in between, so look again before sending.
            if still_due(&app2, &d).await {
                let outcome = attempt(&app2, &d).await;
                if let Err(e) = record(&app2, &d, outcome).await {
                    tracing::error!(delivery = d.id, error = %e, "cannot record a delivery attempt; it will be retried");
                }
            }
            app2.in_flight.lock().expect("in-flight lock").remove(&d.id);
            drop(permit);
            if app2
                .send_saturated
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                app2.wake_send.notify_one();
            }
        });
        started += 1;
    }
    Ok(started)
}

async fn still_due(app: &App, d: &Due) -> bool {
    let row =
        sqlx::query("SELECT state, attempts, next_attempt_ms FROM alarm_deliveries WHERE id = $1")
            .bind(d.id)
            .fetch_optional(&app.db.pool)
            .await;
    match row {
        Ok(Some(r)) => {
            r.get::<String, _>("state") == "pending"
                && r.get::<i64, _>("attempts") == d.attempts
                && r.get::<i64, _>("next_attempt_ms") <= now_millis()
        }
        _ => false,
    }
}

/// One try.
async fn attempt(app: &App, d: &Due) -> Outcome {
    let notice: Notice = match serde_json::from_str(&d.payload) {
        Ok(n) => n,
        Err(e) => {
            return Outcome::Permanent {
                status: None,
                error: format!("unreadable payload: {e}"),
            }
        }
    };
    let now = now_secs();
    let ack_urls: Vec<Option<String>> = notice
        .events
        .iter()
        .map(|e| {
            (e.status == argus_core::event::EventStatus::Problem)
                .then(|| crate::ack::url(&app.public_url, &app.ack_secret, &e.tenant, &e.id, now))
        })
        .collect();
    let index = app.config.get();
    let tenant = argus_core::TenantId::new(d.tenant.clone()).unwrap_or_default();
    let contact = index
        .tenant(&tenant)
        .and_then(|t| t.contact(d.contact_id as u64))
        .cloned();
    match d.channel {
        ChannelKey::Webhook => {
            let Some(c) = contact else {
                return Outcome::Permanent {
                    status: None,
                    error: format!("contact {} no longer exists", d.contact_id),
                };
            };
            let body = if c.webhook_alertmanager {
                alertmanager_payload(
                    &notice,
                    &d.key,
                    &c,
                    &app.public_url,
                    &app.cfg.effective_console_url(),
                )
            } else {
                argus_payload(&notice, &d.key, &c, &ack_urls, now)
            };
            let body = serde_json::to_vec(&body).unwrap_or_default();
            crate::send::post_webhook(
                &app.http,
                &d.destination,
                app.cfg.allow_private_webhooks,
                c.webhook_secret.as_deref(),
                &d.key,
                body,
                now,
            )
            .await
        }
        chat @ (ChannelKey::Slack
        | ChannelKey::Teams
        | ChannelKey::Dingtalk
        | ChannelKey::Wecom
        | ChannelKey::Feishu
        | ChannelKey::Telegram
        | ChannelKey::Pagerduty) => {
            // The receiver as configured now: a rotated key or token is used at once.
            let Some((c, r)) = contact
                .as_ref()
                .and_then(|c| c.chat(chat).map(|r| (c, r.clone())))
            else {
                return Outcome::Permanent {
                    status: None,
                    error: format!(
                        "contact {} has no {} receiver any more",
                        d.contact_id,
                        chat.as_str()
                    ),
                };
            };
            let console = app.cfg.effective_console_url();
            let cx = crate::channels::Context {
                contact: &c.name,
                ack_urls: &ack_urls,
                console: &console,
            };
            crate::channels::send(
                &app.http,
                app.cfg.allow_private_webhooks,
                &app.renderer,
                &r,
                &notice,
                &cx,
                now_millis(),
            )
            .await
        }
        ChannelKey::Email => {
            let Some(mailer) = &app.mailer else {
                return Outcome::Permanent {
                    status: None,
                    error: "no SMTP relay configured (smtp.host)".into(),
                };
            };
            let name = contact.map(|c| c.name).unwrap_or_default();
            let console = app.cfg.effective_console_url();
            let own = index
                .tenant(&tenant)
                .and_then(|t| t.cfg.email_templates.as_ref());
            match app.renderer.email(&notice, &name, &ack_urls, &console, own) {
                Ok(mail) => mailer.send(&d.destination, &d.key, mail).await,
                Err(e) => Outcome::Permanent {
                    status: None,
                    error: e,
                },
            }
        }
    }
}

/// Records an attempt and moves the delivery on: delivered, retried later, or dead.
async fn record(app: &App, d: &Due, outcome: Outcome) -> Result<(), AlarmError> {
    let now = now_secs();
    let attempts = d.attempts + 1;
    let policy = match d.channel {
        ChannelKey::Email => &app.cfg.retry.email,
        _ => &app.cfg.retry.webhook,
    };
    let (ok, status, error, state, next_ms) = match outcome {
        Outcome::Delivered { status } => (1, status, None, "delivered", now_millis()),
        Outcome::Permanent { status, error } => (0, status, Some(error), "dead", now_millis()),
        Outcome::Retry {
            status,
            error,
            retry_after,
        } => {
            if attempts >= i64::from(policy.max_attempts) {
                (
                    0,
                    status,
                    Some(format!("{error} (gave up after {attempts} tries)")),
                    "dead",
                    now_millis(),
                )
            } else {
                let wait = crate::retry::backoff(policy, attempts as u32, retry_after);
                (
                    0,
                    status,
                    Some(error),
                    "pending",
                    now_millis() + wait.as_millis() as i64,
                )
            }
        }
    };
    let mut tx = app.db.pool.begin().await.map_err(db_err)?;
    sqlx::query("INSERT INTO alarm_attempts (delivery_id, at, ok, status, error) VALUES ($1, $2, $3, $4, $5)")
        .bind(d.id)
        .bind(now)
        .bind(ok)
        .bind(status.map(i64::from))
        .bind(&error)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "UPDATE alarm_deliveries SET attempts = $1, state = $2, last_error = $3, next_attempt_ms = $4, delivered_at = $5
         WHERE id = $6 AND state = 'pending'",
    )
    .bind(attempts)
    .bind(state)
    .bind(&error)
    .bind(next_ms)
    .bind((state == "delivered").then_some(now))
    .bind(d.id)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    match state {
        "delivered" => app.metrics.delivered.inc(),
        "dead" => {
            tracing::warn!(delivery = d.id, error = ?error, "delivery dead-lettered");
            app.metrics.dead.inc()
        }
        _ => app.metrics.retried.inc(),
    }
    Ok(())
}
