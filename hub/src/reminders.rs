//! Reminders (催报): a hub reminds each child that has not reported on a campaign, a few days before
//! its due date and on each day it is overdue, through the webhook registered for it
//! (`org add --webhook URL`), and keeps every reminder it made.
//!
//! A reminder is a row keyed by (campaign, org, kind), made once: `due_soon` the first round within
//! `days_before` days of the child's due date, `overdue:DAY` once per overdue day for `overdue_days`
//! days. So a restart, or two rounds on one day, neither loses a reminder nor makes one twice
//! (DESIGN.md "Time"). Delivery is separate: a reminder whose webhook did not answer 2xx stays
//! undelivered and is tried again at the next round while it is recent; one delivered is never sent
//! again. Dates are days in Asia/Shanghai.
//!
//! Rounds run at `[remind] schedule` in a serving hub, and once at its start
//! ([`crate::jobs::remind`]); `bangfu-hub remind` runs one now.

use std::collections::BTreeMap;
use std::time::Duration;

use bangfu_shared::org::OrgCode;
pub use bangfu_shared::protocol::Reminder;
use bangfu_shared::protocol::{CampaignId, ReminderKind};
use chrono::{DateTime, NaiveDate, Utc};

use crate::campaigns::{self, Campaign};
use crate::config::RemindSettings as Settings;
use crate::registry::{self, Org};
use crate::store::{self, Store};

/// Why a round stopped before it was done (what it made is stored; the next round goes on).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reminders: {0}")]
    Store(#[from] store::Error),
    #[error("building the webhook client: {0}")]
    Client(String),
}

/// What a round did.
#[derive(Debug, Default)]
pub struct Round {
    /// Reminders made in this round.
    pub made: Vec<Reminder>,
    /// Reminders (of this or an earlier round) a webhook took in this round.
    pub delivered: Vec<Reminder>,
    /// Reminders whose webhook failed this round, with why (tried again next round).
    pub failed: Vec<(Reminder, String)>,
}

/// The reminder `org` is due on `today` for `campaign`, if any (it may exist already).
pub fn due_reminder(
    settings: &Settings,
    campaign: &Campaign,
    org: &Org,
    today: NaiveDate,
) -> Option<Reminder> {
    let due = campaign.due.for_level(org.code.level())?;
    if today < campaign.start {
        return None;
    }
    let (kind, message) = if today <= due {
        let left = (due - today).num_days();
        if left > i64::from(settings.days_before) {
            return None;
        }
        let when = if left == 0 {
            "今天截止".to_string()
        } else {
            format!("还有 {left} 天")
        };
        (
            ReminderKind::DueSoon,
            format!(
                "【催报提醒】{}（{}）：{} 尚未报送，截止日期 {due}，{when}。",
                campaign.title, campaign.id, org.name
            ),
        )
    } else {
        let late = (today - due).num_days();
        if late > i64::from(settings.overdue_days) {
            return None;
        }
        (
            ReminderKind::Overdue(today),
            format!(
                "【逾期提醒】{}（{}）：{} 尚未报送，已于 {due} 截止，逾期 {late} 天，请尽快报送。",
                campaign.title, campaign.id, org.name
            ),
        )
    };
    Some(Reminder {
        campaign: campaign.id.clone(),
        title: campaign.title.clone(),
        org: org.code.clone(),
        name: org.name.clone(),
        kind,
        due,
        message,
    })
}

/// One round on `today`: makes the reminders due for children that have sent nothing on an open
/// campaign, then posts every recent undelivered reminder to its child's webhook.
pub async fn round(
    store: &Store,
    settings: &Settings,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Round, Error> {
    let mut out = Round::default();
    let orgs = registry::list(store).await?;
    for campaign in campaigns::list(store).await? {
        let reported = reported(store, &campaign.id).await?;
        for org in orgs
            .iter()
            .filter(|o| !reported.iter().any(|r| r == o.code.as_str()))
        {
            let Some(r) = due_reminder(settings, &campaign, org, today) else {
                continue;
            };
            if insert(store, &r, now).await? {
                tracing::info!(campaign = %r.campaign, org = %r.org, kind = %r.kind, "reminder made");
                out.made.push(r);
            }
        }
    }
    deliver(store, now, &mut out).await?;
    Ok(out)
}

/// Orgs that sent any version on `campaign`.
async fn reported(store: &Store, campaign: &CampaignId) -> Result<Vec<String>, store::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT org FROM reports WHERE campaign = $1")
            .bind(campaign.to_string())
            .fetch_all(&store.pool)
            .await
            .map_err(store::Error::from)?;
    Ok(rows.into_iter().map(|(o,)| o).collect())
}

/// Stores `r` unless it exists; whether it was new.
async fn insert(store: &Store, r: &Reminder, now: DateTime<Utc>) -> Result<bool, store::Error> {
    let done = sqlx::query(
        "INSERT INTO reminders (campaign, org, kind, due, message, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (campaign, org, kind) DO NOTHING",
    )
    .bind(r.campaign.to_string())
    .bind(r.org.to_string())
    .bind(r.kind.to_string())
    .bind(r.due.to_string())
    .bind(r.message.clone())
    .bind(now.to_rfc3339())
    .execute(&store.pool)
    .await
    .map_err(store::Error::from)?;
    Ok(done.rows_affected() == 1)
}

/// How long an undelivered reminder is still worth sending.
const STALE_AFTER_DAYS: i64 = 3;

/// Stored reminders with their child's webhook: those matching `filter` (an SQL condition and order on
/// `r`, with one parameter `$1`, bound to `value`).
async fn stored(
    store: &Store,
    filter: &'static str,
    value: String,
) -> Result<Vec<(Reminder, Option<String>)>, store::Error> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.campaign, c.title, r.org, o.name, r.kind, r.due, r.message, o.webhook
         FROM reminders r JOIN campaigns c ON c.id = r.campaign JOIN orgs o ON o.code = r.org {filter}"
    )))
    .bind(value)
    .fetch_all(&store.pool)
    .await?;
    rows.into_iter()
        .map(
            |(campaign, title, org, name, kind, due, message, webhook)| {
                let corrupt = |e: String| store::Error::Corrupt(format!("a stored reminder: {e}"));
                let due = NaiveDate::parse_from_str(&due, "%Y-%m-%d")
                    .map_err(|e| corrupt(format!("due date `{due}`: {e}")))?;
                let campaign = CampaignId::parse(&campaign).map_err(|e| corrupt(e.to_string()))?;
                let org = OrgCode::parse(&org).map_err(|e| corrupt(e.to_string()))?;
                let kind: ReminderKind = kind.parse().map_err(
                    |e: bangfu_shared::protocol::reminder::ReminderKindError| {
                        corrupt(e.to_string())
                    },
                )?;
                Ok((
                    Reminder {
                        campaign,
                        title,
                        org,
                        name,
                        kind,
                        due,
                        message,
                    },
                    webhook,
                ))
            },
        )
        .collect()
}

/// Posts every undelivered reminder made in the last [`STALE_AFTER_DAYS`] days to its child's
/// webhook, and marks those a webhook took (2xx).
async fn deliver(store: &Store, now: DateTime<Utc>, out: &mut Round) -> Result<(), Error> {
    let since = (now - chrono::Duration::days(STALE_AFTER_DAYS)).to_rfc3339();
    let waiting = stored(
        store,
        "WHERE r.webhook_at IS NULL AND r.created_at >= $1 ORDER BY r.created_at, r.org",
        since,
    )
    .await?;
    let waiting: Vec<(Reminder, String)> = waiting
        .into_iter()
        .filter_map(|(r, webhook)| Some((r, webhook?)))
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    // The same rustls provider as the hub's mTLS (a `remind` process has not installed it yet).
    bangfu_client::tls::install_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Client(e.to_string()))?;
    for (r, url) in waiting {
        match client.post(&url).json(&r).send().await {
            Ok(res) if res.status().is_success() => {
                sqlx::query("UPDATE reminders SET webhook_at = $1 WHERE campaign = $2 AND org = $3 AND kind = $4")
                    .bind(now.to_rfc3339())
                    .bind(r.campaign.to_string())
                    .bind(r.org.to_string())
                    .bind(r.kind.to_string())
                    .execute(&store.pool)
                    .await
                    .map_err(store::Error::from)?;
                tracing::info!(campaign = %r.campaign, org = %r.org, kind = %r.kind, "reminder delivered to the webhook");
                out.delivered.push(r);
            }
            Ok(res) => {
                let why = format!("the webhook answered {}", res.status());
                tracing::warn!(campaign = %r.campaign, org = %r.org, kind = %r.kind, why, "reminder not delivered; tried again next round");
                out.failed.push((r, why));
            }
            Err(e) => {
                // Without the URL: it may carry a token.
                let why = format!("the webhook could not be reached: {}", e.without_url());
                tracing::warn!(campaign = %r.campaign, org = %r.org, kind = %r.kind, why, "reminder not delivered; tried again next round");
                out.failed.push((r, why));
            }
        }
    }
    Ok(())
}

/// Every reminder made for `org` (newest first): for its own view over the API.
pub async fn for_org(store: &Store, org: &OrgCode) -> Result<Vec<Reminder>, store::Error> {
    let all = stored(
        store,
        "WHERE r.org = $1 ORDER BY r.created_at DESC, r.campaign, r.kind",
        org.to_string(),
    )
    .await?;
    Ok(all.into_iter().map(|(r, _)| r).collect())
}

/// Per child on `campaign`: how many reminders were made and the kind of the latest.
pub async fn made_on(
    store: &Store,
    campaign: &str,
) -> Result<BTreeMap<String, (usize, String)>, store::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT org, kind FROM reminders WHERE campaign = $1 ORDER BY created_at, kind",
    )
    .bind(campaign.to_string())
    .fetch_all(&store.pool)
    .await?;
    let mut out = BTreeMap::new();
    for (org, kind) in rows {
        let e = out.entry(org).or_insert((0, String::new()));
        *e = (e.0 + 1, kind);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::campaigns::fixtures::{day, songnuan as campaign};

    fn org(code: &str) -> Org {
        Org {
            code: OrgCode::parse(code).unwrap(),
            name: "县总工会".into(),
            email: None,
            webhook: None,
        }
    }

    #[test]
    fn a_child_is_reminded_before_its_own_due_date_and_each_overdue_day_within_the_window() {
        let (s, c) = (Settings::default(), campaign());
        let kind =
            |o: &str, d: &str| due_reminder(&s, &c, &org(o), day(d)).map(|r| r.kind.to_string());
        assert_eq!(kind("H01", "2026-02-01"), None, "four days before");
        assert_eq!(kind("H01", "2026-02-02").as_deref(), Some("due_soon"));
        assert_eq!(kind("H01", "2026-02-05").as_deref(), Some("due_soon"));
        assert_eq!(
            kind("H01", "2026-02-06").as_deref(),
            Some("overdue:2026-02-06")
        );
        assert_eq!(
            kind("H01", "2026-02-12").as_deref(),
            Some("overdue:2026-02-12")
        );
        assert_eq!(kind("H01", "2026-02-13"), None, "past the overdue window");
        // A prefecture's due date is its own.
        assert_eq!(kind("H", "2026-02-06"), None);
        assert_eq!(kind("H", "2026-02-07").as_deref(), Some("due_soon"));
        // Not before the campaign starts.
        let mut early = c.clone();
        early.start = day("2026-02-04");
        assert_eq!(
            due_reminder(&s, &early, &org("H01"), day("2026-02-03")),
            None
        );
    }

    #[test]
    fn the_message_says_what_is_late_and_by_when() {
        let r = due_reminder(
            &Settings::default(),
            &campaign(),
            &org("H01"),
            day("2026-02-08"),
        )
        .unwrap();
        assert!(
            r.message.contains("送温暖")
                && r.message.contains("2026-02-05")
                && r.message.contains("逾期 3 天"),
            "{}",
            r.message
        );
        let r = due_reminder(
            &Settings::default(),
            &campaign(),
            &org("H01"),
            day("2026-02-05"),
        )
        .unwrap();
        assert!(r.message.contains("今天截止"), "{}", r.message);
    }
}
