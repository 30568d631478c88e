//! `net.if.*` per network interface (tag `iface`), per second, from `/proc/net/dev`. The
//! loopback interface is skipped: its traffic never leaves the host.

use super::{read_proc, Emit, Rates};
use argus_core::Tags;
use std::collections::HashSet;

/// The columns of `/proc/net/dev` reported, by index after the interface name.
const COLUMNS: [(usize, &str); 8] = [
    (0, "net.if.in.bytes"),
    (1, "net.if.in.packets"),
    (2, "net.if.in.errors"),
    (3, "net.if.in.dropped"),
    (8, "net.if.out.bytes"),
    (9, "net.if.out.packets"),
    (10, "net.if.out.errors"),
    (11, "net.if.out.dropped"),
];

fn parse(line: &str) -> Option<(&str, Vec<u64>)> {
    let (name, rest) = line.split_once(':')?;
    let v: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.len() >= 16).then(|| (name.trim(), v))
}

/// Keeps the last readings for rates.
#[derive(Default)]
pub(super) struct Net {
    rates: Rates,
}

impl Net {
    pub(super) fn collect(&mut self, e: &mut Emit, secs: f64) {
        let Some(text) = read_proc("/proc/net/dev") else {
            return;
        };
        let mut seen = HashSet::new();
        for (name, v) in text.lines().skip(2).filter_map(parse) {
            if name == "lo" {
                continue;
            }
            let tags = Tags::from_pairs([("iface", name)]);
            for (i, metric) in COLUMNS {
                let key = format!("{metric}/{name}");
                if let Some(r) = self.rates.rate(&key, v[i], secs) {
                    e.tagged(metric, tags.clone(), r);
                }
                seen.insert(key);
            }
        }
        self.rates.retain(&seen);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_a_dev_line() {
        let (n, v) = super::parse("  eth0: 948 48 1 2 0 0 0 0 270 26 3 4 0 0 0 0").unwrap();
        assert_eq!(n, "eth0");
        assert_eq!(
            (v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11]),
            (948, 48, 1, 2, 270, 26, 3, 4)
        );
    }
}
