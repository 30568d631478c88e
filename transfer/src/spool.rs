//! A durable, bounded, ordered spool of points for one downstream.
//!
//! Points go here when their downstream is down, slow, or still has older points spooled (so
//! order is kept); [`Spool::append`] returns only once the record is on disk (fsync), which is
//! what lets the transfer acknowledge a push. The replayer reads records in order with
//! [`Spool::peek`] and, once the downstream has them, [`Spool::commit`]s the position, which is
//! saved so that a restarted transfer resumes where it stopped. Fully read segments are deleted.
//!
//! The spool is an [`argus_core::log`] queue bounded by `max_bytes` (a write past it is refused,
//! nothing held is dropped). Its records are opaque bytes ([`Spool::append_bytes`],
//! [`Spool::peek_bytes`]); the typed API stores each batch of points as the zstd-compressed JSON
//! array of the points (each carrying its tenant). A torn record at the end (a crash
//! mid-append, never acknowledged) is dropped at open. A spool of the format before is taken
//! over at open (`legacy`).

use argus_core::log::{Bound, Log, LogErrorKind, LogOptions, Overflow};
use argus_core::Point;
use std::path::{Path, PathBuf};

pub use argus_core::log::Position;

/// Records read from the cursor, with the position after them.
pub type Records = (Vec<Vec<u8>>, Position);

/// Why the spool could not take or give points.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool holds its configured maximum.
    #[error("spool {dir} is full ({bytes} bytes, limit {limit})")]
    Full {
        /// The spool directory.
        dir: String,
        /// Bytes held.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The disk failed.
    #[error("spool {dir}: {source}")]
    Io {
        /// The spool directory.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One downstream's spool.
pub struct Spool {
    dir: PathBuf,
    log: Log,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, resuming from its saved cursor.
    pub fn open(dir: &Path, segment_bytes: u64, max_bytes: u64) -> Result<Spool, SpoolError> {
        let io = |source| SpoolError::Io {
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        if legacy::present(dir).map_err(io)? {
            // Without the bound: what the old spool held was acknowledged, it must all move.
            let (log, _) =
                Log::open(dir, LogOptions::queue(segment_bytes, None), |_, _| {}).map_err(io)?;
            legacy::take_over(dir, &log).map_err(io)?;
        }
        let bound = Bound {
            max_bytes,
            overflow: Overflow::Refuse,
        };
        let (log, _) = Log::open(
            dir,
            LogOptions::queue(segment_bytes, Some(bound)),
            |_, _| {},
        )
        .map_err(io)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            log,
        })
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            dir: self.dir.display().to_string(),
            source,
        }
    }

    /// Bytes on disk (segments not yet deleted).
    pub fn bytes(&self) -> u64 {
        self.log.size()
    }

    /// True when every spooled point has been replayed.
    pub fn is_empty(&self) -> bool {
        self.log.is_drained()
    }

    /// Appends `points` durably (written and fsynced) as one record.
    pub fn append(&self, points: &[Point]) -> Result<(), SpoolError> {
        let json = serde_json::to_vec(points).expect("points always serialize");
        let payload = zstd::bulk::compress(&json, 1).map_err(|e| self.io(e))?;
        self.append_bytes(&payload)
    }

    /// Appends one opaque record durably (written and fsynced).
    pub fn append_bytes(&self, record: &[u8]) -> Result<(), SpoolError> {
        match self.log.write([record]) {
            Ok(_) => Ok(()),
            Err(e) => match e.kind {
                LogErrorKind::Full { held, limit } => Err(SpoolError::Full {
                    dir: self.dir.display().to_string(),
                    bytes: held,
                    limit,
                }),
                _ => Err(self.io(std::io::Error::other(e))),
            },
        }
    }

    /// Reads records from the cursor until at least `max_points` points or the end; returns
    /// them with the position after them (to [`commit`](Self::commit) once delivered), or
    /// `None` when nothing is pending. A record that does not decode is skipped with an error.
    pub fn peek(&self, max_points: usize) -> Result<Option<(Vec<Point>, Position)>, SpoolError> {
        let start = self.log.cursor();
        let mut pos = start;
        let mut out = Vec::new();
        while out.len() < max_points.max(1) {
            let (records, next) = self.log.read(pos, 1, usize::MAX).map_err(|e| self.io(e))?;
            pos = next;
            let Some(record) = records.into_iter().next() else {
                break;
            };
            match decode(&record) {
                Some(points) => out.extend(points),
                None => tracing::error!(dir = %self.dir.display(), segment = pos.segment,
                    "a spool record does not decode as points: skipped"),
            }
        }
        Ok(if out.is_empty() && pos == start {
            None
        } else {
            Some((out, pos))
        })
    }

    /// Up to `max_records` records from the cursor with the position after them, or `None` when
    /// nothing is pending.
    pub fn peek_bytes(&self, max_records: usize) -> Result<Option<Records>, SpoolError> {
        let start = self.log.cursor();
        let (records, pos) = self
            .log
            .read(start, max_records, usize::MAX)
            .map_err(|e| self.io(e))?;
        Ok((!records.is_empty() || pos != start).then_some((records, pos)))
    }

    /// Marks everything before `pos` as delivered: saves the cursor and deletes finished
    /// segments.
    pub fn commit(&self, pos: Position) -> Result<(), SpoolError> {
        self.log
            .consume(pos)
            .map_err(|e| self.io(std::io::Error::other(e)))
    }
}

/// The points of one typed record.
fn decode(record: &[u8]) -> Option<Vec<Point>> {
    let json = zstd::stream::decode_all(record).ok()?;
    serde_json::from_slice(&json).ok()
}

/// LEGACY, for upgrades only: the spool format before [`argus_core::log`]. Segments
/// `<id:016>.seg` of records framed as today (`len u32 LE | crc32 u32 LE | payload`, the same
/// zstd JSON payload) and a `cursor` file `segment:offset`. Found at open, the records after the
/// cursor are copied into the log in order, durably, and the old files are then removed. A
/// crash between the two steps copies them again at the next start (a point written twice is
/// stored once). Remove once no spool of that format is left.
mod legacy {
    use argus_core::log::Log;
    use std::io;
    use std::path::{Path, PathBuf};

    const CURSOR: &str = "cursor";

    /// The old segments in `dir`, by id.
    fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".seg").and_then(|s| s.parse().ok()) {
                v.push((id, e.path()));
            }
        }
        v.sort();
        Ok(v)
    }

    /// True when `dir` holds anything of the old format.
    pub(super) fn present(dir: &Path) -> io::Result<bool> {
        Ok(dir.join(CURSOR).exists() || !segments(dir)?.is_empty())
    }

    /// The intact records of an old segment from `offset`; a torn or corrupt record ends it, as
    /// the old reader skipped the rest of the segment there.
    fn records(data: &[u8], offset: usize) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut off = offset;
        while off + 8 <= data.len() {
            let len = u32::from_le_bytes(data[off..off + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(data[off + 4..off + 8].try_into().expect("4 bytes"));
            let Some(payload) = data.get(off + 8..off + 8 + len) else {
                break;
            };
            if crc32fast::hash(payload) != crc {
                break;
            }
            out.push(payload);
            off += 8 + len;
        }
        out
    }

    /// Copies the unreplayed records of an old-format spool in `dir` into `log` and removes the
    /// old files.
    pub(super) fn take_over(dir: &Path, log: &Log) -> io::Result<()> {
        let (cur_seg, cur_off) = std::fs::read_to_string(dir.join(CURSOR))
            .ok()
            .and_then(|s| {
                let (a, b) = s.trim().split_once(':')?;
                Some((a.parse::<u64>().ok()?, b.parse::<usize>().ok()?))
            })
            .unwrap_or((0, 0));
        let segs = segments(dir)?;
        let mut copied = 0usize;
        for (id, path) in &segs {
            if *id < cur_seg {
                continue;
            }
            let data = std::fs::read(path)?;
            let from = if *id == cur_seg { cur_off } else { 0 };
            let recs = records(&data, from);
            if !recs.is_empty() {
                log.write(recs.iter().copied()).map_err(io::Error::other)?;
            }
            copied += recs.len();
        }
        tracing::info!(dir = %dir.display(), records = copied,
            "spool: took over the records of the previous format");
        for (_, path) in &segs {
            std::fs::remove_file(path)?;
        }
        for name in [CURSOR, "cursor.tmp"] {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        argus_core::log::sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::{Tags, TenantId};
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    /// The log segment `n` of a spool directory.
    fn seg_path(dir: &Path, n: u64) -> PathBuf {
        dir.join(format!("{n:010}.log"))
    }

    fn pts(from: i64, n: i64) -> Vec<Point> {
        (from..from + n)
            .map(|i| {
                let mut p = Point::gauge("h", "m", Tags::new(), i as f64, 1_700_000_000 + i);
                p.tenant = TenantId::new("t").unwrap();
                p
            })
            .collect()
    }

    fn drain(s: &Spool) -> Vec<f64> {
        let mut got = Vec::new();
        while let Some((p, pos)) = s.peek(7).unwrap() {
            got.extend(p.iter().map(|p| p.value));
            s.commit(pos).unwrap();
        }
        got
    }

    #[test]
    fn replays_in_order_across_segments_and_reopen() {
        let d = tempfile::tempdir().unwrap();
        let s = Spool::open(d.path(), 300, 1 << 20).unwrap();
        assert!(s.is_empty());
        for i in 0..20 {
            s.append(&pts(i * 5, 5)).unwrap();
        }
        assert!(!s.is_empty());
        assert!(s.bytes() > 0);
        // Read part, then "crash" (drop without commit of the rest) and reopen.
        let (p, pos) = s.peek(12).unwrap().unwrap();
        assert_eq!(p[0].value, 0.0);
        s.commit(pos).unwrap();
        let done = p.len();
        drop(s);
        let s = Spool::open(d.path(), 300, 1 << 20).unwrap();
        assert!(!s.is_empty());
        s.append(&pts(100, 3)).unwrap();
        let got = drain(&s);
        let want: Vec<f64> = (done as i64..103).map(|i| i as f64).collect();
        assert_eq!(got, want);
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
        let segs = fs::read_dir(d.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
            .count();
        assert_eq!(segs, 0, "replayed segments are deleted");
    }

    #[test]
    fn bounded() {
        let d = tempfile::tempdir().unwrap();
        let s = Spool::open(d.path(), 200, 400).unwrap();
        let mut n = 0;
        while s.append(&pts(n, 3)).is_ok() {
            n += 3;
            assert!(n < 1000, "never full");
        }
        assert!(matches!(s.append(&pts(0, 3)), Err(SpoolError::Full { .. })));
        assert!(s.bytes() <= 400);
        assert_eq!(drain(&s).len() as i64, n);
        s.append(&pts(0, 1)).unwrap();
    }

    #[test]
    fn torn_tail_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let s = Spool::open(d.path(), 1 << 20, 1 << 20).unwrap();
        s.append(&pts(0, 2)).unwrap();
        drop(s);
        let seg = seg_path(d.path(), 1);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2]).unwrap();
        let s = Spool::open(d.path(), 1 << 20, 1 << 20).unwrap();
        s.append(&pts(2, 1)).unwrap();
        assert_eq!(drain(&s), vec![0.0, 1.0, 2.0]);
    }

    /// Writes `points` as the spool before `argus_core::log` did: one framed record.
    fn old_record(points: &[Point]) -> Vec<u8> {
        let payload = zstd::bulk::compress(&serde_json::to_vec(points).unwrap(), 1).unwrap();
        let mut rec = (payload.len() as u32).to_le_bytes().to_vec();
        rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        rec
    }

    /// Upgrade: a spool directory of the previous format (`<id:016>.seg` segments and a
    /// `cursor` file, written byte for byte as that code did) is taken over at open. The
    /// points after the saved cursor are replayed in order, then the new ones; the replayed
    /// ones and a torn tail are not; the old files are gone.
    #[test]
    fn a_spool_of_the_previous_format_is_replayed_after_an_upgrade() {
        let d = tempfile::tempdir().unwrap();
        let first = old_record(&pts(0, 3));
        let mut seg3 = first.clone();
        seg3.extend(old_record(&pts(3, 2)));
        fs::write(d.path().join(format!("{:016}.seg", 3)), &seg3).unwrap();
        let mut seg4 = old_record(&pts(5, 4));
        seg4.extend_from_slice(&[90, 0, 0, 0, 1, 2, 3]); // torn: never acknowledged
        fs::write(d.path().join(format!("{:016}.seg", 4)), &seg4).unwrap();
        // Segment 2 was replayed but not deleted yet; in 3 the first record was replayed.
        fs::write(
            d.path().join(format!("{:016}.seg", 2)),
            old_record(&pts(90, 1)),
        )
        .unwrap();
        fs::write(d.path().join("cursor"), format!("3:{}", first.len())).unwrap();

        let s = Spool::open(d.path(), 1 << 20, 1 << 20).unwrap();
        let names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".seg") && n != "cursor"),
            "{names:?}"
        );
        assert!(!s.is_empty());
        s.append(&pts(9, 1)).unwrap();
        // And across a restart before anything is replayed.
        drop(s);
        let s = Spool::open(d.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(drain(&s), (3..10).map(|i| i as f64).collect::<Vec<_>>());
        assert!(s.is_empty());
    }

    #[test]
    fn bytes_in_bytes_out() {
        let d = tempfile::tempdir().unwrap();
        let s = Spool::open(d.path(), 1 << 20, 1 << 20).unwrap();
        s.append_bytes(b"one").unwrap();
        s.append_bytes(b"two").unwrap();
        let (recs, pos) = s.peek_bytes(10).unwrap().unwrap();
        assert_eq!(recs, vec![b"one".to_vec(), b"two".to_vec()]);
        s.commit(pos).unwrap();
        assert!(s.peek_bytes(10).unwrap().is_none());
        assert!(s.is_empty());
    }
}
