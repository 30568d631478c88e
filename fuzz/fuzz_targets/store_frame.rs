//! The storage node's binary write frame (`Content-Type: application/x-argus-points-v1` on
//! `POST /internal/v1/write`, after decompression): any bytes must decode or fail cleanly,
//! without allocating far beyond the input, and what decodes must encode back to a frame that
//! decodes to the same points (values compared bit for bit, NaN included). The storage node's
//! write path splits frames without decoding keys (`split_frame`): it must never panic, must
//! accept every frame `decode_batch` accepts, and each key it gives must decode to the point's.
//! The transfer reads agents' frames with `decode_lenient`, which must agree with `decode_batch`.
#![no_main]

use argus_core::SeriesKey;
use argus_store::codec::{decode_batch, decode_lenient, encode_batch, split_frame, Reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = split_frame(data);
    let lenient = decode_lenient(data);
    let Ok(points) = decode_batch(data) else {
        return;
    };
    let (good, rejected) = lenient.expect("a frame that decodes also decodes leniently");
    assert!(rejected.is_empty(), "nothing to refuse in a frame that decodes");
    assert_eq!(good.len(), points.len());
    let split = split.expect("a frame that decodes also splits");
    assert_eq!(split.len(), points.len());
    for (f, p) in split.iter().zip(&points) {
        let key = Reader::new(f.key).series_key().expect("a decoded point's key decodes");
        assert_eq!(key, SeriesKey::of(p));
        assert_eq!(f.value.to_bits(), p.value.to_bits());
        assert_eq!((f.timestamp, f.step, f.counter_type), (p.timestamp, p.step, p.counter_type));
    }
    let packed = encode_batch(&points);
    let raw = zstd::bulk::decompress(&packed, 64 << 20).expect("our own frame decompresses");
    let back = decode_batch(&raw).expect("our own frame decodes");
    assert_eq!(back.len(), points.len());
    for (a, b) in points.iter().zip(&back) {
        assert_eq!(a.value.to_bits(), b.value.to_bits(), "value changed");
        assert_eq!(
            (
                &a.tenant,
                &a.endpoint,
                &a.metric,
                &a.tags,
                a.timestamp,
                a.step
            ),
            (
                &b.tenant,
                &b.endpoint,
                &b.metric,
                &b.tags,
                b.timestamp,
                b.step
            ),
        );
        assert_eq!(a.counter_type, b.counter_type);
    }
});
