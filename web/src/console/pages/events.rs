//! Alerts as alarm sees them: open problems, history, and notification deliveries.

use super::*;

fn alarm_error(status: actix_web::http::StatusCode, v: &Value) -> String {
    format!(
        r#"<p class="err">alarm service: {} {}</p>"#,
        status.as_u16(),
        esc(v["error"].as_str().unwrap_or(""))
    )
}

fn events_table(list: &[Value], editor: bool, with_ack: bool) -> String {
    let rows: Vec<String> = list
        .iter()
        .map(|x| {
            let ev = &x["event"];
            let state = x["state"].as_str().unwrap_or("");
            let cls = match state { "problem" => "bad", "ok" => "ok", "acknowledged" => "warn", _ => "" };
            let ack = match x["acknowledged"].as_object() {
                Some(a) => format!("{} <span class=\"muted\">{}</span>", esc(a.get("by").and_then(|v| v.as_str()).unwrap_or("")), esc(a.get("comment").and_then(|v| v.as_str()).unwrap_or(""))),
                None if with_ack && editor && state == "problem" => format!(
                    r#"<button class="light small" data-call="/api/v1/events/{}/ack" data-body='{{"comment":"acknowledged from the console"}}'>Acknowledge</button>"#,
                    esc(&enc(ev["id"].as_str().unwrap_or("")))
                ),
                None => String::new(),
            };
            let series = &ev["series"];
            let tags = tags_text(&series["tags"]);
            format!(
                r#"<tr><td><span class="badge {cls}">{}</span></td><td>{}</td><td>{}</td><td class="mono">{}{}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{ack}</td></tr>"#,
                esc(state), prio(&ev["priority"]), esc(series["endpoint"].as_str().unwrap_or("")),
                esc(series["metric"].as_str().unwrap_or("")), if tags.is_empty() { String::new() } else { format!(" {{{}}}", esc(&tags)) },
                esc(ev["condition"].as_str().unwrap_or("")), ev["value"], fmt_time(x["first_seen"].as_i64().unwrap_or(0)), ago(x["updated_at"].as_i64()),
            )
        })
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
            let list = v["events"].as_array().cloned().unwrap_or_default();
            let mut list = list;
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
            format!(
                r#"<div class="panel">{}</div>"#,
                events_table(&list, a.role >= Role::Editor, problems)
            )
        }
        Ok((s, v)) => alarm_error(s, &v),
        Err(e) => format!(r#"<p class="err">{}</p>"#, esc(&e.message)),
    };
    let (active, title) = if problems {
        ("/problems", "Current problems")
    } else {
        ("/history", "Event history")
    };
    Ok(page(&a, active, title, &body))
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

async fn event_page(req: HttpRequest, st: web::Data<State>, id: &str) -> Page {
    let a = auth!(req, st);
    let path = format!(
        "/internal/v1/events/history?tenant={}&event={}&limit=300",
        enc(a.tenant.as_str()),
        enc(id)
    );
    let body = match call_json(&st, reqwest::Method::GET, &path, None).await {
        Ok((s, v)) if s.is_success() => {
            let rows: Vec<String> = v["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|x| {
                    let ev = &x["event"];
                    let series = &ev["series"];
                    let status = ev["status"].as_str().unwrap_or("");
                    let cls = if status == "PROBLEM" { "bad" } else { "ok" };
                    let tags = tags_text(&series["tags"]);
                    format!(
                        r#"<tr><td><span class="badge {cls}">{}</span></td><td>{}</td><td>{}</td><td class="mono">{}{}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                        esc(status), prio(&ev["priority"]), esc(series["endpoint"].as_str().unwrap_or("")),
                        esc(series["metric"].as_str().unwrap_or("")), if tags.is_empty() { String::new() } else { format!(" {{{}}}", esc(&tags)) },
                        esc(ev["condition"].as_str().unwrap_or("")), ev["value"],
                        fmt_time(ev["timestamp"].as_i64().unwrap_or(0)), esc(x["outcome"].as_str().unwrap_or("")),
                    )
                })
                .collect();
            format!(
                r#"<div class="panel"><p class="mono">{}</p>{}</div>"#,
                esc(id),
                table(
                    &[
                        "Status",
                        "Priority",
                        "Host",
                        "Metric",
                        "Condition",
                        "Value",
                        "Time (UTC)",
                        "Outcome"
                    ],
                    &rows,
                    "No such event.",
                )
            )
        }
        Ok((s, v)) => alarm_error(s, &v),
        Err(e) => format!(r#"<p class="err">{}</p>"#, esc(&e.message)),
    };
    Ok(page(&a, "/history", "Event", &body))
}

/// `?state=` of the deliveries page.
#[derive(Deserialize)]
pub(crate) struct DState {
    state: Option<String>,
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
    let links: String = [
        ("", "all"),
        ("pending", "pending"),
        ("delivered", "delivered"),
        ("dead", "dead letters"),
    ]
    .iter()
    .map(|(v, l)| {
        if state.as_deref().unwrap_or("") == *v {
            format!("<b>{l}</b>")
        } else {
            format!(r#"<a href="/deliveries?state={v}">{l}</a>"#)
        }
    })
    .collect::<Vec<_>>()
    .join(" · ");
    let editor = a.role >= Role::Editor;
    let table_html = match call_json(&st, reqwest::Method::GET, &path, None).await {
        Ok((s, v)) if s.is_success() => {
            let rows: Vec<String> = v["deliveries"].as_array().into_iter().flatten().map(|d| {
                let st_ = d["state"].as_str().unwrap_or("");
                let cls = match st_ { "dead" => "bad", "delivered" => "ok", _ => "warn" };
                let retry = if st_ == "dead" && editor {
                    format!(r#"<button class="light small" data-call="/api/v1/deliveries/{}/retry">Retry</button>"#, d["id"])
                } else { String::new() };
                format!(
                    r#"<tr><td>{}</td><td><span class="badge {cls}">{}</span></td><td>{}</td><td>{} <span class="muted mono">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td class="small err">{}</td><td>{retry}</td></tr>"#,
                    d["id"], esc(st_), esc(d["kind"].as_str().unwrap_or("")), esc(d["contact_name"].as_str().unwrap_or("")),
                    esc(d["destination"].as_str().unwrap_or("")), esc(d["subject"].as_str().unwrap_or("")), d["attempts"],
                    fmt_time(d["created_at"].as_i64().unwrap_or(0)), esc(d["last_error"].as_str().unwrap_or("")),
                )
            }).collect();
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
        Err(e) => format!(r#"<p class="err">{}</p>"#, esc(&e.message)),
    };
    let body =
        format!(r#"<div class="panel"><div class="filters">{links}</div>{table_html}</div>"#);
    Ok(page(&a, "/deliveries", "Deliveries", &body))
}
