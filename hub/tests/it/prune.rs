//! The bound on stored versions (issue 13: a child stored 200 × 0.9 MB in 3 s): beyond `[versions]
//! keep` (50) plus a quarter, the versions between the first and the newest 49 lose their bodies and keep their
//! hash trail. Real pushes over mutual TLS to a hub in-process.

use bangfu_client::Outcome;
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::prune;
use bangfu_hub::testing::TestHub;
use bangfu_shared::protocol::ContentHash;
use chrono::NaiveDate;

use crate::serve::{CAMPAIGN, json, report};

#[tokio::test]
async fn versions_beyond_the_bound_keep_only_their_hash_trail() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山")]).await;
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    campaigns::create(
        &hub.hub.store,
        &Campaign {
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
        },
        "local",
    )
    .await
    .unwrap();
    let client = hub.client("H01");
    let mut r = report("H01", 1, 1);
    let mut hashes = vec![];
    // Pruned in batches: at keep (50) + slack (12) + 1 = 63 versions, back to 50.
    let last = 50 + prune::slack(50) + 1;
    assert_eq!(last, 63);
    for v in 1..=last {
        r.version = v.into();
        let body = json(&r);
        hashes.push(ContentHash::of(&body).to_string());
        let outcome = client.post_report(&body).await;
        assert!(
            matches!(
                outcome,
                Outcome::Stored {
                    duplicate: false,
                    ..
                }
            ),
            "version {v}: {outcome:?}"
        );
    }
    let (org, campaign) = (
        bangfu_shared::org::OrgCode::parse("H01").unwrap(),
        CAMPAIGN.parse().unwrap(),
    );
    let kept = prune::kept_versions(&hub.hub.store, &org, &campaign)
        .await
        .unwrap();
    assert_eq!(kept.len(), 50, "{kept:?}");
    assert_eq!(
        kept[0], 1,
        "the first version stays (when the child first reported)"
    );
    assert_eq!(kept[1], 15, "the newest 49 are 15..=63");
    for v in 2..=14 {
        let (hash, _, _) = prune::trail(&hub.hub.store, &org, &campaign, v)
            .await
            .unwrap()
            .expect("a pruned version keeps its trail");
        assert_eq!(hash, hashes[v as usize - 1], "version {v}'s hash");
    }
    assert!(
        prune::trail(&hub.hub.store, &org, &campaign, 15)
            .await
            .unwrap()
            .is_none()
    );
    // The rollup still takes the newest version.
    let rollup = hub.hub.rollup(&CAMPAIGN.parse().unwrap()).await.unwrap();
    assert_eq!(rollup.children[0].version.get(), 63);
}
