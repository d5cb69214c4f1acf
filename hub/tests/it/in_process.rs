//! The hub started in-process by `bangfu_hub::testing::TestHub` (the same `Server::build` as
//! `bangfu-hub serve`, on port 0, real certificates, real mutual TLS), spoken to with the client a
//! node uses: the protocol's typed bodies and paths end to end, and ids that are not ids refused
//! where they enter.

use bangfu_client::Outcome;
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::review::{self, Decision};
use bangfu_hub::testing::TestHub;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, ContentHash, ReviewState, Version};
use chrono::NaiveDate;

use crate::serve::{CAMPAIGN, json, report};

async fn hub_with_campaign() -> TestHub {
    let hub = TestHub::start("HB", HubLevel::Province, &[("H01", "京山县总工会")]).await;
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
    hub
}

#[tokio::test]
async fn a_child_pushes_to_an_in_process_hub_and_reads_its_review_with_the_shared_types() {
    let hub = hub_with_campaign().await;
    let child = hub.client("H01");
    let body = json(&report("H01", 1, 1));
    match child.post_report(&body).await {
        Outcome::Stored {
            duplicate: false,
            on_time: Some(true),
            hash: Some(h),
        } => assert_eq!(h, ContentHash::of(&body)),
        other => panic!("not stored as new: {other:?}"),
    }
    let id = CampaignId::parse(CAMPAIGN).unwrap();
    let h01 = OrgCode::parse("H01").unwrap();
    let r = child.review(&id, &h01).await.unwrap().expect("a review");
    assert_eq!(
        (r.version, r.state),
        (Version::new(1), ReviewState::Pending)
    );

    review::decide(
        &hub.hub.store,
        &id,
        &h01,
        None,
        &Decision::Return("3B 与档案不符".into()),
        hub.hub.now(),
    )
    .await
    .unwrap();
    let r = child.review(&id, &h01).await.unwrap().expect("a review");
    assert_eq!(
        (r.state, r.reason.as_deref()),
        (ReviewState::Returned, Some("3B 与档案不符"))
    );
    let campaigns = child.campaigns(None).await.unwrap().expect("a list").0;
    assert_eq!(campaigns[0].id, id);
    hub.stop().await;
}

#[tokio::test]
async fn a_campaign_id_that_could_break_a_path_is_refused_at_the_api() {
    let hub = hub_with_campaign().await;
    let tls = hub.identity("HB");
    let read = |f: &str| std::fs::read(tls.join(f)).unwrap();
    let mut identity = read("cert.pem");
    identity.extend(read("key.pem"));
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&read("ca.pem")).unwrap()])
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    let res = client
        .get(format!("{}/api/v1/campaigns/x7%5C/rollup", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
    let problem: bangfu_shared::protocol::Problem = res.json().await.unwrap();
    assert!(
        problem.detail.contains("not a campaign id"),
        "{}",
        problem.detail
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_campaign_id_that_is_not_an_id_is_refused_at_the_command_line() {
    let hub = hub_with_campaign().await;
    let data = hub.data();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bangfu-hub"))
        .args(["campaign", "create", "--data"])
        .arg(&data)
        .args([
            "--id",
            "x7\\",
            "--template",
            "dangan",
            "--title",
            "t",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-31",
            "--due",
            "county=2026-02-05",
            "--due",
            "prefecture=2026-02-10",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("`x7\\` is not a campaign id"),
        "{stderr}"
    );
    assert_eq!(campaigns::list(&hub.hub.store).await.unwrap().len(), 1);
    hub.stop().await;
}
