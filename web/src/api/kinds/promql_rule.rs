//! `recording_rules` and `alert_rules`: PromQL rules, checked in [`crate::api::rules`].

use super::{Kind, Spec, Write};
use crate::api::rules::{checked, Checked};
use argus_core::http::ApiError;
use serde_json::Value;

/// The document of a checked rule of `kind`.
fn check(kind: Kind, input: Value) -> Result<(Option<String>, Value), ApiError> {
    let doc = match checked(kind, input)? {
        Checked::Recording(r) => serde_json::to_value(&r),
        Checked::Alert(a) => serde_json::to_value(&a),
    };
    Ok((None, doc.expect("json")))
}

/// The `recording_rules` kind.
pub(crate) struct RecordingRule;

impl Spec for RecordingRule {
    const KIND: Kind = Kind::RecordingRule;
    // Parsed by the rules module, which names the fields of the rule file format.
    type Input = Value;

    async fn check(_w: Write<'_>, input: Value) -> Result<(Option<String>, Value), ApiError> {
        check(Self::KIND, input)
    }
}

/// The `alert_rules` kind.
pub(crate) struct AlertRule;

impl Spec for AlertRule {
    const KIND: Kind = Kind::AlertRule;
    type Input = Value;

    async fn check(_w: Write<'_>, input: Value) -> Result<(Option<String>, Value), ApiError> {
        check(Self::KIND, input)
    }
}
