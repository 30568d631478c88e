//! The series registry: each series by the hash of its key, with its head and newest points.

use super::head::Head;
use crate::codec::{key_bytes, DecodeError, Reader};
use crate::index::Index;
use argus_core::point::CounterType;
use argus_core::SeriesKey;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

pub(crate) struct SeriesState {
    /// Samples not yet in blocks.
    pub head: Head,
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
    /// The key's canonical encoding ([`crate::codec::put_series_key`]): writes find their
    /// series by these bytes, so a point of a known series is matched without decoding its key.
    /// It is the only copy of the key: an owned `SeriesKey` beside it (a `String` each for
    /// endpoint and metric, a vector of tag pairs) cost about half the memory of a series.
    pub key_bytes: Box<[u8]>,
    pub counter_type: CounterType,
    /// The WAL generation in which this series was last described.
    pub wal_gen: AtomicU64,
    pub state: Mutex<SeriesState>,
}

impl SeriesMeta {
    /// The series key, decoded (for answers; matching reads [`Self::view`] in place).
    pub(crate) fn key(&self) -> SeriesKey {
        Reader::new(&self.key_bytes)
            .series_key()
            .expect("a registered key decodes")
    }

    /// The series key read in place from its encoding: nothing copied.
    pub(crate) fn view(&self) -> KeyView<'_> {
        KeyView::read(&self.key_bytes).expect("a registered key decodes")
    }

    pub(super) fn insert(&self, t: i64, v: f64) -> bool {
        let mut st = self.state.lock().expect("series lock");
        let grew = st.head.insert(t, v);
        st.max_ts = st.max_ts.max(t);
        st.last.record(t, v);
        grew
    }
}

/// A series key in its canonical encoding, read in place: endpoint, metric and the encoded
/// tag pairs (sorted by key) borrowed from the bytes.
pub(crate) struct KeyView<'a> {
    pub endpoint: &'a str,
    pub metric: &'a str,
    /// The encoded tag pairs.
    tags: &'a [u8],
    n_tags: usize,
}

impl<'a> KeyView<'a> {
    pub(crate) fn read(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.str()?; // the tenant: a series is looked up within its tenant already
        let endpoint = r.str()?;
        let metric = r.str()?;
        let n_tags = r.uvarint()? as usize;
        Ok(KeyView {
            endpoint,
            metric,
            tags: r.rest(),
            n_tags,
        })
    }

    /// The tag pairs, in key order.
    pub(crate) fn tags(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut r = Reader::new(self.tags);
        (0..self.n_tags).map_while(move |_| Some((r.str().ok()?, r.str().ok()?)))
    }

    /// The value of tag `key`, if the series has it.
    pub(crate) fn tag(&self, key: &str) -> Option<&'a str> {
        self.tags().find(|(k, _)| *k == key).map(|(_, v)| v)
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
pub(super) fn key_hash(key_bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key_bytes)
}

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
    pub(super) fn find(&self, key_bytes: &[u8], h: u64) -> Option<&Arc<SeriesMeta>> {
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

    pub(super) fn create(
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
            key_bytes: key_bytes.into_boxed_slice(),
            counter_type: ct,
            wal_gen: AtomicU64::new(0),
            state: Mutex::new(SeriesState {
                head: Head::default(),
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
