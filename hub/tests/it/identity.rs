//! Who a peer is, tried as an attacker with a certificate of the same CA would (issue 13): a CA:TRUE
//! certificate the CA signed minting identities, a sibling's certificate served at the parent's URL,
//! an unregistered province-shaped code reading a rollup, a foreign county listing campaigns. Real
//! hubs in-process, real certificates, real mutual TLS.

use std::path::{Path, PathBuf};

use bangfu_client::{Outcome, Parent};
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::testing::TestHub;
use bangfu_shared::org::OrgCode;
use chrono::NaiveDate;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::serve::{CAMPAIGN, json, report};

fn params(org: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, org);
    p.subject_alt_names = vec![SanType::URI(
        format!("urn:bangfu:org:{org}").as_str().try_into().unwrap(),
    )];
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p
}

/// What an attacker holding a CA:TRUE certificate signed by the federation's CA can make: an
/// identity folder for `victim` whose cert.pem is the minted leaf followed by that intermediate.
fn minted_by_a_rogue_ca(pki: &Path, victim: &str, out: &Path) -> PathBuf {
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let ca = Issuer::from_ca_cert_pem(
        &read("ca.pem"),
        KeyPair::from_pem(&read("ca-key.pem")).unwrap(),
    )
    .unwrap();
    let rogue_key = KeyPair::generate().unwrap();
    let rogue = params("ZZ", true).signed_by(&rogue_key, &ca).unwrap();
    let rogue_issuer = Issuer::new(params("ZZ", true), rogue_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = params(victim, false)
        .signed_by(&leaf_key, &rogue_issuer)
        .unwrap();
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("ca.pem"), read("ca.pem")).unwrap();
    std::fs::write(
        out.join("cert.pem"),
        format!("{}{}", leaf.pem(), rogue.pem()),
    )
    .unwrap();
    std::fs::write(out.join("key.pem"), leaf_key.serialize_pem()).unwrap();
    out.to_path_buf()
}

/// A leaf that says CA:TRUE itself, signed directly by the federation's CA.
fn ca_true_leaf(pki: &Path, org: &str, out: &Path) -> PathBuf {
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let ca = Issuer::from_ca_cert_pem(
        &read("ca.pem"),
        KeyPair::from_pem(&read("ca-key.pem")).unwrap(),
    )
    .unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params(org, true).signed_by(&key, &ca).unwrap();
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("ca.pem"), read("ca.pem")).unwrap();
    std::fs::write(out.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(out.join("key.pem"), key.serialize_pem()).unwrap();
    out.to_path_buf()
}

#[tokio::test]
async fn a_ca_true_certificate_signed_by_the_ca_mints_no_identity() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山县总工会")]).await;
    let dir = tempfile::tempdir().unwrap();
    // The genuine H01 gets its campaigns: the hub is up and H01 is its child.
    assert!(hub.client("H01").campaigns(None).await.is_ok());
    let forged = minted_by_a_rogue_ca(&hub.pki, "H01", &dir.path().join("forged"));
    let err = Parent::new(&hub.url, &forged)
        .unwrap()
        .campaigns(None)
        .await
        .expect_err("a chain through a CA:TRUE intermediate must not be accepted");
    assert!(
        matches!(err, bangfu_client::Error::Unreachable { .. }),
        "refused at the handshake: {err}"
    );
    let outcome = Parent::new(&hub.url, &forged)
        .unwrap()
        .post_report(b"{}")
        .await;
    assert!(
        matches!(outcome, Outcome::Unavailable { status: None, .. }),
        "{outcome:?}"
    );

    let leaf = ca_true_leaf(&hub.pki, "H01", &dir.path().join("ca-leaf"));
    assert!(
        Parent::new(&hub.url, &leaf)
            .unwrap()
            .campaigns(None)
            .await
            .is_err()
    );
    hub.stop().await;
}

#[test]
fn only_leaves_the_ca_issued_directly_pass_the_certificate_checks() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let hb = OrgCode::parse("HB").unwrap();
    bangfu_client::pki::init(&pki, &hb, "根", 30).unwrap();
    let forged = minted_by_a_rogue_ca(&pki, "H01", &dir.path().join("forged"));
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let ca = read(pki.join("ca.pem"));
    let chain = read(forged.join("cert.pem"));
    let err = bangfu_client::tls::verify_client_cert(&ca, &chain).unwrap_err();
    assert!(err.to_string().contains("verifying"), "{err}");
    let leaf = read(ca_true_leaf(&pki, "H01", &dir.path().join("leaf")).join("cert.pem"));
    let err = bangfu_client::tls::verify_client_cert(&ca, &leaf).unwrap_err();
    assert!(err.to_string().contains("CA:TRUE"), "{err}");
}

#[tokio::test]
async fn a_sibling_certificate_at_the_parent_url_gets_nothing() {
    // H02 (a sibling county, same CA) serves at the address H01 believes is its parent's.
    let rogue = TestHub::start("H02", HubLevel::Prefecture, &[("H01", "京山县总工会")]).await;
    with_campaign(&rogue).await;
    let h01 = rogue.identity("H01");
    let h = OrgCode::parse("H").unwrap();
    let pinned = Parent::pinned(&rogue.url, &h01, Some(&h)).unwrap();
    let err = pinned.campaigns(None).await.expect_err("pinned to H");
    assert!(err.to_string().contains("H02"), "names who answered: {err}");
    let body = json(&report("H01", 1, 1));
    match pinned.post_report(&body).await {
        Outcome::Unavailable {
            status: None,
            detail,
        } => {
            assert!(detail.contains("not the expected parent H"), "{detail}")
        }
        other => panic!("the report must not reach H02: {other:?}"),
    }
    let rollup = rogue.hub.rollup(&CAMPAIGN.parse().unwrap()).await.unwrap();
    let rollup = serde_json::to_value(&rollup).unwrap();
    assert_eq!(
        rollup["completeness"]["received"], 0,
        "nothing reached the sibling: {rollup}"
    );
    // Unpinned, the same identity would have talked to H02: the pin is what stops it.
    assert!(
        Parent::new(&rogue.url, &h01)
            .unwrap()
            .campaigns(None)
            .await
            .is_ok()
    );
    rogue.stop().await;
}

async fn with_campaign(hub: &TestHub) {
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let campaign = Campaign {
        id: CAMPAIGN.parse().unwrap(),
        template: "dangan".into(),
        title: "档案".into(),
        start: day("2026-01-01"),
        end: day("2026-06-30"),
        due: Due {
            county: day("2099-12-31"),
            prefecture: day("2099-12-31"),
            province: None,
        },
        template_body: None,
    };
    assert!(
        campaigns::create(&hub.hub.store, &campaign, "local")
            .await
            .unwrap()
    );
}

/// A raw client with `org`'s identity, for the routes `Parent` has no call for.
fn raw_client(tls: &Path) -> reqwest::Client {
    let read = |f: &str| std::fs::read(tls.join(f)).unwrap();
    let mut identity = read("cert.pem");
    identity.extend(read("key.pem"));
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&read("ca.pem")).unwrap()])
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_unregistered_province_code_reads_no_rollup_and_a_foreign_county_no_campaigns() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山县总工会")]).await;
    let url = format!("{}/api/v1/campaigns/{}/rollup", hub.url, CAMPAIGN);
    let res = raw_client(&hub.identity("ZZ"))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        reqwest::StatusCode::FORBIDDEN,
        "ZZ is nobody's parent here"
    );
    let text = res.text().await.unwrap();
    assert!(text.contains("ZZ may not read H's rollup"), "{text}");
    let res = raw_client(&hub.identity("H"))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_ne!(
        res.status(),
        reqwest::StatusCode::FORBIDDEN,
        "the hub itself"
    );

    for stranger in ["J01", "ZZ", "H02"] {
        match hub.client(stranger).campaigns(None).await {
            Err(bangfu_client::Error::Campaigns {
                status: 403,
                detail,
            }) => {
                assert!(detail.contains("not a registered child of H"), "{detail}")
            }
            other => panic!("{stranger} must be refused: {:?}", other.map(|_| ())),
        }
    }
    assert!(hub.client("H01").campaigns(None).await.is_ok(), "the child");
    hub.stop().await;
}
