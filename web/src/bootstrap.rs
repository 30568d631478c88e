//! First-run setup for `argus standalone` and demos: a tenant, its admin user (also a platform
//! admin) and its tokens, created idempotently.

use crate::api::account::{insert_token, insert_user};
use crate::auth::Role;
use crate::db::{db_err, Db};
use crate::store;
use argus_core::auth::hash_token;
use argus_core::http::ApiError;
use sqlx::Row;

/// What [`ensure_demo`] creates.
#[derive(Debug, Clone)]
pub struct Demo<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The admin's login.
    pub admin_login: &'a str,
    /// The admin's password (at least 8 characters); an existing user keeps its password.
    pub admin_password: &'a str,
    /// An agent token to register (the agents and transfers accept it), if any.
    pub agent_token: Option<&'a str>,
    /// An API token to register with the admin role, if any.
    pub api_token: Option<&'a str>,
}

/// Creates the tenant, the admin user and the tokens unless they exist. Safe to call at every
/// start.
pub async fn ensure_demo(db: &Db, d: &Demo<'_>) -> Result<(), ApiError> {
    let tenant =
        argus_core::TenantId::new(d.tenant).map_err(|e| ApiError::bad_field("tenant", e))?;
    store::ensure_tenant(db, tenant.as_str(), tenant.as_str()).await?;
    let exists = sqlx::query("SELECT id FROM web_users WHERE login = $1")
        .bind(d.admin_login)
        .fetch_optional(&db.pool)
        .await
        .map_err(db_err)?;
    if exists.is_none() {
        insert_user(
            db,
            tenant.as_str(),
            d.admin_login,
            d.admin_password,
            Role::Admin,
            true,
        )
        .await?;
    }
    for (kind, tok) in [("agent", d.agent_token), ("api", d.api_token)] {
        let Some(tok) = tok else { continue };
        let row = sqlx::query("SELECT tenant FROM web_tokens WHERE token_sha256 = $1")
            .bind(hash_token(tok))
            .fetch_optional(&db.pool)
            .await
            .map_err(db_err)?;
        if let Some(r) = row {
            let owner: String = r.try_get("tenant").map_err(db_err)?;
            if owner != tenant.as_str() {
                return Err(ApiError::bad_field(
                    format!("{kind}_token"),
                    "already registered for another tenant",
                ));
            }
            continue;
        }
        insert_token(
            db,
            tenant.as_str(),
            kind,
            &format!("{kind} (bootstrap)"),
            Role::Admin,
            tok,
        )
        .await?;
    }
    Ok(())
}
