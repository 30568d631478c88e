//! Fuzzes the strategy condition parser and evaluator: any input must either parse or give an
//! error pointing inside the text, and a parsed condition must evaluate on any window without
//! panicking.
#![no_main]

use argus_core::condition::{parse, MAX_WINDOW};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(c) => {
            assert!(c.window() <= MAX_WINDOW + 1);
            // Windows built from the input bytes, short and full.
            let values: Vec<f64> = data.iter().map(|b| f64::from(*b) - 100.0).collect();
            let _ = c.eval(&values);
            let _ = c.eval(&[]);
            let full = vec![1.0; c.window()];
            let _ = c.eval(&full);
        }
        Err(e) => {
            assert!(
                e.position >= 1 && e.position <= text.chars().count() + 1,
                "{e} for {text:?}"
            );
            assert!(!e.message.is_empty());
        }
    }
});
