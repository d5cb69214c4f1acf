//! The parent's review (审核) of this node's reports: accepted (已核准), or returned (已退回) with a
//! reason to correct. `serve` asks the parent after each round of pushes and keeps the answers, so
//! `status --offline` can show them without a connection; `status` asks live when connected.

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, OutboxState, Review, ReviewState, Version};
use chrono::{DateTime, Utc};
use sqlx::Row as _;

use crate::archive::{self, Archive};
use crate::parent::Parent;

/// A review as stored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub campaign: CampaignId,
    pub version: Version,
    pub state: ReviewState,
    pub reason: Option<String>,
    pub decided_at: Option<String>,
    pub fetched_at: String,
}

impl Stored {
    /// The state as a person reads it: 待审核 pending, 已核准 accepted, 已退回 returned.
    pub fn label(&self) -> String {
        format!("{} {}", self.state.label(), self.state)
    }
}

/// Keeps what the parent answered about one version (the latest answer wins).
pub async fn store(
    archive: &Archive,
    r: &Review,
    now: DateTime<Utc>,
) -> Result<(), archive::Error> {
    sqlx::query(
        "INSERT INTO reviews (campaign, version, state, reason, decided_at, fetched_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (campaign, version) DO UPDATE SET state = excluded.state, reason = excluded.reason,
         decided_at = excluded.decided_at, fetched_at = excluded.fetched_at",
    )
    .bind(r.campaign.as_str())
    .bind(r.version.to_db())
    .bind(r.state.as_str())
    .bind(&r.reason)
    .bind(&r.at)
    .bind(now.to_rfc3339())
    .execute(archive.pool())
    .await
    .map_err(archive::Error::Database)?;
    Ok(())
}

/// Every stored review, by campaign and version.
pub async fn list(archive: &Archive) -> Result<Vec<Stored>, archive::Error> {
    let rows = sqlx::query("SELECT campaign, version, state, reason, decided_at, fetched_at FROM reviews ORDER BY campaign, version")
        .fetch_all(archive.pool())
        .await
        .map_err(archive::Error::Database)?;
    rows.iter()
        .map(|r| {
            let corrupt =
                |what: String| archive::Error::Corrupt(format!("a stored review: {what}"));
            let state: &str = r.get(2);
            Ok(Stored {
                campaign: CampaignId::parse(r.get(0)).map_err(|e| corrupt(e.to_string()))?,
                version: Version::from_db(r.get(1)).map_err(|e| corrupt(e.to_string()))?,
                state: ReviewState::parse(state)
                    .ok_or_else(|| corrupt(format!("state `{state}`")))?,
                reason: r.get(3),
                decided_at: r.get(4),
                fetched_at: r.get(5),
            })
        })
        .collect()
}

/// Asks the parent for the review of this node's latest version on every campaign it has
/// delivered a version of, and stores the answers. Returns how many were fetched; the first
/// failure ends the round (the parent is likely down) and is returned as its message.
pub async fn fetch(
    parent: &Parent,
    archive: &Archive,
    org: &OrgCode,
    now: DateTime<Utc>,
) -> Result<usize, String> {
    let campaigns: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT campaign FROM outbox WHERE state = ? ORDER BY campaign",
    )
    .bind(OutboxState::Acked.as_str())
    .fetch_all(archive.pool())
    .await
    .map_err(|e| format!("reading the outbox: {e}"))?;
    let mut n = 0;
    for c in campaigns {
        let c = CampaignId::parse(&c).map_err(|e| format!("reading the outbox: {e}"))?;
        match parent.review(&c, org).await {
            Ok(Some(r)) => {
                store(archive, &r, now)
                    .await
                    .map_err(|e| format!("storing the review of {c}: {e}"))?;
                n += 1;
            }
            Ok(None) => {}
            Err(e) => {
                return Err(format!(
                    "审核结果获取失败 / fetching the review of campaign {c} failed: {e}"
                ));
            }
        }
    }
    Ok(n)
}

/// [`fetch`], returning the reviews whose state or reason changed (for `serve` to say so once).
pub async fn refresh(
    parent: &Parent,
    archive: &Archive,
    org: &OrgCode,
    now: DateTime<Utc>,
) -> Result<Vec<Stored>, String> {
    let key = |r: &Stored| (r.campaign.clone(), r.version, r.state, r.reason.clone());
    let before: std::collections::BTreeSet<_> = list(archive)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(key)
        .collect();
    fetch(parent, archive, org, now).await?;
    Ok(list(archive)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| !before.contains(&key(r)))
        .collect())
}

/// One line for a person: `version 2 已退回 returned: 3B 与档案不符 (decided 2026-…)`.
pub fn describe(r: &Stored) -> String {
    let why = r
        .reason
        .as_deref()
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    let at = r
        .decided_at
        .as_deref()
        .map(|a| format!(" (decided {a})"))
        .unwrap_or_default();
    format!("version {} {}{why}{at}", r.version, r.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: u32, state: &str, reason: Option<&str>) -> Review {
        Review {
            campaign: CampaignId::parse("sn").unwrap(),
            org: OrgCode::parse("H01").unwrap(),
            version: Version::new(version),
            state: ReviewState::parse(state).unwrap(),
            reason: reason.map(str::to_string),
            at: Some("2026-12-01T10:00:00+00:00".into()),
        }
    }

    #[tokio::test]
    async fn a_return_stays_on_record_when_the_next_version_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path(), true).await.unwrap();
        let now = Utc::now();
        store(&archive, &spec(1, "pending", None), now)
            .await
            .unwrap();
        store(&archive, &spec(1, "returned", Some("3B 与档案不符")), now)
            .await
            .unwrap();
        store(&archive, &spec(2, "accepted", None), now)
            .await
            .unwrap();
        // A state this node does not know yet is not taken for one it knows: it does not parse.
        let unknown =
            r#"{"campaign":"sn","org":"H01","version":2,"state":"approved-by-someone-new"}"#;
        assert!(serde_json::from_str::<Review>(unknown).is_err());
        let all = list(&archive).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (
                all[0].version.get(),
                all[0].label(),
                all[0].reason.as_deref()
            ),
            (1, "已退回 returned".to_string(), Some("3B 与档案不符"))
        );
        assert_eq!(
            (all[1].version.get(), all[1].label()),
            (2, "已核准 accepted".to_string())
        );
        archive.close().await;
    }
}
