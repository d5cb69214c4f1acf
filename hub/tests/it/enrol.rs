//! Enrolment, renewal and relaying (issue 13), tried as a county and as an attacker would: a county
//! makes its key and gets a certificate for a one-time code; a reused, expired, foreign or guessed
//! code, a CSR asking for CA:TRUE and one with a bad signature are each refused with the reason; a
//! prefecture without the CA key relays to the province, which signs only for that prefecture's
//! counties. Real hubs in-process, real certificates, real TLS.

use std::path::{Path, PathBuf};

use bangfu_client::enrol::{self, EnrolOptions};
use bangfu_client::pki::{self, IssueOptions};
use bangfu_client::{Parent, renew};
use bangfu_hub::app::Hub;
use bangfu_hub::config::{HubConfig, HubLevel};
use bangfu_hub::enrolment;
use bangfu_hub::registry::{self, Org};
use bangfu_hub::startup::{ServeOptions, Server};
use bangfu_hub::testing::TestHub;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::enrolment::EnrolRequest;
use chrono::{Duration, Utc};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

/// The fingerprint an operator reads out with a code: the CA that issued the hub's certificate.
fn fingerprint_of(tls: &Path) -> String {
    let read = |f: &str| std::fs::read_to_string(tls.join(f)).unwrap();
    enrol::issuing_ca_fingerprint(&read(pki::CA_CERT), &read(pki::CERT)).expect("the hub's CA")
}

fn options(
    hub_url: &str,
    hub_tls: &Path,
    parent: &str,
    who: &str,
    code: &str,
    out: PathBuf,
) -> EnrolOptions {
    EnrolOptions {
        parent: hub_url.to_string(),
        code: code.to_string(),
        ca_fingerprint: fingerprint_of(hub_tls),
        org: org(who),
        name: "县总工会".into(),
        parent_org: org(parent),
        hosts: vec![],
        out,
    }
}

async fn code_for(hub: &TestHub, who: &str) -> String {
    enrolment::new_code(&hub.hub.store, &org(who), Duration::hours(72), Utc::now())
        .await
        .unwrap()
        .0
}

fn refused(e: enrol::Error) -> (u16, String) {
    match e {
        enrol::Error::Refused { status, detail } => (status, detail),
        other => panic!("expected a refusal, got: {other}"),
    }
}

#[tokio::test]
async fn a_county_enrols_with_a_code_and_its_key_is_made_on_its_machine() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山县总工会")]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls");
    let code = code_for(&hub, "H01").await;
    let typed = code.to_lowercase().replace('-', " ");
    let enrolled = enrol::enrol(&options(
        &hub.url,
        &hub.hub.config.tls,
        "H",
        "H01",
        &typed,
        out.clone(),
    ))
    .await
    .expect("enrolled");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&out.join(pki::KEY)),
            0o600,
            "the key is the owner's only"
        );
        assert_eq!(mode(&out), 0o700);
    }
    let cert = std::fs::read_to_string(out.join(pki::CERT)).unwrap();
    let der = pki::cert_der_from_pem(&cert).unwrap();
    assert_eq!(pki::org_of(&der).unwrap(), org("H01"));
    bangfu_client::direct::leaf_is_not_a_ca(&der).expect("CA:FALSE");
    let (_, name, _) = renew::identity_of(&cert).unwrap();
    assert_eq!(
        name, "京山县总工会",
        "the name the hub registered, as `pki issue` writes it"
    );
    let logged = pki::list(&hub.pki).unwrap();
    assert!(
        logged
            .iter()
            .any(|e| e.serial == enrolled.serial && e.org.as_str() == "H01")
    );
    // The key in the folder is the one the certificate is for, and the hub takes the identity.
    Parent::pinned(&hub.url, &out, Some(&org("H")))
        .unwrap()
        .campaigns(None)
        .await
        .expect("the enrolled county lists its campaigns");
}

#[tokio::test]
async fn a_reused_an_expired_and_a_foreign_code_are_refused_with_the_reason() {
    let hub = TestHub::start(
        "H",
        HubLevel::Prefecture,
        &[("H01", "京山"), ("H02", "沙洋")],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let tls = &hub.hub.config.tls;
    let code = code_for(&hub, "H01").await;
    enrol::enrol(&options(
        &hub.url,
        tls,
        "H",
        "H01",
        &code,
        dir.path().join("a"),
    ))
    .await
    .expect("the first use");

    let (status, detail) = refused(
        enrol::enrol(&options(
            &hub.url,
            tls,
            "H",
            "H01",
            &code,
            dir.path().join("b"),
        ))
        .await
        .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert!(detail.contains("already used"), "{detail}");

    let (old, _) = enrolment::new_code(
        &hub.hub.store,
        &org("H02"),
        Duration::hours(72),
        Utc::now() - Duration::hours(73),
    )
    .await
    .unwrap();
    let (status, detail) = refused(
        enrol::enrol(&options(
            &hub.url,
            tls,
            "H",
            "H02",
            &old,
            dir.path().join("c"),
        ))
        .await
        .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert!(detail.contains("expired"), "{detail}");

    let h01 = code_for(&hub, "H01").await;
    let (status, detail) = refused(
        enrol::enrol(&options(
            &hub.url,
            tls,
            "H",
            "H02",
            &h01,
            dir.path().join("d"),
        ))
        .await
        .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert!(
        detail.contains("issued for H01, but the request is for H02"),
        "{detail}"
    );
    assert!(
        !dir.path().join("d").join(pki::CERT).exists(),
        "nothing written"
    );
}

#[tokio::test]
async fn guessing_kills_the_code_after_five_wrong_tries() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山")]).await;
    let dir = tempfile::tempdir().unwrap();
    let tls = &hub.hub.config.tls;
    let code = code_for(&hub, "H01").await;
    for i in 0..5 {
        let guess = enrol::new_code();
        let (status, detail) = refused(
            enrol::enrol(&options(
                &hub.url,
                tls,
                "H",
                "H01",
                &guess,
                dir.path().join(format!("g{i}")),
            ))
            .await
            .unwrap_err(),
        );
        assert_eq!(status, 403);
        assert!(detail.contains("not valid here"), "{detail}");
    }
    let (status, detail) = refused(
        enrol::enrol(&options(
            &hub.url,
            tls,
            "H",
            "H01",
            &code,
            dir.path().join("real"),
        ))
        .await
        .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert!(detail.contains("too many wrong attempts"), "{detail}");
}

/// A CSR for `who` asking to be a CA.
fn ca_true_request(who: &str) -> String {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.subject_alt_names = vec![SanType::URI(
        format!("urn:bangfu:org:{who}").as_str().try_into().unwrap(),
    )];
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.serialize_request(&key).unwrap().pem().unwrap()
}

/// A genuine CSR for `who` with one byte of its signature changed.
fn badly_signed_request(who: &str) -> String {
    use base64::Engine as _;
    let (_, pem) = enrol::make_request(&org(who), "县", &[]).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn a_request_for_ca_true_or_with_a_bad_signature_is_refused_and_the_code_survives() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山")]).await;
    let dir = tempfile::tempdir().unwrap();
    let tls = &hub.hub.config.tls;
    let code = code_for(&hub, "H01").await;
    let expected = enrol::normalise_fingerprint(&fingerprint_of(tls)).unwrap();
    let ca = enrol::fetch_ca(&hub.url, &expected).await.unwrap();

    for (csr, reason) in [
        (ca_true_request("H01"), "CA:TRUE"),
        (badly_signed_request("H01"), "signature does not verify"),
    ] {
        let request = EnrolRequest {
            code: code.clone(),
            csr,
        };
        let (status, detail) = refused(
            enrol::post_enrolment(&hub.url, ca.clone(), &org("H"), &request)
                .await
                .unwrap_err(),
        );
        assert_eq!(status, 422, "{detail}");
        assert!(detail.contains(reason), "{detail}");
    }
    enrol::enrol(&options(
        &hub.url,
        tls,
        "H",
        "H01",
        &code,
        dir.path().join("ok"),
    ))
    .await
    .expect("a refused request does not use the code up");
}

#[tokio::test]
async fn a_wrong_fingerprint_sends_nothing() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山")]).await;
    let dir = tempfile::tempdir().unwrap();
    let code = code_for(&hub, "H01").await;
    let mut o = options(
        &hub.url,
        &hub.hub.config.tls,
        "H",
        "H01",
        &code,
        dir.path().join("x"),
    );
    o.ca_fingerprint = enrol::fingerprint(b"another CA");
    let e = enrol::enrol(&o).await.unwrap_err();
    assert!(matches!(e, enrol::Error::NoMatchingCa { .. }), "{e}");
    o.ca_fingerprint = fingerprint_of(&hub.hub.config.tls);
    enrol::enrol(&o)
        .await
        .expect("the code was never sent, so it still works");
}

#[tokio::test]
async fn a_county_renews_over_mtls_for_its_own_org_only() {
    let hub = TestHub::start(
        "H",
        HubLevel::Prefecture,
        &[("H01", "京山"), ("H02", "沙洋")],
    )
    .await;
    let tls = hub.identity("H01");
    let before = std::fs::read_to_string(tls.join(pki::CERT)).unwrap();
    let parent = Parent::pinned(&hub.url, &tls, Some(&org("H"))).unwrap();
    let renewed = renew::renew(&parent, &tls).await.expect("renewed");
    let after = std::fs::read_to_string(tls.join(pki::CERT)).unwrap();
    assert_ne!(before, after);
    assert_eq!(renewed.org, org("H01"));
    assert_eq!(
        pki::serial_of(&pki::cert_der_from_pem(&after).unwrap()).unwrap(),
        renewed.serial
    );
    // The same client presents the new certificate from its next connection on.
    Parent::pinned(&hub.url, &tls, Some(&org("H")))
        .unwrap()
        .campaigns(None)
        .await
        .expect("the renewed identity works");

    let (_, csr) = enrol::make_request(&org("H02"), "沙洋", &[]).unwrap();
    let e = parent
        .certificate(
            bangfu_shared::protocol::enrolment::routes::RENEW,
            &bangfu_shared::protocol::enrolment::RenewRequest { csr },
        )
        .await
        .unwrap_err();
    let (status, detail) = refused(e);
    assert_eq!(status, 422);
    assert!(detail.contains("names H02"), "{detail}");
}

/// A prefecture hub `H` under `province`, without the CA's key, with `counties` registered.
async fn prefecture_without_the_key(
    province: &TestHub,
    dir: &Path,
    counties: &[&str],
) -> (Hub, String, tokio::sync::oneshot::Sender<()>) {
    let tls = dir.join("tls-H");
    pki::issue(
        &province.pki,
        &org("H"),
        "荆门市总工会",
        &IssueOptions::for_days(vec!["127.0.0.1".into()], 30),
        &tls,
    )
    .unwrap();
    let data = dir.join("hub-H");
    HubConfig {
        org: org("H"),
        name: "荆门市总工会".into(),
        level: HubLevel::Prefecture,
        tls,
        pki: None,
        parent: Some(province.url.clone()),
        parent_org: None,
        database_url: None,
        pull: None,
        reconcile: Default::default(),
        remind: Default::default(),
        smtp: None,
        intake: Default::default(),
        door: Default::default(),
        versions: Default::default(),
        dashboard: Default::default(),
    }
    .create(&data)
    .unwrap();
    let hub = Hub::open(&data).await.unwrap();
    for c in counties {
        registry::add(
            &hub.store,
            &Org {
                code: org(c),
                name: format!("{c}县总工会"),
                email: None,
                webhook: None,
            },
        )
        .await
        .unwrap();
    }
    let server = Server::build(hub.clone(), ServeOptions::on("127.0.0.1:0"))
        .await
        .unwrap();
    let url = format!("https://{}", server.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));
    (hub, url, stop)
}

#[tokio::test]
async fn a_prefecture_without_the_key_relays_to_the_province_which_signs_only_its_counties() {
    let province = TestHub::start("HB", HubLevel::Province, &[("H", "荆门市总工会")]).await;
    let dir = tempfile::tempdir().unwrap();
    let (h, url, _stop) = prefecture_without_the_key(&province, dir.path(), &["H01"]).await;
    let (code, _) = enrolment::new_code(&h.store, &org("H01"), Duration::hours(1), Utc::now())
        .await
        .unwrap();
    let out = dir.path().join("tls-H01");
    let enrolled = enrol::enrol(&options(
        &url,
        &h.config.tls,
        "H",
        "H01",
        &code,
        out.clone(),
    ))
    .await
    .expect("enrolled through H at HB");
    let issued = pki::list(&province.pki).unwrap();
    assert!(
        issued
            .iter()
            .any(|e| e.serial == enrolled.serial && e.org.as_str() == "H01"),
        "the province's CA signed it"
    );
    // Renewal takes the same path: H checks H01 is its child, HB signs.
    let parent = Parent::pinned(&url, &out, Some(&org("H"))).unwrap();
    renew::renew(&parent, &out)
        .await
        .expect("renewed through H");

    // H may not get a certificate for another prefecture's county, nor for a hub.
    let h_as_client = Parent::pinned(&province.url, &h.config.tls, Some(&org("HB"))).unwrap();
    for victim in ["J01", "HB"] {
        let (_, csr) = enrol::make_request(&org(victim), "x", &[]).unwrap();
        let (status, detail) = refused(
            h_as_client
                .sign_for(&org(victim), "x", &csr)
                .await
                .unwrap_err(),
        );
        assert_eq!(status, 403);
        assert!(
            detail.contains("only relay requests for its own counties"),
            "{detail}"
        );
    }
    // A county may not relay at all.
    let h01_at_province = province.client("H01");
    let (_, csr) = enrol::make_request(&org("H02"), "x", &[]).unwrap();
    let (status, _) = refused(
        h01_at_province
            .sign_for(&org("H02"), "x", &csr)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_hub_holding_the_ca_renews_its_own_certificate_when_due_and_serves_it_at_once() {
    use bangfu_hub::jobs::renewal;
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山")]).await;
    let cert = hub.hub.config.tls.join(pki::CERT);
    let before = std::fs::read_to_string(&cert).unwrap();
    assert!(
        renewal::once(&hub.hub).await.unwrap().is_none(),
        "a 30-day certificate is not due on its first day"
    );
    let clock = bangfu_shared::time::TestClock::at(Utc::now() + Duration::days(21));
    let later = hub.hub.clone().with_clock(std::sync::Arc::new(clock));
    let renewed = renewal::once(&later)
        .await
        .unwrap()
        .expect("due after two thirds of 30 days");
    let after = std::fs::read_to_string(&cert).unwrap();
    assert_ne!(before, after);
    assert_eq!(renewed.org, org("H"));
    // The running server goes on with the new pair (re-read at the next handshake).
    let fetched = hub.client("H01").campaigns(None).await;
    assert!(fetched.is_ok(), "{fetched:?}");
    let (_, _, hosts) = renew::identity_of(&after).unwrap();
    assert_eq!(hosts, vec!["127.0.0.1".to_string()], "the hosts are kept");
}
