//! The node's integration tests, one binary (one link) with a module per area; they run the real
//! `bangfu-node` binary as a user would (`common`).

mod check;
mod common;
mod files;
mod import;
mod ledger;
mod push;
mod report;
mod roundtrip;
