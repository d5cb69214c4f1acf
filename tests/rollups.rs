//! Reading a hub's rollup as `bangfu-hub rollup` prints it, waiting for it to reach a state, and
//! checking its cells against counts the test made itself from the generated files.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{run, s};

/// The rollup a hub prints now, if it has the campaign.
pub fn rollup(hub: &Path, campaign: &str) -> Option<serde_json::Value> {
    let out = run(
        "bangfu-hub",
        &["rollup", "--data", s(hub), "--campaign", campaign],
    );
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// Polls until `done` holds for the hub's rollup, up to `limit`.
pub fn wait_for(
    hub: &Path,
    campaign: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let r = rollup(hub, campaign);
        if let Some(r) = r.as_ref().filter(|r| done(r)) {
            return r.clone();
        }
        assert!(
            start.elapsed() < limit,
            "gave up waiting on {}: {}",
            hub.display(),
            r.map(|r| r.to_string())
                .unwrap_or_else(|| "(no campaign)".into())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls `check` until it returns `Ok`, up to `limit`; on time-out fails with `what` and the last
/// reason `check` gave (what it expected, what it saw).
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(t) => return t,
            Err(why) if start.elapsed() >= limit => {
                panic!("gave up after {limit:?} waiting for {what}: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// Whether a rollup cell is, or contains, `expected`.
pub fn holds(cell: &serde_json::Value, expected: u64) -> bool {
    match (cell.get("value"), cell.get("lower"), cell.get("upper")) {
        (Some(v), _, _) => v.as_u64() == Some(expected),
        (None, Some(lo), Some(hi)) => {
            lo.as_f64().unwrap() <= expected as f64 && expected as f64 <= hi.as_f64().unwrap()
        }
        // Withheld by a child (a suppressed cell with nothing bounding it from above).
        (None, Some(lo), None) => lo.as_f64().unwrap() <= expected as f64,
        _ => false,
    }
}

/// The counties under a province's rollup (its prefectures' embedded reports), by org; a county
/// that appears more than once is listed once per appearance in the second part.
pub fn counties_in(r: &serde_json::Value) -> (BTreeMap<String, serde_json::Value>, Vec<String>) {
    let mut found = BTreeMap::new();
    let mut twice = vec![];
    for p in r["children"].as_array().into_iter().flatten() {
        for c in p["children"].as_array().into_iter().flatten() {
            let org = c["org"].as_str().unwrap().to_string();
            if found.insert(org.clone(), c.clone()).is_some() {
                twice.push(org);
            }
        }
    }
    (found, twice)
}

/// Compares a rollup's cells with counts made by the test: every counted cell must be in the
/// rollup and hold the count (or be withheld by a county); `exact` cells must be exact values. Err names each difference.
pub fn cells_match(
    r: &serde_json::Value,
    expected: &BTreeMap<String, u64>,
    exact: &[&str],
) -> Result<(), String> {
    let mut wrong = vec![];
    for (code, &n) in expected {
        let cell = &r["cells"][code.as_str()];
        // A county's withheld cell claims nothing to check (its parent's range is checked instead).
        let withheld = cell.get("suppressed").is_some();
        let ok = if exact.contains(&code.as_str()) {
            cell.get("value").and_then(|v| v.as_u64()) == Some(n)
        } else {
            withheld || holds(cell, n)
        };
        if !ok {
            wrong.push(format!("{code}: expected {n}, saw {cell}"));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "rollup of {} (version {}): {}",
            r["org"],
            r["version"],
            wrong.join("; ")
        ))
    }
}
