//! `df.*` per mounted file system (tags `mount`, `fstype`), from `/proc/mounts` and
//! `statvfs(3)`. Pseudo file systems (proc, cgroup, tmpfs, ...) are skipped, and a device
//! mounted twice (bind mounts) is reported once, at its first mount point.

use super::{read_proc, Emit};
use argus_core::Tags;
use std::collections::HashSet;

/// File system types that hold no user data.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "cgroup",
    "cgroup2",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "rpc_pipefs",
    "nsfs",
    "binfmt_misc",
    "rootfs",
    "efivarfs",
    "ramfs",
    "squashfs",
    "overlay",
    "selinuxfs",
    "fuse.lxcfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "iso9660",
    "nfsd",
];

/// One line of `/proc/mounts`: device, mount point, type. Octal escapes (`\040` for a space)
/// are decoded.
fn parse_mounts(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                unescape(f.next()?),
                unescape(f.next()?),
                f.next()?.to_string(),
            ))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Usage {
    bytes_total: f64,
    bytes_free: f64,
    inodes_total: f64,
    inodes_free: f64,
}

fn statvfs(path: &str) -> Option<Usage> {
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` is a plain struct the call fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as f64;
    Some(Usage {
        bytes_total: st.f_blocks as f64 * frsize,
        // What an unprivileged user may still write, as df shows it.
        bytes_free: st.f_bavail as f64 * frsize,
        inodes_total: st.f_files as f64,
        inodes_free: st.f_ffree as f64,
    })
}

pub(super) fn collect(e: &mut Emit) {
    let Some(text) = read_proc("/proc/mounts") else {
        return;
    };
    let mut seen = HashSet::new();
    for (dev, mount, fstype) in parse_mounts(&text) {
        if PSEUDO.contains(&fstype.as_str()) || !seen.insert(dev.clone()) {
            continue;
        }
        let Some(u) = statvfs(&mount) else { continue };
        if u.bytes_total <= 0.0 {
            continue;
        }
        let tags = Tags::from_pairs([("mount", mount.as_str()), ("fstype", fstype.as_str())]);
        let used = u.bytes_total - u.bytes_free;
        e.tagged("df.bytes.total", tags.clone(), u.bytes_total);
        e.tagged("df.bytes.used", tags.clone(), used);
        e.tagged("df.bytes.free", tags.clone(), u.bytes_free);
        e.tagged(
            "df.bytes.free.percent",
            tags.clone(),
            100.0 * u.bytes_free / u.bytes_total,
        );
        e.tagged(
            "df.bytes.used.percent",
            tags.clone(),
            100.0 * used / u.bytes_total,
        );
        // File systems without inode accounting (btrfs, vfat) report 0 inodes: skip.
        if u.inodes_total > 0.0 {
            let iused = u.inodes_total - u.inodes_free;
            e.tagged("df.inodes.total", tags.clone(), u.inodes_total);
            e.tagged("df.inodes.used", tags.clone(), iused);
            e.tagged("df.inodes.free", tags.clone(), u.inodes_free);
            e.tagged(
                "df.inodes.free.percent",
                tags.clone(),
                100.0 * u.inodes_free / u.inodes_total,
            );
            e.tagged(
                "df.inodes.used.percent",
                tags,
                100.0 * iused / u.inodes_total,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_and_unescapes_mounts() {
        let m =
            super::parse_mounts("/dev/sda1 /mnt/my\\040disk ext4 rw 0 0\nproc /proc proc rw 0 0\n");
        assert_eq!(
            m[0],
            ("/dev/sda1".into(), "/mnt/my disk".into(), "ext4".into())
        );
        assert_eq!(m[1].2, "proc");
    }
}
