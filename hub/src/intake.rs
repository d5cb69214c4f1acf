//! Intake: the checks a child's report passes before the hub stores it (protocol v1,
//! `POST /api/v1/reports`). The peer's certificate must name the report's org, which must be a
//! registered child; the campaign must exist; a version is stored once and never changed; and the
//! hub re-runs the template's high-importance rules and the disclosure audit on the published cells,
//! because the hub must not hold (or pass up) a report that exposes a household.

use bangfu_shared::disclose;
use bangfu_shared::org::{Level, OrgCode};
use bangfu_shared::protocol::intake;
use bangfu_shared::protocol::{CampaignId, ContentHash, Receipt, ReceiptStatus, Version};
use bangfu_shared::report::Report;
use bangfu_shared::rules;
use bangfu_shared::template::{Importance, Template};
use bangfu_shared::time::local_day;
use chrono::{DateTime, Utc};

use crate::campaigns;
use crate::config::IntakeSettings;
use crate::error::Error;
use crate::registry;
use crate::signed::Verifier;
use crate::store::Store;
use crate::store::ingest::{self, Stored};
use crate::strict;

/// A report as it arrives: its bytes and the sender's detached JWS over them.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub body: &'a [u8],
    pub jws: Option<&'a str>,
}

/// What the intake made of a report: the receipt for the sender, and how many versions of the
/// sender's report on this campaign the hub now holds whole (so pruning needs no read of its own).
#[derive(Debug, Clone)]
pub struct Received {
    pub receipt: Receipt,
    pub versions_held: u64,
}

/// Checks and stores a report posted by `peer`, received at `now`, with the default `[intake]`.
pub async fn receive(
    store: &Store,
    peer: &OrgCode,
    report: Signed<'_>,
    now: DateTime<Utc>,
    verifier: &Verifier,
) -> Result<Received, Error> {
    receive_with(
        store,
        peer,
        report,
        now,
        &IntakeSettings::default(),
        verifier,
    )
    .await
}

/// Checks and stores a report posted by `peer`, received at `now`, with this hub's `[intake]`: its
/// signature must verify over exactly its bytes with a certificate of the CA naming `peer`, not
/// revoked (`crate::signed`).
pub async fn receive_with(
    store: &Store,
    peer: &OrgCode,
    report: Signed<'_>,
    now: DateTime<Utc>,
    settings: &IntakeSettings,
    verifier: &Verifier,
) -> Result<Received, Error> {
    let body = report.body;
    // Checked as UTF-8 once here; the JSON reads below then take it as text.
    let text =
        std::str::from_utf8(body).map_err(|_| Error::BadRequest("the body is not UTF-8".into()))?;
    // Read loosely only as far as who sent it and for which campaign; the strict intake below
    // reads the rest. serde_json's own message may quote the body, so only the position is kept.
    let value = intake::Json::parse(text).map_err(|e| {
        Error::BadRequest(format!(
            "not a report: not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let claimed = value.get("org").and_then(|o| o.as_str()).unwrap_or("");
    if claimed != peer.as_str() {
        return Err(Error::Forbidden(format!(
            "the certificate is {peer}'s, the report is {}'s",
            intake::shown_name(claimed)
        )));
    }
    let campaign_id = match value.get("campaign") {
        None | Some(intake::Json::Null) => {
            Err(Error::NotFound("the report names no campaign".into()))
        }
        Some(c) => c
            .as_str()
            .and_then(|c| CampaignId::parse(c).ok())
            .ok_or_else(|| {
                Error::BadRequest("not a report: `campaign` is not a campaign id".into())
            }),
    };
    // The version as the body claims it, for the one read below; the strict intake reads it again.
    let claimed_version = value
        .get("version")
        .and_then(intake::Json::as_u64)
        .and_then(|v| i64::try_from(v).ok());
    let held = match &campaign_id {
        Ok(id) => Held::read(store, peer, id, claimed_version.unwrap_or(-1)).await?,
        Err(_) => None,
    };
    // Who may post comes before what was posted: an unregistered peer learns nothing of campaigns.
    let registered = match &held {
        Some(h) => h.registered,
        None => registry::is_registered(store, peer).await?,
    };
    if !registered {
        return Err(Error::Forbidden(format!(
            "{peer} is not a registered child of this hub"
        )));
    }
    let campaign_id = campaign_id?;
    let Some(mut held) = held else {
        return Err(Error::NotFound(format!("no campaign `{campaign_id}`")));
    };
    let campaign = &held.campaign;
    // The template is parsed once per process, not per report (campaigns::template_of).
    let template = campaigns::template_of(campaign)
        .map_err(|e| Error::Unprocessable(format!("the campaign's template does not load: {e}")))?;
    let jws = report.jws;
    let report = strict::check(&template, peer, &value, text)?;
    if Some(report.version.to_db()) != claimed_version {
        // The strict intake read the same field; a difference would be a bug in one of the two.
        return Err(Error::BadRequest(
            "not a report: `version` is unreadable".into(),
        ));
    }
    // The sender's own signature over these bytes; embedded county reports are verified where they
    // are counted (the rollup), so one bad county does not refuse its siblings.
    let signed = verifier.verify(body, jws, peer, now)?;
    let hash = ContentHash::of(body);

    let version = report.version;
    let receipt = |status, on_time| Receipt {
        status,
        org: peer.clone(),
        campaign: campaign_id.clone(),
        version,
        hash: hash.clone(),
        on_time,
    };
    if let Some(stored) = held
        .counting_version(store, peer, &campaign_id, version, verifier)
        .await?
    {
        return if stored.hash == hash.as_str() {
            Ok(Received {
                receipt: receipt(ReceiptStatus::Duplicate, stored.on_time),
                versions_held: held.count,
            })
        } else {
            Err(Error::Conflict(format!(
                "{peer} version {} of `{campaign_id}` is stored with other content",
                report.version
            )))
        };
    }

    strict::version_jump(held.newest, peer, version, settings)?;
    let campaign = &held.campaign;
    if peer.level() == Level::Prefecture {
        check_hub(campaign, &template, peer, &report)?;
    } else {
        check(campaign, &template, &report)?;
    }
    // A child without a due date of its own (a province has none above it) is never late.
    let on_time = campaign
        .due
        .for_level(peer.level())
        .is_none_or(|due| local_day(now) <= due);
    // Committed by the store's writer together with whatever else is waiting (group commit).
    let row = ingest::Row {
        org: peer.as_str().to_string(),
        campaign: campaign_id.to_string(),
        version: report.version.to_db(),
        hash: hash.to_string(),
        body: text.to_string(),
        received_at: now.to_rfc3339(),
        on_time,
        jws: jws.map(str::to_string),
        signer: Some(signed.serial),
    };
    let received = |status, on_time, versions_held| Received {
        receipt: receipt(status, on_time),
        versions_held,
    };
    match ingest::store(store, row).await? {
        Stored::Inserted => {
            tracing::info!(org = %peer, campaign = %campaign_id, version = %report.version, on_time, "report accepted");
            // A county's reports together, after the commit: the LP does not hold up the answer.
            if report.counted_on.is_some() {
                crate::joint::check_later(store, peer);
            }
            Ok(received(ReceiptStatus::Accepted, on_time, held.count + 1))
        }
        // Stored between our read and our write, by another request (maybe earlier in the same batch).
        Stored::Duplicate { on_time } => {
            Ok(received(ReceiptStatus::Duplicate, on_time, held.count))
        }
        Stored::Conflict => Err(Error::Conflict(format!(
            "{peer} version {} of `{campaign_id}` is stored with other content",
            report.version
        ))),
    }
}

/// What this hub holds that a child's report is checked against, read in one query per report
/// (each query is a hand-off to the database's thread; five of them per report were a quarter of
/// the hub's time under load): whether the child is registered, the campaign, the child's newest
/// version and how many it holds whole, and the stored row of the version the report claims.
struct Held {
    registered: bool,
    campaign: campaigns::Campaign,
    /// The child's newest stored version of this campaign's report (0 when none is).
    newest: i64,
    /// How many versions of it are stored whole.
    count: u64,
    at_version: Option<StoredVersion>,
}

/// A stored version's identity and provenance.
struct StoredVersion {
    hash: String,
    on_time: bool,
    signer: Option<String>,
    received_at: String,
}

impl Held {
    /// What is held for `org` on campaign `id`, with the stored row of `version` if there is one;
    /// `None` when no such campaign exists.
    async fn read(
        store: &Store,
        org: &OrgCode,
        id: &CampaignId,
        version: i64,
    ) -> Result<Option<Held>, Error> {
        use sqlx::Row as _;
        let sql = format!(
            "SELECT {},
                    (SELECT COUNT(*) FROM orgs WHERE code = $1),
                    (SELECT MAX(version) FROM reports WHERE org = $1 AND campaign = $2),
                    (SELECT COUNT(*) FROM reports WHERE org = $1 AND campaign = $2),
                    r.hash, r.on_time, r.signer, r.received_at
             FROM campaigns c
             LEFT JOIN reports r ON r.org = $1 AND r.campaign = c.id AND r.version = $3
             WHERE c.id = $2",
            campaigns::columns_of("c")
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str().to_string())
            .bind(id.to_string())
            .bind(version)
            .fetch_optional(&store.pool)
            .await
            .map_err(crate::store::Error::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let get = |e: sqlx::Error| Error::from(crate::store::Error::from(e));
        let registered: i64 = row.try_get(9).map_err(get)?;
        let newest: Option<i64> = row.try_get(10).map_err(get)?;
        let count: i64 = row.try_get(11).map_err(get)?;
        let hash: Option<String> = row.try_get(12).map_err(get)?;
        let at_version = match hash {
            None => None,
            Some(hash) => Some(StoredVersion {
                hash,
                on_time: row.try_get::<i64, _>(13).map_err(get)? != 0,
                signer: row.try_get(14).map_err(get)?,
                received_at: row.try_get(15).map_err(get)?,
            }),
        };
        Ok(Some(Held {
            registered: registered > 0,
            campaign: campaigns::from_any_row(&row)?,
            newest: newest.unwrap_or(0),
            count: u64::try_from(count).unwrap_or(0),
            at_version,
        }))
    }

    /// The stored row of `version`, if one is stored that still counts. A version received under
    /// a certificate revoked since (a thief's, with the key compromised by then) does not block the
    /// real child: it is deleted here, so the re-issued child's version of that number is stored
    /// without a conflict (and the newest version and the count are read again without it).
    async fn counting_version(
        &mut self,
        store: &Store,
        org: &OrgCode,
        campaign: &CampaignId,
        version: Version,
        verifier: &Verifier,
    ) -> Result<Option<StoredVersion>, Error> {
        let Some(stored) = self.at_version.take() else {
            return Ok(None);
        };
        let received = DateTime::parse_from_rfc3339(&stored.received_at)
            .map_err(|e| {
                crate::store::Error::Corrupt(format!("received_at `{}`: {e}", stored.received_at))
            })?
            .with_timezone(&Utc);
        if stored.signer.is_none() || verifier.counts(stored.signer.as_deref(), received) {
            return Ok(Some(stored));
        }
        tracing::warn!(%org, %campaign, %version, "a stored version signed by a revoked certificate is replaced");
        let (org, campaign) = (org.as_str().to_string(), campaign.to_string());
        sqlx::query("DELETE FROM reports WHERE org = $1 AND campaign = $2 AND version = $3")
            .bind(org.clone())
            .bind(campaign.clone())
            .bind(version.to_db())
            .execute(&store.pool)
            .await
            .map_err(crate::store::Error::from)?;
        let (newest, count): (Option<i64>, i64) = sqlx::query_as(
            "SELECT MAX(version), COUNT(*) FROM reports WHERE org = $1 AND campaign = $2",
        )
        .bind(org)
        .bind(campaign)
        .fetch_one(&store.pool)
        .await
        .map_err(crate::store::Error::from)?;
        self.newest = newest.unwrap_or(0);
        self.count = u64::try_from(count).unwrap_or(0);
        Ok(None)
    }
}

/// What every report must be, from a node or a hub: of the campaign's template, with its cells and at
/// least its threshold, and breaking none of its high-importance rules on the published values.
fn check_shape_and_rules(
    campaign: &campaigns::Campaign,
    t: &Template,
    report: &Report,
) -> Result<(), Error> {
    if report.template != t.id {
        return Err(Error::Unprocessable(format!(
            "campaign `{}` collects template `{}`, not `{}`",
            campaign.id, t.id, report.template
        )));
    }
    if let Some(code) = report.cells.keys().find(|c| t.cell(c).is_none()) {
        return Err(Error::Unprocessable(format!(
            "template `{}` has no cell `{code}`",
            t.id
        )));
    }
    if report.threshold < t.disclosure.threshold {
        return Err(Error::Unprocessable(format!(
            "threshold {} is below the template's {}",
            report.threshold, t.disclosure.threshold
        )));
    }
    let outcome = rules::evaluate(t, |i| {
        report.cells.get(&t.cells[i].code).and_then(|c| c.value())
    });
    let broken: Vec<String> = outcome
        .failed
        .iter()
        .filter(|f| f.importance == Importance::High)
        .map(|f| f.rule.clone())
        .collect();
    if !broken.is_empty() {
        return Err(Error::Unprocessable(format!(
            "the report breaks high-importance rule(s): {}",
            broken.join("; ")
        )));
    }
    Ok(())
}

/// The content checks: the campaign's template and cells, its high-importance rules on the published
/// values, and the disclosure audit.
fn check(campaign: &campaigns::Campaign, t: &Template, report: &Report) -> Result<(), Error> {
    check_shape_and_rules(campaign, t, report)?;
    // The verdict only (no ranges needed here): the fast form, refusing exactly what the exact audit refuses.
    match disclose::verify(t, &report.cells) {
        Ok(()) => Ok(()),
        Err(disclose::Error::Exposed { ranges }) => {
            let cells: Vec<&str> = ranges.iter().map(|r| r.code.as_str()).collect();
            Err(Error::Unprocessable(format!(
                "the disclosure audit finds withheld cell(s) narrower than the threshold: {}",
                cells.join(", ")
            )))
        }
        Err(e) => Err(Error::Unprocessable(audit_failure(&e))),
    }
}

/// The content checks for a hub child's report (its rollup, with its children's reports embedded).
/// Its range cells are not exact publications, so the disclosure audit does not apply to them;
/// instead every embedded report must pass the checks a node's report passes here (a child cannot
/// publish what the rules forbid through an intermediate hub). Whether the outer cells are the sum
/// of the embedded ones, and whether each embedded county is the hub's own, is not refused here but
/// stored and flagged by reconciliation (`hub_sum`, `wrong_parent`): the level above can then see
/// and chase a tampered or buggy intermediate hub (docs/decisions-reconcile.md).
fn check_hub(
    campaign: &campaigns::Campaign,
    t: &Template,
    _peer: &OrgCode,
    report: &Report,
) -> Result<(), Error> {
    check_shape_and_rules(campaign, t, report)?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, envelope) in report.children.iter().enumerate() {
        let child: Report = envelope.read().map_err(|e| {
            Error::Unprocessable(format!("embedded report {} is not a report: {e}", i + 1))
        })?;
        if child.campaign.as_ref() != Some(&campaign.id) {
            return Err(Error::Unprocessable(format!(
                "embedded report of {} names another campaign",
                child.org
            )));
        }
        if !child.children.is_empty() || child.org.level() != Level::County {
            return Err(Error::Unprocessable(format!(
                "embedded report of {} is not a county's",
                child.org
            )));
        }
        if !seen.insert(child.org.clone()) {
            return Err(Error::Unprocessable(format!(
                "embedded report of {} appears twice",
                child.org
            )));
        }
        check(campaign, t, &child)
            .map_err(|e| Error::Unprocessable(format!("embedded report of {}: {e}", child.org)))?;
    }
    Ok(())
}

/// An audit failure, named without values.
fn audit_failure(e: &disclose::Error) -> String {
    match e {
        disclose::Error::Exposed { ranges } => {
            format!(
                "withheld cell(s) can be narrowed too far: {}",
                ranges
                    .iter()
                    .map(|r| r.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        disclose::Error::Inconsistent(_) => {
            "the published cells contradict the table's relations".into()
        }
        disclose::Error::Solver(_) => "the disclosure audit could not be completed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaigns::Due;
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn each_level_has_its_own_due_date() {
        let due = Due {
            county: day("2026-02-05"),
            prefecture: day("2026-02-10"),
            province: None,
        };
        assert_eq!(due.for_level(Level::County), Some(day("2026-02-05")));
        assert_eq!(due.for_level(Level::Prefecture), Some(day("2026-02-10")));
        assert_eq!(
            due.for_level(OrgCode::parse("H01").unwrap().level()),
            Some(day("2026-02-05"))
        );
        assert_eq!(
            due.for_level(OrgCode::parse("H").unwrap().level()),
            Some(day("2026-02-10"))
        );
    }
}
