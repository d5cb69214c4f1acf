//! The first page: what the parent said (returned reports with their reason, reminders), the
//! campaigns with where each stands, and what the archive holds.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bangfu_shared::protocol::ReviewState;
use bangfu_web::Session;
use bangfu_web::http::esc;

use super::{Ui, failure, page};
use crate::{campaigns, outbox, reminders, reviews};

pub fn router() -> Router<Ui> {
    Router::new().route("/", get(home))
}

/// The cell codes a reason names (`3B 与档案不符` → `3B`), so the 填报 form can highlight them.
pub fn codes_in(reason: &str, known: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = reason.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            // 3B, 3(B), 10A
            let (letter, end) = match (chars.get(i), chars.get(i + 1), chars.get(i + 2)) {
                (Some(c), _, _) if c.is_ascii_uppercase() => (Some(*c), i + 1),
                (Some('('), Some(c), Some(')')) if c.is_ascii_uppercase() => (Some(*c), i + 3),
                _ => (None, i),
            };
            if let Some(l) = letter {
                let code: String = chars[start..i].iter().collect::<String>() + &l.to_string();
                if known(&code) && !out.contains(&code) {
                    out.push(code);
                }
            }
            i = end.max(i);
        } else {
            i += 1;
        }
    }
    out
}

async fn home(State(ui): State<Ui>, session: Session) -> Response {
    let (reviews, reminders, campaigns, entries, counts) = match tokio::try_join!(
        async { reviews::list(&ui.archive).await.map_err(|e| e.to_string()) },
        async {
            reminders::list(&ui.archive)
                .await
                .map_err(|e| e.to_string())
        },
        async {
            campaigns::list(&ui.archive)
                .await
                .map_err(|e| e.to_string())
        },
        async {
            outbox::entries(&ui.archive)
                .await
                .map_err(|e| e.to_string())
        },
        async { ui.archive.counts().await.map_err(|e| e.to_string()) },
    ) {
        Ok(all) => all,
        Err(e) => return failure("读取首页", &e),
    };
    let mut body = String::new();

    // The parent's answers first: a returned report is the clerk's next job.
    body.push_str("<section><h2>上级反馈 <small>From the parent</small></h2>");
    let mut any = false;
    for c in &campaigns {
        let Some(latest) = reviews
            .iter()
            .filter(|r| r.campaign == c.id)
            .max_by_key(|r| r.version)
        else {
            continue;
        };
        any = true;
        let (class, text) = match latest.state {
            ReviewState::Returned => ("returned", "已退回 / returned"),
            ReviewState::Accepted => ("accepted", "已核准 / accepted"),
            ReviewState::Pending => ("reminder", "待审核 / pending review"),
        };
        let reason = latest
            .reason
            .as_deref()
            .map(|r| {
                format!(
                    "<div>退回原因 / reason: <strong class=\"reason\">{}</strong></div>",
                    esc(r)
                )
            })
            .unwrap_or_default();
        let action = if latest.state == ReviewState::Returned {
            format!(
                " <a class=\"button\" href=\"/campaigns/{id}\">去修改 / correct it</a>",
                id = esc(c.id.as_str())
            )
        } else {
            String::new()
        };
        body.push_str(&format!(
            "<div class=\"{class}\"><strong>{title}</strong> ({id}) 第 {v} 版 / version {v}: {text}{reason}{action}</div>",
            title = esc(&c.title),
            id = esc(c.id.as_str()),
            v = latest.version,
        ));
    }
    for r in &reminders {
        any = true;
        body.push_str(&format!(
            "<div class=\"reminder\">催报 / reminder ({campaign}, 截止 due {due}): {msg}</div>",
            campaign = esc(r.campaign.as_str()),
            due = esc(&r.due),
            msg = esc(&r.message),
        ));
    }
    if !any {
        body.push_str("<p class=\"muted\">暂无退回或催报 / nothing returned, no reminders.</p>");
    }
    body.push_str("</section>");

    body.push_str("<section><h2>填报任务 <small>Campaigns</small></h2>");
    let rows = campaigns.iter().map(|c| {
        let mine: Vec<&outbox::Entry> =
            entries.iter().filter(|e| e.campaign == c.id.as_str()).collect();
        let sent = match mine.last() {
            Some(e) => format!("第 {} 版 v{} · {}", e.version, e.version, esc(&state_words(&e.state))),
            None => "尚未报送 / not sent".to_string(),
        };
        vec![
            format!(
                "<a href=\"/campaigns/{id}\">{title}</a><br><small class=\"muted\">{id} · {t}</small>",
                id = esc(c.id.as_str()),
                title = esc(&c.title),
                t = esc(&c.template)
            ),
            format!("{} – {}", c.start, c.end),
            c.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
            sent,
            format!(
                "<a href=\"/campaigns/{id}\">填报 Fill in</a> · <a href=\"/campaigns/{id}/report\">报表 Report</a>",
                id = esc(c.id.as_str())
            ),
        ]
    });
    body.push_str(&page::table(
        &["任务 Campaign", "期间 Period", "截止 Due", "报送 Sent", ""],
        rows,
    ));
    body.push_str("</section>");

    body.push_str(&format!(
        "<section><h2>档案 <small>Archive</small></h2><p>在档 on file <strong>{}</strong> 户 · 已脱困 lifted {} · 已剔除 removed {} · 家庭成员 members {} · 帮扶记录 aid records {}</p><p><a href=\"/import\">导入文件 / import a file</a> · <a href=\"/archive\">查看档案 / the archive</a></p></section>",
        counts.on_file, counts.lifted, counts.removed, counts.members, counts.aid
    ));
    page::render(&ui, &session, "首页 / Home", &body).into_response()
}

/// An outbox state in words a clerk reads.
pub fn state_words(state: &str) -> String {
    let zh = match state {
        "pending" => "待发送",
        "acked" => "上级已接收",
        "refused" => "上级拒收",
        "duplicate" => "上级已有",
        "superseded" => "已被新版本取代",
        _ => "",
    };
    if zh.is_empty() {
        state.to_string()
    } else {
        format!("{zh} / {state}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_a_reason_names_are_found() {
        let known = |c: &str| ["3B", "4A", "10A"].contains(&c);
        assert_eq!(codes_in("3B 与档案不符，请核实", known), vec!["3B"]);
        assert_eq!(
            codes_in("4(A) 和 10A 有误; 2026 年", known),
            vec!["4A", "10A"]
        );
        assert_eq!(codes_in("H01 版本", known), Vec::<String>::new());
    }
}
