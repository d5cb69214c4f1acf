//! What leaves: the campaign's report exactly as the parent would receive it now (the same
//! [`reporting::for_campaign`] `push` sends), each withheld cell explained in plain words, the rules
//! it breaks, and every version sent with where it stands (from the outbox) and the parent's review.

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bangfu_shared::protocol::{CampaignId, Version};
use bangfu_shared::report::Report;
use bangfu_shared::template::{Cell, Template};
use bangfu_web::Session;
use bangfu_web::http::esc;
use serde::Deserialize;

use super::{Ui, failure, home, page};
use crate::settings::Settings;
use crate::{outbox, reporting, reviews};

pub fn router() -> Router<Ui> {
    Router::new()
        .route("/campaigns/{id}/report", get(report_page))
        .route("/campaigns/{id}/report.json", get(report_json))
}

/// A cell as the parent reads it, and why it reads so.
fn shown(report: &Report, cell: &Cell) -> (String, Option<String>) {
    let k = report.threshold;
    match report.cells.get(&cell.code) {
        None => (
            String::new(),
            Some("尚未填写，不会报出 / not filled in: not sent".into()),
        ),
        Some(c) if c.is_suppressed() && cell.is_money() => (
            "不公布".into(),
            Some(format!(
                "这笔金额涉及的家庭少于 {k} 户，公布金额可能让人推知具体家庭得到多少，所以不报出具体数 / fewer than {k} households share this amount, so it is withheld"
            )),
        ),
        Some(c) if c.is_suppressed() => (
            format!("<{k}"),
            Some(format!(
                "实际数小于 {k}，这么小的数可能让人认出具体是哪几户，所以只报“少于 {k}” / a count below {k} could point to particular households, so only \"fewer than {k}\" is sent"
            )),
        ),
        Some(c) => match (c.value(), c.range()) {
            (Some(v), _) => (v.to_string(), None),
            (None, Some((lo, hi))) => (
                format!("{lo}–{hi}"),
                Some("报一个范围而不是确数：否则上级可以用合计减去其他格，算出被隐藏的小数 / sent as a range: the exact figure would let the parent subtract its way to a withheld cell".into()),
            ),
            (None, None) => (String::new(), None),
        },
    }
}

async fn build(ui: &Ui, id: &str) -> Result<(Report, Template), String> {
    let vocabulary = Settings::vocabulary(&ui.data).map_err(|e| e.to_string())?;
    reporting::for_campaign(
        &ui.archive,
        &ui.data,
        &ui.settings.org,
        &vocabulary,
        id,
        Version::default(),
    )
    .await
    .map_err(|e| e.to_string())
}

#[derive(Deserialize, Default)]
struct ReportQuery {
    said: Option<String>,
}

async fn report_page(
    State(ui): State<Ui>,
    session: Session,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let Ok(id) = CampaignId::parse(&id) else {
        return (StatusCode::NOT_FOUND, "没有这个填报任务 / no such campaign").into_response();
    };
    let (report, table) = match build(&ui, id.as_str()).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::NOT_FOUND, e).into_response(),
    };
    let (entries, reviews) = match tokio::try_join!(
        async {
            outbox::entries(&ui.archive)
                .await
                .map_err(|e| e.to_string())
        },
        async { reviews::list(&ui.archive).await.map_err(|e| e.to_string()) },
    ) {
        Ok(x) => x,
        Err(e) => return failure("读取报送记录", &e),
    };
    let mut body = String::new();
    if let Some(said) = &q.said {
        let class =
            if said.starts_with("未报送") || said.contains("失败") || said.contains("refused")
            {
                "error"
            } else {
                "done"
            };
        body.push_str(&format!(
            "<div class=\"msg {class}\" id=\"submitted\">{}</div>",
            esc(said)
        ));
    }
    body.push_str(&format!(
        "<p>下表就是报给上级的内容（{org}，截至 {as_of}）；带说明的格不报确数。<br><small class=\"muted\">This is what the parent receives; cells with a note are not sent as exact figures.</small> · <a href=\"/campaigns/{id}\">填报 / fill in</a> · <a href=\"/campaigns/{id}/report.json\">JSON</a></p>",
        org = esc(&ui.settings.name),
        as_of = report.as_of,
        id = esc(id.as_str()),
    ));
    let rows = table.cells.iter().map(|cell| {
        let (value, why) = shown(&report, cell);
        vec![
            esc(&cell.code),
            esc(&cell.label),
            format!(
                "<span class=\"num\">{}</span> {}",
                esc(&value),
                esc(&cell.unit)
            ),
            why.map(|w| format!("<span class=\"withheld\">{}</span>", esc(&w)))
                .unwrap_or_default(),
        ]
    });
    body.push_str(&format!(
        "<section id=\"report\">{}</section>",
        page::table(
            &["代码 Code", "指标 Item", "报出 Sent as", "说明 Why"],
            rows
        )
    ));
    if !report.failed_rules.is_empty() {
        body.push_str("<section><h2>不符合的规则 <small>Rules broken</small></h2><ul>");
        for f in &report.failed_rules {
            body.push_str(&format!(
                "<li class=\"bad\">{} — {}</li>",
                esc(&f.rule),
                esc(&f.detail)
            ));
        }
        body.push_str("</ul></section>");
    }

    let mine: Vec<&outbox::Entry> = entries
        .iter()
        .filter(|e| e.campaign == id.as_str())
        .collect();
    let rows = mine.iter().rev().map(|e| {
        let review = reviews
            .iter()
            .find(|r| r.campaign == id && r.version.to_string() == e.version.to_string())
            .map(|r| esc(&reviews::describe(r)))
            .unwrap_or_default();
        vec![
            format!("第 {} 版 v{}", e.version, e.version),
            format!(
                "<span class=\"state\">{}</span>",
                esc(&home::state_words(&e.state))
            ),
            e.attempts.to_string(),
            e.acked_at.as_deref().map(esc).unwrap_or_default(),
            e.last_error.as_deref().map(esc).unwrap_or_default(),
            review,
        ]
    });
    body.push_str(&format!(
        "<section id=\"versions\"><h2>已生成的版本 <small>Versions</small></h2>{}</section>",
        page::table(
            &[
                "版本 Version",
                "状态 State",
                "尝试 Attempts",
                "送达 Acked",
                "错误 Error",
                "审核 Review"
            ],
            rows
        )
    ));
    let title = format!("报出内容 / What leaves: {}", id);
    page::render(&ui, &session, &title, &body).into_response()
}

async fn report_json(
    State(ui): State<Ui>,
    _session: Session,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let Ok(id) = CampaignId::parse(&id) else {
        return (StatusCode::NOT_FOUND, "no such campaign").into_response();
    };
    match build(&ui, id.as_str()).await {
        Ok((report, _)) => axum::Json(report).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}
