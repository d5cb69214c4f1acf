//! Detached signatures over the exact bytes of a report (DESIGN.md "Privacy", authenticity): a county,
//! or a hub for its own report, signs what it sends with the key of its certificate, and every level
//! above verifies those same bytes against the federation's CA before it counts them, so a hub in the
//! middle can forward a report but cannot bend it.
//!
//! The format is a JWS (RFC 7515) in compact serialization with the payload left out (Appendix F):
//! `BASE64URL(header) '..' BASE64URL(signature)`. The signing input is the header part, a dot and the
//! base64url of the report's bytes, so the report travels as it is, beside its signature. The
//! protected header holds exactly what the verifier checks and nothing else: `alg` (ES256 only),
//! `typ` (`bangfu-report+jws`), `x5c` (the signer's certificate, alone: no intermediates) and `iat`
//! (when it was signed). docs/decisions.md says why JWS rather than COSE.
//!
//! [`Trust`] is the set of CAs a verifier accepts (an old and a new one at once during a rollover). It
//! remembers the certificates it has already chained, so a hub's intake pays for the chain once per
//! signer, not once per report; time and revocation are checked on every report.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bangfu_shared::org::OrgCode;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, TrustAnchor, UnixTime};
use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};

use crate::crl::{Reason, RevocationLists};
use crate::tls;

/// The only algorithm accepted: ECDSA on P-256 with SHA-256, the curve of every bangfu key.
pub const ALG: &str = "ES256";
/// The `typ` of a report signature, so a JWS made for something else cannot pass for one.
pub const JWS_TYPE: &str = "bangfu-report+jws";
/// The longest signature accepted. One P-256 certificate with a few host names makes about 1.5 KB;
/// the bound keeps a hostile sender from making the verifier decode megabytes.
pub const MAX_JWS_LEN: usize = 16 * 1024;
/// How many chained certificates a [`Trust`] remembers: more than the signers of a province.
pub const CHAIN_CACHE: usize = 4096;

/// id-kp-clientAuth (1.3.6.1.5.5.7.3.2), DER content octets: signers are the same identities that
/// authenticate to their parent over TLS.
const CLIENT_AUTH_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// What can go wrong making or checking a signature, or loading the CAs to check it against. Every
/// variant says which check failed; none carries a byte of the report.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// An identity or CA file is missing or unreadable.
    #[error("reading {path}: {source} / 无法读取证书或密钥文件")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PEM text held no usable certificate or key.
    #[error("{what}: {reason} / 证书或密钥无法读取")]
    Pem { what: &'static str, reason: String },
    /// The private key is not the key of the certificate it came with.
    #[error("the private key does not belong to the certificate / 私钥与证书不匹配")]
    KeyMismatch,
    /// A key that ES256 cannot use.
    #[error("{what} is not a P-256 key, the only kind ES256 signs with / 密钥不是 P-256")]
    NotP256 { what: &'static str },
    /// ring could not sign (it does not say why; it happens only if the system's RNG fails).
    #[error("signing failed / 签名失败")]
    Sign,
    /// No CA certificate was given to trust.
    #[error("no CA certificate to trust / 未提供根证书")]
    NoCa,
    /// A certificate given as a CA cannot be one.
    #[error("trusted certificate {index} (`{subject}`): {reason} / 不能作为根证书")]
    BadCa {
        index: usize,
        subject: String,
        reason: String,
    },
    /// Two trusted CAs with one name: TLS revocation finds a CA's list by name, so it could check a
    /// certificate against the other CA's list.
    #[error(
        "two trusted CA certificates are both named `{0}`; a new CA needs a name of its own (add the year, say) / 两个根证书同名,新根证书须另起名称"
    )]
    SameCaName(String),
    /// The signature text is longer than any genuine one.
    #[error("the signature is {len} bytes, more than the {max} accepted / 签名过长")]
    TooLarge { len: usize, max: usize },
    /// Not the shape of a detached JWS.
    #[error("not a detached JWS (`header..signature`): {0} / 签名格式错误")]
    Malformed(&'static str),
    /// The protected header is not the JSON object this module writes.
    #[error("the signature's protected header: {0} / 签名头无法解析")]
    Header(String),
    /// `alg` is anything but ES256 (`none`, HS256 with the public key as secret, ...).
    #[error(
        "the signature's algorithm `{0}` is refused; only ES256 is accepted / 签名算法不被接受"
    )]
    Algorithm(String),
    /// `typ` is not the report signature's.
    #[error("the signature's type `{0}` is not `bangfu-report+jws` / 签名类型错误")]
    Type(String),
    /// `x5c` holds no certificate, or more than the signer's own.
    #[error(
        "the signature carries {0} certificates in x5c; exactly one, the signer's own, is accepted (no intermediates) / 签名须只附签名者本人的证书"
    )]
    ChainLength(usize),
    /// The signer's certificate cannot be read.
    #[error("the signer's certificate is unreadable: {0} / 签名证书无法解析")]
    Certificate(String),
    /// The signer's certificate was not issued directly by a trusted CA.
    #[error(
        "the signer's certificate was not issued directly by a trusted CA / 签名证书不是受信任的根证书直接签发的"
    )]
    UnknownCa,
    /// A CA:TRUE certificate, which could mint certificates for any org, tried to sign.
    #[error(
        "the signer's certificate is a CA certificate (CA:TRUE); only CA:FALSE certificates sign reports / 签名证书不得是 CA 证书"
    )]
    CaSigner,
    /// The signer's certificate does not say CA:FALSE.
    #[error(
        "the signer's certificate has no basicConstraints CA:FALSE, which every bangfu certificate carries / 签名证书缺少 CA:FALSE"
    )]
    NoBasicConstraints,
    /// The signer's certificate is not meant for what signing needs.
    #[error("the signer's certificate {0} / 签名证书用途不符")]
    Usage(&'static str),
    /// The signer's certificate names no org, or more than one.
    #[error("the signer's certificate: {0}")]
    Org(#[source] tls::Error),
    /// Chain verification failed for another reason than those above.
    #[error("the signer's certificate does not chain to the CA: {0} / 签名证书链验证失败")]
    Chain(String),
    /// The signature is not one of the certificate's key over these exact bytes.
    #[error(
        "the signature does not match the report's bytes and the certificate's key / 签名与报表内容不符"
    )]
    BadSignature,
    /// The certificate was not valid when the report was signed.
    #[error(
        "the signer's certificate {serial} ({org}) is not valid at {signed_at}: it is valid from {not_before} to {not_after} / 签名时证书不在有效期内"
    )]
    NotValidAt {
        org: OrgCode,
        serial: String,
        signed_at: DateTime<Utc>,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    },
    /// The CA revoked the signer's certificate, and the signature is not known to predate the
    /// compromise.
    #[error(
        "the signer's certificate {serial} ({org}) was revoked at {revoked_at}{} / 签名证书已被吊销",
        revocation_detail(*.reason, *.compromised_since)
    )]
    Revoked {
        org: OrgCode,
        serial: String,
        revoked_at: DateTime<Utc>,
        reason: Option<Reason>,
        compromised_since: Option<DateTime<Utc>>,
    },
    /// Revocation cannot be checked: no list of the CA that issued the signer's certificate.
    #[error(
        "no revocation list of the CA `{ca}` that issued the signer's certificate {serial}; signatures are checked against it / 缺少签发机构的吊销列表"
    )]
    NoRevocationList { ca: String, serial: String },
}

fn revocation_detail(reason: Option<Reason>, since: Option<DateTime<Utc>>) -> String {
    let mut text = String::new();
    if let Some(reason) = reason {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(since) = since {
        text.push_str(&format!(", its key compromised since {since}"));
    }
    text
}

/// A CA by the SHA-256 of its certificate: which CA issued a signer, and whose revocation list is whose.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaId([u8; 32]);

impl CaId {
    fn of(der: &[u8]) -> CaId {
        CaId(sha256(der))
    }
}

impl fmt::Display for CaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaId({self})")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// One trusted CA certificate.
#[derive(Debug, Clone)]
pub struct Ca {
    der: CertificateDer<'static>,
    id: CaId,
    /// The subject as DER, the name a CRL or a certificate gives as its issuer.
    subject: Vec<u8>,
    /// The subject for a person.
    name: String,
}

impl Ca {
    pub fn id(&self) -> CaId {
        self.id
    }

    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// The subject's DER, compared byte for byte with an issuer name.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The subject as a person reads it (`CN=…, O=bangfu, OU=HB`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The CAs a verifier accepts: usually one, an old and a new one during a rollover. Only
/// certificates issued directly by one of them are accepted; cloning shares the cache of
/// certificates already chained.
#[derive(Clone)]
pub struct Trust {
    inner: Arc<TrustInner>,
}

struct TrustInner {
    cas: Vec<Ca>,
    anchors: Vec<TrustAnchor<'static>>,
    chained: Mutex<HashMap<[u8; 32], Arc<Chained>>>,
    capacity: usize,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.inner.cas.iter().map(|ca| ca.name()))
            .finish()
    }
}

impl Trust {
    /// The CAs in `pem`; one file may hold several CERTIFICATE blocks (old and new CA).
    pub fn from_pem(pem: &str) -> Result<Trust, SignatureError> {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SignatureError::Pem {
                what: "the CA certificates",
                reason: e.to_string(),
            })?;
        Trust::from_ders(certs)
    }

    /// The CAs in the PEM file at `path` (an identity folder's `ca.pem`).
    pub fn from_file(path: &Path) -> Result<Trust, SignatureError> {
        let pem = std::fs::read_to_string(path).map_err(|source| SignatureError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Trust::from_pem(&pem)
    }

    /// The given CA certificates. Each must be a CA (CA:TRUE, allowed to sign certificates); an exact
    /// duplicate is dropped; two different CAs may not share a name.
    pub fn from_ders(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Trust, SignatureError> {
        let mut cas: Vec<Ca> = Vec::new();
        let mut anchors = Vec::new();
        for (index, der) in certs.into_iter().enumerate() {
            let ca = check_ca(index, der)?;
            if let Some(same) = cas.iter().find(|c| c.subject == ca.subject) {
                if same.id == ca.id {
                    continue;
                }
                return Err(SignatureError::SameCaName(ca.name));
            }
            let anchor = webpki::anchor_from_trusted_cert(&ca.der)
                .map_err(|e| SignatureError::BadCa {
                    index,
                    subject: ca.name.clone(),
                    reason: format!("{e}"),
                })?
                .to_owned();
            anchors.push(anchor);
            cas.push(ca);
        }
        if cas.is_empty() {
            return Err(SignatureError::NoCa);
        }
        Ok(Trust::with_parts(cas, anchors, CHAIN_CACHE))
    }

    fn with_parts(cas: Vec<Ca>, anchors: Vec<TrustAnchor<'static>>, capacity: usize) -> Trust {
        Trust {
            inner: Arc::new(TrustInner {
                cas,
                anchors,
                chained: Mutex::new(HashMap::new()),
                capacity,
            }),
        }
    }

    /// The same CAs, remembering at most `capacity` chained certificates (0: chain every time, as a
    /// benchmark of the cold path does).
    pub fn with_chain_cache(&self, capacity: usize) -> Trust {
        Trust::with_parts(self.inner.cas.clone(), self.inner.anchors.clone(), capacity)
    }

    pub fn cas(&self) -> &[Ca] {
        &self.inner.cas
    }

    pub fn ca(&self, id: CaId) -> Option<&Ca> {
        self.inner.cas.iter().find(|ca| ca.id == id)
    }

    /// The same CAs as rustls roots, for a TLS configuration that trusts exactly these.
    pub fn root_store(&self) -> rustls::RootCertStore {
        rustls::RootCertStore {
            roots: self.inner.anchors.clone(),
        }
    }

    /// How many chained certificates are remembered now.
    pub fn chained_count(&self) -> usize {
        self.inner.chained.lock().map_or(0, |c| c.len())
    }

    /// The time-independent checks of a signer's certificate, from the cache when it was seen before.
    fn chain(&self, der: &[u8]) -> Result<Arc<Chained>, SignatureError> {
        let key = sha256(der);
        if let Some(hit) = self
            .inner
            .chained
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return Ok(hit);
        }
        let chained = Arc::new(self.check_chain(der)?);
        if self.inner.capacity > 0
            && let Ok(mut cache) = self.inner.chained.lock()
        {
            // Forgetting everything at the bound is crude but keeps memory bounded without an LRU;
            // a province has far fewer signers than the bound, so it never happens in practice.
            if cache.len() >= self.inner.capacity {
                cache.clear();
            }
            cache.insert(key, chained.clone());
        }
        Ok(chained)
    }

    /// Checks that do not depend on when the report was signed: the chain to a trusted CA (webpki,
    /// no intermediates), CA:FALSE, the client-auth usage, one org, a P-256 key.
    fn check_chain(&self, der: &[u8]) -> Result<Chained, SignatureError> {
        let cert = parse_cert(der).map_err(SignatureError::Certificate)?;
        match cert.basic_constraints() {
            Ok(Some(bc)) if bc.value.ca => return Err(SignatureError::CaSigner),
            Ok(Some(_)) => {}
            Ok(None) => return Err(SignatureError::NoBasicConstraints),
            Err(e) => return Err(SignatureError::Certificate(e.to_string())),
        }
        match cert.key_usage() {
            Ok(Some(ku)) if !ku.value.digital_signature() => {
                return Err(SignatureError::Usage(
                    "has a key usage without digitalSignature",
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(SignatureError::Certificate(e.to_string())),
        }
        let key = p256_point(&cert).ok_or(SignatureError::NotP256 {
            what: "the signer's certificate key",
        })?;
        let not_before = timestamp(cert.validity().not_before.timestamp());
        let not_after = timestamp(cert.validity().not_after.timestamp());

        // The chain is checked as of the certificate's first second, so the result holds for any
        // time and can be cached; the time that matters is checked per report in `verify`.
        let at = UnixTime::since_unix_epoch(Duration::from_secs(
            u64::try_from(not_before.timestamp()).unwrap_or(0),
        ));
        let cert_der = CertificateDer::from(der);
        let end_entity = webpki::EndEntityCert::try_from(&cert_der)
            .map_err(|e| SignatureError::Certificate(format!("{e}")))?;
        let path = end_entity
            .verify_for_usage(
                &[webpki::ring::ECDSA_P256_SHA256],
                &self.inner.anchors,
                &[],
                at,
                webpki::KeyUsage::required(CLIENT_AUTH_OID),
                None,
                None,
            )
            .map_err(chain_error)?;
        let anchor = path.anchor();
        let ca = self
            .inner
            .cas
            .iter()
            .zip(&self.inner.anchors)
            .find(|(_, a)| {
                a.subject == anchor.subject
                    && a.subject_public_key_info == anchor.subject_public_key_info
            })
            .map(|(ca, _)| ca.id)
            .ok_or(SignatureError::UnknownCa)?;

        Ok(Chained {
            org: tls::org_of(der).map_err(SignatureError::Org)?,
            serial: tls::serial_of(der).map_err(SignatureError::Org)?,
            not_before,
            not_after,
            ca,
            key,
        })
    }
}

/// A certificate as parsed, refusing bytes after it.
fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err("bytes after the certificate".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn check_ca(index: usize, der: CertificateDer<'static>) -> Result<Ca, SignatureError> {
    let bad = |subject: String, reason: String| SignatureError::BadCa {
        index,
        subject,
        reason,
    };
    let cert = parse_cert(&der).map_err(|reason| bad(String::new(), reason))?;
    let name = cert.subject().to_string();
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => {
            return Err(bad(
                name,
                "is not a CA certificate (no basicConstraints CA:TRUE)".into(),
            ));
        }
        Err(e) => return Err(bad(name, e.to_string())),
    }
    if let Ok(Some(ku)) = cert.key_usage()
        && !ku.value.key_cert_sign()
    {
        return Err(bad(name, "its key usage does not allow keyCertSign".into()));
    }
    let subject = cert.subject().as_raw().to_vec();
    Ok(Ca {
        id: CaId::of(&der),
        der,
        subject,
        name,
    })
}

/// The uncompressed point of a P-256 subject key, as ring verifies with it.
fn p256_point(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    let spki = cert.public_key();
    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    (spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY && curve == OID_EC_P256)
        .then(|| spki.subject_public_key.data.to_vec())
}

fn timestamp(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn chain_error(e: webpki::Error) -> SignatureError {
    match e {
        // A trusted CA's name over another key's signature is as unknown as a stranger's name.
        webpki::Error::UnknownIssuer | webpki::Error::InvalidSignatureForPublicKey => {
            SignatureError::UnknownCa
        }
        webpki::Error::CaUsedAsEndEntity => SignatureError::CaSigner,
        #[allow(deprecated)]
        webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => {
            SignatureError::Usage("is not for client authentication (extended key usage)")
        }
        other => SignatureError::Chain(format!("{other}")),
    }
}

/// What a signer's certificate proved once chained: all a report's verification needs besides time
/// and revocation.
#[derive(Debug)]
struct Chained {
    org: OrgCode,
    serial: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    ca: CaId,
    /// The uncompressed P-256 point.
    key: Vec<u8>,
}

/// The protected header, exactly: a field the verifier does not check (`crit`, `jku`, `kid`, ...)
/// makes the header unreadable rather than silently ignored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    x5c: Vec<String>,
    iat: i64,
}

/// A detached JWS in compact form, `header..signature`: checked for shape and size when made, so
/// whatever holds one holds something small and well-formed (not yet verified: see [`verify`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DetachedJws(String);

impl DetachedJws {
    /// Checks the shape: at most [`MAX_JWS_LEN`] bytes, a header, an empty payload part and a
    /// signature, in base64url without padding.
    pub fn parse(text: &str) -> Result<DetachedJws, SignatureError> {
        if text.len() > MAX_JWS_LEN {
            return Err(SignatureError::TooLarge {
                len: text.len(),
                max: MAX_JWS_LEN,
            });
        }
        let parts: Vec<&str> = text.splitn(4, '.').collect();
        let [header, payload, signature] = parts.as_slice() else {
            return Err(SignatureError::Malformed("three parts separated by dots"));
        };
        if !payload.is_empty() {
            return Err(SignatureError::Malformed(
                "the payload part must be empty: the report travels beside its signature",
            ));
        }
        if header.is_empty() || signature.is_empty() {
            return Err(SignatureError::Malformed("an empty header or signature"));
        }
        let base64url = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !base64url(header) || !base64url(signature) {
            return Err(SignatureError::Malformed("characters outside base64url"));
        }
        Ok(DetachedJws(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The header part and the signature part.
    fn parts(&self) -> (&str, &str) {
        let (header, rest) = self.0.split_once("..").unwrap_or((&self.0, ""));
        (header, rest)
    }
}

impl fmt::Debug for DetachedJws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DetachedJws({} bytes)", self.0.len())
    }
}

impl fmt::Display for DetachedJws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DetachedJws {
    type Err = SignatureError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DetachedJws::parse(s)
    }
}

impl TryFrom<String> for DetachedJws {
    type Error = SignatureError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DetachedJws::parse(&s)
    }
}

impl From<DetachedJws> for String {
    fn from(jws: DetachedJws) -> String {
        jws.0
    }
}

/// The key and certificate of an identity, ready to sign reports.
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// The certificate in standard base64, as x5c carries it.
    x5c: String,
    org: OrgCode,
    serial: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("org", &self.org)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a certificate (its first CERTIFICATE block) and its PKCS#8 P-256 key, as
    /// `pki issue` writes them. A key of another certificate is refused here, not at the verifier.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Signer, SignatureError> {
        let cert = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .next()
            .ok_or(SignatureError::Pem {
                what: "the certificate",
                reason: "no CERTIFICATE block".into(),
            })?
            .map_err(|e| SignatureError::Pem {
                what: "the certificate",
                reason: e.to_string(),
            })?;
        let key = match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(key)) => key,
            Ok(_) => {
                return Err(SignatureError::Pem {
                    what: "the private key",
                    reason: "not a PKCS#8 `PRIVATE KEY` block".into(),
                });
            }
            Err(e) => {
                return Err(SignatureError::Pem {
                    what: "the private key",
                    reason: e.to_string(),
                });
            }
        };
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            key.secret_pkcs8_der(),
            &rng,
        )
        .map_err(|_| SignatureError::NotP256 {
            what: "the private key",
        })?;
        let parsed = parse_cert(&cert).map_err(SignatureError::Certificate)?;
        let point = p256_point(&parsed).ok_or(SignatureError::NotP256 {
            what: "the certificate's key",
        })?;
        if point != key.public_key().as_ref() {
            return Err(SignatureError::KeyMismatch);
        }
        Ok(Signer {
            key,
            rng,
            x5c: STANDARD.encode(&cert),
            org: tls::org_of(&cert).map_err(SignatureError::Org)?,
            serial: tls::serial_of(&cert).map_err(SignatureError::Org)?,
        })
    }

    /// The signer of an identity folder (`cert.pem`, `key.pem`, as `pki issue --out` writes them).
    pub fn from_dir(dir: &Path) -> Result<Signer, SignatureError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| SignatureError::Read { path, source })
        };
        Signer::from_pem(&read(crate::pki::CERT)?, &read(crate::pki::KEY)?)
    }

    /// The org the certificate names: the org whose reports this signer may sign.
    pub fn org(&self) -> &OrgCode {
        &self.org
    }

    /// The certificate's serial, canonical as [`tls::serial_of`] writes it.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Signs `payload`, the exact bytes that will be sent, stating `iat` as the signing time.
    pub fn sign(&self, payload: &[u8], iat: DateTime<Utc>) -> Result<DetachedJws, SignatureError> {
        let header = Header {
            alg: ALG.into(),
            typ: JWS_TYPE.into(),
            x5c: vec![self.x5c.clone()],
            iat: iat.timestamp(),
        };
        let header =
            serde_json::to_vec(&header).map_err(|e| SignatureError::Header(e.to_string()))?;
        let header = URL_SAFE_NO_PAD.encode(header);
        let signature = self
            .key
            .sign(&self.rng, signing_input(&header, payload).as_bytes())
            .map_err(|_| SignatureError::Sign)?;
        Ok(DetachedJws(format!(
            "{header}..{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )))
    }
}

/// `header '.' BASE64URL(payload)`, what ES256 signs (RFC 7515 §5.1).
fn signing_input(header_b64: &str, payload: &[u8]) -> String {
    let mut input = String::with_capacity(header_b64.len() + 1 + payload.len().div_ceil(3) * 4);
    input.push_str(header_b64);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut input);
    input
}

/// Who signed a report, as its certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    /// The org of the certificate's one `urn:bangfu:org:` URI SAN.
    pub org: OrgCode,
    /// The certificate's serial, canonical as [`tls::serial_of`] writes it.
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// When the signer says it signed (whole seconds).
    pub iat: DateTime<Utc>,
    /// The CA that issued the certificate.
    pub ca: CaId,
}

/// Verifies that `jws` is a signature over exactly `payload` by a certificate issued directly by a
/// CA of `trust`, not revoked by that CA's list in `lists`.
///
/// `at` is a time by which the signature is known to have existed: the time the first hub received
/// the report. A hub's intake passes its own clock; a level above passes the receipt time stored
/// with the report. The certificate must have been valid when the report was signed: at the
/// signature's `iat`, but never later than `at` (a signer's clock running ahead cannot carry it past
/// its receipt). The key must not have been compromised by `at`: a revocation whose
/// `compromised_since` (the CRL entry's invalidity date) is after `at` leaves the signature
/// standing, and a revocation without one refuses every signature of the certificate. Expiry alone
/// does not stop a stolen key from backdating `iat`; revocation does.
///
/// Every CA that issues signers must have a list in `lists` (an empty one when nothing is revoked):
/// without it, revocation cannot be checked and the signature is refused, as rustls refuses the
/// certificate in a handshake.
pub fn verify(
    payload: &[u8],
    jws: &DetachedJws,
    trust: &Trust,
    lists: &RevocationLists,
    at: DateTime<Utc>,
) -> Result<SignedBy, SignatureError> {
    let (header_b64, signature_b64) = jws.parts();
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| SignatureError::Malformed("the header is not base64url"))?;
    // serde's message may quote the sender's field names: cut short, like every header value.
    let header: Header = serde_json::from_slice(&header)
        .map_err(|e| SignatureError::Header(e.to_string().chars().take(200).collect()))?;
    if header.alg != ALG {
        return Err(SignatureError::Algorithm(shortened(&header.alg)));
    }
    if header.typ != JWS_TYPE {
        return Err(SignatureError::Type(shortened(&header.typ)));
    }
    let [cert] = header.x5c.as_slice() else {
        return Err(SignatureError::ChainLength(header.x5c.len()));
    };
    let cert = STANDARD
        .decode(cert)
        .map_err(|_| SignatureError::Certificate("x5c is not standard base64".into()))?;
    let signer = trust.chain(&cert)?;

    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| SignatureError::Malformed("the signature is not base64url"))?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &signer.key)
        .verify(signing_input(header_b64, payload).as_bytes(), &signature)
        .map_err(|_| SignatureError::BadSignature)?;

    let iat = DateTime::from_timestamp(header.iat, 0)
        .ok_or_else(|| SignatureError::Header(format!("iat {} is out of range", header.iat)))?;
    let signed_at = iat.min(at);
    if signed_at < signer.not_before || signed_at > signer.not_after {
        return Err(SignatureError::NotValidAt {
            org: signer.org.clone(),
            serial: signer.serial.clone(),
            signed_at,
            not_before: signer.not_before,
            not_after: signer.not_after,
        });
    }

    let list = lists
        .for_ca(signer.ca)
        .ok_or_else(|| SignatureError::NoRevocationList {
            ca: trust
                .ca(signer.ca)
                .map_or_else(|| signer.ca.to_string(), |ca| ca.name().to_string()),
            serial: signer.serial.clone(),
        })?;
    if let Some(revoked) = list.revoked(&signer.serial)
        && revoked.compromised_since.is_none_or(|since| at >= since)
    {
        return Err(SignatureError::Revoked {
            org: signer.org.clone(),
            serial: signer.serial.clone(),
            revoked_at: revoked.at,
            reason: revoked.reason,
            compromised_since: revoked.compromised_since,
        });
    }

    Ok(SignedBy {
        org: signer.org.clone(),
        serial: signer.serial.clone(),
        not_before: signer.not_before,
        not_after: signer.not_after,
        iat,
        ca: signer.ca,
    })
}

/// A header value for an error message, cut short: it comes from whoever sent the report.
fn shortened(value: &str) -> String {
    value.chars().take(32).collect()
}

/// Certificates and lists made with rcgen as the project's PKI makes them (P-256, the org as URI
/// SAN, CA:FALSE leaves with client and server EKU, the CA with pathlen 0), for this module's tests
/// and crl.rs's.
#[cfg(test)]
pub(crate) mod testpki {
    use chrono::{DateTime, Duration, Utc};
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType, SerialNumber,
    };
    use ring::rand::SecureRandom as _;

    use super::{Signer, Trust};
    use crate::crl::{self, RevocationList, Revoked};

    pub fn to_time(t: DateTime<Utc>) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap()
    }

    /// Whole seconds, as certificates and CRLs hold time.
    pub fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp(t.timestamp(), 0).unwrap()
    }

    fn random_serial() -> SerialNumber {
        let mut serial = [0u8; 16];
        ring::rand::SystemRandom::new().fill(&mut serial).unwrap();
        serial[0] = (serial[0] & 0x7f) | 0x40;
        SerialNumber::from_slice(&serial)
    }

    /// The subject and org SAN every bangfu certificate has.
    pub fn params(org: &str, name: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "bangfu");
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, org);
        params.subject_alt_names = vec![SanType::URI(
            format!("urn:bangfu:org:{org}").as_str().try_into().unwrap(),
        )];
        let now = Utc::now();
        params.not_before = to_time(now - Duration::hours(1));
        params.not_after = to_time(now + Duration::days(365));
        params.serial_number = Some(random_serial());
        params
    }

    /// A leaf as `pki issue` makes it.
    pub fn leaf_params(org: &str) -> CertificateParams {
        let mut params = params(org, &format!("{org} 总工会"));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params
    }

    pub struct TestCa {
        pub cert_pem: String,
        pub key_pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    pub struct Leaf {
        pub cert_pem: String,
        pub key_pem: String,
        pub der: Vec<u8>,
        pub serial: String,
    }

    impl Leaf {
        pub fn signer(&self) -> Signer {
            Signer::from_pem(&self.cert_pem, &self.key_pem).unwrap()
        }
    }

    impl TestCa {
        /// A CA as `pki init` makes it, named `name` (a rollover's new CA needs another name).
        pub fn new(name: &str) -> TestCa {
            let mut params = params("HB", name);
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let key_pem = key.serialize_pem();
            TestCa {
                cert_pem: cert.pem(),
                key_pem,
                issuer: Issuer::new(params, key),
            }
        }

        /// A CA:TRUE certificate signed by this CA: what a CA-signed "sub-CA" would be.
        pub fn sub_ca(&self, name: &str) -> TestCa {
            let mut params = params("H", name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            params.use_authority_key_identifier_extension = true;
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            let key_pem = key.serialize_pem();
            TestCa {
                cert_pem: cert.pem(),
                key_pem,
                issuer: Issuer::new(params, key),
            }
        }

        pub fn issue(&self, params: CertificateParams) -> Leaf {
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            Leaf {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                serial: crate::tls::serial_of(cert.der()).unwrap(),
                der: cert.der().to_vec(),
            }
        }

        pub fn leaf(&self, org: &str) -> Leaf {
            self.issue(leaf_params(org))
        }

        pub fn trust(&self) -> Trust {
            Trust::from_pem(&self.cert_pem).unwrap()
        }

        /// This CA's list number `number`, revoking `entries`, read back against `trust`.
        pub fn list(
            &self,
            trust: &Trust,
            entries: &[(String, Revoked)],
            number: u64,
        ) -> RevocationList {
            let pem = self.crl_pem(entries, number);
            RevocationList::from_pem(pem.as_bytes(), trust).unwrap()
        }

        pub fn crl_pem(&self, entries: &[(String, Revoked)], number: u64) -> String {
            let now = Utc::now();
            crl::make_crl(
                &self.cert_pem,
                &self.key_pem,
                entries,
                number,
                now - Duration::minutes(5),
                now + Duration::days(7),
            )
            .unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use rcgen::SanType;

    use super::testpki::{TestCa, leaf_params, secs, to_time};
    use super::*;
    use crate::crl::{Reason, Revoked};

    const REPORT: &[u8] = br#"{"org":"H01","template":"songnuan","campaign":"sn-2026","version":3,"cells":{"3A":{"value":412}}}"#;

    struct World {
        ca: TestCa,
        trust: Trust,
        lists: RevocationLists,
    }

    fn world() -> World {
        let ca = TestCa::new("湖北省总工会");
        let trust = ca.trust();
        let mut lists = RevocationLists::new();
        lists.offer(ca.list(&trust, &[], 1));
        World { ca, trust, lists }
    }

    impl World {
        fn verify(&self, payload: &[u8], jws: &DetachedJws) -> Result<SignedBy, SignatureError> {
            verify(payload, jws, &self.trust, &self.lists, Utc::now())
        }
    }

    /// A JWS with any header, signed with the ES256 key in `key_pem` (whether or not the header's
    /// certificate is that key's): what an attacker can make.
    fn forge(header: &serde_json::Value, payload: &[u8], key_pem: &str) -> DetachedJws {
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
        let rng = SystemRandom::new();
        let key = match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap() {
            PrivateKeyDer::Pkcs8(k) => k,
            _ => unreachable!("rcgen writes PKCS#8"),
        };
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            key.secret_pkcs8_der(),
            &rng,
        )
        .unwrap();
        let signature = key
            .sign(&rng, signing_input(&header, payload).as_bytes())
            .unwrap();
        DetachedJws::parse(&format!(
            "{header}..{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
        .unwrap()
    }

    fn header_of(jws: &DetachedJws) -> serde_json::Value {
        let (header, _) = jws.parts();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
    }

    #[test]
    fn signers_and_trust_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<Signer>();
        shared::<Trust>();
        shared::<RevocationLists>();
        shared::<DetachedJws>();
    }

    #[test]
    fn a_signed_report_verifies_and_names_its_signer() {
        let w = world();
        let leaf = w.ca.leaf("H01");
        let signer = leaf.signer();
        let iat = Utc::now();
        let jws = signer.sign(REPORT, iat).unwrap();

        let by = w.verify(REPORT, &jws).unwrap();

        assert_eq!(by.org.as_str(), "H01");
        assert_eq!(by.serial, leaf.serial);
        assert_eq!(by.iat, secs(iat));
        assert_eq!(by.ca, w.trust.cas()[0].id());
        assert!(by.not_before < by.iat && by.iat < by.not_after);
    }

    #[test]
    fn the_header_holds_exactly_alg_typ_x5c_and_iat() {
        let w = world();
        let leaf = w.ca.leaf("H01");
        let jws = leaf.signer().sign(REPORT, Utc::now()).unwrap();
        let header = header_of(&jws);
        let keys: Vec<&str> = header
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4, "{header}");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "bangfu-report+jws");
        assert_eq!(header["x5c"][0], STANDARD.encode(&leaf.der));
        assert!(jws.as_str().contains(".."));
    }

    #[test]
    fn one_changed_byte_of_the_report_is_refused() {
        let w = world();
        let jws = w.ca.leaf("H01").signer().sign(REPORT, Utc::now()).unwrap();
        let mut bent = REPORT.to_vec();
        let at = bent.iter().position(|b| *b == b'4').unwrap();
        bent[at] = b'5';
        assert!(matches!(
            w.verify(&bent, &jws),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn a_changed_header_is_refused() {
        let w = world();
        let jws = w.ca.leaf("H01").signer().sign(REPORT, Utc::now()).unwrap();
        let mut header = header_of(&jws);
        header["iat"] = serde_json::json!(header["iat"].as_i64().unwrap() - 86_400);
        let (_, signature) = jws.parts();
        let moved = DetachedJws::parse(&format!(
            "{}..{signature}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
        ))
        .unwrap();
        assert!(matches!(
            w.verify(REPORT, &moved),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn a_signature_by_another_key_than_the_certificates_is_refused() {
        let w = world();
        let h01 = w.ca.leaf("H01");
        let h02 = w.ca.leaf("H02");
        // H02 signs a report under H01's certificate.
        let header = header_of(&h01.signer().sign(REPORT, Utc::now()).unwrap());
        let jws = forge(&header, REPORT, &h02.key_pem);
        assert!(matches!(
            w.verify(REPORT, &jws),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn a_certificate_of_an_unknown_ca_is_refused() {
        let w = world();
        // Another CA under the trusted CA's very name, and one under a name of its own.
        for other in [TestCa::new("湖北省总工会"), TestCa::new("某省总工会")] {
            let jws = other.leaf("H01").signer().sign(REPORT, Utc::now()).unwrap();
            let err = w.verify(REPORT, &jws).unwrap_err();
            assert!(matches!(err, SignatureError::UnknownCa), "{err}");
        }
    }

    #[test]
    fn a_certificate_is_checked_at_the_signing_time_bounded_by_the_receipt() {
        let w = world();
        let now = Utc::now();
        let mut params = leaf_params("H01");
        params.not_before = to_time(now - Duration::days(30));
        params.not_after = to_time(now - Duration::days(10));
        let expired = w.ca.issue(params);
        let signer = expired.signer();

        // Signed and received after expiry.
        let late = signer.sign(REPORT, now).unwrap();
        assert!(matches!(
            verify(REPORT, &late, &w.trust, &w.lists, now),
            Err(SignatureError::NotValidAt { .. })
        ));
        // Signed while valid, received later (a node offline for a while): it counts.
        let early = signer.sign(REPORT, now - Duration::days(20)).unwrap();
        assert!(verify(REPORT, &early, &w.trust, &w.lists, now).is_ok());
        // A signer's clock ahead cannot move the signature past its receipt.
        let ahead = signer.sign(REPORT, now).unwrap();
        let received = now - Duration::days(20);
        let by = verify(REPORT, &ahead, &w.trust, &w.lists, received).unwrap();
        assert_eq!(by.iat, secs(now));
        // Not yet valid when signed and received.
        let too_soon = now - Duration::days(40);
        let jws = signer.sign(REPORT, too_soon).unwrap();
        let err = verify(REPORT, &jws, &w.trust, &w.lists, too_soon).unwrap_err();
        assert!(matches!(err, SignatureError::NotValidAt { .. }), "{err}");
        assert!(err.to_string().contains(&expired.serial), "{err}");
    }

    #[test]
    fn a_revoked_certificate_is_refused_unless_the_signature_predates_the_compromise() {
        let mut w = world();
        let now = Utc::now();
        let mut params = leaf_params("H01");
        params.not_before = to_time(now - Duration::days(7));
        let leaf = w.ca.issue(params);
        let jws = leaf.signer().sign(REPORT, now).unwrap();
        assert!(w.verify(REPORT, &jws).is_ok());

        let revoked = Revoked {
            at: now,
            reason: Some(Reason::KeyCompromise),
            compromised_since: None,
        };
        w.lists
            .offer(w.ca.list(&w.trust, &[(leaf.serial.clone(), revoked)], 2));
        let err = w.verify(REPORT, &jws).unwrap_err();
        assert!(matches!(err, SignatureError::Revoked { .. }), "{err}");
        assert!(err.to_string().contains("key compromise"), "{err}");

        // The key is known compromised since a day ago: a report received two days ago stands, one
        // received since does not, whatever iat it claims.
        let since = Revoked {
            at: now,
            reason: Some(Reason::KeyCompromise),
            compromised_since: Some(now - Duration::days(1)),
        };
        w.lists
            .offer(w.ca.list(&w.trust, &[(leaf.serial.clone(), since)], 3));
        let old = leaf.signer().sign(REPORT, now - Duration::days(2)).unwrap();
        assert!(verify(REPORT, &old, &w.trust, &w.lists, now - Duration::days(2)).is_ok());
        assert!(matches!(
            verify(REPORT, &old, &w.trust, &w.lists, now),
            Err(SignatureError::Revoked { .. })
        ));
    }

    #[test]
    fn a_cached_certificate_is_still_checked_for_time_and_revocation() {
        let mut w = world();
        let leaf = w.ca.leaf("H01");
        let jws = leaf.signer().sign(REPORT, Utc::now()).unwrap();
        assert!(w.verify(REPORT, &jws).is_ok());
        assert_eq!(w.trust.chained_count(), 1);

        let later = Utc::now() + Duration::days(400);
        let outside = leaf.signer().sign(REPORT, later).unwrap();
        assert!(matches!(
            verify(REPORT, &outside, &w.trust, &w.lists, later),
            Err(SignatureError::NotValidAt { .. })
        ));
        let revoked = Revoked {
            at: Utc::now(),
            reason: None,
            compromised_since: None,
        };
        w.lists
            .offer(w.ca.list(&w.trust, &[(leaf.serial.clone(), revoked)], 2));
        assert!(matches!(
            w.verify(REPORT, &jws),
            Err(SignatureError::Revoked { .. })
        ));
        assert_eq!(w.trust.chained_count(), 1);
    }

    #[test]
    fn without_the_cache_every_check_still_runs() {
        let w = world();
        let cold = w.trust.with_chain_cache(0);
        let jws = w.ca.leaf("H01").signer().sign(REPORT, Utc::now()).unwrap();
        assert!(verify(REPORT, &jws, &cold, &w.lists, Utc::now()).is_ok());
        assert_eq!(cold.chained_count(), 0);
    }

    #[test]
    fn a_ca_true_certificate_signed_by_the_ca_cannot_sign() {
        let w = world();
        let sub = w.ca.sub_ca("伪造的市总工会");
        let signer = Signer::from_pem(&sub.cert_pem, &sub.key_pem).unwrap();
        let jws = signer.sign(REPORT, Utc::now()).unwrap();
        assert!(matches!(
            w.verify(REPORT, &jws),
            Err(SignatureError::CaSigner)
        ));
    }

    #[test]
    fn a_certificate_issued_by_a_sub_ca_is_refused_with_or_without_the_chain() {
        let w = world();
        let sub = w.ca.sub_ca("伪造的市总工会");
        let leaf = sub.leaf("H01");
        let jws = leaf.signer().sign(REPORT, Utc::now()).unwrap();
        assert!(matches!(
            w.verify(REPORT, &jws),
            Err(SignatureError::UnknownCa)
        ));

        let sub_der = CertificateDer::from_pem_slice(sub.cert_pem.as_bytes()).unwrap();
        let mut header = header_of(&jws);
        header["x5c"] = serde_json::json!([STANDARD.encode(&leaf.der), STANDARD.encode(&sub_der)]);
        let chained = forge(&header, REPORT, &leaf.key_pem);
        assert!(matches!(
            w.verify(REPORT, &chained),
            Err(SignatureError::ChainLength(2))
        ));
    }

    #[test]
    fn a_certificate_naming_two_orgs_is_refused() {
        let w = world();
        let mut params = leaf_params("H01");
        params
            .subject_alt_names
            .push(SanType::URI("urn:bangfu:org:H02".try_into().unwrap()));
        // Signer::from_pem refuses such a certificate, so the attacker signs by hand.
        let leaf = w.ca.issue(params);
        let header = serde_json::json!({
            "alg": "ES256", "typ": JWS_TYPE, "x5c": [STANDARD.encode(&leaf.der)],
            "iat": Utc::now().timestamp(),
        });
        let jws = forge(&header, REPORT, &leaf.key_pem);
        let err = w.verify(REPORT, &jws).unwrap_err();
        assert!(
            matches!(err, SignatureError::Org(tls::Error::OrgSanCount(2))),
            "{err}"
        );
    }

    #[test]
    fn a_certificate_without_client_authentication_is_refused() {
        let w = world();
        let mut params = leaf_params("H01");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let jws =
            w.ca.issue(params)
                .signer()
                .sign(REPORT, Utc::now())
                .unwrap();
        assert!(matches!(
            w.verify(REPORT, &jws),
            Err(SignatureError::Usage(_))
        ));
    }

    #[test]
    fn a_certificate_without_ca_false_is_refused() {
        let w = world();
        let mut params = leaf_params("H01");
        params.is_ca = rcgen::IsCa::NoCa;
        let jws =
            w.ca.issue(params)
                .signer()
                .sign(REPORT, Utc::now())
                .unwrap();
        assert!(matches!(
            w.verify(REPORT, &jws),
            Err(SignatureError::NoBasicConstraints)
        ));
    }

    #[test]
    fn alg_none_and_hs256_are_refused() {
        let w = world();
        let leaf = w.ca.leaf("H01");
        let jws = leaf.signer().sign(REPORT, Utc::now()).unwrap();
        let mut header = header_of(&jws);

        header["alg"] = "none".into();
        let none = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        // `none` has an empty signature, which is not even the shape of a detached JWS...
        assert!(matches!(
            DetachedJws::parse(&format!("{none}..")),
            Err(SignatureError::Malformed(_))
        ));
        // ...and with any signature part it is refused by its algorithm.
        let none = DetachedJws::parse(&format!("{none}..AAAA")).unwrap();
        assert!(matches!(
            w.verify(REPORT, &none),
            Err(SignatureError::Algorithm(a)) if a == "none"
        ));

        // HS256 keyed with the certificate's public key, which anyone can read from x5c.
        header["alg"] = "HS256".into();
        let hs = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let parsed = parse_cert(&leaf.der).unwrap();
        let public = p256_point(&parsed).unwrap();
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public),
            signing_input(&hs, REPORT).as_bytes(),
        );
        let hs = DetachedJws::parse(&format!("{hs}..{}", URL_SAFE_NO_PAD.encode(mac))).unwrap();
        assert!(matches!(
            w.verify(REPORT, &hs),
            Err(SignatureError::Algorithm(a)) if a == "HS256"
        ));
    }

    #[test]
    fn a_header_with_a_field_the_verifier_does_not_check_is_refused() {
        let w = world();
        let leaf = w.ca.leaf("H01");
        let mut header = header_of(&leaf.signer().sign(REPORT, Utc::now()).unwrap());
        header["crit"] = serde_json::json!(["exp"]);
        let jws = forge(&header, REPORT, &leaf.key_pem);
        let err = w.verify(REPORT, &jws).unwrap_err();
        assert!(matches!(err, SignatureError::Header(_)), "{err}");
        assert!(err.to_string().contains("crit"), "{err}");

        let mut header = header_of(&leaf.signer().sign(REPORT, Utc::now()).unwrap());
        header["typ"] = "JWT".into();
        let jws = forge(&header, REPORT, &leaf.key_pem);
        assert!(matches!(
            w.verify(REPORT, &jws),
            Err(SignatureError::Type(_))
        ));
    }

    #[test]
    fn oversize_and_misshapen_signatures_are_refused_before_any_decoding() {
        let long = format!("{}..AAAA", "A".repeat(MAX_JWS_LEN));
        assert!(matches!(
            DetachedJws::parse(&long),
            Err(SignatureError::TooLarge { .. })
        ));
        for bad in [
            "abc.def.ghi",
            "abc..",
            "..abc",
            "abc.def",
            "abc..d+f",
            "a..b..c",
            "",
        ] {
            assert!(
                matches!(DetachedJws::parse(bad), Err(SignatureError::Malformed(_))),
                "{bad}"
            );
        }
        let json = serde_json::to_string(&"abc..def").unwrap();
        let jws: DetachedJws = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&jws).unwrap(), json);
        assert!(serde_json::from_str::<DetachedJws>("\"abc.x.def\"").is_err());
    }

    #[test]
    fn an_old_and_a_new_ca_are_trusted_at_once() {
        let old = TestCa::new("湖北省总工会");
        let new = TestCa::new("湖北省总工会 2027");
        let trust = Trust::from_pem(&format!("{}{}", old.cert_pem, new.cert_pem)).unwrap();
        let mut lists = RevocationLists::new();
        lists.offer(old.list(&trust, &[], 1));
        lists.offer(new.list(&trust, &[], 1));

        let by_old = old.leaf("H01").signer().sign(REPORT, Utc::now()).unwrap();
        let by_new = new.leaf("H01").signer().sign(REPORT, Utc::now()).unwrap();
        let a = verify(REPORT, &by_old, &trust, &lists, Utc::now()).unwrap();
        let b = verify(REPORT, &by_new, &trust, &lists, Utc::now()).unwrap();
        assert_eq!(a.ca, trust.cas()[0].id());
        assert_eq!(b.ca, trust.cas()[1].id());
    }

    #[test]
    fn a_signer_whose_ca_has_no_list_is_refused() {
        let old = TestCa::new("湖北省总工会");
        let new = TestCa::new("湖北省总工会 2027");
        let trust = Trust::from_pem(&format!("{}{}", old.cert_pem, new.cert_pem)).unwrap();
        let mut lists = RevocationLists::new();
        lists.offer(old.list(&trust, &[], 1));
        let jws = new.leaf("H01").signer().sign(REPORT, Utc::now()).unwrap();
        let err = verify(REPORT, &jws, &trust, &lists, Utc::now()).unwrap_err();
        assert!(
            matches!(err, SignatureError::NoRevocationList { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("2027"), "{err}");
    }

    #[test]
    fn trust_refuses_leaves_and_two_cas_of_one_name() {
        let ca = TestCa::new("湖北省总工会");
        let leaf = ca.leaf("H01");
        assert!(matches!(
            Trust::from_pem(&leaf.cert_pem),
            Err(SignatureError::BadCa { index: 0, .. })
        ));
        let twin = TestCa::new("湖北省总工会");
        assert!(matches!(
            Trust::from_pem(&format!("{}{}", ca.cert_pem, twin.cert_pem)),
            Err(SignatureError::SameCaName(_))
        ));
        let same_twice = Trust::from_pem(&format!("{}{}", ca.cert_pem, ca.cert_pem)).unwrap();
        assert_eq!(same_twice.cas().len(), 1);
        assert!(matches!(Trust::from_pem(""), Err(SignatureError::NoCa)));
    }

    #[test]
    fn a_signer_is_read_from_an_identity_folder_and_refuses_a_key_of_another_certificate() {
        let ca = TestCa::new("湖北省总工会");
        let leaf = ca.leaf("H01");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::pki::CA_CERT), &ca.cert_pem).unwrap();
        std::fs::write(dir.path().join(crate::pki::CERT), &leaf.cert_pem).unwrap();
        std::fs::write(dir.path().join(crate::pki::KEY), &leaf.key_pem).unwrap();
        let signer = Signer::from_dir(dir.path()).unwrap();
        assert_eq!(signer.org().as_str(), "H01");
        assert_eq!(signer.serial(), leaf.serial);

        let other = ca.leaf("H02");
        assert!(matches!(
            Signer::from_pem(&leaf.cert_pem, &other.key_pem),
            Err(SignatureError::KeyMismatch)
        ));
        let missing = tempfile::tempdir().unwrap();
        assert!(matches!(
            Signer::from_dir(missing.path()),
            Err(SignatureError::Read { .. })
        ));
    }
}
