//! The agent's configuration from the config center, and its heartbeat.
//!
//! The web config center serves `GET /api/v1/agent/config?host=H` (bearer = the tenant's agent
//! token; `ETag` / `If-None-Match` → 304) with an [`AgentRemoteConfig`] as the JSON body: the
//! effective plugins, log rules and probes of the host (the union over its host groups), and the
//! collection step. The agent takes `POST /api/v1/agent/heartbeat` with a [`Heartbeat`] body.
//!
//! Both shapes are read leniently (unknown fields ignored, missing fields defaulted) so that an
//! older agent keeps working against a newer center and the other way round.

use crate::point::Tags;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

/// The query of `GET /api/v1/agent/config?host=H`, served by web and by the transfers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostParam {
    /// The host (endpoint) whose configuration is asked for.
    pub host: String,
}

/// The effective configuration of one host's agent, as the config center serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentRemoteConfig {
    /// An opaque version the center computes from the content (a hash, say); the `ETag` header
    /// carries the same value in quotes. The agent reports it back in its heartbeat.
    pub version: String,
    /// Collection step in seconds; 0 means "keep the agent's local setting".
    pub step_secs: u64,
    /// Plugins to run.
    pub plugins: Vec<PluginSpec>,
    /// Log keyword rules.
    pub log_rules: Vec<LogRule>,
    /// HTTP and TCP probes, run every step.
    pub probes: Vec<Probe>,
    /// TCP ports whose listening is reported every step as `net.port.listen` (1 or 0, tag
    /// `port`), open-falcon's port check.
    // Left out of the JSON when empty, so configs without checks keep their version (ETag).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen_ports: Vec<u16>,
    /// Processes counted every step as `proc.num` (tags `name` and/or `cmdline`), open-falcon's
    /// process check.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub procs: Vec<ProcCheck>,
    /// Directories whose size is reported every step as `du.bs` (bytes, tag `path`), like
    /// `du -bs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub du_paths: Vec<String>,
    /// A git repository of plugins (open-falcon's `plugin.git`): the agent keeps a checkout of
    /// `rev` and runs `plugins` from it (their `path` relative to the repository) instead of
    /// from its plugin directory. Only the plugins listed run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_repo: Option<PluginRepo>,
}

/// Where plugins come from when a host group names a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PluginRepo {
    /// What `git fetch` takes: `https://...`, `ssh://...`, `git@host:path`, or a path on the
    /// host.
    pub url: String,
    /// A branch, tag or commit; a branch is followed (fetched again every minute).
    pub rev: String,
}

/// A process check: the processes whose name equals `name` (the kernel's name, at most 15
/// characters, as `ps -o comm` shows) and whose command line contains `cmdline` (arguments
/// joined by spaces). At least one is set; both must match when both are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProcCheck {
    /// The process name to equal, or empty.
    pub name: String,
    /// A substring of the command line, or empty.
    pub cmdline: String,
}

/// One plugin: an executable that prints points as JSON (the open-falcon push format: an array
/// of `{metric, value, timestamp, step, counterType, tags}`; `endpoint` defaults to the host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PluginSpec {
    /// A unique name, used in reports and logs.
    pub name: String,
    /// The executable, relative to the agent's plugin directory (`plugin_dir`). For safety the
    /// agent refuses absolute paths and `..`: the center can only choose among executables the
    /// host's owner installed there.
    pub path: String,
    /// Arguments passed to the executable.
    pub args: Vec<String>,
    /// How often it runs, in seconds (at least 1).
    pub interval_secs: u64,
    /// After this many seconds a run is killed and reported (0: the interval).
    pub timeout_secs: u64,
}

/// A log keyword rule: count the lines matching `regex` in the files matching `path_glob`, per
/// step, as the metric `metric` with `tags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LogRule {
    /// A file path or a glob (`*`, `?`, `[..]` in the last component and directories),
    /// e.g. `/var/log/nginx/*.log`.
    pub path_glob: String,
    /// A regular expression (Rust `regex` syntax) a line must match to be counted.
    pub regex: String,
    /// The metric name of the count.
    pub metric: String,
    /// Tags of the count (a `file` tag is not added: counts of every matching file are summed).
    pub tags: Tags,
}

/// A probe, run every step from this host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Probe {
    /// `GET url`: reports `probe.http.up` (1 when the status and the body match), `probe.http.status`
    /// and `probe.http.latency_ms`, tagged `probe=<name>`.
    Http {
        /// A unique name (the `probe` tag).
        name: String,
        /// `http://...` URL.
        url: String,
        /// The expected status; absent means any 2xx.
        #[serde(default)]
        expect_status: Option<u16>,
        /// A regular expression the body must match, if any.
        #[serde(default)]
        body_regex: Option<String>,
        /// Timeout in seconds (default 5).
        #[serde(default = "default_probe_timeout")]
        timeout_secs: u64,
    },
    /// TCP connect to `addr`: reports `probe.tcp.up` and `probe.tcp.latency_ms`, tagged
    /// `probe=<name>`.
    Tcp {
        /// A unique name (the `probe` tag).
        name: String,
        /// `host:port`.
        addr: String,
        /// Timeout in seconds (default 5).
        #[serde(default = "default_probe_timeout")]
        timeout_secs: u64,
    },
    /// Resolves `host` with the system resolver (`/etc/hosts`, then DNS per
    /// `/etc/resolv.conf`, as every program on the host does): reports `probe.dns.up` (1 when it
    /// resolved to at least one address), `probe.dns.addresses` and `probe.dns.latency_ms`.
    Dns {
        /// A unique name (the `probe` tag).
        name: String,
        /// The host name to resolve.
        host: String,
        /// Timeout in seconds (default 5).
        #[serde(default = "default_probe_timeout")]
        timeout_secs: u64,
    },
    /// TLS handshake with `addr`: reports `probe.tls.cert_expiry_days` (days until the
    /// server certificate's notAfter; negative once expired), `probe.tls.up` (1 when the
    /// handshake completed and the certificate is valid for `server_name` under the public roots
    /// and the agent's `ca_file`) and `probe.tls.latency_ms`.
    Tls {
        /// A unique name (the `probe` tag).
        name: String,
        /// `host:port`.
        addr: String,
        /// The name the certificate must be valid for (SNI); empty means the host of `addr`.
        #[serde(default)]
        server_name: String,
        /// Timeout in seconds (default 5).
        #[serde(default = "default_probe_timeout")]
        timeout_secs: u64,
    },
    /// ICMP echo to `host`: reports `probe.icmp.up` and `probe.icmp.latency_ms`, or only
    /// `probe.icmp.permitted` 0 when the agent may open no ICMP socket (neither unprivileged
    /// ping sockets, `net.ipv4.ping_group_range`, nor raw ones, `CAP_NET_RAW`).
    Icmp {
        /// A unique name (the `probe` tag).
        name: String,
        /// IPv4 address or host name.
        host: String,
        /// Timeout in seconds (default 5).
        #[serde(default = "default_probe_timeout")]
        timeout_secs: u64,
    },
}

fn default_probe_timeout() -> u64 {
    5
}

impl Probe {
    /// The probe's name.
    pub fn name(&self) -> &str {
        match self {
            Probe::Http { name, .. }
            | Probe::Tcp { name, .. }
            | Probe::Dns { name, .. }
            | Probe::Tls { name, .. }
            | Probe::Icmp { name, .. } => name,
        }
    }
}

/// What the agent reports about itself every minute (`POST /api/v1/agent/heartbeat`); the
/// console shows a host alive while heartbeats arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Heartbeat {
    /// The endpoint name the agent reports as.
    pub host: String,
    /// The agent's version (`CARGO_PKG_VERSION`).
    pub agent_version: String,
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// Operating system name and version, e.g. `Debian GNU/Linux 12`.
    pub os: String,
    /// Kernel version, e.g. `6.1.0-18-amd64`.
    pub kernel: String,
    /// Logical CPUs.
    pub cpu_count: u32,
    /// Total memory in bytes.
    pub mem_total: u64,
    /// The host's primary IP address, when known.
    pub ip: String,
    /// The agent's `[tags]` (its config file): shown with the host and matched by host
    /// groups' membership rules ([`crate::hostrule`]).
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// The [`AgentRemoteConfig::version`] in force (empty before the first pull).
    pub config_version: String,
    /// Unix seconds when the heartbeat was sent.
    pub timestamp: i64,
}

impl AgentRemoteConfig {
    /// Checks what can be checked without the agent's environment: names, paths and intervals.
    /// Regular expressions are compiled (and refused, naming the rule) by the agent. The error
    /// names the field, e.g. `plugins[2].interval_secs`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (i, p) in self.plugins.iter().enumerate() {
            let f = |k: &str| format!("plugins[{i}].{k}");
            if p.name.trim().is_empty() {
                return Err(ValidationError::new(f("name"), "must not be empty"));
            }
            if p.path.is_empty() || p.path.starts_with('/') || p.path.split('/').any(|c| c == "..")
            {
                return Err(ValidationError::new(
                    f("path"),
                    "must be a relative path inside the plugin directory, without `..`",
                ));
            }
            if p.interval_secs == 0 {
                return Err(ValidationError::new(
                    f("interval_secs"),
                    "must be at least 1",
                ));
            }
        }
        for (i, r) in self.log_rules.iter().enumerate() {
            let f = |k: &str| format!("log_rules[{i}].{k}");
            if r.path_glob.is_empty() {
                return Err(ValidationError::new(f("path_glob"), "must not be empty"));
            }
            if r.regex.is_empty() {
                return Err(ValidationError::new(f("regex"), "must not be empty"));
            }
            if r.metric.is_empty() {
                return Err(ValidationError::new(f("metric"), "must not be empty"));
            }
        }
        if let Some(i) = self.listen_ports.iter().position(|p| *p == 0) {
            return Err(ValidationError::new(
                format!("listen_ports[{i}]"),
                "must be a port from 1 to 65535",
            ));
        }
        for (i, p) in self.procs.iter().enumerate() {
            if p.name.is_empty() && p.cmdline.is_empty() {
                return Err(ValidationError::new(
                    format!("procs[{i}]"),
                    "needs a name or a cmdline to match",
                ));
            }
        }
        for (i, d) in self.du_paths.iter().enumerate() {
            if !d.starts_with('/') {
                return Err(ValidationError::new(
                    format!("du_paths[{i}]"),
                    format!("{d:?} must be an absolute path"),
                ));
            }
        }
        if let Some(r) = &self.plugin_repo {
            // Both end up as git arguments: one starting with `-` would be an option.
            for (k, v) in [("url", &r.url), ("rev", &r.rev)] {
                if v.trim().is_empty() || v.starts_with('-') {
                    return Err(ValidationError::new(
                        format!("plugin_repo.{k}"),
                        "must be set and must not start with '-'",
                    ));
                }
            }
        }
        for (i, p) in self.probes.iter().enumerate() {
            if p.name().trim().is_empty() {
                return Err(ValidationError::new(
                    format!("probes[{i}].name"),
                    "must not be empty",
                ));
            }
            match p {
                Probe::Http { url, .. }
                    if !(url.starts_with("http://") || url.starts_with("https://")) =>
                {
                    return Err(ValidationError::new(
                        format!("probes[{i}].url"),
                        "must start with http:// or https://",
                    ));
                }
                Probe::Tcp { addr, .. } | Probe::Tls { addr, .. } if !addr.contains(':') => {
                    return Err(ValidationError::new(
                        format!("probes[{i}].addr"),
                        "must be host:port",
                    ));
                }
                Probe::Dns { host, .. } | Probe::Icmp { host, .. } if host.trim().is_empty() => {
                    return Err(ValidationError::new(
                        format!("probes[{i}].host"),
                        "must not be empty",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One host group's agent section, as the config center publishes it to transfers: the hosts
/// it applies to and what their agents run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentGroup {
    /// Member hosts.
    pub hosts: Vec<String>,
    /// What their agents run (`version` unused here).
    pub agent: AgentRemoteConfig,
}

/// A tenant's agent configuration: the agent sections of its host groups (groups without one
/// are left out). A transfer computes each host's [`AgentRemoteConfig`] from it with
/// [`effective_config`], exactly as the config center would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TenantAgents {
    /// The tenant.
    pub tenant: crate::TenantId,
    /// Its host groups' agent sections, in id order.
    pub groups: Vec<AgentGroup>,
}

/// `GET /internal/v1/config/agents` (internal credential; `ETag` / `If-None-Match` → 304): every
/// tenant's agent configuration, pulled by each transfer once per refresh interval so that agents
/// pull theirs from their region's transfers instead of crossing to the global zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentsDocument {
    /// The configuration version it was built at.
    pub version: i64,
    /// Every tenant (a tenant with no agent section has no groups).
    pub tenants: Vec<TenantAgents>,
}

/// The effective configuration of `host`: the union over the groups it is a member of of their
/// plugins, log rules and probes (first by name wins), the smallest non-zero step, and a content
/// version (the first 8 bytes of the SHA-256 of its JSON, in hex). The web config center and the
/// transfers both use it, so a host gets the same config and `ETag` from either.
pub fn effective_config<'a>(
    groups: impl IntoIterator<Item = &'a AgentGroup>,
    host: &str,
) -> AgentRemoteConfig {
    use sha2::{Digest, Sha256};
    let mut out = AgentRemoteConfig::default();
    for g in groups {
        if !g.hosts.iter().any(|h| h == host) {
            continue;
        }
        let a = &g.agent;
        if a.step_secs > 0 && (out.step_secs == 0 || a.step_secs < out.step_secs) {
            out.step_secs = a.step_secs;
        }
        for p in &a.plugins {
            if !out.plugins.iter().any(|x| x.name == p.name) {
                out.plugins.push(p.clone());
            }
        }
        for r in &a.log_rules {
            if !out.log_rules.contains(r) {
                out.log_rules.push(r.clone());
            }
        }
        for p in &a.probes {
            if !out.probes.iter().any(|x| x.name() == p.name()) {
                out.probes.push(p.clone());
            }
        }
        union(&mut out.listen_ports, &a.listen_ports);
        union(&mut out.procs, &a.procs);
        union(&mut out.du_paths, &a.du_paths);
        // One checkout per host: the first of its groups (in id order) naming one wins.
        if out.plugin_repo.is_none() {
            out.plugin_repo.clone_from(&a.plugin_repo);
        }
    }
    let body = serde_json::to_vec(&out).expect("json");
    out.version = hex::encode(&Sha256::digest(&body)[..8]);
    out
}

/// Appends the items of `from` that `to` lacks, in order.
fn union<T: PartialEq + Clone>(to: &mut Vec<T>, from: &[T]) {
    for x in from {
        if !to.contains(x) {
            to.push(x.clone());
        }
    }
}

/// A host's heartbeat as a transfer forwards it: new or changed facts, with when it was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SeenHeartbeat {
    /// The tenant of the agent token it came with.
    pub tenant: crate::TenantId,
    /// The heartbeat as the agent sent it.
    pub heartbeat: Heartbeat,
    /// When the transfer received it (the transfer's clock, Unix seconds).
    pub seen_at: i64,
}

/// `POST /internal/v1/agents/heartbeats` (internal credential, JSON, usually zstd-compressed):
/// the heartbeats a transfer received during one interval, aggregated. Hosts whose facts changed
/// (or that web does not know yet) come whole in `changed`; the others are only listed as alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HeartbeatBatch {
    /// The sender's region.
    pub region: String,
    /// When the batch was sent (the sender's clock): web converts `seen_at` times by their age
    /// relative to it, so a skewed clock does not make hosts look dead or alive.
    pub sent_at: i64,
    /// Hosts seen for the first time, restarted, or with changed facts.
    pub changed: Vec<SeenHeartbeat>,
    /// Per tenant, the other hosts seen, as `(host, seen_at)`.
    pub alive: std::collections::BTreeMap<crate::TenantId, Vec<(String, i64)>>,
}

/// Web's answer to a [`HeartbeatBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HeartbeatBatchAnswer {
    /// Hosts of `alive` that web does not know (deleted, or a new web): the transfer sends their
    /// full heartbeat next time.
    pub unknown: Vec<(crate::TenantId, String)>,
}

impl Heartbeat {
    /// Checks the reported tags as series tags are checked (default limits); the error names
    /// the tag, e.g. `tags.env`.
    pub fn check_tags(&self) -> Result<(), ValidationError> {
        crate::validate::validate_tags(&self.tags, &crate::validate::Limits::default())
    }

    /// True when `self` carries other facts than `before` (ignoring the clock and the uptime),
    /// or the agent restarted since (its uptime went back).
    pub fn differs_from(&self, before: &Heartbeat) -> bool {
        let strip = |h: &Heartbeat| Heartbeat {
            uptime_secs: 0,
            timestamp: 0,
            ..h.clone()
        };
        self.uptime_secs < before.uptime_secs || strip(self) != strip(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_shape() {
        let json = r#"{
          "version": "abc123", "step_secs": 30,
          "plugins": [{"name": "nginx", "path": "nginx/status.sh", "interval_secs": 60, "timeout_secs": 10}],
          "log_rules": [{"path_glob": "/var/log/app/*.log", "regex": "ERROR", "metric": "log.app.error", "tags": {"app": "shop"}}],
          "probes": [
            {"kind": "http", "name": "home", "url": "http://127.0.0.1/", "expect_status": 200, "body_regex": "ok"},
            {"kind": "tcp", "name": "db", "addr": "10.0.0.1:5432", "timeout_secs": 2},
            {"kind": "dns", "name": "resolver", "host": "example.com"},
            {"kind": "tls", "name": "cert", "addr": "example.com:443"},
            {"kind": "icmp", "name": "gw", "host": "10.0.0.1"}
          ],
          "some_future_field": 1
        }"#;
        let c: AgentRemoteConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.step_secs, 30);
        assert_eq!(c.plugins[0].path, "nginx/status.sh");
        assert_eq!(c.log_rules[0].tags.get("app"), Some("shop"));
        assert!(matches!(
            c.probes[0],
            Probe::Http {
                timeout_secs: 5,
                ..
            }
        ));
        assert_eq!(c.probes[1].name(), "db");
        assert!(matches!(
            &c.probes[3],
            Probe::Tls { server_name, timeout_secs: 5, .. } if server_name.is_empty()
        ));
        assert_eq!(c.probes[4].name(), "gw");
        c.validate().unwrap();
        let back: AgentRemoteConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn validate_names_the_field() {
        let mut c = AgentRemoteConfig::default();
        c.plugins.push(PluginSpec {
            name: "x".into(),
            path: "../bin/sh".into(),
            interval_secs: 10,
            ..Default::default()
        });
        assert_eq!(c.validate().unwrap_err().field, "plugins[0].path");
        c.plugins[0].path = "x.sh".into();
        c.probes.push(Probe::Tcp {
            name: "t".into(),
            addr: "nohost".into(),
            timeout_secs: 1,
        });
        assert_eq!(c.validate().unwrap_err().field, "probes[0].addr");
        c.probes[0] = Probe::Tls {
            name: "t".into(),
            addr: "nohost".into(),
            server_name: String::new(),
            timeout_secs: 1,
        };
        assert_eq!(c.validate().unwrap_err().field, "probes[0].addr");
        c.probes[0] = Probe::Dns {
            name: "d".into(),
            host: " ".into(),
            timeout_secs: 1,
        };
        assert_eq!(c.validate().unwrap_err().field, "probes[0].host");
    }

    #[test]
    fn heartbeat_defaults_missing_fields() {
        let h: Heartbeat = serde_json::from_str(r#"{"host": "web-1", "uptime_secs": 5}"#).unwrap();
        assert_eq!(h.host, "web-1");
        assert_eq!(h.cpu_count, 0);
    }

    #[test]
    fn effective_config_is_the_union_of_the_hosts_groups() {
        let g = |hosts: &[&str], step: u64, plugin: &str| AgentGroup {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            agent: AgentRemoteConfig {
                step_secs: step,
                plugins: vec![PluginSpec {
                    name: plugin.into(),
                    path: format!("{plugin}.sh"),
                    interval_secs: 60,
                    ..Default::default()
                }],
                ..Default::default()
            },
        };
        let groups = [
            g(&["a", "b"], 30, "x"),
            g(&["b"], 10, "y"),
            g(&["c"], 5, "x"),
        ];
        let b = effective_config(&groups, "b");
        assert_eq!(b.step_secs, 10);
        assert_eq!(b.plugins.len(), 2);
        let a = effective_config(&groups, "a");
        assert_eq!((a.step_secs, a.plugins.len()), (30, 1));
        assert_ne!(a.version, b.version);
        assert_eq!(effective_config(&groups, "a").version, a.version);
        assert_eq!(effective_config(&groups, "nobody").plugins.len(), 0);
    }

    #[test]
    fn host_checks_are_merged_over_groups_and_validated() {
        let g = |hosts: &[&str], ports: &[u16], proc_name: &str| AgentGroup {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            agent: AgentRemoteConfig {
                listen_ports: ports.to_vec(),
                procs: vec![ProcCheck {
                    name: proc_name.into(),
                    ..Default::default()
                }],
                du_paths: vec!["/data".into()],
                ..Default::default()
            },
        };
        let groups = [
            g(&["a"], &[22, 80], "nginx"),
            g(&["a", "b"], &[80, 443], "sshd"),
        ];
        let a = effective_config(&groups, "a");
        assert_eq!(a.listen_ports, vec![22, 80, 443]);
        let names: Vec<_> = a.procs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["nginx", "sshd"]);
        assert_eq!(a.du_paths, vec!["/data".to_string()]);
        assert_eq!(effective_config(&groups, "b").listen_ports, vec![80, 443]);
        a.validate().unwrap();
        let bad = |c: AgentRemoteConfig| c.validate().unwrap_err().field;
        assert_eq!(
            bad(AgentRemoteConfig {
                listen_ports: vec![80, 0],
                ..Default::default()
            }),
            "listen_ports[1]"
        );
        assert_eq!(
            bad(AgentRemoteConfig {
                procs: vec![ProcCheck::default()],
                ..Default::default()
            }),
            "procs[0]"
        );
        assert_eq!(
            bad(AgentRemoteConfig {
                du_paths: vec!["data".into()],
                ..Default::default()
            }),
            "du_paths[0]"
        );
        assert_eq!(
            bad(AgentRemoteConfig {
                plugin_repo: Some(PluginRepo {
                    url: "--upload-pack=touch /tmp/x".into(),
                    rev: "main".into(),
                }),
                ..Default::default()
            }),
            "plugin_repo.url"
        );
        assert_eq!(
            bad(AgentRemoteConfig {
                plugin_repo: Some(PluginRepo {
                    url: "https://git.example.com/plugins.git".into(),
                    rev: String::new(),
                }),
                ..Default::default()
            }),
            "plugin_repo.rev"
        );
    }

    #[test]
    fn a_heartbeat_differs_on_facts_and_restarts_not_on_the_clock() {
        let h = Heartbeat {
            host: "h".into(),
            uptime_secs: 100,
            timestamp: 1000,
            ..Default::default()
        };
        let later = Heartbeat {
            uptime_secs: 160,
            timestamp: 1060,
            ..h.clone()
        };
        assert!(!later.differs_from(&h));
        let restarted = Heartbeat {
            uptime_secs: 5,
            ..later.clone()
        };
        assert!(restarted.differs_from(&later));
        let upgraded = Heartbeat {
            agent_version: "2".into(),
            ..later.clone()
        };
        assert!(upgraded.differs_from(&later));
    }
}
