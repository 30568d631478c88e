//! The host metric set on this machine: names, tags and plausible ranges.

mod common;
use argus_agent::collect::Collector;
use argus_core::Point;
use std::collections::HashMap;

fn by_name(points: &[Point]) -> HashMap<&str, Vec<&Point>> {
    let mut m: HashMap<&str, Vec<&Point>> = HashMap::new();
    for p in points {
        m.entry(p.metric.as_str()).or_default().push(p);
    }
    m
}

#[test]
fn the_metric_set_has_open_falcon_names_tags_and_plausible_values() {
    let mut c = Collector::new("h1".into(), 10);
    // Some traffic and disk activity between the rounds, so rates have something to measure.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let points = c.collect(1_700_000_000);
    let m = by_name(&points);
    for p in &points {
        assert_eq!(p.endpoint, "h1");
        assert_eq!(p.step, 10);
        assert_eq!(p.timestamp, 1_700_000_000);
        assert!(p.value.is_finite(), "{p:?}");
        argus_core::validate::validate_point(p, &Default::default(), 1_700_000_000).unwrap();
    }
    let one = |name: &str| -> f64 {
        let v = m
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", m.keys()));
        assert_eq!(v.len(), 1, "{name} once");
        assert!(v[0].tags.is_empty(), "{name} has no tags");
        v[0].value
    };
    let pct = |name: &str| {
        let v = one(name);
        assert!(
            (0.0..=100.0).contains(&v),
            "{name} = {v} is not a percentage"
        );
        v
    };
    assert_eq!(one("agent.alive"), 1.0);
    let idle = pct("cpu.idle");
    let busy = pct("cpu.busy");
    assert!((idle + busy - 100.0).abs() < 1e-6);
    for n in [
        "cpu.user",
        "cpu.system",
        "cpu.iowait",
        "cpu.nice",
        "cpu.irq",
        "cpu.softirq",
        "cpu.steal",
        "cpu.guest",
    ] {
        pct(n);
    }
    for n in ["load.1min", "load.5min", "load.15min"] {
        assert!(one(n) >= 0.0);
    }
    let total = one("mem.memtotal");
    assert!(total > 64e6, "mem.memtotal {total} in bytes");
    let used = one("mem.memused");
    assert!(used > 0.0 && used < total);
    let free_pct = pct("mem.memfree.percent");
    assert!((free_pct + pct("mem.memused.percent") - 100.0).abs() < 1e-6);
    pct("mem.swapused.percent");
    assert!(one("ss.estab") >= 0.0);
    assert!(one("proc.num") >= 1.0);
    assert!(one("kernel.maxfiles") > 1000.0);

    // df: per mount, with mount and fstype; "/" is always there.
    let df = &m["df.bytes.free.percent"];
    assert!(
        df.iter().any(|p| p.tags.get("mount") == Some("/")),
        "{df:?}"
    );
    for p in df.iter().chain(m["df.inodes.free.percent"].iter()) {
        assert!(
            p.tags.get("mount").is_some() && p.tags.get("fstype").is_some(),
            "{p:?}"
        );
        assert!((0.0..=100.0).contains(&p.value), "{p:?}");
        assert!(!["proc", "sysfs", "tmpfs", "cgroup"].contains(&p.tags.get("fstype").unwrap()));
    }

    // disk.io per device, rates per second.
    // A container may see no block device at all; then there is nothing to report.
    let has_disk = std::fs::read_to_string("/proc/diskstats")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .any(|d| !d.starts_with("loop") && !d.starts_with("ram") && !d.starts_with("zram"));
    for n in ["disk.io.read_bytes", "disk.io.write_bytes", "disk.io.util"] {
        let none = Vec::new();
        let v = m
            .get(n)
            .unwrap_or_else(|| if has_disk { panic!("no {n}") } else { &none });
        for p in v {
            let dev = p.tags.get("device").expect("device tag");
            assert!(!dev.starts_with("loop"), "{dev}");
            assert!(p.value >= 0.0, "{p:?}");
            if n == "disk.io.util" {
                assert!(p.value <= 100.0, "{p:?}");
            }
        }
    }

    // net.if per interface, never lo.
    for n in [
        "net.if.in.bytes",
        "net.if.out.bytes",
        "net.if.in.packets",
        "net.if.out.packets",
        "net.if.in.errors",
        "net.if.out.errors",
    ] {
        let v = m.get(n).unwrap_or_else(|| panic!("no {n}"));
        for p in v {
            assert_ne!(p.tags.get("iface"), Some("lo"));
            assert!(p.value >= 0.0 && p.value < 1e11, "{p:?}");
        }
    }
}

#[test]
fn every_collected_name_is_documented_in_metrics_md() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/METRICS.md"))
        .unwrap();
    let mut c = Collector::new("h1".into(), 10);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for p in c.collect(1) {
        assert!(
            doc.contains(&format!("`{}`", p.metric)),
            "{} is not in docs/METRICS.md",
            p.metric
        );
    }
    for n in [
        "probe.http.up",
        "probe.http.status",
        "probe.http.latency_ms",
        "probe.tcp.up",
        "probe.tcp.latency_ms",
        "agent.plugin.ok",
    ] {
        assert!(
            doc.contains(&format!("`{n}`")),
            "{n} is not in docs/METRICS.md"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_agent_sends_host_metrics_every_step() {
    let d = tempfile::tempdir().unwrap();
    let t = common::fake_transfer();
    let mut cfg = common::test_config(d.path(), vec![t.url()]);
    cfg.collect_host_metrics = true;
    cfg.step_secs = 1;
    let agent = argus_agent::start(cfg).await.unwrap();
    common::wait_for(30, "two rounds with cpu.idle and df", || {
        let pts = t.points();
        pts.iter().filter(|p| p.metric == "cpu.idle").count() >= 2
            && pts.iter().any(|p| p.metric == "df.bytes.free.percent")
    })
    .await;
    let pts = t.points();
    let alive: Vec<_> = pts.iter().filter(|p| p.metric == "agent.alive").collect();
    assert!(alive
        .iter()
        .all(|p| p.endpoint == "test-host" && p.step == 1 && p.value == 1.0));
    agent.stop().await;
}
