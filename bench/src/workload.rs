//! The simulated fleet: hosts of several tenants, each reporting the agent's metric set
//! (docs/METRICS.md) at a fixed step, with values that move like a real host's.
//!
//! Everything is a pure function of the seed, the host and the step, so every system under test
//! receives exactly the same series and values, and a run can be reproduced.

use std::f64::consts::TAU;

/// How a series' value moves over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Shape {
    /// A percentage around `base` with a daily-ish swing of `amp` and noise, clamped to 0..100.
    Percent { base: f64, amp: f64 },
    /// 100 minus the series `offset` places before it in the host (busy = 100 − idle).
    Complement { offset: usize },
    /// An amount of bytes out of `total` used at about `frac`, moving slowly (integers).
    Bytes { total: f64, frac: f64 },
    /// A fixed value (totals, limits).
    Const(f64),
    /// A non-negative rate around `base` per second with noise.
    Rate { base: f64 },
    /// A small integer count around `base` (connections, processes).
    Count { base: f64 },
    /// A load average around `base`.
    Load { base: f64 },
    /// Usually 0, sometimes a small positive rate (errors, drops).
    Rare,
    /// A monotonic counter growing at about `base` per second (a slow swing, no resets), as
    /// Prometheus exporters report bytes; integers.
    Counter { base: f64 },
    /// One cumulative bucket (`le`, seconds; infinite for `+Inf`) of a classic request-latency
    /// histogram: the host's request counter times the share of requests at most `le` long.
    Bucket { le: f64 },
}

/// One series of a host: metric, tags (besides the endpoint) and how its value moves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesSpec {
    /// Metric name, open-falcon style (`cpu.idle`).
    pub metric: &'static str,
    /// Tags, sorted by key.
    pub tags: Vec<(&'static str, String)>,
    /// Value generator.
    pub shape: Shape,
}

/// A simulated host.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Index of its tenant in [`Fleet::tenants`].
    pub tenant: usize,
    /// Endpoint name.
    pub name: String,
    /// Per-host seed: hosts differ in level, phase and noise.
    pub seed: u64,
}

/// The whole simulated fleet.
#[derive(Debug, Clone)]
pub(crate) struct Fleet {
    /// Tenant ids.
    pub tenants: Vec<String>,
    /// Hosts, spread round-robin over tenants.
    pub hosts: Vec<Host>,
    /// The series every host reports (same set for all hosts, like identical machines).
    pub series: Vec<SeriesSpec>,
    /// Reporting step in seconds.
    pub step: i64,
}

/// The agent's host metric set for a machine with two file systems, two interfaces and one disk.
pub(crate) fn metric_set() -> Vec<SeriesSpec> {
    use Shape::*;
    let mut s = Vec::new();
    let mut add = |metric: &'static str, tags: Vec<(&'static str, String)>, shape: Shape| {
        s.push(SeriesSpec {
            metric,
            tags,
            shape,
        })
    };
    add("agent.alive", vec![], Const(1.0));
    add(
        "cpu.idle",
        vec![],
        Percent {
            base: 70.0,
            amp: 20.0,
        },
    );
    add("cpu.busy", vec![], Complement { offset: 1 });
    add(
        "cpu.user",
        vec![],
        Percent {
            base: 18.0,
            amp: 12.0,
        },
    );
    add(
        "cpu.nice",
        vec![],
        Percent {
            base: 0.2,
            amp: 0.2,
        },
    );
    add(
        "cpu.system",
        vec![],
        Percent {
            base: 6.0,
            amp: 4.0,
        },
    );
    add(
        "cpu.iowait",
        vec![],
        Percent {
            base: 1.5,
            amp: 1.5,
        },
    );
    add(
        "cpu.irq",
        vec![],
        Percent {
            base: 0.1,
            amp: 0.1,
        },
    );
    add(
        "cpu.softirq",
        vec![],
        Percent {
            base: 0.8,
            amp: 0.5,
        },
    );
    add(
        "cpu.steal",
        vec![],
        Percent {
            base: 0.3,
            amp: 0.3,
        },
    );
    add("cpu.guest", vec![], Const(0.0));
    add("load.1min", vec![], Load { base: 1.2 });
    add("load.5min", vec![], Load { base: 1.1 });
    add("load.15min", vec![], Load { base: 1.0 });
    let mem = 16.0 * 1024.0 * 1024.0 * 1024.0;
    add("mem.memtotal", vec![], Const(mem));
    add(
        "mem.memused",
        vec![],
        Bytes {
            total: mem,
            frac: 0.55,
        },
    );
    add(
        "mem.memfree",
        vec![],
        Bytes {
            total: mem,
            frac: 0.45,
        },
    );
    add(
        "mem.memavailable",
        vec![],
        Bytes {
            total: mem,
            frac: 0.40,
        },
    );
    add(
        "mem.memfree.percent",
        vec![],
        Percent {
            base: 45.0,
            amp: 10.0,
        },
    );
    add("mem.memused.percent", vec![], Complement { offset: 1 });
    add("mem.swaptotal", vec![], Const(0.0));
    add("mem.swapused", vec![], Const(0.0));
    add("mem.swapfree", vec![], Const(0.0));
    add("mem.swapused.percent", vec![], Const(0.0));
    add("mem.swapfree.percent", vec![], Const(100.0));
    for (mount, fstype, total) in [("/", "ext4", 100e9), ("/data", "xfs", 500e9)] {
        let t = || vec![("fstype", fstype.to_string()), ("mount", mount.to_string())];
        add("df.bytes.total", t(), Const(total));
        add("df.bytes.used", t(), Bytes { total, frac: 0.42 });
        add("df.bytes.free", t(), Bytes { total, frac: 0.58 });
        add(
            "df.bytes.free.percent",
            t(),
            Percent {
                base: 58.0,
                amp: 0.5,
            },
        );
        add("df.bytes.used.percent", t(), Complement { offset: 1 });
        add("df.inodes.total", t(), Const(6_553_600.0));
        add("df.inodes.used", t(), Count { base: 180_000.0 });
        add("df.inodes.free", t(), Count { base: 6_373_600.0 });
        add(
            "df.inodes.free.percent",
            t(),
            Percent {
                base: 97.2,
                amp: 0.1,
            },
        );
        add("df.inodes.used.percent", t(), Complement { offset: 1 });
    }
    let dev = || vec![("device", "vda".to_string())];
    add("disk.io.read_bytes", dev(), Rate { base: 400_000.0 });
    add("disk.io.write_bytes", dev(), Rate { base: 1_500_000.0 });
    add("disk.io.read_requests", dev(), Rate { base: 25.0 });
    add("disk.io.write_requests", dev(), Rate { base: 90.0 });
    add(
        "disk.io.util",
        dev(),
        Percent {
            base: 4.0,
            amp: 3.0,
        },
    );
    for iface in ["eth0", "eth1"] {
        let t = || vec![("iface", iface.to_string())];
        add("net.if.in.bytes", t(), Rate { base: 2_000_000.0 });
        add("net.if.out.bytes", t(), Rate { base: 1_200_000.0 });
        add("net.if.in.packets", t(), Rate { base: 2_500.0 });
        add("net.if.out.packets", t(), Rate { base: 2_000.0 });
        add("net.if.in.errors", t(), Rare);
        add("net.if.out.errors", t(), Rare);
        add("net.if.in.dropped", t(), Rare);
        add("net.if.out.dropped", t(), Rare);
    }
    add("ss.estab", vec![], Count { base: 120.0 });
    add("proc.num", vec![], Count { base: 210.0 });
    add(
        "kernel.maxfiles",
        vec![],
        Const(9_223_372_036_854_775_807.0),
    );
    add("kernel.files.allocated", vec![], Count { base: 2_300.0 });
    add("kernel.maxproc", vec![], Const(4_194_304.0));
    s
}

/// Upper bounds of the latency histogram's buckets (seconds), as Prometheus client libraries'
/// defaults; `+Inf` last.
pub(crate) const BUCKETS: [f64; 10] = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    f64::INFINITY,
];

/// The query benchmark's metric set: the agent's set plus what Prometheus-style dashboards
/// query and the agent does not send — byte counters per interface (`rate` wants counters; the
/// agent sends rates) and a classic latency histogram (`le` buckets). The ingest scenarios keep
/// [`metric_set`].
pub(crate) fn query_metric_set() -> Vec<SeriesSpec> {
    let mut s = metric_set();
    for iface in ["eth0", "eth1"] {
        let t = || vec![("iface", iface.to_string())];
        s.push(SeriesSpec {
            metric: "net.if.in.bytes.total",
            tags: t(),
            shape: Shape::Counter { base: 2_000_000.0 },
        });
        s.push(SeriesSpec {
            metric: "net.if.out.bytes.total",
            tags: t(),
            shape: Shape::Counter { base: 1_200_000.0 },
        });
    }
    for le in BUCKETS {
        s.push(SeriesSpec {
            metric: "http.request.duration.seconds.bucket",
            tags: vec![("le", le_label(le))],
            shape: Shape::Bucket { le },
        });
    }
    s
}

/// The `le` label of a bucket bound, as Prometheus client libraries write it (`+Inf`, `0.005`).
pub(crate) fn le_label(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".into()
    } else {
        format!("{le}")
    }
}

/// The value at step `k` (k ≥ 0) of a counter growing at `rate` per second on average with a slow
/// ±50 % swing of phase `phase`: the integral of `rate × (1 + 0.5 sin(2πt/period + phase))`,
/// so it never decreases.
fn counter_at(rate: f64, step: f64, k: i64, phase: f64) -> f64 {
    let period = 360.0; // steps (an hour at 10 s), as the gauges' swing
    let w = TAU / period;
    let kf = k as f64;
    rate * step * (kf + 0.5 / w * (phase.cos() - (w * kf + phase).cos()))
}

/// A fast, well-mixed 64-bit hash (splitmix64 finalizer): noise without any state.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Uniform in [0, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

impl Fleet {
    /// `hosts` hosts spread over `tenants` tenants (`t01`, `t02`, ...), named `<tenant>-host-<n>`.
    pub(crate) fn new(hosts: usize, tenants: usize, seed: u64) -> Self {
        let tenants = tenants.max(1);
        let names: Vec<String> = (1..=tenants).map(|t| format!("t{t:02}")).collect();
        let hosts = (0..hosts)
            .map(|i| Host {
                tenant: i % tenants,
                name: format!("{}-host-{:05}", names[i % tenants], i),
                seed: mix(seed ^ (i as u64).wrapping_mul(0x1000_0000_01B3)),
            })
            .collect();
        Fleet {
            tenants: names,
            hosts,
            series: metric_set(),
            step: 10,
        }
    }

    /// Series per host.
    pub(crate) fn series_per_host(&self) -> usize {
        self.series.len()
    }

    /// Total series of the fleet.
    pub(crate) fn total_series(&self) -> usize {
        self.hosts.len() * self.series.len()
    }

    /// The value of series `idx` of `host` at step number `k` (k × step seconds into the run).
    pub(crate) fn value(&self, host: &Host, idx: usize, k: i64) -> f64 {
        self.value_at(host, idx, k, 0)
    }

    fn value_at(&self, host: &Host, idx: usize, k: i64, depth: u8) -> f64 {
        let h = mix(host.seed ^ (idx as u64) << 32);
        let phase = unit(h) * TAU;
        let level = 0.6 + 0.8 * unit(mix(h ^ 1));
        let noise = unit(mix(h ^ (k as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93))) - 0.5;
        // A slow swing (period ~ 1 h) plus per-step noise, as real hosts look at a 10 s step.
        let swing = (k as f64 * TAU / 360.0 + phase).sin();
        match self.series[idx].shape {
            Shape::Percent { base, amp } => round_to(
                (base * level + amp * swing + amp * 0.3 * noise).clamp(0.0, 100.0),
                2,
            ),
            Shape::Complement { offset } if depth == 0 && idx >= offset => {
                round_to(100.0 - self.value_at(host, idx - offset, k, 1), 2)
            }
            Shape::Complement { .. } => 0.0,
            Shape::Bytes { total, frac } => {
                let f = (frac * (0.9 + 0.2 * unit(mix(h ^ 2))) + 0.02 * swing + 0.002 * noise)
                    .clamp(0.0, 1.0);
                (total * f).round()
            }
            Shape::Const(v) => v,
            Shape::Rate { base } => round_to(
                (base * level * (1.0 + 0.5 * swing + 0.4 * noise)).max(0.0),
                2,
            ),
            Shape::Count { base } => (base * level * (1.0 + 0.05 * swing) + 3.0 * noise).round(),
            Shape::Load { base } => round_to((base * level * (1.0 + 0.4 * swing)).max(0.0), 2),
            Shape::Rare => {
                if noise > 0.48 {
                    round_to(0.1 + noise, 1)
                } else {
                    0.0
                }
            }
            Shape::Counter { base } => {
                let start = (unit(mix(h ^ 3)) * 1e12).round();
                start + counter_at(base * level, self.step as f64, k.max(0), phase).floor()
            }
            Shape::Bucket { le } => {
                // Per host (not per bucket): request rate, phase and median latency, so that the
                // buckets of a host stay cumulative.
                let hh = mix(host.seed ^ 0xB0C4_E7A1);
                let rate = 50.0 * (0.6 + 0.8 * unit(hh));
                let requests =
                    counter_at(rate, self.step as f64, k.max(0), unit(mix(hh ^ 1)) * TAU);
                let share = if le.is_infinite() {
                    1.0
                } else {
                    // Log-logistic latencies around the host's median (20 to 120 ms).
                    let median = 0.02 + 0.1 * unit(mix(hh ^ 2));
                    1.0 / (1.0 + (-(le.ln() - median.ln()) / 0.6).exp())
                };
                (requests * share).floor()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_set_follows_the_agent_names() {
        let s = metric_set();
        let names: Vec<&str> = s.iter().map(|x| x.metric).collect();
        for m in [
            "cpu.idle",
            "mem.memused.percent",
            "load.1min",
            "df.bytes.free.percent",
        ] {
            assert!(names.contains(&m), "{m} missing");
        }
        assert!(names.iter().filter(|m| m.starts_with("net.if.")).count() == 16);
        // Series are unique (metric + tags) within a host.
        let mut keys: Vec<String> = s
            .iter()
            .map(|x| format!("{}{:?}", x.metric, x.tags))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), s.len());
    }

    #[test]
    fn values_are_deterministic_and_plausible() {
        let f = Fleet::new(10, 3, 7);
        let g = Fleet::new(10, 3, 7);
        assert_eq!(f.hosts[4].name, "t02-host-00004");
        assert_eq!(f.hosts[4].tenant, 1);
        let idle = f
            .series
            .iter()
            .position(|s| s.metric == "cpu.idle")
            .unwrap();
        let busy = f
            .series
            .iter()
            .position(|s| s.metric == "cpu.busy")
            .unwrap();
        for k in 0..50 {
            for h in &f.hosts {
                let v = f.value(h, idle, k);
                assert!((0.0..=100.0).contains(&v), "cpu.idle {v}");
                assert_eq!(v, g.value(h, idle, k));
                assert!((f.value(h, busy, k) + v - 100.0).abs() < 0.011);
            }
        }
        // Values move between steps (not a constant series).
        let vals: Vec<f64> = (0..20).map(|k| f.value(&f.hosts[0], idle, k)).collect();
        assert!(vals.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn query_series_are_counters_and_cumulative_buckets() {
        let mut f = Fleet::new(3, 1, 9);
        f.series = query_metric_set();
        let idx = |m: &str, tag: &str| {
            f.series
                .iter()
                .position(|s| s.metric == m && s.tags.iter().any(|t| t.1 == tag))
                .unwrap()
        };
        let inb = idx("net.if.in.bytes.total", "eth0");
        for h in &f.hosts {
            let mut prev = f.value(h, inb, 0);
            for k in 1..800 {
                let v = f.value(h, inb, k);
                assert!(v >= prev, "counter went down at {k}");
                prev = v;
            }
            // About 2 MB/s × level (0.6..1.4) over an hour.
            let per_sec = (f.value(h, inb, 360) - f.value(h, inb, 0)) / 3600.0;
            assert!((1.0e6..3.0e6).contains(&per_sec), "{per_sec}");
            for k in [0, 7, 500] {
                let counts: Vec<f64> = BUCKETS
                    .iter()
                    .map(|le| {
                        f.value(
                            h,
                            idx("http.request.duration.seconds.bucket", &le_label(*le)),
                            k,
                        )
                    })
                    .collect();
                assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
            }
            let inf = idx("http.request.duration.seconds.bucket", "+Inf");
            assert!(f.value(h, inf, 100) > f.value(h, inf, 99));
        }
        assert_eq!(le_label(0.005), "0.005");
        assert_eq!(le_label(1.0), "1");
    }
}
