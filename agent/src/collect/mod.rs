//! Host metrics, named the way open-falcon users know them (`cpu.idle`, `mem.memused`,
//! `df.bytes.free.percent`, `net.if.in.bytes`, ...). Every name is documented in
//! `docs/METRICS.md`.
//!
//! Counters of the kernel (CPU jiffies, disk sectors, interface bytes) are turned into per-second
//! rates between two rounds, so the first round after start reports only gauges.
//!
//! sysinfo (the project's crate for host facts) gives the load averages here, and the OS,
//! kernel, host name and total memory of the heartbeat. The rest is read from `/proc` and
//! `statvfs(3)` because sysinfo lacks a figure of each group or would cost memory:
//! - `cpu.*`: iowait, steal, irq, softirq, guest, per core, and context switches;
//! - `mem.*`: open-falcon's free memory is `MemFree + Buffers + Cached`, and sysinfo gives
//!   neither buffers nor cache;
//! - `df.*`: inodes; `disk.io.*`: I/O time, merges, queue (await, svctm, avgqu-sz);
//! - `net.if.*`: dropped packets (and sysinfo reads several `/sys` files per interface where
//!   `/proc/net/dev` is one read);
//! - processes (`proc.num`, the `procs` checks): sysinfo keeps a table of every process in
//!   memory, where counting and matching need one `comm`/`cmdline` read at a time (the agent's
//!   RSS goal is below 10 MiB);
//! - `ss.*`, `TcpExt.*`, `kernel.*`: not in sysinfo.

mod checks;
mod cpu;
mod df;
mod diskio;
mod mem;
mod net;
mod system;

pub use checks::Checks;

use argus_core::{Point, Tags};
use std::collections::HashMap;
use std::time::Instant;

/// Where collectors put their points: the endpoint, step and time of this round.
pub struct Emit<'a> {
    endpoint: &'a str,
    step: u32,
    ts: i64,
    out: &'a mut Vec<Point>,
}

impl Emit<'_> {
    /// A gauge without tags.
    pub fn gauge(&mut self, metric: &str, value: f64) {
        self.tagged(metric, Tags::new(), value);
    }

    /// A gauge with tags. Non-finite values (a division by a zero interval) are skipped.
    pub fn tagged(&mut self, metric: &str, tags: Tags, value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut p = Point::gauge(self.endpoint, metric, tags, value, self.ts);
        p.step = self.step;
        self.out.push(p);
    }
}

/// Reads a `/proc` file; `None` when it is not there (a container, another OS).
pub(crate) fn read_proc(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Per-second rates from cumulative counters, keyed by name: remembers the last reading.
#[derive(Default)]
pub(crate) struct Rates {
    last: HashMap<String, u64>,
}

impl Rates {
    /// The per-second rate of counter `key` now at `value`, `secs` after the last round; `None`
    /// on the first reading or after a counter reset (a reboot of the counter, not a spike).
    pub(crate) fn rate(&mut self, key: &str, value: u64, secs: f64) -> Option<f64> {
        let prev = self.last.insert(key.to_string(), value)?;
        if value < prev || secs <= 0.0 {
            return None;
        }
        Some((value - prev) as f64 / secs)
    }

    /// Forgets keys not seen this round (an interface or a disk that went away).
    pub(crate) fn retain(&mut self, seen: &std::collections::HashSet<String>) {
        self.last.retain(|k, _| seen.contains(k));
    }
}

/// Collects host metrics each step; keeps what it needs to turn counters into rates.
pub struct Collector {
    endpoint: String,
    step: u32,
    last_round: Option<Instant>,
    cpu: cpu::Cpu,
    disk: diskio::DiskIo,
    net: net::Net,
    system: system::System,
    checks: Checks,
}

impl Collector {
    /// A collector reporting as `endpoint` every `step` seconds.
    pub fn new(endpoint: String, step: u32) -> Self {
        let mut c = Collector {
            endpoint,
            step,
            last_round: None,
            cpu: cpu::Cpu::default(),
            disk: diskio::DiskIo::default(),
            net: net::Net::default(),
            system: system::System::default(),
            checks: Checks::default(),
        };
        // A baseline, so the first real round already has rates.
        c.collect(0);
        c
    }

    /// Changes the step reported on points (the config center may change it).
    pub fn set_step(&mut self, step: u32) {
        self.step = step;
    }

    /// Sets the checks run each round (`net.port.listen`, `proc.num`, `du.bs`).
    pub fn set_checks(&mut self, checks: Checks) {
        self.checks = checks;
    }

    /// One round of collection at Unix time `ts`.
    pub fn collect(&mut self, ts: i64) -> Vec<Point> {
        let now = Instant::now();
        let secs = self
            .last_round
            .map(|t| now.duration_since(t).as_secs_f64())
            .unwrap_or(0.0);
        self.last_round = Some(now);
        let mut out = Vec::with_capacity(64);
        let mut e = Emit {
            endpoint: &self.endpoint,
            step: self.step,
            ts,
            out: &mut out,
        };
        e.gauge("agent.alive", 1.0);
        self.cpu.collect(&mut e, secs);
        mem::collect(&mut e);
        self.system.collect(&mut e, secs);
        df::collect(&mut e);
        self.disk.collect(&mut e, secs);
        self.net.collect(&mut e, secs);
        self.checks.collect(&mut e);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_skip_first_reading_and_resets() {
        let mut r = Rates::default();
        assert_eq!(r.rate("a", 100, 1.0), None);
        assert_eq!(r.rate("a", 300, 2.0), Some(100.0));
        assert_eq!(r.rate("a", 50, 1.0), None);
        assert_eq!(r.rate("a", 60, 1.0), Some(10.0));
    }
}
