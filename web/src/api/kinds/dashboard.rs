//! `dashboards`: console dashboards over PromQL, checked in [`crate::api::dashboards`].

use super::{Kind, Spec, Write};
use argus_core::http::ApiError;
use serde_json::Value;

/// The `dashboards` kind.
pub(crate) struct Dashboard;

impl Spec for Dashboard {
    const KIND: Kind = Kind::Dashboard;
    // The typed document is parsed (and its expressions checked) by the dashboards module.
    type Input = Value;

    async fn check(_w: Write<'_>, input: Value) -> Result<(Option<String>, Value), ApiError> {
        // Titles need not be unique: a clone or an import keeps its title.
        Ok((None, crate::api::dashboards::checked(input)?))
    }
}
