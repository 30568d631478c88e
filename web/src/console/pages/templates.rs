//! Templates (the inheritance tree, one template's own and inherited strategies) and
//! expression strategies. Rendered with maud from typed rows and forms, which escapes every
//! value.

use super::*;

/// The inheritance tree under `parent` (the roots for `None`).
fn tree(templates: &[Value], parent: Option<i64>, depth: usize) -> Markup {
    let kids: Vec<&Value> = templates
        .iter()
        .filter(|t| t["parent"].as_i64() == parent)
        .collect();
    html! {
        @if depth <= 20 && !kids.is_empty() {
            ul class=[(depth == 0).then_some("tree")] {
                @for k in kids {
                    li {
                        a href={ "/templates/" (id(k)) } { (s(k, "name")) }
                        (tree(templates, Some(id(k)), depth + 1))
                    }
                }
            }
        }
    }
}

/// `?host=` of the templates page.
#[derive(Deserialize)]
pub(crate) struct HostQ {
    host: Option<String>,
}

/// `GET /templates`: the inheritance tree, a new-template form and a host's effective strategies.
pub(crate) async fn templates(
    req: HttpRequest,
    st: web::Data<State>,
    q: web::Query<HostQ>,
) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let templates = objects(&st, t, Kind::Template).await?;
    let hosts = objects(&st, t, Kind::Host).await?;
    let host = q.host.clone().unwrap_or_default();
    let mut effective = None;
    if !host.is_empty() {
        let m = model::tenant_strategies(&st.db, &a.tenant).await?;
        let tn: HashMap<i64, String> = m
            .templates
            .iter()
            .map(|t| (t.id as i64, t.name.clone()))
            .collect();
        effective = Some(
            match effective_strategies(&host, &m.host_groups, &m.templates) {
                Ok(e) => strategies_table(&e, &tn),
                Err(e) => html! { p.err { (e.to_string()) } },
            },
        );
    }
    let body = html! {
        div.grid2 {
            div.panel {
                h2 { "Inheritance" }
                @if templates.is_empty() {
                    p.muted { "No templates yet." }
                } @else {
                    (tree(&templates, None, 0))
                }
            }
            @if a.role >= Role::Editor {
                div.panel {
                    h2 { "New template" }
                    form.inline data-api="/api/v1/templates" data-redirect="/templates" {
                        label { "Name" input name="name" required; }
                        label {
                            "Parent"
                            select name="parent" data-type="int" {
                                (options(&templates, &[], Some("(none)")))
                            }
                        }
                        button { "Create" }
                        div.err {}
                    }
                }
            }
        }
        div.panel {
            h2 { "Effective strategies of a host" }
            form.filters method="get" {
                select name="host" {
                    @for h in &hosts {
                        @let n = s(h, "name");
                        option selected[n == host] { (n) }
                    }
                }
                button.light { "Show" }
            }
            @if let Some(e) = effective { (e) }
        }
    };
    Ok(page(&a, "/templates", "Templates", body))
}

/// The strategy editor's fields, from the edited strategy (defaults for a new one).
struct RuleForm {
    metric: String,
    tags: String,
    condition: String,
    recovery: String,
    priority: u64,
    max_alarms: u64,
    for_secs: u64,
    note: String,
}

impl RuleForm {
    fn of(e: &Value) -> RuleForm {
        RuleForm {
            metric: s(e, "metric"),
            tags: tags_text(&e["tags"]),
            condition: s(e, "condition"),
            recovery: s(e, "recovery"),
            priority: e["priority"].as_u64().unwrap_or(2),
            max_alarms: e["max_alarms"].as_u64().unwrap_or(3),
            for_secs: e["for_secs"].as_u64().unwrap_or(0),
            note: s(e, "note"),
        }
    }
}

/// The create-or-edit form of a strategy (`template` set) or expression strategy; it checks the
/// condition as it is typed (`console.js`).
fn rule_form(
    kind: Kind,
    template: Option<i64>,
    editing: Option<&Value>,
    redirect_to: &str,
) -> Markup {
    let (api, method, title) = match editing {
        Some(v) => (
            format!("/api/v1/{}/{}", kind.path(), id(v)),
            "PUT",
            "Edit strategy",
        ),
        None => (format!("/api/v1/{}", kind.path()), "POST", "New strategy"),
    };
    let f = RuleForm::of(editing.unwrap_or(&Value::Null));
    html! {
        div.panel {
            h2 { (title) }
            form.inline #strategy-form data-api=(api) data-method=(method)
                data-validate="/api/v1/strategies/validate" data-redirect=(redirect_to) {
                @if let Some(t) = template {
                    input type="hidden" name="template_id" data-type="int" value=(t);
                }
                label { "Metric" input name="metric" value=(f.metric) required placeholder="cpu.idle"; }
                label { "Tags" input name="tags" value=(f.tags) placeholder="k=v,k2=v2"; }
                label {
                    "Condition"
                    input name="condition" value=(f.condition) required size="26"
                        placeholder="all(#3) > 90";
                }
                label {
                    "Recovery"
                    input name="recovery" value=(f.recovery) size="18" placeholder="all(#3) < 80";
                }
                label {
                    "Priority"
                    select name="priority" data-type="int" {
                        @for i in 0..=5u64 {
                            option value=(i) selected[i == f.priority] { "P" (i) }
                        }
                    }
                }
                label {
                    "Max alarms"
                    input name="max_alarms" data-type="int" value=(f.max_alarms) size="3";
                }
                label title="seconds the condition must hold before the PROBLEM" {
                    "For (s)"
                    input name="for_secs" data-type="int" value=(f.for_secs) size="4" placeholder="0";
                }
                label { "Note" input name="note" value=(f.note); }
                button { "Save" }
                div.live.muted { "type a condition to check it" }
                div.err {}
            }
            p.small.muted {
                "Conditions: " code { "all(#3) > 90" } ", " code { "max(#5) >= 1 && avg(#10) > 70" }
                ", " code { "diff(#2) > 100" } ", " code { "nodata(300)" } "."
            }
        }
    }
}

/// A strategy's `for_secs` as shown in its row (empty when it has none).
fn for_text(v: &Value) -> String {
    match v.as_u64() {
        Some(n) if n > 0 => format!("{n} s"),
        _ => String::new(),
    }
}

/// One line of a strategies list, from a stored strategy or expression strategy.
struct RuleRow<'a> {
    rule: &'a Value,
}

impl RuleRow<'_> {
    fn render(&self, kind: Kind, base: &str, editor: bool) -> Markup {
        let r = self.rule;
        html! {
            tr {
                td { (id(r)) }
                td.mono { (s(r, "metric")) }
                td.mono { (tags_text(&r["tags"])) }
                td.mono { (s(r, "condition")) }
                td.mono { (s(r, "recovery")) }
                td { (for_text(&r["for_secs"])) }
                td { (prio(&r["priority"])) }
                td.right { (row_actions(base, kind.path(), id(r), editor)) }
            }
        }
    }
}

const RULE_HEADERS: [&str; 8] = [
    "Id",
    "Metric",
    "Tags",
    "Condition",
    "Recovery",
    "For",
    "Priority",
    "",
];

fn rules_rows(rules: &[&Value], kind: Kind, base: &str, editor: bool) -> Vec<Markup> {
    rules
        .iter()
        .map(|r| RuleRow { rule: r }.render(kind, base, editor))
        .collect()
}

/// `GET /templates/{id}`: its strategies, the inherited ones, and the strategy editor.
pub(crate) async fn template(
    req: HttpRequest,
    st: web::Data<State>,
    path: web::Path<i64>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let tid = *path;
    let templates = objects(&st, t, Kind::Template).await?;
    let Some(tpl) = templates.iter().find(|x| id(x) == tid) else {
        return Ok(page(
            &a,
            "/templates",
            "Template not found",
            html! { p.muted { "No such template." } },
        ));
    };
    let tn = names(&templates);
    let editor = a.role >= Role::Editor;
    let strategies = objects(&st, t, Kind::Strategy).await?;
    let own: Vec<&Value> = strategies
        .iter()
        .filter(|x| x["template_id"].as_i64() == Some(tid))
        .collect();
    let mut chain = Vec::new();
    let mut cur = tpl["parent"].as_i64();
    while let Some(p) = cur {
        if chain.len() > 20 || chain.contains(&p) {
            break;
        }
        chain.push(p);
        cur = templates
            .iter()
            .find(|x| id(x) == p)
            .and_then(|x| x["parent"].as_i64());
    }
    let m = model::tenant_strategies(&st.db, &a.tenant).await?;
    let mtn: HashMap<i64, String> = m
        .templates
        .iter()
        .map(|t| (t.id as i64, t.name.clone()))
        .collect();
    let eff = argus_core::strategy::template_strategies(&m.templates, tid as u64)
        .map(|e| strategies_table(&e, &mtn))
        .unwrap_or_else(|e| html! { p.err { (e.to_string()) } });
    let base = format!("/templates/{tid}");
    let editing = e
        .edit
        .and_then(|x| own.iter().find(|r| id(r) == x).copied());
    // Rename or move in the tree; a parent that would make a cycle is refused by the API.
    let form = editor.then(|| {
        let mut f = FormTarget::of(Kind::Template, &templates, Some(tid));
        f.cancel = false;
        let others: Vec<Value> = templates.iter().filter(|x| id(x) != tid).cloned().collect();
        let parent: Vec<i64> = tpl["parent"].as_i64().into_iter().collect();
        let fields = html! {
            label { "Name" input name="name" value=(f.raw("name")) required; }
            label {
                "Parent"
                select name="parent" data-type="int" {
                    (options(&others, &parent, Some("(none)")))
                }
            }
        };
        f.form(&base, fields)
    });
    let body = html! {
        div.panel {
            b { "Inherits from:" }
            " "
            @if chain.is_empty() {
                "nothing (a root template)"
            } @else {
                @for (i, p) in chain.iter().enumerate() {
                    @if i > 0 { " → " }
                    a href={ "/templates/" (p) } { (tn.get(p).map(String::as_str).unwrap_or("?")) }
                }
            }
            " "
            @if editor {
                span.right {
                    button.danger.small data-call={ "/api/v1/templates/" (tid) } data-method="DELETE"
                        data-redirect="/templates" data-confirm={ "Delete templates " (tid) "?" } {
                        "Delete template"
                    }
                }
            }
        }
        div.panel {
            h2 { "Own strategies" }
            (table(
                &RULE_HEADERS,
                &rules_rows(&own, Kind::Strategy, &base, editor),
                "No strategies of its own.",
            ))
        }
        @if editor {
            (rule_form(Kind::Strategy, Some(tid), editing, &base))
        }
        div.panel {
            h2 { "Effective (with inherited)" }
            (eff)
        }
        @if let Some(f) = form { (f) }
    };
    Ok(page(
        &a,
        "/templates",
        &format!("Template {}", s(tpl, "name")),
        body,
    ))
}

/// `GET /expressions`.
pub(crate) async fn expressions(
    req: HttpRequest,
    st: web::Data<State>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let list = objects(&st, a.tenant.as_str(), Kind::Expression).await?;
    let editor = a.role >= Role::Editor;
    let refs: Vec<&Value> = list.iter().collect();
    let editing = e.edit.and_then(|x| list.iter().find(|r| id(r) == x));
    let body = html! {
        div.panel {
            p.small.muted {
                "An expression strategy applies to every series carrying its tags, whatever the host."
            }
            (table(
                &RULE_HEADERS,
                &rules_rows(&refs, Kind::Expression, "/expressions", editor),
                "No expression strategies.",
            ))
        }
        @if editor {
            (rule_form(Kind::Expression, None, editing, "/expressions"))
        }
    };
    Ok(page(&a, "/expressions", "Expression strategies", body))
}
