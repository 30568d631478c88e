//! The console's pages. Each loads what it shows straight from the database (or alarm), scoped
//! to the session's tenant, and renders escaped HTML; changes go through the JSON API.

use super::{login_page, page, redirect, session};
use crate::api::alarm::{call_json, enc};
use crate::api::kinds::{present, Kind};
use crate::auth::{session_cookie, Role};
use crate::model;
use crate::server::State;
use crate::store;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::strategy::{effective_strategies, EffectiveStrategy};
use argus_core::time::now_secs;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

type Page = Result<HttpResponse, actix_web::Error>;

macro_rules! auth {
    ($req:expr, $st:expr) => {
        match session(&$req, &$st).await {
            Ok(a) => a,
            Err(r) => return Ok(r),
        }
    };
}

mod admin;
mod events;
mod groups;
mod hosts;
mod notify;
mod rules;
mod session;
mod silences;
mod templates;

pub(super) use admin::*;
pub(super) use events::*;
pub(super) use groups::*;
pub(super) use hosts::*;
pub(super) use notify::*;
pub(super) use rules::*;
pub(super) use session::*;
pub(super) use silences::*;
pub(super) use templates::*;

/// Formats Unix seconds as `YYYY-MM-DD HH:MM` UTC.
pub(super) fn fmt_time(ts: i64) -> String {
    argus_core::time::UtcTime::of(ts).minutes()
}

fn ago(ts: Option<i64>) -> String {
    match ts {
        None => "never".into(),
        Some(t) => {
            let d = now_secs() - t;
            if d < 120 {
                format!("{d}s ago")
            } else if d < 7200 {
                format!("{}m ago", d / 60)
            } else if d < 172_800 {
                format!("{}h ago", d / 3600)
            } else {
                fmt_time(t)
            }
        }
    }
}

async fn objects(st: &State, tenant: &str, kind: Kind) -> Result<Vec<Value>, actix_web::Error> {
    let list = store::list(&st.db, tenant, kind.path()).await?;
    Ok(list
        .iter()
        .map(|o| present(kind, o, st.cfg.host_dead_after_secs as i64))
        .collect())
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(x) => x.to_string(),
    }
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or(0)
}

fn names(list: &[Value]) -> HashMap<i64, String> {
    list.iter().map(|v| (id(v), s(v, "name"))).collect()
}

/// Where a create-or-edit form sends: the object picked by `?edit=` (PUT) or a new one (POST).
struct FormTarget<'a> {
    /// The object being edited (`Value::Null` for a new one), to prefill the fields from.
    object: &'a Value,
    title: String,
    api: String,
    method: &'static str,
    button: &'static str,
    /// Offer a way back to the list (a form opened by `?edit=`).
    cancel: bool,
}

static NO_OBJECT: Value = Value::Null;

impl<'a> FormTarget<'a> {
    /// The form for `kind`: editing `edit` when it names one of `list`, else creating.
    fn of(kind: Kind, list: &'a [Value], edit: Option<i64>) -> FormTarget<'a> {
        match edit.and_then(|x| list.iter().find(|o| id(o) == x)) {
            Some(o) => FormTarget {
                object: o,
                title: format!("Edit {} {}", kind.noun(), s(o, "name"))
                    .trim_end()
                    .to_string(),
                api: format!("/api/v1/{}/{}", kind.path(), id(o)),
                method: "PUT",
                button: "Save",
                cancel: true,
            },
            None => FormTarget {
                object: &NO_OBJECT,
                title: format!("New {}", kind.noun()),
                api: format!("/api/v1/{}", kind.path()),
                method: "POST",
                button: "Create",
                cancel: false,
            },
        }
    }

    /// The whole form: a panel with the title, `fields`, the submit button, the error line and
    /// (when editing) a way out; after saving, back to `back`.
    fn form(&self, back: &str, fields: Markup) -> Markup {
        html! {
            div.panel {
                h2 { (self.title) }
                form.inline data-api=(self.api) data-method=(self.method) data-redirect=(back) {
                    (fields)
                    button { (self.button) }
                    @if self.cancel {
                        " "
                        a href=(back) { "cancel" }
                    }
                    div.err {}
                }
            }
        }
    }

    /// Field `k` of the edited object as text (empty for a new one), for maud to escape.
    fn raw(&self, k: &str) -> String {
        s(self.object, k)
    }

    /// Whether boolean field `k` is true (or, for a new object, `default`).
    fn is_on(&self, k: &str, default: bool) -> bool {
        match self.object.get(k).and_then(Value::as_bool) {
            Some(b) => b,
            None => self.object.is_null() && default,
        }
    }

    /// The ids in array field `k`.
    fn ids(&self, k: &str) -> Vec<i64> {
        self.object[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect()
    }
}

/// A table of `rows` (the `<tr>`s) under `headers`, or the line `empty` when there are none.
fn table(headers: &[&str], rows: &[Markup], empty: &str) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { (empty) }
        } @else {
            table {
                thead { tr { @for h in headers { th { (h) } } } }
                tbody { @for r in rows { (r) } }
            }
        }
    }
}

/// The `edit` link and the `Delete` button of a row, for editors (nothing for others).
fn row_actions(page: &str, path: &str, id: i64, editor: bool) -> Markup {
    html! {
        @if editor {
            a href={ (page) "?edit=" (id) } { "edit" }
            " "
            button.danger.small data-call={ "/api/v1/" (path) "/" (id) } data-method="DELETE"
                data-confirm={ "Delete " (path) " " (id) "?" } { "Delete" }
        }
    }
}

/// `<option>`s of fixed `(value, label)` choices, `selected` marked.
fn choices(list: &[(&str, &str)], selected: &str) -> Markup {
    html! {
        @for (v, label) in list {
            option value=(v) selected[*v == selected] { (label) }
        }
    }
}

/// `<option>`s of objects (value the id, label the name), `selected` marked, after an empty
/// choice labelled `empty` if given.
fn options(list: &[Value], selected: &[i64], empty: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = empty {
            option value="" { (e) }
        }
        @for v in list {
            option value=(id(v)) selected[selected.contains(&id(v))] { (s(v, "name")) }
        }
    }
}

fn tags_text(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
        Value::String(x) => x.clone(),
        _ => String::new(),
    }
}

/// A priority badge.
fn prio(p: &Value) -> Markup {
    let n = p.as_u64().unwrap_or(2);
    let cls = match n {
        0 | 1 => "badge bad",
        2 => "badge warn",
        _ => "badge ",
    };
    html! { span class=(cls) { "P" (n) } }
}

/// The strategies that apply to a host, each with the template it comes from.
fn strategies_table(eff: &[EffectiveStrategy], tnames: &HashMap<i64, String>) -> Markup {
    let rows: Vec<Markup> = eff
        .iter()
        .map(|e| {
            html! {
                tr {
                    td.mono { (e.strategy.metric) }
                    td.mono { (e.strategy.tags.to_string()) }
                    td.mono { (e.strategy.condition) }
                    td { (prio(&serde_json::json!(e.strategy.priority.level()))) }
                    td {
                        @match e.template {
                            Some(t) => {
                                a href={ "/templates/" (t) } {
                                    (tnames.get(&(t as i64)).map(String::as_str).unwrap_or("?"))
                                }
                            }
                            None => { "expression" }
                        }
                    }
                }
            }
        })
        .collect();
    table(
        &["Metric", "Tags", "Condition", "Priority", "From template"],
        &rows,
        "No strategy applies: bind a template to one of the host's groups.",
    )
}

/// `?edit=`: the id of the object a page's form edits.
#[derive(Deserialize)]
pub(super) struct Edit {
    edit: Option<i64>,
}
