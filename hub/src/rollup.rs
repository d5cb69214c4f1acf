//! The rollup of a campaign (CONTRACT.md, "Reports and rollups"): each registered child's latest
//! version, summed. A cell every reporting child published is exact; where some child withheld it,
//! the rollup carries the range the child's own disclosure audit allows (so the hub never learns,
//! or passes up, more than the child published).

use std::collections::BTreeMap;

use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose;
use bangfu_shared::org::OrgCode;
use bangfu_shared::report::{Cell, Report};
use bangfu_shared::template::Template;
use serde::Serialize;

use crate::campaigns;
use crate::error::Error;
use crate::registry;
use crate::store::{self, Store};

/// A rollup cell: exact, a range (`upper` null when nothing bounds it), or, in a child's report as
/// received, withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RollupCell {
    Value { value: Decimal },
    Range { lower: Decimal, upper: Option<Decimal> },
    Suppressed { suppressed: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completeness {
    pub expected: usize,
    pub received: usize,
    pub on_time: usize,
    pub late: usize,
    pub missing: Vec<OrgCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub org: OrgCode,
    pub rule: String,
    pub detail: String,
}

/// The rollup JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollup {
    pub campaign: String,
    pub org: OrgCode,
    pub name: String,
    pub version: u64,
    /// None for a child's report (a node has no children).
    pub completeness: Option<Completeness>,
    pub cells: BTreeMap<String, RollupCell>,
    pub issues: Vec<Issue>,
    pub children: Vec<Rollup>,
    /// On a child's entry: the review of its version at this level (on a grandchild's: the review
    /// its own hub made), filled by `review::annotate`. Absent at the top and when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<bangfu_shared::review::ReviewMark>,
}

struct Latest {
    report: Report,
    on_time_ever: bool,
}

/// The rollup of campaign `id` for the hub `org`/`name`.
pub async fn rollup(store: &Store, org: &OrgCode, name: &str, id: &str) -> Result<Rollup, Error> {
    let campaign = campaigns::get(store, id).await?.ok_or_else(|| Error::NotFound(format!("no campaign `{id}`")))?;
    let t = campaign.template().map_err(|e| Error::Unprocessable(format!("the campaign's template does not load: {e}")))?;
    let orgs = registry::list(store).await?;
    let rows: Vec<(String, i64, String, i64)> =
        sqlx::query_as("SELECT org, version, body, on_time FROM reports WHERE campaign = $1 ORDER BY org, version")
            .bind(id.to_string())
            .fetch_all(&store.pool)
            .await
            .map_err(store::Error::from)?;
    let version = rows.len() as u64;
    let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
    for (o, _, body, on_time) in rows {
        let report: Report = serde_json::from_str(&body).map_err(|e| store::Error::Corrupt(format!("a stored report of {o}: {e}")))?;
        let ever = latest.get(&o).is_some_and(|l| l.on_time_ever) || on_time != 0;
        latest.insert(o, Latest { report, on_time_ever: ever });
    }

    let mut completeness = Completeness { expected: orgs.len(), received: 0, on_time: 0, late: 0, missing: vec![] };
    let mut children = vec![];
    let mut issues = vec![];
    // Per cell: lower and upper sums in the cell's scale (upper None: unbounded), and whether exact.
    let mut sums: BTreeMap<usize, (Decimal, Option<Decimal>, bool)> = BTreeMap::new();
    for o in &orgs {
        let Some(l) = latest.get(o.code.as_str()) else {
            completeness.missing.push(o.code.clone());
            continue;
        };
        completeness.received += 1;
        if l.on_time_ever { completeness.on_time += 1 } else { completeness.late += 1 }
        let r = &l.report;
        let bounds = bounds(&t, r);
        for (i, cell) in t.cells.iter().enumerate() {
            let Some(&(lo, hi, exact)) = bounds.get(&cell.code) else { continue };
            let e = sums.entry(i).or_insert((Decimal::new(0, cell.scale), Some(Decimal::new(0, cell.scale)), true));
            e.0 = e.0 + lo;
            e.1 = match (e.1, hi) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            e.2 &= exact;
        }
        for f in &r.failed_rules {
            issues.push(Issue { org: o.code.clone(), rule: f.rule.clone(), detail: f.detail.clone() });
        }
        children.push(as_child(id, &o.name, r));
    }
    let cells = sums
        .into_iter()
        .map(|(i, (lo, hi, exact))| {
            let cell = if exact { RollupCell::Value { value: lo } } else { RollupCell::Range { lower: lo, upper: hi } };
            (t.cells[i].code.clone(), cell)
        })
        .collect();
    let mut r = Rollup { campaign: id.to_string(), org: org.clone(), name: name.to_string(), version, completeness: Some(completeness), cells, issues, children, review: None };
    crate::review::annotate(store, &mut r).await?;
    Ok(r)
}

/// A child's report as received, with the reports it embeds (a hub child's own children) nested
/// under it, so the rollup drills down to a county. A grandchild's name is not known here: its code
/// stands in for it.
fn as_child(id: &str, name: &str, r: &Report) -> Rollup {
    let nested = r.children.iter().filter_map(|v| serde_json::from_value::<Report>(v.clone()).ok());
    Rollup {
        campaign: id.to_string(),
        org: r.org.clone(),
        name: name.to_string(),
        version: u64::from(r.version),
        completeness: None,
        cells: r.cells.iter().map(|(k, c)| (k.clone(), as_received(c))).collect(),
        issues: r.failed_rules.iter().map(|f| Issue { org: r.org.clone(), rule: f.rule.clone(), detail: f.detail.clone() }).collect(),
        children: nested.map(|c| as_child(id, c.org.as_str(), &c)).collect(),
        review: None,
    }
}

/// What a child's report says about each cell, as `(lower, upper, exact)` in the cell's scale
/// (`upper` None: unbounded). A value is exact; a hub child's range is taken as sent; a withheld cell
/// of a node gets the range its own disclosure audit leaves open (a hub child's withheld cell, which
/// nothing bounds, is `[0, ∞)`).
pub fn bounds(t: &Template, r: &Report) -> BTreeMap<String, (Decimal, Option<Decimal>, bool)> {
    let ranges = disclose::audit(t, &r.cells).unwrap_or_default();
    let mut out = BTreeMap::new();
    for cell in &t.cells {
        let Some(c) = r.cells.get(&cell.code) else { continue };
        let b = match (c.value(), c.range()) {
            (Some(v), _) => (v.rescale(cell.scale), Some(v.rescale(cell.scale)), true),
            (None, Some((lo, hi))) => (lo.rescale(cell.scale), Some(hi.rescale(cell.scale)), false),
            (None, None) => {
                let range = ranges.iter().find(|x| x.code == cell.code);
                let lo = range.map_or(0.0, |x| x.lower.max(0.0));
                let hi = range.map(|x| x.upper).filter(|u| u.is_finite());
                (floor(lo, cell.scale), hi.map(|u| ceil(u, cell.scale)), false)
            }
        };
        out.insert(cell.code.clone(), b);
    }
    out
}

fn as_received(c: &Cell) -> RollupCell {
    match (c.value(), c.range()) {
        (Some(value), _) => RollupCell::Value { value },
        (None, Some((lower, upper))) => RollupCell::Range { lower, upper: Some(upper) },
        _ => RollupCell::Suppressed { suppressed: true },
    }
}

fn floor(x: f64, scale: u8) -> Decimal {
    let f = 10f64.powi(i32::from(scale));
    Decimal::new((x * f + 1e-6).floor() as i64, scale)
}

fn ceil(x: f64, scale: u8) -> Decimal {
    let f = 10f64.powi(i32::from(scale));
    Decimal::new((x * f - 1e-6).ceil() as i64, scale)
}
