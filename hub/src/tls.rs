//! Mutual TLS between unions, on rustls with ring only. The server side demands a client certificate
//! from the federation's CA and nothing else; the client side presents its identity and trusts only
//! that CA, not the system's roots, so neither end can be fooled by a certificate bought elsewhere.
//! Which org a peer is comes from [`crate::pki::org_of`] on its certificate.
//! Revocation is not part of the handshake: the hub checks the peer's serial ([`crate::pki::serial_of`])
//! against [`crate::pki::RevocationList`] once the connection is up, and refuses it there.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
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
    Rustls { what: &'static str, #[source] source: rustls::Error },
    /// The client verifier could not be built from the CA.
    #[error("building the client-certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
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
    let provider = provider();
    let roots = Arc::new(roots(ca_pem)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Rustls { what: "choosing protocol versions", source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert_pem)?, key(key_pem)?)
        .map_err(|source| Error::Rustls { what: "loading the server certificate and key", source })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client that presents the identity in `cert_pem`/`key_pem` and trusts only the CA in `ca_pem`.
pub fn client_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Rustls { what: "choosing protocol versions", source })?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(certs(cert_pem)?, key(key_pem)?)
        .map_err(|source| Error::Rustls { what: "loading the client certificate and key", source })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks that `cert_pem` chains to the CA in `ca_pem` and is valid now for a client, the check a
/// hub's TLS server makes; useful before handing an identity folder to a county.
pub fn verify_client_cert(ca_pem: &str, cert_pem: &str) -> Result<()> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider).build()?;
    let chain = certs(cert_pem)?;
    let (end_entity, intermediates) = chain.split_first().ok_or(Error::Pem { what: "the certificate", reason: "no certificate".into() })?;
    verifier
        .verify_client_cert(end_entity, intermediates, UnixTime::now())
        .map_err(|source| Error::Rustls { what: "verifying the certificate against the CA", source })?;
    Ok(())
}

/// Whether a server verifier accepts the certificate for `host`; shows a hub's certificate names it.
pub fn verify_server_cert(ca_pem: &str, cert_pem: &str, host: &str) -> Result<()> {
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
        .build()
        .map_err(|e| Error::Pem { what: "building the server-certificate verifier", reason: e.to_string() })?;
    let chain = certs(cert_pem)?;
    let (end_entity, intermediates) = chain.split_first().ok_or(Error::Pem { what: "the certificate", reason: "no certificate".into() })?;
    let name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| Error::Pem { what: "the host name", reason: e.to_string() })?;
    verifier
        .verify_server_cert(end_entity, intermediates, &name, &[], UnixTime::now())
        .map_err(|source| Error::Rustls { what: "verifying the certificate for the host", source })?;
    Ok(())
}

fn roots(ca_pem: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs_of(ca_pem, "the CA certificate")? {
        roots.add(cert).map_err(|source| Error::Rustls { what: "adding the CA certificate", source })?;
    }
    Ok(roots)
}

fn certs(cert_pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    certs_of(cert_pem, "the certificate")
}

fn certs_of(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem { what, reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(Error::Pem { what, reason: "no CERTIFICATE block".into() });
    }
    Ok(certs)
}

fn key(key_pem: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| Error::Pem { what: "the private key", reason: e.to_string() })
}

/// A server config like [`server_config`], but taking its certificate from `resolver` (one that
/// re-reads renewed files, say).
pub fn server_config_with_resolver(ca_pem: &str, resolver: Arc<dyn rustls::server::ResolvesServerCert>) -> Result<ServerConfig> {
    let provider = provider();
    let roots = Arc::new(roots(ca_pem)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Rustls { what: "choosing protocol versions", source })?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A certificate chain and its key, ready to serve.
pub fn certified_key(cert_pem: &str, key_pem: &str) -> Result<rustls::sign::CertifiedKey> {
    let signing = provider()
        .key_provider
        .load_private_key(key(key_pem)?)
        .map_err(|source| Error::Rustls { what: "loading the private key", source })?;
    let certified = rustls::sign::CertifiedKey::new(certs(cert_pem)?, signing);
    // A key and certificate from different pairs (one file replaced, not yet the other) is refused.
    certified.keys_match().map_err(|source| Error::Rustls { what: "matching the key to the certificate", source })?;
    Ok(certified)
}
