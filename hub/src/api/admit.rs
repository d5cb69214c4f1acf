//! Who gets past the door: a peer whose certificate names an org and is not revoked. Revocations are
//! checked per request against `revoked.txt`, re-read when its mtime changes, so `pki revoke` takes
//! effect without a restart; an unreadable list refuses everyone (fails closed).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use axum::Extension;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bangfu_client::pki::{self, RevocationList};

use super::{ApiState, Peer};
use crate::error::Error;

/// The revocation list, re-read when its file changes.
pub struct Revocations {
    path: Option<PathBuf>,
    cached: Mutex<(Option<SystemTime>, RevocationList)>,
}

impl Revocations {
    /// `pki`: the CA folder holding revoked.txt; None checks no revocations.
    pub fn new(pki: Option<&Path>) -> Result<Revocations, pki::Error> {
        let path = pki.map(|p| {
            if p.is_dir() {
                p.join("revoked.txt")
            } else {
                p.to_path_buf()
            }
        });
        let list = match &path {
            Some(p) => RevocationList::load(p)?,
            None => RevocationList::default(),
        };
        let mtime = path.as_deref().and_then(mtime);
        Ok(Revocations {
            path,
            cached: Mutex::new((mtime, list)),
        })
    }

    /// Whether `serial` is revoked; an unreadable list refuses everyone (fails closed).
    pub fn is_revoked(&self, serial: &str) -> bool {
        let Some(path) = &self.path else { return false };
        let mut cached = self.cached.lock().expect("revocation lock");
        let now = mtime(path);
        if now != cached.0 {
            match RevocationList::load(path) {
                Ok(list) => *cached = (now, list),
                Err(e) => {
                    tracing::error!(error = %e, "cannot re-read the revocation list; refusing every peer");
                    return true;
                }
            }
        }
        cached.1.contains(serial)
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

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
