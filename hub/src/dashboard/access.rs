//! Who is asking: the session of the shared accounts (`bangfu_web`: Argon2id users, sessions,
//! CSRF, lock-out, audit log, in the hub's own store). `/login` and `/logout` are its routes; every
//! dashboard route but the style and script sits behind its `require_login` ([`super::router`]),
//! and each handler takes the [`Session`] as well, for the user's name, role and CSRF token.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
pub use bangfu_web::Session;
use bangfu_web::{Accounts, Policy};

use super::DashboardState;
use crate::app::Hub;

/// The hub's accounts, their sessions' cookies `Secure` when the dashboard is served over TLS.
pub fn accounts(hub: &Hub) -> Accounts {
    Accounts::new(hub.store.pool.clone(), bangfu_web::roles::HUB)
        .with_clock(hub.clock.clone())
        .with_policy(Policy {
            secure_cookies: hub.config.dashboard.tls,
            ..Policy::default()
        })
}

/// Writes a reviewer's decision to the accounts' audit log (logins and logouts are logged by the
/// accounts themselves). A failure to log is reported, not hidden, but does not undo the decision,
/// which is already stored and is itself a record (the `reviews` table).
pub async fn audit_decision(
    s: &DashboardState,
    who: &Session,
    client: Option<ConnectInfo<SocketAddr>>,
    detail: &str,
) {
    let client = client.map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
    if let Err(e) = s.accounts.record_decision(&who.user, &client, detail).await {
        tracing::error!(error = %e, user = %who.user, "the audit log did not take a review decision");
    }
}
