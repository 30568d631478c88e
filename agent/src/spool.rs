//! The bounded on-disk buffer: while no transfer answers, batches are written to an
//! [`argus_core::log`] queue in `data_dir/buffer/`, and replayed in order when a transfer comes
//! back. A batch is passed (the log's cursor moved past it) only once a transfer acknowledged
//! it, so points survive an agent restart; a fully replayed buffer leaves an empty directory.
//!
//! A record is `points: u32 LE` followed by the zstd-compressed Argus batch: the count lets the
//! buffer know what it holds and what it drops without decompressing.
//!
//! Past `max_bytes` the oldest segments are dropped by the log, which hands their unsent
//! batches back; their points are counted
//! (`argus_agent_points_dropped_total{reason="buffer_full"}`) and logged, never silently.
//! A buffer of the format before (`<seq>-<points>.seg` files) is taken over at open (`legacy`).

use argus_core::log::{Bound, Log, LogOptions, Overflow, Position};
use argus_core::telemetry::{Counter, Gauge};
use argus_core::wire::{decode_body, encode_body, Batch, Encoding};
use argus_core::Point;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most bytes a batch may decompress to (a batch of 5000 points is well under 4 MiB).
const MAX_BATCH_DECOMPRESSED: usize = 256 << 20;

/// Largest segment: drop-oldest deletes a whole segment, so segments are an eighth of the bound
/// at most (a tiny bound gives one batch per segment, as the buffer before this log did).
const MAX_SEGMENT_BYTES: u64 = 4 << 20;

/// The counters the buffer reports in `/metrics`.
#[derive(Clone)]
pub struct SpoolMetrics {
    /// Points dropped because the buffer was full.
    pub dropped_full: Arc<Counter>,
    /// Points dropped because a segment could not be read back.
    pub dropped_corrupt: Arc<Counter>,
    /// Bytes on disk.
    pub bytes: Arc<Gauge>,
    /// Points on disk.
    pub points: Arc<Gauge>,
}

/// The oldest batch as last read: where it starts and ends, and its points.
struct Head {
    start: Position,
    end: Position,
    points: Vec<Point>,
}

/// The on-disk buffer.
pub struct Spool {
    dir: PathBuf,
    log: Log,
    head: Option<Head>,
    points: u64,
    metrics: SpoolMetrics,
}

/// The point count a record starts with (0 when it is too short to have one).
fn count(record: &[u8]) -> u64 {
    record.get(..4).map_or(0, |b| {
        u32::from_le_bytes(b.try_into().expect("4 bytes")) as u64
    })
}

fn record(points: u64, body: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(4 + body.len());
    r.extend_from_slice(&(points.min(u32::MAX as u64) as u32).to_le_bytes());
    r.extend_from_slice(body);
    r
}

impl Spool {
    /// Opens (creating) the buffer in `dir`, finding what a previous run left.
    pub fn open(dir: &Path, max_bytes: u64, metrics: SpoolMetrics) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("buffer directory {}: {e}", dir.display()))
        })?;
        let segment_bytes = (max_bytes / 8).clamp(1, MAX_SEGMENT_BYTES);
        if legacy::present(dir)? {
            // Without the bound: the bound is applied below, counting what it drops.
            let (log, _) = Log::open(dir, LogOptions::queue(segment_bytes, None), |_, _| {})?;
            legacy::take_over(dir, &log)?;
        }
        let bound = Bound {
            max_bytes,
            overflow: Overflow::DropOldest,
        };
        let (log, _) = Log::open(
            dir,
            LogOptions::queue(segment_bytes, Some(bound)),
            |_, _| {},
        )?;
        let mut sp = Spool {
            dir: dir.to_path_buf(),
            log,
            head: None,
            points: 0,
            metrics,
        };
        let mut pos = sp.log.cursor();
        loop {
            let (records, next) = sp.log.read(pos, 1024, 16 << 20)?;
            if records.is_empty() {
                break;
            }
            sp.points += records.iter().map(|r| count(r)).sum::<u64>();
            pos = next;
        }
        if sp.points > 0 {
            tracing::info!(
                points = sp.points,
                bytes = sp.bytes(),
                "found buffered points from a previous run; replaying them first"
            );
        }
        let trimmed = sp.log.trim().map_err(std::io::Error::other)?;
        sp.count_dropped(&trimmed.dropped);
        sp.publish();
        Ok(sp)
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.log.is_drained()
    }

    /// Points buffered.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Bytes buffered.
    pub fn bytes(&self) -> u64 {
        self.log.size()
    }

    /// Writes `points` as a new record (after all others); the log then drops the oldest
    /// segments past the bound, which are counted.
    pub fn append(&mut self, points: &[Point]) -> std::io::Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let body = encode_body(
            Encoding::Zstd,
            &Batch {
                points: points.to_vec(),
            }
            .to_json(),
        );
        let written = self
            .log
            .write([&record(points.len() as u64, &body)[..]])
            .map_err(std::io::Error::other)?;
        self.points += points.len() as u64;
        self.count_dropped(&written.dropped);
        self.publish();
        Ok(())
    }

    fn count_dropped(&mut self, dropped: &[Vec<u8>]) {
        if dropped.is_empty() {
            return;
        }
        let points: u64 = dropped.iter().map(|r| count(r)).sum();
        tracing::warn!(
            batches = dropped.len(),
            points,
            dir = %self.dir.display(),
            "on-disk buffer full: dropping its oldest points"
        );
        self.metrics.dropped_full.add(points);
        self.points = self.points.saturating_sub(points);
        // The head may have been among them.
        self.head = None;
    }

    /// The oldest buffered batch, if any. A batch that cannot be read back is passed, its
    /// points counted as dropped and logged, and the next one is tried.
    pub fn head(&mut self) -> Option<Vec<Point>> {
        loop {
            if let Some(h) = &self.head {
                return Some(h.points.clone());
            }
            let start = self.log.cursor();
            let (records, end) = match self.log.read(start, 1, usize::MAX) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the on-disk buffer");
                    return None;
                }
            };
            let Some(rec) = records.into_iter().next() else {
                if end != start {
                    // Only damaged records (reported by the log): pass them.
                    let _ = self.log.consume(end);
                    continue;
                }
                return None;
            };
            match Self::decode(&rec) {
                Ok(points) => {
                    self.head = Some(Head { start, end, points });
                }
                Err(reason) => {
                    let n = count(&rec);
                    tracing::error!(points = n, %reason, "dropping an unreadable buffered batch");
                    self.metrics.dropped_corrupt.add(n);
                    self.points = self.points.saturating_sub(n);
                    if let Err(e) = self.log.consume(end) {
                        tracing::error!(error = %e, "cannot pass an unreadable buffered batch");
                        return None;
                    }
                    self.publish();
                }
            }
        }
    }

    fn decode(rec: &[u8]) -> Result<Vec<Point>, String> {
        let body = rec.get(4..).ok_or("record shorter than its header")?;
        let json =
            decode_body(Encoding::Zstd, body, MAX_BATCH_DECOMPRESSED).map_err(|e| e.to_string())?;
        let batch: Batch = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
        Ok(batch.points)
    }

    /// Passes the oldest batch (once a transfer acknowledged it).
    pub fn pop(&mut self) {
        if self.head.is_none() && self.head().is_none() {
            return;
        }
        let h = self.head.take().expect("head just read");
        // Dropped meanwhile (bound): the cursor has moved on already.
        if self.log.cursor() != h.start {
            return;
        }
        if let Err(e) = self.log.consume(h.end) {
            tracing::error!(error = %e, "cannot record a sent buffered batch");
            return;
        }
        self.points = self.points.saturating_sub(h.points.len() as u64);
        self.publish();
    }

    fn publish(&self) {
        self.metrics.bytes.set(self.bytes() as i64);
        self.metrics.points.set(self.points as i64);
    }
}

/// LEGACY, for upgrades only: the buffer format before [`argus_core::log`], one file per batch,
/// `<seq:016>-<points>.seg`, holding the zstd-compressed Argus batch (`.tmp` files are writes a
/// crash interrupted, never acknowledged). Found at open, the batches are copied into the log in
/// `seq` order, durably, and the files are then removed. A crash between the two steps copies
/// them again at the next start (a point sent twice is stored once). Remove once no buffer of
/// that format is left.
mod legacy {
    use argus_core::log::Log;
    use std::io;
    use std::path::{Path, PathBuf};

    /// An old batch file: its sequence number, its points and its path.
    type OldBatch = (u64, u64, PathBuf);

    /// The old batch files in `dir`, and the interrupted writes.
    fn files(dir: &Path) -> io::Result<(Vec<OldBatch>, Vec<PathBuf>)> {
        let (mut segs, mut tmps) = (Vec::new(), Vec::new());
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") && name.contains('-') {
                tmps.push(e.path());
                continue;
            }
            let parsed = name.strip_suffix(".seg").and_then(|stem| {
                let (seq, points) = stem.split_once('-')?;
                Some((seq.parse().ok()?, points.parse().ok()?))
            });
            if let Some((seq, points)) = parsed {
                segs.push((seq, points, e.path()));
            }
        }
        segs.sort();
        Ok((segs, tmps))
    }

    /// True when `dir` holds anything of the old format.
    pub(super) fn present(dir: &Path) -> io::Result<bool> {
        let (segs, tmps) = files(dir)?;
        Ok(!segs.is_empty() || !tmps.is_empty())
    }

    /// Copies the batches of an old-format buffer in `dir` into `log` and removes the files.
    pub(super) fn take_over(dir: &Path, log: &Log) -> io::Result<()> {
        let (segs, tmps) = files(dir)?;
        for (_, points, path) in &segs {
            // One write each: a write's records share a segment, and the bound drops whole
            // segments, so batches stay droppable one by one.
            let record = super::record(*points, &std::fs::read(path)?);
            log.write([&record[..]]).map_err(io::Error::other)?;
        }
        tracing::info!(
            batches = segs.len(),
            points = segs.iter().map(|s| s.1).sum::<u64>(),
            "buffer: took over the batches of the previous format"
        );
        for path in segs.iter().map(|s| &s.2).chain(&tmps) {
            std::fs::remove_file(path)?;
        }
        argus_core::log::sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::Tags;

    fn metrics() -> SpoolMetrics {
        SpoolMetrics {
            dropped_full: Arc::default(),
            dropped_corrupt: Arc::default(),
            bytes: Arc::default(),
            points: Arc::default(),
        }
    }

    fn pts(from: i64, n: i64) -> Vec<Point> {
        (from..from + n)
            .map(|i| Point::gauge("h", "m", Tags::new(), i as f64, 1_700_000_000 + i))
            .collect()
    }

    #[test]
    fn keeps_order_across_reopen() {
        let d = tempfile::tempdir().unwrap();
        let m = metrics();
        let mut s = Spool::open(d.path(), 1 << 20, m.clone()).unwrap();
        s.append(&pts(0, 3)).unwrap();
        s.append(&pts(3, 2)).unwrap();
        assert_eq!(m.points.get(), 5);
        drop(s);
        let mut s = Spool::open(d.path(), 1 << 20, m.clone()).unwrap();
        assert_eq!(s.head().unwrap(), pts(0, 3));
        s.pop();
        s.append(&pts(5, 1)).unwrap();
        assert_eq!(s.head().unwrap(), pts(3, 2));
        s.pop();
        assert_eq!(s.head().unwrap(), pts(5, 1));
        s.pop();
        assert!(s.head().is_none());
        assert_eq!((m.points.get(), m.bytes.get()), (0, 0));
    }

    #[test]
    fn drops_oldest_past_the_bound_and_counts() {
        // The size of one batch of 10 points, measured in a buffer of its own.
        let one = {
            let d = tempfile::tempdir().unwrap();
            let mut s = Spool::open(d.path(), 1 << 20, metrics()).unwrap();
            s.append(&pts(0, 10)).unwrap();
            s.bytes()
        };
        let d = tempfile::tempdir().unwrap();
        let m = metrics();
        let mut s = Spool::open(d.path(), one * 2 + one / 2, m.clone()).unwrap();
        s.append(&pts(0, 10)).unwrap();
        s.append(&pts(10, 10)).unwrap();
        s.append(&pts(20, 10)).unwrap();
        assert_eq!(m.dropped_full.get(), 10);
        assert_eq!(s.head().unwrap()[0].value, 10.0);
        assert_eq!(s.points(), 20);
    }

    #[test]
    fn unreadable_segment_is_counted_and_skipped() {
        let d = tempfile::tempdir().unwrap();
        let m = metrics();
        let mut s = Spool::open(d.path(), 1 << 20, m.clone()).unwrap();
        // A batch of 4 points whose body does not decompress (intact as a log record).
        s.log.write([&record(4, b"garbage")[..]]).unwrap();
        s.append(&pts(4, 1)).unwrap();
        assert_eq!(s.head().unwrap(), pts(4, 1));
        assert_eq!(m.dropped_corrupt.get(), 4);
    }

    /// Upgrade: a buffer directory of the previous format (`<seq:016>-<points>.seg` files, each
    /// a zstd Argus batch, written as that code did, and an interrupted `.tmp`) is taken over at
    /// open: its batches come out first and in order, then the new ones, also across a
    /// restart; the old files are gone; the bound applies to what was taken over and counts it.
    #[test]
    fn a_buffer_of_the_previous_format_is_replayed_after_an_upgrade() {
        let d = tempfile::tempdir().unwrap();
        let old = |seq: u64, p: &[Point]| {
            let body = encode_body(Encoding::Zstd, &Batch { points: p.to_vec() }.to_json());
            let name = format!("{:016}-{}.seg", seq, p.len());
            std::fs::write(d.path().join(name), body).unwrap();
        };
        old(7, &pts(3, 2));
        old(5, &pts(0, 3));
        std::fs::write(d.path().join(format!("{:016}-{}.tmp", 8, 9)), b"half").unwrap();
        let m = metrics();
        let mut s = Spool::open(d.path(), 1 << 20, m.clone()).unwrap();
        assert_eq!(s.points(), 5);
        assert_eq!(m.points.get(), 5);
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".seg") || n.ends_with("-9.tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        s.append(&pts(5, 1)).unwrap();
        drop(s);
        let mut s = Spool::open(d.path(), 1 << 20, m.clone()).unwrap();
        assert_eq!(s.points(), 6);
        let mut got = Vec::new();
        while let Some(b) = s.head() {
            got.extend(b);
            s.pop();
        }
        assert_eq!(got, pts(0, 6));
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);

        // An old buffer bigger than the bound: the oldest batches go, counted.
        let d = tempfile::tempdir().unwrap();
        for seq in 0..4 {
            let p = pts(seq as i64 * 10, 10);
            let body = encode_body(Encoding::Zstd, &Batch { points: p }.to_json());
            std::fs::write(d.path().join(format!("{seq:016}-10.seg")), body).unwrap();
        }
        let m = metrics();
        // Each record is its file plus the count and the log's header: room for the last two
        // and half of another.
        let rec = |seq: u64| {
            std::fs::metadata(d.path().join(format!("{seq:016}-10.seg")))
                .unwrap()
                .len()
                + 12
        };
        let bound = rec(2) + rec(3) + rec(1) / 2;
        let mut s = Spool::open(d.path(), bound, m.clone()).unwrap();
        assert_eq!(m.dropped_full.get(), 20);
        assert_eq!(s.points(), 20);
        assert_eq!(s.head().unwrap()[0].value, 20.0);
    }
}
