//! Structured logs and the `/metrics` registry that every component exposes about itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Starts logging to stderr. `json` selects one JSON object per line (for log shippers);
/// otherwise human-readable lines, coloured only when stderr is a terminal (a log file or a
/// journal gets no escape codes). The level comes from `RUST_LOG` when set, else
/// `default_level`.
pub fn init_logging(json: bool, default_level: &str) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests, standalone) is harmless: the first subscriber stays.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1)
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed)
    }
    /// Adds `d` (may be negative).
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

enum Metric {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
}

struct Family {
    help: String,
    kind: &'static str,
    /// By rendered label set; with the labels themselves (for [`Registry::render_hiding`]).
    series: BTreeMap<String, (Vec<(String, String)>, Metric)>,
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The metrics of one component, rendered in the Prometheus text format at `/metrics`.
///
/// Registering is rare and takes a lock; callers keep the returned handle, so the hot path is a
/// single atomic add.
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

fn label_string(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s.push('}');
    s
}

impl Registry {
    /// A new, empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter `name` with `labels`, created on first use.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<Counter> {
        let mut f = self.families.lock().expect("metrics lock");
        let fam = f.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind: "counter",
            series: BTreeMap::new(),
        });
        match &fam
            .series
            .entry(label_string(labels))
            .or_insert_with(|| (owned(labels), Metric::Counter(Arc::default())))
            .1
        {
            Metric::Counter(c) => c.clone(),
            Metric::Gauge(_) => panic!("metric {name} registered as a gauge and a counter"),
        }
    }

    /// The gauge `name` with `labels`, created on first use.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<Gauge> {
        let mut f = self.families.lock().expect("metrics lock");
        let fam = f.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind: "gauge",
            series: BTreeMap::new(),
        });
        match &fam
            .series
            .entry(label_string(labels))
            .or_insert_with(|| (owned(labels), Metric::Gauge(Arc::default())))
            .1
        {
            Metric::Gauge(g) => g.clone(),
            Metric::Counter(_) => panic!("metric {name} registered as a counter and a gauge"),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.render_hiding(None)
    }

    /// The exposition with the label `hidden` (e.g. `tenant`) removed: the series that differed
    /// only by it are summed. What an unauthenticated scrape gets, so that it learns no tenant.
    pub fn render_hiding(&self, hidden: Option<&str>) -> String {
        let f = self.families.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, fam) in f.iter() {
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
            let mut summed: BTreeMap<String, i64> = BTreeMap::new();
            for (rendered, (labels, m)) in &fam.series {
                let v = match m {
                    Metric::Counter(c) => c.get() as i64,
                    Metric::Gauge(g) => g.get(),
                };
                let key = match hidden {
                    Some(h) if labels.iter().any(|(k, _)| k == h) => {
                        let kept: Vec<(&str, &str)> = labels
                            .iter()
                            .filter(|(k, _)| k != h)
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect();
                        label_string(&kept)
                    }
                    _ => rendered.clone(),
                };
                *summed.entry(key).or_default() += v;
            }
            for (labels, v) in summed {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
        out
    }
}

/// The header a node sends with every request to another zone, naming its own region, so that
/// the answering side can count the bytes of its answer by destination region.
pub const REGION_HEADER: &str = "x-argus-region";

/// The region name of the global zone (web, alarm).
pub const GLOBAL_REGION: &str = "global";

/// What crosses between regions (the only kinds that should: metric points stay in their
/// region, `points` exists to prove it stays zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrossKind {
    /// Metric points (never, by design).
    Points,
    /// PROBLEM/OK events, judge → alarm, and their answers.
    Events,
    /// Configuration pulls and their answers, and host heartbeats (aggregated by transfers).
    Config,
    /// Query requests (web → region) and their results.
    Query,
}

impl CrossKind {
    /// The `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            CrossKind::Points => "points",
            CrossKind::Events => "events",
            CrossKind::Config => "config",
            CrossKind::Query => "query",
        }
    }
}

/// The counters of a [`CrossRegion`], by kind and destination.
type CrossCounters = BTreeMap<(CrossKind, String), Arc<Counter>>;

/// Counts the bytes a node sends to another region, by kind and destination, as
/// `argus_cross_region_bytes_sent_total{kind,to}`: a request by the node that makes it, an answer
/// by the node that answers (which learns the caller's region from [`REGION_HEADER`]). Bytes
/// are as they go over the wire: HTTP head (estimated by [`http_head_len`]) plus the body as
/// sent (compressed when it is).
#[derive(Clone)]
pub struct CrossRegion {
    region: Arc<str>,
    registry: Registry,
    counters: Arc<Mutex<CrossCounters>>,
}

impl CrossRegion {
    /// Counters of a node of `region` (empty: [`GLOBAL_REGION`]) in `registry`.
    pub fn new(registry: &Registry, region: &str) -> Self {
        let region = if region.is_empty() {
            GLOBAL_REGION
        } else {
            region
        };
        CrossRegion {
            region: region.into(),
            registry: registry.clone(),
            counters: Arc::default(),
        }
    }

    /// This node's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Counts `bytes` of `kind` sent to region `to`; nothing when `to` is this node's own region
    /// or empty (unknown).
    pub fn sent(&self, kind: CrossKind, to: &str, bytes: u64) {
        if to.is_empty() || to == &*self.region {
            return;
        }
        let c = {
            let mut m = self.counters.lock().expect("cross-region lock");
            m.entry((kind, to.to_string()))
                .or_insert_with(|| {
                    self.registry.counter(
                        "argus_cross_region_bytes_sent_total",
                        "Bytes sent to another region (HTTP head and body as on the wire), by kind and destination region.",
                        &[("kind", kind.as_str()), ("to", to)],
                    )
                })
                .clone()
        };
        c.add(bytes);
    }

    /// The bytes of `kind` sent to `to` so far.
    pub fn get(&self, kind: CrossKind, to: &str) -> u64 {
        let m = self.counters.lock().expect("cross-region lock");
        m.get(&(kind, to.to_string())).map_or(0, |c| c.get())
    }
}

/// The size of an HTTP/1.1 message head: `first_line` (e.g. `GET /path HTTP/1.1`), each header
/// as `name: value`, line ends, plus `extra` bytes for headers the HTTP library adds itself
/// (`host`, `date`, `content-length`, ...).
pub fn http_head_len<K: AsRef<str>, V: AsRef<[u8]>>(
    first_line: usize,
    headers: impl IntoIterator<Item = (K, V)>,
    extra: usize,
) -> u64 {
    let h: usize = headers
        .into_iter()
        .map(|(k, v)| k.as_ref().len() + 2 + v.as_ref().len() + 2)
        .sum();
    (first_line + 2 + h + 2 + extra) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let r = Registry::new();
        r.counter("argus_points_total", "Points.", &[("tenant", "a\"b")])
            .add(3);
        r.counter("argus_points_total", "Points.", &[("tenant", "a\"b")])
            .inc();
        r.gauge("argus_queue", "Queue.", &[]).set(-2);
        let text = r.render();
        assert!(text.contains("# TYPE argus_points_total counter"));
        assert!(text.contains("argus_points_total{tenant=\"a\\\"b\"} 4"));
        assert!(text.contains("argus_queue -2"));
    }

    #[test]
    fn a_hidden_label_is_summed_away() {
        let r = Registry::new();
        r.counter("x_total", "X.", &[("tenant", "a"), ("limit", "rate")])
            .add(2);
        r.counter("x_total", "X.", &[("tenant", "b"), ("limit", "rate")])
            .add(3);
        r.counter("x_total", "X.", &[("tenant", "b"), ("limit", "series")])
            .add(1);
        r.gauge("y", "Y.", &[("kind", "k")]).set(7);
        let text = r.render_hiding(Some("tenant"));
        assert!(!text.contains("tenant"), "{text}");
        assert!(text.contains("x_total{limit=\"rate\"} 5\n"), "{text}");
        assert!(text.contains("x_total{limit=\"series\"} 1\n"));
        assert!(text.contains("y{kind=\"k\"} 7\n"));
        assert!(r
            .render()
            .contains("x_total{tenant=\"b\",limit=\"rate\"} 3\n"));
    }

    #[test]
    fn cross_region_counts_only_other_regions() {
        let r = Registry::new();
        let x = CrossRegion::new(&r, "east");
        x.sent(CrossKind::Config, "global", 100);
        x.sent(CrossKind::Config, "global", 20);
        x.sent(CrossKind::Query, "east", 999);
        x.sent(CrossKind::Events, "", 999);
        assert_eq!(x.get(CrossKind::Config, "global"), 120);
        assert_eq!(x.get(CrossKind::Query, "east"), 0);
        let text = r.render();
        assert!(
            text.contains("argus_cross_region_bytes_sent_total{kind=\"config\",to=\"global\"} 120")
        );
        assert!(!text.contains("to=\"east\""));
        assert_eq!(CrossRegion::new(&r, "").region(), GLOBAL_REGION);
        assert_eq!(http_head_len(10, [("ab", "cd")], 0), 10 + 2 + 8 + 2);
    }
}
