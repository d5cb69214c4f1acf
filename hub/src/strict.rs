//! The strict intake at this hub (issue 12): every report from a child passes
//! `bangfu_shared::protocol::intake` against the campaign's template before anything else is done
//! with it, and its version may not jump too far past what the child has counted here. The same
//! check runs at the level above on what this hub forwards, so a child's report this hub accepts is
//! one its parent accepts too.

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::Version;
use bangfu_shared::protocol::intake::{self, Kind, MAX_CHILDREN, PER_CHILD_BYTES};
use bangfu_shared::report::Report;
use bangfu_shared::template::Template;

use crate::config::IntakeSettings;
use crate::error::Error;
use crate::store::{self, Store};

/// The largest body of a county's report, and a hub's own part of its report.
pub const BODY_LIMIT: usize = 1 << 20;

/// The limit of a report body with `children` embedded reports: a per-child budget on top.
pub const fn body_limit(children: usize) -> usize {
    BODY_LIMIT + PER_CHILD_BYTES * children
}

/// The most a hub's report may be, before its children are counted.
pub const HUB_BODY_CAP: usize = body_limit(MAX_CHILDREN);

/// `peer`'s report (`value`, read from `size` bytes) against template `t`: the report it is, or a
/// 422 naming the field and what was wrong (413 over the body's budget).
pub fn check(
    t: &Template,
    peer: &OrgCode,
    value: &serde_json::Value,
    size: usize,
) -> Result<Report, Error> {
    let report = intake::check_read(t, Kind::of(peer.level()), value, size)
        .map_err(|refusal| Error::Unprocessable(refusal.to_string()))?;
    if size > body_limit(report.children.len()) {
        return Err(Error::TooLarge);
    }
    Ok(report)
}

/// Refuses a version more than `settings.max_version_jump` past the latest version of `org` on
/// `campaign` stored here (0 when none is).
pub async fn version_jump(
    store: &Store,
    org: &OrgCode,
    campaign: &str,
    version: Version,
    settings: &IntakeSettings,
) -> Result<(), Error> {
    let (counted,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM reports WHERE org = $1 AND campaign = $2")
            .bind(org.as_str().to_string())
            .bind(campaign.to_string())
            .fetch_one(&store.pool)
            .await
            .map_err(store::Error::from)?;
    let counted = counted.unwrap_or(0);
    let limit = counted + i64::from(settings.max_version_jump);
    if version.to_db() > limit {
        return Err(Error::Unprocessable(format!(
            "version {version} jumps past {org}'s counted version {counted} by more than {} (hub.toml [intake] max_version_jump); the next version is at most {limit} / 版本号跳跃过大",
            settings.max_version_jump
        )));
    }
    Ok(())
}
