//! Benchmark of the joint audit (run by `bench/joint.sh`): `bangfu-node report` for four campaigns
//! (all four built-in templates) over the archive in DATA_DIR, first with an empty ledger, then after
//! ROUNDS rounds of (one-household correction, a new version of every campaign), i.e. 4 × ROUNDS
//! earlier publications. Each figure is the median of REPEATS runs of the whole report path
//! (`reporting::prepare`: facts from SQLite, snapshot, ledger, aggregation, rules, joint protection).
//!
//!     cargo run --release -p bangfu-node --example joint_bench -- DATA_DIR [ROUNDS] [REPEATS]

use std::time::Instant;

use bangfu_node::archive::Archive;
use bangfu_node::settings::Settings;
use bangfu_node::{daemon, reporting};
use bangfu_shared::protocol::Version;
use bangfu_shared::vocabulary::Vocabulary;

const CAMPAIGNS: [&str; 4] = ["b-songnuan", "b-bangfu_center", "b-dajiancha", "b-dangan"];

async fn all_four(data: &std::path::Path, archive: &Archive, s: &Settings) -> anyhow::Result<f64> {
    let vocabulary = Vocabulary::builtin();
    let t = Instant::now();
    for id in CAMPAIGNS {
        reporting::prepare(
            archive,
            data,
            &s.org,
            &vocabulary,
            id,
            Version::FIRST,
            s.change_policy,
        )
        .await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

async fn median(
    data: &std::path::Path,
    archive: &Archive,
    s: &Settings,
    repeats: usize,
) -> anyhow::Result<f64> {
    let mut v = Vec::new();
    for _ in 0..repeats {
        v.push(all_four(data, archive, s).await?);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().expect("DATA_DIR"));
    let rounds: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    let repeats: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let settings = Settings::load(&data)?;
    let archive = Archive::open(&data, false).await?;

    let none = median(&data, &archive, &settings, repeats).await?;
    println!("4 templates, empty ledger:         {none:.3} s (median of {repeats})");
    for round in 0..rounds {
        // One household corrected (its 困难类别 flips), then every campaign versioned again.
        sqlx::query(
            "UPDATE households SET category = CASE category WHEN '低保户' THEN '低保边缘户' ELSE '低保户' END \
             WHERE staff_no = (SELECT staff_no FROM households WHERE status = '在档' ORDER BY staff_no LIMIT 1 OFFSET ?)",
        )
        .bind(round as i64)
        .execute(archive.pool())
        .await?;
        for id in CAMPAIGNS {
            daemon::version_campaign(&data, &archive, &settings, id, chrono::Utc::now()).await?;
        }
    }
    let published: i64 = sqlx::query_scalar("SELECT count(*) FROM publications")
        .fetch_one(archive.pool())
        .await?;
    let with = median(&data, &archive, &settings, repeats).await?;
    println!(
        "4 templates, {published} publications in the ledger: {with:.3} s (median of {repeats})"
    );
    println!("ratio: {:.2}×", with / none);
    archive.close().await;
    Ok(())
}
