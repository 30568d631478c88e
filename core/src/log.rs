//! The durable log every component keeps its on-disk queue in: the storage node's write-ahead
//! log, the transfer's spools, the judge's outbox and the agent's buffer.
//!
//! A log is a directory of segment files `<n>.<suffix>` (`n` increasing). A record is
//! `len: u32 LE | crc32(payload): u32 LE | payload`; payloads are opaque bytes, their encoding is
//! the caller's concern.
//!
//! **Writing.** [`Log::append`] adds a record to a shared buffer and [`Log::commit`] waits until it
//! is durable: whichever waiter finds no write in progress writes the whole buffer and fsyncs it
//! for everyone (group commit), so many concurrent writers cost one fsync. A failed write (disk
//! full) truncates the segment back to where it was and fails every record of that group, so a
//! segment never holds a half record followed by good ones. [`Log::write`] does both for a batch
//! of records and applies the optional byte [`Bound`]: refuse the write, or drop the oldest
//! segments and hand back their unread records so that the caller can count what was lost.
//!
//! **Recovery.** [`Log::open`] reads every segment once. A torn record at the end of the last
//! segment (a crash mid-write: never acknowledged) is cut off with a warning. A damaged record
//! anywhere else is corruption: it is reported as an error (in [`Recovery::corrupt`] and the log),
//! and when its length is intact the records after it are kept. Writing always goes to a new
//! segment after the existing ones, created on the first write.
//!
//! **Reading as a queue.** With [`LogOptions::cursor`] set, the log keeps a reader position
//! (segment + offset) in `cursor.pos`, written atomically (temporary file, fsync, rename).
//! [`Log::read`] returns records from a position; [`Log::consume`] moves the saved position and
//! deletes the segments wholly before it; once everything is read the segments and the position
//! file are deleted, leaving an empty directory. The storage node instead deletes segments whose
//! contents reached its block files with [`Log::remove_before`].

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Largest record accepted when reading (a corrupt length must not allocate gigabytes).
pub const MAX_RECORD: usize = 256 << 20;

/// Bytes of a record's header (length and checksum).
pub const HEADER: u64 = 8;

const CURSOR: &str = "cursor.pos";

/// When the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Before acknowledging each write (group commit): nothing acknowledged is ever lost.
    Always,
    /// Written to the OS before acknowledging, fsynced by [`Log::sync`]; a machine crash (not a
    /// process crash) may lose what was written since.
    Background,
}

/// What happens to a write that would take the log past its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The write fails with [`LogErrorKind::Full`]; nothing held is lost.
    Refuse,
    /// The write is taken and the oldest segments are deleted until the log fits; their unread
    /// records are returned in [`Written::dropped`].
    DropOldest,
}

/// A limit on the bytes the log holds on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Most bytes of segments on disk (record headers included).
    pub max_bytes: u64,
    /// What a write past it does.
    pub overflow: Overflow,
}

/// How a log is laid out and written.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// File name suffix of the segments (`wal` gives `0000000001.wal`).
    pub suffix: &'static str,
    /// When records are fsynced.
    pub sync: SyncPolicy,
    /// A write starts a new segment once the current one holds this many bytes. Encodings that
    /// refer back to earlier records of the same segment (the store's) set `u64::MAX` and call
    /// [`Log::rotate`] themselves, so that a segment change always comes with a new generation.
    pub segment_bytes: u64,
    /// An optional limit on the bytes held.
    pub bound: Option<Bound>,
    /// Keep a persisted reader position (`cursor.pos`) and delete what it passed.
    pub cursor: bool,
}

impl LogOptions {
    /// A queue: a reader cursor, fsync before every acknowledgement, `segment_bytes` segments,
    /// segment suffix `log`.
    pub fn queue(segment_bytes: u64, bound: Option<Bound>) -> LogOptions {
        LogOptions {
            suffix: "log",
            sync: SyncPolicy::Always,
            segment_bytes: segment_bytes.max(1),
            bound,
            cursor: true,
        }
    }
}

/// A position in the log: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// What kind of failure a [`LogError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogErrorKind {
    /// The device is out of space.
    DiskFull,
    /// The log holds its [`Bound`] (with [`Overflow::Refuse`]).
    Full {
        /// Bytes held.
        held: u64,
        /// The bound.
        limit: u64,
    },
    /// Any other I/O failure.
    Io,
}

/// A failed log write.
#[derive(Debug, Clone, thiserror::Error)]
#[error("log {path}: {message}")]
pub struct LogError {
    /// The segment (or the directory).
    pub path: PathBuf,
    /// What failed.
    pub message: String,
    /// What kind of failure it is.
    pub kind: LogErrorKind,
}

impl LogError {
    /// True when the device is out of space.
    pub fn is_disk_full(&self) -> bool {
        self.kind == LogErrorKind::DiskFull
    }
}

/// A damaged place in a segment found when reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// Byte offset of the damaged record.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

/// What reading the segments found.
#[derive(Debug, Default, Clone)]
pub struct Recovery {
    /// Records read intact.
    pub records: u64,
    /// Torn tails: the last segment's unfinished last record (a crash mid-write, never
    /// acknowledged), cut off at `offset`.
    pub truncated: Vec<Damage>,
    /// Corruption elsewhere. A record whose length is intact is skipped and the records after it
    /// kept; one whose length is not ends what can be read of its segment.
    pub corrupt: Vec<Damage>,
}

/// The outcome of [`Log::write`].
#[derive(Debug, Default)]
pub struct Written {
    /// Unread records deleted to keep the log within its bound ([`Overflow::DropOldest`]),
    /// oldest first.
    pub dropped: Vec<Vec<u8>>,
}

struct Inner {
    /// The active segment's handle, opened by the first write into it.
    file: Option<File>,
    /// The active segment's number.
    segment: u64,
    /// Bytes of the active segment known to be written.
    size: u64,
    /// Earlier segments still on disk → their readable length.
    sealed: BTreeMap<u64, u64>,
    /// Records appended but not yet written, framed.
    buf: Vec<u8>,
    /// Sequence number of the last record appended.
    next_seq: u64,
    /// Every record up to this one is written (and synced, per policy) or failed.
    done_seq: u64,
    syncing: bool,
    /// Recent failed groups: records `lo..=hi` failed with the error.
    failed: Vec<(u64, u64, LogError)>,
    /// Bumped whenever records may have been lost or a segment starts.
    generation: u64,
    /// The reader's position (queues only).
    cursor: Position,
}

impl Inner {
    fn held(&self) -> u64 {
        self.sealed.values().sum::<u64>() + self.size
    }

    /// The readable length of segment `n`, if it is on disk.
    fn limit(&self, n: u64) -> Option<u64> {
        if n == self.segment {
            self.file.is_some().then_some(self.size)
        } else {
            self.sealed.get(&n).copied()
        }
    }

    /// The first segment after `n` that is on disk.
    fn next_after(&self, n: u64) -> Option<u64> {
        let sealed = self.sealed.range(n + 1..).next().map(|(k, _)| *k);
        let active = (self.file.is_some() && self.segment > n).then_some(self.segment);
        match (sealed, active) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A durable log in one directory.
pub struct Log {
    dir: PathBuf,
    opts: LogOptions,
    inner: Mutex<Inner>,
    cond: Condvar,
}

fn seg_path(dir: &Path, n: u64, suffix: &str) -> PathBuf {
    dir.join(format!("{n:010}.{suffix}"))
}

/// The segment numbers present in `dir` with the given suffix, ascending.
pub fn segments(dir: &Path, suffix: &str) -> std::io::Result<Vec<u64>> {
    let mut v = Vec::new();
    if !dir.exists() {
        return Ok(v);
    }
    let dot = format!(".{suffix}");
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(&dot).and_then(|s| s.parse().ok()) {
            v.push(n);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Reads every intact record of every segment in `dir`, calling `f(segment, payload)`, and
/// reports damage (see the module documentation). With `repair`, cut-off tails are truncated
/// away on disk. Returns the report and each segment's readable length.
fn scan_segments(
    dir: &Path,
    suffix: &str,
    repair: bool,
    f: &mut dyn FnMut(u64, &[u8]),
) -> std::io::Result<(Recovery, BTreeMap<u64, u64>)> {
    let mut rep = Recovery::default();
    let mut lengths = BTreeMap::new();
    let segs = segments(dir, suffix)?;
    // Only the segment written last can end in a torn record; the ones before were complete
    // (synced) before a later one was started. Empty segments do not count.
    let mut tail = None;
    for n in segs.iter().rev() {
        if std::fs::metadata(seg_path(dir, *n, suffix))?.len() > 0 {
            tail = Some(*n);
            break;
        }
    }
    for n in segs {
        let path = seg_path(dir, n, suffix);
        let mut data = Vec::new();
        File::open(&path)?.read_to_end(&mut data)?;
        let is_tail = Some(n) == tail;
        let mut off = 0usize;
        // Where the readable part ends, and why, if before the end of the file.
        let cut = loop {
            if off == data.len() {
                break None;
            }
            if data.len() - off < HEADER as usize {
                break Some("torn record header");
            }
            let len = u32::from_le_bytes(data[off..off + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(data[off + 4..off + 8].try_into().expect("4 bytes"));
            if len > MAX_RECORD {
                break Some("record length out of range");
            }
            if data.len() - off - 8 < len {
                break Some("torn record (shorter than its length)");
            }
            let payload = &data[off + 8..off + 8 + len];
            if crc32fast::hash(payload) != crc {
                if off + 8 + len == data.len() {
                    // The last record of the file: in the tail segment, a write that did not
                    // finish (its length reached the disk, not all of its bytes).
                    break Some("record checksum mismatch");
                }
                // Good records follow: this is corruption, not a crash. Report it and keep them.
                tracing::error!(segment = %path.display(), offset = off, bytes = len,
                    "log record checksum mismatch in the middle of a segment: record skipped");
                rep.corrupt.push(Damage {
                    path: path.clone(),
                    offset: off as u64,
                    reason: "record checksum mismatch".into(),
                });
                off += 8 + len;
                continue;
            }
            f(n, payload);
            rep.records += 1;
            off += 8 + len;
        };
        if let Some(why) = cut {
            let damage = Damage {
                path: path.clone(),
                offset: off as u64,
                reason: why.to_string(),
            };
            if is_tail {
                tracing::warn!(segment = %path.display(), offset = off, reason = why,
                    "log tail is torn (a write that never completed); cutting it off");
                rep.truncated.push(damage);
            } else {
                tracing::error!(segment = %path.display(), offset = off, reason = why,
                    lost_bytes = data.len() - off,
                    "log segment is corrupt; the rest of it cannot be read");
                rep.corrupt.push(damage);
            }
            if repair {
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(off as u64)?;
                f.sync_all()?;
            }
        }
        lengths.insert(n, off as u64);
    }
    Ok((rep, lengths))
}

/// Reads every intact record of the log in `dir` without changing anything (a checker's view),
/// calling `f(segment, payload)`.
pub fn scan(dir: &Path, suffix: &str, mut f: impl FnMut(u64, &[u8])) -> std::io::Result<Recovery> {
    Ok(scan_segments(dir, suffix, false, &mut f)?.0)
}

fn is_enospc(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull
}

/// Fsyncs a directory so that created, renamed or deleted entries are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: a temporary file, fsynced, renamed over it.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

fn read_cursor(dir: &Path) -> Option<Position> {
    let s = std::fs::read_to_string(dir.join(CURSOR)).ok()?;
    let (a, b) = s.trim().split_once(':')?;
    Some(Position {
        segment: a.parse().ok()?,
        offset: b.parse().ok()?,
    })
}

/// What [`read_one`] found at an offset of a segment.
enum ReadOne {
    Record(Vec<u8>),
    /// Checksum mismatch with an intact length: skip `size` bytes.
    Corrupt(u64),
    /// Nothing readable from here to the end of the segment.
    Unreadable,
}

/// Reads the record at `off` of an open segment whose readable length is `limit`.
fn read_one(f: &File, off: u64, limit: u64) -> std::io::Result<ReadOne> {
    if off + HEADER > limit {
        return Ok(ReadOne::Unreadable);
    }
    let mut h = [0u8; HEADER as usize];
    f.read_exact_at(&mut h, off)?;
    let len = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes")) as u64;
    let crc = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    if len as usize > MAX_RECORD || off + HEADER + len > limit {
        return Ok(ReadOne::Unreadable);
    }
    let mut payload = vec![0u8; len as usize];
    f.read_exact_at(&mut payload, off + HEADER)?;
    if crc32fast::hash(&payload) != crc {
        return Ok(ReadOne::Corrupt(HEADER + len));
    }
    Ok(ReadOne::Record(payload))
}

impl Log {
    /// Opens (creating) the log in `dir`: reads every segment once, calling `f(segment, payload)`
    /// for each intact record (the store replays its WAL this way; a queue passes `|_, _| {}`),
    /// cuts off a torn tail, and reports what it found. New records go to a new segment after
    /// the existing ones.
    pub fn open(
        dir: &Path,
        opts: LogOptions,
        mut f: impl FnMut(u64, &[u8]),
    ) -> std::io::Result<(Log, Recovery)> {
        std::fs::create_dir_all(dir)?;
        let (rep, mut sealed) = scan_segments(dir, opts.suffix, true, &mut f)?;
        let segment = sealed.keys().next_back().map_or(1, |n| n + 1);
        let mut cursor = Position::default();
        if opts.cursor {
            cursor = read_cursor(dir).unwrap_or(Position {
                segment: sealed.keys().next().copied().unwrap_or(segment),
                offset: 0,
            });
            // Segments wholly before the cursor were read but not deleted yet.
            let done: Vec<u64> = sealed.range(..cursor.segment).map(|(k, _)| *k).collect();
            for n in done {
                std::fs::remove_file(seg_path(dir, n, opts.suffix))?;
                sealed.remove(&n);
            }
            let after = match sealed.get(&cursor.segment) {
                Some(len) if cursor.offset <= *len => None,
                // Past the readable end of its segment (a cut-off tail): the next segment.
                Some(_) => Some(cursor.segment + 1),
                // The cursor's segment is gone (dropped, or read to its end): the next one.
                None => Some(cursor.segment),
            };
            if let Some(from) = after {
                cursor = Position {
                    segment: sealed.range(from..).next().map_or(segment, |(k, _)| *k),
                    offset: 0,
                };
            }
        }
        let log = Log {
            dir: dir.to_path_buf(),
            opts,
            inner: Mutex::new(Inner {
                file: None,
                segment,
                size: 0,
                sealed,
                buf: Vec::with_capacity(64 << 10),
                next_seq: 0,
                done_seq: 0,
                syncing: false,
                failed: Vec::new(),
                generation: 1,
                cursor,
            }),
            cond: Condvar::new(),
        };
        if log.opts.cursor {
            // Deletes everything when all was read (an empty directory after a drained queue).
            let mut g = log.lock();
            let c = g.cursor;
            log.set_cursor(&mut g, c)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok((log, rep))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("log lock")
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn seg_path(&self, n: u64) -> PathBuf {
        seg_path(&self.dir, n, self.opts.suffix)
    }

    fn err(&self, path: PathBuf, e: &std::io::Error) -> LogError {
        LogError {
            path,
            message: if is_enospc(e) {
                format!("disk full: {e}")
            } else {
                e.to_string()
            },
            kind: if is_enospc(e) {
                LogErrorKind::DiskFull
            } else {
                LogErrorKind::Io
            },
        }
    }

    /// Appends one record built by `build(generation, payload)`; returns its sequence number to
    /// pass to [`commit`](Log::commit). `build` runs under the log lock, so the generation it
    /// sees is the one the record is written in: records of one generation are in one segment,
    /// and no record of it was lost.
    pub fn append(&self, build: impl FnOnce(u64, &mut Vec<u8>)) -> u64 {
        let mut g = self.lock();
        Self::frame(&mut g, build)
    }

    fn frame(g: &mut Inner, build: impl FnOnce(u64, &mut Vec<u8>)) -> u64 {
        let start = g.buf.len();
        g.buf.extend_from_slice(&[0u8; HEADER as usize]);
        let generation = g.generation;
        build(generation, &mut g.buf);
        let len = (g.buf.len() - start - HEADER as usize) as u32;
        let crc = crc32fast::hash(&g.buf[start + HEADER as usize..]);
        g.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        g.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        g.next_seq += 1;
        g.next_seq
    }

    /// Appends `records` (each one record, in order) and waits until they are durable, then
    /// applies the bound. With [`Overflow::Refuse`] a batch that does not fit fails whole. The
    /// records of one call land in one segment (a segment is only started between writes).
    pub fn write<'a>(
        &self,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Written, LogError> {
        let seq = {
            let mut g = self.lock();
            let records: Vec<&[u8]> = records.into_iter().collect();
            if records.is_empty() {
                return Ok(Written::default());
            }
            if let Some(Bound {
                max_bytes,
                overflow: Overflow::Refuse,
            }) = self.opts.bound
            {
                let held = g.held() + g.buf.len() as u64;
                let add: u64 = records.iter().map(|r| HEADER + r.len() as u64).sum();
                if held + add > max_bytes {
                    return Err(LogError {
                        path: self.dir.clone(),
                        message: format!("full ({held} bytes held, limit {max_bytes})"),
                        kind: LogErrorKind::Full {
                            held,
                            limit: max_bytes,
                        },
                    });
                }
            }
            let mut seq = 0;
            for r in records {
                seq = Self::frame(&mut g, |_, b| b.extend_from_slice(r));
            }
            seq
        };
        self.commit(seq)?;
        self.trim()
    }

    /// Applies a [`Overflow::DropOldest`] bound now (at open, after the bound was lowered);
    /// returns what it dropped. Other logs are left as they are.
    pub fn trim(&self) -> Result<Written, LogError> {
        let mut written = Written::default();
        if let Some(Bound {
            max_bytes,
            overflow: Overflow::DropOldest,
        }) = self.opts.bound
        {
            written.dropped = self.drop_oldest(max_bytes)?;
        }
        Ok(written)
    }

    /// Waits until record `seq` is durable (per the policy), writing and syncing the pending
    /// group when no one else is.
    pub fn commit(&self, seq: u64) -> Result<(), LogError> {
        let mut g = self.lock();
        loop {
            if let Some((_, _, e)) = g.failed.iter().find(|(lo, hi, _)| *lo <= seq && seq <= *hi) {
                return Err(e.clone());
            }
            if g.done_seq >= seq {
                return Ok(());
            }
            if g.syncing {
                g = self.cond.wait(g).expect("log lock");
                continue;
            }
            // Lead this group.
            let (lo, hi) = (g.done_seq + 1, g.next_seq);
            let res = self.ensure_segment(&mut g);
            let (buf, file, size) = match res {
                Ok(()) => {
                    let buf = std::mem::take(&mut g.buf);
                    let file = g.file.as_ref().expect("segment just ensured").try_clone();
                    (buf, file, g.size)
                }
                Err(e) => (Vec::new(), Err(e), g.size),
            };
            g.syncing = true;
            drop(g);
            let res = file.and_then(|mut f| {
                f.write_all(&buf)?;
                if self.opts.sync == SyncPolicy::Always {
                    f.sync_data()?;
                }
                Ok(())
            });
            g = self.lock();
            g.syncing = false;
            match res {
                Ok(()) => {
                    g.size = size + buf.len() as u64;
                    g.done_seq = hi;
                }
                Err(e) => {
                    // Cut the partial group off and fail it, together with records appended
                    // meanwhile (they may refer to what only the failed group described).
                    if let Some(f) = &g.file {
                        let _ = f.set_len(size);
                    }
                    let all_hi = g.next_seq;
                    g.buf.clear();
                    g.generation += 1;
                    let err = self.err(self.seg_path(g.segment), &e);
                    tracing::error!(error = %err, "log write failed");
                    g.failed.push((lo, all_hi, err));
                    if g.failed.len() > 64 {
                        g.failed.remove(0);
                    }
                    g.done_seq = all_hi;
                }
            }
            self.cond.notify_all();
        }
    }

    /// Makes sure the active segment is open, starting a new one when it is full.
    fn ensure_segment(&self, g: &mut Inner) -> std::io::Result<()> {
        if g.file.is_some() && g.size > 0 && g.size >= self.opts.segment_bytes {
            self.seal(g);
        }
        if g.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.seg_path(g.segment))?;
            g.size = f.metadata()?.len();
            g.file = Some(f);
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Closes the active segment (already written out) and makes the next one active; the next
    /// write creates its file.
    fn seal(&self, g: &mut Inner) {
        if let Some(f) = g.file.take() {
            let _ = f.sync_data();
            g.sealed.insert(g.segment, g.size);
        }
        g.segment += 1;
        g.size = 0;
        g.generation += 1;
    }

    /// Writes out every pending record and waits for writes in progress.
    fn quiesce<'a>(&'a self, mut g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        while g.syncing || !g.buf.is_empty() {
            if g.syncing {
                g = self.cond.wait(g).expect("log lock");
            } else {
                let seq = g.next_seq;
                drop(g);
                let _ = self.commit(seq);
                g = self.lock();
            }
        }
        g
    }

    /// Deletes the oldest segments until the log holds at most `max_bytes`, returning their
    /// unread records.
    fn drop_oldest(&self, max_bytes: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let mut dropped = Vec::new();
        let mut g = self.lock();
        while g.held() > max_bytes {
            let oldest = match g.sealed.keys().next() {
                Some(n) => *n,
                None => {
                    // Only the active segment: close it so that it can go too.
                    g = self.quiesce(g);
                    if g.file.is_none() {
                        break;
                    }
                    self.seal(&mut g);
                    continue;
                }
            };
            let len = g.sealed[&oldest];
            let from = if g.cursor.segment == oldest {
                g.cursor.offset
            } else {
                0
            };
            let path = self.seg_path(oldest);
            let mut records = 0u64;
            if let Ok(f) = File::open(&path) {
                let mut off = from;
                while let Ok(one) = read_one(&f, off, len) {
                    match one {
                        ReadOne::Record(r) => {
                            off += HEADER + r.len() as u64;
                            records += 1;
                            dropped.push(r);
                        }
                        ReadOne::Corrupt(n) => off += n,
                        ReadOne::Unreadable => break,
                    }
                }
            }
            tracing::warn!(segment = %path.display(), records, bytes = len, max_bytes,
                "log over its bound: dropping its oldest segment");
            g.sealed.remove(&oldest);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(self.err(path, &e));
                }
            }
            if self.opts.cursor && g.cursor.segment <= oldest {
                let next = Position {
                    segment: g.next_after(oldest).unwrap_or(g.segment),
                    offset: 0,
                };
                self.set_cursor(&mut g, next)?;
            }
        }
        Ok(dropped)
    }

    /// Reads records from `from` until `max_records` records or `max_bytes` bytes of payload (at
    /// least one record when any is there) or the end of what is durable. Returns them with the
    /// position after them. Damaged records on the way are skipped with an error in the log.
    pub fn read(
        &self,
        from: Position,
        max_records: usize,
        max_bytes: usize,
    ) -> std::io::Result<(Vec<Vec<u8>>, Position)> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut pos = from;
        let mut open: Option<(u64, File)> = None;
        while out.len() < max_records.max(1) && (out.is_empty() || bytes < max_bytes) {
            let (limit, next) = {
                let g = self.lock();
                (g.limit(pos.segment), g.next_after(pos.segment))
            };
            let Some(limit) = limit.filter(|l| pos.offset < *l) else {
                match next {
                    Some(n) => {
                        pos = Position {
                            segment: n,
                            offset: 0,
                        };
                        continue;
                    }
                    None => break,
                }
            };
            if open.as_ref().map(|(n, _)| *n) != Some(pos.segment) {
                match File::open(self.seg_path(pos.segment)) {
                    Ok(f) => open = Some((pos.segment, f)),
                    // Dropped meanwhile (bound): carry on with the next segment.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        pos.offset = limit;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let f = &open.as_ref().expect("segment just opened").1;
            match read_one(f, pos.offset, limit)? {
                ReadOne::Record(r) => {
                    pos.offset += HEADER + r.len() as u64;
                    bytes += r.len();
                    out.push(r);
                }
                ReadOne::Corrupt(n) => {
                    tracing::error!(segment = %self.seg_path(pos.segment).display(), offset = pos.offset,
                        "log record checksum mismatch: record skipped");
                    pos.offset += n;
                }
                ReadOne::Unreadable => {
                    tracing::error!(segment = %self.seg_path(pos.segment).display(), offset = pos.offset,
                        "log segment unreadable from here: skipping its rest");
                    pos.offset = limit;
                }
            }
        }
        Ok((out, pos))
    }

    /// The saved reader position (queues).
    pub fn cursor(&self) -> Position {
        self.lock().cursor
    }

    /// Records that everything before `pos` is read: saves the position (atomically) and deletes
    /// the segments wholly before it, and everything once all is read.
    pub fn consume(&self, pos: Position) -> Result<(), LogError> {
        let mut g = self.lock();
        self.set_cursor(&mut g, pos)
    }

    fn set_cursor(&self, g: &mut Inner, pos: Position) -> Result<(), LogError> {
        g.cursor = pos;
        let done: Vec<u64> = g.sealed.range(..pos.segment).map(|(k, _)| *k).collect();
        for n in done {
            g.sealed.remove(&n);
            let path = self.seg_path(n);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(self.err(path, &e));
                }
            }
        }
        let cursor_path = self.dir.join(CURSOR);
        if Self::drained(g) && g.buf.is_empty() && !g.syncing {
            // All read: delete the rest and start afresh, leaving nothing behind.
            let sealed: Vec<u64> = g.sealed.keys().copied().collect();
            let active = g.file.take().map(|_| g.segment);
            for n in sealed.into_iter().chain(active) {
                let path = self.seg_path(n);
                if let Err(e) = std::fs::remove_file(&path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(self.err(path, &e));
                    }
                }
            }
            g.sealed.clear();
            if active.is_some() {
                g.segment += 1;
                g.generation += 1;
            }
            g.size = 0;
            g.cursor = Position {
                segment: g.segment,
                offset: 0,
            };
            return match std::fs::remove_file(&cursor_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(self.err(cursor_path, &e))
                }
                _ => Ok(()),
            };
        }
        write_atomic(
            &cursor_path,
            format!("{}:{}\n", pos.segment, pos.offset).as_bytes(),
        )
        .map_err(|e| self.err(cursor_path, &e))
    }

    fn drained(g: &Inner) -> bool {
        g.sealed
            .range(g.cursor.segment..)
            .all(|(n, len)| *n == g.cursor.segment && g.cursor.offset >= *len)
            && (g.file.is_none()
                || g.segment < g.cursor.segment
                || (g.segment == g.cursor.segment && g.cursor.offset >= g.size))
    }

    /// True when every record has been read past the saved cursor, counting records still
    /// being written: a writer that checks this to keep order (write directly only when
    /// nothing is queued) must see a queued record before it is durable.
    pub fn is_drained(&self) -> bool {
        let g = self.lock();
        Self::drained(&g) && g.buf.is_empty() && !g.syncing
    }

    /// Bytes of durable records after the saved cursor (headers included).
    pub fn unread_bytes(&self) -> u64 {
        let g = self.lock();
        let c = g.cursor;
        let sealed: u64 = g
            .sealed
            .range(c.segment..)
            .map(|(n, len)| {
                if *n == c.segment {
                    len.saturating_sub(c.offset)
                } else {
                    *len
                }
            })
            .sum();
        let active = match g.file {
            Some(_) if g.segment == c.segment => g.size.saturating_sub(c.offset),
            Some(_) if g.segment > c.segment => g.size,
            _ => 0,
        };
        sealed + active
    }

    /// Fsyncs the active segment (the background policy's timer, and shutdown).
    pub fn sync(&self) -> std::io::Result<()> {
        let f = match &self.lock().file {
            Some(f) => f.try_clone()?,
            None => return Ok(()),
        };
        f.sync_data()
    }

    /// Starts a new segment (after writing out pending records); returns its number. Records
    /// appended afterwards go to the new segment, under a new generation.
    pub fn rotate(&self) -> Result<u64, LogError> {
        let mut g = self.quiesce(self.lock());
        self.seal(&mut g);
        Ok(g.segment)
    }

    /// Deletes every segment numbered below `n` (not the active one).
    pub fn remove_before(&self, n: u64) -> std::io::Result<()> {
        let mut g = self.lock();
        let old: Vec<u64> = g.sealed.range(..n).map(|(k, _)| *k).collect();
        for s in old {
            std::fs::remove_file(self.seg_path(s))?;
            g.sealed.remove(&s);
        }
        Ok(())
    }

    /// Bytes of log on disk.
    pub fn size(&self) -> u64 {
        self.lock().held()
    }

    /// The active segment's path.
    pub fn segment_path(&self) -> PathBuf {
        self.seg_path(self.lock().segment)
    }

    /// Swaps the active segment's file handle, returning the old one: tests give it a read-only
    /// handle to make the next group's write fail like a broken disk.
    #[doc(hidden)]
    pub fn swap_file_for_test(&self, file: File) -> Option<File> {
        self.lock().file.replace(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(dir: &Path, segment_bytes: u64, bound: Option<Bound>) -> Log {
        Log::open(dir, LogOptions::queue(segment_bytes, bound), |_, _| {})
            .unwrap()
            .0
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn drain(log: &Log, per_read: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        loop {
            let (recs, next) = log.read(log.cursor(), per_read, usize::MAX).unwrap();
            if recs.is_empty() {
                log.consume(next).unwrap();
                return got;
            }
            got.extend(recs);
            log.consume(next).unwrap();
        }
    }

    fn wal_opts() -> LogOptions {
        LogOptions {
            suffix: "wal",
            sync: SyncPolicy::Always,
            segment_bytes: u64::MAX,
            bound: None,
            cursor: false,
        }
    }

    fn wal(dir: &Path) -> Log {
        Log::open(dir, wal_opts(), |_, _| {}).unwrap().0
    }

    #[test]
    fn group_commit_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = std::sync::Arc::new(wal(dir.path()));
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        let s = log.append(|_, b| b.extend_from_slice(&[t, i]));
                        log.commit(s).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        drop(log);
        // Tear the tail: half a record.
        let seg = seg_path(dir.path(), 1, "wal");
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let mut n = 0;
        let (_, rep) = Log::open(dir.path(), wal_opts(), |_, p| {
            assert_eq!(p.len(), 2);
            n += 1
        })
        .unwrap();
        assert_eq!(n, 200);
        assert_eq!(rep.truncated.len(), 1);
        assert!(rep.corrupt.is_empty());
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), 200 * 10);
    }

    #[test]
    fn corruption_in_the_middle_is_reported_and_the_records_after_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = wal(dir.path());
        for i in 0..10u8 {
            let s = log.append(|_, b| b.extend_from_slice(&[i; 3]));
            log.commit(s).unwrap();
        }
        drop(log);
        let seg = seg_path(dir.path(), 1, "wal");
        let mut data = std::fs::read(&seg).unwrap();
        data[11 * 4 + 8] ^= 0xff; // the fifth record's payload
        std::fs::write(&seg, &data).unwrap();
        let mut got = Vec::new();
        let rep = scan(dir.path(), "wal", |_, p| got.push(p[0])).unwrap();
        assert_eq!(got, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
        assert_eq!(rep.corrupt.len(), 1);
        assert_eq!(rep.corrupt[0].offset, 44);
        assert!(rep.truncated.is_empty());
        // A checker's scan changes nothing; neither does opening (nothing is cut).
        let (_, rep) = Log::open(dir.path(), wal_opts(), |_, _| {}).unwrap();
        assert_eq!((rep.records, rep.corrupt.len()), (9, 1));
        assert_eq!(std::fs::read(&seg).unwrap(), data);
    }

    #[test]
    fn a_damaged_length_in_an_earlier_segment_is_corruption_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = wal(dir.path());
        for i in 0..3u8 {
            let s = log.append(|_, b| b.push(i));
            log.commit(s).unwrap();
        }
        log.rotate().unwrap();
        let s = log.append(|_, b| b.push(9));
        log.commit(s).unwrap();
        drop(log);
        let seg = seg_path(dir.path(), 1, "wal");
        let mut data = std::fs::read(&seg).unwrap();
        data[9] = 200; // the second record's length
        std::fs::write(&seg, &data).unwrap();
        let mut got = Vec::new();
        let rep = scan(dir.path(), "wal", |_, p| got.push(p[0])).unwrap();
        assert_eq!(got, vec![0, 9]);
        assert_eq!(rep.corrupt.len(), 1);
        assert!(rep.truncated.is_empty());
    }

    #[test]
    fn a_failed_write_is_cut_off_and_the_next_one_lands() {
        let dir = tempfile::tempdir().unwrap();
        let log = wal(dir.path());
        let s = log.append(|_, b| b.push(1));
        log.commit(s).unwrap();
        let ro = File::open(log.segment_path()).unwrap();
        let rw = log.swap_file_for_test(ro).unwrap();
        let s = log.append(|_, b| b.push(2));
        let e = log.commit(s).unwrap_err();
        assert_eq!(e.kind, LogErrorKind::Io);
        log.swap_file_for_test(rw);
        let s = log.append(|_, b| b.push(3));
        log.commit(s).unwrap();
        drop(log);
        let mut got = Vec::new();
        scan(dir.path(), "wal", |_, p| got.push(p[0])).unwrap();
        assert_eq!(got, vec![1, 3]);
    }

    #[test]
    fn a_queue_resumes_at_its_cursor_and_leaves_nothing_once_read() {
        let dir = tempfile::tempdir().unwrap();
        let log = queue(dir.path(), 40, None);
        assert!(log.is_drained());
        for i in 0..20u8 {
            log.write([&[i; 5][..]]).unwrap();
        }
        assert!(segments(dir.path(), "log").unwrap().len() > 3);
        assert_eq!(log.unread_bytes(), 20 * 13);
        let (recs, next) = log.read(log.cursor(), 7, usize::MAX).unwrap();
        assert_eq!(recs.len(), 7);
        log.consume(next).unwrap();
        assert_eq!(log.unread_bytes(), 13 * 13);
        // Read further without consuming, then "crash": the next run starts at the cursor.
        let _ = log.read(next, 5, usize::MAX).unwrap();
        drop(log);
        let log = queue(dir.path(), 40, None);
        log.write([&[100u8][..]]).unwrap();
        let got: Vec<u8> = drain(&log, 3).iter().map(|r| r[0]).collect();
        let mut want: Vec<u8> = (7..20).collect();
        want.push(100);
        assert_eq!(got, want);
        assert!(log.is_drained());
        assert_eq!(files(dir.path()), Vec::<String>::new());
        // And it keeps working afterwards, also across a reopen.
        log.write([&b"again"[..]]).unwrap();
        drop(log);
        let log = queue(dir.path(), 40, None);
        assert_eq!(drain(&log, 10), vec![b"again".to_vec()]);
    }

    #[test]
    fn a_record_being_written_counts_as_queued() {
        let dir = tempfile::tempdir().unwrap();
        let log = queue(dir.path(), 1 << 20, None);
        let seq = log.append(|_, b| b.push(1));
        assert!(!log.is_drained(), "queued before it is durable");
        log.commit(seq).unwrap();
        assert!(!log.is_drained());
        assert_eq!(drain(&log, 10), vec![vec![1u8]]);
        assert!(log.is_drained());
    }

    #[test]
    fn a_torn_tail_of_a_queue_is_dropped_and_the_rest_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let log = queue(dir.path(), 1 << 20, None);
        log.write([&b"a"[..], &b"b"[..]]).unwrap();
        drop(log);
        let seg = seg_path(dir.path(), 1, "log");
        OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&[50, 0, 0, 0, 1, 2])
            .unwrap();
        let (log, rep) =
            Log::open(dir.path(), LogOptions::queue(1 << 20, None), |_, _| {}).unwrap();
        assert_eq!(rep.truncated.len(), 1);
        log.write([&b"c"[..]]).unwrap();
        assert_eq!(
            drain(&log, 10),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn refuse_bound_fails_the_write_and_keeps_what_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let bound = Bound {
            max_bytes: 100,
            overflow: Overflow::Refuse,
        };
        let log = queue(dir.path(), 30, Some(bound));
        let mut n = 0;
        while log.write([&[n as u8; 12][..]]).is_ok() {
            n += 1;
        }
        assert_eq!(n, 5, "five 20-byte records fit in 100 bytes");
        let e = log.write([&[0u8; 12][..]]).unwrap_err();
        assert!(
            matches!(
                e.kind,
                LogErrorKind::Full {
                    held: 100,
                    limit: 100
                }
            ),
            "{e}"
        );
        assert_eq!(drain(&log, 2).len(), 5);
        log.write([&[0u8; 12][..]]).unwrap();
    }

    #[test]
    fn drop_oldest_hands_back_the_unread_records_it_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let bound = Bound {
            max_bytes: 60,
            overflow: Overflow::DropOldest,
        };
        // Two 12-byte records per segment.
        let log = queue(dir.path(), 24, Some(bound));
        let mut dropped = Vec::new();
        for i in 0..4u8 {
            dropped.extend(log.write([&[i; 4][..]]).unwrap().dropped);
        }
        assert!(dropped.is_empty(), "48 bytes fit");
        // Read the first record (not the second) of the oldest segment.
        let (recs, next) = log.read(log.cursor(), 1, usize::MAX).unwrap();
        assert_eq!(recs, vec![vec![0u8; 4]]);
        log.consume(next).unwrap();
        for i in 4..6u8 {
            dropped.extend(log.write([&[i; 4][..]]).unwrap().dropped);
        }
        // 72 bytes > 60: the oldest segment went, with its one unread record.
        assert_eq!(dropped, vec![vec![1u8; 4]]);
        assert!(log.size() <= 60);
        let got: Vec<u8> = drain(&log, 10).iter().map(|r| r[0]).collect();
        assert_eq!(got, vec![2, 3, 4, 5]);
        // A record bigger than the bound alone is dropped at once, reported.
        let w = log.write([&[7u8; 100][..]]).unwrap();
        assert_eq!(w.dropped, vec![vec![7u8; 100]]);
        assert!(log.is_drained());
    }
}
