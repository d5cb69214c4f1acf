//! The stored rollup versions (migration 0005): every rollup a hub printed, served or sent up is
//! kept with the child versions (and their hashes) it was made from, so a total can be traced to the
//! reports behind it. A new version is made only when the rollup differs from the latest stored
//! one (anything but its version: cells, completeness, findings, sources); asking again for an
//! unchanged rollup returns the same version.

use bangfu_shared::protocol::{CampaignId, Version};
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::rollup::Rollup;
use crate::store::{self, Store};

/// The rollup's JSON without its version, for "did it change?".
fn content(r: &serde_json::Value) -> serde_json::Value {
    let mut v = r.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("version");
    }
    v
}

async fn latest(
    store: &Store,
    campaign: &CampaignId,
) -> Result<Option<(Version, serde_json::Value)>, Error> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT version, body FROM rollups WHERE campaign = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(campaign.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(store::Error::from)?;
    row.map(|(v, body)| {
        let corrupt =
            |e: String| store::Error::Corrupt(format!("stored rollup {v} of `{campaign}`: {e}"));
        let json = serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?;
        let v = Version::from_db(v).map_err(|e| corrupt(e.to_string()))?;
        Ok::<_, Error>((v, json))
    })
    .transpose()
}

/// Stores `r` as the campaign's next rollup version unless it equals the latest stored one, and
/// returns its version. Two callers racing store one version: the loser re-reads and compares.
pub async fn record(store: &Store, r: &Rollup, now: DateTime<Utc>) -> Result<Version, Error> {
    let mine = content(&serde_json::to_value(r).expect("a rollup serialises"));
    for _ in 0..5 {
        let last = latest(store, &r.campaign).await?;
        if let Some((v, body)) = &last
            && content(body) == mine
        {
            return Ok(*v);
        }
        let version = last.map_or(Version::FIRST, |(v, _)| v.next());
        let mut stored = r.clone();
        stored.version = version;
        let body = serde_json::to_string_pretty(&stored).expect("a rollup serialises");
        let mut tx = store.pool.begin().await.map_err(store::Error::from)?;
        let inserted = sqlx::query("INSERT INTO rollups (campaign, version, body, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (campaign, version) DO NOTHING")
            .bind(r.campaign.to_string())
            .bind(version.to_db())
            .bind(body)
            .bind(now.to_rfc3339())
            .execute(&mut *tx)
            .await
            .map_err(store::Error::from)?;
        if inserted.rows_affected() == 0 {
            continue;
        }
        for s in &r.sources {
            sqlx::query("INSERT INTO rollup_sources (campaign, version, org, source_version, hash) VALUES ($1, $2, $3, $4, $5)")
                .bind(r.campaign.to_string())
                .bind(version.to_db())
                .bind(s.org.as_str().to_string())
                .bind(s.version.to_db())
                .bind(s.hash.to_string())
                .execute(&mut *tx)
                .await
                .map_err(store::Error::from)?;
        }
        tx.commit().await.map_err(store::Error::from)?;
        tracing::info!(campaign = %r.campaign, %version, sources = r.sources.len(), "rollup version stored");
        return Ok(version);
    }
    Err(Error::Conflict(format!(
        "rollup of `{}` kept changing while being stored; try again",
        r.campaign
    )))
}

/// A stored rollup version's JSON, as it was printed.
pub async fn get(
    store: &Store,
    campaign: &CampaignId,
    version: Version,
) -> Result<Option<String>, Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT body FROM rollups WHERE campaign = $1 AND version = $2")
            .bind(campaign.to_string())
            .bind(version.to_db())
            .fetch_optional(&store.pool)
            .await
            .map_err(store::Error::from)?;
    Ok(row.map(|r| r.0))
}
