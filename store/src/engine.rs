//! The embedded engine.
//!
//! This first engine keeps series in memory and makes every write durable in an append-only,
//! checksummed log before acknowledging it; on open it replays the log. Compressed chunks,
//! retention and rollups build on this interface.

use crate::selector::CompiledSelector;
use argus_core::point::CounterType;
use argus_core::query::{Aggregation, LastQuery, LastValue, RangeQuery, SeriesData, SeriesQuery};
use argus_core::{Point, SeriesKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};

/// Engine settings, under `[engine]` in the store's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Where data lives.
    pub data_dir: PathBuf,
    /// fsync every write before acknowledging it (the default; losing nothing acknowledged).
    pub fsync: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            data_dir: PathBuf::from("./data/store"),
            fsync: true,
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
}

/// Which names to list: `what` is `metrics`, `tag_keys` or `tag_values` (then `key` names the
/// tag), among the series of `tenant` matching `selector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelQuery {
    /// The tenant.
    pub tenant: argus_core::TenantId,
    /// `metrics`, `endpoints`, `tag_keys` or `tag_values`.
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
    /// Points stored.
    pub accepted: usize,
    /// New series created.
    pub new_series: usize,
}

struct Series {
    counter_type: CounterType,
    points: Vec<(i64, f64)>,
}

/// The embedded time-series engine. Cheap to share behind an `Arc`; reads and writes run
/// concurrently.
pub struct Engine {
    series: RwLock<HashMap<SeriesKey, Series>>,
    wal: Mutex<File>,
    wal_path: PathBuf,
    fsync: bool,
}

impl Engine {
    /// Opens (creating if needed) the engine in `cfg.data_dir`, replaying its log.
    pub fn open(cfg: &EngineConfig) -> Result<Self, StoreError> {
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(&cfg.data_dir).map_err(io(&cfg.data_dir))?;
        let wal_path = cfg.data_dir.join("wal.log");
        let mut map: HashMap<SeriesKey, Series> = HashMap::new();
        if wal_path.exists() {
            let f = File::open(&wal_path).map_err(io(&wal_path))?;
            for line in BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Point>(&line) {
                    Ok(p) => insert(&mut map, &p),
                    Err(e) => {
                        tracing::warn!(file = %wal_path.display(), error = %e, "torn log tail ignored");
                        break;
                    }
                }
            }
        }
        let wal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&wal_path)
            .map_err(io(&wal_path))?;
        Ok(Engine {
            series: RwLock::new(map),
            wal: Mutex::new(wal),
            wal_path,
            fsync: cfg.fsync,
        })
    }

    /// Stores `points` (each must carry its tenant); durable when this returns `Ok`.
    pub fn write(&self, points: &[Point]) -> Result<WriteSummary, StoreError> {
        let mut buf = Vec::with_capacity(points.len() * 128);
        for p in points {
            serde_json::to_writer(&mut buf, p).expect("a point always serializes");
            buf.push(b'\n');
        }
        {
            let mut wal = self.wal.lock().expect("wal lock");
            let err = |source| StoreError::Io {
                path: self.wal_path.clone(),
                source,
            };
            wal.write_all(&buf).map_err(err)?;
            if self.fsync {
                wal.sync_data().map_err(|source| StoreError::Io {
                    path: self.wal_path.clone(),
                    source,
                })?;
            }
        }
        let mut map = self.series.write().expect("series lock");
        let before = map.len();
        for p in points {
            insert(&mut map, p);
        }
        Ok(WriteSummary {
            accepted: points.len(),
            new_series: map.len() - before,
        })
    }

    /// Range read.
    pub fn query_range(&self, q: &RangeQuery) -> Result<Vec<SeriesData>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        if q.end < q.start {
            return Err(StoreError::BadQuery("end is before start".into()));
        }
        let map = self.series.read().expect("series lock");
        let mut out = Vec::new();
        for (key, s) in map
            .iter()
            .filter(|(k, _)| k.tenant == q.tenant && sel.matches(k))
        {
            let raw = rates(s.counter_type, &s.points);
            let pts: Vec<(i64, f64)> = raw
                .into_iter()
                .filter(|(t, _)| *t >= q.start && *t <= q.end)
                .collect();
            let pts = match q.step {
                Some(step) if step > 0 => downsample(&pts, step as i64, q.aggregation),
                _ => pts,
            };
            out.push(SeriesData {
                key: key.clone(),
                points: pts,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The latest value of each selected series.
    pub fn last(&self, q: &LastQuery) -> Result<Vec<LastValue>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        let map = self.series.read().expect("series lock");
        let mut out: Vec<LastValue> = map
            .iter()
            .filter(|(k, _)| k.tenant == q.tenant && sel.matches(k))
            .filter_map(|(k, s)| {
                rates(s.counter_type, &s.points)
                    .last()
                    .map(|(t, v)| LastValue {
                        key: k.clone(),
                        timestamp: *t,
                        value: *v,
                    })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Lists selected series.
    pub fn series(&self, q: &SeriesQuery) -> Result<Vec<SeriesKey>, StoreError> {
        let sel = CompiledSelector::new(&q.selector).map_err(StoreError::BadQuery)?;
        let map = self.series.read().expect("series lock");
        let mut out: Vec<SeriesKey> = map
            .keys()
            .filter(|k| k.tenant == q.tenant && sel.matches(k))
            .cloned()
            .collect();
        out.sort();
        out.truncate(q.limit);
        Ok(out)
    }

    /// Lists metric names, endpoints, tag keys or tag values (sorted, distinct).
    pub fn labels(&self, q: &LabelQuery) -> Result<Vec<String>, StoreError> {
        let keys = self.series(&SeriesQuery {
            tenant: q.tenant.clone(),
            selector: q.selector.clone(),
            limit: usize::MAX,
        })?;
        let mut set = std::collections::BTreeSet::new();
        for k in keys {
            match q.what {
                LabelKind::Metrics => {
                    set.insert(k.metric);
                }
                LabelKind::Endpoints => {
                    set.insert(k.endpoint);
                }
                LabelKind::TagKeys => set.extend(k.tags.iter().map(|(a, _)| a.to_string())),
                LabelKind::TagValues => {
                    let key = q.key.as_deref().ok_or_else(|| {
                        StoreError::BadQuery("key: required for tag_values".into())
                    })?;
                    if let Some(v) = k.tags.get(key) {
                        set.insert(v.to_string());
                    }
                }
            }
        }
        Ok(set.into_iter().take(q.limit).collect())
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        let wal = self.wal.lock().expect("wal lock");
        wal.sync_all().map_err(|source| StoreError::Io {
            path: self.wal_path.clone(),
            source,
        })
    }
}

fn insert(map: &mut HashMap<SeriesKey, Series>, p: &Point) {
    let s = map.entry(SeriesKey::of(p)).or_insert_with(|| Series {
        counter_type: p.counter_type,
        points: Vec::new(),
    });
    match s.points.binary_search_by_key(&p.timestamp, |(t, _)| *t) {
        Ok(i) => s.points[i].1 = p.value,
        Err(i) => s.points.insert(i, (p.timestamp, p.value)),
    }
}

/// Per-second rates for counters (a reset yields no point rather than a negative spike).
fn rates(ct: CounterType, pts: &[(i64, f64)]) -> Vec<(i64, f64)> {
    match ct {
        CounterType::Gauge => pts.to_vec(),
        CounterType::Counter | CounterType::Derive => pts
            .windows(2)
            .filter_map(|w| {
                let (t0, v0) = w[0];
                let (t1, v1) = w[1];
                let dv = v1 - v0;
                if ct == CounterType::Counter && dv < 0.0 {
                    return None;
                }
                Some((t1, dv / (t1 - t0) as f64))
            })
            .collect(),
    }
}

fn downsample(pts: &[(i64, f64)], step: i64, agg: Aggregation) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let bucket = pts[i].0.div_euclid(step) * step;
        let mut j = i;
        while j < pts.len() && pts[j].0.div_euclid(step) * step == bucket {
            j += 1;
        }
        let vals = pts[i..j].iter().map(|(_, v)| *v);
        let n = (j - i) as f64;
        let v = match agg {
            Aggregation::Avg => vals.sum::<f64>() / n,
            Aggregation::Sum => vals.sum(),
            Aggregation::Min => vals.fold(f64::INFINITY, f64::min),
            Aggregation::Max => vals.fold(f64::NEG_INFINITY, f64::max),
            Aggregation::Count => n,
            Aggregation::Last => pts[j - 1].1,
        };
        out.push((bucket, v));
        i = j;
    }
    out
}
