//! The dashboard (CONTRACT.md: `bangfu-hub serve --http ADDR`): the hub's campaigns and, per
//! campaign, the live rollup for the people at this level: completeness and timeliness, every child
//! with its version and review state, drill-down to the units below a prefecture, what
//! reconciliation found, and every cell of the table.
//!
//! Served over plain HTTP on the address the operator gives (docs/decisions.md): it shows what the
//! rollup shows, which holds no household detail, and is meant for the office network or behind the
//! union's reverse proxy. Read-only: no route changes anything but the stored rollup versions, which
//! every rollup read records.
//!
//! Live: the page listens to `/campaigns/{id}/events` (server-sent events) and fetches the tree
//! fragment again on each event. An event goes out when the rollup's stored version changes: at once
//! after this process accepts a report ([`Changes::bump`]), and within [`POLL`] of a change another
//! process made (a review or a campaign change through the CLI).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, Version};
use bangfu_shared::template::Template;
use futures_util::stream::{self, Stream};
use tokio::sync::watch;

use crate::app::Hub;
use crate::campaigns::{self, Campaign};
use crate::error::Error;
use crate::registry;
use crate::rollup::{Rollup, RollupCell};
use crate::store::Store;

/// How often an open event stream looks for changes made by other processes.
pub const POLL: Duration = Duration::from_secs(2);

/// Tells open dashboards that something changed here (a counter; only its changes matter).
#[derive(Debug)]
pub struct Changes(watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Changes {
        Changes(watch::channel(0).0)
    }
}

impl Changes {
    /// Called after a child's report is accepted.
    pub fn bump(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// What the dashboard's handlers share.
#[derive(Clone)]
pub struct DashboardState {
    pub hub: Hub,
    pub changes: Arc<Changes>,
}

pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/campaigns/{id}", get(page))
        .route("/campaigns/{id}/tree", get(tree))
        .route("/campaigns/{id}/rollup.json", get(rollup_json))
        .route("/campaigns/{id}/events", get(events))
        .route(LIVE_JS, get(live_js))
        .route(STYLE_CSS, get(style_css))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state)
}

/// The page's script and style are served, not inline, so the Content-Security-Policy can forbid
/// inline script: text from a child that slipped past escaping could not run.
const LIVE_JS: &str = "/static/live.js";
const STYLE_CSS: &str = "/static/style.css";

/// Scripts, styles and connections from this origin only; no inline script, no framing, no forms.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn secure_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(CSP),
    );
    h.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    res
}

/// Keeps a campaign's page live: on every `rollup` event the tree fragment again (the campaign's id
/// is read from the page, `data-campaign`); the browser's EventSource reconnects by itself.
const LIVE: &str = "const tree=document.getElementById('tree');\
const id=encodeURIComponent(tree.dataset.campaign);\
const live=document.getElementById('live');\
const es=new EventSource('/campaigns/'+id+'/events');\
es.addEventListener('rollup',async()=>{const r=await fetch('/campaigns/'+id+'/tree');\
if(r.ok){tree.innerHTML=await r.text();}});\
es.onerror=()=>{live.textContent='连接中断，重连中 reconnecting';};\
es.onopen=()=>{live.textContent='实时 live';};";

async fn live_js() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        LIVE,
    )
        .into_response()
}

async fn style_css() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE,
    )
        .into_response()
}

async fn index(State(s): State<DashboardState>) -> Result<Html<String>, Error> {
    let list = campaigns::list(&s.hub.store).await?;
    let expected = registry::list(&s.hub.store).await?.len();
    let mut rows = Vec::with_capacity(list.len());
    for c in list {
        let received = received(&s.hub.store, c.id.as_str()).await?;
        rows.push((c, received, expected));
    }
    Ok(Html(index_html(
        &s.hub.config.org,
        &s.hub.config.name,
        &rows,
    )))
}

/// How many children sent any version of `campaign` (a count, not the rollup: the index lists every
/// campaign, and a rollup per campaign per view would be the expensive way to say it).
async fn received(store: &Store, campaign: &str) -> Result<usize, Error> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(DISTINCT org) FROM reports WHERE campaign = $1")
            .bind(campaign.to_string())
            .fetch_one(&store.pool)
            .await
            .map_err(crate::store::Error::from)?;
    Ok(n as usize)
}

async fn page(
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
) -> Result<Html<String>, Error> {
    let (campaign, template) = campaign(&s.hub.store, &id).await?;
    let r = s.hub.rollup(&id).await?;
    let names = names(&s.hub.store).await?;
    // The overdue children and what they were sent (issue 15), below the tree.
    let overdue = crate::reminders::overdue_html(&s.hub, &campaign).await?;
    Ok(Html(page_html(
        &campaign,
        &format!("{}{overdue}", tree_html(&r, &template, &names)),
    )))
}

async fn tree(
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
) -> Result<Html<String>, Error> {
    let (c, template) = campaign(&s.hub.store, &id).await?;
    let r = s.hub.rollup(&id).await?;
    let overdue = crate::reminders::overdue_html(&s.hub, &c).await?;
    Ok(Html(format!(
        "{}{overdue}",
        tree_html(&r, &template, &names(&s.hub.store).await?)
    )))
}

async fn rollup_json(
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
) -> Result<Response, Error> {
    Ok(Json(s.hub.rollup(&id).await?).into_response())
}

/// `event: rollup` with `{"version", "received", "expected"}` now, and again whenever the stored
/// rollup version changes.
async fn events(
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    campaign(&s.hub.store, &id).await?;
    let changes = s.changes.0.subscribe();
    let stream = stream::unfold(
        (s, id, changes, None::<Version>),
        |(s, id, mut changes, last)| async move {
            loop {
                if last.is_some() {
                    // Woken by an accepted report, or by the poll for other processes' changes.
                    let _ = tokio::time::timeout(POLL, changes.changed()).await;
                }
                let r = match s.hub.rollup(&id).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(campaign = %id, error = %e, "dashboard: cannot compute the rollup; retrying");
                        tokio::time::sleep(POLL).await;
                        continue;
                    }
                };
                if last == Some(r.version) {
                    continue;
                }
                let c = r.completeness.as_ref();
                let data = serde_json::json!({
                    "version": r.version,
                    "received": c.map_or(0, |c| c.received),
                    "expected": c.map_or(0, |c| c.expected),
                });
                let event = Event::default().event("rollup").data(data.to_string());
                return Some((Ok(event), (s, id, changes, Some(r.version))));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn campaign(store: &Store, id: &CampaignId) -> Result<(Campaign, Arc<Template>), Error> {
    let c = campaigns::get(store, id.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("no campaign `{id}`")))?;
    let t = campaigns::template_of(&c)
        .map_err(|e| Error::Unprocessable(format!("the campaign's template does not load: {e}")))?;
    Ok((c, t))
}

/// The registered children's names, for the missing ones (the rollup names only those that reported).
async fn names(store: &Store) -> Result<Vec<(OrgCode, String)>, Error> {
    Ok(registry::list(store)
        .await?
        .into_iter()
        .map(|o| (o.code, o.name))
        .collect())
}

/// Text for HTML, its control characters shown as escapes (as on the command line).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in bangfu_shared::printable::printable(s).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A cell as a person reads it: the value, a range `L – U` (`L –` when unbounded), or 不公布.
fn cell_text(c: Option<&RollupCell>) -> String {
    match c {
        Some(RollupCell::Value { value }) => value.to_string(),
        Some(RollupCell::Range {
            lower,
            upper: Some(u),
        }) => format!("{lower} – {u}"),
        Some(RollupCell::Range { lower, upper: None }) => format!("≥ {lower}"),
        Some(RollupCell::Suppressed { .. }) => "不公布 withheld".into(),
        None => "—".into(),
    }
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.late{color:#a40}.missing{color:#a00}\
.returned{color:#a00}.accepted{color:#070}details{margin:.3rem 0}";

fn shell(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><link rel=\"stylesheet\" href=\"{STYLE_CSS}\"></head><body>{body}{script}</body></html>",
        esc(title)
    )
}

/// The list of campaigns held at this hub, each with (children that reported, children registered).
pub fn index_html(org: &OrgCode, name: &str, list: &[(Campaign, usize, usize)]) -> String {
    let mut body = format!(
        "<h1>{} ({org}) · 帮扶统计 bangfu</h1><h2>统计任务 Campaigns</h2>",
        esc(name)
    );
    if list.is_empty() {
        body.push_str("<p>暂无统计任务 / no campaigns yet</p>");
    } else {
        body.push_str("<table><tr><th>任务 id</th><th>名称 title</th><th>报表 template</th><th>统计期 period</th><th>县级截止 county due</th><th>市级截止 prefecture due</th><th>已报 received</th></tr>");
        for (c, received, expected) in list {
            let _ = write!(
                body,
                "<tr><td><a href=\"/campaigns/{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td><td class=\"n\">{received} / {expected}</td></tr>",
                esc(&c.title),
                esc(&c.template),
                c.start,
                c.end,
                c.due.county,
                c.due.prefecture,
                id = esc(c.id.as_str()),
            );
        }
        body.push_str("</table>");
    }
    shell(&format!("{name} · bangfu"), &body, "")
}

/// A campaign's page: the tree now, and the script that keeps it live.
pub fn page_html(c: &Campaign, tree: &str) -> String {
    let id = esc(c.id.as_str());
    let body = format!(
        "<p><a href=\"/\">← 统计任务 campaigns</a></p><h1>{} <small>({id})</small></h1>\
         <p>统计期 {} – {}；截止 县级 {} · 市级 {}{} · <span id=\"live\">连接中 connecting</span></p><div id=\"tree\" data-campaign=\"{id}\">{tree}</div>",
        esc(&c.title),
        c.start,
        c.end,
        c.due.county,
        c.due.prefecture,
        c.due
            .province
            .map(|d| format!(" · 省级 {d}"))
            .unwrap_or_default(),
    );
    let script = format!("<script src=\"{LIVE_JS}\"></script>");
    shell(&c.title, &body, &script)
}

/// The rollup as HTML: completeness, children (with their own children folded), findings, cells.
/// `names`: the registered children, to name the missing ones.
pub fn tree_html(r: &Rollup, t: &Template, names: &[(OrgCode, String)]) -> String {
    let headline = t.cells.first();
    let mut h = String::new();
    let _ = write!(
        h,
        "<h2>{} ({}) · 汇总第 {} 版 rollup version {}</h2>",
        esc(&r.name),
        r.org,
        r.version,
        r.version
    );
    if let Some(c) = &r.completeness {
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
    if let Some(cell) = headline {
        let _ = write!(
            h,
            "<p>{} <b>{}</b> {}</p>",
            esc(&cell.label),
            cell_text(r.cells.get(&cell.code)),
            esc(&cell.unit)
        );
    }
    h.push_str("<h3>下级 Children</h3>");
    children_html(&mut h, r, t);
    if !r.issues.is_empty() {
        h.push_str("<h3>核对发现 Findings</h3><ul id=\"findings\">");
        for i in &r.issues {
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
    h.push_str("<details><summary>全部指标 All cells</summary><table><tr><th>代码 code</th><th>指标 cell</th><th>单位 unit</th><th>汇总 total</th></tr>");
    for cell in &t.cells {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&cell.code),
            esc(&cell.label),
            esc(&cell.unit),
            cell_text(r.cells.get(&cell.code))
        );
    }
    h.push_str("</table></details>");
    h
}

/// The children as a table; a child with children of its own (a prefecture) folds out below.
fn children_html(h: &mut String, r: &Rollup, t: &Template) {
    if r.children.is_empty() {
        h.push_str("<p>尚无下级上报 / nothing received yet</p>");
        return;
    }
    let headline = t.cells.first();
    let label = headline.map(|c| esc(&c.label)).unwrap_or_default();
    let _ = write!(
        h,
        "<table class=\"children\"><tr><th>单位 org</th><th>名称 name</th><th>版本 version</th><th>审核 review</th><th>{label}</th></tr>"
    );
    for child in &r.children {
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
        let _ = write!(
            h,
            "<tr data-org=\"{org}\"><td>{org}</td><td>{}</td><td class=\"n\">{}</td><td>{review}</td><td class=\"n\">{value}</td></tr>",
            esc(&child.name),
            child.version,
            org = child.org,
        );
    }
    h.push_str("</table>");
    for child in r.children.iter().filter(|c| !c.children.is_empty()) {
        let _ = write!(
            h,
            "<details><summary>{} ({}) 的下级 units below</summary>",
            esc(&child.name),
            child.org
        );
        children_html(h, child, t);
        h.push_str("</details>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_cell_reads_as_value_range_or_withheld() {
        use bangfu_shared::decimal::Decimal;
        let d = |n| Decimal::new(n, 0);
        assert_eq!(cell_text(Some(&RollupCell::Value { value: d(12) })), "12");
        assert_eq!(
            cell_text(Some(&RollupCell::Range {
                lower: d(3),
                upper: Some(d(9))
            })),
            "3 – 9"
        );
        assert_eq!(
            cell_text(Some(&RollupCell::Range {
                lower: d(3),
                upper: None
            })),
            "≥ 3"
        );
        assert_eq!(cell_text(None), "—");
    }
}
