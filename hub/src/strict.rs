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

/// The largest body of a county's report, and a hub's own part of its report.
pub const BODY_LIMIT: usize = 1 << 20;

/// The limit of a report body with `children` embedded reports: a per-child budget on top.
pub const fn body_limit(children: usize) -> usize {
    BODY_LIMIT + PER_CHILD_BYTES * children
}

/// The most a hub's report may be, before its children are counted.
pub const HUB_BODY_CAP: usize = body_limit(MAX_CHILDREN);

/// `peer`'s report (`body`, already read as `value`) against template `t`: the report it is, or a
/// 422 naming the field and what was wrong (413 over the body's budget).
pub fn check(
    t: &Template,
    peer: &OrgCode,
    value: &intake::Json,
    body: &str,
) -> Result<Report, Error> {
    let report = intake::check_read(t, Kind::of(peer.level()), value, body)
        .map_err(|refusal| Error::Unprocessable(refusal.to_string()))?;
    if body.len() > body_limit(report.children.len()) {
        return Err(Error::TooLarge);
    }
    Ok(report)
}

/// Refuses a version more than `settings.max_version_jump` past `newest`, the latest version of
/// `org`'s report stored here (0 when none is; the intake reads it with the rest of what it holds).
pub fn version_jump(
    newest: i64,
    org: &OrgCode,
    version: Version,
    settings: &IntakeSettings,
) -> Result<(), Error> {
    let limit = newest + i64::from(settings.max_version_jump);
    if version.to_db() > limit {
        return Err(Error::Unprocessable(format!(
            "version {version} jumps past {org}'s counted version {newest} by more than {} (hub.toml [intake] max_version_jump); the next version is at most {limit} / 版本号跳跃过大",
            settings.max_version_jump
        )));
    }
    Ok(())
}
