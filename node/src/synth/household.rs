//! One household row: a plausible worker whose category, causes and money agree with the 低保 line
//! (seed 002 精准识别, seed 004 填表说明), and the ways to break such a row in exactly one rule.

use bangfu_shared::vocabulary::Vocabulary;
use chrono::{Datelike, Days, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ids::{Person, Role, with_check};
use super::names::{self, Weighted, one_of};
use super::{Generator, Layout, pick};
use crate::domain::id_number::check_char;
use crate::domain::{Fen, StaffNo};
use crate::rules::Rule;

/// The generator's own order of household fields; [`Layout`] maps it onto the file's columns.
pub(super) const KEYS: [&str; 35] = [
    "staff_no",
    "name",
    "sex",
    "ethnicity",
    "id_number",
    "education",
    "politics",
    "category",
    "model_worker",
    "health",
    "work_status",
    "housing_type",
    "housing_area",
    "industry",
    "hukou",
    "unit_nature",
    "enterprise_status",
    "single_parent",
    "medical_insurance",
    "self_help",
    "zero_employment",
    "on_dibao",
    "causes",
    "personal_income",
    "household_income",
    "household_size",
    "household_expense",
    "medical_expense",
    "tuition",
    "phone",
    "address",
    "employer",
    "filed_on",
    "status",
    "lifted_on",
];

const STAFF_NO: usize = 0;
const NAME: usize = 1;
const SEX: usize = 2;
const ID_NUMBER: usize = 4;
const CATEGORY: usize = 7;
const HEALTH: usize = 9;
const WORK_STATUS: usize = 10;
const HOUSING_TYPE: usize = 11;
const CAUSES: usize = 22;
const PERSONAL_INCOME: usize = 23;
const HOUSEHOLD_INCOME: usize = 24;
const HOUSEHOLD_SIZE: usize = 25;
const HOUSEHOLD_EXPENSE: usize = 26;
const FILED_ON: usize = 32;
const STATUS: usize = 33;
const LIFTED_ON: usize = 34;

/// The rules a household row is broken in, taken in turn.
pub(super) const CYCLE: [Rule; 18] = [
    Rule::IdCheckChar,
    Rule::IdBirthDate,
    Rule::IdLength,
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
    Rule::Required,
    Rule::DuplicateIdNumber,
    Rule::DuplicateStaffNo,
    Rule::DateFormat,
];

const CATEGORY_NAMES: [&str; 3] = ["低保户", "低保边缘户", "意外致困户"];
const STATUS_NAMES: [&str; 3] = ["在档", "已脱困", "已剔除"];
const SERIOUS: &[&str] = &[
    "癌症",
    "心血管病",
    "脑血管病",
    "尿毒症",
    "肝病",
    "血液病",
    "糖尿病",
    "肿瘤病",
    "肺病",
    "精神病",
];

/// A generated row and what the rest of the run needs to know about it.
pub(super) struct Household {
    pub cells: Vec<String>,
    pub facts: Facts,
}

/// The facts behind a household row, for its family members and aid records.
pub(super) struct Facts {
    pub staff_no: String,
    pub id_number: String,
    pub person: Person,
    pub surname: String,
    pub place: &'static str,
    pub size: u32,
    pub income: i64,
    pub personal: i64,
    pub single_parent: bool,
    pub causes: Vec<String>,
    pub filed: NaiveDate,
    pub lifted: Option<NaiveDate>,
    pub removed: bool,
}

impl Facts {
    pub fn sex(&self) -> &'static str {
        if self.person.male { "男" } else { "女" }
    }

    pub fn has_cause(&self, cause: &str) -> bool {
        self.causes.iter().any(|c| c == cause)
    }
}

/// The weighted value lists a household is drawn from, built once per run.
pub(super) struct Lists {
    pub layout: Layout,
    areas: Weighted<usize>,
    surnames: Weighted<&'static str>,
    ethnicities: Weighted<&'static str>,
    education: Weighted<&'static str>,
    firm_suffixes: Weighted<&'static str>,
    sizes: Weighted<u32>,
    category: Weighted<usize>,
    status: Weighted<usize>,
    politics: Weighted<String>,
    model_worker: Weighted<String>,
    health: Weighted<String>,
    serious_illness: Weighted<String>,
    work_young: Weighted<String>,
    work_old: Weighted<String>,
    housing_type: Weighted<String>,
    housing_area: Weighted<String>,
    industry: Weighted<String>,
    hukou: Weighted<String>,
    hukou_migrant: Weighted<String>,
    unit_nature: Weighted<String>,
    unit_nature_migrant: Weighted<String>,
    enterprise_status: Weighted<String>,
    /// The main cause by category (seed 002: what makes a household of that category).
    first_cause: [Weighted<String>; 3],
    /// Further causes by category.
    more_causes: [Weighted<String>; 3],
    has_disability: bool,
    vocabulary: Vocabulary,
}

impl Lists {
    pub(super) fn new(v: &Vocabulary) -> Lists {
        let f = |key: &str, weights: &[(&str, u32)], other: u32| {
            Weighted::field(v.field(key), weights, other)
        };
        let serious: Vec<(&str, u32)> = SERIOUS.iter().map(|s| (*s, 10)).collect();
        Lists {
            layout: Layout::new(crate::columns::Kind::Households, &KEYS),
            areas: Weighted::new(names::AREAS.iter().enumerate().map(|(i, (_, w))| (i, *w))),
            surnames: Weighted::new(names::SURNAMES.iter().copied()),
            ethnicities: Weighted::new(names::ETHNICITIES.iter().copied()),
            education: Weighted::new(names::EDUCATION.iter().copied()),
            firm_suffixes: Weighted::new(names::FIRM_SUFFIXES.iter().copied()),
            sizes: Weighted::new([(1, 6), (2, 16), (3, 40), (4, 24), (5, 10), (6, 4)]),
            category: Weighted::new([(0, 45), (1, 35), (2, 20)]),
            status: Weighted::new([(0, 85), (1, 10), (2, 5)]),
            politics: f(
                "politics",
                &[
                    ("群众", 75),
                    ("中共党员", 15),
                    ("共青团员", 5),
                    ("民主党派", 1),
                    ("其他", 4),
                ],
                1,
            ),
            model_worker: f(
                "model_worker",
                &[
                    ("非劳模", 970),
                    ("地市级劳模", 18),
                    ("省部级劳模", 6),
                    ("全国劳模", 1),
                    ("其他", 5),
                ],
                2,
            ),
            health: f(
                "health",
                &[
                    ("良好", 40),
                    ("一般疾病", 22),
                    ("高血压病", 5),
                    ("腰颈椎病", 5),
                    ("糖尿病", 4),
                    ("心血管病", 4),
                    ("脑血管病", 3),
                    ("残疾", 4),
                    ("癌症", 3),
                    ("肿瘤病", 2),
                    ("肝病", 2),
                    ("肺病", 2),
                    ("尿毒症", 1),
                    ("精神病", 1),
                    ("血液病", 1),
                ],
                1,
            ),
            serious_illness: f("health", &serious, 0),
            work_young: f(
                "work_status",
                &[
                    ("在岗", 30),
                    ("下（待）岗", 16),
                    ("失（无）业", 16),
                    ("退休", 3),
                    ("离休", 0),
                    ("病休", 8),
                    ("内退", 7),
                    ("农民工", 14),
                ],
                2,
            ),
            work_old: f(
                "work_status",
                &[
                    ("退休", 55),
                    ("内退", 12),
                    ("病休", 8),
                    ("在岗", 8),
                    ("失（无）业", 8),
                    ("下（待）岗", 4),
                    ("离休", 0),
                    ("农民工", 5),
                ],
                2,
            ),
            housing_type: f(
                "housing_type",
                &[
                    ("自购房", 38),
                    ("租房", 20),
                    ("承租单位公房", 15),
                    ("政府廉租房", 12),
                    ("其他", 10),
                    ("无房", 5),
                ],
                3,
            ),
            housing_area: f(
                "housing_area",
                &[
                    ("20以下", 8),
                    ("20至50", 45),
                    ("50至70", 32),
                    ("70以上", 15),
                ],
                5,
            ),
            industry: f(
                "industry",
                &[
                    ("纺织系统", 100),
                    ("机电系统", 90),
                    ("化工系统", 90),
                    ("城建系统", 70),
                    ("财贸系统", 70),
                    ("社会服务业", 100),
                    ("农、林、牧、渔业", 60),
                    ("冶金系统", 50),
                    ("煤炭系统", 30),
                    ("医药系统", 40),
                    ("电子仪表", 30),
                    ("其他", 120),
                    ("教育", 30),
                    ("医疗卫生", 30),
                    ("国家机关", 20),
                    ("文化", 10),
                    ("科技", 10),
                    ("体育", 3),
                    ("金融保险业", 10),
                    ("国防系统", 5),
                    ("精工系统", 10),
                    ("宗教", 1),
                    ("军队", 1),
                ],
                10,
            ),
            hukou: f("hukou", &[("非农业", 65), ("农业", 25), ("农转居", 10)], 2),
            hukou_migrant: f("hukou", &[("非农业", 5), ("农业", 85), ("农转居", 10)], 1),
            unit_nature: f(
                "unit_nature",
                &[
                    ("国有企业", 30),
                    ("民营/私营/个体企业", 30),
                    ("集体企业", 15),
                    ("国有机关/事业单位", 7),
                    ("与港澳台合资/合作", 3),
                    ("中外合资/合作", 4),
                    ("其他", 11),
                ],
                3,
            ),
            unit_nature_migrant: f(
                "unit_nature",
                &[
                    ("民营/私营/个体企业", 70),
                    ("集体企业", 5),
                    ("国有企业", 5),
                    ("其他", 20),
                ],
                0,
            ),
            enterprise_status: f(
                "enterprise_status",
                &[
                    ("正常", 40),
                    ("亏损企业", 22),
                    ("改制企业", 18),
                    ("关闭破产企业", 15),
                    ("其他", 5),
                ],
                3,
            ),
            first_cause: [
                f(
                    "cause",
                    &[
                        ("收入低无法维持基本生活", 40),
                        ("下岗失业", 25),
                        ("本人大病", 12),
                        ("供养直系亲属大病", 8),
                        ("残疾", 7),
                        ("子女上学", 6),
                        ("其他", 2),
                        ("意外灾害", 0),
                    ],
                    1,
                ),
                // 边缘户 qualify only with a special cause (seed 002: illness, schooling, disability,
                // single parent or other).
                f(
                    "cause",
                    &[
                        ("本人大病", 25),
                        ("供养直系亲属大病", 20),
                        ("子女上学", 25),
                        ("残疾", 15),
                        ("其他", 10),
                        ("收入低无法维持基本生活", 0),
                        ("下岗失业", 0),
                        ("意外灾害", 0),
                    ],
                    0,
                ),
                // 意外致困户: medical costs, tuition or disaster above half the income (seed 002).
                f(
                    "cause",
                    &[
                        ("意外灾害", 35),
                        ("本人大病", 40),
                        ("供养直系亲属大病", 15),
                        ("子女上学", 10),
                    ],
                    0,
                ),
            ],
            more_causes: [
                f(
                    "cause",
                    &[
                        ("收入低无法维持基本生活", 30),
                        ("下岗失业", 25),
                        ("本人大病", 10),
                        ("供养直系亲属大病", 10),
                        ("残疾", 8),
                        ("子女上学", 12),
                        ("其他", 3),
                        ("意外灾害", 2),
                    ],
                    1,
                ),
                f(
                    "cause",
                    &[
                        ("收入低无法维持基本生活", 25),
                        ("下岗失业", 20),
                        ("本人大病", 10),
                        ("供养直系亲属大病", 10),
                        ("残疾", 8),
                        ("子女上学", 15),
                        ("其他", 5),
                        ("意外灾害", 2),
                    ],
                    1,
                ),
                f(
                    "cause",
                    &[
                        ("收入低无法维持基本生活", 20),
                        ("下岗失业", 15),
                        ("本人大病", 15),
                        ("供养直系亲属大病", 15),
                        ("残疾", 8),
                        ("子女上学", 12),
                        ("其他", 3),
                        ("意外灾害", 10),
                    ],
                    1,
                ),
            ],
            has_disability: v.field("health").canonical("残疾").is_some(),
            vocabulary: v.clone(),
        }
    }
}

/// The money of a household, in fen.
struct Money {
    income: i64,
    personal: i64,
    expense: i64,
    medical: i64,
    tuition: i64,
}

impl Generator<'_> {
    /// A valid household with sequence number `seq`.
    pub(super) fn household(&mut self, seq: u64) -> anyhow::Result<Household> {
        let today = self.opts.today;
        let staff_no = StaffNo::nth(&self.opts.org, seq)
            .ok_or_else(|| anyhow::anyhow!("no staff number {seq} for {}", self.opts.org))?
            .as_str()
            .to_string();
        let male = self.rng.random_bool(0.56);
        // Two uniform draws averaged: most hardship workers were born in the 1960s–80s.
        let birth_year =
            (self.rng.random_range(1955..=2002) + self.rng.random_range(1955..=2002)) / 2;
        let person = self.fresh_person(Role::Worker, birth_year, male)?;
        let legacy = birth_year < 1985 && self.rng.random_bool(0.016);
        let id_number = if legacy { person.id15() } else { person.id18() };
        let age = today.year() - birth_year;

        let category = *self.lists.category.pick(&mut self.rng);
        let causes = self.causes(category);
        let has = |c: &str| causes.iter().any(|x| x == c);
        let single_parent = self.rng.random_bool(0.10);
        let mut size = *self.lists.sizes.pick(&mut self.rng);
        if single_parent {
            size = size.max(2);
        }
        let work_list = if age >= 55 {
            &self.lists.work_old
        } else {
            &self.lists.work_young
        };
        let work_status = pick(&mut self.rng, work_list).to_string();
        let migrant = work_status == "农民工";
        let health = if has("本人大病") && !self.lists.serious_illness.is_empty() {
            pick(&mut self.rng, &self.lists.serious_illness).to_string()
        } else if has("残疾") && self.lists.has_disability && self.rng.random_bool(0.7) {
            "残疾".to_string()
        } else {
            pick(&mut self.rng, &self.lists.health).to_string()
        };
        let money = self.money(category, &causes, size, &work_status);
        let unemployed = matches!(work_status.as_str(), "失（无）业" | "下（待）岗");
        let on_dibao = match category {
            0 => self.rng.random_bool(0.9),
            1 => self.rng.random_bool(0.03),
            _ => self.rng.random_bool(0.1),
        };
        let (filed, status, lifted) = self.filing();
        let surname = self.lists.surnames.pick(&mut self.rng).to_string();
        let name = self.given_name(&surname, male);
        let place = one_of(&mut self.rng, names::PLACES);
        let unit_nature = if migrant {
            pick(&mut self.rng, &self.lists.unit_nature_migrant).to_string()
        } else {
            pick(&mut self.rng, &self.lists.unit_nature).to_string()
        };
        let employer = self.employer(place, &unit_nature);
        let hukou = if migrant {
            &self.lists.hukou_migrant
        } else {
            &self.lists.hukou
        };

        let yes_no = |b: bool| if b { "是" } else { "否" }.to_string();
        let cells = vec![
            staff_no.clone(),
            name,
            if male { "男" } else { "女" }.to_string(),
            self.lists.ethnicities.pick(&mut self.rng).to_string(),
            id_number.clone(),
            self.lists.education.pick(&mut self.rng).to_string(),
            pick(&mut self.rng, &self.lists.politics).to_string(),
            CATEGORY_NAMES[category].to_string(),
            pick(&mut self.rng, &self.lists.model_worker).to_string(),
            health,
            work_status,
            pick(&mut self.rng, &self.lists.housing_type).to_string(),
            pick(&mut self.rng, &self.lists.housing_area).to_string(),
            pick(&mut self.rng, &self.lists.industry).to_string(),
            pick(&mut self.rng, hukou).to_string(),
            unit_nature,
            pick(&mut self.rng, &self.lists.enterprise_status).to_string(),
            yes_no(single_parent),
            yes_no(self.rng.random_bool(0.88)),
            yes_no(
                self.rng
                    .random_bool(if has("本人大病") { 0.15 } else { 0.4 }),
            ),
            yes_no(self.rng.random_bool(if unemployed { 0.3 } else { 0.03 })),
            yes_no(on_dibao),
            self.join_causes(&causes),
            yuan(money.personal),
            yuan(money.income),
            size.to_string(),
            yuan(money.expense),
            yuan(money.medical),
            yuan(money.tuition),
            self.phone(),
            self.address(place),
            employer,
            filed.to_string(),
            STATUS_NAMES[status].to_string(),
            lifted.map(|d| d.to_string()).unwrap_or_default(),
        ];
        let facts = Facts {
            staff_no,
            id_number,
            person,
            surname,
            place,
            size,
            income: money.income,
            personal: money.personal,
            single_parent,
            causes,
            filed,
            lifted,
            removed: status == 2,
        };
        Ok(Household { cells, facts })
    }

    /// A new unique identity, born in `year`, from a weighted birthplace.
    pub(super) fn fresh_person(
        &mut self,
        role: Role,
        year: i32,
        male: bool,
    ) -> anyhow::Result<Person> {
        let area = *self.lists.areas.pick(&mut self.rng);
        self.ids.next(role, area, year, male).ok_or_else(|| {
            anyhow::anyhow!("ran out of synthetic ID numbers for people born in {year}")
        })
    }

    pub(super) fn given_name(&mut self, surname: &str, male: bool) -> String {
        let chars = if male {
            names::MALE_GIVEN
        } else {
            names::FEMALE_GIVEN
        };
        let mut name = surname.to_string();
        name.push_str(one_of(&mut self.rng, chars));
        if self.rng.random_bool(0.75) {
            name.push_str(one_of(&mut self.rng, chars));
        }
        name
    }

    /// One to three distinct causes, the first one fitting the category.
    fn causes(&mut self, category: usize) -> Vec<String> {
        let wanted = match self.rng.random_range(0..100) {
            0..45 => 1,
            45..80 => 2,
            _ => 3,
        };
        let mut causes = vec![pick(&mut self.rng, &self.lists.first_cause[category]).to_string()];
        // A few tries per further cause: the lists are short, and a repeat is simply dropped.
        for _ in 0..wanted * 4 {
            if causes.len() == wanted {
                break;
            }
            let c = pick(&mut self.rng, &self.lists.more_causes[category]);
            if !causes.iter().any(|x| x == c) {
                causes.push(c.to_string());
            }
        }
        causes
    }

    /// Seed 004 separates causes with 、; some offices type a semicolon.
    fn join_causes(&mut self, causes: &[String]) -> String {
        let sep = if self.rng.random_bool(0.9) {
            "、"
        } else {
            ";"
        };
        causes.join(sep)
    }

    /// Income consistent with the category under the 低保 line (seed 002 精准识别).
    fn money(&mut self, category: usize, causes: &[String], size: u32, work_status: &str) -> Money {
        let rng = &mut self.rng;
        let has = |c: &str| causes.iter().any(|x| x == c);
        // The line over a year for the whole household, in fen.
        let line = i64::from(self.opts.dibao_line_yuan) * 100 * 12 * i64::from(size);
        let whole = rng.random_bool(0.75);
        // About one household in 25 has moved on since it was filed (a new job, a recovery) and its
        // record was not updated: what `bangfu-node check` is for (seed 002: 不符合条件的，及时剔除).
        let drifted = rng.random_bool(0.04);
        if drifted {
            let income = round_near(rng.random_range(line * 16 / 10..=line * 3), whole);
            let personal = if size == 1 {
                income
            } else {
                round_down(income / 2, true)
            };
            let expense = round_near(income * 9 / 10, true);
            return Money {
                income,
                personal,
                expense,
                medical: 0,
                tuition: 0,
            };
        }
        let income = match category {
            // Below the line, strictly.
            0 => round_down(rng.random_range(line * 3 / 10..=line - 100), whole),
            // From the line up to, but not reaching, edge_ratio × line.
            1 => {
                let top = ((line as f64 * self.opts.edge_ratio).ceil() as i64 - 100).max(line);
                round_up(rng.random_range(line..=top), whole).min(top.max(line))
            }
            _ => round_near(rng.random_range(line * 8 / 10..=line * 25 / 10), whole),
        };
        let share = |rng: &mut ChaCha8Rng, lo: f64, hi: f64| {
            (income as f64 * rng.random_range(lo..hi)) as i64
        };
        let (mut medical, mut tuition) = (0, 0);
        if category == 2 {
            // Above half the household income, by the main cause (seed 002).
            match causes[0].as_str() {
                "意外灾害" => medical = share(rng, 0.0, 0.3),
                "子女上学" => tuition = share(rng, 0.55, 1.1),
                _ => medical = share(rng, 0.55, 2.0),
            }
        } else if has("本人大病") || has("供养直系亲属大病") {
            medical = share(rng, 0.1, 0.9);
        } else if rng.random_bool(0.65) {
            medical = rng.random_range(200..=3000) * 100;
        }
        if tuition == 0 && has("子女上学") {
            tuition = rng.random_range(2000..=12000) * 100;
        } else if tuition == 0 && rng.random_bool(0.15) {
            tuition = rng.random_range(500..=3000) * 100;
        }
        let medical = round_near(medical, true);
        let tuition = round_near(tuition, true);
        let personal = if size == 1 {
            income
        } else if matches!(work_status, "失（无）业" | "下（待）岗") {
            if rng.random_bool(0.5) {
                0
            } else {
                share(rng, 0.05, 0.3)
            }
        } else {
            share(rng, 0.3, 0.95)
        };
        let personal = round_down(personal, true).min(income);
        let expense = round_near(share(rng, 0.8, 1.25) + medical + tuition, true);
        Money {
            income,
            personal,
            expense,
            medical,
            tuition,
        }
    }

    /// 建档日期 from 2014 to today; 档案状态 with a 脱困日期 after filing and not after today.
    fn filing(&mut self) -> (NaiveDate, usize, Option<NaiveDate>) {
        let today = self.opts.today;
        let first = NaiveDate::from_ymd_opt(2014, 1, 1).expect("a real date");
        let span = (today - first).num_days().max(0) as u64;
        let mut status = *self.lists.status.pick(&mut self.rng);
        if status == 1 && span < 31 {
            status = 0;
        }
        // A household lifted out of hardship was filed at least a month before.
        let latest = if status == 1 { span - 30 } else { span };
        let filed = first + Days::new(self.rng.random_range(0..=latest));
        let lifted = (status == 1).then(|| {
            let room = (today - filed).num_days() as u64;
            filed + Days::new(self.rng.random_range(30..=room))
        });
        (filed, status, lifted)
    }

    fn phone(&mut self) -> String {
        let prefix = one_of(&mut self.rng, names::MOBILE_PREFIXES);
        format!("{prefix}{:08}", self.rng.random_range(0..100_000_000u32))
    }

    fn address(&mut self, place: &str) -> String {
        let r = &mut self.rng;
        if r.random_bool(0.7) {
            let road = one_of(r, names::ROADS);
            format!(
                "{place}{road}{}号{}栋{}单元{}{:02}室",
                r.random_range(1..=300),
                r.random_range(1..=30),
                r.random_range(1..=6),
                r.random_range(1..=7),
                r.random_range(1..=4)
            )
        } else {
            let village = one_of(r, names::VILLAGES);
            format!(
                "{place}{village}{}组{}号",
                r.random_range(1..=12),
                r.random_range(1..=80)
            )
        }
    }

    /// A synthetic employer name that fits the unit's nature.
    pub(super) fn employer(&mut self, place: &str, unit_nature: &str) -> String {
        if unit_nature == "国有机关/事业单位" {
            let county: String = place
                .chars()
                .take_while(|&c| c != '县' && c != '市')
                .collect();
            let suffix = if place.contains('县') { "县" } else { "市" };
            return format!(
                "{county}{suffix}{}",
                one_of(&mut self.rng, names::PUBLIC_UNITS)
            );
        }
        let city = one_of(&mut self.rng, names::FIRM_PLACES);
        let brand = one_of(&mut self.rng, names::FIRM_BRANDS);
        let trade = one_of(&mut self.rng, names::FIRM_TRADES);
        let suffix = self.lists.firm_suffixes.pick(&mut self.rng);
        format!("{city}{brand}{trade}{suffix}")
    }

    /// Breaks a valid household in exactly one rule and says which.
    pub(super) fn break_household(&mut self, h: &mut Household) -> Rule {
        let have_recent = !self.recent.is_empty();
        let four_causes = self.opts.vocabulary.field("cause").values().len() >= 4;
        let rule = super::next_rule(&CYCLE, &mut self.household_cycle, |r| match r {
            Rule::DuplicateIdNumber | Rule::DuplicateStaffNo => have_recent,
            Rule::CausesCount => four_causes,
            _ => true,
        });
        let c = &mut h.cells;
        let digits = h.facts.person.digits.clone();
        match rule {
            Rule::IdCheckChar => {
                let right = check_char(digits.as_bytes());
                let wrong = loop {
                    let w = b"0123456789X"[self.rng.random_range(0..11)];
                    if w != right {
                        break w;
                    }
                };
                c[ID_NUMBER] = format!("{digits}{}", wrong as char);
            }
            Rule::IdBirthDate => {
                // A day that does not exist, with a correct check character so only the date is wrong.
                let day = one_of(&mut self.rng, &["0230", "1301", "0431", "0631", "0001"]);
                c[ID_NUMBER] = with_check(&format!("{}{}{}", &digits[..10], day, &digits[14..]));
            }
            Rule::IdLength => {
                let full = h.facts.person.id18();
                c[ID_NUMBER] = if self.rng.random_bool(0.5) {
                    full[..17].to_string()
                } else {
                    format!("{full}{}", self.rng.random_range(0..10))
                };
            }
            Rule::IdSex => c[SEX] = if h.facts.person.male { "女" } else { "男" }.to_string(),
            Rule::StaffNoFormat => {
                let s = &h.facts.staff_no;
                c[STAFF_NO] = if self.rng.random_bool(0.5) {
                    s.to_ascii_lowercase()
                } else {
                    format!("{}{}", &s[..1], &s[2..])
                };
            }
            Rule::StaffNoOrg => c[STAFF_NO] = self.other_org_number(&h.facts.staff_no),
            Rule::Vocabulary => self.break_vocabulary(c),
            Rule::CausesCount => {
                let mut all = self.opts.vocabulary.field("cause").values().to_vec();
                let mut four = Vec::new();
                while four.len() < 4 {
                    four.push(all.swap_remove(self.rng.random_range(0..all.len())));
                }
                c[CAUSES] = self.join_causes(&four);
            }
            Rule::CausesRepeated => {
                let mut causes = h.facts.causes.clone();
                causes.truncate(2);
                causes.push(causes[0].clone());
                c[CAUSES] = self.join_causes(&causes);
            }
            Rule::NotANumber => {
                c[HOUSEHOLD_INCOME] =
                    one_of(&mut self.rng, &["五千", "约6000元", "三千二", "8000左右"]).to_string()
            }
            // Negative spending, not income: a negative income would also make 本人年收入 exceed it.
            Rule::Negative => {
                c[HOUSEHOLD_EXPENSE] = format!("-{}", c[HOUSEHOLD_EXPENSE].trim_start_matches('-'))
            }
            Rule::HouseholdSizeRange => {
                c[HOUSEHOLD_SIZE] = one_of(&mut self.rng, &["0", "25"]).to_string()
            }
            Rule::PersonalIncomeAboveHousehold => {
                c[PERSONAL_INCOME] =
                    yuan(h.facts.income + self.rng.random_range(500..=20_000) * 100)
            }
            Rule::LiftedWithoutDate => {
                c[STATUS] = STATUS_NAMES[1].to_string();
                c[LIFTED_ON].clear();
            }
            Rule::Required => c[NAME].clear(),
            Rule::DuplicateIdNumber => {
                let r = &self.recent[self.rng.random_range(0..self.recent.len())];
                c[ID_NUMBER] = r.id_number.clone();
                c[SEX] = r.sex.to_string();
            }
            Rule::DuplicateStaffNo => {
                c[STAFF_NO] = self.recent[self.rng.random_range(0..self.recent.len())]
                    .staff_no
                    .clone()
            }
            Rule::DateFormat => {
                c[FILED_ON] =
                    one_of(&mut self.rng, &["2015-13-45", "2016-02-30", "2017-00-12"]).to_string()
            }
            other => unreachable!("{other} is not in the household cycle"),
        }
        rule
    }

    /// The same sequence under another county's (or prefecture's) code.
    fn other_org_number(&mut self, staff_no: &str) -> String {
        let org = self.opts.org.as_str();
        if org.len() == 3 {
            let own: u32 = org[1..].parse().unwrap_or(0);
            let other = loop {
                let n = self.rng.random_range(1..=20);
                if n != own {
                    break n;
                }
            };
            format!("{}{other:02}{}", &org[..1], &staff_no[3..])
        } else {
            let own = org.as_bytes()[0];
            let other = loop {
                let l = b'A' + self.rng.random_range(0..26u8);
                if l != own {
                    break l;
                }
            };
            format!("{}{}", other as char, &staff_no[1..])
        }
    }

    /// A value outside one enumerated field's list, checked against the run's vocabulary.
    fn break_vocabulary(&mut self, c: &mut [String]) {
        const TRIES: [(usize, &str, &[&str]); 4] = [
            (CATEGORY, "category", &["特困户", "困难户"]),
            (HEALTH, "health", &["较差", "身体不好"]),
            (WORK_STATUS, "work_status", &["个体户", "打零工"]),
            (HOUSING_TYPE, "housing_type", &["借住亲戚家", "危房"]),
        ];
        let start = self.rng.random_range(0..TRIES.len());
        for k in 0..TRIES.len() {
            let (col, field, bad) = TRIES[(start + k) % TRIES.len()];
            let value = one_of(&mut self.rng, bad);
            if self
                .lists
                .vocabulary
                .field(field)
                .canonical(value)
                .is_none()
            {
                c[col] = value.to_string();
                return;
            }
        }
        // Every guess is allowed by this vocabulary: a made-up category cannot be.
        c[CATEGORY] = "特困户（待定）".to_string();
    }
}

pub(super) fn yuan(fen: i64) -> String {
    Fen(fen).to_yuan_string()
}

fn round_down(fen: i64, whole: bool) -> i64 {
    if whole {
        fen - fen.rem_euclid(100)
    } else {
        fen
    }
}

fn round_up(fen: i64, whole: bool) -> i64 {
    if whole && fen % 100 != 0 {
        fen - fen.rem_euclid(100) + 100
    } else {
        fen
    }
}

fn round_near(fen: i64, whole: bool) -> i64 {
    if whole { (fen + 50) / 100 * 100 } else { fen }
}
