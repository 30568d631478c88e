//! # argus-transfer
//!
//! The front door of a region: every point from every agent passes through it.
//!
//! - [`config`] — [`TransferConfig`](config::TransferConfig), the tenants' tokens and downstreams;
//! - [`ingest`] — the push endpoints — authenticate the tenant from the token, decode, validate
//!   each point on its own;
//! - [`forward`] — hands accepted points to the storage nodes and judges;
//! - [`query`] — the region's query endpoint, fanning queries out to storage nodes and merging;
//! - [`server`] — the HTTP server that ties them together.

pub mod config;
pub mod forward;
pub mod ingest;
pub mod query;
pub mod server;

pub use config::TransferConfig;
pub use server::start;
