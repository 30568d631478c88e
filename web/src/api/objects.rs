//! Tenant-scoped CRUD of every configuration kind: `GET/POST /api/v1/{kind}`,
//! `GET/PUT/DELETE /api/v1/{kind}/{id}`, plus the derived views (effective strategies of a host,
//! a template's inherited strategies, live validation of a strategy).

use crate::api::kinds::{self, check_rule, parse, present, Kind, RuleIn};
use crate::auth::{Auth, Role};
use crate::db::db_err;
use crate::model;
use crate::server::State;
use crate::store;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use argus_core::strategy::{effective_strategies, template_strategies};
use serde_json::{json, Value};

fn kind_of(p: &str) -> Result<Kind, ApiError> {
    Kind::from_path(p).ok_or_else(|| ApiError::not_found(format!("no resource kind {p:?}")))
}

fn not_found(kind: Kind, id: i64) -> ApiError {
    ApiError::not_found(format!("{} {id} not found", kind.noun()))
}

/// Objects per page when the caller does not say.
pub const DEFAULT_PAGE: i64 = 500;
/// The largest page a caller may ask for.
pub const MAX_PAGE: i64 = 5000;

/// `?limit=&after=` of a list: keyset pagination by id, stable while objects are added.
/// Kept as text so that a bad value is refused naming its parameter.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// How many objects at most (1..=5000, default 500).
    limit: Option<String>,
    /// Only objects with an id above this one (the `next_after` of the previous page).
    after: Option<String>,
}

impl Page {
    fn checked(&self) -> Result<(i64, i64), ApiError> {
        let number = |field: &str, v: &Option<String>, default: i64| match v {
            None => Ok(default),
            Some(t) => t.parse::<i64>().map_err(|_| {
                ApiError::bad_field(field, format!("must be a whole number, got {t:?}"))
            }),
        };
        let limit = number("limit", &self.limit, DEFAULT_PAGE)?;
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_field(
                "limit",
                format!("must be between 1 and {MAX_PAGE}, got {limit}"),
            ));
        }
        let after = number("after", &self.after, 0)?;
        if after < 0 {
            return Err(ApiError::bad_field("after", "must be an object id (>= 0)"));
        }
        Ok((limit, after))
    }
}

/// `GET /api/v1/{kind}?limit=&after=`: the caller's tenant's objects by id, one page at a time.
/// `next_after` is the cursor of the next page, or null on the last one.
pub async fn list(
    auth: Auth,
    path: web::Path<String>,
    page: web::Query<Page>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let kind = kind_of(&path)?;
    let (limit, after) = page.checked()?;
    // One more than asked tells whether another page follows.
    let mut all =
        store::list_page(&st.db, auth.tenant.as_str(), kind.path(), after, limit + 1).await?;
    let more = all.len() as i64 > limit;
    all.truncate(limit as usize);
    let next = if more { all.last().map(|o| o.id) } else { None };
    let dead = st.cfg.host_dead_after_secs as i64;
    let mut items: Vec<Value> = all.iter().map(|o| present(kind, o, dead)).collect();
    // Every tenant's built-in dashboards head the first page (not stored, no numeric id).
    if kind == Kind::Dashboard && page.after.is_none() {
        items.splice(0..0, crate::api::dashboards::builtin_list());
    }
    Ok(HttpResponse::Ok().json(json!({ kind.path(): items, "next_after": next })))
}

/// `GET /api/v1/{kind}/{id}`.
pub async fn get(
    auth: Auth,
    path: web::Path<(String, i64)>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (k, id) = path.into_inner();
    let kind = kind_of(&k)?;
    let o = store::get(&st.db, auth.tenant.as_str(), kind.path(), id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    Ok(HttpResponse::Ok().json(present(kind, &o, st.cfg.host_dead_after_secs as i64)))
}

/// `POST /api/v1/{kind}` (editor): creates; answers 201 with the object.
pub async fn create(
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let kind = kind_of(&path)?;
    auth.require(Role::Editor)?;
    let t = auth.tenant.as_str();
    // The checks, the write and the version bump (if any) in one transaction: all or nothing, and what
    // the checks read cannot change before the commit (an error rolls back on drop).
    let mut tx = st.db.pool.begin().await.map_err(db_err)?;
    let (name, doc) = kinds::prepare(&mut tx, t, &auth.who, kind, None, body.into_inner()).await?;
    store::check_refs_in(&mut tx, t, &kinds::references(kind, &doc)).await?;
    let id = store::insert_in(&mut tx, t, kind.path(), name.as_deref(), &doc).await?;
    if kind.configures_components() {
        store::bump_in(&mut tx, t).await?;
    }
    let o = store::get_in(&mut tx, t, kind.path(), id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    tx.commit().await.map_err(db_err)?;
    tracing::info!(tenant = t, who = %auth.who, kind = kind.path(), id, "created");
    Ok(HttpResponse::Created().json(present(kind, &o, st.cfg.host_dead_after_secs as i64)))
}

/// `PUT /api/v1/{kind}/{id}` (editor): replaces.
pub async fn update(
    auth: Auth,
    path: web::Path<(String, i64)>,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (k, id) = path.into_inner();
    let kind = kind_of(&k)?;
    auth.require(Role::Editor)?;
    let t = auth.tenant.as_str();
    let mut tx = st.db.pool.begin().await.map_err(db_err)?;
    // Locked first: a concurrent update or delete of it waits, so what `prepare` keeps of the
    // stored document (a host's heartbeat, a contact's secrets) is what this write replaces.
    if !store::lock_in(&mut tx, t, &[kind.path()], id).await? {
        return Err(not_found(kind, id));
    }
    let (name, doc) =
        kinds::prepare(&mut tx, t, &auth.who, kind, Some(id), body.into_inner()).await?;
    store::check_refs_in(&mut tx, t, &kinds::references(kind, &doc)).await?;
    if !store::update_in(&mut tx, t, kind.path(), id, name.as_deref(), &doc).await? {
        return Err(not_found(kind, id));
    }
    if kind.configures_components() {
        store::bump_in(&mut tx, t).await?;
    }
    let o = store::get_in(&mut tx, t, kind.path(), id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    tx.commit().await.map_err(db_err)?;
    tracing::info!(tenant = t, who = %auth.who, kind = kind.path(), id, "updated");
    Ok(HttpResponse::Ok().json(present(kind, &o, st.cfg.host_dead_after_secs as i64)))
}

/// `DELETE /api/v1/{kind}/{id}` (editor): 204; a template also loses its strategies.
pub async fn delete(
    auth: Auth,
    path: web::Path<(String, i64)>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (k, id) = path.into_inner();
    let kind = kind_of(&k)?;
    auth.require(Role::Editor)?;
    let t = auth.tenant.as_str();
    let mut tx = st.db.pool.begin().await.map_err(db_err)?;
    // Locked before looking for its users: a write referencing it either committed before (and
    // is found) or waits and then finds it gone (`store::check_refs_in`).
    if !store::lock_in(&mut tx, t, &[kind.path()], id).await? {
        return Err(not_found(kind, id));
    }
    kinds::check_delete(&mut tx, t, kind, id).await?;
    // A template and its strategies go together or not at all.
    if kind == Kind::Template {
        for s in store::list_in(&mut tx, t, Kind::Strategy.path()).await? {
            if s.body.get("template_id").and_then(|v| v.as_i64()) == Some(id) {
                store::delete_in(&mut tx, t, Kind::Strategy.path(), s.id).await?;
            }
        }
    }
    if !store::delete_in(&mut tx, t, kind.path(), id).await? {
        return Err(not_found(kind, id));
    }
    if kind.configures_components() {
        store::bump_in(&mut tx, t).await?;
    }
    tx.commit().await.map_err(db_err)?;
    tracing::info!(tenant = t, who = %auth.who, kind = kind.path(), id, "deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/hosts/{id}/strategies`: the host's effective strategies (through its groups'
/// templates and their ancestors) and the tenant's expression strategies.
pub async fn host_strategies(
    auth: Auth,
    path: web::Path<i64>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let host = store::get(&st.db, auth.tenant.as_str(), Kind::Host.path(), id)
        .await?
        .ok_or_else(|| not_found(Kind::Host, id))?;
    let name = host.name.unwrap_or_default();
    let m = model::tenant_strategies(&st.db, &auth.tenant).await?;
    let eff = effective_strategies(&name, &m.host_groups, &m.templates)
        .map_err(|e| ApiError::new(actix_web::http::StatusCode::CONFLICT, e.to_string()))?;
    let groups: Vec<Value> = m
        .host_groups
        .iter()
        .filter(|g| g.hosts.contains(&name))
        .map(|g| json!({"id": g.id, "name": g.name}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "host": name,
        "groups": groups,
        "strategies": eff,
        "expressions": m.expressions,
    })))
}

/// `GET /api/v1/templates/{id}/effective`: the template's strategies with its ancestors'.
pub async fn template_effective(
    auth: Auth,
    path: web::Path<i64>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if store::get(&st.db, auth.tenant.as_str(), Kind::Template.path(), id)
        .await?
        .is_none()
    {
        return Err(not_found(Kind::Template, id));
    }
    let m = model::tenant_strategies(&st.db, &auth.tenant).await?;
    let eff = template_strategies(&m.templates, id as u64)
        .map_err(|e| ApiError::new(actix_web::http::StatusCode::CONFLICT, e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({"template": id, "strategies": eff})))
}

/// `POST /api/v1/strategies/validate`: checks a strategy without storing it (live validation in
/// the editor). 200 `{"ok": true}` or 400 naming the field.
pub async fn validate(
    auth: Auth,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let mut v = body.into_inner();
    let expression = v.get("template_id").is_none();
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
    }
    let r: RuleIn = parse(v)?;
    // The same reference check as create: the template must be one of the caller's.
    if let Some(t) = r.template_id {
        let mut conn = st.db.pool.acquire().await.map_err(db_err)?;
        kinds::must_exist(
            &mut conn,
            auth.tenant.as_str(),
            Kind::Template,
            t,
            "template_id",
        )
        .await?;
    }
    check_rule(&r, expression && !r.tags.is_empty())?;
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}
