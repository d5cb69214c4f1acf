//! The federation's own small certificate authority. A province (or prefecture) hub keeps one CA in a
//! folder and issues each child union a key and certificate naming its org code as the URI SAN
//! `urn:bangfu:org:CODE`; the hub trusts a report only over mutual TLS with such a certificate, so the
//! org a report claims is the org the certificate proves. Everything is made here with rcgen (ring),
//! so an installation needs no OpenSSL.
//!
//! The CA folder holds:
//! - `ca.pem`, `ca-key.pem` (mode 0600): the CA certificate and its key;
//! - `issued.csv`: every certificate issued (serial, org, name, not_after, issued_at), the only record
//!   of what is out there, so that `revoke --org` can find an org's certificates;
//! - `crl.pem`: the CA's revocation list, an X.509 CRL signed with the CA key (`bangfu_client::crl`),
//!   empty from `init` on and re-signed by every `revoke`; hubs read it and pass it down the tree.
//!
//! Serials are written everywhere in one canonical form (see [`canonical_serial`]): lowercase hex of
//! the integer's bytes, without separators and without leading zero bytes.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bangfu_shared::org::{OrgCode, OrgCodeError};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::Rng as _;

use crate::crl::{self, CrlError, Reason, RevocationList, Revoked};
use crate::signature::Trust;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

/// The CA certificate, in the CA folder and in every issued identity folder.
pub const CA_CERT: &str = "ca.pem";
/// The CA's private key; never leaves the CA folder.
pub const CA_KEY: &str = "ca-key.pem";
/// The issue log.
pub const ISSUED_LOG: &str = "issued.csv";
/// The CA's revocation list (PEM `X509 CRL`), in the CA folder and, as received, in a hub's or a
/// node's TLS folder.
pub const CRL: &str = "crl.pem";
/// How long a list says it is current (its next update). Receivers keep using an older list rather
/// than none (docs/decisions.md), so this only tells a reader how fresh the list claims to be.
pub const CRL_DAYS: i64 = 30;
/// An identity's certificate in an issued folder.
pub const CERT: &str = "cert.pem";
/// An identity's private key in an issued folder (mode 0600).
pub const KEY: &str = "key.pem";
/// The URI SAN prefix that names an org in a certificate.
pub const ORG_URI_PREFIX: &str = "urn:bangfu:org:";
/// The organisation (O) every bangfu certificate carries in its subject.
pub const ORGANIZATION: &str = "bangfu";

const ISSUED_HEADER: [&str; 5] = ["serial", "org", "name", "not_after", "issued_at"];

/// What can go wrong in the PKI. Every variant names the file, org or serial it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file of the CA or of an issued identity failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `init` on a folder that already holds a CA: a second CA would orphan every issued certificate.
    #[error("a CA already exists in {0}; refusing to overwrite it / 该目录已有根证书,不会覆盖")]
    CaExists(PathBuf),
    /// `issue`, `revoke` or `list` on a folder without a CA.
    #[error("no CA in {0} (run `bangfu-hub pki init` first) / 该目录没有根证书")]
    NoCa(PathBuf),
    /// Identity files would overwrite an existing key or certificate.
    #[error("{0} already exists; choose an empty --out folder / 输出文件已存在")]
    OutputExists(PathBuf),
    /// rcgen refused to make or load a key or certificate.
    #[error("{what}: {source}")]
    Rcgen {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    /// A PEM file held no certificate or key of the expected kind.
    #[error("{path}: {what} / 文件内容不是所需的证书或密钥")]
    BadPem { path: String, what: String },
    /// A host name is neither an IP address nor a DNS name.
    #[error("`{0}` is not a host name or IP address / 主机名格式错误")]
    BadHost(String),
    /// The validity period asked for ends before it starts.
    #[error("the certificate would end ({not_after}) before it starts ({not_before}) / 有效期错误")]
    BadValidity {
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    },
    /// A certificate could not be parsed as X.509.
    #[error("not a readable X.509 certificate: {0} / 证书无法解析")]
    Parse(String),
    /// A certificate names no org, or more than one.
    #[error(
        "the certificate carries {0} `urn:bangfu:org:` URI SANs, exactly one is required / 证书未唯一标明单位"
    )]
    OrgSanCount(usize),
    /// The org named in a certificate is not an org code.
    #[error("the certificate's org URI SAN: {0}")]
    BadOrg(#[from] OrgCodeError),
    /// A serial that is not hex.
    #[error(
        "`{0}` is not a certificate serial (hex digits, as `pki list` shows) / 证书序列号格式错误"
    )]
    BadSerial(String),
    /// A serial the issue log does not know.
    #[error("serial {serial} was not issued by the CA in {dir} / 该序列号不在签发记录中")]
    UnknownSerial { serial: String, dir: PathBuf },
    /// `revoke --org` for an org with no certificate in the issue log.
    #[error("the CA in {dir} has issued no certificate to {org} / 该单位没有签发过证书")]
    UnknownOrg { org: OrgCode, dir: PathBuf },
    /// The CA's revocation list cannot be read, made or checked against the CA.
    #[error("the revocation list {path}: {source}")]
    Crl {
        path: PathBuf,
        #[source]
        source: CrlError,
    },
    /// A line of the issue log that cannot be read back.
    #[error("{path} line {line}: {reason} / 签发记录损坏")]
    BadLog {
        path: PathBuf,
        line: u64,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What `init` made.
#[derive(Debug, Clone)]
pub struct CaInfo {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub serial: String,
    pub not_after: DateTime<Utc>,
}

/// How to issue a certificate: the hosts it serves, and its validity.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// Host names or IP addresses the identity serves as (a hub's own address); empty for a client only.
    pub hosts: Vec<String>,
    /// Start of validity; `issue` uses an hour ago, so a peer's clock a little behind still accepts it.
    pub not_before: DateTime<Utc>,
    /// End of validity. Tests set it in the past to make an expired certificate.
    pub not_after: DateTime<Utc>,
}

impl IssueOptions {
    /// Valid from an hour ago for `days` days.
    pub fn for_days(hosts: Vec<String>, days: u32) -> IssueOptions {
        let now = Utc::now();
        IssueOptions {
            hosts,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(days)),
        }
    }
}

/// What `issue` made.
#[derive(Debug, Clone)]
pub struct Issued {
    pub serial: String,
    pub org: OrgCode,
    pub not_after: DateTime<Utc>,
    pub ca_path: PathBuf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// One line of the issue log, with whether it has been revoked since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedEntry {
    pub serial: String,
    pub org: OrgCode,
    pub name: String,
    pub not_after: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Which certificates `revoke` revokes.
#[derive(Debug, Clone)]
pub enum RevokeTarget {
    /// Every unexpired certificate issued to this org (a lost laptop, a union that left).
    Org(OrgCode),
    /// One certificate, by serial as `pki list` shows it.
    Serial(String),
}

/// Creates a CA in `dir`: a P-256 key and a self-signed certificate for `org` valid `valid_days`.
pub fn init(dir: &Path, org: &OrgCode, name: &str, valid_days: u32) -> Result<CaInfo> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    if cert_path.exists() || key_path.exists() {
        return Err(Error::CaExists(dir.to_path_buf()));
    }
    fs::create_dir_all(dir).map_err(io("creating", dir))?;

    let now = Utc::now();
    let not_after = now + Duration::days(i64::from(valid_days));
    let mut params = identity_params(org, name, now - Duration::hours(1), not_after)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let serial = random_serial();
    params.serial_number = Some(SerialNumber::from_slice(&serial));

    let key = KeyPair::generate().map_err(rcgen_err("generating the CA key"))?;
    let cert = params
        .self_signed(&key)
        .map_err(rcgen_err("signing the CA certificate"))?;

    write_new(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_new(&cert_path, cert.pem().as_bytes(), false)?;
    let log = dir.join(ISSUED_LOG);
    if !log.exists() {
        fs::write(&log, format!("{}\n", ISSUED_HEADER.join(","))).map_err(io("writing", &log))?;
    }
    let ca_pem = cert.pem();
    if !dir.join(CRL).exists() {
        write_crl(dir, &ca_pem, &key.serialize_pem(), &[], 1)?;
    }
    Ok(CaInfo {
        cert_path,
        key_path,
        serial: hex::encode(trim_zeros(&serial)),
        not_after: truncate(not_after),
    })
}

/// Issues `org` a key and certificate signed by the CA in `dir`, written to `out` as `ca.pem`,
/// `cert.pem` and `key.pem`, and records it in the issue log.
pub fn issue(
    dir: &Path,
    org: &OrgCode,
    name: &str,
    options: &IssueOptions,
    out: &Path,
) -> Result<Issued> {
    let ca_path = dir.join(CA_CERT);
    let ca_key_path = dir.join(CA_KEY);
    if !ca_path.exists() || !ca_key_path.exists() {
        return Err(Error::NoCa(dir.to_path_buf()));
    }
    if options.not_after <= options.not_before {
        return Err(Error::BadValidity {
            not_before: options.not_before,
            not_after: options.not_after,
        });
    }
    let (ca_pem, issuer) = load_issuer(dir)?;
    let (params, serial) = leaf_params(org, name, &options.hosts, options)?;
    let key = KeyPair::generate().map_err(rcgen_err(format!("generating a key for {org}")))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(rcgen_err(format!("signing the certificate for {org}")))?;

    fs::create_dir_all(out).map_err(io("creating", out))?;
    let (out_ca, cert_path, key_path) = (out.join(CA_CERT), out.join(CERT), out.join(KEY));
    for p in [&cert_path, &key_path] {
        if p.exists() {
            return Err(Error::OutputExists(p.clone()));
        }
    }
    write_new(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_new(&cert_path, cert.pem().as_bytes(), false)?;
    if out_ca != ca_path {
        fs::write(&out_ca, &ca_pem).map_err(io("writing", &out_ca))?;
    }

    let serial = hex::encode(trim_zeros(&serial));
    let not_after = truncate(options.not_after);
    append_log(
        dir,
        &[
            &serial,
            org.as_str(),
            name,
            &rfc3339(not_after),
            &rfc3339(Utc::now()),
        ],
    )?;
    Ok(Issued {
        serial,
        org: org.clone(),
        not_after,
        ca_path: out_ca,
        cert_path,
        key_path,
    })
}

/// The CA certificate (PEM) and the issuer made of it and its key.
fn load_issuer(dir: &Path) -> Result<(String, Issuer<'static, KeyPair>)> {
    let (ca_path, ca_key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let (ca_pem, ca_key_pem) = read_ca(dir)?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(rcgen_err(format!(
        "loading the CA key {}",
        ca_key_path.display()
    )))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(rcgen_err(format!(
        "loading the CA certificate {}",
        ca_path.display()
    )))?;
    Ok((ca_pem, issuer))
}

/// What every certificate the CA issues to a union is: the org in the subject and as the URI SAN,
/// the hosts it serves as, CA:FALSE, for TLS servers and clients, with a fresh random serial.
fn leaf_params(
    org: &OrgCode,
    name: &str,
    hosts: &[String],
    options: &IssueOptions,
) -> Result<(CertificateParams, [u8; 16])> {
    let mut params = identity_params(org, name, options.not_before, options.not_after)?;
    for host in hosts {
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.as_str()
                    .try_into()
                    .map_err(|_| Error::BadHost(host.clone()))?,
            ),
        };
        params.subject_alt_names.push(san);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let serial = random_serial();
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok((params, serial))
}

/// Why a certificate signing request is refused. Each says what was wrong with the request, so the
/// county reads it as the answer to its `enrol`.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// Not a PKCS #10 request at all.
    #[error("not a certificate signing request (PKCS #10 PEM) / 不是证书请求")]
    Unreadable,
    /// The request's self-signature does not verify: it was altered, or not made with its key.
    #[error(
        "the request's signature does not verify (altered, or not signed by its own key) / 证书请求签名无效"
    )]
    BadSignature,
    /// The request asks to be a CA, which would let its holder mint certificates for any org.
    #[error(
        "the request asks for CA:TRUE; only leaf certificates (CA:FALSE) are issued / 证书请求要求CA权限,拒绝"
    )]
    AsksForCa,
    /// The request asks for an extension the CA never issues.
    #[error("the request asks for an extension the CA does not issue / 证书请求含不支持的扩展")]
    Unsupported,
    /// The request is for another org than the one it may have.
    #[error(
        "the request names {found}, but this request may only be for {expected} / 证书请求的单位不符"
    )]
    WrongOrg { found: String, expected: OrgCode },
    /// A subject alternative name that is neither the org, a host name nor an IP address.
    #[error(
        "the request carries a name that is neither the org nor a host: {0} / 证书请求含不允许的名称"
    )]
    BadName(String),
    /// The request names no org as `urn:bangfu:org:CODE`, or several, or one that is not a code.
    #[error(
        "the request must name exactly one org as urn:bangfu:org:CODE; it names {0} / 证书请求未唯一标明单位"
    )]
    NoOrg(String),
    /// rcgen could not sign.
    #[error("signing: {0}")]
    Sign(String),
}

/// A certificate the CA signed for a request.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub serial: String,
    pub org: OrgCode,
    pub not_after: DateTime<Utc>,
    /// The certificate (PEM).
    pub certificate: String,
}

/// A certificate signing request that passed every check: its signature verifies, it asks for no
/// CA, and it names exactly one org and otherwise only host names and addresses.
#[derive(Debug)]
pub struct CheckedRequest {
    pub org: OrgCode,
    pub hosts: Vec<String>,
    public_key: rcgen::PublicKey,
}

/// Reads and checks a CSR (PEM) before anything is decided about it.
pub fn check_request(csr_pem: &str) -> Result<CheckedRequest, CsrError> {
    let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| match e {
        rcgen::Error::InvalidCertificationRequestSignature => CsrError::BadSignature,
        rcgen::Error::UnsupportedExtension => CsrError::Unsupported,
        _ => CsrError::Unreadable,
    })?;
    if matches!(csr.params.is_ca, IsCa::Ca(_)) {
        return Err(CsrError::AsksForCa);
    }
    let mut orgs = Vec::new();
    let mut hosts = Vec::new();
    for san in &csr.params.subject_alt_names {
        match san {
            SanType::URI(uri) if uri.as_str().starts_with(ORG_URI_PREFIX) => {
                orgs.push(uri.as_str()[ORG_URI_PREFIX.len()..].to_string())
            }
            SanType::DnsName(n) => hosts.push(n.as_str().to_string()),
            SanType::IpAddress(ip) => hosts.push(ip.to_string()),
            other => return Err(CsrError::BadName(format!("{other:?}"))),
        }
    }
    let org = match orgs.as_slice() {
        [one] => OrgCode::parse(one).map_err(|_| CsrError::NoOrg(one.clone()))?,
        [] => return Err(CsrError::NoOrg("no org".into())),
        many => return Err(CsrError::NoOrg(many.join(", "))),
    };
    Ok(CheckedRequest {
        org,
        hosts,
        public_key: csr.public_key,
    })
}

/// Signs `csr_pem` for `org` with the CA in `dir`, for `days`, and records it in the issue log.
/// Only the request's public key and host names are taken from it: the subject, CA:FALSE, key
/// usages and validity are the CA's own (as `issue` makes them), and a request asking for anything
/// else (CA:TRUE, another org, a bad signature) is refused with the reason.
pub fn sign_request(
    dir: &Path,
    org: &OrgCode,
    name: &str,
    csr_pem: &str,
    days: u32,
) -> Result<SignedRequest, SignError> {
    let CheckedRequest {
        org: asked,
        hosts,
        public_key,
    } = check_request(csr_pem)?;
    if &asked != org {
        return Err(CsrError::WrongOrg {
            found: asked.to_string(),
            expected: org.clone(),
        }
        .into());
    }
    let (_, issuer) = load_issuer(dir)?;
    let options = IssueOptions::for_days(vec![], days);
    let (params, serial) = leaf_params(org, name, &hosts, &options)?;
    let cert = rcgen::CertificateSigningRequestParams { params, public_key }
        .signed_by(&issuer)
        .map_err(|e| CsrError::Sign(e.to_string()))?;
    let serial = hex::encode(trim_zeros(&serial));
    let not_after = truncate(options.not_after);
    append_log(
        dir,
        &[
            &serial,
            org.as_str(),
            name,
            &rfc3339(not_after),
            &rfc3339(Utc::now()),
        ],
    )?;
    Ok(SignedRequest {
        serial,
        org: org.clone(),
        not_after,
        certificate: cert.pem(),
    })
}

/// Why `sign_request` did not sign: the request (the asker's fault) or the CA (ours).
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Request(#[from] CsrError),
    #[error(transparent)]
    Ca(#[from] Error),
}

/// How a revocation is recorded in the list.
#[derive(Debug, Clone, Copy, Default)]
pub struct RevokeOptions {
    /// Why (the CRL entry's reason code); None writes none.
    pub reason: Option<Reason>,
    /// Since when the key is known to be compromised (the entry's invalidity date): reports received
    /// before it keep counting, reports received since stop. None: since now.
    pub compromised_since: Option<DateTime<Utc>>,
}

/// Revokes by serial, or every unexpired certificate of an org, re-signing `crl.pem` with the new
/// entries under the next CRL number. Returns the serials this call added; revoking again adds
/// nothing, leaves the list as it was and returns an empty list.
pub fn revoke(dir: &Path, target: &RevokeTarget, options: &RevokeOptions) -> Result<Vec<String>> {
    let entries = list(dir)?;
    let wanted: Vec<&IssuedEntry> = match target {
        RevokeTarget::Serial(raw) => {
            let serial = canonical_serial(raw)?;
            let found: Vec<_> = entries.iter().filter(|e| e.serial == serial).collect();
            if found.is_empty() {
                return Err(Error::UnknownSerial {
                    serial,
                    dir: dir.to_path_buf(),
                });
            }
            found
        }
        RevokeTarget::Org(org) => {
            if !entries.iter().any(|e| &e.org == org) {
                return Err(Error::UnknownOrg {
                    org: org.clone(),
                    dir: dir.to_path_buf(),
                });
            }
            let now = Utc::now();
            entries
                .iter()
                .filter(|e| &e.org == org && e.not_after > now)
                .collect()
        }
    };
    let mut added = Vec::new();
    for e in wanted {
        if !e.revoked && !added.contains(&e.serial) {
            added.push(e.serial.clone());
        }
    }
    if added.is_empty() {
        return Ok(added);
    }
    let (ca_pem, ca_key_pem) = read_ca(dir)?;
    let current = load_crl(dir)?;
    let now = truncate(Utc::now());
    let since = truncate(options.compromised_since.unwrap_or(now));
    let mut all: Vec<(String, Revoked)> = current
        .entries()
        .map(|(serial, r)| (serial.to_string(), r.clone()))
        .collect();
    all.extend(added.iter().map(|serial| {
        (
            serial.clone(),
            Revoked {
                at: now,
                reason: options.reason,
                compromised_since: Some(since),
            },
        )
    }));
    write_crl(dir, &ca_pem, &ca_key_pem, &all, current.number() + 1)?;
    Ok(added)
}

/// The CA's own revocation list, `crl.pem` in the CA folder, checked against `ca.pem`.
pub fn load_crl(dir: &Path) -> Result<RevocationList> {
    let ca_path = dir.join(CA_CERT);
    let trust = Trust::from_file(&ca_path).map_err(|e| Error::BadPem {
        path: ca_path.display().to_string(),
        what: e.to_string(),
    })?;
    read_crl(&dir.join(CRL), &trust)
}

/// A revocation list file, checked against `trust`. A missing or unreadable file is an error: a
/// hub that cannot read its revocations must not start trusting everyone.
pub fn read_crl(path: &Path, trust: &Trust) -> Result<RevocationList> {
    let pem = fs::read(path).map_err(io("reading", path))?;
    RevocationList::from_pem(&pem, trust).map_err(|source| Error::Crl {
        path: path.to_path_buf(),
        source,
    })
}

fn read_ca(dir: &Path) -> Result<(String, String)> {
    let (ca_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if !ca_path.exists() || !key_path.exists() {
        return Err(Error::NoCa(dir.to_path_buf()));
    }
    Ok((
        fs::read_to_string(&ca_path).map_err(io("reading", &ca_path))?,
        fs::read_to_string(&key_path).map_err(io("reading", &key_path))?,
    ))
}

/// Signs the list and replaces `crl.pem` whole (written beside it, then renamed), so a hub
/// re-reading it never sees half a list.
fn write_crl(
    dir: &Path,
    ca_pem: &str,
    ca_key_pem: &str,
    entries: &[(String, Revoked)],
    number: u64,
) -> Result<()> {
    let path = dir.join(CRL);
    let now = truncate(Utc::now());
    let pem = crl::make_crl(
        ca_pem,
        ca_key_pem,
        entries,
        number,
        now,
        now + Duration::days(CRL_DAYS),
    )
    .map_err(|source| Error::Crl {
        path: path.clone(),
        source,
    })?;
    write_replacing(&path, pem.as_bytes())
}

/// Writes `path` whole: a temporary file beside it, synced, then renamed over it.
pub fn write_replacing(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("pem.tmp");
    let mut f = fs::File::create(&tmp).map_err(io("creating", &tmp))?;
    f.write_all(contents).map_err(io("writing", &tmp))?;
    f.sync_all().map_err(io("writing", &tmp))?;
    fs::rename(&tmp, path).map_err(io("replacing", path))
}

/// Every certificate the CA in `dir` has issued, oldest first, with whether it is revoked.
pub fn list(dir: &Path) -> Result<Vec<IssuedEntry>> {
    if !dir.join(CA_CERT).exists() {
        return Err(Error::NoCa(dir.to_path_buf()));
    }
    let revoked = load_crl(dir)?;
    let path = dir.join(ISSUED_LOG);
    let mut reader = csv::Reader::from_path(&path).map_err(|e| csv_err(&path, 0, e))?;
    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_err(&path, 0, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let bad = |reason: String| Error::BadLog {
            path: path.clone(),
            line,
            reason,
        };
        if record.len() != ISSUED_HEADER.len() {
            return Err(bad(format!(
                "{} fields, expected {}",
                record.len(),
                ISSUED_HEADER.len()
            )));
        }
        let date = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| bad(format!("`{s}`: {e}")))
        };
        let serial = record[0].to_string();
        entries.push(IssuedEntry {
            revoked: revoked.revoked(&serial).is_some(),
            org: OrgCode::parse(&record[1]).map_err(|e| bad(e.to_string()))?,
            name: record[2].to_string(),
            not_after: date(&record[3])?,
            issued_at: date(&record[4])?,
            serial,
        });
    }
    Ok(entries)
}

/// The org a certificate was issued to: its one `urn:bangfu:org:CODE` URI SAN.
pub fn org_of(cert_der: &[u8]) -> Result<OrgCode> {
    crate::tls::org_of(cert_der).map_err(from_tls)
}

/// A certificate's serial in the canonical form used in `issued.csv`, `crl.pem` and `pki list`.
pub fn serial_of(cert_der: &[u8]) -> Result<String> {
    crate::tls::serial_of(cert_der).map_err(from_tls)
}

/// The certificate-reading errors of the TLS module, as this module's own.
fn from_tls(e: crate::tls::Error) -> Error {
    use crate::tls::Error as T;
    match e {
        T::OrgSanCount(n) => Error::OrgSanCount(n),
        T::BadOrg(e) => Error::BadOrg(e),
        other => Error::Parse(other.to_string()),
    }
}

/// A serial typed by a person (`7A:0B…`, `0x7a0b…`, upper or lower case) in canonical form:
/// lowercase hex, no separators, no leading zero bytes.
pub fn canonical_serial(raw: &str) -> Result<String> {
    let cleaned: String = raw
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    let padded = if cleaned.len() % 2 == 1 {
        format!("0{cleaned}")
    } else {
        cleaned
    };
    let bytes = hex::decode(&padded).map_err(|_| Error::BadSerial(raw.to_string()))?;
    if bytes.is_empty() {
        return Err(Error::BadSerial(raw.to_string()));
    }
    Ok(hex::encode(trim_zeros(&bytes)))
}

/// The DER of the first certificate in a PEM text (`cert.pem`, `ca.pem`).
pub fn cert_der_from_pem(pem: &str) -> Result<Vec<u8>> {
    use rustls_pki_types::pem::PemObject as _;
    let cert = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
        Error::BadPem {
            path: "PEM text".into(),
            what: format!("no certificate: {e}"),
        }
    })?;
    Ok(cert.to_vec())
}

/// Subject and org SAN shared by the CA and issued certificates.
fn identity_params(
    org: &OrgCode,
    name: &str,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANIZATION);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, org.as_str());
    let uri = format!("{ORG_URI_PREFIX}{org}");
    params.subject_alt_names = vec![SanType::URI(
        uri.as_str()
            .try_into()
            .map_err(rcgen_err(format!("the URI SAN {uri}")))?,
    )];
    params.not_before = to_time(not_before)?;
    params.not_after = to_time(not_after)?;
    Ok(params)
}

/// 16 random bytes, a positive integer whose first byte is never zero, so the canonical hex is
/// always 32 digits.
fn random_serial() -> [u8; 16] {
    let mut serial: [u8; 16] = rand::rng().random();
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

fn to_time(t: DateTime<Utc>) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map_err(|e| Error::Parse(format!("date {t}: {e}")))
}

/// Certificates hold whole seconds; so does the log.
fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn append_log(dir: &Path, fields: &[&str]) -> Result<()> {
    let path = dir.join(ISSUED_LOG);
    let fresh = !path.exists();
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io("opening", &path))?;
    let mut w = csv::Writer::from_writer(f);
    if fresh {
        w.write_record(ISSUED_HEADER)
            .map_err(|e| csv_err(&path, 0, e))?;
    }
    w.write_record(fields).map_err(|e| csv_err(&path, 0, e))?;
    w.flush().map_err(io("writing", &path))
}

/// Writes a file that must not exist yet; keys are made readable by their owner only.
fn write_new(path: &Path, contents: &[u8], secret: bool) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::OutputExists(path.to_path_buf()),
        _ => Error::Io {
            action: "creating",
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    f.write_all(contents).map_err(io("writing", path))?;
    f.sync_all().map_err(io("writing", path))
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

fn rcgen_err(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> Error {
    let what = what.into();
    move |source| Error::Rcgen { what, source }
}

fn csv_err(path: &Path, line: u64, e: csv::Error) -> Error {
    let line = e.position().map_or(line, |p| p.line());
    Error::BadLog {
        path: path.to_path_buf(),
        line,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_typed_in_any_form_become_one_canonical_form() {
        assert_eq!(canonical_serial("7A:0B:FF").unwrap(), "7a0bff");
        assert_eq!(canonical_serial("0x007a0bff").unwrap(), "7a0bff");
        assert_eq!(canonical_serial("a0bff").unwrap(), "0a0bff");
        assert!(canonical_serial("xyz").is_err());
        assert!(canonical_serial("").is_err());
    }

    #[test]
    fn random_serials_are_positive_and_sixteen_bytes() {
        for _ in 0..100 {
            let s = random_serial();
            assert!(s[0] & 0x80 == 0 && s[0] != 0);
            assert_eq!(hex::encode(trim_zeros(&s)).len(), 32);
        }
    }
}
