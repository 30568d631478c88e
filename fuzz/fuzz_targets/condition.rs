//! Fuzzes the strategy condition parser and evaluator: any input must either parse or give an
//! error pointing inside the text, and a parsed condition (classic or expression) must evaluate
//! on any windows without panicking.
#![no_main]

use argus_core::condition::{parse, Condition, Windows, MAX_WINDOW};
use libfuzzer_sys::fuzz_target;

/// Every metric answers the same points; `None` for metrics named with a `z`, as a metric that
/// never arrived.
struct W<'a>(&'a [i64], &'a [f64]);
impl Windows for W<'_> {
    fn points(&self, metric: Option<&str>) -> Option<(&[i64], &[f64])> {
        if metric.is_some_and(|m| m.contains('z')) {
            return None;
        }
        Some((self.0, self.1))
    }
}

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
            if let Condition::Program(p) = &c {
                // Times from the bytes too: repeated, gapped, all equal.
                let mut t = 0i64;
                let times: Vec<i64> = data
                    .iter()
                    .map(|b| {
                        t += i64::from(*b % 7) * 30;
                        t
                    })
                    .collect();
                for now in [0, t, t + 86_400, i64::MIN, i64::MAX] {
                    let w = W(&times, &values);
                    let _ = p.eval(now, &w);
                    let _ = p.value(now, &w);
                }
                let _ = p.eval(0, &W(&[], &[]));
            }
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
