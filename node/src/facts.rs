//! Reading the archive's statistical facts for aggregation: enumerated fields as vocabulary indices,
//! money in fen, dates. Names, ID numbers, phone numbers, addresses and free text are not read.

use std::collections::HashMap;

use bangfu_shared::facts::{AidFacts, Amount, Dim, HouseholdFacts, UNKNOWN};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use sqlx::Row;

use crate::archive::{self, Archive};

/// The archive as aggregation sees it.
#[derive(Debug, Default, Clone)]
pub struct ArchiveFacts {
    pub households: Vec<HouseholdFacts>,
    pub aid: Vec<AidFacts>,
}

/// Household columns read, in `Dim::ALL` order, then causes, size, amounts, dates.
fn household_sql() -> String {
    let dims: Vec<&str> = Dim::ALL.iter().map(|d| d.key()).collect();
    let amounts: Vec<&str> = Amount::ALL.iter().map(|a| a.key()).collect();
    format!(
        "SELECT staff_no, {}, causes, household_size, {}, filed_on, lifted_on FROM households",
        dims.join(", "),
        amounts.join(", ")
    )
}

fn date(text: Option<&str>) -> Option<NaiveDate> {
    text.and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
}

/// Loads every household and aid record's facts. Households are in archive order; aid records point
/// at them by index.
pub async fn load(archive: &Archive, vocabulary: &Vocabulary) -> Result<ArchiveFacts, archive::Error> {
    let fields: Vec<_> = Dim::ALL.iter().map(|d| vocabulary.field(d.vocabulary_field())).collect();
    let cause = vocabulary.field("cause");
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut households = Vec::new();
    let sql = household_sql();
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(archive.pool());
    let n_dims = Dim::ALL.len();
    while let Some(row) = rows.try_next().await? {
        let mut dims = [UNKNOWN; Dim::ALL.len()];
        for (i, field) in fields.iter().enumerate() {
            if let Some(text) = row.get::<Option<&str>, _>(1 + i) {
                dims[i] = field.index_of(text).unwrap_or(UNKNOWN);
            }
        }
        let mut causes = 0u16;
        if let Some(text) = row.get::<Option<&str>, _>(1 + n_dims) {
            for c in text.split('、') {
                if let Some(i) = cause.index_of(c) {
                    causes |= 1 << i;
                }
            }
        }
        let mut amounts = [0i64; Amount::ALL.len()];
        for (i, a) in amounts.iter_mut().enumerate() {
            *a = row.get::<Option<i64>, _>(3 + n_dims + i).unwrap_or(0);
        }
        let base = 3 + n_dims + Amount::ALL.len();
        index.insert(row.get::<String, _>(0), households.len() as u32);
        households.push(HouseholdFacts {
            dims,
            causes,
            household_size: row.get::<i64, _>(2 + n_dims).clamp(0, 255) as u8,
            amounts,
            filed_on: date(row.get(base)),
            lifted_on: date(row.get(base + 1)),
        });
    }
    drop(rows);

    let kinds = vocabulary.field("aid_kind");
    let mut aid = Vec::new();
    let mut rows = sqlx::query("SELECT staff_no, date, kind, amount FROM aid").fetch(archive.pool());
    while let Some(row) = rows.try_next().await? {
        let (Some(&household), Some(date)) = (index.get(row.get::<&str, _>(0)), date(row.get(1))) else {
            continue;
        };
        aid.push(AidFacts {
            household,
            date,
            kind: kinds.index_of(row.get::<&str, _>(2)).unwrap_or(UNKNOWN),
            amount_fen: row.get(3),
        });
    }
    Ok(ArchiveFacts { households, aid })
}
