//! # argus-agent
//!
//! The agent every host runs: it collects host metrics, takes points pushed by local scripts,
//! and pushes batches to its region's transfer nodes.
//!
//! - [`config`] — [`AgentConfig`](config::AgentConfig);
//! - [`collect`] — host metrics, named as open-falcon users know them;
//! - [`push`] — the local push port (`127.0.0.1:1988/v1/push`, open-falcon compatible);
//! - [`sender`] — batches to the transfers, with failover;
//! - [`agent`] — ties them together.

pub mod agent;
pub mod collect;
pub mod config;
pub mod push;
pub mod sender;

pub use agent::{start, Running};
pub use config::AgentConfig;
