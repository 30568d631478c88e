//! `teams`: contacts paged together, escalating to another team.

use super::{check_name, many, must_exist, one, uses_by, Kind, Spec, Write};
use crate::store;
use argus_core::http::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AnyConnection;

fn escalate_default() -> u64 {
    900
}

/// `teams` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamIn {
    /// Display name, unique in the tenant.
    pub name: String,
    /// Contact ids.
    #[serde(default)]
    pub members: Vec<i64>,
    /// Escalation team id.
    #[serde(default)]
    pub escalate_to: Option<i64>,
    /// Seconds before escalation.
    #[serde(default = "escalate_default")]
    pub escalate_after_secs: u64,
}

/// The `teams` kind.
pub(crate) struct Team;

impl Spec for Team {
    const KIND: Kind = Kind::Team;
    const RECEIVER: bool = true;
    type Input = TeamIn;

    async fn check(w: Write<'_>, input: TeamIn) -> Result<(Option<String>, Value), ApiError> {
        let Write {
            conn, tenant, id, ..
        } = w;
        let t = input;
        check_name("name", &t.name)?;
        for (i, m) in t.members.iter().enumerate() {
            must_exist(conn, tenant, Kind::Contact, *m, &format!("members[{i}]")).await?;
        }
        if let Some(e) = t.escalate_to {
            if Some(e) == id {
                return Err(ApiError::bad_field(
                    "escalate_to",
                    "a team cannot escalate to itself",
                ));
            }
            must_exist(conn, tenant, Kind::Team, e, "escalate_to").await?;
        }
        Ok((
            Some(t.name.clone()),
            serde_json::to_value(&t).expect("json"),
        ))
    }

    fn references(doc: &Value) -> Vec<store::Ref> {
        let mut out = many(doc, &["contacts"], "contact", "members");
        out.extend(one(doc, &["teams"], "team", "/escalate_to", "escalate_to"));
        out
    }

    async fn used_by(
        conn: &mut AnyConnection,
        tenant: &str,
        id: i64,
    ) -> Result<Option<(Kind, i64)>, ApiError> {
        let mut f = uses_by(conn, tenant, Kind::Subscription, "team_id", id).await?;
        if f.is_none() {
            f = uses_by(conn, tenant, Kind::Team, "escalate_to", id).await?;
        }
        Ok(f)
    }
}
