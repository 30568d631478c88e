//! Authentication and authorization: users with argon2 password hashes, cookie sessions with a
//! CSRF token, API and agent tokens stored as SHA-256 hashes, roles, and the login rate limit.
//!
//! Every request resolves to an [`Auth`]: the tenant it acts for comes from the credential,
//! never from the request, so every read and write below is scoped to that tenant.

use crate::db::{db_err, Db};
use crate::server::State;
use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use argus_core::auth::{generate_token, hash_token};
use argus_core::http::{bearer_token, ApiError};
use argus_core::time::now_secs;
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "argus_session";
/// The header carrying the CSRF token of a cookie session on every unsafe request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What a user or token may do within its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Reads and edits the configuration, acknowledges problems.
    Editor,
    /// Everything, including users and tokens.
    Admin,
}

impl Role {
    /// Parses `admin`, `editor` or `viewer`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "editor" => Some(Role::Editor),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A cookie session (CSRF-checked).
    Session,
    /// An API token.
    Token,
}

/// An authenticated caller of the tenant API.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The tenant it acts for.
    pub tenant: TenantId,
    /// Its role there.
    pub role: Role,
    /// The user's login, or `token:<name>`.
    pub who: String,
    /// Whether the user administers the platform (tenants).
    pub platform_admin: bool,
    /// How it authenticated.
    pub via: Via,
    /// The session's CSRF token (cookie sessions only).
    pub csrf: Option<String>,
}

impl Auth {
    /// Refuses with 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "role {} may not do this (needs {})",
                    self.role.as_str(),
                    role.as_str()
                ),
            ))
        }
    }
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("hashing password: {e}")))
}

/// Checks `password` against a stored PHC hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a new password's strength; the error names the field.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 8 {
        return Err(ApiError::bad_field(
            "password",
            "must be at least 8 characters",
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::bad_field(
            "password",
            "must be at most 1024 bytes",
        ));
    }
    Ok(())
}

/// The session cookie's value, if any.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("cookie")?.to_str().ok()?;
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == SESSION_COOKIE && !v.is_empty()).then(|| v.to_string())
    })
}

async fn from_token(st: &State, token: &str) -> Result<Auth, ApiError> {
    let h = hash_token(token);
    if let Some(t) = st.bootstrap.get(&h) {
        return Ok(Auth {
            tenant: t.clone(),
            role: Role::Admin,
            who: "token:bootstrap".into(),
            platform_admin: false,
            via: Via::Token,
            csrf: None,
        });
    }
    let row =
        sqlx::query("SELECT tenant, kind, name, role FROM web_tokens WHERE token_sha256 = $1")
            .bind(&h)
            .fetch_optional(&st.db.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| ApiError::unauthorized("invalid API token"))?;
    let kind: String = row.try_get("kind").map_err(db_err)?;
    if kind != "api" {
        return Err(ApiError::unauthorized(
            "an agent token only serves the agent endpoints; use an API token",
        ));
    }
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let role: String = row.try_get("role").map_err(db_err)?;
    let name: String = row.try_get("name").map_err(db_err)?;
    Ok(Auth {
        tenant: TenantId::new(tenant).map_err(ApiError::internal)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        who: format!("token:{name}"),
        platform_admin: false,
        via: Via::Token,
        csrf: None,
    })
}

/// Resolves a session cookie to its user, if the session is live.
pub async fn from_session(db: &Db, cookie: &str) -> Result<Option<Auth>, ApiError> {
    let row = sqlx::query(
        "SELECT u.tenant, u.login, u.role, u.platform_admin, s.csrf FROM web_sessions s
         JOIN web_users u ON u.id = s.user_id WHERE s.token_sha256 = $1 AND s.expires_at > $2",
    )
    .bind(hash_token(cookie))
    .bind(now_secs())
    .fetch_optional(&db.pool)
    .await
    .map_err(db_err)?;
    let Some(row) = row else { return Ok(None) };
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let role: String = row.try_get("role").map_err(db_err)?;
    let pa: i64 = row.try_get("platform_admin").map_err(db_err)?;
    Ok(Some(Auth {
        tenant: TenantId::new(tenant).map_err(ApiError::internal)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        who: row.try_get("login").map_err(db_err)?,
        platform_admin: pa != 0,
        via: Via::Session,
        csrf: Some(row.try_get("csrf").map_err(db_err)?),
    }))
}

/// Authenticates `req`: a bearer API token, or a session cookie whose unsafe requests carry the
/// session's CSRF token in `X-CSRF-Token`.
pub async fn authenticate(req: &HttpRequest, st: &State) -> Result<Auth, ApiError> {
    if let Some(t) = bearer_token(req) {
        return from_token(st, t).await;
    }
    let Some(cookie) = session_cookie(req) else {
        return Err(ApiError::unauthorized(
            "authentication required: log in, or send Authorization: Bearer <API token>",
        ));
    };
    let auth = from_session(&st.db, &cookie)
        .await?
        .ok_or_else(|| ApiError::unauthorized("session expired: log in again"))?;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let want = auth.csrf.as_deref().unwrap_or("");
        if want.is_empty() || !argus_core::auth::constant_time_eq(sent.as_bytes(), want.as_bytes())
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token (X-CSRF-Token) for a cookie session",
            ));
        }
    }
    Ok(auth)
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let st = req
                .app_data::<web::Data<State>>()
                .expect("state configured")
                .clone();
            authenticate(&req, &st).await
        })
    }
}

/// The tenant an agent token belongs to.
pub async fn agent_tenant(req: &HttpRequest, db: &Db) -> Result<TenantId, ApiError> {
    let t = bearer_token(req)
        .ok_or_else(|| ApiError::unauthorized("agent token required (Authorization: Bearer)"))?;
    let row =
        sqlx::query("SELECT tenant FROM web_tokens WHERE token_sha256 = $1 AND kind = 'agent'")
            .bind(hash_token(t))
            .fetch_optional(&db.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| ApiError::unauthorized("invalid agent token"))?;
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    TenantId::new(tenant).map_err(ApiError::internal)
}

/// Counts failed logins in a sliding minute, per client address and per login from that
/// address. Successful logins are not counted, so nobody can lock another user out by trying
/// their login; a user's right password from another address is never refused. Memory is
/// bounded whatever the logins sent: keys hold a hash of the login, and the map holds at most
/// [`LoginLimiter::MAX_KEYS`] entries (the longest-quiet ones make room).
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

/// What a login attempt is counted under.
pub struct LoginKeys {
    /// The client address: all its failures, whatever the login (guessing across logins).
    address: String,
    /// The login from this address (guessing one login).
    login: String,
}

impl LoginKeys {
    /// The keys of an attempt at `login` from `address`.
    pub fn new(address: &str, login: &str) -> Self {
        LoginKeys {
            address: format!("ip:{address}"),
            login: format!("login:{address}:{}", hash_token(login)),
        }
    }
}

impl LoginLimiter {
    /// Most keys kept.
    pub const MAX_KEYS: usize = 50_000;
    /// An address may fail this many times the per-login allowance (several people behind one
    /// NAT each mistyping).
    pub const ADDRESS_FACTOR: u32 = 5;

    /// Whether an attempt under `keys` may go on; else the seconds to wait. Records nothing.
    pub fn check(&self, keys: &LoginKeys, per_minute: u32) -> Result<(), u64> {
        let now = now_secs();
        let failures = self.failures.lock().expect("limiter lock");
        for (key, limit) in [
            (
                &keys.address,
                per_minute.saturating_mul(Self::ADDRESS_FACTOR),
            ),
            (&keys.login, per_minute),
        ] {
            let recent: Vec<i64> = failures
                .get(key)
                .map(|v| v.iter().copied().filter(|t| *t > now - 60).collect())
                .unwrap_or_default();
            if recent.len() >= limit as usize {
                return Err((recent[0] + 60 - now).max(1) as u64);
            }
        }
        Ok(())
    }

    /// Counts a failed attempt under `keys`.
    pub fn failed(&self, keys: &LoginKeys) {
        let now = now_secs();
        let mut failures = self.failures.lock().expect("limiter lock");
        for key in [&keys.address, &keys.login] {
            if !failures.contains_key(key) && failures.len() >= Self::MAX_KEYS {
                failures.retain(|_, v| v.last().is_some_and(|t| *t > now - 60));
                if failures.len() >= Self::MAX_KEYS {
                    // Still full of live keys: drop the tenth that failed longest ago.
                    let mut last: Vec<(i64, String)> = failures
                        .iter()
                        .map(|(k, v)| (v.last().copied().unwrap_or(0), k.clone()))
                        .collect();
                    let n = last.len() / 10;
                    last.select_nth_unstable(n);
                    for (_, k) in &last[..n] {
                        failures.remove(k);
                    }
                }
            }
            let v = failures.entry(key.clone()).or_default();
            v.retain(|t| *t > now - 60);
            v.push(now);
        }
    }

    /// Keys held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.failures.lock().expect("limiter lock").len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A new session for `user_id`: returns (cookie value, CSRF token).
pub async fn new_session(db: &Db, user_id: i64, ttl: i64) -> Result<(String, String), ApiError> {
    let token = generate_token("argus_ses");
    let csrf = generate_token("csrf");
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
        .bind(now_secs())
        .execute(&db.pool)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO web_sessions (token_sha256, user_id, csrf, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(&csrf)
    .bind(now_secs() + ttl)
    .execute(&db.pool)
    .await
    .map_err(db_err)?;
    Ok((token, csrf))
}

/// Checks a login and password; returns the user id.
pub async fn check_login(db: &Db, login: &str, password: &str) -> Result<Option<i64>, ApiError> {
    let row = sqlx::query("SELECT id, password_hash FROM web_users WHERE login = $1")
        .bind(login)
        .fetch_optional(&db.pool)
        .await
        .map_err(db_err)?;
    let Some(row) = row else {
        // Spend the same time as a real check so that logins cannot be probed by timing.
        let _ = verify_password(password, DUMMY_HASH);
        return Ok(None);
    };
    let hash: String = row.try_get("password_hash").map_err(db_err)?;
    let id: i64 = row.try_get("id").map_err(db_err)?;
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    Ok(ok.then_some(id))
}

const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0fN6ZpJ0bX1n3r8W2y7JxQ0u9Y4lqv7m2m8Qd0p0Z6A";

/// The `Set-Cookie` value for a session.
pub fn cookie_header(value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_stays_bounded_whatever_it_is_sent() {
        let l = LoginLimiter::default();
        let huge = "x".repeat(1 << 20);
        let keys = LoginKeys::new("10.0.0.1", &huge);
        l.failed(&keys);
        assert!(keys.login.len() < 100, "the login is hashed into its key");
        assert_eq!(l.len(), 2);
        // Far more failing addresses than it keeps: the map stops at its bound.
        for i in 0..(LoginLimiter::MAX_KEYS as u32 + 5_000) {
            l.failed(&LoginKeys::new(
                &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                "a",
            ));
        }
        assert!(l.len() <= LoginLimiter::MAX_KEYS + 1, "{}", l.len());
        // The newest failures are still counted.
        let last = LoginKeys::new("10.9.9.9", "a");
        for _ in 0..3 {
            l.failed(&last);
        }
        assert!(l.check(&last, 3).is_err());
        assert!(l.check(&LoginKeys::new("10.9.9.8", "b"), 3).is_ok());
    }
}
