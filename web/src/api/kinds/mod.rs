//! The configuration object kinds: their input shapes, validation (400 naming the field and the
//! reason), references and how they are shown, one module per kind behind `Spec`. Objects are
//! stored as JSON documents (see [`crate::store`]).

mod contact;
mod dashboard;
mod host;
mod host_group;
mod promql_rule;
mod silence;
mod strategy;
mod subscription;
mod team;
mod template;

pub use contact::{check_template, ContactIn, HIDDEN};
pub use host::HostIn;
pub use host_group::HostGroupIn;
pub use silence::SilenceIn;
pub use strategy::{check_rule, strategy_error, RuleIn};
pub use subscription::SubscriptionIn;
pub use team::TeamIn;
pub use template::TemplateIn;

use crate::store::{self, Object};
use actix_web::http::StatusCode;
use argus_core::http::ApiError;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sqlx::AnyConnection;

/// A kind of configuration object, named as in its API path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `hosts`
    Host,
    /// `host_groups`
    HostGroup,
    /// `templates`
    Template,
    /// `strategies` (belong to a template)
    Strategy,
    /// `expressions` (expression strategies)
    Expression,
    /// `contacts`
    Contact,
    /// `teams`
    Team,
    /// `subscriptions`
    Subscription,
    /// `silences`
    Silence,
    /// `recording_rules` (PromQL recording rules)
    RecordingRule,
    /// `alert_rules` (PromQL alert rules)
    AlertRule,
    /// `dashboards` (console dashboards over PromQL)
    Dashboard,
}

/// Every kind, for routing and tests.
pub const ALL: [Kind; 12] = [
    Kind::Host,
    Kind::HostGroup,
    Kind::Template,
    Kind::Strategy,
    Kind::Expression,
    Kind::Contact,
    Kind::Team,
    Kind::Subscription,
    Kind::Silence,
    Kind::RecordingRule,
    Kind::AlertRule,
    Kind::Dashboard,
];

impl Kind {
    /// The API path segment and stored kind.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Host => "hosts",
            Kind::HostGroup => "host_groups",
            Kind::Template => "templates",
            Kind::Strategy => "strategies",
            Kind::Expression => "expressions",
            Kind::Contact => "contacts",
            Kind::Team => "teams",
            Kind::Subscription => "subscriptions",
            Kind::Silence => "silences",
            Kind::RecordingRule => "recording_rules",
            Kind::AlertRule => "alert_rules",
            Kind::Dashboard => "dashboards",
        }
    }
    /// True when components (judges, transfers, alarms, agents) are configured by objects of
    /// this kind, so that writing one bumps the configuration version they pull by. Dashboards
    /// are the console's alone: saving one must not make every node re-pull its configuration.
    pub fn configures_components(self) -> bool {
        self != Kind::Dashboard
    }
    /// The kind of an API path segment.
    pub fn from_path(p: &str) -> Option<Kind> {
        ALL.into_iter().find(|k| k.path() == p)
    }
    /// A singular noun for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::HostGroup => "host group",
            Kind::Template => "template",
            Kind::Strategy => "strategy",
            Kind::Expression => "expression strategy",
            Kind::Contact => "contact",
            Kind::Team => "team",
            Kind::Subscription => "subscription",
            Kind::Silence => "silence",
            Kind::RecordingRule => "recording rule",
            Kind::AlertRule => "alert rule",
            Kind::Dashboard => "dashboard",
        }
    }
}

/// What a kind says about its documents. [`prepare`], [`references`], [`check_delete`] and
/// [`present`] pick the implementation by [`Kind`] and do the rest the same for every kind.
pub(crate) trait Spec {
    /// The kind.
    const KIND: Kind;
    /// Whether the routing tree may name an object of it as a receiver (its delete is then
    /// refused while it does).
    const RECEIVER: bool = false;
    /// The input document, parsed naming the offending field.
    type Input: DeserializeOwned;

    /// Checks `input` for the write `w`; answers the unique name (for kinds that have one) and
    /// the document to store.
    async fn check(w: Write<'_>, input: Self::Input) -> Result<(Option<String>, Value), ApiError>;

    /// The references a checked document makes to other objects of its tenant.
    fn references(_doc: &Value) -> Vec<store::Ref> {
        Vec::new()
    }

    /// The first object still using object `id` of this kind, if any.
    async fn used_by(
        _conn: &mut AnyConnection,
        _tenant: &str,
        _id: i64,
    ) -> Result<Option<(Kind, i64)>, ApiError> {
        Ok(None)
    }

    /// Adds to (or hides in) the API form `v` of a stored document.
    fn present(_v: &mut Value, _dead_after_secs: i64) {}
}

/// What a check knows of its write. `conn` is the transaction that then writes the document:
/// what the check reads cannot change before the commit.
pub(crate) struct Write<'a> {
    /// The write's transaction.
    pub conn: &'a mut AnyConnection,
    /// The caller's tenant.
    pub tenant: &'a str,
    /// Who writes (a silence's default author).
    pub who: &'a str,
    /// The object being replaced, if any.
    pub id: Option<i64>,
}

/// Evaluates `$e` with `$s` the [`Spec`] of `$kind`.
macro_rules! with_spec {
    ($kind:expr, $s:ident => $e:expr) => {
        match $kind {
            Kind::Host => {
                type $s = host::Host;
                $e
            }
            Kind::HostGroup => {
                type $s = host_group::HostGroup;
                $e
            }
            Kind::Template => {
                type $s = template::Template;
                $e
            }
            Kind::Strategy => {
                type $s = strategy::Strategy;
                $e
            }
            Kind::Expression => {
                type $s = strategy::Expression;
                $e
            }
            Kind::Contact => {
                type $s = contact::Contact;
                $e
            }
            Kind::Team => {
                type $s = team::Team;
                $e
            }
            Kind::Subscription => {
                type $s = subscription::Subscription;
                $e
            }
            Kind::Silence => {
                type $s = silence::Silence;
                $e
            }
            Kind::RecordingRule => {
                type $s = promql_rule::RecordingRule;
                $e
            }
            Kind::AlertRule => {
                type $s = promql_rule::AlertRule;
                $e
            }
            Kind::Dashboard => {
                type $s = dashboard::Dashboard;
                $e
            }
        }
    };
}

/// Parses `v` as `T`, naming the offending field on error.
pub fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // "missing field `x`" at the top level: name x itself.
        let field = match (path.as_str(), inner.strip_prefix("missing field `")) {
            (".", Some(rest)) => rest.trim_end_matches('`').to_string(),
            (p, Some(rest)) => format!("{p}.{}", rest.trim_end_matches('`')),
            (".", None) => inner
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .unwrap_or("body")
                .to_string(),
            (p, None) => p.to_string(),
        };
        ApiError::bad_field(field, inner)
    })
}

/// Checks a metric or host name: 1 to 255 bytes of letters, digits and `. _ - : / @ %`.
pub fn check_ident(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 {
        return Err(format!("must be 1 to 255 bytes, got {}", s.len()));
    }
    if let Some(c) = s.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '%'))
    }) {
        return Err(format!(
            "may hold only letters, digits and . _ - : / @ %, found {c:?}"
        ));
    }
    Ok(())
}

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, msg)
}

fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(ApiError::bad_field(field, "must not be empty"));
    }
    if n.len() > 200 {
        return Err(ApiError::bad_field(field, "must be at most 200 bytes"));
    }
    if n.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_field(
            field,
            "must not hold control characters",
        ));
    }
    Ok(())
}

/// Fails with 400 naming `field` unless object `id` of `kind` is one of `tenant`'s, read on
/// `conn` (the write's transaction, which [`references`] then locks them in).
pub(crate) async fn must_exist(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: Kind,
    id: i64,
    field: &str,
) -> Result<Object, ApiError> {
    store::get_in(conn, tenant, kind.path(), id)
        .await?
        .ok_or_else(|| ApiError::bad_field(field, format!("{} {id} does not exist", kind.noun())))
}

/// Validates `input` for `kind` in the caller's tenant. `id` is the object being replaced, if
/// any. Returns the unique name (for kinds that have one) and the document to store. Reads on
/// `conn`, the transaction that then writes the document.
pub async fn prepare(
    conn: &mut AnyConnection,
    tenant: &str,
    who: &str,
    kind: Kind,
    id: Option<i64>,
    input: Value,
) -> Result<(Option<String>, Value), ApiError> {
    if !input.is_object() {
        return Err(ApiError::bad_field("body", "must be a JSON object"));
    }
    let w = Write {
        conn,
        tenant,
        who,
        id,
    };
    with_spec!(kind, S => S::check(w, parse(input)?).await)
}

/// The strategy kinds a strategy id may name.
const STRATEGIES: &[&str] = &["strategies", "expressions"];

/// The reference at JSON pointer `ptr` of `doc`, if set, to one of `kinds`.
fn one(
    doc: &Value,
    kinds: &'static [&'static str],
    noun: &'static str,
    ptr: &str,
    field: &str,
) -> Option<store::Ref> {
    doc.pointer(ptr)
        .and_then(|v| v.as_i64())
        .map(|id| store::Ref {
            kinds,
            id,
            field: field.to_string(),
            noun,
        })
}

/// The references in the array `key` of `doc`, to one of `kinds`.
fn many(
    doc: &Value,
    kinds: &'static [&'static str],
    noun: &'static str,
    key: &str,
) -> Vec<store::Ref> {
    doc.get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| {
            v.as_i64().map(|id| store::Ref {
                kinds,
                id,
                field: format!("{key}[{i}]"),
                noun,
            })
        })
        .collect()
}

/// The references `doc` (a checked document of `kind`) makes to other objects of its tenant,
/// for [`store::check_refs_in`]: [`prepare`] read them already with the same messages, and the
/// write locks them in the same transaction, so that an object deleted concurrently is not
/// referenced once stored.
pub(crate) fn references(kind: Kind, doc: &Value) -> Vec<store::Ref> {
    with_spec!(kind, S => S::references(doc))
}

/// Refuses deleting an object that others still use (409 saying which).
/// Runs on `conn`, the transaction that deletes the object after locking it (`store::lock_in`):
/// a write that would reference it either committed before (and is seen here) or waits and
/// then finds it gone.
pub async fn check_delete(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: Kind,
    id: i64,
) -> Result<(), ApiError> {
    let found = with_spec!(kind, S => S::used_by(conn, tenant, id).await?);
    if found.is_none() && with_spec!(kind, S => S::RECEIVER) {
        let name = store::get_in(conn, tenant, kind.path(), id)
            .await?
            .and_then(|o| o.name);
        if let Some(name) = name {
            if crate::api::routes::uses_receiver(conn, tenant, &name).await? {
                return Err(conflict(format!(
                    "{} {id} ({name}) is a receiver of the routing tree (/api/v1/routes)",
                    kind.noun()
                )));
            }
        }
    }
    match found {
        Some((k, other)) => Err(conflict(format!(
            "{} {id} is still used by {} {other}",
            kind.noun(),
            k.noun()
        ))),
        None => Ok(()),
    }
}

/// The first object of kind `k` whose field `f` (an id or a list of ids) names `id`.
async fn uses_by(
    conn: &mut AnyConnection,
    tenant: &str,
    k: Kind,
    f: &'static str,
    id: i64,
) -> Result<Option<(Kind, i64)>, ApiError> {
    let all = store::list_in(conn, tenant, k.path()).await?;
    Ok(all
        .into_iter()
        .find(|o| uses(&o.body, f, id))
        .map(|o| (k, o.id)))
}

fn uses(body: &Value, field: &str, id: i64) -> bool {
    match body.get(field) {
        Some(Value::Array(a)) => a.iter().any(|v| v.as_i64() == Some(id)),
        Some(v) => v.as_i64() == Some(id),
        None => false,
    }
}

/// The API form of an object: its document with `id` (secrets hidden, host liveness added).
pub fn present(kind: Kind, o: &Object, dead_after_secs: i64) -> Value {
    let mut v = o.body.clone();
    v["id"] = json!(o.id);
    v["updated_at"] = json!(o.updated_at);
    with_spec!(kind, S => S::present(&mut v, dead_after_secs));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_every_field_prepare_checks() {
        let refs = |kind, doc: Value| {
            references(kind, &doc)
                .into_iter()
                .map(|r| (r.kinds.join("|"), r.id, r.field))
                .collect::<Vec<_>>()
        };
        let s = |k: &str, id: i64, f: &str| (k.to_string(), id, f.to_string());
        assert_eq!(
            refs(Kind::HostGroup, json!({"name": "g", "templates": [4, 5]})),
            vec![
                s("templates", 4, "templates[0]"),
                s("templates", 5, "templates[1]")
            ]
        );
        assert_eq!(
            refs(Kind::Template, json!({"name": "t", "parent": null})),
            vec![]
        );
        assert_eq!(
            refs(Kind::Team, json!({"members": [1], "escalate_to": 2})),
            vec![s("contacts", 1, "members[0]"), s("teams", 2, "escalate_to")]
        );
        assert_eq!(
            refs(
                Kind::Subscription,
                json!({"target": {"kind": "strategy", "strategy_id": 9}, "team_id": 3, "contact_id": null})
            ),
            vec![
                s("teams", 3, "team_id"),
                s("strategies|expressions", 9, "target.strategy_id")
            ]
        );
        assert_eq!(
            refs(
                Kind::Silence,
                json!({"matcher": {"host_group_id": 7, "strategy_id": null}})
            ),
            vec![s("host_groups", 7, "matcher.host_group_id")]
        );
        assert!(refs(Kind::Contact, json!({"name": "c"})).is_empty());
    }
}
