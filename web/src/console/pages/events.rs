//! Alerts as alarm sees them: open problems, history, and notification deliveries. Rendered
//! with maud from typed rows, which escapes every value (alarm's events carry what agents and
//! users sent: hosts, metrics, tags, comments).

use super::*;

fn alarm_error(status: actix_web::http::StatusCode, v: &Value) -> Markup {
    html! {
        p.err { "alarm service: " (status.as_u16()) " " (v["error"].as_str().unwrap_or("")) }
    }
}

fn failed(message: &str) -> Markup {
    html! { p.err { (message) } }
}

/// What an event says about its series, shared by the problems, history and event pages.
struct EventSeries {
    priority: Value,
    endpoint: String,
    metric: String,
    tags: String,
    condition: String,
    value: String,
}

impl EventSeries {
    fn of(ev: &Value) -> EventSeries {
        let series = &ev["series"];
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        EventSeries {
            priority: ev["priority"].clone(),
            endpoint: text(&series["endpoint"]),
            metric: text(&series["metric"]),
            tags: tags_text(&series["tags"]),
            condition: text(&ev["condition"]),
            value: ev["value"].to_string(),
        }
    }

    /// Priority, host, metric with its tags, condition and value cells.
    fn cells(&self) -> Markup {
        html! {
            td { (prio(&self.priority)) }
            td { (self.endpoint) }
            td.mono {
                (self.metric)
                @if !self.tags.is_empty() { " {" (self.tags) "}" }
            }
            td.mono { (self.condition) }
            td { (self.value) }
        }
    }
}

/// How a listed alert is acknowledged, or can be.
enum Ack {
    By {
        who: String,
        comment: String,
    },
    /// The button, with the event id.
    Offer(String),
    Nothing,
}

/// One alert of the problems or history list.
struct EventRow {
    state: String,
    series: EventSeries,
    first_seen: i64,
    updated_at: Option<i64>,
    ack: Ack,
}

impl EventRow {
    fn of(x: &Value, editor: bool, with_ack: bool) -> EventRow {
        let ev = &x["event"];
        let state = x["state"].as_str().unwrap_or("").to_string();
        let ack = match x["acknowledged"].as_object() {
            Some(a) => {
                let text = |k: &str| a.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                Ack::By {
                    who: text("by"),
                    comment: text("comment"),
                }
            }
            None if with_ack && editor && state == "problem" => {
                Ack::Offer(ev["id"].as_str().unwrap_or("").to_string())
            }
            None => Ack::Nothing,
        };
        EventRow {
            series: EventSeries::of(ev),
            first_seen: x["first_seen"].as_i64().unwrap_or(0),
            updated_at: x["updated_at"].as_i64(),
            state,
            ack,
        }
    }

    fn render(&self) -> Markup {
        let cls = match self.state.as_str() {
            "problem" => "badge bad",
            "ok" => "badge ok",
            "acknowledged" => "badge warn",
            _ => "badge ",
        };
        html! {
            tr {
                td { span class=(cls) { (self.state) } }
                (self.series.cells())
                td { (fmt_time(self.first_seen)) }
                td { (ago(self.updated_at)) }
                td {
                    @match &self.ack {
                        Ack::By { who, comment } => { (who) " " span.muted { (comment) } }
                        Ack::Offer(id) => {
                            button.light.small data-call={ "/api/v1/events/" (enc(id)) "/ack" }
                                data-body=r#"{"comment":"acknowledged from the console"}"# {
                                "Acknowledge"
                            }
                        }
                        Ack::Nothing => {}
                    }
                }
            }
        }
    }
}

fn events_table(list: &[Value], editor: bool, with_ack: bool) -> Markup {
    let rows: Vec<Markup> = list
        .iter()
        .map(|x| EventRow::of(x, editor, with_ack).render())
        .collect();
    table(
        &[
            "State",
            "Priority",
            "Host",
            "Metric",
            "Condition",
            "Value",
            "Since (UTC)",
            "Updated",
            "Acknowledged",
        ],
        &rows,
        "Nothing here.",
    )
}

async fn events_page(req: HttpRequest, st: web::Data<State>, problems: bool) -> Page {
    let a = auth!(req, st);
    let q = if problems {
        "&state=problem&limit=500"
    } else {
        "&limit=300"
    };
    let path = format!("/internal/v1/events?tenant={}{q}", enc(a.tenant.as_str()));
    let body = match call_json(&st, reqwest::Method::GET, &path, None).await {
        Ok((s, v)) if s.is_success() => {
            let mut list = v["events"].as_array().cloned().unwrap_or_default();
            if problems {
                // Acknowledged problems stay on the page until they recover.
                let ack = call_json(
                    &st,
                    reqwest::Method::GET,
                    &format!(
                        "/internal/v1/events?tenant={}&state=acknowledged&limit=500",
                        enc(a.tenant.as_str())
                    ),
                    None,
                )
                .await;
                if let Ok((s2, v2)) = ack {
                    if s2.is_success() {
                        list.extend(v2["events"].as_array().cloned().unwrap_or_default());
                    }
                }
            }
            html! { div.panel { (events_table(&list, a.role >= Role::Editor, problems)) } }
        }
        Ok((s, v)) => alarm_error(s, &v),
        Err(e) => failed(&e.message),
    };
    let (active, title) = if problems {
        ("/problems", "Current problems")
    } else {
        ("/history", "Event history")
    };
    Ok(page(&a, active, title, body))
}

/// `GET /problems`: current problems, with acknowledge.
pub(crate) async fn problems(req: HttpRequest, st: web::Data<State>) -> Page {
    events_page(req, st, true).await
}

/// `?event=` of the history page.
#[derive(Deserialize)]
pub(crate) struct EventQ {
    event: Option<String>,
}

/// `GET /history`: every alert's latest event; `?event=ID` (the link messages carry, and
/// Alertmanager-format webhooks' `generatorURL`): that alert's events, newest first.
pub(crate) async fn history(req: HttpRequest, st: web::Data<State>, q: web::Query<EventQ>) -> Page {
    match q.event.as_deref().filter(|e| !e.is_empty()) {
        Some(id) => event_page(req, st, id).await,
        None => events_page(req, st, false).await,
    }
}

/// One event of an alert's history.
struct HistoryRow {
    status: String,
    series: EventSeries,
    timestamp: i64,
    outcome: String,
}

impl HistoryRow {
    fn of(x: &Value) -> HistoryRow {
        let ev = &x["event"];
        HistoryRow {
            status: ev["status"].as_str().unwrap_or("").to_string(),
            series: EventSeries::of(ev),
            timestamp: ev["timestamp"].as_i64().unwrap_or(0),
            outcome: x["outcome"].as_str().unwrap_or("").to_string(),
        }
    }

    fn render(&self) -> Markup {
        let cls = if self.status == "PROBLEM" {
            "badge bad"
        } else {
            "badge ok"
        };
        html! {
            tr {
                td { span class=(cls) { (self.status) } }
                (self.series.cells())
                td { (fmt_time(self.timestamp)) }
                td { (self.outcome) }
            }
        }
    }
}

async fn event_page(req: HttpRequest, st: web::Data<State>, id: &str) -> Page {
    let a = auth!(req, st);
    let path = format!(
        "/internal/v1/events/history?tenant={}&event={}&limit=300",
        enc(a.tenant.as_str()),
        enc(id)
    );
    let body = match call_json(&st, reqwest::Method::GET, &path, None).await {
        Ok((s, v)) if s.is_success() => {
            let rows: Vec<Markup> = v["events"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| HistoryRow::of(x).render())
                .collect();
            html! {
                div.panel {
                    p.mono { (id) }
                    (table(
                        &[
                            "Status",
                            "Priority",
                            "Host",
                            "Metric",
                            "Condition",
                            "Value",
                            "Time (UTC)",
                            "Outcome",
                        ],
                        &rows,
                        "No such event.",
                    ))
                }
            }
        }
        Ok((s, v)) => alarm_error(s, &v),
        Err(e) => failed(&e.message),
    };
    Ok(page(&a, "/history", "Event", body))
}

/// `?state=` of the deliveries page.
#[derive(Deserialize)]
pub(crate) struct DState {
    state: Option<String>,
}

/// One notification as alarm delivers it.
struct DeliveryRow {
    id: String,
    state: String,
    kind: String,
    contact: String,
    destination: String,
    subject: String,
    attempts: String,
    created_at: i64,
    last_error: String,
}

impl DeliveryRow {
    fn of(d: &Value) -> DeliveryRow {
        let text = |k: &str| d[k].as_str().unwrap_or("").to_string();
        DeliveryRow {
            id: d["id"].to_string(),
            state: text("state"),
            kind: text("kind"),
            contact: text("contact_name"),
            destination: text("destination"),
            subject: text("subject"),
            attempts: d["attempts"].to_string(),
            created_at: d["created_at"].as_i64().unwrap_or(0),
            last_error: text("last_error"),
        }
    }

    fn render(&self, editor: bool) -> Markup {
        let cls = match self.state.as_str() {
            "dead" => "badge bad",
            "delivered" => "badge ok",
            _ => "badge warn",
        };
        html! {
            tr {
                td { (self.id) }
                td { span class=(cls) { (self.state) } }
                td { (self.kind) }
                td { (self.contact) " " span.muted.mono { (self.destination) } }
                td { (self.subject) }
                td { (self.attempts) }
                td { (fmt_time(self.created_at)) }
                td.small.err { (self.last_error) }
                td {
                    @if self.state == "dead" && editor {
                        button.light.small data-call={ "/api/v1/deliveries/" (self.id) "/retry" } {
                            "Retry"
                        }
                    }
                }
            }
        }
    }
}

/// `GET /deliveries`: notifications, dead letters and retry.
pub(crate) async fn deliveries(
    req: HttpRequest,
    st: web::Data<State>,
    q: web::Query<DState>,
) -> Page {
    let a = auth!(req, st);
    let state = q
        .state
        .clone()
        .filter(|s| ["pending", "delivered", "dead"].contains(&s.as_str()));
    let mut path = format!(
        "/internal/v1/deliveries?tenant={}&limit=300",
        enc(a.tenant.as_str())
    );
    if let Some(s) = &state {
        path.push_str(&format!("&state={s}"));
    }
    let filters = [
        ("", "all"),
        ("pending", "pending"),
        ("delivered", "delivered"),
        ("dead", "dead letters"),
    ];
    let current = state.as_deref().unwrap_or("");
    let editor = a.role >= Role::Editor;
    let table = match call_json(&st, reqwest::Method::GET, &path, None).await {
        Ok((s, v)) if s.is_success() => {
            let rows: Vec<Markup> = v["deliveries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| DeliveryRow::of(d).render(editor))
                .collect();
            table(
                &[
                    "Id",
                    "State",
                    "Kind",
                    "To",
                    "Subject",
                    "Attempts",
                    "Created (UTC)",
                    "Last error",
                    "",
                ],
                &rows,
                "No deliveries.",
            )
        }
        Ok((s, v)) => alarm_error(s, &v),
        Err(e) => failed(&e.message),
    };
    let body = html! {
        div.panel {
            div.filters {
                @for (i, (v, l)) in filters.iter().enumerate() {
                    @if i > 0 { " · " }
                    @if current == *v {
                        b { (l) }
                    } @else {
                        a href={ "/deliveries?state=" (v) } { (l) }
                    }
                }
            }
            (table)
        }
    };
    Ok(page(&a, "/deliveries", "Deliveries", body))
}
