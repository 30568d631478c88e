//! Dashboards in the console: the list (create, clone, import, export, delete) and a
//! dashboard's page. The page is a frame rendered here from the typed document (variables,
//! range picker, one box per panel); `assets/console.js` fills it from the Prometheus API and
//! redraws it when a variable, the range or the refresh changes. Rendered with maud, which
//! escapes every value by default.

use super::{page, session};
use crate::api::dashboards::{builtin_list, find, strategy_lines, DashboardIn, PanelKind, VarKind};
use crate::api::kinds::Kind;
use crate::auth::Role;
use crate::server::State;
use crate::store;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;
use std::collections::BTreeMap;

type Page = Result<HttpResponse, actix_web::Error>;

/// One line of the list.
struct Listed {
    id: String,
    title: String,
    description: String,
    panels: usize,
    builtin: bool,
}

impl Listed {
    fn of(v: &Value) -> Listed {
        let id = match &v["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Listed {
            id,
            title: v["title"].as_str().unwrap_or_default().to_string(),
            description: v["description"].as_str().unwrap_or_default().to_string(),
            panels: v["rows"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| r["panels"].as_array().map_or(0, Vec::len))
                        .sum()
                })
                .unwrap_or(0),
            builtin: v["builtin"].as_bool().unwrap_or(false),
        }
    }
}

fn list_body(items: &[Listed], editor: bool) -> Markup {
    html! {
        div.panel {
            table #dashboards {
                thead { tr { th { "Dashboard" } th { "Panels" } th { "" } th { "" } } }
                tbody {
                    @for d in items {
                        tr data-id=(d.id) {
                            td {
                                a href={ "/dashboards/" (d.id) } { (d.title) }
                                @if d.builtin { " " span.badge { "built in" } }
                                @if !d.description.is_empty() { div.muted.small { (d.description) } }
                            }
                            td { (d.panels) }
                            td { a.export href={ "/dashboards/" (d.id) "/export" } { "export JSON" } }
                            td {
                                @if editor {
                                    button.light.small data-clone=(d.id) { "Clone" }
                                    @if !d.builtin {
                                        " "
                                        button.danger.small data-call={ "/api/v1/dashboards/" (d.id) } data-method="DELETE" data-confirm={ "Delete dashboard " (d.title) "?" } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if editor {
            div.grid2 {
                div.panel {
                    h2 { "New dashboard" }
                    form.inline #new-dashboard {
                        label { "Title" input name="title" required; }
                        button { "Create" }
                        div.err {}
                    }
                }
                div.panel {
                    h2 { "Import JSON" }
                    form #import-dashboard {
                        textarea.mono name="doc" rows="5" placeholder="a dashboard's exported JSON" required {}
                        div { button { "Import" } }
                        div.err {}
                    }
                }
            }
        }
    }
}

/// `GET /dashboards`: the tenant's dashboards after the built-in ones.
pub(crate) async fn list(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = match session(&req, &st).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let stored = store::list(&st.db, a.tenant.as_str(), Kind::Dashboard.path()).await?;
    let mut items: Vec<Listed> = builtin_list().iter().map(Listed::of).collect();
    items.extend(
        stored
            .iter()
            .map(|o| Listed::of(&crate::api::kinds::present(Kind::Dashboard, o, 0))),
    );
    let body = list_body(&items, a.role >= Role::Editor);
    Ok(page(&a, "/dashboards", "Dashboards", body))
}

/// What a dashboard's page is made from.
struct View<'a> {
    id: &'a str,
    doc: &'a DashboardIn,
    /// The exportable document, for console.js (drawing) and the JSON editor.
    json: String,
    /// A stored dashboard and an editor: the editor forms are shown.
    editable: bool,
    builtin: bool,
    /// Host groups and their members (rules expanded), when a variable offers groups or a
    /// panel draws the strategies' thresholds (which apply to the hosts of groups).
    groups: Option<String>,
    /// The lines of the strategies on the panels' metrics, by panel (`row.panel`), when a
    /// panel asks for them ([`strategy_lines`]).
    lines: Option<String>,
}

const RANGES: &[(u64, &str)] = &[
    (300, "5 minutes"),
    (900, "15 minutes"),
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (86_400, "24 hours"),
    (7 * 86_400, "7 days"),
    (30 * 86_400, "30 days"),
];

const REFRESH: &[(u64, &str)] = &[
    (0, "off"),
    (10, "10 s"),
    (30, "30 s"),
    (60, "1 min"),
    (300, "5 min"),
];

const UNITS: &[&str] = &["none", "percent", "bytes", "bytes/s", "seconds", "ops"];

fn kind_name(k: PanelKind) -> &'static str {
    match k {
        PanelKind::Timeseries => "timeseries",
        PanelKind::Stat => "stat",
        PanelKind::Table => "table",
        PanelKind::Bargauge => "bargauge",
        PanelKind::Missing => "missing",
        PanelKind::Alerts => "alerts",
    }
}

fn view_body(v: &View) -> Markup {
    let d = v.doc;
    html! {
        div #dashboard data-id=(v.id) data-doc=(v.json) data-groups=[v.groups.as_deref()]
            data-strategy-lines=[v.lines.as_deref()] {
            div.panel.dash-bar {
                form.filters #dash-controls autocomplete="off" {
                    @for var in &d.variables {
                        label {
                            (var.name)
                            select data-var=(var.name) multiple[var.multi] data-kind=(match var.kind { VarKind::LabelValues => "label_values", VarKind::Query => "query", VarKind::HostGroup => "host_group" }) {}
                        }
                    }
                    label {
                        "Range"
                        select name="range" {
                            @for (secs, label) in RANGES {
                                option value=(secs) selected[*secs == d.range_secs] { "last " (label) }
                            }
                            @if !RANGES.iter().any(|(s, _)| *s == d.range_secs) {
                                option value=(d.range_secs) selected { "last " (d.range_secs) " s" }
                            }
                            option value="absolute" { "absolute…" }
                        }
                    }
                    label { "From (UTC)" input name="from" type="datetime-local" step="1"; }
                    label { "To (UTC)" input name="to" type="datetime-local" step="1"; }
                    button.light type="submit" { "Apply" }
                    label {
                        "Refresh"
                        select name="refresh" {
                            @for (secs, label) in REFRESH {
                                option value=(secs) selected[*secs == d.refresh_secs] { (label) }
                            }
                            @if !REFRESH.iter().any(|(s, _)| *s == d.refresh_secs) {
                                option value=(d.refresh_secs) selected { (d.refresh_secs) " s" }
                            }
                        }
                    }
                    span.muted.small #dash-status {}
                }
                @if !d.description.is_empty() { p.muted.small { (d.description) } }
                p.small {
                    a href={ "/dashboards/" (v.id) "/export" } { "export JSON" }
                    @if v.builtin { " · built in: clone it from the " a href="/dashboards" { "list" } " to change it" }
                }
            }
            @for (r, row) in d.rows.iter().enumerate() {
                section.dash-row {
                    @if !row.title.is_empty() { h2 { (row.title) } }
                    div.dash-panels {
                        @for (p, panel) in row.panels.iter().enumerate() {
                            div.dpanel data-row=(r) data-index=(p) data-kind=(kind_name(panel.kind)) {
                                h3 { (panel.title) }
                                div.body.empty { "loading…" }
                            }
                        }
                    }
                }
            }
            @if d.rows.iter().all(|r| r.panels.is_empty()) {
                p.muted.panel { "No panels yet." }
            }
        }
        @if v.editable {
            div.grid2 {
                div.panel {
                    h2 { "Add a panel" }
                    form.inline #add-panel autocomplete="off" {
                        label { "Type" select name="type" {
                            @for k in ["timeseries", "stat", "table", "bargauge"] { option value=(k) { (k) } }
                        } }
                        label { "Title" input name="title"; }
                        label.wide { span { "PromQL (" code { "$variable" } " for a variable)" } textarea.mono name="expr" rows="2" required {} }
                        label { "Legend" input name="legend" placeholder="{{endpoint}}"; }
                        label { "Unit" select name="unit" { @for u in UNITS { option value=(u) { (u) } } } }
                        button { "Add panel" }
                        div.err {}
                    }
                }
                div.panel {
                    h2 { "Edit JSON" }
                    form #edit-json {
                        textarea.mono name="doc" rows="12" { (v.json) }
                        div { button { "Save" } }
                        div.err {}
                    }
                }
            }
        }
    }
}

/// The document of a dashboard as exported (and imported): without id, time or `builtin`.
fn exportable(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        for k in ["id", "updated_at", "builtin"] {
            m.remove(k);
        }
    }
    v
}

/// `GET /dashboards/{id}`: a dashboard's page.
pub(crate) async fn view(req: HttpRequest, st: web::Data<State>, id: web::Path<String>) -> Page {
    let a = match session(&req, &st).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let found = match find(&st, a.tenant.as_str(), &id).await {
        Ok(v) => v,
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => {
            let body = html! { p.muted { "No such dashboard." } };
            return Ok(page(&a, "/dashboards", "Dashboard not found", body));
        }
        Err(e) => return Err(e.into()),
    };
    let builtin = found["builtin"].as_bool().unwrap_or(false);
    let doc_value = exportable(found);
    let doc: DashboardIn = serde_json::from_value(doc_value.clone())
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))?;
    let by_group = doc.variables.iter().any(|v| v.kind == VarKind::HostGroup);
    let by_strategy = doc
        .rows
        .iter()
        .any(|r| r.panels.iter().any(|p| p.strategy_thresholds));
    let (groups, lines) = if by_group || by_strategy {
        let m = crate::model::tenant_strategies(&st.db, &a.tenant).await?;
        let map: BTreeMap<&str, &Vec<String>> = m
            .host_groups
            .iter()
            .map(|g| (g.name.as_str(), &g.hosts))
            .collect();
        let lines = strategy_lines(&doc, &m);
        (
            Some(serde_json::to_string(&map).expect("json")),
            (!lines.is_empty()).then(|| serde_json::to_string(&lines).expect("json")),
        )
    } else {
        (None, None)
    };
    let json = serde_json::to_string_pretty(&doc_value).expect("json");
    let body = view_body(&View {
        id: &id,
        doc: &doc,
        json,
        editable: !builtin && a.role >= Role::Editor,
        builtin,
        groups,
        lines,
    });
    Ok(page(&a, "/dashboards", &doc.title, body))
}

/// `GET /dashboards/{id}/export`: the dashboard's JSON as a file, to import elsewhere.
pub(crate) async fn export(req: HttpRequest, st: web::Data<State>, id: web::Path<String>) -> Page {
    let a = match session(&req, &st).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let doc = exportable(find(&st, a.tenant.as_str(), &id).await?);
    // The id is a number or `builtin-` and letters: safe in a header.
    let name: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"dashboard-{name}.json\""),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-store"))
        .body(serde_json::to_string_pretty(&doc).expect("json")))
}
