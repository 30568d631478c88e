//! The durable outbox: events are appended to a log on disk before the points that caused them
//! are acknowledged, and a sender delivers them to alarm in order, retrying with backoff until
//! one alarm instance acknowledges (any 2xx). A crash or a partition delays events, never loses
//! them; alarm deduplicates the repeats on `Event::idempotency_key`.
//!
//! Layout of the outbox directory: `events.log` (one JSON event a line) and `acked` (the byte
//! offset in the log up to which alarm has acknowledged). The log is truncated once everything
//! in it is acknowledged and it has grown past a threshold.

use argus_core::event::Event;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const LOG: &str = "events.log";
const ACKED: &str = "acked";
const COMPACT_AT: u64 = 4 << 20;

struct Inner {
    file: File,
    len: u64,
    acked: u64,
}

/// The outbox: append here, and [`run_sender`] delivers.
pub struct Outbox {
    dir: PathBuf,
    inner: Mutex<Inner>,
    reader: File,
    notify: Notify,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, dropping a torn last line left by a crash.
    pub fn open(dir: &Path) -> io::Result<Arc<Self>> {
        std::fs::create_dir_all(dir).map_err(|e| ctx(e, dir))?;
        let path = dir.join(LOG);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| ctx(e, &path))?;
        let mut len = file.metadata()?.len();
        if len > 0 {
            // Keep only whole lines: find the last newline.
            let mut buf = Vec::new();
            file.seek(SeekFrom::Start(0))?;
            file.read_to_end(&mut buf)?;
            let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) as u64;
            if whole != len {
                tracing::warn!(dropped = len - whole, "outbox: dropping a torn last event");
                file.set_len(whole)?;
                len = whole;
            }
        }
        let acked = match std::fs::read_to_string(dir.join(ACKED)) {
            Ok(s) => s.trim().parse::<u64>().unwrap_or(0).min(len),
            Err(_) => 0,
        };
        let reader = File::open(&path).map_err(|e| ctx(e, &path))?;
        Ok(Arc::new(Outbox {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner { file, len, acked }),
            reader,
            notify: Notify::new(),
        }))
    }

    /// Appends `events` durably (written and synced) and wakes the sender.
    pub fn append(&self, events: &[Event]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(events.len() * 512);
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        {
            let mut g = self.inner.lock().expect("outbox lock");
            g.file.write_all(&buf)?;
            g.file.sync_data()?;
            g.len += buf.len() as u64;
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Bytes written but not yet acknowledged.
    pub fn pending_bytes(&self) -> u64 {
        let g = self.inner.lock().expect("outbox lock");
        g.len - g.acked
    }

    /// Up to `max` unacknowledged events from the oldest, the byte offset just after them, and
    /// whether that offset moved (it also moves past unreadable lines).
    fn peek(&self, max: usize) -> io::Result<(Vec<Event>, u64, bool)> {
        let (start, end) = {
            let g = self.inner.lock().expect("outbox lock");
            (g.acked, g.len)
        };
        let want = (end - start).min(8 << 20) as usize;
        let mut buf = vec![0u8; want];
        self.reader.read_exact_at(&mut buf, start)?;
        let mut events = Vec::new();
        let mut off = 0usize;
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if events.len() >= max || !line.ends_with(b"\n") {
                break;
            }
            off += line.len();
            match serde_json::from_slice::<Event>(line) {
                Ok(e) => events.push(e),
                Err(e) => tracing::error!(error = %e, "outbox: skipping an unreadable event"),
            }
        }
        Ok((events, start + off as u64, off > 0))
    }

    /// Records that everything before `offset` is acknowledged; compacts when all is.
    fn ack(&self, offset: u64) -> io::Result<()> {
        let mut g = self.inner.lock().expect("outbox lock");
        g.acked = offset;
        if g.acked == g.len && g.len >= COMPACT_AT {
            g.file.set_len(0)?;
            g.len = 0;
            g.acked = 0;
        }
        let tmp = self.dir.join("acked.tmp");
        std::fs::write(&tmp, g.acked.to_string())?;
        std::fs::rename(&tmp, self.dir.join(ACKED))?;
        Ok(())
    }

    /// Sets `events` aside in `rejected.log` (alarm refused them as invalid: retrying cannot help).
    fn reject(&self, events: &[Event]) -> io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("rejected.log"))?;
        for e in events {
            serde_json::to_writer(&mut f, e).map_err(io::Error::other)?;
            f.write_all(b"\n")?;
        }
        f.sync_data()
    }
}

fn ctx(e: io::Error, p: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("outbox {}: {e}", p.display()))
}

/// Where and how the sender delivers.
#[derive(Clone)]
pub struct SenderConfig {
    /// Alarm base URLs, tried in turn.
    pub alarms: Vec<String>,
    /// Internal credential.
    pub token: String,
    /// Most events per request.
    pub batch: usize,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// HTTP client (with its timeout).
    pub client: reqwest::Client,
    /// Counts the events sent to the global zone (`argus_cross_region_bytes_sent_total`).
    pub xr: argus_core::telemetry::CrossRegion,
}

enum Outcome {
    Acked,
    /// Alarm refused the events themselves (`argus_core::http::Failure::Refused`).
    Refused(String),
    Failed(String),
}

async fn post(cfg: &SenderConfig, url: &str, events: &[Event]) -> Outcome {
    let url = format!("{}/internal/v1/events", url.trim_end_matches('/'));
    let mut req = cfg
        .client
        .post(&url)
        .header(argus_core::telemetry::REGION_HEADER, cfg.xr.region())
        .json(&serde_json::json!({ "events": events }));
    if !cfg.token.is_empty() {
        req = req.bearer_auth(&cfg.token);
    }
    let sent = match req.build() {
        Ok(req) => {
            cfg.xr.sent(
                argus_core::telemetry::CrossKind::Events,
                argus_core::telemetry::GLOBAL_REGION,
                argus_core::http::request_wire_len(&req),
            );
            cfg.client.execute(req).await
        }
        Err(e) => Err(e),
    };
    match sent {
        Ok(r) if r.status().is_success() => Outcome::Acked,
        Ok(r) => {
            let st = r.status();
            let body = r.text().await.unwrap_or_default();
            let msg = format!("{url}: {st}: {body}");
            // By the one retry rule: a busy alarm or a wrong token/URL keeps the events in
            // the outbox; only a refusal of the events themselves sets them aside.
            if !argus_core::http::Failure::of_status(st.as_u16()).keeps_data() {
                Outcome::Refused(msg)
            } else {
                Outcome::Failed(msg)
            }
        }
        Err(e) => Outcome::Failed(format!("{url}: {e}")),
    }
}

/// Delivers the outbox forever (abort the task to stop it: everything is on disk). Events go in log order; a batch is retried
/// (rotating through the alarm instances, backing off) until acknowledged. A batch alarm refuses
/// as invalid is retried one event at a time, and only the refused event is set aside.
pub async fn run_sender(outbox: Arc<Outbox>, cfg: SenderConfig) {
    if cfg.alarms.is_empty() {
        tracing::warn!("no alarm configured: events stay in the outbox");
        return;
    }
    let mut backoff = Duration::from_millis(200);
    let mut target = 0usize;
    let mut single = false;
    loop {
        let (events, end, moved) = match outbox.peek(if single { 1 } else { cfg.batch }) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot read");
                (Vec::new(), 0, false)
            }
        };
        if events.is_empty() {
            if moved {
                let _ = outbox.ack(end); // only unreadable lines: skip them
                continue;
            }
            tokio::select! {
                _ = outbox.notify.notified() => continue,
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        }
        let url = &cfg.alarms[target % cfg.alarms.len()];
        let outcome = post(&cfg, url, &events).await;
        match outcome {
            Outcome::Acked => {
                if let Err(e) = outbox.ack(end) {
                    tracing::error!(error = %e, "outbox: cannot record acknowledgement");
                }
                backoff = Duration::from_millis(200);
                single = false;
            }
            Outcome::Refused(msg) if events.len() > 1 => {
                tracing::warn!(%msg, "alarm refused a batch; resending one event at a time");
                single = true;
            }
            Outcome::Refused(msg) => {
                tracing::error!(%msg, id = %events[0].id, "alarm refused an event; set aside in rejected.log");
                let _ = outbox.reject(&events);
                let _ = outbox.ack(end);
            }
            Outcome::Failed(msg) => {
                tracing::warn!(%msg, retry_in_ms = backoff.as_millis() as u64, "events not delivered");
                target += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::event::{EventId, EventStatus};
    use argus_core::strategy::Priority;
    use argus_core::{SeriesKey, Tags, TenantId};

    fn ev(occ: u64) -> Event {
        let t = TenantId::new("acme").unwrap();
        let series = SeriesKey::new(t.clone(), "h1", "cpu", Tags::new());
        Event {
            id: EventId::of(1, &series),
            tenant: t,
            status: EventStatus::Problem,
            occurrence: occ,
            strategy_id: 1,
            template_id: None,
            series,
            priority: Priority::P0,
            condition: "all(#1) > 1".into(),
            value: 2.0,
            timestamp: 10,
            alarm_count: 1,
            note: String::new(),
            region: "r".into(),
            rule: None,
        }
    }

    #[test]
    fn survives_reopen_torn_lines_and_acks() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.append(&[ev(1), ev(2), ev(3)]).unwrap();
        let (got, end, moved) = ob.peek(2).unwrap();
        assert!(moved);
        assert_eq!(
            got.iter().map(|e| e.occurrence).collect::<Vec<_>>(),
            vec![1, 2]
        );
        ob.ack(end).unwrap();
        drop(ob);
        // A crash in the middle of a write leaves half a line: it is dropped on open.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG))
            .unwrap();
        f.write_all(b"{\"id\":\"half").unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        let (got, end, _) = ob.peek(10).unwrap();
        assert_eq!(
            got.iter().map(|e| e.occurrence).collect::<Vec<_>>(),
            vec![3]
        );
        ob.ack(end).unwrap();
        assert_eq!(ob.pending_bytes(), 0);
        let (got, _, moved) = ob.peek(10).unwrap();
        assert!(got.is_empty() && !moved);
    }
}
