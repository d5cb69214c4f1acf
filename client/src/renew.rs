//! Renewal without an operator (issue 13): once two thirds of a certificate's life has passed, its
//! holder makes a new key on its own machine and asks its parent for a certificate for the same org
//! over mutual TLS with the certificate it still has (`POST /api/v1/renew`); a hub holding the CA
//! signs its own. The new files replace the old ones whole, and a running server or client picks
//! them up at its next handshake ([`ReloadingClientCert`] here, `tls::ReloadingCert` for servers).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::enrolment::{Issued, RenewRequest, SignRequest, routes};
use chrono::{DateTime, Utc};
use reqwest::header;

use crate::enrol::{self, Error};
use crate::{Parent, pki};

/// When the certificate in `pem` is due for renewal: two thirds of the way from its start to its end.
pub fn due_at(pem: &str) -> Result<DateTime<Utc>, Error> {
    let (start, end) = validity(pem)?;
    Ok(start + (end - start) * 2 / 3)
}

fn validity(pem: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let der = pki::cert_der_from_pem(pem).map_err(|e| Error::BadAnswer(e.to_string()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| crate::tls::Error::Parse(e.to_string()))?;
    let at = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .ok_or_else(|| crate::tls::Error::Parse("a date out of range".into()))
    };
    Ok((
        at(cert.validity().not_before.timestamp())?,
        at(cert.validity().not_after.timestamp())?,
    ))
}

/// Who the certificate in `pem` is: its org, its name (CN) and the hosts it serves as.
pub fn identity_of(pem: &str) -> Result<(OrgCode, String, Vec<String>), Error> {
    let der = pki::cert_der_from_pem(pem).map_err(|e| Error::BadAnswer(e.to_string()))?;
    let org = crate::tls::org_of(&der)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| crate::tls::Error::Parse(e.to_string()))?;
    let name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|n| n.as_str().ok())
        .unwrap_or(org.as_str())
        .to_string();
    let mut hosts = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => hosts.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                    4 => hosts.push(
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default())
                            .to_string(),
                    ),
                    16 => hosts.push(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).unwrap_or_default())
                            .to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok((org, name, hosts))
}

/// What a renewal did.
#[derive(Debug, Clone)]
pub struct Renewed {
    pub org: OrgCode,
    pub serial: String,
    pub not_after: DateTime<Utc>,
}

/// Renews the identity in `tls_dir` at `parent` if it is due at `now`; None when not yet due.
pub async fn renew_if_due(
    parent: &Parent,
    tls_dir: &Path,
    now: DateTime<Utc>,
) -> Result<Option<Renewed>, Error> {
    let pem = read(&tls_dir.join(pki::CERT))?;
    if now < due_at(&pem)? {
        return Ok(None);
    }
    renew(parent, tls_dir).await.map(Some)
}

/// Renews the identity in `tls_dir` now at `parent`: a new key here, a CSR for the same org, name
/// and hosts, sent with the current certificate; the new files replace the old ones.
pub async fn renew(parent: &Parent, tls_dir: &Path) -> Result<Renewed, Error> {
    let pem = read(&tls_dir.join(pki::CERT))?;
    let (org, name, hosts) = identity_of(&pem)?;
    let (key, csr) = enrol::make_request(&org, &name, &hosts)?;
    let issued = parent
        .certificate(routes::RENEW, &RenewRequest { csr })
        .await?;
    enrol::check_issued(&issued, &key, &org)?;
    enrol::write_identity(
        tls_dir,
        &key.serialize_pem(),
        &issued.certificate,
        &issued.ca,
    )?;
    Ok(Renewed {
        org,
        serial: issued.serial,
        not_after: crate::expiry::not_after(&issued.certificate)?,
    })
}

/// Renews the identity in `tls_dir` with the CA in `pki_dir` (a hub that holds its CA's key signs
/// its own), if it is due at `now`. The CA bundle in `tls_dir` is kept as it is.
pub fn renew_locally_if_due(
    pki_dir: &Path,
    tls_dir: &Path,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Option<Renewed>, Error> {
    let pem = read(&tls_dir.join(pki::CERT))?;
    if now < due_at(&pem)? {
        return Ok(None);
    }
    let (org, name, hosts) = identity_of(&pem)?;
    let (key, csr) = enrol::make_request(&org, &name, &hosts)?;
    let signed = pki::sign_request(pki_dir, &org, &name, &csr, days)
        .map_err(|e| Error::BadAnswer(e.to_string()))?;
    let ca = read(&tls_dir.join(pki::CA_CERT))?;
    let issued = Issued {
        certificate: signed.certificate,
        ca,
        serial: signed.serial,
    };
    enrol::check_issued(&issued, &key, &org)?;
    enrol::write_identity(
        tls_dir,
        &key.serialize_pem(),
        &issued.certificate,
        &issued.ca,
    )?;
    Ok(Some(Renewed {
        org,
        serial: issued.serial,
        not_after: signed.not_after,
    }))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })
}

impl Parent {
    /// `POST` a certificate request (`routes::RENEW` or `routes::SIGN`) to the parent over mutual TLS.
    pub async fn certificate(
        &self,
        route: &str,
        body: &impl serde::Serialize,
    ) -> Result<Issued, Error> {
        let url = format!("{}{route}", self.base);
        let response = self
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, bangfu_shared::protocol::media::JSON)
            .json(body)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                url: url.clone(),
                detail: crate::chain(&e),
            })?;
        enrol::answer(response).await
    }

    /// Asks the parent to sign `csr` for this hub's child `org` (a hub without the CA's key).
    pub async fn sign_for(&self, org: &OrgCode, name: &str, csr: &str) -> Result<Issued, Error> {
        self.certificate(
            routes::SIGN,
            &SignRequest {
                org: org.clone(),
                name: name.to_string(),
                csr: csr.to_string(),
            },
        )
        .await
    }
}

/// Something made from this identity's certificate and key files (the TLS client certificate, the
/// report signer), made again when either file changes, so a renewed identity is used from the next
/// connection or report on without restarting. A pair that does not load (one file replaced, not
/// yet the other) is skipped and the old value kept.
pub struct Reloading<T> {
    cert: PathBuf,
    key: PathBuf,
    make: fn(&str, &str) -> Result<T, String>,
    cached: Mutex<(Stamp, Arc<T>)>,
}

/// The TLS client certificate, re-read after a renewal.
pub type ReloadingClientCert = Reloading<rustls::sign::CertifiedKey>;

/// The key reports are signed with, re-read after a renewal (a report signed with the replaced
/// certificate would stop verifying once that certificate ends).
pub type ReloadingSigner = Reloading<crate::signature::Signer>;

type Stamp = (Option<SystemTime>, Option<SystemTime>);

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ReloadingClientCert {
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<ReloadingClientCert, Error> {
        Reloading::with(cert, key, |cert, key| {
            crate::tls::certified_key(cert, key).map_err(|e| e.to_string())
        })
    }
}

impl ReloadingSigner {
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<ReloadingSigner, Error> {
        Reloading::with(cert, key, |cert, key| {
            crate::signature::Signer::from_pem(cert, key).map_err(|e| e.to_string())
        })
    }
}

impl<T> Reloading<T> {
    fn with(
        cert: PathBuf,
        key: PathBuf,
        make: fn(&str, &str) -> Result<T, String>,
    ) -> Result<Reloading<T>, Error> {
        let stamp = (mtime(&cert), mtime(&key));
        let made = make(&read(&cert)?, &read(&key)?).map_err(|detail| {
            Error::Key(format!(
                "{} with {}: {detail}",
                cert.display(),
                key.display()
            ))
        })?;
        Ok(Reloading {
            cert,
            key,
            make,
            cached: Mutex::new((stamp, Arc::new(made))),
        })
    }

    /// The value made from the files as they are now.
    pub fn current(&self) -> Arc<T> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = (mtime(&self.cert), mtime(&self.key));
        if stamp != cached.0 {
            let made = read(&self.cert)
                .and_then(|c| Ok((c, read(&self.key)?)))
                .map_err(|e| e.to_string())
                .and_then(|(c, k)| (self.make)(&c, &k));
            match made {
                Ok(v) => {
                    tracing::info!(cert = %self.cert.display(), "identity re-read after a change");
                    *cached = (stamp, Arc::new(v));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the changed certificate and key do not load; keeping the old ones")
                }
            }
        }
        cached.1.clone()
    }
}

impl rustls::client::ResolvesClientCert for ReloadingClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The CA certificates in `ca.pem` (several during a rollover) as a root store.
fn roots_from(ca_path: &Path) -> Result<rustls::RootCertStore, Error> {
    use rustls_pki_types::pem::PemObject as _;
    let pem = read(ca_path)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| Error::BadAnswer(format!("{}: {e}", ca_path.display())))?;
        roots
            .add(cert)
            .map_err(|e| Error::BadAnswer(format!("{}: {e}", ca_path.display())))?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    crate::tls::install_provider();
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A verifier of the parent's certificate whose CAs are re-read when `ca.pem` changes (a renewal
/// brought a rollover's new CA), so a running node trusts the new CA without a restart. It checks
/// what `direct::DirectServerVerifier` checks, pinned to `expected`.
#[derive(Debug)]
pub struct ReloadingServerVerifier {
    ca: PathBuf,
    expected: Option<OrgCode>,
    cached: Mutex<(Option<SystemTime>, Arc<crate::direct::DirectServerVerifier>)>,
}

impl ReloadingServerVerifier {
    pub fn new(ca: PathBuf, expected: Option<OrgCode>) -> Result<ReloadingServerVerifier, Error> {
        let stamp = mtime(&ca);
        let built = Self::build(&ca, expected.clone())?;
        Ok(ReloadingServerVerifier {
            ca,
            expected,
            cached: Mutex::new((stamp, Arc::new(built))),
        })
    }

    fn build(
        ca: &Path,
        expected: Option<OrgCode>,
    ) -> Result<crate::direct::DirectServerVerifier, Error> {
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots_from(ca)?),
            provider(),
        )
        .build()
        .map_err(|e| Error::BadAnswer(format!("{}: {e}", ca.display())))?;
        Ok(crate::direct::DirectServerVerifier::new(inner, expected))
    }

    fn current(&self) -> Arc<crate::direct::DirectServerVerifier> {
        let mut cached = self.cached.lock().expect("not poisoned");
        let stamp = mtime(&self.ca);
        if stamp != cached.0 {
            match Self::build(&self.ca, self.expected.clone()) {
                Ok(v) => {
                    tracing::info!(ca = %self.ca.display(), "CA certificates re-read");
                    *cached = (stamp, Arc::new(v));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the changed ca.pem does not load; keeping the old CAs")
                }
            }
        }
        cached.1.clone()
    }
}

impl rustls::client::danger::ServerCertVerifier for ReloadingServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.current().verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

/// A verifier of client certificates whose CAs are re-read when `ca.pem` changes, for a hub taking
/// in a rollover's new CA without a restart; a client without a certificate may finish the
/// handshake when `optional` (enrolment). No CA names are hinted to clients (they send the one
/// certificate they have).
#[derive(Debug)]
pub struct ReloadingClientVerifier {
    ca: PathBuf,
    optional: bool,
    cached: Mutex<(Option<SystemTime>, Arc<crate::direct::DirectClientVerifier>)>,
}

impl ReloadingClientVerifier {
    pub fn new(ca: PathBuf, optional: bool) -> Result<ReloadingClientVerifier, Error> {
        let stamp = mtime(&ca);
        let built = Self::build(&ca, optional)?;
        Ok(ReloadingClientVerifier {
            ca,
            optional,
            cached: Mutex::new((stamp, Arc::new(built))),
        })
    }

    fn build(ca: &Path, optional: bool) -> Result<crate::direct::DirectClientVerifier, Error> {
        let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots_from(ca)?),
            provider(),
        );
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        let inner = builder
            .build()
            .map_err(|e| Error::BadAnswer(format!("{}: {e}", ca.display())))?;
        Ok(crate::direct::DirectClientVerifier::new(inner))
    }

    fn current(&self) -> Arc<crate::direct::DirectClientVerifier> {
        let mut cached = self.cached.lock().expect("not poisoned");
        let stamp = mtime(&self.ca);
        if stamp != cached.0 {
            match Self::build(&self.ca, self.optional) {
                Ok(v) => {
                    tracing::info!(ca = %self.ca.display(), "CA certificates re-read");
                    *cached = (stamp, Arc::new(v));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the changed ca.pem does not load; keeping the old CAs")
                }
            }
        }
        cached.1.clone()
    }
}

impl rustls::server::danger::ClientCertVerifier for ReloadingClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.optional
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::IssueOptions;

    #[test]
    fn the_report_signer_is_re_read_after_a_renewal() {
        let ca = crate::signature::testpki::TestCa::new("A");
        let (old, new) = (ca.leaf("H01"), ca.leaf("H01"));
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &old.cert_pem).unwrap();
        std::fs::write(&key, &old.key_pem).unwrap();
        let signer = ReloadingSigner::new(cert.clone(), key.clone()).unwrap();
        assert_eq!(
            format!("{:?}", signer.current()),
            format!("{:?}", old.signer())
        );
        // A renewal replaces both files; mtimes are set apart so a coarse clock still sees it.
        std::fs::write(&cert, &new.cert_pem).unwrap();
        std::fs::write(&key, &new.key_pem).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        for f in [&cert, &key] {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(later)
                .unwrap();
        }
        assert_eq!(
            format!("{:?}", signer.current()),
            format!("{:?}", new.signer())
        );
        assert_ne!(old.serial, new.serial);
        // Half a pair (a key that is not the certificate's) keeps the last good signer.
        std::fs::write(&key, &old.key_pem).unwrap();
        let later = later + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&key)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(
            format!("{:?}", signer.current()),
            format!("{:?}", new.signer())
        );
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_life() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        pki::init(&ca, &OrgCode::parse("HB").unwrap(), "根", 365).unwrap();
        let mut options = IssueOptions::for_days(vec!["127.0.0.1".into()], 90);
        options.not_before = Utc::now();
        options.not_after = options.not_before + chrono::Duration::days(90);
        let out = dir.path().join("h01");
        pki::issue(&ca, &OrgCode::parse("H01").unwrap(), "县", &options, &out).unwrap();
        let pem = std::fs::read_to_string(out.join(pki::CERT)).unwrap();
        let due = due_at(&pem).unwrap();
        let seconds = (due - options.not_before).num_seconds();
        assert!(
            (seconds - 60 * 86_400).abs() <= 2,
            "two thirds of 90 days (certificates hold whole seconds): {seconds}"
        );
        let (org, name, hosts) = identity_of(&pem).unwrap();
        assert_eq!((org.as_str(), name.as_str()), ("H01", "县"));
        assert_eq!(hosts, vec!["127.0.0.1".to_string()]);
        assert!(
            renew_locally_if_due(&ca, &out, 90, Utc::now())
                .unwrap()
                .is_none()
        );
        let renewed = renew_locally_if_due(&ca, &out, 90, due + chrono::Duration::seconds(1))
            .unwrap()
            .expect("due");
        let new = std::fs::read_to_string(out.join(pki::CERT)).unwrap();
        assert_ne!(new, pem);
        assert_eq!(identity_of(&new).unwrap().0.as_str(), "H01");
        assert_eq!(
            pki::list(&ca).unwrap().last().unwrap().serial,
            renewed.serial
        );
    }

    #[test]
    fn the_parent_verifier_trusts_a_ca_added_to_ca_pem_without_a_restart() {
        use rustls::client::danger::ServerCertVerifier as _;
        let dir = tempfile::tempdir().unwrap();
        let h = OrgCode::parse("H").unwrap();
        let (old, new) = (dir.path().join("old"), dir.path().join("new"));
        pki::init(&old, &h, "旧", 60).unwrap();
        pki::init(&new, &h, "新", 60).unwrap();
        let hub = dir.path().join("hub");
        let options = IssueOptions::for_days(vec!["127.0.0.1".into()], 30);
        pki::issue(&new, &h, "荆门", &options, &hub).unwrap();
        let der =
            pki::cert_der_from_pem(&std::fs::read_to_string(hub.join(pki::CERT)).unwrap()).unwrap();
        let leaf = rustls::pki_types::CertificateDer::from(der);
        let ca = dir.path().join("ca.pem");
        let read = |d: &Path| std::fs::read_to_string(d.join(pki::CA_CERT)).unwrap();
        std::fs::write(&ca, read(&old)).unwrap();
        let verifier = ReloadingServerVerifier::new(ca.clone(), Some(h)).unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let now = rustls::pki_types::UnixTime::now();
        assert!(
            verifier
                .verify_server_cert(&leaf, &[], &name, &[], now)
                .is_err(),
            "the new CA is not trusted yet"
        );
        // A later mtime, as a renewal's rename gives (some file systems keep whole seconds).
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&ca, format!("{}{}", read(&old), read(&new))).unwrap();
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], now)
            .expect("trusted once ca.pem holds it");
    }
}
