//! Fixtures shared by the storage node's test files.

use argus_store::node::StoreConfig;
use argus_store::EngineConfig;

/// A storage node's config for tests: a free port and its data in `dir`, every other setting
/// its default (a test sets what it needs on top).
pub(crate) fn node_config(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        listen: "127.0.0.1:0".into(),
        engine: EngineConfig {
            data_dir: dir.into(),
            ..Default::default()
        },
        ..Default::default()
    }
}
