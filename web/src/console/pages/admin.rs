//! Users and API tokens of the tenant (admins only), and the tenants (platform admins).
//! Rendered with maud from typed rows, which escapes every value.

use super::*;
use argus_core::quota::QuotaOverride;
use sqlx::Row;

/// A user of the tenant.
struct UserRow {
    id: i64,
    login: String,
    role: String,
}

impl UserRow {
    fn render(&self) -> Markup {
        html! {
            tr {
                td { (self.login) }
                td { (self.role) }
                td.right {
                    button.danger.small data-call={ "/api/v1/users/" (self.id) } data-method="DELETE"
                        data-confirm="Delete this user?" { "Delete" }
                }
            }
        }
    }
}

/// An API or agent token of the tenant (its name, never the token).
struct TokenRow {
    id: i64,
    name: String,
    kind: String,
    role: String,
    created_at: i64,
}

impl TokenRow {
    fn render(&self) -> Markup {
        html! {
            tr {
                td { (self.name) }
                td { (self.kind) }
                td { (self.role) }
                td { (fmt_time(self.created_at)) }
                td.right {
                    button.danger.small data-call={ "/api/v1/tokens/" (self.id) } data-method="DELETE"
                        data-confirm="Revoke this token?" { "Revoke" }
                }
            }
        }
    }
}

/// A tenant, for the platform admin.
struct TenantLine {
    tenant: store::TenantRow,
    quota: QuotaOverride,
    /// The caller's own tenant cannot be deleted from here.
    own: bool,
}

impl TenantLine {
    fn render(&self) -> Markup {
        let t = &self.tenant;
        html! {
            tr {
                td.mono { (t.id) }
                td { (t.name) }
                td { (t.version) }
                td { (fmt_time(t.created_at)) }
                td { (quota_cell(&t.id, &self.quota)) }
                td.right {
                    @if !self.own {
                        button.danger.small data-call={ "/api/v1/tenants/" (t.id) } data-method="DELETE"
                            data-confirm={
                                "Delete tenant " (t.id) " with its configuration, users and tokens? "
                                "Its id can never be used again."
                            } { "Delete" }
                    }
                }
            }
        }
    }
}

fn roles() -> Markup {
    html! { option { "viewer" } option { "editor" } option { "admin" } }
}

/// `GET /admin`: users and tokens (admins).
pub(crate) async fn admin(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = auth!(req, st);
    if a.role < Role::Admin {
        return Ok(page(
            &a,
            "/admin",
            "Users & tokens",
            html! { p.muted { "Only the tenant's admins manage users and tokens." } },
        ));
    }
    let t = a.tenant.as_str();
    let users = sqlx::query("SELECT id, login, role FROM web_users WHERE tenant = $1 ORDER BY id")
        .bind(t)
        .fetch_all(&st.db.pool)
        .await
        .map_err(crate::db::db_err)?;
    let text = |r: &sqlx::any::AnyRow, k: &str| r.try_get::<String, _>(k).unwrap_or_default();
    let urows: Vec<Markup> = users
        .iter()
        .map(|r| {
            UserRow {
                id: r.try_get("id").unwrap_or(0),
                login: text(r, "login"),
                role: text(r, "role"),
            }
            .render()
        })
        .collect();
    let toks = sqlx::query(
        "SELECT id, kind, name, role, created_at FROM web_tokens WHERE tenant = $1 ORDER BY id",
    )
    .bind(t)
    .fetch_all(&st.db.pool)
    .await
    .map_err(crate::db::db_err)?;
    let trows: Vec<Markup> = toks
        .iter()
        .map(|r| {
            TokenRow {
                id: r.try_get("id").unwrap_or(0),
                name: text(r, "name"),
                kind: text(r, "kind"),
                role: text(r, "role"),
                created_at: r.try_get("created_at").unwrap_or(0),
            }
            .render()
        })
        .collect();
    let mut tenants = Vec::new();
    if a.platform_admin {
        for t in store::tenants(&st.db).await? {
            let quota = crate::api::quotas::load(&st.db, &t.id).await?;
            tenants.push(TenantLine {
                own: t.id == a.tenant.as_str(),
                tenant: t,
                quota: quota.unwrap_or_default(),
            });
        }
    }
    let body = html! {
        div.grid2 {
            div.panel {
                h2 { "Users" }
                (table(&["Login", "Role", ""], &urows, "No users."))
                form.inline data-api="/api/v1/users" style="margin-top:10px" {
                    label { "Login" input name="login" required; }
                    label {
                        "Password"
                        input name="password" type="password" autocomplete="new-password" required;
                    }
                    label { "Role" select name="role" { (roles()) } }
                    button { "Add" }
                    div.err {}
                }
            }
            div.panel {
                h2 { "Tokens" }
                (table(&["Name", "Kind", "Role", "Created (UTC)", ""], &trows, "No tokens."))
                form.inline data-api="/api/v1/tokens" data-show="New token (shown once, copy it now):"
                    style="margin-top:10px" {
                    label { "Name" input name="name" required; }
                    label {
                        "Kind"
                        select name="kind" {
                            option value="agent" { "agent" }
                            option value="api" { "api" }
                        }
                    }
                    label { "Role (api)" select name="role" { (roles()) } }
                    button { "Create" }
                    div.err {}
                    div.okmsg.mono {}
                }
            }
        }
        @if a.platform_admin {
            @let rows: Vec<Markup> = tenants.iter().map(TenantLine::render).collect();
            div.panel {
                h2 { "Tenants (platform admin)" }
                (table(
                    &["Id", "Name", "Config version", "Created (UTC)", "Quota", ""],
                    &rows,
                    "No tenants.",
                ))
                form.inline data-api="/api/v1/tenants" style="margin-top:10px" {
                    label { "Id" input name="id" required placeholder="team-db"; }
                    label { "Name" input name="name"; }
                    label { "First admin login" input name="admin_login"; }
                    label {
                        "Password"
                        input name="admin_password" type="password" autocomplete="new-password";
                    }
                    button { "Create" }
                    div.err {}
                }
            }
        }
    };
    Ok(page(&a, "/admin", "Users & tokens", body))
}

/// A tenant's quota in its row: the figures set (empty ones keep the transfers' `[quotas]`) in
/// a form that PUTs them (`/api/v1/tenants/{id}/quota`), and a button back to the defaults.
fn quota_cell(tenant: &str, q: &QuotaOverride) -> Markup {
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let count = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let summary = if q.is_empty() {
        "defaults".to_string()
    } else {
        let mut parts = Vec::new();
        if let Some(v) = q.points_per_sec {
            parts.push(format!("{v} pts/s"));
        }
        if let Some(v) = q.burst {
            parts.push(format!("burst {v}"));
        }
        if let Some(v) = q.active_series {
            parts.push(format!("{v} series"));
        }
        if let Some(v) = q.batch_points {
            parts.push(format!("{v} pts/request"));
        }
        if let Some(v) = q.tags_per_point {
            parts.push(format!("{v} tags/point"));
        }
        parts.join(", ")
    };
    let api = format!("/api/v1/tenants/{tenant}/quota");
    html! {
        details.quota data-tenant=(tenant) {
            summary { (summary) }
            form.inline data-api=(api) data-method="PUT"
                title="empty: the transfers' default; 0: unlimited" {
                label {
                    "Points/s"
                    input name="points_per_sec" data-type="int" value=(num(q.points_per_sec)) size="8";
                }
                label { "Burst" input name="burst" data-type="int" value=(num(q.burst)) size="8"; }
                label {
                    "Active series"
                    input name="active_series" data-type="int" value=(count(q.active_series)) size="8";
                }
                label {
                    "Points/request"
                    input name="batch_points" data-type="int" value=(count(q.batch_points)) size="8";
                }
                label {
                    "Tags/point"
                    input name="tags_per_point" data-type="int" value=(count(q.tags_per_point)) size="3";
                }
                button { "Save" }
                @if !q.is_empty() {
                    button.small type="button" data-call=(api) data-method="DELETE" { "Defaults" }
                }
                div.err {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00");
        assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13");
    }
}
