//! The console's pages. Each loads what it shows straight from the database (or alarm), scoped
//! to the session's tenant, and renders escaped HTML; changes go through the JSON API.

use super::{esc, login_page, page, redirect, session};
use crate::api::alarm::{call_json, enc};
use crate::api::kinds::{present, Kind};
use crate::auth::{session_cookie, Role};
use crate::model;
use crate::server::State;
use crate::store;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::strategy::{effective_strategies, EffectiveStrategy};
use argus_core::time::now_secs;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

type Page = Result<HttpResponse, actix_web::Error>;

macro_rules! auth {
    ($req:expr, $st:expr) => {
        match session(&$req, &$st).await {
            Ok(a) => a,
            Err(r) => return Ok(r),
        }
    };
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM` UTC.
pub fn fmt_time(ts: i64) -> String {
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

fn table(headers: &[&str], rows: &[String], empty: &str) -> String {
    if rows.is_empty() {
        return format!(r#"<p class="muted">{}</p>"#, esc(empty));
    }
    let th: String = headers
        .iter()
        .map(|h| format!("<th>{}</th>", esc(h)))
        .collect();
    format!(
        "<table><thead><tr>{th}</tr></thead><tbody>{}</tbody></table>",
        rows.concat()
    )
}

fn del_btn(path: &str, id: i64, editor: bool) -> String {
    if !editor {
        return String::new();
    }
    format!(
        r#"<button class="danger small" data-call="/api/v1/{path}/{id}" data-method="DELETE" data-confirm="Delete {path} {id}?">Delete</button>"#
    )
}

fn options(list: &[Value], selected: &[i64], empty: Option<&str>) -> String {
    let mut o = String::new();
    if let Some(e) = empty {
        o.push_str(&format!(r#"<option value="">{}</option>"#, esc(e)));
    }
    for v in list {
        let sel = if selected.contains(&id(v)) {
            " selected"
        } else {
            ""
        };
        o.push_str(&format!(
            r#"<option value="{}"{sel}>{}</option>"#,
            id(v),
            esc(&s(v, "name"))
        ));
    }
    o
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

fn prio(p: &Value) -> String {
    let n = p.as_u64().unwrap_or(2);
    let cls = match n {
        0 | 1 => "bad",
        2 => "warn",
        _ => "",
    };
    format!(r#"<span class="badge {cls}">P{n}</span>"#)
}

/// `?next=`.
#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login(q: web::Query<Next>) -> HttpResponse {
    // Only local paths: never an open redirect.
    let next = q
        .next
        .clone()
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/hosts".into());
    login_page(&next)
}

/// The logout form: the session's CSRF token, so that another site cannot log a user out.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /logout`: ends the session and returns to the login page.
pub async fn logout(
    req: HttpRequest,
    st: web::Data<State>,
    form: web::Form<LogoutForm>,
) -> HttpResponse {
    let Some(cookie) = session_cookie(&req) else {
        return redirect("/login");
    };
    let session = crate::auth::from_session(&st.db, &cookie).await;
    let Ok(Some(auth)) = session else {
        return redirect("/login");
    };
    let want = auth.csrf.as_deref().unwrap_or("");
    if want.is_empty() || !argus_core::auth::constant_time_eq(form.csrf.as_bytes(), want.as_bytes())
    {
        return HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("log out: missing or wrong CSRF token");
    }
    let _ = sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = $1")
        .bind(argus_core::auth::hash_token(&cookie))
        .execute(&st.db.pool)
        .await;
    let mut r = redirect("/login");
    if let Ok(v) = crate::auth::cookie_header("", 0, st.cfg.secure_cookies).parse() {
        r.headers_mut()
            .insert(actix_web::http::header::SET_COOKIE, v);
    }
    r
}

/// Host list filters.
#[derive(Deserialize)]
pub struct HostFilter {
    q: Option<String>,
    state: Option<String>,
    group: Option<i64>,
}

/// `GET /hosts`: filter by name, alive/dead and group.
pub async fn hosts(req: HttpRequest, st: web::Data<State>, f: web::Query<HostFilter>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let hosts = objects(&st, t, Kind::Host).await?;
    let groups = objects(&st, t, Kind::HostGroup).await?;
    let q = f.q.clone().unwrap_or_default();
    let state = f.state.clone().unwrap_or_default();
    let member = |g: &Value, h: &str| {
        g["hosts"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == h))
    };
    let mut rows = Vec::new();
    for h in &hosts {
        let name = s(h, "name");
        let alive = h["alive"].as_bool().unwrap_or(false);
        if !q.is_empty() && !name.contains(&q) {
            continue;
        }
        if (state == "alive" && !alive) || (state == "dead" && alive) {
            continue;
        }
        if let Some(gid) = f.group {
            if !groups.iter().any(|g| id(g) == gid && member(g, &name)) {
                continue;
            }
        }
        let gnames: Vec<String> = groups
            .iter()
            .filter(|g| member(g, &name))
            .map(|g| esc(&s(g, "name")))
            .collect();
        rows.push(format!(
            r#"<tr><td><a href="/hosts/{}">{}</a></td><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td><td class="muted">{}</td></tr>"#,
            id(h),
            esc(&name),
            if alive { r#"<span class="badge ok">alive</span>"# } else { r#"<span class="badge bad">dead</span>"# },
            esc(&ago(h["last_seen"].as_i64())),
            esc(&s(h, "agent_version")),
            gnames.join(", "),
            esc(&s(h, "note")),
        ));
    }
    let gsel = options(
        &groups,
        &f.group.into_iter().collect::<Vec<_>>(),
        Some("any group"),
    );
    let st_opt = |v: &str, l: &str| {
        format!(
            r#"<option value="{v}"{}>{l}</option>"#,
            if state == v { " selected" } else { "" }
        )
    };
    let mut body = format!(
        r#"<div class="panel"><form class="filters" method="get"><input name="q" placeholder="filter by name" value="{}">
<select name="state">{}{}{}</select><select name="group">{gsel}</select><button class="light">Filter</button></form>{}</div>"#,
        esc(&q),
        st_opt("", "alive and dead"),
        st_opt("alive", "alive"),
        st_opt("dead", "dead"),
        table(
            &["Host", "State", "Last seen", "Agent", "Groups", "Note"],
            &rows,
            "No hosts yet: start an agent with this tenant's agent token, or add one below."
        ),
    );
    if a.role >= Role::Editor {
        body.push_str(r#"<div class="panel"><h2>Add a host</h2><form class="inline" data-api="/api/v1/hosts">
<label>Name<input name="name" required></label><label>Note<input name="note"></label><button>Add</button><div class="err"></div></form></div>"#);
    }
    Ok(page(&a, "/hosts", "Hosts", &body))
}

/// Time range and extra metric of the host page.
#[derive(Deserialize)]
pub struct Range {
    range: Option<i64>,
    metric: Option<String>,
}

const RANGES: &[(i64, &str)] = &[
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (86_400, "24 hours"),
    (7 * 86_400, "7 days"),
];

fn chart(title: &str, query: &str) -> String {
    format!(
        r#"<div class="chart" data-query="{}"><h3>{}</h3><div class="body empty">loading…</div></div>"#,
        esc(query),
        esc(title)
    )
}

fn range_links(base: &str, range: i64) -> String {
    RANGES
        .iter()
        .map(|(r, l)| {
            if *r == range {
                format!("<b>{l}</b>")
            } else {
                format!(r#"<a href="{base}range={r}">{l}</a>"#)
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn strategies_table(eff: &[EffectiveStrategy], tnames: &HashMap<i64, String>) -> String {
    let rows: Vec<String> = eff
        .iter()
        .map(|e| {
            let from = e
                .template
                .map(|t| format!(r#"<a href="/templates/{t}">{}</a>"#, esc(tnames.get(&(t as i64)).map(String::as_str).unwrap_or("?"))))
                .unwrap_or_else(|| "expression".into());
            format!(
                r#"<tr><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td>{}</td><td>{from}</td></tr>"#,
                esc(&e.strategy.metric),
                esc(&e.strategy.tags.to_string()),
                esc(&e.strategy.condition),
                prio(&serde_json::json!(e.strategy.priority.level())),
            )
        })
        .collect();
    table(
        &["Metric", "Tags", "Condition", "Priority", "From template"],
        &rows,
        "No strategy applies: bind a template to one of the host's groups.",
    )
}

/// `GET /hosts/{id}`: details, effective strategies and charts over a chosen range.
pub async fn host(
    req: HttpRequest,
    st: web::Data<State>,
    path: web::Path<i64>,
    r: web::Query<Range>,
) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let Some(o) = store::get(&st.db, t, Kind::Host.path(), *path).await? else {
        return Ok(page(
            &a,
            "/hosts",
            "Host not found",
            r#"<p class="muted">No such host.</p>"#,
        ));
    };
    let h = present(Kind::Host, &o, st.cfg.host_dead_after_secs as i64);
    let name = s(&h, "name");
    let hb = h.get("heartbeat").cloned().unwrap_or(Value::Null);
    let range = r
        .range
        .filter(|x| *x > 0 && *x <= 30 * 86_400)
        .unwrap_or(3600);
    let now = now_secs();
    let q = |metric: &str| {
        format!(
            "endpoint={}&metric={}&start={}&end={}",
            enc(&name),
            enc(metric),
            now - range,
            now + 60
        )
    };
    let mut charts = String::new();
    for (title, metric) in [
        ("CPU busy %", "cpu.busy"),
        ("Memory used %", "mem.memused.percent"),
        ("Disk used %", "df.bytes.used.percent"),
        ("Disk I/O util %", "disk.io.util"),
        ("Network in (bytes/s)", "net.if.in.bytes"),
        ("Network out (bytes/s)", "net.if.out.bytes"),
    ] {
        charts.push_str(&chart(title, &q(metric)));
    }
    let extra = r.metric.clone().unwrap_or_default();
    if !extra.is_empty() {
        charts = format!("{}{charts}", chart(&extra, &q(&extra)));
    }
    let m = model::tenant_strategies(&st.db, &a.tenant).await?;
    let tnames: HashMap<i64, String> = m
        .templates
        .iter()
        .map(|t| (t.id as i64, t.name.clone()))
        .collect();
    let eff_html = match effective_strategies(&name, &m.host_groups, &m.templates) {
        Ok(eff) => strategies_table(&eff, &tnames),
        Err(e) => format!(r#"<p class="err">{}</p>"#, esc(&e.to_string())),
    };
    let groups: Vec<String> = m
        .host_groups
        .iter()
        .filter(|g| g.hosts.contains(&name))
        .map(|g| esc(&g.name))
        .collect();
    let alive = h["alive"].as_bool().unwrap_or(false);
    let body = format!(
        r#"<div class="panel"><table><tr><th>State</th><th>Last seen</th><th>Agent</th><th>OS / kernel</th><th>IP</th><th>CPUs</th><th>Memory</th><th>Groups</th></tr>
<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td>{} / {}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table></div>
<div class="panel"><h2>Charts</h2><form class="filters" method="get"><span class="muted">Range: {}</span>
<input type="hidden" name="range" value="{range}"><input name="metric" placeholder="any metric, e.g. proc.num" value="{}"><button class="light">Show</button></form>
<div class="charts">{charts}</div></div>
<div class="panel" id="strategies"><h2>Effective strategies</h2>{eff_html}</div>"#,
        if alive {
            r#"<span class="badge ok">alive</span>"#
        } else {
            r#"<span class="badge bad">dead</span>"#
        },
        esc(&ago(h["last_seen"].as_i64())),
        esc(&s(&h, "agent_version")),
        esc(&s(&hb, "os")),
        esc(&s(&hb, "kernel")),
        esc(&s(&hb, "ip")),
        esc(&s(&hb, "cpu_count")),
        esc(&hb["mem_total"]
            .as_u64()
            .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
            .unwrap_or_default()),
        groups.join(", "),
        range_links(&format!("/hosts/{}?metric={}&", *path, enc(&extra)), range),
        esc(&extra),
    );
    Ok(page(&a, "/hosts", &format!("Host {name}"), &body))
}

/// Metric explorer query.
#[derive(Deserialize)]
pub struct Explore {
    endpoint: Option<String>,
    metric: Option<String>,
    tags: Option<String>,
    range: Option<i64>,
}

/// `GET /explorer`: any metric of any host, by tags, over a range.
pub async fn explorer(req: HttpRequest, st: web::Data<State>, q: web::Query<Explore>) -> Page {
    let a = auth!(req, st);
    let endpoint = q.endpoint.clone().unwrap_or_default();
    let metric = q.metric.clone().unwrap_or_default();
    let tags = q.tags.clone().unwrap_or_default();
    let range = q
        .range
        .filter(|x| *x > 0 && *x <= 30 * 86_400)
        .unwrap_or(3600);
    let ropts: String = RANGES
        .iter()
        .map(|(r, l)| {
            format!(
                r#"<option value="{r}"{}>{l}</option>"#,
                if *r == range { " selected" } else { "" }
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel"><form class="filters" method="get"><input name="endpoint" placeholder="host (any)" value="{}">
<input name="metric" placeholder="metric, e.g. cpu.idle" value="{}" required><input name="tags" placeholder="tags k=v,k2=v2" value="{}">
<select name="range">{ropts}</select><button>Query</button></form></div>"#,
        esc(&endpoint),
        esc(&metric),
        esc(&tags)
    );
    if !metric.is_empty() {
        let now = now_secs();
        let mut qs = format!(
            "metric={}&start={}&end={}",
            enc(&metric),
            now - range,
            now + 60
        );
        if !endpoint.is_empty() {
            qs.push_str(&format!("&endpoint={}", enc(&endpoint)));
        }
        if !tags.is_empty() {
            qs.push_str(&format!("&tags={}", enc(&tags)));
        }
        body.push_str(&format!(
            r#"<div class="panel">{}</div>"#,
            chart(&metric, &qs)
        ));
    }
    Ok(page(&a, "/explorer", "Metric explorer", &body))
}

/// `GET /host_groups`.
pub async fn host_groups(req: HttpRequest, st: web::Data<State>, e: web::Query<Edit>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let groups = objects(&st, t, Kind::HostGroup).await?;
    let templates = objects(&st, t, Kind::Template).await?;
    let tn = names(&templates);
    let editor = a.role >= Role::Editor;
    let rows: Vec<String> = groups
        .iter()
        .map(|g| {
            let hosts: Vec<String> = g["hosts"].as_array().into_iter().flatten().filter_map(|h| h.as_str()).map(esc).collect();
            let tpls: Vec<String> = g["templates"].as_array().into_iter().flatten().filter_map(|x| x.as_i64())
                .map(|x| format!(r#"<a href="/templates/{x}">{}</a>"#, esc(tn.get(&x).map(String::as_str).unwrap_or("?")))).collect();
            let agent = &g["agent"];
            let n = |k: &str| agent[k].as_array().map(|x| x.len()).unwrap_or(0);
            format!(
                r#"<tr><td><a href="/hosts?group={}">{}</a></td><td>{}</td><td>{}</td><td class="small">{} plugins, {} log rules, {} probes</td><td class="right">{}{}</td></tr>"#,
                id(g), esc(&s(g, "name")), hosts.join(", "), tpls.join(", "), n("plugins"), n("log_rules"), n("probes"),
                if editor { format!(r#"<a href="/host_groups?edit={}">edit</a> "#, id(g)) } else { String::new() },
                del_btn("host_groups", id(g), editor)
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
        let editing = e.edit.and_then(|x| groups.iter().find(|g| id(g) == x));
        let (title, api, method, button) = match editing {
            Some(g) => (
                format!("Edit host group {}", esc(&s(g, "name"))),
                format!("/api/v1/host_groups/{}", id(g)),
                "PUT",
                "Save",
            ),
            None => (
                "New host group".to_string(),
                "/api/v1/host_groups".to_string(),
                "POST",
                "Create",
            ),
        };
        let g = editing.cloned().unwrap_or(Value::Null);
        let hosts: Vec<&str> = g["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str())
            .collect();
        let bound: Vec<i64> = g["templates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_i64())
            .collect();
        let agent = match g.get("agent") {
            Some(a) if !a.is_null() => a.to_string(),
            _ => String::new(),
        };
        body.push_str(&format!(
            r#"<div class="panel"><h2>{title}</h2><form class="inline" data-api="{api}" data-method="{method}" data-redirect="/host_groups">
<label>Name<input name="name" value="{}" required></label><label>Hosts (comma-separated)<input name="hosts" data-type="list" size="40" value="{}"></label>
<label>Templates<select name="templates" data-type="intlist" multiple size="3">{}</select></label>
<label>Agent config (JSON, optional)<textarea name="agent" data-type="json" rows="2" cols="36" placeholder='{{"plugins": [], "probes": []}}'>{}</textarea></label>
<button>{button}</button><div class="err"></div></form></div>"#,
            esc(&s(&g, "name")),
            esc(&hosts.join(", ")),
            options(&templates, &bound, None),
            esc(&agent),
        ));
    }
    Ok(page(&a, "/host_groups", "Host groups", &body))
}

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
pub struct HostQ {
    host: Option<String>,
}

/// `GET /templates`: the inheritance tree, a new-template form and a host's effective strategies.
pub async fn templates(req: HttpRequest, st: web::Data<State>, q: web::Query<HostQ>) -> Page {
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

/// `?edit=` strategy id.
#[derive(Deserialize)]
pub struct Edit {
    edit: Option<i64>,
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
<label>Note<input name="note" value="{}"></label>
<button>Save</button><div class="live muted">type a condition to check it</div><div class="err"></div></form>
<p class="small muted">Conditions: <code>all(#3) &gt; 90</code>, <code>max(#5) &gt;= 1 &amp;&amp; avg(#10) &gt; 70</code>, <code>diff(#2) &gt; 100</code>, <code>nodata(300)</code>.</p></div>"#,
        esc(redirect_to),
        esc(&s(&e, "metric")),
        esc(&tags_text(&e["tags"])),
        esc(&s(&e, "condition")),
        esc(&s(&e, "recovery")),
        e["max_alarms"].as_u64().unwrap_or(3),
        esc(&s(&e, "note")),
    )
}

fn rules_rows(rules: &[&Value], kind: Kind, base: &str, editor: bool) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            let edit = if editor { format!(r#"<a href="{base}?edit={}">edit</a> "#, id(r)) } else { String::new() };
            format!(
                r#"<tr><td>{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td>{}</td><td class="right">{edit}{}</td></tr>"#,
                id(r), esc(&s(r, "metric")), esc(&tags_text(&r["tags"])), esc(&s(r, "condition")), esc(&s(r, "recovery")), prio(&r["priority"]), del_btn(kind.path(), id(r), editor)
            )
        })
        .collect()
}

/// `GET /templates/{id}`: its strategies, the inherited ones, and the strategy editor.
pub async fn template(
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
    Ok(page(
        &a,
        "/templates",
        &format!("Template {}", s(tpl, "name")),
        &body,
    ))
}

/// `GET /expressions`.
pub async fn expressions(req: HttpRequest, st: web::Data<State>, e: web::Query<Edit>) -> Page {
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

/// `GET /contacts`.
pub async fn contacts(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = auth!(req, st);
    let list = objects(&st, a.tenant.as_str(), Kind::Contact).await?;
    let editor = a.role >= Role::Editor;
    let rows: Vec<String> = list
        .iter()
        .map(|c| format!(
            r#"<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td><td class="right">{}</td></tr>"#,
            esc(&s(c, "name")), esc(&s(c, "email")), esc(&s(c, "webhook_url")),
            if c["webhook_secret_set"].as_bool() == Some(true) { "signed" } else { "" },
            del_btn("contacts", id(c), editor)
        ))
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Name", "Email", "Webhook", "", ""],
            &rows,
            "No contacts yet."
        )
    );
    if editor {
        body.push_str(r#"<div class="panel"><h2>New contact</h2><form class="inline" data-api="/api/v1/contacts">
<label>Name<input name="name" required></label><label>Email<input name="email" type="email"></label>
<label>Webhook URL<input name="webhook_url" size="30"></label><label>Webhook secret<input name="webhook_secret" type="password" autocomplete="new-password"></label>
<label>Alertmanager format<input type="checkbox" name="webhook_alertmanager"></label><button>Create</button><div class="err"></div></form></div>"#);
    }
    Ok(page(&a, "/contacts", "Contacts", &body))
}

/// `GET /teams`.
pub async fn teams(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let list = objects(&st, t, Kind::Team).await?;
    let contacts = objects(&st, t, Kind::Contact).await?;
    let cn = names(&contacts);
    let tn = names(&list);
    let editor = a.role >= Role::Editor;
    let rows: Vec<String> = list
        .iter()
        .map(|m| {
            let members: Vec<String> = m["members"].as_array().into_iter().flatten().filter_map(|x| x.as_i64())
                .map(|x| esc(cn.get(&x).map(String::as_str).unwrap_or("?"))).collect();
            let esc_to = m["escalate_to"].as_i64().map(|x| esc(tn.get(&x).map(String::as_str).unwrap_or("?"))).unwrap_or_default();
            format!(
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}s</td><td class="right">{}</td></tr>"#,
                esc(&s(m, "name")), members.join(", "), esc_to, s(m, "escalate_after_secs"), del_btn("teams", id(m), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Team", "Members", "Escalates to", "After", ""],
            &rows,
            "No teams yet."
        )
    );
    if editor {
        body.push_str(&format!(
            r#"<div class="panel"><h2>New team</h2><form class="inline" data-api="/api/v1/teams">
<label>Name<input name="name" required></label><label>Members<select name="members" data-type="intlist" multiple size="3">{}</select></label>
<label>Escalate to<select name="escalate_to" data-type="int">{}</select></label><label>After (s)<input name="escalate_after_secs" data-type="int" value="900" size="6"></label>
<button>Create</button><div class="err"></div></form></div>"#,
            options(&contacts, &[], None),
            options(&list, &[], Some("(nobody)"))
        ));
    }
    Ok(page(&a, "/teams", "Teams", &body))
}

/// `GET /subscriptions`.
pub async fn subscriptions(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let list = objects(&st, t, Kind::Subscription).await?;
    let teams = objects(&st, t, Kind::Team).await?;
    let contacts = objects(&st, t, Kind::Contact).await?;
    let templates = objects(&st, t, Kind::Template).await?;
    let (mn, cn, tn) = (names(&teams), names(&contacts), names(&templates));
    let editor = a.role >= Role::Editor;
    let rows: Vec<String> = list
        .iter()
        .map(|x| {
            let tg = &x["target"];
            let target = match tg["kind"].as_str() {
                Some("priority") => format!("priority ≤ P{}", tg["max_priority"]),
                Some("template") => format!("template {}", esc(tn.get(&tg["template_id"].as_i64().unwrap_or(0)).map(String::as_str).unwrap_or("?"))),
                Some("strategy") => format!("strategy {}", tg["strategy_id"]),
                _ => "?".into(),
            };
            let who = match (x["team_id"].as_i64(), x["contact_id"].as_i64()) {
                (Some(t), _) => format!("team {}", esc(mn.get(&t).map(String::as_str).unwrap_or("?"))),
                (_, Some(c)) => format!("contact {}", esc(cn.get(&c).map(String::as_str).unwrap_or("?"))),
                _ => String::new(),
            };
            let ch: Vec<String> = x["channels"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).map(esc).collect();
            format!(
                r#"<tr><td>{target}</td><td>{who}</td><td>{}</td><td>{}</td><td class="right">{}</td></tr>"#,
                ch.join(", "), if x["send_recovery"].as_bool() == Some(true) { "yes" } else { "no" }, del_btn("subscriptions", id(x), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Matches", "Notifies", "Channels", "Recoveries", ""],
            &rows,
            "No subscriptions yet."
        )
    );
    if editor {
        body.push_str(&format!(
            r#"<div class="panel"><h2>New subscription</h2><form class="inline" data-api="/api/v1/subscriptions">
<label>Match<select name="target.kind"><option value="priority">priority at or above</option><option value="template">template</option><option value="strategy">strategy id</option></select></label>
<label>Priority<select name="target.max_priority" data-type="int"><option>0</option><option>1</option><option selected>2</option><option>3</option><option>4</option><option>5</option></select></label>
<label>Template<select name="target.template_id" data-type="int">{}</select></label><label>Strategy id<input name="target.strategy_id" data-type="int" size="5"></label>
<label>Team<select name="team_id" data-type="int">{}</select></label><label>or contact<select name="contact_id" data-type="int">{}</select></label>
<label>Channels<select name="channels" multiple size="2"><option selected>email</option><option>webhook</option></select></label>
<label>Recoveries<input type="checkbox" name="send_recovery" checked></label><button>Create</button><div class="err"></div></form></div>"#,
            options(&templates, &[], Some("")),
            options(&teams, &[], Some("")),
            options(&contacts, &[], Some(""))
        ));
    }
    Ok(page(&a, "/subscriptions", "Subscriptions", &body))
}

/// `GET /silences`.
pub async fn silences(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let list = objects(&st, t, Kind::Silence).await?;
    let groups = objects(&st, t, Kind::HostGroup).await?;
    let gn = names(&groups);
    let editor = a.role >= Role::Editor;
    let now = now_secs();
    let rows: Vec<String> = list
        .iter()
        .map(|x| {
            let m = &x["matcher"];
            let mut parts = Vec::new();
            if let Some(e) = m["endpoint"].as_str() { parts.push(format!("host {}", esc(e))); }
            if let Some(g) = m["host_group_id"].as_i64() { parts.push(format!("group {}", esc(gn.get(&g).map(String::as_str).unwrap_or("?")))); }
            if let Some(e) = m["metric"].as_str() { parts.push(format!("metric {}", esc(e))); }
            if let Some(e) = m["strategy_id"].as_i64() { parts.push(format!("strategy {e}")); }
            let tags = tags_text(&m["tags"]);
            if !tags.is_empty() { parts.push(format!("tags {}", esc(&tags))); }
            let (sa, ea) = (x["starts_at"].as_i64().unwrap_or(0), x["ends_at"].as_i64().unwrap_or(0));
            let state = if x["repeat_every_secs"].as_i64().is_some() { r#"<span class="badge warn">recurring</span>"# }
                else if now < sa { r#"<span class="badge">scheduled</span>"# } else if now < ea { r#"<span class="badge ok">active</span>"# } else { r#"<span class="badge">expired</span>"# };
            format!(
                r#"<tr><td>{}</td><td>{state}</td><td>{} → {}</td><td>{}</td><td>{}</td><td class="right">{}</td></tr>"#,
                parts.join(", "), fmt_time(sa), fmt_time(ea), esc(&s(x, "author")), esc(&s(x, "reason")), del_btn("silences", id(x), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Matches", "State", "Window (UTC)", "By", "Why", ""],
            &rows,
            "No silences."
        )
    );
    if editor {
        body.push_str(&format!(
            r#"<div class="panel"><h2>New silence</h2><form class="inline" data-api="/api/v1/silences">
<label>Host<input name="matcher.endpoint"></label><label>Host group<select name="matcher.host_group_id" data-type="int">{}</select></label>
<label>Metric<input name="matcher.metric"></label><label>Starts (UTC)<input name="starts_at" type="datetime-local" data-type="time" required></label>
<label>Ends (UTC)<input name="ends_at" type="datetime-local" data-type="time" required></label><label>Reason<input name="reason" required></label>
<button>Create</button><div class="err"></div></form></div>"#,
            options(&groups, &[], Some(""))
        ));
    }
    Ok(page(&a, "/silences", "Silences", &body))
}

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
pub async fn problems(req: HttpRequest, st: web::Data<State>) -> Page {
    events_page(req, st, true).await
}

/// `GET /history`: every alert's latest event.
pub async fn history(req: HttpRequest, st: web::Data<State>) -> Page {
    events_page(req, st, false).await
}

/// `?state=` of the deliveries page.
#[derive(Deserialize)]
pub struct DState {
    state: Option<String>,
}

/// `GET /deliveries`: notifications, dead letters and retry.
pub async fn deliveries(req: HttpRequest, st: web::Data<State>, q: web::Query<DState>) -> Page {
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

/// `GET /admin`: users and tokens (admins).
pub async fn admin(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = auth!(req, st);
    if a.role < Role::Admin {
        return Ok(page(
            &a,
            "/admin",
            "Users & tokens",
            r#"<p class="muted">Only the tenant's admins manage users and tokens.</p>"#,
        ));
    }
    let t = a.tenant.as_str();
    let users = sqlx::query("SELECT id, login, role FROM web_users WHERE tenant = $1 ORDER BY id")
        .bind(t)
        .fetch_all(&st.db.pool)
        .await
        .map_err(crate::db::db_err)?;
    use sqlx::Row;
    let urows: Vec<String> = users.iter().map(|r| {
        let uid: i64 = r.try_get("id").unwrap_or(0);
        format!(r#"<tr><td>{}</td><td>{}</td><td class="right"><button class="danger small" data-call="/api/v1/users/{uid}" data-method="DELETE" data-confirm="Delete this user?">Delete</button></td></tr>"#,
            esc(&r.try_get::<String, _>("login").unwrap_or_default()), esc(&r.try_get::<String, _>("role").unwrap_or_default()))
    }).collect();
    let toks = sqlx::query(
        "SELECT id, kind, name, role, created_at FROM web_tokens WHERE tenant = $1 ORDER BY id",
    )
    .bind(t)
    .fetch_all(&st.db.pool)
    .await
    .map_err(crate::db::db_err)?;
    let trows: Vec<String> = toks.iter().map(|r| {
        let tid: i64 = r.try_get("id").unwrap_or(0);
        format!(r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="right"><button class="danger small" data-call="/api/v1/tokens/{tid}" data-method="DELETE" data-confirm="Revoke this token?">Revoke</button></td></tr>"#,
            esc(&r.try_get::<String, _>("name").unwrap_or_default()), esc(&r.try_get::<String, _>("kind").unwrap_or_default()),
            esc(&r.try_get::<String, _>("role").unwrap_or_default()), fmt_time(r.try_get::<i64, _>("created_at").unwrap_or(0)))
    }).collect();
    let body = format!(
        r#"<div class="grid2"><div class="panel"><h2>Users</h2>{}<form class="inline" data-api="/api/v1/users" style="margin-top:10px">
<label>Login<input name="login" required></label><label>Password<input name="password" type="password" autocomplete="new-password" required></label>
<label>Role<select name="role"><option>viewer</option><option>editor</option><option>admin</option></select></label><button>Add</button><div class="err"></div></form></div>
<div class="panel"><h2>Tokens</h2>{}<form class="inline" data-api="/api/v1/tokens" data-show="New token (shown once, copy it now):" style="margin-top:10px">
<label>Name<input name="name" required></label><label>Kind<select name="kind"><option value="agent">agent</option><option value="api">api</option></select></label>
<label>Role (api)<select name="role"><option>viewer</option><option>editor</option><option>admin</option></select></label><button>Create</button><div class="err"></div><div class="okmsg mono"></div></form></div></div>"#,
        table(&["Login", "Role", ""], &urows, "No users."),
        table(
            &["Name", "Kind", "Role", "Created (UTC)", ""],
            &trows,
            "No tokens."
        ),
    );
    let mut body = body;
    if a.platform_admin {
        let trows: Vec<String> = store::tenants(&st.db)
            .await?
            .iter()
            .map(|t| {
                let del = if t.id == a.tenant.as_str() {
                    String::new()
                } else {
                    format!(r#"<button class="danger small" data-call="/api/v1/tenants/{}" data-method="DELETE" data-confirm="Delete tenant {} and everything it owns?">Delete</button>"#, esc(&t.id), esc(&t.id))
                };
                format!(r#"<tr><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="right">{del}</td></tr>"#,
                    esc(&t.id), esc(&t.name), t.version, fmt_time(t.created_at))
            })
            .collect();
        body.push_str(&format!(
            r#"<div class="panel"><h2>Tenants (platform admin)</h2>{}<form class="inline" data-api="/api/v1/tenants" style="margin-top:10px">
<label>Id<input name="id" required placeholder="team-db"></label><label>Name<input name="name"></label>
<label>First admin login<input name="admin_login"></label><label>Password<input name="admin_password" type="password" autocomplete="new-password"></label>
<button>Create</button><div class="err"></div></form></div>"#,
            table(&["Id", "Name", "Config version", "Created (UTC)", ""], &trows, "No tenants.")
        ));
    }
    Ok(page(&a, "/admin", "Users & tokens", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00");
        assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13");
    }

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(
            super::super::esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
