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
use crate::lineproto::endpoint_and_tags;
use argus_core::point::{CounterType, Point};
use argus_core::validate::{Rejection, ValidationError};
use argus_core::wire::Decoded;
use argus_core::TenantId;

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
}

/// Decompresses and parses a remote-write body, refusing more than `limit` decompressed bytes.
pub fn parse(body: &[u8], limit: usize) -> Result<WriteRequest, RemoteWriteError> {
    let n = snap::raw::decompress_len(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    if n > limit {
        return Err(RemoteWriteError::Snappy(format!(
            "{n} bytes decompressed, the limit is {limit}"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    <WriteRequest as prost::Message>::decode(&raw[..])
        .map_err(|e| RemoteWriteError::Protobuf(e.to_string()))
}

/// Encodes a request (snappy block of the protobuf), as senders do: for tests and benchmarks.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compression of a buffer cannot fail")
}

/// Maps a request onto points.
pub fn to_points(req: WriteRequest, cfg: &IngestConfig) -> Decoded {
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
    (good, bad)
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
        let back = parse(&body, 1 << 20).unwrap();
        assert_eq!(encode(&back), body, "NaN != NaN, so compare encodings");
        let (good, bad) = to_points(back, &IngestConfig::default());
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
        assert!(parse(b"not snappy at all", 1 << 20).is_err());
        assert!(parse(&body, 4).is_err());
    }
}
