//! `disk.io.*` per block device (tag `device`), from `/proc/diskstats`: bytes and requests per
//! second, and `util`, the percentage of time the device was busy. Whole disks only (those in
//! `/sys/block`), without loop and ram devices, so partitions do not count twice.

use super::{read_proc, Emit, Rates};
use argus_core::Tags;
use std::collections::HashSet;

/// Counters of one device line: reads, sectors read, writes, sectors written, ms doing I/O.
struct Line<'a> {
    name: &'a str,
    reads: u64,
    read_sectors: u64,
    writes: u64,
    write_sectors: u64,
    io_ms: u64,
}

fn parse(line: &str) -> Option<Line<'_>> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok());
    Some(Line {
        name: f.get(2)?,
        reads: n(3)?,
        read_sectors: n(5)?,
        writes: n(7)?,
        write_sectors: n(9)?,
        io_ms: n(12)?,
    })
}

fn wanted(name: &str) -> bool {
    if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") {
        return false;
    }
    // Outside a container /sys/block lists whole disks; where it is missing, keep everything.
    let sys = std::path::Path::new("/sys/block");
    !sys.exists() || sys.join(name.replace('/', "!")).exists()
}

/// Keeps the last readings for rates.
#[derive(Default)]
pub(super) struct DiskIo {
    rates: Rates,
}

impl DiskIo {
    pub(super) fn collect(&mut self, e: &mut Emit, secs: f64) {
        let Some(text) = read_proc("/proc/diskstats") else {
            return;
        };
        let mut seen = HashSet::new();
        for l in text.lines().filter_map(parse) {
            if !wanted(l.name) {
                continue;
            }
            let tags = Tags::from_pairs([("device", l.name)]);
            let series = [
                ("disk.io.read_bytes", l.read_sectors * 512),
                ("disk.io.write_bytes", l.write_sectors * 512),
                ("disk.io.read_requests", l.reads),
                ("disk.io.write_requests", l.writes),
            ];
            for (metric, v) in series {
                let key = format!("{metric}/{}", l.name);
                if let Some(r) = self.rates.rate(&key, v, secs) {
                    e.tagged(metric, tags.clone(), r);
                }
                seen.insert(key);
            }
            let key = format!("disk.io.util/{}", l.name);
            if let Some(ms_per_s) = self.rates.rate(&key, l.io_ms, secs) {
                // ms busy per second / 1000 ms, in percent; capped as rounding can exceed 100.
                e.tagged("disk.io.util", tags, (ms_per_s / 10.0).min(100.0));
            }
            seen.insert(key);
        }
        self.rates.retain(&seen);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_a_diskstats_line() {
        let l = super::parse(
            " 254 0 vda 60367 9190 8051210 79018 5980 37939 6131528 17183 0 8824 96741",
        )
        .unwrap();
        assert_eq!(l.name, "vda");
        assert_eq!(
            (l.reads, l.read_sectors, l.writes, l.write_sectors, l.io_ms),
            (60367, 8051210, 5980, 6131528, 8824)
        );
    }
}
