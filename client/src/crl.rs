//! The CA's revocation list as a real X.509 CRL signed by the CA, so it can travel down the tree
//! with the campaigns through hubs that are not trusted to write it: a list is accepted only under
//! the signature of a CA the receiver trusts, and only ever replaces an older list of the same CA
//! ([`RevocationLists::offer`]), so a parent can withhold a newer list but cannot forge one or roll
//! one back.
//!
//! The lists are used twice: in the TLS handshake ([`client_verifier`], [`server_verifier`] hand them
//! to rustls, so a revoked certificate is refused on an open connection too), and when counting a
//! signed report ([`crate::signature::verify`]). Each entry says when the certificate was revoked,
//! why, and since when its key is known to be compromised (the entry's invalidity date), so that
//! reports signed before a compromise can keep counting.
//!
//! Serials are compared in one canonical form, as [`crate::tls::serial_of`] writes them: lowercase
//! hex without leading zero bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevokedCertParams};
use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256;
use x509_parser::prelude::FromDer as _;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::signature::{CaId, SignatureError, Trust};

/// The largest list accepted: about 20,000 entries, far more than a province revokes.
pub const MAX_CRL_LEN: usize = 1 << 20;

/// What can go wrong reading, making or using a revocation list. None of it is about a household.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// Longer than any list this federation makes.
    #[error("the revocation list is {len} bytes, more than the {max} accepted / 吊销列表过大")]
    TooLarge { len: usize, max: usize },
    /// The PEM text holds no list, or more than one.
    #[error("the revocation list: {0} / 吊销列表格式错误")]
    Pem(String),
    /// Not a CRL that webpki (and so rustls) accepts.
    #[error("not an X.509 revocation list as required: {0} / 吊销列表无法解析")]
    Parse(String),
    /// Signed with another algorithm than the CA's.
    #[error(
        "the revocation list is signed with {0}; only ecdsa-with-SHA256, the CA's P-256 key, is accepted / 吊销列表签名算法不被接受"
    )]
    Algorithm(String),
    /// Issued in the name of no trusted CA.
    #[error(
        "the revocation list is issued by `{0}`, not by a trusted CA / 吊销列表不是受信任的根证书签发的"
    )]
    UnknownIssuer(String),
    /// The signature does not verify with the key of the CA it names.
    #[error(
        "the revocation list's signature does not verify with the key of the CA `{0}`: unsigned, altered or forged / 吊销列表签名无效"
    )]
    BadSignature(String),
    /// The CA's key usage does not allow signing lists.
    #[error(
        "the CA `{0}` is not allowed to sign revocation lists (no cRLSign) / 该根证书无权签发吊销列表"
    )]
    NotCrlSigner(String),
    /// No CRL number: the list could not be ordered against others.
    #[error(
        "the revocation list has no CRL number, so it cannot be ordered against older lists / 吊销列表缺少编号"
    )]
    NoNumber,
    /// A CRL number beyond what this federation's CA writes.
    #[error("the revocation list's number does not fit 64 bits / 吊销列表编号过大")]
    NumberTooLarge,
    /// A serial to revoke that is not hex.
    #[error("`{0}` is not a certificate serial (hex digits) / 证书序列号格式错误")]
    BadSerial(String),
    /// The list would end before it starts.
    #[error(
        "the revocation list's next update ({next_update}) must come after its this update ({this_update}) / 吊销列表有效期错误"
    )]
    BadDates {
        this_update: DateTime<Utc>,
        next_update: DateTime<Utc>,
    },
    /// A time X.509 cannot hold.
    #[error("{0} cannot be written in a revocation list / 时间超出范围")]
    BadTime(DateTime<Utc>),
    /// The CA certificate or key given to make a list is unusable.
    #[error("the CA: {0}")]
    Ca(#[source] SignatureError),
    /// rcgen refused to load the CA or to make the list.
    #[error("{what}: {source}")]
    Rcgen {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    /// The made list does not verify against the CA certificate: the key is another CA's.
    #[error("the CA key does not belong to the CA certificate: {0} / 根证书私钥与证书不匹配")]
    KeyMismatch(#[source] Box<CrlError>),
    /// rustls refused the lists or the CAs.
    #[error("building the TLS certificate verifier with the revocation lists: {0}")]
    Verifier(String),
}

/// Why a certificate was revoked (RFC 5280 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl Reason {
    const ALL: [(Reason, &'static str, &'static str); 10] = [
        (Reason::Unspecified, "unspecified", "未说明"),
        (Reason::KeyCompromise, "key-compromise", "密钥泄露"),
        (Reason::CaCompromise, "ca-compromise", "根证书泄露"),
        (
            Reason::AffiliationChanged,
            "affiliation-changed",
            "隶属变更",
        ),
        (Reason::Superseded, "superseded", "已被新证书取代"),
        (
            Reason::CessationOfOperation,
            "cessation-of-operation",
            "停止运行",
        ),
        (Reason::CertificateHold, "certificate-hold", "暂停使用"),
        (Reason::RemoveFromCrl, "remove-from-crl", "从列表移除"),
        (
            Reason::PrivilegeWithdrawn,
            "privilege-withdrawn",
            "权限撤销",
        ),
        (Reason::AaCompromise, "aa-compromise", "属性机构泄露"),
    ];

    /// The name `pki revoke --reason` would take (`key-compromise`).
    pub fn name(self) -> &'static str {
        Reason::ALL
            .iter()
            .find(|(r, ..)| *r == self)
            .map_or("unspecified", |(_, name, _)| name)
    }

    fn chinese(self) -> &'static str {
        Reason::ALL
            .iter()
            .find(|(r, ..)| *r == self)
            .map_or("未说明", |(.., zh)| zh)
    }

    fn from_webpki(reason: webpki::RevocationReason) -> Reason {
        use webpki::RevocationReason as W;
        match reason {
            W::Unspecified => Reason::Unspecified,
            W::KeyCompromise => Reason::KeyCompromise,
            W::CaCompromise => Reason::CaCompromise,
            W::AffiliationChanged => Reason::AffiliationChanged,
            W::Superseded => Reason::Superseded,
            W::CessationOfOperation => Reason::CessationOfOperation,
            W::CertificateHold => Reason::CertificateHold,
            W::RemoveFromCrl => Reason::RemoveFromCrl,
            W::PrivilegeWithdrawn => Reason::PrivilegeWithdrawn,
            W::AaCompromise => Reason::AaCompromise,
        }
    }

    fn to_rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            Reason::Unspecified => R::Unspecified,
            Reason::KeyCompromise => R::KeyCompromise,
            Reason::CaCompromise => R::CaCompromise,
            Reason::AffiliationChanged => R::AffiliationChanged,
            Reason::Superseded => R::Superseded,
            Reason::CessationOfOperation => R::CessationOfOperation,
            Reason::CertificateHold => R::CertificateHold,
            Reason::RemoveFromCrl => R::RemoveFromCrl,
            Reason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            Reason::AaCompromise => R::AaCompromise,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.name().replace('-', " "), self.chinese())
    }
}

impl FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .iter()
            .find(|(_, name, _)| *name == s)
            .map(|(r, ..)| *r)
            .ok_or_else(|| {
                let names: Vec<&str> = Reason::ALL.iter().map(|(_, n, _)| *n).collect();
                format!(
                    "`{s}` is not a revocation reason; one of {} / 吊销原因无效",
                    names.join(", ")
                )
            })
    }
}

/// One revoked certificate, as its CA's list says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// When the CA revoked it (whole seconds).
    pub at: DateTime<Utc>,
    pub reason: Option<Reason>,
    /// Since when its key is known to be compromised (the CRL entry's invalidity date): signatures
    /// known to exist before then still count.
    pub compromised_since: Option<DateTime<Utc>>,
}

/// A CA's revocation list, its signature checked against that CA.
#[derive(Debug, Clone)]
pub struct RevocationList {
    der: CertificateRevocationListDer<'static>,
    ca: CaId,
    number: u64,
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
    entries: BTreeMap<String, Revoked>,
}

impl RevocationList {
    /// The one `X509 CRL` PEM block in `pem`, checked as [`RevocationList::from_der`] does.
    pub fn from_pem(pem: &[u8], trust: &Trust) -> Result<RevocationList, CrlError> {
        if pem.len() > MAX_CRL_LEN * 2 {
            return Err(CrlError::TooLarge {
                len: pem.len(),
                max: MAX_CRL_LEN * 2,
            });
        }
        let lists = CertificateRevocationListDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CrlError::Pem(e.to_string()))?;
        match lists.as_slice() {
            [one] => RevocationList::from_der(one, trust),
            [] => Err(CrlError::Pem("no `X509 CRL` PEM block".into())),
            more => Err(CrlError::Pem(format!(
                "{} `X509 CRL` blocks, one expected",
                more.len()
            ))),
        }
    }

    /// A list in DER, accepted only if webpki can use it (a v2 CRL with a next update, no delta) and
    /// its signature verifies with the key of the trusted CA it names as issuer.
    pub fn from_der(der: &[u8], trust: &Trust) -> Result<RevocationList, CrlError> {
        if der.len() > MAX_CRL_LEN {
            return Err(CrlError::TooLarge {
                len: der.len(),
                max: MAX_CRL_LEN,
            });
        }
        // The same parser rustls will use, so a list accepted here is one the handshake can use.
        let borrowed = webpki::BorrowedCertRevocationList::from_der(der)
            .map_err(|e| CrlError::Parse(format!("{e}")))?;
        let crl = match CertificateRevocationList::from_der(der) {
            Ok(([], crl)) => crl,
            Ok(_) => return Err(CrlError::Parse("bytes after the list".into())),
            Err(e) => return Err(CrlError::Parse(e.to_string())),
        };

        let outer = &crl.signature_algorithm.algorithm;
        if *outer != OID_SIG_ECDSA_WITH_SHA256 || crl.tbs_cert_list.signature.algorithm != *outer {
            return Err(CrlError::Algorithm(outer.to_id_string()));
        }
        let issuer = crl.issuer();
        let ca = signing_ca(
            trust,
            issuer.as_raw(),
            crl.tbs_cert_list.as_ref(),
            &crl.signature_value.data,
        )
        .map_err(|e| match e {
            CrlError::UnknownIssuer(_) => CrlError::UnknownIssuer(issuer.to_string()),
            other => other,
        })?;

        let number = crl.crl_number().ok_or(CrlError::NoNumber)?;
        let number = match number.to_u64_digits().as_slice() {
            [] => 0,
            [n] => *n,
            _ => return Err(CrlError::NumberTooLarge),
        };
        let this_update = at_second(crl.last_update().timestamp());
        let next_update = crl
            .next_update()
            .map(|t| at_second(t.timestamp()))
            .ok_or_else(|| CrlError::Parse("no next update".into()))?;

        let mut entries = BTreeMap::new();
        for entry in &borrowed {
            let entry = entry.map_err(|e| CrlError::Parse(format!("{e}")))?;
            let unix = |t: rustls_pki_types::UnixTime| {
                at_second(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
            };
            entries.insert(
                canonical(entry.serial_number),
                Revoked {
                    at: unix(entry.revocation_date),
                    reason: entry.reason_code.map(Reason::from_webpki),
                    compromised_since: entry.invalidity_date.map(unix),
                },
            );
        }
        Ok(RevocationList {
            der: CertificateRevocationListDer::from(der.to_vec()),
            ca,
            number,
            this_update,
            next_update,
            entries,
        })
    }

    /// The CA that signed it.
    pub fn ca(&self) -> CaId {
        self.ca
    }

    /// Its CRL number: the CA numbers its lists 1, 2, 3…; a higher number is a newer list.
    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn this_update(&self) -> DateTime<Utc> {
        self.this_update
    }

    /// When the CA promised a newer list. A list past it still counts (an old list is better than
    /// none, and a county offline for a week must still verify); callers may warn about it.
    pub fn next_update(&self) -> DateTime<Utc> {
        self.next_update
    }

    /// Whether the certificate with `serial` (hex, as `pki list` shows it) is revoked, and how.
    pub fn revoked(&self, serial: &str) -> Option<&Revoked> {
        let serial = serial.trim().to_ascii_lowercase();
        let mut serial = serial.as_str();
        while serial.len() > 2 && serial.starts_with("00") {
            serial = &serial[2..];
        }
        self.entries.get(serial)
    }

    /// Every entry, by canonical serial: what the CA needs to make the next list from this one.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Revoked)> {
        self.entries.iter().map(|(s, r)| (s.as_str(), r))
    }

    /// Whether this list may replace `other`: the same CA's, with a higher number.
    pub fn is_newer_than(&self, other: &RevocationList) -> bool {
        self.ca == other.ca && self.number > other.number
    }

    pub fn der(&self) -> &CertificateRevocationListDer<'static> {
        &self.der
    }

    /// The list as an `X509 CRL` PEM block, as it travels and is kept on disk.
    pub fn to_pem(&self) -> String {
        pem("X509 CRL", &self.der)
    }
}

/// The trusted CA named `issuer` whose key made `signature` over `signed`.
fn signing_ca(
    trust: &Trust,
    issuer: &[u8],
    signed: &[u8],
    signature: &[u8],
) -> Result<CaId, CrlError> {
    let mut named = trust
        .cas()
        .iter()
        .filter(|ca| ca.subject_der() == issuer)
        .peekable();
    let Some(first) = named.peek() else {
        return Err(CrlError::UnknownIssuer(String::new()));
    };
    let name = first.name().to_string();
    for ca in named {
        let cert = webpki::EndEntityCert::try_from(ca.der())
            .map_err(|e| CrlError::Parse(format!("the CA certificate: {e}")))?;
        if cert
            .verify_signature(webpki::ring::ECDSA_P256_SHA256, signed, signature)
            .is_ok()
        {
            if !may_sign_lists(ca.der()) {
                return Err(CrlError::NotCrlSigner(ca.name().to_string()));
            }
            return Ok(ca.id());
        }
    }
    Err(CrlError::BadSignature(name))
}

/// A CA without a key usage extension may sign anything; one with it needs cRLSign (RFC 5280).
fn may_sign_lists(ca: &CertificateDer<'_>) -> bool {
    match x509_parser::parse_x509_certificate(ca) {
        Ok((_, cert)) => match cert.key_usage() {
            Ok(Some(ku)) => ku.value.crl_sign(),
            Ok(None) => true,
            Err(_) => false,
        },
        Err(_) => false,
    }
}

fn at_second(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Lowercase hex without leading zero bytes.
fn canonical(serial: &[u8]) -> String {
    let start = serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    hex::encode(&serial[start..])
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// What became of a list offered to [`RevocationLists::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// The first list of its CA.
    Added,
    /// It replaced its CA's older list, numbered `previous`.
    Replaced { previous: u64 },
    /// Its CA's list numbered `current` is as new or newer; the offer was not taken.
    NotNewer { current: u64 },
}

/// The newest known list of each CA.
#[derive(Debug, Clone, Default)]
pub struct RevocationLists {
    by_ca: BTreeMap<CaId, RevocationList>,
}

impl RevocationLists {
    pub fn new() -> RevocationLists {
        RevocationLists::default()
    }

    /// Keeps `list` if it is its CA's first or newer than the one kept: a list never goes back.
    pub fn offer(&mut self, list: RevocationList) -> Offered {
        match self.by_ca.get(&list.ca) {
            None => {
                self.by_ca.insert(list.ca, list);
                Offered::Added
            }
            Some(kept) if list.is_newer_than(kept) => {
                let previous = kept.number;
                self.by_ca.insert(list.ca, list);
                Offered::Replaced { previous }
            }
            Some(kept) => Offered::NotNewer {
                current: kept.number,
            },
        }
    }

    /// The list of the CA `ca`, if one is known.
    pub fn for_ca(&self, ca: CaId) -> Option<&RevocationList> {
        self.by_ca.get(&ca)
    }

    pub fn iter(&self) -> impl Iterator<Item = &RevocationList> {
        self.by_ca.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ca.is_empty()
    }

    /// The lists as rustls takes them (`with_crls`).
    pub fn crls(&self) -> Vec<CertificateRevocationListDer<'static>> {
        self.by_ca.values().map(|l| l.der.clone()).collect()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    crate::tls::install_provider();
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Keeps each list in `pem` (one or more `X509 CRL` blocks, as a parent passes them down with the
/// campaigns) in `dir/crl.pem` when it is signed by a CA of `dir/ca.pem` and newer than the list
/// kept there: a list never goes back, and one the CA did not sign is refused. Returns what became
/// of each list.
pub fn keep_in(dir: &std::path::Path, pem: &str) -> Result<Vec<Offered>, crate::pki::Error> {
    let ca = dir.join(crate::pki::CA_CERT);
    let trust = Trust::from_file(&ca).map_err(|e| crate::pki::Error::BadPem {
        path: ca.display().to_string(),
        what: e.to_string(),
    })?;
    let path = dir.join(crate::pki::CRL);
    let mut kept = RevocationLists::new();
    if path.exists() {
        kept.offer(crate::pki::read_crl(&path, &trust)?);
    }
    let mut out = vec![];
    let mut changed = false;
    for block in pem.split_inclusive("-----END X509 CRL-----") {
        if !block.contains("-----BEGIN X509 CRL-----") {
            continue;
        }
        let list =
            RevocationList::from_pem(block.trim_start().as_bytes(), &trust).map_err(|source| {
                crate::pki::Error::Crl {
                    path: std::path::PathBuf::from("the list from the parent"),
                    source,
                }
            })?;
        let offered = kept.offer(list);
        changed |= !matches!(offered, Offered::NotNewer { .. });
        out.push(offered);
    }
    if changed {
        let all: String = kept.iter().map(RevocationList::to_pem).collect();
        crate::pki::write_replacing(&path, all.as_bytes())?;
    }
    Ok(out)
}

/// Whether certificate `serial` is revoked by a list kept in `dir/crl.pem` (checked against
/// `dir/ca.pem`); Err when a list is there but cannot be read (the caller refuses: fails closed).
pub fn revoked_in(dir: &std::path::Path, serial: &str) -> Result<bool, crate::pki::Error> {
    let path = dir.join(crate::pki::CRL);
    if !path.exists() {
        return Ok(false);
    }
    let ca = dir.join(crate::pki::CA_CERT);
    let trust = Trust::from_file(&ca).map_err(|e| crate::pki::Error::BadPem {
        path: ca.display().to_string(),
        what: e.to_string(),
    })?;
    let pem = std::fs::read(&path).map_err(|e| crate::pki::Error::BadPem {
        path: path.display().to_string(),
        what: e.to_string(),
    })?;
    let lists = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::pki::Error::BadPem {
            path: path.display().to_string(),
            what: e.to_string(),
        })?;
    for der in lists {
        let list =
            RevocationList::from_der(&der, &trust).map_err(|source| crate::pki::Error::Crl {
                path: path.clone(),
                source,
            })?;
        if list.revoked(serial).is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A server's check of client certificates: issued by a CA of `trust` and not revoked by its list.
/// A client whose CA has no list in `lists` is refused (rustls's default), as
/// [`crate::signature::verify`] refuses its signatures.
pub fn client_verifier(
    trust: &Trust,
    lists: &RevocationLists,
) -> Result<Arc<dyn ClientCertVerifier>, CrlError> {
    WebPkiClientVerifier::builder_with_provider(Arc::new(trust.root_store()), provider())
        .with_crls(lists.crls())
        .build()
        .map_err(|e| CrlError::Verifier(e.to_string()))
}

/// A client's check of server certificates, with the same lists.
pub fn server_verifier(
    trust: &Trust,
    lists: &RevocationLists,
) -> Result<Arc<WebPkiServerVerifier>, CrlError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(trust.root_store()), provider())
        .with_crls(lists.crls())
        .build()
        .map_err(|e| CrlError::Verifier(e.to_string()))
}

/// Makes the CA's list number `number`, revoking `entries` (serial, as `pki list` shows it, and how),
/// valid from `this_update` until `next_update`, signed with the CA key; returns it as PEM. The list
/// is read back against the CA certificate before it is returned, so a key of another CA is caught
/// here rather than by every receiver.
pub fn make_crl(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    entries: &[(String, Revoked)],
    number: u64,
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
) -> Result<String, CrlError> {
    if next_update <= this_update {
        return Err(CrlError::BadDates {
            this_update,
            next_update,
        });
    }
    let trust = Trust::from_pem(ca_cert_pem).map_err(CrlError::Ca)?;
    let key = KeyPair::from_pem(ca_key_pem).map_err(|source| CrlError::Rcgen {
        what: "loading the CA key",
        source,
    })?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, key).map_err(|source| CrlError::Rcgen {
        what: "loading the CA certificate",
        source,
    })?;
    let revoked_certs = entries
        .iter()
        .map(|(serial, revoked)| {
            Ok(RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&serial_bytes(serial)?),
                revocation_time: offset(revoked.at)?,
                reason_code: revoked.reason.map(Reason::to_rcgen),
                invalidity_date: revoked.compromised_since.map(offset).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, CrlError>>()?;
    let params = CertificateRevocationListParams {
        this_update: offset(this_update)?,
        next_update: offset(next_update)?,
        crl_number: rcgen::SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params
        .signed_by(&issuer)
        .map_err(|source| CrlError::Rcgen {
            what: "signing the revocation list",
            source,
        })?;
    RevocationList::from_der(crl.der(), &trust).map_err(|e| CrlError::KeyMismatch(Box::new(e)))?;
    Ok(pem("X509 CRL", crl.der()))
}

fn serial_bytes(serial: &str) -> Result<Vec<u8>, CrlError> {
    let digits = serial.trim();
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits.to_string()
    };
    match hex::decode(&padded) {
        Ok(bytes) if !bytes.is_empty() && bytes.len() <= 20 => Ok(bytes),
        _ => Err(CrlError::BadSerial(serial.to_string())),
    }
}

fn offset(t: DateTime<Utc>) -> Result<time::OffsetDateTime, CrlError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|_| CrlError::BadTime(t))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use chrono::Duration;
    use rcgen::SanType;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::signature::testpki::{TestCa, leaf_params, secs};

    fn revoked(reason: Option<Reason>, since: Option<DateTime<Utc>>) -> Revoked {
        Revoked {
            at: secs(Utc::now()),
            reason,
            compromised_since: since.map(secs),
        }
    }

    #[test]
    fn a_list_made_by_the_ca_reads_back_with_its_entries() {
        let ca = TestCa::new("湖北省总工会");
        let trust = ca.trust();
        let a = ca.leaf("H01");
        let b = ca.leaf("H02");
        let since = Utc::now() - Duration::days(3);
        let entries = [
            (
                a.serial.clone(),
                revoked(Some(Reason::KeyCompromise), Some(since)),
            ),
            (b.serial.to_uppercase(), revoked(None, None)),
        ];

        let list = RevocationList::from_pem(ca.crl_pem(&entries, 7).as_bytes(), &trust).unwrap();

        assert_eq!(list.number(), 7);
        assert_eq!(list.ca(), trust.cas()[0].id());
        assert!(list.this_update() < list.next_update());
        assert_eq!(list.revoked(&a.serial), Some(&entries[0].1));
        assert_eq!(list.revoked(&b.serial), Some(&entries[1].1));
        assert_eq!(
            list.revoked(&format!("00{}", a.serial.to_uppercase())),
            Some(&entries[0].1)
        );
        assert_eq!(list.revoked(&ca.leaf("H03").serial), None);
        assert_eq!(list.entries().count(), 2);
        // PEM out and in again: the same list.
        let again = RevocationList::from_pem(list.to_pem().as_bytes(), &trust).unwrap();
        assert_eq!(again.der(), list.der());
    }

    #[test]
    fn a_list_signed_by_another_key_in_the_cas_name_is_refused() {
        let ca = TestCa::new("湖北省总工会");
        let impostor = TestCa::new("湖北省总工会");
        let pem = impostor.crl_pem(&[], 99);
        let err = RevocationList::from_pem(pem.as_bytes(), &ca.trust()).unwrap_err();
        assert!(matches!(err, CrlError::BadSignature(_)), "{err}");
        assert!(err.to_string().contains("湖北省总工会"), "{err}");
    }

    #[test]
    fn an_altered_or_unsigned_list_is_refused() {
        let ca = TestCa::new("湖北省总工会");
        let trust = ca.trust();
        let leaf = ca.leaf("H01");
        let pem = ca.crl_pem(&[(leaf.serial.clone(), revoked(None, None))], 2);
        let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap();
        let serial = hex::decode(&leaf.serial).unwrap();
        let position = der
            .windows(serial.len())
            .position(|w| w == serial.as_slice())
            .expect("the serial is in the list");

        // The revoked serial changed by one bit: the entry no longer names the certificate.
        let mut altered = der.to_vec();
        altered[position] ^= 1;
        assert!(matches!(
            RevocationList::from_der(&altered, &trust),
            Err(CrlError::BadSignature(_))
        ));

        // The signature zeroed: what an unsigned list amounts to.
        let mut unsigned = der.to_vec();
        let n = unsigned.len();
        for b in &mut unsigned[n - 20..] {
            *b = 0;
        }
        let err = RevocationList::from_der(&unsigned, &trust).unwrap_err();
        assert!(matches!(err, CrlError::BadSignature(_)), "{err}");
    }

    #[test]
    fn a_list_of_an_unknown_ca_and_something_else_than_a_list_are_refused() {
        let ca = TestCa::new("湖北省总工会");
        let stranger = TestCa::new("某省总工会");
        let err =
            RevocationList::from_pem(stranger.crl_pem(&[], 1).as_bytes(), &ca.trust()).unwrap_err();
        assert!(
            matches!(err, CrlError::UnknownIssuer(ref n) if n.contains("某省")),
            "{err}"
        );

        assert!(matches!(
            RevocationList::from_pem(ca.cert_pem.as_bytes(), &ca.trust()),
            Err(CrlError::Pem(_))
        ));
        assert!(matches!(
            RevocationList::from_der(&vec![0x30; MAX_CRL_LEN + 1], &ca.trust()),
            Err(CrlError::TooLarge { .. })
        ));
        let two = format!("{}{}", ca.crl_pem(&[], 1), ca.crl_pem(&[], 2));
        assert!(matches!(
            RevocationList::from_pem(two.as_bytes(), &ca.trust()),
            Err(CrlError::Pem(_))
        ));
    }

    #[test]
    fn a_list_only_replaces_an_older_list_of_the_same_ca() {
        let old = TestCa::new("湖北省总工会");
        let new = TestCa::new("湖北省总工会 2027");
        let trust = Trust::from_pem(&format!("{}{}", old.cert_pem, new.cert_pem)).unwrap();
        let leaf = old.leaf("H01");
        let second = old.list(&trust, &[(leaf.serial.clone(), revoked(None, None))], 2);
        let first = old.list(&trust, &[], 1);
        let other = new.list(&trust, &[], 5);

        assert!(second.is_newer_than(&first));
        assert!(!first.is_newer_than(&second));
        assert!(
            !other.is_newer_than(&first),
            "another CA's list is not newer"
        );

        let mut lists = RevocationLists::new();
        assert_eq!(lists.offer(second.clone()), Offered::Added);
        // A parent sending the older list back cannot undo the revocation.
        assert_eq!(lists.offer(first), Offered::NotNewer { current: 2 });
        assert_eq!(lists.offer(second), Offered::NotNewer { current: 2 });
        assert!(
            lists
                .for_ca(trust.cas()[0].id())
                .unwrap()
                .revoked(&leaf.serial)
                .is_some()
        );
        assert_eq!(lists.offer(other), Offered::Added);
        let third = old.list(&trust, &[], 3);
        assert_eq!(lists.offer(third), Offered::Replaced { previous: 2 });
        assert_eq!(lists.crls().len(), 2);
    }

    #[test]
    fn making_a_list_with_another_cas_key_is_refused() {
        let ca = TestCa::new("湖北省总工会");
        let other = TestCa::new("湖北省总工会");
        let now = Utc::now();
        let err = make_crl(
            &ca.cert_pem,
            &other.key_pem,
            &[],
            1,
            now,
            now + Duration::days(7),
        )
        .unwrap_err();
        assert!(matches!(err, CrlError::KeyMismatch(_)), "{err}");
        assert!(matches!(
            make_crl(&ca.cert_pem, &ca.key_pem, &[("xyz".into(), revoked(None, None))], 1, now, now + Duration::days(1)),
            Err(CrlError::BadSerial(s)) if s == "xyz"
        ));
        assert!(matches!(
            make_crl(&ca.cert_pem, &ca.key_pem, &[], 1, now, now),
            Err(CrlError::BadDates { .. })
        ));
    }

    #[test]
    fn reasons_read_by_name() {
        assert_eq!("key-compromise".parse(), Ok(Reason::KeyCompromise));
        assert!(
            "stolen"
                .parse::<Reason>()
                .unwrap_err()
                .contains("key-compromise")
        );
        assert_eq!(
            Reason::Superseded.to_string(),
            "superseded / 已被新证书取代"
        );
    }

    /// One TLS connection over 127.0.0.1: the server demands a client certificate checked by
    /// `server_side`, the client checks the server's with `client_side`. Returns what each end saw.
    async fn handshake(
        server_side: Arc<dyn ClientCertVerifier>,
        server: &crate::signature::testpki::Leaf,
        client_side: Arc<WebPkiServerVerifier>,
        client: &crate::signature::testpki::Leaf,
    ) -> (Result<(), rustls::Error>, Result<(), std::io::Error>) {
        let provider = provider();
        let key =
            |pem: &str| rustls_pki_types::PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        let cert = |der: &[u8]| vec![CertificateDer::from(der.to_vec())];
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(server_side)
            .with_single_cert(cert(&server.der), key(&server.key_pem))
            .unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_webpki_verifier(client_side)
            .with_client_auth_cert(cert(&client.der), key(&client.key_pem))
            .unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let served = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                    return Err(inner
                        .cloned()
                        .unwrap_or(rustls::Error::General(e.to_string())));
                }
            };
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.unwrap();
            tls.write_all(&byte).await.unwrap();
            tls.flush().await.unwrap();
            Ok(())
        });

        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let client_result = async {
            let mut tls = connector.connect(name, tcp).await?;
            tls.write_all(b"x").await?;
            tls.flush().await?;
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await?;
            Ok(())
        }
        .await;
        let server_result = served.await.unwrap();
        (server_result, client_result)
    }

    fn server_leaf(ca: &TestCa) -> crate::signature::testpki::Leaf {
        let mut params = leaf_params("HB");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        ca.issue(params)
    }

    #[tokio::test]
    async fn the_handshake_refuses_a_revoked_client_and_accepts_an_unrevoked_one() {
        let ca = TestCa::new("湖北省总工会");
        let trust = ca.trust();
        let hub = server_leaf(&ca);
        let good = ca.leaf("H01");
        let bad = ca.leaf("H02");
        let mut lists = RevocationLists::new();
        lists.offer(ca.list(
            &trust,
            &[(
                bad.serial.clone(),
                revoked(Some(Reason::KeyCompromise), None),
            )],
            1,
        ));
        let server_side = client_verifier(&trust, &lists).unwrap();
        let client_side = server_verifier(&trust, &lists).unwrap();

        let (server, client) =
            handshake(server_side.clone(), &hub, client_side.clone(), &good).await;
        assert!(server.is_ok(), "{server:?}");
        assert!(client.is_ok(), "{client:?}");

        let (server, client) = handshake(server_side, &hub, client_side, &bad).await;
        assert_eq!(
            server,
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked
            ))
        );
        assert!(client.is_err());
    }

    #[tokio::test]
    async fn the_handshake_refuses_a_revoked_server_and_a_client_whose_ca_has_no_list() {
        let ca = TestCa::new("湖北省总工会");
        let new = TestCa::new("湖北省总工会 2027");
        let trust = Trust::from_pem(&format!("{}{}", ca.cert_pem, new.cert_pem)).unwrap();
        let hub = server_leaf(&ca);
        let county = ca.leaf("H01");
        let mut lists = RevocationLists::new();
        lists.offer(ca.list(&trust, &[(hub.serial.clone(), revoked(None, None))], 1));

        let (_, client) = handshake(
            client_verifier(&trust, &lists).unwrap(),
            &hub,
            server_verifier(&trust, &lists).unwrap(),
            &county,
        )
        .await;
        let err = client.unwrap_err();
        let inner = err
            .get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        assert_eq!(
            inner,
            Some(&rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked
            )),
            "{err}"
        );

        // A county of the new CA, whose list has not arrived: refused, not waved through.
        let unrevoked_hub = server_leaf(&ca);
        let newcomer = new.leaf("H03");
        let (server, _) = handshake(
            client_verifier(&trust, &lists).unwrap(),
            &unrevoked_hub,
            server_verifier(&trust, &lists).unwrap(),
            &newcomer,
        )
        .await;
        assert!(
            matches!(
                server,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownRevocationStatus
                ))
            ),
            "{server:?}"
        );
    }

    /// A list passed down with the campaigns is kept beside the identity only when the CA signed it
    /// and it is newer; the node's pull server then finds the revoked serial (issue 13 item 3).
    #[test]
    fn a_list_from_the_parent_is_kept_only_when_newer_and_signed_by_the_ca() {
        use crate::pki::{self, IssueOptions, RevokeOptions, RevokeTarget};
        let dir = tempfile::tempdir().unwrap();
        let (ca, other) = (dir.path().join("ca"), dir.path().join("other"));
        let org = bangfu_shared::org::OrgCode::parse("HB").unwrap();
        pki::init(&ca, &org, "测试根证书", 30).unwrap();
        pki::init(&other, &org, "冒充根证书", 30).unwrap();
        let h01 = bangfu_shared::org::OrgCode::parse("H01").unwrap();
        let id = dir.path().join("h01");
        let issued = pki::issue(
            &ca,
            &h01,
            "京山县",
            &IssueOptions::for_days(vec![], 30),
            &id,
        )
        .unwrap();
        let first = std::fs::read_to_string(ca.join(pki::CRL)).unwrap();
        assert_eq!(keep_in(&id, &first).unwrap(), [Offered::Added]);
        assert!(!revoked_in(&id, &issued.serial).unwrap());
        pki::revoke(
            &ca,
            &RevokeTarget::Serial(issued.serial.clone()),
            &RevokeOptions::default(),
        )
        .unwrap();
        let second = std::fs::read_to_string(ca.join(pki::CRL)).unwrap();
        assert!(matches!(
            keep_in(&id, &second).unwrap()[..],
            [Offered::Replaced { .. }]
        ));
        assert!(revoked_in(&id, &issued.serial).unwrap());
        // An older list does not roll it back; one another CA signed is refused.
        assert!(matches!(
            keep_in(&id, &first).unwrap()[..],
            [Offered::NotNewer { .. }]
        ));
        assert!(revoked_in(&id, &issued.serial).unwrap());
        let forged = std::fs::read_to_string(other.join(pki::CRL)).unwrap();
        assert!(keep_in(&id, &forged).is_err());
        assert!(revoked_in(&id, &issued.serial).unwrap());
    }
}
