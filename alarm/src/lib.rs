//! # argus-alarm
//!
//! The global alarm service, run active/standby. It receives events from every judge, stores
//! each once, decides who hears about it and when, and delivers email and webhooks with retries
//! and a delivery log.
//!
//! - [`config`] holds [`AlarmConfig`];
//! - [`db`]: SQLite or PostgreSQL through one set of migrations;
//! - [`api`]: the event ingest and the console endpoints (docs/PROTOCOLS.md, "alarm");
//! - [`routing`] and [`confsource`]: subscriptions, teams and silences, from web or the file;
//! - [`decide`]: events → alert state and pending notices, escalation;
//! - [`flush`]: pending notices → messages (storms, digests, rate limits);
//! - [`deliver`], [`send`], [`retry`]: sending with backoff and dead letters; `channels`: the
//!   chat and paging services' payloads (docs/CHANNELS.md);
//! - [`render`]: templates and webhook payloads (docs/WEBHOOKS.md); [`ack`]: acknowledgement links;
//! - [`lease`]: which instance is active; [`retention`]: old rows deleted;
//! - [`app`]: the running service ([`start`], [`Running`]).

#![warn(missing_docs)]

pub mod ack;
pub mod api;
pub mod app;
mod channels;
pub mod config;
pub mod confsource;
pub mod db;
pub mod decide;
pub mod deliver;
pub mod flush;
pub mod lease;
pub mod render;
pub mod retention;
pub mod retry;
pub mod routing;
pub mod send;

pub use app::{start, Running};
pub use config::AlarmConfig;

/// What can go wrong in the alarm service.
#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    /// A configuration value makes no sense.
    #[error("alarm config: key `{key}`: {reason}")]
    Config {
        /// The dotted key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The database failed.
    #[error("alarm database: {0}")]
    Database(String),
    /// The service is stopping.
    #[error("alarm service is stopping")]
    Stopped,
}
