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

/// Checks and stores a report posted by `peer`, received at `now`, with the default `[intake]`.
pub async fn receive(
    store: &Store,
    peer: &OrgCode,
    report: Signed<'_>,
    now: DateTime<Utc>,
    verifier: &Verifier,
) -> Result<Receipt, Error> {
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
) -> Result<Receipt, Error> {
    let body = report.body;
    // Read loosely only as far as who sent it and for which campaign; the strict intake below
    // reads the rest. serde_json's own message may quote the body, so only the position is kept.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
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
    if !registry::is_registered(store, peer).await? {
        return Err(Error::Forbidden(format!(
            "{peer} is not a registered child of this hub"
        )));
    }
    let campaign_id = match value.get("campaign") {
        None | Some(serde_json::Value::Null) => {
            return Err(Error::NotFound("the report names no campaign".into()));
        }
        Some(c) => c
            .as_str()
            .and_then(|c| CampaignId::parse(c).ok())
            .ok_or_else(|| {
                Error::BadRequest("not a report: `campaign` is not a campaign id".into())
            })?,
    };
    let campaign = campaigns::get(store, campaign_id.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("no campaign `{campaign_id}`")))?;
    // The template is parsed once per process, not per report (campaigns::template_of).
    let template = campaigns::template_of(&campaign)
        .map_err(|e| Error::Unprocessable(format!("the campaign's template does not load: {e}")))?;
    let jws = report.jws;
    let report = strict::check(&template, peer, &value, body.len())?;
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
    if let Some((stored, on_time)) =
        stored_hash(store, peer, campaign_id.as_str(), report.version, verifier).await?
    {
        return if stored == hash.as_str() {
            Ok(receipt(ReceiptStatus::Duplicate, on_time))
        } else {
            Err(Error::Conflict(format!(
                "{peer} version {} of `{campaign_id}` is stored with other content",
                report.version
            )))
        };
    }

    strict::version_jump(store, peer, campaign_id.as_str(), version, settings).await?;
    if peer.level() == Level::Prefecture {
        check_hub(&campaign, &template, peer, &report)?;
    } else {
        check(&campaign, &template, &report)?;
    }
    // A child without a due date of its own (a province has none above it) is never late.
    let on_time = campaign
        .due
        .for_level(peer.level())
        .is_none_or(|due| local_day(now) <= due);
    let text =
        std::str::from_utf8(body).map_err(|_| Error::BadRequest("the body is not UTF-8".into()))?;
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
    match ingest::store(store, row).await? {
        Stored::Inserted => {
            tracing::info!(org = %peer, campaign = %campaign_id, version = %report.version, on_time, "report accepted");
            // A county's reports together, after the commit: the LP does not hold up the answer.
            if report.counted_on.is_some() {
                crate::joint::check_later(store, peer);
            }
            Ok(receipt(ReceiptStatus::Accepted, on_time))
        }
        // Stored between our read and our write, by another request (maybe earlier in the same batch).
        Stored::Duplicate { on_time } => Ok(receipt(ReceiptStatus::Duplicate, on_time)),
        Stored::Conflict => Err(Error::Conflict(format!(
            "{peer} version {} of `{campaign_id}` is stored with other content",
            report.version
        ))),
    }
}

/// The hash of `org`'s stored `version`, if one is stored that still counts. A version received
/// under a certificate revoked since (a thief's, with the key compromised by then) does not block
/// the real child: it is deleted here, so the re-issued child's version of that number is stored
/// without a conflict.
async fn stored_hash(
    store: &Store,
    org: &OrgCode,
    campaign: &str,
    version: Version,
    verifier: &Verifier,
) -> Result<Option<(String, bool)>, Error> {
    let row: Option<(String, i64, Option<String>, String)> = sqlx::query_as(
        "SELECT hash, on_time, signer, received_at FROM reports WHERE org = $1 AND campaign = $2 AND version = $3",
    )
    .bind(org.as_str().to_string())
    .bind(campaign.to_string())
    .bind(version.to_db())
    .fetch_optional(&store.pool)
    .await
    .map_err(crate::store::Error::from)?;
    let Some((hash, on_time, signer, received_at)) = row else {
        return Ok(None);
    };
    let received = DateTime::parse_from_rfc3339(&received_at)
        .map_err(|e| crate::store::Error::Corrupt(format!("received_at `{received_at}`: {e}")))?
        .with_timezone(&Utc);
    if signer.is_some() && !verifier.counts(signer.as_deref(), received) {
        tracing::warn!(%org, campaign, %version, "a stored version signed by a revoked certificate is replaced");
        sqlx::query("DELETE FROM reports WHERE org = $1 AND campaign = $2 AND version = $3")
            .bind(org.as_str().to_string())
            .bind(campaign.to_string())
            .bind(version.to_db())
            .execute(&store.pool)
            .await
            .map_err(crate::store::Error::from)?;
        return Ok(None);
    }
    Ok(Some((hash, on_time != 0)))
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
