//! The official table (issue 16, item 4): a campaign's rollup in the layout of the seed form the
//! template comes from — its rows in the form's order with its labels, units, sections and 其中
//! lines indented, the form's 说明 — headed by the hub's name, the campaign's period and the date
//! made, with a sheet for the hub's total and one per child. Ranges are written `L–U` with a note.
//!
//! [`render`] is what the command line (`bangfu-hub rollup --format`) and the dashboard's download
//! call; [`render_rollup`] does the same for a rollup already in hand (a stored version's JSON).
//! [`layout`] is the model the three writers share: [`text`], [`csv`], [`xlsx`].

pub mod csv;
pub mod layout;
pub mod text;
pub mod xlsx;

#[cfg(test)]
mod tests;

use std::str::FromStr;

use bangfu_shared::protocol::{Campaign, CampaignId};
use bangfu_shared::template;
use chrono::NaiveDate;

use crate::app::Hub;
use crate::campaigns;

pub use layout::{Document, RollupView};

/// The formats of the official table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text with aligned columns, for a terminal.
    Table,
    /// UTF-8 CSV with a byte-order mark (Excel reads one without as GBK).
    Csv,
    /// An Excel workbook (.xlsx), one worksheet per sheet; opens in Excel and WPS.
    Xlsx,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Table, Format::Csv, Format::Xlsx];

    /// The word on the command line and in a URL (`table`, `csv`, `xlsx`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    /// The `Content-Type` of a download.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Table => "text/plain; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format, Error> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| Error::UnknownFormat(s.chars().take(40).collect()))
    }
}

/// A rendered table: its bytes and how to serve or save them.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// `CAMPAIGN-ORG.EXT` (ids only: ASCII, safe in a `Content-Disposition` header and a path).
    pub file_name: String,
}

/// Why the official table could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no campaign `{0}` on this hub / 没有此填报任务")]
    UnknownCampaign(CampaignId),
    #[error("`{0}` is not a format of the official table: table, csv or xlsx / 不支持的格式")]
    UnknownFormat(String),
    #[error("the template of campaign `{campaign}`: {source}")]
    Template {
        campaign: CampaignId,
        source: template::Error,
    },
    #[error("the rollup of campaign `{campaign}` is not of the rollup's shape: {source}")]
    NotARollup {
        campaign: CampaignId,
        source: serde_json::Error,
    },
    #[error("rolling up: {0}")]
    Rollup(#[from] crate::error::Error),
    #[error("reading the campaign: {0}")]
    Store(#[from] crate::store::Error),
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("writing the CSV: {0}")]
    Csv(#[from] ::csv::Error),
}

impl Error {
    /// Whether the campaign does not exist here (a 404 for the dashboard).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::UnknownCampaign(_))
    }
}

/// The official table of campaign `id`'s current rollup at this hub (stored as a rollup version
/// when it changed, as `Hub::rollup` does), dated today (the hub's clock, Asia/Shanghai).
pub async fn render(hub: &Hub, id: &CampaignId, format: Format) -> Result<Rendered, Error> {
    let campaign = campaigns::get(&hub.store, id.as_str())
        .await?
        .ok_or_else(|| Error::UnknownCampaign(id.clone()))?;
    let rollup = hub.rollup(id).await?;
    let json = serde_json::to_value(&rollup).map_err(|source| Error::NotARollup {
        campaign: id.clone(),
        source,
    })?;
    render_rollup(json, &campaign, hub.clock.today(), format)
}

/// The official table of a rollup in its JSON form (CONTRACT.md; the current one or a stored
/// version) of `campaign`, made on `made`.
pub fn render_rollup(
    rollup: serde_json::Value,
    campaign: &Campaign,
    made: NaiveDate,
    format: Format,
) -> Result<Rendered, Error> {
    let view: RollupView = serde_json::from_value(rollup).map_err(|source| Error::NotARollup {
        campaign: campaign.id.clone(),
        source,
    })?;
    let t = campaigns::template_of(campaign).map_err(|source| Error::Template {
        campaign: campaign.id.clone(),
        source,
    })?;
    let doc = layout::document(&view, campaign, &t, made);
    let bytes = match format {
        Format::Table => text::write(&doc).into_bytes(),
        Format::Csv => csv::write(&doc)?,
        Format::Xlsx => xlsx::write(&doc)?,
    };
    Ok(Rendered {
        bytes,
        content_type: format.content_type(),
        file_name: format!("{}.{}", doc.stem, format.extension()),
    })
}
