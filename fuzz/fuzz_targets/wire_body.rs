//! Body decompression (`Content-Encoding: gzip | zstd`): any bytes, under any encoding, must
//! decode or fail cleanly, and never yield more than the limit — a bomb cannot exhaust memory.
//! The first byte picks the encoding and the limit; the rest is the body.
#![no_main]

use argus_core::wire::{decode_body, encode_body, Encoding};
use libfuzzer_sys::fuzz_target;

const ENCODINGS: [Encoding; 3] = [Encoding::Identity, Encoding::Gzip, Encoding::Zstd];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let enc = ENCODINGS[(sel % 3) as usize];
    // Small limits reach the bound often; 64 KiB lets real batches through.
    let limit = if sel & 0x80 != 0 {
        (sel as usize & 0x3f) * 16
    } else {
        64 << 10
    };
    if let Ok(out) = decode_body(enc, body, limit) {
        assert!(
            out.len() <= limit,
            "decoded {} bytes past the limit {limit}",
            out.len()
        );
    }
    // Whatever we encode, we decode back exactly (when it fits).
    let packed = encode_body(enc, body);
    match decode_body(enc, &packed, limit) {
        Ok(out) => assert_eq!(out, body),
        Err(_) => assert!(
            body.len() > limit,
            "a body within the limit failed its round trip"
        ),
    }
    let _ = Encoding::from_header(std::str::from_utf8(body).ok());
});
