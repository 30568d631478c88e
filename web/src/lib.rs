//! # argus-web
//!
//! The tenant console, the REST API and the configuration center.
//!
//! - [`config`] — [`WebConfig`](config::WebConfig);
//! - [`query`] — metric queries, answered by the region that holds the data;
//! - [`server`] — the HTTP server.

pub mod config;
pub mod query;
pub mod server;

pub use config::WebConfig;
pub use server::{start, Running};
