//! Configuration files (`argus_core::config::from_str`). The struct is a copy of the transfer's
//! config shape (nested tables, arrays of tables, tenant ids, core's `Limits`) rather than
//! `argus_transfer::TransferConfig` itself, so this crate depends on core only: it builds fast and
//! never breaks on a component's work in progress. What is fuzzed — the TOML parser, the loader,
//! `deny_unknown_fields`, error paths — is the same code every component's config goes through.
//! Any text must parse or fail with an error naming the file, without panicking; what parses
//! must round-trip.
#![no_main]

use argus_core::config::from_str;
use argus_core::validate::Limits;
use argus_core::TenantId;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantTokens {
    tenant: TenantId,
    token_sha256: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TransferConfig {
    listen: String,
    region: String,
    internal_token: String,
    stores: Vec<String>,
    judges: Vec<String>,
    tenants: Vec<TenantTokens>,
    max_body_bytes: usize,
    downstream_timeout_ms: u64,
    workers: usize,
    limits: Limits,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            listen: "127.0.0.1:6060".into(),
            region: "local".into(),
            internal_token: String::new(),
            stores: vec!["http://127.0.0.1:6071".into()],
            judges: vec![],
            tenants: vec![],
            max_body_bytes: 32 << 20,
            downstream_timeout_ms: 5_000,
            workers: 2,
            limits: Limits::default(),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match from_str::<TransferConfig>(text, "fuzz.toml") {
        Ok(cfg) => {
            let again = toml::to_string(&cfg).expect("a loaded config serializes");
            let back: TransferConfig =
                from_str(&again, "again.toml").expect("a serialized config loads again");
            assert_eq!(back, cfg, "config changed across a round trip");
        }
        Err(e) => assert!(
            e.to_string().contains("fuzz.toml"),
            "error names no file: {e}"
        ),
    }
});
