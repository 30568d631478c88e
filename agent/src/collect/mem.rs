//! `mem.*` from `/proc/meminfo`, with open-falcon's definitions: free memory counts buffers and
//! page cache (`MemFree + Buffers + Cached`), and used is the rest.

use super::{read_proc, Emit};

fn field(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| {
        l.strip_prefix(key)
            .map(|r| r.starts_with(':'))
            .unwrap_or(false)
    })?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

pub(super) fn collect(e: &mut Emit) {
    let Some(t) = read_proc("/proc/meminfo") else {
        return;
    };
    let get = |k| field(&t, k).unwrap_or(0.0);
    let total = get("MemTotal");
    let free = get("MemFree") + get("Buffers") + get("Cached");
    let used = (total - free).max(0.0);
    let swap_total = get("SwapTotal");
    let swap_free = get("SwapFree");
    let swap_used = (swap_total - swap_free).max(0.0);
    e.gauge("mem.memtotal", total);
    e.gauge("mem.memused", used);
    e.gauge("mem.memfree", free);
    e.gauge("mem.swaptotal", swap_total);
    e.gauge("mem.swapused", swap_used);
    e.gauge("mem.swapfree", swap_free);
    if let Some(avail) = field(&t, "MemAvailable") {
        e.gauge("mem.memavailable", avail);
    }
    if total > 0.0 {
        e.gauge("mem.memfree.percent", 100.0 * free / total);
        e.gauge("mem.memused.percent", 100.0 * used / total);
    }
    let pct = |x: f64| {
        if swap_total > 0.0 {
            100.0 * x / swap_total
        } else {
            0.0
        }
    };
    e.gauge("mem.swapused.percent", pct(swap_used));
    e.gauge(
        "mem.swapfree.percent",
        if swap_total > 0.0 {
            pct(swap_free)
        } else {
            100.0
        },
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_needs_the_exact_key() {
        let t = "MemTotal:  1000 kB\nSwapCached: 5 kB\nCached: 7 kB\n";
        assert_eq!(super::field(t, "Cached"), Some(7.0 * 1024.0));
        assert_eq!(super::field(t, "Nope"), None);
    }
}
