//! The console: server-rendered pages over the same database and API. Pages need a cookie
//! session (otherwise they redirect to `/login`); their forms and buttons call the JSON API with
//! the session's CSRF token (`assets/console.js`). Pages are rendered with maud, which escapes
//! every value written into markup or an attribute, and a strict Content-Security-Policy allows
//! only the embedded scripts and styles.

mod dashboards;
mod pages;

use crate::auth::{from_session, session_cookie, Auth};
use crate::server::State;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};

/// Registers the console's routes and its embedded assets.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { redirect("/hosts") }))
        .route("/login", web::get().to(pages::login))
        .route("/logout", web::post().to(pages::logout))
        .route("/hosts", web::get().to(pages::hosts))
        .route("/hosts/{id}", web::get().to(pages::host))
        .route("/explorer", web::get().to(pages::explorer))
        .route("/dashboards", web::get().to(dashboards::list))
        .route("/dashboards/{id}", web::get().to(dashboards::view))
        .route("/dashboards/{id}/export", web::get().to(dashboards::export))
        .route("/host_groups", web::get().to(pages::host_groups))
        .route("/templates", web::get().to(pages::templates))
        .route("/templates/{id}", web::get().to(pages::template))
        .route("/expressions", web::get().to(pages::expressions))
        .route("/recording_rules", web::get().to(pages::recording_rules))
        .route("/alert_rules", web::get().to(pages::alert_rules))
        .route("/contacts", web::get().to(pages::contacts))
        .route("/teams", web::get().to(pages::teams))
        .route("/subscriptions", web::get().to(pages::subscriptions))
        .route("/silences", web::get().to(pages::silences))
        .route("/problems", web::get().to(pages::problems))
        .route("/history", web::get().to(pages::history))
        .route("/deliveries", web::get().to(pages::deliveries))
        .route("/admin", web::get().to(pages::admin))
        .route("/assets/{name}", web::get().to(asset));
}

/// The embedded assets: name, content type, bytes. uPlot is MIT-licensed (uPlot.LICENSE).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console.js"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/uPlot.min.css"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/uPlot.LICENSE"),
    ),
];

async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, ct, body)) => HttpResponse::Ok()
            .content_type(*ct)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .body(*body),
        None => HttpResponse::NotFound().finish(),
    }
}

/// A 303 redirect.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

/// The session of a page request, or the redirect to the login page.
pub async fn session(req: &HttpRequest, st: &State) -> Result<Auth, HttpResponse> {
    let next = crate::api::alarm::enc(&req.uri().to_string());
    let Some(c) = session_cookie(req) else {
        return Err(redirect(&format!("/login?next={next}")));
    };
    match from_session(&st.db, &c).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(redirect(&format!("/login?next={next}"))),
        // Plain text: the message is not markup, and the browser is told so.
        Err(e) => Err(secure(HttpResponse::ServiceUnavailable())
            .content_type("text/plain; charset=utf-8")
            .body(e.message)),
    }
}

const NAV: &[(&str, &str, &str)] = &[
    ("Monitoring", "/hosts", "Hosts"),
    ("", "/dashboards", "Dashboards"),
    ("", "/explorer", "Metric explorer"),
    ("", "/problems", "Problems"),
    ("", "/history", "Event history"),
    ("Configuration", "/host_groups", "Host groups"),
    ("", "/templates", "Templates"),
    ("", "/expressions", "Expression strategies"),
    ("", "/recording_rules", "Recording rules"),
    ("", "/alert_rules", "Alert rules"),
    ("Notification", "/contacts", "Contacts"),
    ("", "/teams", "Teams"),
    ("", "/subscriptions", "Subscriptions"),
    ("", "/silences", "Silences"),
    ("", "/deliveries", "Deliveries"),
    ("Settings", "/admin", "Users & tokens"),
];

/// The security headers of every page.
fn secure(mut r: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    r.insert_header((
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    ))
    .insert_header(("X-Frame-Options", "DENY"))
    .insert_header(("X-Content-Type-Options", "nosniff"))
    .insert_header(("Referrer-Policy", "same-origin"))
    .insert_header(("Cache-Control", "no-store"));
    r
}

/// What every page's `<head>` carries besides the assets.
struct Head<'a> {
    /// The page title, before " · Argus".
    title: &'a str,
    /// The session's CSRF token, read by `console.js` (empty on the login page).
    csrf: &'a str,
}

impl Head<'_> {
    fn render(&self) -> Markup {
        html! {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (self.title) " · Argus" }
                meta name="csrf" content=(self.csrf);
                link rel="stylesheet" href="/assets/uPlot.min.css";
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/uPlot.iife.min.js" {}
                script src="/assets/console.js" {}
            }
        }
    }
}

/// The frame of a console page: navigation, the header with the session, and the page's own
/// markup.
struct Frame<'a> {
    head: Head<'a>,
    /// The `href` of the navigation entry shown as the current one.
    active: &'a str,
    /// The signed-in user, tenant and role, shown in the header.
    who: &'a str,
    tenant: &'a str,
    role: &'a str,
    /// The page's own markup, rendered by the page with maud.
    body: Markup,
}

impl Frame<'_> {
    fn render(&self) -> Markup {
        html! {
            (DOCTYPE)
            html lang="en" {
                (self.head.render())
                body {
                    div.shell {
                        nav.side {
                            div.brand { "◎ Argus" }
                            @for (sect, href, label) in NAV {
                                @if !sect.is_empty() {
                                    div.sect { (sect) }
                                }
                                a href=(href) class=[(*href == self.active).then_some("on")] {
                                    (label)
                                }
                            }
                        }
                        main {
                            header.top {
                                h1 { (self.head.title) }
                                div.who {
                                    (self.who) " · tenant " b { (self.tenant) } " · " (self.role)
                                    " · "
                                    form.logout method="post" action="/logout" {
                                        input type="hidden" name="csrf" value=(self.head.csrf);
                                        button.link { "log out" }
                                    }
                                }
                            }
                            (self.body)
                        }
                    }
                }
            }
        }
    }
}

fn html_response(m: Markup) -> HttpResponse {
    secure(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .body(m.into_string())
}

/// A console page: navigation, header and `body`. The body is maud's `Markup`, never a string,
/// so whatever a page shows went through maud's escaping.
pub fn page(auth: &Auth, active: &str, title: &str, body: Markup) -> HttpResponse {
    let csrf = auth.csrf.as_deref().unwrap_or("");
    html_response(
        Frame {
            head: Head { title, csrf },
            active,
            who: &auth.who,
            tenant: auth.tenant.as_str(),
            role: auth.role.as_str(),
            body,
        }
        .render(),
    )
}

/// The login page (no session).
pub fn login_page(next: &str) -> HttpResponse {
    let head = Head {
        title: "Log in",
        csrf: "",
    };
    html_response(html! {
        (DOCTYPE)
        html lang="en" {
            (head.render())
            body {
                div.login {
                    h1 { "◎ Argus" }
                    div.panel {
                        form #login data-next=(next) {
                            label { "Login" input name="login" autocomplete="username" autofocus required; }
                            label {
                                "Password"
                                input name="password" type="password" autocomplete="current-password" required;
                            }
                            div.err {}
                            button type="submit" { "Log in" }
                        }
                    }
                }
            }
        }
    })
}
