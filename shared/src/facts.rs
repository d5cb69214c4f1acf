//! The statistical facts of a household and of an aid record: what aggregation may see.
//!
//! A node reads these out of its archive and hands them to [`crate::aggregate`]; names, ID numbers,
//! phone numbers, addresses and free text are not in them, so no template can count by them and no
//! report can carry them. Enumerated values are indices into the [`crate::vocabulary`] lists.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An enumerated value that the record leaves empty.
pub const UNKNOWN: u8 = u8::MAX;

/// The enumerated dimensions of a household, each backed by the vocabulary field of the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    Sex,
    Politics,
    Category,
    ModelWorker,
    Health,
    WorkStatus,
    HousingType,
    HousingArea,
    Industry,
    Hukou,
    UnitNature,
    EnterpriseStatus,
    SingleParent,
    MedicalInsurance,
    SelfHelp,
    ZeroEmployment,
    OnDibao,
    Status,
}

impl Dim {
    pub const ALL: [Dim; 18] = [
        Dim::Sex,
        Dim::Politics,
        Dim::Category,
        Dim::ModelWorker,
        Dim::Health,
        Dim::WorkStatus,
        Dim::HousingType,
        Dim::HousingArea,
        Dim::Industry,
        Dim::Hukou,
        Dim::UnitNature,
        Dim::EnterpriseStatus,
        Dim::SingleParent,
        Dim::MedicalInsurance,
        Dim::SelfHelp,
        Dim::ZeroEmployment,
        Dim::OnDibao,
        Dim::Status,
    ];

    /// The key used in templates and cell codes (`category`, `industry`, …).
    pub fn key(self) -> &'static str {
        match self {
            Dim::Sex => "sex",
            Dim::Politics => "politics",
            Dim::Category => "category",
            Dim::ModelWorker => "model_worker",
            Dim::Health => "health",
            Dim::WorkStatus => "work_status",
            Dim::HousingType => "housing_type",
            Dim::HousingArea => "housing_area",
            Dim::Industry => "industry",
            Dim::Hukou => "hukou",
            Dim::UnitNature => "unit_nature",
            Dim::EnterpriseStatus => "enterprise_status",
            Dim::SingleParent => "single_parent",
            Dim::MedicalInsurance => "medical_insurance",
            Dim::SelfHelp => "self_help",
            Dim::ZeroEmployment => "zero_employment",
            Dim::OnDibao => "on_dibao",
            Dim::Status => "status",
        }
    }

    /// The vocabulary field whose list this dimension indexes (the 是/否 fields share `yes_no`).
    pub fn vocabulary_field(self) -> &'static str {
        match self {
            Dim::SingleParent
            | Dim::MedicalInsurance
            | Dim::SelfHelp
            | Dim::ZeroEmployment
            | Dim::OnDibao => "yes_no",
            other => other.key(),
        }
    }

    pub fn from_key(key: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.key() == key)
    }

    pub fn slot(self) -> usize {
        self as usize
    }
}

/// Money amounts a template may sum, in fen (分, 0.01 元).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    PersonalIncome,
    HouseholdIncome,
    HouseholdExpense,
    MedicalExpense,
    Tuition,
}

impl Amount {
    pub const ALL: [Amount; 5] = [
        Amount::PersonalIncome,
        Amount::HouseholdIncome,
        Amount::HouseholdExpense,
        Amount::MedicalExpense,
        Amount::Tuition,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Amount::PersonalIncome => "personal_income",
            Amount::HouseholdIncome => "household_income",
            Amount::HouseholdExpense => "household_expense",
            Amount::MedicalExpense => "medical_expense",
            Amount::Tuition => "tuition",
        }
    }

    pub fn from_key(key: &str) -> Option<Amount> {
        Amount::ALL.into_iter().find(|a| a.key() == key)
    }
}

/// What aggregation may know of one household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdFacts {
    /// Vocabulary index per [`Dim`] (by `Dim::slot`), or [`UNKNOWN`].
    pub dims: [u8; Dim::ALL.len()],
    /// Bit i set when cause i of the vocabulary's `cause` list applies (one to three bits).
    pub causes: u16,
    pub household_size: u8,
    /// Fen per [`Amount`], in `Amount::ALL` order; 0 when not recorded.
    pub amounts: [i64; Amount::ALL.len()],
    /// 建档日期; `None` when the record does not say (counted as filed before any day asked about).
    pub filed_on: Option<NaiveDate>,
    /// 脱困日期, set for 已脱困 households.
    pub lifted_on: Option<NaiveDate>,
}

impl HouseholdFacts {
    pub fn dim(&self, d: Dim) -> u8 {
        self.dims[d.slot()]
    }

    pub fn amount(&self, a: Amount) -> i64 {
        self.amounts[a as usize]
    }

    /// CONTRACT.md: a household is in the archive on day D when its 建档日期 ≤ D and it is 在档, or
    /// 已脱困 with a 脱困日期 after D; 已剔除 is never counted. Status indices follow the vocabulary
    /// order 在档 (0), 已脱困 (1), 已剔除 (2).
    pub fn in_archive_on(&self, day: NaiveDate) -> bool {
        if self.filed_on.is_some_and(|f| f > day) {
            return false;
        }
        match self.dim(Dim::Status) {
            0 => true,
            1 => self.lifted_on.is_some_and(|l| l > day),
            _ => false,
        }
    }
}

/// What aggregation may know of one aid record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AidFacts {
    /// Index of the household (in the slice handed to aggregation) the aid went to.
    pub household: u32,
    pub date: NaiveDate,
    /// Index into the vocabulary's `aid_kind` list.
    pub kind: u8,
    pub amount_fen: i64,
}
