//! The embedded engine.
//!
//! A write is validated (tenant, cardinality cap, out-of-order window, retention horizon),
//! appended to the WAL ([`argus_core::log`]) and acknowledged once the log is durable; then the samples
//! enter the per-series *head* (in memory). A background thread periodically freezes the head,
//! writes it as compressed [block files](crate::block) per time partition and truncates the WAL;
//! merges the blocks of a partition into one (compaction), builds rollups of sealed partitions
//! and drops blocks past retention (the private `maintain` module).
//!
//! Reads merge, per series, the blocks, the frozen heads being written and the live head; for the
//! same timestamp the newest source wins.
//!
//! The code is split by operation: `registry` (series by key, their heads), `append` (the
//! write path: resolve series, commit to the WAL, insert into heads), `read` (selection and
//! range, last-value and label reads) and `replay` (rebuilding heads from the WAL at open).

mod append;
mod head;
mod read;
mod registry;
mod replay;

pub use append::NewSeriesCheck;
/// The label listing query, shared with [`crate::client`] (its home is core).
pub use argus_core::query::{LabelKind, LabelQuery};
pub(crate) use registry::{KeyView, Registry, SeriesMeta};
use replay::replay_wal;

use crate::block::Block;
use crate::codec::{put_series_key, FramePoint};
use crate::selector::CompiledSelector;
use argus_core::log::{Log, SyncPolicy};
use argus_core::query::{LastQuery, LastValue, RangeQuery, SeriesData, SeriesQuery};
use argus_core::validate::Rejection;
use argus_core::{Point, SeriesKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Engine settings, under `[engine]` in the store's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Where data lives (`wal/`, `blocks/`).
    pub data_dir: PathBuf,
    /// fsync the log before acknowledging a write (the default: nothing acknowledged is lost even
    /// on power loss). When false, writes are acknowledged once handed to the OS (survives
    /// `kill -9`, not a machine crash) and the log is fsynced every `fsync_interval_ms`.
    pub fsync: bool,
    /// Background fsync period when `fsync` is false.
    pub fsync_interval_ms: u64,
    /// How far (seconds) behind a series' newest point a point may still arrive.
    pub out_of_order_window_secs: i64,
    /// How long raw points are kept (seconds; default 15 days).
    pub retention_raw_secs: i64,
    /// How long 5-minute rollups are kept (default 90 days).
    pub retention_5m_secs: i64,
    /// How long 1-hour rollups are kept (default 2 years).
    pub retention_1h_secs: i64,
    /// Raw block time partition in seconds (must divide a day; default 2 hours).
    pub partition_secs: i64,
    /// How often the head is written to blocks (seconds).
    pub flush_interval_secs: u64,
    /// Write the head to blocks early once it holds this many points.
    pub head_max_points: usize,
    /// Most series one tenant may have; points of new series beyond it are refused.
    pub max_series_per_tenant: usize,
    /// Refuse writes once data on disk reaches this many bytes (0: only the device's limit).
    pub disk_quota_bytes: u64,
    /// How far before a range's start counters look for the previous point (seconds).
    pub counter_lookback_secs: i64,
    /// Run flushing, compaction, rollups and retention in a background thread.
    pub background: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            data_dir: PathBuf::from("./data/store"),
            fsync: true,
            fsync_interval_ms: 1000,
            out_of_order_window_secs: 3600,
            retention_raw_secs: 15 * 86400,
            retention_5m_secs: 90 * 86400,
            retention_1h_secs: 730 * 86400,
            partition_secs: 7200,
            flush_interval_secs: 600,
            head_max_points: 4_000_000,
            max_series_per_tenant: 1_000_000,
            disk_quota_bytes: 0,
            counter_lookback_secs: 900,
            background: true,
        }
    }
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("storage I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The query is malformed.
    #[error("invalid query: {0}")]
    BadQuery(String),
    /// Writes cannot be made durable: the disk (or quota) is full. Reads keep working.
    #[error("disk full, writes refused (reads still work): {0}")]
    DiskFull(String),
    /// The write-ahead log failed for another reason.
    #[error("{0}")]
    Wal(String),
    /// Stored data is damaged.
    #[error("{0}")]
    Corrupt(String),
}

impl From<crate::block::BlockError> for StoreError {
    fn from(e: crate::block::BlockError) -> Self {
        match e {
            crate::block::BlockError::Io { path, source } => StoreError::Io { path, source },
            c => StoreError::Corrupt(c.to_string()),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSummary {
    /// Points stored (durable).
    pub accepted: usize,
    /// New series created.
    pub new_series: usize,
    /// Points refused, by index in the batch, with the field and reason.
    #[serde(default)]
    pub rejected: Vec<Rejection>,
}

/// Counters about the engine, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EngineStats {
    /// Series known.
    pub series: u64,
    /// Points accepted since start.
    pub points_ingested: u64,
    /// Points refused as older than the out-of-order window or retention.
    pub rejected_too_old: u64,
    /// Points refused by the per-tenant series cap.
    pub rejected_cardinality: u64,
    /// Points in memory not yet in blocks.
    pub head_points: u64,
    /// Bytes of block files.
    pub block_bytes: u64,
    /// Bytes of write-ahead log.
    pub wal_bytes: u64,
    /// Block files.
    pub blocks: u64,
    /// Compactions (block merges and rollup builds) done.
    pub compactions: u64,
    /// Seconds spent compacting.
    pub compaction_seconds: f64,
    /// Head flushes done.
    pub flushes: u64,
    /// Damaged WAL tails truncated at open.
    pub wal_truncations: u64,
}

/// Samples of one series taken out of its head.
pub(crate) type FrozenSeries = (Arc<SeriesMeta>, head::Head);

/// A head taken out of the live series, being written to blocks; still readable meanwhile.
pub(crate) struct Frozen {
    pub data: HashMap<u32, FrozenSeries>,
    /// The WAL segment started when this head was frozen: every sample here is in earlier ones.
    pub wal_segment: u64,
}

/// A block file with its series resolved to engine ids.
pub(crate) struct BlockRef {
    pub block: Block,
    pub by_id: ById,
}

/// A block's entry for each engine series id: `(id, entry)` pairs sorted by id. A block stays
/// open for the whole retention with a pair per series it holds, so the 8 bytes a pair matter
/// (a hash map took two to four times that).
#[derive(Default)]
pub(crate) struct ById(Box<[(u32, u32)]>);

impl ById {
    /// The entry of series `id`, if the block holds it.
    pub(crate) fn get(&self, id: u32) -> Option<usize> {
        self.0
            .binary_search_by_key(&id, |p| p.0)
            .ok()
            .map(|i| self.0[i].1 as usize)
    }

    /// The series ids the block holds, ascending.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().map(|p| p.0)
    }
}

impl FromIterator<(u32, usize)> for ById {
    fn from_iter<I: IntoIterator<Item = (u32, usize)>>(it: I) -> Self {
        let mut v: Vec<(u32, u32)> = it.into_iter().map(|(id, e)| (id, e as u32)).collect();
        // Written blocks list series by ascending id already; a block opened at start may not.
        if !v.is_sorted_by_key(|p| p.0) {
            v.sort_unstable_by_key(|p| p.0);
        }
        ById(v.into_boxed_slice())
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub ingested: AtomicU64,
    pub too_old: AtomicU64,
    pub cardinality: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_micros: AtomicU64,
    pub flushes: AtomicU64,
    pub wal_truncations: AtomicU64,
}

/// The engine's shared state (the background thread holds it too).
pub(crate) struct Core {
    pub cfg: EngineConfig,
    pub blocks_dir: PathBuf,
    pub wal: Log,
    /// Writers hold it shared from WAL append to head insert; freezing the head holds it
    /// exclusively, so a frozen head and the WAL segments before its rotation hold the same data.
    pub gate: RwLock<()>,
    pub reg: RwLock<Registry>,
    /// Open blocks, ascending by sequence.
    pub blocks: RwLock<Vec<Arc<BlockRef>>>,
    pub frozen: RwLock<Vec<Arc<Frozen>>>,
    pub next_seq: AtomicU64,
    pub head_points: AtomicUsize,
    pub block_bytes: AtomicU64,
    /// One maintenance task at a time.
    pub maint: Mutex<()>,
    pub counters: Counters,
    /// Raw partition start → highest raw block sequence already rolled up.
    pub rollups: Mutex<BTreeMap<i64, u64>>,
}

/// The embedded time-series engine. Cheap to share behind an `Arc`; reads and writes run
/// concurrently.
pub struct Engine {
    pub(crate) core: Arc<Core>,
    stop: Arc<AtomicBool>,
    bg: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.bg.lock().expect("bg lock").take() {
            let _ = h.join();
        }
        let _ = self.core.wal.sync();
    }
}

/// File suffix of the WAL's segments: `wal/<n>.wal`.
pub(crate) const WAL_SUFFIX: &str = "wal";

/// The kind byte of a WAL record of samples.
/// A WAL record of samples with absolute timestamps (written before timestamps were delta-coded;
/// still read so that an upgraded node replays its old log).
const REC_SAMPLES: u8 = 1;
/// A WAL record of samples whose timestamps are deltas from the record's first one: a batch
/// usually shares one timestamp, so each costs a byte instead of five.
const REC_SAMPLES_DELTA: u8 = 2;

impl Engine {
    /// Opens (creating if needed) the engine in `cfg.data_dir`: loads the block indexes, replays
    /// the WAL (truncating and reporting a damaged tail) and starts the background thread.
    pub fn open(cfg: &EngineConfig) -> Result<Self, StoreError> {
        let mut cfg = cfg.clone();
        if cfg.partition_secs <= 0
            || 86400 % cfg.partition_secs != 0
            || cfg.partition_secs % 3600 != 0
        {
            tracing::warn!(
                partition_secs = cfg.partition_secs,
                "engine.partition_secs must be a whole number of hours dividing a day; using 7200"
            );
            cfg.partition_secs = 7200;
        }
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| StoreError::Io { path, source }
        };
        let blocks_dir = cfg.data_dir.join("blocks");
        let wal_dir = cfg.data_dir.join("wal");
        std::fs::create_dir_all(&blocks_dir).map_err(io(&blocks_dir))?;
        let mut reg = Registry::default();
        let (blocks, max_seq) = crate::maintain::load_blocks(&blocks_dir, &mut reg)?;
        let block_bytes = blocks.iter().map(|b| b.block.bytes).sum();
        let policy = if cfg.fsync {
            SyncPolicy::Always
        } else {
            SyncPolicy::Background
        };
        let (wal, replay) = replay_wal(&wal_dir, policy, &mut reg).map_err(io(&wal_dir))?;
        let head_points = reg
            .series
            .iter()
            .map(|m| m.state.lock().expect("series lock").head.len())
            .sum();
        let rollups = crate::maintain::load_rollup_state(&cfg.data_dir);
        let core = Arc::new(Core {
            cfg: cfg.clone(),
            blocks_dir,
            wal,
            gate: RwLock::new(()),
            reg: RwLock::new(reg),
            blocks: RwLock::new(blocks),
            frozen: RwLock::new(Vec::new()),
            next_seq: AtomicU64::new(max_seq + 1),
            head_points: AtomicUsize::new(head_points),
            block_bytes: AtomicU64::new(block_bytes),
            maint: Mutex::new(()),
            counters: Counters::default(),
            rollups: Mutex::new(rollups),
        });
        core.counters
            .wal_truncations
            .store(replay.truncated.len() as u64, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let bg = if cfg.background {
            let (core, stop) = (core.clone(), stop.clone());
            Some(
                std::thread::Builder::new()
                    .name("argus-store-maint".into())
                    .spawn(move || crate::maintain::background(core, stop))
                    .map_err(io(&cfg.data_dir))?,
            )
        } else {
            None
        };
        tracing::info!(data_dir = %cfg.data_dir.display(), wal_records = replay.records,
            truncated = replay.truncated.len(), corrupt = replay.corrupt.len(), "engine open");
        Ok(Engine {
            core,
            stop,
            bg: Mutex::new(bg),
        })
    }

    /// Stores `points` (each must carry its tenant); the accepted ones are durable when this
    /// returns `Ok`. Points refused (unset tenant, cardinality cap, older than the out-of-order
    /// window or retention) are listed in the summary with their reason.
    pub fn write(&self, points: &[Point]) -> Result<WriteSummary, StoreError> {
        self.write_at(points, argus_core::time::now_secs())
    }

    /// Stores the points of a write frame ([`crate::codec::split_frame`]), as
    /// [`write`](Engine::write) does, at Unix time `now`. A point of a series the engine
    /// already holds is matched by its key's bytes, undecoded; the key of a new series is
    /// decoded and given to `check_new`, and the point is refused with its error when that
    /// fails. Samples are not checked here (see [`argus_core::validate::validate_sample`]).
    pub fn write_frame_at(
        &self,
        points: &[FramePoint],
        check_new: &NewSeriesCheck,
        now: i64,
    ) -> Result<WriteSummary, StoreError> {
        self.core.write(points, check_new, now)
    }

    /// Range read: raw points, or per-step aggregates; per series or grouped across series.
    pub fn query_range(&self, q: &RangeQuery) -> Result<Vec<SeriesData>, StoreError> {
        self.core.query_range(q, argus_core::time::now_secs())
    }

    /// [`query_range`](Engine::query_range) as if the time were `now` (which decides whether raw
    /// data or rollups answer); for tests and replays.
    pub fn query_range_at(&self, q: &RangeQuery, now: i64) -> Result<Vec<SeriesData>, StoreError> {
        self.core.query_range(q, now)
    }

    /// [`write`](Engine::write) as if the time were `now` (the retention horizon).
    pub fn write_at(&self, points: &[Point], now: i64) -> Result<WriteSummary, StoreError> {
        // The points' keys in canonical encoding, one buffer for the whole batch.
        let mut keys = Vec::with_capacity(points.len() * 48);
        let mut ends = Vec::with_capacity(points.len());
        for p in points {
            put_series_key(&mut keys, &p.tenant, &p.endpoint, &p.metric, &p.tags);
            ends.push(keys.len());
        }
        let mut start = 0;
        let frame: Vec<FramePoint> = points
            .iter()
            .zip(ends)
            .map(|(p, end)| {
                let key = &keys[start..end];
                start = end;
                FramePoint {
                    key,
                    value: p.value,
                    timestamp: p.timestamp,
                    step: p.step,
                    counter_type: p.counter_type,
                }
            })
            .collect();
        self.core.write(&frame, &|_| Ok(()), now)
    }

    /// The latest value of each selected series (per-second rate for counters).
    pub fn last(&self, q: &LastQuery) -> Result<Vec<LastValue>, StoreError> {
        self.core.last(q)
    }

    /// Lists selected series.
    pub fn series(&self, q: &SeriesQuery) -> Result<Vec<SeriesKey>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        let mut out: Vec<SeriesKey> = self
            .core
            .select(&q.tenant, &sel)
            .into_iter()
            .map(|m| m.key())
            .collect();
        out.sort();
        out.truncate(q.limit);
        Ok(out)
    }

    /// Lists metric names, endpoints, tag keys or tag values (sorted, distinct).
    pub fn labels(&self, q: &LabelQuery) -> Result<Vec<String>, StoreError> {
        self.core.labels(q)
    }

    /// Makes everything written so far durable (fsyncs the log).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.core.wal.sync().map_err(|source| StoreError::Io {
            path: self.core.cfg.data_dir.join("wal"),
            source,
        })
    }

    /// Writes the head to block files now and truncates the log.
    pub fn flush_head(&self) -> Result<(), StoreError> {
        self.core.flush_head()
    }

    /// Runs one maintenance round as of `now`: flush the head, compact, build rollups of sealed
    /// partitions, drop blocks past retention. The background thread does this periodically.
    pub fn maintain(&self, now: i64) -> Result<(), StoreError> {
        self.core.maintain(now, true)
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> EngineStats {
        self.core.stats()
    }

    /// The configuration in effect.
    pub fn config(&self) -> &EngineConfig {
        &self.core.cfg
    }
}

impl Core {
    fn stats(&self) -> EngineStats {
        let c = &self.counters;
        EngineStats {
            series: self.reg.read().expect("registry lock").series.len() as u64,
            points_ingested: c.ingested.load(Ordering::Relaxed),
            rejected_too_old: c.too_old.load(Ordering::Relaxed),
            rejected_cardinality: c.cardinality.load(Ordering::Relaxed),
            head_points: self.head_points.load(Ordering::Relaxed) as u64,
            block_bytes: self.block_bytes.load(Ordering::Relaxed),
            wal_bytes: self.wal.size(),
            blocks: self.blocks.read().expect("blocks lock").len() as u64,
            compactions: c.compactions.load(Ordering::Relaxed),
            compaction_seconds: c.compaction_micros.load(Ordering::Relaxed) as f64 / 1e6,
            flushes: c.flushes.load(Ordering::Relaxed),
            wal_truncations: c.wal_truncations.load(Ordering::Relaxed),
        }
    }
}
