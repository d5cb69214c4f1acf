//! Containment (issue 12): a child whose report this hub cannot forward never blocks its siblings.
//! Its latest report is screened with the strict intake its parent runs
//! (`bangfu_shared::protocol::intake`, a county's report inside a hub's); one that fails (stored
//! before the check existed, or by a tampered store) is left out of this hub's sums and of its
//! report upward, named in that report's `held_back` with the fault and where, and shown here as a
//! `held_back` finding. The rest go up as before.

use std::collections::BTreeMap;

use bangfu_shared::protocol::intake::{self, HeldBack, Kind};
use bangfu_shared::template::Template;

use crate::error::Error;
use crate::store::{self, Store};

/// The finding's rule id in a rollup.
pub const RULE: &str = "held_back";

/// Which of `reports` (each child's latest, by org, as the exact text stored and forwarded)
/// cannot be forwarded, and why.
pub fn screen<'a>(
    t: &Template,
    reports: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, HeldBack> {
    reports
        .into_iter()
        .filter_map(|(org, body)| {
            let refusal = intake::check_body(t, Kind::County, body.as_bytes()).err()?;
            tracing::warn!(org, fault = ?refusal.fault, path = %refusal.path, "a child's report cannot be forwarded; held back");
            Some((org.to_string(), HeldBack::from(&refusal)))
        })
        .collect()
}

/// The registered children of this hub whose latest report on `campaign` is held back.
pub async fn held_back(
    store: &Store,
    t: &Template,
    campaign: &str,
) -> Result<BTreeMap<String, HeldBack>, Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT r.org, r.body FROM reports r JOIN orgs o ON o.code = r.org
         WHERE r.campaign = $1 AND r.version = (SELECT MAX(x.version) FROM reports x WHERE x.org = r.org AND x.campaign = r.campaign)",
    )
    .bind(campaign.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(store::Error::from)?;
    // Only counties' reports are forwarded; a province's children (prefectures) are not screened.
    let bodies = rows.iter().filter(|(org, _)| {
        bangfu_shared::org::OrgCode::parse(org)
            .is_ok_and(|o| o.level() == bangfu_shared::org::Level::County)
    });
    Ok(screen(t, bodies.map(|(o, b)| (o.as_str(), b.as_str()))))
}
