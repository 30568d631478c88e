//! Prometheus remote write (`POST /api/v1/write` at the transfer): snappy then protobuf. Any
//! body must parse or fail cleanly within the decompression limit, map to points without
//! panicking, and a parsed request must survive its own re-encoding. When the first byte is
//! even the rest is snappy-compressed first, so the protobuf decoder gets arbitrary bytes too.
#![no_main]

use argus_core::wire::Budget;
use argus_transfer::config::IngestConfig;
use argus_transfer::remote_write::{encode, parse, to_points};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let body = if sel % 2 == 0 {
        snap::raw::Encoder::new()
            .compress_vec(rest)
            .expect("snappy compression of a buffer cannot fail")
    } else {
        rest.to_vec()
    };
    let Ok(req) = parse(&body, LIMIT, Budget::UNLIMITED) else {
        return;
    };
    let again = encode(&req);
    let back = parse(&again, usize::MAX, Budget::UNLIMITED).expect("a parsed request re-parses");
    assert_eq!(encode(&back), again, "re-encoding is not stable");
    let samples: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
    let (good, bad) = to_points(req, &IngestConfig::default(), Budget::UNLIMITED)
        .expect("an unlimited budget is never exceeded");
    assert!(
        good.len() + bad.len() <= samples,
        "more points than samples"
    );
    for (i, _) in &good {
        assert!(*i < samples);
    }
});
