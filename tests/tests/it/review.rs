//! Review (审核) across the tree, as deployed: a province HB, a prefecture H (a child of HB) and two
//! counties H01 and H02 under H, all real processes over mutual TLS with certificates from
//! `bangfu-hub pki`. The prefecture returns H01's report with a reason; H01 sees it in
//! `bangfu-node status`, corrects a typed-in figure and sends a new version, which is pending until
//! the prefecture accepts it; the province's rollup shows what H accepted below it; and no county
//! can read another county's review.

use std::path::Path;
use std::time::{Duration, Instant};

use bangfu_e2e::{county_node, init_hub, ok, pki_init, run, s, serve, today};

const CAMPAIGN: &str = "sn-review";
const REASON: &str = "4A 走访企业数与台账不符，请核实后重报";

/// The rollup a hub prints now, if it has the campaign.
fn rollup(hub: &Path) -> Option<serde_json::Value> {
    bangfu_e2e::rollups::rollup(hub, CAMPAIGN)
}

/// Polls `probe` until it gives Some, up to 30 s.
fn wait<T>(what: &str, probe: impl Fn() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(x) = probe() {
            return x;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The entry of `org` among a rollup's children.
fn child<'a>(r: &'a serde_json::Value, org: &str) -> Option<&'a serde_json::Value> {
    r["children"].as_array()?.iter().find(|c| c["org"] == org)
}

#[test]
fn a_returned_report_is_corrected_accepted_and_seen_at_every_level() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    pki_init(&pki, "HB", "湖北省总工会");

    let province = dir.join("hub-HB");
    init_hub(&province, dir, &pki, "HB", "湖北省总工会", "province", None);
    let end = today();
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
            "songnuan",
            "--title",
            "送温暖活动统计",
            "--start",
            "2026-01-01",
            "--end",
            &end,
            "--due",
            "county=2099-12-20",
            "--due",
            "prefecture=2099-12-25",
            "--due",
            "province=2099-12-31",
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

    let pref = dir.join("hub-H");
    init_hub(
        &pref,
        dir,
        &pki,
        "H",
        "荆门市总工会",
        "prefecture",
        Some(&province_url),
    );
    for (code, name) in [
        ("H01", "京山县总工会"),
        ("H02", "东宝区总工会"),
        ("H03", "沙洋县总工会"),
    ] {
        ok(
            "bangfu-hub",
            &[
                "org",
                "add",
                "--data",
                s(&pref),
                "--code",
                code,
                "--name",
                name,
            ],
        );
    }
    let (_pref_serving, pref_url) = serve(&pref, &dir.join("hub-H.log"), "127.0.0.1:0");
    wait("the campaign to reach H", || rollup(&pref));

    // Nothing held from H01 yet: a review is refused and nothing is recorded.
    let early = run(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&pref),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
            "--accept",
        ],
    );
    assert!(!early.status.success());
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("no report from H01"),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );

    let mut nodes = vec![];
    for (org, households, seed) in [("H01", 120u64, 21u64), ("H02", 90, 22)] {
        let (node, _) = county_node(dir, &pki, org, households, seed, &pref_url, &[]);
        // The first push brings the campaign down from the prefecture and sends version 1.
        ok(
            "bangfu-node",
            &["push", "--data", s(&node), "--campaign", CAMPAIGN],
        );
        nodes.push(node);
    }
    let h01 = &nodes[0];

    // The prefecture returns H01's report with a reason; H01 sees it, live and offline.
    let bad = run(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&pref),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
            "--return",
            "  ",
        ],
    );
    assert!(
        !bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("退回须写明原因")
    );
    let out = ok(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&pref),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
            "--return",
            REASON,
        ],
    );
    assert!(out.contains("已退回") && out.contains("version 1"), "{out}");
    let status = ok("bangfu-node", &["status", "--data", s(h01)]);
    assert!(
        status.contains(&format!("version 1 已退回 returned: {REASON}")),
        "{status}"
    );
    let offline = ok("bangfu-node", &["status", "--data", s(h01), "--offline"]);
    assert!(
        offline.contains(&format!("version 1 已退回 returned: {REASON}")),
        "{offline}"
    );

    // A version the hub does not hold, and an org that is not its child, are refused by name.
    let no_version = run(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&pref),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
            "--version",
            "9",
            "--accept",
        ],
    );
    assert!(
        !no_version.status.success()
            && String::from_utf8_lossy(&no_version.stderr).contains("version 9")
    );
    let stranger = run(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&pref),
            "--campaign",
            CAMPAIGN,
            "--org",
            "J01",
            "--accept",
        ],
    );
    assert!(
        !stranger.status.success()
            && String::from_utf8_lossy(&stranger.stderr).contains("J01 不是本级登记的下级单位")
    );

    // H01 corrects its typed-in figure: version 2, pending again; the return stays on record.
    ok(
        "bangfu-node",
        &["enter", "--data", s(h01), "--campaign", CAMPAIGN, "4A=15"],
    );
    let pushed = ok(
        "bangfu-node",
        &["push", "--data", s(h01), "--campaign", CAMPAIGN],
    );
    assert!(pushed.contains("version 2"), "{pushed}");
    let status = ok("bangfu-node", &["status", "--data", s(h01)]);
    assert!(status.contains("version 2 待审核 pending"), "{status}");
    assert!(
        status.contains(&format!("version 1 已退回 returned: {REASON}")),
        "{status}"
    );

    // The prefecture accepts it (the latest held, version 2); H01 sees 已核准.
    let out = ok(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&pref),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
            "--accept",
        ],
    );
    assert!(out.contains("已核准") && out.contains("version 2"), "{out}");
    let status = ok("bangfu-node", &["status", "--data", s(h01)]);
    assert!(status.contains("version 2 已核准 accepted"), "{status}");

    // The prefecture's status table: one row per registered child, aligned, with its review.
    let table = ok(
        "bangfu-hub",
        &["status", "--data", s(&pref), "--campaign", CAMPAIGN],
    );
    assert!(
        table.contains("应报 expected 3, 已报 received 2"),
        "{table}"
    );
    assert!(
        table.contains("未报 missing 1: H03 沙洋县总工会"),
        "{table}"
    );
    let row = |org: &str| {
        table
            .lines()
            .find(|l| l.starts_with(org))
            .unwrap_or_else(|| panic!("no row for {org}:\n{table}"))
            .to_string()
    };
    assert!(
        row("H01").contains("京山县总工会")
            && row("H01").contains("已核准 accepted")
            && row("H01").contains("按时 on time"),
        "{table}"
    );
    assert!(
        row("H02").contains("东宝区总工会") && row("H02").contains("待审核 pending"),
        "{table}"
    );
    assert!(row("H03").contains("未报 missing"), "{table}");
    let at = |l: &str, word: &str| unicode_width(&l[..l.find(word).unwrap()]);
    assert_eq!(
        at(&row("H01"), "已核准"),
        at(&row("H02"), "待审核"),
        "review columns line up:\n{table}"
    );

    // The province sees H's report as pending at its own level, and H01's acceptance below H.
    let top = wait("H01's acceptance at the province", || {
        let r = rollup(&province)?;
        let h = child(&r, "H")?;
        (child(h, "H01")?["review"] == serde_json::json!({"version": 2, "state": "accepted"}))
            .then(|| r.clone())
    });
    let h = child(&top, "H").unwrap();
    assert_eq!(h["review"]["state"], "pending", "{h}");
    assert_eq!(
        child(h, "H02").unwrap()["review"],
        serde_json::json!({"version": 1, "state": "pending"}),
        "{h}"
    );
    assert!(
        child(h, "H01").unwrap()["review"].get("reason").is_none(),
        "the reason stays at the prefecture"
    );

    // The province accepts H's report; the prefecture's upstream worker fetches that.
    let version = h["version"].to_string();
    ok(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&province),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H",
            "--version",
            &version,
            "--accept",
        ],
    );
    wait("the province's review at H", || {
        let t = ok(
            "bangfu-hub",
            &["status", "--data", s(&pref), "--campaign", CAMPAIGN],
        );
        t.contains(&format!(
            "review of this hub's report: version {version} 已核准 accepted"
        ))
        .then_some(())
    });

    // A county's certificate reads only its own review: H02's reading H01's is refused (403).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let as_h02 = bangfu_client::Parent::new(&pref_url, &dir.join("tls-H02")).unwrap();
    let err = rt
        .block_on(as_h02.review(&CAMPAIGN.parse().unwrap(), &"H01".parse().unwrap()))
        .unwrap_err();
    assert!(
        matches!(err, bangfu_client::Error::Review { status: 403, .. }),
        "{err}"
    );
    let own = rt
        .block_on(as_h02.review(&CAMPAIGN.parse().unwrap(), &"H02".parse().unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!((own.version.get(), own.state.as_str()), (1, "pending"));
}

/// Display width: CJK characters take two columns.
fn unicode_width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}
