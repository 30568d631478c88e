//! `cpu.*`: shares of CPU time over the last step, in percent, from `/proc/stat`, for all CPUs
//! together and per core (`cpu.core.*`, tag `core`), and `cpu.switches` (context switches per
//! second).

use super::{read_proc, Emit, Rates};
use argus_core::Tags;
use std::collections::HashMap;

/// Cumulative jiffies of a `cpu` line, in `/proc/stat` order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Times([u64; 10]);

const NAMES: [&str; 8] = [
    "cpu.user",
    "cpu.nice",
    "cpu.system",
    "cpu.idle",
    "cpu.iowait",
    "cpu.irq",
    "cpu.softirq",
    "cpu.steal",
];

/// Per core, the shares a per-core dashboard needs (all ten per core would multiply the series
/// of a large host for little use): index into [`Times`] and name.
const CORE_NAMES: [(usize, &str); 4] = [
    (0, "cpu.core.user"),
    (2, "cpu.core.system"),
    (3, "cpu.core.idle"),
    (4, "cpu.core.iowait"),
];

impl Times {
    fn parse(line: &str) -> Option<Self> {
        let mut t = [0u64; 10];
        // Older kernels have fewer columns (no steal, guest): those stay 0.
        for (i, v) in line.split_whitespace().skip(1).take(10).enumerate() {
            t[i] = v.parse().ok()?;
        }
        Some(Times(t))
    }

    /// Total time; guest time is already counted in user and nice, so only the first 8.
    fn total(&self) -> u64 {
        self.0[..8].iter().sum()
    }

    /// Percent of the time between `prev` and `self` spent in column `i`; `None` without time.
    fn pct(&self, prev: &Times, i: usize) -> Option<f64> {
        let dt = self.total().saturating_sub(prev.total());
        (dt > 0).then(|| 100.0 * self.0[i].saturating_sub(prev.0[i]) as f64 / dt as f64)
    }
}

/// What one read of `/proc/stat` gives.
#[derive(Debug, Default)]
struct Stat {
    all: Option<Times>,
    cores: Vec<(String, Times)>,
    ctxt: Option<u64>,
}

fn parse_stat(text: &str) -> Stat {
    let mut s = Stat::default();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("cpu") {
            if rest.starts_with(' ') {
                s.all = Times::parse(l);
            } else if let (Some(name), Some(t)) = (l.split_whitespace().next(), Times::parse(l)) {
                s.cores.push((name.to_string(), t));
            }
        } else if let Some(v) = l.strip_prefix("ctxt ") {
            s.ctxt = v.trim().parse().ok();
        }
    }
    s
}

/// Keeps the last reading of `/proc/stat`.
#[derive(Default)]
pub(super) struct Cpu {
    last: Option<Times>,
    cores: HashMap<String, Times>,
    rates: Rates,
}

impl Cpu {
    pub(super) fn collect(&mut self, e: &mut Emit, secs: f64) {
        let Some(text) = read_proc("/proc/stat") else {
            return;
        };
        let stat = parse_stat(&text);
        if let Some(now) = stat.all {
            if let Some(prev) = self.last.replace(now) {
                for (i, name) in NAMES.iter().enumerate() {
                    if let Some(p) = now.pct(&prev, i) {
                        e.gauge(name, p);
                    }
                }
                if let Some(idle) = now.pct(&prev, 3) {
                    e.gauge("cpu.busy", 100.0 - idle);
                }
                if let Some(g) = now.pct(&prev, 8) {
                    e.gauge("cpu.guest", g);
                }
            }
        }
        // A core taken offline disappears from /proc/stat: forget it.
        let mut cores = HashMap::with_capacity(stat.cores.len());
        for (name, now) in stat.cores {
            if let Some(prev) = self.cores.get(&name) {
                let tags = Tags::from_pairs([("core", name.as_str())]);
                for (i, metric) in CORE_NAMES {
                    if let Some(p) = now.pct(prev, i) {
                        e.tagged(metric, tags.clone(), p);
                    }
                }
                if let Some(idle) = now.pct(prev, 3) {
                    e.tagged("cpu.core.busy", tags, 100.0 - idle);
                }
            }
            cores.insert(name, now);
        }
        self.cores = cores;
        if let Some(r) = stat.ctxt.and_then(|c| self.rates.rate("ctxt", c, secs)) {
            e.gauge("cpu.switches", r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_total_cores_and_context_switches() {
        let s = parse_stat(
            "cpu  10 0 5 80 5 0 0 0 0 0\ncpu0 5 0 2 40 3 0 0 0 0 0\ncpu1 5 0 3 40 2 0 0 0 0 0\n\
             intr 1 2 3\nctxt 123456\nbtime 1\n",
        );
        assert_eq!(s.all.unwrap().total(), 100);
        let names: Vec<_> = s.cores.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["cpu0", "cpu1"]);
        assert_eq!(s.ctxt, Some(123_456));
        let prev = Times([0; 10]);
        assert_eq!(s.cores[0].1.pct(&prev, 3), Some(80.0));
        assert_eq!(prev.pct(&prev, 3), None);
    }
}
