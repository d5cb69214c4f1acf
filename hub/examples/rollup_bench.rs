//! How long a hub takes to roll up 200 children (docs/BENCHMARKS-reconcile.md).
//!
//! 200 synthetic counties (households from the seeded generator, aggregated and protected with the
//! shared code, so small cells are withheld as in life) report campaign `dangan-bench` through the
//! real intake into a real store (SQLite in a temporary folder, or PostgreSQL with
//! `--database-url`); then the rollup is computed with every reconciliation rule, including the
//! outlier comparison with a previous campaign of the same table, and stored. Timed: the first
//! rollup (a new stored version) and the median of repeated ones (unchanged inputs: same version).
//!
//! cargo run --release -p bangfu-hub --example rollup_bench [-- --children 200 --households 400 --runs 5]

use std::time::Instant;

use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::registry::{self, Org};
use bangfu_hub::store::Store;
use bangfu_hub::{intake, rollup};
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::disclose::protect;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, Version};
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;

use bangfu_shared::synthetic as archive;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// The org codes of `n` counties: H01…H99, J01…, K01…
fn counties(n: usize) -> Vec<OrgCode> {
    let letters = "HJKLMNPQRSTUVWXYZ";
    (0..n)
        .map(|i| {
            OrgCode::parse(&format!(
                "{}{:02}",
                &letters[i / 99..i / 99 + 1],
                i % 99 + 1
            ))
            .unwrap()
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let children = arg("--children", 200);
    let households = arg("--households", 400);
    let runs = arg("--runs", 5);
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile::tempdir().unwrap();
    let url = args
        .iter()
        .position(|a| a == "--database-url")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| bangfu_hub::config::sqlite_url(dir.path()));
    let store = Store::open(&url).await.unwrap();
    let v = Vocabulary::builtin();
    let t = template::builtin("dangan", &v).unwrap();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let due = Due {
        county: day("2099-12-31"),
        prefecture: day("2099-12-31"),
        province: None,
    };
    let orgs = counties(children);
    // Signed as counties sign (a CA of the bench's own, one identity per county).
    let pki = dir.path().join("pki");
    bangfu_client::pki::init(&pki, &OrgCode::parse("HB").unwrap(), "测试根证书", 30).unwrap();
    let revocations =
        std::sync::Arc::new(bangfu_hub::api::admit::Revocations::new(Some(&pki), &pki).unwrap());
    let verifier = || bangfu_hub::signed::Verifier::new(revocations.clone());
    let mut signers = std::collections::BTreeMap::new();
    for o in &orgs {
        let out = dir.path().join(format!("id-{o}"));
        bangfu_client::pki::issue(
            &pki,
            o,
            "县",
            &bangfu_client::pki::IssueOptions::for_days(vec![], 30),
            &out,
        )
        .unwrap();
        signers.insert(
            o.clone(),
            bangfu_client::signature::Signer::from_dir(&out).unwrap(),
        );
    }
    for o in &orgs {
        registry::add(
            &store,
            &Org {
                code: o.clone(),
                name: "县总工会".into(),
                email: None,
                webhook: None,
            },
        )
        .await
        .unwrap();
    }

    let started = Instant::now();
    let mut withheld = 0;
    for (id, end) in [
        ("dangan-before", "2013-12-31"),
        ("dangan-bench", "2014-12-31"),
    ] {
        let c = Campaign {
            id: CampaignId::parse(id).unwrap(),
            template: "dangan".into(),
            title: "档案".into(),
            start: day("2013-01-01"),
            end: day(end),
            due: due.clone(),
            template_body: None,
        };
        campaigns::create(&store, &c, "local").await.unwrap();
        let period = Period::on(c.end);
        for (k, o) in orgs.iter().enumerate() {
            // Sizes from a tenth to twice the mean, so some counties are small enough to withhold.
            let n = households / 10 + (k * 7919) % (households * 2);
            let (hs, aid) = archive::archive(k as u64, n, &v);
            let values = aggregate(&t, &hs, &aid, &period);
            let Ok(protected) = protect(&t, &values) else {
                continue;
            };
            withheld += protected.withheld().len();
            let report = Report::new(
                o.clone(),
                &t,
                Some(c.id.clone()),
                c.end,
                Version::FIRST,
                protected,
                evaluate(&t, |i| values.value(i)),
            );
            let body = serde_json::to_vec(&report).unwrap();
            let jws = signers[o].sign(&body, chrono::Utc::now()).unwrap();
            intake::receive(
                &store,
                o,
                intake::Signed {
                    body: &body,
                    jws: Some(jws.as_str()),
                },
                chrono::Utc::now(),
                &verifier(),
            )
            .await
            .unwrap();
        }
    }
    eprintln!(
        "set-up: {} reports in {:.1} s ({withheld} withheld cells)",
        2 * children,
        started.elapsed().as_secs_f64()
    );

    let hub = OrgCode::parse("HB").unwrap();
    let started = Instant::now();
    let first = rollup::rollup_with(
        &store,
        &hub,
        "湖北省总工会",
        &CampaignId::parse("dangan-bench").unwrap(),
        &Default::default(),
        &verifier(),
    )
    .await
    .unwrap();
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut times = vec![];
    for _ in 0..runs {
        let started = Instant::now();
        let again = rollup::rollup_with(
            &store,
            &hub,
            "湖北省总工会",
            &CampaignId::parse("dangan-bench").unwrap(),
            &Default::default(),
            &verifier(),
        )
        .await
        .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(
            again.version, first.version,
            "unchanged inputs keep the stored version"
        );
    }
    times.sort_by(f64::total_cmp);
    let ranged = first
        .cells
        .values()
        .filter(|c| matches!(c, rollup::RollupCell::Range { .. }))
        .count();
    println!(
        "rollup of {} children ({} cells, {ranged} ranges, {} findings): first {first_ms:.0} ms (stored as version {}), repeated median {:.0} ms over {runs}",
        first.sources.len(),
        first.cells.len(),
        first.issues.len(),
        first.version,
        times[times.len() / 2]
    );
    store.close().await;
}
