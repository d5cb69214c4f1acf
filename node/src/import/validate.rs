//! Row validation: every rule of the archive (see [`crate::rules`]) applied to one row at a time,
//! with the state needed for the rules that look beyond the row (duplicates, household references).
//!
//! A row is accepted whole or refused whole; a refused row reports every problem found, each with
//! its column and value, so an office can fix a row in one go.

use std::collections::{HashMap, HashSet};

use bangfu_shared::org::OrgCode;
use bangfu_shared::vocabulary::{Field, Vocabulary};
use chrono::NaiveDate;

use crate::columns::{Column, Header, Kind};
use crate::domain::{Fen, IdNumber, StaffNo, parse_date};
use crate::rules::{Rule, Violation};

/// A value as stored: canonical text, or an integer (fen, counts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Text(String),
    Int(i64),
}

/// A row that passed every rule, aligned with its kind's columns; `None` is an empty cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow {
    pub values: Vec<Option<Value>>,
}

/// One problem of a refused row.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The column's Chinese header.
    pub column: &'static str,
    /// The cell as written.
    pub value: String,
    pub violation: Violation,
}

/// What a column holds, and so how it is checked.
#[derive(Debug, Clone, Copy)]
enum FieldType {
    /// 职工编号 of a household row.
    StaffNo,
    /// 职工编号 naming a household already in the archive (members, aid).
    HouseholdRef,
    Text {
        max_chars: usize,
    },
    /// A value of this vocabulary field.
    Enum(&'static str),
    IdNumber,
    Causes,
    Money,
    HouseholdSize,
    Date,
}

fn household_types() -> Vec<FieldType> {
    use FieldType::*;
    Kind::Households
        .columns()
        .iter()
        .map(|c| match c.key {
            "staff_no" => StaffNo,
            "id_number" => IdNumber,
            "causes" => Causes,
            "household_size" => HouseholdSize,
            "filed_on" | "lifted_on" => Date,
            "personal_income" | "household_income" | "household_expense" | "medical_expense"
            | "tuition" => Money,
            "name" | "ethnicity" | "education" | "phone" => Text { max_chars: 50 },
            "address" | "employer" => Text { max_chars: 200 },
            "sex" => Enum("sex"),
            "single_parent" | "medical_insurance" | "self_help" | "zero_employment"
            | "on_dibao" => Enum("yes_no"),
            other => Enum(vocabulary_key(other)),
        })
        .collect()
}

/// Household columns that are enumerated share their vocabulary key.
fn vocabulary_key(column: &str) -> &'static str {
    bangfu_shared::vocabulary::REQUIRED_FIELDS
        .iter()
        .find(|f| **f == column)
        .copied()
        .unwrap_or_else(|| panic!("column `{column}` has no vocabulary field"))
}

fn member_types() -> Vec<FieldType> {
    use FieldType::*;
    Kind::Members
        .columns()
        .iter()
        .map(|c| match c.key {
            "staff_no" => HouseholdRef,
            "name" => Text { max_chars: 50 },
            "relation" => Enum("relation"),
            "sex" => Enum("sex"),
            "status" => Enum("member_status"),
            "id_number" => IdNumber,
            "health" => Enum("health"),
            "income" => Money,
            _ => Text { max_chars: 200 },
        })
        .collect()
}

fn aid_types() -> Vec<FieldType> {
    use FieldType::*;
    Kind::Aid
        .columns()
        .iter()
        .map(|c| match c.key {
            "staff_no" => HouseholdRef,
            "date" => Date,
            "kind" => Enum("aid_kind"),
            "amount" => Money,
            _ => Text { max_chars: 500 },
        })
        .collect()
}

/// A 职工编号 packed into eight bytes, so that a million of them fit in a few megabytes.
type StaffKey = u64;
/// A 身份证号 packed base-11 (X = 10) behind a leading 1 that keeps 15- and 18-digit numbers apart.
type IdKey = u128;

fn staff_key(s: &str) -> StaffKey {
    let mut b = [0u8; 8];
    b[..s.len().min(8)].copy_from_slice(&s.as_bytes()[..s.len().min(8)]);
    u64::from_be_bytes(b)
}

fn id_key(id: &str) -> IdKey {
    id.bytes().fold(1u128, |acc, c| {
        acc * 11 + if c == b'X' { 10 } else { u128::from(c - b'0') }
    })
}

/// What the validator knows of the archive before the file, and what the file has added so far.
#[derive(Debug, Default)]
pub struct Known {
    /// household -> its 身份证号
    households: HashMap<StaffKey, IdKey>,
    /// 身份证号 -> its household
    ids: HashMap<IdKey, StaffKey>,
}

impl Known {
    pub fn with_capacity(n: usize) -> Known {
        Known {
            households: HashMap::with_capacity(n),
            ids: HashMap::with_capacity(n),
        }
    }

    /// Records a household of the archive.
    pub fn insert(&mut self, staff_no: &str, id_number: &str) {
        let (s, i) = (staff_key(staff_no), id_key(id_number));
        if let Some(old) = self.households.insert(s, i) {
            self.ids.remove(&old);
        }
        self.ids.insert(i, s);
    }

    pub fn contains(&self, staff_no: &str) -> bool {
        self.households.contains_key(&staff_key(staff_no))
    }

    pub fn len(&self) -> usize {
        self.households.len()
    }

    pub fn is_empty(&self) -> bool {
        self.households.is_empty()
    }
}

/// Validates the rows of one file of one kind.
pub struct Validator<'a> {
    kind: Kind,
    header: Header,
    types: Vec<FieldType>,
    /// The vocabulary field of each enumerated column, looked up once rather than per cell.
    fields: Vec<Option<&'a Field>>,
    vocabulary: &'a Vocabulary,
    org: OrgCode,
    today: NaiveDate,
    known: Known,
    /// Keys seen in this file: 职工编号 (households), or a hash of (职工编号, 姓名, 关系) (members).
    seen: HashSet<u64>,
}

impl<'a> Validator<'a> {
    pub fn new(
        header: Header,
        vocabulary: &'a Vocabulary,
        org: OrgCode,
        today: NaiveDate,
        known: Known,
    ) -> Validator<'a> {
        let kind = header.kind;
        let types = match kind {
            Kind::Households => household_types(),
            Kind::Members => member_types(),
            Kind::Aid => aid_types(),
        };
        let fields = types
            .iter()
            .map(|t| match t {
                FieldType::Enum(key) => Some(vocabulary.field(key)),
                _ => None,
            })
            .collect();
        Validator {
            kind,
            header,
            types,
            fields,
            vocabulary,
            org,
            today,
            known,
            seen: HashSet::new(),
        }
    }

    /// What the validator knows once the file is done: the archive plus this file's households.
    pub fn into_known(self) -> Known {
        self.known
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Is this household already in the archive (before or earlier in this file)?
    pub fn is_known(&self, staff_no: &str) -> bool {
        self.known.contains(staff_no)
    }

    /// Checks one row; on success the row's effects on later rows (its keys) are recorded.
    pub fn check(&mut self, cells: &[String]) -> Result<ValidRow, Vec<Problem>> {
        let columns = self.kind.columns();
        let mut values = Vec::with_capacity(columns.len());
        let mut problems = Vec::new();
        let mut parsed = Parsed::default();
        for (ci, column) in columns.iter().enumerate() {
            let raw = self.header.positions[ci]
                .and_then(|p| cells.get(p))
                .map_or("", |s| unneutralise(s));
            match self.check_cell(column, self.types[ci], self.fields[ci], raw, &mut parsed) {
                Ok(v) => values.push(v),
                Err(violation) => {
                    values.push(None);
                    problems.push(Problem {
                        column: column.zh,
                        value: raw.to_string(),
                        violation,
                    });
                }
            }
        }
        self.check_row(cells, &parsed, &mut problems);
        let member_key = (self.kind == Kind::Members).then(|| member_key(&values));
        if let Some(key) = member_key
            && problems.is_empty()
            && self.seen.contains(&key)
        {
            let name = self.header.positions[1]
                .and_then(|p| cells.get(p))
                .cloned()
                .unwrap_or_default();
            problems.push(Problem {
                column: "姓名",
                value: name,
                violation: Violation::new(Rule::DuplicateMember),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        if self.kind == Kind::Households
            && let (Some(staff), Some(id)) = (&parsed.staff_no, &parsed.id)
        {
            self.seen.insert(staff_key(staff.as_str()));
            self.known.insert(staff.as_str(), id.as_str());
        }
        if let Some(key) = member_key {
            self.seen.insert(key);
        }
        Ok(ValidRow { values })
    }

    fn check_cell(
        &self,
        column: &Column,
        ty: FieldType,
        field: Option<&Field>,
        raw: &str,
        parsed: &mut Parsed,
    ) -> Result<Option<Value>, Violation> {
        let text = raw.trim();
        if text.is_empty() {
            return if column.required {
                Err(Violation::new(Rule::Required))
            } else {
                Ok(None)
            };
        }
        let value = match ty {
            FieldType::StaffNo => {
                let s = StaffNo::parse(text, &self.org)?;
                let v = Value::Text(s.as_str().to_string());
                parsed.staff_no = Some(s);
                v
            }
            FieldType::HouseholdRef => {
                let s = StaffNo::parse(text, &self.org)?;
                if !self.known.contains(s.as_str()) {
                    return Err(Violation::new(Rule::UnknownHousehold));
                }
                Value::Text(s.as_str().to_string())
            }
            FieldType::Text { max_chars } => {
                if text.chars().count() > max_chars {
                    return Err(Violation::with(
                        Rule::TooLong,
                        format!("at most {max_chars} characters"),
                    ));
                }
                Value::Text(text.to_string())
            }
            FieldType::Enum(_) => {
                let f = field.expect("every enumerated column has its field");
                let Some(v) = f.canonical(text) else {
                    return Err(Violation::with(
                        Rule::Vocabulary,
                        format!("allowed: {}", f.values().join("/")),
                    ));
                };
                if column.key == "sex" {
                    parsed.male = Some(v == "男");
                } else if column.key == "status" && self.kind == Kind::Households {
                    parsed.lifted = v == "已脱困";
                }
                Value::Text(v.to_string())
            }
            FieldType::IdNumber => {
                let id = IdNumber::parse(text, self.today)?;
                let v = Value::Text(id.as_str().to_string());
                parsed.id = Some(id);
                v
            }
            FieldType::Causes => Value::Text(self.causes(text)?),
            FieldType::Money => {
                let fen = Fen::parse_yuan(text)?;
                match column.key {
                    "personal_income" => parsed.personal_income = Some(fen),
                    "household_income" => parsed.household_income = Some(fen),
                    _ => {}
                }
                Value::Int(fen.0)
            }
            FieldType::HouseholdSize => {
                let n: i64 = text.parse().map_err(|_| {
                    if text.starts_with('-') {
                        Violation::new(Rule::Negative)
                    } else {
                        Violation::new(Rule::NotANumber)
                    }
                })?;
                if !(1..=20).contains(&n) {
                    return Err(Violation::new(Rule::HouseholdSizeRange));
                }
                Value::Int(n)
            }
            FieldType::Date => {
                let d = parse_date(text)?;
                if d > self.today {
                    return Err(Violation::with(Rule::DateInFuture, d.to_string()));
                }
                if column.key == "lifted_on" {
                    parsed.lifted_on = Some(d);
                }
                // Stored as YYYY-MM-DD: as typed when it already is, else reformatted.
                if text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-' {
                    Value::Text(text.to_string())
                } else {
                    Value::Text(d.format("%Y-%m-%d").to_string())
                }
            }
        };
        Ok(Some(value))
    }

    /// 致困主要原因: one to three distinct causes, separated by 、 or ; (seed 004 填表说明 18).
    fn causes(&self, text: &str) -> Result<String, Violation> {
        let field = self.vocabulary.field("cause");
        let mut seen: Vec<&str> = Vec::with_capacity(3);
        for part in text
            .split(['、', ';', '；'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some(v) = field.canonical(part) else {
                return Err(Violation::with(
                    Rule::Vocabulary,
                    format!("`{part}`; allowed: {}", field.values().join("/")),
                ));
            };
            if seen.contains(&v) {
                return Err(Violation::with(Rule::CausesRepeated, v.to_string()));
            }
            seen.push(v);
        }
        if seen.is_empty() || seen.len() > 3 {
            return Err(Violation::with(
                Rule::CausesCount,
                format!("{} given", seen.len()),
            ));
        }
        Ok(seen.join("、"))
    }

    /// The rules that relate cells of a row, or a row to the rest of the archive.
    fn check_row(&self, cells: &[String], p: &Parsed, problems: &mut Vec<Problem>) {
        let cell = |key: &str| {
            let ci = self.kind.index_of(key);
            self.header.positions[ci]
                .and_then(|pos| cells.get(pos))
                .cloned()
                .unwrap_or_default()
        };
        let lifted_on_invalid = problems.iter().any(|x| x.column == "脱困日期");
        let mut push = |key: &str, violation: Violation| {
            let column = self.kind.columns()[self.kind.index_of(key)].zh;
            problems.push(Problem {
                column,
                value: cell(key),
                violation,
            });
        };
        if let (Some(id), Some(male)) = (&p.id, p.male)
            && id.is_male() != male
        {
            push(
                "id_number",
                Violation::with(Rule::IdSex, format!("the number says {}", id.sex())),
            );
        }
        if self.kind != Kind::Households {
            return;
        }
        if let (Some(own), Some(total)) = (p.personal_income, p.household_income)
            && own > total
        {
            push(
                "personal_income",
                Violation::new(Rule::PersonalIncomeAboveHousehold),
            );
        }
        if p.lifted && p.lifted_on.is_none() && !lifted_on_invalid {
            push("lifted_on", Violation::new(Rule::LiftedWithoutDate));
        }
        if let Some(staff) = &p.staff_no {
            let key = staff_key(staff.as_str());
            if self.seen.contains(&key) {
                push("staff_no", Violation::new(Rule::DuplicateStaffNo));
            }
            if let Some(id) = &p.id
                && let Some(&holder) = self.known.ids.get(&id_key(id.as_str()))
                && holder != key
            {
                let holder = String::from_utf8_lossy(&holder.to_be_bytes()).into_owned();
                push(
                    "id_number",
                    Violation::with(Rule::DuplicateIdNumber, format!("used by {holder}")),
                );
            }
        }
    }
}

/// A cell that our own export (or the rejects file) wrote as `'=…` to keep Excel from running it as a
/// formula reads back as it was.
fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// A member's identity (职工编号, 姓名, 关系) hashed: 64 bits keep a file of millions of members small,
/// and a false duplicate would need a hash collision.
fn member_key(values: &[Option<Value>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    values[..3].hash(&mut h);
    h.finish()
}

/// What a row's cells parsed to, for the rules that relate cells.
#[derive(Default)]
struct Parsed {
    staff_no: Option<StaffNo>,
    id: Option<IdNumber>,
    male: Option<bool>,
    lifted: bool,
    lifted_on: Option<NaiveDate>,
    personal_income: Option<Fen>,
    household_income: Option<Fen>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn household_header() -> Header {
        let cells: Vec<String> = Kind::Households
            .columns()
            .iter()
            .map(|c| c.zh.to_string())
            .collect();
        Header::parse(&cells).unwrap()
    }

    fn row(overrides: &[(&str, &str)]) -> Vec<String> {
        let mut cells: Vec<String> = Kind::Households
            .columns()
            .iter()
            .map(|c| {
                match c.key {
                    "staff_no" => "H0100001",
                    "name" => "测试甲",
                    "sex" => "女",
                    "id_number" => "11010519491231002X",
                    "category" => "低保户",
                    "causes" => "本人大病、子女上学",
                    "personal_income" => "1000",
                    "household_income" => "9000.5",
                    "household_size" => "3",
                    "status" => "在档",
                    "filed_on" => "2016-05-01",
                    _ => "",
                }
                .to_string()
            })
            .collect();
        for (key, value) in overrides {
            cells[Kind::Households.index_of(key)] = value.to_string();
        }
        cells
    }

    fn check(v: &mut Validator, overrides: &[(&str, &str)]) -> Result<ValidRow, Vec<Rule>> {
        v.check(&row(overrides))
            .map_err(|ps| ps.into_iter().map(|p| p.violation.rule).collect())
    }

    fn validator(vocabulary: &Vocabulary) -> Validator<'_> {
        Validator::new(
            household_header(),
            vocabulary,
            OrgCode::parse("H01").unwrap(),
            today(),
            Known::default(),
        )
    }

    #[test]
    fn a_good_row_is_stored_with_canonical_values() {
        let vocab = Vocabulary::builtin();
        let mut v = validator(&vocab);
        let r = check(&mut v, &[("causes", "因病致困;子女上学")]).unwrap();
        assert_eq!(
            r.values[Kind::Households.index_of("causes")],
            Some(Value::Text("本人大病、子女上学".into()))
        );
        assert_eq!(
            r.values[Kind::Households.index_of("household_income")],
            Some(Value::Int(900_050))
        );
    }

    #[test]
    fn each_row_rule_is_reported_by_name() {
        let vocab = Vocabulary::builtin();
        let cases: &[(&[(&str, &str)], Rule)] = &[
            (&[("sex", "男")], Rule::IdSex),
            (
                &[("personal_income", "10000")],
                Rule::PersonalIncomeAboveHousehold,
            ),
            (&[("status", "已脱困")], Rule::LiftedWithoutDate),
            (
                &[("causes", "本人大病、子女上学、残疾、其他")],
                Rule::CausesCount,
            ),
            (&[("causes", "本人大病、本人大病")], Rule::CausesRepeated),
            (&[("household_size", "21")], Rule::HouseholdSizeRange),
            (&[("category", "特困户")], Rule::Vocabulary),
            (&[("name", "")], Rule::Required),
            (&[("filed_on", "2099-01-01")], Rule::DateInFuture),
        ];
        for (overrides, rule) in cases {
            let mut v = validator(&vocab);
            assert_eq!(
                check(&mut v, overrides).unwrap_err(),
                vec![*rule],
                "{overrides:?}"
            );
        }
    }

    #[test]
    fn duplicates_within_a_file_are_refused_after_the_first() {
        let vocab = Vocabulary::builtin();
        let mut v = validator(&vocab);
        check(&mut v, &[]).unwrap();
        assert_eq!(
            check(&mut v, &[("id_number", "110105194912310046")]).unwrap_err(),
            vec![Rule::DuplicateStaffNo]
        );
        assert_eq!(
            check(&mut v, &[("staff_no", "H0100002")]).unwrap_err(),
            vec![Rule::DuplicateIdNumber]
        );
    }

    #[test]
    fn a_household_may_be_updated_with_its_own_id_number() {
        let vocab = Vocabulary::builtin();
        let mut known = Known::default();
        known.insert("H0100001", "11010519491231002X");
        let mut v = Validator::new(
            household_header(),
            &vocab,
            OrgCode::parse("H01").unwrap(),
            today(),
            known,
        );
        check(&mut v, &[]).unwrap();
    }
}
