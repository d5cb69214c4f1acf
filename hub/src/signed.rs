//! Signed reports at this hub (issue 12 item 1): the CA and revocation lists every signature is
//! verified against, the verification of a report's bytes against the org it claims, and whether a
//! stored version still counts once certificates are revoked.
//!
//! - At intake, a child's report is verified as it arrives (`at` = now) and stored with its JWS and
//!   the serial of the certificate that signed it.
//! - A stored version counts while its signer is not revoked as of the time it was received
//!   ([`standing`]); a version received under a certificate revoked since (with `compromised_since`
//!   at or before its receipt, or without one) stops counting and the child's latest version under
//!   a valid certificate counts instead.
//! - A county report embedded in a hub child's report is verified again here, at every rollup
//!   ([`verify`], the costly part cached by the exact bytes and signature): this level counts only
//!   what the county itself signed, however many hubs it came through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use bangfu_client::crl::{Offered, RevocationList, RevocationLists};
use bangfu_client::pki;
use bangfu_client::signature::{self, DetachedJws, SignedBy, Trust};
use bangfu_shared::org::OrgCode;
use chrono::{DateTime, Utc};

use crate::config::HubConfig;
use crate::error::Error;

/// Why a signature does not count, in words for a finding or a refusal (never a byte of the report).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the report is not signed (no `bangfu-signature`) / 报表未签名")]
    Unsigned,
    #[error("the signature does not verify: {0} / 签名验证失败")]
    Invalid(String),
    #[error("the report is {report}'s but signed with {signer}'s certificate / 签名单位不符")]
    OtherOrg { report: OrgCode, signer: OrgCode },
    #[error("the revocation lists cannot be read: {0}")]
    Lists(String),
}

impl From<Refused> for Error {
    fn from(r: Refused) -> Error {
        Error::Unprocessable(r.to_string())
    }
}

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

/// The revocations of each hub in this process, by TLS folder: the serving hub registers the one it
/// built (`Server::build`, with its `--pki`), and the rollup and the report upward use the same one
/// (and so the same chain cache and the same lists).
fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Revocations>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Arc<Revocations>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Makes `revocations` the ones of the hub whose TLS folder is `tls`.
pub fn register(tls: PathBuf, revocations: Arc<Revocations>) {
    registry()
        .lock()
        .expect("registry lock")
        .insert(tls, revocations);
}

/// The revocations of the hub `config` describes: the serving hub's, or read from its files (its
/// `pki` folder's crl.pem and the list its parent passed down).
pub fn revocations(config: &HubConfig) -> Result<Arc<Revocations>, Error> {
    let mut r = registry().lock().expect("registry lock");
    if let Some(found) = r.get(&config.tls) {
        return Ok(found.clone());
    }
    let made = Arc::new(
        Revocations::new(config.pki.as_deref(), &config.tls).map_err(|e| {
            Error::Unprocessable(format!("the CA and revocation lists do not load: {e}"))
        })?,
    );
    r.insert(config.tls.clone(), made.clone());
    Ok(made)
}

/// The signature checks of one verifier: the CA, and the lists as they are now.
pub struct Verifier {
    revocations: Option<Arc<Revocations>>,
    lists: Result<Arc<RevocationLists>, String>,
}

impl Verifier {
    pub fn new(revocations: Arc<Revocations>) -> Verifier {
        let lists = revocations.current();
        Verifier {
            revocations: Some(revocations),
            lists,
        }
    }

    /// A verifier for a hub whose CA or lists do not load: every signature is refused, and only
    /// versions stored before signatures count (fails closed, saying why).
    pub fn unavailable(why: String) -> Verifier {
        Verifier {
            revocations: None,
            lists: Err(why),
        }
    }

    fn lists(&self) -> Result<&RevocationLists, Refused> {
        self.lists.as_deref().map_err(|e| Refused::Lists(e.clone()))
    }

    /// Verifies `jws` over exactly `payload` as `org`'s, known to exist at `at`.
    pub fn verify(
        &self,
        payload: &[u8],
        jws: Option<&str>,
        org: &OrgCode,
        at: DateTime<Utc>,
    ) -> Result<SignedBy, Refused> {
        let jws = jws.ok_or(Refused::Unsigned)?;
        let lists = self.lists()?;
        let revocations = self
            .revocations
            .as_deref()
            .ok_or_else(|| Refused::Lists("the CA does not load".into()))?;
        let signed = cached(payload, jws, revocations, lists, at)?;
        standing(&signed, lists, at)?;
        if &signed.org != org {
            return Err(Refused::OtherOrg {
                report: org.clone(),
                signer: signed.org,
            });
        }
        Ok(signed)
    }

    /// Whether a version signed by certificate `serial` and received at `at` still counts: not
    /// revoked as of `at` by any list known. A version stored before signatures (no serial) counts
    /// here as it did, but cannot be forwarded (it has no signature the parent could verify).
    pub fn counts(&self, serial: Option<&str>, at: DateTime<Utc>) -> bool {
        let Some(serial) = serial else { return true };
        let Ok(lists) = self.lists() else {
            return false;
        };
        !lists.iter().any(|l| {
            l.revoked(serial)
                .is_some_and(|r| r.compromised_since.is_none_or(|since| at >= since))
        })
    }
}

/// What verifying the same bytes and signature proved before: the chain and the ECDSA check do not
/// depend on time or on the lists, so they are kept (by the SHA-256 of payload and signature) and
/// only time and revocation are judged again ([`standing`]).
fn cached(
    payload: &[u8],
    jws: &str,
    revocations: &Revocations,
    lists: &RevocationLists,
    at: DateTime<Utc>,
) -> Result<SignedBy, Refused> {
    use sha2::{Digest as _, Sha256};
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], SignedBy>>> = OnceLock::new();
    const CAPACITY: usize = 1 << 16;
    let key: [u8; 32] = Sha256::new()
        .chain_update(Sha256::digest(payload))
        .chain_update(jws.as_bytes())
        .finalize()
        .into();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().expect("cache lock").get(&key) {
        return Ok(hit.clone());
    }
    let parsed = DetachedJws::parse(jws).map_err(|e| Refused::Invalid(e.to_string()))?;
    let signed = match signature::verify(payload, &parsed, revocations.trust(), lists, at) {
        Ok(s) => s,
        // Time and revocation are judged by `standing`, on every use; only what holds for good is
        // cached, so a revoked signature is refused here and not remembered.
        Err(e) => return Err(Refused::Invalid(e.to_string())),
    };
    let mut c = cache.lock().expect("cache lock");
    if c.len() >= CAPACITY {
        c.clear();
    }
    c.insert(key, signed.clone());
    Ok(signed)
}

/// The checks of [`signature::verify`] that depend on time and on the lists: the certificate was
/// valid when the report was signed (never later than `at`), and not revoked as of `at`.
pub fn standing(
    signed: &SignedBy,
    lists: &RevocationLists,
    at: DateTime<Utc>,
) -> Result<(), Refused> {
    let signed_at = signed.iat.min(at);
    if signed_at < signed.not_before || signed_at > signed.not_after {
        return Err(Refused::Invalid(format!(
            "certificate {} of {} was not valid when the report was signed",
            signed.serial, signed.org
        )));
    }
    let list = lists.for_ca(signed.ca).ok_or_else(|| {
        Refused::Invalid(format!(
            "no revocation list of the CA that issued certificate {}",
            signed.serial
        ))
    })?;
    if let Some(r) = list.revoked(&signed.serial)
        && r.compromised_since.is_none_or(|since| at >= since)
    {
        return Err(Refused::Invalid(format!(
            "certificate {} of {} is revoked",
            signed.serial, signed.org
        )));
    }
    Ok(())
}
