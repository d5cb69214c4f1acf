//! Mutual TLS between unions: the rustls configurations, certificate reloading and reading the org
//! out of a peer certificate live in `bangfu_client::tls`, because a county node serves its parent's
//! pulls with the same checks a hub serves its children with. Re-exported here so the hub's own code
//! and tests keep one name for it.

pub use bangfu_client::tls::*;
