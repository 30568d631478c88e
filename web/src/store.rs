//! Tenant-scoped reads and writes of the configuration database. Every function takes the
//! tenant: a row of another tenant is never returned, updated or deleted (callers answer 404).

use crate::db::{db_err, opt_str, Db};
use argus_core::http::ApiError;
use argus_core::time::now_secs;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// One stored configuration object.
#[derive(Debug, Clone)]
pub struct Object {
    /// Id, unique across kinds.
    pub id: i64,
    /// The owner.
    pub tenant: String,
    /// Unique name within the tenant and kind, when the kind has one.
    pub name: Option<String>,
    /// The document.
    pub body: Value,
    /// Last write, Unix seconds.
    pub updated_at: i64,
}

fn object(row: &AnyRow) -> Result<Object, ApiError> {
    let body: String = row.try_get("body").map_err(db_err)?;
    Ok(Object {
        id: row.try_get("id").map_err(db_err)?,
        tenant: row.try_get("tenant").map_err(db_err)?,
        name: opt_str(row, "name"),
        body: serde_json::from_str(&body)
            .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?,
        updated_at: row.try_get("updated_at").map_err(db_err)?,
    })
}

/// All objects of `kind` in `tenant`, by id.
pub async fn list(db: &Db, tenant: &str, kind: &str) -> Result<Vec<Object>, ApiError> {
    let mut conn = db.pool.acquire().await.map_err(db_err)?;
    list_in(&mut conn, tenant, kind).await
}

/// [`list`] on `conn` (a transaction's, so that the read belongs to its write).
pub(crate) async fn list_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: &str,
) -> Result<Vec<Object>, ApiError> {
    let rows = sqlx::query(
        "SELECT id, tenant, name, body, updated_at FROM web_objects WHERE tenant = $1 AND kind = $2 ORDER BY id",
    )
    .bind(tenant)
    .bind(kind)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    rows.iter().map(object).collect()
}

/// One page of the objects of `kind` in `tenant`: ids above `after`, at most `limit`, by id.
pub async fn list_page(
    db: &Db,
    tenant: &str,
    kind: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<Object>, ApiError> {
    let rows = sqlx::query(
        "SELECT id, tenant, name, body, updated_at FROM web_objects WHERE tenant = $1 AND kind = $2 AND id > $3 ORDER BY id LIMIT $4",
    )
    .bind(tenant)
    .bind(kind)
    .bind(after)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(object).collect()
}

/// Object `id` of `kind` in `tenant`.
pub async fn get(db: &Db, tenant: &str, kind: &str, id: i64) -> Result<Option<Object>, ApiError> {
    let mut conn = db.pool.acquire().await.map_err(db_err)?;
    get_in(&mut conn, tenant, kind, id).await
}

/// [`get`] on `conn`.
pub(crate) async fn get_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: &str,
    id: i64,
) -> Result<Option<Object>, ApiError> {
    let row = sqlx::query(
        "SELECT id, tenant, name, body, updated_at FROM web_objects WHERE tenant = $1 AND kind = $2 AND id = $3",
    )
    .bind(tenant)
    .bind(kind)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    row.as_ref().map(object).transpose()
}

/// Takes the write lock of object `id` of one of `kinds` in `tenant` inside a transaction on
/// `conn`; false when there is none. A no-op UPDATE rather than a SELECT: on PostgreSQL a
/// concurrent write or delete of that row waits for this transaction (SQLite has one writer).
pub(crate) async fn lock_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kinds: &[&str],
    id: i64,
) -> Result<bool, ApiError> {
    let mut found = 0;
    for kind in kinds {
        found += sqlx::query(
            "UPDATE web_objects SET updated_at = updated_at WHERE tenant = $1 AND kind = $2 AND id = $3",
        )
        .bind(tenant)
        .bind(*kind)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?
        .rows_affected();
    }
    Ok(found > 0)
}

/// Object named `name` of `kind` in `tenant`.
pub async fn by_name(
    db: &Db,
    tenant: &str,
    kind: &str,
    name: &str,
) -> Result<Option<Object>, ApiError> {
    let mut conn = db.pool.acquire().await.map_err(db_err)?;
    by_name_in(&mut conn, tenant, kind, name).await
}

/// [`by_name`] on `conn`.
pub(crate) async fn by_name_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: &str,
    name: &str,
) -> Result<Option<Object>, ApiError> {
    let row = sqlx::query(
        "SELECT id, tenant, name, body, updated_at FROM web_objects WHERE tenant = $1 AND kind = $2 AND name = $3",
    )
    .bind(tenant)
    .bind(kind)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    row.as_ref().map(object).transpose()
}

/// A reference from a document to another object of the same tenant (a host group's template,
/// a team's contact...), checked in the transaction that writes the document.
#[derive(Debug, Clone)]
pub struct Ref {
    /// The kinds it may be (a strategy id names a strategy or an expression strategy).
    pub kinds: &'static [&'static str],
    /// Its id.
    pub id: i64,
    /// The field of the document naming it, for the 400.
    pub field: String,
    /// What it is, for the message.
    pub noun: &'static str,
}

/// Fails with 400 naming the field when a reference is not an object of `tenant`, inside the
/// transaction on `conn` that writes the document. Each referenced row is locked
/// ([`lock_in`]), so a concurrent delete of it waits for this write instead of passing between
/// the check and the commit.
pub(crate) async fn check_refs_in(
    conn: &mut AnyConnection,
    tenant: &str,
    refs: &[Ref],
) -> Result<(), ApiError> {
    for r in refs {
        if !lock_in(conn, tenant, r.kinds, r.id).await? {
            return Err(ApiError::bad_field(
                r.field.clone(),
                format!("{} {} does not exist", r.noun, r.id),
            ));
        }
    }
    Ok(())
}

/// Sets the tenant's one object of `kind` (named after its kind: the routing tree, the email
/// templates), creating it the first time; the configuration version changes. Answers it.
pub async fn put_singleton(
    db: &Db,
    tenant: &str,
    kind: &str,
    body: &Value,
) -> Result<Option<Object>, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let o = put_singleton_in(&mut tx, tenant, kind, body).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(o)
}

/// [`put_singleton`] inside the transaction on `conn` (which checked what the document names).
pub(crate) async fn put_singleton_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: &str,
    body: &Value,
) -> Result<Option<Object>, ApiError> {
    match by_name_in(conn, tenant, kind, kind).await? {
        Some(o) => {
            update_in(conn, tenant, kind, o.id, Some(kind), body).await?;
        }
        None => {
            insert_in(conn, tenant, kind, Some(kind), body).await?;
        }
    }
    bump_in(conn, tenant).await?;
    by_name_in(conn, tenant, kind, kind).await
}

/// Deletes the tenant's one object of `kind`; false when it has none.
pub async fn delete_singleton(db: &Db, tenant: &str, kind: &str) -> Result<bool, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let Some(o) = by_name_in(&mut tx, tenant, kind, kind).await? else {
        return Ok(false);
    };
    delete_in(&mut tx, tenant, kind, o.id).await?;
    bump_in(&mut tx, tenant).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

/// Stores a new object and returns its id. `bump` says whether the tenant's configuration
/// version changes (heartbeats do not).
pub async fn insert(
    db: &Db,
    tenant: &str,
    kind: &str,
    name: Option<&str>,
    body: &Value,
    bump: bool,
) -> Result<i64, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let id = insert_in(&mut tx, tenant, kind, name, body).await?;
    if bump {
        bump_in(&mut tx, tenant).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(id)
}

/// [`insert`], in one transaction with the check of the document's references `refs`.
pub async fn insert_checked(
    db: &Db,
    tenant: &str,
    kind: &str,
    name: Option<&str>,
    body: &Value,
    bump: bool,
    refs: &[Ref],
) -> Result<i64, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    check_refs_in(&mut tx, tenant, refs).await?;
    let id = insert_in(&mut tx, tenant, kind, name, body).await?;
    if bump {
        bump_in(&mut tx, tenant).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(id)
}

/// Stores a new object on `conn` (the caller's transaction bumps the version) and returns its id.
pub(crate) async fn insert_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: &str,
    name: Option<&str>,
    body: &Value,
) -> Result<i64, ApiError> {
    let row = sqlx::query(
        "INSERT INTO web_objects (tenant, kind, name, body, updated_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(tenant)
    .bind(kind)
    .bind(name)
    .bind(body.to_string())
    .bind(now_secs())
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    row.try_get("id").map_err(db_err)
}

/// Stores several new objects of `tenant` (kind and document each) in one transaction with one
/// version bump: all of them, or none. Returns their ids in order.
pub async fn insert_many(
    db: &Db,
    tenant: &str,
    objects: &[(&str, Value)],
) -> Result<Vec<i64>, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let mut ids = Vec::with_capacity(objects.len());
    for (kind, body) in objects {
        ids.push(insert_in(&mut tx, tenant, kind, None, body).await?);
    }
    if !ids.is_empty() {
        bump_in(&mut tx, tenant).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(ids)
}

/// Replaces object `id`; false when it is not in `tenant`.
pub async fn update(
    db: &Db,
    tenant: &str,
    kind: &str,
    id: i64,
    name: Option<&str>,
    body: &Value,
    bump: bool,
) -> Result<bool, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let found = update_in(&mut tx, tenant, kind, id, name, body).await?;
    if found && bump {
        bump_in(&mut tx, tenant).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(found)
}

/// [`update`], in one transaction with the check of the document's references `refs`.
#[allow(clippy::too_many_arguments)]
pub async fn update_checked(
    db: &Db,
    tenant: &str,
    kind: &str,
    id: i64,
    name: Option<&str>,
    body: &Value,
    bump: bool,
    refs: &[Ref],
) -> Result<bool, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    check_refs_in(&mut tx, tenant, refs).await?;
    let found = update_in(&mut tx, tenant, kind, id, name, body).await?;
    if found && bump {
        bump_in(&mut tx, tenant).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(found)
}

/// Replaces object `id` on `conn` (the caller's transaction bumps the version); false when it is
/// not in `tenant`.
pub(crate) async fn update_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: &str,
    id: i64,
    name: Option<&str>,
    body: &Value,
) -> Result<bool, ApiError> {
    let n = sqlx::query(
        "UPDATE web_objects SET name = $1, body = $2, updated_at = $3 WHERE tenant = $4 AND kind = $5 AND id = $6",
    )
    .bind(name)
    .bind(body.to_string())
    .bind(now_secs())
    .bind(tenant)
    .bind(kind)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(n > 0)
}

/// Deletes object `id` alone (the API's delete also removes a template's strategies, in the
/// same transaction); false when it is not in `tenant`.
pub async fn delete(db: &Db, tenant: &str, kind: &str, id: i64) -> Result<bool, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let found = delete_in(&mut tx, tenant, kind, id).await?;
    if found {
        bump_in(&mut tx, tenant).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(found)
}

/// Deletes object `id` on `conn` (the caller's transaction bumps the version); false when it is
/// not in `tenant`.
pub(crate) async fn delete_in(
    conn: &mut AnyConnection,
    tenant: &str,
    kind: &str,
    id: i64,
) -> Result<bool, ApiError> {
    let n = sqlx::query("DELETE FROM web_objects WHERE tenant = $1 AND kind = $2 AND id = $3")
        .bind(tenant)
        .bind(kind)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?
        .rows_affected();
    Ok(n > 0)
}

/// Bumps the tenant's version and the global one, inside the transaction on `conn`.
pub async fn bump_in(conn: &mut AnyConnection, tenant: &str) -> Result<(), ApiError> {
    sqlx::query("UPDATE web_tenants SET version = version + 1 WHERE id = $1")
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    sqlx::query("UPDATE web_meta SET value = value + 1 WHERE name = 'version'")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Bumps the tenant's version and the global one.
pub async fn bump(db: &Db, tenant: &str) -> Result<(), ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    bump_in(&mut tx, tenant).await?;
    tx.commit().await.map_err(db_err)
}

/// The global configuration version (changes whenever any tenant's configuration changes).
pub async fn global_version(db: &Db) -> Result<i64, ApiError> {
    let row = sqlx::query("SELECT value FROM web_meta WHERE name = 'version'")
        .fetch_one(&db.pool)
        .await
        .map_err(db_err)?;
    row.try_get("value").map_err(db_err)
}

/// A tenant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantRow {
    /// The id (slug).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Configuration version.
    pub version: i64,
    /// Creation time.
    pub created_at: i64,
}

/// Every tenant, by id.
pub async fn tenants(db: &Db) -> Result<Vec<TenantRow>, ApiError> {
    let rows = sqlx::query("SELECT id, name, version, created_at FROM web_tenants ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(TenantRow {
                id: r.try_get("id").map_err(db_err)?,
                name: r.try_get("name").map_err(db_err)?,
                version: r.try_get("version").map_err(db_err)?,
                created_at: r.try_get("created_at").map_err(db_err)?,
            })
        })
        .collect()
}

/// Creates tenant `id` unless it exists; true when created. The id of a deleted tenant is
/// refused (409, field `id`): it is never reused.
pub async fn ensure_tenant(db: &Db, id: &str, name: &str) -> Result<bool, ApiError> {
    let exists = sqlx::query("SELECT id FROM web_tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .map_err(db_err)?;
    if exists.is_some() {
        return Ok(false);
    }
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let deleted = sqlx::query("SELECT id FROM web_deleted_tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    if deleted.is_some() {
        return Err(ApiError {
            status: actix_web::http::StatusCode::CONFLICT,
            ..ApiError::bad_field(
                "id",
                format!(
                    "tenant id {id} belonged to a deleted tenant and is never reused \
                     (its data may remain in storage): choose another id"
                ),
            )
        });
    }
    sqlx::query("INSERT INTO web_tenants (id, name, version, created_at) VALUES ($1, $2, 1, $3)")
        .bind(id)
        .bind(name)
        .bind(now_secs())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    bump_in(&mut tx, id).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

/// Deletes a tenant and everything it owns in the configuration, and keeps its id so that it
/// is never reused; false when unknown.
pub async fn delete_tenant(db: &Db, id: &str) -> Result<bool, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    for sql in [
        "DELETE FROM web_objects WHERE tenant = $1",
        "DELETE FROM web_tokens WHERE tenant = $1",
        "DELETE FROM web_sessions WHERE user_id IN (SELECT id FROM web_users WHERE tenant = $1)",
        "DELETE FROM web_users WHERE tenant = $1",
    ] {
        sqlx::query(sql)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    let n = sqlx::query("DELETE FROM web_tenants WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO web_deleted_tenants (id, deleted_at) VALUES ($1, $2)")
        .bind(id)
        .bind(now_secs())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    sqlx::query("UPDATE web_meta SET value = value + 1 WHERE name = 'version'")
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}
