//! The intake's group commit (`bangfu_hub::store::ingest`) on a real store: SQLite in a temp dir, and
//! PostgreSQL when `BANGFU_TEST_DATABASE_URL` names a server (a fresh database, dropped after).
//! A batch keeps the version rules (same version and content: duplicate; other content: conflict),
//! also between two rows of the same batch; many concurrent reports are each answered after their
//! commit; and a row the database refuses fails alone.

use std::process::Command;

use bangfu_hub::store::Store;
use bangfu_hub::store::ingest::{self, Row, Stored};

fn row(org: &str, version: i64, body: &str) -> Row {
    Row {
        org: org.into(),
        campaign: "2026-dangan".into(),
        version,
        hash: bangfu_shared::protocol::ContentHash::of(body.as_bytes()).to_string(),
        body: body.into(),
        received_at: "2026-06-30T08:00:00+00:00".into(),
        on_time: version % 2 == 1,
        jws: None,
        signer: None,
    }
}

/// A fresh PostgreSQL database (URL, and the admin URL and name to drop it), if a server is configured.
fn postgres(tag: &str) -> Option<(String, String, String)> {
    let Some(admin) = std::env::var("BANGFU_TEST_DATABASE_URL").ok() else {
        println!("skipping PostgreSQL: set BANGFU_TEST_DATABASE_URL");
        return None;
    };
    let name = format!(
        "bangfu_test_ingest_{tag}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    );
    let out = Command::new("psql")
        .args([
            admin.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_string();
    Some((format!("{base}/{name}"), admin, name))
}

fn drop_database(admin: &str, name: &str) {
    let _ = Command::new("psql")
        .args([
            admin,
            "-c",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .output();
}

async fn count(store: &Store) -> i64 {
    ingest::stored_versions(store).await.unwrap()
}

async fn versions_keep_their_meaning_within_and_across_batches(url: &str) {
    let store = Store::open(url).await.unwrap();
    let batch = [
        row("A01", 1, "{\"a\":1}"),
        row("A01", 1, "{\"a\":1}"), // same version, same content, same batch: duplicate
        row("A01", 1, "{\"a\":2}"), // same version, other content, same batch: conflict
        row("A02", 1, "{\"b\":1}"),
        row("A01", 2, "{\"a\":3}"),
    ];
    let got = ingest::write_batch(&store, &batch).await.unwrap();
    assert_eq!(
        got,
        [
            Stored::Inserted,
            Stored::Duplicate { on_time: true },
            Stored::Conflict,
            Stored::Inserted,
            Stored::Inserted
        ]
    );
    // A later batch sees the committed rows the same way, with the on-time flag they were stored with.
    let again = ingest::write_batch(
        &store,
        &[
            row("A01", 2, "{\"a\":3}"),
            row("A02", 1, "{\"b\":9}"),
            row("A03", 4, "{}"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        again,
        [
            Stored::Duplicate { on_time: false },
            Stored::Conflict,
            Stored::Inserted
        ]
    );
    assert_eq!(count(&store).await, 4);
    store.close().await;
}

#[tokio::test]
async fn versions_keep_their_meaning_within_and_across_batches_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    versions_keep_their_meaning_within_and_across_batches(&bangfu_hub::config::sqlite_url(
        dir.path(),
    ))
    .await;
}

#[tokio::test]
async fn versions_keep_their_meaning_within_and_across_batches_on_postgresql() {
    let Some((url, admin, name)) = postgres("batch") else {
        return;
    };
    versions_keep_their_meaning_within_and_across_batches(&url).await;
    drop_database(&admin, &name);
}

/// 400 concurrent reports (200 orgs, each sending its version 1 twice) through the writer.
async fn concurrent_reports_are_each_answered_once_committed(url: &str) {
    let store = Store::open(url).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let store = store.clone();
        let org = format!("A{:03}", i % 200);
        tasks.push(tokio::spawn(async move {
            ingest::store(&store, row(&org, 1, &format!("{{\"org\":\"{org}\"}}")))
                .await
                .unwrap()
        }));
    }
    let mut inserted = 0;
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap() {
            Stored::Inserted => inserted += 1,
            Stored::Duplicate { on_time: true } => duplicates += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((inserted, duplicates), (200, 200));
    // Answered means committed: a second pool on the same database sees every row.
    store.close().await;
    let reopened = Store::open(url).await.unwrap();
    assert_eq!(count(&reopened).await, 200);
    reopened.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_are_each_answered_once_committed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_reports_are_each_answered_once_committed(&bangfu_hub::config::sqlite_url(
        dir.path(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_are_each_answered_once_committed_on_postgresql() {
    let Some((url, admin, name)) = postgres("concurrent") else {
        return;
    };
    concurrent_reports_are_each_answered_once_committed(&url).await;
    drop_database(&admin, &name);
}

/// PostgreSQL refuses a NUL character in TEXT: that row fails, its batch neighbours are stored.
/// (One thread: the three are queued before the writer runs, so they reach it as one batch.)
#[tokio::test]
async fn a_row_the_database_refuses_fails_alone_on_postgresql() {
    let Some((url, admin, name)) = postgres("refused") else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let rows = [
        row("A01", 1, "{}"),
        row("A02", 1, "{\"bad\":\"\u{0}\"}"),
        row("A03", 1, "{}"),
    ];
    assert!(
        ingest::write_batch(&store, &rows).await.is_err(),
        "the batch as a whole is refused"
    );
    assert_eq!(count(&store).await, 0, "and nothing of it is stored");
    let [a, b, c] = rows.clone();
    let answers = tokio::join!(
        ingest::store(&store, a),
        ingest::store(&store, b),
        ingest::store(&store, c)
    );
    let answers = [answers.0, answers.1, answers.2];
    assert!(matches!(answers[0], Ok(Stored::Inserted)), "{answers:?}");
    assert!(answers[1].is_err(), "{answers:?}");
    assert!(matches!(answers[2], Ok(Stored::Inserted)), "{answers:?}");
    assert_eq!(count(&store).await, 2);
    store.close().await;
    drop_database(&admin, &name);
}
