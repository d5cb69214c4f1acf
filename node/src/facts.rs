//! Reading the archive's statistical facts for aggregation: enumerated fields as vocabulary indices,
//! money in fen, dates. Names, ID numbers, phone numbers, addresses and free text are not read.

use std::collections::HashMap;

use bangfu_shared::facts::{AidFacts, Amount, Dim, HouseholdFacts, UNKNOWN};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;

use crate::archive::bulk::{self, ResultRow};
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
pub async fn load(
    archive: &Archive,
    vocabulary: &Vocabulary,
) -> Result<ArchiveFacts, archive::Error> {
    let fields: Vec<_> = Dim::ALL
        .iter()
        .map(|d| vocabulary.field(d.vocabulary_field()))
        .collect();
    let cause = vocabulary.field("cause");
    let kinds = vocabulary.field("aid_kind");
    let n_dims = Dim::ALL.len();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut households = Vec::new();
    let mut aid = Vec::new();

    let mut conn = archive.pool().acquire().await?;
    let mut handle = conn.lock_handle().await?;
    let read_household = |row: &ResultRow| {
        let mut dims = [UNKNOWN; Dim::ALL.len()];
        for (i, field) in fields.iter().enumerate() {
            if let Some(text) = row.text(1 + i) {
                dims[i] = field.index_of(text).unwrap_or(UNKNOWN);
            }
        }
        let mut causes = 0u16;
        for c in row.text(1 + n_dims).unwrap_or("").split('、') {
            if let Some(i) = cause.index_of(c) {
                causes |= 1 << i;
            }
        }
        let mut amounts = [0i64; Amount::ALL.len()];
        for (i, a) in amounts.iter_mut().enumerate() {
            *a = row.int(3 + n_dims + i).unwrap_or(0);
        }
        let base = 3 + n_dims + Amount::ALL.len();
        index.insert(
            row.text(0).unwrap_or("").to_string(),
            households.len() as u32,
        );
        households.push(HouseholdFacts {
            dims,
            causes,
            household_size: row.int(2 + n_dims).unwrap_or(0).clamp(0, 255) as u8,
            amounts,
            filed_on: date(row.text(base)),
            lifted_on: date(row.text(base + 1)),
        });
    };
    bulk::for_each_row(&mut handle, &household_sql(), read_household)?;
    let read_aid = |row: &ResultRow| {
        let (Some(&household), Some(date)) =
            (index.get(row.text(0).unwrap_or("")), date(row.text(1)))
        else {
            return;
        };
        aid.push(AidFacts {
            household,
            date,
            kind: kinds.index_of(row.text(2).unwrap_or("")).unwrap_or(UNKNOWN),
            amount_fen: row.int(3).unwrap_or(0),
        });
    };
    bulk::for_each_row(
        &mut handle,
        "SELECT staff_no, date, kind, amount FROM aid",
        read_aid,
    )?;
    Ok(ArchiveFacts { households, aid })
}
