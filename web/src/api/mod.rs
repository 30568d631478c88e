//! The REST API under `/api/v1`.

pub mod account;
pub mod alarm;
pub(crate) mod dashboards;
pub mod email_templates;
pub mod kinds;
pub mod objects;
pub mod openapi;
pub mod quotas;
pub mod routes;
pub mod rules;

use actix_web::web;

/// Registers every `/api/v1` route. Specific paths come before the generic `/{kind}` ones.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(openapi::document))
        .route("/api/v1/login", web::post().to(account::login))
        .route("/api/v1/logout", web::post().to(account::logout))
        .route("/api/v1/me", web::get().to(account::me))
        .route("/api/v1/query", web::get().to(crate::query::range))
        .route("/api/v1/query/last", web::get().to(crate::query::last))
        .route(
            "/api/v1/agent/config",
            web::get().to(crate::center::agent_config),
        )
        .route(
            "/api/v1/agent/heartbeat",
            web::post().to(crate::center::heartbeat),
        )
        .route("/api/v1/users", web::get().to(account::users))
        .route("/api/v1/users", web::post().to(account::create_user))
        .route("/api/v1/users/{id}", web::get().to(account::user))
        .route("/api/v1/users/{id}", web::put().to(account::update_user))
        .route("/api/v1/users/{id}", web::delete().to(account::delete_user))
        .route("/api/v1/tokens", web::get().to(account::tokens))
        .route("/api/v1/tokens", web::post().to(account::create_token))
        .route(
            "/api/v1/tokens/{id}",
            web::delete().to(account::delete_token),
        )
        .route("/api/v1/tenants", web::get().to(account::tenants))
        .route("/api/v1/tenants", web::post().to(account::create_tenant))
        .route(
            "/api/v1/tenants/{id}",
            web::delete().to(account::delete_tenant),
        )
        .route("/api/v1/tenants/{id}/quota", web::get().to(quotas::get))
        .route("/api/v1/tenants/{id}/quota", web::put().to(quotas::put))
        .route(
            "/api/v1/tenants/{id}/quota",
            web::delete().to(quotas::delete),
        )
        .route("/api/v1/events", web::get().to(alarm::events))
        .route("/api/v1/events/history", web::get().to(alarm::history))
        .route("/api/v1/events/active", web::get().to(alarm::active))
        .route("/api/v1/events/overview", web::get().to(alarm::overview))
        .route("/api/v1/events/{id}/ack", web::post().to(alarm::ack))
        .route("/api/v1/deliveries", web::get().to(alarm::deliveries))
        .route(
            "/api/v1/deliveries/{id}/retry",
            web::post().to(alarm::retry),
        )
        .service(
            web::resource("/api/v1/rules/import")
                .app_data(web::PayloadConfig::new(rules::MAX_FILE_BYTES))
                .route(web::post().to(rules::import)),
        )
        .service(
            web::resource("/api/v1/routes")
                .app_data(web::PayloadConfig::new(routes::MAX_BYTES))
                .route(web::get().to(routes::get))
                .route(web::put().to(routes::put))
                .route(web::delete().to(routes::delete)),
        )
        .route("/api/v1/routes/test", web::post().to(routes::test))
        .route(
            "/api/v1/email_templates",
            web::get().to(email_templates::get),
        )
        .route(
            "/api/v1/email_templates",
            web::put().to(email_templates::put),
        )
        .route(
            "/api/v1/email_templates",
            web::delete().to(email_templates::delete),
        )
        .route("/api/v1/rules/export", web::get().to(rules::export))
        .route("/api/v1/rules/status", web::get().to(rules::status))
        .route("/api/v1/rules/validate", web::post().to(rules::validate))
        .route("/api/v1/rules/preview", web::post().to(rules::preview))
        .route(
            "/api/v1/strategies/validate",
            web::post().to(objects::validate),
        )
        .route(
            "/api/v1/hosts/{id}/strategies",
            web::get().to(objects::host_strategies),
        )
        .route(
            "/api/v1/templates/{id}/effective",
            web::get().to(objects::template_effective),
        )
        // Before the generic routes: ids are numbers or a built-in's `builtin-...`.
        .route("/api/v1/dashboards/{id}", web::get().to(dashboards::get))
        .route("/api/v1/dashboards/{id}", web::put().to(dashboards::update))
        .route(
            "/api/v1/dashboards/{id}",
            web::delete().to(dashboards::delete),
        )
        .route("/api/v1/{kind}", web::get().to(objects::list))
        .route("/api/v1/{kind}", web::post().to(objects::create))
        .route("/api/v1/{kind}/{id}", web::get().to(objects::get))
        .route("/api/v1/{kind}/{id}", web::put().to(objects::update))
        .route("/api/v1/{kind}/{id}", web::delete().to(objects::delete));
}
