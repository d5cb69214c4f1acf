//! How long the hub's disclosure check takes per report: the exact audit (`audit` + `check`, two LPs
//! per withheld cell) against the fast verdict (`verify`), on the reports `hub/examples/ingest_bench.rs`
//! sends (200 orgs, a protected `dangan` report of 300 synthetic households each, the same generator).
//! Also counts how many withheld cells a report has. Run through `bench/audit.sh`.
//!
//! Usage: `audit_speed [--rounds 5] [--households 300]`

use bangfu_shared::synthetic::households;
use std::time::Instant;

use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::disclose::{self, protect};
use bangfu_shared::report::Cell;
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use std::collections::BTreeMap;

fn main() {
    let mut rounds = 5;
    let mut n = 300;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val: usize = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"));
        match flag.as_str() {
            "--rounds" => rounds = val,
            "--households" => n = val,
            other => panic!("unknown argument {other}"),
        }
    }
    let v = Vocabulary::builtin();
    let t = template::builtin("dangan", &v).unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    // Through JSON, as the hub receives them.
    let reports: Vec<BTreeMap<String, Cell>> = (0..200u64)
        .map(|i| {
            let values = aggregate(&t, &households(1000 + i, n, &v), &[], &Period::on(as_of));
            let cells = protect(&t, &values)
                .expect("protection succeeds")
                .cells()
                .clone();
            serde_json::from_str(&serde_json::to_string(&cells).unwrap()).unwrap()
        })
        .collect();
    let withheld: usize = reports
        .iter()
        .map(|c| c.values().filter(|c| c.is_suppressed()).count())
        .sum();
    println!(
        "reports: 200 dangan reports of {n} households, {:.1} withheld cells per report on average",
        withheld as f64 / 200.0
    );

    let time = |name: &str, f: &dyn Fn(&BTreeMap<String, Cell>) -> bool| {
        let mut best = f64::INFINITY;
        for _ in 0..rounds {
            let t0 = Instant::now();
            for r in &reports {
                assert!(f(r), "{name}: a protected report is refused");
            }
            best = best.min(t0.elapsed().as_secs_f64() / reports.len() as f64);
        }
        println!(
            "{name}: {:.3} ms per report (best of {rounds} rounds over 200 reports)",
            best * 1e3
        );
        best
    };
    let exact = time("exact audit (audit + check)", &|c| {
        disclose::audit(&t, c)
            .and_then(|r| disclose::check(&r))
            .is_ok()
    });
    let fast = time("fast verdict (verify)", &|c| {
        disclose::verify(&t, c).is_ok()
    });
    println!("speed-up: {:.1}×", exact / fast);
}
