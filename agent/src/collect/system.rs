//! Whole-system gauges: `load.*`, `ss.estab`, `proc.num`, `kernel.maxfiles`, `kernel.files.*`.

use super::{read_proc, Emit};

pub(super) fn collect(e: &mut Emit) {
    if let Some(t) = read_proc("/proc/loadavg") {
        let v: Vec<f64> = t
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [one, five, fifteen] = v[..] {
            e.gauge("load.1min", one);
            e.gauge("load.5min", five);
            e.gauge("load.15min", fifteen);
        }
    }
    if let Some(n) = read_proc("/proc/net/snmp").and_then(|t| curr_estab(&t)) {
        e.gauge("ss.estab", n);
    }
    if let Ok(dir) = std::fs::read_dir("/proc") {
        let n = dir
            .filter_map(Result::ok)
            .filter(|d| {
                d.file_name()
                    .to_str()
                    .map(|s| s.bytes().all(|b| b.is_ascii_digit()))
                    .unwrap_or(false)
            })
            .count();
        e.gauge("proc.num", n as f64);
    }
    if let Some(v) = read_proc("/proc/sys/fs/file-max").and_then(|t| t.trim().parse::<f64>().ok()) {
        e.gauge("kernel.maxfiles", v);
    }
    if let Some(t) = read_proc("/proc/sys/fs/file-nr") {
        // allocated, unused (always 0 since 2.6), max
        if let Some(a) = t
            .split_whitespace()
            .next()
            .and_then(|x| x.parse::<f64>().ok())
        {
            e.gauge("kernel.files.allocated", a);
        }
    }
    if let Some(v) =
        read_proc("/proc/sys/kernel/pid_max").and_then(|t| t.trim().parse::<f64>().ok())
    {
        e.gauge("kernel.maxproc", v);
    }
}

/// `CurrEstab` of the `Tcp:` lines of `/proc/net/snmp` (IPv4 and IPv6 together: the kernel
/// keeps one TCP MIB), what `ss -s` reports as estab.
fn curr_estab(snmp: &str) -> Option<f64> {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let head: Vec<&str> = tcp.next()?.split_whitespace().collect();
    let vals: Vec<&str> = tcp.next()?.split_whitespace().collect();
    let i = head.iter().position(|h| *h == "CurrEstab")?;
    vals.get(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_curr_estab() {
        let t = "Ip: a b\nIp: 1 2\nTcp: RtoAlgorithm CurrEstab InSegs\nTcp: 1 42 7\n";
        assert_eq!(super::curr_estab(t), Some(42.0));
    }
}
