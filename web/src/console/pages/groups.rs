//! Host groups: members, bound templates and the agent configuration they carry. Rendered with
//! maud from [`GroupRow`] and [`GroupForm`], which escapes every value.

use super::*;

/// One line of the list, from a stored host group.
struct GroupRow {
    id: i64,
    name: String,
    hosts: Vec<String>,
    /// The membership rules as written (JSON), when there are any.
    rules: Option<String>,
    /// Bound templates: id and name.
    templates: Vec<(i64, String)>,
    plugins: usize,
    log_rules: usize,
    probes: usize,
}

impl GroupRow {
    fn of(g: &Value, template_names: &HashMap<i64, String>) -> GroupRow {
        let n = |k: &str| g["agent"][k].as_array().map(|x| x.len()).unwrap_or(0);
        GroupRow {
            id: id(g),
            name: s(g, "name"),
            hosts: g["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h.as_str().map(String::from))
                .collect(),
            rules: g["rules"]
                .as_array()
                .filter(|r| !r.is_empty())
                .map(|r| Value::Array(r.clone()).to_string()),
            templates: g["templates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_i64())
                .map(|x| {
                    let name = template_names.get(&x).map(String::as_str).unwrap_or("?");
                    (x, name.to_string())
                })
                .collect(),
            plugins: n("plugins"),
            log_rules: n("log_rules"),
            probes: n("probes"),
        }
    }

    fn render(&self, editor: bool) -> Markup {
        html! {
            tr {
                td { a href={ "/hosts?group=" (self.id) } { (self.name) } }
                td {
                    @for (i, h) in self.hosts.iter().enumerate() {
                        @if i > 0 { ", " }
                        (h)
                    }
                    // Rules shown as written; the hosts they took are on the hosts page (?group=).
                    @if let Some(r) = &self.rules {
                        @if !self.hosts.is_empty() { ", " }
                        span.muted.mono { "by rule: " (r) }
                    }
                }
                td {
                    @for (i, (t, name)) in self.templates.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ "/templates/" (t) } { (name) }
                    }
                }
                td.small {
                    (self.plugins) " plugins, " (self.log_rules) " log rules, " (self.probes) " probes"
                }
                td.right { (row_actions("/host_groups", "host_groups", self.id, editor)) }
            }
        }
    }
}

/// The create-or-edit form's fields, from the edited group (empty for a new one).
struct GroupForm {
    name: String,
    hosts: String,
    /// Membership rules as JSON, empty when none.
    rules: String,
    templates: Vec<i64>,
    /// The agent configuration as JSON, empty when none.
    agent: String,
}

impl GroupForm {
    fn of(f: &FormTarget) -> GroupForm {
        let hosts: Vec<&str> = f.object["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str())
            .collect();
        GroupForm {
            name: f.raw("name"),
            hosts: hosts.join(", "),
            rules: match f.object.get("rules") {
                Some(r) if r.as_array().is_some_and(|r| !r.is_empty()) => r.to_string(),
                _ => String::new(),
            },
            templates: f.ids("templates"),
            agent: match f.object.get("agent") {
                Some(a) if !a.is_null() => a.to_string(),
                _ => String::new(),
            },
        }
    }

    fn render(&self, templates: &[Value]) -> Markup {
        html! {
            label { "Name" input name="name" value=(self.name) required; }
            label {
                "Hosts (comma-separated)"
                input name="hosts" data-type="list" size="40" value=(self.hosts);
            }
            label {
                "Members by rule (JSON, optional)"
                textarea name="rules" data-type="json" rows="2" cols="36"
                    placeholder=r#"[{"tags": {"env": "prod"}}, {"name": "web-*", "cidr": "10.0.0.0/8"}]"# {
                    (self.rules)
                }
            }
            label {
                "Templates"
                select name="templates" data-type="intlist" multiple size="3" {
                    (options(templates, &self.templates, None))
                }
            }
            label {
                "Agent config (JSON, optional)"
                textarea name="agent" data-type="json" rows="2" cols="36"
                    placeholder=r#"{"plugins": [], "probes": []}"# {
                    (self.agent)
                }
            }
        }
    }
}

/// `GET /host_groups`.
pub(crate) async fn host_groups(
    req: HttpRequest,
    st: web::Data<State>,
    e: web::Query<Edit>,
) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let groups = objects(&st, t, Kind::HostGroup).await?;
    let templates = objects(&st, t, Kind::Template).await?;
    let tn = names(&templates);
    let editor = a.role >= Role::Editor;
    let rows: Vec<Markup> = groups
        .iter()
        .map(|g| GroupRow::of(g, &tn).render(editor))
        .collect();
    let form = editor.then(|| {
        let f = FormTarget::of(Kind::HostGroup, &groups, e.edit);
        f.form("/host_groups", GroupForm::of(&f).render(&templates))
    });
    let body = html! {
        div.panel {
            (table(&["Group", "Hosts", "Templates", "Agent", ""], &rows, "No host groups yet."))
        }
        @if let Some(f) = form { (f) }
    };
    Ok(page(&a, "/host_groups", "Host groups", body))
}
