//! `strategies` (of a template) and `expressions` (expression strategies, selecting series by
//! tags): the same rule fields, checked by the core strategy.

use super::{check_ident, must_exist, one, Kind, Spec, Write};
use crate::store;
use argus_core::http::ApiError;
use argus_core::strategy::{ActiveWindow, Priority, Strategy as CoreStrategy, StrategyError};
use argus_core::Tags;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn three() -> u32 {
    3
}

/// The strategy fields shared by `strategies` and `expressions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleIn {
    /// The template holding it (`strategies` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<i64>,
    /// The metric.
    pub metric: String,
    /// Series tags it applies to.
    #[serde(default)]
    pub tags: Tags,
    /// The condition.
    pub condition: String,
    /// Recovery condition.
    #[serde(default)]
    pub recovery: Option<String>,
    /// P0..P5.
    #[serde(default)]
    pub priority: Priority,
    /// Notices per problem.
    #[serde(default = "three")]
    pub max_alarms: u32,
    /// Free text.
    #[serde(default)]
    pub note: String,
    /// Active window.
    #[serde(default)]
    pub active: Option<ActiveWindow>,
    /// Seconds the condition must hold before the PROBLEM.
    #[serde(default)]
    pub for_secs: u64,
}

impl RuleIn {
    /// The core strategy with id `id`.
    pub fn strategy(&self, id: i64) -> CoreStrategy {
        CoreStrategy {
            id: id as u64,
            metric: self.metric.clone(),
            tags: self.tags.clone(),
            condition: self.condition.clone(),
            recovery: self.recovery.clone().filter(|r| !r.trim().is_empty()),
            priority: self.priority,
            max_alarms: self.max_alarms,
            note: self.note.clone(),
            active: self.active.clone(),
            for_secs: self.for_secs,
        }
    }
}

/// Maps a core strategy error to the API field it blames.
pub fn strategy_error(e: StrategyError) -> ApiError {
    match &e {
        StrategyError::BadCondition { field, error, .. } => {
            ApiError::bad_field(*field, error.to_string())
        }
        StrategyError::Invalid { field, reason, .. } => ApiError::bad_field(*field, reason.clone()),
        _ => ApiError::bad_request(e.to_string()),
    }
}

/// Validates a rule (strategy or expression strategy) and returns it normalized.
pub fn check_rule(rule: &RuleIn, expression: bool) -> Result<(), ApiError> {
    if let Err(e) = check_ident(&rule.metric) {
        return Err(ApiError::bad_field("metric", e));
    }
    if expression && rule.tags.is_empty() {
        return Err(ApiError::bad_field(
            "tags",
            "an expression strategy selects series by tags: give at least one",
        ));
    }
    if rule.max_alarms == 0 {
        return Err(ApiError::bad_field("max_alarms", "must be at least 1"));
    }
    rule.strategy(0).check().map_err(strategy_error)
}

/// Checks a rule of either kind (`kind` says which) for the write.
async fn check(
    kind: Kind,
    w: Write<'_>,
    input: RuleIn,
) -> Result<(Option<String>, Value), ApiError> {
    let Write { conn, tenant, .. } = w;
    let r = input;
    let expression = kind == Kind::Expression;
    match (expression, r.template_id) {
        (false, None) => return Err(ApiError::bad_field("template_id", "required")),
        (false, Some(t)) => {
            must_exist(conn, tenant, Kind::Template, t, "template_id").await?;
        }
        (true, Some(_)) => {
            return Err(ApiError::bad_field(
                "template_id",
                "an expression strategy belongs to no template",
            ))
        }
        (true, None) => {}
    }
    check_rule(&r, expression)?;
    Ok((None, serde_json::to_value(&r).expect("json")))
}

/// The `strategies` kind.
pub(crate) struct Strategy;

impl Spec for Strategy {
    const KIND: Kind = Kind::Strategy;
    type Input = RuleIn;

    async fn check(w: Write<'_>, input: RuleIn) -> Result<(Option<String>, Value), ApiError> {
        check(Self::KIND, w, input).await
    }

    fn references(doc: &Value) -> Vec<store::Ref> {
        one(
            doc,
            &["templates"],
            "template",
            "/template_id",
            "template_id",
        )
        .into_iter()
        .collect()
    }
}

/// The `expressions` kind.
pub(crate) struct Expression;

impl Spec for Expression {
    const KIND: Kind = Kind::Expression;
    type Input = RuleIn;

    async fn check(w: Write<'_>, input: RuleIn) -> Result<(Option<String>, Value), ApiError> {
        check(Self::KIND, w, input).await
    }
}
