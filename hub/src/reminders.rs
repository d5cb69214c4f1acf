//! Reminders (催报): a hub reminds each child that has not reported on a campaign, a few days before
//! its due date and on each day it is overdue, on every channel registered for it (a webhook of a
//! kind and e-mail addresses, [`crate::channels`]), and keeps every reminder it made.
//!
//! A reminder is a row keyed by (campaign, org, kind), made once: `due_soon` the first round within
//! `days_before` days of the child's due date, `overdue:DAY` once per overdue day for `overdue_days`
//! days. So a restart, or two rounds on one day, neither loses a reminder nor makes one twice
//! (DESIGN.md "Time"). Delivery is kept per channel ([`crate::channels::store`]): a reminder a
//! channel refused is tried again with backoff within the round and again at the next rounds while
//! it is recent; one delivered is never sent again. After `escalate_after_days` overdue days the
//! hub's own contact channels get one digest per campaign and day listing the overdue children.
//! Dates are days in Asia/Shanghai.
//!
//! Rounds run at `[remind] schedule` in a serving hub, and once at its start
//! ([`crate::jobs::remind`]); `bangfu-hub remind` runs one now.

use std::collections::BTreeMap;
use std::time::Duration;

use bangfu_shared::org::OrgCode;
pub use bangfu_shared::protocol::Reminder;
use bangfu_shared::protocol::{CampaignId, ReminderKind};
use chrono::{DateTime, NaiveDate, Utc};

use futures_util::StreamExt as _;

use crate::app::Hub;
use crate::campaigns::{self, Campaign};
use crate::channels::store::Shown;
use crate::channels::{Channel, Delivery, Notice, NoticeKind, OverdueChild, Sender};
use crate::config::RemindSettings as Settings;
use crate::registry::{self, Org};
use crate::store::{self, Store};

/// Why a round stopped before it was done (what it made is stored; the next round goes on).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reminders: {0}")]
    Store(#[from] store::Error),
    #[error("{0}")]
    Client(String),
}

/// One notice's outcome on one channel in a round.
#[derive(Debug, Clone)]
pub struct Sent {
    pub notice: Notice,
    /// The channel as it may be shown (no URL path, no secret).
    pub channel: String,
    pub delivery: Delivery,
    pub tries: u32,
}

/// What a round did.
#[derive(Debug, Default)]
pub struct Round {
    /// Reminders made in this round.
    pub made: Vec<Reminder>,
    /// Escalation digests made in this round (to this hub's own contact channels).
    pub escalated: Vec<Notice>,
    /// Deliveries a channel took in this round.
    pub delivered: Vec<Sent>,
    /// Deliveries that failed this round, with the last answer (tried again next round, unless
    /// the answer was a timeout after sending).
    pub failed: Vec<Sent>,
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
/// campaign and the escalation digests due, then delivers every recent undelivered one on each
/// of its channels.
pub async fn round(hub: &Hub, today: NaiveDate, now: DateTime<Utc>) -> Result<Round, Error> {
    let (store, settings) = (&hub.store, &hub.config.remind);
    let mut out = Round::default();
    let orgs = registry::list(store).await?;
    let mut escalations = vec![];
    for campaign in campaigns::list(store).await? {
        let reported = reported(store, &campaign.id).await?;
        let late: Vec<&Org> = orgs
            .iter()
            .filter(|o| !reported.iter().any(|r| r == o.code.as_str()))
            .collect();
        for org in &late {
            let Some(r) = due_reminder(settings, &campaign, org, today) else {
                continue;
            };
            if insert(store, &r, now).await? {
                tracing::info!(campaign = %r.campaign, org = %r.org, kind = %r.kind, "reminder made");
                out.made.push(r);
            }
        }
        if let Some(n) = escalation(hub, &campaign, &late, today).await? {
            escalations.push(n);
        }
    }
    let sender = sender(hub)?;
    let mut work = vec![];
    let channels = crate::channels::store::all(store).await?;
    for (r, _) in recent(store, now).await? {
        let notice = notice_of(hub, &r);
        for c in channels.get(r.org.as_str()).into_iter().flatten() {
            work.push((notice.clone(), c.clone()));
        }
    }
    let own = channels
        .get(hub.config.org.as_str())
        .cloned()
        .unwrap_or_default();
    for n in escalations {
        if own.is_empty() {
            tracing::warn!(campaign = %n.campaign, "children are overdue past [remind] escalate_after_days, but this hub has no contact channel (org update --code {})", hub.config.org);
            continue;
        }
        for c in &own {
            work.push((n.clone(), c.clone()));
        }
        out.escalated.push(n);
    }
    // Certificates of the tree ending within 30 days (issue 13): one digest a day to the hub's
    // own contact, as `status` and the dashboard warn — a certificate that ends unrenewed stops a
    // county's reports, and the people who can act read the group chat, not the server's screen.
    let certificates = crate::enrolment::certificate_warnings(hub);
    if !certificates.is_empty() {
        if own.is_empty() {
            tracing::warn!(
                count = certificates.len(),
                "certificates end within 30 days, but this hub has no contact channel (org update --code {})",
                hub.config.org
            );
        } else {
            let n = certificate_notice(hub, today, &certificates)?;
            for c in &own {
                work.push((n.clone(), c.clone()));
            }
        }
    }
    let sent = deliver_all(hub, &sender, work).await?;
    // An escalation counts for this round only when some channel was tried with it now.
    out.escalated
        .retain(|n| sent.iter().any(|s| s.notice.key() == n.key()));
    for s in sent {
        if s.delivery == Delivery::Delivered {
            out.delivered.push(s);
        } else {
            out.failed.push(s);
        }
    }
    Ok(out)
}

/// The sender for this hub's settings (its mailer when `[smtp]` is set). An `[smtp]` that cannot
/// be used (a bad `from`, an unreadable password file) is logged and leaves the e-mail channels
/// undelivered with that reason; the robots still get theirs.
pub fn sender(hub: &Hub) -> Result<Sender, Error> {
    let timeout = Duration::from_secs(hub.config.remind.timeout_secs.max(1));
    let mailer = match &hub.config.smtp {
        None => Err("no [smtp] in hub.toml / 未配置邮件服务器".to_string()),
        Some(s) => crate::channels::Mailer::new(s, timeout).map_err(|e| {
            tracing::error!(error = %e, "e-mail reminders cannot be sent");
            e.to_string()
        }),
    };
    Sender::new(mailer, timeout).map_err(Error::Client)
}

/// The campaign's page on the dashboard, when `[remind] dashboard_url` is set.
fn link(settings: &Settings, campaign: &CampaignId) -> Option<String> {
    settings
        .dashboard_url
        .as_ref()
        .map(|u| format!("{}/campaigns/{campaign}", u.trim_end_matches('/')))
}

/// The notice a stored reminder is sent as.
fn notice_of(hub: &Hub, r: &Reminder) -> Notice {
    let (kind, days) = match r.kind {
        ReminderKind::DueSoon => (NoticeKind::DueSoon, 0),
        ReminderKind::Overdue(d) => (NoticeKind::Overdue(d), (d - r.due).num_days()),
    };
    Notice {
        hub: hub.config.org.clone(),
        campaign: r.campaign.clone(),
        title: r.title.clone(),
        org: r.org.clone(),
        name: r.name.clone(),
        kind,
        due: Some(r.due),
        days_overdue: days,
        link: link(&hub.config.remind, &r.campaign),
        overdue: vec![],
        summary: Some(r.message.clone()),
    }
}

/// Today's certificate digest to the hub's own contact. Not about a campaign: kept under the
/// reserved id `certificates` (its kind, `certificates:DAY`, keeps it apart from any reminder).
fn certificate_notice(hub: &Hub, today: NaiveDate, lines: &[String]) -> Result<Notice, Error> {
    Ok(Notice {
        hub: hub.config.org.clone(),
        campaign: CampaignId::parse("certificates").map_err(|e| Error::Client(e.to_string()))?,
        title: "证书到期 certificates".to_string(),
        org: hub.config.org.clone(),
        name: hub.config.name.clone(),
        kind: NoticeKind::Certificates(today),
        due: None,
        days_overdue: 0,
        link: hub.config.remind.dashboard_url.clone(),
        overdue: vec![],
        summary: Some(lines.join("\n")),
    })
}

/// Today's digest for `campaign` when any of its `late` children is overdue by
/// `escalate_after_days` or more (and still within the reminder window); made once a day.
async fn escalation(
    hub: &Hub,
    campaign: &Campaign,
    late: &[&Org],
    today: NaiveDate,
) -> Result<Option<Notice>, Error> {
    let settings = &hub.config.remind;
    let sent = crate::channels::store::on_campaign(&hub.store, campaign.id.as_str()).await?;
    let mut overdue = vec![];
    for org in late {
        let Some(due) = campaign.due.for_level(org.code.level()) else {
            continue;
        };
        let days = (today - due).num_days();
        if days < i64::from(settings.escalate_after_days.max(1)) {
            continue;
        }
        let made = made_count(&hub.store, &campaign.id, &org.code).await?;
        let what = sent.get(org.code.as_str()).map_or_else(
            || "无可用通道 no channel".to_string(),
            |d| {
                let ok = d.iter().filter(|s| s.state == "delivered").count();
                format!("{made} 条催报，{ok}/{} 次送达", d.len())
            },
        );
        overdue.push(OverdueChild {
            org: org.code.clone(),
            name: org.name.clone(),
            days,
            sent: what,
        });
    }
    if overdue.is_empty() {
        return Ok(None);
    }
    Ok(Some(Notice {
        hub: hub.config.org.clone(),
        campaign: campaign.id.clone(),
        title: campaign.title.clone(),
        org: hub.config.org.clone(),
        name: hub.config.name.clone(),
        kind: NoticeKind::Escalation(today),
        due: campaign.due.for_level(overdue[0].org.level()),
        days_overdue: overdue.iter().map(|c| c.days).max().unwrap_or(0),
        link: link(settings, &campaign.id),
        overdue,
        summary: None,
    }))
}

async fn made_count(store: &Store, campaign: &CampaignId, org: &OrgCode) -> Result<i64, Error> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM reminders WHERE campaign = $1 AND org = $2")
            .bind(campaign.to_string())
            .bind(org.to_string())
            .fetch_one(&store.pool)
            .await
            .map_err(store::Error::from)?;
    Ok(n)
}

/// How many robots or mailboxes are sent to at once (each robot's own sends stay in order).
const PARALLEL: usize = 16;

/// Delivers every (notice, channel): grouped per channel target so that one robot's window is
/// filled in order, the groups in parallel.
pub async fn deliver_all(
    hub: &Hub,
    sender: &Sender,
    work: Vec<(Notice, Channel)>,
) -> Result<Vec<Sent>, Error> {
    let mut groups: BTreeMap<String, Vec<(Notice, Channel)>> = BTreeMap::new();
    for (n, c) in work {
        let target = match &c {
            Channel::Webhook { url, .. } => url.clone(),
            Channel::Email { to } => format!("mailto:{to}"),
        };
        groups.entry(target).or_default().push((n, c));
    }
    let results: Vec<Result<Vec<Sent>, Error>> = futures_util::stream::iter(groups.into_values())
        .map(|group| async move {
            let mut out = vec![];
            for (n, c) in group {
                if let Some(s) = deliver_one(hub, sender, n, c).await? {
                    out.push(s);
                }
            }
            Ok(out)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut out = vec![];
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Claims one delivery and tries it up to `[remind] attempts` times with doubling pauses; `None`
/// when it was not ours to send (delivered already, or another hub process holds it).
async fn deliver_one(
    hub: &Hub,
    sender: &Sender,
    notice: Notice,
    channel: Channel,
) -> Result<Option<Sent>, Error> {
    let settings = &hub.config.remind;
    let key = crate::channels::store::Key {
        campaign: notice.campaign.to_string(),
        org: notice.org.to_string(),
        kind: notice.kind.to_string(),
        channel: channel.id(),
    };
    if crate::channels::store::claim(&hub.store, &key, hub.now())
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let mut pause = Duration::from_millis(settings.backoff_ms);
    let mut tries = 0;
    let delivery = loop {
        tries += 1;
        let d = sender.send(&channel, &notice).await;
        let retry = match &d {
            Delivery::Delivered => false,
            Delivery::Unavailable {
                maybe_delivered, ..
            } => !maybe_delivered,
            // A channel that asks for longer than our next pause is left for the next round.
            Delivery::Refused { retry_after, .. } => retry_after.is_none_or(|r| r <= pause),
        };
        if !retry || tries >= settings.attempts.max(1) {
            break d;
        }
        tracing::info!(campaign = %notice.campaign, org = %notice.org, kind = %notice.kind, channel = %channel, answer = %d, "refused; trying again");
        tokio::time::sleep(pause).await;
        pause *= 2;
    };
    crate::channels::store::record(&hub.store, &key, &delivery, tries, hub.now()).await?;
    match &delivery {
        Delivery::Delivered => {
            tracing::info!(campaign = %notice.campaign, org = %notice.org, kind = %notice.kind, channel = %channel, "reminder delivered")
        }
        d => {
            tracing::warn!(campaign = %notice.campaign, org = %notice.org, kind = %notice.kind, channel = %channel, answer = %d, "reminder not delivered")
        }
    }
    Ok(Some(Sent {
        notice,
        channel: channel.to_string(),
        delivery,
        tries,
    }))
}

/// `remind --test`: one test message on each channel of `org` (a child, or this hub's own code),
/// not recorded as a delivery; each channel's answer.
pub async fn test(hub: &Hub, org: &OrgCode) -> Result<Vec<(Channel, Delivery)>, Error> {
    let channels = crate::channels::store::of(&hub.store, org.as_str()).await?;
    let name = if *org == hub.config.org {
        hub.config.name.clone()
    } else {
        registry::list(&hub.store)
            .await?
            .into_iter()
            .find(|o| o.code == *org)
            .map(|o| o.name)
            .unwrap_or_else(|| org.to_string())
    };
    let sender = sender(hub)?;
    let notice = Notice {
        hub: hub.config.org.clone(),
        campaign: CampaignId::parse("test").map_err(|e| Error::Client(e.to_string()))?,
        title: "催报通道测试".into(),
        org: org.clone(),
        name,
        kind: NoticeKind::Test,
        due: None,
        days_overdue: 0,
        link: hub.config.remind.dashboard_url.clone(),
        overdue: vec![],
        summary: None,
    };
    let mut out = vec![];
    for c in channels {
        let d = sender.send(&c, &notice).await;
        out.push((c, d));
    }
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

/// Reminders made in the last [`STALE_AFTER_DAYS`] days, oldest first: those still worth
/// delivering where a channel has not taken them.
async fn recent(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<(Reminder, Option<String>)>, store::Error> {
    let since = (now - chrono::Duration::days(STALE_AFTER_DAYS)).to_rfc3339();
    stored(
        store,
        "WHERE r.created_at >= $1 ORDER BY r.created_at, r.org",
        since,
    )
    .await
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

/// For `status`: how the reminder `kind` of `org` went on each channel
/// (`wecom delivered, email:a@b refused×3`).
pub fn delivery_summary(
    deliveries: &BTreeMap<String, Vec<Shown>>,
    org: &str,
    kind: &str,
) -> String {
    let shown: Vec<String> = deliveries
        .get(org)
        .into_iter()
        .flatten()
        .filter(|d| d.kind == kind)
        .map(|d| {
            if d.attempts > 1 {
                format!("{} {}×{}", d.channel, d.state, d.attempts)
            } else {
                format!("{} {}", d.channel, d.state)
            }
        })
        .collect();
    if shown.is_empty() {
        "无通道 no channel".into()
    } else {
        shown.join(", ")
    }
}

/// A child overdue today on a campaign, as `status` and the dashboard list it.
pub struct OverdueRow<'a> {
    pub org: &'a Org,
    pub days: i64,
    /// Deliveries a channel took, of all the deliveries tried for it.
    pub delivered: usize,
    pub tried: usize,
}

/// The children of `orgs` that have not reported and are past their due date on `today`.
pub fn overdue_rows<'a>(
    today: NaiveDate,
    campaign: &Campaign,
    orgs: &'a [Org],
    reported: &[&str],
    deliveries: &BTreeMap<String, Vec<Shown>>,
) -> Vec<OverdueRow<'a>> {
    orgs.iter()
        .filter(|o| !reported.contains(&o.code.as_str()))
        .filter_map(|o| {
            let due = campaign.due.for_level(o.code.level())?;
            let days = (today - due).num_days();
            let d = deliveries.get(o.code.as_str());
            (days > 0).then(|| OverdueRow {
                org: o,
                days,
                delivered: d.map_or(0, |d| d.iter().filter(|d| d.state == "delivered").count()),
                tried: d.map_or(0, Vec::len),
            })
        })
        .collect()
}

/// For `status`: the children overdue today with how long and what they were sent, and the
/// escalations this hub's own channels got. Empty when none is overdue.
pub fn overdue_section(
    hub: &Hub,
    campaign: &Campaign,
    orgs: &[Org],
    reported: &[&str],
    deliveries: &BTreeMap<String, Vec<Shown>>,
) -> String {
    let today = hub.clock.today();
    let rows = overdue_rows(today, campaign, orgs, reported, deliveries);
    if rows.is_empty() {
        return String::new();
    }
    let mut s = format!("\n逾期未报 / overdue children (as of {today}):\n");
    for r in rows {
        s.push_str(&format!(
            "  {} {}  逾期 {d} 天 overdue {d} days; 已送达 delivered {} of {} sends\n",
            r.org.code,
            r.org.name,
            r.delivered,
            r.tried,
            d = r.days
        ));
    }
    for d in deliveries
        .get(hub.config.org.as_str())
        .into_iter()
        .flatten()
    {
        s.push_str(&format!(
            "  上报本级 escalation {} {} {}\n",
            d.kind, d.channel, d.state
        ));
    }
    s
}

/// For the dashboard's campaign page: the overdue children, how long and what was sent, as an HTML
/// section (`id="overdue"`); empty when none is overdue.
pub async fn overdue_html(hub: &Hub, campaign: &Campaign) -> Result<String, store::Error> {
    let orgs = registry::list(&hub.store).await?;
    let reported = reported(&hub.store, &campaign.id).await?;
    let reported: Vec<&str> = reported.iter().map(String::as_str).collect();
    let deliveries = crate::channels::store::on_campaign(&hub.store, campaign.id.as_str()).await?;
    let rows = overdue_rows(hub.clock.today(), campaign, &orgs, &reported, &deliveries);
    if rows.is_empty() {
        return Ok(String::new());
    }
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut h = String::from(
        "<section id=\"overdue\"><h3>逾期未报 overdue</h3><table><tr><th>单位 org</th><th>逾期 days overdue</th><th>催报送达 reminders delivered</th></tr>",
    );
    for r in rows {
        h.push_str(&format!(
            "<tr><td>{} {}</td><td class=\"n late\">{}</td><td class=\"n\">{} / {}</td></tr>",
            esc(&r.org.name),
            r.org.code,
            r.days,
            r.delivered,
            r.tried
        ));
    }
    h.push_str("</table></section>");
    Ok(h)
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
