//! Open-falcon's per-host checks, configured per host group (or in the agent file):
//! `net.port.listen` (tag `port`), `proc.num` by `name`/`cmdline`, `du.bs` (tag `path`).
//! Each reads only what its checks need, and nothing when none is configured.

use super::{read_proc, Emit};
use argus_core::agentconf::ProcCheck;
use argus_core::validate::clean_tag_value;
use argus_core::Tags;
use std::collections::HashSet;
use std::path::Path;

/// What to check: the union of the agent file's and the host groups' checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checks {
    /// TCP ports expected to listen.
    pub listen_ports: Vec<u16>,
    /// Process checks.
    pub procs: Vec<ProcCheck>,
    /// Directories to size.
    pub du_paths: Vec<String>,
}

impl Checks {
    pub(super) fn collect(&self, e: &mut Emit) {
        if !self.listen_ports.is_empty() {
            let listening = listening_ports();
            for port in &self.listen_ports {
                let up = listening.contains(port);
                let tags = Tags::from_pairs([("port", port.to_string())]);
                e.tagged("net.port.listen", tags, if up { 1.0 } else { 0.0 });
            }
        }
        if !self.procs.is_empty() {
            let procs = processes();
            for c in &self.procs {
                let n = procs.iter().filter(|p| p.matches(c)).count();
                e.tagged("proc.num", proc_tags(c), n as f64);
            }
        }
        for path in &self.du_paths {
            // A missing or unreadable directory has no point: `nodata` strategies catch it.
            match du_bytes(Path::new(path)) {
                Ok(n) => e.tagged(
                    "du.bs",
                    Tags::from_pairs([("path", path.clone())]),
                    n as f64,
                ),
                Err(err) => tracing::warn!(path, error = %err, "du.bs: cannot size the directory"),
            }
        }
    }
}

/// The tags of a process check, as open-falcon wrote them. A command line may hold characters a
/// tag value cannot (`=`, `,`): they become `_` in the tag, as at ingest (docs/INGEST.md); the
/// match uses the text as configured.
fn proc_tags(c: &ProcCheck) -> Tags {
    let mut t = Vec::with_capacity(2);
    if !c.name.is_empty() {
        t.push(("name".to_string(), clean_tag_value(c.name.clone())));
    }
    if !c.cmdline.is_empty() {
        t.push(("cmdline".to_string(), clean_tag_value(c.cmdline.clone())));
    }
    Tags::from_pairs(t)
}

/// Local ports of TCP sockets in state LISTEN (`0A`), IPv4 and IPv6.
pub(crate) fn listening_ports() -> HashSet<u16> {
    let mut out = HashSet::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Some(text) = read_proc(f) {
            out.extend(parse_listening(&text));
        }
    }
    out
}

/// Ports of the LISTEN lines of a `/proc/net/tcp` table:
/// `sl local_address rem_address st ...`, the address as `HEXIP:HEXPORT`.
fn parse_listening(text: &str) -> impl Iterator<Item = u16> + '_ {
    text.lines().skip(1).filter_map(|l| {
        let mut f = l.split_whitespace();
        let local = f.nth(1)?;
        let state = f.nth(1)?;
        if state != "0A" {
            return None;
        }
        u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()
    })
}

/// A process as the checks see it.
struct Proc {
    name: String,
    cmdline: String,
}

impl Proc {
    fn matches(&self, c: &ProcCheck) -> bool {
        (c.name.is_empty() || self.name == c.name)
            && (c.cmdline.is_empty() || self.cmdline.contains(&c.cmdline))
    }
}

/// Every process's name (`/proc/PID/comm`) and command line (`/proc/PID/cmdline`, arguments
/// joined by spaces). Kernel threads have an empty command line. A process that exits while
/// being read is skipped.
fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|d| {
            d.file_name()
                .to_str()
                .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|d| {
            let p = d.path();
            let name = std::fs::read_to_string(p.join("comm")).ok()?;
            let raw = std::fs::read(p.join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw)
                .trim_end_matches('\0')
                .replace('\0', " ");
            Some(Proc {
                name: name.trim_end_matches('\n').to_string(),
                cmdline,
            })
        })
        .collect()
}

/// The apparent size of everything under `path`, as `du -bs` counts it: the sizes of files,
/// directories and symlinks themselves (not followed), a hard-linked file once. Unreadable
/// subdirectories are skipped, as `du` does (it prints an error and goes on).
pub(crate) fn du_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let top = std::fs::symlink_metadata(path)?;
    let mut total = top.len();
    let mut seen = HashSet::new();
    let mut stack = Vec::new();
    if top.is_dir() {
        stack.push(path.to_path_buf());
    }
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Ok(m) = entry.metadata() else { continue };
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.len();
            if m.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_ports_come_from_listen_lines_only() {
        let t =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
                 0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n\
                 1: 0100007F:0016 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0\n";
        assert_eq!(parse_listening(t).collect::<Vec<_>>(), vec![8080]);
    }

    #[test]
    fn proc_checks_match_name_and_cmdline_and_tag_as_falcon() {
        let p = Proc {
            name: "java".into(),
            cmdline: "/usr/bin/java -Dapp=orders -jar orders.jar".into(),
        };
        let c = |name: &str, cmdline: &str| ProcCheck {
            name: name.into(),
            cmdline: cmdline.into(),
        };
        assert!(p.matches(&c("java", "")));
        assert!(p.matches(&c("", "orders.jar")));
        assert!(p.matches(&c("java", "-Dapp=orders")));
        assert!(!p.matches(&c("jav", "")));
        assert!(!p.matches(&c("java", "billing")));
        assert_eq!(
            proc_tags(&c("java", "-Dapp=orders")).to_string(),
            "cmdline=-Dapp_orders,name=java"
        );
    }
}
