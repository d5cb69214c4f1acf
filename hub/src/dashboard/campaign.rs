//! `/campaigns/{id}`: a campaign's page. Its state is the query string: `org` (the unit drilled
//! into: a prefecture, or a county under it) and `cell` (the figure the bars compare), so a view
//! can be bookmarked, sent, and reloaded as it was. The part that changes (`#tree`) is also served
//! alone (`/campaigns/{id}/tree?…`), for the page's script to swap in when the rollup changes.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::CampaignId;
use bangfu_shared::template::Template;
use chrono::{DateTime, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::DashboardState;
use super::access::Session;
use super::charts::{self, Bar};
use super::html::{cell_text, esc, shell, top};
use super::timeline::Arrivals;
use crate::campaigns::{self, Campaign};
use crate::config::HubLevel;
use crate::error::Error;
use crate::registry;
use crate::rollup::{Issue, Rollup};
use crate::store::Store;

/// The page's state, from its query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct View {
    /// The unit drilled into (a child, or a grandchild); none: this hub's own rollup.
    pub org: Option<String>,
    /// The cell the bars compare; none: the template's first (its headline).
    pub cell: Option<String>,
}

impl View {
    /// A query string for the same view with `org` instead (`None`: back to the top).
    fn with_org(&self, org: Option<&OrgCode>) -> String {
        let mut parts = vec![];
        if let Some(o) = org {
            parts.push(format!("org={o}"));
        }
        if let Some(c) = &self.cell {
            parts.push(format!("cell={}", utf8_percent_encode(c, NON_ALPHANUMERIC)));
        }
        if parts.is_empty() {
            "?".into()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// What a page or fragment is drawn from.
pub struct Context<'a> {
    pub level: HubLevel,
    pub campaign: &'a Campaign,
    pub template: &'a Template,
    pub rollup: &'a Rollup,
    /// The registered children's names, to name the missing ones.
    pub names: &'a [(OrgCode, String)],
    pub view: &'a View,
    pub arrivals: &'a Arrivals,
    /// The overdue children and what they were sent (issue 15), shown at the top level.
    pub overdue: &'a str,
    pub now: DateTime<Utc>,
    /// Whether the viewer may review (links to the review page).
    pub can_review: bool,
}

pub async fn page(
    who: Session,
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
    Query(view): Query<View>,
) -> Result<Html<String>, Error> {
    let tree = tree(&s, &id, &view, &who).await?;
    let (c, _) = campaign(&s.hub.store, &id).await?;
    let cid = esc(c.id.as_str());
    let body = format!(
        "{}<main><p><a href=\"/\">← 统计任务 campaigns</a></p><h1>{} <small>({cid})</small></h1>\
         <p>统计期 {} – {}；截止 县级 {} · 市级 {}{} · <span id=\"live\">连接中 connecting</span></p>{}\
         <div id=\"tree\" data-campaign=\"{cid}\" data-version=\"{}\">{}</div></main>",
        top(&s.hub.config.name, &who),
        esc(&c.title),
        c.start,
        c.end,
        c.due.county,
        c.due.prefecture,
        c.due
            .province
            .map(|d| format!(" · 省级 {d}"))
            .unwrap_or_default(),
        super::export::links(&c.id),
        tree.0,
        tree.1,
    );
    Ok(Html(shell(&c.title, &body, true)))
}

/// The live part of the page alone, for the page's script.
pub async fn fragment(
    who: Session,
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
    Query(view): Query<View>,
) -> Result<Html<String>, Error> {
    Ok(Html(tree(&s, &id, &view, &who).await?.1))
}

pub async fn rollup_json(
    _who: Session,
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
) -> Result<Response, Error> {
    Ok(Json(&*s.live.rollup(&id).await?).into_response())
}

/// The rollup's version and the fragment drawn from it.
async fn tree(
    s: &DashboardState,
    id: &CampaignId,
    view: &View,
    who: &Session,
) -> Result<(u32, String), Error> {
    let (c, template) = campaign(&s.hub.store, id).await?;
    let rollup: Arc<Rollup> = s.live.rollup(id).await?;
    let names = names(&s.hub.store).await?;
    let registered: Vec<String> = names.iter().map(|(c, _)| c.to_string()).collect();
    let arrivals = s.arrivals.arrivals(&s.hub.store, id, &registered).await?;
    let overdue = if view.org.is_none() {
        crate::reminders::overdue_html(&s.hub, &c).await?
    } else {
        String::new()
    };
    let ctx = Context {
        level: s.hub.config.level,
        campaign: &c,
        template: &template,
        rollup: &rollup,
        names: &names,
        view,
        arrivals: &arrivals,
        overdue: &overdue,
        now: s.hub.now(),
        can_review: who.has("reviewer"),
    };
    Ok((rollup.version.get(), html(&ctx)?))
}

pub async fn campaign(store: &Store, id: &CampaignId) -> Result<(Campaign, Arc<Template>), Error> {
    let c = campaigns::get(store, id.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("no campaign `{id}` / 没有此统计任务")))?;
    let t = campaigns::template_of(&c)
        .map_err(|e| Error::Unprocessable(format!("the campaign's template does not load: {e}")))?;
    Ok((c, t))
}

/// The registered children's names (the rollup names only those that reported).
pub async fn names(store: &Store) -> Result<Vec<(OrgCode, String)>, Error> {
    Ok(registry::list(store)
        .await?
        .into_iter()
        .map(|o| (o.code, o.name))
        .collect())
}

/// The units from the top to the one `org` names (the top itself not included).
fn focus<'a>(r: &'a Rollup, org: &OrgCode) -> Option<Vec<&'a Rollup>> {
    for c in &r.children {
        if &c.org == org {
            return Some(vec![c]);
        }
        if let Some(g) = c.children.iter().find(|g| &g.org == org) {
            return Some(vec![c, g]);
        }
    }
    None
}

/// The fragment: completeness, where we are, the charts, the children, the findings, every cell.
pub fn html(ctx: &Context) -> Result<String, Error> {
    let r = ctx.rollup;
    let t = ctx.template;
    let path = match &ctx.view.org {
        None => vec![],
        Some(raw) => {
            let org = OrgCode::parse(raw)
                .map_err(|e| Error::BadRequest(format!("org `{}`: {e}", raw.escape_debug())))?;
            focus(r, &org).ok_or_else(|| {
                Error::NotFound(format!(
                    "{org} has no report in this rollup / 该单位尚无报表"
                ))
            })?
        }
    };
    let node = path.last().copied().unwrap_or(r);
    let cell = match &ctx.view.cell {
        Some(code) => t.cells.iter().find(|c| &c.code == code).ok_or_else(|| {
            Error::BadRequest(format!(
                "cell `{}` is not in the table {} / 报表中没有此指标",
                code.escape_debug(),
                t.id
            ))
        })?,
        None => t
            .cells
            .first()
            .ok_or_else(|| Error::Unprocessable("the template has no cells".into()))?,
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<div data-version=\"{}\"><h2>{} ({}) · 汇总第 {} 版 rollup version {}</h2>",
        r.version,
        esc(&r.name),
        r.org,
        r.version,
        r.version
    );
    completeness(&mut h, r, ctx.names);
    crumbs(&mut h, r, &path, ctx.view);
    let _ = write!(
        h,
        "<p class=\"headline\">{}：<b id=\"headline\">{}</b> {}</p>",
        esc(&cell.label),
        cell_text(node.cells.get(&cell.code)),
        esc(&cell.unit)
    );
    h.push_str("<div class=\"charts\">");
    if path.is_empty() {
        h.push_str(&timeline(ctx));
    }
    if !node.children.is_empty() || path.is_empty() {
        let mut rows: Vec<Bar> = node
            .children
            .iter()
            .map(|c| Bar {
                label: format!("{} {}", c.name, c.org),
                href: Some(ctx.view.with_org(Some(&c.org))),
                cell: c.cells.get(&cell.code).cloned(),
            })
            .collect();
        if path.is_empty()
            && let Some(c) = &r.completeness
        {
            for m in &c.missing {
                let name = ctx
                    .names
                    .iter()
                    .find(|(code, _)| code == m)
                    .map_or("", |(_, n)| n.as_str());
                rows.push(Bar {
                    label: format!("{name} {m} 未报"),
                    href: None,
                    cell: None,
                });
            }
        }
        h.push_str(&charts::bars(
            "chart-children",
            &format!("各下级 {} by unit", cell.label),
            &cell.unit,
            &rows,
        ));
    }
    for (id, title, cells) in dimension_charts(t) {
        let rows: Vec<Bar> = cells
            .iter()
            .map(|c| Bar {
                label: c
                    .label
                    .split_once('：')
                    .map_or(c.label.as_str(), |x| x.1)
                    .to_string(),
                href: None,
                cell: node.cells.get(&c.code).cloned(),
            })
            .collect();
        let unit = cells.first().map_or("", |c| c.unit.as_str());
        h.push_str(&charts::bars(&id, &title, unit, &rows));
    }
    h.push_str("</div>");
    cell_picker(&mut h, t, ctx.view, &cell.code);
    if !node.children.is_empty() {
        h.push_str("<h3>下级 Children</h3>");
        children(&mut h, ctx, node, path.is_empty());
    } else if path.is_empty() {
        h.push_str("<h3>下级 Children</h3><p>尚无下级上报 / nothing received yet</p>");
    }
    findings(&mut h, r, path.last().map(|n| &n.org));
    h.push_str("<details id=\"cells\"><summary>全部指标 All cells</summary><div class=\"scroll\"><table><tr><th>代码 code</th><th>指标 cell</th><th>单位 unit</th><th>数值 figure</th></tr>");
    for c in &t.cells {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&c.code),
            esc(&c.label),
            esc(&c.unit),
            cell_text(node.cells.get(&c.code))
        );
    }
    h.push_str("</table></div></details>");
    if path.is_empty() {
        h.push_str(ctx.overdue);
    }
    h.push_str("</div>");
    Ok(h)
}

fn completeness(h: &mut String, r: &Rollup, names: &[(OrgCode, String)]) {
    let Some(c) = &r.completeness else { return };
    let _ = write!(
        h,
        "<p id=\"completeness\">已报 received <b>{}</b> / 应报 expected <b>{}</b> · 按时 on time {} · <span class=\"late\">迟报 late {}</span></p>",
        c.received, c.expected, c.on_time, c.late
    );
    if !c.missing.is_empty() {
        let missing: Vec<String> = c
            .missing
            .iter()
            .map(|m| match names.iter().find(|(code, _)| code == m) {
                Some((_, n)) => format!("{} {m}", esc(n)),
                None => m.to_string(),
            })
            .collect();
        let _ = write!(
            h,
            "<p class=\"missing\" id=\"missing\">未报 missing: {}</p>",
            missing.join("、")
        );
    }
}

/// Where the view is: this hub › a prefecture › a county, each a link back up.
fn crumbs(h: &mut String, r: &Rollup, path: &[&Rollup], view: &View) {
    if path.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<nav class=\"crumbs\" id=\"crumbs\"><a href=\"{}\">{}</a>",
        esc(&view.with_org(None)),
        esc(&r.name)
    );
    for (i, n) in path.iter().enumerate() {
        if i + 1 == path.len() {
            let _ = write!(h, " › <b>{} {}</b>", esc(&n.name), n.org);
        } else {
            let _ = write!(
                h,
                " › <a href=\"{}\">{} {}</a>",
                esc(&view.with_org(Some(&n.org))),
                esc(&n.name),
                n.org
            );
        }
    }
    h.push_str("</nav>");
}

/// Completeness over time: the children, and at a province the counties inside the prefectures'
/// reports, against each level's due date.
fn timeline(ctx: &Context) -> String {
    let c = ctx.campaign;
    let (child, grandchild) = match ctx.level {
        HubLevel::Province => ("市级 prefectures", Some("县级 counties")),
        HubLevel::Prefecture => ("县级 counties", None),
    };
    let expected = ctx.rollup.completeness.as_ref().map_or(0, |c| c.expected);
    let mut lines = vec![charts::Line {
        label: child.into(),
        colour: "#b22222",
        expected,
        arrivals: ctx.arrivals.children.iter().map(|a| a.1).collect(),
    }];
    if let Some(label) = grandchild
        && !ctx.arrivals.grandchildren.is_empty()
    {
        // The province knows a county only once its prefecture reported it: the share is of the
        // counties known so far.
        let known: usize = ctx.rollup.children.iter().map(|c| c.children.len()).sum();
        lines.push(charts::Line {
            label: format!("{label}（已知 known）"),
            colour: "#1f5fa8",
            expected: known.max(ctx.arrivals.grandchildren.len()),
            arrivals: ctx.arrivals.grandchildren.iter().map(|a| a.1).collect(),
        });
    }
    let mut dues = vec![
        charts::Due {
            label: "县级截止".into(),
            date: c.due.county,
            colour: "#1f5fa8",
        },
        charts::Due {
            label: "市级截止".into(),
            date: c.due.prefecture,
            colour: "#b22222",
        },
    ];
    if let Some(p) = c.due.province {
        dues.push(charts::Due {
            label: "省级截止".into(),
            date: p,
            colour: "#555",
        });
    }
    charts::timeline(
        "chart-timeline",
        "上报进度 completeness over time",
        &lines,
        &dues,
        c.start,
        ctx.now,
    )
}

/// The table's categories and causes (the `category.*` and `cause.*` cells of a generated table
/// such as 档案统计); a table without them: its first dozen cells.
fn dimension_charts(t: &Template) -> Vec<(String, String, Vec<&bangfu_shared::template::Cell>)> {
    let mut out = vec![];
    for (dim, title) in [
        ("category", "困难类别 categories"),
        ("cause", "致困原因 causes"),
    ] {
        let prefix = format!("{dim}.");
        let cells: Vec<_> = t
            .cells
            .iter()
            .filter(|c| c.code.starts_with(&prefix) && !c.code.contains('|'))
            .collect();
        if !cells.is_empty() {
            out.push((format!("chart-{dim}"), title.to_string(), cells));
        }
    }
    if out.is_empty() {
        let unit = t.cells.first().map(|c| c.unit.clone()).unwrap_or_default();
        let cells: Vec<_> = t.cells.iter().filter(|c| c.unit == unit).take(12).collect();
        out.push(("chart-cells".into(), "主要指标 main cells".into(), cells));
    }
    out
}

/// Which cell the bars compare: a plain GET form (works without script; the choice is in the URL).
fn cell_picker(h: &mut String, t: &Template, view: &View, chosen: &str) {
    let _ = write!(h, "<form method=\"get\" class=\"picker\">");
    if let Some(org) = &view.org {
        let _ = write!(
            h,
            "<input type=\"hidden\" name=\"org\" value=\"{}\">",
            esc(org)
        );
    }
    h.push_str("<label>比较指标 compare <select name=\"cell\">");
    for c in t.cells.iter().filter(|c| !c.code.contains('|')) {
        let _ = write!(
            h,
            "<option value=\"{}\"{}>{}</option>",
            esc(&c.code),
            if c.code == chosen { " selected" } else { "" },
            esc(&c.label)
        );
    }
    h.push_str("</select></label> <button>显示 show</button></form>");
}

/// The children of `node` as a table, each a link one level down; at the top, with its review
/// state and (for a reviewer) the link to review it.
fn children(h: &mut String, ctx: &Context, node: &Rollup, top: bool) {
    let headline = ctx.template.cells.first();
    let label = headline.map(|c| esc(&c.label)).unwrap_or_default();
    let _ = write!(
        h,
        "<div class=\"scroll\"><table class=\"children\"><tr><th>单位 org</th><th>名称 name</th><th>版本 version</th><th>审核 review</th><th>{label}</th>{}</tr>",
        if top && ctx.can_review {
            "<th></th>"
        } else {
            ""
        }
    );
    for child in &node.children {
        let review = child
            .review
            .map(|m| {
                format!(
                    "<span class=\"{}\">{}</span>",
                    m.state.as_str(),
                    m.state.label()
                )
            })
            .unwrap_or_default();
        let value = headline
            .map(|c| cell_text(child.cells.get(&c.code)))
            .unwrap_or_default();
        let action = if top && ctx.can_review {
            format!(
                "<td><a class=\"review\" href=\"/campaigns/{}/review/{}\">审核 review</a></td>",
                esc(ctx.campaign.id.as_str()),
                child.org
            )
        } else {
            String::new()
        };
        let _ = write!(
            h,
            "<tr data-org=\"{org}\"><td><a href=\"{}\">{org}</a></td><td>{}</td><td class=\"n\">{}</td><td>{review}</td><td class=\"n\">{value}</td>{action}</tr>",
            esc(&ctx.view.with_org(Some(&child.org))),
            esc(&child.name),
            child.version,
            org = child.org,
        );
    }
    h.push_str("</table></div>");
}

/// The findings about the unit in view (all of them at the top).
fn findings(h: &mut String, r: &Rollup, focus: Option<&OrgCode>) {
    let shown: Vec<&Issue> = r
        .issues
        .iter()
        .filter(|i| focus.is_none_or(|f| &i.org == f || i.via.as_ref() == Some(f)))
        .collect();
    if shown.is_empty() {
        return;
    }
    h.push_str("<h3>核对发现 Findings</h3><ul id=\"findings\">");
    for i in shown {
        let via = i
            .via
            .as_ref()
            .map(|v| format!(" (via {v})"))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<li><b>{}</b>{via} <code>{}</code> {}</li>",
            i.org,
            esc(&i.rule),
            esc(&i.detail)
        );
    }
    h.push_str("</ul>");
}
