//! The write-ahead log: segmented, checksummed records, group commit.
//!
//! A record on disk is `len: u32 LE`, `crc32(payload): u32 LE`, `payload`. Writers append their
//! record to a shared buffer and wait; whichever waiter finds no sync in progress writes the whole
//! buffer and fsyncs it for everyone (group commit), so many concurrent small writes cost one
//! fsync. A failed write (disk full) truncates the segment back to where it was and fails every
//! record of that group, so the log never holds a half record followed by good ones.
//!
//! Segments are `wal/<n>.wal`, `n` increasing; [`Wal::rotate`] starts a new one, and segments
//! whose data reached block files are deleted by [`Wal::remove_before`].

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// Largest record accepted when reading (a corrupt length must not allocate gigabytes).
pub const MAX_RECORD: usize = 256 << 20;

/// When the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Before acknowledging each write (group commit): nothing acknowledged is ever lost.
    Always,
    /// Written to the OS before acknowledging, fsynced in the background; a machine crash
    /// (not a process crash) may lose the last interval.
    Background,
}

struct Inner {
    file: File,
    segment: u64,
    /// Bytes of the current segment known to be written.
    size: u64,
    /// Records not yet written, framed.
    buf: Vec<u8>,
    /// Sequence number of the last record appended.
    next_seq: u64,
    /// Every record up to this one is durable (per policy).
    done_seq: u64,
    syncing: bool,
    /// Recent failed groups: records `lo..=hi` failed with the message.
    failed: Vec<(u64, u64, String)>,
    /// Bumped when records may have been lost, so writers re-describe their series.
    generation: u64,
    /// Bytes of all closed segments.
    closed_bytes: u64,
}

/// The log.
pub struct Wal {
    dir: PathBuf,
    policy: SyncPolicy,
    inner: Mutex<Inner>,
    cond: Condvar,
}

/// A WAL write failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("write-ahead log {path}: {message}")]
pub struct WalError {
    /// The segment.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
    /// True when the device is out of space.
    pub disk_full: bool,
}

/// What reading the log found.
#[derive(Debug, Default, Clone)]
pub struct Replay {
    /// Records read intact.
    pub records: u64,
    /// Segments whose tail was torn or corrupt, with the offset they were truncated at.
    pub truncated: Vec<(PathBuf, u64, String)>,
}

fn seg_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:010}.wal"))
}

/// The segment numbers present in `dir`, ascending.
pub fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut v = Vec::new();
    if !dir.exists() {
        return Ok(v);
    }
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".wal").and_then(|s| s.parse().ok()) {
            v.push(n);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Reads every intact record of every segment in `dir`, calling `f(segment, payload)`. A torn or
/// corrupt tail is reported and, when `repair` is set, truncated away.
pub fn replay(dir: &Path, repair: bool, mut f: impl FnMut(u64, &[u8])) -> std::io::Result<Replay> {
    let mut rep = Replay::default();
    for n in segments(dir)? {
        let path = seg_path(dir, n);
        let mut data = Vec::new();
        File::open(&path)?.read_to_end(&mut data)?;
        let mut off = 0usize;
        let bad = loop {
            if off == data.len() {
                break None;
            }
            if data.len() - off < 8 {
                break Some("torn record header");
            }
            let len = u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap());
            if len > MAX_RECORD {
                break Some("record length out of range");
            }
            if data.len() - off - 8 < len {
                break Some("torn record (shorter than its length)");
            }
            let payload = &data[off + 8..off + 8 + len];
            if crc32fast::hash(payload) != crc {
                break Some("record checksum mismatch");
            }
            f(n, payload);
            rep.records += 1;
            off += 8 + len;
        };
        if let Some(why) = bad {
            tracing::warn!(segment = %path.display(), offset = off, reason = why,
                "write-ahead log tail is damaged; truncating it there");
            rep.truncated
                .push((path.clone(), off as u64, why.to_string()));
            if repair {
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(off as u64)?;
                f.sync_all()?;
            }
        }
    }
    Ok(rep)
}

fn open_segment(dir: &Path, n: u64) -> std::io::Result<(File, u64)> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(seg_path(dir, n))?;
    let size = f.seek(SeekFrom::End(0))?;
    Ok((f, size))
}

fn is_enospc(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull
}

impl Wal {
    /// Opens the log in `dir`, starting a fresh segment after the existing ones (which the caller
    /// has replayed).
    pub fn open(dir: &Path, policy: SyncPolicy) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let existing = segments(dir)?;
        let mut closed_bytes = 0;
        for n in &existing {
            closed_bytes += std::fs::metadata(seg_path(dir, *n))?.len();
        }
        let seg = existing.last().map_or(1, |n| n + 1);
        let (file, size) = open_segment(dir, seg)?;
        sync_dir(dir)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            policy,
            inner: Mutex::new(Inner {
                file,
                segment: seg,
                size,
                buf: Vec::with_capacity(1 << 20),
                next_seq: 0,
                done_seq: 0,
                syncing: false,
                failed: Vec::new(),
                generation: 1,
                closed_bytes,
            }),
            cond: Condvar::new(),
        })
    }

    /// Appends one record built by `build(generation, payload)`; returns its sequence number to
    /// pass to [`commit`](Wal::commit). `build` runs under the log lock, so the generation it sees
    /// is the one the record is written in.
    pub fn append(&self, build: impl FnOnce(u64, &mut Vec<u8>)) -> u64 {
        let mut g = self.inner.lock().expect("wal lock");
        let start = g.buf.len();
        g.buf.extend_from_slice(&[0u8; 8]);
        let generation = g.generation;
        build(generation, &mut g.buf);
        let len = (g.buf.len() - start - 8) as u32;
        let crc = crc32fast::hash(&g.buf[start + 8..]);
        g.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        g.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        g.next_seq += 1;
        g.next_seq
    }

    /// Waits until record `seq` is durable (per the policy), writing and syncing the pending group
    /// when no one else is.
    pub fn commit(&self, seq: u64) -> Result<(), WalError> {
        let mut g = self.inner.lock().expect("wal lock");
        loop {
            if let Some((_, _, m)) = g.failed.iter().find(|(lo, hi, _)| *lo <= seq && seq <= *hi) {
                return Err(self.err(&g, m.clone(), m.contains("No space") || m.contains("full")));
            }
            if g.done_seq >= seq {
                return Ok(());
            }
            if g.syncing {
                g = self.cond.wait(g).expect("wal lock");
                continue;
            }
            // Lead this group.
            g.syncing = true;
            let buf = std::mem::take(&mut g.buf);
            let (lo, hi) = (g.done_seq + 1, g.next_seq);
            let mut file = g.file.try_clone();
            let size = g.size;
            drop(g);
            let res = file.as_mut().map_err(|e| clone_err(e)).and_then(|f| {
                f.write_all(&buf)?;
                if self.policy == SyncPolicy::Always {
                    f.sync_data()?;
                }
                Ok(())
            });
            g = self.inner.lock().expect("wal lock");
            g.syncing = false;
            match res {
                Ok(()) => {
                    g.size = size + buf.len() as u64;
                    g.done_seq = hi;
                }
                Err(e) => {
                    // Cut the partial group off and fail it, together with records appended
                    // meanwhile (they may refer to series described only in the failed group).
                    let _ = g.file.set_len(size);
                    let all_hi = g.next_seq;
                    g.buf.clear();
                    g.generation += 1;
                    let msg = if is_enospc(&e) {
                        format!("disk full: {e}")
                    } else {
                        e.to_string()
                    };
                    tracing::error!(error = %msg, "write-ahead log write failed");
                    g.failed.push((lo, all_hi, msg));
                    if g.failed.len() > 64 {
                        g.failed.remove(0);
                    }
                    g.done_seq = all_hi;
                }
            }
            self.cond.notify_all();
        }
    }

    /// Swaps the current segment's file handle, returning the old one: tests give it a
    /// read-only handle to make the next group's write fail like a broken disk.
    #[cfg(test)]
    pub(crate) fn swap_file_for_test(&self, file: File) -> File {
        std::mem::replace(&mut self.inner.lock().expect("wal lock").file, file)
    }

    /// The current segment's path.
    #[cfg(test)]
    pub(crate) fn segment_path_for_test(&self) -> PathBuf {
        seg_path(&self.dir, self.inner.lock().expect("wal lock").segment)
    }

    fn err(&self, g: &Inner, message: String, disk_full: bool) -> WalError {
        WalError {
            path: seg_path(&self.dir, g.segment),
            message,
            disk_full,
        }
    }

    /// Fsyncs the current segment (the background policy's timer, and shutdown).
    pub fn sync(&self) -> std::io::Result<()> {
        let f = self.inner.lock().expect("wal lock").file.try_clone()?;
        f.sync_data()
    }

    /// Starts a new segment (after writing out pending records); returns its number. Records
    /// appended afterwards go to the new segment, under a new generation.
    pub fn rotate(&self) -> Result<u64, WalError> {
        let mut g = self.inner.lock().expect("wal lock");
        while g.syncing || !g.buf.is_empty() {
            if !g.syncing {
                let seq = g.next_seq;
                drop(g);
                let _ = self.commit(seq);
                g = self.inner.lock().expect("wal lock");
            } else {
                g = self.cond.wait(g).expect("wal lock");
            }
        }
        let _ = g.file.sync_data();
        let next = g.segment + 1;
        let (file, size) = open_segment(&self.dir, next)
            .map_err(|e| self.err(&g, e.to_string(), is_enospc(&e)))?;
        let _ = sync_dir(&self.dir);
        g.closed_bytes += g.size;
        g.file = file;
        g.segment = next;
        g.size = size;
        g.generation += 1;
        Ok(next)
    }

    /// Deletes every segment numbered below `n`.
    pub fn remove_before(&self, n: u64) -> std::io::Result<()> {
        for s in segments(&self.dir)? {
            if s < n {
                std::fs::remove_file(seg_path(&self.dir, s))?;
            }
        }
        let mut total = 0;
        let cur = self.inner.lock().expect("wal lock").segment;
        for s in segments(&self.dir)? {
            if s != cur {
                total += std::fs::metadata(seg_path(&self.dir, s)).map_or(0, |m| m.len());
            }
        }
        self.inner.lock().expect("wal lock").closed_bytes = total;
        Ok(())
    }

    /// Bytes of log on disk.
    pub fn size(&self) -> u64 {
        let g = self.inner.lock().expect("wal lock");
        g.closed_bytes + g.size
    }
}

fn clone_err(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

/// Fsyncs a directory so that created, renamed or deleted entries are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_commit_and_replay_with_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let wal = std::sync::Arc::new(Wal::open(dir.path(), SyncPolicy::Always).unwrap());
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        let s = wal.append(|_, b| b.extend_from_slice(&[t, i]));
                        wal.commit(s).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        drop(wal);
        // Tear the tail: half a record.
        let seg = seg_path(dir.path(), 1);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let mut n = 0;
        let rep = replay(dir.path(), true, |_, p| {
            assert_eq!(p.len(), 2);
            n += 1
        })
        .unwrap();
        assert_eq!(n, 200);
        assert_eq!(rep.truncated.len(), 1);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), 200 * 10);
        // Flip a payload byte in the middle: everything from there on is cut.
        let mut data = std::fs::read(&seg).unwrap();
        data[10 * 100 + 8] ^= 0xff;
        std::fs::write(&seg, &data).unwrap();
        let mut n = 0;
        let rep = replay(dir.path(), true, |_, _| n += 1).unwrap();
        assert_eq!(n, 100);
        assert!(rep.truncated[0].2.contains("checksum"));
    }
}
