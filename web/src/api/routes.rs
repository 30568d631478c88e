//! The tenant's label routing (`argus_core::route`): `GET|PUT|DELETE /api/v1/routes` store the
//! routing tree, inhibit rules and time intervals pasted from an `alertmanager.yml` (YAML or
//! JSON: the whole file, or its `route:` section), and `POST /api/v1/routes/test` answers which receivers a
//! label set reaches, as `amtool config routes test` does. Receivers are the tenant's teams
//! or contacts, by name. Stored as one configuration object, so the configuration center
//! serves it to alarm with the tenant's other notification settings.

use crate::api::kinds::Kind;
use crate::auth::{Auth, Role};
use crate::server::State;
use crate::store;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::http::ApiError;
use argus_core::route::{Labels, RoutingConfig};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The stored object's kind and name (one per tenant; not a `/api/v1/{kind}` kind).
pub(crate) const KIND: &str = "routing";

/// The largest routing document taken.
pub(crate) const MAX_BYTES: usize = 1 << 20;

/// The tenant's routing, if set: the checked configuration.
pub(crate) async fn load(
    db: &crate::db::Db,
    tenant: &str,
) -> Result<Option<RoutingConfig>, ApiError> {
    let mut conn = db.pool.acquire().await.map_err(crate::db::db_err)?;
    load_in(&mut conn, tenant).await
}

/// [`load`] on `conn` (inside a write's transaction).
async fn load_in(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
) -> Result<Option<RoutingConfig>, ApiError> {
    let Some(o) = store::by_name_in(conn, tenant, KIND, KIND).await? else {
        return Ok(None);
    };
    let cfg = serde_json::from_value(o.body.get("config").cloned().unwrap_or(Value::Null))
        .map_err(|e| ApiError::internal(format!("stored routing is malformed: {e}")))?;
    Ok(Some(cfg))
}

fn wants_yaml(req: &HttpRequest) -> bool {
    let q = req.query_string();
    q.split('&').any(|p| p == "format=yaml")
        || req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("yaml"))
}

/// `GET /api/v1/routes` (any role): `{"config", "source", "format", "updated_at"}` (nulls when
/// none is set); with `Accept: application/yaml` or `?format=yaml`, the source as pasted.
pub async fn get(
    req: HttpRequest,
    auth: Auth,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let o = store::by_name(&st.db, auth.tenant.as_str(), KIND, KIND).await?;
    if wants_yaml(&req) {
        let Some(o) = o else {
            return Err(ApiError::not_found("no routing tree is set"));
        };
        let src = o
            .body
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(HttpResponse::Ok()
            .content_type("application/yaml; charset=utf-8")
            .body(src.to_string()));
    }
    Ok(HttpResponse::Ok().json(present(o.as_ref())))
}

fn present(o: Option<&store::Object>) -> Value {
    match o {
        Some(o) => json!({
            "config": o.body.get("config"),
            "source": o.body.get("source"),
            "format": o.body.get("format"),
            "updated_at": o.updated_at,
        }),
        None => json!({"config": null, "source": null, "format": null, "updated_at": null}),
    }
}

/// `PUT /api/v1/routes` (editor): the body is an `alertmanager.yml` (or its `route:` section) in
/// YAML, or the same as JSON. Checked whole: 400 names the first bad field; every receiver must
/// be a team or contact of the tenant.
pub async fn put(
    req: HttpRequest,
    auth: Auth,
    body: web::Bytes,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_field("body", format!("not UTF-8 text: {e}")))?;
    let declared_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    // JSON when declared, or when it reads as JSON; else YAML (a flow-style YAML document may
    // also start with '{').
    let as_json = serde_json::from_str::<Value>(text);
    let (doc, format) = match as_json {
        Ok(v) => (v, "json"),
        Err(e) if declared_json => {
            return Err(ApiError::bad_field("body", format!("not valid JSON: {e}")))
        }
        Err(_) => (yaml_to_json(text)?, "yaml"),
    };
    let t = auth.tenant.as_str();
    // The receivers' check and the write in one transaction (see `check`).
    let mut tx = st.db.pool.begin().await.map_err(crate::db::db_err)?;
    let cfg = check(&mut tx, t, &doc).await?;
    let stored = json!({"config": cfg, "source": text, "format": format});
    let o = store::put_singleton_in(&mut tx, t, KIND, &stored).await?;
    tx.commit().await.map_err(crate::db::db_err)?;
    tracing::info!(tenant = t, who = %auth.who, "routing tree saved");
    Ok(HttpResponse::Ok().json(present(o.as_ref())))
}

/// `DELETE /api/v1/routes` (editor): removes the tree (subscriptions alone route again).
pub async fn delete(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    if store::delete_singleton(&st.db, auth.tenant.as_str(), KIND).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("no routing tree is set"))
    }
}

/// `POST /api/v1/routes/test` input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestIn {
    /// The label set, e.g. `{"endpoint": "db-1", "priority": "P1"}`.
    pub labels: Labels,
}

/// `POST /api/v1/routes/test` (any role): `{"receivers": [names in order], "routes": [each route
/// reached with its path, group_by and timers]}` for the stored tree.
pub async fn test(
    auth: Auth,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let input: TestIn = crate::api::kinds::parse(body.into_inner())?;
    let Some(cfg) = load(&st.db, auth.tenant.as_str()).await? else {
        return Err(ApiError::not_found(
            "no routing tree is set: PUT /api/v1/routes first",
        ));
    };
    let reached = cfg.reach(&input.labels);
    let names: Vec<&str> = reached.iter().map(|r| r.receiver.as_str()).collect();
    Ok(HttpResponse::Ok().json(json!({"receivers": names, "routes": reached})))
}

/// Parses and checks a routing document for `tenant` inside the transaction on `conn` that
/// stores it. Each receiver's row is locked, so deleting a team or contact it names waits for
/// the write and then sees the tree naming it (409) instead of passing in between.
async fn check(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    doc: &Value,
) -> Result<RoutingConfig, ApiError> {
    let cfg = RoutingConfig::from_alertmanager(doc)
        .map_err(|e| ApiError::bad_field(e.field, e.reason))?;
    for (field, name) in cfg.receivers() {
        let mut known = false;
        for kind in [Kind::Team, Kind::Contact] {
            if let Some(o) = store::by_name_in(conn, tenant, kind.path(), &name).await? {
                known |= store::lock_in(conn, tenant, &[kind.path()], o.id).await?;
            }
        }
        if !known {
            return Err(ApiError::bad_field(
                field,
                format!("receiver {name:?} is neither a team nor a contact of this tenant"),
            ));
        }
    }
    Ok(cfg)
}

/// True when the tenant's routing tree names `name` as a receiver (deleting a team or contact
/// it uses is refused).
pub(crate) async fn uses_receiver(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    name: &str,
) -> Result<bool, ApiError> {
    Ok(load_in(conn, tenant)
        .await?
        .is_some_and(|c| c.receivers().iter().any(|(_, n)| n == name)))
}

/// Reads one YAML document as JSON (scalars keep their YAML types; keys become text).
fn yaml_to_json(text: &str) -> Result<Value, ApiError> {
    let docs = Yaml::load_from_str(text).map_err(|e| {
        ApiError::bad_field(
            "body",
            format!(
                "line {} column {}: not valid YAML: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            ),
        )
    })?;
    match docs.as_slice() {
        [] => Err(ApiError::bad_field(
            "route",
            "the document is empty: paste the `route:` section",
        )),
        [one] => to_json(one),
        _ => Err(ApiError::bad_field(
            "body",
            "holds several YAML documents; give one",
        )),
    }
}

fn to_json(y: &Yaml) -> Result<Value, ApiError> {
    Ok(match y {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        Yaml::Value(Scalar::Integer(i)) => json!(i),
        Yaml::Value(Scalar::FloatingPoint(f)) => json!(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => Value::String(s.to_string()),
        Yaml::Representation(s, ..) => Value::String(s.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m.iter() {
                let key = match to_json(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(_, inner) => to_json(inner)?,
        _ => {
            return Err(ApiError::bad_field(
                "body",
                "YAML aliases and bad values are not supported",
            ))
        }
    })
}
