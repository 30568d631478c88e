//! Immutable block files: the compressed chunks of many series over one time partition, at one
//! resolution (raw, or a rollup), with an index.
//!
//! Layout: header (`b"AGB1"`, resolution u32, partition start i64, partition end i64, sequence
//! u64, all LE), then the chunks back to back, then the index (a varint count, then per series:
//! key and counter type, min time, max time, row count, chunk offset, chunk length, chunk CRC32),
//! then the footer: index offset u64, index length u64, index CRC32 u32, `b"AGBE"`.
//! Chunks are checked against their CRC when read; the index when the block is opened.
//!
//! Files are written to a temporary name, fsynced and renamed into place, so a block is either
//! whole or absent after a crash.

use crate::chunk::{self, Rows};
use crate::codec::{put_ivarint, put_key_bytes, put_uvarint, Reader};
use argus_core::log::sync_dir;
use argus_core::point::CounterType;
use argus_core::SeriesKey;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"AGB1";
const END: &[u8; 4] = b"AGBE";
const HEADER: usize = 4 + 4 + 8 + 8 + 8;
const FOOTER: usize = 8 + 8 + 4 + 4;

/// Identity of a block: resolution, partition and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Seconds per row: 0 for raw data, else the rollup bucket.
    pub resolution: u32,
    /// Partition start, inclusive.
    pub start: i64,
    /// Partition end, exclusive.
    pub end: i64,
    /// Higher sequences win over lower ones for the same timestamp.
    pub seq: u64,
}

/// One series' chunk in a block. It does not hold the series key: a block stays open for the
/// whole retention with an entry per series, and an owned key in each entry made the open blocks
/// of a long-running node cost far more memory than its series. The engine maps its series to
/// entries once, at open ([`Block::open_with_keys`]).
#[derive(Debug, Clone)]
pub struct Entry {
    /// How its values are read.
    pub counter_type: CounterType,
    /// First timestamp.
    pub min_t: i64,
    /// Last timestamp.
    pub max_t: i64,
    /// Rows.
    pub count: u64,
    offset: u64,
    len: u64,
    crc: u32,
}

impl Entry {
    /// Bytes of the compressed chunk.
    pub fn chunk_bytes(&self) -> u64 {
        self.len
    }
}

/// An open block.
pub struct Block {
    /// Its identity.
    pub meta: BlockMeta,
    /// Its file.
    pub path: PathBuf,
    /// Size of the file.
    pub bytes: u64,
    /// The series it holds.
    pub entries: Vec<Entry>,
    file: File,
    /// Where the index is in the file (read again only to name a series in an error).
    index_at: (u64, u64),
}

/// A block file problem.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// I/O.
    #[error("block {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is damaged.
    #[error("block {path}: corrupt: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The file name of a block.
pub fn file_name(m: &BlockMeta) -> String {
    format!("r{}-{}-{}.blk", m.resolution, m.start, m.seq)
}

/// Writes a block series by series, so a merge of a large partition never holds all of it in
/// memory: chunks stream to a temporary file, the index stays in memory until [`finish`].
///
/// [`finish`]: BlockWriter::finish
pub struct BlockWriter {
    meta: BlockMeta,
    dir: PathBuf,
    tmp: PathBuf,
    out: std::io::BufWriter<File>,
    pos: u64,
    index: Vec<u8>,
    count: u64,
}

impl BlockWriter {
    /// Starts a block in `dir`.
    pub fn new(dir: &Path, meta: BlockMeta) -> Result<Self, BlockError> {
        let tmp = dir.join(format!("{}.tmp", file_name(&meta)));
        let f = File::create(&tmp).map_err(|source| BlockError::Io {
            path: tmp.clone(),
            source,
        })?;
        let mut w = BlockWriter {
            meta,
            dir: dir.to_path_buf(),
            tmp,
            out: std::io::BufWriter::with_capacity(1 << 20, f),
            pos: 0,
            index: Vec::new(),
            count: 0,
        };
        let mut head = Vec::with_capacity(HEADER);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&meta.resolution.to_le_bytes());
        head.extend_from_slice(&meta.start.to_le_bytes());
        head.extend_from_slice(&meta.end.to_le_bytes());
        head.extend_from_slice(&meta.seq.to_le_bytes());
        w.put(&head)?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), BlockError> {
        self.out.write_all(b).map_err(|source| BlockError::Io {
            path: self.tmp.clone(),
            source,
        })?;
        self.pos += b.len() as u64;
        Ok(())
    }

    /// Adds one series' rows (ascending); returns false (and writes nothing) when empty.
    pub fn add(
        &mut self,
        key_bytes: &[u8],
        ct: CounterType,
        rows: &Rows,
    ) -> Result<bool, BlockError> {
        if rows.is_empty() {
            return Ok(false);
        }
        let c = chunk::encode(rows);
        put_key_bytes(&mut self.index, key_bytes, ct);
        put_ivarint(&mut self.index, rows.ts[0]);
        put_ivarint(&mut self.index, *rows.ts.last().expect("not empty"));
        put_uvarint(&mut self.index, rows.len() as u64);
        put_uvarint(&mut self.index, self.pos);
        put_uvarint(&mut self.index, c.len() as u64);
        self.index
            .extend_from_slice(&crc32fast::hash(&c).to_le_bytes());
        self.put(&c)?;
        self.count += 1;
        Ok(true)
    }

    /// Writes the index and footer, fsyncs and renames the file into place.
    pub fn finish(mut self) -> Result<PathBuf, BlockError> {
        let mut index = Vec::with_capacity(self.index.len() + 10);
        put_uvarint(&mut index, self.count);
        index.extend_from_slice(&self.index);
        let index_off = self.pos;
        let mut tail = index.clone();
        tail.extend_from_slice(&index_off.to_le_bytes());
        tail.extend_from_slice(&(index.len() as u64).to_le_bytes());
        tail.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
        tail.extend_from_slice(END);
        self.put(&tail)?;
        let io = |source| BlockError::Io {
            path: self.tmp.clone(),
            source,
        };
        let f = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        drop(f);
        let path = self.dir.join(file_name(&self.meta));
        std::fs::rename(&self.tmp, &path).map_err(io)?;
        sync_dir(&self.dir).map_err(io)?;
        Ok(path)
    }
}

/// Writes a block of `series` (each with its rows, ascending) into `dir`; returns its path.
pub fn write(
    dir: &Path,
    meta: BlockMeta,
    series: &[(&[u8], CounterType, &Rows)],
) -> Result<PathBuf, BlockError> {
    let mut w = BlockWriter::new(dir, meta)?;
    for (key, ct, rows) in series {
        w.add(key, *ct, rows)?;
    }
    w.finish()
}

impl Block {
    /// Opens a block, reading and checking its header and index.
    pub fn open(path: &Path) -> Result<Block, BlockError> {
        Self::open_parsing(path, None)
    }

    /// [`Self::open`], also returning each entry's series key and counter type (in entry
    /// order), for a reader that does not know the block's series yet.
    pub fn open_with_keys(path: &Path) -> Result<(Block, Vec<SeriesKey>), BlockError> {
        let mut keys = Vec::new();
        let b = Self::open_parsing(path, Some(&mut keys))?;
        Ok((b, keys))
    }

    fn open_parsing(path: &Path, keys: Option<&mut Vec<SeriesKey>>) -> Result<Block, BlockError> {
        let io = |source| BlockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bad = |what: String| BlockError::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let file = File::open(path).map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        if bytes < (HEADER + FOOTER) as u64 {
            return Err(bad("shorter than header and footer".into()));
        }
        let mut head = [0u8; HEADER];
        file.read_exact_at(&mut head, 0).map_err(io)?;
        let mut foot = [0u8; FOOTER];
        file.read_exact_at(&mut foot, bytes - FOOTER as u64)
            .map_err(io)?;
        if &head[..4] != MAGIC || &foot[20..] != END {
            return Err(bad("bad magic".into()));
        }
        let le64 = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let meta = BlockMeta {
            resolution: u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")),
            start: le64(&head[8..16]) as i64,
            end: le64(&head[16..24]) as i64,
            seq: le64(&head[24..32]),
        };
        let (ioff, ilen) = (le64(&foot[..8]), le64(&foot[8..16]));
        if ioff.checked_add(ilen) != Some(bytes - FOOTER as u64) {
            return Err(bad("index position out of range".into()));
        }
        let mut index = vec![0u8; ilen as usize];
        file.read_exact_at(&mut index, ioff).map_err(io)?;
        if crc32fast::hash(&index) != u32::from_le_bytes(foot[16..20].try_into().expect("4")) {
            return Err(bad("index checksum mismatch".into()));
        }
        let entries = parse_index(&index, ioff, keys).map_err(bad)?;
        Ok(Block {
            meta,
            path: path.to_path_buf(),
            bytes,
            entries,
            file,
            index_at: (ioff, ilen),
        })
    }

    /// Reads and decodes entry `i`'s chunk, checking its CRC.
    pub fn read(&self, i: usize) -> Result<Rows, BlockError> {
        let e = &self.entries[i];
        let mut buf = vec![0u8; e.len as usize];
        self.file
            .read_exact_at(&mut buf, e.offset)
            .map_err(|source| BlockError::Io {
                path: self.path.clone(),
                source,
            })?;
        let bad = |what: String| BlockError::Corrupt {
            path: self.path.clone(),
            what,
        };
        if crc32fast::hash(&buf) != e.crc {
            return Err(bad(format!("chunk of {} fails its checksum", self.name(i))));
        }
        let rows =
            chunk::decode(&buf).map_err(|d| bad(format!("chunk of {}: {d}", self.name(i))))?;
        if rows.len() as u64 != e.count {
            return Err(bad(format!(
                "chunk of {} has a wrong row count",
                self.name(i)
            )));
        }
        Ok(rows)
    }

    /// Entry `i`'s series for an error message: the index is read again (it was checked at
    /// open), or the entry's position if even that fails.
    fn name(&self, i: usize) -> String {
        let (at, len) = self.index_at;
        let mut index = vec![0u8; len as usize];
        let mut keys = Vec::new();
        match self.file.read_exact_at(&mut index, at) {
            Ok(()) if parse_index(&index, at, Some(&mut keys)).is_ok() && i < keys.len() => {
                keys.swap_remove(i).to_string()
            }
            _ => format!("entry {i}"),
        }
    }
}

/// Parses a block's index; each entry's key goes to `keys` when given (skipped otherwise).
fn parse_index(
    index: &[u8],
    data_end: u64,
    mut keys: Option<&mut Vec<SeriesKey>>,
) -> Result<Vec<Entry>, String> {
    let mut r = Reader::new(index);
    let n = r.uvarint().map_err(|e| e.to_string())? as usize;
    let mut out = Vec::with_capacity(n.min(index.len() / 8));
    for i in 0..n {
        let counter_type = match keys.as_deref_mut() {
            Some(keys) => {
                let (key, ct) = r.key().map_err(|e| e.to_string())?;
                keys.push(key);
                ct
            }
            None => r.skip_key().map_err(|e| e.to_string())?,
        };
        let min_t = r.ivarint().map_err(|e| e.to_string())?;
        let max_t = r.ivarint().map_err(|e| e.to_string())?;
        let count = r.uvarint().map_err(|e| e.to_string())?;
        let offset = r.uvarint().map_err(|e| e.to_string())?;
        let len = r.uvarint().map_err(|e| e.to_string())?;
        let crc = u32::from_le_bytes(
            r.bytes(4)
                .map_err(|e| e.to_string())?
                .try_into()
                .expect("4 bytes"),
        );
        if offset < HEADER as u64 || offset.saturating_add(len) > data_end {
            return Err(format!("chunk of entry {i} points outside the data"));
        }
        out.push(Entry {
            counter_type,
            min_t,
            max_t,
            count,
            offset,
            len,
            crc,
        });
    }
    Ok(out)
}
