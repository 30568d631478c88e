//! # argus-judge
//!
//! Streaming evaluation of tenant-scoped strategies: each point is evaluated as it arrives
//! against the effective strategies of its series, and changes of state become PROBLEM / OK
//! events in a durable outbox delivered to alarm.
//!
//! - [`config`] — [`JudgeConfig`];
//! - [`rules`] — strategies compiled once and indexed by tenant, host and metric;
//! - [`engine`] — per-series windows, alert state machines (max alarms, hysteresis, active
//!   hours), nodata timers, snapshots;
//! - [`wheel`] — the timer wheel behind nodata;
//! - [`source`] — strategies from the web config center (ETag, on-disk cache) and a static file;
//! - [`outbox`] — the durable, ordered, retrying delivery of events to alarm;
//! - `ruler` — recording and alert rules (PromQL) evaluated every interval, sharded among the
//!   region's judges;
//! - [`server`] — the HTTP endpoint and background tasks: [`start`] and [`Running`].

pub mod config;
pub mod engine;
pub mod outbox;
mod ruler;
pub mod rules;
pub mod server;
pub mod source;
pub mod wheel;

pub use config::JudgeConfig;
pub use server::{start, Judge, Running};
