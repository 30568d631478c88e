//! `cpu.*`: shares of CPU time over the last step, in percent, from `/proc/stat`.

use super::{read_proc, Emit};

/// Cumulative jiffies of the `cpu ` line, in `/proc/stat` order.
#[derive(Debug, Clone, Copy, Default)]
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

impl Times {
    fn read() -> Option<Self> {
        let text = read_proc("/proc/stat")?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let mut t = [0u64; 10];
        for (i, v) in line.split_whitespace().skip(1).take(10).enumerate() {
            t[i] = v.parse().ok()?;
        }
        Some(Times(t))
    }

    /// Total time; guest time is already counted in user and nice, so only the first 8.
    fn total(&self) -> u64 {
        self.0[..8].iter().sum()
    }
}

/// Keeps the last reading of `/proc/stat`.
#[derive(Default)]
pub(super) struct Cpu {
    last: Option<Times>,
}

impl Cpu {
    pub(super) fn collect(&mut self, e: &mut Emit) {
        let Some(now) = Times::read() else { return };
        if let Some(prev) = self.last.replace(now) {
            let dt = now.total().saturating_sub(prev.total());
            if dt == 0 {
                return;
            }
            let pct = |i: usize| 100.0 * now.0[i].saturating_sub(prev.0[i]) as f64 / dt as f64;
            for (i, name) in NAMES.iter().enumerate() {
                e.gauge(name, pct(i));
            }
            e.gauge("cpu.busy", 100.0 - pct(3));
            e.gauge("cpu.guest", pct(8));
        }
    }
}
