//! Family members (家庭成员, seed 004 填表说明 15) and aid records of a valid household, and the ways to
//! break one of their rows in exactly one rule.

use bangfu_shared::vocabulary::Vocabulary;
use chrono::{Datelike, Days, NaiveDate};
use rand::Rng;

use super::household::{Facts, yuan};
use super::ids::Role;
use super::names::{self, Weighted, one_of};
use super::{Generator, Layout, Outputs, Summary, pick};
use crate::columns::Kind;
use crate::domain::StaffNo;
use crate::rules::Rule;

const MEMBER_KEYS: [&str; 10] = [
    "staff_no",
    "name",
    "relation",
    "sex",
    "status",
    "id_number",
    "health",
    "income",
    "occupation",
    "school_or_employer",
];
const AID_KEYS: [&str; 5] = ["staff_no", "date", "kind", "amount", "note"];

/// Rules a member row is broken in, in turn.
const MEMBER_CYCLE: [Rule; 3] = [Rule::UnknownHousehold, Rule::Vocabulary, Rule::Negative];
/// Rules an aid row is broken in, in turn.
const AID_CYCLE: [Rule; 4] = [
    Rule::UnknownHousehold,
    Rule::Vocabulary,
    Rule::Negative,
    Rule::DateFormat,
];

/// Who a member is to the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tie {
    Spouse,
    Child,
    Father,
    Mother,
    Other,
}

pub(super) struct Lists {
    pub member_layout: Layout,
    pub aid_layout: Layout,
    /// 身份 by age band: 0–5, 6–11, 12–14, 15–17, 18–22, 23–25, 26–54, 55 and over.
    status_by_age: Vec<Weighted<String>>,
    health_young: Weighted<String>,
    health_adult: Weighted<String>,
    health_old: Weighted<String>,
    serious: Weighted<String>,
    aid_kind: Weighted<String>,
    aid_kind_ill: Weighted<String>,
    aid_kind_school: Weighted<String>,
    aid_count: Weighted<usize>,
    vocabulary: Vocabulary,
}

impl Lists {
    pub(super) fn new(v: &Vocabulary) -> Lists {
        let status = |w: &[(&str, u32)]| Weighted::field(v.field("member_status"), w, 0);
        let health = |w: &[(&str, u32)]| Weighted::field(v.field("health"), w, 0);
        let aid = |w: &[(&str, u32)]| Weighted::field(v.field("aid_kind"), w, 2);
        let aid_base = [
            ("送温暖慰问", 30),
            ("生活救助", 25),
            ("医疗救助", 15),
            ("助学", 12),
            ("职业介绍", 4),
            ("就业培训", 4),
            ("政策咨询", 3),
            ("法律援助", 2),
            ("创业贷款", 1),
            ("其他", 4),
        ];
        let boosted = |kind: &str| -> Vec<(&str, u32)> {
            aid_base
                .iter()
                .map(|&(k, w)| (k, if k == kind { w * 3 } else { w }))
                .collect()
        };
        Lists {
            member_layout: Layout::new(Kind::Members, &MEMBER_KEYS),
            aid_layout: Layout::new(Kind::Aid, &AID_KEYS),
            status_by_age: vec![
                status(&[("幼儿", 1)]),
                status(&[("小学", 1)]),
                status(&[("初中", 1)]),
                status(&[("高中", 7), ("中职中技", 3)]),
                status(&[
                    ("大学生", 60),
                    ("在岗", 15),
                    ("农民工", 10),
                    ("失（无）业", 10),
                    ("中职中技", 5),
                ]),
                status(&[
                    ("研究生", 10),
                    ("在岗", 50),
                    ("农民工", 20),
                    ("失（无）业", 20),
                ]),
                status(&[
                    ("在岗", 40),
                    ("下（待）岗", 12),
                    ("失（无）业", 18),
                    ("农民工", 20),
                    ("病休", 5),
                    ("内退", 5),
                    ("劳模", 1),
                ]),
                status(&[
                    ("退休", 60),
                    ("失（无）业", 20),
                    ("病休", 8),
                    ("内退", 7),
                    ("农民工", 5),
                    ("离休", 1),
                ]),
            ],
            health_young: health(&[
                ("良好", 85),
                ("一般疾病", 10),
                ("残疾", 2),
                ("血液病", 1),
                ("精神病", 1),
            ]),
            health_adult: health(&[
                ("良好", 50),
                ("一般疾病", 25),
                ("高血压病", 5),
                ("腰颈椎病", 6),
                ("糖尿病", 3),
                ("残疾", 3),
                ("肝病", 2),
                ("癌症", 1),
                ("肺病", 1),
            ]),
            health_old: health(&[
                ("良好", 20),
                ("一般疾病", 25),
                ("高血压病", 15),
                ("心血管病", 10),
                ("脑血管病", 8),
                ("糖尿病", 8),
                ("腰颈椎病", 5),
                ("癌症", 3),
                ("肿瘤病", 2),
                ("肺病", 3),
                ("残疾", 3),
            ]),
            serious: health(&[
                ("癌症", 20),
                ("尿毒症", 10),
                ("脑血管病", 15),
                ("心血管病", 15),
                ("肿瘤病", 10),
                ("血液病", 8),
                ("精神病", 8),
                ("肝病", 7),
            ]),
            aid_kind: aid(&aid_base),
            aid_kind_ill: aid(&boosted("医疗救助")),
            aid_kind_school: aid(&boosted("助学")),
            aid_count: Weighted::new([(0, 25), (1, 40), (2, 25), (3, 10)]),
            vocabulary: v.clone(),
        }
    }
}

/// The band index of `status_by_age` for an age.
fn age_band(age: i32) -> usize {
    match age {
        ..=5 => 0,
        6..=11 => 1,
        12..=14 => 2,
        15..=17 => 3,
        18..=22 => 4,
        23..=25 => 5,
        26..=54 => 6,
        _ => 7,
    }
}

impl Generator<'_> {
    /// Writes the household's family members: up to four of the other people in it.
    pub(super) fn write_members(
        &mut self,
        f: &Facts,
        out: &mut Outputs,
        summary: &mut Summary,
    ) -> anyhow::Result<()> {
        let ties = self.ties(f);
        let mut remaining = f.income - f.personal;
        let mut spouse_surname = None;
        // A family does not give two of its members one name: (职工编号, 姓名, 关系) is a member's key.
        let mut used: Vec<String> = Vec::new();
        for (i, tie) in ties.into_iter().enumerate() {
            let mut row = self.member(
                f,
                tie,
                i == 0,
                &mut remaining,
                &mut spouse_surname,
                &mut used,
            )?;
            let broken = self.break_this();
            let rule = broken.then(|| self.break_member(&mut row));
            let line = out.members.write(&self.family.member_layout.cells(&row))?;
            summary.members += 1;
            if let Some(rule) = rule {
                Outputs::record(&mut out.manifest, &out.members, line, rule)?;
                summary.invalid_members += 1;
            }
        }
        Ok(())
    }

    /// Who is listed: a spouse (not for a single parent), children, parents, now and then someone else.
    fn ties(&mut self, f: &Facts) -> Vec<Tie> {
        let mut count = (f.size as usize - 1).min(4);
        if count > 0 && self.rng.random_bool(0.15) {
            count = self.rng.random_range(0..=count);
        }
        let can_have_child = f.person.birth.year() + 20 < self.opts.today.year();
        let mut ties = Vec::with_capacity(count);
        if count > 0 && !f.single_parent && self.rng.random_bool(0.85) {
            ties.push(Tie::Spouse);
        }
        let (mut father, mut mother) = (false, false);
        while ties.len() < count {
            let children = ties.iter().filter(|&&t| t == Tie::Child).count();
            let tie = if can_have_child && children < 3 && self.rng.random_bool(0.75) {
                Tie::Child
            } else if !father && self.rng.random_bool(0.5) {
                father = true;
                Tie::Father
            } else if !mother {
                mother = true;
                Tie::Mother
            } else {
                Tie::Other
            };
            ties.push(tie);
        }
        ties
    }

    fn member(
        &mut self,
        f: &Facts,
        tie: Tie,
        first: bool,
        remaining: &mut i64,
        spouse_surname: &mut Option<String>,
        used: &mut Vec<String>,
    ) -> anyhow::Result<Vec<String>> {
        let today = self.opts.today;
        let worker_year = f.person.birth.year();
        let last_year = today.year() - 1;
        let (male, year) = match tie {
            Tie::Spouse => (
                !f.person.male,
                (worker_year + self.rng.random_range(-6..=4)).min(today.year() - 18),
            ),
            Tie::Child => {
                let lo = (worker_year + 22).min(last_year);
                (
                    self.rng.random_bool(0.5),
                    self.rng
                        .random_range(lo..=(worker_year + 36).min(last_year)),
                )
            }
            Tie::Father => (
                true,
                (worker_year - self.rng.random_range(22..=34)).max(1925),
            ),
            Tie::Mother => (
                false,
                (worker_year - self.rng.random_range(20..=32)).max(1927),
            ),
            Tie::Other => (
                self.rng.random_bool(0.5),
                self.rng.random_range(1950..=last_year),
            ),
        };
        let relation = match (tie, male) {
            (Tie::Spouse, true) => "丈夫",
            (Tie::Spouse, false) => "妻子",
            (Tie::Child, true) => "儿子",
            (Tie::Child, false) => "女儿",
            (Tie::Father, _) => "父亲",
            (Tie::Mother, _) => "母亲",
            (Tie::Other, _) => "其他",
        };
        // Children carry the father's surname; a wife's parents share hers.
        let surname = match tie {
            Tie::Spouse | Tie::Other | Tie::Mother => self.lists_surname(),
            Tie::Child if !f.person.male => {
                spouse_surname.clone().unwrap_or_else(|| f.surname.clone())
            }
            _ => f.surname.clone(),
        };
        if tie == Tie::Spouse {
            *spouse_surname = Some(surname.clone());
        }
        let mut name = self.given_name(&surname, male);
        while used.contains(&name) {
            name = self.given_name(&surname, male);
        }
        used.push(name.clone());
        let age = today.year() - year;
        let status = pick(&mut self.rng, &self.family.status_by_age[age_band(age)]).to_string();
        let health = if first && f.has_cause("供养直系亲属大病") && !self.family.serious.is_empty()
        {
            &self.family.serious
        } else if age < 18 {
            &self.family.health_young
        } else if age < 55 {
            &self.family.health_adult
        } else {
            &self.family.health_old
        };
        let health = pick(&mut self.rng, health).to_string();
        let id = if self.rng.random_bool(0.92) {
            self.fresh_person(Role::Member, year, male)?.id18()
        } else {
            String::new()
        };
        let earns = matches!(
            status.as_str(),
            "在岗" | "农民工" | "退休" | "离休" | "内退" | "病休" | "劳模"
        );
        let income = if earns && *remaining > 0 {
            let part = (*remaining as f64 * self.rng.random_range(0.3..0.9)) as i64 / 100 * 100;
            *remaining -= part;
            part
        } else {
            0
        };
        let (occupation, place) = self.occupation(&status, f.place);
        Ok(vec![
            f.staff_no.clone(),
            name,
            relation.to_string(),
            if male { "男" } else { "女" }.to_string(),
            status,
            id,
            health,
            yuan(income),
            occupation.to_string(),
            place,
        ])
    }

    fn lists_surname(&mut self) -> String {
        let i = self.rng.random_range(0..names::SURNAMES.len());
        // Common surnames more often: half the time one of the first twenty.
        let i = if self.rng.random_bool(0.5) { i % 20 } else { i };
        names::SURNAMES[i].0.to_string()
    }

    /// 就业（学）状况 and 单位或学校 for a 身份.
    fn occupation(&mut self, status: &str, place: &str) -> (&'static str, String) {
        // The town without its county: 京山县新市镇 → 新市, 荆门市东宝区龙泉街道 → 龙泉.
        let local = match place.find('区') {
            Some(i) => &place[i + '区'.len_utf8()..],
            None => &place[place.char_indices().nth(3).map_or(0, |(i, _)| i)..],
        };
        let town = local.trim_end_matches("街道").trim_end_matches('镇');
        match status {
            "幼儿" => ("在园", format!("{town}中心幼儿园")),
            "小学" => ("在读", format!("{town}中心小学")),
            "初中" => ("在读", format!("{town}初级中学")),
            "高中" => (
                "在读",
                format!("{}第一中学", &place.chars().take(3).collect::<String>()),
            ),
            "中职中技" => ("在读", "荆门市职业技术学校".to_string()),
            "大学生" | "研究生" => (
                "在读",
                one_of(&mut self.rng, names::UNIVERSITIES).to_string(),
            ),
            "在岗" | "劳模" => ("在职", self.employer(place, "")),
            "农民工" => (
                "外出务工",
                if self.rng.random_bool(0.5) {
                    self.employer(place, "")
                } else {
                    String::new()
                },
            ),
            "退休" | "离休" => ("退休", String::new()),
            "病休" => ("病休在家", String::new()),
            "内退" => ("内退", String::new()),
            _ => (
                if self.rng.random_bool(0.5) {
                    "待业"
                } else {
                    "无业"
                },
                String::new(),
            ),
        }
    }

    fn break_member(&mut self, row: &mut [String]) -> Rule {
        let unknown = self.unknown_seq.is_some();
        let rule = super::next_rule(&MEMBER_CYCLE, &mut self.member_cycle, |r| {
            r != Rule::UnknownHousehold || unknown
        });
        match rule {
            Rule::UnknownHousehold => row[0] = self.unknown_staff_no(),
            Rule::Vocabulary => {
                let field = self.family.vocabulary.field("relation");
                let bad = ["表哥", "侄子", "外甥女", "亲戚（未说明）"];
                row[2] = bad
                    .iter()
                    .find(|b| field.canonical(b).is_none())
                    .unwrap_or(&bad[3])
                    .to_string();
            }
            Rule::Negative => row[7] = format!("-{}", self.rng.random_range(1..=30) * 1000),
            other => unreachable!("{other} is not in the member cycle"),
        }
        rule
    }

    /// A staff number of this org that no stored household has.
    fn unknown_staff_no(&mut self) -> String {
        let seq = self.unknown_seq.expect("only asked when there is one");
        let capacity = self.opts.org.staff_number_capacity();
        // Past the last household, a little further each time, when there is room.
        let seq = if seq > self.opts.households {
            (seq + self.rng.random_range(0..1000)).min(capacity)
        } else {
            seq
        };
        StaffNo::nth(&self.opts.org, seq)
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    }

    /// Writes 0–3 aid records, dated within the last two years, not before filing nor after lifting.
    pub(super) fn write_aid(
        &mut self,
        f: &Facts,
        out: &mut Outputs,
        summary: &mut Summary,
    ) -> anyhow::Result<()> {
        let today = self.opts.today;
        let from = f.filed.max(today - Days::new(730));
        let to = f.lifted.unwrap_or(today);
        let mut count = *self.family.aid_count.pick(&mut self.rng);
        if f.removed || from > to {
            count = 0;
        }
        let span = (to - from).num_days().max(0) as u64;
        let mut days: Vec<u64> = (0..count)
            .map(|_| self.rng.random_range(0..=span))
            .collect();
        days.sort_unstable();
        for d in days {
            let mut row = self.aid(f, from + Days::new(d));
            let broken = self.break_this();
            let rule = broken.then(|| self.break_aid(&mut row));
            let line = out.aid.write(&self.family.aid_layout.cells(&row))?;
            summary.aid += 1;
            if let Some(rule) = rule {
                Outputs::record(&mut out.manifest, &out.aid, line, rule)?;
                summary.invalid_aid += 1;
            }
        }
        Ok(())
    }

    fn aid(&mut self, f: &Facts, date: NaiveDate) -> Vec<String> {
        let kinds = if f.has_cause("本人大病") || f.has_cause("供养直系亲属大病") {
            &self.family.aid_kind_ill
        } else if f.has_cause("子女上学") {
            &self.family.aid_kind_school
        } else {
            &self.family.aid_kind
        };
        let kind = pick(&mut self.rng, kinds).to_string();
        // Sums as unions pay them: round hundreds, 送温暖 around the 600 元 standard (seed 003).
        let (lo, hi) = match kind.as_str() {
            "送温暖慰问" => (3, 15),
            "生活救助" => (5, 30),
            "医疗救助" => (10, 50),
            "助学" => (10, 50),
            "创业贷款" => (20, 50),
            _ => (2, 8),
        };
        let mut amount = self.rng.random_range(lo..=hi) * 100;
        if self.rng.random_bool(0.1) {
            amount += 50;
        }
        let note = one_of(&mut self.rng, names::aid_notes(&kind)).to_string();
        vec![
            f.staff_no.clone(),
            date.to_string(),
            kind,
            amount.to_string(),
            note,
        ]
    }

    fn break_aid(&mut self, row: &mut [String]) -> Rule {
        let unknown = self.unknown_seq.is_some();
        let rule = super::next_rule(&AID_CYCLE, &mut self.aid_cycle, |r| {
            r != Rule::UnknownHousehold || unknown
        });
        match rule {
            Rule::UnknownHousehold => row[0] = self.unknown_staff_no(),
            Rule::Vocabulary => {
                let field = self.family.vocabulary.field("aid_kind");
                let bad = ["慰问品", "发放米油", "节日慰问（实物）"];
                row[2] = bad
                    .iter()
                    .find(|b| field.canonical(b).is_none())
                    .unwrap_or(&bad[2])
                    .to_string();
            }
            Rule::Negative => row[3] = format!("-{}", row[3]),
            Rule::DateFormat => {
                let year = self.opts.today.year() - 1;
                row[1] = one_of(&mut self.rng, &["{y}-02-30", "{y}-13-05", "{y}/00/12"])
                    .replace("{y}", &year.to_string());
            }
            other => unreachable!("{other} is not in the aid cycle"),
        }
        rule
    }
}
