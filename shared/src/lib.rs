//! The vocabulary every part of bangfu speaks: org codes, the archive's enumerated values,
//! statistic-table templates, aggregation, table rules, disclosure control and reports.
//!
//! This crate carries no personal data types and depends on no server, database or runtime, so that
//! a small tool can read a report without pulling in the rest.

pub mod aggregate;
pub mod decimal;
pub mod disclose;
pub mod facts;
pub mod org;
pub mod printable;
pub mod protocol;
pub mod report;
pub mod rules;
pub mod synthetic;
pub mod template;
pub mod time;
pub mod vocabulary;
