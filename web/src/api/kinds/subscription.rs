//! `subscriptions`: who is told about what (a template, a strategy or a priority).

use super::{must_exist, one, Kind, Spec, Write, STRATEGIES};
use crate::store;
use argus_core::http::ApiError;
use argus_core::notify::{Channel, SubscriptionTarget};
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn yes() -> bool {
    true
}

/// `subscriptions` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionIn {
    /// What it matches.
    pub target: SubscriptionTarget,
    /// A team...
    #[serde(default)]
    pub team_id: Option<i64>,
    /// ...or one contact.
    #[serde(default)]
    pub contact_id: Option<i64>,
    /// Channels.
    pub channels: Vec<Channel>,
    /// Also send recoveries.
    #[serde(default = "yes")]
    pub send_recovery: bool,
}

/// The `subscriptions` kind.
pub(crate) struct Subscription;

impl Spec for Subscription {
    const KIND: Kind = Kind::Subscription;
    type Input = SubscriptionIn;

    async fn check(
        w: Write<'_>,
        input: SubscriptionIn,
    ) -> Result<(Option<String>, Value), ApiError> {
        let Write { conn, tenant, .. } = w;
        let s = input;
        match (s.team_id, s.contact_id) {
            (Some(t), None) => {
                must_exist(conn, tenant, Kind::Team, t, "team_id").await?;
            }
            (None, Some(c)) => {
                must_exist(conn, tenant, Kind::Contact, c, "contact_id").await?;
            }
            _ => {
                return Err(ApiError::bad_field(
                    "team_id",
                    "give exactly one of team_id and contact_id",
                ))
            }
        }
        if s.channels.is_empty() {
            return Err(ApiError::bad_field("channels", "give at least one channel"));
        }
        match &s.target {
            SubscriptionTarget::Template { template_id } => {
                must_exist(
                    conn,
                    tenant,
                    Kind::Template,
                    *template_id as i64,
                    "target.template_id",
                )
                .await?;
            }
            SubscriptionTarget::Strategy { strategy_id } => {
                let sid = *strategy_id as i64;
                let a = store::get_in(conn, tenant, Kind::Strategy.path(), sid).await?;
                let b = store::get_in(conn, tenant, Kind::Expression.path(), sid).await?;
                if a.is_none() && b.is_none() {
                    return Err(ApiError::bad_field(
                        "target.strategy_id",
                        format!("strategy {sid} does not exist"),
                    ));
                }
            }
            SubscriptionTarget::Priority { .. } => {}
        }
        Ok((None, serde_json::to_value(&s).expect("json")))
    }

    fn references(doc: &Value) -> Vec<store::Ref> {
        [
            one(doc, &["teams"], "team", "/team_id", "team_id"),
            one(doc, &["contacts"], "contact", "/contact_id", "contact_id"),
            one(
                doc,
                &["templates"],
                "template",
                "/target/template_id",
                "target.template_id",
            ),
            one(
                doc,
                STRATEGIES,
                "strategy",
                "/target/strategy_id",
                "target.strategy_id",
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
