//! The rollup of a campaign (CONTRACT.md, "Reports and rollups"): each registered child's latest
//! version, summed. A cell every reporting child published is exact; where some child withheld it,
//! the rollup carries the range the child's own disclosure audit allows (so the hub never learns,
//! or passes up, more than the child published).

use std::collections::BTreeMap;

use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, ContentHash, Version};
use bangfu_shared::report::{Cell, Report};
use bangfu_shared::template::Template;
use serde::Serialize;

pub mod reconcile;
pub mod versions;

use bangfu_shared::protocol::ReviewMark;

use crate::campaigns;
use crate::error::Error;
use crate::registry;
use crate::review;
use crate::signed::Verifier;
use crate::store::{self, Store};
use bangfu_shared::org::Level;

/// A rollup cell: exact, a range (`upper` null when nothing bounds it), or, in a child's report as
/// received, withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RollupCell {
    Value {
        value: Decimal,
    },
    Range {
        lower: Decimal,
        upper: Option<Decimal>,
    },
    Suppressed {
        suppressed: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completeness {
    pub expected: usize,
    pub received: usize,
    pub on_time: usize,
    pub late: usize,
    pub missing: Vec<OrgCode>,
}

/// A reconciliation finding ([`reconcile`]): `rule` is a stable id (`table_rule`, `relation`,
/// `hub_sum`, `outlier`, `two_parents`, `wrong_parent`, `older_version`, `joint_narrowed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The org the finding is about (for `hub_sum`, the intermediate hub).
    pub org: OrgCode,
    pub rule: String,
    pub detail: String,
    /// The cells concerned, if the finding is about cells.
    pub cells: Vec<String>,
    /// The intermediate hub the report came through, when it is a grandchild's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<OrgCode>,
}

/// One child version a rollup was made from, so any total can be traced to what was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub org: OrgCode,
    pub version: Version,
    /// The SHA-256 of the exact signed bytes of the report (the intake's hash; for a county
    /// report embedded in a hub child's, the hash of the text its county signed).
    pub hash: ContentHash,
    /// For a county report counted through a hub child: that hub. Absent for a direct child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<OrgCode>,
}

/// The finding's rule id for a county report whose signature does not verify (or whose
/// certificate is revoked): not counted.
pub const BAD_SIGNATURE: &str = "bad_signature";

/// A cell's `(lower, upper, exact)` in the cell's scale (`upper` None: unbounded).
pub type Bounds = (Decimal, Option<Decimal>, bool);

/// The rollup JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollup {
    pub campaign: CampaignId,
    pub org: OrgCode,
    pub name: String,
    /// The stored rollup version ([`versions`]); for a child entry, its report's version.
    pub version: Version,
    /// None for a child's report (a node has no children).
    pub completeness: Option<Completeness>,
    pub cells: BTreeMap<String, RollupCell>,
    pub issues: Vec<Issue>,
    /// The child versions this rollup was made from (empty in a child entry).
    pub sources: Vec<Source>,
    pub children: Vec<Rollup>,
    /// On a child's entry: the review of its version at this level (on a grandchild's: the review
    /// its own hub made), filled by `review::annotate`. Absent at the top and when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewMark>,
}

struct Latest {
    report: Report,
    /// The exact bytes received and the sender's signature over them (None: stored before 0008).
    body: String,
    jws: Option<String>,
    received_at: chrono::DateTime<chrono::Utc>,
    hash: ContentHash,
    on_time_ever: bool,
    /// Versions in the order they arrived.
    arrivals: Vec<(String, Version)>,
    /// Every stored version that counts, for the versions of grandchildren it embedded before,
    /// with when it was received.
    all: Vec<(Report, chrono::DateTime<chrono::Utc>)>,
}

/// The rollup of campaign `id` for the hub `org`/`name`, stored as a new version when it differs
/// from the last one stored ([`versions::record`]).
pub async fn rollup_with(
    store: &Store,
    org: &OrgCode,
    name: &str,
    id: &CampaignId,
    settings: &reconcile::Settings,
    verifier: &Verifier,
) -> Result<Rollup, Error> {
    let mut r = compute(store, org, name, id, settings, verifier).await?;
    // Before the version is recorded: the review states are part of what this level says about its
    // children (and go up in its report), so a new decision is a new rollup version, printed by
    // `rollup --version` as it was.
    annotate(store, &mut r).await?;
    r.version = versions::record(store, &r, chrono::Utc::now()).await?;
    Ok(r)
}

/// Puts the review state on a rollup's entries: each child's state here, and, under a hub child,
/// each grandchild's state as that hub reported it (only when it is of the version embedded).
async fn annotate(store: &Store, rollup: &mut Rollup) -> Result<(), review::Error> {
    let states = review::states(store, &rollup.campaign).await?;
    for child in &mut rollup.children {
        child.review = states
            .get(&child.org)
            .filter(|r| r.version == child.version)
            .map(review::Review::mark);
        if child.children.is_empty() {
            continue;
        }
        let below = reviews_below(store, &rollup.campaign, &child.org, child.version).await?;
        for g in &mut child.children {
            g.review = below
                .get(g.org.as_str())
                .filter(|m| m.version == g.version)
                .copied();
        }
    }
    Ok(())
}

/// The reviews a hub child sent with version `version` of its report.
async fn reviews_below(
    store: &Store,
    campaign: &CampaignId,
    org: &OrgCode,
    version: Version,
) -> Result<BTreeMap<String, ReviewMark>, review::Error> {
    let body: Option<(String,)> = sqlx::query_as(
        "SELECT body FROM reports WHERE campaign = $1 AND org = $2 AND version = $3",
    )
    .bind(campaign.to_string())
    .bind(org.as_str().to_string())
    .bind(version.to_db())
    .fetch_optional(&store.pool)
    .await?;
    let Some((body,)) = body else {
        return Ok(BTreeMap::new());
    };
    let report: Report = serde_json::from_str(&body)
        .map_err(|e| store::Error::Corrupt(format!("a stored report of {org}: {e}")))?;
    Ok(report.reviews)
}

/// The orgs with stored reports on `campaign` none of which counts any more (each signed by a
/// certificate revoked since), and each other org's counted report: its latest version that still
/// counts ([`Verifier::counts`]), with every counting version kept. A version received under a
/// revoked certificate neither counts nor makes the real child's later versions look older.
/// The third part: the orgs whose latest counting version is not a report at all (a store
/// tampered with, or written before intake checked JSON), with that version and its text.
async fn load(store: &Store, id: &str, verifier: &Verifier) -> Result<Loaded, Error> {
    type Row = (
        String,
        i64,
        String,
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> =
        sqlx::query_as("SELECT org, version, body, on_time, hash, received_at, jws, signer FROM reports WHERE campaign = $1 ORDER BY org, version")
            .bind(id.to_string())
            .fetch_all(&store.pool)
            .await
            .map_err(store::Error::from)?;
    let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
    let mut revoked: Vec<String> = vec![];
    let mut unreadable: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for (o, version, body, on_time, hash, received_at, jws, signer) in rows {
        let at = chrono::DateTime::parse_from_rfc3339(&received_at)
            .map_err(|e| store::Error::Corrupt(format!("a stored report of {o}: {e}")))?
            .with_timezone(&chrono::Utc);
        if !verifier.counts(signer.as_deref(), at) {
            if !revoked.contains(&o) {
                revoked.push(o);
            }
            continue;
        }
        // One unreadable row used to fail the whole rollup (and with it this hub's report up, for
        // every sibling). It is held back instead, like any report that cannot be forwarded: as the
        // org's latest version it replaces what came before (that is not silently counted instead).
        let report: Report = match serde_json::from_str(&body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(org = %o, version, error = %e, "a stored report is not readable; held back");
                latest.remove(&o);
                unreadable.insert(o, (version, body));
                continue;
            }
        };
        unreadable.remove(&o);
        let corrupt = |e: bangfu_shared::protocol::IdError| {
            store::Error::Corrupt(format!("a stored report of {o}: {e}"))
        };
        let version = Version::from_db(version).map_err(corrupt)?;
        let hash = ContentHash::parse(&hash).map_err(corrupt)?;
        let (ever, mut arrivals, mut all) = match latest.remove(&o) {
            Some(l) => (l.on_time_ever || on_time != 0, l.arrivals, l.all),
            None => (on_time != 0, vec![], vec![]),
        };
        arrivals.push((received_at, version));
        all.push((report.clone(), at));
        latest.insert(
            o,
            Latest {
                report,
                body,
                jws,
                received_at: at,
                hash,
                on_time_ever: ever,
                arrivals,
                all,
            },
        );
    }
    revoked.retain(|o| !latest.contains_key(o) && !unreadable.contains_key(o));
    for l in latest.values_mut() {
        // RFC 3339 in UTC from one writer: parsing orders it, whatever the fraction's digits.
        l.arrivals
            .sort_by_key(|(at, v)| (chrono::DateTime::parse_from_rfc3339(at).ok(), *v));
    }
    Ok((latest, revoked, unreadable))
}

/// What [`load`] finds: the counted reports by org, the orgs whose every version was revoked, and
/// the orgs whose latest version is unreadable (version, text).
type Loaded = (
    BTreeMap<String, Latest>,
    Vec<String>,
    BTreeMap<String, (i64, String)>,
);

/// The embedded reports of a hub child's report (none for a node's), unverified: for the findings
/// about what a hub forwarded (`wrong_parent`, `two_parents`, older versions). Unreadable ones were
/// refused at intake, so they are skipped here.
fn embedded(r: &Report) -> Vec<Report> {
    r.children.iter().filter_map(|e| e.read().ok()).collect()
}

/// The county reports of hub child `hub`'s counted report `l` that this level counts: readable, a
/// county of `hub`'s own, and signed by that county with a certificate of the CA not revoked by
/// the time this hub first received the signature. Each other one is a finding (`bad_signature`;
/// a county not `hub`'s is `wrong_parent`, found on all embedded reports).
fn verified_below(
    hub: &OrgCode,
    l: &Latest,
    verifier: &Verifier,
    issues: &mut Vec<Issue>,
) -> Vec<(Report, ContentHash)> {
    // When this hub first held each signature: a later version of the hub's report forwarding the
    // same county version does not make it younger (a revocation since that time leaves it standing).
    let mut first_seen: BTreeMap<&str, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
    for (r, at) in &l.all {
        for e in &r.children {
            let seen = first_seen.entry(e.jws.as_str()).or_insert(*at);
            *seen = (*seen).min(*at);
        }
    }
    let mut out = vec![];
    for e in &l.report.children {
        let Ok(c) = e.read() else { continue };
        if !(c.org.level() == bangfu_shared::org::Level::County
            && c.org.as_str().starts_with(hub.as_str()))
        {
            continue;
        }
        let at = first_seen
            .get(e.jws.as_str())
            .copied()
            .unwrap_or(l.received_at);
        match verifier.verify(e.report.as_bytes(), Some(&e.jws), &c.org, at) {
            Ok(_) => out.push((c, e.hash())),
            Err(why) => {
                tracing::warn!(org = %c.org, via = %hub, error = %why, "an embedded county report does not verify; not counted");
                issues.push(Issue {
                    org: c.org.clone(),
                    rule: BAD_SIGNATURE.into(),
                    detail: format!("not counted / 签名无效，未计入: {why}"),
                    cells: vec![],
                    via: Some(hub.clone()),
                });
            }
        }
    }
    out
}

/// A stored version's signature, if it has one, for forwarding it upward byte for byte.
pub struct Counted {
    pub org: OrgCode,
    pub version: Version,
    /// The exact bytes received.
    pub body: String,
    pub jws: Option<String>,
}

/// Each registered child's counted report on `campaign` (its latest version that still counts),
/// by org, as received: what this hub forwards upward.
pub async fn counted(
    store: &Store,
    campaign: &str,
    verifier: &Verifier,
) -> Result<Vec<Counted>, Error> {
    let orgs = registry::list(store).await?;
    let (mut latest, _, mut unreadable) = load(store, campaign, verifier).await?;
    Ok(orgs
        .into_iter()
        .filter_map(|o| {
            // An unreadable latest version is passed on as it is: the screen upward holds it back.
            if let Some((v, body)) = unreadable.remove(o.code.as_str()) {
                return Some(Counted {
                    org: o.code,
                    version: Version::from_db(v).unwrap_or_default(),
                    body,
                    jws: None,
                });
            }
            let l = latest.remove(o.code.as_str())?;
            Some(Counted {
                org: o.code,
                version: l.report.version,
                body: l.body,
                jws: l.jws,
            })
        })
        .collect())
}

/// The rollup as computed now (version 0 until stored).
async fn compute(
    store: &Store,
    org: &OrgCode,
    name: &str,
    id: &CampaignId,
    settings: &reconcile::Settings,
    verifier: &Verifier,
) -> Result<Rollup, Error> {
    let campaign = campaigns::get(store, id.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("no campaign `{id}`")))?;
    let t = campaign
        .template()
        .map_err(|e| Error::Unprocessable(format!("the campaign's template does not load: {e}")))?;
    let orgs = registry::list(store).await?;
    let (latest, revoked, unreadable) = load(store, id.as_str(), verifier).await?;
    // Counties' counted reports that cannot be forwarded (the strict intake's screen).
    let county_bodies = latest
        .iter()
        .filter(|(o, _)| OrgCode::parse(o).is_ok_and(|o| o.level() == Level::County));
    let held = crate::containment::screen(
        &t,
        county_bodies.map(|(o, l)| (o.as_str(), l.body.as_str())),
    );
    let previous = previous_reports(store, &campaign, verifier).await?;

    let mut completeness = Completeness {
        expected: orgs.len(),
        received: 0,
        on_time: 0,
        late: 0,
        missing: vec![],
    };
    let mut children = vec![];
    let mut issues = vec![];
    let mut sources = vec![];
    let mut each = vec![];
    let mut forwarded = vec![];
    for o in &orgs {
        if unreadable.contains_key(o.code.as_str()) {
            completeness.received += 1;
            let h = bangfu_shared::protocol::intake::HeldBack {
                fault: bangfu_shared::protocol::intake::Fault::Malformed,
                path: "$".into(),
            };
            issues.push(held_back(&o.code, &h, None));
            continue;
        }
        let Some(l) = latest.get(o.code.as_str()) else {
            if revoked.iter().any(|r| r == o.code.as_str()) {
                issues.push(Issue {
                    org: o.code.clone(),
                    rule: BAD_SIGNATURE.into(),
                    detail: "every version was signed by a certificate revoked since; not counted / 证书已吊销，未计入".into(),
                    cells: vec![],
                    via: None,
                });
            }
            completeness.missing.push(o.code.clone());
            continue;
        };
        completeness.received += 1;
        if l.on_time_ever {
            completeness.on_time += 1
        } else {
            completeness.late += 1
        }
        if let Some(h) = held.get(o.code.as_str()) {
            issues.push(held_back(&o.code, h, None));
            continue;
        }
        let r = &l.report;
        issues.extend(
            r.held_back
                .iter()
                .filter_map(|(c, h)| Some(held_back(&OrgCode::parse(c).ok()?, h, Some(&o.code)))),
        );
        sources.push(Source {
            org: o.code.clone(),
            version: r.version,
            hash: l.hash.clone(),
            via: None,
        });
        // Each child's audit once: for the sum and for re-running its rules.
        let b = bounds(&t, r);
        issues.extend(reconcile::older_versions(
            &o.code,
            &l.arrivals.iter().map(|a| a.1).collect::<Vec<_>>(),
            None,
        ));
        issues.extend(findings(&t, r, &b, None, previous.as_ref(), settings));
        if o.code.level() != Level::Prefecture {
            each.push(b);
            children.push(as_child(id, &o.name, r, None));
            continue;
        }
        // A hub child: what counts is the county reports below it that verify, not its claim.
        let inner = embedded(r);
        let verified = verified_below(&o.code, l, verifier, &mut issues);
        let counted: Vec<&Report> = verified.iter().map(|(c, _)| c).collect();
        let verified_bounds: Vec<BTreeMap<String, Bounds>> =
            counted.iter().map(|c| bounds(&t, c)).collect();
        let verified_sum = reconcile::sum_bounds(&verified_bounds);
        each.extend(verified_bounds);
        for (c, hash) in &verified {
            sources.push(Source {
                org: c.org.clone(),
                version: c.version,
                hash: hash.clone(),
                via: Some(o.code.clone()),
            });
        }
        {
            let all: Vec<&Report> = inner.iter().collect();
            issues.extend(reconcile::hub_sum(&t, r, &counted));
            issues.extend(reconcile::wrong_parents(&o.code, &all));
            for c in &counted {
                issues.extend(findings(
                    &t,
                    c,
                    &bounds(&t, c),
                    Some(&o.code),
                    previous.as_ref(),
                    settings,
                ));
                // A grandchild version lower than one this hub forwarded before.
                // Only versions that still verify: one received under a certificate revoked since
                // (a thief's, far ahead) would otherwise make the real county's next versions look
                // older, at every level above, for good.
                let before = l
                    .all
                    .iter()
                    .flat_map(|(r, at)| r.children.iter().map(move |e| (e, *at)))
                    .filter_map(|(e, at)| Some((e, e.read().ok()?, at)))
                    .filter(|(e, x, at)| {
                        x.org == c.org
                            && verifier
                                .verify(e.report.as_bytes(), Some(&e.jws), &x.org, *at)
                                .is_ok()
                    })
                    .map(|(_, x, _)| x.version)
                    .max();
                if let Some(b) = before.filter(|&b| b > c.version) {
                    issues.extend(reconcile::older_versions(
                        &c.org,
                        &[b, c.version],
                        Some(&o.code),
                    ));
                }
            }
            forwarded.push((
                o.code.clone(),
                inner.iter().map(|c| c.org.clone()).collect(),
            ));
        }
        children.push(as_child(
            id,
            &o.name,
            r,
            Some((cells_of(&t, &verified_sum), &counted)),
        ));
    }
    issues.extend(reconcile::two_parents(&forwarded));
    // What the joint check recorded after intake (`crate::joint`): a node bug, shown where the
    // campaign's findings are read.
    issues.extend(
        crate::joint::findings(store, id.as_str())
            .await?
            .into_iter()
            .map(|n| Issue {
                org: n.org.clone(),
                rule: crate::joint::RULE.into(),
                detail: n.detail(),
                cells: n.cells,
                via: None,
            }),
    );
    let cells = cells_of(&t, &reconcile::sum_bounds(&each));
    Ok(Rollup {
        campaign: id.clone(),
        org: org.clone(),
        name: name.to_string(),
        version: Version::default(),
        completeness: Some(completeness),
        cells,
        issues,
        sources,
        children,
        review: None,
    })
}

/// A child left out of the sums (and of this hub's report up) because its report cannot be
/// forwarded ([`crate::containment`]), or one its hub `via` left out for that reason.
fn held_back(
    org: &OrgCode,
    h: &bangfu_shared::protocol::intake::HeldBack,
    via: Option<&OrgCode>,
) -> Issue {
    Issue {
        org: org.clone(),
        rule: crate::containment::RULE.into(),
        detail: format!(
            "held back, not counted / 暂缓上报，未计入: {}",
            h.describe()
        ),
        cells: vec![],
        via: via.cloned(),
    }
}

/// The findings about one report on its own: its failed rules, the rules re-run, and its change
/// against the previous campaign.
fn findings(
    t: &Template,
    r: &Report,
    b: &BTreeMap<String, Bounds>,
    via: Option<&OrgCode>,
    previous: Option<&Previous>,
    settings: &reconcile::Settings,
) -> Vec<Issue> {
    let mut out = reconcile::table_rules(r, via);
    out.extend(reconcile::relations_within(t, r, b, via));
    if let Some(p) = previous
        && let Some(before) = p.reports.get(r.org.as_str())
    {
        out.extend(reconcile::outliers(
            t,
            r,
            before,
            &p.campaign,
            settings,
            via,
        ));
    }
    out
}

/// The rollup arithmetic: the children's reports summed cell by cell. Exact where every child
/// published the cell; otherwise the range from each child's published value or its own audit's
/// range for what it withheld (upper None: something bounds it from nobody).
pub fn add_up(t: &Template, reports: &[&Report]) -> BTreeMap<String, RollupCell> {
    cells_of(t, &reconcile::sum(t, reports))
}

/// Summed bounds as rollup cells, in the template's order.
fn cells_of(t: &Template, sums: &BTreeMap<String, Bounds>) -> BTreeMap<String, RollupCell> {
    t.cells
        .iter()
        .filter_map(|c| {
            let &(lo, hi, exact) = sums.get(&c.code)?;
            let cell = if exact {
                RollupCell::Value { value: lo }
            } else {
                RollupCell::Range {
                    lower: lo,
                    upper: hi,
                }
            };
            Some((c.code.clone(), cell))
        })
        .collect()
}

/// The latest reports of the same template's previous campaign (by end date), by org, counties
/// embedded in a hub's report included.
struct Previous {
    campaign: String,
    reports: BTreeMap<String, Report>,
}

async fn previous_reports(
    store: &Store,
    campaign: &campaigns::Campaign,
    verifier: &Verifier,
) -> Result<Option<Previous>, Error> {
    let Some(prev) = campaigns::list(store)
        .await?
        .into_iter()
        .filter(|c| c.template == campaign.template && c.end < campaign.end)
        .max_by(|a, b| (a.end, &a.id).cmp(&(b.end, &b.id)))
    else {
        return Ok(None);
    };
    let mut reports = BTreeMap::new();
    for (org, l) in load(store, prev.id.as_str(), verifier).await?.0 {
        for c in embedded(&l.report) {
            reports.insert(c.org.as_str().to_string(), c);
        }
        reports.insert(org, l.report);
    }
    Ok(Some(Previous {
        campaign: prev.id.to_string(),
        reports,
    }))
}

/// A child's report as received, with the reports it embeds (a hub child's own children) nested
/// under it, so the rollup drills down to a county. For a hub child, `verified` is what this level
/// counts of it: the sum of the county reports that verify, shown instead of the hub's claim, and
/// those reports. A grandchild's name is not known here: its code stands in for it.
fn as_child(
    id: &CampaignId,
    name: &str,
    r: &Report,
    verified: Option<(BTreeMap<String, RollupCell>, &[&Report])>,
) -> Rollup {
    let (cells, children) = match verified {
        Some((cells, below)) => (
            cells,
            below
                .iter()
                .map(|c| as_child(id, c.org.as_str(), c, None))
                .collect(),
        ),
        None => (
            r.cells
                .iter()
                .map(|(k, c)| (k.clone(), as_received(c)))
                .collect(),
            vec![],
        ),
    };
    Rollup {
        campaign: id.clone(),
        org: r.org.clone(),
        name: name.to_string(),
        version: r.version,
        completeness: None,
        cells,
        issues: reconcile::table_rules(r, None),
        sources: vec![],
        children,
        review: None,
    }
}

/// What a child's report says about each cell, as `(lower, upper, exact)` in the cell's scale
/// (`upper` None: unbounded). A value is exact; a hub child's range is taken as sent; a withheld cell
/// of a node gets the range its own disclosure audit leaves open (a hub child's withheld cell, which
/// nothing bounds, is `[0, ∞)`).
pub fn bounds(t: &Template, r: &Report) -> BTreeMap<String, Bounds> {
    let ranges = disclose::audit(t, &r.cells).unwrap_or_default();
    let mut out = BTreeMap::new();
    for cell in &t.cells {
        let Some(c) = r.cells.get(&cell.code) else {
            continue;
        };
        let b = match (c.value(), c.range()) {
            (Some(v), _) => (v.rescale(cell.scale), Some(v.rescale(cell.scale)), true),
            (None, Some((lo, hi))) => (lo.rescale(cell.scale), Some(hi.rescale(cell.scale)), false),
            (None, None) => {
                let range = ranges.iter().find(|x| x.code == cell.code);
                let lo = range.map_or(0.0, |x| x.lower.max(0.0));
                let hi = range.map(|x| x.upper).filter(|u| u.is_finite());
                (
                    floor(lo, cell.scale),
                    hi.map(|u| ceil(u, cell.scale)),
                    false,
                )
            }
        };
        out.insert(cell.code.clone(), b);
    }
    out
}

fn as_received(c: &Cell) -> RollupCell {
    match (c.value(), c.range()) {
        (Some(value), _) => RollupCell::Value { value },
        (None, Some((lower, upper))) => RollupCell::Range {
            lower,
            upper: Some(upper),
        },
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
