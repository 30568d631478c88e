//! Templates (the inheritance tree, one template's own and inherited strategies) and
//! expression strategies.

use super::*;

fn tree(templates: &[Value], parent: Option<i64>, depth: usize) -> String {
    if depth > 20 {
        return String::new();
    }
    let kids: Vec<&Value> = templates
        .iter()
        .filter(|t| t["parent"].as_i64() == parent)
        .collect();
    if kids.is_empty() {
        return String::new();
    }
    let mut o = String::from(if depth == 0 {
        r#"<ul class="tree">"#
    } else {
        "<ul>"
    });
    for k in kids {
        o.push_str(&format!(
            r#"<li><a href="/templates/{}">{}</a>{}</li>"#,
            id(k),
            esc(&s(k, "name")),
            tree(templates, Some(id(k)), depth + 1)
        ));
    }
    o.push_str("</ul>");
    o
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
    let mut body = format!(
        r#"<div class="grid2"><div class="panel"><h2>Inheritance</h2>{}</div>"#,
        if templates.is_empty() {
            r#"<p class="muted">No templates yet.</p>"#.to_string()
        } else {
            tree(&templates, None, 0)
        }
    );
    if a.role >= Role::Editor {
        body.push_str(&format!(
            r#"<div class="panel"><h2>New template</h2><form class="inline" data-api="/api/v1/templates" data-redirect="/templates">
<label>Name<input name="name" required></label><label>Parent<select name="parent" data-type="int">{}</select></label>
<button>Create</button><div class="err"></div></form></div>"#,
            options(&templates, &[], Some("(none)"))
        ));
    }
    body.push_str("</div>");
    let host = q.host.clone().unwrap_or_default();
    let hopts: String = hosts
        .iter()
        .map(|h| {
            let n = s(h, "name");
            format!(
                r#"<option{}>{}</option>"#,
                if n == host { " selected" } else { "" },
                esc(&n)
            )
        })
        .collect();
    let mut eff_html = String::new();
    if !host.is_empty() {
        let m = model::tenant_strategies(&st.db, &a.tenant).await?;
        let tn: HashMap<i64, String> = m
            .templates
            .iter()
            .map(|t| (t.id as i64, t.name.clone()))
            .collect();
        eff_html = match effective_strategies(&host, &m.host_groups, &m.templates) {
            Ok(e) => strategies_table(&e, &tn),
            Err(e) => format!(r#"<p class="err">{}</p>"#, esc(&e.to_string())),
        };
    }
    body.push_str(&format!(
        r#"<div class="panel"><h2>Effective strategies of a host</h2><form class="filters" method="get"><select name="host">{hopts}</select><button class="light">Show</button></form>{eff_html}</div>"#
    ));
    Ok(page(&a, "/templates", "Templates", &body))
}

fn rule_form(
    kind: Kind,
    template: Option<i64>,
    editing: Option<&Value>,
    redirect_to: &str,
) -> String {
    let e = editing.cloned().unwrap_or(Value::Null);
    let (api, method, title) = match editing {
        Some(v) => (
            format!("/api/v1/{}/{}", kind.path(), id(v)),
            "PUT",
            "Edit strategy",
        ),
        None => (format!("/api/v1/{}", kind.path()), "POST", "New strategy"),
    };
    let p = e["priority"].as_u64().unwrap_or(2);
    let popts: String = (0..=5)
        .map(|i| {
            format!(
                r#"<option value="{i}"{}>P{i}</option>"#,
                if i == p { " selected" } else { "" }
            )
        })
        .collect();
    let hidden = template
        .map(|t| format!(r#"<input type="hidden" name="template_id" data-type="int" value="{t}">"#))
        .unwrap_or_default();
    format!(
        r#"<div class="panel"><h2>{title}</h2><form class="inline" id="strategy-form" data-api="{api}" data-method="{method}" data-validate="/api/v1/strategies/validate" data-redirect="{}">{hidden}
<label>Metric<input name="metric" value="{}" required placeholder="cpu.idle"></label>
<label>Tags<input name="tags" value="{}" placeholder="k=v,k2=v2"></label>
<label>Condition<input name="condition" value="{}" required size="26" placeholder="all(#3) > 90"></label>
<label>Recovery<input name="recovery" value="{}" size="18" placeholder="all(#3) < 80"></label>
<label>Priority<select name="priority" data-type="int">{popts}</select></label>
<label>Max alarms<input name="max_alarms" data-type="int" value="{}" size="3"></label>
<label title="seconds the condition must hold before the PROBLEM">For (s)<input name="for_secs" data-type="int" value="{}" size="4" placeholder="0"></label>
<label>Note<input name="note" value="{}"></label>
<button>Save</button><div class="live muted">type a condition to check it</div><div class="err"></div></form>
<p class="small muted">Conditions: <code>all(#3) &gt; 90</code>, <code>max(#5) &gt;= 1 &amp;&amp; avg(#10) &gt; 70</code>, <code>diff(#2) &gt; 100</code>, <code>nodata(300)</code>.</p></div>"#,
        esc(redirect_to),
        esc(&s(&e, "metric")),
        esc(&tags_text(&e["tags"])),
        esc(&s(&e, "condition")),
        esc(&s(&e, "recovery")),
        e["max_alarms"].as_u64().unwrap_or(3),
        e["for_secs"].as_u64().unwrap_or(0),
        esc(&s(&e, "note")),
    )
}

/// A strategy's `for_secs` as shown in its row (empty when it has none).
fn for_text(v: &Value) -> String {
    match v.as_u64() {
        Some(n) if n > 0 => format!("{n} s"),
        _ => String::new(),
    }
}

fn rules_rows(rules: &[&Value], kind: Kind, base: &str, editor: bool) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            let edit = if editor { format!(r#"<a href="{base}?edit={}">edit</a> "#, id(r)) } else { String::new() };
            format!(
                r#"<tr><td>{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td class="right">{edit}{}</td></tr>"#,
                id(r), esc(&s(r, "metric")), esc(&tags_text(&r["tags"])), esc(&s(r, "condition")), esc(&s(r, "recovery")), for_text(&r["for_secs"]), prio(&r["priority"]), del_btn(kind.path(), id(r), editor)
            )
        })
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
            r#"<p class="muted">No such template.</p>"#,
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
    let lineage: Vec<String> = chain
        .iter()
        .map(|p| {
            format!(
                r#"<a href="/templates/{p}">{}</a>"#,
                esc(tn.get(p).map(String::as_str).unwrap_or("?"))
            )
        })
        .collect();
    let m = model::tenant_strategies(&st.db, &a.tenant).await?;
    let mtn: HashMap<i64, String> = m
        .templates
        .iter()
        .map(|t| (t.id as i64, t.name.clone()))
        .collect();
    let eff = argus_core::strategy::template_strategies(&m.templates, tid as u64)
        .map(|e| strategies_table(&e, &mtn))
        .unwrap_or_else(|e| format!(r#"<p class="err">{}</p>"#, esc(&e.to_string())));
    let base = format!("/templates/{tid}");
    let mut body = format!(
        r#"<div class="panel"><b>Inherits from:</b> {} {}</div>
<div class="panel"><h2>Own strategies</h2>{}</div>"#,
        if lineage.is_empty() {
            "nothing (a root template)".to_string()
        } else {
            lineage.join(" → ")
        },
        if editor {
            format!(
                r#"<span class="right">{}</span>"#,
                del_btn("templates", tid, true)
                    .replace("data-confirm", r#"data-redirect="/templates" data-confirm"#)
                    .replace(">Delete<", ">Delete template<")
            )
        } else {
            String::new()
        },
        table(
            &[
                "Id",
                "Metric",
                "Tags",
                "Condition",
                "Recovery",
                "For",
                "Priority",
                ""
            ],
            &rules_rows(&own, Kind::Strategy, &base, editor),
            "No strategies of its own."
        ),
    );
    if editor {
        let editing = e
            .edit
            .and_then(|x| own.iter().find(|r| id(r) == x).copied());
        body.push_str(&rule_form(Kind::Strategy, Some(tid), editing, &base));
    }
    body.push_str(&format!(
        r#"<div class="panel"><h2>Effective (with inherited)</h2>{eff}</div>"#
    ));
    if editor {
        // Rename or move in the tree; a parent that would make a cycle is refused by the API.
        let mut f = FormTarget::of(Kind::Template, &templates, Some(tid));
        f.cancel = false;
        let others: Vec<Value> = templates.iter().filter(|x| id(x) != tid).cloned().collect();
        let parent: Vec<i64> = tpl["parent"].as_i64().into_iter().collect();
        body.push_str(&format!(
            r#"{}
<label>Name<input name="name" value="{}" required></label><label>Parent<select name="parent" data-type="int">{}</select></label>{}"#,
            f.open(&base),
            f.text("name"),
            options(&others, &parent, Some("(none)")),
            f.close(&base),
        ));
    }
    Ok(page(
        &a,
        "/templates",
        &format!("Template {}", s(tpl, "name")),
        &body,
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
    let mut body = format!(
        r#"<div class="panel"><p class="small muted">An expression strategy applies to every series carrying its tags, whatever the host.</p>{}</div>"#,
        table(
            &[
                "Id",
                "Metric",
                "Tags",
                "Condition",
                "Recovery",
                "For",
                "Priority",
                ""
            ],
            &rules_rows(&refs, Kind::Expression, "/expressions", editor),
            "No expression strategies."
        )
    );
    if editor {
        let editing = e.edit.and_then(|x| list.iter().find(|r| id(r) == x));
        body.push_str(&rule_form(Kind::Expression, None, editing, "/expressions"));
    }
    Ok(page(&a, "/expressions", "Expression strategies", &body))
}
