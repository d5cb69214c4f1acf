//! Review (审核): the hub's people check each child's report and accept it (已核准) or return it with a
//! reason (已退回), as the prefecture "检查核准"s what its counties report (seed 000).
//!
//! A review is of one version: (campaign, org, version). A version nobody has reviewed is pending;
//! when the child sends a newer version, that one starts pending, and the earlier decisions stay in
//! the `reviews` table as history. The child reads the state of its latest version at
//! `GET /api/v1/campaigns/{id}/reports/{org}/review` (only with its own certificate), and a hub
//! passes the states of the reports it embeds up to its parent (`Report::reviews`), so the province
//! sees what each prefecture accepted below it.

use std::collections::BTreeMap;

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, OutboxState, Version};
pub use bangfu_shared::protocol::{Review, ReviewMark, ReviewState};
use chrono::{DateTime, Utc};

use crate::store::{self, Store};
use crate::{campaigns, registry};

/// The longest reason accepted, in characters: a sentence or two, not a document.
pub const MAX_REASON: usize = 500;

/// Why a review is refused. Nothing is stored when any of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The campaign id is unknown here.
    #[error("no campaign `{0}` on this hub / 没有此填报任务")]
    NoCampaign(String),
    /// Only registered children's reports are reviewed here.
    #[error("{0} is not a registered child of this hub / {0} 不是本级登记的下级单位")]
    NotAChild(OrgCode),
    /// The child has sent nothing on the campaign yet.
    #[error(
        "no report from {org} on campaign `{campaign}` is held, nothing to review / 尚未收到该单位的报表，无可审核"
    )]
    NoReport { org: OrgCode, campaign: CampaignId },
    /// `--version` names a version the hub does not hold.
    #[error(
        "{org} version {version} of campaign `{campaign}` is not held here (held: {held}) / 未收到该版本"
    )]
    NoVersion {
        org: OrgCode,
        campaign: CampaignId,
        version: Version,
        held: String,
    },
    /// A return must say why, so the child knows what to correct.
    #[error("a return needs a reason, e.g. --return \"3B 与档案不符\" / 退回须写明原因")]
    NoReason,
    /// The reason is longer than [`MAX_REASON`].
    #[error("the reason is {0} characters, at most {MAX_REASON} are kept / 退回原因过长")]
    LongReason(usize),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(store::Error::Sql(e))
    }
}

/// On the API: a store failure stays a 500; an unknown campaign is a 404; a refused decision
/// (only made from the command line) would be a 422.
impl From<Error> for crate::error::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => crate::error::Error::Store(e),
            Error::NoCampaign(id) => crate::error::Error::NotFound(format!("no campaign `{id}`")),
            Error::NotAChild(org) => crate::error::Error::Forbidden(format!(
                "{org} is not a registered child of this hub"
            )),
            e => crate::error::Error::Unprocessable(e.to_string()),
        }
    }
}

/// What a reviewer decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept,
    /// Return, with the reason the child will read.
    Return(String),
}

/// The versions of `org`'s report on `campaign` this hub holds, oldest first.
async fn held_versions(
    store: &Store,
    campaign: &CampaignId,
    org: &OrgCode,
) -> Result<Vec<Version>, Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT version FROM reports WHERE campaign = $1 AND org = $2 ORDER BY version",
    )
    .bind(campaign.to_string())
    .bind(org.as_str().to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.into_iter().map(|(v,)| stored_version(v)).collect()
}

/// A version read back from the store.
fn stored_version(raw: i64) -> Result<Version, Error> {
    Version::from_db(raw).map_err(|e| Error::Store(store::Error::Corrupt(e.to_string())))
}

/// Records a reviewer's decision on `org`'s report on `campaign`: `version`, or the latest held.
/// Refuses (storing nothing) an unknown campaign, an org that is not a child, a child that sent
/// nothing, a version not held, and a return without a reason.
#[tracing::instrument(skip(store, decision), fields(accept = matches!(decision, Decision::Accept)))]
pub async fn decide(
    store: &Store,
    campaign: &CampaignId,
    org: &OrgCode,
    version: Option<Version>,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<Review, Error> {
    let (state, reason) = match decision {
        Decision::Accept => (ReviewState::Accepted, None),
        Decision::Return(r) => {
            let r = r.trim();
            if r.is_empty() {
                return Err(Error::NoReason);
            }
            let n = r.chars().count();
            if n > MAX_REASON {
                return Err(Error::LongReason(n));
            }
            (ReviewState::Returned, Some(r.to_string()))
        }
    };
    campaigns::get(store, campaign.as_str())
        .await?
        .ok_or_else(|| Error::NoCampaign(campaign.to_string()))?;
    if !registry::is_registered(store, org).await? {
        return Err(Error::NotAChild(org.clone()));
    }
    let held = held_versions(store, campaign, org).await?;
    let Some(&latest) = held.last() else {
        return Err(Error::NoReport {
            org: org.clone(),
            campaign: campaign.clone(),
        });
    };
    let version = match version {
        None => latest,
        Some(v) if held.contains(&v) => v,
        Some(v) => {
            let held = held
                .iter()
                .map(Version::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::NoVersion {
                org: org.clone(),
                campaign: campaign.clone(),
                version: v,
                held,
            });
        }
    };
    let at = now.to_rfc3339();
    // One statement, so the write lock is taken (waiting for it if need be) before the read: a
    // SELECT then INSERT in one SQLite transaction fails at once with "database is locked" when the
    // serving hub commits in between (seen in tests/tests/it/review.rs).
    sqlx::query(
        "INSERT INTO reviews (campaign, org, version, seq, state, reason, decided_at)
         SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, $4, $5, $6 FROM reviews WHERE campaign = $1 AND org = $2 AND version = $3",
    )
    .bind(campaign.to_string())
    .bind(org.as_str().to_string())
    .bind(version.to_db())
    .bind(state.as_str())
    .bind(reason.clone())
    .bind(at.clone())
    .execute(&store.pool)
    .await?;
    tracing::info!(org = %org, campaign = %campaign, %version, state = %state, "report reviewed");
    Ok(Review {
        campaign: campaign.clone(),
        org: org.clone(),
        version,
        state,
        reason,
        at: Some(at),
    })
}

/// The state of every child's latest version on `campaign`, by org (children that sent nothing are
/// absent). Two queries, whatever the number of children.
pub async fn states(
    store: &Store,
    campaign: &CampaignId,
) -> Result<BTreeMap<OrgCode, Review>, Error> {
    let latest: Vec<(String, i64)> =
        sqlx::query_as("SELECT org, MAX(version) FROM reports WHERE campaign = $1 GROUP BY org")
            .bind(campaign.to_string())
            .fetch_all(&store.pool)
            .await?;
    let decided: Vec<(String, i64, String, Option<String>, String)> =
        sqlx::query_as("SELECT org, version, state, reason, decided_at FROM reviews WHERE campaign = $1 ORDER BY org, version, seq")
            .bind(campaign.to_string())
            .fetch_all(&store.pool)
            .await?;
    // The last decision on each (org, version) wins.
    let mut last: BTreeMap<(String, i64), (String, Option<String>, String)> = BTreeMap::new();
    for (org, version, state, reason, at) in decided {
        last.insert((org, version), (state, reason, at));
    }
    let mut out = BTreeMap::new();
    for (org, version) in latest {
        let code = OrgCode::parse(&org)
            .map_err(|e| store::Error::Corrupt(format!("report org `{org}`: {e}")))?;
        let review = match last.remove(&(org.clone(), version)) {
            Some((state, reason, at)) => {
                let state = ReviewState::parse(&state).ok_or_else(|| {
                    store::Error::Corrupt(format!("review state `{state}` of {org}"))
                })?;
                Review {
                    campaign: campaign.clone(),
                    org: code.clone(),
                    version: stored_version(version)?,
                    state,
                    reason,
                    at: Some(at),
                }
            }
            None => Review {
                campaign: campaign.clone(),
                org: code.clone(),
                version: stored_version(version)?,
                state: ReviewState::Pending,
                reason: None,
                at: None,
            },
        };
        out.insert(code, review);
    }
    Ok(out)
}

/// The review of `org`'s latest version on `campaign`; None when it sent nothing.
pub async fn current(
    store: &Store,
    campaign: &CampaignId,
    org: &OrgCode,
) -> Result<Option<Review>, Error> {
    campaigns::get(store, campaign.as_str())
        .await?
        .ok_or_else(|| Error::NoCampaign(campaign.to_string()))?;
    Ok(states(store, campaign).await?.remove(org))
}

/// Every decision made on `org`'s reports on `campaign`, in order (the history a return leaves).
pub async fn history(
    store: &Store,
    campaign: &CampaignId,
    org: &OrgCode,
) -> Result<Vec<Review>, Error> {
    let rows: Vec<(i64, String, Option<String>, String)> =
        sqlx::query_as("SELECT version, state, reason, decided_at FROM reviews WHERE campaign = $1 AND org = $2 ORDER BY version, seq")
            .bind(campaign.to_string())
            .bind(org.as_str().to_string())
            .fetch_all(&store.pool)
            .await?;
    rows.into_iter()
        .map(|(version, state, reason, at)| {
            let state = ReviewState::parse(&state)
                .ok_or_else(|| store::Error::Corrupt(format!("review state `{state}` of {org}")))?;
            Ok(Review {
                campaign: campaign.clone(),
                org: org.clone(),
                version: stored_version(version)?,
                state,
                reason,
                at: Some(at),
            })
        })
        .collect()
}

/// The marks a hub sends up with its report: each child's latest version and its state here.
pub async fn marks(
    store: &Store,
    campaign: &CampaignId,
) -> Result<BTreeMap<String, ReviewMark>, Error> {
    Ok(states(store, campaign)
        .await?
        .into_iter()
        .map(|(org, r)| (org.to_string(), r.mark()))
        .collect())
}

/// How many decisions the store holds: it only grows, so a change says a review was made (the
/// upstream worker recomputes its report then, without being told by the `review` command).
pub async fn count(store: &Store) -> Result<i64, Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reviews")
        .fetch_one(&store.pool)
        .await?;
    Ok(n)
}

/// The review a hub's own report got from its parent, as the upstream worker last fetched it.
pub async fn store_own(store: &Store, r: &Review, now: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO own_reviews (campaign, version, state, reason, decided_at, fetched_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (campaign, version) DO UPDATE SET state = excluded.state, reason = excluded.reason,
         decided_at = excluded.decided_at, fetched_at = excluded.fetched_at",
    )
    .bind(r.campaign.to_string())
    .bind(r.version.to_db())
    .bind(r.state.as_str())
    .bind(r.reason.clone())
    .bind(r.at.clone())
    .bind(now.to_rfc3339())
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Fetches from the parent the review of this hub's own latest report on each campaign it has
/// delivered, and stores it (`own_reviews`). Failures are logged and tried again next time.
pub async fn fetch_own(
    store: &Store,
    org: &OrgCode,
    parent: &bangfu_client::Parent,
    now: DateTime<Utc>,
) {
    let campaigns: Vec<(String,)> = match sqlx::query_as(
        "SELECT DISTINCT campaign FROM upstream WHERE state = $1 ORDER BY campaign",
    )
    .bind(OutboxState::Acked.as_str())
    .fetch_all(&store.pool)
    .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "listing delivered campaigns for their reviews failed");
            return;
        }
    };
    for (campaign,) in campaigns {
        let Ok(campaign) = CampaignId::parse(&campaign) else {
            tracing::warn!(campaign = %campaign, "an unreadable campaign id in the upstream table; its review is not fetched");
            continue;
        };
        match parent.review(&campaign, org).await {
            Ok(Some(r)) => {
                if let Err(e) = store_own(store, &r, now).await {
                    tracing::warn!(campaign = %campaign, error = %e, "storing the parent's review failed");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(campaign = %campaign, error = %e, "fetching the parent's review failed; tried again next interval")
            }
        }
    }
}

/// The latest review the parent gave this hub's own report on `campaign`, as last fetched:
/// (version, state, reason, decided at).
pub async fn own(
    store: &Store,
    campaign: &CampaignId,
) -> Result<Option<(Version, ReviewState, Option<String>, Option<String>)>, Error> {
    let row: Option<(i64, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT version, state, reason, decided_at FROM own_reviews WHERE campaign = $1 ORDER BY version DESC LIMIT 1")
            .bind(campaign.to_string())
            .fetch_optional(&store.pool)
            .await?;
    row.map(|(v, state, reason, at)| -> Result<_, Error> {
        let st = ReviewState::parse(&state)
            .ok_or_else(|| store::Error::Corrupt(format!("own review state `{state}`")))?;
        Ok((stored_version(v)?, st, reason, at))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Org;

    fn sn() -> CampaignId {
        CampaignId::parse("sn").unwrap()
    }

    fn v(n: u32) -> Version {
        Version::new(n)
    }

    fn code(s: &str) -> OrgCode {
        OrgCode::parse(s).unwrap()
    }

    /// A store with campaign `sn` and children H01, H02 registered; no reports yet.
    async fn seeded(url: &str) -> Store {
        let store = Store::open(url).await.unwrap();
        let c = crate::campaigns::fixtures::songnuan();
        campaigns::create(&store, &c, "local").await.unwrap();
        for o in ["H01", "H02"] {
            registry::add(
                &store,
                &Org {
                    code: code(o),
                    name: "县总工会".into(),
                    email: None,
                    webhook: None,
                },
            )
            .await
            .unwrap();
        }
        store
    }

    /// The CLI's review while the serving hub commits to the same SQLite file (two stores, as two
    /// processes): every decision is recorded, none fails with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_review_is_recorded_while_the_serving_hub_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::config::sqlite_url(dir.path());
        let cli = seeded(&url).await;
        receive(&cli, "H01", 1).await;
        let serving = Store::open(&url).await.unwrap();
        let writer = tokio::spawn(async move {
            for v in 1..=300u32 {
                receive(&serving, "H02", v).await;
            }
        });
        for i in 0..60 {
            let d = if i % 2 == 0 {
                Decision::Accept
            } else {
                Decision::Return("核实".into())
            };
            decide(&cli, &sn(), &code("H01"), Some(v(1)), &d, Utc::now())
                .await
                .unwrap_or_else(|e| panic!("decision {i}: {e}"));
        }
        writer.await.unwrap();
        assert_eq!(history(&cli, &sn(), &code("H01")).await.unwrap().len(), 60);
    }

    /// A version as the intake stores it (the review reads only its key).
    async fn receive(store: &Store, org: &str, version: u32) {
        sqlx::query("INSERT INTO reports (org, campaign, version, hash, body, received_at, on_time) VALUES ($1, 'sn', $2, $3, '{}', $4, 1)")
            .bind(org.to_string())
            .bind(i64::from(version))
            .bind(format!("h{version}"))
            .bind(Utc::now().to_rfc3339())
            .execute(&store.pool)
            .await
            .unwrap();
    }

    async fn refusals_store_nothing(store: &Store) {
        let now = Utc::now();
        let ret = Decision::Return("3B 与档案不符".into());
        let e = decide(
            store,
            &CampaignId::parse("nope").unwrap(),
            &code("H01"),
            None,
            &Decision::Accept,
            now,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::NoCampaign(_)), "{e}");
        let e = decide(store, &sn(), &code("H09"), None, &ret, now)
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::NotAChild(_)) && e.to_string().contains("H09"),
            "{e}"
        );
        let e = decide(store, &sn(), &code("H01"), None, &Decision::Accept, now)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NoReport { .. }), "{e}");
        receive(store, "H01", 1).await;
        let e = decide(
            store,
            &sn(),
            &code("H01"),
            Some(v(2)),
            &Decision::Accept,
            now,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, Error::NoVersion { version, .. } if version == v(2))
                && e.to_string().contains("held: 1"),
            "{e}"
        );
        let e = decide(
            store,
            &sn(),
            &code("H01"),
            None,
            &Decision::Return("  ".into()),
            now,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::NoReason), "{e}");
        let e = decide(
            store,
            &sn(),
            &code("H01"),
            None,
            &Decision::Return("x".repeat(MAX_REASON + 1)),
            now,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::LongReason(_)), "{e}");
        assert_eq!(count(store).await.unwrap(), 0);
    }

    async fn a_return_is_superseded_by_the_next_version(store: &Store) {
        let now = Utc::now();
        let h01 = code("H01");
        assert_eq!(
            current(store, &sn(), &h01).await.unwrap().unwrap().state,
            ReviewState::Pending
        );

        let r = decide(
            store,
            &sn(),
            &h01,
            None,
            &Decision::Return(" 3B 与档案不符 ".into()),
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            (r.version.get(), r.state, r.reason.as_deref()),
            (1, ReviewState::Returned, Some("3B 与档案不符"))
        );
        let c = current(store, &sn(), &h01).await.unwrap().unwrap();
        assert_eq!(
            (c.version.get(), c.state, c.reason.as_deref()),
            (1, ReviewState::Returned, Some("3B 与档案不符"))
        );

        // The child corrects and sends version 2: pending again, the return kept as history.
        receive(store, "H01", 2).await;
        let c = current(store, &sn(), &h01).await.unwrap().unwrap();
        assert_eq!(
            (c.version.get(), c.state, c.reason, c.at),
            (2, ReviewState::Pending, None, None)
        );

        let r = decide(store, &sn(), &h01, None, &Decision::Accept, now)
            .await
            .unwrap();
        assert_eq!(
            (r.version.get(), r.state, r.reason),
            (2, ReviewState::Accepted, None)
        );
        // A decision on an older version is history; it does not change the latest's state.
        decide(store, &sn(), &h01, Some(v(1)), &Decision::Accept, now)
            .await
            .unwrap();
        assert_eq!(
            current(store, &sn(), &h01).await.unwrap().unwrap().state,
            ReviewState::Accepted
        );
        let h: Vec<(u32, ReviewState)> = history(store, &sn(), &h01)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.version.get(), r.state))
            .collect();
        assert_eq!(
            h,
            [
                (1, ReviewState::Returned),
                (1, ReviewState::Accepted),
                (2, ReviewState::Accepted)
            ]
        );

        // What goes up: each child's latest version and its state; H02 sent nothing, so is absent.
        let m = marks(store, &sn()).await.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(
            m["H01"],
            ReviewMark {
                version: v(2),
                state: ReviewState::Accepted
            }
        );
        assert_eq!(count(store).await.unwrap(), 3);
    }

    async fn check(url: &str) {
        let store = seeded(url).await;
        refusals_store_nothing(&store).await;
        a_return_is_superseded_by_the_next_version(&store).await;
        store.close().await;
    }

    #[tokio::test]
    async fn review_states_move_as_documented_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        check(&crate::config::sqlite_url(dir.path())).await;
    }

    #[tokio::test]
    async fn review_states_move_as_documented_on_postgresql() {
        let Ok(admin) = std::env::var("BANGFU_TEST_DATABASE_URL") else {
            println!("skipping PostgreSQL: set BANGFU_TEST_DATABASE_URL");
            return;
        };
        sqlx::any::install_default_drivers();
        let name = format!(
            "bangfu_review_{}_{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap()
        );
        let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        check(&format!("{base}/{name}")).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
}
