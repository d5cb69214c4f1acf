//! Strict intake (issue 12): what a report from a child must be before any hub stores, sums or
//! forwards it, the same check at every level. A pure function of the report's JSON and the
//! campaign's template, so a prefecture and its province refuse exactly the same county reports:
//! whatever a hub accepts from a county, its parent accepts inside the hub's report.
//!
//! - The shape is closed: every object has known fields only, a county's report has no `children`
//!   (nor `reviews`, `held_back`); strings, arrays and nesting are bounded, so no field can carry
//!   padding or a stranger's free text up the tree.
//! - Cell codes are the template's; a count is a JSON integer from 0 below the template's
//!   `[limits] count_max`; money a JSON number with at most the cell's decimal places, from 0 below
//!   `money_max`. A string (`"  7 "`), a fraction of a household (`1.5`), a negative or a huge
//!   number is refused, not read leniently.
//! - Failed and pending rules are the template's rules, named by the template's own text; a failed
//!   rule's cells and detail must be exactly what the rule gives on the report's published values,
//!   so nothing a child types rides along in them.
//!
//! A refusal names the field's path and what was wrong ([`Refusal`]); a field name the child made up
//! is shown only when it is a short ASCII identifier (never an ID number or a name someone typed),
//! and no value of the report is echoed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Number;

use super::{CampaignId, ReviewMark};
use crate::decimal::Decimal;
use crate::org::{Level, OrgCode};
use crate::report::{MAX_SNAPSHOT_CHANGES, Report};
use crate::rules::{self, RuleCell};
use crate::template::{Cell, Importance, Template};

#[path = "intake_json.rs"]
mod json;
pub use json::{Json, Object};

/// The deepest nesting of objects and arrays in a report (a failed rule's cell is at 5).
pub const MAX_DEPTH: usize = 5;
/// The longest string (or field name) in a report, in bytes: a rule's text and its detail fit.
pub const MAX_STRING: usize = 1024;
/// The longest array in a county's report.
pub const MAX_ARRAY: usize = 1000;
/// The most county reports a hub's report embeds.
pub const MAX_CHILDREN: usize = 500;
/// What each embedded report may add to a hub's report body: a county report on the largest
/// built-in template is well under it (docs/decisions.md). A hub holds back a child over it, and
/// its parent's body limit grows by it per embedded child.
pub const PER_CHILD_BYTES: usize = 64 * 1024;
/// The highest disclosure threshold a report may claim.
pub const MAX_THRESHOLD: u64 = 1000;
/// The longest path a `held_back` entry may name.
pub const MAX_PATH: usize = 200;

/// Which kind of report: a node's (a county's), or a hub's with its counties' reports embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    County,
    Hub,
}

impl Kind {
    /// The kind of report an org of `level` sends: prefectures send hub reports.
    pub fn of(level: Level) -> Kind {
        match level {
            Level::Prefecture => Kind::Hub,
            _ => Kind::County,
        }
    }
}

/// What was wrong, as a stable code: it travels up in a hub's `held_back` instead of free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Not JSON, or not of the report's shape.
    Malformed,
    UnknownField,
    Missing,
    WrongType,
    /// A count that is not a whole number.
    NotACount,
    TooManyPlaces,
    Negative,
    OverBound,
    TooLong,
    TooMany,
    TooDeep,
    UnknownCell,
    UnknownRule,
    /// A field of a hub's report in a county's (`children`), or an org of the wrong level.
    WrongLevel,
    WrongTemplate,
    WrongCampaign,
    Duplicate,
    /// A failed rule's cells or detail differ from what the rule gives on the report's values.
    Contradicts,
    /// The report is over the per-child budget.
    TooLarge,
    /// The report's signature does not verify against the CA, names another org, or its
    /// certificate is revoked (`protocol::signed`).
    BadSignature,
}

impl Fault {
    /// The fault for a person, in English and Chinese.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Malformed => "not of the report's shape / 格式错误",
            Fault::UnknownField => "an unknown field / 未知字段",
            Fault::Missing => "a required field is missing / 缺少字段",
            Fault::WrongType => "a value of the wrong type / 类型错误",
            Fault::NotACount => "a count that is not a whole number / 计数须为整数",
            Fault::TooManyPlaces => "more decimal places than the cell carries / 小数位过多",
            Fault::Negative => "a negative figure / 数值为负",
            Fault::OverBound => "a figure over the template's bound / 数值超出上限",
            Fault::TooLong => "a string over the length bound / 字符串过长",
            Fault::TooMany => "an array over the length bound / 数组过长",
            Fault::TooDeep => "nesting deeper than a report has / 嵌套过深",
            Fault::UnknownCell => "a cell code the template does not have / 未知单元格",
            Fault::UnknownRule => "a rule the template does not have / 未知规则",
            Fault::WrongLevel => "a field or org of another level / 层级错误",
            Fault::WrongTemplate => "another template / 报表模板不符",
            Fault::WrongCampaign => "another campaign / 填报任务不符",
            Fault::Duplicate => "the same entry twice / 重复",
            Fault::Contradicts => {
                "a failed rule that differs from the report's values / 校验结果与数据不符"
            }
            Fault::TooLarge => "a report over the per-child size budget / 报表过大",
            Fault::BadSignature => {
                "a signature that does not verify, or a revoked certificate / 签名无效或证书已吊销"
            }
        }
    }
}

/// Why a report is refused: where (`cells.3A.value`, `children[4].failed_rules[0].detail`) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strict intake refuses the report at `{path}`: {} ({detail})", .fault.describe())]
pub struct Refusal {
    pub path: String,
    pub fault: Fault,
    /// Made here, from the template's names and the report's shape, never from its values.
    pub detail: String,
}

/// A child a hub left out of its report to its parent, with why: a fault code and the path where
/// it was found, so the parent shows the county as held back without free text from below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldBack {
    pub fault: Fault,
    pub path: String,
}

impl HeldBack {
    pub fn describe(&self) -> String {
        format!("{} at `{}`", self.fault.describe(), self.path)
    }
}

impl From<&Refusal> for HeldBack {
    fn from(r: &Refusal) -> HeldBack {
        HeldBack {
            fault: r.fault,
            path: r.path.chars().take(MAX_PATH).collect(),
        }
    }
}

fn refuse(path: &str, fault: Fault, detail: impl Into<String>) -> Refusal {
    Refusal {
        path: if path.is_empty() {
            "$".into()
        } else {
            path.into()
        },
        fault,
        detail: detail.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn at(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A name the child made up, as it may be shown: a short ASCII identifier with few digits as is,
/// anything else by its length only (it may be an ID number, a phone number or a person's name).
pub fn shown_name(name: &str) -> String {
    let ident = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        // An ID number has 17 digits, a phone number 11; a field or cell code has few.
        && name.bytes().filter(u8::is_ascii_digit).count() <= 5;
    if ident {
        name.to_string()
    } else {
        format!("?({} characters)", name.chars().count())
    }
}

/// Checks a report body of `kind` against template `t`, returning the report it is.
pub fn check_body(t: &Template, kind: Kind, body: &[u8]) -> Result<Report, Refusal> {
    let body = std::str::from_utf8(body).map_err(|e| {
        refuse(
            "$",
            Fault::Malformed,
            format!("not UTF-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    // serde_json's own message may quote the body; only the position is kept.
    let v = Json::parse(body).map_err(|e| {
        refuse(
            "$",
            Fault::Malformed,
            format!("not JSON (line {}, column {})", e.line(), e.column()),
        )
    })?;
    check_read(t, kind, &v, body)
}

/// [`check_body`] on `body` already read as `v` (a hub reads who sent it first).
pub fn check_read(t: &Template, kind: Kind, v: &Json, body: &str) -> Result<Report, Refusal> {
    check_at(t, kind, v, body, "")
}

/// The fields of every report, and the ones only a hub's has.
const FIELDS: [&str; 9] = [
    "org",
    "template",
    "campaign",
    "as_of",
    "version",
    "threshold",
    "cells",
    "failed_rules",
    "pending_rules",
];
const HUB_FIELDS: [&str; 3] = ["children", "reviews", "held_back"];
/// Fields only a county's report has (a hub's is a sum, counted on no snapshot of its own).
const COUNTY_FIELDS: [&str; 1] = ["counted_on"];

/// The report `v`, read from `text`, at `path` (empty for the body itself).
fn check_at(t: &Template, kind: Kind, v: &Json, text: &str, path: &str) -> Result<Report, Refusal> {
    let o = v
        .as_object()
        .ok_or_else(|| refuse(path, Fault::WrongType, "a report is a JSON object"))?;
    for key in o.keys() {
        let known = FIELDS.contains(&key);
        let hub_only = HUB_FIELDS.contains(&key);
        let county_only = COUNTY_FIELDS.contains(&key);
        if hub_only && kind == Kind::County {
            return Err(refuse(
                &join(path, key),
                Fault::WrongLevel,
                format!("a county's report has no `{key}`"),
            ));
        }
        if county_only && kind == Kind::Hub {
            return Err(refuse(
                &join(path, key),
                Fault::WrongLevel,
                format!("a hub's report has no `{key}`"),
            ));
        }
        if !known && !hub_only && !county_only {
            return Err(refuse(
                &join(path, &shown_name(key)),
                Fault::UnknownField,
                format!("unknown field {}", shown_name(key)),
            ));
        }
    }
    bounded(v, 1, kind).map_err(|e| under(path, e))?;
    let field = |name: &str| {
        o.get(name)
            .ok_or_else(|| refuse(&join(path, name), Fault::Missing, format!("no `{name}`")))
    };
    let string = |name: &str| {
        field(name)?.as_str().ok_or_else(|| {
            refuse(
                &join(path, name),
                Fault::WrongType,
                format!("`{name}` is a string"),
            )
        })
    };

    let org = OrgCode::parse(string("org")?)
        .map_err(|_| refuse(&join(path, "org"), Fault::WrongType, "not an org code"))?;
    let want = match kind {
        Kind::County => Level::County,
        Kind::Hub => Level::Prefecture,
    };
    if org.level() != want {
        return Err(refuse(
            &join(path, "org"),
            Fault::WrongLevel,
            format!("{org} is not a {want:?} org"),
        ));
    }
    if string("template")? != t.id {
        return Err(refuse(
            &join(path, "template"),
            Fault::WrongTemplate,
            format!("the campaign collects template `{}`", t.id),
        ));
    }
    CampaignId::parse(string("campaign")?).map_err(|_| {
        refuse(
            &join(path, "campaign"),
            Fault::WrongType,
            "not a campaign id",
        )
    })?;
    chrono::NaiveDate::parse_from_str(string("as_of")?, "%Y-%m-%d").map_err(|_| {
        refuse(
            &join(path, "as_of"),
            Fault::WrongType,
            "not a date (YYYY-MM-DD)",
        )
    })?;
    whole(
        field("version")?,
        &join(path, "version"),
        1,
        u64::from(u32::MAX),
    )?;
    whole(
        field("threshold")?,
        &join(path, "threshold"),
        u64::from(t.disclosure.threshold),
        MAX_THRESHOLD,
    )?;

    let children = match (kind, o.get("children")) {
        (Kind::Hub, Some(c)) => c.as_array().ok_or_else(|| {
            refuse(
                &join(path, "children"),
                Fault::WrongType,
                "`children` is an array",
            )
        })?,
        _ => &[],
    };
    // A hub's rollup cell sums its children's, each below the bound.
    let reports = children.len() as i64 + 1;
    let cells = cells(t, kind, field("cells")?, &join(path, "cells"), reports)?;
    failed_rules(
        t,
        o.get("failed_rules"),
        &join(path, "failed_rules"),
        &cells,
    )?;
    pending_rules(
        t,
        o.get("pending_rules"),
        &join(path, "pending_rules"),
        &cells,
    )?;

    if let Some(c) = o.get("counted_on") {
        counted_on(t, c, &join(path, "counted_on"))?;
    }

    if kind == Kind::Hub {
        let campaign = string("campaign")?;
        let mut orgs = BTreeSet::new();
        for (i, child) in children.iter().enumerate() {
            let (text, p) = envelope(child, &at(&join(path, "children"), i))?;
            let parsed = Json::parse(text).map_err(|e| {
                refuse(
                    &p,
                    Fault::Malformed,
                    format!("not JSON (line {}, column {})", e.line(), e.column()),
                )
            })?;
            let r = check_at(t, Kind::County, &parsed, text, &p)?;
            if r.campaign.as_ref().map(CampaignId::as_str) != Some(campaign) {
                return Err(refuse(
                    &join(&p, "campaign"),
                    Fault::WrongCampaign,
                    "an embedded report names another campaign",
                ));
            }
            if !orgs.insert(r.org.clone()) {
                return Err(refuse(
                    &join(&p, "org"),
                    Fault::Duplicate,
                    format!("{} is embedded twice", r.org),
                ));
            }
        }
        reviews(o.get("reviews"), &join(path, "reviews"), &orgs)?;
        held_back(o.get("held_back"), &join(path, "held_back"), &orgs)?;
    }

    // A county's report is forwarded inside its hub's, where each has this budget: refused here
    // too, or a prefecture would accept what its province refuses.
    if kind == Kind::County {
        let size = text.len();
        if size > PER_CHILD_BYTES {
            return Err(refuse(
                path,
                Fault::TooLarge,
                format!("{size} bytes, over the budget of {PER_CHILD_BYTES} per county report"),
            ));
        }
    }

    // Every field is checked above; the typed read cannot fail on what passed, but is the
    // report's one definition of its shape, so a drift between the two is refused, not ignored.
    json::read::<Report>(v).map_err(|_| refuse(path, Fault::Malformed, "not of the report's shape"))
}

/// A county report's `counted_on` (issue 11): `{"snapshot": ID, "changes": [{"from": ID, "added":
/// N, "removed": N}, …]}`, ids 64 lowercase hex digits (a SHA-256, so nothing typed rides along),
/// at most [`MAX_SNAPSHOT_CHANGES`] changes, counts whole and below the template's `count_max`.
fn counted_on(t: &Template, v: &Json, path: &str) -> Result<(), Refusal> {
    let o = v
        .as_object()
        .ok_or_else(|| refuse(path, Fault::WrongType, "`counted_on` is an object"))?;
    only_fields(o, path, &["snapshot", "changes"])?;
    let snapshot = o
        .get("snapshot")
        .ok_or_else(|| refuse(&join(path, "snapshot"), Fault::Missing, "no `snapshot`"))?;
    snapshot_id(snapshot, &join(path, "snapshot"))?;
    let Some(changes) = o.get("changes") else {
        return Ok(());
    };
    let p = join(path, "changes");
    let changes = changes
        .as_array()
        .ok_or_else(|| refuse(&p, Fault::WrongType, "`changes` is an array"))?;
    if changes.len() > MAX_SNAPSHOT_CHANGES {
        return Err(refuse(
            &p,
            Fault::TooMany,
            format!("{} changes, over {MAX_SNAPSHOT_CHANGES}", changes.len()),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, c) in changes.iter().enumerate() {
        let p = at(&p, i);
        let c = c
            .as_object()
            .ok_or_else(|| refuse(&p, Fault::WrongType, "a change is an object"))?;
        only_fields(c, &p, &["from", "added", "removed"])?;
        let field = |name: &str| {
            c.get(name)
                .ok_or_else(|| refuse(&join(&p, name), Fault::Missing, format!("no `{name}`")))
        };
        let from = snapshot_id(field("from")?, &join(&p, "from"))?;
        if !seen.insert(from) {
            return Err(refuse(
                &join(&p, "from"),
                Fault::Duplicate,
                "a snapshot named twice",
            ));
        }
        let most = u64::try_from(t.limits.count_max).unwrap_or(0);
        for name in ["added", "removed"] {
            whole(field(name)?, &join(&p, name), 0, most)?;
        }
    }
    Ok(())
}

/// Refuses a field of `o` not in `known` (named only when it is a short ASCII identifier).
fn only_fields(o: &Object, path: &str, known: &[&str]) -> Result<(), Refusal> {
    match o.keys().find(|k| !known.contains(k)) {
        Some(k) => Err(refuse(
            &join(path, &shown_name(k)),
            Fault::UnknownField,
            format!("unknown field {}", shown_name(k)),
        )),
        None => Ok(()),
    }
}

/// A snapshot id: 64 lowercase hex digits.
fn snapshot_id<'a>(v: &'a Json, path: &str) -> Result<&'a str, Refusal> {
    let s = v
        .as_str()
        .filter(|s| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| {
            refuse(
                path,
                Fault::WrongType,
                "a snapshot id is 64 lowercase hex digits",
            )
        })?;
    Ok(s)
}

/// An embedded county report: `{"report": "<the exact JSON text the county signed>", "jws": "…"}`
/// (`protocol::signed`). The text is bounded by the per-child budget rather than the string bound:
/// it is checked as a county report of its own at `<path>.report`, budget included, so it is
/// refused at the same field as the county's own post would be. The signature has its own bound. Returns the text and the path of the report inside.
fn envelope<'a>(v: &'a Json, path: &str) -> Result<(&'a str, String), Refusal> {
    let o = object_with(v, path, &["report", "jws"])?;
    let p = join(path, "report");
    let text = o["report"].as_str().ok_or_else(|| {
        refuse(
            &p,
            Fault::WrongType,
            "an embedded report is the county's JSON text, as a string",
        )
    })?;
    let jp = join(path, "jws");
    let jws = o["jws"]
        .as_str()
        .ok_or_else(|| refuse(&jp, Fault::WrongType, "a signature is a string"))?;
    if jws.len() > super::signed::MAX_JWS || !jws.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse(
            &jp,
            Fault::TooLong,
            format!(
                "a signature is at most {} printable ASCII bytes",
                super::signed::MAX_JWS
            ),
        ));
    }
    Ok((text, p))
}

/// `e`, found under `seg` (a field name, or `[i]`): its path with `seg` in front.
fn under(seg: &str, mut e: Refusal) -> Refusal {
    e.path = match e.path.as_str() {
        "$" | "" => seg.to_string(),
        p if p.starts_with('[') => format!("{seg}{p}"),
        p if seg.is_empty() => p.to_string(),
        p => format!("{seg}.{p}"),
    };
    e
}

/// Strings, arrays and nesting bounded, everywhere but in a hub's embedded reports (checked each
/// as a county's report of its own). Paths are built only on the way out of a refusal: this runs
/// over every value of every report.
fn bounded(v: &Json, depth: usize, kind: Kind) -> Result<(), Refusal> {
    match v {
        Json::String(s) if s.len() > MAX_STRING => Err(refuse(
            "",
            Fault::TooLong,
            format!("{} bytes, over {MAX_STRING}", s.len()),
        )),
        Json::Array(_) | Json::Object(_) if depth > MAX_DEPTH => Err(refuse(
            "",
            Fault::TooDeep,
            format!("nested deeper than {MAX_DEPTH}"),
        )),
        Json::Array(a) => {
            if a.len() > MAX_ARRAY {
                return Err(refuse(
                    "",
                    Fault::TooMany,
                    format!("{} entries, over {MAX_ARRAY}", a.len()),
                ));
            }
            for (i, x) in a.iter().enumerate() {
                bounded(x, depth + 1, kind).map_err(|e| under(&format!("[{i}]"), e))?;
            }
            Ok(())
        }
        Json::Object(o) => {
            if o.len() > MAX_ARRAY {
                return Err(refuse(
                    "",
                    Fault::TooMany,
                    format!("{} fields, over {MAX_ARRAY}", o.len()),
                ));
            }
            // A field sent twice is refused: which one counts would be up to each reader's parser.
            if let Some(k) = o.duplicate() {
                return Err(refuse(
                    &shown_name(k),
                    Fault::Duplicate,
                    format!("the field {} is sent twice", shown_name(k)),
                ));
            }
            for (k, x) in o.iter() {
                if k.len() > MAX_STRING {
                    return Err(refuse(
                        &shown_name(k),
                        Fault::TooLong,
                        format!("a field name of {} bytes, over {MAX_STRING}", k.len()),
                    ));
                }
                if depth == 1 && kind == Kind::Hub && k == "children" {
                    let n = x.as_array().map_or(0, <[Json]>::len);
                    if n > MAX_CHILDREN {
                        return Err(refuse(
                            k,
                            Fault::TooMany,
                            format!("{n} embedded reports, over {MAX_CHILDREN}"),
                        ));
                    }
                    continue;
                }
                bounded(x, depth + 1, kind).map_err(|e| under(&shown_name(k), e))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A JSON integer in `lo..=hi`.
fn whole(v: &Json, path: &str, lo: u64, hi: u64) -> Result<u64, Refusal> {
    let n = v
        .as_u64()
        .ok_or_else(|| refuse(path, Fault::WrongType, "a whole number"))?;
    if n < lo || n > hi {
        return Err(refuse(
            path,
            Fault::OverBound,
            format!("must be from {lo} to {hi}"),
        ));
    }
    Ok(n)
}

/// The published cells, checked: codes of the template, each a value, withheld, or (in a hub's
/// report) a range. Returns each cell's published value (None: withheld or a range).
fn cells(
    t: &Template,
    kind: Kind,
    v: &Json,
    path: &str,
    reports: i64,
) -> Result<BTreeMap<String, Option<Decimal>>, Refusal> {
    let o = v
        .as_object()
        .ok_or_else(|| refuse(path, Fault::WrongType, "`cells` is an object"))?;
    let mut out = BTreeMap::new();
    for (code, c) in o.iter() {
        let Some(cell) = t.cell(code) else {
            return Err(refuse(
                path,
                Fault::UnknownCell,
                format!("template `{}` has no cell {}", t.id, shown_name(code)),
            ));
        };
        // Built only for a refusal: this runs for every cell of every report.
        let p = |field: &str| {
            let cell = join(path, code);
            if field.is_empty() {
                cell
            } else {
                join(&cell, field)
            }
        };
        let c = c
            .as_object()
            .ok_or_else(|| refuse(&p(""), Fault::WrongType, "a cell is an object"))?;
        let mut keys = c.keys();
        let value = match (keys.next(), keys.next(), keys.next()) {
            (Some("value"), None, None) => {
                Some(figure(t, cell, &c["value"], &|| p("value"), reports)?)
            }
            (Some("suppressed"), None, None) if c["suppressed"] == Json::Bool(true) => None,
            (Some("suppressed"), None, None) => {
                return Err(refuse(
                    &p("suppressed"),
                    Fault::WrongType,
                    "`suppressed` is only ever true",
                ));
            }
            (Some("lower"), Some("upper"), None) if kind == Kind::Hub => {
                let lo = figure(t, cell, &c["lower"], &|| p("lower"), reports)?;
                let hi = figure(t, cell, &c["upper"], &|| p("upper"), reports)?;
                if lo > hi {
                    return Err(refuse(&p(""), Fault::Contradicts, "lower above upper"));
                }
                None
            }
            _ => {
                return Err(refuse(
                    &p(""),
                    Fault::UnknownField,
                    "a cell is {\"value\": N} or {\"suppressed\": true}",
                ));
            }
        };
        out.insert(code.to_string(), value);
    }
    Ok(out)
}

/// One figure of `cell`: a count is a JSON integer from 0 below the bound, money a JSON number with
/// at most the cell's places from 0 below the bound (times `reports` in a hub's rollup).
fn figure(
    t: &Template,
    cell: &Cell,
    v: &Json,
    path: &dyn Fn() -> String,
    reports: i64,
) -> Result<Decimal, Refusal> {
    let Json::Number(n) = v else {
        return Err(refuse(
            &path(),
            Fault::WrongType,
            "a figure is a JSON number, not a string or anything else",
        ));
    };
    let d = if cell.is_money() {
        money(n, path, cell.scale)?
    } else if let Some(i) = n.as_i64() {
        Decimal::integer(i)
    } else if n.is_u64() {
        return Err(refuse(
            &path(),
            Fault::OverBound,
            "far over the template's bound",
        ));
    } else {
        return Err(refuse(
            &path(),
            Fault::NotACount,
            format!("cell `{}` counts {}: a whole number", cell.code, cell.unit),
        ));
    };
    if d.units() < 0 {
        return Err(refuse(&path(), Fault::Negative, "a figure is 0 or more"));
    }
    let bound = if cell.is_money() {
        let m = t.limits.money_max;
        Decimal::new(m.units().saturating_mul(reports), m.scale())
    } else {
        Decimal::integer(t.limits.count_max.saturating_mul(reports))
    };
    if d >= bound {
        return Err(refuse(
            &path(),
            Fault::OverBound,
            format!("must be below {bound} (the template's [limits])"),
        ));
    }
    Ok(d)
}

fn money(n: &Number, path: &dyn Fn() -> String, scale: u8) -> Result<Decimal, Refusal> {
    if let Some(i) = n.as_i64() {
        return Ok(Decimal::integer(i));
    }
    if n.is_u64() {
        return Err(refuse(
            &path(),
            Fault::OverBound,
            "far over the template's bound",
        ));
    }
    let f = n.as_f64().unwrap_or(f64::INFINITY);
    let d = Decimal::parse(&format!("{f}"))
        .map_err(|_| refuse(&path(), Fault::OverBound, "not a decimal bangfu can carry"))?;
    if d.scale() > scale {
        return Err(refuse(
            &path(),
            Fault::TooManyPlaces,
            format!("at most {scale} decimal places"),
        ));
    }
    Ok(d)
}

fn entries<'a, 'b>(
    v: Option<&'a Json<'b>>,
    path: &str,
    max: usize,
) -> Result<&'a [Json<'b>], Refusal> {
    let Some(v) = v else { return Ok(&[]) };
    let a = v
        .as_array()
        .ok_or_else(|| refuse(path, Fault::WrongType, "an array"))?;
    if a.len() > max {
        return Err(refuse(
            path,
            Fault::TooMany,
            format!("{} entries; the template has {max} rules", a.len()),
        ));
    }
    Ok(a)
}

fn object_with<'a, 'b>(
    v: &'a Json<'b>,
    path: &str,
    keys: &[&str],
) -> Result<&'a Object<'b>, Refusal> {
    let o = v
        .as_object()
        .ok_or_else(|| refuse(path, Fault::WrongType, "an object"))?;
    if let Some(k) = o.keys().find(|k| !keys.contains(k)) {
        return Err(refuse(
            &join(path, &shown_name(k)),
            Fault::UnknownField,
            format!("unknown field {}", shown_name(k)),
        ));
    }
    if let Some(k) = keys.iter().find(|k| !o.contains_key(k)) {
        return Err(refuse(&join(path, k), Fault::Missing, format!("no `{k}`")));
    }
    Ok(o)
}

/// The index of the template's rule with this text.
fn rule_named(t: &Template, v: &Json, path: &str) -> Result<usize, Refusal> {
    let text = v
        .as_str()
        .ok_or_else(|| refuse(path, Fault::WrongType, "a rule's text"))?;
    t.rules
        .iter()
        .position(|r| r.message == text)
        .ok_or_else(|| {
            refuse(
                path,
                Fault::UnknownRule,
                format!("not the text of a rule of template `{}`", t.id),
            )
        })
}

/// Each failed rule is one of the template's, failing on the report's published values, with the
/// cells and detail the rule itself gives: no text of the child's own.
fn failed_rules(
    t: &Template,
    v: Option<&Json>,
    path: &str,
    published: &BTreeMap<String, Option<Decimal>>,
) -> Result<(), Refusal> {
    let Some(v) = v else {
        return Err(refuse(path, Fault::Missing, "no `failed_rules`"));
    };
    let mut seen = BTreeSet::new();
    for (i, f) in entries(Some(v), path, t.rules.len())?.iter().enumerate() {
        let p = at(path, i);
        let o = object_with(f, &p, &["rule", "importance", "cells", "detail"])?;
        let r = rule_named(t, &o["rule"], &join(&p, "rule"))?;
        if !seen.insert(r) {
            return Err(refuse(
                &join(&p, "rule"),
                Fault::Duplicate,
                "a rule listed twice",
            ));
        }
        let rule = &t.rules[r];
        let importance: Importance = json::read(&o["importance"])
            .map_err(|_| refuse(&join(&p, "importance"), Fault::WrongType, "high or low"))?;
        if importance != rule.importance {
            return Err(refuse(
                &join(&p, "importance"),
                Fault::Contradicts,
                "not the rule's importance",
            ));
        }
        let codes: Vec<&str> = rule
            .cells()
            .iter()
            .map(|&c| t.cells[c].code.as_str())
            .collect();
        let cp = join(&p, "cells");
        let listed = o["cells"]
            .as_array()
            .ok_or_else(|| refuse(&cp, Fault::WrongType, "an array"))?;
        if listed.len() != codes.len() {
            return Err(refuse(&cp, Fault::Contradicts, "not the rule's cells"));
        }
        let mut cells = Vec::with_capacity(codes.len());
        for (j, (c, code)) in listed.iter().zip(&codes).enumerate() {
            let q = at(&cp, j);
            let c = object_with(c, &q, &["code", "value"])?;
            if c["code"].as_str() != Some(code) {
                return Err(refuse(
                    &join(&q, "code"),
                    Fault::Contradicts,
                    "not the rule's cell",
                ));
            }
            let value = match &c["value"] {
                Json::Null => None,
                Json::Number(_) => {
                    let cell = t.cell(code).expect("a rule's cell");
                    Some(figure(t, cell, &c["value"], &|| join(&q, "value"), 1)?)
                }
                _ => {
                    return Err(refuse(
                        &join(&q, "value"),
                        Fault::WrongType,
                        "a number or null",
                    ));
                }
            };
            // A value travels only where the report publishes the same one; a withheld cell's not.
            let shown = published.get(*code).copied().flatten();
            if value.is_some() && value != shown || value.is_none() && shown.is_some() {
                return Err(refuse(
                    &join(&q, "value"),
                    Fault::Contradicts,
                    "not the report's published value",
                ));
            }
            cells.push(RuleCell {
                code: code.to_string(),
                value,
            });
        }
        let expected = if cells.iter().any(|c| c.value.is_none()) {
            Some(crate::report::redacted_detail(&cells))
        } else {
            let values: BTreeMap<&str, Decimal> = cells
                .iter()
                .filter_map(|c| Some((c.code.as_str(), c.value?)))
                .collect();
            rules::evaluate(t, |k| values.get(t.cells[k].code.as_str()).copied())
                .failed
                .into_iter()
                .find(|f| f.rule == rule.message)
                .map(|f| f.detail)
        };
        match expected {
            Some(d) if o["detail"].as_str() == Some(d.as_str()) => {}
            Some(_) => {
                return Err(refuse(
                    &join(&p, "detail"),
                    Fault::Contradicts,
                    "not the detail the rule gives on these values",
                ));
            }
            None => {
                return Err(refuse(
                    &p,
                    Fault::Contradicts,
                    "the rule holds for the report's values",
                ));
            }
        }
    }
    Ok(())
}

/// Each pending rule is one of the template's, naming cells of it the report does not publish.
fn pending_rules(
    t: &Template,
    v: Option<&Json>,
    path: &str,
    published: &BTreeMap<String, Option<Decimal>>,
) -> Result<(), Refusal> {
    let mut seen = BTreeSet::new();
    for (i, f) in entries(v, path, t.rules.len())?.iter().enumerate() {
        let p = at(path, i);
        let o = object_with(f, &p, &["rule", "missing"])?;
        let r = rule_named(t, &o["rule"], &join(&p, "rule"))?;
        if !seen.insert(r) {
            return Err(refuse(
                &join(&p, "rule"),
                Fault::Duplicate,
                "a rule listed twice",
            ));
        }
        let codes: Vec<&str> = t.rules[r]
            .cells()
            .iter()
            .map(|&c| t.cells[c].code.as_str())
            .collect();
        let mp = join(&p, "missing");
        let missing = o["missing"]
            .as_array()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| refuse(&mp, Fault::WrongType, "a non-empty array of cell codes"))?;
        for (j, m) in missing.iter().enumerate() {
            let ok = m
                .as_str()
                .is_some_and(|c| codes.contains(&c) && !published.contains_key(c));
            if !ok {
                return Err(refuse(
                    &at(&mp, j),
                    Fault::Contradicts,
                    "not a cell of the rule that the report leaves out",
                ));
            }
        }
    }
    Ok(())
}

/// A hub's reviews: one mark per embedded county, of the shape the protocol defines.
fn reviews(v: Option<&Json>, path: &str, orgs: &BTreeSet<OrgCode>) -> Result<(), Refusal> {
    let Some(v) = v else { return Ok(()) };
    let o = v
        .as_object()
        .ok_or_else(|| refuse(path, Fault::WrongType, "an object"))?;
    for (org, mark) in o.iter() {
        let p = join(path, &shown_name(org));
        if !OrgCode::parse(org).is_ok_and(|c| orgs.contains(&c)) {
            return Err(refuse(&p, Fault::UnknownField, "not an embedded county"));
        }
        object_with(mark, &p, &["version", "state"])?;
        json::read::<ReviewMark>(mark)
            .map_err(|_| refuse(&p, Fault::WrongType, "not a review mark"))?;
    }
    Ok(())
}

/// A hub's held-back children: counties not embedded, each with a fault code and a path.
fn held_back(v: Option<&Json>, path: &str, orgs: &BTreeSet<OrgCode>) -> Result<(), Refusal> {
    let Some(v) = v else { return Ok(()) };
    let o = v
        .as_object()
        .ok_or_else(|| refuse(path, Fault::WrongType, "an object"))?;
    for (org, why) in o.iter() {
        let p = join(path, &shown_name(org));
        let code = OrgCode::parse(org)
            .ok()
            .filter(|c| c.level() == Level::County)
            .ok_or_else(|| refuse(&p, Fault::WrongType, "not a county's org code"))?;
        if orgs.contains(&code) {
            return Err(refuse(&p, Fault::Duplicate, "both embedded and held back"));
        }
        object_with(why, &p, &["fault", "path"])?;
        let h: HeldBack = json::read(why)
            .map_err(|_| refuse(&join(&p, "fault"), Fault::WrongType, "not a fault code"))?;
        if h.path.len() > MAX_PATH || h.path.chars().any(char::is_control) {
            return Err(refuse(
                &join(&p, "path"),
                Fault::TooLong,
                format!("a path of at most {MAX_PATH} bytes without control characters"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "intake_tests.rs"]
mod tests;
