//! The archive for the office: counts by category and status, the eligibility warnings (精准识别)
//! with the rule that fired, a search by 职工编号 or name, and one household's record. Every search
//! and every view of a household is written to the access log (`web_audit`) with user and time.

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bangfu_web::Session;
use bangfu_web::http::esc;
use serde::Deserialize;
use sqlx::{AssertSqlSafe, Row};

use super::{Ui, failure, page};
use crate::columns::Kind;
use crate::eligibility;

/// Eligibility warnings shown on the page (all are counted).
const SHOWN_WARNINGS: usize = 100;
/// Households a search lists at most.
const SEARCH_LIMIT: i64 = 50;
/// Columns kept in fen, shown in 元.
const FEN: [&str; 7] = [
    "personal_income",
    "household_income",
    "household_expense",
    "medical_expense",
    "tuition",
    "income",
    "amount",
];

pub fn router() -> Router<Ui> {
    Router::new()
        .route("/archive", get(overview))
        .route("/archive/search", get(search))
        .route("/archive/households/{staff_no}", get(household))
}

fn search_form(q: &str) -> String {
    format!(
        r#"<form method="get" action="/archive/search" class="actions"><input type="search" name="q" value="{}" placeholder="职工编号或姓名 / staff no. or name" required><button type="submit">查询 / Search</button></form>"#,
        esc(q)
    )
}

async fn overview(State(ui): State<Ui>, session: Session) -> Response {
    let counts = match sqlx::query(
        "SELECT category, status, count(*) FROM households GROUP BY category, status ORDER BY category, status",
    )
    .fetch_all(ui.archive.pool())
    .await
    {
        Ok(rows) => rows,
        Err(e) => return failure("读取档案", &e),
    };
    let rules = ui.settings.eligibility;
    let warnings = match eligibility::check(&ui.archive, &rules).await {
        Ok(w) => w,
        Err(e) => return failure("精准识别", &e),
    };
    let mut body = format!("<section>{}</section>", search_form(""));
    let rows = counts.iter().map(|r| {
        vec![
            esc(r.get::<&str, _>(0)),
            esc(r.get::<&str, _>(1)),
            format!("<span class=\"num\">{}</span>", r.get::<i64, _>(2)),
        ]
    });
    body.push_str(&format!(
        "<section><h2>按困难类别和档案状态 <small>By category and status</small></h2>{}</section>",
        page::table(
            &["困难类别 Category", "档案状态 Status", "户数 Households"],
            rows
        )
    ));
    let gone = warnings.iter().filter(|w| w.derived.is_none()).count();
    body.push_str(&format!(
        "<section id=\"eligibility\"><h2>精准识别 <small>Eligibility</small></h2><p>{} 户需核实 / households to review: {} 类别不符 / category disagrees, {} 已不符合条件 / no longer qualify. 规则 / rule: 人均月收入低于低保线 {} 元为低保户，低于 {:.0} 元为低保边缘户 / per-capita monthly income below the 低保 line is 低保户, below the edge 低保边缘户.</p>",
        warnings.len(),
        warnings.len() - gone,
        gone,
        rules.dibao_line,
        rules.dibao_line * rules.edge_ratio,
    ));
    let rows = warnings.iter().take(SHOWN_WARNINGS).map(|w| {
        vec![
            format!(
                "<a href=\"/archive/households/{s}\">{s}</a>",
                s = esc(&w.staff_no)
            ),
            esc(&w.recorded),
            w.derived
                .map(|d| format!("应为 / should be {}", esc(d)))
                .unwrap_or_else(|| "已不符合条件 / no longer qualifies".into()),
            format!("{:.2}", w.per_capita_monthly),
        ]
    });
    body.push_str(&page::table(
        &[
            "职工编号 Staff no.",
            "记录类别 Recorded",
            "规则结果 Rule says",
            "人均月收入 元",
        ],
        rows,
    ));
    body.push_str("</section>");
    page::render(&ui, &session, "档案 / Archive", &body).into_response()
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(State(ui): State<Ui>, session: Session, Query(sq): Query<SearchQuery>) -> Response {
    let q = sq.q.trim().to_string();
    let mut body = format!("<section>{}</section>", search_form(&q));
    if q.is_empty() {
        return page::render(&ui, &session, "档案查询 / Search", &body).into_response();
    }
    if let Err(e) = ui
        .accounts
        .audit(&session.user, &session.client, "household_search", &q)
        .await
    {
        return failure("写访问记录", &e);
    }
    let rows = match sqlx::query(
        "SELECT staff_no, name, category, status FROM households \
         WHERE staff_no = ?1 OR name = ?1 OR name LIKE ?2 ORDER BY staff_no LIMIT ?3",
    )
    .bind(&q)
    .bind(format!("{}%", q.replace(['%', '_'], "")))
    .bind(SEARCH_LIMIT)
    .fetch_all(ui.archive.pool())
    .await
    {
        Ok(r) => r,
        Err(e) => return failure("查询档案", &e),
    };
    let list = rows.iter().map(|r| {
        vec![
            format!(
                "<a href=\"/archive/households/{s}\">{s}</a>",
                s = esc(r.get::<&str, _>(0))
            ),
            esc(r.get::<&str, _>(1)),
            esc(r.get::<&str, _>(2)),
            esc(r.get::<&str, _>(3)),
        ]
    });
    body.push_str(&format!(
        "<section id=\"results\">{}</section>",
        page::table(
            &[
                "职工编号 Staff no.",
                "姓名 Name",
                "困难类别 Category",
                "档案状态 Status"
            ],
            list
        )
    ));
    page::render(&ui, &session, "档案查询 / Search", &body).into_response()
}

/// `SELECT CAST(a AS TEXT), …` for a kind's columns: one text per column, money still in fen.
fn select_text(kind: Kind, table: &str, extra: &str) -> String {
    let cols: Vec<String> = kind
        .columns()
        .iter()
        .map(|c| format!("CAST({} AS TEXT)", c.key))
        .collect();
    format!(
        "SELECT {} FROM {table} WHERE staff_no = ? {extra}",
        cols.join(", ")
    )
}

fn shown(key: &str, raw: Option<String>) -> String {
    match raw {
        None => String::new(),
        Some(v) if FEN.contains(&key) => match v.parse::<i64>() {
            Ok(fen) => format!("{:.2} 元", fen as f64 / 100.0),
            Err(_) => esc(&v),
        },
        Some(v) => esc(&v),
    }
}

async fn household(
    State(ui): State<Ui>,
    session: Session,
    UrlPath(staff_no): UrlPath<String>,
) -> Response {
    let pool = ui.archive.pool();
    let row = match sqlx::query(AssertSqlSafe(select_text(
        Kind::Households,
        "households",
        "",
    )))
    .bind(&staff_no)
    .fetch_optional(pool)
    .await
    {
        Ok(r) => r,
        Err(e) => return failure("读取档案", &e),
    };
    let Some(row) = row else {
        return (
            StatusCode::NOT_FOUND,
            "档案中没有这个职工编号 / no such household",
        )
            .into_response();
    };
    // Logged before anything of the record is sent: no view goes unrecorded.
    if let Err(e) = ui
        .accounts
        .record_household_view(&session.user, &session.client, &staff_no)
        .await
    {
        return failure("写访问记录", &e);
    }
    let mut body = String::from("<section><dl class=\"kv\" id=\"household\">");
    for (i, c) in Kind::Households.columns().iter().enumerate() {
        body.push_str(&format!(
            "<dt>{}</dt><dd>{}</dd>",
            esc(c.zh),
            shown(c.key, row.get::<Option<String>, _>(i))
        ));
    }
    body.push_str("</dl></section>");
    for (kind, table, title, order) in [
        (
            Kind::Members,
            "members",
            "家庭成员 <small>Members</small>",
            "ORDER BY relation, name",
        ),
        (
            Kind::Aid,
            "aid",
            "帮扶记录 <small>Aid records</small>",
            "ORDER BY date",
        ),
    ] {
        let rows = match sqlx::query(AssertSqlSafe(select_text(kind, table, order)))
            .bind(&staff_no)
            .fetch_all(pool)
            .await
        {
            Ok(r) => r,
            Err(e) => return failure("读取档案", &e),
        };
        let head: Vec<&str> = kind.columns().iter().map(|c| c.zh).collect();
        let list = rows.iter().map(|r| {
            kind.columns()
                .iter()
                .enumerate()
                .map(|(i, c)| shown(c.key, r.get::<Option<String>, _>(i)))
                .collect()
        });
        body.push_str(&format!(
            "<section><h2>{title}</h2>{}</section>",
            page::table(&head, list)
        ));
    }
    body.push_str(
        "<p class=\"muted\">本次查看已记入访问记录 / this view is in the access log.</p>",
    );
    let title = format!("档案 / Household {staff_no}");
    page::render(&ui, &session, &title, &body).into_response()
}
