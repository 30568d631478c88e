//! The bounded on-disk buffer: while no transfer answers, batches are written to segment files
//! (`<seq>-<points>.seg`, zstd-compressed Argus batches) in `data_dir/buffer/`, and replayed in
//! order when a transfer comes back. A segment is deleted only once a transfer acknowledged it,
//! so points survive an agent restart.
//!
//! Past `max_bytes` the oldest segments are dropped; their points are counted
//! (`argus_agent_points_dropped_total{reason="buffer_full"}`) and logged, never silently.

use argus_core::telemetry::{Counter, Gauge};
use argus_core::wire::{decode_body, encode_body, Batch, Encoding};
use argus_core::Point;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most bytes a segment may decompress to (a batch of 5000 points is well under 4 MiB).
const MAX_SEGMENT_DECOMPRESSED: usize = 256 << 20;

/// One segment file.
#[derive(Debug, Clone)]
struct Segment {
    seq: u64,
    points: u64,
    bytes: u64,
}

impl Segment {
    fn name(&self) -> String {
        format!("{:016}-{}.seg", self.seq, self.points)
    }

    fn parse(name: &str, bytes: u64) -> Option<Segment> {
        let stem = name.strip_suffix(".seg")?;
        let (seq, points) = stem.split_once('-')?;
        Some(Segment {
            seq: seq.parse().ok()?,
            points: points.parse().ok()?,
            bytes,
        })
    }
}

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

/// The on-disk buffer.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    next_seq: u64,
    bytes: u64,
    points: u64,
    metrics: SpoolMetrics,
}

impl Spool {
    /// Opens (creating) the buffer in `dir`, finding the segments a previous run left.
    pub fn open(dir: &Path, max_bytes: u64, metrics: SpoolMetrics) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("buffer directory {}: {e}", dir.display()))
        })?;
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // A write interrupted by a crash: never acknowledged as buffered, so the points
                // were still in memory then, and are lost with the process.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            if let Some(s) = Segment::parse(&name, entry.metadata()?.len()) {
                segments.push(s);
            }
        }
        segments.sort_by_key(|s| s.seq);
        let mut sp = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            next_seq: segments.last().map(|s| s.seq + 1).unwrap_or(0),
            bytes: segments.iter().map(|s| s.bytes).sum(),
            points: segments.iter().map(|s| s.points).sum(),
            segments: segments.into(),
            metrics,
        };
        if !sp.segments.is_empty() {
            tracing::info!(
                segments = sp.segments.len(),
                points = sp.points,
                bytes = sp.bytes,
                "found buffered points from a previous run; replaying them first"
            );
        }
        sp.enforce_bound();
        sp.publish();
        Ok(sp)
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Points buffered.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Bytes buffered.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes `points` as a new segment (after all others), then drops the oldest segments past
    /// the bound.
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
        let seg = Segment {
            seq: self.next_seq,
            points: points.len() as u64,
            bytes: body.len() as u64,
        };
        let path = self.dir.join(seg.name());
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_data()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        self.next_seq += 1;
        self.bytes += seg.bytes;
        self.points += seg.points;
        self.segments.push_back(seg);
        self.enforce_bound();
        self.publish();
        Ok(())
    }

    /// The oldest buffered batch, if any. A segment that cannot be read back is removed, its
    /// points counted as dropped and logged, and the next one is tried.
    pub fn head(&mut self) -> Option<Vec<Point>> {
        while let Some(seg) = self.segments.front().cloned() {
            match self.read(&seg) {
                Ok(points) => return Some(points),
                Err(reason) => {
                    tracing::error!(segment = %seg.name(), points = seg.points, %reason, "dropping an unreadable buffer segment");
                    self.metrics.dropped_corrupt.add(seg.points);
                    self.pop();
                }
            }
        }
        None
    }

    fn read(&self, seg: &Segment) -> Result<Vec<Point>, String> {
        let raw = std::fs::read(self.dir.join(seg.name())).map_err(|e| e.to_string())?;
        let json = decode_body(Encoding::Zstd, &raw, MAX_SEGMENT_DECOMPRESSED)
            .map_err(|e| e.to_string())?;
        let batch: Batch = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
        Ok(batch.points)
    }

    /// Removes the oldest segment (once a transfer acknowledged it).
    pub fn pop(&mut self) {
        if let Some(seg) = self.segments.pop_front() {
            if let Err(e) = std::fs::remove_file(self.dir.join(seg.name())) {
                tracing::error!(segment = %seg.name(), error = %e, "cannot remove a sent buffer segment");
            }
            self.bytes -= seg.bytes;
            self.points -= seg.points;
            self.publish();
        }
    }

    fn enforce_bound(&mut self) {
        while self.bytes > self.max_bytes && !self.segments.is_empty() {
            let seg = self.segments.front().cloned().expect("not empty");
            tracing::warn!(
                segment = %seg.name(),
                points = seg.points,
                max_bytes = self.max_bytes,
                "on-disk buffer full: dropping its oldest points"
            );
            self.metrics.dropped_full.add(seg.points);
            self.pop();
        }
    }

    fn publish(&self) {
        self.metrics.bytes.set(self.bytes as i64);
        self.metrics.points.set(self.points as i64);
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
        let d = tempfile::tempdir().unwrap();
        let m = metrics();
        let mut s = Spool::open(d.path(), 1 << 20, m.clone()).unwrap();
        s.append(&pts(0, 10)).unwrap();
        let one = s.bytes();
        s.max_bytes = one * 2 + one / 2;
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
        s.append(&pts(0, 4)).unwrap();
        s.append(&pts(4, 1)).unwrap();
        std::fs::write(d.path().join(s.segments[0].name()), b"garbage").unwrap();
        assert_eq!(s.head().unwrap(), pts(4, 1));
        assert_eq!(m.dropped_corrupt.get(), 4);
    }
}
