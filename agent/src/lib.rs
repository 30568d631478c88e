//! # argus-agent
//!
//! The agent every host runs: it collects host metrics, takes points pushed by local scripts,
//! runs plugins (also from a git repository), counts log keywords, runs open-falcon's port,
//! process and du checks, probes HTTP, TCP, DNS, TLS and ICMP targets, and pushes batches to its
//! region's transfer nodes — buffering on disk while none answers. Its plugins, log rules and
//! probes come from its config file and from the config center.
//!
//! - [`config`] — [`AgentConfig`];
//! - [`collect`] — host metrics, named as open-falcon users know them (`docs/METRICS.md`);
//! - [`push`] — the local push port (`127.0.0.1:1988/v1/push`, open-falcon compatible);
//! - [`plugins`], [`logwatch`], [`probes`] — custom monitoring;
//! - [`remote`] — config pull from the center (ETag, cached on disk) and heartbeats;
//! - [`sender`] and [`spool`] — batches to the transfers with failover, and the on-disk buffer;
//! - [`agent`] — ties them together.

pub mod agent;
pub mod collect;
pub mod config;
mod icmp;
pub mod logwatch;
pub mod plugins;
mod pluginsync;
pub mod probes;
pub mod push;
pub mod remote;
pub mod sender;
pub mod spool;
mod tlsprobe;

pub use agent::{start, Running};
pub use config::AgentConfig;
