//! Helpers shared by the workspace's integration tests. Each test binary uses a part of them.
#![allow(dead_code)]

pub(crate) mod figures;
pub(crate) mod peers;
