//! Pull (DESIGN.md "three users" 2: a prefecture "can also pull a child's latest report on
//! demand"): the hub asks a child that serves (`bangfu-node serve --listen`) for its latest report on
//! a campaign, over the same mutual TLS, and passes it through the same intake as a push, so it is
//! stored, versioned, judged on time or late, rolled up and sent upward exactly as if pushed.
//!
//! The hub is the client here, with its own identity; the child's server certificate must be from
//! the federation's CA (reqwest checks that, and the host name) and must name the org being pulled,
//! so a hub never files one county's report under another's name.

use bangfu_client::Parent;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, Receipt, ReceiptStatus};

use crate::app::Hub;
use crate::campaigns;
use crate::intake;
use crate::registry;
use crate::store::{self, Store};

/// Campaigns whose end is at most this many days past are still pulled (late reports and
/// corrections), as a node keeps reporting on them.
pub const OPEN_DAYS: i64 = 60;

/// Why a pull brought nothing in. Every variant says what and where; nothing is stored.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} is not a registered child of this hub / 不是本级登记的下级单位")]
    NotAChild(OrgCode),
    #[error("no campaign `{0}` on this hub / 没有该填报任务")]
    NoCampaign(CampaignId),
    #[error(
        "--address {0}: a child is pulled over mutual TLS only, give https://HOST:PORT / 地址须为 https://"
    )]
    NotHttps(String),
    #[error(
        "{0} has no address to pull from; record one with `bangfu-hub org add --code {0} --name NAME --address https://HOST:PORT` / 该下级未登记服务地址"
    )]
    NoAddress(OrgCode),
    #[error("setting up the mutual-TLS client to {org} at {address}: {source}")]
    Client {
        org: OrgCode,
        address: String,
        #[source]
        source: bangfu_client::Error,
    },
    #[error("pulling {org}'s report on `{campaign}`: {source}")]
    Fetch {
        org: OrgCode,
        campaign: CampaignId,
        #[source]
        source: bangfu_client::Error,
    },
    #[error(
        "the server at {address} has a certificate of {found}, not of {org}; nothing stored / 对方证书单位不符"
    )]
    WrongServer {
        address: String,
        found: String,
        org: OrgCode,
    },
    #[error(
        "the report pulled from {org} was refused by this hub's intake / 拉取的报表未通过审核: {source}"
    )]
    Refused {
        org: OrgCode,
        #[source]
        source: crate::error::Error,
    },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Records where child `code` serves its reports (`https://HOST:PORT`).
pub async fn set_address(store: &Store, code: &OrgCode, address: &str) -> Result<(), Error> {
    if !address.starts_with("https://") {
        return Err(Error::NotHttps(address.to_string()));
    }
    sqlx::query("UPDATE orgs SET address = $1 WHERE code = $2")
        .bind(address.trim_end_matches('/').to_string())
        .bind(code.as_str().to_string())
        .execute(&store.pool)
        .await
        .map_err(store::Error::from)?;
    Ok(())
}

/// Where child `code` serves, if it was given an address.
pub async fn address_of(store: &Store, code: &OrgCode) -> Result<Option<String>, store::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as("SELECT address FROM orgs WHERE code = $1")
        .bind(code.as_str().to_string())
        .fetch_optional(&store.pool)
        .await?;
    Ok(row.and_then(|r| r.0))
}

/// Every child with an address, by code.
pub async fn addressed(store: &Store) -> Result<Vec<(OrgCode, String)>, store::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT code, address FROM orgs WHERE address IS NOT NULL ORDER BY code")
            .fetch_all(&store.pool)
            .await?;
    rows.into_iter()
        .map(|(c, a)| {
            Ok((
                OrgCode::parse(&c).map_err(|e| store::Error::Corrupt(e.to_string()))?,
                a,
            ))
        })
        .collect()
}

/// What one pull brought.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub receipt: Receipt,
}

impl std::fmt::Display for Pulled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.receipt;
        let held = if r.status == ReceiptStatus::Accepted {
            "new / 新版本已入库"
        } else {
            "already held / 已有此版本"
        };
        let when = if r.on_time {
            "on time / 按时"
        } else {
            "late / 迟报"
        };
        write!(
            f,
            "pulled {} campaign {} version {}: {held}, {when} (sha256 {})",
            r.org, r.campaign, r.version, r.hash
        )
    }
}

/// Pulls child `org`'s latest report on `campaign` and passes it through the intake, as received now.
/// Every refusal says what and where: no such child, no address, the child unreachable or refusing,
/// a server certificate of another org, or the intake's own refusal of the report.
pub async fn pull(hub: &Hub, org: &OrgCode, campaign: &CampaignId) -> Result<Pulled, Error> {
    let store = &hub.store;
    if !registry::is_registered(store, org).await? {
        return Err(Error::NotAChild(org.clone()));
    }
    campaigns::get(store, campaign.as_str())
        .await?
        .ok_or_else(|| Error::NoCampaign(campaign.clone()))?;
    let address = address_of(store, org)
        .await?
        .ok_or_else(|| Error::NoAddress(org.clone()))?;
    let client = Parent::new(&address, &hub.config.tls).map_err(|source| Error::Client {
        org: org.clone(),
        address: address.clone(),
        source,
    })?;
    let fetched = client
        .fetch_report(campaign)
        .await
        .map_err(|source| Error::Fetch {
            org: org.clone(),
            campaign: campaign.clone(),
            source,
        })?;
    match &fetched.server_org {
        Some(o) if o == org => {}
        other => {
            return Err(Error::WrongServer {
                address,
                found: other
                    .as_ref()
                    .map_or("no org".to_string(), ToString::to_string),
                org: org.clone(),
            });
        }
    }
    // A pulled report is signed by the child as a pushed one is (the pull answer's header).
    let verifier = crate::signed::revocations(&hub.config)
        .map(crate::signed::Verifier::new)
        .map_err(|source| Error::Refused {
            org: org.clone(),
            source,
        })?;
    let report = intake::Signed {
        body: &fetched.body,
        jws: fetched.signature.as_deref(),
    };
    let receipt =
        intake::receive_with(store, org, report, hub.now(), &hub.config.intake, &verifier)
            .await
            .map_err(|source| Error::Refused {
                org: org.clone(),
                source,
            })?
            .receipt;
    tracing::info!(org = %org, campaign = %campaign, version = %receipt.version, status = %receipt.status, "report pulled");
    Ok(Pulled { receipt })
}

/// Pulls every child with an address for every open campaign (ended at most [`OPEN_DAYS`] ago).
/// Failures are logged and the round goes on; returns the reports newly accepted.
pub async fn pull_all(hub: &Hub) -> Vec<Pulled> {
    let store = &hub.store;
    let today = hub.clock.today();
    let (children, list) = match (addressed(store).await, campaigns::list(store).await) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(e), _) => {
            tracing::error!(error = %e, "scheduled pull: reading the children's addresses failed");
            return vec![];
        }
        (_, Err(e)) => {
            tracing::error!(error = %e, "scheduled pull: reading the campaigns failed");
            return vec![];
        }
    };
    let mut new = vec![];
    for c in list
        .iter()
        .filter(|c| today - c.end <= chrono::Duration::days(OPEN_DAYS))
    {
        for (org, _) in &children {
            match pull(hub, org, &c.id).await {
                Ok(p) => {
                    tracing::info!(org = %org, campaign = %c.id, version = %p.receipt.version, status = %p.receipt.status, "scheduled pull");
                    if p.receipt.status == ReceiptStatus::Accepted {
                        new.push(p);
                    }
                }
                Err(e) => {
                    tracing::warn!(org = %org, campaign = %c.id, error = %e, "scheduled pull failed; trying again at the next run")
                }
            }
        }
    }
    new
}
