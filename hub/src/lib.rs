//! `bangfu-hub`: a prefecture or province union's hub (DESIGN.md "Parts"): the registry of its
//! children, campaigns, the mutual-TLS intake of their reports, review, the rollup with its findings,
//! reminders, the dashboard, and (for a hub with a parent) its own reports sent up.
//!
//! # Layout
//!
//! Dependencies point one way: the binary (`main.rs` → [`cli`]) and [`startup`] use everything;
//! [`api`], [`dashboard`] and [`jobs`] use the domain modules and the [`app::Hub`] context; the domain
//! modules use [`store`], [`config`] and `bangfu_shared`; [`config`] uses nothing of the hub. A test
//! (`tests/it/structure.rs`) fails on an import circle between these top-level modules.
//!
//! | module | what it is about |
//! | --- | --- |
//! | [`cli`] | the command line: clap definitions and what each command prints |
//! | [`startup`] | [`startup::Server`]: binds the listeners, starts the jobs, serves until told to stop |
//! | [`app`] | [`app::Hub`]: config, store and clock, as handlers and jobs see the hub |
//! | [`config`] | `hub.toml`: plain settings structs |
//! | [`api`] | `/api/v1` for children, one module per route; the peer's org as an extractor |
//! | [`dashboard`] | the pages for people (plain HTTP, read-only, live) |
//! | [`jobs`] | upstream (campaigns down, own reports up), scheduled pull, reminder rounds; one cron helper |
//! | [`registry`], [`campaigns`], [`intake`], [`review`], [`reminders`], [`pull`], [`status`] | the domain |
//! | [`joint`] | the joint check over everything one child sent (issue 11), after intake |
//! | [`rollup`] | the sum, its findings (`reconcile`) and its stored versions (`versions`) |
//! | [`official`] | the rollup as the seed form's table: text, CSV, xlsx (`rollup --format`, the download) |
//! | [`store`] | the database (SQLite or PostgreSQL) and the intake's group commit (`ingest`) |
//! | [`error`] | the API's one error type and its problem document |
//! | [`testing`] | (feature `testing`) a real hub in-process on port 0, for tests of every crate |

pub mod api;
pub mod app;
pub mod campaigns;
pub mod channels;
pub mod cli;
pub mod config;
pub mod containment;
pub mod dashboard;
pub mod enrolment;
pub mod error;
pub mod intake;
pub mod jobs;
pub mod joint;
pub mod official;
pub mod prune;
pub mod pull;
pub mod registry;
pub mod reminders;
pub mod review;
pub mod rollup;
pub mod signed;
pub mod startup;
pub mod status;
pub mod store;
pub mod strict;
#[cfg(feature = "testing")]
pub mod testing;
