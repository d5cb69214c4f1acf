//! The hub's own joint check (issue 11 item 4): every report a child sent, of every campaign and
//! version, audited together as the node's joint audit audits them (`disclose::joint::audit`). A node
//! protects each report with everything it sent before in view, so a withheld cell that the reports
//! held here narrow below its k is a node bug, not a child's choice: it is recorded as a finding
//! (`joint_narrowed`, naming campaign, template, version and cell codes, never a value) and shown
//! with the campaign's rollup.
//!
//! What the model assumes the recipient knows travels in each report's `counted_on` (its archive
//! snapshot and the household records added and removed since earlier snapshots). A report without
//! it (made before the ledger) is left out: the hub does not guess what it was counted on.
//!
//! The check is an LP over every report of the child, far dearer than the intake's single-report
//! audit, so it runs after the store's commit, off the intake's answer ([`check_later`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use bangfu_shared::aggregate::Period;
use bangfu_shared::disclose::joint::{self, Change, Ledger, Publication};
use bangfu_shared::org::OrgCode;
use bangfu_shared::report::Report;

use crate::campaigns::{self, Campaign};
use crate::store::{self, Store};

/// The finding's rule id.
pub const RULE: &str = "joint_narrowed";

/// A report held from one child, with the campaign it was sent for.
pub struct Held {
    pub campaign: Campaign,
    pub report: Report,
}

/// Withheld cells of one report that the child's reports together narrow below what they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowed {
    pub org: OrgCode,
    pub campaign: String,
    pub template: String,
    pub version: u32,
    /// Cell codes, in the template's terms.
    pub cells: Vec<String>,
}

impl Narrowed {
    /// The finding's text: where, never a value.
    pub fn detail(&self) -> String {
        format!(
            "{} v{} ({}): withheld cells narrowed below k by this child's reports together, a node bug / 多份报表合并可推算出不公布单元格，请检查节点",
            self.campaign, self.version, self.template
        )
    }
}

/// The joint audit over `reports` (all from one child): the reports whose withheld cells it
/// narrows, with those cells. Reports without `counted_on` are left out; with fewer than two left
/// there is nothing joint to check (the intake audited each one alone).
pub fn narrowed(reports: &[Held]) -> Result<Vec<Narrowed>, bangfu_shared::disclose::Error> {
    let mut ledger = Ledger::default();
    let mut index = Vec::new();
    let mut changes = BTreeSet::new();
    for (i, h) in reports.iter().enumerate() {
        let Some(on) = &h.report.counted_on else {
            continue;
        };
        let Ok(template) = campaigns::template_of(&h.campaign) else {
            continue;
        };
        // The label names the report by its place here: a range's code is "label cell".
        ledger.publications.push(Publication {
            label: format!("#{i}"),
            template: (*template).clone(),
            snapshot: on.snapshot.clone(),
            period: Period::campaign(h.campaign.start, h.campaign.end),
            cells: h.report.cells.clone(),
        });
        index.push(i);
        for c in &on.changes {
            changes.insert((c.from.clone(), on.snapshot.clone(), c.added, c.removed));
        }
    }
    if ledger.publications.len() < 2 {
        return Ok(vec![]);
    }
    ledger.changes = changes
        .into_iter()
        .map(|(from, to, added, removed)| Change {
            from,
            to,
            added,
            removed,
        })
        .collect();
    let mut by_report: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    // A withheld cell whose very count another report publishes on the same snapshot is exact
    // (the songnuan 3C = dangan category.低保户). `audit` ranges only the unknowns of its
    // LP and that class is known, so it is found here, naming the report that withheld it.
    let published: BTreeSet<(String, String)> = ledger
        .publications
        .iter()
        .flat_map(|p| {
            p.template.cells.iter().enumerate().filter_map(|(i, c)| {
                p.cells.get(&c.code).and_then(|cell| cell.value())?;
                Some((
                    p.snapshot.clone(),
                    joint::identity(&p.template, i, &p.period)?,
                ))
            })
        })
        .collect();
    for (n, p) in ledger.publications.iter().enumerate() {
        for (i, c) in p.template.cells.iter().enumerate() {
            let withheld = p.cells.get(&c.code).is_some_and(|x| x.is_suppressed());
            let Some(id) = joint::identity(&p.template, i, &p.period) else {
                continue;
            };
            if withheld && published.contains(&(p.snapshot.clone(), id)) {
                by_report
                    .entry(index[n])
                    .or_default()
                    .insert(c.code.clone());
            }
        }
    }
    for r in joint::audit(&ledger)? {
        if r.upper - r.lower >= r.required - 1e-6 {
            continue;
        }
        let Some((label, cell)) = r.code.split_once(' ') else {
            continue;
        };
        let Some(i) = label.strip_prefix('#').and_then(|n| n.parse().ok()) else {
            continue;
        };
        by_report.entry(i).or_default().insert(cell.to_string());
    }
    Ok(by_report
        .into_iter()
        .map(|(i, cells)| {
            let r = &reports[i].report;
            Narrowed {
                org: r.org.clone(),
                campaign: reports[i].campaign.id.to_string(),
                template: r.template.clone(),
                version: r.version.get(),
                cells: cells.into_iter().collect(),
            }
        })
        .collect())
}

/// Every report stored from `org`, of every campaign this hub still has.
async fn held(store: &Store, org: &OrgCode) -> store::Result<Vec<Held>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT campaign, body FROM reports WHERE org = $1 ORDER BY campaign, version",
    )
    .bind(org.as_str().to_string())
    .fetch_all(&store.pool)
    .await?;
    let mut out = Vec::new();
    let mut known: BTreeMap<String, Option<Campaign>> = BTreeMap::new();
    for (campaign, body) in rows {
        if !known.contains_key(&campaign) {
            let c = campaigns::get(store, &campaign).await?;
            known.insert(campaign.clone(), c);
        }
        let Some(Some(c)) = known.get(&campaign) else {
            continue;
        };
        let report: Report = serde_json::from_str(&body)
            .map_err(|e| store::Error::Corrupt(format!("a stored report of {org}: {e}")))?;
        out.push(Held {
            campaign: c.clone(),
            report,
        });
    }
    Ok(out)
}

/// Runs the joint check over everything held from `org` now and records its findings (replacing
/// the child's earlier ones). Returns them.
pub async fn check(store: &Store, org: &OrgCode) -> store::Result<Vec<Narrowed>> {
    // One check at a time: each reads the store after the one before wrote, so the last to write
    // saw every report (and the LP is not run twice side by side on a two-core hub).
    static ONE: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    let _one = ONE.get_or_init(Default::default).lock().await;
    let reports = held(store, org).await?;
    let started = std::time::Instant::now();
    let found = tokio::task::spawn_blocking(move || narrowed(&reports))
        .await
        .map_err(|e| store::Error::Corrupt(format!("the joint check stopped: {e}")))?
        .map_err(|e| store::Error::Corrupt(format!("the joint check of {org}: {e}")))?;
    tracing::info!(%org, elapsed_ms = started.elapsed().as_millis() as u64, narrowed = found.len(), "joint check");
    let mut tx = store.pool.begin().await?;
    sqlx::query("DELETE FROM joint_findings WHERE org = $1")
        .bind(org.as_str().to_string())
        .execute(&mut *tx)
        .await?;
    for n in &found {
        sqlx::query(
            "INSERT INTO joint_findings (org, campaign, version, template, cells) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(n.org.as_str().to_string())
        .bind(n.campaign.clone())
        .bind(i64::from(n.version))
        .bind(n.template.clone())
        .bind(n.cells.join(","))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// [`check`] in the background, after the intake's commit: the child's answer does not wait for
/// the LP. A failure is logged (the next report from the child checks again).
pub fn check_later(store: &Store, org: &OrgCode) {
    let (store, org) = (store.clone(), org.clone());
    tokio::spawn(async move {
        if let Err(e) = check(&store, &org).await {
            tracing::warn!(%org, error = %e, "the joint check failed");
        }
    });
}

/// The recorded findings about campaign `campaign` (every child).
pub async fn findings(store: &Store, campaign: &str) -> store::Result<Vec<Narrowed>> {
    let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
        "SELECT org, campaign, version, template, cells FROM joint_findings WHERE campaign = $1 ORDER BY org, version",
    )
    .bind(campaign.to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.into_iter()
        .map(|(org, campaign, version, template, cells)| {
            Ok(Narrowed {
                org: OrgCode::parse(&org).map_err(|e| store::Error::Corrupt(e.to_string()))?,
                campaign,
                template,
                version: u32::try_from(version)
                    .map_err(|e| store::Error::Corrupt(e.to_string()))?,
                cells: cells.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}
