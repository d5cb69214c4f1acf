//! Campaigns that change flow down, with real processes over real mutual TLS: the province moves a
//! county due date and the end date; the prefecture hub applies the change at its next sync, the
//! county node at its own, and the node re-makes its report for the new as-of day. A template change
//! is refused once reports are held.

use std::time::Duration;

use bangfu_e2e::pulls::{rollup, serve_hub, serve_node, wait_until};
use bangfu_e2e::{county_node, init_hub, ok, pki_init, run, s, serve};

const CAMPAIGN: &str = "dangan-change";

#[test]
fn a_due_date_and_end_date_changed_at_the_province_reach_the_county_node() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    // Both end dates within the node's 60-day report window, so its serve loop keeps versioning.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let (end, new_end) = (
        (today - chrono::Duration::days(1)).to_string(),
        (today - chrono::Duration::days(10)).to_string(),
    );
    let pki = dir.join("pki");
    pki_init(&pki, "HB", "湖北省总工会");
    let province = dir.join("hub-HB");
    init_hub(&province, dir, &pki, "HB", "湖北省总工会", "province", None);
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(&province),
            "--id",
            CAMPAIGN,
            "--template",
            "dangan",
            "--title",
            "档案统计",
            "--start",
            "2026-01-01",
            "--end",
            &end,
            "--due",
            "county=2099-12-20",
            "--due",
            "prefecture=2099-12-25",
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&province),
            "--code",
            "H",
            "--name",
            "荆门市总工会",
        ],
    );
    let (_province_serving, province_url) =
        serve(&province, &dir.join("hub-HB.log"), "127.0.0.1:0");

    let prefecture = dir.join("hub-H");
    init_hub(
        &prefecture,
        dir,
        &pki,
        "H",
        "荆门市总工会",
        "prefecture",
        Some(&province_url),
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&prefecture),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    let (_prefecture_serving, prefecture_url) = serve_hub(&prefecture, &dir.join("hub-H.log"), &[]);

    let (node, _) = county_node(dir, &pki, "H01", 80, 3, &prefecture_url, &[]);
    let _node_serving = serve_node(&node, &dir.join("node-H01.log"), &[]);

    // The node holds the campaign with the county date, and its report reaches the province.
    let node_campaigns = || ok("bangfu-node", &["campaign", "list", "--data", s(&node)]);
    wait_until(Duration::from_secs(20), || {
        node_campaigns().contains("due 2099-12-20").then_some(())
    })
    .expect("the campaign reaches the node");
    wait_until(Duration::from_secs(30), || {
        rollup(&province, CAMPAIGN).filter(|r| r["completeness"]["received"] == 1)
    })
    .expect("the county's report reaches the province");

    // The province moves the county due date and the end date.
    let out = ok(
        "bangfu-hub",
        &[
            "campaign",
            "update",
            "--data",
            s(&province),
            "--id",
            CAMPAIGN,
            "--due",
            "county=2099-11-30",
            "--end",
            &new_end,
        ],
    );
    assert!(out.contains("campaign updated"), "{out}");
    let listed = ok("bangfu-hub", &["campaign", "list", "--data", s(&province)]);
    assert!(
        listed.contains(&format!("2026-01-01 – {new_end}"))
            && listed.contains("2099-11-30")
            && listed.contains("local"),
        "{listed}"
    );

    // It reaches the prefecture (origin parent) and the node, whose report is re-made as of the new end.
    wait_until(Duration::from_secs(20), || {
        let l = ok(
            "bangfu-hub",
            &["campaign", "list", "--data", s(&prefecture)],
        );
        (l.contains("2099-11-30") && l.contains(&new_end) && l.contains("parent")).then_some(())
    })
    .expect("the change reaches the prefecture");
    wait_until(Duration::from_secs(20), || {
        let l = node_campaigns();
        (l.contains("due 2099-11-30") && l.contains(&format!("2026-01-01 – {new_end}")))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("the change reaches the node: {}", node_campaigns()));
    let report: serde_json::Value = serde_json::from_str(&ok(
        "bangfu-node",
        &["report", "--data", s(&node), "--campaign", CAMPAIGN],
    ))
    .unwrap();
    assert_eq!(report["as_of"], new_end.as_str(), "{report}");
    wait_until(Duration::from_secs(20), || {
        ok("bangfu-node", &["status", "--data", s(&node)])
            .contains("version 2")
            .then_some(())
    })
    .expect("the node versions its report again for the new as-of day");
    wait_until(Duration::from_secs(20), || {
        rollup(&prefecture, CAMPAIGN).filter(|r| r["children"][0]["version"] == 2)
    })
    .unwrap_or_else(|| {
        panic!(
            "the re-made report reaches the prefecture: {:?}",
            rollup(&prefecture, CAMPAIGN)
        )
    });

    // Reports are held now: the template can no longer change, and the refusal says why.
    let out = run(
        "bangfu-hub",
        &[
            "campaign",
            "update",
            "--data",
            s(&province),
            "--id",
            CAMPAIGN,
            "--template",
            "songnuan",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("template cannot change"),
        "{err}"
    );
    // A prefecture cannot change the province's campaign itself.
    let out = run(
        "bangfu-hub",
        &[
            "campaign",
            "update",
            "--data",
            s(&prefecture),
            "--id",
            CAMPAIGN,
            "--title",
            "x",
        ],
    );
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("came from the parent hub")
    );
}
