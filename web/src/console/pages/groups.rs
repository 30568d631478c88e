//! Host groups: members, bound templates and the agent configuration they carry.

use super::*;

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
    let rows: Vec<String> = groups
        .iter()
        .map(|g| {
            let mut hosts: Vec<String> = g["hosts"].as_array().into_iter().flatten().filter_map(|h| h.as_str()).map(esc).collect();
            // Rules shown as written; the hosts they took are on the hosts page (?group=).
            if let Some(r) = g["rules"].as_array().filter(|r| !r.is_empty()) {
                hosts.push(format!(r#"<span class="muted mono">by rule: {}</span>"#, esc(&Value::Array(r.clone()).to_string())));
            }
            let tpls: Vec<String> = g["templates"].as_array().into_iter().flatten().filter_map(|x| x.as_i64())
                .map(|x| format!(r#"<a href="/templates/{x}">{}</a>"#, esc(tn.get(&x).map(String::as_str).unwrap_or("?")))).collect();
            let agent = &g["agent"];
            let n = |k: &str| agent[k].as_array().map(|x| x.len()).unwrap_or(0);
            format!(
                r#"<tr><td><a href="/hosts?group={}">{}</a></td><td>{}</td><td>{}</td><td class="small">{} plugins, {} log rules, {} probes</td><td class="right">{}</td></tr>"#,
                id(g), esc(&s(g, "name")), hosts.join(", "), tpls.join(", "), n("plugins"), n("log_rules"), n("probes"),
                row_actions("/host_groups", "host_groups", id(g), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Group", "Hosts", "Templates", "Agent", ""],
            &rows,
            "No host groups yet."
        )
    );
    if editor {
        let f = FormTarget::of(Kind::HostGroup, &groups, e.edit);
        let hosts: Vec<&str> = f.object["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str())
            .collect();
        let rules = match f.object.get("rules") {
            Some(r) if r.as_array().is_some_and(|r| !r.is_empty()) => r.to_string(),
            _ => String::new(),
        };
        let agent = match f.object.get("agent") {
            Some(a) if !a.is_null() => a.to_string(),
            _ => String::new(),
        };
        body.push_str(&format!(
            r#"{}
<label>Name<input name="name" value="{}" required></label><label>Hosts (comma-separated)<input name="hosts" data-type="list" size="40" value="{}"></label>
<label>Members by rule (JSON, optional)<textarea name="rules" data-type="json" rows="2" cols="36" placeholder='[{{"tags": {{"env": "prod"}}}}, {{"name": "web-*", "cidr": "10.0.0.0/8"}}]'>{}</textarea></label>
<label>Templates<select name="templates" data-type="intlist" multiple size="3">{}</select></label>
<label>Agent config (JSON, optional)<textarea name="agent" data-type="json" rows="2" cols="36" placeholder='{{"plugins": [], "probes": []}}'>{}</textarea></label>
{}"#,
            f.open("/host_groups"),
            f.text("name"),
            esc(&hosts.join(", ")),
            esc(&rules),
            options(&templates, &f.ids("templates"), None),
            esc(&agent),
            f.close("/host_groups"),
        ));
    }
    Ok(page(&a, "/host_groups", "Host groups", &body))
}
