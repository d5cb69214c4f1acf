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
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bangfu_client::crl::RevocationLists;
use bangfu_client::signature::{self, DetachedJws, SignedBy};
use bangfu_shared::org::OrgCode;
use chrono::{DateTime, Utc};

use crate::api::admit::Revocations;
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
