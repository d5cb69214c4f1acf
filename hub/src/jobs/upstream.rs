//! A hub is also a child (DESIGN.md, "Data flow" 1 and 4): a hub initialised with `--parent` takes
//! its campaigns from the parent, and sends the parent its own report, the rollup of its children
//! with their reports embedded as received, whenever that rollup changes.
//!
//! The report versions wait in the `upstream` table (the hub's outbox) until the parent acknowledges
//! them, so a restart neither loses one nor sends a new version for unchanged content. One worker
//! ([`run`]) does all of it, so versions are numbered without races.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bangfu_client::{Outcome, Parent, telemetry};
use std::collections::BTreeMap;

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::intake::{Fault, HeldBack};
use bangfu_shared::protocol::{CampaignId, ContentHash, Envelope, OutboxState, Version};
use bangfu_shared::report::{Cell, Report};
use chrono::{DateTime, Utc};
use rand::Rng as _;
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::app::Hub;
use crate::campaigns::{self, Campaign, changes};
use crate::rollup::{self, RollupCell};
use crate::store::{self, Store};

/// What can go wrong on the way up. Logged and retried by the worker; said once by `bangfu-hub pull`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The parent could not be asked for its campaigns, or answered something else.
    #[error("fetching the parent's campaigns: {0}")]
    Campaigns(#[source] bangfu_client::Error),
    /// A campaign from the parent could not be stored.
    #[error("storing campaign {id}: {source}")]
    StoreCampaign {
        id: CampaignId,
        #[source]
        source: crate::error::Error,
    },
    /// This hub's own report could not be built or queued.
    #[error("recomputing this hub's report: {0}")]
    Report(#[from] crate::error::Error),
    /// No such campaign here.
    #[error("no campaign `{0}` on this hub / 没有该填报任务")]
    NoCampaign(CampaignId),
    /// The hub has no parent to send to.
    #[error("this hub has no parent (hub.toml `parent`) / 未配置上级")]
    NoParent,
    /// The client to the parent could not be set up from the hub's TLS folder.
    #[error("setting up the client to the parent hub: {0}")]
    Client(#[source] bangfu_client::Error),
    /// Queued, and the parent did not take it yet.
    #[error("the parent did not take it yet; next attempt at {0}")]
    NotYet(DateTime<Utc>),
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        Error::Report(e.into())
    }
}

/// The longest wait between two delivery attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The wait after the `attempts`-th failed delivery: 1 s doubling up to a minute, times `jitter`
/// (clamped to ±20%, so hubs that lost their parent together do not return together).
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let base = Duration::from_secs(1u64 << attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    base.mul_f64(jitter.clamp(0.8, 1.2))
}

/// How the intake tells the worker that a child's report was accepted: a wake-up, and the trace
/// that report came in on, so the send upward continues it (one trace from county to province).
#[derive(Default)]
pub struct Changed {
    notify: Notify,
    trace: Mutex<Option<String>>,
}

impl Changed {
    /// Called in the accepting request's span.
    pub fn report_accepted(&self) {
        if let Some(tp) = telemetry::traceparent() {
            *self.trace.lock().expect("not poisoned") = Some(tp);
        }
        self.notify.notify_one();
    }

    fn take_trace(&self) -> Option<String> {
        self.trace.lock().expect("not poisoned").take()
    }
}

/// Where campaigns taken from the parent are marked as coming from.
pub const ORIGIN: &str = "parent";

/// Fetches the parent's campaigns (conditional on `etag`), stores the new ones with origin `parent`
/// and applies changes to those already held (a moved due or end date flows down). Returns the new
/// ETag, or the old one when unchanged, and how many campaigns were new or changed (a newer
/// revocation list kept counts as one change: it can change what this hub counts).
pub async fn sync_campaigns(
    hub: &Hub,
    parent: &Parent,
    etag: Option<String>,
) -> Result<(Option<String>, usize), Error> {
    let store = &hub.store;
    let Some((list, tag)) = parent
        .campaign_list(etag.as_deref())
        .await
        .map_err(Error::Campaigns)?
    else {
        return Ok((etag, 0));
    };
    // The CA's revocation list first, so a revoked child is refused from this sync on. It is
    // kept only under the CA's signature and only when newer than the one held.
    // A newer list can take a child's version out of the count (a stolen certificate revoked):
    // this hub's report upward must then be recomputed, though no campaign changed. Before, a
    // prefecture without the CA kept sending the revoked version's figures until a child pushed.
    let mut added = match &list.crl {
        Some(pem) => usize::from(keep_crl(hub, pem)),
        None => 0,
    };
    for campaign in list.campaigns {
        match changes::store_from_parent(store, &campaign, ORIGIN)
            .await
            .map_err(|source| Error::StoreCampaign {
                id: campaign.id.clone(),
                source,
            })? {
            changes::Applied::New => {
                tracing::info!(campaign = %campaign.id, "campaign received from the parent");
                added += 1;
            }
            changes::Applied::Updated => {
                tracing::info!(campaign = %campaign.id, "campaign changed by the parent");
                added += 1;
            }
            changes::Applied::Unchanged => {}
        }
    }
    Ok((tag, added))
}

/// Keeps each list in `pem` (the parent's `crl`) that is signed by this hub's CA and newer than its
/// own; a list that is not is logged and ignored (a parent may withhold a list, not forge one).
/// Returns whether a newer list was kept.
fn keep_crl(hub: &Hub, pem: &str) -> bool {
    let revocations = match crate::signed::revocations(&hub.config) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot keep the parent's revocation list");
            return false;
        }
    };
    let mut newer = false;
    for block in pem.split_inclusive("-----END X509 CRL-----") {
        if !block.contains("-----BEGIN") {
            continue;
        }
        match revocations.offer(block.trim_start()) {
            Ok(offered) => {
                tracing::debug!(?offered, "revocation list from the parent");
                newer |= !matches!(offered, bangfu_client::crl::Offered::NotNewer { .. });
            }
            Err(e) => {
                tracing::warn!(error = %e, "a revocation list from the parent is refused")
            }
        }
    }
    newer
}

/// This hub's report on `campaign`: its rollup's cells, with its children's latest reports embedded
/// exactly as received, numbered with the stored rollup version it was made from (so the parent's
/// `sources` name the same version this hub's `bangfu-hub rollup --version` prints). None while no
/// child has reported.
pub async fn own_report(hub: &Hub, campaign: &Campaign) -> Result<Option<Report>, Error> {
    let store = &hub.store;
    let t = campaign.template().map_err(|e| {
        crate::error::Error::Unprocessable(format!("the campaign's template does not load: {e}"))
    })?;
    // The cells and the embedded reports are two reads; a child's version accepted between them
    // would make cells that are not the sum of the embedded reports, which the parent flags. Read
    // both again until they agree on every child's version. The children first, so that an empty
    // rollup is not stored as a version for nothing.
    let verifier = hub.verifier();
    let (r, children, held_back) = loop {
        let (children, held_back) = forwardable(store, &t, campaign, &verifier).await?;
        if children.is_empty() {
            return Ok(None);
        }
        let r = hub.rollup(&campaign.id).await?;
        if same_versions(&r, &children) {
            break (r, children, held_back);
        }
        tracing::debug!(campaign = %campaign.id, "a child's report arrived while this hub's report was built; building it again");
    };
    let version = r.version;
    // The review each embedded report got here goes up with it (the parent sees what was accepted below it).
    let mut reviews = crate::review::marks(store, &campaign.id)
        .await
        .map_err(crate::error::Error::from)?;
    reviews.retain(|org, _| children.iter().any(|c| c.org.as_str() == org.as_str()));
    let children = children.into_iter().map(|c| c.envelope).collect();
    let mut cells = std::collections::BTreeMap::new();
    for (code, cell) in r.cells {
        let c = match cell {
            RollupCell::Value { value } => Cell::rolled_up(value),
            RollupCell::Range {
                lower,
                upper: Some(upper),
            } => Cell::bounds(lower, upper).unwrap_or_else(Cell::suppressed),
            // Nothing bounds it from above: the parent learns only that it is withheld.
            RollupCell::Range { upper: None, .. } | RollupCell::Suppressed { .. } => {
                Cell::suppressed()
            }
        };
        cells.insert(code, c);
    }
    Ok(Some(Report {
        org: hub.config.org.clone(),
        template: t.id.clone(),
        campaign: Some(campaign.id.clone()),
        as_of: campaign.end,
        version,
        threshold: t.disclosure.threshold,
        cells,
        failed_rules: vec![],
        pending_rules: vec![],
        children,
        reviews,
        held_back,
        // A hub's report is a sum over its children: no archive snapshot of its own.
        counted_on: None,
    }))
}

/// A county report this hub forwards: its exact bytes and signature, as received.
struct Forwarded {
    org: OrgCode,
    version: Version,
    envelope: Envelope,
}

/// Each registered child's counted report on `campaign` that can be forwarded, byte for byte with
/// its signature, and the children held back with why: a report the strict intake above would
/// refuse, or one without a signature (stored before signatures).
async fn forwardable(
    store: &Store,
    t: &bangfu_shared::template::Template,
    campaign: &Campaign,
    verifier: &crate::signed::Verifier,
) -> Result<(Vec<Forwarded>, BTreeMap<String, HeldBack>), Error> {
    let counted = rollup::counted(store, campaign.id.as_str(), verifier).await?;
    let mut held_back =
        crate::containment::screen(t, counted.iter().map(|c| (c.org.as_str(), c.body.as_str())));
    let mut out = vec![];
    for c in counted {
        if held_back.contains_key(c.org.as_str()) {
            continue;
        }
        let Some(jws) = c.jws else {
            tracing::warn!(org = %c.org, "a child's report stored before signatures cannot be forwarded; held back");
            held_back.insert(
                c.org.as_str().to_string(),
                HeldBack {
                    fault: Fault::BadSignature,
                    path: "$".into(),
                },
            );
            continue;
        };
        out.push(Forwarded {
            org: c.org,
            version: c.version,
            envelope: Envelope {
                report: c.body,
                jws,
            },
        });
    }
    Ok((out, held_back))
}

/// Whether a rollup was made of exactly the child reports `embedded` (each child at the same version).
fn same_versions(r: &rollup::Rollup, embedded: &[Forwarded]) -> bool {
    let mut rolled: Vec<(&str, Version)> = r
        .children
        .iter()
        .map(|c| (c.org.as_str(), c.version))
        .collect();
    let mut bodies: Vec<(&str, Version)> = embedded
        .iter()
        .map(|c| (c.org.as_str(), c.version))
        .collect();
    rolled.sort();
    bodies.sort();
    rolled == bodies
}

/// The report without its version, for "did the content change?".
fn content(body: &str) -> Option<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.as_object_mut()?.remove("version");
    Some(v)
}

/// Recomputes this hub's report on `campaign` and queues it as a new version when its content
/// differs from the latest queued one. Returns the new version, if any.
pub async fn record(hub: &Hub, campaign: &Campaign) -> Result<Option<Version>, Error> {
    let (store, now) = (&hub.store, hub.now());
    let latest: Option<(i64, String)> = sqlx::query_as(
        "SELECT version, body FROM upstream WHERE campaign = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(campaign.id.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(store::Error::from)?;
    let latest = latest
        .map(|(v, body)| {
            Version::from_db(v)
                .map(|v| (v, body))
                .map_err(|e| store::Error::Corrupt(format!("the upstream table: {e}")))
        })
        .transpose()?;
    let Some(mut report) = own_report(hub, campaign).await? else {
        return Ok(None);
    };
    if latest.as_ref().is_some_and(|(_, b)| {
        content(b) == content(&serde_json::to_string(&report).expect("a report serialises"))
    }) {
        return Ok(None);
    }
    // The rollup's version; above the last one queued in any case (versions queued before rollups
    // were stored may be higher), as the parent keeps the highest.
    let version = report
        .version
        .max(latest.as_ref().map_or(Version::FIRST, |(v, _)| v.next()));
    report.version = version;
    let body = serde_json::to_string(&report).expect("a report serialises");
    sqlx::query(
        "INSERT INTO upstream (campaign, version, hash, body, created_at, state, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $5)",
    )
    .bind(campaign.id.to_string())
    .bind(version.to_db())
    .bind(ContentHash::of(body.as_bytes()).to_string())
    .bind(body)
    .bind(now.to_rfc3339())
    .bind(OutboxState::Pending.as_str())
    .execute(&store.pool)
    .await
    .map_err(store::Error::from)?;
    tracing::info!(campaign = %campaign.id, %version, "own report queued for the parent");
    Ok(Some(version))
}

/// Sends every queued version whose time has come, oldest first. Returns when the next attempt is
/// due, if any version is still queued.
pub async fn drain(
    store: &Store,
    parent: &Parent,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let rows: Vec<(String, i64, String, i64, String)> = sqlx::query_as(
        "SELECT campaign, version, body, attempts, next_attempt_at FROM upstream WHERE state = $1 ORDER BY campaign, version",
    )
    .bind(OutboxState::Pending.as_str())
    .fetch_all(&store.pool)
    .await
    .map_err(store::Error::from)?;
    let mut next: Option<DateTime<Utc>> = None;
    for (campaign, version, body, attempts, at) in rows {
        let at = DateTime::parse_from_rfc3339(&at)
            .map_err(|e| store::Error::Corrupt(format!("upstream time `{at}`: {e}")))?
            .with_timezone(&Utc);
        if at > now {
            next = Some(next.map_or(at, |n| n.min(at)));
            continue;
        }
        let (state, attempts, next_at, error) = match parent.post_report(body.as_bytes()).await {
            Outcome::Stored { duplicate, .. } => {
                tracing::info!(campaign = %campaign, version, duplicate, "own report delivered to the parent");
                (OutboxState::Acked, attempts + 1, now, None)
            }
            Outcome::Refused { status, detail } => {
                tracing::error!(campaign = %campaign, version, status, detail = %detail, "the parent refused this hub's report; not retried");
                (
                    OutboxState::Refused,
                    attempts + 1,
                    now,
                    Some(format!("{status}: {detail}")),
                )
            }
            Outcome::Unavailable { status, detail } => {
                let wait = backoff((attempts + 1) as u32, rand::rng().random_range(0.8..=1.2));
                let at = now + chrono::Duration::from_std(wait).expect("a minute fits");
                tracing::warn!(campaign = %campaign, version, status, detail = %detail, retry_in_ms = wait.as_millis() as u64, "the parent is unavailable");
                next = Some(next.map_or(at, |n| n.min(at)));
                (OutboxState::Pending, attempts + 1, at, Some(detail))
            }
        };
        sqlx::query("UPDATE upstream SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4 WHERE campaign = $5 AND version = $6")
            .bind(state.as_str())
            .bind(attempts)
            .bind(next_at.to_rfc3339())
            .bind(error)
            .bind(campaign)
            .bind(version)
            .execute(&store.pool)
            .await
            .map_err(store::Error::from)?;
    }
    Ok(next)
}

/// After a report came in outside a serving hub (`bangfu-hub pull`): queue this hub's changed report
/// on `campaign` and deliver what is due to its parent once. What is not delivered stays queued for
/// the serving hub's worker.
pub async fn send_now(hub: &Hub, campaign: &CampaignId) -> Result<(), Error> {
    let url = hub.config.parent.as_deref().ok_or(Error::NoParent)?;
    let c = campaigns::get(&hub.store, campaign.as_str())
        .await?
        .ok_or_else(|| Error::NoCampaign(campaign.clone()))?;
    record(hub, &c).await?;
    let parent = Parent::pinned(url, &hub.config.tls, hub.config.parent_org().as_ref())
        .map_err(Error::Client)?;
    if let Some(at) = drain(&hub.store, &parent, hub.now()).await? {
        return Err(Error::NotYet(at));
    }
    Ok(())
}

/// Recomputes this hub's report on every campaign it holds (queueing the changed ones).
async fn record_all(hub: &Hub) -> Result<(), Error> {
    for c in campaigns::list(&hub.store).await? {
        record(hub, &c).await?;
    }
    Ok(())
}

/// The hub's life as a child, until the task is stopped: sync campaigns every `interval`, and on
/// start, on each `changed` notification (a child's report accepted) and after new campaigns,
/// recompute and deliver its own reports, retrying with backoff. Failures are logged and retried,
/// never fatal.
pub async fn run(hub: Hub, parent: Parent, interval: Duration, changed: Arc<Changed>) {
    let store = &hub.store;
    let mut etag = None;
    let mut next_sync = tokio::time::Instant::now();
    let mut dirty = true;
    // Reviews are made by the `review` command, another process: a changed count of decisions makes
    // the report (which carries them) be recomputed; the parent's review of ours is fetched each interval.
    let (mut reviews_seen, mut next_review_fetch) = (None, tokio::time::Instant::now());
    loop {
        if let Ok(n) = crate::review::count(store).await
            && reviews_seen.replace(n) != Some(n)
        {
            dirty = true;
        }
        if tokio::time::Instant::now() >= next_review_fetch {
            crate::review::fetch_own(store, &hub.config.org, &parent, hub.now()).await;
            next_review_fetch = tokio::time::Instant::now() + interval;
        }
        let span = tracing::info_span!("upstream");
        if let Some(tp) = changed.take_trace() {
            telemetry::continue_trace(&span, &tp);
        }
        let wait = pass(
            &hub,
            &parent,
            interval,
            &mut etag,
            &mut next_sync,
            &mut dirty,
        )
        .instrument(span)
        .await;
        tokio::select! {
            _ = changed.notify.notified() => dirty = true,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass of [`run`]: sync campaigns when due, recompute when `dirty`, deliver what is due.
/// Returns how long to sleep before the next pass unless woken.
async fn pass(
    hub: &Hub,
    parent: &Parent,
    interval: Duration,
    etag: &mut Option<String>,
    next_sync: &mut tokio::time::Instant,
    dirty: &mut bool,
) -> Duration {
    if tokio::time::Instant::now() >= *next_sync {
        match sync_campaigns(hub, parent, etag.clone()).await {
            Ok((tag, added)) => {
                *etag = tag;
                *dirty |= added > 0;
            }
            Err(e) => tracing::warn!(
                error = %e,
                "campaign sync failed; retrying at the next interval"
            ),
        }
        *next_sync = tokio::time::Instant::now() + interval;
    }
    if *dirty {
        match record_all(hub).await {
            Ok(()) => *dirty = false,
            Err(e) => tracing::error!(error = %e, "recomputing this hub's report failed"),
        }
    }
    let mut wait = next_sync.saturating_duration_since(tokio::time::Instant::now());
    match drain(&hub.store, parent, hub.now()).await {
        Ok(Some(at)) => wait = wait.min((at - hub.now()).to_std().unwrap_or(Duration::ZERO)),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "delivering this hub's reports failed");
            wait = wait.min(Duration::from_secs(1));
        }
    }
    if *dirty {
        wait = wait.min(Duration::from_secs(1));
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollup_of(children: &[(&str, u32)]) -> rollup::Rollup {
        let org = |c: &str| bangfu_shared::org::OrgCode::parse(c).unwrap();
        let child = |(c, v): &(&str, u32)| rollup::Rollup {
            campaign: CampaignId::parse("c").unwrap(),
            org: org(c),
            name: c.to_string(),
            version: Version::new(*v),
            completeness: None,
            cells: Default::default(),
            issues: vec![],
            sources: vec![],
            children: vec![],
            review: None,
        };
        rollup::Rollup {
            children: children.iter().map(child).collect(),
            ..child(&("H", 0))
        }
    }

    #[test]
    fn a_rollup_made_before_a_childs_newer_version_arrived_is_not_sent_with_it() {
        let embedded = |children: &[(&str, u32)]| -> Vec<Forwarded> {
            children
                .iter()
                .map(|(o, v)| Forwarded {
                    org: OrgCode::parse(o).unwrap(),
                    version: Version::new(*v),
                    envelope: Envelope {
                        report: String::new(),
                        jws: String::new(),
                    },
                })
                .collect()
        };
        let rolled = rollup_of(&[("H01", 1), ("H02", 3)]);
        assert!(same_versions(&rolled, &embedded(&[("H02", 3), ("H01", 1)])));
        assert!(
            !same_versions(&rolled, &embedded(&[("H01", 2), ("H02", 3)])),
            "H01's version 2 arrived between the reads"
        );
        assert!(
            !same_versions(&rolled, &embedded(&[("H01", 1), ("H02", 3), ("H03", 1)])),
            "H03's first report arrived between the reads"
        );
    }

    #[test]
    fn backoff_doubles_from_a_second_up_to_a_minute() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(1, 5.0), Duration::from_millis(1200));
    }
}
