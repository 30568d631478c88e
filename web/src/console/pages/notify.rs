//! Who gets told: contacts, teams with escalation, and subscriptions.

use super::*;

/// `GET /contacts`.
pub(crate) async fn contacts(req: HttpRequest, st: web::Data<State>, e: web::Query<Edit>) -> Page {
    let a = auth!(req, st);
    let list = objects(&st, a.tenant.as_str(), Kind::Contact).await?;
    let editor = a.role >= Role::Editor;
    let rows: Vec<String> = list
        .iter()
        .map(|c| format!(
            r#"<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td class="right">{}</td></tr>"#,
            esc(&s(c, "name")), esc(&s(c, "email")), esc(&s(c, "webhook_url")),
            if c["webhook_secret_set"].as_bool() == Some(true) { "signed" } else { "" },
            esc(&c["channels"].as_array().map(|l| l.iter().filter_map(|r| r["type"].as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()),
            row_actions("/contacts", "contacts", id(c), editor)
        ))
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Name", "Email", "Webhook", "", "Channels", ""],
            &rows,
            "No contacts yet."
        )
    );
    if editor {
        let f = FormTarget::of(Kind::Contact, &list, e.edit);
        let secret_hint = if f.object["webhook_secret_set"].as_bool() == Some(true) {
            "set: leave empty to keep"
        } else {
            ""
        };
        body.push_str(&format!(
            r#"{}
<label>Name<input name="name" value="{}" required></label><label>Email<input name="email" type="email" value="{}"></label>
<label>Webhook URL<input name="webhook_url" size="30" value="{}"></label><label>Webhook secret<input name="webhook_secret" type="password" autocomplete="new-password" placeholder="{secret_hint}"></label>
<label>Alertmanager format<input type="checkbox" name="webhook_alertmanager"{}></label>{}{}"#,
            f.open("/contacts"),
            f.text("name"),
            f.text("email"),
            f.text("webhook_url"),
            f.checked("webhook_alertmanager", false),
            receiver_fields(f.object),
            f.close("/contacts"),
        ));
    }
    Ok(page(&a, "/contacts", "Contacts", &body))
}

/// The contact form's chat and paging receivers (docs/CHANNELS.md): one fieldset per service,
/// switched on when the contact has it; console.js sends those switched on as `channels`.
/// Credentials never reach the page: the API's cut URL or "set" is only a placeholder, and a
/// credential left empty keeps the stored one.
fn receiver_fields(contact: &Value) -> String {
    type Fields = &'static [(&'static str, &'static str)];
    const SERVICES: &[(&str, &str, Fields)] = &[
        ("slack", "Slack", &[("url", "Webhook URL")]),
        (
            "teams",
            "Microsoft Teams",
            &[("url", "Webhook URL"), ("format", "Card")],
        ),
        (
            "dingtalk",
            "DingTalk",
            &[("url", "Webhook URL"), ("secret", "Signing secret")],
        ),
        ("wecom", "WeCom", &[("url", "Webhook URL")]),
        (
            "feishu",
            "Feishu/Lark",
            &[("url", "Webhook URL"), ("secret", "Signing secret")],
        ),
        (
            "telegram",
            "Telegram",
            &[
                ("bot_token", "Bot token"),
                ("chat_id", "Chat"),
                ("url", "API base (optional)"),
            ],
        ),
        (
            "pagerduty",
            "PagerDuty",
            &[
                ("routing_key", "Routing key"),
                ("url", "Events API (optional)"),
            ],
        ),
    ];
    let mut out = String::from(r#"<div class="receivers">"#);
    for (ty, title, fields) in SERVICES {
        let cur = contact["channels"]
            .as_array()
            .and_then(|l| l.iter().find(|r| r["type"] == *ty));
        let val = |k: &str| cur.map(|r| s(r, k)).unwrap_or_default();
        let on = if cur.is_some() { " checked" } else { "" };
        out.push_str(&format!(
            r#"<fieldset data-channel="{ty}"><legend><label class="check"><input type="checkbox" data-on{on}> {title}</label></legend>"#
        ));
        for (k, label) in *fields {
            let secret = matches!(*k, "secret" | "bot_token" | "routing_key")
                || (*k == "url" && !matches!(*ty, "telegram" | "pagerduty"));
            let input = match (*k, secret) {
                ("format", _) => format!(
                    r#"<select data-field="format">{}</select>"#,
                    choices(
                        &[
                            ("message_card", "MessageCard"),
                            ("adaptive_card", "Adaptive Card")
                        ],
                        &val("format")
                    )
                ),
                (_, true) => {
                    let hint = match val(k) {
                        v if v.is_empty() => String::new(),
                        v if *k == "url" => format!("{v} (kept when empty)"),
                        _ => "set: leave empty to keep".to_string(),
                    };
                    format!(
                        r#"<input data-field="{k}" type="password" autocomplete="new-password" size="24" placeholder="{}">"#,
                        esc(&hint)
                    )
                }
                (_, false) => format!(
                    r#"<input data-field="{k}" size="20" value="{}">"#,
                    esc(&val(k))
                ),
            };
            out.push_str(&format!("<label>{label}{input}</label>"));
        }
        out.push_str(&format!(
            r#"<label>Template (optional)<textarea data-field="template" rows="1" cols="24">{}</textarea></label></fieldset>"#,
            esc(&val("template"))
        ));
    }
    out.push_str("</div>");
    out
}

/// `GET /teams`.
pub(crate) async fn teams(req: HttpRequest, st: web::Data<State>, e: web::Query<Edit>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let list = objects(&st, t, Kind::Team).await?;
    let contacts = objects(&st, t, Kind::Contact).await?;
    let cn = names(&contacts);
    let tn = names(&list);
    let editor = a.role >= Role::Editor;
    let rows: Vec<String> = list
        .iter()
        .map(|m| {
            let members: Vec<String> = m["members"].as_array().into_iter().flatten().filter_map(|x| x.as_i64())
                .map(|x| esc(cn.get(&x).map(String::as_str).unwrap_or("?"))).collect();
            let esc_to = m["escalate_to"].as_i64().map(|x| esc(tn.get(&x).map(String::as_str).unwrap_or("?"))).unwrap_or_default();
            format!(
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}s</td><td class="right">{}</td></tr>"#,
                esc(&s(m, "name")), members.join(", "), esc_to, s(m, "escalate_after_secs"), row_actions("/teams", "teams", id(m), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Team", "Members", "Escalates to", "After", ""],
            &rows,
            "No teams yet."
        )
    );
    if editor {
        let f = FormTarget::of(Kind::Team, &list, e.edit);
        let after = match f.object["escalate_after_secs"].as_i64() {
            Some(n) => n.to_string(),
            None => "900".into(),
        };
        let others: Vec<Value> = list
            .iter()
            .filter(|m| f.object.is_null() || id(m) != id(f.object))
            .cloned()
            .collect();
        let escalate_to: Vec<i64> = f.object["escalate_to"].as_i64().into_iter().collect();
        body.push_str(&format!(
            r#"{}
<label>Name<input name="name" value="{}" required></label><label>Members<select name="members" data-type="intlist" multiple size="3">{}</select></label>
<label>Escalate to<select name="escalate_to" data-type="int">{}</select></label><label>After (s)<input name="escalate_after_secs" data-type="int" value="{}" size="6"></label>
{}"#,
            f.open("/teams"),
            f.text("name"),
            options(&contacts, &f.ids("members"), None),
            options(&others, &escalate_to, Some("(nobody)")),
            esc(&after),
            f.close("/teams"),
        ));
    }
    Ok(page(&a, "/teams", "Teams", &body))
}

/// `GET /subscriptions`.
pub(crate) async fn subscriptions(
    req: HttpRequest,
    st: web::Data<State>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let list = objects(&st, t, Kind::Subscription).await?;
    let teams = objects(&st, t, Kind::Team).await?;
    let contacts = objects(&st, t, Kind::Contact).await?;
    let templates = objects(&st, t, Kind::Template).await?;
    let (mn, cn, tn) = (names(&teams), names(&contacts), names(&templates));
    let editor = a.role >= Role::Editor;
    let rows: Vec<String> = list
        .iter()
        .map(|x| {
            let tg = &x["target"];
            let target = match tg["kind"].as_str() {
                Some("priority") => format!("priority ≤ P{}", tg["max_priority"]),
                Some("template") => format!("template {}", esc(tn.get(&tg["template_id"].as_i64().unwrap_or(0)).map(String::as_str).unwrap_or("?"))),
                Some("strategy") => format!("strategy {}", tg["strategy_id"]),
                _ => "?".into(),
            };
            let who = match (x["team_id"].as_i64(), x["contact_id"].as_i64()) {
                (Some(t), _) => format!("team {}", esc(mn.get(&t).map(String::as_str).unwrap_or("?"))),
                (_, Some(c)) => format!("contact {}", esc(cn.get(&c).map(String::as_str).unwrap_or("?"))),
                _ => String::new(),
            };
            let ch: Vec<String> = x["channels"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).map(esc).collect();
            format!(
                r#"<tr><td>{target}</td><td>{who}</td><td>{}</td><td>{}</td><td class="right">{}</td></tr>"#,
                ch.join(", "), if x["send_recovery"].as_bool() == Some(true) { "yes" } else { "no" }, row_actions("/subscriptions", "subscriptions", id(x), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Matches", "Notifies", "Channels", "Recoveries", ""],
            &rows,
            "No subscriptions yet."
        )
    );
    if editor {
        let f = FormTarget::of(Kind::Subscription, &list, e.edit);
        let tg = &f.object["target"];
        let kind = tg["kind"].as_str().unwrap_or("priority");
        let prio = tg["max_priority"].as_i64().unwrap_or(2).to_string();
        let levels: Vec<(String, String)> =
            (0..=5).map(|p| (p.to_string(), format!("P{p}"))).collect();
        let levels: Vec<(&str, &str)> = levels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let channels: Vec<&str> = match f.object["channels"].as_array() {
            Some(list) => list.iter().filter_map(Value::as_str).collect(),
            None => vec!["email"],
        };
        let channel = |c: &str| {
            if channels.contains(&c) {
                " selected"
            } else {
                ""
            }
        };
        let one = |k: &str| -> Vec<i64> { f.object[k].as_i64().into_iter().collect() };
        let tpl: Vec<i64> = tg["template_id"].as_i64().into_iter().collect();
        body.push_str(&format!(
            r#"{}
<label>Match<select name="target.kind">{}</select></label>
<label>Priority<select name="target.max_priority" data-type="int">{}</select></label>
<label>Template<select name="target.template_id" data-type="int">{}</select></label><label>Strategy id<input name="target.strategy_id" data-type="int" size="5" value="{}"></label>
<label>Team<select name="team_id" data-type="int">{}</select></label><label>or contact<select name="contact_id" data-type="int">{}</select></label>
<label>Channels<select name="channels" multiple size="2"><option{}>email</option><option{}>webhook</option></select></label>
<label>Recoveries<input type="checkbox" name="send_recovery"{}></label>{}"#,
            f.open("/subscriptions"),
            choices(&[("priority", "priority at or above"), ("template", "template"), ("strategy", "strategy id")], kind),
            choices(&levels, &prio),
            options(&templates, &tpl, Some("")),
            esc(&s(tg, "strategy_id")),
            options(&teams, &one("team_id"), Some("")),
            options(&contacts, &one("contact_id"), Some("")),
            channel("email"),
            channel("webhook"),
            f.checked("send_recovery", true),
            f.close("/subscriptions"),
        ));
    }
    Ok(page(&a, "/subscriptions", "Subscriptions", &body))
}
