//! Crash recovery: a child process ingests (with background flushes and compactions running)
//! and is killed with SIGKILL mid-ingest; every write it saw acknowledged must be read back.
//!
//! The child is this test binary re-run with `ARGUS_CRASH_CHILD_DIR` set: it runs
//! [`crash_child`], printing `ack N` after write N returned.

use argus_core::point::{CounterType, Tags};
use argus_core::query::{Aggregation, RangeQuery, Selector};
use argus_core::{Point, TenantId};
use argus_store::{Engine, EngineConfig};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERIES: usize = 10;
const PER_SERIES: i64 = 5;

fn engine_cfg(dir: &Path) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_path_buf(),
        // The background policy still hands each write to the OS before acknowledging it, which
        // is what survives the death of the process (not of the machine).
        fsync: std::env::var("ARGUS_CRASH_FSYNC").map_or(true, |v| v != "0"),
        head_max_points: 2_000,
        flush_interval_secs: 1,
        ..Default::default()
    }
}

fn batch(base: i64, b: i64) -> Vec<Point> {
    let mut out = Vec::new();
    for s in 0..SERIES {
        for k in 0..PER_SERIES {
            let ts = base + b * PER_SERIES + k;
            let mut p = Point::gauge(&format!("h{s}"), "m", Tags::new(), ts as f64, ts);
            p.tenant = TenantId::new("acme").unwrap();
            if s == 0 {
                p.counter_type = CounterType::Gauge;
            }
            out.push(p);
        }
    }
    out
}

/// The child side; does nothing unless run as a child.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("ARGUS_CRASH_CHILD_DIR") else {
        return;
    };
    let base: i64 = std::env::var("ARGUS_CRASH_BASE").unwrap().parse().unwrap();
    let from: i64 = std::env::var("ARGUS_CRASH_FROM").unwrap().parse().unwrap();
    let e = Engine::open(&engine_cfg(Path::new(&dir))).unwrap();
    let mut out = std::io::stdout().lock();
    for b in from.. {
        let s = e.write(&batch(base, b)).unwrap();
        assert_eq!(s.accepted, SERIES * PER_SERIES as usize);
        writeln!(out, "ack {b} {}", e.stats().flushes).unwrap();
        out.flush().unwrap();
    }
}

fn run_child_until_killed(
    dir: &Path,
    base: i64,
    from: i64,
    kill_after: i64,
    fsync: bool,
    until_flushed: bool,
) -> Vec<i64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("ARGUS_CRASH_FSYNC", if fsync { "1" } else { "0" })
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("ARGUS_CRASH_CHILD_DIR", dir)
        .env("ARGUS_CRASH_BASE", base.to_string())
        .env("ARGUS_CRASH_FROM", from.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut flushed = false;
    while let Some(Ok(l)) = lines.next() {
        if let Some(rest) = l.strip_prefix("ack ") {
            let mut it = rest.split_whitespace();
            acked.push(it.next().unwrap().parse().unwrap());
            flushed |= it.next().is_some_and(|f| f != "0");
        }
        let enough = acked.len() as i64 >= kill_after && (flushed || !until_flushed);
        if enough || Instant::now() > deadline {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    // Acks already printed before the kill count too.
    for l in lines.map_while(Result::ok) {
        if let Some(rest) = l.strip_prefix("ack ") {
            if let Some(Ok(n)) = rest.split_whitespace().next().map(str::parse) {
                acked.push(n);
            }
        }
    }
    child.wait().unwrap();
    assert!(!acked.is_empty(), "the child never acknowledged a write");
    acked
}

#[test]
fn every_acknowledged_point_survives_sigkill() {
    sigkill_rounds(true);
}

#[test]
fn every_acknowledged_point_survives_sigkill_with_background_fsync() {
    sigkill_rounds(false);
}

fn sigkill_rounds(fsync: bool) {
    if std::env::var("ARGUS_CRASH_CHILD_DIR").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = argus_core::time::now_secs() - 3 * 3600;
    let mut acked = Vec::new();
    let mut from = 0;
    // The middle round runs until the background has written blocks, so later rounds recover
    // from blocks and WAL together.
    for (kill_after, until_flushed) in [(150, false), (400, true), (50, false)] {
        let a = run_child_until_killed(dir.path(), base, from, kill_after, fsync, until_flushed);
        from = a.iter().max().unwrap() + 100; // leave a gap: unacknowledged ones may or may not exist
        acked.extend(a);
    }
    let e = Engine::open(&EngineConfig {
        background: false,
        ..engine_cfg(dir.path())
    })
    .unwrap();
    // The kills happened with data both in blocks (flushed in the background) and in the WAL.
    assert!(e.stats().blocks > 0, "{:?}", e.stats());
    let got = e
        .query_range(&RangeQuery {
            tenant: TenantId::new("acme").unwrap(),
            selector: Selector {
                metric: Some("m".into()),
                ..Default::default()
            },
            start: base,
            end: base + 1_000_000,
            step: None,
            aggregation: Aggregation::Avg,
            group_by: None,
        })
        .unwrap();
    assert_eq!(got.len(), SERIES);
    for s in &got {
        let have: std::collections::HashMap<i64, f64> = s.points.iter().copied().collect();
        for &b in &acked {
            for k in 0..PER_SERIES {
                let ts = base + b * PER_SERIES + k;
                assert_eq!(
                    have.get(&ts),
                    Some(&(ts as f64)),
                    "{} lost acknowledged point {ts} (batch {b})",
                    s.key
                );
            }
        }
    }
    let rep = argus_store::check::check(dir.path()).unwrap();
    assert!(rep.is_ok(), "{:?}", rep.problems);
}
