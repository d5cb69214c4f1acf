//! End-to-end tests of the federation over real processes and mutual TLS, one binary (one link)
//! with a module per story. The tests about processes themselves (faults, the demo, the browser,
//! telemetry with its collector) stay binaries of their own.

mod attacks;
mod campaign_updates;
mod county_to_hub;
mod enrol;
mod joint;
mod pull;
mod reconcile;
mod reminders;
mod review;
mod tree;
