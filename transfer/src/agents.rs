//! The agents' configuration center and heartbeat sink, in the region.
//!
//! Agents pull their configuration (`GET /api/v1/agent/config?host=H`, `ETag` /
//! `If-None-Match` → 304) and send their heartbeats (`POST /api/v1/agent/heartbeat`) to their
//! region's transfers with their agent token, exactly as they would to web. So that these
//! per-host exchanges never cross to the global zone:
//!
//! - the transfer pulls every tenant's agent configuration from web once per `refresh_secs`
//!   (`GET {config_center}/internal/v1/config/agents`, `If-None-Match`: an unchanged document
//!   costs a 304), keeps it in memory and on disk (a region cut off from the global zone keeps
//!   serving the last configuration, also after a restart), and computes each host's config with
//!   [`effective_config`], as web would (same content, same `ETag`);
//! - it keeps the last heartbeat of each host and sends them to web once per
//!   `heartbeat_batch_secs` as one zstd-compressed [`HeartbeatBatch`]: whole for hosts that are
//!   new, restarted or changed, as a name in an "alive" list for the others. A batch web did not
//!   take is merged into the next one.
//!
//! The exchanges with web are counted in `argus_cross_region_bytes_sent_total{kind="config"}`.

use crate::server::State;
use actix_web::{web, HttpRequest, HttpResponse};
use argus_core::agentconf::{
    effective_config, AgentGroup, AgentsDocument, Heartbeat, HeartbeatBatch, HeartbeatBatchAnswer,
    SeenHeartbeat,
};
use argus_core::center::{fetch, Cached, Fetched, Pull};
use argus_core::http::ApiError;
use argus_core::telemetry::{http_head_len, CrossKind, CrossRegion, GLOBAL_REGION, REGION_HEADER};
use argus_core::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// `[agents]`: how the transfer serves its region's agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// How often every tenant's agent configuration is pulled from the config center, in
    /// seconds (an unchanged one costs a 304).
    pub refresh_secs: u64,
    /// How often the agents' heartbeats go to the config center, in one batch, in seconds.
    pub heartbeat_batch_secs: u64,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            refresh_secs: 60,
            heartbeat_batch_secs: 60,
        }
    }
}

/// A host, by tenant.
type HostKey = (TenantId, String);

/// Heartbeats taken into a batch, kept until web answers.
type Taken = Vec<(HostKey, (Heartbeat, i64))>;

/// Each tenant's host groups with an agent section.
type GroupsByTenant = HashMap<TenantId, Vec<AgentGroup>>;

#[derive(Default)]
struct Beats {
    /// Heartbeats received since the last batch, with when.
    pending: HashMap<HostKey, (Heartbeat, i64)>,
    /// The facts web has of each host (as last sent whole), with when it was last seen.
    sent: HashMap<HostKey, (Heartbeat, i64)>,
}

/// Hosts not seen for this long are forgotten (sent whole if they come back).
const FORGET_AFTER_SECS: i64 = 3600;

/// The region's agent configuration and heartbeats.
pub struct Agents {
    /// Each tenant's host groups with an agent section; `None` until a document arrived.
    groups: RwLock<Option<Arc<GroupsByTenant>>>,
    etag: Mutex<Option<String>>,
    beats: Mutex<Beats>,
    cache_file: PathBuf,
    region: String,
    /// Whether a config center is configured (otherwise agents are told to use web directly).
    has_center: bool,
    /// Bytes sent to the global zone (and query answers to it, see [`answer_json`]).
    pub xr: CrossRegion,
}

impl Agents {
    /// The agents' state of a transfer of `region`, starting from the document cached in
    /// `cache_file` if any; `has_center` says whether [`Agents::run`] will pull from a config
    /// center.
    pub fn new(
        region: &str,
        xr: CrossRegion,
        cache_file: PathBuf,
        has_center: bool,
    ) -> Arc<Agents> {
        let a = Agents {
            groups: RwLock::new(None),
            etag: Mutex::new(None),
            beats: Mutex::default(),
            cache_file,
            region: region.to_string(),
            has_center,
            xr,
        };
        if let Some(c) = Cached::<AgentsDocument>::load(&a.cache_file) {
            tracing::info!(
                version = c.doc.version,
                "agent configuration from the cache"
            );
            *a.etag.lock().expect("etag lock") = c.etag.clone();
            a.set(c.doc);
        }
        Arc::new(a)
    }

    fn set(&self, doc: AgentsDocument) {
        let map = doc
            .tenants
            .into_iter()
            .map(|t| (t.tenant, t.groups))
            .collect();
        *self.groups.write().expect("groups lock") = Some(Arc::new(map));
    }

    /// The configuration of `host` of `tenant`; `None` before any document arrived.
    pub fn config_of(
        &self,
        tenant: &TenantId,
        host: &str,
    ) -> Option<argus_core::agentconf::AgentRemoteConfig> {
        let g = self.groups.read().expect("groups lock").clone()?;
        let none = Vec::new();
        Some(effective_config(g.get(tenant).unwrap_or(&none), host))
    }

    /// Records a heartbeat of `tenant`'s host, received at `now`.
    pub fn heartbeat(&self, tenant: TenantId, hb: Heartbeat, now: i64) {
        let mut b = self.beats.lock().expect("beats lock");
        b.pending.insert((tenant, hb.host.clone()), (hb, now));
    }

    /// The batch of what arrived since the last one (taken out of the pending set), or `None`
    /// when nothing did.
    fn take_batch(&self, now: i64) -> Option<(HeartbeatBatch, Taken)> {
        let mut b = self.beats.lock().expect("beats lock");
        b.sent
            .retain(|_, (_, seen)| now - *seen < FORGET_AFTER_SECS);
        if b.pending.is_empty() {
            return None;
        }
        let taken: Vec<_> = b.pending.drain().collect();
        let mut batch = HeartbeatBatch {
            region: self.region.clone(),
            sent_at: now,
            ..Default::default()
        };
        for ((tenant, host), (hb, seen)) in &taken {
            match b.sent.get(&(tenant.clone(), host.clone())) {
                Some((before, _)) if !hb.differs_from(before) => batch
                    .alive
                    .entry(tenant.clone())
                    .or_default()
                    .push((host.clone(), *seen)),
                _ => batch.changed.push(SeenHeartbeat {
                    tenant: tenant.clone(),
                    heartbeat: hb.clone(),
                    seen_at: *seen,
                }),
            }
        }
        for hosts in batch.alive.values_mut() {
            hosts.sort();
        }
        Some((batch, taken))
    }

    /// Web took the batch: remember what it knows now; hosts it did not know go whole next time.
    fn batch_taken(&self, taken: Taken, answer: HeartbeatBatchAnswer) {
        let mut b = self.beats.lock().expect("beats lock");
        for (key, (hb, seen)) in taken {
            b.sent.insert(key, (hb, seen));
        }
        for key in answer.unknown {
            b.sent.remove(&key);
        }
    }

    /// Web did not take the batch: its heartbeats wait for the next one (newer ones win).
    fn batch_failed(&self, taken: Taken) {
        let mut b = self.beats.lock().expect("beats lock");
        for (key, v) in taken {
            b.pending.entry(key).or_insert(v);
        }
    }

    /// Counts `req` as configuration sent to the global zone.
    fn count_request(&self, req: &reqwest::Request) {
        self.xr.sent(
            CrossKind::Config,
            GLOBAL_REGION,
            argus_core::http::request_wire_len(req),
        );
    }

    /// One pull of the agents' document; true when a new one was applied.
    async fn refresh(
        &self,
        http: &reqwest::Client,
        url: &str,
        token: &str,
    ) -> anyhow::Result<bool> {
        let etag = self.etag.lock().expect("etag lock").clone();
        let pull = Pull {
            url,
            token,
            etag: etag.as_deref(),
            cross: Some(&self.xr),
        };
        let Fetched::Changed { doc, etag } = fetch::<AgentsDocument>(http, pull).await? else {
            return Ok(false);
        };
        tracing::info!(
            version = doc.version,
            tenants = doc.tenants.len(),
            "agent configuration updated from the config center"
        );
        let cached = Cached { etag, doc };
        if let Err(e) = cached.save(&self.cache_file) {
            tracing::warn!(file = %self.cache_file.display(), error = %e, "cannot cache the agent configuration");
        }
        *self.etag.lock().expect("etag lock") = cached.etag;
        self.set(cached.doc);
        Ok(true)
    }

    /// Sends the pending heartbeats in one batch.
    async fn flush(&self, http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<()> {
        let Some((batch, taken)) = self.take_batch(argus_core::time::now_secs()) else {
            return Ok(());
        };
        let body = zstd::encode_all(&serde_json::to_vec(&batch).expect("json")[..], 3)?;
        let mut req = http
            .post(url)
            .header(REGION_HEADER, &self.region)
            .header("content-type", "application/json")
            .header("content-encoding", "zstd")
            .body(body);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        let sent = async {
            let req = req.build()?;
            self.count_request(&req);
            let resp = http.execute(req).await?;
            if !resp.status().is_success() {
                anyhow::bail!("answered {}", resp.status());
            }
            Ok(resp
                .json::<HeartbeatBatchAnswer>()
                .await
                .unwrap_or_default())
        }
        .await;
        match sent {
            Ok(answer) => {
                tracing::debug!(
                    changed = batch.changed.len(),
                    alive = batch.alive.values().map(Vec::len).sum::<usize>(),
                    "heartbeats sent"
                );
                self.batch_taken(taken, answer);
                Ok(())
            }
            Err(e) => {
                self.batch_failed(taken);
                Err(e)
            }
        }
    }

    /// Pulls the agents' configuration from the config center at `center` and sends it the
    /// heartbeats, each at its interval, until `stop` (a last batch is sent then).
    pub async fn run(
        self: Arc<Self>,
        http: reqwest::Client,
        center: String,
        internal_token: String,
        cfg: AgentsConfig,
        mut stop: watch::Receiver<bool>,
    ) {
        let base = center.trim_end_matches('/');
        let config_url = format!("{base}/internal/v1/config/agents");
        let beats_url = format!("{base}/internal/v1/agents/heartbeats");
        let mut refresh = tokio::time::interval(Duration::from_secs(cfg.refresh_secs.max(1)));
        let mut beats = tokio::time::interval(Duration::from_secs(cfg.heartbeat_batch_secs.max(1)));
        beats.tick().await;
        loop {
            tokio::select! {
                _ = refresh.tick() => {
                    if let Err(e) = self.refresh(&http, &config_url, &internal_token).await {
                        tracing::warn!(url = %config_url, error = %e,
                            "config center unreachable; agents keep the configuration in force");
                    }
                }
                _ = beats.tick() => {
                    if let Err(e) = self.flush(&http, &beats_url, &internal_token).await {
                        tracing::warn!(url = %beats_url, error = %e,
                            "heartbeats not delivered; they go with the next batch");
                    }
                }
                _ = stop.changed() => {
                    let _ = self.flush(&http, &beats_url, &internal_token).await;
                    return;
                }
            }
        }
    }
}

fn authenticate(req: &HttpRequest, st: &State) -> Result<TenantId, ApiError> {
    let Some(token) = argus_core::http::bearer_token(req) else {
        st.metrics.auth_failures.inc();
        return Err(ApiError::unauthorized(
            "missing agent token: send Authorization: Bearer <token>",
        ));
    };
    st.tokens.tenant_of(token).ok_or_else(|| {
        st.metrics.auth_failures.inc();
        ApiError::unauthorized("unknown agent token")
    })
}

/// A host name as web accepts it.
fn check_host(host: &str) -> Result<(), ApiError> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '%')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_field(
            "host",
            "must be 1 to 255 letters, digits or . _ - : / @ %",
        ))
    }
}

fn agents_of(req: &HttpRequest) -> Result<&Arc<Agents>, ApiError> {
    req.app_data::<web::Data<Arc<Agents>>>()
        .map(|d| d.get_ref())
        .filter(|a| a.has_center)
        .ok_or_else(|| {
            ApiError::not_found(
                "this transfer has no config center: agents pull their configuration from web (config_url)",
            )
        })
}

/// `GET /api/v1/agent/config?host=H` (agent token): the host's configuration, from the
/// tenant's agent configuration last pulled from web.
pub async fn config(
    req: HttpRequest,
    q: web::Query<argus_core::agentconf::HostParam>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let tenant = authenticate(&req, &st)?;
    check_host(&q.host)?;
    let agents = agents_of(&req)?;
    let Some(cfg) = agents.config_of(&tenant, &q.host) else {
        return Err(ApiError::unavailable(
            "no agent configuration received from the config center yet",
            30,
        ));
    };
    let etag = format!("\"{}\"", cfg.version);
    let matches = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok(HttpResponse::NotModified()
            .insert_header(("ETag", etag))
            .finish());
    }
    Ok(HttpResponse::Ok().insert_header(("ETag", etag)).json(cfg))
}

/// `POST /api/v1/agent/heartbeat` (agent token): kept for the next batch to web.
pub async fn heartbeat(
    req: HttpRequest,
    body: web::Json<Heartbeat>,
    st: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let tenant = authenticate(&req, &st)?;
    let hb = body.into_inner();
    check_host(&hb.host)?;
    hb.check_tags()
        .map_err(|e| ApiError::bad_field(e.field, e.reason))?;
    agents_of(&req)?.heartbeat(tenant, hb, argus_core::time::now_secs());
    Ok(HttpResponse::Ok().json(serde_json::json!({"ok": true})))
}

/// Registers the agents' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/agent/config", web::get().to(config))
        .route("/api/v1/agent/heartbeat", web::post().to(heartbeat));
}

/// The JSON answer `value` to a query, gzip-compressed when the caller accepts it and it is
/// worth it, counted as query results sent to the caller's region (`X-Argus-Region`).
pub fn answer_json<T: Serialize>(req: &HttpRequest, value: &T) -> HttpResponse {
    let json = serde_json::to_vec(value).expect("json");
    answer_body(req, "application/json", json, true)
}

/// A query's answer `body` of `content_type`, gzip-compressed when `compress`, the caller
/// accepts it and it is worth it, counted as query results sent to the caller's region.
pub fn answer_body(
    req: &HttpRequest,
    content_type: &str,
    json: Vec<u8>,
    compress: bool,
) -> HttpResponse {
    let gzip = compress
        && json.len() > 512
        && req
            .headers()
            .get("accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let body = if gzip {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = enc.write_all(&json);
        enc.finish().ok()
    } else {
        None
    };
    let mut r = HttpResponse::Ok();
    r.content_type(content_type);
    let body = match body {
        Some(z) => {
            r.insert_header(("Content-Encoding", "gzip"));
            z
        }
        None => json,
    };
    let resp = r.body(body);
    let to = req
        .headers()
        .get(REGION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(a) = req.app_data::<web::Data<Arc<Agents>>>() {
        let status_line = "HTTP/1.1 ".len() + resp.status().to_string().len();
        // content-length and date are added after the handler.
        let head = http_head_len(
            status_line,
            resp.headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes())),
            55,
        );
        let body = match actix_web::body::MessageBody::size(resp.body()) {
            actix_web::body::BodySize::Sized(n) => n,
            _ => 0,
        };
        a.xr.sent(CrossKind::Query, to, head + body);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(host: &str, version: &str, uptime: u64) -> Heartbeat {
        Heartbeat {
            host: host.into(),
            agent_version: version.into(),
            uptime_secs: uptime,
            ..Default::default()
        }
    }

    #[test]
    fn batches_send_changed_hosts_whole_and_the_others_as_alive() {
        let d = tempfile::tempdir().unwrap();
        let a = Agents::new(
            "east",
            CrossRegion::new(&argus_core::telemetry::Registry::new(), "east"),
            d.path().join("agents.json"),
            true,
        );
        let t = TenantId::new("acme").unwrap();
        assert!(a.take_batch(0).is_none(), "nothing to send");
        a.heartbeat(t.clone(), hb("h1", "1", 10), 100);
        a.heartbeat(t.clone(), hb("h2", "1", 10), 101);
        let (b, taken) = a.take_batch(110).unwrap();
        assert_eq!((b.changed.len(), b.alive.len()), (2, 0));
        a.batch_taken(taken, HeartbeatBatchAnswer::default());
        // A minute later: h1 unchanged, h2 upgraded.
        a.heartbeat(t.clone(), hb("h1", "1", 70), 160);
        a.heartbeat(t.clone(), hb("h2", "2", 70), 161);
        let (b, taken) = a.take_batch(170).unwrap();
        assert_eq!(b.changed.len(), 1);
        assert_eq!(b.changed[0].heartbeat.host, "h2");
        assert_eq!(b.alive[&t], vec![("h1".to_string(), 160)]);
        // Web lost h1: it goes whole next time. The batch after a failure is merged.
        a.batch_taken(
            taken,
            HeartbeatBatchAnswer {
                unknown: vec![(t.clone(), "h1".into())],
            },
        );
        a.heartbeat(t.clone(), hb("h1", "1", 130), 220);
        let (b, taken) = a.take_batch(230).unwrap();
        assert_eq!(b.changed.len(), 1);
        a.batch_failed(taken);
        a.heartbeat(t.clone(), hb("h2", "2", 130), 221);
        let (b, _) = a.take_batch(290).unwrap();
        assert_eq!(b.changed.len(), 1, "h1 still whole after the failed batch");
        assert_eq!(b.alive[&t].len(), 1, "h2 alive");
    }

    #[test]
    fn config_comes_from_the_cached_document_after_a_restart() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("agents.json");
        let t = TenantId::new("acme").unwrap();
        let doc = AgentsDocument {
            version: 3,
            tenants: vec![argus_core::agentconf::TenantAgents {
                tenant: t.clone(),
                groups: vec![AgentGroup {
                    hosts: vec!["h1".into()],
                    agent: argus_core::agentconf::AgentRemoteConfig {
                        step_secs: 30,
                        ..Default::default()
                    },
                }],
            }],
        };
        let reg = argus_core::telemetry::Registry::new();
        let a = Agents::new("east", CrossRegion::new(&reg, "east"), file.clone(), true);
        assert!(a.config_of(&t, "h1").is_none(), "nothing before a document");
        Cached {
            etag: Some("\"3\"".into()),
            doc,
        }
        .save(&file)
        .unwrap();
        let again = Agents::new("east", CrossRegion::new(&reg, "east"), file, true);
        assert_eq!(again.config_of(&t, "h1").unwrap().step_secs, 30);
        assert_eq!(again.config_of(&t, "h2").unwrap().step_secs, 0);
        let other = TenantId::new("globex").unwrap();
        assert_eq!(again.config_of(&other, "h1").unwrap().step_secs, 0);
    }
}
