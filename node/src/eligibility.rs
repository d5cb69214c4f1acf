//! 精准识别: who counts as a hardship household, by the node's local rules (seed 002 二(二),
//! seed 004 二.2). `bangfu-node check` lists the households on file whose recorded 困难类别 the
//! figures do not support, and those that no longer qualify at all — as warnings for a person to
//! follow up, never as rejections.

use futures_util::TryStreamExt;
use sqlx::Row;

use crate::archive::{self, Archive};
use crate::settings::Eligibility;

/// 困难类别 by the seeds' three tests, in the order they are tried.
pub const CATEGORIES: [&str; 3] = ["低保户", "低保边缘户", "意外致困户"];

/// Causes that, with income in the edge band, make a 低保边缘户 (seed 002: "患病、子女上学、残疾、
/// 单亲及其他特殊原因").
const SPECIAL_CAUSES: [&str; 7] = [
    "本人大病",
    "供养直系亲属大病",
    "意外灾害",
    "子女上学",
    "残疾",
    "下岗失业",
    "其他",
];

/// The figures of one household that eligibility looks at (no personal data).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub on_dibao: bool,
    pub single_parent: bool,
    pub causes: Vec<String>,
    pub household_income_fen: i64,
    pub household_size: i64,
    pub household_expense_fen: i64,
    pub medical_expense_fen: i64,
    pub tuition_fen: i64,
}

impl Figures {
    /// Per-capita monthly income in 元.
    pub fn per_capita_monthly(&self) -> f64 {
        self.household_income_fen as f64 / 100.0 / self.household_size.max(1) as f64 / 12.0
    }

    fn above_share(&self, fen: i64, rules: &Eligibility) -> bool {
        fen as f64 > rules.hardship_share * self.household_income_fen as f64
    }

    /// Does the household meet the test of `category`?
    pub fn qualifies_as(&self, category: &str, rules: &Eligibility) -> bool {
        let pc = self.per_capita_monthly();
        match category {
            // 低保户: on 低保, or below the line (seed 002 条件1; seed 004 "进入低保的职工").
            "低保户" => self.on_dibao || pc < rules.dibao_line,
            // 低保边缘户: within the edge band with a special cause (seed 002 条件2).
            "低保边缘户" => {
                pc <= rules.dibao_line * rules.edge_ratio
                    && (self.single_parent
                        || self
                            .causes
                            .iter()
                            .any(|c| SPECIAL_CAUSES.contains(&c.as_str())))
            }
            // 意外致困户: medical costs, tuition or disaster losses above half the income (seed 002 条件3).
            "意外致困户" => {
                self.above_share(self.medical_expense_fen, rules)
                    || self.above_share(self.tuition_fen, rules)
                    || (self.causes.iter().any(|c| c == "意外灾害")
                        && self.above_share(self.household_expense_fen, rules))
            }
            _ => false,
        }
    }

    /// The first category the household qualifies for, if any.
    pub fn derived_category(&self, rules: &Eligibility) -> Option<&'static str> {
        CATEGORIES.into_iter().find(|c| self.qualifies_as(c, rules))
    }
}

/// One household whose record the rules do not support.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Warning {
    pub staff_no: String,
    pub recorded: String,
    /// The category the figures support, or `None` when the household no longer qualifies (剔除).
    pub derived: Option<&'static str>,
    /// Per-capita monthly income, 元.
    pub per_capita_monthly: f64,
}

impl Warning {
    pub fn describe(&self, rules: &Eligibility) -> String {
        let why = match self.derived {
            Some(d) => format!(
                "记录为{}，按现行标准应为{} / recorded {}, the figures support {}",
                self.recorded, d, self.recorded, d
            ),
            None => format!(
                "记录为{}，已不符合困难职工条件 / recorded {}, no longer qualifies",
                self.recorded, self.recorded
            ),
        };
        format!(
            "{}  {}  (人均月收入 {:.2} 元; 低保线 {} 元, 边缘 {:.0} 元)",
            self.staff_no,
            why,
            self.per_capita_monthly,
            rules.dibao_line,
            rules.dibao_line * rules.edge_ratio
        )
    }
}

/// Every household on file (在档) whose recorded category its figures do not support.
pub async fn check(archive: &Archive, rules: &Eligibility) -> Result<Vec<Warning>, archive::Error> {
    let mut rows = sqlx::query(
        "SELECT staff_no, category, on_dibao, single_parent, causes, household_income, household_size, \
                household_expense, medical_expense, tuition \
         FROM households WHERE status = '在档' ORDER BY staff_no",
    )
    .fetch(archive.pool());
    let mut warnings = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let causes: Option<String> = row.get(4);
        let figures = Figures {
            on_dibao: row.get::<Option<String>, _>(2).as_deref() == Some("是"),
            single_parent: row.get::<Option<String>, _>(3).as_deref() == Some("是"),
            causes: causes
                .map(|c| c.split('、').map(str::to_string).collect())
                .unwrap_or_default(),
            household_income_fen: row.get(5),
            household_size: row.get(6),
            household_expense_fen: row.get::<Option<i64>, _>(7).unwrap_or(0),
            medical_expense_fen: row.get::<Option<i64>, _>(8).unwrap_or(0),
            tuition_fen: row.get::<Option<i64>, _>(9).unwrap_or(0),
        };
        let recorded: String = row.get(1);
        if !figures.qualifies_as(&recorded, rules) {
            warnings.push(Warning {
                staff_no: row.get(0),
                derived: figures.derived_category(rules),
                per_capita_monthly: figures.per_capita_monthly(),
                recorded,
            });
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn household(income_yuan: i64, size: i64) -> Figures {
        Figures {
            household_income_fen: income_yuan * 100,
            household_size: size,
            ..Figures::default()
        }
    }

    #[test]
    fn below_the_line_is_dibao() {
        let rules = Eligibility::default();
        assert_eq!(
            household(3 * 12 * 399, 3).derived_category(&rules),
            Some("低保户")
        );
    }

    #[test]
    fn the_edge_band_needs_a_special_cause() {
        let rules = Eligibility::default(); // 400 × 1.2 = 480
        let mut h = household(2 * 12 * 450, 2);
        assert_eq!(h.derived_category(&rules), None);
        h.causes = vec!["子女上学".into()];
        assert_eq!(h.derived_category(&rules), Some("低保边缘户"));
        let strict = Eligibility {
            edge_ratio: 1.1,
            ..rules
        };
        assert_eq!(h.derived_category(&strict), None);
    }

    #[test]
    fn medical_costs_above_half_the_income_make_an_accident_household() {
        let rules = Eligibility::default();
        let mut h = household(60_000, 2);
        h.medical_expense_fen = 30_001 * 100;
        assert_eq!(h.derived_category(&rules), Some("意外致困户"));
        h.medical_expense_fen = 30_000 * 100;
        assert_eq!(h.derived_category(&rules), None);
    }
}
