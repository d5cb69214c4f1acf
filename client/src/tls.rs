//! Mutual TLS between unions, on rustls with ring only. The server side demands a client certificate
//! from the federation's CA and nothing else; the client side presents its identity and trusts only
//! that CA, not the system's roots, so neither end can be fooled by a certificate bought elsewhere.
//! Which org a peer is comes from [`org_of`] on its certificate.
//! Revocation is not part of the handshake: a hub checks the peer's serial ([`serial_of`]) against
//! its revocation list once the connection is up, and refuses it there.
//!
//! It lives in the client crate because both ends of the federation serve: a hub serves its children,
//! and a county node serves its parent's pulls (`bangfu-node serve --listen`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bangfu_shared::org::OrgCode;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier as _;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

/// What can go wrong building a TLS configuration or checking a certificate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CA, certificate or key text held nothing usable.
    #[error("{what}: {reason} / 证书或密钥无法读取")]
    Pem { what: &'static str, reason: String },
    /// rustls refused the certificates, key or verifier.
    #[error("{what}: {source}")]
    Rustls {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },
    /// The client verifier could not be built from the CA.
    #[error("building the client-certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
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
    BadOrg(#[from] bangfu_shared::org::OrgCodeError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Installs ring as rustls's process-wide provider. Safe to call more than once; the error of a
/// second install (or of another provider installed first) is ignored, as this crate always passes
/// ring explicitly anyway.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    install_provider();
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server that accepts only clients with a certificate from the CA in `ca_pem`, and speaks
/// h2 and http/1.1.
pub fn server_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<ServerConfig> {
    let config = demanding_client_certs(ca_pem)?
        .with_single_cert(certs(cert_pem)?, key(key_pem)?)
        .map_err(|source| Error::Rustls {
            what: "loading the server certificate and key",
            source,
        })?;
    Ok(with_alpn(config))
}

/// A server config builder that demands a client certificate from the CA in `ca_pem`.
fn demanding_client_certs(
    ca_pem: &str,
) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>> {
    let provider = provider();
    let roots = Arc::new(roots(ca_pem)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).build()?;
    let verifier = Arc::new(crate::direct::DirectClientVerifier::new(verifier));
    Ok(ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Rustls {
            what: "choosing protocol versions",
            source,
        })?
        .with_client_cert_verifier(verifier))
}

/// Speaks h2 and http/1.1.
fn with_alpn(mut config: ServerConfig) -> ServerConfig {
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// A client that presents the identity in `cert_pem`/`key_pem` and trusts only the CA in `ca_pem`.
pub fn client_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<ClientConfig> {
    client_config_pinned(ca_pem, cert_pem, key_pem, None)
}

/// A client like [`client_config`] that, given `expected`, accepts only a server certificate naming
/// that org: the handshake fails, before anything is sent, at any other certificate.
pub fn client_config_pinned(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    expected: Option<&OrgCode>,
) -> Result<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Rustls {
            what: "choosing protocol versions",
            source,
        })?
        .dangerous()
        .with_custom_certificate_verifier(server_verifier(ca_pem, expected.cloned())?)
        .with_client_auth_cert(certs(cert_pem)?, key(key_pem)?)
        .map_err(|source| Error::Rustls {
            what: "loading the client certificate and key",
            source,
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks that `cert_pem` chains to the CA in `ca_pem` and is valid now for a client, the check a
/// hub's TLS server makes; useful before handing an identity folder to a county.
pub fn verify_client_cert(ca_pem: &str, cert_pem: &str) -> Result<()> {
    let provider = provider();
    let verifier = crate::direct::DirectClientVerifier::new(
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider).build()?,
    );
    let chain = certs(cert_pem)?;
    let (end_entity, intermediates) = chain.split_first().ok_or(Error::Pem {
        what: "the certificate",
        reason: "no certificate".into(),
    })?;
    verifier
        .verify_client_cert(end_entity, intermediates, UnixTime::now())
        .map_err(|source| Error::Rustls {
            what: "verifying the certificate against the CA",
            source,
        })?;
    Ok(())
}

/// Whether a server verifier accepts the certificate for `host`; shows a hub's certificate names it.
pub fn verify_server_cert(ca_pem: &str, cert_pem: &str, host: &str) -> Result<()> {
    let verifier = server_verifier(ca_pem, None)?;
    let chain = certs(cert_pem)?;
    let (end_entity, intermediates) = chain.split_first().ok_or(Error::Pem {
        what: "the certificate",
        reason: "no certificate".into(),
    })?;
    let name =
        rustls_pki_types::ServerName::try_from(host.to_string()).map_err(|e| Error::Pem {
            what: "the host name",
            reason: e.to_string(),
        })?;
    verifier
        .verify_server_cert(end_entity, intermediates, &name, &[], UnixTime::now())
        .map_err(|source| Error::Rustls {
            what: "verifying the certificate for the host",
            source,
        })?;
    Ok(())
}

/// The server verifier every client uses: only leaves the CA issued directly, pinned to `expected`.
fn server_verifier(
    ca_pem: &str,
    expected: Option<OrgCode>,
) -> Result<Arc<crate::direct::DirectServerVerifier>> {
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
        .build()
        .map_err(|e| Error::Pem {
            what: "building the server-certificate verifier",
            reason: e.to_string(),
        })?;
    Ok(Arc::new(crate::direct::DirectServerVerifier::new(
        inner, expected,
    )))
}

fn roots(ca_pem: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs_of(ca_pem, "the CA certificate")? {
        roots.add(cert).map_err(|source| Error::Rustls {
            what: "adding the CA certificate",
            source,
        })?;
    }
    Ok(roots)
}

fn certs(cert_pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    certs_of(cert_pem, "the certificate")
}

fn certs_of(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::Pem {
            what,
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn key(key_pem: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| Error::Pem {
        what: "the private key",
        reason: e.to_string(),
    })
}

/// A server config like [`server_config`], but taking its certificate from `resolver` (one that
/// re-reads renewed files, say).
pub fn server_config_with_resolver(
    ca_pem: &str,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<ServerConfig> {
    Ok(with_alpn(
        demanding_client_certs(ca_pem)?.with_cert_resolver(resolver),
    ))
}

/// A certificate chain and its key, ready to serve.
pub fn certified_key(cert_pem: &str, key_pem: &str) -> Result<rustls::sign::CertifiedKey> {
    let signing = provider()
        .key_provider
        .load_private_key(key(key_pem)?)
        .map_err(|source| Error::Rustls {
            what: "loading the private key",
            source,
        })?;
    let certified = rustls::sign::CertifiedKey::new(certs(cert_pem)?, signing);
    // A key and certificate from different pairs (one file replaced, not yet the other) is refused.
    certified.keys_match().map_err(|source| Error::Rustls {
        what: "matching the key to the certificate",
        source,
    })?;
    Ok(certified)
}

/// The prefix of the URI SAN that names a certificate's org (`urn:bangfu:org:H01`).
pub const ORG_URI_PREFIX: &str = "urn:bangfu:org:";

/// The org a certificate names in its one `urn:bangfu:org:` URI SAN.
pub fn org_of(cert_der: &[u8]) -> Result<OrgCode> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| Error::Parse(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| Error::Parse(e.to_string()))?;
    let orgs: Vec<&str> = san
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(ORG_URI_PREFIX),
            _ => None,
        })
        .collect();
    match orgs.as_slice() {
        [one] => Ok(OrgCode::parse(one)?),
        other => Err(Error::OrgSanCount(other.len())),
    }
}

/// A certificate's serial in canonical form: lowercase hex, no leading zero bytes (as `pki list`
/// and `crl.pem` write it).
pub fn serial_of(cert_der: &[u8]) -> Result<String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| Error::Parse(e.to_string()))?;
    let raw = cert.raw_serial();
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    Ok(hex::encode(&raw[start..]))
}

/// The server certificate and key, re-read from their files when either file's mtime changes, so a
/// renewed certificate is served without a restart. A bad new pair is logged and the old one kept.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    cached: Mutex<(Stamp, Arc<rustls::sign::CertifiedKey>)>,
}

/// The mtimes of cert.pem and key.pem when they were last read.
type Stamp = (Option<SystemTime>, Option<SystemTime>);

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl ReloadingCert {
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<ReloadingCert> {
        let stamp = (mtime(&cert), mtime(&key));
        let loaded = load_certified(&cert, &key)?;
        Ok(ReloadingCert {
            cert,
            key,
            cached: Mutex::new((stamp, Arc::new(loaded))),
        })
    }
}

fn load_certified(cert: &Path, key: &Path) -> Result<rustls::sign::CertifiedKey> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| Error::Pem {
            what: "reading a PEM file",
            reason: format!("{}: {e}", p.display()),
        })
    };
    certified_key(&read(cert)?, &read(key)?)
}

impl rustls::server::ResolvesServerCert for ReloadingCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let mut cached = self.cached.lock().ok()?;
        let stamp = (mtime(&self.cert), mtime(&self.key));
        if stamp != cached.0 {
            match load_certified(&self.cert, &self.key) {
                Ok(k) => {
                    tracing::info!(cert = %self.cert.display(), "server certificate re-read");
                    *cached = (stamp, Arc::new(k));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the changed server certificate does not load; keeping the old one")
                }
            }
        }
        Some(cached.1.clone())
    }
}

/// The server config of an identity folder (`ca.pem`, `cert.pem`, `key.pem`): clients must show a
/// certificate from that CA; the server's own certificate is re-read when renewed.
pub fn server_config_from_dir(dir: &Path) -> Result<ServerConfig> {
    install_provider();
    let ca_path = dir.join("ca.pem");
    let ca = std::fs::read_to_string(&ca_path).map_err(|e| Error::Pem {
        what: "reading the CA certificate",
        reason: format!("{}: {e}", ca_path.display()),
    })?;
    let resolver = ReloadingCert::new(dir.join("cert.pem"), dir.join("key.pem"))?;
    server_config_with_resolver(&ca, Arc::new(resolver))
}
