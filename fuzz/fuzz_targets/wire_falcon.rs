//! The open-falcon push format (`POST /v1/push` at agents and transfers): any bytes must decode
//! to good points plus indexed rejections, or to one error, without panicking; every good point
//! must survive the trip back to the falcon form.
#![no_main]

use argus_core::validate::{validate_point, Limits};
use argus_core::wire::falcon::{self, FalconPoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((good, bad)) = falcon::decode(data, "fuzz-host") else {
        return;
    };
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
        capped || seen.iter().enumerate().all(|(n, i)| n == *i),
        "indices not 0..n once each"
    );
    let limits = Limits::default();
    let unbounded = Limits {
        max_future_secs: i64::MAX,
        max_past_secs: i64::MAX,
        ..Limits::default()
    };
    for (_, p) in &good {
        assert!(
            !p.endpoint.is_empty(),
            "the default endpoint was not applied"
        );
        let _ = validate_point(p, &limits, 1_700_000_000);
        let _ = validate_point(p, &unbounded, 1_700_000_000);
        // Only points that validate are stored; those must go back to falcon form and return.
        if validate_point(p, &limits, p.timestamp).is_ok() {
            let back = FalconPoint::from_point(p)
                .into_point("other")
                .expect("a valid point survives the falcon form");
            assert_eq!(
                (&back.endpoint, &back.metric, &back.tags),
                (&p.endpoint, &p.metric, &p.tags)
            );
        }
    }
});
