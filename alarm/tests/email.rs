//! Email through a real SMTP server (aiosmtpd from `.ci/services/smtp.sh`, read back from its
//! Maildir), editable templates, and channel independence.

mod common;

use argus_alarm::config::SmtpSecurity;
use argus_core::event::EventStatus;
use argus_core::notify::Channel;
use common::*;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}@example.test", rand::random::<u32>())
}

#[tokio::test]
async fn email_arrives_with_templated_subject_text_and_html() {
    let Some(smtp) = argus_core::testing::require_server("ARGUS_TEST_SMTP", "an SMTP server")
    else {
        return;
    };
    let maildir = std::env::var("ARGUS_TEST_SMTP_MAILDIR")
        .expect("ARGUS_TEST_SMTP_MAILDIR with ARGUS_TEST_SMTP");
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let to = unique("alice");
    let dir = tempfile::tempdir().unwrap();
    let t = "mail-content";
    let mut cfg = config(
        dir.path(),
        vec![tenant_cfg(
            t,
            vec![contact(t, 1, Some(&to), None, None)],
            vec![],
            vec![sub_all(t, 1, None, Some(1), vec![Channel::Email])],
        )],
    );
    cfg.smtp.host = host.into();
    cfg.smtp.port = port.parse().unwrap();
    cfg.smtp.security = SmtpSecurity::None;
    cfg.smtp.from = "Argus Test <argus@example.test>".into();
    cfg.group_wait_secs = 2;
    cfg.templates.subject = "ARGUS {{ status }} {{ title }} for {{ contact_name }}".into();
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[
            event(t, "mail-host-1", 5, 1, EventStatus::Problem, 1),
            event(t, "mail-host-2", 5, 1, EventStatus::Problem, 1),
        ],
    )
    .await;
    wait_for("the email", 60, || !mails_to(&maildir, &to).is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mails = mails_to(&maildir, &to);
    assert_eq!(
        mails.len(),
        1,
        "two events of one strategy: one storm email"
    );
    let m = unqp(&mails[0])
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    assert!(m.contains("Subject: ARGUS PROBLEM cpu.busy: 2 events on 2 hosts (mail-host-1, mail-host-2) for contact-1"), "{m}");
    assert!(
        m.contains("From: \"Argus Test\" <argus@example.test>")
            || m.contains("From: Argus Test <argus@example.test>"),
        "{m}"
    );
    assert!(
        m.contains("@argus.alarm>"),
        "Message-ID carries the idempotency key: {m}"
    );
    assert!(m.contains("multipart/alternative"), "{m}");
    assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
    assert!(
        m.contains("- [P1] PROBLEM mail-host-1 cpu.busy {dc=eu1}: all(#3) > 90, value 97.5"),
        "{m}"
    );
    assert!(m.contains("<td>mail-host-2</td>"), "{m}");
    assert!(m.contains("all(#3) &gt; 90"), "HTML is escaped: {m}");
    assert!(m.contains("acknowledge: http://"), "{m}");
    let (_, d) = get(&format!(
        "{}/internal/v1/deliveries?tenant={t}",
        alarm.url()
    ))
    .await;
    assert_eq!(d["deliveries"][0]["state"], "delivered");
    assert_eq!(d["deliveries"][0]["channel"], "email");
    assert_eq!(d["deliveries"][0]["destination"], to.as_str());
    alarm.stop().await;
}

#[tokio::test]
async fn a_failing_email_channel_never_resends_on_the_webhook() {
    let rx = Receiver::start().await;
    // An SMTP port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let t = "mail-down";
    let mut cfg = config(
        dir.path(),
        vec![tenant_cfg(
            t,
            vec![contact(t, 1, Some("bob@example.test"), Some(&rx.url), None)],
            vec![],
            vec![sub_all(
                t,
                1,
                None,
                Some(1),
                vec![Channel::Email, Channel::Webhook],
            )],
        )],
    );
    cfg.smtp.host = "127.0.0.1".into();
    cfg.smtp.port = closed;
    cfg.smtp.security = SmtpSecurity::None;
    cfg.smtp.timeout_ms = 2_000;
    cfg.retry.email.max_attempts = 2;
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[event(t, "h", 1, 1, EventStatus::Problem, 1)],
    )
    .await;
    let url = format!(
        "{}/internal/v1/deliveries?tenant={t}&state=dead",
        alarm.url()
    );
    wait_for_async("the email dead letter", 60, || async {
        get(&url).await.1["deliveries"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let (_, d) = get(&url).await;
    assert_eq!(d["deliveries"][0]["channel"], "email");
    assert!(
        d["deliveries"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("SMTP"),
        "{d}"
    );
    assert_eq!(
        rx.delivered().len(),
        1,
        "the webhook went out once, unaffected"
    );
    alarm.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn email_over_starttls_with_a_private_ca() {
    let Some(smtp) = argus_core::testing::require_server(
        "ARGUS_TEST_SMTP_STARTTLS",
        "an SMTP server with STARTTLS",
    ) else {
        return;
    };
    let maildir = std::env::var("ARGUS_TEST_SMTP_MAILDIR").expect("ARGUS_TEST_SMTP_MAILDIR");
    let ca = std::env::var("ARGUS_TEST_SMTP_CA").expect("ARGUS_TEST_SMTP_CA");
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let (trusted, untrusted) = (unique("tls-ok"), unique("tls-bad"));
    for (to, ca_file) in [(&trusted, ca.as_str()), (&untrusted, "")] {
        let dir = tempfile::tempdir().unwrap();
        let t = "mail-tls";
        let mut cfg = config(
            dir.path(),
            vec![tenant_cfg(
                t,
                vec![contact(t, 1, Some(to), None, None)],
                vec![],
                vec![sub_all(t, 1, None, Some(1), vec![Channel::Email])],
            )],
        );
        cfg.smtp.host = host.into();
        cfg.smtp.port = port.parse().unwrap();
        cfg.smtp.security = SmtpSecurity::Starttls;
        cfg.smtp.ca_file = ca_file.into();
        cfg.retry.email.max_attempts = 1;
        let alarm = argus_alarm::start(cfg).await.unwrap();
        post_events(
            &alarm.url(),
            &[event(t, "tls-host", 5, 1, EventStatus::Problem, 1)],
        )
        .await;
        let url = format!("{}/internal/v1/deliveries?tenant={t}", alarm.url());
        wait_for_async("a final state", 60, || async {
            get(&url).await.1["deliveries"][0]["state"]
                .as_str()
                .is_some_and(|s| s != "pending")
        })
        .await;
        let d = get(&url).await.1;
        if ca_file.is_empty() {
            assert_eq!(
                d["deliveries"][0]["state"], "dead",
                "a certificate nobody vouches for is refused: {d}"
            );
            let err = d["deliveries"][0]["last_error"].as_str().unwrap_or("");
            assert!(err.contains("SMTP"), "{err}");
            assert!(mails_to(&maildir, to).is_empty());
        } else {
            assert_eq!(d["deliveries"][0]["state"], "delivered", "{d}");
            wait_for("the email", 30, || mails_to(&maildir, to).len() == 1).await;
        }
        alarm.stop().await;
    }
}

/// A tenant's own email templates (from the config center) shape its mail; another tenant's
/// mail keeps the configured templates.
#[tokio::test]
async fn a_tenants_email_templates_are_its_own() {
    let Some(smtp) = argus_core::testing::require_server("ARGUS_TEST_SMTP", "an SMTP server")
    else {
        return;
    };
    let maildir = std::env::var("ARGUS_TEST_SMTP_MAILDIR")
        .expect("ARGUS_TEST_SMTP_MAILDIR with ARGUS_TEST_SMTP");
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let (to_a, to_b) = (unique("tpl-a"), unique("tpl-b"));
    let dir = tempfile::tempdir().unwrap();
    let mut a = tenant_cfg(
        "tpl-a",
        vec![contact("tpl-a", 1, Some(&to_a), None, None)],
        vec![],
        vec![sub_all("tpl-a", 1, None, Some(1), vec![Channel::Email])],
    );
    a.email_templates = Some(argus_core::notify::EmailTemplates {
        subject: Some("ACME ALERT {{ status }} on {{ hosts|join(',') }}".into()),
        text: Some("Dear {{ contact_name }}: {% for e in events %}{{ e.endpoint }} {{ e.console_url }}{% endfor %}".into()),
        html: None,
    });
    let b = tenant_cfg(
        "tpl-b",
        vec![contact("tpl-b", 1, Some(&to_b), None, None)],
        vec![],
        vec![sub_all("tpl-b", 1, None, Some(1), vec![Channel::Email])],
    );
    let mut cfg = config(dir.path(), vec![a, b]);
    cfg.smtp.host = host.into();
    cfg.smtp.port = port.parse().unwrap();
    cfg.smtp.security = SmtpSecurity::None;
    cfg.smtp.from = "argus@example.test".into();
    cfg.console_url = "https://console.example/".into();
    let alarm = argus_alarm::start(cfg).await.unwrap();
    post_events(
        &alarm.url(),
        &[
            event("tpl-a", "a-host", 5, 1, EventStatus::Problem, 1),
            event("tpl-b", "b-host", 5, 1, EventStatus::Problem, 1),
        ],
    )
    .await;
    wait_for("both emails", 60, || {
        !mails_to(&maildir, &to_a).is_empty() && !mails_to(&maildir, &to_b).is_empty()
    })
    .await;
    let clean = |m: &str| {
        unqp(m)
            .replace("\r\n", "\n")
            .replace("\n ", " ")
            .replace("\n\t", " ")
    };
    let ma = clean(&mails_to(&maildir, &to_a)[0]);
    assert!(ma.contains("Subject: ACME ALERT PROBLEM on a-host"), "{ma}");
    assert!(
        ma.contains("Dear contact-1: a-host https://console.example/history?event="),
        "{ma}"
    );
    assert!(
        ma.contains("<td>a-host</td>"),
        "the HTML part not set is the configured one: {ma}"
    );
    let mb = clean(&mails_to(&maildir, &to_b)[0]);
    assert!(
        mb.contains("Subject: [Argus][P1][PROBLEM] cpu.busy on b-host"),
        "{mb}"
    );
    assert!(!mb.contains("ACME") && !mb.contains("Dear"), "{mb}");
    // The delivery list's subject is the tenant's too.
    let (_, d) = get(&format!(
        "{}/internal/v1/deliveries?tenant=tpl-a",
        alarm.url()
    ))
    .await;
    assert_eq!(
        d["deliveries"][0]["subject"],
        "ACME ALERT PROBLEM on a-host"
    );
    alarm.stop().await;
}
