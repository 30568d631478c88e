//! InfluxDB line protocol (`POST /api/v2/write` at the transfer): any text must decode into
//! points and per-line rejections without panicking, every index naming a real line. The first
//! byte picks the `precision`; the rest is the body (invalid UTF-8 is made lossy, as the
//! endpoint refuses it before the parser).
#![no_main]

use argus_transfer::config::IngestConfig;
use argus_transfer::lineproto::{decode, Precision};
use libfuzzer_sys::fuzz_target;

const PRECISIONS: [Precision; 4] = [Precision::Ns, Precision::Us, Precision::Ms, Precision::S];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let lines = text.lines().count();
    let cfg = IngestConfig::default();
    let (good, bad) = decode(&text, PRECISIONS[(sel % 4) as usize], &cfg, 1_700_000_000);
    for (i, p) in &good {
        assert!(*i < lines, "point at line {i} of {lines}");
        assert!(!p.metric.is_empty(), "a point without a metric name");
        assert!(!p.endpoint.is_empty() || cfg.default_endpoint.is_empty());
    }
    for r in &bad {
        assert!(r.index < lines, "rejection at line {} of {lines}", r.index);
        assert!(!r.field.is_empty(), "a rejection must name its field");
    }
});
