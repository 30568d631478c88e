//! Rules on PromQL queries: recording rules and alert rules, each with its editor (live
//! validation by the same checks a save makes, and a preview that runs the expression now), and
//! the alert rules' state: their firing alerts as alarm holds them, and every rule's last
//! evaluation in each region as its judges report it.

use super::*;
use crate::rulefile::format_duration;
use crate::rules::{AlertRuleIn, RecordingRuleIn};
use crate::rulestate::{firing, FiringAlert, Health, RegionStatus, RuleKind, RuleStatuses};
use argus_core::rules::DEFAULT_INTERVAL_SECS;

/// An evaluation's duration, readable.
fn took(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else {
        format!("{secs:.2} s")
    }
}

/// A rule's evaluation cell: per reporting region its last evaluation, its duration and its
/// error.
fn evaluation_cell(statuses: &RuleStatuses, kind: RuleKind, id: i64) -> Markup {
    let list = u64::try_from(id)
        .ok()
        .and_then(|id| statuses.get(&(kind, id)));
    html! {
        @match list {
            None => { span.muted { "not reported" } }
            Some(list) => {
                @for s in list {
                    (region_evaluation(s))
                }
            }
        }
    }
}

/// One region's last evaluation of a rule.
fn region_evaluation(s: &RegionStatus) -> Markup {
    html! {
        div.rule-eval {
            span.muted { (s.region) }
            " "
            @match s.health {
                Health::Ok => { span.badge.ok { "ok" } }
                Health::Unknown => { span.badge { "unknown" } }
                Health::Error => { span.badge.bad { "error" } }
            }
            " " (s.last_evaluation.map_or("never".to_string(), fmt_time))
            " · " (took(s.evaluation_secs))
            @if let Some(e) = &s.last_error {
                div.err.small.mono { (e) }
            }
        }
    }
}

/// A map field (`labels`, `annotations`) as the editor's text: one `name=value` a line (a value
/// spanning lines continues on the next ones, which `console.js` reads back so).
fn map_lines(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A map for a table cell: `name=value`, comma-separated.
fn map_inline<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    m.into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a rule is evaluated.
fn scope(global: bool) -> Markup {
    html! {
        @if global {
            span.badge.warn { "global" }
        } @else {
            "each region"
        }
    }
}

/// A stored rule, read back as the input type that saved it.
struct Stored<T> {
    id: i64,
    rule: T,
}

/// The tenant's rules of `kind`, typed.
async fn stored<T: serde::de::DeserializeOwned>(
    st: &State,
    tenant: &str,
    kind: Kind,
) -> Result<Vec<Stored<T>>, actix_web::Error> {
    let list = store::list(&st.db, tenant, kind.path()).await?;
    list.into_iter()
        .map(|o| match serde_json::from_value(o.body) {
            Ok(rule) => Ok(Stored { id: o.id, rule }),
            // Only a document this version did not write can fail here: say which.
            Err(e) => Err(argus_core::http::ApiError::internal(format!(
                "stored {} {} is unreadable: {e}",
                kind.noun(),
                o.id
            ))
            .into()),
        })
        .collect()
}

/// The rule `?edit=` picks, if it is one of `list`.
fn editing<T>(list: &[Stored<T>], edit: Option<i64>) -> Option<&Stored<T>> {
    edit.and_then(|x| list.iter().find(|r| r.id == x))
}

fn rules_help() -> Markup {
    html! {
        p.small.muted {
            "Rule files: import with " code { "POST /api/v1/rules/import" } ", export at "
            a href="/api/v1/rules/export" { "/api/v1/rules/export" }
            ". A rule is evaluated every interval in each region over that region's series, or \
             once over every region's series when global."
        }
    }
}

fn editor_help() -> Markup {
    html! {
        p.small.muted {
            "The expression is checked as you type. " b { "Preview" }
            " runs it now over every region's series (a regional rule is evaluated in each region \
             on its own). Labels and annotations: one " code { "name=value" } " a line; an \
             alert's are templates: " code { "{{ $labels.instance }}" } ", "
            code { "{{ $value | humanize }}" } "."
        }
    }
}

/// A rule editor around its own fields: the form saves through the API (a PUT of the edited
/// rule, else a POST) and checks and previews through `/api/v1/rules/*` (`console.js`).
struct Editor<'a> {
    kind: Kind,
    /// The id and name of the rule being edited; `None` for a new rule.
    editing: Option<(i64, &'a str)>,
}

impl Editor<'_> {
    fn render(&self, fields: Markup) -> Markup {
        let k = self.kind.path();
        let back = format!("/{k}");
        let (title, api, method, button) = match self.editing {
            Some((id, name)) => (
                format!("Edit {} {name}", self.kind.noun()),
                format!("/api/v1/{k}/{id}"),
                "PUT",
                "Save",
            ),
            None => (
                format!("New {}", self.kind.noun()),
                format!("/api/v1/{k}"),
                "POST",
                "Create",
            ),
        };
        html! {
            div.panel {
                h2 { (title) }
                form.inline.rule #rule-form data-api=(api) data-method=(method)
                    data-redirect=(back) data-rule-validate={ "/api/v1/rules/validate?kind=" (k) }
                    data-rule-preview={ "/api/v1/rules/preview?kind=" (k) } {
                    (fields)
                    div.wide {
                        button { (button) }
                        " "
                        button.light type="button" data-rule-preview-run { "Preview" }
                        @if self.editing.is_some() {
                            " "
                            a href=(back) { "cancel" }
                        }
                    }
                    div.live.muted.wide { "type an expression to check it" }
                    div.err.wide {}
                    div.preview.wide {}
                }
                (editor_help())
            }
        }
    }
}

/// The expression's textarea and the line under it where a parse error is pointed at.
fn expr_field(expr: &str, placeholder: &str) -> Markup {
    html! {
        label.wide {
            "Expression (PromQL)"
            textarea name="expr" class="mono" rows="3" spellcheck="false" required
                placeholder=(placeholder) { (expr) }
        }
        pre.caret.mono.wide {}
    }
}

/// A map field's textarea (`labels`, `annotations`).
fn map_field(
    label: &str,
    name: &str,
    rows: u8,
    placeholder: &str,
    m: &BTreeMap<String, String>,
) -> Markup {
    html! {
        label.wide {
            (label)
            textarea name=(name) data-type="map" rows=(rows) spellcheck="false"
                placeholder=(placeholder) { (map_lines(m)) }
        }
    }
}

/// One line of the recording rules table.
struct RecordingRow<'a> {
    id: i64,
    rule: &'a RecordingRuleIn,
}

impl RecordingRow<'_> {
    fn render(&self, statuses: &RuleStatuses, editor: bool) -> Markup {
        let r = self.rule;
        html! {
            tr {
                td { (self.id) }
                td.mono { (r.record) }
                td.mono { (r.expr) }
                td.mono { (map_inline(&r.labels)) }
                td { (format_duration(r.interval_secs)) }
                td { (scope(r.global)) }
                td { (evaluation_cell(statuses, RuleKind::Recording, self.id)) }
                td.right { (row_actions("/recording_rules", "recording_rules", self.id, editor)) }
            }
        }
    }
}

/// The recording rule editor's fields, filled from `rule` (a new rule's defaults without one).
fn recording_fields(rule: Option<&RecordingRuleIn>) -> Markup {
    let interval = rule.map_or(DEFAULT_INTERVAL_SECS, |r| r.interval_secs);
    let empty = BTreeMap::new();
    html! {
        label {
            "Record (metric name)"
            input name="record" value=(rule.map_or("", |r| r.record.as_str())) required size="30"
                placeholder="job:http_requests:rate5m";
        }
        label { "Every (s)" input name="interval_secs" data-type="int" size="6" value=(interval); }
        label { "Global" input type="checkbox" name="global" checked[rule.is_some_and(|r| r.global)]; }
        (expr_field(rule.map_or("", |r| r.expr.as_str()), "sum by (job) (rate(http_requests_total[5m]))"))
        (map_field("Labels", "labels", 2, "team=web", rule.map_or(&empty, |r| &r.labels)))
    }
}

/// `GET /recording_rules`.
pub(crate) async fn recording_rules(
    req: HttpRequest,
    st: web::Data<State>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let list: Vec<Stored<RecordingRuleIn>> =
        stored(&st, a.tenant.as_str(), Kind::RecordingRule).await?;
    let editor = a.role >= Role::Editor;
    let statuses = st
        .rule_reports
        .of_tenant(&a.tenant, argus_core::time::now_secs());
    let rows: Vec<Markup> = list
        .iter()
        .map(|r| {
            RecordingRow {
                id: r.id,
                rule: &r.rule,
            }
            .render(&statuses, editor)
        })
        .collect();
    let edited = editing(&list, e.edit);
    let body = html! {
        div.panel {
            p.small.muted {
                "A recording rule stores its expression's result every interval as series named \
                 after the rule."
            }
            (table(
                &["Id", "Record", "Expression", "Labels", "Every", "Where", "Last evaluation (UTC)", ""],
                &rows,
                "No recording rules.",
            ))
            (rules_help())
        }
        @if editor {
            (Editor {
                kind: Kind::RecordingRule,
                editing: edited.map(|r| (r.id, r.rule.record.as_str())),
            }
            .render(recording_fields(edited.map(|r| &r.rule))))
        }
    };
    Ok(page(&a, "/recording_rules", "Recording rules", body))
}

fn firing_table(alerts: &[FiringAlert], names: &HashMap<i64, &str>, editor: bool) -> Markup {
    let rows: Vec<Markup> = alerts
        .iter()
        .map(|f| {
            let name = names.get(&(f.rule as i64)).copied().unwrap_or("?");
            let badge = match f.state.as_str() {
                "problem" => "badge bad",
                "acknowledged" => "badge warn",
                _ => "badge",
            };
            html! {
                tr {
                    td {
                        @if editor {
                            a href={ "/alert_rules?edit=" (f.rule) } { (name) }
                        } @else {
                            (name)
                        }
                    }
                    td.mono { (map_inline(f.labels.iter().filter(|(k, _)| *k != "alertname"))) }
                    td {
                        @for (k, v) in &f.annotations {
                            div { span.muted { (k) ":" } " " (v) }
                        }
                    }
                    td.mono { (argus_promql::json::format_value(f.value)) }
                    td { (fmt_time(f.active_at)) }
                    td { span class=(badge) { (f.state) } }
                }
            }
        })
        .collect();
    table(
        &[
            "Rule",
            "Labels",
            "Annotations",
            "Value",
            "Since (UTC)",
            "State",
        ],
        &rows,
        "No alert of these rules is firing.",
    )
}

/// One line of the alert rules table.
struct AlertRow<'a> {
    id: i64,
    rule: &'a AlertRuleIn,
    /// How many of its alerts fire, if alarm could tell.
    firing: Option<usize>,
}

impl AlertRow<'_> {
    fn render(&self, statuses: &RuleStatuses, editor: bool) -> Markup {
        let r = self.rule;
        html! {
            tr {
                td { (self.id) }
                td { (r.alert) }
                td.mono { (r.expr) }
                td { (format_duration(r.for_secs)) }
                td { (prio(&serde_json::json!(r.priority.level()))) }
                td.mono { (map_inline(&r.labels)) }
                td {
                    @match self.firing {
                        None => { span.badge { "unknown" } }
                        Some(0) => { span.badge { "no data" } }
                        Some(n) => { span.badge.bad { "firing " (n) } }
                    }
                }
                td { (evaluation_cell(statuses, RuleKind::Alert, self.id)) }
                td.right { (row_actions("/alert_rules", "alert_rules", self.id, editor)) }
            }
        }
    }
}

/// The alert rule editor's fields, filled from `rule` (a new rule's defaults without one).
fn alert_fields(rule: Option<&AlertRuleIn>) -> Markup {
    let priority = rule.map_or(2, |r| r.priority.level()).to_string();
    let secs = |f: fn(&AlertRuleIn) -> u32| rule.map_or(0, f);
    let empty = BTreeMap::new();
    const PRIORITIES: [(&str, &str); 6] = [
        ("0", "P0"),
        ("1", "P1"),
        ("2", "P2"),
        ("3", "P3"),
        ("4", "P4"),
        ("5", "P5"),
    ];
    html! {
        label {
            "Alert"
            input name="alert" value=(rule.map_or("", |r| r.alert.as_str())) required size="24"
                placeholder="HighErrorRate";
        }
        label { "Priority" select name="priority" data-type="int" { (choices(&PRIORITIES, &priority)) } }
        label {
            "For (s)"
            input name="for_secs" data-type="int" size="6" value=(secs(|r| r.for_secs));
        }
        label {
            "Keep firing for (s)"
            input name="keep_firing_for_secs" data-type="int" size="6"
                value=(secs(|r| r.keep_firing_for_secs));
        }
        label {
            "Every (s)"
            input name="interval_secs" data-type="int" size="6"
                value=(rule.map_or(DEFAULT_INTERVAL_SECS, |r| r.interval_secs));
        }
        label { "Global" input type="checkbox" name="global" checked[rule.is_some_and(|r| r.global)]; }
        (expr_field(rule.map_or("", |r| r.expr.as_str()), "rate(http_errors_total[5m]) > 0.1"))
        (map_field("Labels", "labels", 2, "team=web", rule.map_or(&empty, |r| &r.labels)))
        (map_field(
            "Annotations",
            "annotations",
            3,
            "summary={{ $labels.instance }} is down",
            rule.map_or(&empty, |r| &r.annotations),
        ))
    }
}

/// `GET /alert_rules`: the rules with their state, the firing alerts, and the editor.
pub(crate) async fn alert_rules(
    req: HttpRequest,
    st: web::Data<State>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let list: Vec<Stored<AlertRuleIn>> = stored(&st, a.tenant.as_str(), Kind::AlertRule).await?;
    let editor = a.role >= Role::Editor;
    let state = if list.is_empty() {
        Ok((Vec::new(), false))
    } else {
        firing(&st, &a.tenant).await
    };
    let names: HashMap<i64, &str> = list.iter().map(|r| (r.id, r.rule.alert.as_str())).collect();
    let statuses = st
        .rule_reports
        .of_tenant(&a.tenant, argus_core::time::now_secs());
    let rows: Vec<Markup> = list
        .iter()
        .map(|r| {
            AlertRow {
                id: r.id,
                rule: &r.rule,
                firing: state
                    .as_ref()
                    .ok()
                    .map(|(alerts, _)| alerts.iter().filter(|f| f.rule as i64 == r.id).count()),
            }
            .render(&statuses, editor)
        })
        .collect();
    let edited = editing(&list, e.edit);
    let body = html! {
        div.panel {
            p.small.muted {
                "Each output series of an alert rule's expression is an alert: pending when it \
                 appears, firing (a problem event) once it has lasted the rule's " i { "for" } "."
            }
            (table(
                &["Id", "Alert", "Expression", "For", "Priority", "Labels", "State", "Last evaluation (UTC)", ""],
                &rows,
                "No alert rules.",
            ))
            (rules_help())
        }
        div.panel #firing {
            h2 { "Firing now" }
            @match &state {
                Ok((alerts, truncated)) => {
                    (firing_table(alerts, &names, editor))
                    @if *truncated {
                        p.small.muted {
                            "alarm holds more open problems than one page: only the most recently \
                             updated were read."
                        }
                    }
                }
                Err(e) => { p.err { "alerts unknown: " (e) } }
            }
        }
        @if editor {
            (Editor {
                kind: Kind::AlertRule,
                editing: edited.map(|r| (r.id, r.rule.alert.as_str())),
            }
            .render(alert_fields(edited.map(|r| &r.rule))))
        }
    };
    Ok(page(&a, "/alert_rules", "Alert rules", body))
}
