//! # argus-store
//!
//! The region's time-series storage (open-falcon's graph role).
//!
//! - [`engine`] — the embedded engine — write, range read with step and aggregation, last value,
//!   series listing — durable before a write is acknowledged;
//! - [`node`] — `argus-store`, the engine served over HTTP to the region's transfer nodes, with
//!   its [`StoreConfig`](node::StoreConfig).

pub mod engine;
pub mod node;
pub mod selector;

pub use engine::{Engine, EngineConfig, StoreError, WriteSummary};
