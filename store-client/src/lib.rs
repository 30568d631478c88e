//! # argus-store-client
//!
//! What other components need of a storage node, without the storage engine: the transfer and
//! the tools link this crate, and only the storage node (and the all-in-one binaries) compile
//! the engine.
//!
//! - [`client`] — [`StoreClient`], how every other component talks to a storage node;
//! - [`local`] — storage nodes serving in the same process, written without HTTP;
//! - [`aggregate`] — rates, bucketing, rollup rows and grouping across series, computed the
//!   same way in the node and where partial answers are combined;
//! - [`rows`] — [`Rows`](rows::Rows), a series' timestamps and value columns;
//! - [`allocator`] — tuning of the process allocator the ingest binaries install.

pub mod aggregate;
pub mod allocator;
pub mod client;
pub mod local;
pub mod rows;

pub use client::{ClientError, StoreClient};
