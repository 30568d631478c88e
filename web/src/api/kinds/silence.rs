//! `silences`: matchers that mute notices for a window, once or recurring.

use super::{must_exist, one, Kind, Spec, Write, STRATEGIES};
use crate::store;
use argus_core::http::ApiError;
use argus_core::notify::SilenceMatch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `silences` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceIn {
    /// What it silences.
    pub matcher: SilenceMatch,
    /// Start, Unix seconds.
    pub starts_at: i64,
    /// End, Unix seconds.
    pub ends_at: i64,
    /// Recurrence period.
    #[serde(default)]
    pub repeat_every_secs: Option<i64>,
    /// Or: weekdays and hours in a named time zone, within `starts_at`..`ends_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<argus_core::route::Recurrence>,
    /// Who (defaults to the caller).
    #[serde(default)]
    pub author: String,
    /// Why.
    pub reason: String,
}

/// The `silences` kind.
pub(crate) struct Silence;

impl Spec for Silence {
    const KIND: Kind = Kind::Silence;
    type Input = SilenceIn;

    async fn check(w: Write<'_>, input: SilenceIn) -> Result<(Option<String>, Value), ApiError> {
        let Write {
            conn, tenant, who, ..
        } = w;
        let mut s = input;
        // Seconds from 1970 to the end of year 9999: past that, a time is a mistake.
        const LAST: i64 = 253_402_300_799;
        for (field, t) in [("starts_at", s.starts_at), ("ends_at", s.ends_at)] {
            if !(0..=LAST).contains(&t) {
                return Err(ApiError::bad_field(
                    field,
                    format!("{t} is not a time between 1970 and 9999 (Unix seconds)"),
                ));
            }
        }
        if s.ends_at <= s.starts_at {
            return Err(ApiError::bad_field("ends_at", "must be after starts_at"));
        }
        if let Some(r) = s.repeat_every_secs {
            if r <= 0 || r > LAST {
                return Err(ApiError::bad_field(
                    "repeat_every_secs",
                    "must be positive and at most 253402300799",
                ));
            }
            if r < s.ends_at - s.starts_at {
                return Err(ApiError::bad_field(
                    "repeat_every_secs",
                    "must not be shorter than the window itself",
                ));
            }
        }
        if let Some(r) = &s.recurrence {
            if s.repeat_every_secs.is_some() {
                return Err(ApiError::bad_field(
                    "recurrence",
                    "give either recurrence or repeat_every_secs, not both",
                ));
            }
            r.check()
                .map_err(|e| ApiError::bad_field(format!("recurrence.{}", e.field), e.reason))?;
        }
        if s.reason.trim().is_empty() {
            return Err(ApiError::bad_field("reason", "say why (must not be empty)"));
        }
        if let Some(g) = s.matcher.host_group_id {
            must_exist(
                conn,
                tenant,
                Kind::HostGroup,
                g as i64,
                "matcher.host_group_id",
            )
            .await?;
        }
        if let Some(sid) = s.matcher.strategy_id {
            // Another tenant's strategy id would never match, but accepting it would tell
            // the caller nothing and store a reference across tenants.
            let sid = sid as i64;
            let a = store::get_in(conn, tenant, Kind::Strategy.path(), sid).await?;
            let b = store::get_in(conn, tenant, Kind::Expression.path(), sid).await?;
            if a.is_none() && b.is_none() {
                return Err(ApiError::bad_field(
                    "matcher.strategy_id",
                    format!("strategy {sid} does not exist"),
                ));
            }
        }
        let m = &s.matcher;
        if m.endpoint.is_none()
            && m.host_group_id.is_none()
            && m.metric.is_none()
            && m.strategy_id.is_none()
            && m.tags.is_empty()
            && m.matchers.is_empty()
        {
            return Err(ApiError::bad_field(
                "matcher",
                "an empty matcher would silence everything: name at least one part",
            ));
        }
        if s.author.trim().is_empty() {
            s.author = who.to_string();
        }
        Ok((None, serde_json::to_value(&s).expect("json")))
    }

    fn references(doc: &Value) -> Vec<store::Ref> {
        [
            one(
                doc,
                &["host_groups"],
                "host group",
                "/matcher/host_group_id",
                "matcher.host_group_id",
            ),
            one(
                doc,
                STRATEGIES,
                "strategy",
                "/matcher/strategy_id",
                "matcher.strategy_id",
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
