//! Building the report a node would send: aggregate the archive, add the typed-in figures, run the
//! table's rules, then disclosure control. What comes out is exactly what would leave the building.

use bangfu_shared::protocol::{CampaignId, Version};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose::joint::{self, ChangePolicy};
use bangfu_shared::org::OrgCode;
use bangfu_shared::report::{CountedOn, MAX_SNAPSHOT_CHANGES, Report, SnapshotChange};
use bangfu_shared::template::Template;
use bangfu_shared::{disclose, rules};

use bangfu_shared::vocabulary::Vocabulary;

use crate::archive::{self, Archive};
use crate::facts::{self, ArchiveFacts};
use crate::{campaigns, ledger};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("typed-in figures: {0}")]
    Typed(#[from] bangfu_shared::template::Error),
    #[error("no report can be produced: {0}")]
    Disclosure(#[from] disclose::Error),
    #[error("writing {path}: {detail}")]
    Write { path: String, detail: String },
    #[error(transparent)]
    Campaign(#[from] campaigns::Error),
    #[error("reading the archive for the report: {0}")]
    Archive(#[from] archive::Error),
    #[error("reading the publication ledger: {0}")]
    Ledger(#[from] ledger::Error),
}

/// The report of campaign `id` as it would leave the node, and its table. One path for `report`,
/// `push` and `serve`, so what a person previews is what is sent (DESIGN.md "Data flow" 2).
pub async fn for_campaign(
    archive: &Archive,
    data: &Path,
    org: &OrgCode,
    vocabulary: &Vocabulary,
    id: &str,
    version: Version,
) -> Result<(Report, Template), Error> {
    let p = prepare(
        archive,
        data,
        org,
        vocabulary,
        id,
        version,
        ChangePolicy::default(),
    )
    .await?;
    Ok((p.report, p.template))
}

/// A campaign's report made with the ledger in view, and what the ledger is to keep of it.
pub struct Prepared {
    pub report: Report,
    pub template: Template,
    /// The ledger entry recorded with the version ([`crate::outbox::version_published`]).
    pub entry: ledger::Entry,
    /// Cells withheld because they changed by fewer than k households since last published.
    pub changed: BTreeSet<String>,
}

/// The report of campaign `id`, protected jointly with every report in the ledger (issue 11).
pub async fn prepare(
    archive: &Archive,
    data: &Path,
    org: &OrgCode,
    vocabulary: &Vocabulary,
    id: &str,
    version: Version,
    policy: ChangePolicy,
) -> Result<Prepared, Error> {
    let made = prepare_unless_sent(archive, data, org, vocabulary, id, version, policy, false);
    match made.await? {
        Made::New(p) => Ok(*p),
        Made::AsSent { .. } => unreachable!("made unless asked to skip"),
    }
}

/// What [`prepare_unless_sent`] did.
pub enum Made {
    New(Box<Prepared>),
    /// Not made: version `version` was made from the very same basis.
    AsSent {
        version: u32,
    },
}

/// [`prepare`], or [`Made::AsSent`] when `skip_sent` and the campaign's latest version was made from the very
/// same basis (archive snapshot, table, typed figures, period, policy: [`ledger::basis`]). The daemon
/// asks this every round: the joint audit is far dearer than the single-report one was, and a
/// report whose inputs did not change has nothing new to say (what the ledger gained since from other
/// campaigns was audited with this campaign's report in view), so it is not made again.
#[allow(clippy::too_many_arguments)]
pub async fn prepare_unless_sent(
    archive: &Archive,
    data: &Path,
    org: &OrgCode,
    vocabulary: &Vocabulary,
    id: &str,
    version: Version,
    policy: ChangePolicy,
    skip_sent: bool,
) -> Result<Made, Error> {
    let c = campaigns::get(archive, id).await?;
    let table = c.template(data, vocabulary)?;
    let template_text = ledger::template_text(&c, data)?;
    let typed = campaigns::typed(archive, id).await?;
    let archive_facts = facts::load(archive, vocabulary).await?;
    let period = Period::campaign(c.start, c.end);
    let snapshot = ledger::snapshot(&archive_facts, period.as_of);
    let basis = ledger::basis(org, &snapshot, &template_text, &typed, &period, policy);
    if skip_sent
        && let Some((version, latest)) = ledger::latest_basis(archive, id).await?
        && latest == basis
    {
        return Ok(Made::AsSent { version });
    }
    let sent = ledger::load(archive, vocabulary, Some(&snapshot)).await?;
    let changes: Vec<_> = sent
        .changes
        .iter()
        .filter(|ch| ch.to == snapshot.id)
        .cloned()
        .collect();
    let mut values = aggregate(
        &table,
        &archive_facts.households,
        &archive_facts.aid,
        &period,
    );
    values.enter(&table, &typed)?;
    let outcome = rules::evaluate(&table, |i| values.value(i));
    let draft = joint::Draft {
        label: format!("{id} (new)"),
        template: &table,
        values: &values,
        snapshot: snapshot.id.clone(),
        period,
    };
    let protected = joint::protect(&draft, &sent, policy)?;
    let changed = protected.changed().clone();
    let mut report = Report::new(
        org.clone(),
        &table,
        Some(c.id.clone()),
        period.as_of,
        version,
        protected,
        outcome,
    );
    // What the joint audit assumed the recipient knows, on the wire, so the hub can run the same
    // check over everything it holds from this node (issue 11 item 4).
    report.counted_on = Some(counted_on(&snapshot.id, &changes));
    Ok(Made::New(Box::new(Prepared {
        report,
        entry: ledger::Entry {
            template_id: table.id.clone(),
            template_text,
            snapshot,
            period,
            changes,
            basis,
        },
        template: table,
        changed,
    })))
}

/// A report's `counted_on`: its snapshot and the changes to it from the ledger's snapshots, the
/// last [`MAX_SNAPSHOT_CHANGES`] of them when there are more (the hub's check then sees fewer
/// relations: it may miss a narrowing, never invent one).
fn counted_on(snapshot: &str, changes: &[joint::Change]) -> CountedOn {
    let skip = changes.len().saturating_sub(MAX_SNAPSHOT_CHANGES);
    CountedOn {
        snapshot: snapshot.to_string(),
        changes: changes[skip..]
            .iter()
            .map(|c| SnapshotChange {
                from: c.from.clone(),
                added: c.added,
                removed: c.removed,
            })
            .collect(),
    }
}

/// What a report is made for.
pub struct Request<'a> {
    pub org: OrgCode,
    pub template: &'a Template,
    pub campaign: Option<CampaignId>,
    pub period: Period,
    pub version: Version,
}

/// Aggregates, checks and protects: the report as it would be sent.
pub fn build(
    req: Request<'_>,
    facts: &ArchiveFacts,
    typed: &BTreeMap<String, Decimal>,
) -> Result<Report, Error> {
    let mut values = aggregate(req.template, &facts.households, &facts.aid, &req.period);
    values.enter(req.template, typed)?;
    let outcome = rules::evaluate(req.template, |i| values.value(i));
    let protected = disclose::protect(req.template, &values)?;
    Ok(Report::new(
        req.org,
        req.template,
        req.campaign,
        req.period.as_of,
        req.version,
        protected,
        outcome,
    ))
}

/// A cell as a person reads it: the figure, `<k` when a count is withheld (`不公布` for money, where
/// `<k` would read as an amount), blank when not yet typed in.
fn shown(report: &Report, cell: &bangfu_shared::template::Cell) -> String {
    match report.cells.get(&cell.code) {
        None => String::new(),
        Some(c) if c.is_suppressed() && cell.is_money() => "不公布".to_string(),
        Some(c) if c.is_suppressed() => format!("<{}", report.threshold),
        Some(c) => match (c.value(), c.range()) {
            (Some(v), _) => v.to_string(),
            (None, Some((lo, hi))) => format!("{lo}–{hi}"),
            (None, None) => String::new(),
        },
    }
}

/// The report laid out like the seed's table: one line per cell, in the table's order.
pub fn as_table(report: &Report, template: &Template, org_name: &str) -> String {
    let mut out = format!(
        "{}\n填报单位 / org: {} {}    截至 / as of: {}    活动 / campaign: {}    版本 / version: {}\n",
        template.title,
        report.org,
        org_name,
        report.as_of,
        report.campaign.as_ref().map_or("-", CampaignId::as_str),
        report.version
    );
    out.push_str(&format!(
        "说明: <{k} 表示为保护隐私而不公布的户数、人次（小于 {k} 或可据此推算）；金额不公布时显示“不公布” / withheld to protect privacy\n\n",
        k = report.threshold
    ));
    let width = template
        .cells
        .iter()
        .map(|c| c.code.chars().count())
        .max()
        .unwrap_or(4)
        .min(40);
    for cell in &template.cells {
        let value = shown(report, cell);
        let value = if value.is_empty() {
            "（未填）".to_string()
        } else {
            value
        };
        out.push_str(&format!(
            "{:<width$}  {}  {} {}\n",
            cell.code, cell.label, value, cell.unit
        ));
    }
    if !report.failed_rules.is_empty() {
        out.push_str("\n未通过的校验 / failed rules:\n");
        for f in &report.failed_rules {
            out.push_str(&format!(
                "  [{:?}] {} — {}\n",
                f.importance, f.rule, f.detail
            ));
        }
    }
    if !report.pending_rules.is_empty() {
        out.push_str(&format!(
            "\n待填后校验 / rules pending typed-in figures: {}\n",
            report.pending_rules.len()
        ));
    }
    out
}

/// The same as a spreadsheet an office can print.
pub fn write_xlsx(
    report: &Report,
    template: &Template,
    org_name: &str,
    path: &Path,
) -> Result<(), Error> {
    let failed = |e: rust_xlsxwriter::XlsxError| Error::Write {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(&template.id).map_err(failed)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    sheet
        .write_string_with_format(0, 0, &template.title, &bold)
        .map_err(failed)?;
    sheet
        .write_string(
            1,
            0,
            format!(
                "填报单位: {} {}   截至: {}   活动: {}",
                report.org,
                org_name,
                report.as_of,
                report.campaign.as_ref().map_or("-", CampaignId::as_str)
            ),
        )
        .map_err(failed)?;
    for (c, h) in ["代码", "项目", "数值", "单位"].iter().enumerate() {
        sheet
            .write_string_with_format(3, c as u16, *h, &bold)
            .map_err(failed)?;
    }
    for (i, cell) in template.cells.iter().enumerate() {
        let r = 4 + i as u32;
        sheet.write_string(r, 0, &cell.code).map_err(failed)?;
        sheet.write_string(r, 1, &cell.label).map_err(failed)?;
        match report.cells.get(&cell.code).and_then(|c| c.value()) {
            Some(v) => sheet.write_number(r, 2, v.to_f64()).map_err(failed)?,
            None => sheet
                .write_string(r, 2, shown(report, cell))
                .map_err(failed)?,
        };
        sheet.write_string(r, 3, &cell.unit).map_err(failed)?;
    }
    let note = 5 + template.cells.len() as u32;
    sheet
        .write_string(
            note,
            0,
            format!("<{} 表示为保护隐私而不公布的数值", report.threshold),
        )
        .map_err(failed)?;
    sheet.set_column_width(1, 60).map_err(failed)?;
    let tmp = path.with_extension("xlsx.partial");
    book.save(&tmp).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Write {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}
