//! The publication ledger and the joint audit at the node (issue 11): three templates on one day,
//! a one-household correction, a second campaign a month later. Every version is made the way the
//! daemon makes it (`daemon::version_campaign`); `bangfu-node sent` shows the very bytes queued; and
//! the whole ledger, attacked as one, narrows no withheld cell.

use std::path::Path;

use bangfu_node::archive::Archive;
use bangfu_node::settings::Settings;
use bangfu_node::{daemon, ledger, outbox};
use bangfu_shared::disclose::joint;
use bangfu_shared::vocabulary::Vocabulary;

use crate::common::*;

fn county(dir: &Path, households: u64, seed: u64) -> std::path::PathBuf {
    let files = generate(dir, "H01", households, seed, 0.0, "csv");
    let data = init_node(dir, "H01");
    for kind in ["households", "members", "aid"] {
        ok(&[
            "import",
            "--data",
            s(&data),
            s(&files.join(format!("{kind}.csv"))),
        ]);
    }
    data
}

fn campaign(data: &Path, id: &str, template: &str, start: &str, end: &str) {
    ok(&[
        "campaign",
        "add",
        "--data",
        s(data),
        "--id",
        id,
        "--template",
        template,
        "--title",
        id,
        "--start",
        start,
        "--end",
        end,
    ]);
}

async fn version(data: &Path, id: &str) -> outbox::Versioned {
    let settings = Settings::load(data).unwrap();
    let archive = Archive::open(data, false).await.unwrap();
    let v = daemon::version_campaign(data, &archive, &settings, id, chrono::Utc::now())
        .await
        .unwrap();
    archive.close().await;
    v
}

/// Every withheld cell of the ledger whose stacked range is narrower than it needs.
async fn narrowed(data: &Path) -> Vec<bangfu_shared::disclose::Range> {
    let archive = Archive::open(data, false).await.unwrap();
    let sent = ledger::load(&archive, &Vocabulary::builtin(), None)
        .await
        .unwrap();
    archive.close().await;
    assert!(!sent.publications.is_empty());
    joint::audit(&sent)
        .unwrap()
        .into_iter()
        .filter(|r| !r.is_wide_enough())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_templates_a_correction_and_a_second_campaign_narrow_no_withheld_cell() {
    let dir = tempfile::tempdir().unwrap();
    let data = county(dir.path(), 150, 7);
    for (id, t) in [("sn", "songnuan"), ("djc", "dajiancha"), ("da", "dangan")] {
        campaign(&data, id, t, "2025-01-01", "2025-06-30");
        assert!(matches!(
            version(&data, id).await,
            outbox::Versioned::New { version: 1, .. }
        ));
    }
    assert_eq!(narrowed(&data).await, vec![]);

    // A correction: one household's 困难类别 changes, every campaign is versioned again.
    let archive = Archive::open(&data, false).await.unwrap();
    sqlx::query(
        "UPDATE households SET category = CASE category WHEN '低保户' THEN '低保边缘户' ELSE '低保户' END \
         WHERE staff_no = (SELECT min(staff_no) FROM households WHERE status = '在档')",
    )
    .execute(archive.pool())
    .await
    .unwrap();
    archive.close().await;
    for id in ["sn", "djc", "da"] {
        version(&data, id).await;
    }
    assert_eq!(narrowed(&data).await, vec![]);
    // `report` names the cells the change policy withholds: the two categories moved by one.
    let out = run(&["report", "--data", s(&data), "--campaign", "da"]);
    assert!(out.status.success());
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("withheld because they changed by fewer than 3 households")
            && note.contains("category."),
        "{note}"
    );

    // A second campaign a month later.
    campaign(&data, "da2", "dangan", "2025-07-01", "2025-07-31");
    version(&data, "da2").await;
    assert_eq!(narrowed(&data).await, vec![]);

    // `sent` prints every queued version, each body byte for byte after its header.
    let out = ok(&["sent", "--data", s(&data)]);
    let archive = Archive::open(&data, false).await.unwrap();
    let bodies: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT campaign, version, body FROM report_versions ORDER BY created_at, campaign, version",
    )
    .fetch_all(archive.pool())
    .await
    .unwrap();
    archive.close().await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2 * bodies.len(), "{out}");
    for (pair, (campaign, version, body)) in lines.chunks(2).zip(&bodies) {
        assert!(
            pair[0].starts_with(&format!("# campaign {campaign} version {version} ")),
            "{}",
            pair[0]
        );
        assert!(pair[0].contains(&format!("bytes {}", body.len())));
        assert_eq!(pair[1], body);
    }
    let one = ok(&[
        "sent",
        "--data",
        s(&data),
        "--campaign",
        "da",
        "--version",
        "1",
    ]);
    assert_eq!(one.lines().count(), 2, "{one}");
    assert!(one.starts_with("# campaign da version 1 template dangan as-of 2025-06-30 "));
}

/// Every version the node queued, as the parent's intake audits it: alone, without the ledger.
async fn single_report_audit(data: &Path) -> Vec<String> {
    let archive = Archive::open(data, false).await.unwrap();
    let bodies: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT campaign, version, body FROM report_versions ORDER BY version")
            .fetch_all(archive.pool())
            .await
            .unwrap();
    archive.close().await;
    let v = Vocabulary::builtin();
    bodies
        .into_iter()
        .filter_map(|(campaign, version, body)| {
            let report: bangfu_shared::report::Report = serde_json::from_str(&body).unwrap();
            let t = bangfu_shared::template::builtin(&report.template, &v).unwrap();
            bangfu_shared::disclose::verify(&t, &report.cells)
                .err()
                .map(|e| format!("{campaign} v{version}: {e}"))
        })
        .collect()
}

/// The fault tests' county (issue 11, found at merge): an archive imported in five parts, a
/// `dangan` version after each. The joint audit once withheld `total` there because the ledger
/// (the earlier total and the numbers of households added since) pins it anyway, so jointly it
/// needed no width; alone, beside its published categories, it was exact, and the parent's intake
/// refused the version. Every version must pass the single-report audit too.
#[tokio::test(flavor = "multi_thread")]
async fn every_version_of_a_growing_archive_passes_the_parents_single_report_audit() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("gen");
    ok(&[
        "gen",
        "--org",
        "H01",
        "--households",
        "250",
        "--seed",
        "31",
        "--out",
        s(&files),
    ]);
    let data = init_node(dir.path(), "H01");
    campaign(&data, "da", "dangan", "2026-01-01", "2026-12-04");
    let mut r = csv::Reader::from_path(files.join("households.csv")).unwrap();
    let header = r.byte_headers().unwrap().clone();
    let rows: Vec<csv::ByteRecord> = r.byte_records().map(Result::unwrap).collect();
    for (i, chunk) in rows.chunks(rows.len().div_ceil(5)).enumerate() {
        let part = dir.path().join(format!("part{i}.csv"));
        let mut w = csv::Writer::from_path(&part).unwrap();
        w.write_byte_record(&header).unwrap();
        for row in chunk {
            w.write_byte_record(row).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        ok(&["import", "--data", s(&data), s(&part)]);
        assert!(
            matches!(version(&data, "da").await, outbox::Versioned::New { .. }),
            "part {i} made no new version"
        );
        // Nothing changed: the round after makes nothing (and no report: the basis is the same).
        assert!(matches!(
            version(&data, "da").await,
            outbox::Versioned::Unchanged { .. }
        ));
    }
    assert_eq!(single_report_audit(&data).await, Vec::<String>::new());
    assert_eq!(narrowed(&data).await, vec![]);
}
