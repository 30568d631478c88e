//! The alarm service's configuration file.

use argus_core::notify::TenantNotifyConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `argus-alarm --config alarm.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlarmConfig {
    /// Address to serve on (port 0 picks a free port).
    pub listen: String,
    /// The internal node credential required from judges and web. Empty disables the check
    /// (standalone on loopback only).
    pub internal_token: String,
    /// This instance's name in the active/standby lease; empty means host name + process id.
    pub instance_id: String,
    /// Where the embedded SQLite database lives (when `database_url` is empty).
    pub data_dir: PathBuf,
    /// `postgres://user:pass@host:port/db` for production (active/standby), or `sqlite://path`.
    /// Empty: SQLite at `data_dir/alarm.db`.
    pub database_url: String,
    /// The base URL receivers use to reach this service (acknowledgement links). Empty: the
    /// bound address.
    pub public_url: String,
    /// Key of the acknowledgement links; both instances of a pair must share it. Empty: a
    /// random key made once and kept in the database (so links survive restarts, and both
    /// instances of a pair, sharing the database, use it).
    pub ack_secret: String,
    /// The console's base URL (web), for the `generatorURL` of Alertmanager-format webhooks.
    /// Empty: `web_url`.
    pub console_url: String,
    /// Base URL of the web configuration center; empty uses only the static `tenants` below.
    pub web_url: String,
    /// How often the notification configuration is pulled from web, in seconds.
    pub config_poll_secs: u64,
    /// Static notification configuration (tests, running without web). Merged under web's: a
    /// tenant served by web replaces the static one of the same name.
    pub tenants: Vec<TenantNotifyConfig>,
    /// Lease time-to-live in seconds: a dead active instance is replaced after at most this plus
    /// `lease_renew_secs`.
    pub lease_ttl_secs: u64,
    /// How often the lease is renewed (active) or tried (standby), in seconds.
    pub lease_renew_secs: u64,
    /// How often the decision and delivery loops look for work when not woken, in milliseconds.
    pub poll_interval_ms: u64,
    /// Events of this priority or more urgent (lower number) go out at once; the others go into
    /// each receiver's digest.
    pub immediate_max_priority: u8,
    /// Storm window, in seconds: immediate notices of one strategy for one receiver within it are
    /// merged into one message listing the hosts.
    pub group_wait_secs: u64,
    /// The first notice of a new group goes out at once; notices joining it within
    /// `group_wait_secs` (or a route's `group_wait`) follow as one merged message. False: the
    /// first waits the window too (one message per storm, later).
    pub first_message_immediate: bool,
    /// How long a receiver's digest collects P3–P5 events before it is sent, in seconds.
    pub digest_interval_secs: u64,
    /// At most this many messages per receiver per `rate_limit_window_secs`; past it, the
    /// receiver's due messages merge into one digest, and with none left they wait. 0: no limit.
    pub rate_limit_per_minute: u32,
    /// The rate-limit window, in seconds (60 unless testing).
    pub rate_limit_window_secs: u64,
    /// Allow webhooks to private, loopback and link-local addresses (SSRF protection off).
    pub allow_private_webhooks: bool,
    /// Timeout of one webhook request, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Deliveries sent at the same time, per channel.
    pub concurrency: usize,
    /// Largest events request accepted, in events.
    pub max_events_per_request: usize,
    /// HTTP worker threads.
    pub workers: usize,
    /// Days to keep the event log, finished deliveries and recovered alerts; 0 keeps them forever.
    pub retention_days: u64,
    /// The SMTP relay.
    pub smtp: SmtpConfig,
    /// Retry policy per channel.
    pub retry: RetryConfig,
    /// Message templates.
    pub templates: TemplatesConfig,
    /// TLS: `cert_file` + `key_file` make the listener HTTPS only (judges and web then use
    /// `https://` alarm URLs); `ca_file` is trusted for `https://` webhooks and web, on top of
    /// the public roots (a receiver with a certificate of the private CA).
    pub tls: argus_core::TlsConfig,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        AlarmConfig {
            listen: "127.0.0.1:6090".into(),
            internal_token: String::new(),
            instance_id: String::new(),
            data_dir: PathBuf::from("./data/alarm"),
            database_url: String::new(),
            public_url: String::new(),
            ack_secret: String::new(),
            console_url: String::new(),
            web_url: String::new(),
            config_poll_secs: 10,
            tenants: vec![],
            lease_ttl_secs: 10,
            lease_renew_secs: 3,
            poll_interval_ms: 500,
            immediate_max_priority: 2,
            group_wait_secs: 5,
            first_message_immediate: true,
            digest_interval_secs: 300,
            rate_limit_per_minute: 30,
            rate_limit_window_secs: 60,
            allow_private_webhooks: false,
            webhook_timeout_ms: 10_000,
            concurrency: 16,
            max_events_per_request: 10_000,
            workers: 2,
            retention_days: 30,
            smtp: SmtpConfig::default(),
            retry: RetryConfig::default(),
            templates: TemplatesConfig::default(),
            tls: argus_core::TlsConfig::default(),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain text (a local relay).
    None,
    /// Upgrade with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// The SMTP relay emails go through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host; empty disables email (email deliveries are dead-lettered with that reason).
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub security: SmtpSecurity,
    /// Login, if the relay wants one.
    pub username: String,
    /// Password.
    pub password: String,
    /// The From address.
    pub from: String,
    /// A PEM file with an extra trusted root certificate (a private relay's CA); empty uses the
    /// public web PKI roots only.
    pub ca_file: String,
    /// Timeout of one SMTP exchange, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: String::new(),
            from: "Argus <argus@localhost>".into(),
            ca_file: String::new(),
            timeout_ms: 15_000,
        }
    }
}

/// Retry policy of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Tries before the delivery is dead-lettered.
    pub max_attempts: u32,
    /// Wait after the first failure, in milliseconds; doubles each time.
    pub initial_backoff_ms: u64,
    /// Longest wait between tries, in milliseconds.
    pub max_backoff_ms: u64,
    /// Longest `Retry-After` honoured, in seconds (a receiver cannot park a delivery forever).
    pub max_retry_after_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff_ms: 5_000,
            max_backoff_ms: 600_000,
            max_retry_after_secs: 3_600,
        }
    }
}

/// Retry policies per channel: one failing channel never affects another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Webhooks.
    pub webhook: RetryPolicy,
    /// Email.
    pub email: RetryPolicy,
}

/// Editable message templates (minijinja syntax). The context is documented in docs/WEBHOOKS.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemplatesConfig {
    /// Email subject (one line).
    pub subject: String,
    /// Plain-text email body.
    pub text: String,
    /// HTML email body (values are HTML-escaped).
    pub html: String,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        TemplatesConfig {
            subject: crate::render::DEFAULT_SUBJECT.into(),
            text: crate::render::DEFAULT_TEXT.into(),
            html: crate::render::DEFAULT_HTML.into(),
        }
    }
}

impl AlarmConfig {
    /// The database URL in force.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("alarm.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }

    /// The console's base URL in force (no trailing slash; empty when unknown).
    pub fn effective_console_url(&self) -> String {
        let u = if self.console_url.is_empty() {
            &self.web_url
        } else {
            &self.console_url
        };
        u.trim_end_matches('/').to_string()
    }

    /// This instance's lease name.
    pub fn effective_instance_id(&self) -> String {
        if self.instance_id.is_empty() {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "alarm".into());
            format!(
                "{host}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )
        } else {
            self.instance_id.clone()
        }
    }

    /// Checks values that parse but make no sense, naming the key.
    pub fn check(&self) -> Result<(), crate::AlarmError> {
        let bad = |key: &str, reason: &str| {
            Err(crate::AlarmError::Config {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.immediate_max_priority > 5 {
            return bad("immediate_max_priority", "must be 0 to 5");
        }
        if self.lease_renew_secs == 0 || self.lease_renew_secs >= self.lease_ttl_secs {
            return bad(
                "lease_renew_secs",
                "must be at least 1 and below lease_ttl_secs",
            );
        }
        for (k, p) in [
            ("retry.webhook.max_attempts", &self.retry.webhook),
            ("retry.email.max_attempts", &self.retry.email),
        ] {
            if p.max_attempts == 0 {
                return bad(k, "must be at least 1");
            }
        }
        if self.concurrency == 0 {
            return bad("concurrency", "must be at least 1");
        }
        Ok(())
    }
}
