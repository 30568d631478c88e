//! How a notification is written: the editable email templates, the chat and PagerDuty texts,
//! and the two webhook payloads (the Argus schema and the Alertmanager-compatible one). The
//! notice itself and its template context are core's ([`argus_core::notice`]), shared with web,
//! which checks tenants' templates against the same context.

use crate::config::TemplatesConfig;
use argus_core::event::EventStatus;
use argus_core::notify::{Contact, EmailTemplates};
use serde_json::{json, Value};

/// Default email subject template.
pub const DEFAULT_SUBJECT: &str = "[Argus][{{ priority }}][{{ status }}] {{ title }}";
/// Default plain-text email template.
pub const DEFAULT_TEXT: &str = "{{ title }}

{% for e in events %}- [{{ e.priority }}] {{ e.status }} {{ e.endpoint }} {{ e.metric }}{% if e.tags %} {{ '{' }}{{ e.tags }}{{ '}' }}{% endif %}: {{ e.condition }}, value {{ e.value }} at {{ e.time }}
{% if e.note %}  note: {{ e.note }}
{% endif %}{% for k, v in e.annotations|items %}{% if k != \"summary\" or v != e.note %}  {{ k }}: {{ v }}
{% endif %}{% endfor %}{% if e.ack_url %}  acknowledge: {{ e.ack_url }}
{% endif %}{% endfor %}
-- Argus alarm, tenant {{ tenant }}
";
/// Default HTML email template.
pub const DEFAULT_HTML: &str = "<html><body>
<h3>{{ title }}</h3>
<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">
<tr><th>Priority</th><th>Status</th><th>Host</th><th>Metric</th><th>Condition</th><th>Value</th><th>Time</th><th></th></tr>
{% for e in events %}<tr><td>{{ e.priority }}</td><td>{{ e.status }}</td><td>{{ e.endpoint }}</td><td>{{ e.metric }}{% if e.tags %} {{ e.tags }}{% endif %}</td><td>{{ e.condition }}{% for k, v in e.annotations|items %}<br>{{ k }}: {{ v }}{% endfor %}</td><td>{{ e.value }}</td><td>{{ e.time }}</td><td>{% if e.ack_url %}<a href=\"{{ e.ack_url }}\">acknowledge</a>{% endif %}</td></tr>
{% endfor %}</table>
<p>Argus alarm, tenant {{ tenant }}</p>
</body></html>
";

/// Default message of the chat services (Slack, Teams, DingTalk, WeCom, Feishu, Telegram): the
/// first line is the title where the service shows one.
pub const DEFAULT_CHAT: &str = "[{{ priority }}][{{ status }}] {{ title }}
{% for e in events %}- [{{ e.priority }}] {{ e.status }} {{ e.endpoint }} {{ e.metric }}{% if e.tags %} {{ '{' }}{{ e.tags }}{{ '}' }}{% endif %}: {{ e.condition }}, value {{ e.value }} at {{ e.time }}
{% if e.note %}  {{ e.note }}
{% endif %}{% if e.console_url %}  {{ e.console_url }}
{% endif %}{% if e.ack_url %}  acknowledge: {{ e.ack_url }}
{% endif %}{% endfor %}";
/// Default PagerDuty summary, rendered for each event alone.
pub const DEFAULT_PAGERDUTY: &str =
    "[{{ priority }}] {{ title }}: {% for e in events %}{{ e.condition }}, value {{ e.value }}{% endfor %}";

pub use argus_core::notice::{event_link, Notice};
use argus_core::time::rfc3339;

/// Renders notices to email text and webhook bodies.
pub struct Renderer {
    env: minijinja::Environment<'static>,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// Subject line.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

impl Renderer {
    /// Compiles the templates; an error names the template key.
    pub fn new(t: &TemplatesConfig) -> Result<Self, crate::AlarmError> {
        let mut env = minijinja::Environment::new();
        for (name, key, src) in [
            ("subject.txt", "templates.subject", &t.subject),
            ("body.txt", "templates.text", &t.text),
            ("body.html", "templates.html", &t.html),
            (
                "chat.txt",
                "(built-in chat template)",
                &DEFAULT_CHAT.to_string(),
            ),
            (
                "pagerduty.txt",
                "(built-in PagerDuty template)",
                &DEFAULT_PAGERDUTY.to_string(),
            ),
        ] {
            // Templates are compiled once at start: leaking their text keeps the environment 'static.
            let src: &'static str = Box::leak(src.clone().into_boxed_str());
            env.add_template(name, src)
                .map_err(|e| crate::AlarmError::Config {
                    key: key.into(),
                    reason: e.to_string(),
                })?;
        }
        Ok(Renderer { env })
    }

    /// The subject line only (stored with the delivery for the console), by the tenant's
    /// subject template when it has one.
    pub fn subject(&self, n: &Notice, tenant: Option<&EmailTemplates>) -> String {
        let ctx = n.context("", &[], "");
        let own = tenant.and_then(|t| t.subject.as_deref());
        self.render("subject.txt", own, &ctx)
            .map(|s| s.lines().next().unwrap_or("").trim().to_string())
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "subject template failed; using the title");
                n.title()
            })
    }

    /// The email of a notice, by the tenant's templates where it has them.
    pub fn email(
        &self,
        n: &Notice,
        contact: &str,
        ack_urls: &[Option<String>],
        console: &str,
        tenant: Option<&EmailTemplates>,
    ) -> Result<Email, String> {
        let ctx = n.context(contact, ack_urls, console);
        let t = tenant.cloned().unwrap_or_default();
        Ok(Email {
            subject: self
                .render("subject.txt", t.subject.as_deref(), &ctx)?
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
            text: self.render("body.txt", t.text.as_deref(), &ctx)?,
            html: self.render("body.html", t.html.as_deref(), &ctx)?,
        })
    }

    /// A chat service's message: the receiver's own template, else the built-in one.
    pub fn chat(&self, template: Option<&str>, ctx: &Value) -> Result<String, String> {
        self.render("chat.txt", template, ctx)
    }

    /// A PagerDuty summary of one event (`ctx` is the context of a one-event notice).
    pub fn pagerduty_summary(&self, template: Option<&str>, ctx: &Value) -> Result<String, String> {
        self.render("pagerduty.txt", template, ctx)
    }

    /// Renders `own` (a tenant's or receiver's template, checked when it was saved) under
    /// `name`, whose extension decides HTML escaping, else the built-in template `name`.
    fn render(&self, name: &str, own: Option<&str>, ctx: &Value) -> Result<String, String> {
        match own.filter(|s| !s.trim().is_empty()) {
            Some(src) => self
                .env
                .render_named_str(name, src, ctx)
                .map_err(|e| format!("own template {name}: {e}")),
            None => self.render_one(name, ctx),
        }
    }

    fn render_one(&self, name: &str, ctx: &Value) -> Result<String, String> {
        let t = self.env.get_template(name).map_err(|e| e.to_string())?;
        t.render(ctx).map_err(|e| format!("template {name}: {e}"))
    }
}

/// The Argus webhook body (docs/WEBHOOKS.md).
pub fn argus_payload(
    n: &Notice,
    key: &str,
    contact: &Contact,
    ack_urls: &[Option<String>],
    now: i64,
) -> Value {
    let events: Vec<Value> = n
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("idempotency_key".into(), Value::String(e.idempotency_key()));
                m.insert("ack_url".into(), json!(ack_urls.get(i).cloned().flatten()));
            }
            v
        })
        .collect();
    json!({
        "schema": "argus.alarm.v1",
        "kind": n.kind,
        "idempotency_key": key,
        "tenant": n.tenant,
        "receiver": {"contact_id": contact.id, "name": contact.name},
        "title": n.title(),
        "status": n.status(),
        "priority": n.events.iter().map(|e| e.priority.level()).min().unwrap_or(5),
        "escalation_level": n.escalation_level,
        "hosts": n.hosts(),
        "events": events,
        "sent_at": now,
    })
}

/// The Alertmanager-compatible body (webhook_config version 4), so existing receivers work.
/// `generatorURL` is the event in the console (`console_url`; empty when unknown), never the
/// acknowledgement link, which receivers must not follow unasked.
pub fn alertmanager_payload(
    n: &Notice,
    key: &str,
    contact: &Contact,
    external_url: &str,
    console_url: &str,
) -> Value {
    let alerts: Vec<Value> = n
        .events
        .iter()
        .map(|e| {
            let mut labels = serde_json::Map::new();
            let annotations = match &e.rule {
                // An alert rule's alert: its own labels and annotations, as Prometheus sends
                // them, with the tenant, severity and region when the rule does not set them.
                Some(r) => {
                    for (k, v) in &r.labels {
                        labels.insert(k.clone(), json!(v));
                    }
                    labels.insert("alertname".into(), json!(r.alert));
                    labels.insert("tenant".into(), json!(e.tenant));
                    labels.insert("rule_id".into(), json!(r.id.to_string()));
                    for (k, v) in [
                        ("severity", format!("P{}", e.priority.level())),
                        ("region", e.region.clone()),
                    ] {
                        labels.entry(k).or_insert_with(|| json!(v));
                    }
                    json!(r.annotations)
                }
                None => {
                    for (k, v) in e.series.tags.iter() {
                        labels.insert(k.to_string(), json!(v));
                    }
                    labels.insert("alertname".into(), json!(e.series.metric));
                    labels.insert("endpoint".into(), json!(e.series.endpoint));
                    labels.insert("metric".into(), json!(e.series.metric));
                    labels.insert("tenant".into(), json!(e.tenant));
                    labels.insert("strategy_id".into(), json!(e.strategy_id.to_string()));
                    labels.insert("severity".into(), json!(format!("P{}", e.priority.level())));
                    labels.insert("region".into(), json!(e.region));
                    json!({
                        "summary": format!("{} on {}: {}", e.series.metric, e.series.endpoint, e.condition),
                        "description": e.note, "value": e.value.to_string(), "condition": e.condition,
                    })
                }
            };
            let firing = e.status == EventStatus::Problem;
            // A recovery starts when its problem did; it ends now.
            let starts = match n.problem_started.get(&e.id.0) {
                Some(t) if !firing => *t,
                _ => e.timestamp,
            };
            let generator = event_link(console_url, e);
            json!({
                "status": if firing { "firing" } else { "resolved" },
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(starts),
                "endsAt": if firing { "0001-01-01T00:00:00Z".to_string() } else { rfc3339(e.timestamp) },
                "generatorURL": generator,
                "fingerprint": e.id,
            })
        })
        .collect();
    let status = if n.events.iter().any(|e| e.status == EventStatus::Problem) {
        "firing"
    } else {
        "resolved"
    };
    json!({
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": contact.name,
        "groupLabels": {"tenant": n.tenant},
        "commonLabels": {"tenant": n.tenant},
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::event::Event;
    use argus_core::TenantId;

    #[test]
    fn bad_template_names_its_key() {
        let t = TemplatesConfig {
            html: "{% for %}".into(),
            ..Default::default()
        };
        let e = Renderer::new(&t).err().unwrap().to_string();
        assert!(e.contains("templates.html"), "{e}");
    }

    /// A tenant's own email templates replace the configured ones part by part; its HTML is
    /// escaped as the configured one is; links are in the context.
    #[test]
    fn tenant_email_templates() {
        use argus_core::{SeriesKey, Tags};
        let t = TenantId::new("acme").unwrap();
        let e = Event {
            id: argus_core::event::EventId::of(
                3,
                &SeriesKey::new(t.clone(), "db-1", "disk.used", Tags::default()),
            ),
            tenant: t.clone(),
            status: EventStatus::Problem,
            occurrence: 1,
            strategy_id: 3,
            template_id: None,
            series: SeriesKey::new(t.clone(), "db-1", "disk.used", Tags::default()),
            priority: argus_core::strategy::Priority::new(2).unwrap(),
            condition: "all(#1) > 90".into(),
            value: 95.0,
            timestamp: 100,
            alarm_count: 1,
            note: "<b>full</b>".into(),
            region: "r1".into(),
            rule: None,
        };
        let n = Notice {
            kind: "alert".into(),
            tenant: t,
            events: vec![e],
            escalation_level: 0,
            problem_started: Default::default(),
        };
        let r = Renderer::new(&TemplatesConfig::default()).unwrap();
        let own = EmailTemplates {
            subject: Some("ACME {{ status }}: {{ events[0].endpoint }}\nsecond line".into()),
            text: None,
            html: Some("<p>{{ events[0].note }}</p><a href=\"{{ events[0].console_url }}\">{{ contact_name }}</a>".into()),
        };
        let mail = r
            .email(
                &n,
                "ops",
                &[Some("https://a/ack".into())],
                "https://c",
                Some(&own),
            )
            .unwrap();
        assert_eq!(mail.subject, "ACME PROBLEM: db-1");
        assert!(
            mail.text.contains("acknowledge: https://a/ack"),
            "the configured text: {}",
            mail.text
        );
        assert_eq!(
            mail.html,
            format!(
                "<p>&lt;b&gt;full&lt;&#x2f;b&gt;</p><a href=\"https:&#x2f;&#x2f;c&#x2f;history?event={}\">ops</a>",
                n.events[0].id
            )
        );
        assert_eq!(r.subject(&n, Some(&own)), "ACME PROBLEM: db-1");
        assert!(r.subject(&n, None).starts_with("[Argus][P2][PROBLEM]"));
        // A template failing at render time names itself.
        let bad = EmailTemplates {
            text: Some("{{ events|nosuchfilter }}".into()),
            ..Default::default()
        };
        let err = r.email(&n, "ops", &[], "", Some(&bad)).unwrap_err();
        assert!(
            err.contains("body.txt") && err.contains("nosuchfilter"),
            "{err}"
        );
    }

    /// An alert rule's event: the email shows its annotations, the Alertmanager body its own
    /// labels and annotations.
    #[test]
    fn rule_events_carry_labels_and_annotations() {
        use argus_core::event::{EventId, RuleAlert};
        use argus_core::{SeriesKey, Tags};
        use std::collections::BTreeMap;
        let t = TenantId::new("acme").unwrap();
        let labels = BTreeMap::from([
            ("alertname".to_string(), "HostDown".to_string()),
            ("instance".to_string(), "10.0.0.1:9100".to_string()),
            ("severity".to_string(), "page".to_string()),
        ]);
        let annotations = BTreeMap::from([
            ("summary".to_string(), "10.0.0.1:9100 is down".to_string()),
            ("runbook".to_string(), "https://r/host-down".to_string()),
        ]);
        let e = Event {
            id: EventId::of_rule(&t, 4, &labels),
            tenant: t.clone(),
            status: EventStatus::Problem,
            occurrence: 1,
            strategy_id: 0,
            template_id: None,
            series: SeriesKey::new(
                t.clone(),
                "10.0.0.1:9100",
                "HostDown",
                Tags::from_pairs([("instance", "10.0.0.1:9100"), ("severity", "page")]),
            ),
            priority: argus_core::strategy::Priority::P0,
            condition: "up == 0".into(),
            value: 0.0,
            timestamp: 100,
            alarm_count: 1,
            note: "10.0.0.1:9100 is down".into(),
            region: "r1".into(),
            rule: Some(RuleAlert {
                id: 4,
                alert: "HostDown".into(),
                labels: labels.clone(),
                annotations: annotations.clone(),
            }),
        };
        let n = Notice {
            kind: "alert".into(),
            tenant: t.clone(),
            events: vec![e.clone()],
            escalation_level: 0,
            problem_started: Default::default(),
        };
        let r = Renderer::new(&TemplatesConfig::default()).unwrap();
        let mail = r.email(&n, "ops", &[None], "", None).unwrap();
        assert!(
            mail.subject.contains("HostDown on 10.0.0.1:9100"),
            "{}",
            mail.subject
        );
        assert!(
            mail.text.contains("note: 10.0.0.1:9100 is down"),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("runbook: https://r/host-down"),
            "{}",
            mail.text
        );
        assert!(
            !mail.text.contains("summary:"),
            "the summary is the note: {}",
            mail.text
        );
        assert!(mail.html.contains("<br>runbook: https:"), "{}", mail.html);
        let contact = Contact {
            id: 1,
            tenant: t,
            name: "ops".into(),
            email: None,
            webhook_url: None,
            webhook_secret: None,
            webhook_alertmanager: true,
            channels: vec![],
        };
        let body = alertmanager_payload(&n, "k", &contact, "http://argus", "https://console");
        let a = &body["alerts"][0];
        assert_eq!(
            a["generatorURL"],
            format!("https://console/history?event={}", e.id)
        );
        assert_eq!(a["labels"]["alertname"], "HostDown");
        assert_eq!(a["labels"]["instance"], "10.0.0.1:9100");
        assert_eq!(
            a["labels"]["severity"], "page",
            "the rule's own severity wins"
        );
        assert_eq!(a["labels"]["rule_id"], "4");
        assert_eq!(a["labels"]["tenant"], "acme");
        assert!(a["labels"].get("strategy_id").is_none(), "{a}");
        assert_eq!(a["annotations"], serde_json::json!(annotations));
        assert_eq!(a["status"], "firing");
        // A recovery carries its problem's start, not its own time.
        let mut ok = e.clone();
        ok.status = EventStatus::Ok;
        ok.timestamp = e.timestamp + 600;
        let rn = Notice {
            events: vec![ok],
            problem_started: [(e.id.0.clone(), e.timestamp)].into(),
            ..n.clone()
        };
        let a = alertmanager_payload(&rn, "k", &contact, "", "")["alerts"][0].clone();
        assert_eq!(a["startsAt"], rfc3339(e.timestamp));
        assert_eq!(a["endsAt"], rfc3339(e.timestamp + 600));
        assert_eq!(a["generatorURL"], "");
        let argus = argus_payload(&n, "k", &contact, &[None], 5);
        assert_eq!(
            argus["events"][0]["rule"]["labels"],
            serde_json::json!(labels)
        );
    }
}
