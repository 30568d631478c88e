//! The hash rings to storage nodes and judges. The ring lives in core: judges compute the same
//! ring to tell which hosts they watch for liveness.

pub use argus_core::ring::{normalize, Ring};
