//! 填报: a campaign's typed-in cells as a form laid out like the seed table (sections, labels,
//! units, 其中 lines indented), the computed cells read-only beside them, the table's rules listed
//! with the cells they read (checked again as the clerk types by /static/ui.js, and on every save
//! here). `POST /campaigns/{id}/figures` saves the figures as `bangfu-node enter` does
//! ([`campaigns::enter`]); with `action=submit` it then versions the report and pushes it as
//! `bangfu-node push` does.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use bangfu_shared::aggregate::{self, Aggregates, Period};
use bangfu_shared::decimal::Decimal;
use bangfu_shared::protocol::{CampaignId, ReviewState};
use bangfu_shared::rules;
use bangfu_shared::template::{self, Template};
use bangfu_web::Session;
use bangfu_web::http::esc;
use serde::Deserialize;

use super::{Ui, failure, home, page};
use crate::settings::Settings;
use crate::{campaigns, daemon, facts, outbox, reviews};

pub fn router() -> Router<Ui> {
    Router::new()
        .route("/campaigns", get(list))
        .route("/campaigns/{id}", get(form))
        .route("/campaigns/{id}/figures", post(save))
}

async fn list(State(ui): State<Ui>, session: Session) -> Response {
    let all = match campaigns::list(&ui.archive).await {
        Ok(c) => c,
        Err(e) => return failure("读取填报任务", &e),
    };
    let rows = all.iter().map(|c| {
        vec![
            format!(
                "<a href=\"/campaigns/{id}\">{t}</a>",
                id = esc(c.id.as_str()),
                t = esc(&c.title)
            ),
            esc(c.id.as_str()),
            format!("{} – {}", c.start, c.end),
            c.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        ]
    });
    let body = format!(
        "<section>{}</section><p class=\"muted\">任务由上级下发（连接后自动同步），或用 <code>bangfu-node campaign add</code> 录入。/ Campaigns come from the parent, or `bangfu-node campaign add`.</p>",
        page::table(
            &["任务 Campaign", "编号 Id", "期间 Period", "截止 Due"],
            rows
        )
    );
    page::render(&ui, &session, "填报任务 / Campaigns", &body).into_response()
}

/// Section titles of a table file, from its `# N. 标题` comment lines (the seed form's numbered
/// sections); `None` for a table without them.
pub fn sections(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix('#') else {
            continue;
        };
        let rest = rest.trim();
        let Some((num, title)) = rest.split_once(". ") else {
            continue;
        };
        if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) {
            let title = title.split(" (").next().unwrap_or(title).trim();
            out.insert(num.to_string(), title.to_string());
        }
    }
    out
}

/// The leading number of a cell code (`10A` → `10`), its section on the seed form.
fn section_of(code: &str) -> &str {
    let end = code
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(code.len());
    &code[..end]
}

/// The text of a campaign's table, for its section titles.
fn table_text(ui: &Ui, c: &campaigns::Campaign) -> Option<String> {
    if let Some(t) = &c.template_body {
        return Some(t.clone());
    }
    let local = ui
        .data
        .join("templates")
        .join(format!("{}.toml", c.template));
    std::fs::read_to_string(local)
        .ok()
        .or_else(|| template::builtin_text(&c.template).map(str::to_string))
}

/// Everything the form shows: the table, the exact values (computed and typed), the rules' outcome.
struct Loaded {
    campaign: campaigns::Campaign,
    table: Template,
    values: Aggregates,
    typed: BTreeMap<String, Decimal>,
}

async fn load(ui: &Ui, id: &str) -> Result<Loaded, String> {
    let vocabulary = Settings::vocabulary(&ui.data).map_err(|e| e.to_string())?;
    let campaign = campaigns::get(&ui.archive, id)
        .await
        .map_err(|e| e.to_string())?;
    let table = campaign
        .template(&ui.data, &vocabulary)
        .map_err(|e| e.to_string())?;
    let typed = campaigns::typed(&ui.archive, id)
        .await
        .map_err(|e| e.to_string())?;
    let archive_facts = facts::load(&ui.archive, &vocabulary)
        .await
        .map_err(|e| e.to_string())?;
    let mut values = aggregate::aggregate(
        &table,
        &archive_facts.households,
        &archive_facts.aid,
        &Period::campaign(campaign.start, campaign.end),
    );
    values.enter(&table, &typed).map_err(|e| e.to_string())?;
    Ok(Loaded {
        campaign,
        table,
        values,
        typed,
    })
}

#[derive(Deserialize, Default)]
struct FormQuery {
    saved: Option<String>,
}

async fn form(
    State(ui): State<Ui>,
    session: Session,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<FormQuery>,
) -> Response {
    let Ok(id) = CampaignId::parse(&id) else {
        return (StatusCode::NOT_FOUND, "没有这个填报任务 / no such campaign").into_response();
    };
    let loaded = match load(&ui, id.as_str()).await {
        Ok(l) => l,
        Err(e) => return (StatusCode::NOT_FOUND, e).into_response(),
    };
    let message = match q.saved.as_deref() {
        Some("1") => {
            "<div class=\"msg done\" id=\"saved\">已保存草稿 / draft saved</div>".to_string()
        }
        _ => String::new(),
    };
    render_form(
        &ui,
        &session,
        &loaded,
        &BTreeMap::new(),
        &message,
        StatusCode::OK,
    )
    .await
}

/// The form, with `entered` (what the clerk just typed, shown again after a refusal) over the
/// stored figures.
async fn render_form(
    ui: &Ui,
    session: &Session,
    l: &Loaded,
    entered: &BTreeMap<String, String>,
    message: &str,
    status: StatusCode,
) -> Response {
    let id = l.campaign.id.as_str();
    // The latest review: a returned report shows its reason and marks the cells it names.
    let returned = match reviews::list(&ui.archive).await {
        Ok(all) => all
            .into_iter()
            .filter(|r| r.campaign == l.campaign.id)
            .max_by_key(|r| r.version)
            .filter(|r| r.state == ReviewState::Returned),
        Err(e) => return failure("读取审核结果", &e),
    };
    let flagged: Vec<String> = returned
        .as_ref()
        .and_then(|r| r.reason.as_deref())
        .map(|reason| home::codes_in(reason, |c| l.table.cell_index(c).is_some()))
        .unwrap_or_default();
    let mut body = String::new();
    body.push_str(message);
    if let Some(r) = &returned {
        body.push_str(&format!(
            "<div class=\"returned\" id=\"returned\">第 {v} 版已被上级退回 / version {v} was returned: <strong class=\"reason\">{reason}</strong>{cells}</div>",
            v = r.version,
            reason = esc(r.reason.as_deref().unwrap_or("")),
            cells = if flagged.is_empty() {
                String::new()
            } else {
                format!(" — 涉及 / concerns: {}", esc(&flagged.join("、")))
            },
        ));
    }
    body.push_str(&format!(
        "<p>{title} · {start} – {end}{due} · <a href=\"/campaigns/{id}/report\">报出内容 / what leaves</a></p>",
        title = esc(&l.campaign.title),
        start = l.campaign.start,
        end = l.campaign.end,
        due = l
            .campaign
            .due
            .map(|d| format!(" · 截止 due {d}"))
            .unwrap_or_default(),
        id = esc(id),
    ));

    // The rules as they stand on the stored figures, and their cells for the live check.
    let outcome = rules::evaluate(&l.table, |i| l.values.value(i));
    let mut rules_html = String::from("<ul class=\"rules\" id=\"rules\">");
    // Each rule's own relation: `all_relations` starts with the table's structural identities (a
    // dimension summing to its total), so zipping the rules with it gave a rule another's terms on
    // a table that has any (dangan, dajiancha).
    for rule in &l.table.rules {
        let relation = rule.relation(&l.table);
        let terms: Vec<String> = relation
            .terms
            .iter()
            .map(|&(c, a)| format!("{}:{a}", l.table.cells[c].code))
            .collect();
        let failed = outcome.failed.iter().find(|f| f.rule == rule.message);
        let pending = outcome.pending.iter().any(|p| p.rule == rule.message);
        let (class, note) = match (failed, pending) {
            (Some(f), _) => ("broken", format!(" — 不符 / broken: {}", esc(&f.detail))),
            (None, true) => ("pending", " — 待填 / not all filled in".to_string()),
            (None, false) => ("pass", " — 符合 / holds".to_string()),
        };
        let cells: Vec<String> = rule
            .cells()
            .iter()
            .map(|&c| l.table.cells[c].code.clone())
            .collect();
        rules_html.push_str(&format!(
            "<li class=\"{class}\" data-terms=\"{terms}\" data-lower=\"{lo}\" data-upper=\"{hi}\" data-cells=\"{cells}\"><span class=\"rule-text\">{msg}</span><span class=\"rule-state\">{note}</span>{imp}</li>",
            terms = esc(&terms.join(",")),
            lo = js_number(relation.lower),
            hi = js_number(relation.upper),
            cells = esc(&cells.join(",")),
            msg = esc(&rule.message),
            imp = if rule.importance == template::Importance::High {
                " <small class=\"muted\">(不符时不能报送 / blocks sending)</small>"
            } else {
                ""
            },
        ));
    }
    rules_html.push_str("</ul>");

    let names = table_text(ui, &l.campaign)
        .map(|t| sections(&t))
        .unwrap_or_default();
    let mut rows = String::new();
    let mut section = String::new();
    for (i, cell) in l.table.cells.iter().enumerate() {
        let s = section_of(&cell.code);
        if s != section {
            section = s.to_string();
            // The table file's `# N. 标题` comment, else the cell's own `section = "N. 标题"`
            // (送温暖's section 11 has only the latter, and showed a bare "11").
            let title = names
                .get(s)
                .map(String::as_str)
                .or_else(|| {
                    cell.section
                        .as_deref()
                        .and_then(|t| t.split_once(". "))
                        .map(|(_, t)| t)
                })
                .unwrap_or("");
            rows.push_str(&format!(
                "<tr class=\"section\"><td colspan=\"4\">{} {}</td></tr>",
                esc(s),
                esc(title)
            ));
        }
        // 其中 lines, and the lines the table itself indents (送温暖's 10B–10M under 10A).
        let indent = cell.indent > 0 || cell.label.starts_with("其中");
        let mut classes = Vec::new();
        if indent {
            classes.push("indent");
        }
        if flagged.contains(&cell.code) {
            classes.push("flagged");
        }
        let input = if cell.is_typed() {
            let value = entered
                .get(&cell.code)
                .cloned()
                .or_else(|| l.typed.get(&cell.code).map(|v| v.to_string()))
                .unwrap_or_default();
            format!(
                "<input class=\"fig\" type=\"text\" inputmode=\"decimal\" name=\"{code}\" id=\"cell-{code}\" data-code=\"{code}\" value=\"{value}\" autocomplete=\"off\" aria-label=\"{code} {label}\">",
                code = esc(&cell.code),
                value = esc(&value),
                label = esc(&cell.label),
            )
        } else {
            // Computed from the archive: shown, never submitted (no name).
            let value = l.values.value(i).map(|v| v.to_string()).unwrap_or_default();
            format!(
                "<input class=\"fig\" type=\"text\" readonly tabindex=\"-1\" id=\"cell-{code}\" data-code=\"{code}\" value=\"{value}\" title=\"由档案自动计算 / computed from the archive\">",
                code = esc(&cell.code),
                value = esc(&value),
            )
        };
        rows.push_str(&format!(
            "<tr class=\"{classes}\"><td>{code}</td><td class=\"label\">{label}</td><td>{input}</td><td>{unit}</td></tr>",
            classes = classes.join(" "),
            code = esc(&cell.code),
            label = esc(&cell.label),
            unit = esc(&cell.unit),
        ));
    }
    body.push_str(&format!(
        r#"<form method="post" action="/campaigns/{id}/figures" id="figures">{csrf}
<section><div class="scroll"><table class="form"><thead><tr><th>代码 Code</th><th>指标 Item</th><th>数值 Value</th><th>单位 Unit</th></tr></thead><tbody>{rows}</tbody></table></div>
<p class="muted">灰色格由档案自动计算，不能填写 / grey cells are computed from the archive.</p></section>
<section><h2>审核规则 <small>The table's rules</small></h2>{rules_html}</section>
<div class="actions"><button type="submit" name="action" value="save">保存草稿 / Save draft</button>
<button class="primary" type="submit" name="action" value="submit" id="submit-report">报送 / Submit</button></div>
</form>"#,
        id = esc(id),
        csrf = session.csrf_field(),
    ));
    let title = format!("填报 / Figures: {}", l.campaign.title);
    (status, page::render(ui, session, &title, &body)).into_response()
}

/// A bound as the page's script reads it with `Number()`: Rust writes an open bound as `-inf`,
/// which JavaScript reads as NaN, and every 其中 rule (`parts ≤ whole`, no lower bound) then showed
/// 不符 as soon as its cells were filled in (found by tests/tests/office_browser.rs).
fn js_number(x: f64) -> String {
    if x == f64::INFINITY {
        "Infinity".into()
    } else if x == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        x.to_string()
    }
}

async fn save(
    State(ui): State<Ui>,
    session: Session,
    UrlPath(id): UrlPath<String>,
    axum::extract::Form(fields): axum::extract::Form<Vec<(String, String)>>,
) -> Response {
    let Ok(id) = CampaignId::parse(&id) else {
        return (StatusCode::NOT_FOUND, "没有这个填报任务 / no such campaign").into_response();
    };
    let loaded = match load(&ui, id.as_str()).await {
        Ok(l) => l,
        Err(e) => return (StatusCode::NOT_FOUND, e).into_response(),
    };
    let mut submit = false;
    let mut entered = BTreeMap::new();
    let mut assignments = Vec::new();
    for (name, value) in fields {
        match name.as_str() {
            "csrf" => {}
            "action" => submit = value == "submit",
            _ => {
                let value = value.trim().to_string();
                if !value.is_empty() {
                    assignments.push(format!("{name}={value}"));
                }
                entered.insert(name, value);
            }
        }
    }
    let refuse = |e: String| {
        let ui = ui.clone();
        let session = session.clone();
        let entered = entered.clone();
        let loaded = &loaded;
        async move {
            let message = format!(
                "<div class=\"msg error\" id=\"refused\">未保存 / not saved: {}</div>",
                esc(&e)
            );
            render_form(
                &ui,
                &session,
                loaded,
                &entered,
                &message,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let figures = match campaigns::parse_assignments(&assignments) {
        Ok(f) => f,
        Err(e) => return refuse(e.to_string()).await,
    };
    if let Err(e) = campaigns::enter(&ui.archive, &loaded.campaign, &loaded.table, &figures).await {
        return refuse(e.to_string()).await;
    }
    let detail = format!("{} {} figure(s)", id, figures.len());
    if let Err(e) = ui
        .accounts
        .audit(&session.user, &session.client, "figures", &detail)
        .await
    {
        tracing::error!(error = %e, "writing the audit log");
    }
    if !submit {
        return Redirect::to(&format!("/campaigns/{id}?saved=1")).into_response();
    }
    let said = submit_report(&ui, id.as_str()).await;
    if let Err(e) = ui
        .accounts
        .audit(
            &session.user,
            &session.client,
            "submit",
            &format!("{id}: {said}"),
        )
        .await
    {
        tracing::error!(error = %e, "writing the audit log");
    }
    let mut url = format!("/campaigns/{id}/report?said=");
    url.push_str(
        &said
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>(),
    );
    Redirect::to(&url).into_response()
}

/// 报送: what `bangfu-node push` does (sync, version if changed, deliver), said in one line.
pub async fn submit_report(ui: &Ui, id: &str) -> String {
    if let Some(p) = &ui.parent {
        // A sync failure is not the clerk's concern here; the outbox still runs.
        let _ = daemon::sync_campaigns(p, &ui.archive, &ui.settings).await;
    }
    let versioned =
        match daemon::version_campaign(&ui.data, &ui.archive, &ui.settings, id, ui.clock.now())
            .await
        {
            Ok(v) => v,
            Err(e) => return format!("未报送 / not sent: {}", daemon::one_line(e.cause())),
        };
    let mut said = match versioned {
        outbox::Versioned::New { version, .. } => {
            format!("已生成第 {version} 版 / version {version} made")
        }
        outbox::Versioned::Unchanged { version } => {
            format!("内容未变，仍为第 {version} 版 / unchanged, still version {version}")
        }
    };
    match &ui.parent {
        None => said.push_str("; 未连接上级，已存入待发送 / not connected: kept in the outbox"),
        Some(p) => match outbox::drain(p, &ui.archive, ui.clock.now(), true).await {
            Ok(deliveries) => {
                for d in deliveries.iter().filter(|d| d.campaign == id) {
                    said.push_str("; ");
                    said.push_str(&d.to_string());
                }
            }
            Err(e) => said.push_str(&format!("; 发送失败 / delivery failed: {e}")),
        },
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_titles_come_from_the_numbered_comments() {
        let s = sections(template::builtin_text("songnuan").unwrap());
        assert_eq!(s.get("1").map(String::as_str), Some("职工"));
        assert_eq!(s.get("3").map(String::as_str), Some("建档困难职工家庭"));
        assert_eq!(section_of("10A"), "10");
    }
}
