//! `argus standalone`: the whole platform in one process on loopback.
//!
//! Every component runs on its real port and talks its real protocol to the others, exactly as
//! separate processes would; storage and configuration live under `data_dir`. A demo tenant is
//! created on first start and its credentials are kept in `data_dir/standalone-credentials.toml`
//! (readable by the owner only) and printed at each start.

use anyhow::Context;
use argus_core::auth::{generate_token, hash_token};
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Ports of the components; 0 picks a free port (tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ports {
    /// Console and API.
    pub web: u16,
    /// Ingest.
    pub transfer: u16,
    /// Storage node.
    pub store: u16,
    /// Agent push port.
    pub agent: u16,
    /// Judge (points from the transfer).
    pub judge: u16,
    /// Alarm (events from the judge).
    pub alarm: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            web: 8080,
            transfer: 6060,
            store: 6071,
            agent: 1988,
            judge: 6081,
            alarm: 6090,
        }
    }
}

impl Ports {
    /// Every port 0: each component picks a free one.
    pub fn any() -> Self {
        Ports {
            web: 0,
            transfer: 0,
            store: 0,
            agent: 0,
            judge: 0,
            alarm: 0,
        }
    }

    /// Replaces each 0 by a free port now, so every component knows the others' addresses
    /// before any starts (they point at each other).
    fn resolve(&self, bind: &str) -> anyhow::Result<Ports> {
        let pick = |p: u16| -> anyhow::Result<u16> {
            if p != 0 {
                return Ok(p);
            }
            Ok(std::net::TcpListener::bind(format!("{bind}:0"))?
                .local_addr()?
                .port())
        };
        Ok(Ports {
            web: pick(self.web)?,
            transfer: pick(self.transfer)?,
            store: pick(self.store)?,
            agent: pick(self.agent)?,
            judge: pick(self.judge)?,
            alarm: pick(self.alarm)?,
        })
    }
}

/// `argus standalone --config standalone.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandaloneConfig {
    /// Where storage, configuration and credentials live.
    pub data_dir: PathBuf,
    /// The address every component binds (loopback by default).
    pub bind: String,
    /// Component ports.
    pub ports: Ports,
    /// Run a local agent reporting this host.
    pub agent: bool,
    /// The local agent's collection step in seconds.
    pub step_secs: u64,
    /// How often judge, alarm and transfer pull configuration from web, in seconds (a change in
    /// the console applies within this time).
    pub config_pull_secs: u64,
    /// Let alarm deliver webhooks to loopback and private addresses. On by default here: a
    /// standalone platform is a local one, and its receivers usually are too.
    pub allow_private_webhooks: bool,
    /// Keep the points in an existing TSDB (VictoriaMetrics, Mimir, Thanos, Prometheus)
    /// instead of the embedded storage node: the transfer's `[remote_storage]`
    /// (docs/DEPLOY.md). No storage node runs then.
    pub remote_storage: argus_transfer::remote::RemoteStorageConfig,
    /// The alarm service's settings an operator changes (`[alarm]`; environment
    /// `ARGUS_STANDALONE__ALARM__SMTP__HOST` and so on).
    pub alarm: StandaloneAlarm,
    /// Per-tenant quotas of the transfer (`[quotas.default]`, `[[quotas.tenants]]`; see
    /// docs/DEPLOY.md). The console's per-tenant quotas take precedence.
    pub quotas: argus_transfer::config::QuotaConfig,
}

/// `[alarm]` of the standalone config: email, the URLs messages link to, and the pace of
/// notifications; every other alarm setting keeps its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandaloneAlarm {
    /// The SMTP relay (`[alarm.smtp]`: host, port, security, username, password, from,
    /// ca_file, timeout_ms); no host, no email.
    pub smtp: argus_alarm::config::SmtpConfig,
    /// The address acknowledgement links use: how people reach this machine's alarm port
    /// (empty: its loopback address, which works on this machine only).
    pub public_url: String,
    /// The console's address in messages (empty: the local web address).
    pub console_url: String,
    /// After a group's first message (sent at once), how long later notices gather.
    pub group_wait_secs: u64,
    /// How often a receiver's low-priority (P3-P5) notices go out as one digest.
    pub digest_interval_secs: u64,
    /// Messages per receiver per minute before the rest merge into a digest (0: no limit).
    pub rate_limit_per_minute: u32,
}

impl Default for StandaloneAlarm {
    fn default() -> Self {
        let a = argus_alarm::AlarmConfig::default();
        StandaloneAlarm {
            smtp: a.smtp,
            public_url: a.public_url,
            console_url: a.console_url,
            group_wait_secs: a.group_wait_secs,
            digest_interval_secs: a.digest_interval_secs,
            rate_limit_per_minute: a.rate_limit_per_minute,
        }
    }
}

impl StandaloneAlarm {
    /// The alarm's configuration with these settings over its defaults.
    fn apply(&self, base: argus_alarm::AlarmConfig) -> argus_alarm::AlarmConfig {
        argus_alarm::AlarmConfig {
            smtp: self.smtp.clone(),
            public_url: self.public_url.clone(),
            console_url: self.console_url.clone(),
            group_wait_secs: self.group_wait_secs,
            digest_interval_secs: self.digest_interval_secs,
            rate_limit_per_minute: self.rate_limit_per_minute,
            ..base
        }
    }
}

impl Default for StandaloneConfig {
    fn default() -> Self {
        StandaloneConfig {
            data_dir: PathBuf::from("./data"),
            bind: "127.0.0.1".into(),
            ports: Ports::default(),
            agent: true,
            step_secs: 10,
            config_pull_secs: 5,
            allow_private_webhooks: true,
            remote_storage: Default::default(),
            alarm: Default::default(),
            quotas: Default::default(),
        }
    }
}

/// The demo tenant's credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The tenant.
    pub tenant: TenantId,
    /// Token agents use to push.
    pub agent_token: String,
    /// Token for the REST API.
    pub api_token: String,
    /// The console login of the demo admin.
    #[serde(default = "default_login")]
    pub admin_login: String,
    /// The demo admin's password.
    #[serde(default = "generate_password")]
    pub admin_password: String,
}

fn default_login() -> String {
    "admin".to_string()
}

fn generate_password() -> String {
    // 16 hex characters from a fresh token: enough for a local demo account.
    generate_token("p")[2..18].to_string()
}

impl Credentials {
    fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("standalone-credentials.toml");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return toml::from_str(&text).with_context(|| format!("parsing {}", path.display()));
        }
        let c = Credentials {
            tenant: TenantId::new("demo").expect("valid id"),
            agent_token: generate_token("argus_agt"),
            api_token: generate_token("argus_api"),
            admin_login: default_login(),
            admin_password: generate_password(),
        };
        std::fs::write(&path, toml::to_string(&c)?)
            .with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(c)
    }
}

/// The running platform.
pub struct Platform {
    /// The demo tenant's credentials.
    pub credentials: Credentials,
    /// Console and API base URL.
    pub web_url: String,
    /// Transfer base URL.
    pub transfer_url: String,
    /// Storage node base URL (empty when the points go to `remote_storage`).
    pub store_url: String,
    /// Judge base URL.
    pub judge_url: String,
    /// Alarm base URL.
    pub alarm_url: String,
    /// Agent push URL base, if an agent runs.
    pub agent_url: Option<String>,
    remote_write_url: String,
    web: argus_web::Running,
    transfer: argus_transfer::server::Running,
    store: Option<argus_store::node::StoreNode>,
    judge: argus_judge::Running,
    alarm: argus_alarm::Running,
    agent: Option<argus_agent::Running>,
}

impl Platform {
    /// Stops every component, upstream first, so nothing in flight is lost: the agent, then
    /// ingest, then evaluation and alarms, then storage (flushed) and the console.
    pub async fn stop(self) {
        if let Some(a) = self.agent {
            a.stop().await;
        }
        self.transfer.stop().await;
        self.judge.stop().await;
        self.alarm.stop().await;
        if let Some(s) = self.store {
            s.stop().await;
        }
        self.web.stop().await;
    }

    /// A human-readable summary of where everything is.
    pub fn banner(&self) -> String {
        let c = &self.credentials;
        let mut lines = vec![
            "Argus standalone is running.".to_string(),
            format!("  console and API : {}", self.web_url),
            format!(
                "  console login   : {} / {}",
                c.admin_login, c.admin_password
            ),
            format!("  demo tenant     : {}", c.tenant),
            format!("  agent token     : {}", c.agent_token),
            format!("  API token       : {}", c.api_token),
            format!("  transfer        : {}", self.transfer_url),
            match &self.store {
                Some(_) => format!("  storage node    : {}", self.store_url),
                None => format!("  storage (remote): {}", self.remote_write_url),
            },
            format!("  judge           : {}", self.judge_url),
            format!("  alarm           : {}", self.alarm_url),
        ];
        if let Some(a) = &self.agent_url {
            lines.push(format!("  agent push port : {a}/v1/push"));
        }
        lines.push("Press Ctrl-C to stop.".to_string());
        lines.join("\n")
    }
}

/// `argus standalone`: the configuration is [`StandaloneConfig`], overridden by
/// `ARGUS_STANDALONE__*` variables.
impl argus_core::service::Component for Platform {
    type Config = StandaloneConfig;
    const ENV_PREFIX: &'static str = "ARGUS_STANDALONE";

    async fn start(
        cfg: StandaloneConfig,
        _: &argus_core::service::ServiceArgs,
    ) -> anyhow::Result<Self> {
        start(cfg).await
    }

    async fn stop(self) {
        Platform::stop(self).await
    }
}

/// Starts the platform.
pub async fn start(mut cfg: StandaloneConfig) -> anyhow::Result<Platform> {
    // Absolute from here on: components (the agent's plugins) run children in directories
    // under it, where a relative path would no longer resolve.
    cfg.data_dir = std::path::absolute(&cfg.data_dir)
        .with_context(|| format!("resolving data directory {}", cfg.data_dir.display()))?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let creds = Credentials::load_or_create(&cfg.data_dir)?;
    let ports = cfg.ports.resolve(&cfg.bind)?;
    let addr = |port: u16| format!("{}:{port}", cfg.bind);
    let url = |port: u16| format!("http://{}:{port}", cfg.bind);
    // Nodes authenticate each other even on loopback; a fresh credential each start.
    let internal_token = generate_token("argus_int");
    let pull = cfg.config_pull_secs.max(1);

    let store = if cfg.remote_storage.enabled() {
        None
    } else {
        Some(
            argus_store::node::start(argus_store::node::StoreConfig {
                listen: addr(ports.store),
                internal_token: internal_token.clone(),
                engine: argus_store::EngineConfig {
                    data_dir: cfg.data_dir.join("store"),
                    ..Default::default()
                },
                workers: 1,
                ..Default::default()
            })
            .await?,
        )
    };

    // The console's database, with the demo tenant, its admin and its tokens.
    let web_cfg = argus_web::WebConfig {
        listen: addr(ports.web),
        internal_token: internal_token.clone(),
        regions: vec![argus_web::config::RegionEndpoint::new(
            "local",
            url(ports.transfer),
        )],
        data_dir: cfg.data_dir.join("web").display().to_string(),
        alarm_url: url(ports.alarm),
        workers: 1,
        ..Default::default()
    };
    std::fs::create_dir_all(cfg.data_dir.join("web"))?;
    let db = argus_web::db::open(&web_cfg.database()).await?;
    argus_web::bootstrap::ensure_demo(
        &db,
        &argus_web::bootstrap::Demo {
            tenant: creds.tenant.as_str(),
            admin_login: &creds.admin_login,
            admin_password: &creds.admin_password,
            agent_token: Some(&creds.agent_token),
            api_token: Some(&creds.api_token),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the demo tenant: {e}"))?;
    let web = argus_web::server::start_with_db(web_cfg, db).await?;

    let alarm_cfg = cfg.alarm.apply(argus_alarm::AlarmConfig {
        listen: addr(ports.alarm),
        internal_token: internal_token.clone(),
        data_dir: cfg.data_dir.join("alarm"),
        web_url: url(ports.web),
        config_poll_secs: pull,
        allow_private_webhooks: cfg.allow_private_webhooks,
        workers: 1,
        ..Default::default()
    });
    // A bad value (an SMTP From that is no address...) names its key under [alarm].
    let alarm = argus_alarm::start(alarm_cfg)
        .await
        .context("starting the alarm service (the standalone config's [alarm])")?;

    let judge = argus_judge::start(argus_judge::JudgeConfig {
        listen: addr(ports.judge),
        region: "local".into(),
        internal_token: internal_token.clone(),
        config_center: Some(url(ports.web)),
        alarm: vec![url(ports.alarm)],
        data_dir: cfg.data_dir.join("judge"),
        pull_interval_secs: pull,
        workers: 1,
        shards: 1,
        // The one judge evaluates every rule: regional ones over the transfer's data, global
        // ones through web.
        rules: argus_judge::config::RulesConfig {
            global: true,
            transfers: vec![url(ports.transfer)],
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;

    let transfer = argus_transfer::start(argus_transfer::TransferConfig {
        listen: addr(ports.transfer),
        internal_token: internal_token.clone(),
        stores: match &store {
            Some(_) => vec![url(ports.store)],
            None => vec![],
        },
        remote_storage: cfg.remote_storage.clone(),
        judges: vec![url(ports.judge)],
        // The demo token is also static, so agents are accepted before the first pull.
        tenants: vec![argus_transfer::config::TenantTokens {
            tenant: creds.tenant.clone(),
            token_sha256: vec![hash_token(&creds.agent_token)],
        }],
        config_center: argus_transfer::config::ConfigCenterConfig {
            url: url(ports.web),
            poll_secs: pull,
        },
        // The agent pulls its config and heartbeats here, as agents do in a region.
        agents: argus_transfer::agents::AgentsConfig {
            refresh_secs: pull,
            heartbeat_batch_secs: pull,
        },
        data_dir: cfg.data_dir.join("transfer"),
        quotas: cfg.quotas.clone(),
        workers: 1,
        ..Default::default()
    })
    .await?;

    let agent = if cfg.agent {
        Some(
            argus_agent::start(argus_agent::AgentConfig {
                listen: addr(ports.agent),
                transfers: vec![url(ports.transfer)],
                token: creds.agent_token.clone(),
                step_secs: cfg.step_secs,
                data_dir: cfg.data_dir.join("agent").display().to_string(),
                plugin_dir: cfg.data_dir.join("agent/plugins").display().to_string(),
                // Config and heartbeats through the transfer, as in a region.
                config_interval_secs: pull,
                heartbeat_interval_secs: pull,
                ..Default::default()
            })
            .await?,
        )
    } else {
        None
    };
    Ok(Platform {
        credentials: creds,
        web_url: web.server.url(),
        transfer_url: transfer.server.url(),
        store_url: store.as_ref().map(|s| s.server.url()).unwrap_or_default(),
        remote_write_url: cfg.remote_storage.write_url.clone(),
        judge_url: judge.url(),
        alarm_url: alarm.url(),
        agent_url: agent.as_ref().map(|a| a.server.url()),
        web,
        transfer,
        store,
        judge,
        alarm,
        agent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[alarm]` from the file, a key overridden from the environment, onto the alarm's config;
    /// what is not given keeps the alarm's defaults.
    #[test]
    fn alarm_settings_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standalone.toml");
        std::fs::write(
            &path,
            r#"
[alarm]
public_url = "https://argus.example.test:6090"
group_wait_secs = 2
[alarm.smtp]
host = "smtp.example.test"
port = 2525
security = "none"
from = "Argus <alerts@example.test>"
"#,
        )
        .unwrap();
        // A prefix of this test's own: the environment is the process's.
        std::env::set_var("ARGUS_SA_TEST_ALARM__ALARM__RATE_LIMIT_PER_MINUTE", "7");
        std::env::set_var("ARGUS_SA_TEST_ALARM__ALARM__SMTP__USERNAME", "relay-user");
        let cfg: StandaloneConfig =
            argus_core::config::load(Some(&path), "ARGUS_SA_TEST_ALARM").unwrap();
        let a = cfg.alarm.apply(argus_alarm::AlarmConfig::default());
        assert_eq!(a.public_url, "https://argus.example.test:6090");
        assert_eq!(a.group_wait_secs, 2);
        assert_eq!(a.rate_limit_per_minute, 7);
        assert_eq!(a.smtp.host, "smtp.example.test");
        assert_eq!(a.smtp.port, 2525);
        assert_eq!(a.smtp.security, argus_alarm::config::SmtpSecurity::None);
        assert_eq!(a.smtp.username, "relay-user");
        assert_eq!(a.smtp.from, "Argus <alerts@example.test>");
        let d = argus_alarm::AlarmConfig::default();
        assert_eq!(a.digest_interval_secs, d.digest_interval_secs);
        assert_eq!(a.smtp.timeout_ms, d.smtp.timeout_ms);
        assert_eq!(a.console_url, "");
        // A misspelt key is refused, named.
        std::fs::write(&path, "[alarm]\ngroup_wait = 2\n").unwrap();
        let e = argus_core::config::load::<StandaloneConfig>(Some(&path), "ARGUS_SA_TEST_NONE")
            .unwrap_err()
            .to_string();
        assert!(e.contains("group_wait"), "{e}");
    }

    /// `[quotas]` reaches the transfer: from the file, a figure from the environment, the
    /// defaults bound a tenant nobody configured.
    #[test]
    fn quotas_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standalone.toml");
        std::fs::write(
            &path,
            "[quotas.default]\npoints_per_sec = 5000.0\n[[quotas.tenants]]\ntenant = 'big'\npoints_per_sec = 0.0\n",
        )
        .unwrap();
        std::env::set_var("ARGUS_SA_TEST_QUOTAS__QUOTAS__DEFAULT__BATCH_POINTS", "900");
        let cfg: StandaloneConfig =
            argus_core::config::load(Some(&path), "ARGUS_SA_TEST_QUOTAS").unwrap();
        let big = TenantId::new("big").unwrap();
        let other = TenantId::new("other").unwrap();
        assert_eq!(cfg.quotas.of(&other).points_per_sec, 5000.0);
        assert_eq!(cfg.quotas.of(&other).batch_points, 900);
        // Figures the file does not give keep the shipped defaults.
        assert_eq!(
            cfg.quotas.of(&other).active_series,
            argus_transfer::config::DEFAULT_QUOTA.active_series
        );
        assert_eq!(cfg.quotas.of(&big).points_per_sec, 0.0);
        let none: StandaloneConfig = argus_core::config::load(None, "ARGUS_SA_TEST_NONE").unwrap();
        assert_eq!(
            none.quotas.of(&other),
            &argus_transfer::config::DEFAULT_QUOTA
        );
        assert!(none.quotas.of(&other).points_per_sec > 0.0);
    }
}
