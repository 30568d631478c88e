//! Background work: writing the head to blocks (and truncating the WAL), compaction of a
//! partition's blocks into one, rollups of sealed partitions, retention.
//!
//! Rollups: once a raw partition is older than the out-of-order window (sealed), its series are
//! bucketed into `[sum, count, min, max, last]` rows at 5 minutes and 1 hour (of the per-second
//! rates for counters) and written as rollup blocks partitioned by day (5 m) and by 30 days
//! (1 h). `rollups.json` remembers which raw partitions were rolled up at which block sequence;
//! late data re-rolls the partition (the newer rollup block wins). Rollup values are tidied for
//! compression: sums of decimal inputs rounded to their decimals, values derived from
//! non-decimal inputs (counter rates) kept to 7 significant digits.

use crate::aggregate::{self, bucket_raw, merge_rows};
use crate::block::{self, Block, BlockMeta};
use crate::chunk::Rows;
use crate::engine::{BlockRef, Core, Frozen, Registry, SeriesMeta, StoreError};
use argus_core::SeriesKey;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rollup resolutions and the partition length of their blocks.
pub(crate) const ROLLUPS: [(u32, i64); 2] = [(300, 86400), (3600, 30 * 86400)];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A block write error, telling a full disk apart.
fn disk_err(e: block::BlockError) -> StoreError {
    match e {
        block::BlockError::Io { path, source } if source.raw_os_error() == Some(28) => {
            StoreError::DiskFull(format!("{}: {source}", path.display()))
        }
        e => e.into(),
    }
}

/// Opens every block in `dir` (removing leftover temporary files), registering its series.
/// Returns the blocks ascending by sequence and the highest sequence.
pub(crate) fn load_blocks(
    dir: &Path,
    reg: &mut Registry,
) -> Result<(Vec<Arc<BlockRef>>, u64), StoreError> {
    let mut blocks = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = e.map_err(io(dir))?.path();
        match path.extension().and_then(|x| x.to_str()) {
            Some("tmp") => {
                let _ = std::fs::remove_file(&path);
            }
            Some("blk") => blocks.push(Block::open_with_keys(&path)?),
            _ => {}
        }
    }
    blocks.sort_by_key(|b| b.0.meta.seq);
    let max_seq = blocks.last().map_or(0, |b| b.0.meta.seq);
    let out = blocks
        .into_iter()
        .map(|b| Arc::new(resolve_block(b, reg)))
        .collect();
    Ok((out, max_seq))
}

fn resolve_block((block, keys): (Block, Vec<SeriesKey>), reg: &mut Registry) -> BlockRef {
    let mut by_id = Vec::with_capacity(block.entries.len());
    for (i, (e, key)) in block.entries.iter().zip(keys).enumerate() {
        let m = reg.get_or_create(&key, e.counter_type);
        if block.meta.resolution == 0 {
            let mut st = m.state.lock().expect("series lock");
            st.max_ts = st.max_ts.max(e.max_t);
        }
        by_id.push((m.id, i));
    }
    BlockRef {
        block,
        by_id: by_id.into_iter().collect(),
    }
}

fn rollup_path(dir: &Path) -> PathBuf {
    dir.join("rollups.json")
}

pub(crate) fn load_rollup_state(dir: &Path) -> BTreeMap<i64, u64> {
    std::fs::read(rollup_path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_rollup_state(dir: &Path, st: &BTreeMap<i64, u64>) -> Result<(), StoreError> {
    let path = rollup_path(dir);
    let tmp = dir.join("rollups.json.tmp");
    let data = serde_json::to_vec(st).expect("map serializes");
    std::fs::write(&tmp, data).map_err(io(&tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    argus_core::log::sync_dir(dir).map_err(io(dir))
}

/// The background loop: fsync (background policy), flush by time or size, maintenance.
pub(crate) fn background(core: Arc<Core>, stop: Arc<AtomicBool>) {
    let mut last_flush = Instant::now();
    let mut last_sync = Instant::now();
    let flush_every = Duration::from_secs(core.cfg.flush_interval_secs.max(1));
    let sync_every = Duration::from_millis(core.cfg.fsync_interval_ms.max(10));
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        if !core.cfg.fsync && last_sync.elapsed() >= sync_every {
            let _ = core.wal.sync();
            last_sync = Instant::now();
        }
        let big = core.head_points.load(Ordering::Relaxed) >= core.cfg.head_max_points;
        if big || last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
            if let Err(e) = core.maintain(argus_core::time::now_secs(), true) {
                tracing::error!(error = %e, "storage maintenance failed");
            }
        }
    }
}

impl Core {
    /// Freezes the head and writes it (and any frozen head left by an earlier failure) to
    /// blocks; then deletes the WAL segments they came from.
    pub(crate) fn flush_head(&self) -> Result<(), StoreError> {
        let _m = self.maint.lock().expect("maintenance lock");
        self.flush_locked()
    }

    fn flush_locked(&self) -> Result<(), StoreError> {
        {
            let _gate = self.gate.write().expect("gate lock");
            let seg = self
                .wal
                .rotate()
                .map_err(|e| StoreError::Wal(e.to_string()))?;
            let series: Vec<Arc<SeriesMeta>> =
                self.reg.read().expect("registry lock").series.clone();
            let mut data = HashMap::new();
            for m in series {
                let mut st = m.state.lock().expect("series lock");
                if !st.head.is_empty() {
                    let pts = std::mem::take(&mut st.head);
                    drop(st);
                    data.insert(m.id, (m, pts));
                }
            }
            self.head_points.store(0, Ordering::Relaxed);
            self.frozen
                .write()
                .expect("frozen lock")
                .push(Arc::new(Frozen {
                    data,
                    wal_segment: seg,
                }));
        }
        loop {
            let Some(f) = self.frozen.read().expect("frozen lock").first().cloned() else {
                break;
            };
            self.write_frozen(&f)?;
            self.frozen.write().expect("frozen lock").remove(0);
            self.wal
                .remove_before(f.wal_segment)
                .map_err(io(&self.cfg.data_dir))?;
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes a frozen head as one block per time partition it touches, series by series into
    /// each partition's writer: a series' head is decoded only while it is written (copying the
    /// whole head into rows first doubled a flush's memory, the largest peak of a node).
    fn write_frozen(&self, f: &Frozen) -> Result<(), StoreError> {
        let p = self.cfg.partition_secs;
        let mut writers: BTreeMap<i64, (block::BlockWriter, Vec<u32>)> = BTreeMap::new();
        let mut ids: Vec<&u32> = f.data.keys().collect();
        ids.sort_unstable();
        for id in ids {
            let (m, head) = &f.data[id];
            let pts = head.to_vec();
            let mut i = 0;
            while i < pts.len() {
                let start = pts[i].0.div_euclid(p) * p;
                let j = i + pts[i..].partition_point(|x| x.0 < start + p);
                let (w, ids) = match writers.entry(start) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let meta = BlockMeta {
                            resolution: 0,
                            start,
                            end: start + p,
                            seq: self.next_seq.fetch_add(1, Ordering::SeqCst),
                        };
                        let w =
                            block::BlockWriter::new(&self.blocks_dir, meta).map_err(disk_err)?;
                        e.insert((w, Vec::new()))
                    }
                };
                if w.add(&m.key_bytes, m.counter_type, &Rows::from_pairs(&pts[i..j]))
                    .map_err(disk_err)?
                {
                    ids.push(m.id);
                }
                i = j;
            }
        }
        let mut new = Vec::with_capacity(writers.len());
        for (w, ids) in writers.into_values() {
            let path = w.finish().map_err(disk_err)?;
            new.push(Arc::new(BlockRef {
                block: Block::open(&path)?,
                by_id: ids.into_iter().zip(0..).collect(),
            }));
        }
        self.install(new, &[]);
        Ok(())
    }

    fn write_block(
        &self,
        meta: BlockMeta,
        series: &[(&SeriesMeta, Rows)],
    ) -> Result<Arc<BlockRef>, StoreError> {
        let list: Vec<_> = series
            .iter()
            .map(|(m, r)| (&*m.key_bytes, m.counter_type, r))
            .collect();
        let path = block::write(&self.blocks_dir, meta, &list).map_err(disk_err)?;
        let b = Block::open(&path)?;
        let by_id = series
            .iter()
            .zip(0..)
            .filter(|((_, r), _)| !r.is_empty())
            .map(|((m, _), _)| m.id)
            .zip(0..)
            .collect();
        Ok(Arc::new(BlockRef { block: b, by_id }))
    }

    /// Adds `new` blocks and removes `old` ones (by sequence) in one step, deleting their files.
    fn install(&self, new: Vec<Arc<BlockRef>>, old: &[u64]) {
        let mut blocks = self.blocks.write().expect("blocks lock");
        let mut removed = Vec::new();
        blocks.retain(|b| {
            let keep = !old.contains(&b.block.meta.seq);
            if !keep {
                removed.push(b.clone());
            }
            keep
        });
        for b in &new {
            self.block_bytes.fetch_add(b.block.bytes, Ordering::Relaxed);
        }
        blocks.extend(new);
        blocks.sort_by_key(|b| b.block.meta.seq);
        drop(blocks);
        for b in removed {
            self.block_bytes.fetch_sub(b.block.bytes, Ordering::Relaxed);
            if let Err(e) = std::fs::remove_file(&b.block.path) {
                tracing::warn!(path = %b.block.path.display(), error = %e, "cannot delete block");
            }
        }
    }

    /// One maintenance round as of `now`.
    pub(crate) fn maintain(&self, now: i64, flush: bool) -> Result<(), StoreError> {
        let _m = self.maint.lock().expect("maintenance lock");
        if flush {
            self.flush_locked()?;
        }
        self.retention(now);
        let t0 = Instant::now();
        let mut worked = self.compact()?;
        worked += self.build_rollups(now)?;
        worked += self.compact()?;
        if worked > 0 {
            self.counters
                .compaction_micros
                .fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn retention(&self, now: i64) {
        let keep = |res: u32| match res {
            0 => self.cfg.retention_raw_secs,
            300 => self.cfg.retention_5m_secs,
            _ => self.cfg.retention_1h_secs,
        };
        let old: Vec<u64> = self
            .blocks
            .read()
            .expect("blocks lock")
            .iter()
            .filter(|b| b.block.meta.end <= now - keep(b.block.meta.resolution))
            .map(|b| b.block.meta.seq)
            .collect();
        if !old.is_empty() {
            tracing::info!(blocks = old.len(), "dropping blocks past retention");
            self.install(Vec::new(), &old);
        }
    }

    /// Merges every partition that has several blocks into one. Returns merges done.
    fn compact(&self) -> Result<usize, StoreError> {
        let mut groups: BTreeMap<(u32, i64), Vec<Arc<BlockRef>>> = BTreeMap::new();
        for b in self.blocks.read().expect("blocks lock").iter() {
            groups
                .entry((b.block.meta.resolution, b.block.meta.start))
                .or_default()
                .push(b.clone());
        }
        let mut n = 0;
        for ((res, start), group) in groups.into_iter().filter(|(_, g)| g.len() > 1) {
            let series: Vec<Arc<SeriesMeta>> = {
                let reg = self.reg.read().expect("registry lock");
                let mut ids: Vec<u32> = group.iter().flat_map(|b| b.by_id.ids()).collect();
                ids.sort_unstable();
                ids.dedup();
                ids.into_iter()
                    .map(|id| reg.series[id as usize].clone())
                    .collect()
            };
            let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
            let meta = BlockMeta {
                resolution: res,
                start,
                end: group[0].block.meta.end,
                seq,
            };
            // Stream series by series: a partition may be far larger than memory.
            let mut w = block::BlockWriter::new(&self.blocks_dir, meta).map_err(disk_err)?;
            let mut ids = Vec::with_capacity(series.len());
            for m in &series {
                let mut parts = Vec::new();
                for b in &group {
                    if let Some(i) = b.by_id.get(m.id) {
                        parts.push(b.block.read(i)?);
                    }
                }
                if w.add(&m.key_bytes, m.counter_type, &merge_rows(parts))
                    .map_err(disk_err)?
                {
                    ids.push(m.id);
                }
            }
            let path = w.finish().map_err(disk_err)?;
            let nb = Arc::new(BlockRef {
                block: Block::open(&path)?,
                by_id: ids.into_iter().zip(0..).collect(),
            });
            let old: Vec<u64> = group.iter().map(|b| b.block.meta.seq).collect();
            if res == 0 {
                // The merged block holds the same data: keep the partition's rollup current.
                let mut st = self.rollups.lock().expect("rollup lock");
                if let Some(done) = st.get_mut(&start) {
                    if old.iter().all(|s| s <= done) {
                        *done = seq;
                        save_rollup_state(&self.cfg.data_dir, &st)?;
                    }
                }
            }
            self.install(vec![nb], &old);
            self.counters.compactions.fetch_add(1, Ordering::Relaxed);
            n += 1;
        }
        Ok(n)
    }

    /// Rolls up sealed raw partitions whose blocks changed since their last rollup.
    fn build_rollups(&self, now: i64) -> Result<usize, StoreError> {
        let sealed_before = now - self.cfg.out_of_order_window_secs;
        let mut todo: BTreeMap<i64, (u64, Vec<u32>)> = BTreeMap::new();
        for b in self.blocks.read().expect("blocks lock").iter() {
            let m = &b.block.meta;
            if m.resolution == 0 && m.end <= sealed_before {
                let e = todo.entry(m.start).or_default();
                e.0 = e.0.max(m.seq);
                e.1.extend(b.by_id.ids());
            }
        }
        let done = self.rollups.lock().expect("rollup lock").clone();
        let mut n = 0;
        for (start, (seq, mut ids)) in todo {
            if done.get(&start).is_some_and(|&d| d >= seq) {
                continue;
            }
            ids.sort_unstable();
            ids.dedup();
            let series: Vec<Arc<SeriesMeta>> = {
                let reg = self.reg.read().expect("registry lock");
                ids.iter()
                    .map(|&id| reg.series[id as usize].clone())
                    .collect()
            };
            let end = start + self.cfg.partition_secs;
            let mut per_res: Vec<Vec<(&SeriesMeta, Rows)>> = vec![Vec::new(); ROLLUPS.len()];
            for m in &series {
                let pts = self.readable(m, start, end - 1)?;
                let d = aggregate::decimals(&pts);
                for (k, (res, _)) in ROLLUPS.iter().enumerate() {
                    let mut rows = bucket_raw(&pts, *res as i64);
                    aggregate::tidy_rollup(&mut rows, d);
                    per_res[k].push((&**m, rows));
                }
            }
            for (k, (res, plen)) in ROLLUPS.iter().enumerate() {
                let pstart = start.div_euclid(*plen) * plen;
                let meta = BlockMeta {
                    resolution: *res,
                    start: pstart,
                    end: pstart + plen,
                    seq: self.next_seq.fetch_add(1, Ordering::SeqCst),
                };
                let b = self.write_block(meta, &per_res[k])?;
                self.install(vec![b], &[]);
            }
            let mut st = self.rollups.lock().expect("rollup lock");
            st.insert(start, seq);
            // Forget partitions whose raw data is gone.
            let horizon = now - self.cfg.retention_raw_secs - self.cfg.partition_secs;
            st.retain(|&s, _| s >= horizon || s == start);
            save_rollup_state(&self.cfg.data_dir, &st)?;
            self.counters.compactions.fetch_add(1, Ordering::Relaxed);
            n += 1;
        }
        Ok(n)
    }
}
