//! Deciding what to send (active instance only): each stored event, in arrival order, updates
//! its alert's state and becomes pending notices for its receivers — unless silenced, stale or
//! already acknowledged. Unacknowledged problems escalate along their teams' `escalate_to`
//! chain (subscriptions: P0/P1; routes: every priority), and the teams reached hear of the
//! recovery. A recovery re-decides the alerts it may have inhibited; a problem only muted
//! routes reach is held until one is unmuted.
//!
//! Every step is one transaction that also marks its input done, so a standby taking over
//! mid-way neither loses nor repeats a notice.

use crate::app::App;
use crate::db::{db_err, opt_i64, opt_str};
use crate::routing::{Receiver, TenantIndex, HOST_DOWN_METRIC};
use crate::AlarmError;
use argus_core::event::{Event, EventStatus};
use argus_core::route::Labels;
use argus_core::time::{now_millis, now_secs};
use sqlx::{Any, Row, Transaction};

/// The stored state of one alert (one event id).
struct Alert {
    status: String,
    occurrence: i64,
    first_seen: i64,
    silenced: bool,
    acked: bool,
    /// Teams its escalation reached in the current run.
    escalated: Vec<u64>,
}

/// Processes up to `limit` new events; returns how many.
pub async fn process_events(app: &App, limit: i64) -> Result<usize, AlarmError> {
    let rows =
        sqlx::query("SELECT seq, body FROM alarm_events WHERE processed = 0 ORDER BY seq LIMIT $1")
            .bind(limit)
            .fetch_all(&app.db.pool)
            .await
            .map_err(db_err)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let index = app.config.get();
    let mut tx = app.db.pool.begin().await.map_err(db_err)?;
    for row in &rows {
        let seq: i64 = row.get("seq");
        let body: String = row.get("body");
        let outcome = match serde_json::from_str::<Event>(&body) {
            Ok(e) => decide_one(app, &mut tx, index.tenant(&e.tenant), &e).await?,
            Err(e) => format!("unreadable: {e}"),
        };
        sqlx::query("UPDATE alarm_events SET processed = 1, outcome = $1 WHERE seq = $2")
            .bind(&outcome)
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    app.metrics.events_processed.add(rows.len() as u64);
    Ok(rows.len())
}

async fn load_alert(tx: &mut Transaction<'_, Any>, e: &Event) -> Result<Option<Alert>, AlarmError> {
    let row = sqlx::query(
        "SELECT status, occurrence, first_seen, silenced, ack_by, escalated_teams FROM alarm_alerts WHERE tenant = $1 AND event_id = $2",
    )
    .bind(e.tenant.as_str())
    .bind(&e.id.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(row.map(|r| Alert {
        status: r.get("status"),
        occurrence: r.get("occurrence"),
        first_seen: r.get("first_seen"),
        silenced: r.get::<i64, _>("silenced") != 0,
        acked: opt_str(&r, "ack_by").is_some(),
        escalated: opt_str(&r, "escalated_teams")
            .unwrap_or_default()
            .split(',')
            .filter_map(|t| t.parse().ok())
            .collect(),
    }))
}

/// Decides one event inside `tx`; returns the outcome recorded with it.
async fn decide_one(
    app: &App,
    tx: &mut Transaction<'_, Any>,
    tenant: Option<&TenantIndex>,
    e: &Event,
) -> Result<String, AlarmError> {
    let now = now_secs();
    let prev = load_alert(tx, e).await?;
    if let Some(p) = &prev {
        if p.occurrence > e.occurrence as i64 {
            return Ok("stale: a later occurrence was already processed".into());
        }
    }
    let problem = e.status == EventStatus::Problem;
    let new_run = problem && prev.as_ref().is_none_or(|p| p.status != "PROBLEM");
    let silence = tenant.and_then(|t| t.silenced_by(e, now));
    let inhibited = match tenant {
        Some(t) if problem && silence.is_none() => {
            let open = open_problems(tx, t, e).await?;
            t.inhibited_by(e, &open)
        }
        _ => None,
    };
    // A recovery whose problem was silenced (or inhibited) is silenced too: nobody heard of
    // the problem.
    let silenced = silence.is_some()
        || inhibited.is_some()
        || (!problem && prev.as_ref().is_some_and(|p| p.silenced));
    let acked = !new_run && problem && prev.as_ref().is_some_and(|p| p.acked);
    let state = match () {
        _ if inhibited.is_some() => "inhibited",
        _ if silenced && problem => "silenced",
        _ if !problem => "ok",
        _ if acked => "acknowledged",
        _ => "problem",
    };
    let mut route = tenant.map(|t| t.route(e, now)).unwrap_or_default();
    // The teams an escalation reached hear of the recovery too.
    if let (Some(t), Some(p), false) = (tenant, &prev, problem) {
        for team in &p.escalated {
            for r in t.team_receivers(*team) {
                route.receivers.entry(r).or_insert(None);
            }
        }
    }
    let outcome = if silenced {
        match (silence, &inhibited) {
            (Some(s), _) => format!("silenced by silence {} ({}: {})", s.id, s.author, s.reason),
            (None, Some(why)) => why.clone(),
            (None, None) => "silenced: its problem was silenced or inhibited".to_string(),
        }
    } else if acked {
        "acknowledged: not repeated".to_string()
    } else if tenant.is_none() {
        "no notification config for tenant".to_string()
    } else if route.receivers.is_empty() && !route.muted.is_empty() {
        format!("muted: {}", route.muted.join("; "))
    } else if route.receivers.is_empty() {
        "no subscriber".to_string()
    } else {
        format!("notified {} receivers", route.receivers.len())
    };
    let body = serde_json::to_string(e).map_err(|x| AlarmError::Database(x.to_string()))?;
    let first_seen = match &prev {
        Some(p) if !new_run => p.first_seen,
        _ => e.timestamp,
    };
    // Escalation: armed on a new notified P0/P1 run; disarmed by recovery or silence.
    let escalation = if new_run && !silenced {
        route.escalation
    } else {
        None
    };
    let keep_escalation = !new_run && problem && !silenced;
    let esc_at = escalation.map(|(_, after)| now_millis() + after as i64 * 1000);
    let esc_team = escalation.map(|(t, _)| t as i64);
    if prev.is_none() {
        sqlx::query(
            "INSERT INTO alarm_alerts (tenant, event_id, status, state, occurrence, body, first_seen, updated_at, silenced, escalate_at, escalate_team, escalation_level)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
        )
        .bind(e.tenant.as_str())
        .bind(&e.id.0)
        .bind(e.status.as_str())
        .bind(state)
        .bind(e.occurrence as i64)
        .bind(&body)
        .bind(first_seen)
        .bind(now)
        .bind(i64::from(silenced))
        .bind(esc_at)
        .bind(esc_team)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    } else {
        let reset_ack = if new_run {
            ", ack_by = NULL, ack_comment = NULL, ack_at = NULL"
        } else {
            ""
        };
        let esc = if keep_escalation {
            ""
        } else {
            ", escalate_at = $10, escalate_team = $11, escalation_level = 0, escalated_teams = NULL"
        };
        let sql = format!(
            "UPDATE alarm_alerts SET status = $1, state = $2, occurrence = $3, body = $4, first_seen = $5, updated_at = $6,
             silenced = $7{reset_ack}{esc} WHERE tenant = $8 AND event_id = $9"
        );
        let mut q = sqlx::query(&sql)
            .bind(e.status.as_str())
            .bind(state)
            .bind(e.occurrence as i64)
            .bind(&body)
            .bind(first_seen)
            .bind(now)
            .bind(i64::from(silenced))
            .bind(e.tenant.as_str())
            .bind(&e.id.0);
        if !keep_escalation {
            q = q.bind(esc_at).bind(esc_team);
        }
        q.execute(&mut **tx).await.map_err(db_err)?;
    }
    // Reminders: armed when a new run reaches a route (its repeat_interval, the shortest of
    // the routes reaching it); stopped by recovery, silence or inhibition. A new run that every
    // route it reached mutes is held instead: looked at again every group_interval and told as
    // a new alert once a route is no longer muted (see `remind_due`).
    let held = new_run && !silenced && route.receivers.is_empty() && !route.muted.is_empty();
    let remind = match () {
        _ if held => Some((route.group_interval_ms, HELD)),
        _ if new_run && !silenced && route.repeat_ms.is_some() => Some((route.repeat_ms, 0)),
        _ if !problem || silenced => Some((None, 0)),
        _ => None,
    };
    if let Some((every, count)) = remind {
        sqlx::query(
            "UPDATE alarm_alerts SET remind_at = $1, remind_every = $2, reminders = $3 WHERE tenant = $4 AND event_id = $5",
        )
        .bind(every.map(|ms| now_millis() + ms as i64))
        .bind(every.map(|ms| ms as i64))
        .bind(count)
        .bind(e.tenant.as_str())
        .bind(&e.id.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    if !silenced && !acked {
        notify(app, tx, e, &body, &route).await?;
        // A later occurrence told now ends a hold: reminders take over from here.
        if problem && !held && !route.receivers.is_empty() {
            sqlx::query(
                "UPDATE alarm_alerts SET remind_at = $1, remind_every = $2, reminders = 0 WHERE tenant = $3 AND event_id = $4 AND reminders = $5",
            )
            .bind(route.repeat_ms.map(|ms| now_millis() + ms as i64))
            .bind(route.repeat_ms.map(|ms| ms as i64))
            .bind(e.tenant.as_str())
            .bind(&e.id.0)
            .bind(HELD)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
    }
    let mut outcome = outcome;
    // A recovered problem may have been what inhibited others: those it alone held back are
    // told now, as Alertmanager does once an inhibiting alert resolves.
    if let (Some(t), false, Some("PROBLEM")) =
        (tenant, problem, prev.as_ref().map(|p| p.status.as_str()))
    {
        let n = release_inhibited(app, tx, t).await?;
        if n > 0 {
            outcome.push_str(&format!("; released {n} inhibited alerts"));
        }
    }
    Ok(outcome)
}

/// Adds `e`'s notices for the receivers of `route`: at once for a new group, merged into the
/// group's next message otherwise; digests for priorities that are not immediate.
async fn notify(
    app: &App,
    tx: &mut Transaction<'_, Any>,
    e: &Event,
    body: &str,
    route: &crate::routing::Route,
) -> Result<(), AlarmError> {
    let immediate = e.priority.level() <= app.cfg.immediate_max_priority;
    // An alert rule's alerts merge per rule, as a strategy's do per strategy.
    let default_group = match &e.rule {
        Some(r) => format!("r{}:{}", r.id, e.status.as_str()),
        None => format!("s{}:{}", e.strategy_id, e.status.as_str()),
    };
    let wait = app.cfg.group_wait_secs as i64 * 1000;
    for (r, grouping) in &route.receivers {
        let (kind, group, timing) = match grouping {
            _ if !immediate => (
                "digest",
                "digest",
                Timing::Fixed(app.cfg.digest_interval_secs as i64 * 1000),
            ),
            Some(g) => (
                "alert",
                g.key.as_str(),
                Timing::Grouped {
                    wait_ms: g.wait_ms as i64,
                    interval_ms: g.interval_ms as i64,
                },
            ),
            None => (
                "alert",
                default_group.as_str(),
                Timing::Grouped {
                    wait_ms: wait,
                    interval_ms: wait,
                },
            ),
        };
        let timing = match timing {
            Timing::Grouped { wait_ms, .. } if !app.cfg.first_message_immediate => {
                Timing::Fixed(wait_ms)
            }
            t => t,
        };
        add_pending(tx, e, body, *r, kind, group, 0, timing).await?;
    }
    Ok(())
}

/// Re-decides the tenant's inhibited open problems after a source recovered: one no longer
/// inhibited (nor silenced) becomes a problem and is notified, its reminders and escalation
/// armed as for a new problem. Returns how many were released.
async fn release_inhibited(
    app: &App,
    tx: &mut Transaction<'_, Any>,
    t: &TenantIndex,
) -> Result<usize, AlarmError> {
    let rows = sqlx::query(
        "SELECT event_id, body, ack_by FROM alarm_alerts WHERE tenant = $1 AND status = 'PROBLEM' AND state = 'inhibited' LIMIT 10000",
    )
    .bind(t.cfg.tenant.as_str())
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let targets: Vec<(Event, String, bool)> = rows
        .iter()
        .filter_map(|r| {
            let body: String = r.get("body");
            let e = serde_json::from_str(&body).ok()?;
            Some((e, body, opt_str(r, "ack_by").is_some()))
        })
        .collect();
    let Some((first, _, _)) = targets.first() else {
        return Ok(0);
    };
    // No target is a host-down alert (those are never inhibited), so one look serves all.
    let open = open_problems(tx, t, first).await?;
    let (now, now_ms) = (now_secs(), now_millis());
    let mut released = 0;
    for (e, body, acked) in &targets {
        if t.inhibited_by(e, &open).is_some() {
            continue;
        }
        let silenced = t.silenced_by(e, now).is_some();
        let route = t.route(e, now);
        let state = match () {
            _ if silenced => "silenced",
            _ if *acked => "acknowledged",
            _ => "problem",
        };
        let arm = !silenced && !acked;
        let esc = route.escalation.filter(|_| arm);
        // All its routes muted now: held, as a new problem would be.
        let held = arm && route.receivers.is_empty() && !route.muted.is_empty();
        let (remind, count) = match () {
            _ if held => (route.group_interval_ms, HELD),
            _ if arm => (route.repeat_ms, 0),
            _ => (None, 0),
        };
        let done = sqlx::query(
            "UPDATE alarm_alerts SET state = $1, silenced = $2, updated_at = $3,
             escalate_at = $4, escalate_team = $5, escalation_level = 0, escalated_teams = NULL,
             remind_at = $6, remind_every = $7, reminders = $8
             WHERE tenant = $9 AND event_id = $10 AND status = 'PROBLEM' AND state = 'inhibited'",
        )
        .bind(state)
        .bind(i64::from(silenced))
        .bind(now)
        .bind(esc.map(|(_, after)| now_ms + after as i64 * 1000))
        .bind(esc.map(|(team, _)| team as i64))
        .bind(remind.map(|ms| now_ms + ms as i64))
        .bind(remind.map(|ms| ms as i64))
        .bind(count)
        .bind(e.tenant.as_str())
        .bind(&e.id.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if done == 1 && arm {
            notify(app, tx, e, body, &route).await?;
        }
        released += done as usize;
    }
    Ok(released)
}

/// The tenant's open problems (event id, labels) that could inhibit `e`: all of them when the
/// tenant has inhibit rules, else only host-down ones (the built-in rule).
async fn open_problems(
    tx: &mut Transaction<'_, Any>,
    t: &TenantIndex,
    e: &Event,
) -> Result<Vec<(String, Labels)>, AlarmError> {
    let rules = t
        .cfg
        .routing
        .as_ref()
        .is_some_and(|r| !r.inhibit_rules.is_empty());
    if !rules && e.series.metric == HOST_DOWN_METRIC {
        return Ok(vec![]);
    }
    // Without rules only host-down alerts matter; the LIKE narrows, the labels decide.
    let like = if rules {
        "%".to_string()
    } else {
        format!("%{HOST_DOWN_METRIC}%")
    };
    let rows = sqlx::query(
        "SELECT event_id, body FROM alarm_alerts WHERE tenant = $1 AND status = 'PROBLEM' AND body LIKE $2 LIMIT 10000",
    )
    .bind(e.tenant.as_str())
    .bind(like)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let ev: Event = serde_json::from_str(&r.get::<String, _>("body")).ok()?;
            Some((r.get::<String, _>("event_id"), t.labels(&ev)))
        })
        .collect())
}

/// `reminders` of a problem held back by muted routes, not yet told to anyone.
const HELD: i64 = -1;

/// When a notice becomes due.
#[derive(Debug, Clone, Copy)]
enum Timing {
    /// A fixed wait after the group's first notice (digests, escalations, reminders).
    Fixed(i64),
    /// An alert group: a new group's first notice at once, later ones `wait_ms` after it, and
    /// `interval_ms` between later messages.
    Grouped { wait_ms: i64, interval_ms: i64 },
}

/// Adds one notice to its receiver's group; the group is due when its first notice plus the
/// wait is reached, so later notices join rather than delay it.
#[allow(clippy::too_many_arguments)]
async fn add_pending(
    tx: &mut Transaction<'_, Any>,
    e: &Event,
    body: &str,
    r: Receiver,
    kind: &str,
    group: &str,
    level: i64,
    timing: Timing,
) -> Result<(), AlarmError> {
    let due: Option<i64> = sqlx::query(
        "SELECT MIN(due_at) AS due FROM alarm_pending WHERE tenant = $1 AND contact_id = $2 AND channel = $3 AND group_key = $4",
    )
    .bind(e.tenant.as_str())
    .bind(r.contact_id as i64)
    .bind(r.channel.as_str())
    .bind(group)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)
    .map(|row| opt_i64(&row, "due"))?;
    let now = now_millis();
    let due = match (due, timing) {
        (Some(d), _) => d,
        (None, Timing::Fixed(wait)) => now + wait,
        (
            None,
            Timing::Grouped {
                wait_ms,
                interval_ms,
            },
        ) => {
            let next: Option<i64> = sqlx::query(
                "SELECT next_ms FROM alarm_groups WHERE tenant = $1 AND contact_id = $2 AND channel = $3 AND group_key = $4",
            )
            .bind(e.tenant.as_str())
            .bind(r.contact_id as i64)
            .bind(r.channel.as_str())
            .bind(group)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .map(|row| row.get("next_ms"));
            match next {
                // The group sent recently: this one follows when its window ends.
                Some(n) if n > now => n,
                _ => {
                    // A new group (or one quiet for a whole window): out at once, and the
                    // next message no sooner than the wait.
                    sqlx::query(
                        "INSERT INTO alarm_groups (tenant, contact_id, channel, group_key, next_ms, interval_ms)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (tenant, contact_id, channel, group_key) DO UPDATE SET next_ms = excluded.next_ms, interval_ms = excluded.interval_ms",
                    )
                    .bind(e.tenant.as_str())
                    .bind(r.contact_id as i64)
                    .bind(r.channel.as_str())
                    .bind(group)
                    .bind(now + wait_ms)
                    .bind(interval_ms)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                    now
                }
            }
        }
    };
    sqlx::query(
        "INSERT INTO alarm_pending (tenant, contact_id, channel, group_key, kind, event_key, event_body, level, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(e.tenant.as_str())
    .bind(r.contact_id as i64)
    .bind(r.channel.as_str())
    .bind(group)
    .bind(kind)
    .bind(e.idempotency_key())
    .bind(body)
    .bind(level)
    .bind(due)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Escalates every unacknowledged P0/P1 problem whose time has come; returns how many.
pub async fn escalate_due(app: &App) -> Result<usize, AlarmError> {
    let now_ms = now_millis();
    let rows = sqlx::query(
        "SELECT tenant, event_id, body, escalate_team, escalation_level FROM alarm_alerts
         WHERE escalate_at IS NOT NULL AND escalate_at <= $1 LIMIT 200",
    )
    .bind(now_ms)
    .fetch_all(&app.db.pool)
    .await
    .map_err(db_err)?;
    let index = app.config.get();
    let mut n = 0;
    for row in rows {
        let body: String = row.get("body");
        let level: i64 = row.get::<i64, _>("escalation_level") + 1;
        let team = opt_i64(&row, "escalate_team").unwrap_or(0) as u64;
        let Ok(e) = serde_json::from_str::<Event>(&body) else {
            continue;
        };
        let t = index.tenant(&e.tenant);
        let next = t
            .and_then(|t| t.team(team))
            .and_then(|tm| tm.escalate_to.map(|to| (to, tm.escalate_after_secs)));
        let mut tx = app.db.pool.begin().await.map_err(db_err)?;
        // Conditional on still being due and unacknowledged: an ack racing with us wins.
        let done = sqlx::query(
            "UPDATE alarm_alerts SET escalation_level = $1, escalate_at = $2, escalate_team = $3,
             escalated_teams = COALESCE(escalated_teams, '') || $7
             WHERE tenant = $4 AND event_id = $5 AND escalate_at IS NOT NULL AND escalate_at <= $6 AND ack_by IS NULL AND status = 'PROBLEM'",
        )
        .bind(level)
        .bind(next.map(|(_, after)| now_ms + after as i64 * 1000))
        .bind(next.map(|(to, _)| to as i64))
        .bind(e.tenant.as_str())
        .bind(&e.id.0)
        .bind(now_ms)
        .bind(format!("{team},"))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if done == 1 {
            if let Some(t) = t {
                let group = format!("esc:{}:{level}", e.id);
                for r in t.team_receivers(team) {
                    add_pending(
                        &mut tx,
                        &e,
                        &body,
                        r,
                        "escalation",
                        &group,
                        level,
                        Timing::Fixed(0),
                    )
                    .await?;
                }
            }
            n += 1;
        }
        tx.commit().await.map_err(db_err)?;
    }
    Ok(n)
}

/// Re-notifies every open, unacknowledged, unsilenced problem whose reminder is due (a route's
/// `repeat_interval`), to the receivers its routes reach now; a problem held back by muted
/// routes is told as a new alert once one is no longer muted. Returns how many were told.
pub async fn remind_due(app: &App) -> Result<usize, AlarmError> {
    let now_ms = now_millis();
    let rows = sqlx::query(
        "SELECT tenant, event_id, body, reminders FROM alarm_alerts
         WHERE remind_at IS NOT NULL AND remind_at <= $1 LIMIT 200",
    )
    .bind(now_ms)
    .fetch_all(&app.db.pool)
    .await
    .map_err(db_err)?;
    let index = app.config.get();
    let mut n = 0;
    for row in rows {
        let body: String = row.get("body");
        let event_id: String = row.get("event_id");
        let tenant: String = row.get("tenant");
        let stored: i64 = row.get("reminders");
        let held = stored == HELD;
        let e = serde_json::from_str::<Event>(&body).ok();
        let (route, quiet) = match (&e, e.as_ref().and_then(|e| index.tenant(&e.tenant))) {
            // A silence made after the problem started mutes its reminders (they keep their
            // schedule and resume when it ends).
            (Some(e), Some(t)) => (
                t.route(e, now_secs()),
                t.silenced_by(e, now_secs()).is_some(),
            ),
            _ => (Default::default(), false),
        };
        let release = held && !quiet && !route.receivers.is_empty();
        // Still held (muted or silenced): looked at again after the group interval.
        let (every, count) = match () {
            _ if held && !release => (route.group_interval_ms, HELD),
            _ if held => (route.repeat_ms, 0),
            _ => (route.repeat_ms, stored + 1),
        };
        let mut tx = app.db.pool.begin().await.map_err(db_err)?;
        // Conditional: an acknowledgement, recovery or silence racing with us wins; then (or
        // when no route asks for reminders any more) the reminder is dropped.
        let done = sqlx::query(
            "UPDATE alarm_alerts SET remind_at = $1, remind_every = $2, reminders = $3
             WHERE tenant = $4 AND event_id = $5 AND remind_at IS NOT NULL AND remind_at <= $6
               AND status = 'PROBLEM' AND ack_by IS NULL AND silenced = 0",
        )
        .bind(every.map(|ms| now_ms + ms as i64))
        .bind(every.map(|ms| ms as i64))
        .bind(count)
        .bind(&tenant)
        .bind(&event_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        match (done, &e) {
            (1, Some(e)) if release => {
                notify(app, &mut tx, e, &body, &route).await?;
                // Its escalation starts now, as a new problem's would have.
                if let Some((team, after)) = route.escalation {
                    sqlx::query(
                        "UPDATE alarm_alerts SET escalate_at = $1, escalate_team = $2 WHERE tenant = $3 AND event_id = $4 AND escalate_at IS NULL",
                    )
                    .bind(now_ms + after as i64 * 1000)
                    .bind(team as i64)
                    .bind(&tenant)
                    .bind(&event_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                n += 1;
            }
            (1, Some(_)) if quiet || held => {}
            (1, Some(e)) => {
                let group = format!("remind:{}:{count}", e.id);
                for (r, g) in &route.receivers {
                    if g.is_some() {
                        add_pending(
                            &mut tx,
                            e,
                            &body,
                            *r,
                            "reminder",
                            &group,
                            count,
                            Timing::Fixed(0),
                        )
                        .await?;
                    }
                }
                n += 1;
            }
            _ => {
                sqlx::query(
                    "UPDATE alarm_alerts SET remind_at = NULL WHERE tenant = $1 AND event_id = $2 AND remind_at <= $3",
                )
                .bind(&tenant)
                .bind(&event_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
    }
    Ok(n)
}
