//! # argus-web
//!
//! The tenant console, the REST API and the configuration center.
//!
//! - [`config`] — [`WebConfig`];
//! - [`db`], [`store`] — the configuration database (SQLite or PostgreSQL) and tenant-scoped
//!   reads and writes;
//! - [`auth`] — users, sessions with CSRF tokens, API and agent tokens, roles, login limits;
//! - [`api`] — the REST API under `/api/v1` and its OpenAPI document;
//! - [`model`] — the core strategy, notification and agent models assembled from the database;
//! - [`center`] — the configuration center that transfers, judges, alarm and agents pull;
//! - [`query`] — metric queries, answered by the region that holds the data;
//! - [`prometheus`] — the Prometheus HTTP API (PromQL) under `/prometheus`, and the internal
//!   PromQL query global rules are evaluated with;
//! - [`rules`], [`rulefile`] — recording and alert rules on PromQL queries, and Prometheus rule
//!   files in and out; `rulestate` — their firing alerts, read from alarm;
//! - [`console`] — the server-rendered console;
//! - [`bootstrap`] — first-run setup for standalone and demos;
//! - [`server`] — the HTTP server.

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod center;
pub mod config;
pub mod console;
pub mod db;
pub mod model;
pub mod prometheus;
pub mod query;
pub mod rulefile;
pub mod rules;
pub(crate) mod rulestate;
pub mod server;
pub mod store;

pub use config::WebConfig;
pub use server::{start, Running};
