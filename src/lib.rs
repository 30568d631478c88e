//! # argus
//!
//! The `argus` binary: runs any Argus component as a subcommand, or the whole platform in one
//! process with [`standalone`].

pub mod standalone;
