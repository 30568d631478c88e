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
                td { (alive_badge(self.alive)) }
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
                select name="state" { (choices(&states, &state)) }
                select name="group" { (options(&groups, &group, Some("any group"))) }
                button.light { "Filter" }
            }
            (table(
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
    Ok(page(&a, "/hosts", "Hosts", body))
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
fn chart(title: &str, promql: &str, range: i64) -> Markup {
    html! {
        div.chart data-promql=(promql) data-range=(range) {
            h3 { (title) }
            div.body.empty { "loading…" }
        }
    }
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

/// The host page's range choices, `range` the current one, each link keeping `metric`.
fn range_links(host: i64, metric: &str, range: i64) -> Markup {
    html! {
        @for (i, (r, l)) in RANGES.iter().enumerate() {
            @if i > 0 {
                " · "
            }
            @if *r == range {
                b { (l) }
            } @else {
                a href={ "/hosts/" (host) "?metric=" (enc(metric)) "&range=" (r) } { (l) }
            }
        }
    }
}

/// What the host page shows of a host above its charts: its state and the facts of its last
/// heartbeat.
struct HostDetails {
    alive: bool,
    last_seen: Option<i64>,
    agent_version: String,
    os: String,
    kernel: String,
    ip: String,
    cpu_count: String,
    /// Total memory, readable (`15.5 GiB`), empty when not reported.
    memory: String,
    tags: String,
    /// The names of the groups that list it.
    groups: Vec<String>,
}

impl HostDetails {
    /// From the host as the API presents it (liveness added).
    fn of(h: &Value, groups: Vec<String>) -> HostDetails {
        let hb = h.get("heartbeat").unwrap_or(&NO_OBJECT);
        HostDetails {
            alive: h["alive"].as_bool().unwrap_or(false),
            last_seen: h["last_seen"].as_i64(),
            agent_version: s(h, "agent_version"),
            os: s(hb, "os"),
            kernel: s(hb, "kernel"),
            ip: s(hb, "ip"),
            cpu_count: s(hb, "cpu_count"),
            memory: hb["mem_total"]
                .as_u64()
                .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
                .unwrap_or_default(),
            tags: tag_list(&h["tags"]),
            groups,
        }
    }

    fn render(&self) -> Markup {
        html! {
            div.panel {
                table {
                    tr {
                        @for h in ["State", "Last seen", "Agent", "OS / kernel", "IP", "CPUs", "Memory", "Tags", "Groups"] {
                            th { (h) }
                        }
                    }
                    tr {
                        td { (alive_badge(self.alive)) }
                        td { (ago(self.last_seen)) }
                        td.mono { (self.agent_version) }
                        td { (self.os) " / " (self.kernel) }
                        td.mono { (self.ip) }
                        td { (self.cpu_count) }
                        td { (self.memory) }
                        td.mono { (self.tags) }
                        td { (self.groups.join(", ")) }
                    }
                }
            }
        }
    }
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
        let body = html! { p.muted { "No such host." } };
        return Ok(page(&a, "/hosts", "Host not found", body));
    };
    let h = present(Kind::Host, &o, st.cfg.host_dead_after_secs as i64);
    let name = s(&h, "name");
    let range = r
        .range
        .filter(|x| *x > 0 && *x <= 30 * 86_400)
        .unwrap_or(3600);
    let q = |metric: &str| selector(metric, &[("endpoint", &name)]);
    let extra = r.metric.clone().unwrap_or_default();
    // The metric asked for first, then the six every host has.
    let mut charts: Vec<(&str, String)> = Vec::new();
    if !extra.is_empty() {
        charts.push((extra.as_str(), q(&extra)));
    }
    for (title, metric) in [
        ("CPU busy %", "cpu.busy"),
        ("Memory used %", "mem.memused.percent"),
        ("Disk used %", "df.bytes.used.percent"),
        ("Disk I/O util %", "disk.io.util"),
        ("Network in (bytes/s)", "net.if.in.bytes"),
        ("Network out (bytes/s)", "net.if.out.bytes"),
    ] {
        charts.push((title, q(metric)));
    }
    let m = model::tenant_strategies(&st.db, &a.tenant).await?;
    let tnames: HashMap<i64, String> = m
        .templates
        .iter()
        .map(|t| (t.id as i64, t.name.clone()))
        .collect();
    let strategies = match effective_strategies(&name, &m.host_groups, &m.templates) {
        Ok(eff) => strategies_table(&eff, &tnames),
        Err(e) => html! { p.err { (e.to_string()) } },
    };
    let groups: Vec<String> = m
        .host_groups
        .iter()
        .filter(|g| g.hosts.contains(&name))
        .map(|g| g.name.clone())
        .collect();
    let body = html! {
        (HostDetails::of(&h, groups).render())
        div.panel {
            h2 { "Charts" }
            form.filters method="get" {
                span.muted { "Range: " (range_links(*path, &extra, range)) }
                input type="hidden" name="range" value=(range);
                input name="metric" placeholder="any metric, e.g. proc.num" value=(extra);
                button.light { "Show" }
            }
            div.charts {
                @for (title, promql) in &charts {
                    (chart(title, promql, range))
                }
            }
        }
        div.panel #strategies {
            h2 { "Effective strategies" }
            (strategies)
        }
    };
    Ok(page(&a, "/hosts", &format!("Host {name}"), body))
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
    let body = html! {
        div.panel {
            form.filters.promql method="get" autocomplete="off" {
                div.complete {
                    input.mono name="query"
                        placeholder=r#"PromQL, e.g. sum by (endpoint) ({__name__="cpu.busy"})"#
                        value=(query) data-promql-complete="promql-suggestions" required;
                    ul.suggestions #promql-suggestions {}
                }
                select name="range" {
                    @for (r, l) in RANGES {
                        option value=(r) selected[*r == range] { (l) }
                    }
                }
                button { "Query" }
            }
            p.muted {
                "PromQL over this tenant's series: " code { "__name__" }
                " is the metric (falcon names with dots: " code { r#"{__name__="cpu.idle"}"# }
                "), " code { "endpoint" } " the host, tags are labels."
            }
        }
        @if !query.trim().is_empty() {
            div.panel { (chart(&query, &query, range)) }
        }
    };
    Ok(page(&a, "/explorer", "Metric explorer", body))
}

/// A host's liveness as the hosts list and the host page show it.
fn alive_badge(alive: bool) -> Markup {
    html! {
        @if alive {
            span.badge.ok { "alive" }
        } @else {
            span.badge.bad { "dead" }
        }
    }
}
