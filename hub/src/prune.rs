//! A bound on the versions a child's report keeps whole (issue 13: a child stored 200 × 0.9 MB in
//! 3 s). After a new version is stored, once a child and campaign hold more than `[versions] keep`
//! plus a quarter ([`slack`]), the versions beyond `keep` lose their bodies: the first version (when the child first reported, on time or not) and
//! the newest `keep - 1` stay; the ones in between move to `report_trail` with their hash, arrival
//! time and on-time mark, so what was received stays provable without its bytes.

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::CampaignId;
use chrono::{DateTime, Utc};

use crate::config::VersionSettings;
use crate::store::{self, Store};

/// How many versions past `keep` a child may hold before they are pruned back to `keep`: a
/// quarter of `keep` (at least 1). Pruning is a write transaction of its own (its own fsync on
/// SQLite, outside the intake's group commit); done after every new version once a child is at the
/// bound, it cut the intake of a child sending version after version to one fsync per report.
/// In batches, a child holds at most `keep + slack` versions whole, and one prune per `slack`
/// versions is written.
pub fn slack(keep: u32) -> u32 {
    (keep / 4).max(1)
}

/// Prunes `org`'s versions of `campaign` back to `settings.keep` once they exceed it by more than
/// [`slack`]; returns how many were pruned. Called after the intake stored a new version, with the
/// number of versions it says are `held` now (the stored versions are read again past the bound); a
/// failure leaves every version in place.
pub async fn after_intake(
    store: &Store,
    org: &OrgCode,
    campaign: &CampaignId,
    held: u64,
    settings: &VersionSettings,
    now: DateTime<Utc>,
) -> Result<u64, store::Error> {
    let keep = i64::from(settings.keep.max(2));
    // The intake's count, read with the rest of what it holds: below the bound, nothing to read.
    if held <= (keep as u64) + u64::from(slack(keep as u32)) {
        return Ok(0);
    }
    let (org, campaign) = (org.as_str().to_string(), campaign.to_string());
    let versions: Vec<(i64,)> = sqlx::query_as(
        "SELECT version FROM reports WHERE org = $1 AND campaign = $2 ORDER BY version",
    )
    .bind(org.clone())
    .bind(campaign.clone())
    .fetch_all(&store.pool)
    .await?;
    if versions.len() as i64 <= keep + i64::from(slack(keep as u32)) {
        return Ok(0);
    }
    // Keep the first and the newest keep - 1: prune the versions strictly between.
    let first = versions[0].0;
    let newest_kept = versions[versions.len() - (keep as usize - 1)].0;
    let mut tx = store.pool.begin().await?;
    sqlx::query(
        "INSERT INTO report_trail (org, campaign, version, hash, received_at, on_time, pruned_at)
         SELECT org, campaign, version, hash, received_at, on_time, $5 FROM reports
         WHERE org = $1 AND campaign = $2 AND version > $3 AND version < $4
         ON CONFLICT (org, campaign, version) DO NOTHING",
    )
    .bind(org.clone())
    .bind(campaign.clone())
    .bind(first)
    .bind(newest_kept)
    .bind(now.to_rfc3339())
    .execute(&mut *tx)
    .await?;
    let pruned = sqlx::query(
        "DELETE FROM reports WHERE org = $1 AND campaign = $2 AND version > $3 AND version < $4",
    )
    .bind(org.clone())
    .bind(campaign.clone())
    .bind(first)
    .bind(newest_kept)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if pruned > 0 {
        tracing::info!(org = %org, campaign = %campaign, pruned, "old report versions pruned to their hash trail");
    }
    Ok(pruned)
}

/// A pruned version's hash, arrival time and on-time mark, if it was pruned.
pub async fn trail(
    store: &Store,
    org: &OrgCode,
    campaign: &CampaignId,
    version: i64,
) -> Result<Option<(String, String, bool)>, store::Error> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT hash, received_at, on_time FROM report_trail WHERE org = $1 AND campaign = $2 AND version = $3",
    )
    .bind(org.as_str().to_string())
    .bind(campaign.to_string())
    .bind(version)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(h, r, t)| (h, r, t != 0)))
}

/// [`after_intake`] with this hub's `[versions]`, a failure logged rather than returned: the new
/// version is stored and acknowledged whatever happens to the old ones.
pub async fn after_intake_logged(
    hub: &crate::app::Hub,
    org: &OrgCode,
    campaign: &CampaignId,
    held: u64,
) {
    let settings = &hub.config.versions;
    if let Err(e) = after_intake(&hub.store, org, campaign, held, settings, hub.now()).await {
        tracing::warn!(error = %e, org = %org, campaign = %campaign, "pruning old report versions failed; they stay");
    }
}

/// The versions of `org`'s report on `campaign` kept whole, oldest first.
pub async fn kept_versions(
    store: &Store,
    org: &OrgCode,
    campaign: &CampaignId,
) -> Result<Vec<i64>, store::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT version FROM reports WHERE org = $1 AND campaign = $2 ORDER BY version",
    )
    .bind(org.as_str().to_string())
    .bind(campaign.to_string())
    .fetch_all(&store.pool)
    .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}
