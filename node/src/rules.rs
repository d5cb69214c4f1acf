//! The validation rules of the archive, each with a stable name and a message in Chinese and English.
//!
//! Rule names appear in the rejects file, in `bangfu-node gen --invalid`'s manifest and in tests, so
//! they are part of the contract: add rules, do not rename them.

use std::fmt;

/// One rule an imported value or row can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// A required field is empty.
    Required,
    IdLength,
    IdCharacters,
    IdBirthDate,
    IdCheckChar,
    /// The 17th digit's parity disagrees with 性别.
    IdSex,
    StaffNoFormat,
    /// The 职工编号 does not begin with this node's org code (seed 002).
    StaffNoOrg,
    /// A value outside the field's vocabulary.
    Vocabulary,
    /// 致困主要原因: one to three (seed 004 填表说明 18).
    CausesCount,
    CausesRepeated,
    NotANumber,
    Negative,
    HouseholdSizeRange,
    /// 本人年收入 above 家庭年度总收入.
    PersonalIncomeAboveHousehold,
    /// 已脱困 without a 脱困日期.
    LiftedWithoutDate,
    DateFormat,
    /// A date after today (建档日期, 脱困日期, an aid record's date).
    DateInFuture,
    /// A 身份证号 already used by another household (in the archive or earlier in the file).
    DuplicateIdNumber,
    /// A 职工编号 that appears twice in one file.
    DuplicateStaffNo,
    /// The same family member (职工编号, 姓名, 关系) twice in one file.
    DuplicateMember,
    /// A family member or aid record names a 职工编号 that is not in this archive.
    UnknownHousehold,
    /// A text longer than any form allows (guards the archive against pasted documents).
    TooLong,
}

impl Rule {
    pub const ALL: [Rule; 23] = [
        Rule::Required,
        Rule::IdLength,
        Rule::IdCharacters,
        Rule::IdBirthDate,
        Rule::IdCheckChar,
        Rule::IdSex,
        Rule::StaffNoFormat,
        Rule::StaffNoOrg,
        Rule::Vocabulary,
        Rule::CausesCount,
        Rule::CausesRepeated,
        Rule::NotANumber,
        Rule::Negative,
        Rule::HouseholdSizeRange,
        Rule::PersonalIncomeAboveHousehold,
        Rule::LiftedWithoutDate,
        Rule::DateFormat,
        Rule::DateInFuture,
        Rule::DuplicateIdNumber,
        Rule::DuplicateStaffNo,
        Rule::DuplicateMember,
        Rule::UnknownHousehold,
        Rule::TooLong,
    ];

    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::IdLength => "id_number.length",
            Rule::IdCharacters => "id_number.characters",
            Rule::IdBirthDate => "id_number.birth_date",
            Rule::IdCheckChar => "id_number.check_char",
            Rule::IdSex => "id_number.sex",
            Rule::StaffNoFormat => "staff_no.format",
            Rule::StaffNoOrg => "staff_no.org",
            Rule::Vocabulary => "vocabulary",
            Rule::CausesCount => "causes.count",
            Rule::CausesRepeated => "causes.repeated",
            Rule::NotANumber => "number.format",
            Rule::Negative => "number.negative",
            Rule::HouseholdSizeRange => "household_size.range",
            Rule::PersonalIncomeAboveHousehold => "income.personal_above_household",
            Rule::LiftedWithoutDate => "status.lifted_without_date",
            Rule::DateFormat => "date.format",
            Rule::DateInFuture => "date.future",
            Rule::DuplicateIdNumber => "id_number.duplicate",
            Rule::DuplicateStaffNo => "staff_no.duplicate",
            Rule::DuplicateMember => "member.duplicate",
            Rule::UnknownHousehold => "household.unknown",
            Rule::TooLong => "text.too_long",
        }
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Rule::Required => "必填项为空",
            Rule::IdLength => "身份证号必须是15位或18位",
            Rule::IdCharacters => "身份证号含有非法字符（只允许数字，18位号码末位可为X）",
            Rule::IdBirthDate => "身份证号中的出生日期不存在或在今天之后",
            Rule::IdCheckChar => "身份证号校验码错误（GB 11643-1999）",
            Rule::IdSex => "身份证号第17位所示性别与性别栏不符",
            Rule::StaffNoFormat => "职工编号应为1个大写字母加7位数字，如H0100001",
            Rule::StaffNoOrg => "职工编号不以本单位代码开头",
            Rule::Vocabulary => "填写的值不在规定的选项之内",
            Rule::CausesCount => "致困主要原因应填1至3项",
            Rule::CausesRepeated => "致困主要原因重复填写",
            Rule::NotANumber => "应填写数字",
            Rule::Negative => "数值不能为负",
            Rule::HouseholdSizeRange => "家庭人口应在1至20之间",
            Rule::PersonalIncomeAboveHousehold => "本人年收入超过家庭年度总收入",
            Rule::LiftedWithoutDate => "档案状态为已脱困，但未填写脱困日期",
            Rule::DateFormat => "日期格式错误或日期不存在（应为 YYYY-MM-DD）",
            Rule::DateInFuture => "日期在今天之后",
            Rule::DuplicateIdNumber => "身份证号与另一户重复",
            Rule::DuplicateStaffNo => "职工编号在本文件中重复出现",
            Rule::DuplicateMember => "同一户的同名同关系家庭成员在本文件中重复出现",
            Rule::UnknownHousehold => "职工编号在本档案中不存在",
            Rule::TooLong => "内容过长",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Rule::Required => "a required field is empty",
            Rule::IdLength => "an ID number has 15 or 18 characters",
            Rule::IdCharacters => "an ID number is digits only (an 18-character one may end in X)",
            Rule::IdBirthDate => {
                "the birth date in the ID number does not exist or is in the future"
            }
            Rule::IdCheckChar => "the ID number's check character is wrong (GB 11643-1999)",
            Rule::IdSex => "the sex encoded in the ID number's 17th digit disagrees with 性别",
            Rule::StaffNoFormat => {
                "a staff number is one capital letter and seven digits, e.g. H0100001"
            }
            Rule::StaffNoOrg => "the staff number does not begin with this node's org code",
            Rule::Vocabulary => "the value is not one of the field's allowed values",
            Rule::CausesCount => "give one to three causes of hardship",
            Rule::CausesRepeated => "a cause of hardship is given twice",
            Rule::NotANumber => "a number is expected",
            Rule::Negative => "the number must not be negative",
            Rule::HouseholdSizeRange => "household size must be from 1 to 20",
            Rule::PersonalIncomeAboveHousehold => {
                "personal income is above the household's total income"
            }
            Rule::LiftedWithoutDate => "status 已脱困 needs a 脱困日期",
            Rule::DateFormat => "not a real date (write YYYY-MM-DD)",
            Rule::DateInFuture => "the date is after today",
            Rule::DuplicateIdNumber => "the ID number is already used by another household",
            Rule::DuplicateStaffNo => "the staff number appears twice in this file",
            Rule::DuplicateMember => {
                "the same family member (staff number, name, relation) appears twice in this file"
            }
            Rule::UnknownHousehold => "no household with this staff number is in the archive",
            Rule::TooLong => "the text is too long",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken rule, with what the reader needs to fix it (`expected X`); never more of the record
/// than the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub detail: Option<String>,
}

impl Violation {
    pub fn new(rule: Rule) -> Violation {
        Violation { rule, detail: None }
    }

    pub fn with(rule: Rule, detail: impl Into<String>) -> Violation {
        Violation {
            rule,
            detail: Some(detail.into()),
        }
    }

    /// `[rule] 中文 / English (detail)`, the form used in the rejects file and on the console.
    pub fn message(&self) -> String {
        let mut m = format!(
            "[{}] {} / {}",
            self.rule.name(),
            self.rule.zh(),
            self.rule.en()
        );
        if let Some(d) = &self.detail {
            m.push_str(" (");
            m.push_str(d);
            m.push(')');
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Rule::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Rule::ALL.len());
        for r in Rule::ALL {
            assert_eq!(Rule::from_name(r.name()), Some(r));
        }
    }
}
