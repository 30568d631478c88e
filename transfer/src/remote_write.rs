//! Prometheus remote write (protocol 1.0): a snappy-compressed (block format) protobuf
//! `WriteRequest`, as a Prometheus server or vmagent sends it.
//!
//! Mapping onto Argus points (docs/INGEST.md): one point per sample; the metric is `__name__`;
//! endpoint and tags per [`endpoint_and_tags`] (a series reads back through PromQL with exactly
//! its labels); the labels are tags, with empty values dropped (Prometheus treats them as
//! absent) and the characters tags may not hold (`, = " { }` and controls) replaced by `_`
//! (the endpoint's too, by `endpoint_and_tags`, as for line protocol). The timestamp is
//! truncated from milliseconds to seconds. Samples whose value is NaN (Prometheus's staleness
//! markers) are skipped without rejection. A rejection's index counts samples across the whole
//! request, series by series.

use crate::config::IngestConfig;
use crate::ingest::{Encoded, SeriesOk};
use crate::lineproto::{endpoint_and_tags, endpoint_and_tags_cow, Pair};
use argus_core::point::{CounterType, Point};
use argus_core::validate::{Rejection, ValidationError};
use argus_core::wire::frame;
use argus_core::wire::{Budget, Decoded, Spend, WireError, TAG_ENTRY_BYTES};
use argus_core::TenantId;
use std::borrow::Cow;

/// `prometheus.WriteRequest` (only the fields Argus reads; others are skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Why a body could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    /// Not snappy, or too large once decompressed.
    #[error("body is not a snappy block: {0}")]
    Snappy(String),
    /// Not a WriteRequest.
    #[error("body is not a remote-write protobuf WriteRequest: {0}")]
    Protobuf(String),
    /// More series, samples or labels than the request's budget.
    #[error(transparent)]
    OverBudget(#[from] WireError),
}

/// Decompresses and parses a remote-write body, refusing more than `limit` decompressed bytes
/// and more series, samples or labels than `budget` allows. Both are checked before the body
/// is turned into structures: the decompressed length snappy declares, then a walk over the
/// protobuf's wire format that counts the series, their labels and samples (prost would build
/// a 48-byte `TimeSeries` for each 2-byte empty series: a 1.5 MB body of them took a gigabyte).
pub fn parse(body: &[u8], limit: usize, budget: Budget) -> Result<WriteRequest, RemoteWriteError> {
    let raw = decompress(body, limit, budget)?;
    <WriteRequest as prost::Message>::decode(&raw[..])
        .map_err(|e| RemoteWriteError::Protobuf(e.to_string()))
}

/// The protobuf of a remote-write body, decompressed within `limit` bytes, its series,
/// samples and labels counted against `budget` (see [`parse`]).
pub fn decompress(body: &[u8], limit: usize, budget: Budget) -> Result<Vec<u8>, RemoteWriteError> {
    let n = snap::raw::decompress_len(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    if n > limit {
        return Err(RemoteWriteError::Snappy(format!(
            "{n} bytes decompressed, the limit is {limit}"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    count(&raw, budget)?;
    Ok(raw)
}

/// Maps a request's protobuf (from [`decompress`]) straight onto the forwarder's encoded points
/// in `enc`, with the mapping of [`to_points`] (same points, same rejections, the same checks
/// as [`crate::ingest::accept`]) but no structure per series or sample: labels are read as
/// strings borrowed from `raw`, each series' key is checked, hashed and encoded once and its
/// bytes copied for each of its samples, within `budget`'s bytes as [`to_points`] counts
/// them.
pub(crate) fn to_encoded(
    raw: &[u8],
    cfg: &IngestConfig,
    budget: Budget,
    enc: &mut Encoded<'_>,
) -> Result<(), RemoteWriteError> {
    let bad = |what: &str| RemoteWriteError::Protobuf(what.into());
    let mut spend = Spend::new(budget);
    let mut key = Vec::new();
    let mut labels: Vec<Pair<'_>> = Vec::new();
    let mut samples: Vec<(f64, i64)> = Vec::new();
    let mut index = 0usize;
    let mut top = Fields::new(raw);
    for (field, series) in top.by_ref() {
        if field != 1 {
            continue;
        }
        labels.clear();
        samples.clear();
        let mut name = None;
        let mut inner = Fields::new(series);
        for (field, msg) in inner.by_ref() {
            match field {
                1 => {
                    let (n, v) = label_of(msg).map_err(bad)?;
                    if n == "__name__" {
                        name = Some(v);
                    } else if !v.is_empty() {
                        labels.push((Cow::Borrowed(n), Cow::Borrowed(v)));
                    }
                }
                2 => samples.push(sample_of(msg).map_err(bad)?),
                _ => {}
            }
        }
        inner.finish()?;
        let (endpoint, tags) = endpoint_and_tags_cow(std::mem::take(&mut labels), cfg);
        // The same bytes as `to_points` counts: the strings of a point per sample but one.
        let metric_len = name.map_or(0, str::len);
        let key_bytes = tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            + tags.len() * TAG_ENTRY_BYTES
            + endpoint.len();
        spend.bytes((key_bytes + metric_len).saturating_mul(samples.len().saturating_sub(1)))?;
        let checked = match name {
            None => Err(ValidationError::new(
                "__name__",
                "the series has no __name__ label",
            )),
            Some(metric) => {
                let pairs: Vec<(&str, &str)> =
                    tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
                key.clear();
                frame::put_str(&mut key, &endpoint);
                frame::put_str(&mut key, metric);
                frame::put_uvarint(&mut key, pairs.len() as u64);
                for (k, v) in &pairs {
                    frame::put_str(&mut key, k);
                    frame::put_str(&mut key, v);
                }
                SeriesOk::check(enc.tenant(), &endpoint, metric, &pairs, enc.limits())
            }
        };
        for &(value, ms) in &samples {
            let i = index;
            index += 1;
            if value.is_nan() {
                continue;
            }
            match &checked {
                Ok(ok) => enc.push(
                    i,
                    ok,
                    &key,
                    (
                        value,
                        ms.div_euclid(1000),
                        cfg.default_step,
                        CounterType::Gauge,
                    ),
                ),
                Err(e) => enc.reject(i, e.clone()),
            }
        }
        labels = tags_back(tags);
    }
    top.finish()?;
    Ok(())
}

/// The vector of a series' pairs, emptied, to be filled again by the next series.
fn tags_back(mut tags: Vec<Pair<'_>>) -> Vec<Pair<'_>> {
    tags.clear();
    tags
}

/// A `Label` message's name and value, borrowed.
fn label_of(msg: &[u8]) -> Result<(&str, &str), &'static str> {
    let (mut name, mut value) = ("", "");
    let mut f = Fields::new(msg);
    for (field, b) in f.by_ref() {
        let s = std::str::from_utf8(b).map_err(|_| "a label is not valid UTF-8")?;
        match field {
            1 => name = s,
            2 => value = s,
            _ => {}
        }
    }
    f.fault.map_or(Ok((name, value)), Err)
}

/// A `Sample` message's value and millisecond timestamp.
fn sample_of(mut msg: &[u8]) -> Result<(f64, i64), &'static str> {
    let (mut value, mut ts) = (0.0, 0i64);
    while !msg.is_empty() {
        let key = varint(&mut msg).ok_or("truncated field key")?;
        match key & 7 {
            0 => {
                let v = varint(&mut msg).ok_or("truncated varint")?;
                if key >> 3 == 2 {
                    ts = v as i64;
                }
            }
            1 => {
                let (b, rest) = msg.split_first_chunk::<8>().ok_or("truncated double")?;
                if key >> 3 == 1 {
                    value = f64::from_le_bytes(*b);
                }
                msg = rest;
            }
            5 => msg = msg.get(4..).ok_or("truncated fixed32")?,
            2 => {
                let n = varint(&mut msg)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("truncated length")?;
                msg = msg
                    .get(n..)
                    .ok_or("a field runs past the end of its message")?;
            }
            _ => return Err("unsupported wire type (group)"),
        }
    }
    Ok((value, ts))
}

/// Walks a `WriteRequest`'s wire format without building it, taking its series, samples and
/// label entries from `budget`.
fn count(raw: &[u8], budget: Budget) -> Result<(), RemoteWriteError> {
    let mut series = 0usize;
    let mut spend = Spend::new(budget);
    let mut top = Fields::new(raw);
    for (field, body) in top.by_ref() {
        if field != 1 {
            continue;
        }
        series += 1;
        budget.check("series", series)?;
        let mut inner = Fields::new(body);
        for (field, _) in inner.by_ref() {
            match field {
                1 => spend.bytes(TAG_ENTRY_BYTES)?,
                2 => spend.points("samples", 1)?,
                _ => {}
            }
        }
        inner.finish()?;
    }
    top.finish()
}

/// The length-delimited fields of a protobuf message as (field number, bytes); other wire
/// types are stepped over. Stops at the first field it cannot read, which [`Fields::finish`]
/// then refuses: nothing past it may go uncounted to prost.
struct Fields<'a> {
    rest: &'a [u8],
    fault: Option<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Fields { rest, fault: None }
    }

    fn finish(self) -> Result<(), RemoteWriteError> {
        match self.fault {
            None => Ok(()),
            Some(what) => Err(RemoteWriteError::Protobuf(what.into())),
        }
    }

    fn read(&mut self) -> Result<Option<(u64, &'a [u8])>, &'static str> {
        loop {
            if self.rest.is_empty() {
                return Ok(None);
            }
            let key = varint(&mut self.rest).ok_or("truncated field key")?;
            let len = match key & 7 {
                0 => {
                    varint(&mut self.rest).ok_or("truncated varint")?;
                    continue;
                }
                1 => 8,
                5 => 4,
                2 => varint(&mut self.rest)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("truncated length")?,
                // Groups are deprecated and never sent by remote-write clients.
                _ => return Err("unsupported wire type (group)"),
            };
            if len > self.rest.len() {
                return Err("a field runs past the end of its message");
            }
            let (field, rest) = self.rest.split_at(len);
            self.rest = rest;
            if key & 7 == 2 {
                return Ok(Some((key >> 3, field)));
            }
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.fault.is_some() {
            return None;
        }
        self.read().unwrap_or_else(|e| {
            self.fault = Some(e);
            None
        })
    }
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Encodes a request (snappy block of the protobuf), as senders do: for tests and benchmarks.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compression of a buffer cannot fail")
}

/// Maps a request onto points, within `budget`'s bytes for the series' strings copied into
/// each sample's point but the last (its samples were counted by [`parse`]).
pub fn to_points(
    req: WriteRequest,
    cfg: &IngestConfig,
    budget: Budget,
) -> Result<Decoded, WireError> {
    let mut spend = Spend::new(budget);
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut index = 0usize;
    for ts in req.timeseries {
        let mut name = None;
        let mut labels = Vec::with_capacity(ts.labels.len());
        for l in ts.labels {
            if l.name == "__name__" {
                name = Some(l.value);
            } else if !l.value.is_empty() {
                labels.push((l.name, l.value));
            }
        }
        let (mut endpoint, mut tags) = endpoint_and_tags(labels, cfg);
        let n = ts.samples.len();
        let metric_len = name.as_ref().map_or(0, String::len);
        spend.bytes(
            (Budget::key_bytes(&endpoint, "", &tags) + metric_len)
                .saturating_mul(n.saturating_sub(1)),
        )?;
        for (j, s) in ts.samples.into_iter().enumerate() {
            let i = index;
            index += 1;
            if s.value.is_nan() {
                continue;
            }
            // The last sample's point takes the series' strings instead of copies.
            let last = j + 1 == n;
            let Some(metric) = (if last { name.take() } else { name.clone() }) else {
                bad.push(Rejection::new(
                    i,
                    ValidationError::new("__name__", "the series has no __name__ label"),
                ));
                continue;
            };
            good.push((
                i,
                Point {
                    tenant: TenantId::default(),
                    endpoint: if last {
                        std::mem::take(&mut endpoint)
                    } else {
                        endpoint.clone()
                    },
                    metric,
                    tags: if last {
                        std::mem::take(&mut tags)
                    } else {
                        tags.clone()
                    },
                    value: s.value,
                    timestamp: s.timestamp.div_euclid(1000),
                    step: cfg.default_step,
                    counter_type: CounterType::Gauge,
                },
            ));
        }
    }
    Ok((good, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(n: &str, v: &str) -> Label {
        Label {
            name: n.into(),
            value: v.into(),
        }
    }

    #[test]
    fn round_trip_and_mapping() {
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        label("__name__", "http_requests_total"),
                        label("instance", "10.0.0.1:9100"),
                        label("job", "node"),
                        label("path", "/a,b"),
                        label("empty", ""),
                    ],
                    samples: vec![
                        Sample {
                            value: 5.0,
                            timestamp: 1_700_000_000_999,
                        },
                        Sample {
                            value: f64::NAN,
                            timestamp: 1_700_000_001_000,
                        },
                    ],
                },
                TimeSeries {
                    labels: vec![label("job", "x")],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: 0,
                    }],
                },
            ],
        };
        let body = encode(&req);
        let back = parse(&body, 1 << 20, Budget::UNLIMITED).unwrap();
        assert_eq!(encode(&back), body, "NaN != NaN, so compare encodings");
        let (good, bad) = to_points(back, &IngestConfig::default(), Budget::UNLIMITED).unwrap();
        assert_eq!(good.len(), 1);
        let p = &good[0].1;
        assert_eq!(p.metric, "http_requests_total");
        assert_eq!(p.endpoint, "10.0.0.1:9100");
        assert_eq!(p.timestamp, 1_700_000_000);
        // `instance` stays a label, marked as the endpoint's source: it reads back as written.
        assert_eq!(
            p.tags.to_string(),
            "__endpoint_label__=instance,instance=10.0.0.1:9100,job=node,path=/a_b"
        );
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].index, bad[0].field.as_str()), (2, "__name__"));
        assert!(parse(b"not snappy at all", 1 << 20, Budget::UNLIMITED).is_err());
        // A group (wire type 3) would hide what follows from the count: refused.
        let snappy = |raw: &[u8]| snap::raw::Encoder::new().compress_vec(raw).unwrap();
        let grouped = parse(
            &snappy(&[0x13, 0x14, 0x0a, 0x00]),
            1 << 20,
            Budget::UNLIMITED,
        );
        assert!(
            matches!(grouped, Err(RemoteWriteError::Protobuf(_))),
            "{grouped:?}"
        );
        // Series and samples are counted across the request, before prost builds anything.
        let three = Budget {
            points: 3,
            copied_bytes: usize::MAX,
        };
        assert!(parse(&body, 1 << 20, three).is_ok(), "2 series, 3 samples");
        let four = snappy(&[0x0a, 0x00].repeat(4));
        let e = parse(&four, 1 << 20, three).unwrap_err().to_string();
        assert_eq!(
            e,
            "more than 3 series in one request: the limit per request is 3"
        );
        assert!(parse(&body, 4, Budget::UNLIMITED).is_err());
    }

    /// The encoded path maps and checks every request as the `Point` path does (to_points,
    /// then `accept`'s validation): the same keys, tags (sorted, deduplicated, cleaned, the
    /// endpoint marker), timestamps, rejections and indexes.
    #[test]
    fn the_encoded_path_maps_and_checks_as_the_point_path_does() {
        let series = |labels: &[(&str, &str)], samples: &[(f64, i64)]| TimeSeries {
            labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
            samples: samples
                .iter()
                .map(|&(value, timestamp)| Sample { value, timestamp })
                .collect(),
        };
        let req = WriteRequest {
            timeseries: vec![
                series(
                    &[("__name__", "up"), ("instance", "h:1"), ("job", "node")],
                    &[(1.0, 1_700_000_000_999), (f64::NAN, 1), (2.5, -1)],
                ),
                // Unsorted, duplicated, with characters to clean and a marker of the sender's.
                series(
                    &[
                        ("zone", "a,b"),
                        ("__name__", "cpu"),
                        ("host", "server 01"),
                        ("zone", "c=d"),
                        ("__endpoint_label__", "forged"),
                        ("empty", ""),
                    ],
                    &[(0.25, 5_000)],
                ),
                series(
                    &[("endpoint", "e{1}"), ("__name__", "m"), ("a", "1")],
                    &[(3.0, 9)],
                ),
                series(&[("job", "no-name")], &[(1.0, 1), (f64::NAN, 2), (2.0, 3)]),
                series(&[("__name__", "")], &[(1.0, 1)]),
                series(&[("__name__", "bare")], &[(7.0, 1_000), (8.0, 2_000)]),
                series(&[], &[]),
            ],
        };
        let cfg = IngestConfig::default();
        let raw = prost::Message::encode_to_vec(&req);
        let tenant = TenantId::new("acme").unwrap();
        let limits = argus_core::validate::Limits::default();
        let now = 1_700_000_000;
        let encoded = |raw: &[u8], budget| {
            let mut enc = Encoded::new(&tenant, &limits, now, 0, 0);
            to_encoded(raw, &cfg, budget, &mut enc).map(|()| {
                let (f, index, rejected) = enc.parts();
                (f, index, rejected.to_vec())
            })
        };
        let (mapped, mut bad) = to_points(req, &cfg, Budget::UNLIMITED).unwrap();
        assert!(mapped
            .iter()
            .any(|(_, p)| p.tags.get("zone") == Some("c_d")));
        let mut good = Vec::new();
        for (i, mut p) in mapped {
            p.tenant = tenant.clone();
            match argus_core::validate::validate_point(&p, &limits, now) {
                Ok(()) => good.push((i, p)),
                Err(e) => bad.push(Rejection::new(i, e)),
            }
        }
        bad.sort_by_key(|r| r.index);
        let (f, index, mut rejected) = encoded(&raw, Budget::UNLIMITED).unwrap();
        rejected.sort_by_key(|r| r.index);
        let points = frame::decode_batch(&f).unwrap();
        let from_frame: Vec<(usize, Point)> = index.into_iter().zip(points).collect();
        assert_eq!(from_frame, good);
        assert_eq!(rejected, bad);
        let fields: Vec<&str> = bad.iter().map(|r| r.field.as_str()).collect();
        assert!(
            fields.contains(&"__name__")
                && fields.contains(&"metric")
                && fields.contains(&"timestamp"),
            "mapping and validation both refuse: {bad:?}"
        );
        assert!(!good.is_empty());
        // Each sample's copy of its key counts against the budget as the point path's does.
        let tight = Budget {
            points: 100,
            copied_bytes: 10,
        };
        let req = WriteRequest {
            timeseries: vec![series(
                &[("__name__", "long_metric_name"), ("instance", "host:9100")],
                &[(1.0, 1), (2.0, 2)],
            )],
        };
        let raw = prost::Message::encode_to_vec(&req);
        assert!(to_points(req, &cfg, tight).is_err());
        let mut enc = Encoded::new(&tenant, &limits, now, 0, 0);
        assert!(matches!(
            to_encoded(&raw, &cfg, tight, &mut enc),
            Err(RemoteWriteError::OverBudget(_))
        ));
        // Text that is not UTF-8 is refused, as prost refuses it.
        let mut broken = raw.clone();
        let at = broken.windows(4).position(|w| w == b"long").unwrap();
        broken[at] = 0xff;
        assert!(matches!(
            encoded(&broken, Budget::UNLIMITED),
            Err(RemoteWriteError::Protobuf(_))
        ));
    }
}
