//! What a notice says, in Chinese, for a person reading it in a group chat or a mailbox: the
//! campaign, the unit, the due date, how many days overdue, and the dashboard link when one is
//! configured. Markdown for the robots that render it (WeCom, DingTalk), plain text elsewhere.

use std::fmt::Write as _;

use super::{Notice, NoticeKind};

/// The subject line (mail) and heading (markdown).
pub fn subject(n: &Notice) -> String {
    match n.kind {
        NoticeKind::DueSoon => format!("【催报提醒】{}：{} 尚未报送", n.title, n.name),
        NoticeKind::Overdue(_) => format!(
            "【逾期提醒】{}：{} 逾期 {} 天未报送",
            n.title, n.name, n.days_overdue
        ),
        NoticeKind::Escalation(_) => format!(
            "【逾期通报】{}：{} 个下级单位逾期未报送（催报提醒）",
            n.title,
            n.overdue.len()
        ),
        NoticeKind::Test => format!("【测试】{} 催报通道测试", n.name),
        NoticeKind::Certificates(_) => format!(
            "【证书到期提醒】{}：{} 个证书 30 天内到期",
            n.name,
            n.summary.as_deref().map_or(0, |s| s.lines().count())
        ),
    }
}

/// The lines of the message, without markup.
fn lines(n: &Notice) -> Vec<String> {
    let due = n.due.map_or_else(|| "-".to_string(), |d| d.to_string());
    let mut out = vec![];
    match n.kind {
        NoticeKind::DueSoon => {
            out.push(format!("填报任务：{}（{}）", n.title, n.campaign));
            out.push(format!("单位：{}（{}）", n.name, n.org));
            out.push(format!("截止日期：{due}"));
            out.push(if n.days_overdue == 0 && n.due.is_some() {
                "状态：尚未报送，请在截止日期前报送。".to_string()
            } else {
                "状态：尚未报送。".to_string()
            });
        }
        NoticeKind::Overdue(_) => {
            out.push(format!("填报任务：{}（{}）", n.title, n.campaign));
            out.push(format!("单位：{}（{}）", n.name, n.org));
            out.push(format!("截止日期：{due}"));
            out.push(format!(
                "状态：已逾期 {} 天，尚未报送，请尽快报送。",
                n.days_overdue
            ));
        }
        NoticeKind::Escalation(day) => {
            out.push(format!("填报任务：{}（{}）", n.title, n.campaign));
            out.push(format!(
                "截至 {day}，以下 {} 个下级单位逾期未报送：",
                n.overdue.len()
            ));
            for c in &n.overdue {
                out.push(format!(
                    "- {}（{}）：逾期 {} 天；已发送：{}",
                    c.name, c.org, c.days, c.sent
                ));
            }
        }
        NoticeKind::Certificates(day) => {
            out.push(format!(
                "截至 {day}，下列证书 30 天内到期（到期后该单位无法报送）："
            ));
            for line in n.summary.as_deref().unwrap_or("").lines() {
                out.push(format!("- {line}"));
            }
            out.push(
                "请确认自动续期在运行（bangfu-node serve / bangfu-hub serve），或按 docs/operations.md 更新证书。"
                    .to_string(),
            );
        }
        NoticeKind::Test => {
            out.push(format!("单位：{}（{}）", n.name, n.org));
            out.push("这是一条测试消息：收到即说明催报通道配置正确，无需回复。".to_string());
        }
    }
    if let Some(link) = &n.link {
        out.push(format!("查看进度：{link}"));
    }
    out
}

/// Plain text: the subject line, then the lines.
pub fn text(n: &Notice) -> String {
    let mut s = subject(n);
    for l in lines(n) {
        s.push('\n');
        s.push_str(&l);
    }
    s
}

/// Markdown: the subject as a heading, each line its own paragraph (both WeCom and DingTalk need
/// a blank line to break), the link as a link.
pub fn markdown(n: &Notice) -> String {
    let mut s = format!("### {}\n", subject(n));
    for l in lines(n) {
        let _ = match (&n.link, l.strip_prefix("查看进度：")) {
            (Some(link), Some(_)) => write!(s, "\n[查看进度]({link})\n"),
            _ => write!(s, "\n{l}\n"),
        };
    }
    s
}

/// The body of a `json` webhook: the reminder as `GET /api/v1/reminders` serves it, so existing
/// receivers keep working, with the kind of notice as a word.
pub fn json(n: &Notice) -> serde_json::Value {
    serde_json::json!({
        "campaign": n.campaign,
        "title": n.title,
        "org": n.org,
        "name": n.name,
        "kind": n.kind.to_string(),
        "due": n.due,
        "days_overdue": n.days_overdue,
        "message": n.summary.clone().unwrap_or_else(|| text(n)),
        "link": n.link,
        "overdue": n.overdue.iter().map(|c| serde_json::json!({
            "org": c.org, "name": c.name, "days": c.days, "sent": c.sent,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::channels::OverdueChild;
    use bangfu_shared::org::OrgCode;
    use bangfu_shared::protocol::CampaignId;
    use chrono::NaiveDate;

    pub(crate) fn notice(kind: NoticeKind) -> Notice {
        Notice {
            hub: OrgCode::parse("H").unwrap(),
            campaign: CampaignId::parse("2026-songnuan").unwrap(),
            title: "2026 年送温暖".into(),
            org: OrgCode::parse("H01").unwrap(),
            name: "京山县总工会".into(),
            kind,
            due: NaiveDate::from_ymd_opt(2026, 2, 5),
            days_overdue: 3,
            link: Some("https://dash.example/campaigns/2026-songnuan".into()),
            overdue: vec![],
            summary: None,
        }
    }

    #[test]
    fn an_overdue_reminder_names_campaign_unit_due_date_days_and_link() {
        let n = notice(NoticeKind::Overdue(
            NaiveDate::from_ymd_opt(2026, 2, 8).unwrap(),
        ));
        for s in [text(&n), markdown(&n)] {
            for want in [
                "2026 年送温暖",
                "京山县总工会",
                "2026-02-05",
                "逾期 3 天",
                "https://dash.example/campaigns/2026-songnuan",
            ] {
                assert!(s.contains(want), "{want} missing in {s}");
            }
        }
        assert!(markdown(&n).starts_with("### 【逾期提醒】"));
        assert!(markdown(&n).contains("[查看进度](https://dash.example/"));
    }

    #[test]
    fn an_escalation_lists_each_overdue_child_with_what_was_sent() {
        let mut n = notice(NoticeKind::Escalation(
            NaiveDate::from_ymd_opt(2026, 2, 9).unwrap(),
        ));
        n.overdue = vec![OverdueChild {
            org: OrgCode::parse("H03").unwrap(),
            name: "钟祥市总工会".into(),
            days: 4,
            sent: "4 条催报".into(),
        }];
        let t = text(&n);
        assert!(
            t.contains("1 个下级单位") && t.contains("钟祥市总工会（H03）：逾期 4 天"),
            "{t}"
        );
    }
}
