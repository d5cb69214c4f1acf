//! The vocabulary every part of bangfu speaks: org codes, the archive's enumerated values, and (as
//! they come) templates, reports and disclosure control.
//!
//! This crate carries no personal data types and depends on no server, database or runtime, so that
//! a small tool can read a report without pulling in the rest.

pub mod facts;
pub mod org;
pub mod vocabulary;
