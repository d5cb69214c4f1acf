//! Campaigns (填报任务): which template is collected for which period, and by when each level must
//! report. A province creates them; they flow down to prefectures and counties, who read them with
//! `GET /api/v1/campaigns`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bangfu_shared::protocol::CampaignId;
pub use bangfu_shared::protocol::{Campaign, Due};
use bangfu_shared::template::{self, Template};
use chrono::NaiveDate;

pub mod changes;

use crate::store::{Error, Result, Store};

/// A campaign's template, parsed once per process: the intake checks every report against it, and
/// parsing the TOML (and the vocabulary) per report is wasted work. Keyed by the template's id and
/// stored text, so a different campaign with other content never gets a stale template.
pub fn template_of(campaign: &Campaign) -> Result<Arc<Template>, template::Error> {
    // By template id, then by stored text: a lookup borrows both (no copy of the text per report).
    type Cache = HashMap<String, HashMap<Option<String>, Arc<Template>>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let cached = |cache: &Cache| {
        cache
            .get(&campaign.template)
            .and_then(|by_text| by_text.get(&campaign.template_body))
            .cloned()
    };
    if let Some(t) = cached(&cache.lock().expect("template cache lock")) {
        return Ok(t);
    }
    let t = Arc::new(campaign.template()?);
    cache
        .lock()
        .expect("template cache lock")
        .entry(campaign.template.clone())
        .or_default()
        .insert(campaign.template_body.clone(), t.clone());
    Ok(t)
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn from_row(r: Row) -> Result<Campaign> {
    let d = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|e| Error::Corrupt(format!("campaign date `{s}`: {e}")))
    };
    Ok(Campaign {
        start: d(&r.3)?,
        end: d(&r.4)?,
        due: Due {
            county: d(&r.5)?,
            prefecture: d(&r.6)?,
            province: r.7.as_deref().map(d).transpose()?,
        },
        id: CampaignId::parse(&r.0).map_err(|e| Error::Corrupt(e.to_string()))?,
        template: r.1,
        title: r.2,
        template_body: r.8,
    })
}

const COLUMNS: &str = "id, template, title, start_on, end_on, due_county, due_prefecture, due_province, template_body";

/// The campaign columns of [`COLUMNS`] qualified by a table alias, for a query that reads a campaign
/// together with other rows (the intake's one read per report); [`from_any_row`] reads them back.
pub(crate) fn columns_of(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The campaign in the first nine columns of `row` (as [`columns_of`] selects them); the columns
/// after them are the caller's.
pub(crate) fn from_any_row(row: &sqlx::any::AnyRow) -> Result<Campaign> {
    from_row(<Row as sqlx::FromRow<sqlx::any::AnyRow>>::from_row(row)?)
}

/// Stores a new campaign; `origin` says where it came from (`local`, or the parent's URL).
/// Returns false when a campaign with that id exists already (it is left as it is).
/// Binds a campaign's id and definition as $1..$9: id, template, title, start, end, the three due
/// dates and the template file's text, in the columns' order (dates as ISO text).
pub(crate) fn bind_definition<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    c: &Campaign,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    q.bind(c.id.to_string())
        .bind(c.template.clone())
        .bind(c.title.clone())
        .bind(day(c.start))
        .bind(day(c.end))
        .bind(day(c.due.county))
        .bind(day(c.due.prefecture))
        .bind(c.due.province.map(day))
        .bind(c.template_body.clone())
}

#[tracing::instrument(skip(store, c), fields(id = %c.id))]
pub async fn create(store: &Store, c: &Campaign, origin: &str) -> Result<bool> {
    let done = bind_definition(
        sqlx::query(
            "INSERT INTO campaigns (id, template, title, start_on, end_on, due_county, due_prefecture, due_province, template_body, origin)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
        ),
        c,
    )
    .bind(origin.to_string())
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(store: &Store, id: &str) -> Result<Option<Campaign>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM campaigns WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await?;
    row.map(from_row).transpose()
}

pub async fn list(store: &Store) -> Result<Vec<Campaign>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM campaigns ORDER BY id"
    )))
    .fetch_all(&store.pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Fixtures for the hub's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub(crate) fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Campaign `sn`: 送温暖 (songnuan) for January 2026, due 2026-02-05 for counties and
    /// 2026-02-10 for prefectures.
    pub(crate) fn songnuan() -> Campaign {
        Campaign {
            id: CampaignId::parse("sn").unwrap(),
            template: "songnuan".into(),
            title: "送温暖".into(),
            start: day("2026-01-01"),
            end: day("2026-01-31"),
            due: Due {
                county: day("2026-02-05"),
                prefecture: day("2026-02-10"),
                province: None,
            },
            template_body: None,
        }
    }
}
