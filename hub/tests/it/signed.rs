//! Signed reports against real hubs in-process (issue 12 item 1, and the revocation part of item 4):
//! a province and a prefecture of one federation (one CA, real certificates, mutual TLS, SQLite),
//! counties pushing signed reports. Each attack ends with the province's total equal to the sum of
//! the honest counties' reports as their nodes made them from their generated archives.

use bangfu_client::pki::{self, IssueOptions, RevokeOptions, RevokeTarget};
use bangfu_client::signature::Signer;
use bangfu_client::{Outcome, Parent};
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::jobs::upstream;
use bangfu_hub::rollup::RollupCell;
use bangfu_hub::testing::TestHub;
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose::protect;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{Envelope, Version};
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::synthetic::archive;
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use serde_json::json;

const ID: &str = "2026-songnuan";
const CELL: &str = "3A";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn campaign() -> Campaign {
    Campaign {
        id: ID.parse().unwrap(),
        template: "songnuan".into(),
        title: "送温暖".into(),
        start: day("2026-01-01"),
        end: day("2026-01-31"),
        due: Due {
            county: day("2099-12-31"),
            prefecture: day("2099-12-31"),
            province: None,
        },
        template_body: None,
    }
}

fn template() -> Template {
    template::builtin("songnuan", &Vocabulary::builtin()).unwrap()
}

/// A county's report as its node makes it from its generated archive (seed).
fn county(org: &str, seed: u64, version: u32) -> Report {
    let t = template();
    let v = Vocabulary::builtin();
    let (hs, aid) = archive(seed, 300, &v);
    let values = aggregate(
        &t,
        &hs,
        &aid,
        &Period::campaign(day("2026-01-01"), day("2026-01-31")),
    );
    Report::new(
        OrgCode::parse(org).unwrap(),
        &t,
        Some(ID.parse().unwrap()),
        day("2026-01-31"),
        Version::new(version),
        protect(&t, &values).unwrap(),
        evaluate(&t, |i| values.value(i)),
    )
}

fn headline(r: &Report) -> Decimal {
    r.cells[CELL].value().expect("published")
}

fn bytes(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

async fn total(hub: &TestHub) -> Decimal {
    let r = hub.hub.rollup(&ID.parse().unwrap()).await.unwrap();
    match &r.cells[CELL] {
        RollupCell::Value { value } => *value,
        other => panic!("not exact: {other:?}"),
    }
}

async fn post(client: &Parent, body: &[u8]) -> (u16, String) {
    match client.post_report(body).await {
        Outcome::Stored { .. } => (201, String::new()),
        Outcome::Refused { status, detail } => (status, detail),
        Outcome::Unavailable { status, detail } => (status.unwrap_or(0), detail),
    }
}

/// The province HB (holding the CA) with prefectures H and J, and the prefecture H (without the CA:
/// its revocation list comes from the province with the campaigns) with counties H01–H03. The
/// campaign is the province's; H takes it, and the list, by syncing.
async fn tree() -> (TestHub, TestHub, Parent) {
    let prov = TestHub::start(
        "HB",
        HubLevel::Province,
        &[("H", "荆门市总工会"), ("J", "荆州市总工会")],
    )
    .await;
    campaigns::create(&prov.hub.store, &campaign(), "local")
        .await
        .unwrap();
    let pref = TestHub::start_under(
        &prov,
        false,
        "H",
        HubLevel::Prefecture,
        &[("H01", "京山县"), ("H02", "沙洋县"), ("H03", "钟祥市")],
    )
    .await;
    let up = prov.client("H");
    sync(&pref, &up).await;
    (prov, pref, up)
}

/// The prefecture takes the campaigns and the CA's revocation list from the province.
async fn sync(pref: &TestHub, up: &Parent) {
    upstream::sync_campaigns(&pref.hub, up, None)
        .await
        .expect("campaigns and the list from the province");
}

async fn findings(hub: &TestHub, rule: &str) -> Vec<(String, Option<String>)> {
    let r = hub.hub.rollup(&ID.parse().unwrap()).await.unwrap();
    r.issues
        .iter()
        .filter(|i| i.rule == rule)
        .map(|i| (i.org.to_string(), i.via.as_ref().map(|v| v.to_string())))
        .collect()
}

#[tokio::test]
async fn an_unsigned_or_foreign_signed_report_is_refused_at_intake() {
    let (prov, pref, _) = tree().await;
    let h01 = county("H01", 1, 1);
    // Signed with H02's key, sent over H01's connection.
    let h02_key = Signer::from_dir(&pref.identity("H02")).unwrap();
    let body = bytes(&h01);
    let jws = h02_key.sign(&body, chrono::Utc::now()).unwrap();
    match pref.client("H01").post_signed(&body, jws.as_str()).await {
        Outcome::Refused { status, detail } => {
            assert_eq!(status, 422);
            assert!(detail.contains("signed with H02's certificate"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    // H01's own signature, over other bytes.
    let h01_key = Signer::from_dir(&pref.identity("H01")).unwrap();
    let other = h01_key.sign(b"{}", chrono::Utc::now()).unwrap();
    let (status, _) = match pref.client("H01").post_signed(&body, other.as_str()).await {
        Outcome::Refused { status, detail } => (status, detail),
        other => panic!("{other:?}"),
    };
    assert_eq!(status, 422);
    // Unsigned.
    let res = reqwest_post_unsigned(&pref, &body).await;
    assert_eq!(res, 422);
    assert_eq!(post(&pref.client("H01"), &body).await.0, 201);
    assert_eq!(total(&pref).await, headline(&h01));
    pref.stop().await;
    prov.stop().await;
}

#[tokio::test]
async fn a_tampered_prefecture_store_is_caught_at_the_province_which_counts_the_verified_sum() {
    let (prov, pref, up) = tree().await;
    let honest: Vec<Report> = (1..=3)
        .map(|i| county(&format!("H0{i}"), 30 + i, 1))
        .collect();
    for r in &honest {
        assert_eq!(post(&pref.client(r.org.as_str()), &bytes(r)).await.0, 201);
    }
    // Someone with the prefecture's database raises H02's figure in place (and its hash).
    let (body,): (String,) = sqlx::query_as("SELECT body FROM reports WHERE org = 'H02'")
        .fetch_one(&sqlx::AnyPool::connect(&sqlite(&pref)).await.unwrap())
        .await
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let raised = headline(&honest[1]) + Decimal::integer(5000);
    v["cells"][CELL] = json!({ "value": raised });
    let tampered = v.to_string();
    let pool = sqlx::AnyPool::connect(&sqlite(&pref)).await.unwrap();
    sqlx::query("UPDATE reports SET body = $1, hash = $2 WHERE org = 'H02'")
        .bind(&tampered)
        .bind(bangfu_shared::protocol::ContentHash::of(tampered.as_bytes()).to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let own = upstream::own_report(&pref.hub, &campaign())
        .await
        .unwrap()
        .unwrap();
    assert!(own.children.iter().any(|e| e.report == tampered));
    assert_eq!(post(&up, &bytes(&own)).await.0, 201, "stored, not refused");
    // H02's report does not verify: not counted, found; the others count; H's claim is flagged.
    let honest_sum = headline(&honest[0]) + headline(&honest[2]);
    assert_eq!(total(&prov).await, honest_sum);
    assert_eq!(
        findings(&prov, "bad_signature").await,
        [("H02".to_string(), Some("H".to_string()))]
    );
    assert!(!findings(&prov, "hub_sum").await.is_empty());
    // Every source the province counted is a county's signed bytes, traced by their hash.
    let r = prov.hub.rollup(&ID.parse().unwrap()).await.unwrap();
    let traced: Vec<(String, String)> = r
        .sources
        .iter()
        .filter(|s| s.via.is_some())
        .map(|s| (s.org.to_string(), s.hash.to_string()))
        .collect();
    let want: Vec<(String, String)> = own
        .children
        .iter()
        .filter(|e| e.report != tampered)
        .map(|e| (e.read().unwrap().org.to_string(), e.hash().to_string()))
        .collect();
    assert_eq!(traced, want);
    pref.stop().await;
    prov.stop().await;
}

/// Posts `body` as H01 without a signature (reqwest with H01's identity, as an old node would).
async fn reqwest_post_unsigned(hub: &TestHub, body: &[u8]) -> u16 {
    let id = hub.identity("H01");
    let mut pem = std::fs::read(id.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(id.join("key.pem")).unwrap());
    let ca = std::fs::read(id.join("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    client
        .post(format!("{}/api/v1/reports", hub.url))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn sqlite(hub: &TestHub) -> String {
    bangfu_hub::config::sqlite_url(&hub.data())
}

#[tokio::test]
async fn a_prefecture_forwarding_a_county_not_its_own_and_inflated_totals_counts_for_nothing() {
    let (prov, pref, up) = tree().await;
    let honest: Vec<Report> = (1..=2)
        .map(|i| county(&format!("H0{i}"), 40 + i, 1))
        .collect();
    for r in &honest {
        assert_eq!(post(&pref.client(r.org.as_str()), &bytes(r)).await.0, 201);
    }
    let mut own = upstream::own_report(&pref.hub, &campaign())
        .await
        .unwrap()
        .unwrap();
    // J01's genuine signed report (J's county), and a claimed total of 123,456.
    let j01 = bytes(&county("J01", 49, 1));
    let j01_key = Signer::from_dir(&prov.identity("J01")).unwrap();
    own.children.push(Envelope {
        report: String::from_utf8(j01.clone()).unwrap(),
        jws: j01_key
            .sign(&j01, chrono::Utc::now())
            .unwrap()
            .as_str()
            .to_string(),
    });
    own.cells.insert(
        CELL.into(),
        bangfu_shared::report::Cell::rolled_up(Decimal::integer(123_456)),
    );
    let (status, detail) = post(&up, &bytes(&own)).await;
    assert_eq!(status, 201, "{detail}");
    assert_eq!(
        total(&prov).await,
        headline(&honest[0]) + headline(&honest[1])
    );
    assert_eq!(
        findings(&prov, "wrong_parent").await,
        [("J01".to_string(), Some("H".to_string()))]
    );
    assert_eq!(findings(&prov, "hub_sum").await, [("H".to_string(), None)]);
    // The province shows H with the verified sum, not its claim.
    let r = prov.hub.rollup(&ID.parse().unwrap()).await.unwrap();
    let h = r.children.iter().find(|c| c.org.as_str() == "H").unwrap();
    assert_eq!(
        h.cells[CELL],
        RollupCell::Value {
            value: headline(&honest[0]) + headline(&honest[1])
        }
    );
    pref.stop().await;
    prov.stop().await;
}

#[tokio::test]
async fn a_stolen_certificate_stops_counting_once_revoked_and_the_reissued_county_pushes_again() {
    let (prov, pref, up) = tree().await;
    let h01 = county("H01", 51, 1);
    let real = county("H02", 52, 1);
    assert_eq!(post(&pref.client("H01"), &bytes(&h01)).await.0, 201);
    assert_eq!(post(&pref.client("H02"), &bytes(&real)).await.0, 201);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let since = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The thief holds H02's certificate and key: the highest version is refused by the jump bound,
    // the highest the bound allows is taken, with its own figures.
    let stolen = pref.client("H02");
    let mut fake = county("H02", 99, u32::MAX);
    assert_eq!(post(&stolen, &bytes(&fake)).await.0, 422);
    fake.version = Version::new(1001);
    fake.cells.insert(
        CELL.into(),
        bangfu_shared::report::Cell::rolled_up(Decimal::integer(99_999)),
    );
    assert_eq!(post(&stolen, &bytes(&fake)).await.0, 201);
    assert_eq!(
        total(&pref).await,
        headline(&h01) + Decimal::integer(99_999)
    );

    // The province revokes it, compromised since before the thief's post; the list reaches H with
    // the campaigns.
    let serial = Signer::from_dir(&pref.identity("H02"))
        .unwrap()
        .serial()
        .to_string();
    pki::revoke(
        &prov.pki,
        &RevokeTarget::Serial(serial),
        &RevokeOptions {
            reason: Some(bangfu_client::crl::Reason::KeyCompromise),
            compromised_since: Some(since),
        },
    )
    .unwrap();
    sync(&pref, &up).await;
    // The thief's version stops counting: H02's counted report is its real version 1 again, and
    // the thief is refused at the door.
    assert_eq!(total(&pref).await, headline(&h01) + headline(&real));
    assert_eq!(post(&stolen, &bytes(&fake)).await.0, 403);

    // The real H02, re-issued, pushes its next version: no conflict, no "older version".
    let reissued = pref.data().join("..").join("tls-H02-reissued");
    pki::issue(
        &prov.pki,
        &OrgCode::parse("H02").unwrap(),
        "沙洋县",
        &IssueOptions::for_days(vec![], 30),
        &reissued,
    )
    .unwrap();
    let h02 = Parent::new(&pref.url, &reissued).unwrap();
    let next = county("H02", 53, 2);
    let (status, detail) = post(&h02, &bytes(&next)).await;
    assert_eq!(status, 201, "{detail}");
    assert_eq!(total(&pref).await, headline(&h01) + headline(&next));
    assert!(findings(&pref, "older_version").await.is_empty());

    let own = upstream::own_report(&pref.hub, &campaign())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post(&up, &bytes(&own)).await.0, 201);
    assert_eq!(total(&prov).await, headline(&h01) + headline(&next));
    assert!(findings(&prov, "bad_signature").await.is_empty());
    pref.stop().await;
    prov.stop().await;
}
