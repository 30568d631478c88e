//! Users and API tokens of the tenant (admins only).

use super::*;

/// `GET /admin`: users and tokens (admins).
pub(crate) async fn admin(req: HttpRequest, st: web::Data<State>) -> Page {
    let a = auth!(req, st);
    if a.role < Role::Admin {
        return Ok(page(
            &a,
            "/admin",
            "Users & tokens",
            r#"<p class="muted">Only the tenant's admins manage users and tokens.</p>"#,
        ));
    }
    let t = a.tenant.as_str();
    let users = sqlx::query("SELECT id, login, role FROM web_users WHERE tenant = $1 ORDER BY id")
        .bind(t)
        .fetch_all(&st.db.pool)
        .await
        .map_err(crate::db::db_err)?;
    use sqlx::Row;
    let urows: Vec<String> = users.iter().map(|r| {
        let uid: i64 = r.try_get("id").unwrap_or(0);
        format!(r#"<tr><td>{}</td><td>{}</td><td class="right"><button class="danger small" data-call="/api/v1/users/{uid}" data-method="DELETE" data-confirm="Delete this user?">Delete</button></td></tr>"#,
            esc(&r.try_get::<String, _>("login").unwrap_or_default()), esc(&r.try_get::<String, _>("role").unwrap_or_default()))
    }).collect();
    let toks = sqlx::query(
        "SELECT id, kind, name, role, created_at FROM web_tokens WHERE tenant = $1 ORDER BY id",
    )
    .bind(t)
    .fetch_all(&st.db.pool)
    .await
    .map_err(crate::db::db_err)?;
    let trows: Vec<String> = toks.iter().map(|r| {
        let tid: i64 = r.try_get("id").unwrap_or(0);
        format!(r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="right"><button class="danger small" data-call="/api/v1/tokens/{tid}" data-method="DELETE" data-confirm="Revoke this token?">Revoke</button></td></tr>"#,
            esc(&r.try_get::<String, _>("name").unwrap_or_default()), esc(&r.try_get::<String, _>("kind").unwrap_or_default()),
            esc(&r.try_get::<String, _>("role").unwrap_or_default()), fmt_time(r.try_get::<i64, _>("created_at").unwrap_or(0)))
    }).collect();
    let body = format!(
        r#"<div class="grid2"><div class="panel"><h2>Users</h2>{}<form class="inline" data-api="/api/v1/users" style="margin-top:10px">
<label>Login<input name="login" required></label><label>Password<input name="password" type="password" autocomplete="new-password" required></label>
<label>Role<select name="role"><option>viewer</option><option>editor</option><option>admin</option></select></label><button>Add</button><div class="err"></div></form></div>
<div class="panel"><h2>Tokens</h2>{}<form class="inline" data-api="/api/v1/tokens" data-show="New token (shown once, copy it now):" style="margin-top:10px">
<label>Name<input name="name" required></label><label>Kind<select name="kind"><option value="agent">agent</option><option value="api">api</option></select></label>
<label>Role (api)<select name="role"><option>viewer</option><option>editor</option><option>admin</option></select></label><button>Create</button><div class="err"></div><div class="okmsg mono"></div></form></div></div>"#,
        table(&["Login", "Role", ""], &urows, "No users."),
        table(
            &["Name", "Kind", "Role", "Created (UTC)", ""],
            &trows,
            "No tokens."
        ),
    );
    let mut body = body;
    if a.platform_admin {
        let mut trows = Vec::new();
        for t in store::tenants(&st.db).await? {
            let del = if t.id == a.tenant.as_str() {
                String::new()
            } else {
                format!(
                    r#"<button class="danger small" data-call="/api/v1/tenants/{}" data-method="DELETE" data-confirm="Delete tenant {} with its configuration, users and tokens? Its id can never be used again.">Delete</button>"#,
                    esc(&t.id),
                    esc(&t.id)
                )
            };
            let quota = crate::api::quotas::load(&st.db, &t.id).await?;
            trows.push(format!(r#"<tr><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="right">{del}</td></tr>"#,
                esc(&t.id), esc(&t.name), t.version, fmt_time(t.created_at), quota_cell(&t.id, quota.unwrap_or_default())));
        }
        body.push_str(&format!(
            r#"<div class="panel"><h2>Tenants (platform admin)</h2>{}<form class="inline" data-api="/api/v1/tenants" style="margin-top:10px">
<label>Id<input name="id" required placeholder="team-db"></label><label>Name<input name="name"></label>
<label>First admin login<input name="admin_login"></label><label>Password<input name="admin_password" type="password" autocomplete="new-password"></label>
<button>Create</button><div class="err"></div></form></div>"#,
            table(&["Id", "Name", "Config version", "Created (UTC)", "Quota", ""], &trows, "No tenants.")
        ));
    }
    Ok(page(&a, "/admin", "Users & tokens", &body))
}

/// A tenant's quota in its row: the figures set (empty ones keep the transfers' `[quotas]`) in
/// a form that PUTs them (`/api/v1/tenants/{id}/quota`), and a button back to the defaults.
fn quota_cell(tenant: &str, q: argus_core::quota::QuotaOverride) -> String {
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
    let reset = if q.is_empty() {
        String::new()
    } else {
        format!(
            r#"<button type="button" class="small" data-call="/api/v1/tenants/{t}/quota" data-method="DELETE">Defaults</button>"#,
            t = esc(tenant)
        )
    };
    format!(
        r#"<details class="quota" data-tenant="{t}"><summary>{summary}</summary><form class="inline" data-api="/api/v1/tenants/{t}/quota" data-method="PUT" title="empty: the transfers' default; 0: unlimited">
<label>Points/s<input name="points_per_sec" data-type="int" value="{pps}" size="8"></label><label>Burst<input name="burst" data-type="int" value="{burst}" size="8"></label>
<label>Active series<input name="active_series" data-type="int" value="{series}" size="8"></label><label>Points/request<input name="batch_points" data-type="int" value="{batch}" size="8"></label>
<label>Tags/point<input name="tags_per_point" data-type="int" value="{tags}" size="3"></label><button>Save</button>{reset}<div class="err"></div></form></details>"#,
        t = esc(tenant),
        summary = esc(&summary),
        pps = num(q.points_per_sec),
        burst = num(q.burst),
        series = count(q.active_series),
        batch = count(q.batch_points),
        tags = count(q.tags_per_point),
    )
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

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(
            super::super::esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
