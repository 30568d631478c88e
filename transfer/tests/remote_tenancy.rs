//! `[remote_storage]` tenancy by VictoriaMetrics cluster accounts and by a tenant header
//! (Mimir's `X-Scope-OrgID`): a real HTTP server plays a multi-tenant backend, keeping each
//! tenant's remote-written series apart by what the request carried (URL path or header) and
//! answering the query API from them, as vminsert/vmselect and Mimir do. Label tenancy is
//! tested against real VictoriaMetrics and Prometheus in the workspace's
//! `tests/remote_storage.rs`.

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_transfer::remote::{RemoteStorageConfig, Tenancy};
use argus_transfer::remote_write::{parse, WriteRequest};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Series written per backend tenant (account or header value): labels → samples.
type Db = Arc<Mutex<BTreeMap<String, BTreeMap<Vec<(String, String)>, Vec<(i64, f64)>>>>>;

/// Where the backend reads the tenant of a request.
#[derive(Clone, Copy)]
enum From {
    Path,
    Header,
}

fn backend_tenant(req: &HttpRequest, from: From) -> Option<String> {
    match from {
        // /insert/<account>/prometheus/... and /select/<account>/prometheus/...
        From::Path => req.path().split('/').nth(2).map(str::to_string),
        From::Header => req
            .headers()
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

async fn write(req: HttpRequest, body: web::Bytes, db: web::Data<(Db, From)>) -> HttpResponse {
    let Some(t) = backend_tenant(&req, db.1) else {
        return HttpResponse::Unauthorized().body("no tenant");
    };
    let wr: WriteRequest = match parse(&body, 1 << 24, argus_core::wire::Budget::UNLIMITED) {
        Ok(w) => w,
        Err(e) => return HttpResponse::BadRequest().body(e.to_string()),
    };
    let mut all = db.0.lock().unwrap();
    let mine = all.entry(t).or_default();
    for ts in wr.timeseries {
        let labels: Vec<(String, String)> =
            ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        mine.entry(labels)
            .or_default()
            .extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
    }
    HttpResponse::NoContent().finish()
}

/// `/api/v1/query` for a selector with a range, matching `__name__` equality only (all the
/// test asks).
async fn query(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    db: web::Data<(Db, From)>,
) -> HttpResponse {
    let Some(t) = backend_tenant(&req, db.1) else {
        return HttpResponse::Unauthorized().body("no tenant");
    };
    let q = form.iter().find(|(k, _)| k == "query").unwrap().1.clone();
    let name = q
        .split("__name__=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_string();
    let all = db.0.lock().unwrap();
    let result: Vec<Value> = all
        .get(&t)
        .into_iter()
        .flatten()
        .filter(|(labels, _)| labels.iter().any(|(k, v)| k == "__name__" && *v == name))
        .map(|(labels, samples)| {
            let metric: BTreeMap<_, _> = labels.iter().cloned().collect();
            let values: Vec<Value> = samples
                .iter()
                .map(|(t, v)| json!([*t as f64 / 1000.0, v.to_string()]))
                .collect();
            json!({"metric": metric, "values": values})
        })
        .collect();
    HttpResponse::Ok().json(json!({"status": "success",
        "data": {"resultType": "matrix", "result": result}}))
}

async fn backend(from: From) -> (String, Db, actix_web::dev::ServerHandle) {
    let db: Db = Arc::default();
    let data = web::Data::new((db.clone(), from));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/insert/{account}/prometheus/api/v1/write",
                web::post().to(write),
            )
            .route(
                "/select/{account}/prometheus/api/v1/query",
                web::post().to(query),
            )
            .route("/api/v1/push", web::post().to(write))
            .route("/prometheus/api/v1/query", web::post().to(query))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, db, handle)
}

async fn push(url: &str, token: &str, value: f64) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/push"))
        .bearer_auth(token)
        .json(&json!({"points": [{"endpoint": "web-01", "metric": "load",
            "value": value, "timestamp": now() - 5}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn select(url: &str, tenant: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{url}/internal/v1/query/select"))
        .json(&json!({"tenant": tenant, "matchers": [{"key": "__name__", "op": "eq", "value": "load"}],
                      "start": now() - 60, "end": now()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn check(tenancy: Tenancy) {
    let from = match tenancy {
        Tenancy::Account => From::Path,
        _ => From::Header,
    };
    let (root, db, handle) = backend(from).await;
    let dir = tempfile::tempdir().unwrap();
    let remote = match tenancy {
        Tenancy::Account => RemoteStorageConfig {
            write_url: format!("{root}/insert/{{account}}/prometheus/api/v1/write"),
            read_url: format!("{root}/select/{{account}}/prometheus"),
            tenancy,
            accounts: [("acme".to_string(), "7".to_string())].into(),
            ..Default::default()
        },
        _ => RemoteStorageConfig {
            write_url: format!("{root}/api/v1/push"),
            read_url: format!("{root}/prometheus"),
            tenancy,
            ..Default::default()
        },
    };
    let t = argus_transfer::start(argus_transfer::TransferConfig {
        remote_storage: remote,
        ..transfer_cfg(dir.path(), vec![])
    })
    .await
    .expect("transfer on a remote backend");
    let url = t.server.url();
    assert_eq!(push(&url, "tok-acme", 1.5).await, 200);
    let beta = push(&url, "tok-beta", 9.0).await;
    {
        let all = db.lock().unwrap();
        match tenancy {
            Tenancy::Account => {
                // beta has no account: refused before anything is acknowledged.
                assert_eq!(beta, 503);
                assert_eq!(all.keys().collect::<Vec<_>>(), ["7"]);
            }
            _ => {
                assert_eq!(beta, 200);
                assert_eq!(all.keys().collect::<Vec<_>>(), ["acme", "beta"]);
            }
        }
        // The tenant travels in the path or header, not as a label.
        let acme_key = if matches!(tenancy, Tenancy::Account) {
            "7"
        } else {
            "acme"
        };
        let labels: Vec<_> = all[acme_key].keys().next().unwrap().clone();
        assert_eq!(
            labels,
            [
                ("__name__".to_string(), "load".to_string()),
                ("endpoint".to_string(), "web-01".to_string())
            ]
        );
    }
    let a = select(&url, "acme").await;
    assert_eq!(a[0]["points"][0][1], 1.5, "{a}");
    let b = select(&url, "beta").await;
    match tenancy {
        Tenancy::Account => assert_eq!(b, json!([]), "no account, nothing: {b}"),
        _ => assert_eq!(b[0]["points"][0][1], 9.0, "beta reads its own: {b}"),
    }
    t.stop().await;
    handle.stop(true).await;
}

#[actix_web::test]
async fn tenants_by_account_in_the_url() {
    check(Tenancy::Account).await;
}

#[actix_web::test]
async fn tenants_by_header() {
    check(Tenancy::Header).await;
}
