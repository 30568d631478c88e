//! # argus-store
//!
//! The region's time-series storage (open-falcon's graph role).
//!
//! - [`engine`] — the embedded engine — write, range read with step and aggregation (per series
//!   and grouped across series), last value, series and label listing — durable before a write
//!   is acknowledged; built from the WAL (an [`argus_core::log`]: group-committed, checksummed), [`chunk`]
//!   (Gorilla timestamps, XOR or scaled-integer values), [`block`] (immutable files per time
//!   partition with an index), [`index`] (inverted index per tenant) and [`aggregate`] (rates,
//!   rollup rows, grouping; from `argus-store-client`, shared with the transfer); flushing, compaction, rollups and retention run in the background;
//! - [`node`] — `argus-store`, the engine served over HTTP to the region's transfer nodes, with
//!   its [`StoreConfig`](node::StoreConfig);
//! - [`client`] — [`StoreClient`], how every other component talks to a storage node (its own
//!   crate, `argus-store-client`, so that they do not compile the engine; re-exported here);
//! - [`codec`] — the binary write frame and the encodings shared with the WAL and blocks;
//! - [`check`] — `argus-store check DIR`, verifying a data directory;
//! - [`allocator`] — tuning of the process allocator the ingest binaries install (from
//!   `argus-store-client`).
//!
//! On disk: `DIR/wal/<n>.wal` (segments deleted once their data is in blocks),
//! `DIR/blocks/r<resolution>-<partition start>-<sequence>.blk`, `DIR/rollups.json`.

pub mod block;
pub mod check;
pub mod chunk;
pub mod codec;
pub mod engine;
pub mod index;
mod maintain;
pub mod node;
pub mod selector;

pub use argus_store_client::{aggregate, allocator, client};
pub use client::{ClientError, StoreClient};
pub use engine::{Engine, EngineConfig, EngineStats, StoreError, WriteSummary};
