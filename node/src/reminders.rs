//! The node's inbox of reminders (催报) from its parent: `serve` fetches them after each round of
//! pushes and says each new one once; `status` shows them (live when connected, as last fetched
//! with `--offline`).

use bangfu_shared::protocol::{CampaignId, Reminder, ReminderKind};
use chrono::{DateTime, Utc};
use sqlx::Row as _;

use crate::archive::{self, Archive};
use crate::parent::Parent;

/// A reminder as kept here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub campaign: CampaignId,
    pub kind: ReminderKind,
    pub due: String,
    pub message: String,
    pub fetched_at: String,
}

/// Keeps `r` unless it is already kept; whether it was new.
pub async fn store(
    archive: &Archive,
    r: &Reminder,
    now: DateTime<Utc>,
) -> Result<bool, archive::Error> {
    let done = sqlx::query(
        "INSERT INTO reminders (campaign, kind, due, message, fetched_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign, kind) DO NOTHING",
    )
    .bind(r.campaign.as_str())
    .bind(r.kind.to_string())
    .bind(r.due.to_string())
    .bind(&r.message)
    .bind(now.to_rfc3339())
    .execute(archive.pool())
    .await
    .map_err(archive::Error::Database)?;
    Ok(done.rows_affected() == 1)
}

/// Every kept reminder, newest first.
pub async fn list(archive: &Archive) -> Result<Vec<Stored>, archive::Error> {
    let rows = sqlx::query("SELECT campaign, kind, due, message, fetched_at FROM reminders ORDER BY fetched_at DESC, campaign, kind DESC")
        .fetch_all(archive.pool())
        .await
        .map_err(archive::Error::Database)?;
    rows.iter()
        .map(|r| {
            let corrupt =
                |what: String| archive::Error::Corrupt(format!("a stored reminder: {what}"));
            let kind: &str = r.get(1);
            Ok(Stored {
                campaign: CampaignId::parse(r.get(0)).map_err(|e| corrupt(e.to_string()))?,
                kind: kind.parse().map_err(
                    |e: bangfu_shared::protocol::reminder::ReminderKindError| {
                        corrupt(e.to_string())
                    },
                )?,
                due: r.get(2),
                message: r.get(3),
                fetched_at: r.get(4),
            })
        })
        .collect()
}

/// Fetches the parent's reminders for this node and keeps the new ones, which it returns (for
/// `serve` to say each once). A failure is returned as one line for a person.
pub async fn refresh(
    parent: &Parent,
    archive: &Archive,
    now: DateTime<Utc>,
) -> Result<Vec<Reminder>, String> {
    let all = parent
        .reminders()
        .await
        .map_err(|e| format!("催报提醒未能获取 / reminders not fetched: {e}"))?;
    let mut new = Vec::new();
    // Oldest first, so "newest first" by fetch time keeps the parent's order.
    for r in all.into_iter().rev() {
        if store(archive, &r, now).await.map_err(|e| e.to_string())? {
            new.push(r);
        }
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str) -> Reminder {
        Reminder {
            campaign: CampaignId::parse("sn").unwrap(),
            title: "送温暖".into(),
            org: bangfu_shared::org::OrgCode::parse("H01").unwrap(),
            name: "京山县总工会".into(),
            kind: kind.parse().unwrap(),
            due: chrono::NaiveDate::from_ymd_opt(2026, 2, 5).unwrap(),
            message: format!("【逾期提醒】{kind}"),
        }
    }

    #[tokio::test]
    async fn a_reminder_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path(), true).await.unwrap();
        let now = Utc::now();
        assert!(store(&archive, &spec("due_soon"), now).await.unwrap());
        assert!(
            !store(&archive, &spec("due_soon"), now).await.unwrap(),
            "the same reminder again"
        );
        assert!(
            store(&archive, &spec("overdue:2026-02-06"), now)
                .await
                .unwrap()
        );
        let kinds: Vec<String> = list(&archive)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.kind.to_string())
            .collect();
        assert_eq!(kinds, ["overdue:2026-02-06", "due_soon"]);
    }
}
