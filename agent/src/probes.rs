//! Probes from this host: HTTP (status, latency, optional body match), TCP connect, DNS
//! resolution, TLS certificate expiry and ICMP echo, run every step, reported as metrics tagged
//! `probe=<name>`:
//!
//! - `probe.http.up` (1 when it answered with the expected status and the body matched, else 0),
//!   `probe.http.status` (0 when there was no answer), `probe.http.latency_ms`;
//! - `probe.tcp.up`, `probe.tcp.latency_ms`;
//! - `probe.dns.up`, `probe.dns.addresses`, `probe.dns.latency_ms`;
//! - `probe.tls.up`, `probe.tls.cert_expiry_days`, `probe.tls.latency_ms`;
//! - `probe.icmp.permitted`, and when permitted `probe.icmp.up`, `probe.icmp.latency_ms`.

use crate::{icmp, tlsprobe};
use argus_core::agentconf::Probe;
use argus_core::{Point, Tags};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What probes share: the HTTP client and the roots TLS probes verify against.
#[derive(Clone)]
pub struct Prober {
    http: reqwest::Client,
    extra_roots: Arc<[Vec<u8>]>,
    // Built at the first TLS probe: most agents run none, and the public roots cost memory.
    roots: Arc<std::sync::OnceLock<Arc<rustls::RootCertStore>>>,
}

impl Prober {
    /// Probes using `http`, verifying TLS against the public roots plus `extra_roots` (DER,
    /// the agent's `ca_file`).
    pub fn new<'a>(http: reqwest::Client, extra_roots: impl Iterator<Item = &'a [u8]>) -> Self {
        Prober {
            http,
            extra_roots: extra_roots.map(<[u8]>::to_vec).collect(),
            roots: Arc::default(),
        }
    }

    fn roots(&self) -> Arc<rustls::RootCertStore> {
        self.roots
            .get_or_init(|| tlsprobe::roots(self.extra_roots.iter().map(Vec::as_slice)))
            .clone()
    }
}

/// A probe ready to run (its body regex compiled).
pub struct Compiled {
    probe: Probe,
    body: Option<regex::Regex>,
}

/// Compiles `probes`, skipping (and returning the errors of) those with a bad body regex.
pub fn compile(probes: &[Probe]) -> (Vec<Compiled>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let body = match p {
            Probe::Http {
                body_regex: Some(r),
                ..
            } => match regex::Regex::new(r) {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(format!("probes[{i}].body_regex ({}): {e}", p.name()));
                    continue;
                }
            },
            _ => None,
        };
        ok.push(Compiled {
            probe: p.clone(),
            body,
        });
    }
    (ok, errors)
}

/// Runs every probe concurrently; their points at `ts`.
pub async fn run_all(
    prober: &Prober,
    probes: &[Compiled],
    endpoint: &str,
    step: u32,
    ts: i64,
) -> Vec<Point> {
    let runs = probes.iter().map(|p| run(prober, p));
    let results = futures_util::future::join_all(runs).await;
    let mut out = Vec::new();
    for (p, values) in probes.iter().zip(results) {
        let tags = Tags::from_pairs([("probe", p.probe.name())]);
        for (metric, v) in values {
            let mut pt = Point::gauge(endpoint, metric, tags.clone(), v, ts);
            pt.step = step;
            out.push(pt);
        }
    }
    out
}

/// Most bytes of a probed page matched against `body_regex`: a probe checks a page, it does not
/// download a file.
const MAX_BODY: usize = 1 << 20;

/// The first `max` bytes of the body (lossily UTF-8), or `None` when reading failed.
async fn read_prefix(mut r: reqwest::Response, max: usize) -> Option<String> {
    let mut buf = Vec::new();
    while buf.len() < max {
        match r.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(max - buf.len())]),
            Ok(None) => break,
            Err(_) => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// One probe's values.
pub async fn run(prober: &Prober, p: &Compiled) -> Vec<(&'static str, f64)> {
    let client = &prober.http;
    let start = Instant::now();
    match &p.probe {
        Probe::Http {
            url,
            expect_status,
            timeout_secs,
            name,
            ..
        } => {
            let res = client
                .get(url)
                .timeout(Duration::from_secs((*timeout_secs).max(1)))
                .send()
                .await;
            let (status, body) = match res {
                Ok(r) => {
                    let s = r.status().as_u16();
                    (s, read_prefix(r, MAX_BODY).await)
                }
                Err(e) => {
                    tracing::debug!(probe = %name, error = %e, "http probe got no answer");
                    (0, None)
                }
            };
            let latency = start.elapsed().as_secs_f64() * 1000.0;
            let status_ok = match expect_status {
                Some(s) => status == *s,
                None => (200..300).contains(&status),
            };
            let body_ok = match (&p.body, &body) {
                (Some(re), Some(b)) => re.is_match(b),
                (Some(_), None) => false,
                (None, _) => true,
            };
            vec![
                (
                    "probe.http.up",
                    if status != 0 && status_ok && body_ok {
                        1.0
                    } else {
                        0.0
                    },
                ),
                ("probe.http.status", status as f64),
                ("probe.http.latency_ms", latency),
            ]
        }
        Probe::Tcp {
            addr, timeout_secs, ..
        } => {
            let ok = tokio::time::timeout(
                Duration::from_secs((*timeout_secs).max(1)),
                tokio::net::TcpStream::connect(addr.as_str()),
            )
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false);
            let latency = start.elapsed().as_secs_f64() * 1000.0;
            vec![
                ("probe.tcp.up", if ok { 1.0 } else { 0.0 }),
                ("probe.tcp.latency_ms", latency),
            ]
        }
        Probe::Dns {
            name,
            host,
            timeout_secs,
        } => {
            // The system resolver, as every program on the host resolves (getaddrinfo).
            let found = tokio::time::timeout(
                Duration::from_secs((*timeout_secs).max(1)),
                tokio::net::lookup_host((host.as_str(), 0)),
            )
            .await;
            let n = match found {
                Ok(Ok(addrs)) => addrs.count(),
                Ok(Err(e)) => {
                    tracing::debug!(probe = %name, error = %e, "dns probe did not resolve");
                    0
                }
                Err(_) => 0,
            };
            let latency = start.elapsed().as_secs_f64() * 1000.0;
            vec![
                ("probe.dns.up", if n > 0 { 1.0 } else { 0.0 }),
                ("probe.dns.addresses", n as f64),
                ("probe.dns.latency_ms", latency),
            ]
        }
        Probe::Tls {
            name,
            addr,
            server_name,
            timeout_secs,
        } => {
            let sni = if server_name.is_empty() {
                host_of(addr).to_string()
            } else {
                server_name.clone()
            };
            let (addr, roots) = (addr.clone(), prober.roots());
            let timeout = Duration::from_secs((*timeout_secs).max(1));
            let res =
                tokio::task::spawn_blocking(move || tlsprobe::check(&addr, &sni, timeout, roots))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
            let latency = start.elapsed().as_secs_f64() * 1000.0;
            let mut out = Vec::with_capacity(3);
            match res {
                Ok(o) => {
                    out.push(("probe.tls.up", if o.up { 1.0 } else { 0.0 }));
                    if let Some(t) = o.not_after {
                        let days = (t - argus_core::time::now_secs()) as f64 / 86_400.0;
                        out.push(("probe.tls.cert_expiry_days", days));
                    }
                }
                Err(e) => {
                    tracing::debug!(probe = %name, error = %e, "tls probe got no certificate");
                    out.push(("probe.tls.up", 0.0));
                }
            }
            out.push(("probe.tls.latency_ms", latency));
            out
        }
        Probe::Icmp {
            host, timeout_secs, ..
        } => {
            let (host, timeout) = (host.clone(), Duration::from_secs((*timeout_secs).max(1)));
            let res = tokio::task::spawn_blocking(move || icmp::ping(&host, timeout))
                .await
                .unwrap_or(icmp::Outcome::NoReply);
            match res {
                icmp::Outcome::NotPermitted => vec![("probe.icmp.permitted", 0.0)],
                icmp::Outcome::Reply(d) => vec![
                    ("probe.icmp.permitted", 1.0),
                    ("probe.icmp.up", 1.0),
                    ("probe.icmp.latency_ms", d.as_secs_f64() * 1000.0),
                ],
                icmp::Outcome::NoReply => vec![
                    ("probe.icmp.permitted", 1.0),
                    ("probe.icmp.up", 0.0),
                    (
                        "probe.icmp.latency_ms",
                        start.elapsed().as_secs_f64() * 1000.0,
                    ),
                ],
            }
        }
    }
}

/// The host of `host:port` (`[v6]:port` without brackets).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}
