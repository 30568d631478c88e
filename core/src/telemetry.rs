//! Structured logs and the `/metrics` registry that every component exposes about itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Starts logging to stderr. `json` selects one JSON object per line (for log shippers);
/// otherwise human-readable lines. The level comes from `RUST_LOG` when set, else `default_level`.
pub fn init_logging(json: bool, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    series: BTreeMap<String, Metric>,
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
        match fam
            .series
            .entry(label_string(labels))
            .or_insert_with(|| Metric::Counter(Arc::default()))
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
        match fam
            .series
            .entry(label_string(labels))
            .or_insert_with(|| Metric::Gauge(Arc::default()))
        {
            Metric::Gauge(g) => g.clone(),
            Metric::Counter(_) => panic!("metric {name} registered as a counter and a gauge"),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let f = self.families.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, fam) in f.iter() {
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
            for (labels, m) in &fam.series {
                let v = match m {
                    Metric::Counter(c) => c.get() as i64,
                    Metric::Gauge(g) => g.get(),
                };
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
        out
    }
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
}
