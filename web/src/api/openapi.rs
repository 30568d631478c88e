//! The OpenAPI 3 document served at `/api/v1/openapi.json`, written by hand (with the CRUD
//! paths of every configuration kind generated from one pattern).

use crate::api::kinds::{Kind, ALL};
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

fn op(summary: &str, tag: &str) -> Value {
    json!({"summary": summary, "tags": [tag], "responses": {
        "200": {"description": "OK"}, "400": {"$ref": "#/components/responses/Invalid"},
        "401": {"description": "not authenticated"}, "403": {"description": "role too low or CSRF token missing"},
        "404": {"description": "unknown, or another tenant's"}}})
}

fn crud(paths: &mut Map<String, Value>, k: Kind) {
    let p = k.path();
    let n = k.noun();
    // A built-in dashboard's id is `builtin-...`.
    let schema = if k == Kind::Dashboard {
        json!({"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^builtin-[a-z-]+$"}]})
    } else {
        json!({"type": "integer"})
    };
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": schema}]);
    let mut list = op(
        &format!("List the tenant's {p}, by id, one page at a time"),
        p,
    );
    list["parameters"] = json!([
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}},
        {"name": "after", "in": "query", "description": "the next_after of the previous page", "schema": {"type": "integer", "minimum": 0}}
    ]);
    list["responses"]["200"] =
        json!({"description": format!("{{\"{p}\": [...], \"next_after\": id or null}}")});
    let mut create = op(&format!("Create a {n} (editor)"), p);
    create["requestBody"] =
        json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
    create["responses"]["201"] = json!({"description": "created"});
    paths.insert(format!("/api/v1/{p}"), json!({"get": list, "post": create}));
    let mut update = op(&format!("Replace a {n} (editor)"), p);
    update["requestBody"] = create["requestBody"].clone();
    let mut del = op(&format!("Delete a {n} (editor)"), p);
    del["responses"]["204"] = json!({"description": "deleted"});
    del["responses"]["409"] = json!({"description": "still used by another object"});
    paths.insert(
        format!("/api/v1/{p}/{{id}}"),
        json!({"parameters": id, "get": op(&format!("Read a {n}"), p), "put": update, "delete": del}),
    );
}

/// The document.
pub fn spec() -> Value {
    let mut paths = Map::new();
    for k in ALL {
        crud(&mut paths, k);
    }
    let extra: Value = json!({
        "/api/v1/login": {"post": {"summary": "Log in with login and password: sets the session cookie, answers csrf_token (rate limited: 429)", "tags": ["auth"],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["login", "password"], "properties": {"login": {"type": "string"}, "password": {"type": "string"}}}}}},
            "responses": {"200": {"description": "logged in"}, "401": {"description": "wrong login or password"}, "429": {"description": "too many attempts"}}}},
        "/api/v1/logout": {"post": op("End the session", "auth")},
        "/api/v1/me": {"get": op("Who am I (login, tenant, role, csrf_token)", "auth")},
        "/api/v1/users": {"get": op("List users (admin)", "users"), "post": op("Create a user {login, password, role} (admin)", "users")},
        "/api/v1/users/{id}": {"get": op("Read a user (admin)", "users"), "put": op("Change a user's login, role, password (admin)", "users"), "delete": op("Delete a user (admin)", "users")},
        "/api/v1/tokens": {"get": op("List tokens, never their values (admin)", "tokens"), "post": op("Create an API or agent token {name, kind: api|agent, role}; the token is answered once (admin)", "tokens")},
        "/api/v1/tokens/{id}": {"delete": op("Revoke a token (admin)", "tokens")},
        "/api/v1/tenants": {"get": op("List tenants (platform admins)", "tenants"), "post": op("Create a tenant {id, name, admin_login, admin_password} (platform admins)", "tenants")},
        "/api/v1/tenants/{id}": {"delete": op("Delete a tenant and its configuration; its id is never reused (platform admins)", "tenants")},
        "/api/v1/tenants/{id}/quota": {"get": op("A tenant's own quota figures (platform admins)", "tenants"), "put": op("Set a tenant's quota {points_per_sec, burst, active_series, tags_per_point, batch_points}, each optional, 0 unlimited (platform admins)", "tenants"), "delete": op("Back to the transfers' default quota (platform admins)", "tenants")},
        "/api/v1/hosts/{id}/strategies": {"get": op("A host's effective strategies (through its groups' templates and their ancestors) and the expression strategies", "hosts")},
        "/api/v1/templates/{id}/effective": {"get": op("A template's strategies with its ancestors' (overrides applied)", "templates")},
        "/api/v1/strategies/validate": {"post": op("Check a strategy without storing it (live validation)", "strategies")},
        "/api/v1/routes": {"get": op("The tenant's label routing tree and inhibit rules: {config, source, format, updated_at}; ?format=yaml answers the source as pasted", "routing"), "put": op("Store a routing tree: an alertmanager.yml (YAML or JSON) or its route: section; receivers are teams or contacts by name; 400 names the field (editor)", "routing"), "delete": op("Remove the routing tree (editor)", "routing")},
        "/api/v1/email_templates": {"get": op("The tenant's email templates: {subject, text, html, updated_at}, nulls for parts not set", "email templates"), "put": op("Set the tenant's email templates {subject?, text?, html?} (minijinja); 400 names the part and the error's line (editor)", "email templates"), "delete": op("Back to the alarm config's templates (editor)", "email templates")},
        "/api/v1/routes/test": {"post": op("The receivers a label set reaches: {labels} -> {receivers, routes: [{receiver, path, group_by, group_wait_ms, group_interval_ms, repeat_interval_ms, mute_time_intervals, active_time_intervals}]}, as amtool config routes test", "routing")},
        "/api/v1/rules/import": {"post": op("Create every rule of a Prometheus rule file (YAML body) in one transaction, or none: 400 names groups[i].rules[j].field and the line (editor)", "rules")},
        "/api/v1/rules/export": {"get": op("The tenant's recording and alert rules as a Prometheus rule file (YAML)", "rules")},
        "/api/v1/rules/status": {"get": op("Each rule's evaluation in every region as its judges report it: {rules: [{kind, id, name, global, interval_secs, health, regions: [{region, judge, health, last_evaluation, evaluation_secs, last_error, firing, pending, reported_at}]}]}", "rules")},
        "/api/v1/rules/validate": {"post": op("Check a rule without storing it (?kind=recording_rules|alert_rules): {ok, field, error, position: {line, column}}", "rules")},
        "/api/v1/rules/preview": {"post": op("Run a rule's expression now (?kind=recording_rules|alert_rules): the series it would record or the alerts it would fire, with rendered annotations", "rules")},
        "/api/v1/query": {"get": op("Range query: endpoint, metric, tags (k=v,...), start, end, step, agg", "query")},
        "/api/v1/query/last": {"get": op("Latest value of each selected series", "query")},
        "/api/v1/events": {"get": op("Current problems and history (status, state, limit), from alarm", "events")},
        "/api/v1/events/history": {"get": op("Every event, newest first, filtered by status, priority, endpoint, from/to and paged by before (the previous page's next_before), from alarm", "events")},
        "/api/v1/events/active": {"get": op("Open problems (any state), most urgent first, filtered by priority and endpoint, from alarm", "events")},
        "/api/v1/events/overview": {"get": op("Open problems by host group and their number at each step of a range (from, to, step), from alarm's open problems and event history: {open, by_group: [{group, open}], step, over_time: [[t, n]], truncated}", "events")},
        "/api/v1/events/{id}/ack": {"post": op("Acknowledge a problem {comment} (editor)", "events")},
        "/api/v1/deliveries": {"get": op("Notifications and their attempts (state=pending|delivered|dead), from alarm", "deliveries")},
        "/api/v1/deliveries/{id}/retry": {"post": op("Re-queue a dead delivery (editor)", "deliveries")},
        "/api/v1/agent/config": {"get": op("The host's agent configuration (agent token; ETag, If-None-Match -> 304)", "agent")},
        "/api/v1/agent/heartbeat": {"post": op("Agent heartbeat (agent token)", "agent")}
    });
    for (k, v) in extra.as_object().expect("object") {
        paths.insert(k.clone(), v.clone());
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Argus API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Tenant-scoped REST API of Argus. Authenticate with a session cookie (unsafe requests carry X-CSRF-Token) or Authorization: Bearer <API token>. Roles: viewer reads, editor edits configuration and acknowledges, admin also manages users and tokens. Errors: {\"error\", \"field\"}."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "cookie": {"type": "apiKey", "in": "cookie", "name": "argus_session"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string"}}}},
            "responses": {"Invalid": {"description": "invalid input: the field and the reason", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths,
    })
}

/// `GET /api/v1/openapi.json` (no credential).
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(spec())
}
