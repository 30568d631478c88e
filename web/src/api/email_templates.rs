//! The tenant's email templates: `GET|PUT|DELETE /api/v1/email_templates` store a subject, a
//! plain-text and an HTML body (minijinja, each optional: a part not set is the alarm config's),
//! checked on save with the field and the template error's line. Stored as one configuration
//! object, served to alarm with the tenant's other notification settings.

use crate::api::kinds::{check_template, parse};
use crate::auth::{Auth, Role};
use crate::server::State;
use crate::store;
use actix_web::{web, HttpResponse};
use argus_core::http::ApiError;
use argus_core::notify::EmailTemplates;
use serde_json::{json, Value};

/// The stored object's kind and name (one per tenant; not a `/api/v1/{kind}` kind).
pub(crate) const KIND: &str = "email_templates";

/// The largest template taken, per part.
const MAX_BYTES: usize = 64 * 1024;

/// The tenant's email templates, if set.
pub(crate) async fn load(
    db: &crate::db::Db,
    tenant: &str,
) -> Result<Option<EmailTemplates>, ApiError> {
    let Some(o) = store::by_name(db, tenant, KIND, KIND).await? else {
        return Ok(None);
    };
    let t = serde_json::from_value(o.body)
        .map_err(|e| ApiError::internal(format!("stored email templates are malformed: {e}")))?;
    Ok(Some(t))
}

fn present(o: Option<&store::Object>) -> Value {
    match o {
        Some(o) => {
            let mut v = o.body.clone();
            v["updated_at"] = json!(o.updated_at);
            v
        }
        None => json!({"subject": null, "text": null, "html": null, "updated_at": null}),
    }
}

/// `GET /api/v1/email_templates` (any role): `{"subject", "text", "html", "updated_at"}`, nulls
/// for the parts not set.
pub async fn get(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let o = store::by_name(&st.db, auth.tenant.as_str(), KIND, KIND).await?;
    Ok(HttpResponse::Ok().json(present(o.as_ref())))
}

/// `PUT /api/v1/email_templates` (editor): `{"subject"?, "text"?, "html"?}`, replacing what was
/// set. 400 names the part and the template error's line.
pub async fn put(
    auth: Auth,
    body: web::Json<Value>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    let mut v = body.into_inner();
    if let Some(m) = v.as_object_mut() {
        // A document read back from GET may be written back as it is.
        m.remove("updated_at");
    }
    let mut t: EmailTemplates = parse(v)?;
    for (field, part) in [
        ("subject", &mut t.subject),
        ("text", &mut t.text),
        ("html", &mut t.html),
    ] {
        if part.as_deref().is_some_and(|s| s.trim().is_empty()) {
            *part = None;
        }
        if let Some(src) = part.as_deref() {
            if src.len() > MAX_BYTES {
                return Err(ApiError::bad_field(
                    field,
                    format!("at most {MAX_BYTES} bytes, got {}", src.len()),
                ));
            }
            check_template(field, src)?;
        }
    }
    if t == EmailTemplates::default() {
        return Err(ApiError::bad_field(
            "subject",
            "give at least one of subject, text and html (DELETE removes them all)",
        ));
    }
    let stored = serde_json::to_value(&t).expect("json");
    let tenant = auth.tenant.as_str();
    let o = store::put_singleton(&st.db, tenant, KIND, &stored).await?;
    tracing::info!(tenant, who = %auth.who, "email templates saved");
    Ok(HttpResponse::Ok().json(present(o.as_ref())))
}

/// `DELETE /api/v1/email_templates` (editor): back to the alarm config's templates.
pub async fn delete(auth: Auth, st: web::Data<State>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Editor)?;
    if store::delete_singleton(&st.db, auth.tenant.as_str(), KIND).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("no email templates are set"))
    }
}
