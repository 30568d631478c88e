//! The embedded engine.
//!
//! A write is validated (tenant, cardinality cap, out-of-order window, retention horizon),
//! appended to the [WAL](crate::wal) and acknowledged once the log is durable; then the samples
//! enter the per-series *head* (in memory). A background thread periodically freezes the head,
//! writes it as compressed [block files](crate::block) per time partition and truncates the WAL;
//! merges the blocks of a partition into one (compaction), builds rollups of sealed partitions
//! and drops blocks past retention (the private `maintain` module).
//!
//! Reads merge, per series, the blocks, the frozen heads being written and the live head; for the
//! same timestamp the newest source wins.

use crate::aggregate::{self, bucket_raw, finish, merge_pairs, merge_rows, rates, rebucket};
use crate::block::Block;
use crate::chunk::Rows;
use crate::codec::{
    key_bytes, put_ivarint, put_key, put_series_key, put_uvarint, FramePoint, Reader,
};
use crate::index::Index;
use crate::selector::CompiledSelector;
use crate::wal::{SyncPolicy, Wal};
use argus_core::point::CounterType;
use argus_core::query::{LastQuery, LastValue, RangeQuery, SeriesData, SeriesQuery};
use argus_core::validate::{Rejection, ValidationError};
use argus_core::{Point, SeriesKey, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
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

/// Which names to list: metric names, endpoints, tag keys or tag values (then `key` names the
/// tag), among the series of `tenant` matching `selector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelQuery {
    /// The tenant.
    pub tenant: TenantId,
    /// What to list.
    pub what: LabelKind,
    /// For `tag_values`: the tag key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Restricts to these series.
    #[serde(default)]
    pub selector: argus_core::query::Selector,
    /// At most this many names.
    #[serde(default = "default_label_limit")]
    pub limit: usize,
}

fn default_label_limit() -> usize {
    10_000
}

/// What a [`LabelQuery`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Metric names.
    Metrics,
    /// Endpoints.
    Endpoints,
    /// Tag keys.
    TagKeys,
    /// Values of one tag key.
    TagValues,
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

pub(crate) struct SeriesState {
    /// Samples not yet in blocks, ascending.
    pub head: Vec<(i64, f64)>,
    /// Newest timestamp ever accepted (`i64::MIN` if none).
    pub max_ts: i64,
    /// The two newest raw points, newest last (for last value and counter rates).
    pub last: Last,
}

/// The two newest raw points of a series, inline (no heap allocation per series).
#[derive(Default, Clone, Copy)]
pub(crate) struct Last {
    pts: [(i64, f64); 2],
    n: u8,
}

impl Last {
    /// The points, oldest first.
    pub(crate) fn as_slice(&self) -> &[(i64, f64)] {
        &self.pts[..self.n as usize]
    }

    fn record(&mut self, t: i64, v: f64) {
        let n = self.n as usize;
        if let Some(p) = self.pts[..n].iter_mut().find(|p| p.0 == t) {
            p.1 = v;
        } else if n < 2 {
            self.pts[n] = (t, v);
            self.n += 1;
            if n == 1 && self.pts[0].0 > t {
                self.pts.swap(0, 1);
            }
        } else if t > self.pts[1].0 {
            self.pts = [self.pts[1], (t, v)];
        } else if t > self.pts[0].0 {
            self.pts[0] = (t, v);
        }
    }
}

pub(crate) struct SeriesMeta {
    pub id: u32,
    pub key: SeriesKey,
    /// The key's canonical encoding ([`put_series_key`]): writes find their series by these
    /// bytes, so a point of a known series is matched without decoding its key.
    pub key_bytes: Box<[u8]>,
    pub counter_type: CounterType,
    /// The WAL generation in which this series was last described.
    pub wal_gen: AtomicU64,
    pub state: Mutex<SeriesState>,
}

impl SeriesMeta {
    fn insert(&self, t: i64, v: f64) -> bool {
        let mut st = self.state.lock().expect("series lock");
        let grew = match st.head.last() {
            Some(&(lt, _)) if lt >= t => match st.head.binary_search_by_key(&t, |p| p.0) {
                Ok(i) => {
                    st.head[i].1 = v;
                    false
                }
                Err(i) => {
                    st.head.insert(i, (t, v));
                    true
                }
            },
            _ => {
                st.head.push((t, v));
                true
            }
        };
        st.max_ts = st.max_ts.max(t);
        st.last.record(t, v);
        grew
    }
}

/// Hashes a series id for a map local to one write: a multiply spreads the small sequential ids
/// over the high bits the table probes by, at a fraction of SipHash's cost.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// What identifies a series in [`Registry`]: xxh3 of its key's canonical encoding.
fn key_hash(key_bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key_bytes)
}

/// Checks the key of a series a write would create (a storage node applies its `[limits]`).
pub type NewSeriesCheck<'a> = dyn Fn(&SeriesKey) -> Result<(), ValidationError> + Sync + 'a;

/// Keys of [`Registry`]'s maps are series hashes (xxh3), already uniformly spread: hashing them
/// again with SipHash was the largest single cost of a write. Used as they are.
#[derive(Default, Clone, Copy)]
pub(crate) struct SeriesHasher(u64);

impl std::hash::Hasher for SeriesHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; anything else still spreads.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type SeriesHashBuild = std::hash::BuildHasherDefault<SeriesHasher>;

#[derive(Default)]
pub(crate) struct Registry {
    /// Series id by key hash; the rare further ids of colliding hashes are in `collisions`
    /// (one map entry per series, no heap vector each).
    pub by_hash: HashMap<u64, u32, SeriesHashBuild>,
    pub collisions: HashMap<u64, Vec<u32>, SeriesHashBuild>,
    pub series: Vec<Arc<SeriesMeta>>,
    pub index: Index,
}

impl Registry {
    fn ids(&self, h: u64) -> impl Iterator<Item = u32> + '_ {
        self.by_hash
            .get(&h)
            .copied()
            .into_iter()
            .chain(self.collisions.get(&h).into_iter().flatten().copied())
    }

    /// The series whose canonical key encoding is `key_bytes` (hashing to `h`).
    fn find(&self, key_bytes: &[u8], h: u64) -> Option<&Arc<SeriesMeta>> {
        self.ids(h)
            .map(|id| &self.series[id as usize])
            .find(|m| *m.key_bytes == *key_bytes)
    }

    /// Finds or creates the series of `key`, bypassing the cardinality cap (recovery).
    pub(crate) fn get_or_create(&mut self, key: &SeriesKey, ct: CounterType) -> Arc<SeriesMeta> {
        let kb = key_bytes(key);
        let h = key_hash(&kb);
        if let Some(m) = self.find(&kb, h) {
            return m.clone();
        }
        self.create(key.clone(), kb, ct, h)
    }

    fn create(
        &mut self,
        key: SeriesKey,
        key_bytes: Vec<u8>,
        ct: CounterType,
        h: u64,
    ) -> Arc<SeriesMeta> {
        let id = self.series.len() as u32;
        self.index.add(id, &key);
        let m = Arc::new(SeriesMeta {
            id,
            key,
            key_bytes: key_bytes.into_boxed_slice(),
            counter_type: ct,
            wal_gen: AtomicU64::new(0),
            state: Mutex::new(SeriesState {
                head: Vec::new(),
                max_ts: i64::MIN,
                last: Last::default(),
            }),
        });
        self.series.push(m.clone());
        if let std::collections::hash_map::Entry::Vacant(e) = self.by_hash.entry(h) {
            e.insert(id);
        } else {
            self.collisions.entry(h).or_default().push(id);
        }
        m
    }
}

/// Samples of one series taken out of its head.
pub(crate) type FrozenSeries = (Arc<SeriesMeta>, Vec<(i64, f64)>);

/// A head taken out of the live series, being written to blocks; still readable meanwhile.
pub(crate) struct Frozen {
    pub data: HashMap<u32, FrozenSeries>,
    /// The WAL segment started when this head was frozen: every sample here is in earlier ones.
    pub wal_segment: u64,
}

/// A block file with its series resolved to engine ids.
pub(crate) struct BlockRef {
    pub block: Block,
    pub by_id: HashMap<u32, usize>,
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
    pub wal: Wal,
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
        let replay = replay_wal(&wal_dir, &mut reg).map_err(io(&wal_dir))?;
        let head_points = reg
            .series
            .iter()
            .map(|m| m.state.lock().expect("series lock").head.len())
            .sum();
        let policy = if cfg.fsync {
            SyncPolicy::Always
        } else {
            SyncPolicy::Background
        };
        let wal = Wal::open(&wal_dir, policy).map_err(io(&wal_dir))?;
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
            truncated = replay.truncated.len(), "engine open");
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
            .map(|m| m.key.clone())
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

/// Replays the WAL into the registry's heads.
fn replay_wal(dir: &std::path::Path, reg: &mut Registry) -> std::io::Result<crate::wal::Replay> {
    let mut refs: HashMap<u64, Arc<SeriesMeta>> = HashMap::new();
    let mut cur_seg = u64::MAX;
    let mut bad = 0u64;
    let rep = crate::wal::replay(dir, true, |seg, payload| {
        if seg != cur_seg {
            refs.clear();
            cur_seg = seg;
        }
        if decode_record(payload, reg, &mut refs).is_err() {
            bad += 1;
        }
    })?;
    if bad > 0 {
        tracing::warn!(
            records = bad,
            "write-ahead log records with unknown series or bad content skipped"
        );
    }
    Ok(rep)
}

fn decode_record(
    payload: &[u8],
    reg: &mut Registry,
    refs: &mut HashMap<u64, Arc<SeriesMeta>>,
) -> Result<(), crate::codec::DecodeError> {
    let mut r = Reader::new(payload);
    let delta = match r.u8()? {
        REC_SAMPLES => false,
        REC_SAMPLES_DELTA => true,
        _ => {
            return Err(crate::codec::DecodeError {
                at: 0,
                what: "record kind",
            })
        }
    };
    let ndefs = r.uvarint()?;
    for _ in 0..ndefs {
        let id = r.uvarint()?;
        let (key, ct) = r.key()?;
        refs.insert(id, reg.get_or_create(&key, ct));
    }
    let n = r.uvarint()?;
    let base = if delta && n > 0 { r.ivarint()? } else { 0 };
    for _ in 0..n {
        let id = r.uvarint()?;
        let t = r.ivarint()?.wrapping_add(base);
        let v = r.f64()?;
        if let Some(m) = refs.get(&id) {
            m.insert(t, v);
        }
    }
    Ok(())
}

/// Decodes the key of a series a write would create and checks it: a set tenant, then
/// `check_new`. The error names the field and the reason.
fn new_series_key(
    key_bytes: &[u8],
    check_new: &NewSeriesCheck,
) -> Result<SeriesKey, ValidationError> {
    let mut r = Reader::new(key_bytes);
    let key = r
        .series_key()
        .map_err(|e| ValidationError::new("key", e.to_string()))?;
    if key.tenant.is_unset() {
        return Err(ValidationError::new(
            "tenant",
            "must be set by the transfer",
        ));
    }
    check_new(&key)?;
    Ok(key)
}

impl Core {
    fn disk_check(&self) -> Result<(), StoreError> {
        let q = self.cfg.disk_quota_bytes;
        if q > 0 {
            let used = self.block_bytes.load(Ordering::Relaxed) + self.wal.size();
            if used >= q {
                return Err(StoreError::DiskFull(format!(
                    "data uses {used} bytes, engine.disk_quota_bytes is {q}"
                )));
            }
        }
        Ok(())
    }

    /// Finds the series of each point, creating missing ones within the tenant's cap; `None`
    /// for a point refused (its rejection is in `sum`).
    fn resolve(
        &self,
        points: &[FramePoint],
        check_new: &NewSeriesCheck,
        sum: &mut WriteSummary,
    ) -> Vec<Option<Arc<SeriesMeta>>> {
        let hashes: Vec<u64> = points.iter().map(|p| key_hash(p.key)).collect();
        let mut out: Vec<Option<Arc<SeriesMeta>>> = {
            let reg = self.reg.read().expect("registry lock");
            points
                .iter()
                .zip(&hashes)
                .map(|(p, &h)| reg.find(p.key, h).cloned())
                .collect()
        };
        if out.iter().all(Option::is_some) {
            return out;
        }
        // New series (or keys not in canonical form): decoded and checked outside the lock.
        let mut fresh = Vec::new();
        for (i, p) in points.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            match new_series_key(p.key, check_new) {
                Ok(key) => {
                    let kb = key_bytes(&key);
                    let h = key_hash(&kb);
                    fresh.push((i, key, kb, h));
                }
                Err(e) => sum.rejected.push(Rejection::new(i, e)),
            }
        }
        let cap = self.cfg.max_series_per_tenant;
        let mut reg = self.reg.write().expect("registry lock");
        for (i, key, kb, h) in fresh {
            out[i] = match reg.find(&kb, h) {
                Some(m) => Some(m.clone()),
                None if reg.index.cardinality(&key.tenant) >= cap => {
                    self.counters.cardinality.fetch_add(1, Ordering::Relaxed);
                    sum.rejected.push(Rejection {
                        index: i,
                        field: "tags".into(),
                        reason: format!(
                            "tenant {} reached its limit of {cap} series \
                             (engine.max_series_per_tenant); new series refused",
                            key.tenant
                        ),
                    });
                    None
                }
                None => {
                    sum.new_series += 1;
                    Some(reg.create(key, kb, points[i].counter_type, h))
                }
            };
        }
        out
    }

    pub(crate) fn write(
        &self,
        points: &[FramePoint],
        check_new: &NewSeriesCheck,
        now: i64,
    ) -> Result<WriteSummary, StoreError> {
        let _gate = self.gate.read().expect("gate lock");
        self.disk_check()?;
        let mut sum = WriteSummary::default();
        let metas = self.resolve(points, check_new, &mut sum);
        let window = self.cfg.out_of_order_window_secs;
        let horizon = now - self.cfg.retention_raw_secs;
        let mut ok: Vec<(Arc<SeriesMeta>, i64, f64)> = Vec::with_capacity(points.len());
        let reject = |sum: &mut WriteSummary, i: usize, field: &str, reason: String| {
            sum.rejected.push(Rejection {
                index: i,
                field: field.into(),
                reason,
            })
        };
        // Each series' newest point as this batch would leave it. Series state changes only
        // once the WAL commit succeeds (as Prometheus's head appender does), so a failed
        // commit leaves `max_ts` as it was and a retry of the same points is not "too old".
        let mut batch_max: HashMap<u32, i64, BuildHasherDefault<IdHasher>> = HashMap::default();
        for (i, (p, m)) in points.iter().zip(metas).enumerate() {
            let Some(m) = m else { continue };
            let st = m.state.lock().expect("series lock");
            let newest = match batch_max.get(&m.id) {
                Some(&b) => st.max_ts.max(b),
                None => st.max_ts,
            };
            if newest != i64::MIN && p.timestamp < newest.saturating_sub(window) {
                self.counters.too_old.fetch_add(1, Ordering::Relaxed);
                let reason = format!(
                    "{} is more than the out-of-order window of {window} s older than the series' newest point {}",
                    p.timestamp, newest);
                drop(st);
                reject(&mut sum, i, "timestamp", reason);
                continue;
            }
            if p.timestamp < horizon {
                self.counters.too_old.fetch_add(1, Ordering::Relaxed);
                drop(st);
                reject(
                    &mut sum,
                    i,
                    "timestamp",
                    format!(
                        "{} is older than the raw retention ({} s)",
                        p.timestamp, self.cfg.retention_raw_secs
                    ),
                );
                continue;
            }
            drop(st);
            let b = batch_max.entry(m.id).or_insert(p.timestamp);
            *b = (*b).max(p.timestamp);
            ok.push((m, p.timestamp, p.value));
        }
        sum.rejected.sort_by_key(|r| r.index);
        if ok.is_empty() {
            return Ok(sum);
        }
        let seq = self
            .wal
            .append(|generation, buf| encode_record(generation, &ok, buf));
        self.wal.commit(seq).map_err(|e| {
            if e.disk_full {
                StoreError::DiskFull(e.to_string())
            } else {
                StoreError::Wal(e.to_string())
            }
        })?;
        let mut grew = 0;
        for (m, t, v) in &ok {
            grew += m.insert(*t, *v) as usize;
        }
        self.head_points.fetch_add(grew, Ordering::Relaxed);
        self.counters
            .ingested
            .fetch_add(ok.len() as u64, Ordering::Relaxed);
        sum.accepted = ok.len();
        Ok(sum)
    }

    /// The series of `tenant` matching `sel`, ascending by id.
    pub(crate) fn select(&self, tenant: &TenantId, sel: &CompiledSelector) -> Vec<Arc<SeriesMeta>> {
        let reg = self.reg.read().expect("registry lock");
        reg.index
            .candidates(tenant, sel)
            .into_iter()
            .map(|id| reg.series[id as usize].clone())
            .filter(|m| sel.matches(&m.key))
            .collect()
    }

    /// Raw stored points of a series within `[a, b]`, merged across blocks, frozen heads and the
    /// live head.
    pub(crate) fn raw(
        &self,
        m: &SeriesMeta,
        a: i64,
        b: i64,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let inside = |p: &(i64, f64)| p.0 >= a && p.0 <= b;
        let mut parts = Vec::new();
        let blocks: Vec<Arc<BlockRef>> = self.blocks.read().expect("blocks lock").clone();
        for br in blocks.iter().filter(|br| {
            br.block.meta.resolution == 0 && br.block.meta.start <= b && br.block.meta.end > a
        }) {
            if let Some(&i) = br.by_id.get(&m.id) {
                let e = &br.block.entries[i];
                if e.min_t <= b && e.max_t >= a {
                    let rows = br.block.read(i)?;
                    parts.push(rows.pairs(0).into_iter().filter(inside).collect());
                }
            }
        }
        for f in self.frozen.read().expect("frozen lock").iter() {
            if let Some((_, pts)) = f.data.get(&m.id) {
                parts.push(pts.iter().copied().filter(inside).collect());
            }
        }
        {
            let st = m.state.lock().expect("series lock");
            let lo = st.head.partition_point(|p| p.0 < a);
            let hi = st.head.partition_point(|p| p.0 <= b);
            parts.push(st.head[lo..hi].to_vec());
        }
        Ok(merge_pairs(parts))
    }

    /// Rollup rows of resolution `res` within `[a, b]`.
    fn rolled(&self, m: &SeriesMeta, res: u32, a: i64, b: i64) -> Result<Rows, StoreError> {
        let mut parts = Vec::new();
        let blocks: Vec<Arc<BlockRef>> = self.blocks.read().expect("blocks lock").clone();
        for br in blocks.iter().filter(|br| {
            br.block.meta.resolution == res && br.block.meta.start <= b && br.block.meta.end > a
        }) {
            if let Some(&i) = br.by_id.get(&m.id) {
                let rows = br.block.read(i)?;
                let lo = rows.ts.partition_point(|&t| t < a);
                let hi = rows.ts.partition_point(|&t| t <= b);
                parts.push(Rows {
                    ts: rows.ts[lo..hi].to_vec(),
                    cols: rows.cols.iter().map(|c| c[lo..hi].to_vec()).collect(),
                });
            }
        }
        Ok(merge_rows(parts))
    }

    /// What a reader sees of a series in `[a, b]`: raw values, or per-second rates for counters.
    pub(crate) fn readable(
        &self,
        m: &SeriesMeta,
        a: i64,
        b: i64,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        if m.counter_type == CounterType::Gauge {
            return self.raw(m, a, b);
        }
        let raw = self.raw(m, a.saturating_sub(self.cfg.counter_lookback_secs), b)?;
        Ok(rates(m.counter_type, &raw)
            .into_iter()
            .filter(|p| p.0 >= a)
            .collect())
    }

    /// The end of the newest raw partition that has rollups (everything before is rolled up).
    fn rolled_until(&self) -> i64 {
        self.rollups
            .lock()
            .expect("rollup lock")
            .keys()
            .next_back()
            .map_or(i64::MIN, |s| s + self.cfg.partition_secs)
    }

    /// The resolution that answers `[start, ..]` at `step`: raw while raw data is retained, else
    /// the finest rollup that divides the step and is retained.
    fn resolution_for(&self, start: i64, step: i64, now: i64) -> u32 {
        if step <= 0 || start >= now - self.cfg.retention_raw_secs {
            return 0;
        }
        if step % 300 == 0 && start >= now - self.cfg.retention_5m_secs {
            return 300;
        }
        if step % 3600 == 0 {
            return 3600;
        }
        if step % 300 == 0 {
            return 300;
        }
        0
    }

    /// One series' step buckets (`[sum, count, min, max, last]` rows) at `step`.
    fn buckets(
        &self,
        m: &SeriesMeta,
        q: &RangeQuery,
        step: i64,
        now: i64,
    ) -> Result<Rows, StoreError> {
        let res = self.resolution_for(q.start, step, now);
        if res == 0 {
            return Ok(bucket_raw(&self.readable(m, q.start, q.end)?, step));
        }
        // Rollups up to where they exist, raw (while retained) after.
        let split = self.rolled_until().clamp(q.start, q.end.saturating_add(1));
        let mut parts = vec![self.rolled(m, res, q.start, split - 1)?];
        if split <= q.end {
            parts.push(bucket_raw(&self.readable(m, split, q.end)?, res as i64));
        }
        Ok(rebucket(&merge_rows(parts), step))
    }

    pub(crate) fn query_range(
        &self,
        q: &RangeQuery,
        now: i64,
    ) -> Result<Vec<SeriesData>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        if q.end < q.start {
            return Err(StoreError::BadQuery("end: is before start".into()));
        }
        let series = self.select(&q.tenant, &sel);
        let step = q.step.map(|s| s as i64).filter(|&s| s > 0);
        let mut out = Vec::with_capacity(series.len());
        for m in &series {
            let points = match step {
                None if q.group_by.is_none() => self.readable(m, q.start, q.end)?,
                None => finish(
                    &bucket_raw(&self.readable(m, q.start, q.end)?, 1),
                    q.aggregation,
                ),
                Some(s) => finish(&self.buckets(m, q, s, now)?, q.aggregation),
            };
            out.push(SeriesData {
                key: m.key.clone(),
                points,
            });
        }
        if let Some(by) = &q.group_by {
            return Ok(aggregate::group(out, by, q));
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(crate) fn last(&self, q: &LastQuery) -> Result<Vec<LastValue>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        let mut out = Vec::new();
        for m in self.select(&q.tenant, &sel) {
            let (last, max_ts) = {
                let st = m.state.lock().expect("series lock");
                (st.last.as_slice().to_vec(), st.max_ts)
            };
            let need = if m.counter_type == CounterType::Gauge {
                1
            } else {
                2
            };
            let complete = last.len() >= need && last.last().map(|p| p.0) == Some(max_ts);
            let last = if complete || max_ts == i64::MIN {
                last
            } else {
                // After a restart the newest points may be only in blocks.
                let lb = self.cfg.counter_lookback_secs.max(self.cfg.partition_secs);
                let raw = self.raw(&m, max_ts - lb, max_ts)?;
                raw[raw.len().saturating_sub(2)..].to_vec()
            };
            if let Some(&(t, v)) = rates(m.counter_type, &last).last() {
                out.push(LastValue {
                    key: m.key.clone(),
                    timestamp: t,
                    value: v,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn labels(&self, q: &LabelQuery) -> Result<Vec<String>, StoreError> {
        if q.what == LabelKind::TagValues && q.key.is_none() {
            return Err(StoreError::BadQuery("key: required for tag_values".into()));
        }
        let empty = q.selector == argus_core::query::Selector::default();
        if empty {
            // Straight from the index.
            let reg = self.reg.read().expect("registry lock");
            let Some(t) = reg.index.tenant(&q.tenant) else {
                return Ok(Vec::new());
            };
            let names: Vec<String> = match q.what {
                LabelKind::Metrics => t.metrics.keys().take(q.limit).cloned().collect(),
                LabelKind::Endpoints => t.endpoints.keys().take(q.limit).cloned().collect(),
                LabelKind::TagKeys => t.tags.keys().take(q.limit).cloned().collect(),
                LabelKind::TagValues => t
                    .tags
                    .get(q.key.as_deref().unwrap_or_default())
                    .map(|v| v.keys().take(q.limit).cloned().collect())
                    .unwrap_or_default(),
            };
            return Ok(names);
        }
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        let mut set = std::collections::BTreeSet::new();
        for m in self.select(&q.tenant, &sel) {
            let k = &m.key;
            match q.what {
                LabelKind::Metrics => {
                    set.insert(k.metric.clone());
                }
                LabelKind::Endpoints => {
                    set.insert(k.endpoint.clone());
                }
                LabelKind::TagKeys => set.extend(k.tags.iter().map(|(a, _)| a.to_string())),
                LabelKind::TagValues => {
                    if let Some(v) = k.tags.get(q.key.as_deref().unwrap_or_default()) {
                        set.insert(v.to_string());
                    }
                }
            }
        }
        Ok(set.into_iter().take(q.limit).collect())
    }

    pub(crate) fn stats(&self) -> EngineStats {
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

/// Encodes one WAL record: series not yet described in this WAL generation, then the samples.
fn encode_record(generation: u64, ok: &[(Arc<SeriesMeta>, i64, f64)], buf: &mut Vec<u8>) {
    buf.push(REC_SAMPLES_DELTA);
    let defs: Vec<&SeriesMeta> = ok
        .iter()
        .filter(|(m, _, _)| m.wal_gen.swap(generation, Ordering::Relaxed) != generation)
        .map(|(m, _, _)| &**m)
        .collect();
    put_uvarint(buf, defs.len() as u64);
    for m in defs {
        put_uvarint(buf, m.id as u64);
        put_key(buf, &m.key, m.counter_type);
    }
    put_uvarint(buf, ok.len() as u64);
    let base = ok.first().map_or(0, |(_, t, _)| *t);
    if !ok.is_empty() {
        put_ivarint(buf, base);
    }
    for (m, t, v) in ok {
        put_uvarint(buf, m.id as u64);
        put_ivarint(buf, t.wrapping_sub(base));
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::point::Tags;

    fn pt(v: f64, ts: i64) -> Point {
        let mut p = Point::gauge("h", "m", Tags::default(), v, ts);
        p.tenant = TenantId::new("acme").expect("tenant");
        p
    }

    fn max_ts(e: &Engine) -> i64 {
        let reg = e.core.reg.read().expect("registry lock");
        let st = reg.series[0].state.lock().expect("series lock");
        st.max_ts
    }

    #[test]
    fn a_failed_wal_commit_leaves_max_ts_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(&EngineConfig {
            data_dir: dir.path().to_path_buf(),
            background: false,
            out_of_order_window_secs: 600,
            ..Default::default()
        })
        .expect("open");
        let t = argus_core::time::now_secs() - 3600;
        assert_eq!(e.write(&[pt(1.0, t)]).expect("write").accepted, 1);
        assert_eq!(max_ts(&e), t);

        // A read-only handle on the segment: the commit's write fails as on a broken disk.
        let ro = std::fs::File::open(e.core.wal.segment_path_for_test()).expect("open ro");
        let rw = e.core.wal.swap_file_for_test(ro);
        let err = e
            .write(&[pt(2.0, t + 3000), pt(3.0, t + 3001)])
            .expect_err("the WAL commit must fail");
        assert!(matches!(err, StoreError::Wal(_)), "{err}");
        assert_eq!(max_ts(&e), t, "a failed commit must not raise max_ts");
        e.core.wal.swap_file_for_test(rw);

        // Within the window of what was committed, though far behind the failed batch: taken.
        let s = e.write(&[pt(4.0, t + 1)]).expect("write");
        assert_eq!((s.accepted, s.rejected.len()), (1, 0), "{:?}", s.rejected);
        // And the failed batch itself, sent again, is taken.
        let s = e
            .write(&[pt(2.0, t + 3000), pt(3.0, t + 3001)])
            .expect("write");
        assert_eq!((s.accepted, s.rejected.len()), (2, 0), "{:?}", s.rejected);
        assert_eq!(max_ts(&e), t + 3001);
        let got: Vec<(i64, f64)> = e.core.reg.read().expect("registry lock").series[0]
            .state
            .lock()
            .expect("series lock")
            .head
            .clone();
        assert_eq!(
            got,
            vec![(t, 1.0), (t + 1, 4.0), (t + 3000, 2.0), (t + 3001, 3.0)]
        );
    }

    /// A log written before timestamps were delta-coded (record kind 1) still replays after an
    /// upgrade; a new write goes in the delta-coded kind and replays too.
    #[test]
    fn a_log_of_absolute_timestamp_records_replays_after_an_upgrade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = argus_core::time::now_secs() - 3600;
        let key = SeriesKey::new(
            TenantId::new("acme").expect("tenant"),
            "h",
            "m",
            Tags::default(),
        );
        let mut payload = vec![REC_SAMPLES];
        put_uvarint(&mut payload, 1);
        put_uvarint(&mut payload, 7);
        put_key(&mut payload, &key, CounterType::Gauge);
        put_uvarint(&mut payload, 2);
        for (dt, v) in [(0i64, 1.5f64), (10, 2.5)] {
            put_uvarint(&mut payload, 7);
            put_ivarint(&mut payload, t + dt);
            payload.extend_from_slice(&v.to_le_bytes());
        }
        let mut record = (payload.len() as u32).to_le_bytes().to_vec();
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        std::fs::create_dir_all(dir.path().join("wal")).expect("wal dir");
        std::fs::write(dir.path().join("wal").join("0000000001.wal"), record).expect("segment");

        let cfg = EngineConfig {
            data_dir: dir.path().to_path_buf(),
            background: false,
            ..Default::default()
        };
        let head = |e: &Engine| -> Vec<(i64, f64)> {
            e.core.reg.read().expect("registry lock").series[0]
                .state
                .lock()
                .expect("series lock")
                .head
                .clone()
        };
        let e = Engine::open(&cfg).expect("open");
        assert_eq!(head(&e), vec![(t, 1.5), (t + 10, 2.5)]);
        assert_eq!(
            e.write(&[pt(3.5, t + 20), pt(4.5, t + 19)])
                .expect("write")
                .accepted,
            2
        );
        drop(e);
        let e = Engine::open(&cfg).expect("reopen");
        assert_eq!(
            head(&e),
            vec![(t, 1.5), (t + 10, 2.5), (t + 19, 4.5), (t + 20, 3.5)]
        );
    }

    #[test]
    fn a_batch_is_checked_against_its_own_newer_points() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(&EngineConfig {
            data_dir: dir.path().to_path_buf(),
            background: false,
            out_of_order_window_secs: 600,
            ..Default::default()
        })
        .expect("open");
        let t = argus_core::time::now_secs() - 3600;
        let s = e.write(&[pt(1.0, t), pt(2.0, t - 700)]).expect("write");
        assert_eq!(s.accepted, 1);
        assert_eq!(s.rejected.len(), 1);
        assert_eq!(s.rejected[0].index, 1);
    }
}
