//! `/`: the campaigns held at this hub, each with how many children have reported.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;
use bangfu_shared::org::OrgCode;

use super::DashboardState;
use super::access::Session;
use super::html::{esc, shell, top};
use crate::campaigns::{self, Campaign};
use crate::error::Error;
use crate::registry;
use crate::store::Store;

pub async fn page(who: Session, State(s): State<DashboardState>) -> Result<Html<String>, Error> {
    let list = campaigns::list(&s.hub.store).await?;
    let expected = registry::list(&s.hub.store).await?.len();
    let mut rows = Vec::with_capacity(list.len());
    for c in list {
        let received = received(&s.hub.store, c.id.as_str()).await?;
        rows.push((c, received, expected));
    }
    let certificates = crate::enrolment::certificate_warnings(&s.hub);
    Ok(Html(html(
        &s.hub.config.org,
        &s.hub.config.name,
        &who,
        &rows,
        &certificates,
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

/// The list of campaigns held at this hub, each with (children that reported, children registered),
/// after the certificates of the tree this hub knows of that end within 30 days (as `status` warns:
/// a certificate that ends unrenewed stops a county's reports, so staff must see it where they look).
pub fn html(
    org: &OrgCode,
    name: &str,
    who: &Session,
    list: &[(Campaign, usize, usize)],
    certificates: &[String],
) -> String {
    let mut body = format!(
        "{}<main><h1>{} ({org}) · 帮扶统计 bangfu</h1>",
        top(name, who),
        esc(name)
    );
    if !certificates.is_empty() {
        body.push_str(
            "<section id=\"certificates\"><h2>证书即将到期 Certificates ending soon</h2><ul>",
        );
        for line in certificates {
            let _ = write!(body, "<li class=\"late\">{}</li>", esc(line));
        }
        body.push_str("</ul></section>");
    }
    body.push_str("<h2>统计任务 Campaigns</h2>");
    if list.is_empty() {
        body.push_str("<p>暂无统计任务 / no campaigns yet</p>");
    } else {
        body.push_str("<div class=\"scroll\"><table id=\"campaigns\"><tr><th>任务 id</th><th>名称 title</th><th>报表 template</th><th>统计期 period</th><th>县级截止 county due</th><th>市级截止 prefecture due</th><th>已报 received</th></tr>");
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
        body.push_str("</table></div>");
    }
    body.push_str("</main>");
    shell(&format!("{name} · bangfu"), &body, false)
}
