//! `templates`: named sets of strategies, inheriting from a parent.

use super::{check_name, must_exist, one, uses_by, Kind, Spec, Write};
use crate::store;
use argus_core::http::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AnyConnection;

/// `templates` input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    /// Display name, unique in the tenant.
    pub name: String,
    /// Parent template id.
    #[serde(default)]
    pub parent: Option<i64>,
}

/// The `templates` kind.
pub(crate) struct Template;

impl Spec for Template {
    const KIND: Kind = Kind::Template;
    type Input = TemplateIn;

    async fn check(w: Write<'_>, input: TemplateIn) -> Result<(Option<String>, Value), ApiError> {
        let Write {
            conn, tenant, id, ..
        } = w;
        let t = input;
        check_name("name", &t.name)?;
        if let Some(p) = t.parent {
            must_exist(conn, tenant, Kind::Template, p, "parent").await?;
            if let Some(me) = id {
                check_no_cycle(conn, tenant, me, p).await?;
            }
        }
        Ok((
            Some(t.name.clone()),
            serde_json::to_value(&t).expect("json"),
        ))
    }

    fn references(doc: &Value) -> Vec<store::Ref> {
        one(doc, &["templates"], "template", "/parent", "parent")
            .into_iter()
            .collect()
    }

    async fn used_by(
        conn: &mut AnyConnection,
        tenant: &str,
        id: i64,
    ) -> Result<Option<(Kind, i64)>, ApiError> {
        let mut f = uses_by(conn, tenant, Kind::Template, "parent", id).await?;
        if f.is_none() {
            f = uses_by(conn, tenant, Kind::HostGroup, "templates", id).await?;
        }
        if f.is_none() {
            f = store::list_in(conn, tenant, Kind::Subscription.path())
                .await?
                .into_iter()
                .find(|o| {
                    o.body
                        .pointer("/target/template_id")
                        .and_then(|v| v.as_i64())
                        == Some(id)
                })
                .map(|o| (Kind::Subscription, o.id));
        }
        Ok(f)
    }
}

/// Refuses making `parent` the parent of template `me` if `me` is among `parent`'s ancestors.
async fn check_no_cycle(
    conn: &mut AnyConnection,
    tenant: &str,
    me: i64,
    parent: i64,
) -> Result<(), ApiError> {
    let mut chain = vec![me];
    let mut cur = Some(parent);
    while let Some(t) = cur {
        chain.push(t);
        if t == me {
            let path: Vec<String> = chain.iter().map(|x| x.to_string()).collect();
            return Err(ApiError::bad_field(
                "parent",
                format!("would create an inheritance cycle: {}", path.join(" -> ")),
            ));
        }
        if chain.len() > 1000 {
            break;
        }
        cur = store::get_in(conn, tenant, Kind::Template.path(), t)
            .await?
            .and_then(|o| o.body.get("parent").and_then(|p| p.as_i64()));
    }
    Ok(())
}
