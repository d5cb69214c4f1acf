//! The node's durable outbox (DESIGN.md "Data flow" 2–3). A report becomes a numbered version only
//! when its content changes, and every version waits in SQLite until the parent acknowledges it, so
//! a restart, a dead network or a hub outage never loses or duplicates a report. The hub keys a
//! version by (org, campaign, version) and its body's SHA-256: resending after a lost answer is
//! harmless (it answers "duplicate").
//!
//! Time is passed in (`now`), so the retry schedule is tested without sleeping (STYLE.md "Tests").

use std::time::Duration;
use tracing::Instrument as _;

use bangfu_shared::report::Report;
use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::archive::{self, Archive};
use crate::parent::{Outcome, Parent};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report fails a high-importance rule; it is neither versioned nor sent.
    #[error(transparent)]
    Blocked(#[from] bangfu_shared::report::Error),
    /// A stored version is not a report any more (a hand-edited database).
    #[error("stored version {version} of campaign `{campaign}` is unreadable: {detail}")]
    Corrupt {
        campaign: String,
        version: u32,
        detail: String,
    },
    #[error(transparent)]
    Archive(#[from] archive::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Archive(archive::Error::Database(e))
    }
}

/// What versioning a freshly built report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Versioned {
    /// The content changed (or it is the first): stored as this version and queued.
    New { version: u32, hash: String },
    /// The same content as the latest version, which stays the one the parent has or will get.
    Unchanged { version: u32 },
}

/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// The wait after the `attempts`-th failed delivery: 1 s, 2 s, 4 s, … up to five minutes, times
/// `jitter` (0.8–1.2 in use: ±20%, so that nodes that lost their hub together do not return together).
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let base = Duration::from_secs(1u64 << attempts.saturating_sub(1).min(20)).min(MAX_BACKOFF);
    base.mul_f64(jitter.clamp(0.8, 1.2))
}

/// A jitter factor in [0.8, 1.2].
pub fn jitter() -> f64 {
    rand::rng().random_range(0.8..=1.2)
}

fn canonical(report: &Report) -> Vec<u8> {
    serde_json::to_vec(report).expect("a report serialises")
}

/// The body without its version, for "did the content change?". Compared as JSON values, not by
/// parsing the stored body back into a [`Report`]: what matters is what was sent.
fn content(body: &[u8]) -> Option<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.as_object_mut()?.remove("version");
    Some(value)
}

/// The lowercase hex SHA-256 the hub computes over the request body.
pub fn hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Stores `report` (built for `campaign`) as the next version and queues it, unless it says the same
/// as the latest version. A report that fails a high-importance rule is refused with the reasons.
pub async fn version_report(
    archive: &Archive,
    campaign: &str,
    report: Report,
    now: DateTime<Utc>,
) -> Result<Versioned, Error> {
    version_published(archive, campaign, report, None, now).await
}

/// [`version_report`], recording the new version's ledger entry (its table, snapshot and period,
/// [`crate::ledger`]) in the same transaction, so nothing is queued that the joint audit cannot see.
pub async fn version_published(
    archive: &Archive,
    campaign: &str,
    mut report: Report,
    entry: Option<&crate::ledger::Entry>,
    now: DateTime<Utc>,
) -> Result<Versioned, Error> {
    report.ensure_sendable()?;
    let mut tx = archive.begin().await?;
    let latest = sqlx::query("SELECT version, body FROM report_versions WHERE campaign = ? ORDER BY version DESC LIMIT 1")
        .bind(campaign)
        .fetch_optional(&mut *tx)
        .await?;
    let next = match latest {
        Some(row) => {
            let version: u32 = row.get::<i64, _>(0) as u32;
            let body: &str = row.get(1);
            let stored = content(body.as_bytes()).ok_or_else(|| Error::Corrupt {
                campaign: campaign.to_string(),
                version,
                detail: "not a JSON object".into(),
            })?;
            if Some(stored) == content(&canonical(&report)) {
                return Ok(Versioned::Unchanged { version });
            }
            version + 1
        }
        None => 1,
    };
    report.version = next.into();
    let body = canonical(&report);
    let digest = hash(&body);
    sqlx::query("INSERT INTO report_versions (campaign, version, hash, body, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(campaign)
        .bind(next as i64)
        .bind(&digest)
        .bind(String::from_utf8(body).expect("JSON is UTF-8"))
        .bind(now.to_rfc3339())
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO outbox (campaign, version, state, attempts, next_attempt_at) VALUES (?, ?, 'pending', 0, ?)")
        .bind(campaign)
        .bind(next as i64)
        .bind(now.timestamp_millis())
        .execute(&mut *tx)
        .await?;
    if let Some(entry) = entry {
        crate::ledger::record(&mut tx, campaign, next, entry, now).await?;
    }
    tx.commit().await?;
    tracing::info!(campaign, version = next, "report versioned");
    Ok(Versioned::New {
        version: next,
        hash: digest,
    })
}

/// Where a version stands with the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub campaign: String,
    pub version: u32,
    pub hash: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub acked_at: Option<String>,
    pub on_time: Option<bool>,
}

const ENTRY_COLUMNS: &str = "o.campaign, o.version, v.hash, o.state, o.attempts, o.next_attempt_at, o.last_status, o.last_error, o.acked_at, o.on_time";

fn entry(row: &sqlx::sqlite::SqliteRow) -> Entry {
    Entry {
        campaign: row.get(0),
        version: row.get::<i64, _>(1) as u32,
        hash: row.get(2),
        state: row.get(3),
        attempts: row.get::<i64, _>(4) as u32,
        next_attempt_at: DateTime::from_timestamp_millis(row.get(5)).unwrap_or_default(),
        last_status: row.get::<Option<i64>, _>(6).map(|s| s as u16),
        last_error: row.get(7),
        acked_at: row.get(8),
        on_time: row.get::<Option<i64>, _>(9).map(|b| b != 0),
    }
}

/// Every outbox entry, by campaign and version (for `status`).
pub async fn entries(archive: &Archive) -> Result<Vec<Entry>, Error> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox o JOIN report_versions v USING (campaign, version) ORDER BY o.campaign, o.version"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(archive.pool())
        .await?;
    Ok(rows.iter().map(entry).collect())
}

/// Pending entries in version order; only those due by `now` unless `all`.
pub async fn pending(
    archive: &Archive,
    now: DateTime<Utc>,
    all: bool,
) -> Result<Vec<Entry>, Error> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox o JOIN report_versions v USING (campaign, version) \
         WHERE o.state = 'pending' AND (? OR o.next_attempt_at <= ?) ORDER BY o.campaign, o.version"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(all)
        .bind(now.timestamp_millis())
        .fetch_all(archive.pool())
        .await?;
    Ok(rows.iter().map(entry).collect())
}

/// Records what became of one delivery attempt: the outbox's state machine.
/// pending → acked (200/201), pending → refused (4xx: never retried), pending → pending with
/// attempts + 1 and a later `next_attempt_at` (5xx, timeouts, no connection).
pub async fn record(
    archive: &Archive,
    campaign: &str,
    version: u32,
    outcome: &Outcome,
    now: DateTime<Utc>,
    jitter: f64,
) -> Result<(), Error> {
    let query = match outcome {
        Outcome::Stored { on_time, .. } => sqlx::query(
            "UPDATE outbox SET state = 'acked', acked_at = ?, on_time = ?, last_status = NULL, last_error = NULL \
             WHERE campaign = ? AND version = ? AND state = 'pending'",
        )
        .bind(now.to_rfc3339())
        .bind(on_time.map(i64::from)),
        Outcome::Refused { status, detail } => {
            sqlx::query("UPDATE outbox SET state = 'refused', last_status = ?, last_error = ? WHERE campaign = ? AND version = ? AND state = 'pending'")
                .bind(*status as i64)
                .bind(detail)
        }
        Outcome::Unavailable { status, detail } => {
            let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE campaign = ? AND version = ?")
                .bind(campaign)
                .bind(version as i64)
                .fetch_one(archive.pool())
                .await?;
            let next = now + backoff(attempts as u32 + 1, jitter);
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_status = ?, last_error = ? \
                 WHERE campaign = ? AND version = ? AND state = 'pending'",
            )
            .bind(next.timestamp_millis())
            .bind(status.map(|s| s as i64))
            .bind(detail)
        }
    };
    query
        .bind(campaign)
        .bind(version as i64)
        .execute(archive.pool())
        .await?;
    Ok(())
}

/// One delivery attempt, as `push` and `serve` print it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub campaign: String,
    pub version: u32,
    pub outcome: Outcome,
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "campaign {} version {}: ", self.campaign, self.version)?;
        match &self.outcome {
            Outcome::Stored {
                duplicate, on_time, ..
            } => {
                let what = if *duplicate {
                    "acked (duplicate) / 已送达（重复）"
                } else {
                    "acked / 已送达"
                };
                let when = match on_time {
                    Some(true) => ", on time / 按时",
                    Some(false) => ", late / 逾期",
                    None => "",
                };
                write!(f, "{what}{when}")
            }
            Outcome::Refused { status, detail } => write!(
                f,
                "refused by the parent ({status}), not retried / 上级拒收: {detail}"
            ),
            Outcome::Unavailable {
                status: Some(s),
                detail,
            } => write!(
                f,
                "parent answered {s}, will retry / 上级暂不可用: {detail}"
            ),
            Outcome::Unavailable {
                status: None,
                detail,
            } => write!(f, "parent unreachable, will retry / 无法连接上级: {detail}"),
        }
    }
}

/// Sends pending versions in version order (only those due by `now` unless `all`) and records each
/// outcome. After a failed delivery of a campaign's version, its later versions wait too, so the hub
/// receives a campaign's versions in order.
pub async fn drain(
    parent: &Parent,
    archive: &Archive,
    now: DateTime<Utc>,
    all: bool,
) -> Result<Vec<Delivery>, Error> {
    let mut out = Vec::new();
    let mut held: Option<String> = None;
    for e in pending(archive, now, all).await? {
        if held.as_deref() == Some(e.campaign.as_str()) {
            continue;
        }
        let body: String = sqlx::query_scalar(
            "SELECT body FROM report_versions WHERE campaign = ? AND version = ?",
        )
        .bind(&e.campaign)
        .bind(e.version as i64)
        .fetch_one(archive.pool())
        .await?;
        // Each delivery is the root of a trace that the parent continues (its `traceparent`).
        let span = tracing::info_span!("push", campaign = %e.campaign, version = e.version);
        let mut outcome = parent.post_report(body.as_bytes()).instrument(span).await;
        if let Outcome::Stored {
            hash: Some(theirs),
            duplicate,
            ..
        } = &outcome
            && theirs.as_str() != e.hash
        {
            // The hub stored something, but not these bytes: the two ends disagree on what was sent.
            // Not retried (resending the same bytes gives the same answer); shown to the operator.
            tracing::warn!(campaign = %e.campaign, version = e.version, "the parent acknowledged a different content hash");
            let status = if *duplicate { 200 } else { 201 };
            outcome = Outcome::Refused {
                status,
                detail: format!(
                    "the parent acknowledged hash {theirs}, the node sent {} (a bug) / 摘要不符",
                    e.hash
                ),
            };
        }
        let status = match &outcome {
            Outcome::Stored { .. } => "acked",
            Outcome::Refused { .. } => "refused",
            Outcome::Unavailable { .. } => "retry",
        };
        tracing::info!(campaign = %e.campaign, version = e.version, status, "report delivery");
        record(archive, &e.campaign, e.version, &outcome, now, jitter()).await?;
        if matches!(outcome, Outcome::Unavailable { .. }) {
            held = Some(e.campaign.clone());
        }
        out.push(Delivery {
            campaign: e.campaign,
            version: e.version,
            outcome,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaigns::{self, Campaign};
    use bangfu_shared::org::OrgCode;
    use chrono::NaiveDate;

    /// A fresh archive with one local 送温暖 campaign `sn` (seed 001 附件1).
    async fn archive_with_campaign(dir: &std::path::Path) -> Archive {
        let archive = Archive::open(dir, true).await.unwrap();
        let c = Campaign {
            id: "sn".parse().unwrap(),
            template: "songnuan".into(),
            title: "送温暖".into(),
            start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            due: None,
            template_body: None,
        };
        campaigns::add(&archive, &c, "local").await.unwrap();
        archive
    }

    async fn build(archive: &Archive, dir: &std::path::Path) -> Report {
        let vocabulary = bangfu_shared::vocabulary::Vocabulary::builtin();
        let org = OrgCode::parse("H01").unwrap();
        crate::reporting::for_campaign(archive, dir, &org, &vocabulary, "sn", Default::default())
            .await
            .unwrap()
            .0
    }

    async fn type_in(archive: &Archive, dir: &std::path::Path, figures: &[&str]) {
        let vocabulary = bangfu_shared::vocabulary::Vocabulary::builtin();
        let c = campaigns::get(archive, "sn").await.unwrap();
        let table = c.template(dir, &vocabulary).unwrap();
        let figures = campaigns::parse_assignments(
            &figures.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        campaigns::enter(archive, &c, &table, &figures)
            .await
            .unwrap();
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[tokio::test]
    async fn the_same_content_twice_makes_one_version() {
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_with_campaign(dir.path()).await;
        let first = version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
            .await
            .unwrap();
        let again = version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
            .await
            .unwrap();
        let Versioned::New { version: 1, hash } = first else {
            panic!("{first:?}")
        };
        assert_eq!(again, Versioned::Unchanged { version: 1 });
        let entries = entries(&archive).await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (
                entries[0].state.as_str(),
                entries[0].attempts,
                &entries[0].hash
            ),
            ("pending", 0, &hash)
        );
    }

    #[tokio::test]
    async fn a_changed_typed_figure_makes_version_two_whose_hash_is_of_its_body() {
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_with_campaign(dir.path()).await;
        type_in(&archive, dir.path(), &["4A=12"]).await;
        version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
            .await
            .unwrap();
        type_in(&archive, dir.path(), &["4A=13"]).await;
        let second = version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
            .await
            .unwrap();
        let Versioned::New { version: 2, hash } = second else {
            panic!("{second:?}")
        };
        let body: String = sqlx::query_scalar(
            "SELECT body FROM report_versions WHERE campaign = 'sn' AND version = 2",
        )
        .fetch_one(archive.pool())
        .await
        .unwrap();
        assert_eq!(super::hash(body.as_bytes()), hash);
        let sent: Report = serde_json::from_str(&body).unwrap();
        assert_eq!(sent.version.get(), 2);
        assert_eq!(sent.cells["4A"].value().unwrap().to_string(), "13");
    }

    #[tokio::test]
    async fn a_report_failing_a_high_importance_rule_is_not_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_with_campaign(dir.path()).await;
        let mut json = serde_json::to_value(build(&archive, dir.path()).await).unwrap();
        json["failed_rules"] = serde_json::json!([{"rule": "3B ≤ 3A", "importance": "high", "cells": [], "detail": "3B = 5 > 3A = 4"}]);
        let blocked: Report = serde_json::from_value(json).unwrap();
        let err = version_report(&archive, "sn", blocked, t0())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("3B = 5 > 3A = 4"), "{err}");
        assert!(entries(&archive).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn failures_back_off_then_an_ack_keeps_the_on_time_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_with_campaign(dir.path()).await;
        version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
            .await
            .unwrap();
        let down = Outcome::Unavailable {
            status: None,
            detail: "connection refused".into(),
        };

        record(&archive, "sn", 1, &down, t0(), 1.0).await.unwrap();
        record(&archive, "sn", 1, &down, t0(), 1.0).await.unwrap();
        record(&archive, "sn", 1, &down, t0(), 1.0).await.unwrap();
        let e = &entries(&archive).await.unwrap()[0];
        assert_eq!((e.state.as_str(), e.attempts), ("pending", 3));
        assert_eq!(e.next_attempt_at, t0() + Duration::from_secs(4));
        assert!(
            pending(&archive, t0() + Duration::from_secs(3), false)
                .await
                .unwrap()
                .is_empty(),
            "not due yet"
        );
        assert_eq!(
            pending(&archive, t0() + Duration::from_secs(3), true)
                .await
                .unwrap()
                .len(),
            1,
            "push sends now"
        );
        assert_eq!(
            pending(&archive, t0() + Duration::from_secs(4), false)
                .await
                .unwrap()
                .len(),
            1
        );

        let stored = Outcome::Stored {
            duplicate: false,
            on_time: Some(true),
            hash: None,
        };
        record(
            &archive,
            "sn",
            1,
            &stored,
            t0() + Duration::from_secs(4),
            1.0,
        )
        .await
        .unwrap();
        let e = &entries(&archive).await.unwrap()[0];
        assert_eq!(
            (e.state.as_str(), e.on_time, e.last_error.as_deref()),
            ("acked", Some(true), None)
        );
        assert!(
            pending(&archive, t0() + Duration::from_secs(3600), true)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_refusal_is_final_and_keeps_the_problems_detail() {
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_with_campaign(dir.path()).await;
        version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
            .await
            .unwrap();
        let refused = Outcome::Refused {
            status: 422,
            detail: "3B exceeds 3A".into(),
        };
        record(&archive, "sn", 1, &refused, t0(), 1.0)
            .await
            .unwrap();
        // a late answer to an earlier attempt does not revive it
        record(
            &archive,
            "sn",
            1,
            &Outcome::Unavailable {
                status: Some(503),
                detail: "x".into(),
            },
            t0(),
            1.0,
        )
        .await
        .unwrap();
        let e = &entries(&archive).await.unwrap()[0];
        assert_eq!(
            (e.state.as_str(), e.attempts, e.last_status),
            ("refused", 0, Some(422))
        );
        assert_eq!(e.last_error.as_deref(), Some("3B exceeds 3A"));
        assert!(pending(&archive, t0(), true).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_outbox_survives_reopening_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_with_campaign(dir.path()).await;
        version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
            .await
            .unwrap();
        record(
            &archive,
            "sn",
            1,
            &Outcome::Unavailable {
                status: Some(502),
                detail: "bad gateway".into(),
            },
            t0(),
            1.0,
        )
        .await
        .unwrap();
        archive.close().await;

        let archive = Archive::open(dir.path(), false).await.unwrap();
        let e = &pending(&archive, t0() + Duration::from_secs(60), false)
            .await
            .unwrap()[0];
        assert_eq!(
            (e.campaign.as_str(), e.version, e.attempts, e.last_status),
            ("sn", 1, 1, Some(502))
        );
        assert_eq!(
            version_report(&archive, "sn", build(&archive, dir.path()).await, t0())
                .await
                .unwrap(),
            Versioned::Unchanged { version: 1 }
        );
    }

    #[tokio::test]
    async fn a_version_made_while_an_import_writes_waits_for_it_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_with_campaign(dir.path()).await;
        let report = build(&archive, dir.path()).await;
        // An import in another process: another connection holding the write lock.
        let other = Archive::open(dir.path(), false).await.unwrap();
        let mut import = other.begin().await.unwrap();
        sqlx::query("INSERT INTO sync_state (key, value) VALUES ('import', 'running')")
            .execute(&mut *import)
            .await
            .unwrap();
        let versioning = tokio::spawn({
            let archive = archive.clone();
            async move { version_report(&archive, "sn", report, t0()).await }
        });
        // Lets the versioning reach the lock before the import commits (an ordering, not a result).
        tokio::time::sleep(Duration::from_millis(300)).await;
        import.commit().await.unwrap();
        let versioned = versioning.await.unwrap();
        assert!(
            matches!(versioned, Ok(Versioned::New { version: 1, .. })),
            "{versioned:?}"
        );
    }

    #[test]
    fn backoff_doubles_from_one_second_and_stops_at_five_minutes() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(5, 1.0), Duration::from_secs(16));
        assert_eq!(backoff(9, 1.0), Duration::from_secs(256));
        assert_eq!(backoff(10, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(60, 1.0), MAX_BACKOFF);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(backoff(3, 0.8), Duration::from_millis(3200));
        assert_eq!(backoff(3, 1.2), Duration::from_millis(4800));
        assert_eq!(backoff(3, 5.0), Duration::from_millis(4800));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.8..=1.2).contains(&j));
        }
    }
}
