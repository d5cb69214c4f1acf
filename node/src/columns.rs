//! The import format's columns (CONTRACT.md "Import columns"): Chinese headers as in the seeds,
//! English keys accepted too, order free. The three kinds of file are told apart by their header.

use std::fmt;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Households,
    Members,
    Aid,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Households, Kind::Members, Kind::Aid];

    pub fn columns(self) -> &'static [Column] {
        match self {
            Kind::Households => HOUSEHOLD_COLUMNS,
            Kind::Members => MEMBER_COLUMNS,
            Kind::Aid => AID_COLUMNS,
        }
    }

    /// The sheet name used on export and recognised on import of an `.xlsx` workbook.
    pub fn sheet_name(self) -> &'static str {
        match self {
            Kind::Households => "困难职工",
            Kind::Members => "家庭成员",
            Kind::Aid => "帮扶记录",
        }
    }

    /// Other sheet names an office might use for the same kind.
    pub fn sheet_aliases(self) -> &'static [&'static str] {
        match self {
            Kind::Households => &["困难职工", "困难职工档案", "档案", "households"],
            Kind::Members => &["家庭成员", "members"],
            Kind::Aid => &["帮扶记录", "帮扶", "aid"],
        }
    }

    /// A column only this kind has: how a header tells the kind apart.
    fn marker(self) -> &'static str {
        match self {
            Kind::Households => "category",
            Kind::Members => "relation",
            Kind::Aid => "kind",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Kind::Households => "households",
            Kind::Members => "members",
            Kind::Aid => "aid",
        }
    }

    /// The position of a column key in this kind's columns.
    pub fn index_of(self, key: &str) -> usize {
        self.columns()
            .iter()
            .position(|c| c.key == key)
            .unwrap_or_else(|| panic!("no column `{key}`"))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Households => "households / 困难职工",
            Kind::Members => "family members / 家庭成员",
            Kind::Aid => "aid records / 帮扶记录",
        })
    }
}

/// One column of the import format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The English key.
    pub key: &'static str,
    /// The seed's Chinese header.
    pub zh: &'static str,
    /// Must be present in the header and filled in on every row.
    pub required: bool,
}

const fn req(key: &'static str, zh: &'static str) -> Column {
    Column {
        key,
        zh,
        required: true,
    }
}

const fn opt(key: &'static str, zh: &'static str) -> Column {
    Column {
        key,
        zh,
        required: false,
    }
}

pub const HOUSEHOLD_COLUMNS: &[Column] = &[
    req("staff_no", "职工编号"),
    req("name", "姓名"),
    req("sex", "性别"),
    opt("ethnicity", "民族"),
    req("id_number", "身份证号"),
    opt("education", "文化程度"),
    opt("politics", "政治面貌"),
    req("category", "困难类别"),
    opt("model_worker", "劳模类别"),
    opt("health", "健康状况"),
    opt("work_status", "身份"),
    opt("housing_type", "住房类型"),
    opt("housing_area", "住房面积"),
    opt("industry", "所属行业"),
    opt("hukou", "户口类型"),
    opt("unit_nature", "单位性质"),
    opt("enterprise_status", "企业状况"),
    opt("single_parent", "是否单亲"),
    opt("medical_insurance", "是否进入医保"),
    opt("self_help", "是否有一定自救能力"),
    opt("zero_employment", "是否为零就业家庭"),
    opt("on_dibao", "是否享受低保"),
    opt("causes", "致困主要原因"),
    opt("personal_income", "本人年收入"),
    req("household_income", "家庭年度总收入"),
    req("household_size", "家庭人口"),
    opt("household_expense", "家庭年度支出"),
    opt("medical_expense", "年医疗费个人支出"),
    opt("tuition", "年学费支出"),
    opt("phone", "联系电话"),
    opt("address", "家庭住址"),
    opt("employer", "工作单位"),
    opt("filed_on", "建档日期"),
    req("status", "档案状态"),
    opt("lifted_on", "脱困日期"),
];

pub const MEMBER_COLUMNS: &[Column] = &[
    req("staff_no", "职工编号"),
    req("name", "姓名"),
    req("relation", "关系"),
    opt("sex", "性别"),
    opt("status", "身份"),
    opt("id_number", "身份证号"),
    opt("health", "健康状况"),
    opt("income", "年收入"),
    opt("occupation", "就业（学）状况"),
    opt("school_or_employer", "单位或学校"),
];

pub const AID_COLUMNS: &[Column] = &[
    req("staff_no", "职工编号"),
    req("date", "日期"),
    req("kind", "帮扶类型"),
    req("amount", "金额(元)"),
    opt("note", "备注"),
];

/// Columns that hold money in 元 (stored as fen).
pub const MONEY_COLUMNS: &[&str] = &[
    "personal_income",
    "household_income",
    "household_expense",
    "medical_expense",
    "tuition",
    "income",
    "amount",
];

/// A file-level problem with the header.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error(
        "the header matches no kind of file (households need 困难类别, members 关系, aid records 帮扶类型) / 表头无法识别"
    )]
    UnknownKind,
    #[error("missing required column `{0}` / 缺少必填列 `{0}`")]
    MissingColumn(&'static str),
    #[error("unknown column `{0}` / 无法识别的列 `{0}`")]
    UnknownColumn(String),
    #[error("column `{0}` appears twice / 列 `{0}` 重复")]
    RepeatedColumn(String),
}

/// How a file's header maps onto a kind's columns.
#[derive(Debug, Clone)]
pub struct Header {
    pub kind: Kind,
    /// For each column of `kind` (in the kind's order), its position in the file, if present.
    pub positions: Vec<Option<usize>>,
    /// The file's own header cells, as written (for the rejects file).
    pub original: Vec<String>,
}

/// Full-width and half-width parentheses, spaces and a UTF-8 BOM do not make a different header.
fn normalise(cell: &str) -> String {
    cell.trim_start_matches('\u{feff}')
        .trim()
        .replace('(', "（")
        .replace(')', "）")
        .to_lowercase()
}

fn column_matches(column: &Column, cell: &str) -> bool {
    cell == normalise(column.zh) || cell == column.key
}

impl Header {
    /// Recognises the kind of file and maps its columns; any missing required or unknown column is
    /// an error naming it.
    pub fn parse(cells: &[String]) -> Result<Header, HeaderError> {
        let normal: Vec<String> = cells.iter().map(|c| normalise(c)).collect();
        let kind = Kind::ALL
            .into_iter()
            .find(|k| {
                let marker = &k.columns()[k.index_of(k.marker())];
                normal.iter().any(|c| column_matches(marker, c))
            })
            .ok_or(HeaderError::UnknownKind)?;
        let mut positions = vec![None; kind.columns().len()];
        for (pos, cell) in normal.iter().enumerate() {
            if cell.is_empty() {
                continue; // an empty trailing header cell, as Excel leaves after a deleted column
            }
            let Some(ci) = kind.columns().iter().position(|c| column_matches(c, cell)) else {
                return Err(HeaderError::UnknownColumn(cells[pos].trim().to_string()));
            };
            if positions[ci].replace(pos).is_some() {
                return Err(HeaderError::RepeatedColumn(cells[pos].trim().to_string()));
            }
        }
        if let Some(missing) = kind
            .columns()
            .iter()
            .zip(&positions)
            .find(|(c, p)| c.required && p.is_none())
        {
            return Err(HeaderError::MissingColumn(missing.0.zh));
        }
        Ok(Header {
            kind,
            positions,
            original: cells.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chinese_headers_in_any_order_make_a_household_file() {
        let mut all: Vec<&str> = HOUSEHOLD_COLUMNS.iter().map(|c| c.zh).collect();
        all.reverse();
        let h = Header::parse(&cells(&all)).unwrap();
        assert_eq!(h.kind, Kind::Households);
        assert_eq!(h.positions[0], Some(all.len() - 1));
    }

    #[test]
    fn english_keys_are_accepted() {
        let h = Header::parse(&cells(&["staff_no", "date", "kind", "amount"])).unwrap();
        assert_eq!(h.kind, Kind::Aid);
    }

    #[test]
    fn half_width_parentheses_and_a_bom_are_the_same_header() {
        let h = Header::parse(&cells(&[
            "\u{feff}职工编号",
            "日期",
            "帮扶类型",
            "金额（元）",
        ]))
        .unwrap();
        assert_eq!(h.kind, Kind::Aid);
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let err = Header::parse(&cells(&["职工编号", "姓名", "关系", "性别"])).map(|_| ());
        assert!(err.is_ok());
        let err = Header::parse(&cells(&["职工编号", "关系"])).unwrap_err();
        assert_eq!(err, HeaderError::MissingColumn("姓名"));
    }

    #[test]
    fn an_unknown_column_is_named() {
        let err = Header::parse(&cells(&["职工编号", "姓名", "关系", "爱好"])).unwrap_err();
        assert_eq!(err, HeaderError::UnknownColumn("爱好".into()));
    }
}
