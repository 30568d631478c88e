//! open-falcon's checks and the figures falcon users rely on, read from this machine: a port
//! we listen on, processes we spawn under a known name, a directory sized like `du -bs`, and
//! per-core CPU, context switches, disk await, socket summary and TcpExt after two rounds.

use argus_agent::collect::{Checks, Collector};
use argus_core::agentconf::ProcCheck;
use argus_core::Point;
use std::process::{Child, Command};

fn find<'a>(pts: &'a [Point], metric: &str, tag: (&str, &str)) -> Option<&'a Point> {
    pts.iter()
        .find(|p| p.metric == metric && p.tags.get(tag.0) == Some(tag.1))
}

/// Kills the spawned processes even when an assertion fails.
struct Reap(Vec<Child>);
impl Drop for Reap {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn port_process_and_du_checks_report_what_this_host_has() {
    let d = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Two processes named `argchk_sleeper` (a copy of sleep(1)): the kernel names a process
    // after its executable.
    let exe = d.path().join("argchk_sleeper");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let _kids = Reap(vec![
        Command::new(&exe).arg("3601").spawn().unwrap(),
        Command::new(&exe).arg("3602").spawn().unwrap(),
    ]);
    // A directory of known content, sized by du(1) for reference.
    let tree = d.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    std::fs::write(tree.join("a"), vec![1u8; 1000]).unwrap();
    std::fs::write(tree.join("sub/b"), vec![2u8; 12345]).unwrap();
    std::fs::write(tree.join("sub/deeper/c"), b"xyz").unwrap();
    std::fs::hard_link(tree.join("sub/b"), tree.join("b-again")).unwrap();
    std::os::unix::fs::symlink("/etc", tree.join("link")).unwrap();
    let du = Command::new("du").arg("-bs").arg(&tree).output().unwrap();
    let du: f64 = String::from_utf8(du.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let mut c = Collector::new("h".into(), 10);
    let missing = d.path().join("missing").display().to_string();
    c.set_checks(Checks {
        listen_ports: vec![open, closed],
        procs: vec![
            ProcCheck {
                name: "argchk_sleeper".into(),
                cmdline: String::new(),
            },
            ProcCheck {
                name: String::new(),
                cmdline: "argchk_sleeper 3602".into(),
            },
            ProcCheck {
                name: "no-such-proc".into(),
                cmdline: String::new(),
            },
        ],
        du_paths: vec![tree.display().to_string(), missing.clone()],
    });
    // The processes may still be starting (exec not done): wait for both to carry the name.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pts = loop {
        let pts = c.collect(1);
        let n = find(&pts, "proc.num", ("name", "argchk_sleeper")).map(|p| p.value);
        if n == Some(2.0) || std::time::Instant::now() > deadline {
            break pts;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let port = |p: u16| find(&pts, "net.port.listen", ("port", &p.to_string())).map(|p| p.value);
    assert_eq!(port(open), Some(1.0));
    assert_eq!(port(closed), Some(0.0));
    let procs = |k: &str, v: &str| find(&pts, "proc.num", (k, v)).map(|p| p.value);
    assert_eq!(procs("name", "argchk_sleeper"), Some(2.0));
    assert_eq!(procs("cmdline", "argchk_sleeper 3602"), Some(1.0));
    assert_eq!(procs("name", "no-such-proc"), Some(0.0));
    let tree_s = tree.display().to_string();
    assert_eq!(
        find(&pts, "du.bs", ("path", &tree_s)).map(|p| p.value),
        Some(du),
        "du.bs must equal du -bs"
    );
    // A directory that is not there has no point (and is logged).
    assert!(find(&pts, "du.bs", ("path", &missing)).is_none());
    drop(listener);
}

#[test]
fn falcon_figures_appear_from_the_second_round() {
    let mut c = Collector::new("h".into(), 10);
    // Some context switches and disk activity between the rounds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let pts = c.collect(2);
    let has = |m: &str| pts.iter().any(|p| p.metric == m);
    for m in [
        "cpu.switches",
        "ss.estab",
        "ss.closed",
        "ss.timewait",
        "ss.orphaned",
        "TcpExt.ListenDrops",
        "TcpExt.TW",
        "kernel.files.left",
    ] {
        assert!(has(m), "{m} missing");
    }
    assert!(
        pts.iter()
            .find(|p| p.metric == "cpu.switches")
            .is_some_and(|p| p.value > 0.0),
        "a busy machine switches context"
    );
    let core_idle: Vec<_> = pts.iter().filter(|p| p.metric == "cpu.core.idle").collect();
    assert!(!core_idle.is_empty(), "no per-core CPU");
    assert!(core_idle
        .iter()
        .all(|p| p.tags.get("core").is_some_and(|c| c.starts_with("cpu"))
            && (0.0..=100.0).contains(&p.value)));
    // Whole disks (not loop/ram/zram) get iostat's figures, when this machine has any.
    if let Some(dev) = pts
        .iter()
        .find(|p| p.metric == "disk.io.util")
        .and_then(|p| p.tags.get("device"))
    {
        for m in [
            "disk.io.await",
            "disk.io.svctm",
            "disk.io.avgqu-sz",
            "disk.io.avgrq_sz",
        ] {
            assert!(
                find(&pts, m, ("device", dev)).is_some_and(|p| p.value >= 0.0),
                "{m} for {dev}"
            );
        }
    }
}
