//! `host_groups`: hosts listed or matched by rules, their bound templates and agent settings.

use super::{check_ident, check_name, many, must_exist, Kind, Spec, Write};
use crate::store;
use argus_core::agentconf::AgentRemoteConfig;
use argus_core::http::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `host_groups` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostGroupIn {
    /// Display name, unique in the tenant.
    pub name: String,
    /// Member hosts, listed.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Membership rules: besides `hosts`, every host of the tenant that one of them matches
    /// (name glob, tags its agent reports, IP range), from its first heartbeat on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<argus_core::hostrule::HostRule>,
    /// Bound template ids.
    #[serde(default)]
    pub templates: Vec<i64>,
    /// What the agents of member hosts run (plugins, log rules, probes, step).
    #[serde(default)]
    pub agent: AgentRemoteConfig,
}

/// The `host_groups` kind.
pub(crate) struct HostGroup;

impl Spec for HostGroup {
    const KIND: Kind = Kind::HostGroup;
    type Input = HostGroupIn;

    async fn check(w: Write<'_>, input: HostGroupIn) -> Result<(Option<String>, Value), ApiError> {
        let Write { conn, tenant, .. } = w;
        let g = input;
        check_name("name", &g.name)?;
        for (i, h) in g.hosts.iter().enumerate() {
            if let Err(e) = check_ident(h) {
                return Err(ApiError::bad_field(format!("hosts[{i}]"), e));
            }
        }
        for (i, r) in g.rules.iter().enumerate() {
            r.check().map_err(|e| {
                let field = match e.field.as_str() {
                    "" => format!("rules[{i}]"),
                    f => format!("rules[{i}].{f}"),
                };
                ApiError::bad_field(field, e.reason)
            })?;
        }
        for (i, t) in g.templates.iter().enumerate() {
            must_exist(conn, tenant, Kind::Template, *t, &format!("templates[{i}]")).await?;
        }
        g.agent
            .validate()
            .map_err(|e| ApiError::bad_field(format!("agent.{}", e.field), e.reason))?;
        Ok((
            Some(g.name.clone()),
            serde_json::to_value(&g).expect("json"),
        ))
    }

    fn references(doc: &Value) -> Vec<store::Ref> {
        many(doc, &["templates"], "template", "templates")
    }
}
