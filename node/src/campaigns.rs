//! The campaigns a node reports for and the figures its staff type in for them.
//!
//! A campaign normally arrives from the parent hub; a node that is not connected yet can enter one
//! from the circular itself (`bangfu-node campaign add`), as the seeds' offices receive them on paper.

use std::collections::BTreeMap;
use std::path::Path;

use bangfu_shared::decimal::Decimal;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{self, CampaignId};
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use sqlx::Row;

use crate::archive::{self, Archive};
use crate::import::source::{self, Opened, RawRow, RowSource, SheetRows};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no campaign `{0}` on this node; `bangfu-node campaign list` shows those it has / 没有该活动"
    )]
    Unknown(String),
    #[error("campaign `{0}` already exists / 活动已存在")]
    Exists(String),
    #[error("campaign `{id}`: the start {start} is after the end {end} / 开始日期晚于结束日期")]
    Dates {
        id: String,
        start: NaiveDate,
        end: NaiveDate,
    },
    #[error("template: {0}")]
    Template(#[from] template::Error),
    #[error("`{arg}`: {problem} / 填报数据有误")]
    Figure { arg: String, problem: String },
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Archive(#[from] archive::Error),
    /// The parent could not be asked, or answered something else.
    #[error(transparent)]
    Parent(#[from] bangfu_client::Error),
    /// A step of a campaign sync on this node's own database failed.
    #[error("{step}: {source}")]
    Sync {
        step: &'static str,
        #[source]
        source: Box<Error>,
    },
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Archive(archive::Error::Database(e))
    }
}

/// A campaign as the node knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub template: String,
    pub title: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub due: Option<NaiveDate>,
    /// The table file when the template is not built in.
    #[serde(skip)]
    pub template_body: Option<String>,
}

impl Campaign {
    /// The campaign's table: its own file if it came with one, else the node's or the built-in one.
    pub fn template(
        &self,
        data: &Path,
        vocabulary: &Vocabulary,
    ) -> Result<Template, template::Error> {
        match &self.template_body {
            Some(text) => Template::parse(text, vocabulary),
            None => template::load(&self.template, Some(&data.join("templates")), vocabulary),
        }
    }
}

fn date(s: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| corrupt(format!("campaign date `{s}`: {e}")))
}

fn corrupt(what: String) -> Error {
    Error::Archive(archive::Error::Corrupt(what))
}

pub async fn add(archive: &Archive, c: &Campaign, origin: &str) -> Result<(), Error> {
    if c.start > c.end {
        return Err(Error::Dates {
            id: c.id.to_string(),
            start: c.start,
            end: c.end,
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO campaigns (id, template, title, start_on, end_on, due_on, template_body, origin, received_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(c.id.as_str())
    .bind(&c.template)
    .bind(&c.title)
    .bind(c.start.to_string())
    .bind(c.end.to_string())
    .bind(c.due.map(|d| d.to_string()))
    .bind(&c.template_body)
    .bind(origin)
    .bind(bangfu_shared::time::in_shanghai(chrono::Utc::now()).to_rfc3339())
    .execute(archive.pool())
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Error::Exists(c.id.to_string()));
    }
    Ok(())
}

pub async fn get(archive: &Archive, id: &str) -> Result<Campaign, Error> {
    let row = sqlx::query("SELECT id, template, title, start_on, end_on, due_on, template_body FROM campaigns WHERE id = ?")
        .bind(id)
        .fetch_optional(archive.pool())
        .await?
        .ok_or_else(|| Error::Unknown(id.to_string()))?;
    Ok(Campaign {
        id: CampaignId::parse(row.get(0)).map_err(|e| corrupt(e.to_string()))?,
        template: row.get(1),
        title: row.get(2),
        start: date(row.get(3))?,
        end: date(row.get(4))?,
        due: row.get::<Option<&str>, _>(5).map(date).transpose()?,
        template_body: row.get(6),
    })
}

pub async fn list(archive: &Archive) -> Result<Vec<Campaign>, Error> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM campaigns ORDER BY start_on, id")
        .fetch_all(archive.pool())
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(get(archive, &id).await?);
    }
    Ok(out)
}

/// The figures typed in for a campaign so far.
pub async fn typed(archive: &Archive, campaign: &str) -> Result<BTreeMap<String, Decimal>, Error> {
    let rows = sqlx::query("SELECT code, value FROM typed_cells WHERE campaign = ?")
        .bind(campaign)
        .fetch_all(archive.pool())
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let value: &str = row.get(1);
        let value = Decimal::parse(value)
            .map_err(|_| corrupt(format!("typed figure `{value}` of campaign `{campaign}`")))?;
        out.insert(row.get(0), value);
    }
    Ok(out)
}

/// Parses `CODE=VALUE` arguments.
pub fn parse_assignments(args: &[String]) -> Result<BTreeMap<String, Decimal>, Error> {
    let mut out = BTreeMap::new();
    for arg in args {
        let Some((code, value)) = arg.split_once('=') else {
            return Err(Error::Figure {
                arg: arg.clone(),
                problem: "write CODE=VALUE, e.g. 4A=12".into(),
            });
        };
        insert_figure(&mut out, arg, code, value)?;
    }
    Ok(out)
}

fn insert_figure(
    out: &mut BTreeMap<String, Decimal>,
    arg: &str,
    code: &str,
    value: &str,
) -> Result<(), Error> {
    let parsed =
        Decimal::parse(value.trim().replace(',', "").as_str()).map_err(|_| Error::Figure {
            arg: arg.to_string(),
            problem: "the value is not a number".into(),
        })?;
    if out.insert(code.trim().to_string(), parsed).is_some() {
        return Err(Error::Figure {
            arg: arg.to_string(),
            problem: "this cell is given twice".into(),
        });
    }
    Ok(())
}

/// Reads `code,value` rows from a .csv or .xlsx file (a header row is allowed).
pub fn read_figures_file(path: &Path) -> Result<BTreeMap<String, Decimal>, Error> {
    let mut out = BTreeMap::new();
    let mut row = RawRow::default();
    let mut take = |row: &RawRow| -> Result<(), Error> {
        let cells: Vec<&str> = row.cells.iter().map(|c| c.trim()).collect();
        let (Some(code), Some(value)) = (cells.first(), cells.get(1)) else {
            return Ok(());
        };
        let header = row.line == 1 && Decimal::parse(value).is_err();
        if code.is_empty() || header {
            return Ok(());
        }
        insert_figure(
            &mut out,
            &format!("{}:{} {code}={value}", path.display(), row.line),
            code,
            value,
        )
    };
    match source::open(path)? {
        Opened::Csv { mut rows, .. } => {
            while rows.next_row(&mut row)? {
                take(&row)?;
            }
        }
        Opened::Xlsx { sheets, mut book } => {
            let mut rows = SheetRows::new(&mut book, &sheets[0], &path.display().to_string())?;
            while rows.next_row(&mut row)? {
                take(&row)?;
            }
        }
    }
    Ok(out)
}

/// Records typed-in figures for a campaign after checking them against its table: known codes,
/// typed-in cells only, numbers within the cell's decimals. All or nothing.
pub async fn enter(
    archive: &Archive,
    campaign: &Campaign,
    template: &Template,
    figures: &BTreeMap<String, Decimal>,
) -> Result<(), Error> {
    let period = bangfu_shared::aggregate::Period::campaign(campaign.start, campaign.end);
    let mut check = bangfu_shared::aggregate::aggregate(template, &[], &[], &period);
    check.enter(template, figures)?;
    let mut tx = archive.begin().await?;
    let now = bangfu_shared::time::in_shanghai(chrono::Utc::now()).to_rfc3339();
    for (code, value) in figures {
        sqlx::query(
            "INSERT INTO typed_cells (campaign, code, value, entered_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (campaign, code) DO UPDATE SET value = excluded.value, entered_at = excluded.entered_at",
        )
        .bind(campaign.id.as_str())
        .bind(code)
        .bind(value.to_string())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a campaign sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// This node's deadline in a parent's campaign: a county reports by the county date, a prefecture's
/// own node by the prefecture date (campaigns flow down with one date per level, CONTRACT.md "Hub").
pub async fn upsert_from_parent(
    archive: &Archive,
    org: &OrgCode,
    specs: &[protocol::Campaign],
) -> Result<Synced, Error> {
    let mut out = Synced::default();
    let now = bangfu_shared::time::in_shanghai(chrono::Utc::now()).to_rfc3339();
    let mut tx = archive.begin().await?;
    for spec in specs {
        if spec.start > spec.end {
            return Err(Error::Dates {
                id: spec.id.to_string(),
                start: spec.start,
                end: spec.end,
            });
        }
        let due = spec.due.for_level(org.level()).map(|d| d.to_string());
        let existed: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = ?)")
                .bind(spec.id.as_str())
                .fetch_one(&mut *tx)
                .await?;
        let changed = sqlx::query(
            "INSERT INTO campaigns (id, template, title, start_on, end_on, due_on, template_body, origin, received_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'parent', ?) \
             ON CONFLICT (id) DO UPDATE SET template = excluded.template, title = excluded.title, start_on = excluded.start_on, \
                end_on = excluded.end_on, due_on = excluded.due_on, template_body = excluded.template_body, origin = 'parent', \
                received_at = excluded.received_at \
             WHERE campaigns.template IS NOT excluded.template OR campaigns.title IS NOT excluded.title \
                OR campaigns.start_on IS NOT excluded.start_on OR campaigns.end_on IS NOT excluded.end_on \
                OR campaigns.due_on IS NOT excluded.due_on OR campaigns.template_body IS NOT excluded.template_body \
                OR campaigns.origin IS NOT 'parent'",
        )
        .bind(spec.id.as_str())
        .bind(&spec.template)
        .bind(&spec.title)
        .bind(spec.start.to_string())
        .bind(spec.end.to_string())
        .bind(&due)
        .bind(&spec.template_body)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        match (existed, changed) {
            (false, _) => out.added += 1,
            (true, 0) => out.unchanged += 1,
            (true, _) => out.updated += 1,
        }
    }
    tx.commit().await?;
    Ok(out)
}

const CAMPAIGNS_ETAG: &str = "campaigns_etag";

/// Fetches the parent's campaigns unless unchanged since the last sync (ETag), and stores them.
/// `None` when the parent said 304.
pub async fn sync(
    parent: &crate::parent::Parent,
    archive: &Archive,
    org: &OrgCode,
) -> Result<Option<Synced>, Error> {
    let during = |step: &'static str| {
        move |e: Error| Error::Sync {
            step,
            source: Box::new(e),
        }
    };
    let etag: Option<String> = sqlx::query_scalar("SELECT value FROM sync_state WHERE key = ?")
        .bind(CAMPAIGNS_ETAG)
        .fetch_optional(archive.pool())
        .await
        .map_err(|e| during("reading the campaigns ETag")(e.into()))?;
    let answer = parent.campaign_list(etag.as_deref()).await?;
    let Some((list, tag)) = answer else {
        return Ok(None);
    };
    // The CA's revocation list comes down with the campaigns; kept beside the identity (only under
    // the CA's signature, only when newer), so the pull server refuses revoked certificates.
    if let Some(pem) = &list.crl
        && let Err(e) = bangfu_client::crl::keep_in(parent.tls_dir(), pem)
    {
        tracing::warn!(error = %e, "the parent's revocation list is refused");
    }
    let specs = list.campaigns;
    let synced = upsert_from_parent(archive, org, &specs)
        .await
        .map_err(during("storing the parent's campaigns"))?;
    if let Some(tag) = tag {
        sqlx::query("INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(CAMPAIGNS_ETAG)
            .bind(tag)
            .execute(archive.pool())
            .await
            .map_err(|e| during("saving the campaigns ETag")(e.into()))?;
    }
    Ok(Some(synced))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangfu_shared::org::OrgCode;

    const LIST: &str = r#"{"campaigns":[
        {"id":"sn2026","template":"songnuan","title":"2026年送温暖","start":"2026-01-01","end":"2026-02-01",
         "due":{"county":"2026-02-10","prefecture":"2026-02-20","province":"2026-03-01"},"template_body":null},
        {"id":"dj","template":"custom","title":"大检查","start":"2026-03-01","end":"2026-03-31",
         "due":{"county":"2026-04-05","prefecture":"2026-04-15","province":null},"template_body":"id = \"custom\""}]}"#;

    fn specs(json: &str) -> Vec<protocol::Campaign> {
        serde_json::from_str::<protocol::CampaignList>(json)
            .unwrap()
            .campaigns
    }

    #[tokio::test]
    async fn syncing_inserts_new_campaigns_with_the_counties_due_date_then_updates_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path(), true).await.unwrap();
        let county = OrgCode::parse("H01").unwrap();

        let first = upsert_from_parent(&archive, &county, &specs(LIST))
            .await
            .unwrap();
        assert_eq!(
            first,
            Synced {
                added: 2,
                updated: 0,
                unchanged: 0
            }
        );
        let sn = get(&archive, "sn2026").await.unwrap();
        assert_eq!(sn.due, NaiveDate::from_ymd_opt(2026, 2, 10));
        assert_eq!(
            get(&archive, "dj").await.unwrap().template_body.as_deref(),
            Some("id = \"custom\"")
        );

        assert_eq!(
            upsert_from_parent(&archive, &county, &specs(LIST))
                .await
                .unwrap(),
            Synced {
                added: 0,
                updated: 0,
                unchanged: 2
            }
        );

        let retitled = LIST.replace("2026年送温暖", "2026年元旦春节送温暖");
        assert_eq!(
            upsert_from_parent(&archive, &county, &specs(&retitled))
                .await
                .unwrap(),
            Synced {
                added: 0,
                updated: 1,
                unchanged: 1
            }
        );
        assert_eq!(
            get(&archive, "sn2026").await.unwrap().title,
            "2026年元旦春节送温暖"
        );
    }

    #[tokio::test]
    async fn a_prefectures_node_takes_the_prefecture_due_date() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path(), true).await.unwrap();
        upsert_from_parent(&archive, &OrgCode::parse("H").unwrap(), &specs(LIST))
            .await
            .unwrap();
        assert_eq!(
            get(&archive, "sn2026").await.unwrap().due,
            NaiveDate::from_ymd_opt(2026, 2, 20)
        );
    }
}
