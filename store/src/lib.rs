//! # argus-store
//!
//! The region's time-series storage (open-falcon's graph role).
//!
//! - [`engine`] — the embedded engine — write, range read with step and aggregation, last value,
//!   series listing — durable before a write is acknowledged;
//! - [`node`] — `argus-store`, the engine served over HTTP to the region's transfer nodes, with
//!   its [`StoreConfig`](node::StoreConfig);
//! - [`client`] — [`StoreClient`], how every other component talks to a storage node;
//! - [`codec`] — the binary write frame and the encodings shared with the WAL and blocks.

pub mod aggregate;
pub mod block;
pub mod check;
pub mod chunk;
pub mod client;
pub mod codec;
pub mod engine;
pub mod index;
mod maintain;
pub mod node;
pub mod selector;
pub mod wal;

pub use client::{ClientError, StoreClient};
pub use engine::{Engine, EngineConfig, EngineStats, StoreError, WriteSummary};
