//! `argus-store check DIR`: verifies a data directory without changing it.
//!
//! Every block's header, index and chunk checksums are read and every chunk decoded; every WAL
//! segment is read record by record. Damage is reported with the file and the reason.

use crate::block::Block;
use std::path::{Path, PathBuf};

/// What a check found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CheckReport {
    /// Blocks read whole.
    pub blocks_ok: u64,
    /// Series chunks read.
    pub chunks: u64,
    /// Rows (points or rollup buckets) in them.
    pub rows: u64,
    /// Intact WAL records.
    pub wal_records: u64,
    /// Problems: file and reason.
    pub problems: Vec<(PathBuf, String)>,
}

impl CheckReport {
    /// True when nothing is damaged.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the data directory `dir` (the engine's `data_dir`).
pub fn check(dir: &Path) -> std::io::Result<CheckReport> {
    let mut rep = CheckReport::default();
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let blocks = dir.join("blocks");
    if blocks.is_dir() {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&blocks)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "blk"))
            .collect();
        paths.sort();
        for p in paths {
            match Block::open(&p) {
                Err(e) => rep.problems.push((p, e.to_string())),
                Ok(b) => {
                    let mut ok = true;
                    for i in 0..b.entries.len() {
                        match b.read(i) {
                            Ok(r) => {
                                rep.chunks += 1;
                                rep.rows += r.len() as u64;
                            }
                            Err(e) => {
                                ok = false;
                                rep.problems.push((p.clone(), e.to_string()));
                            }
                        }
                    }
                    rep.blocks_ok += ok as u64;
                }
            }
        }
    }
    let wal = dir.join("wal");
    let r = argus_core::log::scan(&wal, crate::engine::WAL_SUFFIX, |_, _| {})?;
    rep.wal_records = r.records;
    for d in r.truncated {
        rep.problems.push((
            d.path,
            format!(
                "{} at byte {} (the engine truncates it on open)",
                d.reason, d.offset
            ),
        ));
    }
    for d in r.corrupt {
        rep.problems.push((
            d.path,
            format!(
                "corrupt: {} at byte {} (the engine skips that record, or the rest of the segment)",
                d.reason, d.offset
            ),
        ));
    }
    Ok(rep)
}
