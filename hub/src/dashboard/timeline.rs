//! Completeness over time: when each child first reported, and, at a province, when each county
//! first arrived inside its prefecture's report. Read from the `reports` table's arrival times;
//! which counties a prefecture's version carried is read once per version and kept (a stored
//! version never changes), so a redraw reads only the versions that are new since the last.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bangfu_shared::protocol::CampaignId;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::store::{self, Store};

/// The counties each stored hub-child version embeds, by (campaign, org, version).
#[derive(Default)]
pub struct Cache(Mutex<HashMap<(String, String, i64), Vec<String>>>);

/// First arrivals, in time order: of each child, and of each grandchild (through any hub child).
#[derive(Debug, Default, PartialEq)]
pub struct Arrivals {
    pub children: Vec<(String, DateTime<Utc>)>,
    pub grandchildren: Vec<(String, DateTime<Utc>)>,
}

/// Just the embedded reports of a hub's report (the rest of the body is skipped, not built). Each
/// is a signed envelope whose `report` is the county's exact text (`protocol::Envelope`).
#[derive(Deserialize)]
struct Embeds {
    #[serde(default)]
    children: Vec<Embedded>,
}

#[derive(Deserialize)]
struct Embedded {
    report: String,
}

/// Just the org of an embedded county report.
#[derive(Deserialize)]
struct EmbeddedOrg {
    org: String,
}

impl Cache {
    /// The first arrivals on `campaign` of the orgs in `registered` (children that are no longer
    /// registered are left out, as the rollup leaves them out) and of what they embedded.
    pub async fn arrivals(
        &self,
        store: &Store,
        campaign: &CampaignId,
        registered: &[String],
    ) -> Result<Arrivals, store::Error> {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT org, version, received_at FROM reports WHERE campaign = $1 ORDER BY org, version",
        )
        .bind(campaign.to_string())
        .fetch_all(&store.pool)
        .await?;
        let mut children: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        let mut grandchildren: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for (org, version, at) in rows {
            if !registered.contains(&org) {
                continue;
            }
            let Ok(at) = DateTime::parse_from_rfc3339(&at).map(|t| t.with_timezone(&Utc)) else {
                tracing::warn!(org = %org, "dashboard: an unreadable arrival time; left out of the timeline");
                continue;
            };
            let first = children.entry(org.clone()).or_insert(at);
            *first = (*first).min(at);
            for g in self.embedded(store, campaign, &org, version).await? {
                let first = grandchildren.entry(g).or_insert(at);
                *first = (*first).min(at);
            }
        }
        let sorted = |m: BTreeMap<String, DateTime<Utc>>| {
            let mut v: Vec<_> = m.into_iter().collect();
            v.sort_by_key(|(o, t)| (*t, o.clone()));
            v
        };
        Ok(Arrivals {
            children: sorted(children),
            grandchildren: sorted(grandchildren),
        })
    }

    async fn embedded(
        &self,
        store: &Store,
        campaign: &CampaignId,
        org: &str,
        version: i64,
    ) -> Result<Vec<String>, store::Error> {
        let key = (campaign.to_string(), org.to_string(), version);
        if let Some(v) = self.0.lock().expect("not poisoned").get(&key) {
            return Ok(v.clone());
        }
        let (body,): (String,) = sqlx::query_as(
            "SELECT body FROM reports WHERE campaign = $1 AND org = $2 AND version = $3",
        )
        .bind(campaign.to_string())
        .bind(org.to_string())
        .bind(version)
        .fetch_one(&store.pool)
        .await?;
        let orgs: Vec<String> = serde_json::from_str::<Embeds>(&body)
            .and_then(|e| {
                e.children
                    .iter()
                    .map(|c| serde_json::from_str::<EmbeddedOrg>(&c.report).map(|r| r.org))
                    .collect()
            })
            .map_err(|e| store::Error::Corrupt(format!("a stored report of {org}: {e}")))?;
        self.0
            .lock()
            .expect("not poisoned")
            .insert(key, orgs.clone());
        Ok(orgs)
    }
}
