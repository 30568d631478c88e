//! Helpers shared by the workspace's integration tests. Each test binary uses a part of them.
#![allow(dead_code)]

pub mod figures;
pub mod peers;
