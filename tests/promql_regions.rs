//! PromQL across regions (issue 16): a query over data spread over three regions answers exactly
//! what the same query answers over the same data held by one region.
//!
//! Topology, in process, every component on its real protocol: three regions (`east`, `west`,
//! `north`), each a transfer and a storage node, and a fourth region (`all`) holding the whole
//! data set; web `multi` lists the three regions, web `single` lists `all` only. A seeded
//! generator makes two tenants' hosts (Prometheus remote write: `up`, a gauge, counters with a
//! reset, a histogram; the Argus batch: a dotted falcon gauge and a falcon `COUNTER`), spread
//! over the regions; a host of each tenant moved half-way (its series' points split across two
//! regions with five identical points in both). Every point is pushed with the tenant's agent
//! token through the regions' transfers. The regions' transfers are configured apart: east's
//! takes a remote-write series' endpoint from its `host` label, west's and north's from its
//! `instance` label, so a moved exporter's series has two storage keys and one label set.
//!
//! Asserted: ~50 PromQL queries (selectors, aggregations, rate/increase over the moved host,
//! histogram_quantile, subqueries, offsets, binary operators) answer the same series,
//! timestamps and values (1e-9 relative) on both webs, range and instant, for both tenants;
//! the listings agree; the moved host is one series (not doubled), counted once; each tenant
//! sees exactly its own hosts; the cross-region query bytes (`argus_cross_region_bytes_sent_total
//! {kind="query"}`, web's requests and the transfers' answers) grew for every region; with one
//! region stopped the answer is a success carrying Prometheus's `warnings` and exactly the
//! other regions' series.

use argus_core::auth::{generate_token, hash_token};
use argus_core::point::CounterType;
use argus_core::wire::{Batch, PushResponse};
use argus_core::{Point, Tags, TenantId};
use argus_transfer::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Seconds between two points of a host.
const STEP: i64 = 15;
/// The data set spans this many seconds from its base.
const SPAN: i64 = 3600;
/// The moved host changes region at `base + MOVE`.
const MOVE: i64 = 1800;
/// Points of the moved host that both of its regions hold, on each side of the move.
const OVERLAP: i64 = 2;
/// The three regions of `multi`; the reference region is `all`.
const REGIONS: [&str; 3] = ["east", "west", "north"];

// ---------------------------------------------------------------------------------------------
// The data set.

/// splitmix64: a small deterministic generator, so the data set never depends on a crate's
/// version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn seeded(text: &str) -> Self {
        let mut r = Rng(0x5EED);
        for b in text.bytes() {
            r.0 ^= u64::from(b);
            r.next();
        }
        r
    }
}

/// A host: where its agent reported from, and when.
struct Host {
    name: String,
    team: &'static str,
    /// `(region index, first second, last second)` relative to the base, inclusive.
    segments: Vec<(usize, i64, i64)>,
    /// Its points are at `base + offset + k * STEP`.
    offset: i64,
    /// Its agent stopped at `base + last`.
    last: i64,
    /// `up` is 0 for these point indices.
    down: std::ops::Range<i64>,
    /// Its CPU counters reset at this point index.
    reset_at: Option<i64>,
}

impl Host {
    fn fixed(name: &str, team: &'static str, region: usize, offset: i64) -> Host {
        Host {
            name: name.into(),
            team,
            segments: vec![(region, 0, SPAN)],
            offset,
            last: SPAN,
            down: 0..0,
            reset_at: None,
        }
    }

    /// A host that reported to region `from` until a little after `MOVE` and to region `to`
    /// from a little before it: the points of `OVERLAP` steps each side are in both. Its
    /// counters reset within the overlap.
    fn moved(name: &str, team: &'static str, from: usize, to: usize) -> Host {
        let edge = OVERLAP * STEP;
        Host {
            segments: vec![(from, 0, MOVE + edge), (to, MOVE - edge, SPAN)],
            reset_at: Some(MOVE / STEP + 1),
            ..Host::fixed(name, team, from, 0)
        }
    }

    fn times(&self, base: i64) -> Vec<i64> {
        (0..)
            .map(|k| self.offset + k * STEP)
            .take_while(|t| *t <= self.last)
            .map(|t| base + t)
            .collect()
    }

    /// The regions holding the point at `t`.
    fn regions_at(&self, base: i64, t: i64) -> Vec<usize> {
        self.segments
            .iter()
            .filter(|(_, a, b)| (base + a..=base + b).contains(&t))
            .map(|(r, _, _)| *r)
            .collect()
    }

    /// The regions that hold any of its points.
    fn regions(&self) -> BTreeSet<usize> {
        self.segments.iter().map(|(r, _, _)| *r).collect()
    }
}

/// One series of the data set, as its agent wrote it.
struct GenSeries {
    host: usize,
    /// Remote write labels (`__name__` first), or a falcon point's metric and tags.
    kind: Kind,
    points: Vec<(i64, f64)>,
}

enum Kind {
    Remote(Vec<(String, String)>),
    Falcon {
        metric: &'static str,
        tags: &'static str,
        counter: CounterType,
    },
}

/// One tenant's share of the data set.
struct TenantData {
    tenant: TenantId,
    agent_token: String,
    api_token: String,
    hosts: Vec<Host>,
    series: Vec<GenSeries>,
}

const BUCKETS: [&str; 6] = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
const BUCKET_TOPS: [f64; 6] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

fn generate(tenant: &str, hosts: Vec<Host>, base: i64) -> TenantData {
    let mut series = Vec::new();
    for (hi, h) in hosts.iter().enumerate() {
        let mut rng = Rng::seeded(&format!("{tenant}/{}", h.name));
        let times = h.times(base);
        let remote = |name: &str, extra: &[(&str, &str)]| {
            let mut l = vec![
                ("__name__".to_string(), name.to_string()),
                ("endpoint".to_string(), h.name.clone()),
                ("job".to_string(), "node".to_string()),
                ("team".to_string(), h.team.to_string()),
            ];
            l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Kind::Remote(l)
        };
        let up = times
            .iter()
            .enumerate()
            .map(|(k, t)| {
                (
                    *t,
                    if h.down.contains(&(k as i64)) {
                        0.0
                    } else {
                        1.0
                    },
                )
            })
            .collect();
        series.push(GenSeries {
            host: hi,
            kind: remote("up", &[]),
            points: up,
        });
        let mem = times
            .iter()
            .map(|t| (*t, (1e9 + rng.unit() * 7e9).round() + rng.unit()))
            .collect();
        series.push(GenSeries {
            host: hi,
            kind: remote("node_memory_free_bytes", &[]),
            points: mem,
        });
        for cpu in ["0", "1"] {
            for mode in ["idle", "user"] {
                let mut c = rng.unit() * 1000.0;
                let pts = times
                    .iter()
                    .enumerate()
                    .map(|(k, t)| {
                        if h.reset_at == Some(k as i64) {
                            c = rng.unit() * 5.0;
                        } else {
                            c += rng.unit() * 12.0;
                        }
                        (*t, c)
                    })
                    .collect();
                series.push(GenSeries {
                    host: hi,
                    kind: remote("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)]),
                    points: pts,
                });
            }
        }
        // A histogram: cumulative buckets, sum and count.
        let (mut buckets, mut sum, mut count) = ([0.0f64; 6], 0.0f64, 0.0f64);
        let mut hist: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 8];
        for t in &times {
            for _ in 0..rng.below(25) {
                let b = (rng.unit() * rng.unit() * 6.0) as usize;
                let lo = if b == 0 { 0.0 } else { BUCKET_TOPS[b - 1] };
                sum += lo + rng.unit() * (BUCKET_TOPS[b] - lo);
                count += 1.0;
                for x in &mut buckets[b..] {
                    *x += 1.0;
                }
            }
            for (i, v) in buckets.iter().enumerate() {
                hist[i].push((*t, *v));
            }
            hist[6].push((*t, sum));
            hist[7].push((*t, count));
        }
        for (i, pts) in hist.into_iter().enumerate() {
            let kind = match i {
                0..=5 => remote(
                    "http_request_duration_seconds_bucket",
                    &[("le", BUCKETS[i])],
                ),
                6 => remote("http_request_duration_seconds_sum", &[]),
                _ => remote("http_request_duration_seconds_count", &[]),
            };
            series.push(GenSeries {
                host: hi,
                kind,
                points: pts,
            });
        }
        // An exporter's counter labelled `host` and `instance`, no `endpoint`: which label is
        // the endpoint is a region's ingest setting, not part of the series' labels.
        let mut c = rng.unit() * 100.0;
        let process = times
            .iter()
            .map(|t| {
                c += rng.unit();
                (*t, c)
            })
            .collect();
        series.push(GenSeries {
            host: hi,
            kind: Kind::Remote(vec![
                ("__name__".into(), "process_cpu_seconds_total".into()),
                ("host".into(), h.name.clone()),
                ("instance".into(), format!("{}:9100", h.name)),
                ("job".into(), "exporter".into()),
            ]),
            points: process,
        });
        // The falcon way: a dotted gauge, and a COUNTER read back as its per-second rate.
        let idle = times
            .iter()
            .map(|t| (*t, (rng.unit() * 1000.0).round() / 10.0))
            .collect();
        series.push(GenSeries {
            host: hi,
            kind: Kind::Falcon {
                metric: "cpu.idle",
                tags: "core=all",
                counter: CounterType::Gauge,
            },
            points: idle,
        });
        let mut bytes = rng.below(1 << 30) as f64;
        let net = times
            .iter()
            .map(|t| {
                bytes += rng.below(500_000) as f64;
                (*t, bytes)
            })
            .collect();
        series.push(GenSeries {
            host: hi,
            kind: Kind::Falcon {
                metric: "net.if.in.bytes",
                tags: "iface=eth0",
                counter: CounterType::Counter,
            },
            points: net,
        });
    }
    TenantData {
        tenant: TenantId::new(tenant).unwrap(),
        agent_token: generate_token("argus_agt"),
        api_token: generate_token("argus_api"),
        hosts,
        series,
    }
}

fn acme(base: i64) -> TenantData {
    let teams = ["red", "blue", "green"];
    let mut hosts: Vec<Host> = (0..8)
        .map(|i| {
            Host::fixed(
                &format!("host-{i:02}"),
                teams[i % 3],
                i % 3,
                (i as i64 * 4) % STEP,
            )
        })
        .collect();
    // One host was down a while, one stopped reporting three quarters in.
    hosts[3].down = 100..110;
    hosts[5].last = 2700;
    hosts.push(Host::moved("mover", "red", 0, 1));
    generate("acme", hosts, base)
}

fn globex(base: i64) -> TenantData {
    // Some endpoint names are acme's too: each tenant must see only its own.
    let mut hosts = vec![
        Host::fixed("host-00", "blue", 1, 3),
        Host::fixed("host-01", "blue", 2, 7),
        Host::fixed("gx-db", "green", 0, 11),
        Host::moved("mover", "blue", 2, 0),
    ];
    hosts[2].down = 40..45;
    generate("globex", hosts, base)
}

impl TenantData {
    /// The points region `region` holds (or all of them: `None`), as remote-write series and
    /// falcon points.
    fn for_region(&self, region: Option<usize>, base: i64) -> (WriteRequest, Vec<Point>) {
        let mut wr = WriteRequest::default();
        let mut falcon = Vec::new();
        for s in &self.series {
            let h = &self.hosts[s.host];
            let pts: Vec<(i64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(t, _)| region.is_none_or(|r| h.regions_at(base, *t).contains(&r)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            match &s.kind {
                Kind::Remote(labels) => wr.timeseries.push(TimeSeries {
                    labels: labels
                        .iter()
                        .map(|(n, v)| Label {
                            name: n.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                    samples: pts
                        .iter()
                        .map(|(t, v)| Sample {
                            value: *v,
                            timestamp: t * 1000,
                        })
                        .collect(),
                }),
                Kind::Falcon {
                    metric,
                    tags,
                    counter,
                } => falcon.extend(pts.iter().map(|(t, v)| Point {
                    counter_type: *counter,
                    step: STEP as u32,
                    ..Point::gauge(&h.name, metric, Tags::parse_falcon(tags).unwrap(), *v, *t)
                })),
            }
        }
        (wr, falcon)
    }

    /// The points of each metric a reader sees, each once however many regions hold it: all
    /// written, but the first of a falcon counter (read as the rate since the previous point).
    fn readable_points(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for s in &self.series {
            let (name, n) = match &s.kind {
                Kind::Remote(labels) => (labels[0].1.clone(), s.points.len()),
                Kind::Falcon {
                    metric,
                    counter: CounterType::Counter,
                    ..
                } => (metric.to_string(), s.points.len() - 1),
                Kind::Falcon { metric, .. } => (metric.to_string(), s.points.len()),
            };
            *out.entry(name).or_insert(0) += n;
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The topology.

struct Region {
    name: String,
    store: argus_store::node::StoreNode,
    transfer: argus_transfer::server::Running,
}

impl Region {
    fn url(&self) -> String {
        self.transfer.server.url()
    }

    async fn stop(self) {
        self.transfer.stop().await;
        self.store.stop().await;
    }
}

/// Starts region `name`; its transfer takes the endpoint of a remote-write series from the
/// first of `endpoint_tags` it has (after `endpoint`).
async fn region(
    dir: &Path,
    name: &str,
    internal: &str,
    tenants: &[TenantData],
    endpoint_tags: &[&str],
) -> Region {
    let store = argus_store::node::start(argus_store::node::StoreConfig {
        listen: "127.0.0.1:0".into(),
        internal_token: internal.into(),
        workers: 1,
        engine: argus_store::EngineConfig {
            data_dir: dir.join(format!("{name}-store")),
            fsync: false,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("store starts");
    let transfer = argus_transfer::start(argus_transfer::TransferConfig {
        listen: "127.0.0.1:0".into(),
        region: name.into(),
        internal_token: internal.into(),
        stores: vec![store.server.url()],
        judges: vec![],
        replicas: 1,
        tenants: tenants
            .iter()
            .map(|t| argus_transfer::config::TenantTokens {
                tenant: t.tenant.clone(),
                token_sha256: vec![hash_token(&t.agent_token)],
            })
            .collect(),
        data_dir: dir.join(format!("{name}-transfer")),
        ingest: argus_transfer::config::IngestConfig {
            endpoint_tags: endpoint_tags.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        workers: 1,
        ..Default::default()
    })
    .await
    .expect("transfer starts");
    Region {
        name: name.into(),
        store,
        transfer,
    }
}

async fn web(
    dir: &Path,
    name: &str,
    internal: &str,
    regions: &[&Region],
    tenants: &[TenantData],
) -> argus_web::Running {
    web_with(dir, name, internal, regions, tenants, true).await
}

/// [`web`], aggregating in the regions (`push_down`) or over every selected series here.
async fn web_with(
    dir: &Path,
    name: &str,
    internal: &str,
    regions: &[&Region],
    tenants: &[TenantData],
    push_down: bool,
) -> argus_web::Running {
    let prometheus = argus_web::config::PrometheusConfig {
        push_down,
        ..Default::default()
    };
    argus_web::start(argus_web::WebConfig {
        prometheus,
        listen: "127.0.0.1:0".into(),
        internal_token: internal.into(),
        regions: regions
            .iter()
            .map(|r| argus_web::config::RegionEndpoint::new(r.name.clone(), r.url()))
            .collect(),
        bootstrap_tokens: tenants
            .iter()
            .map(|t| argus_web::config::BootstrapToken {
                tenant: t.tenant.clone(),
                token_sha256: hash_token(&t.api_token),
            })
            .collect(),
        workers: 2,
        data_dir: dir.join(name).display().to_string(),
        ..Default::default()
    })
    .await
    .expect("web starts")
}

/// Pushes `t`'s points of `region` (all: `None`) to `transfer` with its agent token.
async fn push(
    c: &reqwest::Client,
    transfer: &str,
    t: &TenantData,
    region: Option<usize>,
    base: i64,
) {
    let (wr, falcon) = t.for_region(region, base);
    let r = c
        .post(format!("{transfer}/api/v1/write"))
        .bearer_auth(&t.agent_token)
        .body(encode(&wr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        204,
        "remote write to {transfer}: {:?}",
        r.text().await
    );
    let n = falcon.len();
    let r = c
        .post(format!("{transfer}/api/v1/push"))
        .bearer_auth(&t.agent_token)
        .json(&Batch { points: falcon })
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "push to {transfer}: {}",
        r.status()
    );
    let a: PushResponse = r.json().await.unwrap();
    assert_eq!((a.accepted, a.rejected.len()), (n, 0), "push to {transfer}");
}

// ---------------------------------------------------------------------------------------------
// Asking and comparing.

struct Asker {
    client: reqwest::Client,
}

impl Asker {
    async fn ask(&self, web: &str, token: &str, path: &str, form: &[(&str, String)]) -> Value {
        let r = self
            .client
            .post(format!("{web}/prometheus/api/v1/{path}"))
            .bearer_auth(token)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{path} {form:?}: {v}");
        assert_eq!(v["status"], "success", "{path} {form:?}: {v}");
        v
    }
}

/// The samples of an answer: `(labels, [(t, value)])`, in the answer's order.
type Samples = Vec<(String, Vec<(f64, String)>)>;

fn samples(v: &Value) -> (String, Samples) {
    let data = &v["data"];
    let kind = data["resultType"].as_str().unwrap_or_default().to_string();
    let pair = |p: &Value| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_string());
    let out = match kind.as_str() {
        "matrix" => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let pts = s["values"].as_array().unwrap().iter().map(pair).collect();
                (s["metric"].to_string(), pts)
            })
            .collect(),
        "vector" => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["metric"].to_string(), vec![pair(&s["value"])]))
            .collect(),
        _ => vec![(String::new(), vec![pair(&data["result"])])],
    };
    (kind, out)
}

fn close(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// Asserts that `multi` and `single` answer the same series, timestamps and values; answers
/// how many samples they hold.
fn same(what: &str, multi: &Value, single: &Value, ordered: bool) -> usize {
    assert!(
        multi.get("warnings").is_none(),
        "{what}: multi-region warns: {multi}"
    );
    assert!(
        single.get("warnings").is_none(),
        "{what}: single-region warns: {single}"
    );
    let (km, mut m) = samples(multi);
    let (ks, mut s) = samples(single);
    assert_eq!(km, ks, "{what}: result types");
    if !ordered {
        m.sort_by(|a, b| a.0.cmp(&b.0));
        s.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let labels = |x: &Samples| x.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
    assert_eq!(
        labels(&m),
        labels(&s),
        "{what}: series differ\nmulti {multi}\nsingle {single}"
    );
    let mut n = 0;
    for ((l, pm), (_, ps)) in m.iter().zip(&s) {
        let tm: Vec<f64> = pm.iter().map(|p| p.0).collect();
        let ts: Vec<f64> = ps.iter().map(|p| p.0).collect();
        assert_eq!(tm, ts, "{what}: timestamps of {l} differ");
        for ((t, a), (_, b)) in pm.iter().zip(ps) {
            assert!(close(a, b), "{what}: {l} at {t}: multi {a}, single {b}");
        }
        n += pm.len();
    }
    n
}

/// `argus_cross_region_bytes_sent_total{kind="query"}` of a node, by destination.
async fn query_bytes(url: &str) -> BTreeMap<String, u64> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("argus_cross_region_bytes_sent_total{")?;
            let (labels, v) = rest.split_once("} ")?;
            let label = |k: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
            };
            (label("kind")? == "query").then_some(())?;
            Some((label("to")?, v.trim().parse().ok()?))
        })
        .collect()
}

/// The PromQL queries compared; `true` when the answer's order is part of it.
const QUERIES: &[(&str, bool)] = &[
    ("up", false),
    ("count(up)", false),
    ("count by (endpoint) (up)", false),
    ("sum by (team) (up)", false),
    ("up == 0", false),
    ("changes(up[30m])", false),
    ("count_values(\"v\", up)", false),
    ("node_memory_free_bytes", false),
    ("node_memory_free_bytes{endpoint=\"mover\"}", false),
    ("node_memory_free_bytes{endpoint=~\"host-0[0-4]|mover\", team!=\"green\"}", false),
    ("avg by (team) (node_memory_free_bytes)", false),
    ("min by (team) (node_memory_free_bytes)", false),
    ("max(node_memory_free_bytes)", false),
    ("sum(node_memory_free_bytes)", false),
    ("stddev by (team) (node_memory_free_bytes)", false),
    ("quantile(0.75, node_memory_free_bytes)", false),
    ("topk(3, node_memory_free_bytes)", false),
    ("bottomk by (team) (2, node_memory_free_bytes)", false),
    ("sort_desc(sum by (endpoint) (node_memory_free_bytes))", true),
    ("rate(node_cpu_seconds_total{endpoint=\"mover\"}[5m])", false),
    ("increase(node_cpu_seconds_total{endpoint=\"mover\"}[10m])", false),
    ("irate(node_cpu_seconds_total{endpoint=\"mover\", mode=\"user\"}[1m])", false),
    ("resets(node_cpu_seconds_total[30m])", false),
    ("sum by (endpoint) (rate(node_cpu_seconds_total{mode=\"user\"}[2m]))", false),
    ("sum without (cpu) (rate(node_cpu_seconds_total[3m]))", false),
    ("sum(rate(node_cpu_seconds_total[5m] offset 5m))", false),
    (
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        false,
    ),
    (
        "histogram_quantile(0.5, sum by (le, endpoint) (rate(http_request_duration_seconds_bucket{endpoint=\"mover\"}[5m])))",
        false,
    ),
    (
        "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
        false,
    ),
    ("increase(http_request_duration_seconds_count[10m])", false),
    ("max_over_time(node_memory_free_bytes{endpoint=\"mover\"}[10m])", false),
    ("count_over_time(node_memory_free_bytes[10m])", false),
    ("avg_over_time(node_memory_free_bytes[15m] offset 10m)", false),
    ("node_memory_free_bytes offset 20m", false),
    ("last_over_time(up[10m])", false),
    ("timestamp(node_memory_free_bytes{endpoint=\"mover\"})", false),
    ("deriv(node_memory_free_bytes{endpoint=\"mover\"}[10m])", false),
    ("predict_linear(node_memory_free_bytes{endpoint=\"mover\"}[10m], 600)", false),
    (
        "max_over_time(rate(node_cpu_seconds_total{endpoint=\"mover\"}[2m])[10m:30s])",
        false,
    ),
    ("avg_over_time(sum by (team) (node_memory_free_bytes)[15m:1m])", false),
    (
        "node_memory_free_bytes > on (endpoint) group_left avg by (endpoint) (node_memory_free_bytes offset 5m)",
        false,
    ),
    ("label_replace(up, \"host\", \"$1\", \"endpoint\", \"(.*)\")", false),
    ("absent(node_memory_free_bytes{endpoint=\"nope\"})", false),
    ("scalar(count(up)) * 2", false),
    ("process_cpu_seconds_total", false),
    ("rate(process_cpu_seconds_total{host=\"mover\"}[5m])", false),
    ("sum by (job) (increase(process_cpu_seconds_total[15m]))", false),
    ("{__name__=\"cpu.idle\"}", false),
    ("avg by (endpoint) ({__name__=\"cpu.idle\"})", false),
    ("{__name__=\"net.if.in.bytes\", endpoint=\"mover\"}", false),
    ("sum by (endpoint) (avg_over_time({__name__=\"net.if.in.bytes\"}[5m]))", false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_region_answers_equal_single_region() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let internal = generate_token("argus_int");
    // Whole minutes, an hour and a half ago: the data ends half an hour before now.
    let now = argus_core::time::now_secs();
    let base = (now - 5400) / 60 * 60;
    let tenants = [acme(base), globex(base)];

    // Regions configured apart: east (and `all`) take a series' endpoint from its `host` label,
    // west and north from its `instance` label. A series' labels are the same either way.
    let mut regions = Vec::new();
    for (name, tags) in REGIONS.iter().zip([
        &["host", "instance"][..],
        &["instance", "host"],
        &["instance"],
    ]) {
        regions.push(region(dir.path(), name, &internal, &tenants, tags).await);
    }
    let all = region(
        dir.path(),
        "all",
        &internal,
        &tenants,
        &["host", "instance"],
    )
    .await;
    let multi = web(
        dir.path(),
        "multi",
        &internal,
        &regions.iter().collect::<Vec<_>>(),
        &tenants,
    )
    .await;
    let single = web(dir.path(), "single", &internal, &[&all], &tenants).await;
    let (mw, sw) = (multi.server.url(), single.server.url());

    // Every region gets its hosts' points through its transfer; `all` gets every point once.
    let c = reqwest::Client::new();
    for t in &tenants {
        for (i, r) in regions.iter().enumerate() {
            push(&c, &r.url(), t, Some(i), base).await;
        }
        push(&c, &all.url(), t, None, base).await;
    }
    let asker = Asker { client: c.clone() };

    // Everything is readable, each point once, on both sides. A transfer acknowledges points
    // once durable, in the store or in its spool (replayed soon after): wait for them.
    let end = base + SPAN;
    let deadline = Instant::now() + Duration::from_secs(60);
    for t in &tenants {
        for (metric, n) in t.readable_points() {
            let q = format!("sum(count_over_time({{__name__=\"{metric}\"}}[2h]))");
            for w in [&mw, &sw] {
                let form = [("query", q.clone()), ("time", end.to_string())];
                loop {
                    let v = asker.ask(w, &t.api_token, "query", &form).await;
                    let got = v["data"]["result"][0]["value"][1]
                        .as_str()
                        .map(str::to_owned);
                    let count = got.as_deref().and_then(|c| c.parse::<usize>().ok());
                    // Counts only grow: more than written fails at once.
                    if count.is_some_and(|c| c >= n) || Instant::now() > deadline {
                        assert_eq!(count, Some(n), "{} {q} on {w}: {v}", t.tenant);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    // The moved hosts really are split: both of their regions hold part of their series, and
    // the overlap.
    for t in &tenants {
        let mover = t.hosts.iter().find(|h| h.name == "mover").unwrap();
        for (r, from, to) in &mover.segments {
            let v: Value = c
                .post(format!("{}/internal/v1/query/select", regions[*r].url()))
                .bearer_auth(&internal)
                .json(&serde_json::json!({
                    "tenant": t.tenant, "start": base, "end": base + SPAN,
                    "matchers": [
                        {"key": "__name__", "op": "eq", "value": "up"},
                        {"key": "endpoint", "op": "eq", "value": "mover"}]
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let pts = v[0]["points"].as_array().unwrap_or_else(|| panic!("{v}"));
            let first = pts.first().and_then(|p| p[0].as_i64());
            let last = pts.last().and_then(|p| p[0].as_i64());
            assert_eq!(
                (first, last),
                (Some(base + from), Some(base + to)),
                "{}'s mover in {}: {v}",
                t.tenant,
                REGIONS[*r]
            );
        }
    }

    let xr_web = query_bytes(&mw).await;
    let mut xr_transfers = Vec::new();
    for r in &regions {
        xr_transfers.push(query_bytes(&r.url()).await);
    }

    // The queries, range and instant, on both webs, for both tenants.
    let ranges = [
        (base - 300, end + 600, 60),
        (base + MOVE - 300, base + MOVE + 300, 7),
    ];
    let instants = [base + 900, base + MOVE, base + MOVE + 7, end + 200];
    let mut compared = 0;
    for t in &tenants {
        for (q, ordered) in QUERIES {
            let mut n = 0;
            for (start, stop, step) in ranges {
                let form = [
                    ("query", q.to_string()),
                    ("start", start.to_string()),
                    ("end", stop.to_string()),
                    ("step", step.to_string()),
                ];
                let (a, b) = tokio::join!(
                    asker.ask(&mw, &t.api_token, "query_range", &form),
                    asker.ask(&sw, &t.api_token, "query_range", &form)
                );
                n += same(
                    &format!("{} {q} [{start}, {stop}] {step}s", t.tenant),
                    &a,
                    &b,
                    *ordered,
                );
            }
            for at in instants {
                let form = [("query", q.to_string()), ("time", at.to_string())];
                let (a, b) = tokio::join!(
                    asker.ask(&mw, &t.api_token, "query", &form),
                    asker.ask(&sw, &t.api_token, "query", &form)
                );
                n += same(&format!("{} {q} at {at}", t.tenant), &a, &b, *ordered);
            }
            // Equal and empty proves nothing: every query answers something.
            assert!(n > 0, "{} {q}: no sample on either side", t.tenant);
            compared += n;
        }
    }

    // The listings agree too.
    for t in &tenants {
        for (path, form) in [
            ("series", vec![("match[]", "up".to_string())]),
            (
                "series",
                vec![("match[]", "{endpoint=\"mover\"}".to_string())],
            ),
            ("labels", vec![]),
            ("label/endpoint/values", vec![]),
            ("label/__name__/values", vec![]),
        ] {
            let mut form = form;
            form.push(("start", base.to_string()));
            form.push(("end", end.to_string()));
            let a = asker.ask(&mw, &t.api_token, path, &form).await;
            let b = asker.ask(&sw, &t.api_token, path, &form).await;
            assert_eq!(a, b, "{} {path} {form:?}", t.tenant);
            assert!(!a["data"].as_array().unwrap().is_empty(), "{path}: {a}");
        }
    }

    // The moved host is one series, counted once, and each tenant sees exactly its hosts.
    for t in &tenants {
        let hosts: BTreeSet<&str> = t.hosts.iter().map(|h| h.name.as_str()).collect();
        for at in [base + MOVE - 20, base + MOVE, base + MOVE + 20] {
            let v = asker
                .ask(
                    &mw,
                    &t.api_token,
                    "query",
                    &[
                        ("query", "count by (endpoint) (up)".into()),
                        ("time", at.to_string()),
                    ],
                )
                .await;
            let got: BTreeMap<String, String> = v["data"]["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["metric"]["endpoint"].as_str().unwrap().to_string(),
                        s["value"][1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(
                got.keys().map(String::as_str).collect::<BTreeSet<_>>(),
                hosts,
                "{} at {at}: {v}",
                t.tenant
            );
            assert!(
                got.values().all(|c| c == "1"),
                "{} at {at}: a host counted twice: {v}",
                t.tenant
            );
        }
        let mover = t.hosts.iter().find(|h| h.name == "mover").unwrap();
        let v = asker
            .ask(
                &mw,
                &t.api_token,
                "query",
                &[
                    (
                        "query",
                        "count_over_time(up{endpoint=\"mover\"}[2h])".into(),
                    ),
                    ("time", end.to_string()),
                ],
            )
            .await;
        assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(1), "{v}");
        assert_eq!(
            v["data"]["result"][0]["value"][1].as_str(),
            Some(mover.times(base).len().to_string().as_str()),
            "{}: the mover's points: {v}",
            t.tenant
        );
    }

    // Query traffic crossed to every region and back, and was counted.
    let xr_web_after = query_bytes(&mw).await;
    for (i, r) in regions.iter().enumerate() {
        let before = xr_web.get(&r.name).copied().unwrap_or(0);
        let after = xr_web_after.get(&r.name).copied().unwrap_or(0);
        assert!(
            after > before,
            "web's query bytes to {}: {before} then {after}",
            r.name
        );
        let before = xr_transfers[i].get("global").copied().unwrap_or(0);
        let after = query_bytes(&r.url())
            .await
            .get("global")
            .copied()
            .unwrap_or(0);
        assert!(
            after > before,
            "{}'s answer bytes: {before} then {after}",
            r.name
        );
    }

    // Aggregations are computed in the regions: the same answers as a web that fetches every
    // selected series, for a fraction of the bytes the regions send.
    let raw = web_with(
        dir.path(),
        "raw",
        &internal,
        &regions.iter().collect::<Vec<_>>(),
        &tenants,
        false,
    )
    .await;
    let rw = raw.server.url();
    let sent = || async {
        let mut n = 0;
        for r in &regions {
            n += query_bytes(&r.url())
                .await
                .get("global")
                .copied()
                .unwrap_or(0);
        }
        n
    };
    let t = &tenants[0];
    let form = [
        (
            "query",
            "sum by (team) (rate(node_cpu_seconds_total[5m]))".to_string(),
        ),
        ("start", (base - 300).to_string()),
        ("end", (end + 600).to_string()),
        ("step", "60".to_string()),
    ];
    let b0 = sent().await;
    let pushed = asker.ask(&mw, &t.api_token, "query_range", &form).await;
    let b1 = sent().await;
    let fetched = asker.ask(&rw, &t.api_token, "query_range", &form).await;
    let b2 = sent().await;
    assert!(
        same("pushed down vs fetched", &pushed, &fetched, false) > 0,
        "{pushed}"
    );
    let (pushed_bytes, fetched_bytes) = (b1 - b0, b2 - b1);
    assert!(
        pushed_bytes * 2 < fetched_bytes,
        "regions sent {pushed_bytes} bytes for partial sums, {fetched_bytes} for the series"
    );
    raw.stop().await;

    // A region down: a partial answer, with a warning, of exactly the other regions' series.
    let north = regions.pop().unwrap();
    let north_index = regions.len();
    north.stop().await;
    for t in &tenants {
        let expected: BTreeSet<&str> = t
            .hosts
            .iter()
            .filter(|h| h.regions() != BTreeSet::from([north_index]))
            .map(|h| h.name.as_str())
            .collect();
        assert!(
            expected.len() < t.hosts.len(),
            "{} has a host only in north",
            t.tenant
        );
        for (path, form) in [
            (
                "query",
                vec![
                    ("query", "count by (endpoint) (up)".to_string()),
                    ("time", (base + MOVE).to_string()),
                ],
            ),
            (
                "query_range",
                vec![
                    ("query", "count by (endpoint) (up)".to_string()),
                    ("start", base.to_string()),
                    ("end", end.to_string()),
                    ("step", "300".to_string()),
                ],
            ),
        ] {
            let v = asker.ask(&mw, &t.api_token, path, &form).await;
            let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
            assert_eq!(warnings.len(), 1, "{path}: {v}");
            assert!(
                warnings[0]
                    .as_str()
                    .unwrap()
                    .contains("region north did not answer"),
                "{path}: {v}"
            );
            let got: BTreeSet<&str> = v["data"]["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["metric"]["endpoint"].as_str().unwrap())
                .collect();
            assert_eq!(got, expected, "{} {path} without north: {v}", t.tenant);
        }
    }

    println!(
        "figures: {} queries x {} evaluations x 2 tenants, {compared} samples compared, in {:.1} s",
        QUERIES.len(),
        ranges.len() + instants.len(),
        started.elapsed().as_secs_f64()
    );
    multi.stop().await;
    single.stop().await;
    for r in regions {
        r.stop().await;
    }
    all.stop().await;
}
