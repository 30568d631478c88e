//! Label routing (`PUT /api/v1/routes`, silences' matchers): any JSON document must read into a
//! routing tree or a refusal naming a field, never a panic; any text as a matcher list or a
//! duration likewise; and a tree read must route any label set, reaching at least one route.
#![no_main]

use argus_core::route::{parse_duration_ms, Labels, Matcher, RoutingConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_duration_ms(&text);
    if let Ok(ms) = Matcher::parse_list(&text) {
        for m in &ms {
            // The text form reads back as the same matcher.
            let back: Matcher = m
                .to_string()
                .try_into()
                .expect("a matcher's text reads back");
            assert_eq!(&back, m);
        }
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match RoutingConfig::from_alertmanager(&doc) {
        Ok(cfg) => {
            // Route the document's own string leaves as labels.
            let mut labels = Labels::new();
            if let Some(o) = doc.pointer("/labels").and_then(|v| v.as_object()) {
                for (k, v) in o {
                    labels.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
            assert!(
                !cfg.reach(&labels).is_empty(),
                "the root always takes the alert"
            );
        }
        Err(e) => assert!(!e.field.is_empty(), "a refusal names its field"),
    }
});
