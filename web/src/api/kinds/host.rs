//! `hosts`: the endpoints agents report as; a heartbeat adds what the API shows of them.

use super::{check_ident, Kind, Spec, Write};
use crate::store;
use argus_core::http::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `hosts` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostIn {
    /// The endpoint name the agent reports as.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub note: String,
}

/// The `hosts` kind.
pub(crate) struct Host;

impl Spec for Host {
    const KIND: Kind = Kind::Host;
    type Input = HostIn;

    async fn check(w: Write<'_>, input: HostIn) -> Result<(Option<String>, Value), ApiError> {
        let Write {
            conn, tenant, id, ..
        } = w;
        let kind = Self::KIND;
        let h = input;
        if let Err(e) = check_ident(&h.name) {
            return Err(ApiError::bad_field("name", e));
        }
        // Heartbeat fields survive an edit of the note.
        let mut body = json!({"name": h.name, "note": h.note});
        if let Some(old) = match id {
            Some(id) => store::get_in(conn, tenant, kind.path(), id).await?,
            None => None,
        } {
            if old.name.as_deref() != Some(h.name.as_str()) {
                return Err(ApiError::bad_field("name", "a host cannot be renamed"));
            }
            if let Some(hb) = old.body.get("heartbeat") {
                body["heartbeat"] = hb.clone();
            }
        }
        Ok((Some(h.name), body))
    }

    fn present(v: &mut Value, dead_after_secs: i64) {
        let last = v.pointer("/heartbeat/received_at").and_then(|x| x.as_i64());
        let alive = last.is_some_and(|t| t >= argus_core::time::now_secs() - dead_after_secs);
        v["alive"] = json!(alive);
        v["last_seen"] = json!(last);
        v["agent_version"] = v
            .pointer("/heartbeat/agent_version")
            .cloned()
            .unwrap_or(Value::Null);
        // What membership rules match on, at the top for the console and scripts.
        v["ip"] = v
            .pointer("/heartbeat/ip")
            .filter(|ip| ip.as_str().is_some_and(|s| !s.is_empty()))
            .cloned()
            .unwrap_or(Value::Null);
        v["tags"] = v
            .pointer("/heartbeat/tags")
            .cloned()
            .unwrap_or_else(|| json!({}));
    }
}
