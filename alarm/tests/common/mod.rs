//! Shared test fixtures: the real webhook receiver of `argus_core::testing`, event and config builders, a Maildir
//! reader for the SMTP server of `.ci/services/smtp.sh`, and polling helpers.
#![allow(dead_code)]

use argus_alarm::AlarmConfig;
use argus_core::event::{Event, EventId, EventStatus};
use argus_core::notify::{
    Channel, Contact, Subscription, SubscriptionTarget, Team, TenantNotifyConfig,
};
use argus_core::strategy::Priority;
#[allow(unused_imports)] // not every test file delivers webhooks
pub(crate) use argus_core::testing::WebhookReceiver as Receiver;
use argus_core::{SeriesKey, Tags, TenantId};
use serde_json::Value;
use std::time::Duration;

pub(crate) fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// An event of `strategy` on `host`.
pub(crate) fn event(
    t: &str,
    host: &str,
    strategy: u64,
    prio: u8,
    status: EventStatus,
    occurrence: u64,
) -> Event {
    let series = SeriesKey::new(
        tenant(t),
        host,
        "cpu.busy",
        Tags::parse_falcon("dc=eu1").unwrap(),
    );
    Event {
        id: EventId::of(strategy, &series),
        tenant: tenant(t),
        status,
        occurrence,
        strategy_id: strategy,
        template_id: Some(1),
        series,
        priority: Priority::new(prio).unwrap(),
        condition: "all(#3) > 90".into(),
        value: 97.5,
        timestamp: 1_700_000_000 + occurrence as i64,
        alarm_count: 1,
        note: "CPU saturated".into(),
        region: "eu1".into(),
        rule: None,
    }
}

pub(crate) fn contact(
    t: &str,
    id: u64,
    email: Option<&str>,
    hook: Option<&str>,
    secret: Option<&str>,
) -> Contact {
    Contact {
        id,
        tenant: tenant(t),
        name: format!("contact-{id}"),
        email: email.map(Into::into),
        webhook_url: hook.map(Into::into),
        webhook_secret: secret.map(Into::into),
        webhook_alertmanager: false,
        channels: vec![],
    }
}

pub(crate) fn team(
    t: &str,
    id: u64,
    members: Vec<u64>,
    escalate_to: Option<u64>,
    after: u64,
) -> Team {
    Team {
        id,
        tenant: tenant(t),
        name: format!("team-{id}"),
        members,
        escalate_to,
        escalate_after_secs: after,
    }
}

/// A subscription of a team or contact to every priority up to P5.
pub(crate) fn sub_all(
    t: &str,
    id: u64,
    team: Option<u64>,
    contact: Option<u64>,
    channels: Vec<Channel>,
) -> Subscription {
    Subscription {
        id,
        tenant: tenant(t),
        target: SubscriptionTarget::Priority {
            max_priority: Priority::new(5).unwrap(),
        },
        team_id: team,
        contact_id: contact,
        channels,
        send_recovery: true,
    }
}

pub(crate) fn tenant_cfg(
    t: &str,
    contacts: Vec<Contact>,
    teams: Vec<Team>,
    subs: Vec<Subscription>,
) -> TenantNotifyConfig {
    TenantNotifyConfig {
        tenant: tenant(t),
        version: 1,
        contacts,
        teams,
        subscriptions: subs,
        ..Default::default()
    }
}

/// What most webhook tests start from: tenant `t` with one contact (id 1) whose webhook, signed
/// with `secret` when given, goes to a fresh local receiver, subscribed to every priority with
/// recoveries.
pub(crate) struct OneWebhook {
    /// The contact's receiver.
    pub rx: Receiver,
    /// The alarm's data directory (kept for the test's life).
    pub dir: tempfile::TempDir,
    /// The alarm's configuration ([`config`]), to adjust before `argus_alarm::start`.
    pub cfg: AlarmConfig,
}

/// Sets up [`OneWebhook`] for tenant `t`.
pub(crate) async fn one_webhook(t: &str, secret: Option<&str>) -> OneWebhook {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        vec![tenant_cfg(
            t,
            vec![contact(t, 1, None, Some(&rx.url), secret)],
            vec![],
            vec![sub_all(t, 1, None, Some(1), vec![Channel::Webhook])],
        )],
    );
    OneWebhook { rx, dir, cfg }
}

/// A config for tests: port 0, SQLite in `dir`, fast loops and retries, private webhooks allowed.
pub(crate) fn config(dir: &std::path::Path, tenants: Vec<TenantNotifyConfig>) -> AlarmConfig {
    let mut c = AlarmConfig {
        listen: "127.0.0.1:0".into(),
        internal_token: "internal-secret".into(),
        data_dir: dir.to_path_buf(),
        tenants,
        poll_interval_ms: 50,
        group_wait_secs: 0,
        digest_interval_secs: 2,
        allow_private_webhooks: true,
        rate_limit_per_minute: 0,
        lease_ttl_secs: 3,
        lease_renew_secs: 1,
        ..Default::default()
    };
    for p in [&mut c.retry.webhook, &mut c.retry.email] {
        p.initial_backoff_ms = 100;
        p.max_backoff_ms = 400;
        p.max_attempts = 4;
    }
    c
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Posts events with the internal credential; gives (status, body).
pub(crate) async fn post_events(base: &str, events: &[Event]) -> (u16, Value) {
    let r = client()
        .post(format!("{base}/internal/v1/events"))
        .bearer_auth("internal-secret")
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// GET with the internal credential.
pub(crate) async fn get(url: &str) -> (u16, Value) {
    let r = client()
        .get(url)
        .bearer_auth("internal-secret")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// POST JSON with the internal credential.
pub(crate) async fn post(url: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(url)
        .bearer_auth("internal-secret")
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Waits (generously: the machine is shared) until `f` holds; panics with `what` otherwise.
pub(crate) async fn wait_for<F: FnMut() -> bool>(what: &str, secs: u64, mut f: F) {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs}s waiting for {what}");
}

/// Async version of [`wait_for`].
pub(crate) async fn wait_for_async<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs}s waiting for {what}");
}

/// The messages in the Maildir addressed to `to`, as (headers+body text) strings.
pub(crate) fn mails_to(maildir: &str, to: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(std::path::Path::new(maildir).join(sub)) else {
            continue;
        };
        for f in rd.flatten() {
            if let Ok(text) = std::fs::read_to_string(f.path()) {
                let head = text.split("\n\n").next().unwrap_or("").to_string();
                if head
                    .lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
                {
                    out.push(text);
                }
            }
        }
    }
    out
}

/// Undoes quoted-printable soft breaks and `=XX` escapes (lettre may encode long lines).
pub(crate) fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh PostgreSQL database on the server of `.ci/services/postgres.sh`; None (skipped
/// loudly) on a laptop without it.
pub(crate) async fn pg_database(what: &str) -> Option<String> {
    argus_core::testing::postgres_database("alarm_test", what).await
}
