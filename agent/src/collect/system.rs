//! Whole-system gauges: `load.*`, `ss.*` (what `ss -s` summarises), `TcpExt.*` (per-second
//! rates of open-falcon's set), `proc.num`, `kernel.maxfiles`, `kernel.files.*`.

use super::{read_proc, Emit, Rates};

/// The `TcpExt` counters open-falcon reported (from `/proc/net/netstat`), under the same names.
/// Counters a kernel no longer has (`TCPPrequeueDropped` went in 4.14) are simply absent.
const TCP_EXT: [&str; 23] = [
    "PruneCalled",
    "LockDroppedIcmps",
    "ArpFilter",
    "TW",
    "DelayedACKLocked",
    "ListenOverflows",
    "ListenDrops",
    "TCPPrequeueDropped",
    "TCPTSReorder",
    "TCPDSACKUndo",
    "TCPLoss",
    "TCPLostRetransmit",
    "TCPLossFailures",
    "TCPFastRetrans",
    "TCPTimeouts",
    "TCPSchedulerFailed",
    "TCPAbortOnMemory",
    "TCPAbortOnTimeout",
    "TCPAbortFailed",
    "TCPMemoryPressures",
    "TCPSpuriousRTOs",
    "TCPBacklogDrop",
    "TCPMinTTLDrop",
];

/// Keeps the last `TcpExt` readings for rates.
#[derive(Default)]
pub(super) struct System {
    rates: Rates,
}

impl System {
    pub(super) fn collect(&mut self, e: &mut Emit, secs: f64) {
        collect(e);
        if let Some(t) = read_proc("/proc/net/netstat") {
            for (k, v) in table(&t, "TcpExt:") {
                if TCP_EXT.contains(&k) {
                    let metric = format!("TcpExt.{k}");
                    if let Some(r) = self.rates.rate(&metric, v, secs) {
                        e.gauge(&metric, r);
                    }
                }
            }
        }
    }
}

/// The `name value` pairs of a `/proc/net/snmp`-style table: a header line and a value line
/// starting with `prefix`.
fn table<'a>(text: &'a str, prefix: &str) -> Vec<(&'a str, u64)> {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (Some(head), Some(vals)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    head.split_whitespace()
        .zip(vals.split_whitespace())
        .skip(1)
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect()
}

/// A field of a `/proc/net/sockstat` line, e.g. `inuse` of `TCP: inuse 5 orphan 0 tw 2 ...`.
fn sockstat_field(text: &str, line: &str, field: &str) -> Option<u64> {
    let l = text.lines().find(|l| l.starts_with(line))?;
    let mut it = l.split_whitespace().skip(1);
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if k == field {
            return v.parse().ok();
        }
    }
    None
}

/// `ss -s`'s TCP line from the files it reads itself: estab (`CurrEstab`), closed (allocated
/// sockets not in a hash table: `alloc − (inuse₄ + inuse₆ − tw)`), orphaned and timewait.
fn socket_summary(snmp: &str, sockstat: &str, sockstat6: &str) -> Vec<(&'static str, f64)> {
    let mut out = Vec::with_capacity(4);
    if let Some(n) = curr_estab(snmp) {
        out.push(("ss.estab", n));
    }
    let f = |k| sockstat_field(sockstat, "TCP:", k);
    if let (Some(alloc), Some(inuse), Some(tw)) = (f("alloc"), f("inuse"), f("tw")) {
        let inuse6 = sockstat_field(sockstat6, "TCP6:", "inuse").unwrap_or(0);
        let hashed = (inuse + inuse6).saturating_sub(tw);
        out.push(("ss.closed", alloc.saturating_sub(hashed) as f64));
        out.push(("ss.timewait", tw as f64));
    }
    if let Some(o) = f("orphan") {
        out.push(("ss.orphaned", o as f64));
    }
    out
}

fn collect(e: &mut Emit) {
    // sysinfo reads /proc/loadavg without keeping anything; it answers zeros when the file
    // is missing, where no point is the truthful answer.
    if std::path::Path::new("/proc/loadavg").exists() {
        let l = sysinfo::System::load_average();
        e.gauge("load.1min", l.one);
        e.gauge("load.5min", l.five);
        e.gauge("load.15min", l.fifteen);
    }
    let snmp = read_proc("/proc/net/snmp").unwrap_or_default();
    let sockstat = read_proc("/proc/net/sockstat").unwrap_or_default();
    let sockstat6 = read_proc("/proc/net/sockstat6").unwrap_or_default();
    for (metric, v) in socket_summary(&snmp, &sockstat, &sockstat6) {
        e.gauge(metric, v);
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
    let max = read_proc("/proc/sys/fs/file-max").and_then(|t| t.trim().parse::<f64>().ok());
    if let Some(v) = max {
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
            if let Some(m) = max {
                e.gauge("kernel.files.left", (m - a).max(0.0));
            }
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

    #[test]
    fn socket_summary_as_ss_computes_it() {
        let snmp = "Tcp: RtoAlgorithm CurrEstab\nTcp: 1 7\n";
        let sockstat = "sockets: used 200\nTCP: inuse 10 orphan 1 tw 3 alloc 16 mem 2\n";
        let sockstat6 = "TCP6: inuse 2\nUDP6: inuse 1\n";
        // closed = alloc − (inuse + inuse6 − tw) = 16 − (10 + 2 − 3) = 7.
        assert_eq!(
            super::socket_summary(snmp, sockstat, sockstat6),
            vec![
                ("ss.estab", 7.0),
                ("ss.closed", 7.0),
                ("ss.timewait", 3.0),
                ("ss.orphaned", 1.0)
            ]
        );
    }

    #[test]
    fn reads_tcp_ext_pairs() {
        let t = "TcpExt: SyncookiesSent ListenDrops TW\nTcpExt: 0 5 9\nIpExt: A\nIpExt: 1\n";
        assert_eq!(
            super::table(t, "TcpExt:"),
            vec![("SyncookiesSent", 0), ("ListenDrops", 5), ("TW", 9)]
        );
    }
}
