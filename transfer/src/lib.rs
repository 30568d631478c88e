//! # argus-transfer
//!
//! The front door of a region: every point from every agent passes through it.
//!
//! - [`config`] — [`TransferConfig`]: downstreams, rings, tenants,
//!   quotas, spools;
//! - [`ingest`] — the push endpoints (Argus batch, open-falcon, InfluxDB line protocol in
//!   [`lineproto`], Prometheus remote write in [`remote_write`]): authenticate the tenant from
//!   the token, decode, validate each point on its own, apply [`quota`]s;
//! - [`tokens`] — token → tenant, from the file and the config center;
//! - [`ring`] — consistent hashing with virtual nodes;
//! - [`forward`] — routes points to their storage replicas, judge and InfluxDB sink;
//! - [`downstream`], [`sink`], [`spool`], [`breaker`], [`coalesce`] — one downstream with its
//!   durable spool, replayer, circuit breaker and coalesced writes; [`payload`] — what a
//!   delivery carries (frame points encoded once, or points);
//! - [`query`] — the region's query endpoint, fanning queries out to storage nodes and merging;
//! - [`remote`] — a region on an existing TSDB: remote write out, tenant-confined raw reads back;
//! - [`agents`] — the region's agents' configuration (from web's, cached) and heartbeats
//!   (batched to web), so that per-host exchanges never cross regions;
//! - [`reload`] — applying a changed config file without a restart;
//! - [`server`] — the HTTP server that ties them together.

pub mod agents;
pub mod breaker;
pub mod coalesce;
pub mod config;
pub mod downstream;
pub mod forward;
pub mod ingest;
pub mod lineproto;
pub mod payload;
pub mod query;
pub mod quota;
pub mod reload;
pub mod remote;
pub mod remote_write;
pub mod ring;
pub mod server;
pub mod sink;
pub mod spool;
pub mod tokens;

pub use config::TransferConfig;
pub use server::start;
