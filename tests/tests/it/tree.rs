//! The whole three-level tree, as deployed: one province CA issues every identity; a province hub
//! HB; prefecture hubs H and J, each a child of HB; county nodes under them (and a 市直 node beside
//! prefecture H). The campaign is created only at the province and reaches the counties through
//! their prefecture; the counties push, the prefectures send their rollups up, and the province's
//! total must equal what this test counts itself from the generated files, with every county's
//! report found by drilling down.

use std::collections::BTreeMap;
use std::time::Duration;

use bangfu_e2e::rollups::{holds, wait_for};
use bangfu_e2e::{archive_total, county_node, init_hub, ok, pki_init, s, serve};

const CAMPAIGN: &str = "dangan-tree";

/// A prefecture's code and its children: (org, households, seed).
type Branch<'a> = (&'a str, &'a [(&'a str, u64, u64)]);

#[test]
fn counties_report_through_their_prefectures_to_the_province() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    pki_init(&pki, "HB", "湖北省总工会");

    // The province: its campaign, its two prefectures.
    let province = dir.join("hub-HB");
    init_hub(&province, dir, &pki, "HB", "湖北省总工会", "province", None);
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let end = today.to_string();
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
            "困难职工档案统计",
            "--start",
            "2026-01-01",
            "--end",
            &end,
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
            "--due",
            "province=2099-12-31",
        ],
    );
    for (code, name) in [("H", "荆门市总工会"), ("J", "黄冈市总工会")] {
        ok(
            "bangfu-hub",
            &[
                "org",
                "add",
                "--data",
                s(&province),
                "--code",
                code,
                "--name",
                name,
            ],
        );
    }
    let (province_serving, province_url) = serve(&province, &dir.join("hub-HB.log"), "127.0.0.1:0");

    // The prefectures, children of the province, each with its own children.
    let tree: [Branch; 2] = [
        ("H", &[("H01", 50, 11), ("H02", 500, 12), ("H08", 120, 13)]),
        ("J", &[("J01", 300, 14), ("J02", 80, 15)]),
    ];
    let mut prefectures = BTreeMap::new();
    for (code, counties) in tree {
        let hub = dir.join(format!("hub-{code}"));
        init_hub(
            &hub,
            dir,
            &pki,
            code,
            "市总工会",
            "prefecture",
            Some(&province_url),
        );
        for (org, _, _) in counties {
            ok(
                "bangfu-hub",
                &[
                    "org",
                    "add",
                    "--data",
                    s(&hub),
                    "--code",
                    org,
                    "--name",
                    "县总工会",
                ],
            );
        }
        let serving = serve(&hub, &dir.join(format!("hub-{code}.log")), "127.0.0.1:0");
        // The campaign comes down from the province at start-up.
        wait_for(&hub, CAMPAIGN, Duration::from_secs(20), |_| true);
        prefectures.insert(code, (hub, serving));
    }

    // Every county (and the 市直 node H08) imports its archive and pushes through its prefecture.
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    let county = |org: &str, households: u64, seed: u64, url: &str| -> u64 {
        let (node, files) = county_node(dir, &pki, org, households, seed, url, &[]);
        ok(
            "bangfu-node",
            &["push", "--data", s(&node), "--campaign", CAMPAIGN],
        );
        archive_total(&files.join("households.csv"), &end)
    };
    for (code, counties) in tree {
        let url = prefectures[code].1.1.clone();
        for &(org, households, seed) in counties {
            expected.insert(org, county(org, households, seed, &url));
        }
    }
    let all: u64 = expected.values().sum();

    // The province fills in: both prefectures, with every county inside.
    let counties_in = |r: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        let mut found = BTreeMap::new();
        for p in r["children"].as_array().into_iter().flatten() {
            for c in p["children"].as_array().into_iter().flatten() {
                found.insert(c["org"].as_str().unwrap().to_string(), c.clone());
            }
        }
        found
    };
    let top = wait_for(&province, CAMPAIGN, Duration::from_secs(20), |r| {
        r["completeness"]["received"] == 2
            && counties_in(r).len() == expected.len()
            && holds(&r["cells"]["total"], all)
    });
    assert_eq!(top["completeness"]["expected"], 2, "{top}");
    assert_eq!(
        top["completeness"]["missing"],
        serde_json::json!([]),
        "{top}"
    );
    assert!(
        holds(&top["cells"]["total"], all),
        "province total {} vs counted {all}",
        top["cells"]["total"]
    );

    // Drill down: each prefecture holds its own counties, and each county's report is as it sent it.
    let by_org: BTreeMap<String, serde_json::Value> = top["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["org"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    assert_eq!(by_org.keys().cloned().collect::<Vec<_>>(), ["H", "J"]);
    for (code, counties) in tree {
        let p = &by_org[code];
        let orgs: Vec<&str> = p["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["org"].as_str().unwrap())
            .collect();
        assert_eq!(
            orgs,
            counties.iter().map(|c| c.0).collect::<Vec<_>>(),
            "{p}"
        );
        let sub: u64 = counties.iter().map(|c| expected[c.0]).sum();
        assert!(
            holds(&p["cells"]["total"], sub),
            "prefecture {code}: {} vs counted {sub}",
            p["cells"]["total"]
        );
        for c in p["children"].as_array().unwrap() {
            let org = c["org"].as_str().unwrap();
            assert!(
                holds(&c["cells"]["total"], expected[org]),
                "county {org}: {} vs counted {}",
                c["cells"]["total"],
                expected[org]
            );
        }
    }

    // A prefecture hub that is stopped with its new rollup undelivered (the province is down too)
    // delivers it after both restart: the outbox is in its store.
    let province_addr = province_url.strip_prefix("https://").unwrap().to_string();
    drop(province_serving);
    let (j, (j_serving, j_url)) = prefectures.remove("J").unwrap();
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&j),
            "--code",
            "J03",
            "--name",
            "县总工会",
        ],
    );
    let j03 = county("J03", 200, 16, &j_url);
    wait_for(&j, CAMPAIGN, Duration::from_secs(20), |r| {
        r["completeness"]["received"] == 3
    });
    std::thread::sleep(Duration::from_millis(1500));
    drop(j_serving);
    let _j_again = serve(&j, &dir.join("hub-J.log"), "127.0.0.1:0");
    let _province_again = serve(&province, &dir.join("hub-HB.log"), &province_addr);
    let all = all + j03;
    let top = wait_for(&province, CAMPAIGN, Duration::from_secs(30), |r| {
        counties_in(r).contains_key("J03") && holds(&r["cells"]["total"], all)
    });
    assert!(holds(&top["cells"]["total"], all), "{top}");
    let log = std::fs::read_to_string(dir.join("hub-J.log")).unwrap();
    assert!(
        log.contains("the parent is unavailable"),
        "J retried while the province was down"
    );
}
