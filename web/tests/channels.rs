//! A contact's chat and paging receivers (docs/CHANNELS.md): checked on save with the field
//! named, credentials never shown back in full, kept when an update omits them or gives back
//! what the API showed, reaching alarm whole through the config center, and tenant-scoped.

mod common;

use common::{start, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SLACK: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX";

#[tokio::test]
async fn chat_receivers_are_checked_hidden_and_kept() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let bad = |body: Value, field: &'static str, why: &'static str| {
        let e = &e;
        async move {
            let (s, v) = e
                .call(&e.a, Method::POST, "/api/v1/contacts", Some(body))
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
            let text = v.to_string();
            assert!(text.contains(field), "names {field}: {v}");
            assert!(text.contains(why), "says {why}: {v}");
        }
    };
    bad(
        json!({"name": "x", "channels": [{"type": "slack"}]}),
        "channels[0].url",
        "required",
    )
    .await;
    bad(
        json!({"name": "x", "channels": [{"type": "telegram", "bot_token": "1:A"}]}),
        "channels[0].chat_id",
        "required",
    )
    .await;
    bad(
        json!({"name": "x", "channels": [{"type": "pagerduty"}]}),
        "channels[0].routing_key",
        "required",
    )
    .await;
    bad(
        json!({"name": "x", "channels": [{"type": "slack", "url": SLACK, "secret": "s"}]}),
        "channels[0].secret",
        "not a slack setting",
    )
    .await;
    bad(
        json!({"name": "x", "channels": [{"type": "email", "url": SLACK}]}),
        "channels[0].type",
        "must be slack",
    )
    .await;
    bad(
        json!({"name": "x", "channels": [{"type": "wecom", "url": "ftp://x"}]}),
        "channels[0].url",
        "https://",
    )
    .await;
    bad(
        json!({"name": "x", "channels": [{"type": "slack", "url": SLACK}, {"type": "slack", "url": SLACK}]}),
        "channels[1].type",
        "one slack receiver at most",
    )
    .await;
    bad(
        json!({"name": "x", "channels": [{"type": "sms", "url": SLACK}]}),
        "channels[0]",
        "unknown variant",
    )
    .await;
    // A template that does not compile: the field, the line and what is wrong.
    bad(
        json!({"name": "x", "channels": [{"type": "slack", "url": SLACK, "template": "ok\n{% for e in events %}"}]}),
        "channels[0].template",
        "template error at line 2",
    )
    .await;

    let body = json!({"name": "oncall", "channels": [
        {"type": "slack", "url": SLACK, "template": "{{ title }}"},
        {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=DTOKEN", "secret": "SECDING"},
        {"type": "telegram", "bot_token": "123:TGTOKEN", "chat_id": "-100200"},
        {"type": "pagerduty", "routing_key": "PDKEY0123456789", "url": "https://pd.example/v2/enqueue"},
    ]});
    let (s, v) = e
        .call(&e.a, Method::POST, "/api/v1/contacts", Some(body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let path = format!("/api/v1/contacts/{id}");
    let (_, shown) = e.call(&e.a, Method::GET, &path, None).await;
    let text = shown.to_string();
    for secret in [
        "XXXXSECRETXXXX",
        "DTOKEN",
        "SECDING",
        "TGTOKEN",
        "PDKEY0123456789",
    ] {
        assert!(!text.contains(secret), "{secret} shown: {shown}");
    }
    let ch = &shown["channels"];
    assert_eq!(ch[0]["url"], "https://hooks.slack.com/…");
    assert_eq!(ch[1]["secret"], "(hidden)");
    assert_eq!(ch[2]["bot_token"], "(hidden)");
    assert_eq!(ch[2]["chat_id"], "-100200", "not a credential");
    assert_eq!(
        ch[3]["url"], "https://pd.example/v2/enqueue",
        "an API base is no credential"
    );

    // Given back as shown (a GET edited and PUT back), the credentials stay.
    let mut back = json!({"name": "oncall", "email": "oncall@example.com", "channels": ch.clone()});
    back["channels"][0]["template"] = json!("{{ title }}!");
    let (s, v) = e.call(&e.a, Method::PUT, &path, Some(back)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // An update without `channels` (the console's form) keeps them.
    let (s, v) = e
        .call(
            &e.a,
            Method::PUT,
            &path,
            Some(json!({"name": "oncall", "email": "oncall@example.com"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Alarm gets them whole through the config center.
    let tenant = argus_core::TenantId::new("acme").unwrap();
    let n = argus_web::model::tenant_notify(&e.running.db, &tenant)
        .await
        .unwrap();
    let c = n.contacts.iter().find(|c| c.id == id as u64).unwrap();
    assert_eq!(c.channels.len(), 4);
    assert_eq!(c.channels[0].url.as_deref(), Some(SLACK));
    assert_eq!(c.channels[0].template.as_deref(), Some("{{ title }}!"));
    assert_eq!(c.channels[1].secret.as_deref(), Some("SECDING"));
    assert_eq!(c.channels[2].bot_token.as_deref(), Some("123:TGTOKEN"));
    assert_eq!(
        c.channels[3].routing_key.as_deref(),
        Some("PDKEY0123456789")
    );

    // A redacted value with nothing stored to keep is refused, not stored.
    let (s, v) = e
        .call(
            &e.a,
            Method::POST,
            "/api/v1/contacts",
            Some(json!({"name": "y", "channels": [{"type": "slack", "url": "https://hooks.slack.com/…"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Another tenant neither sees nor changes the contact.
    let (s, _) = e.call(&e.b, Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = e
        .call(
            &e.b,
            Method::PUT,
            &path,
            Some(json!({"name": "stolen", "channels": [{"type": "slack", "url": "https://evil.example/x"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = e.call(&e.b, Method::GET, "/api/v1/contacts", None).await;
    assert!(!list.to_string().contains("oncall"), "{list}");
    e.running.stop().await;
}

#[tokio::test]
async fn email_templates_are_checked_and_the_tenants_own() {
    let e = start(Backend::Sqlite, |_| {}).await.unwrap();
    let path = "/api/v1/email_templates";
    let (s, v) = e.call(&e.a, Method::GET, path, None).await;
    assert_eq!((s, &v["subject"]), (StatusCode::OK, &Value::Null));
    for (body, field, why) in [
        (
            json!({"html": "<p>\n{% if x %}</p>"}),
            "html",
            "template error at line 2",
        ),
        (
            json!({"text": "{{ events|nosuchfilter }}"}),
            "text",
            "unknown filter",
        ),
        (
            json!({"subject": "{{ title "}),
            "subject",
            "template error at line 1",
        ),
        (json!({"footer": "x"}), "footer", "unknown field"),
        (json!({"subject": " "}), "subject", "at least one"),
    ] {
        let (s, v) = e.call(&e.a, Method::PUT, path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
        assert!(v.to_string().contains(why), "{body}: {v}");
    }
    let viewer = e.token(&e.a, "viewer").await;
    let (s, _) = e
        .call(&viewer, Method::PUT, path, Some(json!({"subject": "x"})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let own = json!({"subject": "ACME {{ status }} {{ title }}", "text": "{{ title }}\n{{ console_url }}"});
    let (s, v) = e.call(&e.a, Method::PUT, path, Some(own)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Written back as read.
    let (s, v) = e.call(&e.a, Method::PUT, path, Some(v)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["subject"], "ACME {{ status }} {{ title }}");
    assert_eq!(v["html"], Value::Null);

    // Served to alarm as the tenant's; the other tenant has none and cannot see or remove them.
    let a = argus_core::TenantId::new("acme").unwrap();
    let b = argus_core::TenantId::new("globex").unwrap();
    let na = argus_web::model::tenant_notify(&e.running.db, &a)
        .await
        .unwrap();
    let t = na.email_templates.unwrap();
    assert_eq!(t.subject.as_deref(), Some("ACME {{ status }} {{ title }}"));
    assert_eq!(t.html, None);
    let nb = argus_web::model::tenant_notify(&e.running.db, &b)
        .await
        .unwrap();
    assert_eq!(nb.email_templates, None);
    let (_, v) = e.call(&e.b, Method::GET, path, None).await;
    assert_eq!(v["subject"], Value::Null, "{v}");
    let (s, _) = e.call(&e.b, Method::DELETE, path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = e.call(&e.a, Method::DELETE, path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let na = argus_web::model::tenant_notify(&e.running.db, &a)
        .await
        .unwrap();
    assert_eq!(na.email_templates, None);
    e.running.stop().await;
}
