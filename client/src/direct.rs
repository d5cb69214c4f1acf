//! Certificate verifiers that accept only what the federation's CA signed itself: a leaf marked
//! CA:FALSE whose issuer is the CA, with no intermediate in between. webpki alone would build a
//! path through any intermediate the peer sends, and it ignores a trust anchor's own pathlen:0, so a
//! CA:TRUE certificate signed by the CA (a prefecture's test CA, a mistake) could mint a
//! certificate for any org. Here the peer's intermediates are dropped before webpki sees them.
//!
//! The server verifier can also be pinned to one org: a node talking to its parent refuses any
//! other certificate at the parent's URL during the handshake, before a byte of a request is sent.

use std::sync::Arc;

use bangfu_shared::org::OrgCode;
use rustls::DistinguishedName;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Refuses a leaf that is not explicitly CA:FALSE (the PKI writes the extension on every leaf).
pub fn leaf_is_not_a_ca(der: &[u8]) -> Result<(), rustls::Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| rustls::Error::General(format!("unreadable certificate: {e}")))?;
    match cert.basic_constraints() {
        Ok(Some(bc)) if !bc.value.ca => Ok(()),
        Ok(Some(_)) => Err(rustls::Error::General(
            "the certificate is a CA (CA:TRUE); only leaf certificates issued by the federation's CA are accepted / 证书为CA证书,拒绝".into(),
        )),
        _ => Err(rustls::Error::General(
            "the certificate does not say CA:FALSE; only leaf certificates issued by the federation's CA are accepted / 证书缺少CA:FALSE".into(),
        )),
    }
}

/// A client verifier that passes no intermediates to webpki: only chains the CA issued directly.
#[derive(Debug)]
pub struct DirectClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl DirectClientVerifier {
    pub fn new(inner: Arc<dyn ClientCertVerifier>) -> DirectClientVerifier {
        DirectClientVerifier { inner }
    }
}

impl ClientCertVerifier for DirectClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        leaf_is_not_a_ca(end_entity)?;
        self.inner.verify_client_cert(end_entity, &[], now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A server verifier that accepts only leaves the CA issued directly and, when pinned, only a
/// certificate naming the expected org.
#[derive(Debug)]
pub struct DirectServerVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    expected: Option<OrgCode>,
}

impl DirectServerVerifier {
    pub fn new(inner: Arc<dyn ServerCertVerifier>, expected: Option<OrgCode>) -> Self {
        DirectServerVerifier { inner, expected }
    }
}

impl ServerCertVerifier for DirectServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        leaf_is_not_a_ca(end_entity)?;
        let verified =
            self.inner
                .verify_server_cert(end_entity, &[], server_name, ocsp_response, now)?;
        if let Some(expected) = &self.expected {
            let org = crate::tls::org_of(end_entity)
                .map_err(|e| rustls::Error::General(format!("the server certificate: {e}")))?;
            if &org != expected {
                return Err(rustls::Error::General(format!(
                    "the server's certificate is {org}'s, not the expected parent {expected}'s; nothing was sent / 上级证书单位不符,未发送任何数据"
                )));
            }
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
