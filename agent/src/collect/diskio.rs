//! `disk.io.*` per block device (tag `device`), from `/proc/diskstats`: bytes and requests per
//! second, `util` (the percentage of time the device was busy) and `iostat -x`'s `await`,
//! `svctm`, `avgqu-sz` and `avgrq-sz` under open-falcon's names. Whole disks only (those in
//! `/sys/block`), without loop and ram devices, so partitions do not count twice.

use super::{read_proc, Emit, Rates};
use argus_core::Tags;
use std::collections::HashSet;

/// Counters of one device line: reads, sectors read, ms reading, writes, sectors written, ms
/// writing, ms doing I/O, weighted ms doing I/O (time × requests in flight).
struct Line<'a> {
    name: &'a str,
    reads: u64,
    read_sectors: u64,
    read_ms: u64,
    writes: u64,
    write_sectors: u64,
    write_ms: u64,
    io_ms: u64,
    weighted_ms: u64,
}

fn parse(line: &str) -> Option<Line<'_>> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok());
    Some(Line {
        name: f.get(2)?,
        reads: n(3)?,
        read_sectors: n(5)?,
        read_ms: n(6)?,
        writes: n(7)?,
        write_sectors: n(9)?,
        write_ms: n(10)?,
        io_ms: n(12)?,
        weighted_ms: n(13)?,
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
            let mut rate = |what: &str, v: u64| {
                let key = format!("{what}/{}", l.name);
                let r = self.rates.rate(&key, v, secs);
                seen.insert(key);
                r
            };
            let (Some(rs), Some(ws), Some(r), Some(w)) = (
                rate("read_sectors", l.read_sectors),
                rate("write_sectors", l.write_sectors),
                rate("reads", l.reads),
                rate("writes", l.writes),
            ) else {
                // The first reading (or a reset): the other counters still need their baseline.
                for (k, v) in [
                    ("read_ms", l.read_ms),
                    ("write_ms", l.write_ms),
                    ("io_ms", l.io_ms),
                    ("weighted_ms", l.weighted_ms),
                ] {
                    rate(k, v);
                }
                continue;
            };
            let (rms, wms, io, weighted) = (
                rate("read_ms", l.read_ms),
                rate("write_ms", l.write_ms),
                rate("io_ms", l.io_ms),
                rate("weighted_ms", l.weighted_ms),
            );
            e.tagged("disk.io.read_bytes", tags.clone(), rs * 512.0);
            e.tagged("disk.io.write_bytes", tags.clone(), ws * 512.0);
            e.tagged("disk.io.read_requests", tags.clone(), r);
            e.tagged("disk.io.write_requests", tags.clone(), w);
            // Per-request figures are ratios of rates (= ratios of deltas); 0 without requests,
            // as iostat and open-falcon show them.
            let per_io = |x: f64| if r + w > 0.0 { x / (r + w) } else { 0.0 };
            e.tagged("disk.io.avgrq_sz", tags.clone(), per_io(rs + ws));
            if let (Some(rms), Some(wms)) = (rms, wms) {
                e.tagged("disk.io.await", tags.clone(), per_io(rms + wms));
            }
            if let Some(io) = io {
                e.tagged("disk.io.svctm", tags.clone(), per_io(io));
                // ms busy per second / 1000 ms, in percent; capped as rounding can exceed 100.
                e.tagged("disk.io.util", tags.clone(), (io / 10.0).min(100.0));
            }
            if let Some(q) = weighted {
                // Weighted ms per second of wall time: the average number of requests in flight.
                e.tagged("disk.io.avgqu-sz", tags, q / 1000.0);
            }
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
        assert_eq!(
            (l.read_ms, l.write_ms, l.weighted_ms),
            (79018, 17183, 96741)
        );
    }
}
