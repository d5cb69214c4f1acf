//! Enrolment without shipped keys (issue 13): a county gets its certificate with a one-time code
//! and the CA's fingerprint, both read out to it by its parent's operator; its key is made here, on
//! the county's machine, and never leaves it.
//!
//! The code ([`new_code`]) is 16 characters in four groups of four from an alphabet without the
//! look-alikes 0/O, 1/I/L (31 symbols, 79 bits): typeable over the phone and not guessable within
//! the few attempts a hub allows. The hub keeps only its SHA-256 ([`code_hash`]).
//!
//! [`enrol`] first reads the hub's CA certificates without trusting anything (they are public),
//! keeps the one whose SHA-256 is the fingerprint it was given, and only then opens a TLS connection
//! that trusts that CA alone and accepts only the parent's org, and sends the code and the CSR over
//! it. A man in the middle can neither learn the code nor hand out a certificate of his own.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::Problem;
use bangfu_shared::protocol::enrolment::{EnrolRequest, Issued, routes};
use rand::Rng as _;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;

use crate::pki;

/// The symbols of a code: digits and capitals without 0, 1, I, L, O.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Symbols in a code (four groups of four).
pub const CODE_LEN: usize = 16;

/// What can go wrong enrolling or renewing, each naming what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the parent's URL `{0}` must start with https:// / 上级地址须为 https://")]
    NotHttps(String),
    #[error(
        "`{0}` is not an enrolment code: 16 letters and digits, as XXXX-XXXX-XXXX-XXXX (no 0, 1, I, L, O) / 注册码格式错误"
    )]
    BadCode(String),
    #[error(
        "`{0}` is not a CA fingerprint: 64 hex digits (SHA-256), as printed with the code / 根证书指纹格式错误"
    )]
    BadFingerprint(String),
    #[error("the parent {url} is unreachable: {detail} / 无法连接上级")]
    Unreachable { url: String, detail: String },
    #[error(
        "no CA certificate at {url} has the fingerprint {expected} (it serves {found}); nothing was sent — check the fingerprint with the parent's operator / 根证书指纹不符,未发送任何数据"
    )]
    NoMatchingCa {
        url: String,
        expected: String,
        found: String,
    },
    #[error("the parent refused ({status}): {detail} / 上级拒绝")]
    Refused { status: u16, detail: String },
    #[error("the parent's answer is not usable: {0} / 上级答复无效")]
    BadAnswer(String),
    #[error("{0} already holds key.pem or cert.pem; enrol into an empty folder / 目录中已有证书")]
    Exists(PathBuf),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("making the key or request: {0}")]
    Key(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
}

/// A fresh one-time code, `XXXX-XXXX-XXXX-XXXX`.
pub fn new_code() -> String {
    let mut rng = rand::rng();
    let raw: String = (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect();
    group(&raw, 4, '-')
}

/// The code as typed, reduced to its 16 symbols: case, spaces and dashes do not matter.
pub fn normalise_code(typed: &str) -> Result<String, Error> {
    let raw: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if raw.len() != CODE_LEN || !raw.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return Err(Error::BadCode(typed.chars().take(40).collect()));
    }
    Ok(raw)
}

/// What the hub stores of a code: the SHA-256 of its normalised form, in hex.
pub fn code_hash(normalised: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        normalised.as_bytes(),
    ))
}

/// The fingerprint of a certificate as printed for people: SHA-256 of its DER, upper-case hex in
/// groups of four.
pub fn fingerprint(der: &[u8]) -> String {
    let hex = hex::encode_upper(ring::digest::digest(&ring::digest::SHA256, der));
    group(&hex, 4, ':')
}

/// The fingerprints of every CA certificate in a PEM bundle, in order.
pub fn fingerprints(ca_pem: &str) -> Vec<String> {
    CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .filter_map(Result::ok)
        .map(|c| fingerprint(&c))
        .collect()
}

/// A fingerprint as typed (any case, any separators, an optional `sha256:`) as 32 bytes of hex.
pub fn normalise_fingerprint(typed: &str) -> Result<String, Error> {
    let t = typed.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .unwrap_or(t);
    let hex: String = t
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let others = t
        .chars()
        .any(|c| !c.is_ascii_hexdigit() && !matches!(c, ':' | '-' | ' '));
    if hex.len() != 64 || others {
        return Err(Error::BadFingerprint(typed.chars().take(100).collect()));
    }
    Ok(group(&hex, 4, ':'))
}

fn group(s: &str, n: usize, sep: char) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / n);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % n == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// A new P-256 key and a request for a certificate naming `org` (and `hosts`, for a node or hub
/// that serves); the key stays with the caller.
pub fn make_request(
    org: &OrgCode,
    name: &str,
    hosts: &[String],
) -> Result<(KeyPair, String), Error> {
    let key = KeyPair::generate().map_err(|e| Error::Key(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    let uri = format!("{}{org}", pki::ORG_URI_PREFIX);
    params.subject_alt_names = vec![SanType::URI(
        uri.as_str()
            .try_into()
            .map_err(|e: rcgen::Error| Error::Key(e.to_string()))?,
    )];
    for host in hosts {
        params.subject_alt_names.push(match host.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.as_str()
                    .try_into()
                    .map_err(|_| Error::Key(format!("`{host}` is not a host name")))?,
            ),
        });
    }
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| Error::Key(e.to_string()))?;
    Ok((key, csr))
}

/// What `bangfu-node enrol` asks for.
#[derive(Debug, Clone)]
pub struct EnrolOptions {
    /// The parent hub's URL (https://…).
    pub parent: String,
    /// The one-time code as typed.
    pub code: String,
    /// The CA fingerprint printed with the code.
    pub ca_fingerprint: String,
    /// The org enrolling, and its name (the certificate's CN; the hub writes its registered name).
    pub org: OrgCode,
    pub name: String,
    /// The only org whose certificate is accepted at `parent`.
    pub parent_org: OrgCode,
    /// Host names or addresses this node serves pulls as, if it does.
    pub hosts: Vec<String>,
    /// The folder to write ca.pem, cert.pem and key.pem to (created 0700, must not hold an identity).
    pub out: PathBuf,
}

/// What `enrol` wrote.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub serial: String,
    pub not_after: chrono::DateTime<chrono::Utc>,
    pub dir: PathBuf,
}

/// Enrols: fetches the CA, checks its fingerprint, sends the code and a CSR over TLS to that CA's
/// hub, checks the certificate it gets back and writes the identity folder.
pub async fn enrol(options: &EnrolOptions) -> Result<Enrolled, Error> {
    let base = options.parent.trim_end_matches('/').to_string();
    if !base.starts_with("https://") {
        return Err(Error::NotHttps(options.parent.clone()));
    }
    let code = normalise_code(&options.code)?;
    let expected = normalise_fingerprint(&options.ca_fingerprint)?;
    let out = &options.out;
    for f in [pki::KEY, pki::CERT] {
        if out.join(f).exists() {
            return Err(Error::Exists(out.clone()));
        }
    }
    crate::tls::install_provider();

    let ca = fetch_ca(&base, &expected).await?;
    let (key, csr) = make_request(&options.org, &options.name, &options.hosts)?;
    let issued =
        post_enrolment(&base, ca, &options.parent_org, &EnrolRequest { code, csr }).await?;
    check_issued(&issued, &key, &options.org)?;
    if !fingerprints(&issued.ca).contains(&expected) {
        return Err(Error::BadAnswer(format!(
            "the CA bundle returned does not hold the CA {expected} the connection was checked with"
        )));
    }

    create_private_dir(out)?;
    write_identity(out, &key.serialize_pem(), &issued.certificate, &issued.ca)?;
    Ok(Enrolled {
        serial: issued.serial,
        not_after: crate::expiry::not_after(&issued.certificate)?,
        dir: out.clone(),
    })
}

/// The CA certificate whose fingerprint is `expected` (normalised), read from the hub at `base`
/// without trusting anything: nothing is sent but the request line.
pub async fn fetch_ca(base: &str, expected: &str) -> Result<CertificateDer<'static>, Error> {
    let url = format!("{base}{}", routes::CA);
    let bundle = client(untrusting_config())?
        .get(&url)
        .send()
        .await
        .map_err(|e| unreachable(&url, &e))?
        .text()
        .await
        .map_err(|e| unreachable(&url, &e))?;
    CertificateDer::pem_slice_iter(bundle.as_bytes())
        .filter_map(Result::ok)
        .find(|c| fingerprint(c) == expected)
        .ok_or_else(|| Error::NoMatchingCa {
            url: url.clone(),
            expected: expected.to_string(),
            found: {
                let f = fingerprints(&bundle);
                if f.is_empty() {
                    "no certificate".into()
                } else {
                    f.join(", ")
                }
            },
        })
}

/// Sends an enrolment request to the hub at `base` over TLS trusting `ca` alone and only a
/// certificate of `parent_org`; the hub's answer, or its refusal with the reason.
pub async fn post_enrolment(
    base: &str,
    ca: CertificateDer<'static>,
    parent_org: &OrgCode,
    request: &EnrolRequest,
) -> Result<Issued, Error> {
    let url = format!("{base}{}", routes::ENROL);
    let response = client(pinned_config(ca, parent_org)?)?
        .post(&url)
        .json(request)
        .send()
        .await
        .map_err(|e| unreachable(&url, &e))?;
    answer(response).await
}

/// The parent's answer: an [`Issued`] on 200, else its problem's detail.
pub(crate) async fn answer(response: reqwest::Response) -> Result<Issued, Error> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Error::BadAnswer(crate::chain(&e)))?;
    if !status.is_success() {
        return Err(Error::Refused {
            status: status.as_u16(),
            detail: Problem::detail_of(&text),
        });
    }
    serde_json::from_str(&text).map_err(|e| Error::BadAnswer(e.to_string()))
}

/// The certificate returned is for our key and our org, and chains to a CA of the bundle.
pub(crate) fn check_issued(issued: &Issued, key: &KeyPair, org: &OrgCode) -> Result<(), Error> {
    crate::tls::certified_key(&issued.certificate, &key.serialize_pem()).map_err(|e| {
        Error::BadAnswer(format!("the certificate is not for the key made here: {e}"))
    })?;
    let der =
        pki::cert_der_from_pem(&issued.certificate).map_err(|e| Error::BadAnswer(e.to_string()))?;
    let got = crate::tls::org_of(&der)?;
    if &got != org {
        return Err(Error::BadAnswer(format!(
            "the certificate names {got}, not {org}"
        )));
    }
    crate::tls::verify_client_cert(&issued.ca, &issued.certificate).map_err(|e| {
        Error::BadAnswer(format!(
            "the certificate does not chain to the CA sent with it: {e}"
        ))
    })?;
    Ok(())
}

/// Writes key.pem (0600), cert.pem and ca.pem into `dir`, each whole (a temporary file beside it,
/// synced, then renamed), key first: a reader that sees the new certificate finds its key.
pub fn write_identity(
    dir: &Path,
    key_pem: &str,
    cert_pem: &str,
    ca_pem: &str,
) -> Result<(), Error> {
    replace(&dir.join(pki::KEY), key_pem.as_bytes(), true)?;
    replace(&dir.join(pki::CERT), cert_pem.as_bytes(), false)?;
    replace(&dir.join(pki::CA_CERT), ca_pem.as_bytes(), false)
}

fn replace(path: &Path, bytes: &[u8], secret: bool) -> Result<(), Error> {
    let io = |action, source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("pem.new");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(&tmp).map_err(|e| io("creating", e))?;
    f.write_all(bytes).map_err(|e| io("writing", e))?;
    f.sync_all().map_err(|e| io("writing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("replacing", e))
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })
}

fn unreachable(url: &str, e: &reqwest::Error) -> Error {
    Error::Unreachable {
        url: url.to_string(),
        detail: crate::chain(e),
    }
}

fn client(config: rustls::ClientConfig) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .https_only(true)
        .tls_backend_preconfigured(config)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("bangfu/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Unreachable {
            url: "(building the client)".into(),
            detail: crate::chain(&e),
        })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    crate::tls::install_provider();
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client config trusting the one CA `ca` and only a certificate of `parent_org`, without a
/// client certificate of its own.
fn pinned_config(
    ca: CertificateDer<'static>,
    parent_org: &OrgCode,
) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca)
        .map_err(|e| Error::BadAnswer(format!("the CA certificate: {e}")))?;
    let inner =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| Error::BadAnswer(format!("the CA certificate: {e}")))?;
    let verifier = crate::direct::DirectServerVerifier::new(inner, Some(parent_org.clone()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::BadAnswer(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client config that accepts any server certificate: used for one thing only, reading the
/// CA certificates that are then checked against the fingerprint before anything is sent.
fn untrusting_config() -> rustls::ClientConfig {
    let provider = provider();
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Accepts any server certificate (the handshake's own signatures are still checked).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The fingerprint of the CA in `bundle_pem` that issued `cert_pem` (a hub's own certificate):
/// the one to print with a code, since the child checks the hub's certificate against it.
pub fn issuing_ca_fingerprint(bundle_pem: &str, cert_pem: &str) -> Option<String> {
    const END: &str = "-----END CERTIFICATE-----";
    bundle_pem
        .split_inclusive(END)
        .filter(|block| block.contains("-----BEGIN CERTIFICATE-----"))
        .find(|block| crate::tls::verify_client_cert(block, cert_pem).is_ok())
        .and_then(|block| fingerprints(block).into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_four_groups_of_four_and_read_back_however_typed() {
        let code = new_code();
        assert_eq!(code.len(), 19);
        assert_eq!(code.split('-').count(), 4);
        let n = normalise_code(&code.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(n, code.replace('-', ""));
        assert!(
            normalise_code("ABCD-EFGH-JKMN-PQR0").is_err(),
            "0 is not a symbol"
        );
        assert!(normalise_code("ABCD-EFGH-JKMN").is_err(), "too short");
        assert_ne!(code_hash(&n), n);
    }

    #[test]
    fn fingerprints_are_read_however_typed() {
        let fp = fingerprint(b"x");
        assert_eq!(normalise_fingerprint(&fp.to_lowercase()).unwrap(), fp);
        assert_eq!(
            normalise_fingerprint(&format!("sha256:{}", fp.replace(':', ""))).unwrap(),
            fp
        );
        assert!(normalise_fingerprint("ABCD").is_err());
    }
}
