//! The hub's PKI end to end: the real `bangfu-hub pki` binary makes the CA and certificates, and real
//! mutual-TLS handshakes over loopback show who gets in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use bangfu_client::crl::{Reason, RevocationList};
use bangfu_client::pki::{self, IssueOptions};
use bangfu_client::tls;
use bangfu_shared::org::OrgCode;
use chrono::{Duration, Utc};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn hub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bangfu-hub"))
        .args(args)
        .output()
        .expect("running bangfu-hub")
}

fn ok(args: &[&str]) -> String {
    let out = hub(args);
    assert!(
        out.status.success(),
        "bangfu-hub {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// A CA for the province HB in `root/pki`.
fn init_ca(root: &Path) -> PathBuf {
    let pki = root.join("pki");
    ok(&[
        "pki",
        "init",
        "--dir",
        s(&pki),
        "--org",
        "HB",
        "--name",
        "湖北省总工会",
    ]);
    pki
}

/// Issues an identity for `org` into `root/org` through the CLI.
fn issue(pki: &Path, root: &Path, org: &str, hosts: &[&str]) -> PathBuf {
    let out = root.join(org);
    let mut args = vec![
        "pki",
        "issue",
        "--dir",
        s(pki),
        "--org",
        org,
        "--name",
        "京山县总工会",
        "--out",
        s(&out),
    ];
    for h in hosts {
        args.extend(["--host", h]);
    }
    ok(&args);
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn cert_der(dir: &Path) -> Vec<u8> {
    pki::cert_der_from_pem(&read(&dir.join("cert.pem"))).expect("a certificate")
}

#[test]
fn an_issued_certificate_chains_to_the_ca_and_names_its_org() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let id = issue(&ca, tmp.path(), "H01", &[]);

    tls::verify_client_cert(&read(&ca.join("ca.pem")), &read(&id.join("cert.pem")))
        .expect("chains to the CA");
    assert_eq!(read(&id.join("ca.pem")), read(&ca.join("ca.pem")));
    assert_eq!(
        pki::org_of(&cert_der(&id)).unwrap(),
        OrgCode::parse("H01").unwrap()
    );
    let serial = pki::serial_of(&cert_der(&id)).unwrap();
    assert_eq!(serial.len(), 32);
    assert!(read(&ca.join("issued.csv")).contains(&serial));
}

#[test]
fn the_ca_itself_names_the_province_and_is_a_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let der = pki::cert_der_from_pem(&read(&ca.join("ca.pem"))).unwrap();
    assert_eq!(pki::org_of(&der).unwrap().as_str(), "HB");
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert!(cert.is_ca());
    let ku = cert.key_usage().unwrap().expect("key usage").value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
}

#[cfg(unix)]
#[test]
fn private_keys_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let id = issue(&ca, tmp.path(), "H01", &[]);
    for key in [ca.join("ca-key.pem"), id.join("key.pem")] {
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            key.display()
        );
    }
}

#[test]
fn a_certificate_carries_its_hosts_as_dns_and_ip_sans() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let id = issue(
        &ca,
        tmp.path(),
        "HB",
        &["127.0.0.1", "hub.example.cn", "::1"],
    );

    let der = cert_der(&id);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let names: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .expect("a SAN extension")
        .value
        .general_names
        .iter()
        .map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => format!("dns:{d}"),
            x509_parser::extensions::GeneralName::IPAddress(ip) => format!("ip:{}", ip.len()),
            x509_parser::extensions::GeneralName::URI(u) => format!("uri:{u}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "uri:urn:bangfu:org:HB",
            "ip:4",
            "dns:hub.example.cn",
            "ip:16"
        ]
    );
    let ca_pem = read(&ca.join("ca.pem"));
    let cert_pem = read(&id.join("cert.pem"));
    tls::verify_server_cert(&ca_pem, &cert_pem, "127.0.0.1").expect("valid for 127.0.0.1");
    tls::verify_server_cert(&ca_pem, &cert_pem, "hub.example.cn").expect("valid for the DNS name");
    assert!(tls::verify_server_cert(&ca_pem, &cert_pem, "other.example.cn").is_err());
}

#[test]
fn revoking_an_org_revokes_all_its_certificates_and_only_once() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let a = issue(&ca, tmp.path(), "H01", &[]);
    let b = issue(&ca, &tmp.path().join("second"), "H01", &[]);
    let other = issue(&ca, tmp.path(), "H02", &[]);
    let (sa, sb, so) = (
        pki::serial_of(&cert_der(&a)).unwrap(),
        pki::serial_of(&cert_der(&b)).unwrap(),
        pki::serial_of(&cert_der(&other)).unwrap(),
    );

    let out = ok(&["pki", "revoke", "--dir", s(&ca), "--org", "H01"]);
    assert!(out.contains(&sa) && out.contains(&sb), "{out}");
    let again = ok(&["pki", "revoke", "--dir", s(&ca), "--org", "H01"]);
    assert!(!again.contains(&sa), "{again}");

    let list = pki::load_crl(&ca).unwrap();
    assert!(list.revoked(&sa).is_some() && list.revoked(&sb).is_some());
    assert!(list.revoked(&so).is_none());
    assert_eq!(list.entries().count(), 2, "no serial twice in crl.pem");
    // init wrote number 1; the first revoke 2; the second, which added nothing, left it.
    assert_eq!(list.number(), 2);
    let listing = ok(&["pki", "list", "--dir", s(&ca)]);
    let line_of = |serial: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(serial))
            .unwrap_or_else(|| panic!("{serial} in {listing}"))
            .to_string()
    };
    assert!(line_of(&sa).contains("revoked") && line_of(&sb).contains("revoked"));
    assert!(line_of(&so).contains("valid"), "{listing}");
}

#[test]
fn revoking_by_serial_accepts_the_forms_a_person_types() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let a = issue(&ca, tmp.path(), "H01", &[]);
    let b = issue(&ca, tmp.path(), "H02", &[]);
    let (sa, sb) = (
        pki::serial_of(&cert_der(&a)).unwrap(),
        pki::serial_of(&cert_der(&b)).unwrap(),
    );

    let colons = sa
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    ok(&["pki", "revoke", "--dir", s(&ca), "--serial", &colons]);

    let list = pki::load_crl(&ca).unwrap();
    assert!(list.revoked(&sa).is_some() && list.revoked(&sb).is_none());
    let listing = ok(&["pki", "list", "--dir", s(&ca)]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&sa) && l.contains("revoked")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&sb) && l.contains("valid")),
        "{listing}"
    );
}

#[test]
fn init_writes_an_empty_list_signed_by_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let trust = bangfu_client::signature::Trust::from_file(&ca.join("ca.pem")).unwrap();
    let list = RevocationList::from_pem(read(&ca.join("crl.pem")).as_bytes(), &trust).unwrap();
    assert_eq!((list.number(), list.entries().count()), (1, 0));
    assert_eq!(list.ca(), trust.cas()[0].id());
    assert!(!ca.join("revoked.txt").exists());
}

#[test]
fn revoke_records_the_reason_and_since_when_the_key_was_compromised() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let a = issue(&ca, tmp.path(), "H01", &[]);
    let b = issue(&ca, tmp.path(), "H02", &[]);
    let (sa, sb) = (
        pki::serial_of(&cert_der(&a)).unwrap(),
        pki::serial_of(&cert_der(&b)).unwrap(),
    );
    let before = Utc::now();
    ok(&[
        "pki",
        "revoke",
        "--dir",
        s(&ca),
        "--org",
        "H01",
        "--reason",
        "key-compromise",
        "--compromised-since",
        "2026-11-30T08:00:00+08:00",
    ]);
    ok(&["pki", "revoke", "--dir", s(&ca), "--serial", &sb]);
    let list = pki::load_crl(&ca).unwrap();
    assert_eq!(list.number(), 3);
    let ra = list.revoked(&sa).expect("H01 revoked");
    assert_eq!(ra.reason, Some(Reason::KeyCompromise));
    assert_eq!(
        ra.compromised_since.unwrap().to_rfc3339(),
        "2026-11-30T00:00:00+00:00"
    );
    // The first entry survives the second revocation, re-signed; the second is compromised since now.
    let rb = list.revoked(&sb).expect("H02 revoked");
    assert_eq!(rb.reason, None);
    let since = rb.compromised_since.unwrap();
    assert!(
        since >= before - Duration::seconds(1) && since <= Utc::now(),
        "{since}"
    );

    let bad = hub(&[
        "pki",
        "revoke",
        "--dir",
        s(&ca),
        "--serial",
        &sb,
        "--compromised-since",
        "yesterday",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("yesterday"));
    let bad = hub(&[
        "pki",
        "revoke",
        "--dir",
        s(&ca),
        "--org",
        "H01",
        "--reason",
        "lost",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("key-compromise"));
    assert_eq!(
        pki::load_crl(&ca).unwrap().number(),
        3,
        "refusals leave the list"
    );
}

#[test]
fn revoking_an_unknown_serial_or_org_fails_and_says_which() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    issue(&ca, tmp.path(), "H01", &[]);
    let out = hub(&["pki", "revoke", "--dir", s(&ca), "--serial", "7abc"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("错误 / error:") && err.contains("7abc") && err.lines().count() == 1,
        "{err}"
    );
    let out = hub(&["pki", "revoke", "--dir", s(&ca), "--org", "H09"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("H09"));
    assert_eq!(pki::load_crl(&ca).unwrap().entries().count(), 0);
}

#[test]
fn init_refuses_to_overwrite_an_existing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(tmp.path());
    let before = read(&ca.join("ca-key.pem"));
    let out = hub(&[
        "pki",
        "init",
        "--dir",
        s(&ca),
        "--org",
        "HB",
        "--name",
        "湖北省总工会",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains(s(&ca)),
        "{err}"
    );
    assert_eq!(read(&ca.join("ca-key.pem")), before);
}

#[test]
fn issue_without_a_ca_and_bad_org_codes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = hub(&[
        "pki",
        "issue",
        "--dir",
        s(&tmp.path().join("none")),
        "--org",
        "H01",
        "--name",
        "x",
        "--out",
        s(&tmp.path().join("o")),
    ]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no CA"));
    let out = hub(&[
        "pki",
        "init",
        "--dir",
        s(&tmp.path().join("p")),
        "--org",
        "h01",
        "--name",
        "x",
    ]);
    assert!(!out.status.success());
}

#[test]
fn org_of_refuses_a_certificate_without_an_org() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["example.cn".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    assert!(matches!(
        pki::org_of(cert.der()),
        Err(pki::Error::OrgSanCount(0))
    ));
}

// ---- mutual TLS over loopback ----

struct Identity {
    ca: String,
    cert: String,
    key: String,
}

fn identity(dir: &Path) -> Identity {
    Identity {
        ca: read(&dir.join("ca.pem")),
        cert: read(&dir.join("cert.pem")),
        key: read(&dir.join("key.pem")),
    }
}

/// Serves one connection: echoes one byte back. Returns the server's outcome.
async fn serve_once(listener: TcpListener, server: &Identity) -> Result<(), String> {
    let config =
        tls::server_config(&server.ca, &server.cert, &server.key).map_err(|e| e.to_string())?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let mut tls = acceptor
        .accept(tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| pki::org_of(c).unwrap().to_string());
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte)
        .await
        .map_err(|e| format!("read: {e}"))?;
    tls.write_all(&byte)
        .await
        .map_err(|e| format!("write: {e}"))?;
    tls.shutdown().await.ok();
    peer.map(|_| ())
        .ok_or_else(|| "no peer certificate".to_string())
}

/// Connects, writes a byte and reads it back; with TLS 1.3 a refused client certificate shows only here.
async fn talk(addr: std::net::SocketAddr, config: rustls::ClientConfig) -> Result<(), String> {
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tls.write_all(b"x")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if &byte == b"x" {
        Ok(())
    } else {
        Err("wrong echo".into())
    }
}

/// Runs a handshake of `client` against a hub serving with `server`; returns (server, client) outcomes.
async fn handshake(
    server: Identity,
    client: rustls::ClientConfig,
) -> (Result<(), String>, Result<(), String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move { serve_once(listener, &server).await });
    let client = tokio::time::timeout(std::time::Duration::from_secs(10), talk(addr, client))
        .await
        .expect("client in time");
    let server = tokio::time::timeout(std::time::Duration::from_secs(10), srv)
        .await
        .expect("server in time")
        .unwrap();
    (server, client)
}

/// A CA with a hub identity for HB on 127.0.0.1, and a county identity for H01.
fn federation(root: &Path) -> (PathBuf, Identity, Identity) {
    let ca = init_ca(root);
    let server = identity(&issue(&ca, root, "HB", &["127.0.0.1"]));
    let county = identity(&issue(&ca, root, "H01", &[]));
    (ca, server, county)
}

#[tokio::test]
async fn mutual_tls_succeeds_with_a_client_certificate_from_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server, county) = federation(tmp.path());
    let client = tls::client_config(&county.ca, &county.cert, &county.key).unwrap();
    let (s, c) = handshake(server, client).await;
    assert_eq!(c, Ok(()));
    assert_eq!(s, Ok(()));
}

#[tokio::test]
async fn mutual_tls_fails_without_a_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server, county) = federation(tmp.path());
    tls::install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki::cert_der_from_pem(&county.ca).unwrap().into())
        .unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (s, c) = handshake(server, client).await;
    assert!(c.is_err(), "client got through without a certificate");
    assert!(s.unwrap_err().contains("no certificates"));
}

#[tokio::test]
async fn mutual_tls_fails_with_a_client_certificate_from_another_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server, county) = federation(tmp.path());
    let rogue_ca = init_ca(&tmp.path().join("rogue"));
    let rogue = identity(&issue(&rogue_ca, &tmp.path().join("rogue"), "H01", &[]));
    // The client trusts the real hub but presents a certificate of the other CA.
    let client = tls::client_config(&county.ca, &rogue.cert, &rogue.key).unwrap();
    let (s, c) = handshake(server, client).await;
    assert!(c.is_err(), "a certificate of another CA got through");
    assert!(s.unwrap_err().contains("invalid peer certificate"));
}

#[tokio::test]
async fn mutual_tls_fails_with_an_expired_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, server, _) = federation(tmp.path());
    let now = Utc::now();
    let options = IssueOptions {
        hosts: vec![],
        not_before: now - Duration::days(30),
        not_after: now - Duration::days(1),
    };
    let out = tmp.path().join("expired");
    pki::issue(
        &ca,
        &OrgCode::parse("H01").unwrap(),
        "京山县总工会",
        &options,
        &out,
    )
    .unwrap();
    let expired = identity(&out);
    let client = tls::client_config(&expired.ca, &expired.cert, &expired.key).unwrap();
    let (s, c) = handshake(server, client).await;
    assert!(c.is_err(), "an expired certificate got through");
    assert!(s.unwrap_err().contains("certificate expired"));
}
