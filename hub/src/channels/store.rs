//! The channels of each org and the delivery of each notice on each channel, in the hub's store
//! (migration 0011). A delivery row is claimed before a send with `UPDATE … RETURNING` and a lease,
//! so of several hub processes on one store only one sends a notice on a channel at a time, and a
//! delivered one is never sent again, across restarts.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{Channel, Delivery, WebhookKind};
use crate::store::{Error, Result, Store};

/// How long a claim holds: longer than one notice's tries in a round, rate-limit waits included.
pub const LEASE: Duration = Duration::minutes(10);

/// Instants as stored: fixed width, so text order is time order.
fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The channels of `org`, webhook first.
pub async fn of(store: &Store, org: &str) -> Result<Vec<Channel>> {
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT channel, kind, target, secret FROM reminder_channels WHERE org = $1
         ORDER BY CASE WHEN kind = 'email' THEN 1 ELSE 0 END, channel",
    )
    .bind(org.to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.into_iter()
        .map(|(id, kind, target, secret)| {
            let corrupt = |e: String| Error::Corrupt(format!("channel {id} of {org}: {e}"));
            if kind == "email" {
                return Channel::email(&target).map_err(|e| corrupt(e.to_string()));
            }
            let kind =
                WebhookKind::parse(&kind).ok_or_else(|| corrupt(format!("kind `{kind}`")))?;
            Channel::webhook(kind, &target, secret).map_err(|e| corrupt(e.to_string()))
        })
        .collect()
}

/// Every org's channels, by org code.
pub async fn all(store: &Store) -> Result<BTreeMap<String, Vec<Channel>>> {
    let orgs: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT org FROM reminder_channels")
        .fetch_all(&store.pool)
        .await?;
    let mut out = BTreeMap::new();
    for (org,) in orgs {
        let c = of(store, &org).await?;
        out.insert(org, c);
    }
    Ok(out)
}

/// Sets `org`'s webhook (replacing the one it had) and, when `emails` is given, its addresses
/// (replacing those it had), in one transaction: on a failure nothing changes.
pub async fn set(
    store: &Store,
    org: &str,
    webhook: Option<&Channel>,
    emails: Option<&[Channel]>,
) -> Result<()> {
    let mut tx = store.pool.begin().await?;
    let mut put = vec![];
    if let Some(w) = webhook {
        sqlx::query("DELETE FROM reminder_channels WHERE org = $1 AND kind <> 'email'")
            .bind(org.to_string())
            .execute(&mut *tx)
            .await?;
        put.push(w);
    }
    if let Some(emails) = emails {
        sqlx::query("DELETE FROM reminder_channels WHERE org = $1 AND kind = 'email'")
            .bind(org.to_string())
            .execute(&mut *tx)
            .await?;
        put.extend(emails);
    }
    for c in put {
        let (kind, target, secret) = match c {
            Channel::Webhook { kind, url, secret } => (kind.as_str(), url.clone(), secret.clone()),
            Channel::Email { to } => ("email", to.clone(), None),
        };
        sqlx::query(
            "INSERT INTO reminder_channels (org, channel, kind, target, secret) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org, channel) DO UPDATE SET kind = excluded.kind, target = excluded.target, secret = excluded.secret",
        )
        .bind(org.to_string())
        .bind(c.id())
        .bind(kind)
        .bind(target)
        .bind(secret)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Which delivery: (campaign, org, kind) of the notice, and the channel's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub campaign: String,
    pub org: String,
    pub kind: String,
    pub channel: String,
}

/// Claims the delivery `k` for one send until `now + LEASE`, making its row when it is new. `None`:
/// already delivered, held by another sender, or timed out after sending (never resent).
pub async fn claim(store: &Store, k: &Key, now: DateTime<Utc>) -> Result<Option<i64>> {
    sqlx::query(
        "INSERT INTO reminder_deliveries (campaign, org, kind, channel, state, attempts, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5) ON CONFLICT (campaign, org, kind, channel) DO NOTHING",
    )
    .bind(k.campaign.clone())
    .bind(k.org.clone())
    .bind(k.kind.clone())
    .bind(k.channel.clone())
    .bind(at(now))
    .execute(&store.pool)
    .await?;
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE reminder_deliveries SET lease_until = $5, updated_at = $6
         WHERE campaign = $1 AND org = $2 AND kind = $3 AND channel = $4
           AND delivered_at IS NULL AND state <> 'unknown'
           AND (lease_until IS NULL OR lease_until < $6)
         RETURNING attempts",
    )
    .bind(k.campaign.clone())
    .bind(k.org.clone())
    .bind(k.kind.clone())
    .bind(k.channel.clone())
    .bind(at(now + LEASE))
    .bind(at(now))
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(a,)| a))
}

/// Records the outcome of `tries` sends of a claimed delivery and releases the claim.
pub async fn record(
    store: &Store,
    k: &Key,
    outcome: &Delivery,
    tries: u32,
    now: DateTime<Utc>,
) -> Result<()> {
    let answer = match outcome {
        Delivery::Delivered => None,
        other => Some(other.to_string()),
    };
    let delivered = matches!(outcome, Delivery::Delivered).then(|| at(now));
    sqlx::query(
        "UPDATE reminder_deliveries SET state = $5, attempts = attempts + $6, answer = $7,
           lease_until = NULL, updated_at = $8, delivered_at = $9
         WHERE campaign = $1 AND org = $2 AND kind = $3 AND channel = $4 AND delivered_at IS NULL",
    )
    .bind(k.campaign.clone())
    .bind(k.org.clone())
    .bind(k.kind.clone())
    .bind(k.channel.clone())
    .bind(outcome.state())
    .bind(i64::from(tries))
    .bind(answer)
    .bind(at(now))
    .bind(delivered)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// A delivery as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub kind: String,
    pub channel: String,
    pub state: String,
    pub attempts: i64,
    pub answer: Option<String>,
}

/// Every delivery on `campaign`, per org, oldest first.
pub async fn on_campaign(store: &Store, campaign: &str) -> Result<BTreeMap<String, Vec<Shown>>> {
    let rows: Vec<(String, String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT org, kind, channel, state, attempts, answer FROM reminder_deliveries
         WHERE campaign = $1 ORDER BY updated_at, kind, channel",
    )
    .bind(campaign.to_string())
    .fetch_all(&store.pool)
    .await?;
    let mut out: BTreeMap<String, Vec<Shown>> = BTreeMap::new();
    for (org, kind, channel, state, attempts, answer) in rows {
        out.entry(org).or_default().push(Shown {
            kind,
            channel,
            state,
            attempts,
            answer,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Of two senders, only one holds a delivery; a claim whose sender died is free again after the
    /// lease; a delivered one is never claimed again; a timed-out one is not resent.
    #[tokio::test]
    async fn a_delivery_is_claimed_by_one_sender_and_never_again_once_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::config::sqlite_url(dir.path()))
            .await
            .unwrap();
        let key = |channel: &str| Key {
            campaign: "c".into(),
            org: "H01".into(),
            kind: "due_soon".into(),
            channel: channel.into(),
        };
        let now = Utc::now();
        let k = key("wecom");
        assert_eq!(claim(&store, &k, now).await.unwrap(), Some(0));
        assert_eq!(claim(&store, &k, now).await.unwrap(), None, "held");
        let later = now + LEASE + Duration::seconds(1);
        assert!(
            claim(&store, &k, later).await.unwrap().is_some(),
            "the lease ran out: the sender died"
        );
        record(&store, &k, &Delivery::Delivered, 1, later)
            .await
            .unwrap();
        let much_later = later + LEASE * 10;
        assert_eq!(claim(&store, &k, much_later).await.unwrap(), None);

        let refused = Delivery::Refused {
            code: "-1".into(),
            message: "busy".into(),
            retry_after: None,
        };
        let m = key("email:a@b.org");
        claim(&store, &m, now).await.unwrap();
        record(&store, &m, &refused, 3, now).await.unwrap();
        assert_eq!(
            claim(&store, &m, now).await.unwrap(),
            Some(3),
            "a refusal is tried again"
        );
        let timed_out = Delivery::Unavailable {
            detail: "timed out".into(),
            maybe_delivered: true,
        };
        record(&store, &m, &timed_out, 1, now).await.unwrap();
        assert_eq!(claim(&store, &m, much_later).await.unwrap(), None);
        let shown = on_campaign(&store, "c").await.unwrap();
        let states: Vec<&str> = shown["H01"].iter().map(|s| s.state.as_str()).collect();
        assert_eq!(states.len(), 2);
        assert!(states.contains(&"delivered") && states.contains(&"unknown"));
        store.close().await;
    }
}
