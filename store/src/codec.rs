//! The binary encodings of the write protocol, the WAL and block files: the point frame and
//! its building blocks live in core ([`argus_core::wire::frame`]), since transfers and agents
//! speak the frame too; re-exported here for the storage node's own files.

pub use argus_core::wire::frame::*;
