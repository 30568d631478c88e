//! Host metrics, named the way open-falcon users know them (`cpu.idle`, `mem.memused`, ...).

use argus_core::{Point, Tags};
use sysinfo::System;

/// Cumulative CPU jiffies from `/proc/stat`, to derive per-step percentages.
#[derive(Debug, Clone, Copy, Default)]
struct CpuTimes {
    user: u64,
    nice: u64,
    system: u64,
    idle: u64,
    iowait: u64,
    irq: u64,
    softirq: u64,
    steal: u64,
}

impl CpuTimes {
    fn read() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let g = |i: usize| v.get(i).copied().unwrap_or(0);
        Some(CpuTimes {
            user: g(0),
            nice: g(1),
            system: g(2),
            idle: g(3),
            iowait: g(4),
            irq: g(5),
            softirq: g(6),
            steal: g(7),
        })
    }

    fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }
}

/// Collects host metrics each step; keeps what it needs to turn counters into rates.
pub struct Collector {
    endpoint: String,
    step: u32,
    sys: System,
    last_cpu: Option<CpuTimes>,
}

impl Collector {
    /// A collector reporting as `endpoint` every `step` seconds.
    pub fn new(endpoint: String, step: u32) -> Self {
        let mut c = Collector {
            endpoint,
            step,
            sys: System::new(),
            last_cpu: CpuTimes::read(),
        };
        c.sys.refresh_memory();
        c
    }

    fn point(&self, metric: &str, value: f64, ts: i64) -> Point {
        let mut p = Point::gauge(&self.endpoint, metric, Tags::new(), value, ts);
        p.step = self.step;
        p
    }

    /// One round of collection at Unix time `ts`.
    pub fn collect(&mut self, ts: i64) -> Vec<Point> {
        let mut out = Vec::with_capacity(32);
        out.push(self.point("agent.alive", 1.0, ts));
        self.collect_cpu(ts, &mut out);
        self.collect_mem(ts, &mut out);
        let load = System::load_average();
        out.push(self.point("load.1min", load.one, ts));
        out.push(self.point("load.5min", load.five, ts));
        out.push(self.point("load.15min", load.fifteen, ts));
        out
    }

    fn collect_cpu(&mut self, ts: i64, out: &mut Vec<Point>) {
        let now = CpuTimes::read();
        if let (Some(a), Some(b)) = (self.last_cpu, now) {
            let dt = b.total().saturating_sub(a.total());
            if dt > 0 {
                let pct = |x: u64, y: u64| 100.0 * y.saturating_sub(x) as f64 / dt as f64;
                let idle = pct(a.idle, b.idle);
                out.push(self.point("cpu.idle", idle, ts));
                out.push(self.point("cpu.busy", 100.0 - idle, ts));
                out.push(self.point("cpu.user", pct(a.user, b.user), ts));
                out.push(self.point("cpu.system", pct(a.system, b.system), ts));
                out.push(self.point("cpu.iowait", pct(a.iowait, b.iowait), ts));
            }
        }
        if now.is_some() {
            self.last_cpu = now;
        }
    }

    fn collect_mem(&mut self, ts: i64, out: &mut Vec<Point>) {
        self.sys.refresh_memory();
        let total = self.sys.total_memory() as f64;
        let used = self.sys.used_memory() as f64;
        let avail = self.sys.available_memory() as f64;
        out.push(self.point("mem.memtotal", total, ts));
        out.push(self.point("mem.memused", used, ts));
        if total > 0.0 {
            out.push(self.point("mem.memfree.percent", 100.0 * avail / total, ts));
            out.push(self.point("mem.memused.percent", 100.0 * used / total, ts));
        }
        let swap = self.sys.total_swap() as f64;
        let swap_used = self.sys.used_swap() as f64;
        out.push(self.point(
            "mem.swapused.percent",
            if swap > 0.0 {
                100.0 * swap_used / swap
            } else {
                0.0
            },
            ts,
        ));
    }
}
