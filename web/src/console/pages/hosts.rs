//! Hosts: the list with filters, one host's charts and effective strategies, and the metric
//! explorer.

use super::*;

/// Host list filters.
#[derive(Deserialize)]
pub(crate) struct HostFilter {
    q: Option<String>,
    state: Option<String>,
    group: Option<i64>,
}

/// One line of the hosts list, from a stored host (the API form: liveness added).
struct HostRow {
    id: i64,
    name: String,
    alive: bool,
    last_seen: Option<i64>,
    agent_version: String,
    tags: String,
    /// Its groups' names, listed and by rule.
    groups: Vec<String>,
    note: String,
}

impl HostRow {
    fn render(&self) -> Markup {
        html! {
            tr {
                td { a href={ "/hosts/" (self.id) } { (self.name) } }
                td {
                    @if self.alive {
                        span.badge.ok { "alive" }
                    } @else {
                        span.badge.bad { "dead" }
                    }
                }
                td { (ago(self.last_seen)) }
                td.mono { (self.agent_version) }
                td.mono { (self.tags) }
                td { (self.groups.join(", ")) }
                td.muted { (self.note) }
            }
        }
    }
}

/// `GET /hosts`: filter by name, alive/dead and group.
pub(crate) async fn hosts(
    req: HttpRequest,
    st: web::Data<State>,
    f: web::Query<HostFilter>,
) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let hosts = objects(&st, t, Kind::Host).await?;
    let groups = objects(&st, t, Kind::HostGroup).await?;
    let q = f.q.clone().unwrap_or_default();
    let state = f.state.clone().unwrap_or_default();
    // Members listed and by rule, as the judges and agents get them.
    let m = model::tenant_strategies(&st.db, &a.tenant).await?;
    let member = |g: &Value, h: &str| {
        m.host_groups
            .iter()
            .any(|x| x.id as i64 == id(g) && x.hosts.iter().any(|n| n == h))
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
        let row = HostRow {
            id: id(h),
            groups: groups
                .iter()
                .filter(|g| member(g, &name))
                .map(|g| s(g, "name"))
                .collect(),
            name,
            alive,
            last_seen: h["last_seen"].as_i64(),
            agent_version: s(h, "agent_version"),
            tags: tag_list(&h["tags"]),
            note: s(h, "note"),
        };
        rows.push(row.render());
    }
    let group: Vec<i64> = f.group.into_iter().collect();
    let states = [("", "alive and dead"), ("alive", "alive"), ("dead", "dead")];
    let body = html! {
        div.panel {
            form.filters method="get" {
                input name="q" placeholder="filter by name" value=(q);
                select name="state" { (choices_m(&states, &state)) }
                select name="group" { (options_m(&groups, &group, Some("any group"))) }
                button.light { "Filter" }
            }
            (table_m(
                &["Host", "State", "Last seen", "Agent", "Tags", "Groups", "Note"],
                &rows,
                "No hosts yet: start an agent with this tenant's agent token, or add one below.",
            ))
        }
        @if a.role >= Role::Editor {
            div.panel {
                h2 { "Add a host" }
                form.inline data-api="/api/v1/hosts" {
                    label { "Name" input name="name" required; }
                    label { "Note" input name="note"; }
                    button { "Add" }
                    div.err {}
                }
            }
        }
    };
    Ok(page(&a, "/hosts", "Hosts", &body.into_string()))
}

/// Time range and extra metric of the host page.
#[derive(Deserialize)]
pub(crate) struct Range {
    range: Option<i64>,
    metric: Option<String>,
}

const RANGES: &[(i64, &str)] = &[
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (86_400, "24 hours"),
    (7 * 86_400, "7 days"),
];

/// A chart of a PromQL query over the last `range` seconds, drawn by console.js through
/// `/prometheus/api/v1/query_range`.
fn chart(title: &str, promql: &str, range: i64) -> String {
    format!(
        r#"<div class="chart" data-promql="{}" data-range="{range}"><h3>{}</h3><div class="body empty">loading…</div></div>"#,
        esc(promql),
        esc(title)
    )
}

/// `s` as a PromQL string literal.
fn promql_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A selector for `metric` with equality matchers: falcon names with dots are reached through
/// `__name__`.
fn selector(metric: &str, labels: &[(&str, &str)]) -> String {
    let mut parts = vec![format!("__name__={}", promql_str(metric))];
    parts.extend(labels.iter().map(|(k, v)| format!("{k}={}", promql_str(v))));
    format!("{{{}}}", parts.join(", "))
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

/// `GET /hosts/{id}`: details, effective strategies and charts over a chosen range.
pub(crate) async fn host(
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
    let q = |metric: &str| selector(metric, &[("endpoint", &name)]);
    let mut charts = String::new();
    for (title, metric) in [
        ("CPU busy %", "cpu.busy"),
        ("Memory used %", "mem.memused.percent"),
        ("Disk used %", "df.bytes.used.percent"),
        ("Disk I/O util %", "disk.io.util"),
        ("Network in (bytes/s)", "net.if.in.bytes"),
        ("Network out (bytes/s)", "net.if.out.bytes"),
    ] {
        charts.push_str(&chart(title, &q(metric), range));
    }
    let extra = r.metric.clone().unwrap_or_default();
    if !extra.is_empty() {
        charts = format!("{}{charts}", chart(&extra, &q(&extra), range));
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
        r#"<div class="panel"><table><tr><th>State</th><th>Last seen</th><th>Agent</th><th>OS / kernel</th><th>IP</th><th>CPUs</th><th>Memory</th><th>Tags</th><th>Groups</th></tr>
<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td>{} / {}</td><td class="mono">{}</td><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td></tr></table></div>
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
        esc(&tag_list(&h["tags"])),
        groups.join(", "),
        range_links(&format!("/hosts/{}?metric={}&", *path, enc(&extra)), range),
        esc(&extra),
    );
    Ok(page(&a, "/hosts", &format!("Host {name}"), &body))
}

/// The tags an agent reported, as `k=v, k2=v2`.
fn tag_list(tags: &Value) -> String {
    tags.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Metric explorer query: PromQL, or (links from earlier versions) one metric of a host.
#[derive(Deserialize)]
pub(crate) struct Explore {
    query: Option<String>,
    endpoint: Option<String>,
    metric: Option<String>,
    tags: Option<String>,
    range: Option<i64>,
}

/// `GET /explorer`: any PromQL query over a range, with completion of metric names, label
/// names and label values.
pub(crate) async fn explorer(
    req: HttpRequest,
    st: web::Data<State>,
    q: web::Query<Explore>,
) -> Page {
    let a = auth!(req, st);
    let mut query = q.query.clone().unwrap_or_default();
    if query.trim().is_empty() {
        if let Some(metric) = q.metric.as_deref().filter(|m| !m.is_empty()) {
            let mut labels: Vec<(String, String)> = Vec::new();
            if let Some(e) = q.endpoint.as_deref().filter(|e| !e.is_empty()) {
                labels.push(("endpoint".into(), e.into()));
            }
            for pair in q.tags.as_deref().unwrap_or("").split(',') {
                if let Some((k, v)) = pair.split_once('=') {
                    labels.push((k.trim().into(), v.trim().into()));
                }
            }
            let refs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            query = selector(metric, &refs);
        }
    }
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
        r#"<div class="panel"><form class="filters promql" method="get" autocomplete="off"><div class="complete"><input name="query" class="mono" placeholder='PromQL, e.g. sum by (endpoint) ({{__name__="cpu.busy"}})' value="{}" data-promql-complete="promql-suggestions" required><ul id="promql-suggestions" class="suggestions"></ul></div>
<select name="range">{ropts}</select><button>Query</button></form>
<p class="muted">PromQL over this tenant's series: <code>__name__</code> is the metric (falcon names with dots: <code>{{__name__="cpu.idle"}}</code>), <code>endpoint</code> the host, tags are labels.</p></div>"#,
        esc(&query),
    );
    if !query.trim().is_empty() {
        body.push_str(&format!(
            r#"<div class="panel">{}</div>"#,
            chart(&query, &query, range)
        ));
    }
    Ok(page(&a, "/explorer", "Metric explorer", &body))
}
