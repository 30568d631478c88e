//! Request bodies for one step of the fleet, in each system's ingest format:
//! the Argus batch (the binary point frame, zstd, one request per host as agents send it) and
//! the Prometheus
//! remote-write `WriteRequest` (protobuf, snappy, batches of whole hosts).
//!
//! Bodies are written directly rather than through `Point`/serde or owned prost structs: the load
//! generator shares the machine with the servers under test, so it must stay cheap. The tests
//! decode what the fast path writes with the transfer's prost remote-write messages
//! (`argus_transfer::remote_write`).

use crate::workload::Fleet;
use prost::encoding::{encode_key, encode_varint, WireType};

/// One HTTP request's worth of points.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// Index of the tenant whose token signs it (Argus); unused by remote write.
    pub tenant: usize,
    /// Compressed body.
    pub bytes: Vec<u8>,
    /// Points it carries.
    pub points: usize,
}

/// Argus: one batch per `hosts_per_batch` hosts of one tenant, as agents send it: the binary
/// point frame (`argus_core::wire::frame`, tenant left empty, tags in key order), zstd level 1.
pub(crate) fn argus_step(
    fleet: &Fleet,
    hosts: &[usize],
    k: i64,
    t0: i64,
    hosts_per_batch: usize,
) -> Vec<Body> {
    use argus_core::wire::frame::{put_ivarint, put_str, put_uvarint};
    let ts = t0 + k * fleet.step;
    // Each series' tags in key order, as `Tags` keeps them (the storage node matches series by
    // their key's canonical bytes).
    let sorted: Vec<Vec<(&str, &str)>> = fleet
        .series
        .iter()
        .map(|s| {
            let mut t: Vec<(&str, &str)> = s.tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
            t.sort_unstable();
            t
        })
        .collect();
    let mut out = Vec::new();
    let mut raw = Vec::with_capacity(16 * 1024);
    for chunk in hosts.chunks(hosts_per_batch.max(1)) {
        // Keep batches single-tenant: an agent's token names one tenant.
        let mut by_tenant: Vec<(usize, Vec<usize>)> = Vec::new();
        for &h in chunk {
            let t = fleet.hosts[h].tenant;
            match by_tenant.iter_mut().find(|(x, _)| *x == t) {
                Some((_, v)) => v.push(h),
                None => by_tenant.push((t, vec![h])),
            }
        }
        for (tenant, hs) in by_tenant {
            let n = hs.len() * fleet.series.len();
            raw.clear();
            raw.extend_from_slice(b"AGP1");
            put_uvarint(&mut raw, n as u64);
            for h in hs {
                let host = &fleet.hosts[h];
                for (i, s) in fleet.series.iter().enumerate() {
                    put_str(&mut raw, "");
                    put_str(&mut raw, &host.name);
                    put_str(&mut raw, s.metric);
                    put_uvarint(&mut raw, sorted[i].len() as u64);
                    for (tk, tv) in &sorted[i] {
                        put_str(&mut raw, tk);
                        put_str(&mut raw, tv);
                    }
                    raw.extend_from_slice(&fleet.value(host, i, k).to_le_bytes());
                    put_ivarint(&mut raw, ts);
                    put_uvarint(&mut raw, fleet.step as u64);
                    raw.push(0);
                }
            }
            let bytes = zstd::bulk::compress(&raw, 1).expect("zstd of a buffer");
            out.push(Body {
                tenant,
                bytes,
                points: n,
            });
        }
    }
    out
}

/// The Prometheus name of an open-falcon metric: dots become underscores.
pub(crate) fn prom_name(metric: &str) -> String {
    metric.replace('.', "_")
}

pub(crate) fn put_bytes_field(buf: &mut Vec<u8>, tag: u32, data: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(data.len() as u64, buf);
    buf.extend_from_slice(data);
}

pub(crate) fn put_label(buf: &mut Vec<u8>, scratch: &mut Vec<u8>, name: &str, value: &str) {
    scratch.clear();
    put_bytes_field(scratch, 1, name.as_bytes());
    put_bytes_field(scratch, 2, value.as_bytes());
    put_bytes_field(buf, 1, scratch);
}

/// Remote write: one `WriteRequest` per `hosts_per_batch` hosts, snappy-compressed.
/// Labels: `__name__`, `endpoint`, the tags and `tenant`, sorted by name as Prometheus wants.
pub(crate) fn remote_write_step(
    fleet: &Fleet,
    hosts: &[usize],
    k: i64,
    t0: i64,
    hosts_per_batch: usize,
) -> Vec<Body> {
    let ts_ms = (t0 + k * fleet.step) * 1000;
    let mut out = Vec::new();
    let names: Vec<String> = fleet.series.iter().map(|s| prom_name(s.metric)).collect();
    let (mut req, mut ts_buf, mut scratch, mut labels) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Requests are single-tenant, so Argus can take them with one tenant's token too.
    let mut by_tenant: Vec<Vec<usize>> = vec![Vec::new(); fleet.tenants.len()];
    for &h in hosts {
        by_tenant[fleet.hosts[h].tenant].push(h);
    }
    let chunks = by_tenant
        .iter()
        .enumerate()
        .flat_map(|(t, hs)| hs.chunks(hosts_per_batch.max(1)).map(move |c| (t, c)));
    for (tenant, chunk) in chunks {
        req.clear();
        let mut n = 0;
        for &h in chunk {
            let host = &fleet.hosts[h];
            for (i, s) in fleet.series.iter().enumerate() {
                labels.clear();
                labels.push(("__name__", names[i].as_str()));
                labels.push(("endpoint", host.name.as_str()));
                for (tk, tv) in &s.tags {
                    labels.push((tk, tv.as_str()));
                }
                labels.push(("tenant", fleet.tenants[host.tenant].as_str()));
                labels.sort_by(|a, b| a.0.cmp(b.0));
                ts_buf.clear();
                for (ln, lv) in &labels {
                    put_label(&mut ts_buf, &mut scratch, ln, lv);
                }
                scratch.clear();
                encode_key(1, WireType::SixtyFourBit, &mut scratch);
                scratch.extend_from_slice(&fleet.value(host, i, k).to_le_bytes());
                encode_key(2, WireType::Varint, &mut scratch);
                encode_varint(ts_ms as u64, &mut scratch);
                put_bytes_field(&mut ts_buf, 2, &scratch);
                put_bytes_field(&mut req, 1, &ts_buf);
                n += 1;
            }
        }
        let bytes = snap::raw::Encoder::new()
            .compress_vec(&req)
            .expect("snappy of a buffer");
        out.push(Body {
            tenant,
            bytes,
            points: n,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn argus_bodies_decode_as_valid_batches() {
        let f = Fleet::new(6, 2, 1);
        let hosts: Vec<usize> = (0..6).collect();
        let bodies = argus_step(&f, &hosts, 3, 1_700_000_000, 1);
        assert_eq!(bodies.len(), 6);
        let raw = zstd::decode_all(&bodies[1].bytes[..]).unwrap();
        let (good, bad) = argus_core::wire::frame::decode_lenient(&raw).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(good.len(), f.series_per_host());
        assert_eq!(bodies[1].points, good.len());
        assert_eq!(bodies[1].tenant, 1);
        let p = &good[5].1;
        assert_eq!(p.endpoint, "t02-host-00001");
        assert_eq!(p.timestamp, 1_700_000_030);
        assert_eq!(p.value, f.value(&f.hosts[1], 5, 3));
        let df = good
            .iter()
            .find(|(_, p)| p.metric == "df.bytes.used")
            .unwrap();
        assert_eq!(df.1.tags.get("mount"), Some("/"));
        // Several hosts per batch stay single-tenant.
        let multi = argus_step(&f, &hosts, 0, 0, 4);
        assert_eq!(
            multi.iter().map(|b| b.points).sum::<usize>(),
            6 * f.series_per_host()
        );
        assert_eq!(multi.len(), 4);
    }

    #[test]
    fn remote_write_bodies_decode_with_the_schema() {
        let f = Fleet::new(3, 2, 1);
        let bodies = remote_write_step(&f, &[0, 1, 2], 2, 1_700_000_000, 2);
        assert_eq!(bodies.len(), 2);
        // Single-tenant requests: hosts 0 and 2 (t01), then host 1 (t02).
        assert_eq!((bodies[0].tenant, bodies[1].tenant), (0, 1));
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&bodies[0].bytes)
            .unwrap();
        let req = argus_transfer::remote_write::WriteRequest::decode(&raw[..]).unwrap();
        assert_eq!(req.timeseries.len(), 2 * f.series_per_host());
        assert_eq!(bodies[0].points, req.timeseries.len());
        let ts = &req.timeseries[1];
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(ts.labels[0].value, prom_name(f.series[1].metric));
        assert_eq!(ts.samples.len(), 1);
        assert_eq!(ts.samples[0].timestamp, 1_700_000_020_000);
        assert_eq!(ts.samples[0].value, f.value(&f.hosts[0], 1, 2));
        assert!(ts
            .labels
            .iter()
            .any(|l| l.name == "tenant" && l.value == "t01"));
    }
}
