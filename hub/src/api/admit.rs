//! Who gets past the door: a peer whose certificate names an org and is not revoked; and the
//! revocation lists every signed report is verified against.
//!
//! The lists themselves are kept by [`crate::signed::Revocations`]: a hub knows up to two lists of the federation's CA: its own `crl.pem` in the `--pki` folder when
//! it holds the CA (re-signed by `pki revoke`), and the newest list its parent passed down with the
//! campaigns (`crl.pem` in its TLS folder, written by [`Revocations::offer`]). Both are re-read when
//! their file changes, so a revocation takes effect without a restart; a list that cannot be read
//! refuses every peer and every signature (fails closed).

use super::{ApiState, Peer};
use crate::error::Error;
pub use crate::signed::{Revocations, offer_file};
use axum::Extension;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses peers whose certificate names no org or is revoked.
pub async fn admit(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    req: Request,
    next: Next,
) -> Response {
    if peer.org.is_none() {
        return Error::Forbidden("the client certificate names no org".into()).into_response();
    }
    if state.revocations.is_revoked(&peer.serial) {
        return Error::Forbidden(format!("certificate {} is revoked", peer.serial)).into_response();
    }
    next.run(req).await
}
