//! Pulling a document from the configuration center, as every node does: a conditional `GET`
//! (`If-None-Match` with the last `ETag`, so an unchanged document costs a 304 and no body), the
//! node's region named in `X-Argus-Region` and the request counted as cross-region configuration
//! bytes, and the last good document kept on disk so that a node restarted while the global zone
//! is unreachable still has its configuration.

use crate::telemetry::{CrossKind, CrossRegion, GLOBAL_REGION, REGION_HEADER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One pull: where, with which credential, and what the caller already has.
#[derive(Clone, Copy)]
pub struct Pull<'a> {
    /// The document's full URL.
    pub url: &'a str,
    /// Bearer token (the internal credential or an agent token); empty sends none.
    pub token: &'a str,
    /// The `ETag` of the document in force, if any.
    pub etag: Option<&'a str>,
    /// Counts the request as configuration bytes sent to the global zone, and names the region.
    pub cross: Option<&'a CrossRegion>,
}

/// What a pull brought.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched<T> {
    /// 304: the document in force is current.
    NotModified,
    /// A new document and its `ETag`.
    Changed {
        /// The document.
        doc: T,
        /// Its `ETag`, for the next pull.
        etag: Option<String>,
    },
}

/// Why a pull failed; the document in force stays.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer (connection refused, timeout, TLS refused).
    #[error("GET {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why, with its causes.
        reason: String,
    },
    /// An answer other than 2xx or 304.
    #[error("GET {url}: answered {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body (the center's error message).
        body: String,
    },
    /// A 2xx whose body is not the expected document.
    #[error("GET {url}: not a valid document: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl FetchError {
    /// True for failures worth trying another center for (no answer, or a 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Unreachable { .. } => true,
            FetchError::Status { status, .. } => crate::http::retryable(*status),
            FetchError::Invalid { .. } => false,
        }
    }
}

/// Makes one conditional pull of a JSON document (gzip answers are decoded by the client).
pub async fn fetch<T: DeserializeOwned>(
    client: &reqwest::Client,
    pull: Pull<'_>,
) -> Result<Fetched<T>, FetchError> {
    let url = pull.url;
    let unreachable = |e: &dyn std::error::Error| FetchError::Unreachable {
        url: url.to_string(),
        reason: error_chain(e),
    };
    let mut req = client.get(url);
    if !pull.token.is_empty() {
        req = req.bearer_auth(pull.token);
    }
    if let Some(tag) = pull.etag {
        req = req.header("if-none-match", tag);
    }
    if let Some(xr) = pull.cross {
        req = req.header(REGION_HEADER, xr.region());
    }
    let req = req.build().map_err(|e| unreachable(&e))?;
    if let Some(xr) = pull.cross {
        xr.sent(
            CrossKind::Config,
            GLOBAL_REGION,
            crate::http::request_wire_len(&req),
        );
    }
    let resp = client.execute(req).await.map_err(|e| unreachable(&e))?;
    let status = resp.status().as_u16();
    if status == 304 {
        return Ok(Fetched::NotModified);
    }
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().await.map_err(|e| unreachable(&e))?;
    if !(200..300).contains(&status) {
        return Err(FetchError::Status {
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        });
    }
    let doc = serde_json::from_slice(&body).map_err(|e| FetchError::Invalid {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Fetched::Changed { doc, etag })
}

/// The last good document and its `ETag`, as kept on disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cached<T> {
    /// Its `ETag` (None: pull it whole next time).
    #[serde(default)]
    pub etag: Option<String>,
    /// The document (`config` in files written by earlier versions).
    #[serde(alias = "config")]
    pub doc: T,
}

impl<T: Serialize + DeserializeOwned> Cached<T> {
    /// Reads the cache at `path`; None when absent or unreadable (logged: a cache is optional).
    pub fn load(path: &Path) -> Option<Cached<T>> {
        let body = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the configuration cache");
                return None;
            }
        };
        match serde_json::from_slice(&body) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "configuration cache unreadable; ignored");
                None
            }
        }
    }

    /// Writes the cache at `path` atomically (a crash leaves the old or the new file whole).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::rename(&tmp, path)
    }
}

/// An error with its causes (`a: b: c`): "error sending request" alone says nothing.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

    /// A center serving `{"version": 7}` with ETag "v7", 304 to a matching If-None-Match, and
    /// 401 without the token.
    async fn center() -> (String, actix_web::dev::ServerHandle) {
        let server = HttpServer::new(|| {
            App::new().route(
                "/doc",
                web::get().to(|req: HttpRequest| async move {
                    let h = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok());
                    if h("authorization") != Some("Bearer s3cret") {
                        return HttpResponse::Unauthorized().body("bad token");
                    }
                    if h("if-none-match") == Some("\"v7\"") {
                        return HttpResponse::NotModified().finish();
                    }
                    let region = h(REGION_HEADER).unwrap_or("-").to_string();
                    HttpResponse::Ok()
                        .insert_header(("etag", "\"v7\""))
                        .json(serde_json::json!({"version": 7, "region": region}))
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        (format!("http://{addr}/doc"), handle)
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        version: u64,
        region: String,
    }

    #[tokio::test]
    async fn conditional_pulls_counted_and_cached() {
        let (url, handle) = center().await;
        let client = reqwest::Client::new();
        let registry = crate::telemetry::Registry::new();
        let xr = CrossRegion::new(&registry, "east");
        let pull = Pull {
            url: &url,
            token: "s3cret",
            etag: None,
            cross: Some(&xr),
        };
        let Fetched::Changed { doc, etag } = fetch::<Doc>(&client, pull).await.unwrap() else {
            panic!("a first pull brings the document");
        };
        assert_eq!(doc.version, 7);
        assert_eq!(doc.region, "east", "the region is named");
        assert_eq!(etag.as_deref(), Some("\"v7\""));
        let counted = xr.get(CrossKind::Config, GLOBAL_REGION);
        assert!(counted > 0);

        let again = Pull {
            etag: etag.as_deref(),
            ..pull
        };
        assert_eq!(
            fetch::<Doc>(&client, again).await.unwrap(),
            Fetched::NotModified
        );
        assert!(xr.get(CrossKind::Config, GLOBAL_REGION) > counted);

        let e = fetch::<Doc>(&client, Pull { token: "", ..pull })
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Status { status: 401, .. }), "{e}");
        assert!(
            e.to_string().contains("bad token") && !e.is_transient(),
            "{e}"
        );
        let e = fetch::<Vec<u8>>(&client, pull).await.unwrap_err();
        assert!(matches!(e, FetchError::Invalid { .. }), "{e}");
        handle.stop(true).await;
        // A fresh client: the first one may still hold a kept-alive connection to the server.
        let e = fetch::<Doc>(&reqwest::Client::new(), pull)
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        assert!(Cached::<Doc>::load(&path).is_none());
        let c = Cached { etag, doc };
        c.save(&path).unwrap();
        assert_eq!(Cached::load(&path), Some(c));
        // Files of earlier versions named the document `config`.
        std::fs::write(
            &path,
            r#"{"etag": null, "config": {"version": 1, "region": "w"}}"#,
        )
        .unwrap();
        assert_eq!(Cached::<Doc>::load(&path).unwrap().doc.version, 1);
        std::fs::write(&path, "garbage").unwrap();
        assert!(Cached::<Doc>::load(&path).is_none());
    }
}
