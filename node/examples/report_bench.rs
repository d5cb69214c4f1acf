//! Benchmark of the statistic tables over a real archive (run by `bench/tables.sh`): loads the
//! archive's facts once, then builds all four built-in reports — aggregation, rules and disclosure
//! control — and prints the time of each step.
//!
//!     cargo run --release -p bangfu-node --example report_bench -- DATA_DIR AS_OF

use std::time::Instant;

use bangfu_node::archive::Archive;
use bangfu_node::{facts, reporting};
use bangfu_shared::aggregate::Period;
use bangfu_shared::org::OrgCode;
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().expect("DATA_DIR"));
    let as_of: chrono::NaiveDate = args.next().expect("AS_OF").parse()?;
    let vocabulary = Vocabulary::builtin();
    let archive = Archive::open(&data, false).await?;

    let t0 = Instant::now();
    let facts = facts::load(&archive, &vocabulary).await?;
    let load = t0.elapsed();
    println!(
        "load facts from SQLite: {} households, {} aid records in {:.3} s",
        facts.households.len(),
        facts.aid.len(),
        load.as_secs_f64()
    );

    let tables: Vec<_> = template::BUILTIN_IDS
        .iter()
        .map(|id| template::builtin(id, &vocabulary))
        .collect::<Result<_, _>>()?;
    let start = as_of.with_ordinal(1).expect("1 January");
    let all = Instant::now();
    for t in &tables {
        let t1 = Instant::now();
        let request = reporting::Request {
            org: OrgCode::parse("H")?,
            template: t,
            campaign: Some("bench".parse().expect("a campaign id")),
            period: Period::campaign(start, as_of),
            version: bangfu_shared::protocol::Version::FIRST,
        };
        let report = reporting::build(request, &facts, &Default::default())?;
        let withheld = report.cells.values().filter(|c| c.is_suppressed()).count();
        println!(
            "{:<14} {:>4} cells, {:>3} withheld: {:.3} s",
            t.id,
            report.cells.len(),
            withheld,
            t1.elapsed().as_secs_f64()
        );
    }
    println!(
        "all four templates with disclosure control: {:.3} s",
        all.elapsed().as_secs_f64()
    );
    Ok(())
}

use chrono::Datelike;
