//! The console: server-rendered pages over the same API.

use actix_web::web;

/// Registers the console's routes.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
