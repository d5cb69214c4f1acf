//! Who gets past the door: a peer whose certificate names an org and is not revoked; and the
//! revocation lists every signed report is verified against.
//!
//! A hub knows up to two lists of the federation's CA: its own `crl.pem` in the `--pki` folder when
//! it holds the CA (re-signed by `pki revoke`), and the newest list its parent passed down with the
//! campaigns (`crl.pem` in its TLS folder, written by [`Revocations::offer`]). Both are re-read when
//! their file changes, so a revocation takes effect without a restart; a list that cannot be read
//! refuses every peer and every signature (fails closed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::Extension;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bangfu_client::crl::{Offered, RevocationList, RevocationLists};
use bangfu_client::pki;
use bangfu_client::signature::Trust;

use super::{ApiState, Peer};
use crate::error::Error;

/// The revocation lists this hub knows, re-read when their files change.
pub struct Revocations {
    trust: Trust,
    /// The CA's own list, when this hub holds the CA; it must always be readable.
    own: Option<PathBuf>,
    /// The list received from the parent; missing until the first one arrives.
    received: PathBuf,
    cached: Mutex<Cached>,
}

/// What the files said when last read.
struct Cached {
    stamps: [Option<(SystemTime, u64)>; 2],
    /// Err: a list could not be read; everyone is refused until it can.
    lists: Result<Arc<RevocationLists>, String>,
}

impl Revocations {
    /// `pki`: the CA folder holding crl.pem, if this hub holds the CA; `tls`: the hub's TLS folder,
    /// whose ca.pem the lists are checked against and where a list from the parent is kept. An
    /// unreadable own list stops the start.
    pub fn new(pki: Option<&Path>, tls: &Path) -> Result<Revocations, pki::Error> {
        let ca_path = tls.join(pki::CA_CERT);
        let trust = Trust::from_file(&ca_path).map_err(|e| pki::Error::BadPem {
            path: ca_path.display().to_string(),
            what: e.to_string(),
        })?;
        let own = pki.map(|p| {
            if p.is_dir() {
                p.join(pki::CRL)
            } else {
                p.to_path_buf()
            }
        });
        if let Some(own) = &own {
            pki::read_crl(own, &trust)?;
        }
        let revocations = Revocations {
            trust,
            own,
            received: tls.join(pki::CRL),
            cached: Mutex::new(Cached {
                stamps: [None, None],
                lists: Err("not read yet".into()),
            }),
        };
        revocations.current().map_err(|reason| pki::Error::BadPem {
            path: revocations.received.display().to_string(),
            what: reason,
        })?;
        Ok(revocations)
    }

    /// The CAs signatures are verified against (the hub's ca.pem).
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The newest list of each CA, re-read if a file changed; Err (why) when a list cannot be read.
    pub fn current(&self) -> Result<Arc<RevocationLists>, String> {
        let mut cached = self.cached.lock().expect("revocation lock");
        let stamps = [self.own.as_deref().and_then(stamp), stamp(&self.received)];
        if stamps != cached.stamps || cached.lists.is_err() {
            cached.lists = self.read().map(Arc::new);
            if let Err(reason) = &cached.lists {
                tracing::error!(error = %reason, "cannot read the revocation lists; refusing every peer and signature");
            }
            cached.stamps = stamps;
        }
        cached.lists.clone()
    }

    fn read(&self) -> Result<RevocationLists, String> {
        let mut lists = RevocationLists::new();
        if let Some(own) = &self.own {
            lists.offer(pki::read_crl(own, &self.trust).map_err(|e| e.to_string())?);
        }
        if self.received.exists() {
            lists.offer(pki::read_crl(&self.received, &self.trust).map_err(|e| e.to_string())?);
        }
        Ok(lists)
    }

    /// Whether `serial` is revoked by any list known; an unreadable list refuses everyone.
    pub fn is_revoked(&self, serial: &str) -> bool {
        match self.current() {
            Ok(lists) => lists.iter().any(|l| l.revoked(serial).is_some()),
            Err(_) => true,
        }
    }

    /// Keeps `pem`, a list passed down by the parent, in the TLS folder if it is signed by a trusted
    /// CA and newer than the list kept there (a list never goes back).
    pub fn offer(&self, pem: &str) -> Result<Offered, pki::Error> {
        let list = RevocationList::from_pem(pem.as_bytes(), &self.trust).map_err(|source| {
            pki::Error::Crl {
                path: PathBuf::from("the list from the parent"),
                source,
            }
        })?;
        offer_file(&self.received, &self.trust, list)
    }
}

/// Keeps `list` in `path` when it is newer than the list there (or there is none).
pub fn offer_file(path: &Path, trust: &Trust, list: RevocationList) -> Result<Offered, pki::Error> {
    let mut kept = RevocationLists::new();
    if path.exists() {
        kept.offer(pki::read_crl(path, trust)?);
    }
    let pem = list.to_pem();
    let offered = kept.offer(list);
    if !matches!(offered, Offered::NotNewer { .. }) {
        pki::write_replacing(path, pem.as_bytes())?;
    }
    Ok(offered)
}

fn stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
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
