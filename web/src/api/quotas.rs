//! A tenant's quota, set by the platform admin: `GET|PUT|DELETE /api/v1/tenants/{id}/quota`.
//! Each figure is optional (not set: the transfers' `[quotas]`); stored as one configuration
//! object of the tenant and published to transfers with its tokens. Tenant users cannot see or
//! change it: for them the path does not exist, like every tenant administration path.

use crate::api::kinds::parse;
use crate::auth::Auth;
use crate::server::State;
use crate::store;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use argus_core::quota::QuotaOverride;
use serde_json::{json, Value};

/// The stored object's kind and name (one per tenant; not a `/api/v1/{kind}` kind).
pub(crate) const KIND: &str = "quota";

/// The quota the platform admin set for `tenant`, if any.
pub(crate) async fn load(
    db: &crate::db::Db,
    tenant: &str,
) -> Result<Option<QuotaOverride>, ApiError> {
    let Some(o) = store::by_name(db, tenant, KIND, KIND).await? else {
        return Ok(None);
    };
    serde_json::from_value(o.body)
        .map(Some)
        .map_err(|e| ApiError::internal(format!("stored quota is malformed: {e}")))
}

/// 404 unless the caller is a platform admin and the tenant exists.
async fn target(auth: &Auth, st: &State, id: &str) -> Result<(), ApiError> {
    if !auth.platform_admin {
        return Err(ApiError::not_found("not found"));
    }
    if !store::tenants(&st.db).await?.iter().any(|t| t.id == id) {
        return Err(ApiError::not_found(format!("tenant {id} not found")));
    }
    Ok(())
}

fn present(id: &str, o: Option<&store::Object>) -> Value {
    let (quota, updated_at) = match o {
        Some(o) => (o.body.clone(), json!(o.updated_at)),
        None => (json!({}), Value::Null),
    };
    json!({"tenant": id, "quota": quota, "updated_at": updated_at})
}

/// `GET /api/v1/tenants/{id}/quota` (platform admins): `{"tenant", "quota": {figures set},
/// "updated_at"}`.
pub async fn get(
    auth: Auth,
    id: web::Path<String>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    target(&auth, &st, &id).await?;
    let o = store::by_name(&st.db, &id, KIND, KIND).await?;
    Ok(HttpResponse::Ok().json(present(&id, o.as_ref())))
}

/// `PUT /api/v1/tenants/{id}/quota` (platform admins): `{"points_per_sec"?, "burst"?,
/// "active_series"?, "tags_per_point"?, "batch_points"?}` replaces the figures set (0:
/// unlimited). 400 names a figure out of range or unknown.
pub async fn put(
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    target(&auth, &st, &id).await?;
    let mut v = body.into_inner();
    if let Some(m) = v.as_object_mut() {
        // What GET answered may be written back as it is.
        if let Some(q) = m.remove("quota") {
            v = q;
        }
    }
    let q: QuotaOverride = parse(v)?;
    q.check()
        .map_err(|(field, reason)| ApiError::bad_field(field, reason))?;
    if q.is_empty() {
        return Err(ApiError::bad_field(
            "points_per_sec",
            "give at least one figure (DELETE goes back to the transfers' defaults)",
        ));
    }
    let stored = serde_json::to_value(&q).expect("json");
    let o = store::put_singleton(&st.db, &id, KIND, &stored).await?;
    tracing::info!(tenant = %id, who = %auth.who, quota = ?q, "tenant quota set");
    Ok(HttpResponse::Ok().json(present(&id, o.as_ref())))
}

/// `DELETE /api/v1/tenants/{id}/quota` (platform admins): back to the transfers' defaults.
pub async fn delete(
    auth: Auth,
    id: web::Path<String>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    target(&auth, &st, &id).await?;
    if store::delete_singleton(&st.db, &id, KIND).await? {
        tracing::info!(tenant = %id, who = %auth.who, "tenant quota removed");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!(
            "tenant {id} has no quota of its own"
        )))
    }
}
