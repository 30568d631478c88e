//! The Argus batch (`POST /api/v1/push` at agents and transfers): any bytes must decode to good
//! points plus indexed rejections, or to one error, without panicking; validation of what
//! decodes must not panic either, and what decodes must survive re-encoding.
#![no_main]

use argus_core::validate::{validate_point, Limits};
use argus_core::wire::Batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((good, bad)) = Batch::decode(data) else {
        return;
    };
    // Every index appears once, on one side only.
    let mut seen: Vec<usize> = good
        .iter()
        .map(|(i, _)| *i)
        .chain(bad.iter().map(|r| r.index))
        .collect();
    let cap = argus_core::wire::MAX_LISTED_REJECTIONS;
    assert!(bad.len() <= cap + 1, "refusals not capped");
    // Past the cap, refusals are counted, not listed: indices may then be missing.
    let capped = bad.len() == cap + 1;
    seen.sort_unstable();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "an index reported twice"
    );
    assert!(
        capped || seen.iter().enumerate().all(|(n, i)| n == *i),
        "an index missing"
    );
    for r in &bad {
        assert!(!r.field.is_empty(), "a rejection names no field");
    }
    let limits = Limits::default();
    let unbounded = Limits {
        max_future_secs: i64::MAX,
        max_past_secs: i64::MAX,
        ..Limits::default()
    };
    for (_, p) in &good {
        let _ = validate_point(p, &limits, 1_700_000_000);
        // Limits set to "no limit" by an operator must not overflow either.
        let _ = validate_point(p, &unbounded, 1_700_000_000);
    }
    let points: Vec<_> = good.into_iter().map(|(_, p)| p).collect();
    let n = points.len();
    let again = Batch { points }.to_json();
    let (good2, bad2) = Batch::decode(&again).expect("a re-encoded batch decodes");
    assert_eq!(
        (good2.len(), bad2.len()),
        (n, 0),
        "re-encoded points were refused: {bad2:?}"
    );
});
