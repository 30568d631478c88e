//! A durable, bounded, ordered spool of points for one downstream: segment files on disk.
//!
//! Points go here when their downstream is down, slow, or still has older points spooled (so
//! order is kept); [`Spool::append`] returns only once the record is on disk (fsync), which is
//! what lets the transfer acknowledge a push. The replayer reads records in order with
//! [`Spool::peek`] and, once the downstream has them, [`Spool::commit`]s the position, which is
//! saved in a `cursor` file so that a restarted transfer resumes where it stopped. Fully read
//! segments are deleted.
//!
//! Record format: `len: u32 LE | crc32(payload): u32 LE | payload`, where the payload is the
//! zstd-compressed JSON array of the points (each carrying its tenant). A torn record at the end
//! of a segment (a crash mid-append, never acknowledged) is skipped.

use argus_core::Point;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const HEADER: u64 = 8;

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

/// A read position: segment id and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Segment id.
    pub segment: u64,
    /// Offset in the segment.
    pub offset: u64,
}

struct Inner {
    /// Segment id → valid length in bytes.
    segments: BTreeMap<u64, u64>,
    /// The segment being appended to (always the last of `segments`), if any.
    writer: Option<(u64, File)>,
    /// The next segment id to create.
    next_id: u64,
    /// Where the replayer reads next.
    cursor: Position,
}

/// One downstream's spool.
pub struct Spool {
    dir: PathBuf,
    segment_bytes: u64,
    max_bytes: u64,
    inner: Mutex<Inner>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, resuming from its saved cursor.
    pub fn open(dir: &Path, segment_bytes: u64, max_bytes: u64) -> Result<Spool, SpoolError> {
        let io = |source| SpoolError::Io {
            dir: dir.display().to_string(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut segments = BTreeMap::new();
        for e in fs::read_dir(dir).map_err(io)? {
            let e = e.map_err(io)?;
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                segments.insert(id, e.metadata().map_err(io)?.len());
            }
        }
        let cursor = fs::read_to_string(dir.join("cursor"))
            .ok()
            .and_then(|s| {
                let (a, b) = s.trim().split_once(':')?;
                Some(Position {
                    segment: a.parse().ok()?,
                    offset: b.parse().ok()?,
                })
            })
            .unwrap_or(Position {
                segment: 0,
                offset: 0,
            });
        // Segments wholly before the cursor were replayed but not yet deleted.
        let stale: Vec<u64> = segments
            .range(..cursor.segment)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            let _ = fs::remove_file(seg_path(dir, id));
            segments.remove(&id);
        }
        let next_id = segments
            .keys()
            .next_back()
            .map(|l| l + 1)
            .unwrap_or(0)
            .max(cursor.segment);
        Ok(Spool {
            dir: dir.to_path_buf(),
            segment_bytes,
            max_bytes,
            inner: Mutex::new(Inner {
                segments,
                writer: None,
                next_id,
                cursor,
            }),
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
        self.inner
            .lock()
            .expect("spool lock")
            .segments
            .values()
            .sum()
    }

    /// True when every spooled point has been replayed.
    pub fn is_empty(&self) -> bool {
        let g = self.inner.lock().expect("spool lock");
        is_drained(&g)
    }

    /// Appends `points` durably (written and fsynced) as one record.
    pub fn append(&self, points: &[Point]) -> Result<(), SpoolError> {
        let json = serde_json::to_vec(points).expect("points always serialize");
        let payload = zstd::bulk::compress(&json, 1).map_err(|e| self.io(e))?;
        let mut rec = Vec::with_capacity(payload.len() + HEADER as usize);
        rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        let mut g = self.inner.lock().expect("spool lock");
        let held: u64 = g.segments.values().sum();
        if held + rec.len() as u64 > self.max_bytes {
            return Err(SpoolError::Full {
                dir: self.dir.display().to_string(),
                bytes: held,
                limit: self.max_bytes,
            });
        }
        let roll = match &g.writer {
            None => true,
            Some((id, _)) => g.segments.get(id).copied().unwrap_or(0) >= self.segment_bytes,
        };
        if roll {
            let id = g.next_id;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(seg_path(&self.dir, id))
                .map_err(|e| self.io(e))?;
            g.next_id = id + 1;
            g.segments.insert(id, 0);
            g.writer = Some((id, f));
        }
        let (id, f) = g.writer.as_mut().expect("a writer was just ensured");
        let id = *id;
        if let Err(e) = f.write_all(&rec).and_then(|_| f.sync_data()) {
            // The file may now end in a torn record: never append after it.
            g.writer = None;
            return Err(self.io(e));
        }
        *g.segments.get_mut(&id).expect("writer's segment is listed") += rec.len() as u64;
        Ok(())
    }

    /// Reads records from the cursor until at least `max_points` points or the end; returns
    /// them with the position after them (to [`commit`](Self::commit) once delivered), or
    /// `None` when nothing is pending.
    pub fn peek(&self, max_points: usize) -> Result<Option<(Vec<Point>, Position)>, SpoolError> {
        let g = self.inner.lock().expect("spool lock");
        let mut pos = g.cursor;
        let mut out = Vec::new();
        while out.len() < max_points.max(1) {
            let len = match g.segments.get(&pos.segment) {
                Some(l) if pos.offset < *l => *l,
                _ => match g.segments.range(pos.segment + 1..).next() {
                    Some((id, _)) => {
                        pos = Position {
                            segment: *id,
                            offset: 0,
                        };
                        continue;
                    }
                    None => break,
                },
            };
            match read_record(&seg_path(&self.dir, pos.segment), pos.offset, len) {
                Ok(Some((points, n))) => {
                    out.extend(points);
                    pos.offset += n;
                }
                Ok(None) => {
                    tracing::warn!(dir = %self.dir.display(), segment = pos.segment, offset = pos.offset,
                        "torn record at the end of a spool segment (never acknowledged): skipped");
                    pos.offset = len;
                }
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(if out.is_empty() && pos == g.cursor {
            None
        } else {
            Some((out, pos))
        })
    }

    /// Marks everything before `pos` as delivered: saves the cursor and deletes finished
    /// segments.
    pub fn commit(&self, pos: Position) -> Result<(), SpoolError> {
        let mut g = self.inner.lock().expect("spool lock");
        g.cursor = pos;
        let done: Vec<u64> = g.segments.range(..pos.segment).map(|(i, _)| *i).collect();
        for id in done {
            g.segments.remove(&id);
            let _ = fs::remove_file(seg_path(&self.dir, id));
        }
        if is_drained(&g) {
            // Everything replayed: drop the last segment too and start afresh.
            if let Some((&id, _)) = g.segments.iter().next_back() {
                g.segments.remove(&id);
                g.writer = None;
                let _ = fs::remove_file(seg_path(&self.dir, id));
            }
            g.cursor = Position {
                segment: g.next_id,
                offset: 0,
            };
        }
        let tmp = self.dir.join("cursor.tmp");
        fs::write(&tmp, format!("{}:{}", g.cursor.segment, g.cursor.offset))
            .and_then(|_| fs::rename(&tmp, self.dir.join("cursor")))
            .map_err(|e| self.io(e))
    }
}

fn is_drained(g: &Inner) -> bool {
    g.segments
        .range(g.cursor.segment..)
        .all(|(id, len)| *id == g.cursor.segment && g.cursor.offset >= *len)
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.seg"))
}

/// Reads the record at `offset` of a segment whose valid length is `len`: its points and its
/// size, or `None` if it is torn or corrupt.
fn read_record(path: &Path, offset: u64, len: u64) -> std::io::Result<Option<(Vec<Point>, u64)>> {
    if offset + HEADER > len {
        return Ok(None);
    }
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut h = [0u8; HEADER as usize];
    f.read_exact(&mut h)?;
    let n = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes")) as u64;
    let crc = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    if offset + HEADER + n > len {
        return Ok(None);
    }
    let mut payload = vec![0u8; n as usize];
    f.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) != crc {
        return Ok(None);
    }
    let Ok(json) = zstd::stream::decode_all(&payload[..]) else {
        return Ok(None);
    };
    match serde_json::from_slice::<Vec<Point>>(&json) {
        Ok(p) => Ok(Some((p, HEADER + n))),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::{Tags, TenantId};

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
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
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
        let seg = seg_path(d.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2]).unwrap();
        let s = Spool::open(d.path(), 1 << 20, 1 << 20).unwrap();
        s.append(&pts(2, 1)).unwrap();
        assert_eq!(drain(&s), vec![0.0, 1.0, 2.0]);
    }
}
