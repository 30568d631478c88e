//! Who gets told: contacts, teams with escalation, and subscriptions.

use super::*;

/// One line of the contacts list, from a stored contact (the API form: secrets hidden).
struct ContactRow {
    id: i64,
    name: String,
    email: String,
    webhook_url: String,
    /// Its webhook is signed (the secret itself never reaches the page).
    signed: bool,
    /// The chat and paging services it has.
    channels: String,
}

impl ContactRow {
    fn of(c: &Value) -> ContactRow {
        ContactRow {
            id: id(c),
            name: s(c, "name"),
            email: s(c, "email"),
            webhook_url: s(c, "webhook_url"),
            signed: c["webhook_secret_set"].as_bool() == Some(true),
            channels: c["channels"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|r| r["type"].as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        }
    }

    fn render(&self, editor: bool) -> Markup {
        html! {
            tr {
                td { (self.name) }
                td { (self.email) }
                td.mono { (self.webhook_url) }
                td { @if self.signed { "signed" } }
                td { (self.channels) }
                td.right { (row_actions("/contacts", "contacts", self.id, editor)) }
            }
        }
    }
}

/// The contact form's own fields, from the edited contact (empty for a new one).
struct ContactForm {
    name: String,
    email: String,
    webhook_url: String,
    secret_set: bool,
    alertmanager: bool,
}

impl ContactForm {
    fn of(f: &FormTarget) -> ContactForm {
        ContactForm {
            name: f.raw("name"),
            email: f.raw("email"),
            webhook_url: f.raw("webhook_url"),
            secret_set: f.object["webhook_secret_set"].as_bool() == Some(true),
            alertmanager: f.is_on("webhook_alertmanager", false),
        }
    }

    fn render(&self, contact: &Value) -> Markup {
        let secret_hint = if self.secret_set {
            "set: leave empty to keep"
        } else {
            ""
        };
        html! {
            label { "Name" input name="name" value=(self.name) required; }
            label { "Email" input name="email" type="email" value=(self.email); }
            label { "Webhook URL" input name="webhook_url" size="30" value=(self.webhook_url); }
            label {
                "Webhook secret"
                input name="webhook_secret" type="password" autocomplete="new-password"
                    placeholder=(secret_hint);
            }
            label {
                "Alertmanager format"
                input type="checkbox" name="webhook_alertmanager" checked[self.alertmanager];
            }
            (receiver_fields(contact))
        }
    }
}

/// `GET /contacts`.
pub(crate) async fn contacts(req: HttpRequest, st: web::Data<State>, e: web::Query<Edit>) -> Page {
    let a = auth!(req, st);
    let list = objects(&st, a.tenant.as_str(), Kind::Contact).await?;
    let editor = a.role >= Role::Editor;
    let rows: Vec<Markup> = list
        .iter()
        .map(|c| ContactRow::of(c).render(editor))
        .collect();
    let form = editor.then(|| {
        let f = FormTarget::of(Kind::Contact, &list, e.edit);
        f.form("/contacts", ContactForm::of(&f).render(f.object))
    });
    let body = html! {
        div.panel {
            (table(
                &["Name", "Email", "Webhook", "", "Channels", ""],
                &rows,
                "No contacts yet.",
            ))
        }
        @if let Some(f) = form { (f) }
    };
    Ok(page(&a, "/contacts", "Contacts", body))
}

/// The contact form's chat and paging receivers (docs/CHANNELS.md): one fieldset per service,
/// switched on when the contact has it; console.js sends those switched on as `channels`.
/// Credentials never reach the page: the API's cut URL or "set" is only a placeholder, and a
/// credential left empty keeps the stored one.
fn receiver_fields(contact: &Value) -> Markup {
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
    html! {
        div.receivers {
            @for (ty, title, fields) in SERVICES {
                @let cur = contact["channels"]
                    .as_array()
                    .and_then(|l| l.iter().find(|r| r["type"] == *ty));
                @let val = |k: &str| cur.map(|r| s(r, k)).unwrap_or_default();
                fieldset data-channel=(ty) {
                    legend {
                        label.check { input type="checkbox" data-on checked[cur.is_some()]; " " (title) }
                    }
                    @for (k, label) in *fields {
                        @let secret = matches!(*k, "secret" | "bot_token" | "routing_key")
                            || (*k == "url" && !matches!(*ty, "telegram" | "pagerduty"));
                        label {
                            (label)
                            @if *k == "format" {
                                select data-field="format" {
                                    (choices(
                                        &[
                                            ("message_card", "MessageCard"),
                                            ("adaptive_card", "Adaptive Card"),
                                        ],
                                        &val("format"),
                                    ))
                                }
                            } @else if secret {
                                @let hint = match val(k) {
                                    v if v.is_empty() => String::new(),
                                    v if *k == "url" => format!("{v} (kept when empty)"),
                                    _ => "set: leave empty to keep".to_string(),
                                };
                                input data-field=(k) type="password" autocomplete="new-password"
                                    size="24" placeholder=(hint);
                            } @else {
                                input data-field=(k) size="20" value=(val(k));
                            }
                        }
                    }
                    label {
                        "Template (optional)"
                        textarea data-field="template" rows="1" cols="24" { (val("template")) }
                    }
                }
            }
        }
    }
}

/// One line of the teams list, from a stored team.
struct TeamRow {
    id: i64,
    name: String,
    /// Member contacts' names.
    members: Vec<String>,
    /// The team it escalates to, by name.
    escalate_to: Option<String>,
    escalate_after: String,
}

impl TeamRow {
    fn of(m: &Value, contacts: &HashMap<i64, String>, teams: &HashMap<i64, String>) -> TeamRow {
        let name = |names: &HashMap<i64, String>, x: i64| {
            names.get(&x).map(String::as_str).unwrap_or("?").to_string()
        };
        TeamRow {
            id: id(m),
            name: s(m, "name"),
            members: m["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_i64())
                .map(|x| name(contacts, x))
                .collect(),
            escalate_to: m["escalate_to"].as_i64().map(|x| name(teams, x)),
            escalate_after: s(m, "escalate_after_secs"),
        }
    }

    fn render(&self, editor: bool) -> Markup {
        html! {
            tr {
                td { (self.name) }
                td { (self.members.join(", ")) }
                td { @if let Some(t) = &self.escalate_to { (t) } }
                td { (self.escalate_after) "s" }
                td.right { (row_actions("/teams", "teams", self.id, editor)) }
            }
        }
    }
}

/// The team form's fields, from the edited team (empty for a new one).
struct TeamForm {
    name: String,
    members: Vec<i64>,
    escalate_to: Vec<i64>,
    escalate_after: String,
}

impl TeamForm {
    fn of(f: &FormTarget) -> TeamForm {
        TeamForm {
            name: f.raw("name"),
            members: f.ids("members"),
            escalate_to: f.object["escalate_to"].as_i64().into_iter().collect(),
            escalate_after: match f.object["escalate_after_secs"].as_i64() {
                Some(n) => n.to_string(),
                None => "900".into(),
            },
        }
    }

    /// `others`: the teams it may escalate to (not itself).
    fn render(&self, contacts: &[Value], others: &[Value]) -> Markup {
        html! {
            label { "Name" input name="name" value=(self.name) required; }
            label {
                "Members"
                select name="members" data-type="intlist" multiple size="3" {
                    (options(contacts, &self.members, None))
                }
            }
            label {
                "Escalate to"
                select name="escalate_to" data-type="int" {
                    (options(others, &self.escalate_to, Some("(nobody)")))
                }
            }
            label {
                "After (s)"
                input name="escalate_after_secs" data-type="int" value=(self.escalate_after) size="6";
            }
        }
    }
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
    let rows: Vec<Markup> = list
        .iter()
        .map(|m| TeamRow::of(m, &cn, &tn).render(editor))
        .collect();
    let form = editor.then(|| {
        let f = FormTarget::of(Kind::Team, &list, e.edit);
        let others: Vec<Value> = list
            .iter()
            .filter(|m| f.object.is_null() || id(m) != id(f.object))
            .cloned()
            .collect();
        f.form("/teams", TeamForm::of(&f).render(&contacts, &others))
    });
    let body = html! {
        div.panel {
            (table(&["Team", "Members", "Escalates to", "After", ""], &rows, "No teams yet."))
        }
        @if let Some(f) = form { (f) }
    };
    Ok(page(&a, "/teams", "Teams", body))
}

/// What a subscription matches.
enum Target {
    /// Priorities at or above this one.
    Priority(String),
    /// A template, by name.
    Template(String),
    Strategy(String),
    Unknown,
}

/// One line of the subscriptions list, from a stored subscription.
struct SubscriptionRow {
    id: i64,
    target: Target,
    /// "team ops" or "contact alice".
    notifies: String,
    channels: Vec<String>,
    send_recovery: bool,
}

impl SubscriptionRow {
    fn of(
        x: &Value,
        teams: &HashMap<i64, String>,
        contacts: &HashMap<i64, String>,
        templates: &HashMap<i64, String>,
    ) -> SubscriptionRow {
        let name = |names: &HashMap<i64, String>, x: i64| {
            names.get(&x).map(String::as_str).unwrap_or("?").to_string()
        };
        let tg = &x["target"];
        let target = match tg["kind"].as_str() {
            Some("priority") => Target::Priority(tg["max_priority"].to_string()),
            Some("template") => {
                Target::Template(name(templates, tg["template_id"].as_i64().unwrap_or(0)))
            }
            Some("strategy") => Target::Strategy(tg["strategy_id"].to_string()),
            _ => Target::Unknown,
        };
        let notifies = match (x["team_id"].as_i64(), x["contact_id"].as_i64()) {
            (Some(t), _) => format!("team {}", name(teams, t)),
            (_, Some(c)) => format!("contact {}", name(contacts, c)),
            _ => String::new(),
        };
        SubscriptionRow {
            id: id(x),
            target,
            notifies,
            channels: x["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(String::from))
                .collect(),
            send_recovery: x["send_recovery"].as_bool() == Some(true),
        }
    }

    fn render(&self, editor: bool) -> Markup {
        html! {
            tr {
                td {
                    @match &self.target {
                        Target::Priority(p) => { "priority ≤ P" (p) }
                        Target::Template(t) => { "template " (t) }
                        Target::Strategy(s) => { "strategy " (s) }
                        Target::Unknown => { "?" }
                    }
                }
                td { (self.notifies) }
                td { (self.channels.join(", ")) }
                td { @if self.send_recovery { "yes" } @else { "no" } }
                td.right { (row_actions("/subscriptions", "subscriptions", self.id, editor)) }
            }
        }
    }
}

/// The subscription form's fields, from the edited subscription (defaults for a new one).
struct SubscriptionForm {
    target_kind: String,
    max_priority: String,
    template: Vec<i64>,
    strategy_id: String,
    team: Vec<i64>,
    contact: Vec<i64>,
    channels: Vec<String>,
    send_recovery: bool,
}

impl SubscriptionForm {
    fn of(f: &FormTarget) -> SubscriptionForm {
        let tg = &f.object["target"];
        let one = |k: &str| -> Vec<i64> { f.object[k].as_i64().into_iter().collect() };
        SubscriptionForm {
            target_kind: tg["kind"].as_str().unwrap_or("priority").to_string(),
            max_priority: tg["max_priority"].as_i64().unwrap_or(2).to_string(),
            template: tg["template_id"].as_i64().into_iter().collect(),
            strategy_id: s(tg, "strategy_id"),
            team: one("team_id"),
            contact: one("contact_id"),
            channels: match f.object["channels"].as_array() {
                Some(list) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                None => vec!["email".into()],
            },
            send_recovery: f.is_on("send_recovery", true),
        }
    }

    fn render(&self, teams: &[Value], contacts: &[Value], templates: &[Value]) -> Markup {
        let levels: Vec<(String, String)> =
            (0..=5).map(|p| (p.to_string(), format!("P{p}"))).collect();
        let levels: Vec<(&str, &str)> = levels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let kinds = [
            ("priority", "priority at or above"),
            ("template", "template"),
            ("strategy", "strategy id"),
        ];
        let channel = |c: &str| self.channels.iter().any(|x| x == c);
        html! {
            label { "Match" select name="target.kind" { (choices(&kinds, &self.target_kind)) } }
            label {
                "Priority"
                select name="target.max_priority" data-type="int" {
                    (choices(&levels, &self.max_priority))
                }
            }
            label {
                "Template"
                select name="target.template_id" data-type="int" {
                    (options(templates, &self.template, Some("")))
                }
            }
            label {
                "Strategy id"
                input name="target.strategy_id" data-type="int" size="5" value=(self.strategy_id);
            }
            label {
                "Team"
                select name="team_id" data-type="int" { (options(teams, &self.team, Some(""))) }
            }
            label {
                "or contact"
                select name="contact_id" data-type="int" {
                    (options(contacts, &self.contact, Some("")))
                }
            }
            label {
                "Channels"
                select name="channels" multiple size="2" {
                    option selected[channel("email")] { "email" }
                    option selected[channel("webhook")] { "webhook" }
                }
            }
            label {
                "Recoveries"
                input type="checkbox" name="send_recovery" checked[self.send_recovery];
            }
        }
    }
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
    let rows: Vec<Markup> = list
        .iter()
        .map(|x| SubscriptionRow::of(x, &mn, &cn, &tn).render(editor))
        .collect();
    let form = editor.then(|| {
        let f = FormTarget::of(Kind::Subscription, &list, e.edit);
        let fields = SubscriptionForm::of(&f).render(&teams, &contacts, &templates);
        f.form("/subscriptions", fields)
    });
    let body = html! {
        div.panel {
            (table(
                &["Matches", "Notifies", "Channels", "Recoveries", ""],
                &rows,
                "No subscriptions yet.",
            ))
        }
        @if let Some(f) = form { (f) }
    };
    Ok(page(&a, "/subscriptions", "Subscriptions", body))
}
