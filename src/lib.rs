//! # argus
//!
//! The `argus` binary: runs any Argus component as a subcommand, or the whole platform in one
//! process with [`standalone`]; [`probe`] is the write-then-read prober users run against their
//! installation; [`cluster`] starts the multi-region topology as separate processes.

pub mod cluster;
pub mod link;
pub mod probe;
pub mod standalone;
