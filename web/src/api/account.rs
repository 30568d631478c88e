//! Logging in and out, users and roles, API and agent tokens, and tenants (platform admins).

use crate::auth::{self, check_password, hash_password, Auth, Role};
use crate::db::{db_err, Db};
use crate::server::State;
use crate::store;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::auth::{generate_token, hash_token};
use argus_core::http::ApiError;
use argus_core::time::now_secs;
use argus_core::TenantId;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

/// Longest login and password looked at: longer ones cannot belong to a user, and are not
/// hashed or logged at length.
const MAX_LOGIN_BYTES: usize = 256;
const MAX_PASSWORD_BYTES: usize = 1024;

/// `POST /api/v1/login` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    /// The login.
    pub login: String,
    /// The password.
    pub password: String,
}

/// `POST /api/v1/login`: checks the password (rate limited per client and per login), opens a
/// session (cookie) and answers the CSRF token that unsafe requests must carry.
pub async fn login(
    req: HttpRequest,
    body: web::Json<LoginIn>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let keys = auth::LoginKeys::new(&ip, &body.login);
    let per_minute = st.cfg.login_attempts_per_minute;
    if let Err(wait) = st.limiter.check(&keys, per_minute) {
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed login attempts from this address: wait a minute",
            )
        });
    }
    if body.login.len() > MAX_LOGIN_BYTES || body.password.len() > MAX_PASSWORD_BYTES {
        st.limiter.failed(&keys);
        return Err(ApiError::unauthorized("wrong login or password"));
    }
    let Some(uid) = auth::check_login(&st.db, &body.login, &body.password).await? else {
        st.limiter.failed(&keys);
        tracing::info!(login = %body.login, %ip, "login refused");
        return Err(ApiError::unauthorized("wrong login or password"));
    };
    let ttl = st.cfg.session_ttl_secs as i64;
    let (cookie, csrf) = auth::new_session(&st.db, uid, ttl).await?;
    let me = auth::from_session(&st.db, &cookie)
        .await?
        .ok_or_else(|| ApiError::internal("session vanished"))?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "Set-Cookie",
            auth::cookie_header(&cookie, ttl, st.cfg.secure_cookies),
        ))
        .json(json!({
            "login": me.who, "tenant": me.tenant, "role": me.role,
            "platform_admin": me.platform_admin, "csrf_token": csrf,
        })))
}

/// `POST /api/v1/logout`: ends the session. A live cookie session must send its CSRF token
/// (another site must not log a user out); an expired or unknown cookie is just cleared.
pub async fn logout(req: HttpRequest, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    if let Some(c) = auth::session_cookie(&req) {
        if auth::from_session(&st.db, &c).await?.is_some() {
            auth::authenticate(&req, &st).await?;
        }
        sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = $1")
            .bind(hash_token(&c))
            .execute(&st.db.pool)
            .await
            .map_err(db_err)?;
    }
    Ok(HttpResponse::NoContent()
        .insert_header((
            "Set-Cookie",
            auth::cookie_header("", 0, st.cfg.secure_cookies),
        ))
        .finish())
}

/// `GET /api/v1/me`.
pub async fn me(auth: Auth) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "login": auth.who, "tenant": auth.tenant, "role": auth.role,
        "platform_admin": auth.platform_admin, "csrf_token": auth.csrf,
    }))
}

/// `POST /api/v1/users` and `PUT /api/v1/users/{id}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    /// The login, unique on the platform.
    pub login: String,
    /// The password (optional on update: kept when absent).
    #[serde(default)]
    pub password: Option<String>,
    /// admin, editor or viewer.
    pub role: String,
}

fn role_field(r: &str) -> Result<Role, ApiError> {
    Role::parse(r).ok_or_else(|| ApiError::bad_field("role", "must be admin, editor or viewer"))
}

fn check_login_name(l: &str) -> Result<(), ApiError> {
    if l.is_empty() || l.len() > 64 {
        return Err(ApiError::bad_field("login", "must be 1 to 64 characters"));
    }
    if l.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(ApiError::bad_field(
            "login",
            "may hold only letters, digits and . _ - @",
        ));
    }
    Ok(())
}

fn user_json(r: &sqlx::any::AnyRow) -> Result<Value, ApiError> {
    let id: i64 = r.try_get("id").map_err(db_err)?;
    let login: String = r.try_get("login").map_err(db_err)?;
    let role: String = r.try_get("role").map_err(db_err)?;
    let created: i64 = r.try_get("created_at").map_err(db_err)?;
    Ok(json!({"id": id, "login": login, "role": role, "created_at": created}))
}

/// `GET /api/v1/users` (admin).
pub async fn users(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let rows = sqlx::query(
        "SELECT id, login, role, created_at FROM web_users WHERE tenant = $1 ORDER BY id",
    )
    .bind(auth.tenant.as_str())
    .fetch_all(&st.db.pool)
    .await
    .map_err(db_err)?;
    let list: Result<Vec<Value>, ApiError> = rows.iter().map(user_json).collect();
    Ok(HttpResponse::Ok().json(json!({"users": list?})))
}

async fn user_by_id(db: &Db, tenant: &str, id: i64) -> Result<Value, ApiError> {
    let row = sqlx::query(
        "SELECT id, login, role, created_at FROM web_users WHERE tenant = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .map_err(db_err)?
    .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
    user_json(&row)
}

/// `GET /api/v1/users/{id}` (admin).
pub async fn user(
    auth: Auth,
    id: web::Path<i64>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(user_by_id(&st.db, auth.tenant.as_str(), *id).await?))
}

/// Creates a user of `tenant`; returns its id.
pub async fn insert_user(
    db: &Db,
    tenant: &str,
    login: &str,
    password: &str,
    role: Role,
    platform_admin: bool,
) -> Result<i64, ApiError> {
    check_login_name(login)?;
    check_password(password)?;
    let pw = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let row = sqlx::query(
        "INSERT INTO web_users (tenant, login, password_hash, role, platform_admin, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(tenant)
    .bind(login)
    .bind(hash)
    .bind(role.as_str())
    .bind(platform_admin as i64)
    .bind(now_secs())
    .fetch_one(&db.pool)
    .await
    .map_err(|e| match db_err(e) {
        c if c.status == StatusCode::CONFLICT => ApiError {
            status: StatusCode::CONFLICT,
            ..ApiError::bad_field("login", format!("login {login:?} is taken"))
        },
        other => other,
    })?;
    row.try_get("id").map_err(db_err)
}

/// `POST /api/v1/users` (admin).
pub async fn create_user(
    auth: Auth,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let u: UserIn = crate::api::kinds::parse(body.into_inner())?;
    let role = role_field(&u.role)?;
    let pw = u
        .password
        .ok_or_else(|| ApiError::bad_field("password", "required"))?;
    let id = insert_user(&st.db, auth.tenant.as_str(), &u.login, &pw, role, false).await?;
    Ok(HttpResponse::Created().json(user_by_id(&st.db, auth.tenant.as_str(), id).await?))
}

/// `PUT /api/v1/users/{id}` (admin): changes role and, if given, password.
pub async fn update_user(
    auth: Auth,
    id: web::Path<i64>,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let t = auth.tenant.as_str();
    user_by_id(&st.db, t, *id).await?;
    let u: UserIn = crate::api::kinds::parse(body.into_inner())?;
    let role = role_field(&u.role)?;
    check_login_name(&u.login)?;
    sqlx::query("UPDATE web_users SET login = $1, role = $2 WHERE tenant = $3 AND id = $4")
        .bind(&u.login)
        .bind(role.as_str())
        .bind(t)
        .bind(*id)
        .execute(&st.db.pool)
        .await
        .map_err(db_err)?;
    if let Some(pw) = u.password {
        check_password(&pw)?;
        let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        sqlx::query("UPDATE web_users SET password_hash = $1 WHERE tenant = $2 AND id = $3")
            .bind(hash)
            .bind(t)
            .bind(*id)
            .execute(&st.db.pool)
            .await
            .map_err(db_err)?;
        // A new password ends the user's other sessions (a stolen session dies with it).
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
            .bind(*id)
            .execute(&st.db.pool)
            .await
            .map_err(db_err)?;
    }
    Ok(HttpResponse::Ok().json(user_by_id(&st.db, t, *id).await?))
}

/// `DELETE /api/v1/users/{id}` (admin).
pub async fn delete_user(
    auth: Auth,
    id: web::Path<i64>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let t = auth.tenant.as_str();
    user_by_id(&st.db, t, *id).await?;
    sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
        .bind(*id)
        .execute(&st.db.pool)
        .await
        .map_err(db_err)?;
    sqlx::query("DELETE FROM web_users WHERE tenant = $1 AND id = $2")
        .bind(t)
        .bind(*id)
        .execute(&st.db.pool)
        .await
        .map_err(db_err)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/tokens` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    /// A name to recognise it by.
    pub name: String,
    /// `api` or `agent`.
    pub kind: String,
    /// Role of an API token (default viewer).
    #[serde(default)]
    pub role: Option<String>,
}

/// Stores a token of `tenant` by its hash; returns its id.
pub async fn insert_token(
    db: &Db,
    tenant: &str,
    kind: &str,
    name: &str,
    role: Role,
    token: &str,
) -> Result<i64, ApiError> {
    let mut tx = db.pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(
        "INSERT INTO web_tokens (tenant, kind, name, role, token_sha256, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(tenant)
    .bind(kind)
    .bind(name)
    .bind(role.as_str())
    .bind(hash_token(token))
    .bind(now_secs())
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    store::bump_in(&mut tx, tenant).await?;
    tx.commit().await.map_err(db_err)?;
    row.try_get("id").map_err(db_err)
}

/// `GET /api/v1/tokens` (admin): names and kinds, never the tokens.
pub async fn tokens(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let rows = sqlx::query(
        "SELECT id, kind, name, role, created_at FROM web_tokens WHERE tenant = $1 ORDER BY id",
    )
    .bind(auth.tenant.as_str())
    .fetch_all(&st.db.pool)
    .await
    .map_err(db_err)?;
    let mut out = Vec::new();
    for r in &rows {
        let id: i64 = r.try_get("id").map_err(db_err)?;
        let kind: String = r.try_get("kind").map_err(db_err)?;
        let name: String = r.try_get("name").map_err(db_err)?;
        let role: String = r.try_get("role").map_err(db_err)?;
        let c: i64 = r.try_get("created_at").map_err(db_err)?;
        out.push(json!({"id": id, "kind": kind, "name": name, "role": role, "created_at": c}));
    }
    Ok(HttpResponse::Ok().json(json!({"tokens": out})))
}

/// `POST /api/v1/tokens` (admin): answers the token once; only its hash is kept.
pub async fn create_token(
    auth: Auth,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let t: TokenIn = crate::api::kinds::parse(body.into_inner())?;
    if t.name.trim().is_empty() || t.name.len() > 100 {
        return Err(ApiError::bad_field("name", "must be 1 to 100 characters"));
    }
    let (prefix, role) = match t.kind.as_str() {
        "api" => (
            "argus_api",
            role_field(t.role.as_deref().unwrap_or("viewer"))?,
        ),
        "agent" => ("argus_agt", Role::Viewer),
        _ => return Err(ApiError::bad_field("kind", "must be api or agent")),
    };
    let token = generate_token(prefix);
    let id = insert_token(&st.db, auth.tenant.as_str(), &t.kind, &t.name, role, &token).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": id, "kind": t.kind, "name": t.name, "role": role, "token": token,
        "note": "shown once: store it now; only its hash is kept",
    })))
}

/// `DELETE /api/v1/tokens/{id}` (admin).
pub async fn delete_token(
    auth: Auth,
    id: web::Path<i64>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let n = sqlx::query("DELETE FROM web_tokens WHERE tenant = $1 AND id = $2")
        .bind(auth.tenant.as_str())
        .bind(*id)
        .execute(&st.db.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format!("token {id} not found")));
    }
    store::bump(&st.db, auth.tenant.as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn platform(auth: &Auth) -> Result<(), ApiError> {
    if auth.platform_admin {
        Ok(())
    } else {
        // Tenants are invisible to tenant users: answer as if the endpoint did not exist.
        Err(ApiError::not_found("not found"))
    }
}

/// `POST /api/v1/tenants` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantIn {
    /// The slug.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// A first admin user of the tenant.
    #[serde(default)]
    pub admin_login: Option<String>,
    /// Its password.
    #[serde(default)]
    pub admin_password: Option<String>,
}

/// `GET /api/v1/tenants` (platform admins).
pub async fn tenants(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    platform(&auth)?;
    Ok(HttpResponse::Ok().json(json!({"tenants": store::tenants(&st.db).await?})))
}

/// `POST /api/v1/tenants` (platform admins): a tenant and, optionally, its first admin.
pub async fn create_tenant(
    auth: Auth,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    platform(&auth)?;
    let t: TenantIn = crate::api::kinds::parse(body.into_inner())?;
    let id = TenantId::new(t.id.clone()).map_err(|e| ApiError::bad_field("id", e))?;
    if let (Some(l), Some(p)) = (&t.admin_login, &t.admin_password) {
        check_login_name(l)?;
        check_password(p).map_err(|e| ApiError::bad_field("admin_password", e.message))?;
    }
    let name = if t.name.is_empty() {
        t.id.clone()
    } else {
        t.name.clone()
    };
    if !store::ensure_tenant(&st.db, id.as_str(), &name).await? {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            ..ApiError::bad_field("id", format!("tenant {id} exists"))
        });
    }
    if let (Some(l), Some(p)) = (&t.admin_login, &t.admin_password) {
        insert_user(&st.db, id.as_str(), l, p, Role::Admin, false).await?;
    }
    Ok(HttpResponse::Created().json(json!({"id": id, "name": name})))
}

/// `DELETE /api/v1/tenants/{id}` (platform admins): the tenant and its configuration; its id
/// is retired, never given to a new tenant (its series remain in storage).
pub async fn delete_tenant(
    auth: Auth,
    id: web::Path<String>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    platform(&auth)?;
    if id.as_str() == auth.tenant.as_str() {
        return Err(ApiError::bad_field("id", "cannot delete your own tenant"));
    }
    if !store::delete_tenant(&st.db, &id).await? {
        return Err(ApiError::not_found(format!("tenant {id} not found")));
    }
    Ok(HttpResponse::NoContent().finish())
}
