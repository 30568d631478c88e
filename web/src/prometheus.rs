//! The Prometheus HTTP API under `/prometheus` (Prometheus 2.x shapes), so Grafana's Prometheus
//! data source and other PromQL clients read Argus series.
//!
//! The tenant always comes from the caller's credential ([`Auth`]). A query is parsed and
//! planned here; each of its selections is read from every region at once through the region
//! `select` endpoint (the region applies the matchers where the data is, so only the selected
//! series cross); the series of several regions are merged; the query is evaluated here.

use crate::auth::Auth;
use crate::config::RegionEndpoint;
use crate::query::{to_some_regions_as, Read, RegionAnswers};
use crate::server::State;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::http::ApiError;
use argus_core::query::{SelectQuery, SeriesData, TagMatcher};
use argus_core::wire::series as series_wire;
use argus_core::TenantId;
use argus_promql::split::{self, PartialSeries, RegionEval, Split};
use argus_promql::value::{Labels, Series};
use argus_promql::{json, labels, Answer, Error, EvalRange, Fetched, Limits, Query, Selection};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Registers the `/prometheus/api/v1/...` routes, each for GET and POST (Grafana sends both).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    for (path, which) in [
        ("query", Endpoint::Query),
        ("query_range", Endpoint::QueryRange),
        ("series", Endpoint::Series),
        ("labels", Endpoint::Labels),
        ("label/{name}/values", Endpoint::LabelValues),
        ("metadata", Endpoint::Metadata),
        ("query_exemplars", Endpoint::Exemplars),
        ("status/buildinfo", Endpoint::BuildInfo),
        ("status/runtimeinfo", Endpoint::RuntimeInfo),
        ("status/flags", Endpoint::Flags),
        ("rules", Endpoint::Rules),
        ("alerts", Endpoint::Alerts),
        ("format_query", Endpoint::FormatQuery),
    ] {
        // The credential is checked first, before the body is read.
        let h = move |auth: Auth, req: HttpRequest, body: web::Bytes, st: web::Data<State>| {
            handle(which, auth, req, body, st)
        };
        let path = format!("/prometheus/api/v1/{path}");
        cfg.route(&path, web::get().to(h))
            .route(&path, web::post().to(h));
    }
}

/// The API's calls.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Query,
    QueryRange,
    Series,
    Labels,
    LabelValues,
    Metadata,
    Exemplars,
    BuildInfo,
    RuntimeInfo,
    Flags,
    Rules,
    Alerts,
    FormatQuery,
}

async fn handle(
    which: Endpoint,
    auth: Auth,
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<State>,
) -> HttpResponse {
    let p = Params::of(&req, &body);
    let tenant = &auth.tenant;
    let r = match which {
        Endpoint::Query => instant_query(&st, tenant, &p).await,
        Endpoint::QueryRange => range_query(&st, tenant, &p).await,
        Endpoint::Series => series(&st, tenant, &p).await,
        Endpoint::Labels => label_names(&st, tenant, &p).await,
        Endpoint::LabelValues => {
            let name = req.match_info().get("name").unwrap_or_default();
            values_of(&st, tenant, &p, name).await
        }
        // Argus keeps no metric metadata or exemplars: empty answers, so clients that ask work.
        Endpoint::Metadata => Ok(json::success("{}", &[])),
        Endpoint::Exemplars => Ok(json::success("[]", &[])),
        Endpoint::BuildInfo => Ok(json::success(&build_info(), &[])),
        Endpoint::RuntimeInfo => Ok(json::success(&runtime_info(&st), &[])),
        Endpoint::Flags => Ok(json::success(&flags(&st), &[])),
        Endpoint::Rules => rules(&st, tenant, &p).await,
        Endpoint::Alerts => alerts(&st, tenant).await,
        // Grafana's "Format query": the query laid out as Prometheus lays it out.
        Endpoint::FormatQuery => Query::parse(p.get("query").unwrap_or(""))
            .map(|q| json::success(&json::string(&q.pretty()), &[]))
            .map_err(Failure::from),
    };
    respond(r)
}

/// The HTTP answer of an outcome: the body, or Prometheus's error body with its status.
fn respond(r: Outcome) -> HttpResponse {
    let (status, body) = match r {
        Ok(body) => (StatusCode::OK, body),
        Err(f) => (
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json::failure(f.error_type, &f.message),
        ),
    };
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// `POST /internal/v1/query/promql` body: an instant query of a tenant (a global rule's
/// evaluation).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InternalQuery {
    tenant: String,
    query: String,
    /// Unix seconds; now when absent.
    #[serde(default)]
    time: Option<f64>,
}

/// `POST /internal/v1/query/promql` (internal credential, checked before the body is read): the
/// instant query `{"tenant", "query", "time"}` evaluated for that tenant as
/// `/prometheus/api/v1/query` evaluates it (same path and limits); answers the query's `data`
/// (`{"resultType", "result"}`, plus `"warnings"` when a region did not answer), or
/// Prometheus's error body.
pub(crate) async fn internal_query(body: web::Bytes, st: web::Data<State>) -> HttpResponse {
    let r = async {
        let q: InternalQuery =
            serde_json::from_slice(&body).map_err(|e| Failure::bad_data(format!("body: {e}")))?;
        let tenant =
            TenantId::new(q.tenant.clone()).map_err(|e| invalid("tenant", e.to_string()))?;
        let known = crate::store::tenants(&st.db).await?;
        if !known.iter().any(|t| t.id == tenant.as_str()) {
            return Err(invalid("tenant", format!("unknown tenant {:?}", q.tenant)));
        }
        let mut params = vec![("query".to_string(), q.query)];
        if let Some(t) = q.time {
            params.push(("time".to_string(), t.to_string()));
        }
        let (answer, t, warnings) = instant(&st, &tenant, &Params(params)).await?;
        Ok(json::answer_data(&answer, t, &warnings))
    }
    .await;
    respond(r)
}

/// `rules?type=alert|record`: the tenant's rules in groups by interval, as the rule file export
/// groups them, with each alert rule's firing alerts from alarm (a warning when alarm cannot
/// say) and each rule's evaluation as its judges report it.
async fn rules(st: &State, tenant: &TenantId, p: &Params) -> Outcome {
    let only = match p.get("type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => None,
        Some("alert") => Some(crate::rulestate::RuleType::Alert),
        Some("record") => Some(crate::rulestate::RuleType::Record),
        Some(other) => return Err(invalid("type", format!("not supported value {other:?}"))),
    };
    let rules = crate::model::tenant_rules(&st.db, tenant).await?;
    let wants_alerts =
        only != Some(crate::rulestate::RuleType::Record) && !rules.alerting.is_empty();
    let (firing, warnings) = if wants_alerts {
        crate::rulestate::firing_or_warning(st, tenant).await
    } else {
        (Vec::new(), Vec::new())
    };
    let status = st
        .rule_reports
        .of_tenant(tenant, argus_core::time::now_secs());
    let data = crate::rulestate::prometheus_rules(&rules, &firing, &status, only);
    Ok(json::success(&data.to_string(), &warnings))
}

/// `alerts`: the tenant's firing rule alerts, from alarm's open events of its alert rules.
async fn alerts(st: &State, tenant: &TenantId) -> Outcome {
    let (firing, warnings) = crate::rulestate::firing_or_warning(st, tenant).await;
    let data = crate::rulestate::prometheus_alerts(&firing);
    Ok(json::success(&data.to_string(), &warnings))
}

/// An evaluation time (Unix ms), the samples (labels, value) and the regions' warnings.
pub(crate) type RuleSamples = (i64, Vec<(Labels, f64)>, Vec<String>);

/// A rule's expression evaluated now for `tenant` as `/prometheus/api/v1/query` evaluates it
/// (same limits, regions and push-down): the evaluation time (Unix ms), its samples (a scalar
/// is one sample without labels, as the judges take it) and the regions' warnings. A failure
/// is the API error of its Prometheus status, blaming `expr`.
pub(crate) async fn rule_samples(
    st: &State,
    tenant: &TenantId,
    expr: &str,
) -> Result<RuleSamples, ApiError> {
    let params = Params(vec![("query".to_string(), expr.to_string())]);
    let to_api = |f: Failure| ApiError {
        field: Some("expr".into()),
        ..ApiError::new(
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            f.message,
        )
    };
    let (answer, t, warnings) = instant(st, tenant, &params).await.map_err(to_api)?;
    let samples = match answer {
        Answer::Instant(argus_promql::value::Value::Vector(v)) => {
            v.into_iter().map(|s| (s.labels, s.value)).collect()
        }
        Answer::Instant(argus_promql::value::Value::Scalar(x)) => vec![(Labels::default(), x)],
        Answer::Instant(v) => {
            return Err(ApiError::bad_field(
                "expr",
                format!(
                    "a rule's expression must give an instant vector or a scalar, this gives a {}",
                    v.type_name()
                ),
            ))
        }
        Answer::Range(_) => return Err(ApiError::internal("an instant query answered a range")),
    };
    Ok((t, samples, warnings))
}

/// What went wrong, as Prometheus classifies it.
#[derive(Debug)]
struct Failure {
    status: u16,
    error_type: &'static str,
    message: String,
}

impl Failure {
    fn bad_data(message: impl Into<String>) -> Self {
        Failure {
            status: 400,
            error_type: "bad_data",
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            status: json::status(e.kind),
            error_type: json::error_type(e.kind),
            message: e.message,
        }
    }
}

impl From<ApiError> for Failure {
    /// A region refusing a selection (400) is the caller's `bad_data`; no region answering is
    /// `unavailable`.
    fn from(e: ApiError) -> Self {
        let (status, error_type) = match e.status {
            StatusCode::BAD_REQUEST => (400, "bad_data"),
            // A region's evaluation past a limit.
            StatusCode::UNPROCESSABLE_ENTITY => (422, "execution"),
            StatusCode::SERVICE_UNAVAILABLE => (503, "unavailable"),
            _ => (500, "internal"),
        };
        Failure {
            status,
            error_type,
            message: e.message,
        }
    }
}

/// A success body (already encoded), or a failure.
type Outcome = Result<String, Failure>;

/// The request's parameters: the form body of a POST first (as Go's `ParseForm` ranks them),
/// then the query string.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(req: &HttpRequest, body: &[u8]) -> Self {
        let mut v = Vec::new();
        let form = req
            .headers()
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form {
            v.extend(form_urlencoded::parse(body).into_owned());
        }
        v.extend(form_urlencoded::parse(req.query_string().as_bytes()).into_owned());
        Params(v)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter (Unix seconds as a float, or RFC 3339), in Unix ms; `None` when absent
    /// or empty.
    fn time(&self, name: &str) -> Result<Option<i64>, Failure> {
        self.time_as(name, "")
    }

    /// [`Self::time`] with the longer message Prometheus gives for `time` and the listings'
    /// `start` and `end` (its `parseTimeParam`).
    fn time_param(&self, name: &str) -> Result<Option<i64>, Failure> {
        self.time_as(name, &format!("Invalid time value for '{name}': "))
    }

    fn time_as(&self, name: &str, prefix: &str) -> Result<Option<i64>, Failure> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(s) => parse_time(s).map(Some).ok_or_else(|| {
                invalid(
                    name,
                    format!("{prefix}cannot parse {s:?} to a valid timestamp"),
                )
            }),
        }
    }

    /// A duration parameter (float seconds or `1m30s`), in ms.
    fn duration(&self, name: &str) -> Result<Option<i64>, Failure> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(s) => parse_duration(s)
                .map(Some)
                .ok_or_else(|| invalid(name, format!("cannot parse {s:?} to a valid duration"))),
        }
    }
}

/// Prometheus's message for a bad parameter.
fn invalid(name: &str, why: String) -> Failure {
    Failure::bad_data(format!("invalid parameter {name:?}: {why}"))
}

/// Unix seconds as a float (rounded to the millisecond) or RFC 3339, in Unix ms.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = s.parse::<f64>() {
        if !t.is_finite() || t.abs() > 9.2e15 {
            return None;
        }
        let secs = t.trunc();
        let ms = ((t - secs) * 1000.0).round();
        return Some(secs as i64 * 1000 + ms as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Float seconds, or a Prometheus duration (`1y2w3d4h5m6s7ms`, units in that order, each at
/// most once), in ms.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(d) = s.parse::<f64>() {
        let ms = d * 1000.0;
        return (d.is_finite() && ms.abs() < 9.2e18).then_some(ms as i64);
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let (mut rest, mut total, mut next_unit) = (s, 0i64, 0);
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // `ms` before `m`, so a longest unit match wins.
        let (i, (u, scale)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())?;
        rest = &rest[u.len()..];
        total = total.checked_add(n.checked_mul(*scale)?)?;
        next_unit = i + 1;
    }
    Some(total)
}

/// The engine's limits for `tenant` from the configuration.
fn limits(st: &State, tenant: &TenantId) -> Limits {
    let c = &st.cfg.prometheus;
    let (max_series, max_samples, _) = c.limits_of(tenant.as_str());
    Limits {
        max_series,
        max_samples,
        max_steps: c.max_steps,
        deadline: None,
    }
}

/// How long a query of `tenant` may take: the configured bound, or the caller's `timeout` when
/// smaller.
fn deadline(st: &State, tenant: &TenantId, p: &Params) -> Result<Duration, Failure> {
    let (_, _, secs) = st.cfg.prometheus.limits_of(tenant.as_str());
    let cfg = Duration::from_secs(secs.max(1));
    Ok(match p.duration("timeout")? {
        Some(ms) if ms > 0 => cfg.min(Duration::from_millis(ms as u64)),
        _ => cfg,
    })
}

async fn instant_query(st: &State, tenant: &TenantId, p: &Params) -> Outcome {
    let (answer, t, warnings) = instant(st, tenant, p).await?;
    Ok(json::answer(&answer, t, &warnings))
}

/// The instant query `p` asks for: its answer, its evaluation time (Unix ms) and the regions'
/// warnings.
async fn instant(
    st: &State,
    tenant: &TenantId,
    p: &Params,
) -> Result<(Answer, i64, Vec<String>), Failure> {
    let t = p.time_param("time")?.unwrap_or_else(now_ms);
    let timeout = deadline(st, tenant, p)?;
    let query = Query::parse(p.get("query").unwrap_or(""))?;
    let mut range = EvalRange::instant(t);
    range.lookback_ms = st.cfg.prometheus.lookback_delta_secs * 1000;
    let (answer, warnings) = run(st, tenant, query, range, timeout).await?;
    Ok((answer, t, warnings))
}

async fn range_query(st: &State, tenant: &TenantId, p: &Params) -> Outcome {
    let required = |name: &str| -> Result<i64, Failure> {
        p.time(name)?
            .ok_or_else(|| invalid(name, "cannot parse \"\" to a valid timestamp".into()))
    };
    let start = required("start")?;
    let end = required("end")?;
    if end < start {
        return Err(invalid(
            "end",
            "end timestamp must not be before start time".into(),
        ));
    }
    let step = p
        .duration("step")?
        .ok_or_else(|| invalid("step", "cannot parse \"\" to a valid duration".into()))?;
    if step <= 0 {
        return Err(invalid(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
                .into(),
        ));
    }
    let max_steps = st.cfg.prometheus.max_steps;
    if (end - start) / step > max_steps {
        return Err(Failure::bad_data(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query \
             resolution (?step=XX)",
            thousands(max_steps)
        )));
    }
    let timeout = deadline(st, tenant, p)?;
    let query = Query::parse(p.get("query").unwrap_or(""))?;
    let mut range = EvalRange::range(start, end, step);
    range.lookback_ms = st.cfg.prometheus.lookback_delta_secs * 1000;
    let (answer, warnings) = run(st, tenant, query, range, timeout).await?;
    Ok(json::answer(&answer, end, &warnings))
}

/// `11000` as Prometheus writes it in its message (`11,000`).
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).expect("ASCII digits"))
        .collect();
    format!("{}{}", if n < 0 { "-" } else { "" }, groups.join(","))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Fetches the query's selections and evaluates it, within `timeout`.
async fn run(
    st: &State,
    tenant: &TenantId,
    query: Query,
    range: EvalRange,
    timeout: Duration,
) -> Result<(Answer, Vec<String>), Failure> {
    let work = async {
        let mut limits = limits(st, tenant);
        // The evaluation stops itself at the deadline too, rather than run on unobserved.
        limits.deadline = Some(std::time::Instant::now() + timeout);
        // Aggregations that can be computed where the data is are.
        if st.cfg.prometheus.push_down {
            if let Some(split) = query.split() {
                return run_split(st, tenant, split, range, limits).await;
            }
        }
        let selections = query.selections(&range);
        let fetches = selections
            .iter()
            .map(|s| fetch(st, tenant, s, limits.max_series, false));
        let mut fetched = Fetched::new();
        let mut warnings = BTreeSet::new();
        for (s, r) in selections
            .iter()
            .zip(futures_util::future::join_all(fetches).await)
        {
            let (series, missing) = r?;
            warnings.extend(missing);
            fetched.insert(s.key(), series);
        }
        let answer = evaluate(query, range, fetched, limits).await?;
        Ok((answer, warnings.into_iter().collect()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| Failure {
            status: 503,
            error_type: "timeout",
            message: format!(
                "query timed out in query execution (after {} s)",
                timeout.as_secs_f64()
            ),
        })?
}

/// The series of `tenant` selected by `sel` from every region, merged (a series several
/// regions hold is one series with the union of their points, one per timestamp), with a
/// warning per region that did not answer. More than `max_series` series is an `execution`
/// error.
async fn fetch(
    st: &State,
    tenant: &TenantId,
    sel: &Selection,
    max_series: usize,
    series_only: bool,
) -> Result<(Vec<Series>, Vec<String>), Failure> {
    fetch_from(st, &st.cfg.regions, tenant, sel, max_series, series_only).await
}

/// [`fetch`] from `regions` only.
async fn fetch_from(
    st: &State,
    regions: &[RegionEndpoint],
    tenant: &TenantId,
    sel: &Selection,
    max_series: usize,
    series_only: bool,
) -> Result<(Vec<Series>, Vec<String>), Failure> {
    let q = SelectQuery {
        tenant: tenant.clone(),
        matchers: sel.matchers.clone(),
        // The store keeps whole seconds: those within [start_ms, end_ms].
        start: sel.start_ms.div_euclid(1000) + i64::from(sel.start_ms.rem_euclid(1000) != 0),
        end: sel.end_ms.div_euclid(1000),
        // One more than allowed tells that the limit is exceeded without shipping everything.
        limit: Some(max_series.saturating_add(1)),
        series_only,
    };
    if q.end < q.start {
        return Ok((Vec::new(), Vec::new()));
    }
    // Asked for in binary; a region of an older version answers JSON.
    let accept = format!("{}, application/json", series_wire::CONTENT_TYPE);
    let decode = |content_type: &str, body: &[u8]| -> Result<Vec<SeriesData>, String> {
        if content_type.starts_with(series_wire::CONTENT_TYPE) {
            return series_wire::decode(body).map_err(|e| e.to_string());
        }
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    let read = Read {
        accept: Some(&accept),
        decode: &decode,
    };
    let answers: RegionAnswers<SeriesData> =
        to_some_regions_as(st, regions, "select", &q, &read).await?;
    let warnings = unreachable_warnings(&answers.unreachable);
    let merged = merge_regions(answers.data, tenant);
    if merged.len() > max_series {
        return Err(too_many_series(max_series));
    }
    let series = merged
        .into_iter()
        .map(|(labels, points)| Series {
            labels,
            points: points.into_iter().map(|(t, v)| (t * 1000, v)).collect(),
        })
        .collect();
    Ok((series, warnings))
}

fn unreachable_warnings(regions: &[String]) -> Vec<String> {
    regions
        .iter()
        .map(|r| format!("region {r} did not answer: its series are missing from this result"))
        .collect()
}

/// Evaluates a split query (`argus_promql::split`): every region computes the partial
/// aggregations over its own series and sends only those; a series several regions hold is
/// left out of theirs and aggregated here over its merged points; the combination is
/// evaluated here. The answer is the same as evaluating the whole query over merged series.
async fn run_split(
    st: &State,
    tenant: &TenantId,
    split: Split,
    range: EvalRange,
    limits: Limits,
) -> Result<(Answer, Vec<String>), Failure> {
    let regions = &st.cfg.regions;
    let mut warnings = BTreeSet::new();
    // The series several regions hold, by the partials' selections (one region: none).
    let selections: Vec<Selection> = split
        .partials
        .iter()
        .flat_map(|p| p.selections(&range))
        .collect();
    let mut shared: BTreeMap<String, BTreeSet<Labels>> = BTreeMap::new();
    if regions.len() > 1 {
        for sel in &selections {
            let listings = regions.iter().map(|r| {
                fetch_from(
                    st,
                    std::slice::from_ref(r),
                    tenant,
                    sel,
                    limits.max_series,
                    true,
                )
            });
            let mut seen: BTreeMap<Labels, usize> = BTreeMap::new();
            for listing in futures_util::future::join_all(listings).await {
                match listing {
                    Ok((series, _)) => {
                        for s in series {
                            *seen.entry(s.labels).or_default() += 1;
                        }
                    }
                    // A region that cannot list cannot evaluate either: reported below.
                    Err(f) if f.status == 503 => {}
                    Err(f) => return Err(f),
                }
            }
            let several: BTreeSet<Labels> = seen
                .into_iter()
                .filter(|(_, n)| *n > 1)
                .map(|(l, _)| l)
                .collect();
            if !several.is_empty() {
                shared.entry(sel.key()).or_default().extend(several);
            }
        }
    }
    let exclude: Vec<Vec<(String, String)>> = shared
        .values()
        .flatten()
        .map(|l| l.pairs().to_vec())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Each region's partial answers.
    let request = RegionEval {
        tenant: tenant.clone(),
        queries: split.partials.iter().map(|p| p.to_string()).collect(),
        start_ms: range.start_ms,
        end_ms: range.end_ms,
        step_ms: range.step_ms,
        lookback_ms: range.lookback_ms,
        exclude,
        max_series: limits.max_series,
        max_samples: limits.max_samples,
    };
    // Asked for in binary; a region of an older version answers JSON.
    let accept = format!("{}, application/json", split::PARTIALS_CONTENT_TYPE);
    let decode = |content_type: &str, body: &[u8]| -> Result<Vec<Vec<Series>>, String> {
        if content_type.starts_with(split::PARTIALS_CONTENT_TYPE) {
            return split::decode_partials(body).map_err(|e| e.message);
        }
        let lists: Vec<Vec<PartialSeries>> =
            serde_json::from_slice(body).map_err(|e| e.to_string())?;
        lists
            .into_iter()
            .map(|list| list.into_iter().map(PartialSeries::into_series).collect())
            .collect::<Result<_, _>>()
            .map_err(|e| e.message)
    };
    let read = Read {
        accept: Some(&accept),
        decode: &decode,
    };
    let calls = regions
        .iter()
        .map(|r| to_some_regions_as(st, std::slice::from_ref(r), "eval", &request, &read));
    let mut parts: Vec<Vec<Series>> = vec![Vec::new(); split.partials.len()];
    let mut answered = 0;
    let mut last_err = None;
    for (region, answer) in regions
        .iter()
        .zip(futures_util::future::join_all(calls).await)
    {
        match answer {
            Ok(a) if a.data.len() == parts.len() => {
                answered += 1;
                for (i, list) in a.data.into_iter().enumerate() {
                    parts[i].extend(list);
                }
            }
            Ok(_) => {
                return Err(Failure {
                    status: 500,
                    error_type: "internal",
                    message: format!(
                        "region {} answered a different number of queries",
                        region.name
                    ),
                })
            }
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
                warnings.extend(unreachable_warnings(std::slice::from_ref(&region.name)));
                last_err = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if answered == 0 {
        if let Some(e) = last_err {
            return Err(e.into());
        }
    }
    // The shared series: their merged points, aggregated here.
    for (i, partial) in split.partials.iter().enumerate() {
        let mut fetched = Fetched::new();
        let mut any = false;
        for sel in partial.selections(&range) {
            let mut series = Vec::new();
            for l in shared.get(&sel.key()).into_iter().flatten() {
                let exact = Selection {
                    matchers: l
                        .pairs()
                        .iter()
                        .map(|(k, v)| TagMatcher {
                            key: k.clone(),
                            op: argus_core::query::MatchOp::Eq,
                            value: v.clone(),
                        })
                        .collect(),
                    start_ms: sel.start_ms,
                    end_ms: sel.end_ms,
                };
                let (got, missing) = fetch(st, tenant, &exact, limits.max_series, false).await?;
                warnings.extend(missing);
                series.extend(got.into_iter().filter(|s| &s.labels == l));
            }
            any |= !series.is_empty();
            fetched.insert(sel.key(), series);
        }
        if any {
            let answer = evaluate(partial.clone(), range, fetched, limits).await?;
            parts[i].extend(split::answer_series(answer, range.start_ms));
        }
    }
    // The combination, with whatever else the query reads fetched as usual.
    let mut fetched = Fetched::new();
    for (i, series) in parts.into_iter().enumerate() {
        fetched.insert(Split::partial_key(i), series);
    }
    for sel in split.outer.selections(&range) {
        if fetched.contains_key(&sel.key()) {
            continue;
        }
        let (series, missing) = fetch(st, tenant, &sel, limits.max_series, false).await?;
        warnings.extend(missing);
        fetched.insert(sel.key(), series);
    }
    let outer = split.outer;
    let answer = evaluate(outer, range, fetched, limits).await?;
    Ok((answer, warnings.into_iter().collect()))
}

/// Evaluates `query` on a blocking thread: it is CPU work, kept off the server's workers.
async fn evaluate(
    query: Query,
    range: EvalRange,
    fetched: Fetched,
    limits: Limits,
) -> Result<Answer, Failure> {
    web::block(move || query.eval(&range, &fetched, &limits))
        .await
        .map_err(|e| Failure {
            status: 500,
            error_type: "internal",
            message: format!("evaluation failed: {e}"),
        })?
        .map_err(Failure::from)
}

fn too_many_series(max: usize) -> Failure {
    Error::execution(format!(
        "query selects more than {max} series, the limit (max_series)"
    ))
    .into()
}

/// The regions' series by PromQL labels, points merged by time. Labels, not storage keys, are
/// a series' identity here: regions whose transfers take the endpoint from different labels
/// (`ingest.endpoint_tags`, `default_endpoint`) store the same remote-write series under
/// different keys with the same labels. A series of another tenant (which a region never
/// sends) is dropped all the same.
fn merge_regions(data: Vec<SeriesData>, tenant: &TenantId) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for d in data.into_iter().filter(|d| &d.key.tenant == tenant) {
        match out.entry(labels::labels_of(&d.key)) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(d.points);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let have = e.get_mut();
                *have = union_by_time(std::mem::take(have), d.points);
            }
        }
    }
    out
}

/// Two time-ordered point lists as one, one point per timestamp (the first list's on a tie).
fn union_by_time(a: Vec<(i64, f64)>, b: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The matchers of each `match[]` (each must be a series selector); none given is `None`.
fn match_params(p: &Params) -> Result<Option<Vec<Vec<TagMatcher>>>, Failure> {
    let raw = p.all("match[]");
    if raw.is_empty() {
        return Ok(None);
    }
    raw.iter()
        .map(|text| Query::parse_selector(text).map_err(|e| invalid("match[]", e.message)))
        .collect::<Result<Vec<_>, Failure>>()
        .map(Some)
}

/// The label sets of the series selected by `match[]` (or, for label listings without one,
/// every series) with points in `[start, end]`, sorted and unique, with region warnings.
async fn listing(
    st: &State,
    tenant: &TenantId,
    p: &Params,
    need_match: bool,
) -> Result<(Vec<Labels>, Vec<String>), Failure> {
    let sets = match match_params(p)? {
        Some(s) => s,
        None if need_match => return Err(Failure::bad_data("no match[] parameter provided")),
        // No matcher at all: the tenant's whole series set.
        None => vec![Vec::new()],
    };
    let start = p.time_param("start")?;
    let end = p.time_param("end")?.unwrap_or_else(now_ms);
    let start = start.unwrap_or(end - st.cfg.prometheus.listing_default_range_secs * 1000);
    if end < start {
        return Err(invalid(
            "end",
            "end timestamp must not be before start time".into(),
        ));
    }
    let max = st.cfg.prometheus.max_series;
    let fetches = sets.into_iter().map(|matchers| async move {
        let sel = Selection {
            matchers,
            start_ms: start,
            end_ms: end,
        };
        fetch(st, tenant, &sel, max, true).await
    });
    let mut all = BTreeSet::new();
    let mut warnings = BTreeSet::new();
    for r in futures_util::future::join_all(fetches).await {
        let (series, missing) = r?;
        warnings.extend(missing);
        all.extend(series.into_iter().map(|s| s.labels));
        if all.len() > max {
            return Err(too_many_series(max));
        }
    }
    Ok((all.into_iter().collect(), warnings.into_iter().collect()))
}

/// The `limit` parameter (0 or absent: none).
fn limit(p: &Params) -> Result<usize, Failure> {
    match p.get("limit") {
        None | Some("") => Ok(usize::MAX),
        Some(s) => match s.parse::<usize>() {
            Ok(0) => Ok(usize::MAX),
            Ok(n) => Ok(n),
            Err(_) => Err(invalid(
                "limit",
                format!("cannot parse {s:?} to a valid limit"),
            )),
        },
    }
}

async fn series(st: &State, tenant: &TenantId, p: &Params) -> Outcome {
    let limit = limit(p)?;
    let (mut sets, warnings) = listing(st, tenant, p, true).await?;
    sets.truncate(limit);
    Ok(json::success(&json::label_sets(&sets), &warnings))
}

async fn label_names(st: &State, tenant: &TenantId, p: &Params) -> Outcome {
    let limit = limit(p)?;
    let (sets, warnings) = listing(st, tenant, p, false).await?;
    let names: BTreeSet<&str> = sets
        .iter()
        .flat_map(|l| l.pairs().iter().map(|(k, _)| k.as_str()))
        .collect();
    let names: Vec<String> = names.into_iter().take(limit).map(str::to_owned).collect();
    Ok(json::success(&json::strings(&names), &warnings))
}

async fn values_of(st: &State, tenant: &TenantId, p: &Params, name: &str) -> Outcome {
    let valid = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !valid {
        return Err(Failure::bad_data(format!("invalid label name: {name:?}")));
    }
    let limit = limit(p)?;
    let (sets, warnings) = listing(st, tenant, p, false).await?;
    let values: BTreeSet<&str> = sets
        .iter()
        .map(|l| l.get(name))
        .filter(|v| !v.is_empty())
        .collect();
    let values: Vec<String> = values.into_iter().take(limit).map(str::to_owned).collect();
    Ok(json::success(&json::strings(&values), &warnings))
}

/// What Grafana reads to pick its Prometheus dialect: Prometheus 2.42's API.
fn build_info() -> String {
    serde_json::json!({
        "version": "2.42.0",
        "revision": concat!("argus-", env!("CARGO_PKG_VERSION")),
        "branch": "argus",
        "buildUser": "argus",
        "buildDate": "",
        "goVersion": "",
    })
    .to_string()
}

fn runtime_info(st: &State) -> String {
    serde_json::json!({
        "startTime": "1970-01-01T00:00:00Z",
        "CWD": "",
        "reloadConfigSuccess": true,
        "lastConfigTime": "1970-01-01T00:00:00Z",
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": st.cfg.workers,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": "",
    })
    .to_string()
}

fn flags(st: &State) -> String {
    let c = &st.cfg.prometheus;
    serde_json::json!({
        "query.lookback-delta": format!("{}s", c.lookback_delta_secs),
        "query.max-samples": c.max_samples.to_string(),
        "query.timeout": format!("{}s", c.timeout_secs),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::SeriesKey;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.123"), Some(1_700_000_000_123));
        assert_eq!(parse_time("1.5"), Some(1_500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("NaN"), None);
        assert_eq!(parse_duration("15"), Some(15_000));
        assert_eq!(parse_duration("0.5"), Some(500));
        assert_eq!(parse_duration("15s"), Some(15_000));
        assert_eq!(parse_duration("1m"), Some(60_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000));
        assert_eq!(parse_duration("100ms"), Some(100));
        assert_eq!(parse_duration("1m5s10ms"), Some(65_010));
        for bad in ["", "s", "5x", "1s1m", "1m1m", "-5s", "1.5m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(thousands(11000), "11,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn regions_merge_by_time() {
        let t = TenantId::new("acme").unwrap();
        let k = SeriesKey::new(t.clone(), "h", "m", argus_core::Tags::new());
        let other = SeriesKey::new(
            TenantId::new("evil").unwrap(),
            "h",
            "m",
            argus_core::Tags::new(),
        );
        let m = merge_regions(
            vec![
                SeriesData {
                    key: k.clone(),
                    points: vec![(1, 1.0), (3, 3.0)],
                },
                SeriesData {
                    key: other,
                    points: vec![(1, 9.0)],
                },
                SeriesData {
                    key: k.clone(),
                    points: vec![(2, 2.0), (3, 3.5), (4, 4.0)],
                },
            ],
            &t,
        );
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[&labels::labels_of(&k)],
            vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
        );
    }

    /// A remote-write series whose endpoint one region took from `host` and another from
    /// `instance`: two keys, one series.
    #[test]
    fn regions_merge_by_labels() {
        let t = TenantId::new("acme").unwrap();
        let tags = |marker: &str| {
            argus_core::Tags::from_pairs([
                ("host", "h1"),
                ("instance", "h1:9100"),
                (labels::ENDPOINT_MARKER_TAG, marker),
            ])
        };
        let a = SeriesKey::new(t.clone(), "h1", "up", tags("host"));
        let b = SeriesKey::new(t.clone(), "h1:9100", "up", tags("instance"));
        assert_ne!(a, b);
        let m = merge_regions(
            vec![
                SeriesData {
                    key: a.clone(),
                    points: vec![(1, 1.0), (2, 1.0)],
                },
                SeriesData {
                    key: b,
                    points: vec![(2, 1.0), (3, 0.0)],
                },
            ],
            &t,
        );
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[&labels::labels_of(&a)],
            vec![(1, 1.0), (2, 1.0), (3, 0.0)]
        );
    }
}
