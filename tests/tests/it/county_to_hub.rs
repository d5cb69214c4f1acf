//! Counties report to their hub, as deployed: certificates from `bangfu-hub pki`, a hub serving
//! mutual TLS on loopback, county nodes importing generated archives and pushing their reports.
//! The hub's rollup must equal what this test counts itself from the generated files.

use std::collections::BTreeMap;

use bangfu_e2e::{archive_total, county_node, init_hub, ok, pki_init, s, serve};

#[test]
fn counties_push_their_reports_and_the_hub_rolls_them_up() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    pki_init(&pki, "H", "荆门市总工会");
    let hub = dir.join("hub");
    init_hub(&hub, dir, &pki, "H", "荆门市总工会", "prefecture", None);
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
            s(&hub),
            "--id",
            "dangan-now",
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
        ],
    );

    let counties = [("H01", 400u64, 1u64), ("H02", 650, 2), ("H03", 30, 3)];
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
    let (_serving, url) = serve(&hub, &dir.join("hub.log"), "127.0.0.1:0");

    let mut expected_total = 0;
    for (org, households, seed) in counties {
        let (node, files) = county_node(dir, &pki, org, households, seed, &url, &[]);
        ok(
            "bangfu-node",
            &["push", "--data", s(&node), "--campaign", "dangan-now"],
        );
        // Pushing again with nothing changed sends nothing new.
        ok(
            "bangfu-node",
            &["push", "--data", s(&node), "--campaign", "dangan-now"],
        );
        expected_total += archive_total(&files.join("households.csv"), &end);
    }

    let rollup: serde_json::Value = serde_json::from_str(&ok(
        "bangfu-hub",
        &["rollup", "--data", s(&hub), "--campaign", "dangan-now"],
    ))
    .unwrap();
    let completeness = &rollup["completeness"];
    assert_eq!(completeness["expected"], 3, "{rollup}");
    assert_eq!(completeness["received"], 3, "{completeness}");
    assert_eq!(completeness["on_time"], 3, "{completeness}");
    // One version per county (the second pushes sent nothing new), and the first rollup stored.
    let sources: Vec<(&str, u64)> = rollup["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["org"].as_str().unwrap(), x["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(sources, [("H01", 1), ("H02", 1), ("H03", 1)], "{rollup}");
    assert_eq!(rollup["version"], 1, "{rollup}");
    let total = &rollup["cells"]["total"];
    match (total.get("value"), total.get("lower"), total.get("upper")) {
        (Some(v), _, _) => assert_eq!(v.as_u64().unwrap(), expected_total, "{total}"),
        (None, Some(lo), Some(hi)) => {
            assert!(
                lo.as_f64().unwrap() <= expected_total as f64
                    && expected_total as f64 <= hi.as_f64().unwrap(),
                "{total}"
            )
        }
        _ => panic!("total is neither a value nor a range: {total}"),
    }
    // Every child's published cells are as it sent them, and no child's value is invented.
    let children: BTreeMap<String, serde_json::Value> = rollup["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["org"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    assert_eq!(
        children.keys().cloned().collect::<Vec<_>>(),
        ["H01", "H02", "H03"]
    );
    let log = std::fs::read_to_string(dir.join("hub.log")).unwrap();
    for (org, _, _) in counties {
        let files = dir.join(format!("gen-{org}"));
        let text = std::fs::read_to_string(files.join("households.csv")).unwrap();
        for line in text.lines().skip(1).take(50) {
            let name = line.split(',').nth(1).unwrap();
            assert!(
                !log.contains(name) && !rollup.to_string().contains(name),
                "a household name reached the hub: {name}"
            );
        }
    }
}
