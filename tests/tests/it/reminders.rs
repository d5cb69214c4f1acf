//! Reminders (催报) reach the county, as deployed: a prefecture hub H serving mutual TLS, counties
//! H01 and H02 with real nodes; H02 reports, H01 does not; a reminder round at the hub
//! (`bangfu-hub remind`) makes one for H01 only, which H01's `bangfu-node status` shows (fetched
//! over mutual TLS into its inbox) and still shows offline after the hub has stopped.

use bangfu_e2e::{county_node, init_hub, ok, pki_init, s, serve, today};

const CAMPAIGN: &str = "dangan-2099";

#[test]
fn a_county_that_has_not_reported_sees_its_reminder_and_one_that_has_does_not() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    pki_init(&pki, "H", "荆门市总工会");
    let hub = dir.join("hub");
    init_hub(&hub, dir, &pki, "H", "荆门市总工会", "prefecture", None);
    let today = today();
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(&hub),
            "--id",
            CAMPAIGN,
            "--template",
            "dangan",
            "--title",
            "困难职工档案统计",
            "--start",
            "2026-01-01",
            "--end",
            &today,
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&hub),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&hub),
            "--code",
            "H02",
            "--name",
            "沙洋县总工会",
        ],
    );
    let (serving, url) = serve(&hub, &dir.join("hub.log"), "127.0.0.1:0");

    for (org, seed) in [("H01", 1u64), ("H02", 2)] {
        county_node(dir, &pki, org, 80, seed, &url, &[]);
    }
    ok(
        "bangfu-node",
        &[
            "push",
            "--data",
            s(&dir.join("node-H02")),
            "--campaign",
            CAMPAIGN,
        ],
    );

    // Two days before the counties' due date: H01 has sent nothing.
    let out = ok(
        "bangfu-hub",
        &["remind", "--data", s(&hub), "--today", "2099-12-29"],
    );
    assert!(
        out.contains("1 made") && out.contains(&format!("{CAMPAIGN} H01 due_soon")),
        "{out}"
    );

    // The hub's own status says who was reminded.
    let hub_status = ok(
        "bangfu-hub",
        &["status", "--data", s(&hub), "--campaign", CAMPAIGN],
    );
    let row = |org: &str| {
        hub_status
            .lines()
            .find(|l| l.starts_with(org))
            .unwrap_or_else(|| panic!("no row for {org}:\n{hub_status}"))
            .to_string()
    };
    assert!(
        row("H01").contains("1 due_soon") && row("H01").contains("未报 missing"),
        "{hub_status}"
    );
    assert!(!row("H02").contains("due_soon"), "{hub_status}");

    let status = ok(
        "bangfu-node",
        &["status", "--data", s(&dir.join("node-H01"))],
    );
    let line = status
        .lines()
        .find(|l| l.contains("提醒 / reminder"))
        .unwrap_or_else(|| panic!("no reminder shown:\n{status}"));
    assert!(
        line.contains("【催报提醒】困难职工档案统计")
            && line.contains("2099-12-31")
            && line.contains("还有 2 天"),
        "{line}"
    );
    let theirs = ok(
        "bangfu-node",
        &["status", "--data", s(&dir.join("node-H02"))],
    );
    assert!(
        !theirs.contains("提醒 / reminder"),
        "H02 reported:\n{theirs}"
    );

    // Kept in the inbox: shown offline, with the hub gone.
    drop(serving);
    let offline = ok(
        "bangfu-node",
        &["status", "--data", s(&dir.join("node-H01")), "--offline"],
    );
    assert_eq!(offline.matches("提醒 / reminder").count(), 1, "{offline}");
    assert!(offline.contains("还有 2 天"), "{offline}");
}
