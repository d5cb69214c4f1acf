//! End-to-end tests live in `tests/tests/`: they start the workspace's real binaries (built by
//! `cargo test --workspace`, which builds every member's binaries before running any test).
