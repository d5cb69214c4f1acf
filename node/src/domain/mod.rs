//! Parsed archive values: once a value is in one of these types it is known good.
//! Parsing failures are [`crate::rules::Violation`]s, named after the rule they break.

pub mod date;
pub mod id_number;
pub mod money;
pub mod staff_no;

pub use date::parse_date;
pub use id_number::IdNumber;
pub use money::Fen;
pub use staff_no::StaffNo;
