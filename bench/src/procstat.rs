//! What a server process costs, read from Linux `/proc`: CPU time, resident memory, and the
//! bytes its data directory takes on disk.

use anyhow::Context;
use std::path::Path;

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds used so far by process `pid` (its threads included).
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&text)
        .map(|t| t as f64 / ticks_per_sec())
        .with_context(|| format!("parsing /proc/{pid}/stat"))
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let rest = &stat[stat.rfind(')').context("no ')' in stat")? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11, stime index 12.
    let get = |i: usize| -> anyhow::Result<u64> {
        f.get(i)
            .context("stat line too short")?
            .parse::<u64>()
            .context("stat time field is not a number")
    };
    Ok(get(11)? + get(12)?)
}

/// Resident memory of `pid`: (current, peak) in bytes, from `VmRSS` and `VmHWM`.
pub(crate) fn rss_bytes(pid: u32) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(parse_rss(&text))
}

/// (VmRSS, VmHWM) in bytes from a `/proc/<pid>/status` text; 0 when absent.
pub(crate) fn parse_rss(status: &str) -> (u64, u64) {
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// Bytes allocated on disk under `dir` (sum of the files' allocated blocks, so sparse or
/// preallocated files count for what they really use).
pub(crate) fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            total += disk_bytes(&e.path());
        } else {
            total += md.blocks() * 512;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "1234 (my (odd) proc) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0";
        assert_eq!(parse_cpu_ticks(line).unwrap(), 300);
        assert!(parse_cpu_ticks("1 (x) S 1").is_err());
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        // Burn a little CPU so the counter is not trivially zero on a fast machine.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_seconds(me).unwrap() >= 0.0);
        let (rss, peak) = rss_bytes(me).unwrap();
        assert!(rss > 0 && peak >= rss);
    }

    #[test]
    fn counts_disk_usage_recursively() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), vec![7u8; 100_000]).unwrap();
        assert!(disk_bytes(d.path()) >= 100_000);
        assert_eq!(disk_bytes(&d.path().join("missing")), 0);
    }
}
