//! Logging in and out of the console.

use super::*;

/// `?next=`.
#[derive(Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

/// `GET /login`.
pub(crate) async fn login(q: web::Query<Next>) -> HttpResponse {
    let next = q
        .next
        .as_deref()
        .filter(|n| is_local_path(n))
        .unwrap_or("/hosts");
    login_page(next)
}

/// Whether `next` can only lead to a page of this console: a path, with nothing a browser
/// would drop or reinterpret on the way (tabs and newlines are removed by URL parsers, so
/// `/\t/evil.example` becomes `//evil.example`; a backslash counts as a slash).
pub(crate) fn is_local_path(next: &str) -> bool {
    let mut chars = next.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/') | Some('\\'))
        && next.chars().all(|c| c.is_ascii_graphic() && c != '\\')
}

/// The logout form: the session's CSRF token, so that another site cannot log a user out.
#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `POST /logout`: ends the session and returns to the login page.
pub(crate) async fn logout(
    req: HttpRequest,
    st: web::Data<State>,
    form: web::Form<LogoutForm>,
) -> HttpResponse {
    let Some(cookie) = session_cookie(&req) else {
        return redirect("/login");
    };
    let session = crate::auth::from_session(&st.db, &cookie).await;
    let Ok(Some(auth)) = session else {
        return redirect("/login");
    };
    let want = auth.csrf.as_deref().unwrap_or("");
    if want.is_empty() || !argus_core::auth::constant_time_eq(form.csrf.as_bytes(), want.as_bytes())
    {
        return HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("log out: missing or wrong CSRF token");
    }
    let _ = sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = $1")
        .bind(argus_core::auth::hash_token(&cookie))
        .execute(&st.db.pool)
        .await;
    let mut r = redirect("/login");
    if let Ok(v) = crate::auth::cookie_header("", 0, st.cfg.secure_cookies).parse() {
        r.headers_mut()
            .insert(actix_web::http::header::SET_COOKIE, v);
    }
    r
}
