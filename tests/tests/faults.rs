//! Faults, with real processes: a province hub, a prefecture hub and county nodes running
//! `bangfu-node serve` over mutual TLS on loopback, while the test kills hubs with SIGKILL, cuts the
//! prefecture's link to the province (and loses the province's answers), and stops a node with
//! versions still in its outbox. Afterwards every county's latest version must be counted exactly
//! once at the province: the province's cells equal what the test counted itself from the
//! generated files, each county appears once with the version its node made last, and every
//! version the nodes made is acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bangfu_e2e::federation::{CAMPAIGN, County, Federation, workdir};
use bangfu_e2e::proxy::Proxy;
use bangfu_e2e::rollups::{cells_match, counties_in, rollup, wait_for, wait_until};

/// Long enough for a node's backoff after a short outage (1 s doubling, ±20%) and a slow machine.
const SETTLE: Duration = Duration::from_secs(120);

/// Whether the province counts every county's latest version exactly once (Err: what differs).
fn exactly_once(
    fed: &Federation,
    prefecture: &str,
    counties: &[County],
) -> Result<serde_json::Value, String> {
    let top =
        rollup(&fed.province, CAMPAIGN).ok_or("the province has no rollup of the campaign")?;
    let prefectures: Vec<&str> = top["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["org"].as_str())
        .collect();
    if prefectures != [prefecture] {
        return Err(format!(
            "expected prefecture [{prefecture}] at the province, saw {prefectures:?}"
        ));
    }
    let (found, twice) = counties_in(&top);
    if !twice.is_empty() {
        return Err(format!("counties counted twice at the province: {twice:?}"));
    }
    let expected_orgs: Vec<&str> = counties.iter().map(|c| c.org.as_str()).collect();
    if found.keys().map(String::as_str).collect::<Vec<_>>() != expected_orgs {
        return Err(format!(
            "expected counties {expected_orgs:?} at the province, saw {:?}",
            found.keys().collect::<Vec<_>>()
        ));
    }
    let mut sum: BTreeMap<String, u64> = BTreeMap::new();
    for c in counties {
        let versions = c.versions();
        let latest = versions
            .iter()
            .map(|v| v.0)
            .max()
            .ok_or(format!("{} has made no version", c.org))?;
        if let Some((v, state)) = versions.iter().find(|(_, state)| state != "acked") {
            return Err(format!("{} version {v} is {state}, not acked", c.org));
        }
        let seen = &found[&c.org]["version"];
        if seen.as_u64() != Some(latest) {
            return Err(format!(
                "{}: expected its latest version {latest} at the province, saw version {seen}",
                c.org
            ));
        }
        let own = c.expected(&fed.end);
        cells_match(&found[&c.org], &own, &["total"])?;
        for (k, n) in own {
            *sum.entry(k).or_default() += n;
        }
    }
    cells_match(&top["children"][0], &sum, &["total"])?;
    cells_match(&top, &sum, &["total"])?;
    Ok(top)
}

/// Imports the county's next part and waits for its node to make a version of it; returns it.
fn import_and_version(c: &mut County) -> u64 {
    let before = c.versions().len();
    assert!(c.import_next(), "{} has no part left to import", c.org);
    wait_until(
        &format!("{} to version part {}", c.org, c.imported),
        Duration::from_secs(30),
        || {
            let made = c.versions().len();
            if made > before {
                Ok(made as u64)
            } else {
                Err(format!("{made} versions; its log ends:\n{}", c.log_tail()))
            }
        },
    )
}

/// Lines of a log that say a report was refused or something failed for good (a connection
/// refused while a hub is down is expected, and retried).
fn refusals(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let bad = |l: &str| {
        l.contains("ERROR")
            || l.contains("refused by the parent")
            || (l.contains(" refused") && l.contains("status=4"))
    };
    text.lines()
        .filter(|l| bad(l))
        .map(str::to_string)
        .collect()
}

fn assert_nothing_refused(fed: &Federation, counties: &[County]) {
    let mut logs: Vec<std::path::PathBuf> =
        vec![fed.dir.join("hub-H.log"), fed.dir.join("hub-HB.log")];
    logs.extend(counties.iter().map(|c| c.log.clone()));
    for log in logs {
        let lines = refusals(&log);
        assert!(
            lines.is_empty(),
            "{} shows refusals or errors:\n{}",
            log.display(),
            lines.join("\n")
        );
    }
}

#[test]
fn a_prefecture_killed_during_a_burst_of_versions_loses_and_doubles_nothing() {
    let root = workdir();
    let fed = Federation::new(root.path(), &["H"]);
    let (_province, province_url) = fed.serve_hub(&fed.province, "127.0.0.1:0");
    let spec = [
        ("H01", 250, 31),
        ("H02", 160, 32),
        ("H03", 200, 33),
        ("H04", 120, 34),
    ];
    let prefecture = fed.prefecture("H", &province_url, &spec.map(|c| c.0));
    let (serving, url) = fed.serve_hub(&prefecture, "127.0.0.1:0");
    wait_for(&prefecture, CAMPAIGN, Duration::from_secs(20), |_| true);
    let mut counties: Vec<County> = spec
        .iter()
        .map(|&(org, n, seed)| fed.county(org, n, seed, 5, &url))
        .collect();
    for c in &mut counties {
        c.import_next();
    }
    let _nodes: Vec<_> = counties.iter().map(County::serve).collect();
    wait_until("the first versions counted at the province", SETTLE, || {
        exactly_once(&fed, "H", &counties)
    });

    // The burst: every county imports its remaining parts, one new version each, as fast as its
    // node makes them. The prefecture is killed once it has taken some of them, while others are
    // on their way: each county makes one version before the kill and the rest after it (so the
    // kill falls inside the burst however fast the hubs take reports; it was a race once, which a
    // faster intake lost).
    let killed = AtomicBool::new(false);
    let after_kill = AtomicUsize::new(0);
    let mut serving = Some(serving);
    std::thread::scope(|scope| {
        for c in counties.iter_mut() {
            let (killed, after_kill) = (&killed, &after_kill);
            scope.spawn(move || {
                import_and_version(c);
                while !killed.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                while c.imported < c.parts.len() {
                    after_kill.fetch_add(1, Ordering::SeqCst);
                    import_and_version(c);
                }
            });
        }
        // Until the prefecture holds a burst version (a county's version 2) or 60 s pass; the kill
        // and the counties' release come either way, so a slow start cannot leave them waiting.
        let start = Instant::now();
        let took_some = loop {
            let held = rollup(&prefecture, CAMPAIGN).is_some_and(|r| {
                r["sources"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x["version"].as_u64() >= Some(2)))
            });
            if held || start.elapsed() > Duration::from_secs(60) {
                break held;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        killed.store(true, Ordering::SeqCst);
        drop(serving.take()); // SIGKILL
        assert!(
            took_some,
            "the prefecture took none of the burst's versions in 60 s"
        );
    });
    assert!(
        after_kill.load(Ordering::SeqCst) > 0,
        "the prefecture was killed only after the burst ended"
    );

    // Restarted on the same data and port: the counties' queued versions arrive, the prefecture's
    // report goes up, and the province counts each county's latest version once.
    let addr = url.strip_prefix("https://").unwrap();
    let _again = fed.serve_hub(&prefecture, addr);
    let top = wait_until(
        "every county's latest version counted once at the province",
        SETTLE,
        || exactly_once(&fed, "H", &counties),
    );
    assert_eq!(top["completeness"]["received"], 1, "{top}");
    assert_nothing_refused(&fed, &counties);
}

#[test]
fn a_cut_link_that_lost_the_provinces_answers_heals_without_doubling() {
    let root = workdir();
    let fed = Federation::new(root.path(), &["H"]);
    let (_province, province_url) = fed.serve_hub(&fed.province, "127.0.0.1:0");
    let proxy = Proxy::start(province_url.strip_prefix("https://").unwrap());
    let spec = [("H01", 200, 41), ("H02", 150, 42), ("H03", 90, 43)];
    let prefecture = fed.prefecture("H", proxy.url(), &spec.map(|c| c.0));
    let (_serving, url) = fed.serve_hub(&prefecture, "127.0.0.1:0");
    wait_for(&prefecture, CAMPAIGN, Duration::from_secs(20), |_| true);
    let mut counties: Vec<County> = spec
        .iter()
        .map(|&(org, n, seed)| fed.county(org, n, seed, 3, &url))
        .collect();
    for c in &mut counties {
        c.import_next();
    }
    let _nodes: Vec<_> = counties.iter().map(County::serve).collect();
    wait_until("the first versions counted at the province", SETTLE, || {
        exactly_once(&fed, "H", &counties)
    });

    // Answers lost: the province stores the prefecture's new report, the prefecture never hears so.
    proxy.lose_answers();
    let latest = import_and_version(&mut counties[0]);
    wait_until(
        "the province to store H01's new version while its answers are lost",
        SETTLE,
        || {
            let top = rollup(&fed.province, CAMPAIGN).ok_or("no rollup")?;
            let seen = counties_in(&top).0.get("H01").map(|c| c["version"].clone());
            match (seen, proxy.answers_lost()) {
                (Some(v), lost) if v.as_u64() == Some(latest) && lost > 0 => Ok(()),
                (seen, lost) => Err(format!(
                    "expected H01 version {latest} and a lost answer, saw {seen:?} and {lost} lost"
                )),
            }
        },
    );

    // Then the link is cut, and more versions wait at the prefecture.
    proxy.cut();
    let (v1, v2) = (
        import_and_version(&mut counties[1]),
        import_and_version(&mut counties[2]),
    );
    wait_for(&prefecture, CAMPAIGN, SETTLE, |r| {
        let at = |org: &str| {
            r["children"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["org"] == org)
                .map(|c| c["version"].as_u64())
        };
        at("H02") == Some(Some(v1)) && at("H03") == Some(Some(v2))
    });
    let top = rollup(&fed.province, CAMPAIGN).unwrap();
    assert_ne!(
        counties_in(&top).0["H02"]["version"].as_u64(),
        Some(v1),
        "the cut link delivered H02's new version"
    );

    proxy.heal();
    wait_until(
        "every county's latest version counted once at the province after the link healed",
        SETTLE,
        || exactly_once(&fed, "H", &counties),
    );
    // The version whose answer was lost may have been overtaken by newer ones; it is still resent
    // (its backoff runs out), the province calls it a duplicate, and nothing changes.
    wait_until(
        "the prefecture to resend the version whose answer was lost, acknowledged as a duplicate",
        SETTLE,
        || {
            let log = std::fs::read_to_string(fed.dir.join("hub-H.log")).unwrap();
            if log.contains("duplicate=true") {
                Ok(())
            } else {
                Err("no `duplicate=true` delivery in hub-H.log".to_string())
            }
        },
    );
    exactly_once(&fed, "H", &counties).expect("still exactly once after the duplicate");
    assert_nothing_refused(&fed, &counties);
}

#[test]
fn a_node_stopped_with_unsent_versions_sends_them_after_restart() {
    let root = workdir();
    let fed = Federation::new(root.path(), &["H"]);
    let (_province, province_url) = fed.serve_hub(&fed.province, "127.0.0.1:0");
    let spec = [("H01", 180, 51), ("H02", 100, 52), ("H03", 140, 53)];
    let prefecture = fed.prefecture("H", &province_url, &spec.map(|c| c.0));
    let (serving, url) = fed.serve_hub(&prefecture, "127.0.0.1:0");
    wait_for(&prefecture, CAMPAIGN, Duration::from_secs(20), |_| true);
    let mut counties: Vec<County> = spec
        .iter()
        .map(|&(org, n, seed)| fed.county(org, n, seed, 3, &url))
        .collect();
    for c in &mut counties {
        c.import_next();
    }
    let mut nodes: Vec<_> = counties.iter().map(|c| Some(c.serve())).collect();
    wait_until("the first versions counted at the province", SETTLE, || {
        exactly_once(&fed, "H", &counties)
    });

    // The parent goes down; H01 makes a version it cannot send, and is stopped with it queued.
    drop(serving);
    counties[0].import_next();
    wait_until(
        "H01 to try and fail to send its version 2",
        Duration::from_secs(30),
        || {
            let status = bangfu_e2e::ok(
                "bangfu-node",
                &["status", "--data", bangfu_e2e::s(&counties[0].data)],
            );
            let tried = status
                .lines()
                .any(|l| l.contains("version 2  pending  attempts") && !l.contains("attempts 0"));
            if tried {
                Ok(())
            } else {
                Err(format!(
                    "expected version 2 pending after an attempt, saw:\n{status}"
                ))
            }
        },
    );
    nodes[0] = None; // SIGKILL
    // While it is stopped, its archive grows again: one more version at restart.
    counties[0].import_next();

    // The parent comes back, then the node.
    let _again = fed.serve_hub(&prefecture, url.strip_prefix("https://").unwrap());
    nodes[0] = Some(counties[0].serve());
    let top = wait_until(
        "H01's queued and new versions counted once at the province",
        SETTLE,
        || exactly_once(&fed, "H", &counties),
    );
    assert_eq!(counties_in(&top).0["H01"]["version"], 3, "{top}");
    assert_nothing_refused(&fed, &counties);
}
