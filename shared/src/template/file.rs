//! The template file format (`docs/templates.md`): TOML read strictly, then checked against the
//! vocabulary, with the line of the offending entry in every error.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use toml::Spanned;

use super::{
    Cell, Counted, Disclosure, Error, Filter, Importance, Limits, MAX_CAUSES, Relation, Rule,
    RuleKind, Source, Summed, Template, UNFILLED, ValueSet, money_fen,
};
use crate::decimal::Decimal;
use crate::facts::{Amount, Dim, UNKNOWN};
use crate::vocabulary::Vocabulary;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    id: String,
    title: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    /// The form's 说明 / 填表说明 (docs/templates.md, "Layout").
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    disclosure: Option<DisclosureFile>,
    #[serde(default)]
    limits: Option<LimitsFile>,
    #[serde(default)]
    generate: Option<Spanned<GenerateFile>>,
    #[serde(default)]
    cell: Vec<Spanned<CellFile>>,
    #[serde(default)]
    rule: Vec<Spanned<RuleFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisclosureFile {
    threshold: Option<u32>,
    money_range: Option<f64>,
}

/// `[limits]`: the largest figure a report may carry (issue 12, strict intake).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    count_max: Option<i64>,
    money_max: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateFile {
    #[serde(default = "default_total")]
    total: String,
    #[serde(default = "default_total_label")]
    total_label: String,
    #[serde(default = "default_household_unit")]
    unit: String,
    #[serde(rename = "where", default)]
    filter: BTreeMap<String, Spanned<FilterValue>>,
    dimensions: Vec<Spanned<String>>,
    #[serde(default)]
    cross: Vec<Spanned<[String; 2]>>,
    #[serde(default = "yes")]
    unfilled: bool,
}

fn default_total() -> String {
    "total".into()
}
fn default_total_label() -> String {
    "建档困难职工家庭总数".into()
}
fn default_household_unit() -> String {
    "户".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellFile {
    code: String,
    label: String,
    unit: String,
    decimals: Option<u8>,
    count: Option<String>,
    sum: Option<String>,
    #[serde(rename = "where", default)]
    filter: BTreeMap<String, Spanned<FilterValue>>,
    sensitive: Option<bool>,
    #[allow(dead_code)]
    note: Option<String>,
    /// Opens a section of the official table with this heading.
    section: Option<String>,
    /// 其中 depth; default 1 when the label starts with 其中, else 0.
    indent: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    parts: Vec<String>,
    whole: String,
    #[serde(default = "default_check")]
    check: String,
    #[serde(default = "default_importance")]
    importance: Importance,
    tolerance: Option<f64>,
    message: Option<String>,
}

fn default_check() -> String {
    "at_most".into()
}
fn default_importance() -> Importance {
    Importance::High
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FilterValue {
    One(String),
    Many(Vec<String>),
    Not { not: OneOrMany },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl FilterValue {
    /// The values named and whether they are negated.
    fn list(&self) -> (Vec<&str>, bool) {
        match self {
            FilterValue::One(s) => (vec![s.as_str()], false),
            FilterValue::Many(v) => (v.iter().map(String::as_str).collect(), false),
            FilterValue::Not { not } => (not.list(), true),
        }
    }

    fn single(&self) -> Option<&str> {
        match self {
            FilterValue::One(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads a template file's text. `origin` (a path, or empty) prefixes every error.
pub(super) fn parse(text: &str, vocabulary: &Vocabulary, origin: &str) -> Result<Template, Error> {
    let origin = if origin.is_empty() {
        String::new()
    } else {
        format!("{origin}: ")
    };
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let file: TemplateFile = toml::from_str(text).map_err(|e| Error::Malformed {
        origin: origin.clone(),
        line: e.span().map_or(1, |s| line_of(s.start)),
        problem: e.message().trim().to_string(),
    })?;
    let invalid = |offset: usize, problem: String| Error::Invalid {
        origin: origin.clone(),
        line: line_of(offset),
        problem,
    };

    let mut disclosure = Disclosure::default();
    if let Some(d) = &file.disclosure {
        if let Some(k) = d.threshold {
            if k < 1 {
                return Err(invalid(
                    text.find("threshold").unwrap_or(0),
                    "threshold must be at least 1".into(),
                ));
            }
            disclosure.threshold = k;
        }
        if let Some(r) = d.money_range {
            disclosure.money_range = Decimal::parse(&format!("{r}"))
                .map_err(|e| invalid(text.find("money_range").unwrap_or(0), e.to_string()))?;
        }
    }

    let mut limits = Limits::default();
    if let Some(l) = &file.limits {
        let at = text.find("[limits]").unwrap_or(0);
        if let Some(n) = l.count_max {
            if n < 1 {
                return Err(invalid(at, "count_max must be at least 1".into()));
            }
            limits.count_max = n;
        }
        if let Some(m) = l.money_max {
            limits.money_max = Decimal::parse(&format!("{m}"))
                .ok()
                .filter(|d| d.units() > 0)
                .ok_or_else(|| invalid(at, format!("money_max {m} is not a positive decimal")))?;
        }
    }

    let mut cells: Vec<Cell> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut relations = Vec::new();
    let mut add = |cell: Cell, at: usize, cells: &mut Vec<Cell>| -> Result<usize, Error> {
        if cell.code.is_empty() || cell.code.contains(char::is_whitespace) {
            return Err(invalid(
                at,
                format!(
                    "cell code `{}` must be non-empty, without spaces",
                    cell.code
                ),
            ));
        }
        if index.insert(cell.code.clone(), cells.len()).is_some() {
            return Err(invalid(
                at,
                format!("cell code `{}` is used twice / 单元格代码重复", cell.code),
            ));
        }
        cells.push(cell);
        Ok(cells.len() - 1)
    };

    if let Some(g) = &file.generate {
        let at = g.span().start;
        let g = g.get_ref();
        let universe = compile_filter(&g.filter, vocabulary, false, &invalid)?;
        let total = add(
            Cell {
                code: g.total.clone(),
                label: g.total_label.clone(),
                unit: g.unit.clone(),
                scale: 0,
                source: Source::Count {
                    of: Counted::Households,
                    filter: universe.clone(),
                },
                sensitive: true,
                section: None,
                indent: 0,
            },
            at,
            &mut cells,
        )?;
        // dimension -> (value code -> cell index), in vocabulary order, 未填 last
        let mut dim_cells: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
        for d in &g.dimensions {
            let key = d.get_ref().as_str();
            let field = dimension_field(key, vocabulary).ok_or_else(|| {
                invalid(
                    d.span().start,
                    format!("unknown dimension `{key}` / 未知的统计维度"),
                )
            })?;
            let mut list = Vec::new();
            let count = field.values().len();
            let heading = field.label.to_string();
            for i in 0..=count {
                let (value, filter) = dim_value_filter(key, i, field, &universe);
                if i == count && !g.unfilled {
                    continue;
                }
                let idx = add(
                    Cell {
                        code: format!("{key}.{value}"),
                        label: format!("{}：{value}", field.label),
                        unit: g.unit.clone(),
                        scale: 0,
                        source: Source::Count {
                            of: Counted::Households,
                            filter,
                        },
                        sensitive: true,
                        // Each dimension is a section of the official table, its values 其中 lines.
                        section: (i == 0).then(|| heading.clone()),
                        indent: 1,
                    },
                    d.span().start,
                    &mut cells,
                )?;
                list.push((value, idx));
            }
            // Every household is in exactly one value (or 未填) of a one-valued field; a household
            // has one to three causes, or none recorded (未填).
            let terms: Vec<(usize, f64)> = list
                .iter()
                .map(|&(_, c)| (c, 1.0))
                .chain([(total, -1.0)])
                .collect();
            if key == "cause" {
                if g.unfilled {
                    relations.push(Relation {
                        terms: terms.clone(),
                        lower: 0.0,
                        upper: f64::INFINITY,
                    });
                    let mut upper = terms.clone();
                    upper.last_mut().expect("total term").1 = -MAX_CAUSES;
                    relations.push(Relation {
                        terms: upper,
                        lower: f64::NEG_INFINITY,
                        upper: 0.0,
                    });
                }
            } else if g.unfilled {
                relations.push(Relation {
                    terms,
                    lower: 0.0,
                    upper: 0.0,
                });
            } else {
                relations.push(Relation {
                    terms,
                    lower: f64::NEG_INFINITY,
                    upper: 0.0,
                });
            }
            for &(_, c) in &list {
                relations.push(Relation {
                    terms: vec![(c, 1.0), (total, -1.0)],
                    lower: f64::NEG_INFINITY,
                    upper: 0.0,
                });
            }
            dim_cells.insert(key.to_string(), list);
        }
        for pair in &g.cross {
            let [a, b] = pair.get_ref();
            let at = pair.span().start;
            let (Some(la), Some(lb)) = (dim_cells.get(a).cloned(), dim_cells.get(b).cloned())
            else {
                return Err(invalid(
                    at,
                    format!("cross [{a}, {b}] names a dimension not listed in `dimensions`"),
                ));
            };
            if a == b {
                return Err(invalid(
                    at,
                    format!("cross [{a}, {b}] crosses a dimension with itself"),
                ));
            }
            let fa = vocabulary
                .get(Dim::from_key(a).map_or("cause", |d| d.vocabulary_field()))
                .expect("checked");
            let fb = vocabulary
                .get(Dim::from_key(b).map_or("cause", |d| d.vocabulary_field()))
                .expect("checked");
            let mut grid = vec![vec![0usize; lb.len()]; la.len()];
            let heading = format!("{} × {}", fa.label, fb.label);
            for (i, (va, ca)) in la.iter().enumerate() {
                for (j, (vb, cb)) in lb.iter().enumerate() {
                    let (_, fa_filter) = dim_value_filter(a, value_pos(va, fa), fa, &universe);
                    let (_, both) = dim_value_filter(b, value_pos(vb, fb), fb, &fa_filter);
                    let code = format!("{a}.{va}|{b}.{vb}");
                    let idx = add(
                        Cell {
                            code,
                            label: format!("{}：{va}，{}：{vb}", fa.label, fb.label),
                            unit: g.unit.clone(),
                            scale: 0,
                            source: Source::Count {
                                of: Counted::Households,
                                filter: both,
                            },
                            sensitive: true,
                            section: (i == 0 && j == 0).then(|| heading.clone()),
                            indent: 1,
                        },
                        at,
                        &mut cells,
                    )?;
                    grid[i][j] = idx;
                    for whole in [*ca, *cb] {
                        relations.push(Relation {
                            terms: vec![(idx, 1.0), (whole, -1.0)],
                            lower: f64::NEG_INFINITY,
                            upper: 0.0,
                        });
                    }
                }
            }
            // Row sums (over b) against a's cells, column sums (over a) against b's cells.
            let margin = |cells_along: Vec<usize>, whole: usize, along_cause: bool| {
                let terms: Vec<(usize, f64)> = cells_along
                    .iter()
                    .map(|&c| (c, 1.0))
                    .chain([(whole, -1.0)])
                    .collect();
                if along_cause {
                    let mut upper = terms.clone();
                    upper.last_mut().expect("whole term").1 = -MAX_CAUSES;
                    vec![
                        Relation {
                            terms,
                            lower: 0.0,
                            upper: f64::INFINITY,
                        },
                        Relation {
                            terms: upper,
                            lower: f64::NEG_INFINITY,
                            upper: 0.0,
                        },
                    ]
                } else {
                    vec![Relation {
                        terms,
                        lower: 0.0,
                        upper: 0.0,
                    }]
                }
            };
            if g.unfilled {
                for (i, (_, ca)) in la.iter().enumerate() {
                    relations.extend(margin(grid[i].clone(), *ca, b == "cause"));
                }
                for (j, (_, cb)) in lb.iter().enumerate() {
                    relations.extend(margin(
                        grid.iter().map(|row| row[j]).collect(),
                        *cb,
                        a == "cause",
                    ));
                }
            }
        }
    }

    for spanned in &file.cell {
        let at = spanned.span().start;
        let c = spanned.get_ref();
        let money = money_fen(&c.unit);
        let scale = c.decimals.unwrap_or(if money.is_some() { 2 } else { 0 });
        if scale > 6 {
            return Err(invalid(
                at,
                format!("cell `{}`: decimals must be 0 to 6", c.code),
            ));
        }
        let source = match (&c.count, &c.sum) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    at,
                    format!("cell `{}` has both `count` and `sum`", c.code),
                ));
            }
            (None, None) => {
                if let Some((_, v)) = c.filter.iter().next() {
                    return Err(invalid(
                        v.span().start,
                        format!("typed-in cell `{}` cannot have `where`", c.code),
                    ));
                }
                Source::Typed
            }
            (Some(of), None) => {
                let of = match of.as_str() {
                    "households" => Counted::Households,
                    "aid" => Counted::Aid,
                    "aid_households" => Counted::AidHouseholds,
                    other => {
                        return Err(invalid(
                            at,
                            format!(
                                "cell `{}`: count = \"{other}\"; expected households, aid or aid_households",
                                c.code
                            ),
                        ));
                    }
                };
                if money.is_some() || scale != 0 {
                    return Err(invalid(
                        at,
                        format!(
                            "cell `{}` counts, so its unit cannot be money or have decimals",
                            c.code
                        ),
                    ));
                }
                Source::Count {
                    of,
                    filter: compile_filter(
                        &c.filter,
                        vocabulary,
                        of != Counted::Households,
                        &invalid,
                    )?,
                }
            }
            (None, Some(of)) => {
                let of = match of.as_str() {
                    "aid" => Summed::Aid,
                    other => Summed::Household(Amount::from_key(other).ok_or_else(|| {
                        invalid(at, format!(
                            "cell `{}`: sum = \"{other}\"; expected aid or one of personal_income, household_income, household_expense, medical_expense, tuition",
                            c.code
                        ))
                    })?),
                };
                let Some(fen) = money else {
                    return Err(invalid(
                        at,
                        format!(
                            "cell `{}` sums money, so its unit must be 万元 or 元",
                            c.code
                        ),
                    ));
                };
                if 10i64.pow(scale as u32) > fen {
                    return Err(invalid(
                        at,
                        format!("cell `{}`: more decimals than fen", c.code),
                    ));
                }
                Source::Sum {
                    of,
                    filter: compile_filter(&c.filter, vocabulary, of == Summed::Aid, &invalid)?,
                }
            }
        };
        let typed = matches!(source, Source::Typed);
        if typed && c.sensitive == Some(true) {
            return Err(invalid(
                at,
                format!(
                    "typed-in cell `{}` cannot be sensitive: organisational figures are published as they are",
                    c.code
                ),
            ));
        }
        let indent = match c.indent {
            Some(n) if n > 3 => {
                return Err(invalid(
                    at,
                    format!("cell `{}`: indent must be 0 to 3", c.code),
                ));
            }
            Some(n) => n,
            None => u8::from(c.label.starts_with("其中")),
        };
        if c.section.as_deref().is_some_and(|h| h.trim().is_empty()) {
            return Err(invalid(
                at,
                format!("cell `{}`: section must not be empty", c.code),
            ));
        }
        let cell = Cell {
            code: c.code.clone(),
            label: c.label.clone(),
            unit: c.unit.clone(),
            scale,
            sensitive: c.sensitive.unwrap_or(!typed),
            source,
            section: c.section.clone(),
            indent,
        };
        add(cell, at, &mut cells)?;
    }

    let mut rules = Vec::new();
    for spanned in &file.rule {
        let at = spanned.span().start;
        let r = spanned.get_ref();
        let find = |code: &str| {
            index.get(code).copied().ok_or_else(|| invalid(at, format!("rule names cell `{code}`, which is not in the table / 规则引用了不存在的单元格")))
        };
        if r.parts.is_empty() {
            return Err(invalid(at, "rule has no parts".into()));
        }
        let parts = r
            .parts
            .iter()
            .map(|p| find(p))
            .collect::<Result<Vec<_>, _>>()?;
        let whole = find(&r.whole)?;
        let units: Vec<&str> = parts
            .iter()
            .chain([&whole])
            .map(|&i| cells[i].unit.as_str())
            .collect();
        if units
            .iter()
            .any(|u| money_fen(u).is_some() != money_fen(units[0]).is_some())
        {
            return Err(invalid(at, "rule mixes money cells with counts".into()));
        }
        let sign = if r.check == "equal" { "=" } else { "≥" };
        let message = r
            .message
            .clone()
            .unwrap_or_else(|| format!("{} {sign} {}", r.whole, r.parts.join(" + ")));
        let kind = match r.check.as_str() {
            "at_most" => {
                if r.tolerance.is_some() {
                    return Err(invalid(
                        at,
                        "tolerance applies only to check = \"equal\"".into(),
                    ));
                }
                RuleKind::PartsWithinWhole { parts, whole }
            }
            "equal" => {
                let scale = cells[whole].scale;
                let tolerance = match r.tolerance {
                    Some(t) => {
                        Decimal::parse(&format!("{t}")).map_err(|e| invalid(at, e.to_string()))?
                    }
                    None if cells[whole].is_money() => Decimal::new(1, scale),
                    None => Decimal::integer(0),
                };
                RuleKind::PartsSumToWhole {
                    parts,
                    whole,
                    tolerance,
                }
            }
            other => {
                return Err(invalid(
                    at,
                    format!("check = \"{other}\"; expected at_most or equal"),
                ));
            }
        };
        rules.push(Rule {
            kind,
            importance: r.importance,
            message,
        });
    }

    Ok(Template {
        id: file.id,
        title: file.title,
        notes: file.notes,
        disclosure,
        limits,
        cells,
        rules,
        relations,
        index,
    })
}

/// The vocabulary field behind a generated dimension (`cause` is the multi-valued one).
fn dimension_field<'v>(
    key: &str,
    vocabulary: &'v Vocabulary,
) -> Option<&'v crate::vocabulary::Field> {
    if key == "cause" {
        return vocabulary.get("cause");
    }
    Dim::from_key(key).and_then(|d| vocabulary.get(d.vocabulary_field()))
}

fn value_pos(value: &str, field: &crate::vocabulary::Field) -> usize {
    if value == UNFILLED {
        field.values().len()
    } else {
        field.index_of(value).expect("generated from the field") as usize
    }
}

/// The code of value `i` of a dimension (`i == count` is 未填) and `base` narrowed to it.
fn dim_value_filter(
    key: &str,
    i: usize,
    field: &crate::vocabulary::Field,
    base: &Filter,
) -> (String, Filter) {
    let count = field.values().len();
    let name = if i == count {
        UNFILLED.to_string()
    } else {
        field.values()[i].clone()
    };
    let mut f = base.clone();
    if key == "cause" {
        if i == count {
            f.causes_none = true;
        } else {
            f.causes_any = 1 << i;
        }
        return (name, f);
    }
    let dim = Dim::from_key(key).expect("checked dimension");
    let mut set = ValueSet::default();
    set.insert(if i == count { UNKNOWN } else { i as u8 });
    f.dims.push((dim, set));
    (name, f)
}

/// Compiles a `where` table to bit masks, checking every key and value against the vocabulary.
fn compile_filter(
    table: &BTreeMap<String, Spanned<FilterValue>>,
    vocabulary: &Vocabulary,
    aid: bool,
    invalid: &dyn Fn(usize, String) -> Error,
) -> Result<Filter, Error> {
    let mut f = Filter::default();
    for (key, spanned) in table {
        let at = spanned.span().start;
        let value = spanned.get_ref();
        match key.as_str() {
            "archive" => match value.single() {
                Some("as_of") => f.in_archive = true,
                _ => {
                    return Err(invalid(
                        at,
                        "archive = \"as_of\" is the only archive condition".into(),
                    ));
                }
            },
            "lifted" => match value.single() {
                Some("period") => f.lifted_in_period = true,
                _ => {
                    return Err(invalid(
                        at,
                        "lifted = \"period\" is the only lifted condition".into(),
                    ));
                }
            },
            "date" if aid => match value.single() {
                Some("period") => f.aid_in_period = true,
                _ => {
                    return Err(invalid(
                        at,
                        "date = \"period\" is the only date condition".into(),
                    ));
                }
            },
            "kind" if aid => {
                f.aid_kinds = Some(value_set("aid_kind", value, vocabulary, at, invalid)?)
            }
            "date" | "kind" => {
                return Err(invalid(
                    at,
                    format!("`{key}` applies to aid records only (count = \"aid\" …)"),
                ));
            }
            "cause" => {
                let (names, negated) = value.list();
                if negated {
                    return Err(invalid(at, "cause takes values, not `not`".into()));
                }
                let field = vocabulary.field("cause");
                for name in names {
                    if name == UNFILLED {
                        f.causes_none = true;
                    } else {
                        let i = field.index_of(name).ok_or_else(|| {
                            invalid(at, format!("`{name}` is not a value of cause (致困主要原因) / 词表中没有此值"))
                        })?;
                        f.causes_any |= 1 << i;
                    }
                }
            }
            other => {
                let dim = Dim::from_key(other).ok_or_else(|| {
                    invalid(at, format!("unknown condition `{other}` / 未知的筛选条件"))
                })?;
                let set = value_set(dim.vocabulary_field(), value, vocabulary, at, invalid)?;
                f.dims.push((dim, set));
            }
        }
    }
    Ok(f)
}

fn value_set(
    field_key: &str,
    value: &FilterValue,
    vocabulary: &Vocabulary,
    at: usize,
    invalid: &dyn Fn(usize, String) -> Error,
) -> Result<ValueSet, Error> {
    let field = vocabulary
        .get(field_key)
        .ok_or_else(|| invalid(at, format!("vocabulary has no field `{field_key}`")))?;
    let (names, negated) = value.list();
    let mut set = ValueSet::default();
    for name in names {
        if name == UNFILLED {
            set.insert(UNKNOWN);
            continue;
        }
        let i = field.index_of(name).ok_or_else(|| {
            invalid(
                at,
                format!(
                    "`{name}` is not a value of {field_key} ({}) / 词表中没有此值",
                    field.label
                ),
            )
        })?;
        set.insert(i);
    }
    Ok(if negated { set.complement() } else { set })
}
