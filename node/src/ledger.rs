//! The publication ledger (issue 11): for every report version this node queued for its parent, the
//! table it was made with, the archive snapshot it was counted on and its period, beside the exact
//! bytes (`report_versions.body`). A new report is audited together with all of it
//! (`bangfu_shared::disclose::joint`), and `bangfu-node sent` prints what left.
//!
//! A snapshot is the as-of day and the archive's facts when the report was built. Between two
//! snapshots the ledger keeps how many household records were added and removed (a correction is
//! one of each), computed from sorted fingerprints of the households in the archive on the day: the
//! recipient is assumed to know these numbers, so the audit must too.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bangfu_shared::aggregate::Period;
use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose::joint;
use bangfu_shared::facts::{AidFacts, HouseholdFacts};
use bangfu_shared::org::OrgCode;
use bangfu_shared::report::Report;
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::archive::{self, Archive};
use crate::campaigns::Campaign;
use crate::facts::ArchiveFacts;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Archive(#[from] archive::Error),
    /// A ledger row that cannot be read back (a hand-edited database).
    #[error("ledger entry of campaign `{campaign}` version {version}: {detail} / 发布台账记录损坏")]
    Corrupt {
        campaign: String,
        version: u32,
        detail: String,
    },
    #[error("the table of a campaign: {0}")]
    Template(#[from] template::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Archive(archive::Error::Database(e))
    }
}

/// The archive as one report counted it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: String,
    pub as_of: NaiveDate,
    /// Sorted fingerprints of the households in the archive on `as_of`.
    pub households: Vec<u64>,
}

fn household_bytes(h: &HouseholdFacts, out: &mut Vec<u8>) {
    out.extend_from_slice(&h.dims);
    out.extend_from_slice(&h.causes.to_le_bytes());
    out.push(h.household_size);
    for a in h.amounts {
        out.extend_from_slice(&a.to_le_bytes());
    }
    for d in [h.filed_on, h.lifted_on] {
        out.extend_from_slice(d.map_or("-".to_string(), |d| d.to_string()).as_bytes());
        out.push(0);
    }
}

fn fingerprint(h: &HouseholdFacts) -> u64 {
    let mut bytes = Vec::with_capacity(96);
    household_bytes(h, &mut bytes);
    let d = Sha256::digest(&bytes);
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// The snapshot of `facts` on `as_of`: its id covers every household's and aid record's facts (so
/// two reports on one id count the very same archive), its fingerprints the households in the
/// archive that day.
pub fn snapshot(facts: &ArchiveFacts, as_of: NaiveDate) -> Snapshot {
    let all: Vec<u64> = facts.households.iter().map(fingerprint).collect();
    let mut households: Vec<u64> = facts
        .households
        .iter()
        .zip(&all)
        .filter(|(h, _)| h.in_archive_on(as_of))
        .map(|(_, &f)| f)
        .collect();
    households.sort_unstable();
    let mut sorted_all = all.clone();
    sorted_all.sort_unstable();
    let mut aid: Vec<[u8; 24]> = facts
        .aid
        .iter()
        .map(|a: &AidFacts| {
            let mut b = [0u8; 24];
            let owner = all.get(a.household as usize).copied().unwrap_or(0);
            b[..8].copy_from_slice(&owner.to_le_bytes());
            b[8..12].copy_from_slice(&(a.date.to_epoch_days()).to_le_bytes());
            b[12] = a.kind;
            b[16..].copy_from_slice(&a.amount_fen.to_le_bytes());
            b
        })
        .collect();
    aid.sort_unstable();
    let mut hash = Sha256::new();
    hash.update(as_of.to_string().as_bytes());
    for f in &sorted_all {
        hash.update(f.to_le_bytes());
    }
    for a in &aid {
        hash.update(a);
    }
    Snapshot {
        id: hex::encode(hash.finalize()),
        as_of,
        households,
    }
}

/// (added, removed) from `from` to `to`: a sorted multiset difference.
fn difference(from: &[u64], to: &[u64]) -> (u64, u64) {
    let (mut i, mut j, mut added, mut removed) = (0, 0, 0u64, 0u64);
    while i < from.len() && j < to.len() {
        match from[i].cmp(&to[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                removed += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added += 1;
                j += 1;
            }
        }
    }
    (
        added + (to.len() - j) as u64,
        removed + (from.len() - i) as u64,
    )
}

fn blob(households: &[u64]) -> Vec<u8> {
    households.iter().flat_map(|f| f.to_le_bytes()).collect()
}

fn unblob(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// What the ledger keeps about a report about to be versioned (written in the same transaction as
/// the version, so nothing is queued without its entry).
#[derive(Debug, Clone)]
pub struct Entry {
    pub template_id: String,
    pub template_text: String,
    pub snapshot: Snapshot,
    pub period: Period,
    /// Changes from every stored snapshot to this one (empty when it is stored already).
    pub changes: Vec<joint::Change>,
    /// What the report was made from ([`basis`]).
    pub basis: String,
}

/// A hash of everything a campaign's report is made from besides the ledger: the node, the archive
/// snapshot, the table's text, the typed-in figures, the period and the change policy. Two reports
/// on one basis say the same, so the daemon does not make the second ([`crate::reporting::Made`]).
pub fn basis(
    org: &OrgCode,
    snapshot: &Snapshot,
    template_text: &str,
    typed: &BTreeMap<String, Decimal>,
    period: &Period,
    policy: joint::ChangePolicy,
) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(org.as_str().as_bytes());
    field(snapshot.id.as_bytes());
    field(template_text.as_bytes());
    for (code, value) in typed {
        field(code.as_bytes());
        field(value.to_string().as_bytes());
    }
    field(format!("{period:?}|{policy:?}").as_bytes());
    hex::encode(h.finalize())
}

/// The latest version of `campaign` with a ledger entry, and the basis it was made from.
pub async fn latest_basis(
    archive: &Archive,
    campaign: &str,
) -> Result<Option<(u32, String)>, Error> {
    let row = sqlx::query(
        "SELECT version, basis FROM publications WHERE campaign = ? ORDER BY version DESC LIMIT 1",
    )
    .bind(campaign)
    .fetch_optional(archive.pool())
    .await?;
    Ok(row.map(|r| (r.get::<i64, _>(0) as u32, r.get(1))))
}

/// The text of a campaign's table, as the node reads it ([`Campaign::template`]'s order).
pub fn template_text(c: &Campaign, data: &Path) -> Result<String, Error> {
    if let Some(text) = &c.template_body {
        return Ok(text.clone());
    }
    let path = data.join("templates").join(format!("{}.toml", c.template));
    if path.is_file() {
        return std::fs::read_to_string(&path).map_err(|source| {
            Error::Template(template::Error::Read {
                path: path.clone(),
                source,
            })
        });
    }
    template::builtin_text(&c.template)
        .map(str::to_string)
        .ok_or_else(|| Error::Template(template::Error::Unknown(c.template.clone())))
}

/// Records `entry` for version `version` of `campaign` inside the versioning transaction.
pub async fn record(
    tx: &mut sqlx::SqliteConnection,
    campaign: &str,
    version: u32,
    entry: &Entry,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let s = &entry.snapshot;
    let inserted = sqlx::query(
        "INSERT OR IGNORE INTO ledger_snapshots (id, as_of, households, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(&s.id)
    .bind(s.as_of.to_string())
    .bind(blob(&s.households))
    .bind(now.to_rfc3339())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() > 0 {
        for c in &entry.changes {
            sqlx::query("INSERT OR IGNORE INTO ledger_changes (from_snapshot, to_snapshot, added, removed) VALUES (?, ?, ?, ?)")
                .bind(&c.from)
                .bind(&c.to)
                .bind(c.added as i64)
                .bind(c.removed as i64)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("INSERT INTO publications (campaign, version, template_id, template_text, snapshot, as_of, period_start, period_end, basis) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(campaign)
        .bind(version as i64)
        .bind(&entry.template_id)
        .bind(&entry.template_text)
        .bind(&s.id)
        .bind(entry.period.as_of.to_string())
        .bind(entry.period.start.map(|d| d.to_string()))
        .bind(entry.period.end.map(|d| d.to_string()))
        .bind(&entry.basis)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The changes from every stored snapshot to `s` (none when `s` is stored already).
pub async fn changes_to(archive: &Archive, s: &Snapshot) -> Result<Vec<joint::Change>, Error> {
    let known: Option<String> = sqlx::query_scalar("SELECT id FROM ledger_snapshots WHERE id = ?")
        .bind(&s.id)
        .fetch_optional(archive.pool())
        .await?;
    if known.is_some() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query("SELECT id, households FROM ledger_snapshots")
        .fetch_all(archive.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let from: String = row.get(0);
            let (added, removed) = difference(&unblob(row.get::<&[u8], _>(1)), &s.households);
            joint::Change {
                from,
                to: s.id.clone(),
                added,
                removed,
            }
        })
        .collect())
}

fn day(text: Option<String>) -> Option<NaiveDate> {
    text.and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
}

/// Everything sent before, as the joint audit reads it, plus the changes to `next` (the snapshot of
/// the report about to be made) when it is new.
pub async fn load(
    archive: &Archive,
    vocabulary: &Vocabulary,
    next: Option<&Snapshot>,
) -> Result<joint::Ledger, Error> {
    let rows = sqlx::query(
        "SELECT p.campaign, p.version, p.template_text, p.snapshot, p.as_of, p.period_start, p.period_end, v.body \
         FROM publications p JOIN report_versions v USING (campaign, version) ORDER BY v.created_at, p.campaign, p.version",
    )
    .fetch_all(archive.pool())
    .await?;
    let mut tables: HashMap<String, Template> = HashMap::new();
    let mut publications = Vec::with_capacity(rows.len());
    for row in &rows {
        let campaign: String = row.get(0);
        let version = row.get::<i64, _>(1) as u32;
        let corrupt = |detail: String| Error::Corrupt {
            campaign: campaign.clone(),
            version,
            detail,
        };
        let text: String = row.get(2);
        let template = match tables.get(&text) {
            Some(t) => t.clone(),
            None => {
                let t = Template::parse(&text, vocabulary)
                    .map_err(|e| corrupt(format!("its table: {e}")))?;
                tables.insert(text.clone(), t.clone());
                t
            }
        };
        let body: String = row.get(7);
        let report: Report =
            serde_json::from_str(&body).map_err(|e| corrupt(format!("its body: {e}")))?;
        let as_of = day(row.get(4)).ok_or_else(|| corrupt("its as-of day".into()))?;
        publications.push(joint::Publication {
            label: format!("{campaign} v{version}"),
            template,
            snapshot: row.get(3),
            period: Period {
                as_of,
                start: day(row.get(5)),
                end: day(row.get(6)),
            },
            cells: report.cells.clone(),
        });
    }
    let mut changes: Vec<joint::Change> =
        sqlx::query("SELECT from_snapshot, to_snapshot, added, removed FROM ledger_changes")
            .fetch_all(archive.pool())
            .await?
            .iter()
            .map(|r| joint::Change {
                from: r.get(0),
                to: r.get(1),
                added: r.get::<i64, _>(2) as u64,
                removed: r.get::<i64, _>(3) as u64,
            })
            .collect();
    if let Some(s) = next {
        changes.extend(changes_to(archive, s).await?);
    }
    Ok(joint::Ledger {
        publications,
        changes,
    })
}

/// One version as `sent` prints it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub campaign: String,
    pub version: u32,
    pub template: Option<String>,
    pub as_of: Option<String>,
    pub state: String,
    pub hash: String,
    /// Exactly the bytes sent (or queued to be sent).
    pub body: String,
}

/// Every version queued for the parent, oldest first, optionally of one campaign and version.
pub async fn sent(
    archive: &Archive,
    campaign: Option<&str>,
    version: Option<u32>,
) -> Result<Vec<Sent>, Error> {
    let rows = sqlx::query(
        "SELECT v.campaign, v.version, p.template_id, p.as_of, COALESCE(o.state, 'pending'), v.hash, v.body \
         FROM report_versions v LEFT JOIN publications p USING (campaign, version) \
         LEFT JOIN outbox o USING (campaign, version) \
         WHERE (? IS NULL OR v.campaign = ?) AND (? IS NULL OR v.version = ?) \
         ORDER BY v.created_at, v.campaign, v.version",
    )
    .bind(campaign)
    .bind(campaign)
    .bind(version.map(i64::from))
    .bind(version.map(i64::from))
    .fetch_all(archive.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| Sent {
            campaign: r.get(0),
            version: r.get::<i64, _>(1) as u32,
            template: r.get(2),
            as_of: r.get(3),
            state: r.get(4),
            hash: r.get(5),
            body: r.get(6),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correction_is_one_household_added_and_one_removed() {
        assert_eq!(difference(&[1, 2, 3], &[1, 2, 4]), (1, 1));
        assert_eq!(difference(&[1, 2, 2], &[2, 2, 5, 6]), (2, 1));
        assert_eq!(difference(&[], &[7]), (1, 0));
    }
}
