//! Review (审核) in the browser: `/campaigns/{id}/review/{org}` shows a child's latest report, every
//! cell beside its previous version and its report on the same table's previous campaign, with the
//! findings next to the cells they concern; a reviewer accepts it or returns it with a reason
//! (`…/decision`, a CSRF-checked form). The decision is [`crate::review::decide`], the same code as
//! `bangfu-hub review`, so it is stored, sent up and read by the county the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, Version};
use bangfu_shared::report::Report;
use bangfu_shared::template::Template;
use serde::Deserialize;

use super::DashboardState;
use super::access::{self, Session};
use super::campaign::campaign;
use super::html::{cell_text, esc, shell, top};
use crate::campaigns::{self, Campaign};
use crate::error::Error;
use crate::review::{self, Decision, Review};
use crate::rollup::{Issue, RollupCell};
use crate::store::{self, Store};

/// The role that may decide (an admin may too).
pub const ROLE: &str = "reviewer";

#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    /// Set after a decision: `accepted` or `returned`.
    pub decided: Option<String>,
}

pub async fn page(
    who: Session,
    State(s): State<DashboardState>,
    Path((id, org)): Path<(CampaignId, String)>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, Error> {
    let org = parse_org(&org)?;
    Ok(Html(
        render(&s, &who, &id, &org, flash.decided.as_deref(), None).await?,
    ))
}

/// The review form's fields.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    /// Checked by the session layer too; read here so a form without it is refused in any case.
    #[serde(default)]
    pub csrf: String,
    /// The version the reviewer saw: a newer one that arrived meanwhile is not decided unseen.
    pub version: u32,
    /// `accept` or `return`.
    pub decision: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn decide(
    who: Session,
    State(s): State<DashboardState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path((id, org)): Path<(CampaignId, String)>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, Response> {
    if !who.has(ROLE) {
        return Err((
            StatusCode::FORBIDDEN,
            "只有审核员可以审核 / only a reviewer may review",
        )
            .into_response());
    }
    who.check_csrf(&form.csrf)
        .map_err(IntoResponse::into_response)?;
    let org = parse_org(&org).map_err(IntoResponse::into_response)?;
    let decision = match form.decision.as_str() {
        "accept" => Decision::Accept,
        "return" => Decision::Return(form.reason.clone()),
        other => {
            return Err(Error::BadRequest(format!(
                "decision `{}`: accept or return / 未知的审核结论",
                other.escape_debug()
            ))
            .into_response());
        }
    };
    let version = Version::new(form.version);
    match review::decide(
        &s.hub.store,
        &id,
        &org,
        Some(version),
        &decision,
        s.hub.now(),
    )
    .await
    {
        Ok(r) => {
            access::audit_decision(
                &s,
                &who,
                client.map(|Extension(c)| c),
                &format!(
                    "{} {org} v{} on {id}{}",
                    r.state,
                    r.version,
                    r.reason
                        .as_deref()
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                ),
            )
            .await;
            // The rollup carries review states: open pages redraw, and the report sent up changes.
            s.live.bump();
            Ok(Redirect::to(&format!(
                "/campaigns/{}/review/{org}?decided={}",
                utf8(id.as_str()),
                r.state.as_str()
            ))
            .into_response())
        }
        Err(review::Error::Store(e)) => Err(Error::Store(e).into_response()),
        Err(e) => {
            // Refused (no reason, too long, a version not held…): the page again, saying why.
            let page = render(&s, &who, &id, &org, None, Some(&e.to_string()))
                .await
                .map_err(IntoResponse::into_response)?;
            Err((StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response())
        }
    }
}

fn utf8(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn parse_org(raw: &str) -> Result<OrgCode, Error> {
    OrgCode::parse(raw).map_err(|e| Error::BadRequest(format!("org `{}`: {e}", raw.escape_debug())))
}

/// A child's stored report, by version.
async fn report(
    store: &Store,
    campaign: &str,
    org: &OrgCode,
    version: Option<i64>,
) -> Result<Option<Report>, Error> {
    let row: Option<(String,)> = match version {
        Some(v) => sqlx::query_as(
            "SELECT body FROM reports WHERE campaign = $1 AND org = $2 AND version = $3",
        )
        .bind(campaign.to_string())
        .bind(org.as_str().to_string())
        .bind(v)
        .fetch_optional(&store.pool)
        .await,
        None => sqlx::query_as(
            "SELECT body FROM reports WHERE campaign = $1 AND org = $2 ORDER BY version DESC LIMIT 1",
        )
        .bind(campaign.to_string())
        .bind(org.as_str().to_string())
        .fetch_optional(&store.pool)
        .await,
    }
    .map_err(store::Error::from)?;
    row.map(|(body,)| {
        serde_json::from_str(&body).map_err(|e| {
            Error::Store(store::Error::Corrupt(format!(
                "a stored report of {org}: {e}"
            )))
        })
    })
    .transpose()
}

/// The same template's previous campaign (by end date), as the rollup's outlier check picks it.
async fn previous_campaign(store: &Store, c: &Campaign) -> Result<Option<Campaign>, Error> {
    Ok(campaigns::list(store)
        .await?
        .into_iter()
        .filter(|p| p.template == c.template && p.end < c.end)
        .max_by(|a, b| (a.end, &a.id).cmp(&(b.end, &b.id))))
}

fn received(c: &bangfu_shared::report::Cell) -> RollupCell {
    match (c.value(), c.range()) {
        (Some(value), _) => RollupCell::Value { value },
        (None, Some((lower, upper))) => RollupCell::Range {
            lower,
            upper: Some(upper),
        },
        _ => RollupCell::Suppressed { suppressed: true },
    }
}

async fn render(
    s: &DashboardState,
    who: &Session,
    id: &CampaignId,
    org: &OrgCode,
    decided: Option<&str>,
    refused: Option<&str>,
) -> Result<String, Error> {
    let store = &s.hub.store;
    let (c, t) = campaign(store, id).await?;
    let name = crate::registry::list(store)
        .await?
        .into_iter()
        .find(|o| &o.code == org)
        .map(|o| o.name)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{org} is not a registered child of this hub / 不是本级下级单位"
            ))
        })?;
    let Some(latest) = report(store, id.as_str(), org, None).await? else {
        return Err(Error::NotFound(format!(
            "no report from {org} on `{id}` yet / 尚未收到该单位的报表"
        )));
    };
    let before = match latest.version.get() {
        1 => None,
        v => report(store, id.as_str(), org, Some(i64::from(v) - 1)).await?,
    };
    let prev = previous_campaign(store, &c).await?;
    let last_time = match &prev {
        Some(p) => report(store, p.id.as_str(), org, None).await?,
        None => None,
    };
    let rollup = s.live.rollup(id).await?;
    let issues: Vec<&Issue> = rollup
        .issues
        .iter()
        .filter(|i| &i.org == org && i.via.is_none())
        .collect();
    let state = review::current(store, id, org).await?;
    let history = review::history(store, id, org).await?;
    let mut h = String::new();
    let _ = write!(
        h,
        "{}<main><p><a href=\"/campaigns/{}\">← {}</a></p><h1>审核 Review: {} ({org}) · 第 {} 版</h1>",
        top(&s.hub.config.name, who),
        esc(&utf8(id.as_str())),
        esc(&c.title),
        esc(&name),
        latest.version
    );
    if let Some(d) = decided {
        let _ = write!(
            h,
            "<p class=\"done\" id=\"decided\">已记录 recorded: {}</p>",
            esc(d)
        );
    }
    if let Some(e) = refused {
        let _ = write!(
            h,
            "<p class=\"missing\" id=\"refused\">未记录 not recorded: {}</p>",
            esc(e)
        );
    }
    state_html(&mut h, state.as_ref(), &history);
    let general: Vec<&&Issue> = issues.iter().filter(|i| i.cells.is_empty()).collect();
    if !general.is_empty() {
        h.push_str("<h3>核对发现 Findings</h3><ul id=\"findings\">");
        for i in general {
            let _ = write!(
                h,
                "<li><code>{}</code> {}</li>",
                esc(&i.rule),
                esc(&i.detail)
            );
        }
        h.push_str("</ul>");
    }
    if who.has(ROLE) {
        form(&mut h, who, id, org, latest.version);
    } else {
        h.push_str("<p class=\"note\" id=\"viewer\">只读：审核需要审核员权限 / read only: reviewing needs the reviewer role</p>");
    }
    table(
        &mut h,
        &t,
        &latest,
        before.as_ref(),
        last_time.as_ref(),
        prev.as_ref(),
        &issues,
    );
    h.push_str("</main>");
    Ok(shell(&format!("审核 {name}"), &h, false))
}

fn state_html(h: &mut String, state: Option<&Review>, history: &[Review]) {
    if let Some(r) = state {
        let _ = write!(
            h,
            "<p id=\"state\">当前状态 state: <span class=\"{}\">{}</span>{}</p>",
            r.state.as_str(),
            r.state.label(),
            r.reason
                .as_deref()
                .map(|x| format!(" — {}", esc(x)))
                .unwrap_or_default()
        );
    }
    if !history.is_empty() {
        h.push_str("<details><summary>审核记录 history</summary><ul>");
        for r in history {
            let _ = write!(
                h,
                "<li>第 {} 版 · {} · {}{}</li>",
                r.version,
                r.state.label(),
                esc(r.at.as_deref().unwrap_or("")),
                r.reason
                    .as_deref()
                    .map(|x| format!(" — {}", esc(x)))
                    .unwrap_or_default()
            );
        }
        h.push_str("</ul></details>");
    }
}

fn form(h: &mut String, who: &Session, id: &CampaignId, org: &OrgCode, version: Version) {
    let _ = write!(
        h,
        "<form class=\"review\" method=\"post\" action=\"/campaigns/{}/review/{org}/decision\">{}\
         <input type=\"hidden\" name=\"version\" value=\"{version}\">\
         <label for=\"reason\">退回原因 reason for a return（退回时必填，最多 {} 字）</label>\
         <textarea id=\"reason\" name=\"reason\" maxlength=\"{}\"></textarea>\
         <p><button name=\"decision\" value=\"accept\" id=\"accept\">核准 accept</button>\
         <button name=\"decision\" value=\"return\" id=\"return\">退回 return</button></p></form>",
        esc(&utf8(id.as_str())),
        who.csrf_field(),
        review::MAX_REASON,
        review::MAX_REASON
    );
}

/// Every cell: this version, the previous version, the previous campaign, and the findings about it.
fn table(
    h: &mut String,
    t: &Template,
    latest: &Report,
    before: Option<&Report>,
    last_time: Option<&Report>,
    prev: Option<&Campaign>,
    issues: &[&Issue],
) {
    let mut by_cell: BTreeMap<&str, Vec<&Issue>> = BTreeMap::new();
    for i in issues {
        for c in &i.cells {
            by_cell.entry(c.as_str()).or_default().push(i);
        }
    }
    let _ = write!(
        h,
        "<h3>报表 The table</h3><div class=\"scroll\"><table id=\"review-table\"><tr><th>代码 code</th><th>指标 cell</th><th>单位</th>\
         <th>本版 v{}</th><th>上一版 {}</th><th>上期 {}</th><th>核对发现 findings</th></tr>",
        latest.version,
        before.map_or("—".to_string(), |b| format!("v{}", b.version)),
        prev.map_or("—".to_string(), |p| esc(p.id.as_str()))
    );
    let text = |r: Option<&Report>, code: &str| match r {
        Some(r) => cell_text(r.cells.get(code).map(received).as_ref()),
        None => "—".into(),
    };
    for c in &t.cells {
        let found = by_cell.get(c.code.as_str());
        let now = text(Some(latest), &c.code);
        let was = text(before, &c.code);
        let changed = before.is_some() && was != now;
        let _ = write!(
            h,
            "<tr data-cell=\"{}\"{}><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}{now}{}</td><td class=\"n\">{was}</td><td class=\"n\">{}</td><td>",
            esc(&c.code),
            if found.is_some() {
                " class=\"flagged\""
            } else {
                ""
            },
            esc(&c.code),
            esc(&c.label),
            esc(&c.unit),
            if changed { "<b>" } else { "" },
            if changed { "</b>" } else { "" },
            text(last_time, &c.code),
        );
        for i in found.into_iter().flatten() {
            let _ = write!(
                h,
                "<div class=\"finding\"><code>{}</code> {}</div>",
                esc(&i.rule),
                esc(&i.detail)
            );
        }
        h.push_str("</td></tr>");
    }
    h.push_str("</table></div>");
}
