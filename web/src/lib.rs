//! Accounts and login for bangfu's web pages: the hub's dashboard and the node's office UI share this
//! one implementation (issue 16 item 1, issue 17 item 1).
//!
//! - [`password`]: Argon2id hashes as PHC strings, and what counts as too weak.
//! - [`roles`]: the ordered role set each application passes in (hub: viewer < reviewer < admin;
//!   node: clerk < admin).
//! - [`accounts`]: users, lock-out, sessions and the audit log, stored through `sqlx::Any` in the
//!   tables of `schema.sql` (hub migration 0010, node migration 0007).
//! - [`http`]: the axum side: `/login`, `/logout`, the [`http::Session`] extractor, the
//!   [`http::require_login`] middleware (303 to /login for pages, 401 for data, CSRF on POST).

pub mod accounts;
pub mod cli;
pub mod http;
pub mod password;
pub mod roles;

pub use accounts::{Accounts, AuditEntry, Error, Policy, User};
pub use http::{Session, require_login};
pub use roles::RoleSet;

/// The DDL of the accounts tables, as hub migration 0010 and node migration 0007 apply it.
pub const SCHEMA: &str = include_str!("../schema.sql");
