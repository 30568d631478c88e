//! Rules on PromQL queries: recording rules and alert rules, each with its editor (live
//! validation by the same checks a save makes, and a preview that runs the expression now), and
//! the alert rules' state: their firing alerts as alarm holds them, and every rule's last
//! evaluation in each region as its judges report it.

use super::*;
use crate::rulefile::format_duration;
use crate::rulestate::{firing, FiringAlert, Health, RegionStatus, RuleKind, RuleStatuses};

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
fn evaluation_cell(statuses: &RuleStatuses, kind: RuleKind, id: i64) -> String {
    let Some(list) = u64::try_from(id)
        .ok()
        .and_then(|id| statuses.get(&(kind, id)))
    else {
        return r#"<span class="muted">not reported</span>"#.into();
    };
    list.iter()
        .map(|s: &RegionStatus| {
            let badge = match s.health {
                Health::Ok => r#"<span class="badge ok">ok</span>"#,
                Health::Unknown => r#"<span class="badge">unknown</span>"#,
                Health::Error => r#"<span class="badge bad">error</span>"#,
            };
            let when = s
                .last_evaluation
                .map_or("never".to_string(), fmt_time);
            let error = s
                .last_error
                .as_deref()
                .map(|e| format!(r#"<div class="err small mono">{}</div>"#, esc(e)))
                .unwrap_or_default();
            format!(
                r#"<div class="rule-eval"><span class="muted">{}</span> {badge} {when} · {}{error}</div>"#,
                esc(&s.region),
                took(s.evaluation_secs)
            )
        })
        .collect()
}

/// A map field (`labels`, `annotations`) as the editor's text: one `name=value` a line (a value
/// spanning lines continues on the next ones, which `console.js` reads back so).
fn map_lines(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A map for a table cell: `name=value`, comma-separated.
fn map_inline(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

fn every(r: &Value) -> String {
    format_duration(r["interval_secs"].as_u64().unwrap_or(60) as u32)
}

fn scope(r: &Value) -> &'static str {
    if r["global"].as_bool() == Some(true) {
        r#"<span class="badge warn">global</span>"#
    } else {
        "each region"
    }
}

const RULES_HELP: &str = r#"<p class="small muted">Rule files: import with <code>POST /api/v1/rules/import</code>, export at <a href="/api/v1/rules/export">/api/v1/rules/export</a>. A rule is evaluated every interval in each region over that region's series, or once over every region's series when global.</p>"#;

const EDITOR_HELP: &str = r#"<p class="small muted">The expression is checked as you type. <b>Preview</b> runs it now over every region's series (a regional rule is evaluated in each region on its own). Labels and annotations: one <code>name=value</code> a line; an alert's are templates: <code>{{ $labels.instance }}</code>, <code>{{ $value | humanize }}</code>.</p>"#;

/// The opening of a rule editor: the form saves through the API and checks and previews
/// through `/api/v1/rules/*` (`console.js`).
fn rule_open(f: &FormTarget, kind: Kind, back: &str) -> String {
    let k = kind.path();
    format!(
        r#"<div class="panel"><h2>{}</h2><form class="inline rule" id="rule-form" data-api="{}" data-method="{}" data-redirect="{back}" data-rule-validate="/api/v1/rules/validate?kind={k}" data-rule-preview="/api/v1/rules/preview?kind={k}">"#,
        esc(&f.title),
        f.api,
        f.method
    )
}

fn rule_close(f: &FormTarget, back: &str) -> String {
    let cancel = if f.cancel {
        format!(r#" <a href="{back}">cancel</a>"#)
    } else {
        String::new()
    };
    format!(
        r#"<div class="wide"><button>{}</button> <button type="button" class="light" data-rule-preview-run>Preview</button>{cancel}</div>
<div class="live muted wide">type an expression to check it</div><div class="err wide"></div><div class="preview wide"></div></form>{EDITOR_HELP}</div>"#,
        f.button
    )
}

/// The expression's textarea and the line under it where a parse error is pointed at.
fn expr_field(f: &FormTarget, placeholder: &str) -> String {
    format!(
        r#"<label class="wide">Expression (PromQL)<textarea name="expr" class="mono" rows="3" spellcheck="false" required placeholder="{}">{}</textarea></label><pre class="caret mono wide"></pre>"#,
        esc(placeholder),
        f.text("expr")
    )
}

fn interval_value(f: &FormTarget) -> String {
    match f.object["interval_secs"].as_u64() {
        Some(n) => n.to_string(),
        None => "60".into(),
    }
}

/// `GET /recording_rules`.
pub(crate) async fn recording_rules(
    req: HttpRequest,
    st: web::Data<State>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let list = objects(&st, a.tenant.as_str(), Kind::RecordingRule).await?;
    let editor = a.role >= Role::Editor;
    let statuses = st
        .rule_reports
        .of_tenant(&a.tenant, argus_core::time::now_secs());
    let rows: Vec<String> = list
        .iter()
        .map(|r| {
            format!(
                r#"<tr><td>{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="right">{}</td></tr>"#,
                id(r),
                esc(&s(r, "record")),
                esc(&s(r, "expr")),
                esc(&map_inline(&map_of(&r["labels"]))),
                every(r),
                scope(r),
                evaluation_cell(&statuses, RuleKind::Recording, id(r)),
                row_actions("/recording_rules", "recording_rules", id(r), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel"><p class="small muted">A recording rule stores its expression's result every interval as series named after the rule.</p>{}{RULES_HELP}</div>"#,
        table(
            &[
                "Id",
                "Record",
                "Expression",
                "Labels",
                "Every",
                "Where",
                "Last evaluation (UTC)",
                ""
            ],
            &rows,
            "No recording rules."
        )
    );
    if editor {
        let mut f = FormTarget::of(Kind::RecordingRule, &list, e.edit);
        if !f.object.is_null() {
            f.title = format!("Edit recording rule {}", s(f.object, "record"));
        }
        let back = "/recording_rules";
        body.push_str(&format!(
            r#"{}
<label>Record (metric name)<input name="record" value="{}" required size="30" placeholder="job:http_requests:rate5m"></label>
<label>Every (s)<input name="interval_secs" data-type="int" size="6" value="{}"></label>
<label>Global<input type="checkbox" name="global"{}></label>
{}
<label class="wide">Labels<textarea name="labels" data-type="map" rows="2" spellcheck="false" placeholder="team=web">{}</textarea></label>
{}"#,
            rule_open(&f, Kind::RecordingRule, back),
            f.text("record"),
            interval_value(&f),
            f.checked("global", false),
            expr_field(&f, "sum by (job) (rate(http_requests_total[5m]))"),
            esc(&map_lines(&f.object["labels"])),
            rule_close(&f, back),
        ));
    }
    Ok(page(&a, "/recording_rules", "Recording rules", &body))
}

fn firing_table(alerts: &[FiringAlert], names: &HashMap<i64, String>, editor: bool) -> String {
    let rows: Vec<String> = alerts
        .iter()
        .map(|f| {
            let name = esc(names.get(&(f.rule as i64)).map(String::as_str).unwrap_or("?"));
            let rule = if editor {
                format!(r#"<a href="/alert_rules?edit={}">{name}</a>"#, f.rule)
            } else {
                name
            };
            let labels: BTreeMap<String, String> = f
                .labels
                .iter()
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let annotations: String = f
                .annotations
                .iter()
                .map(|(k, v)| format!(r#"<div><span class="muted">{}:</span> {}</div>"#, esc(k), esc(v)))
                .collect();
            let cls = match f.state.as_str() {
                "problem" => "bad",
                "acknowledged" => "warn",
                _ => "",
            };
            format!(
                r#"<tr><td>{rule}</td><td class="mono">{}</td><td>{annotations}</td><td class="mono">{}</td><td>{}</td><td><span class="badge {cls}">{}</span></td></tr>"#,
                esc(&map_inline(&labels)),
                esc(&argus_promql::json::format_value(f.value)),
                fmt_time(f.active_at),
                esc(&f.state),
            )
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

/// `GET /alert_rules`: the rules with their state, the firing alerts, and the editor.
pub(crate) async fn alert_rules(
    req: HttpRequest,
    st: web::Data<State>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let list = objects(&st, a.tenant.as_str(), Kind::AlertRule).await?;
    let editor = a.role >= Role::Editor;
    let state = if list.is_empty() {
        Ok((Vec::new(), false))
    } else {
        firing(&st, &a.tenant).await
    };
    let names: HashMap<i64, String> = list.iter().map(|r| (id(r), s(r, "alert"))).collect();
    let statuses = st
        .rule_reports
        .of_tenant(&a.tenant, argus_core::time::now_secs());
    let rows: Vec<String> = list
        .iter()
        .map(|r| {
            let badge = match &state {
                Err(_) => r#"<span class="badge">unknown</span>"#.to_string(),
                Ok((alerts, _)) => match alerts.iter().filter(|f| f.rule as i64 == id(r)).count() {
                    0 => r#"<span class="badge">no data</span>"#.to_string(),
                    n => format!(r#"<span class="badge bad">firing {n}</span>"#),
                },
            };
            format!(
                r#"<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td class="mono">{}</td><td>{badge}</td><td>{}</td><td class="right">{}</td></tr>"#,
                id(r),
                esc(&s(r, "alert")),
                esc(&s(r, "expr")),
                format_duration(r["for_secs"].as_u64().unwrap_or(0) as u32),
                prio(&r["priority"]),
                esc(&map_inline(&map_of(&r["labels"]))),
                evaluation_cell(&statuses, RuleKind::Alert, id(r)),
                row_actions("/alert_rules", "alert_rules", id(r), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel"><p class="small muted">Each output series of an alert rule's expression is an alert: pending when it appears, firing (a problem event) once it has lasted the rule's <i>for</i>.</p>{}{RULES_HELP}</div>"#,
        table(
            &[
                "Id",
                "Alert",
                "Expression",
                "For",
                "Priority",
                "Labels",
                "State",
                "Last evaluation (UTC)",
                ""
            ],
            &rows,
            "No alert rules."
        )
    );
    let firing_html = match &state {
        Ok((alerts, truncated)) => {
            let mut h = firing_table(alerts, &names, editor);
            if *truncated {
                h.push_str(r#"<p class="small muted">alarm holds more open problems than one page: only the most recently updated were read.</p>"#);
            }
            h
        }
        Err(e) => format!(r#"<p class="err">alerts unknown: {}</p>"#, esc(e)),
    };
    body.push_str(&format!(
        r#"<div class="panel" id="firing"><h2>Firing now</h2>{firing_html}</div>"#
    ));
    if editor {
        let mut f = FormTarget::of(Kind::AlertRule, &list, e.edit);
        if !f.object.is_null() {
            f.title = format!("Edit alert rule {}", s(f.object, "alert"));
        }
        let back = "/alert_rules";
        let p = f.object["priority"].as_u64().unwrap_or(2).to_string();
        let secs = |k: &str| f.object[k].as_u64().unwrap_or(0).to_string();
        body.push_str(&format!(
            r#"{}
<label>Alert<input name="alert" value="{}" required size="24" placeholder="HighErrorRate"></label>
<label>Priority<select name="priority" data-type="int">{}</select></label>
<label>For (s)<input name="for_secs" data-type="int" size="6" value="{}"></label>
<label>Keep firing for (s)<input name="keep_firing_for_secs" data-type="int" size="6" value="{}"></label>
<label>Every (s)<input name="interval_secs" data-type="int" size="6" value="{}"></label>
<label>Global<input type="checkbox" name="global"{}></label>
{}
<label class="wide">Labels<textarea name="labels" data-type="map" rows="2" spellcheck="false" placeholder="team=web">{}</textarea></label>
<label class="wide">Annotations<textarea name="annotations" data-type="map" rows="3" spellcheck="false" placeholder="summary={{{{ $labels.instance }}}} is down">{}</textarea></label>
{}"#,
            rule_open(&f, Kind::AlertRule, back),
            f.text("alert"),
            choices(
                &[
                    ("0", "P0"),
                    ("1", "P1"),
                    ("2", "P2"),
                    ("3", "P3"),
                    ("4", "P4"),
                    ("5", "P5")
                ],
                &p
            ),
            secs("for_secs"),
            secs("keep_firing_for_secs"),
            interval_value(&f),
            f.checked("global", false),
            expr_field(&f, "rate(http_errors_total[5m]) > 0.1"),
            esc(&map_lines(&f.object["labels"])),
            esc(&map_lines(&f.object["annotations"])),
            rule_close(&f, back),
        ));
    }
    Ok(page(&a, "/alert_rules", "Alert rules", &body))
}
