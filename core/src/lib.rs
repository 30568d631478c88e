//! # argus-core
//!
//! The shared model of Argus. Every component speaks these types, so they live once, here:
//!
//! - [`point`] — a metric [`Point`], its [`Tags`] and [`CounterType`];
//! - [`series`] — the [`SeriesKey`] that names one time series, with its stable 64-bit hash;
//! - [`tenant`] — the [`TenantId`] that scopes everything;
//! - [`validate`] — per-point validation with typed errors that name the field and the reason;
//! - [`wire`] — the Argus batch and the open-falcon push format, with compression;
//! - [`query`] — the query requests and results shared by store, transfer and web;
//! - [`ring`] — the consistent-hash ring to storage nodes and judges;
//! - [`strategy`] and [`event`]: the alerting model shared by web, judge and alarm;
//! - [`notice`]: what a notification says (its events) and the template context of its messages;
//! - [`notify`] and [`route`]: who hears of events: contacts, silences, and label routing in
//!   Alertmanager's terms (matchers, routing tree, inhibit rules, recurring windows in a zone);
//! - [`hostrule`] — host group membership by rule (name glob, reported tags, IP range);
//! - [`rules`] — recording and alert rules on PromQL queries, as web serves them to the regions;
//! - [`condition`] — the strategy condition language, parsed once (web validates, judge evaluates);
//! - [`config`] — TOML configuration files with environment overrides and precise errors;
//! - [`auth`] — tokens, their hashes and the internal node credential;
//! - [`telemetry`] — structured logs and the `/metrics` registry every component exposes;
//! - [`log`] — the durable log (segments of checksummed records, group commit, a reader cursor,
//!   an optional bound) behind the store's WAL, the spools and the outbox;
//! - [`tls`] — the `[tls]` config section: HTTPS listeners and private-CA roots for clients;
//! - `center` (feature `http`) — conditional pulls from the configuration center, cached on disk;
//! - `db` (feature `db`) — the SQLite/PostgreSQL database of web and alarm, with its migrations.

pub mod agentconf;
pub mod auth;
pub mod benchfile;
#[cfg(feature = "http")]
pub mod center;
pub mod condition;
pub mod config;
#[cfg(feature = "db")]
pub mod db;
pub mod event;
pub mod hostrule;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod internal_auth;
pub mod log;
pub mod notice;
pub mod notify;
pub mod point;
pub mod query;
pub mod quota;
pub mod ring;
pub mod route;
pub mod rules;
pub mod series;
pub mod service;
#[cfg(feature = "http")]
pub mod shed;
pub mod strategy;
pub mod telemetry;
pub mod tenant;
pub mod testing;
pub mod time;
pub mod tls;
pub mod validate;
pub mod wire;

pub use point::{CounterType, Point, Tags};
pub use series::SeriesKey;
pub use tenant::TenantId;
pub use tls::TlsConfig;
