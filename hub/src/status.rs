//! `bangfu-hub status`: a campaign's state at this hub for a person to read: the campaign, its
//! completeness (from the rollup), one row per registered child (latest version, when it came in,
//! on time or not, its review, its findings) and the findings themselves. Columns are aligned by
//! display width, so Chinese names (two columns each in a terminal) line up.

use bangfu_shared::printable::printable;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use bangfu_shared::org::Level;
use bangfu_shared::protocol::ReviewState;
use bangfu_shared::protocol::{CampaignId, Version};
use chrono::{DateTime, Utc};
use unicode_width::UnicodeWidthStr as _;

use crate::app::Hub;
use crate::config::HubLevel;
use crate::error::Error;
use crate::store::{self, Store};
use crate::{campaigns, registry, review};

/// What the reports table says about one child's versions.
struct Received {
    latest: Version,
    received_at: String,
    on_time_ever: bool,
}

/// The status of campaign `id` at this hub, as text.
pub async fn render(hub: &Hub, id: &CampaignId) -> Result<String, Error> {
    let (store, config) = (&hub.store, &hub.config);
    let campaign = campaigns::get(store, id.as_str()).await?.ok_or_else(|| {
        Error::NotFound(format!("no campaign `{id}` on this hub / 没有此填报任务"))
    })?;
    let r = hub.rollup(id).await?;
    let orgs = registry::list(store).await?;
    let reviews = review::states(store, id).await?;
    let received = received(store, id.as_str()).await?;
    let reminded = crate::reminders::made_on(store, id.as_str()).await?;
    let deliveries = crate::channels::store::on_campaign(store, id.as_str()).await?;
    let (own_level, child_level) = match config.level {
        HubLevel::Prefecture => (Level::Prefecture, Level::County),
        HubLevel::Province => (Level::Province, Level::Prefecture),
    };
    let day = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "-".to_string(), |d| d.to_string());
    let own_due = campaign.due.for_level(own_level);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "填报任务 / campaign: {}  {}  (template {})",
        campaign.id,
        printable(&campaign.title),
        printable(&campaign.template)
    );
    let _ = writeln!(out, "期间 / period: {} – {}", campaign.start, campaign.end);
    let _ = writeln!(
        out,
        "截止 / due: 本级 this level ({}) {}; 下级 children {}",
        config.org,
        day(own_due),
        day(campaign.due.for_level(child_level))
    );
    if let Some(c) = &r.completeness {
        let names: BTreeMap<&str, &str> = orgs
            .iter()
            .map(|o| (o.code.as_str(), o.name.as_str()))
            .collect();
        let missing: Vec<String> = c
            .missing
            .iter()
            .map(|m| format!("{m} {}", printable(names.get(m.as_str()).unwrap_or(&""))))
            .collect();
        let _ = writeln!(
            out,
            "完整性 / completeness: 应报 expected {}, 已报 received {} (按时 on time {}, 逾期 late {}), 未报 missing {}{}",
            c.expected,
            c.received,
            c.on_time,
            c.late,
            c.missing.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!(": {}", missing.join(", "))
            }
        );
    }
    if config.parent.is_some() {
        match review::own(store, id).await? {
            Some((v, state, reason, _)) => {
                let why = reason
                    .map(|r| format!(": {}", printable(&r)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "上级审核 / review of this hub's report: version {v} {} {state}{why}",
                    state.label()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "上级审核 / review of this hub's report: (not known yet / 暂无)"
                );
            }
        }
    }
    let _ = writeln!(out);

    let header = [
        "单位 org",
        "名称 name",
        "版本 version",
        "接收时间 received (北京时间)",
        "时效 timeliness",
        "审核 review",
        "问题 findings",
        "催报 reminded",
        "送达 delivery",
        "原因 reason",
    ];
    let mut rows = vec![];
    for o in &orgs {
        let findings = r.issues.iter().filter(|i| i.org == o.code).count();
        // How many reminders this child got, and the latest (`2 overdue:2026-02-06`).
        let reminders = reminded
            .get(o.code.as_str())
            .map_or_else(|| "-".to_string(), |(n, last)| format!("{n} {last}"));
        // How the latest reminder went on each channel (`wecom delivered, email:a@b refused×3`).
        let delivery = reminded
            .get(o.code.as_str())
            .map(|(_, last)| crate::reminders::delivery_summary(&deliveries, o.code.as_str(), last))
            .unwrap_or_else(|| "-".into());
        let row = match received.get(o.code.as_str()) {
            None => vec![
                o.code.to_string(),
                o.name.clone(),
                "-".into(),
                "-".into(),
                "未报 missing".into(),
                "-".into(),
                "-".into(),
                reminders,
                delivery,
                String::new(),
            ],
            Some(x) => {
                let rv = reviews.get(&o.code);
                let state = rv.map_or(ReviewState::Pending, |r| r.state);
                vec![
                    o.code.to_string(),
                    o.name.clone(),
                    x.latest.to_string(),
                    local_time(&x.received_at),
                    if x.on_time_ever {
                        "按时 on time".into()
                    } else {
                        "逾期 late".into()
                    },
                    format!("{} {state}", state.label()),
                    findings.to_string(),
                    reminders,
                    delivery,
                    rv.and_then(|r| r.reason.clone())
                        .filter(|_| state == ReviewState::Returned)
                        .unwrap_or_default(),
                ]
            }
        };
        rows.push(row);
    }
    out.push_str(&table(&header, &rows));
    let reported: Vec<&str> = received.keys().map(String::as_str).collect();
    out.push_str(&crate::reminders::overdue_section(
        hub,
        &campaign,
        &orgs,
        &reported,
        &deliveries,
    ));

    let _ = writeln!(out);
    if r.issues.is_empty() {
        let _ = writeln!(out, "问题 / findings: 无 none");
    } else {
        let _ = writeln!(out, "问题 / findings ({}):", r.issues.len());
        for i in &r.issues {
            let _ = writeln!(
                out,
                "  {}  {}: {}",
                i.org,
                printable(&i.rule),
                printable(&i.detail)
            );
        }
    }
    Ok(out)
}

/// Per child: its latest version, when that came in, and whether any version came in on time (as
/// the rollup's completeness counts it).
async fn received(store: &Store, id: &str) -> Result<BTreeMap<String, Received>, Error> {
    let rows: Vec<(String, i64, String, i64)> =
        sqlx::query_as("SELECT org, version, received_at, on_time FROM reports WHERE campaign = $1 ORDER BY org, version")
            .bind(id.to_string())
            .fetch_all(&store.pool)
            .await
            .map_err(store::Error::from)?;
    let mut out: BTreeMap<String, Received> = BTreeMap::new();
    for (org, version, at, on_time) in rows {
        let version = Version::from_db(version)
            .map_err(|e| store::Error::Corrupt(format!("a stored report of {org}: {e}")))?;
        let ever = out.get(&org).is_some_and(|r| r.on_time_ever) || on_time != 0;
        out.insert(
            org,
            Received {
                latest: version,
                received_at: at,
                on_time_ever: ever,
            },
        );
    }
    Ok(out)
}

/// An RFC 3339 instant as Asia/Shanghai wall-clock time, to the minute.
fn local_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_string(),
        |t| {
            t.with_timezone(&Utc)
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}

/// Left-aligned columns two spaces apart, padded by display width (a CJK character is two columns
/// wide). The last column is not padded, so lines carry no trailing blanks. Every cell is made
/// printable: a name or reason someone sent cannot move the cursor or start a new line.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            s.push_str(cell);
            if i < last {
                s.push_str(&" ".repeat(w - cell.width() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_display_width_with_chinese_names() {
        let rows = vec![
            vec![
                "H01".to_string(),
                "京山县总工会".to_string(),
                "2".to_string(),
            ],
            vec!["H02".to_string(), "x".to_string(), "10".to_string()],
        ];
        let text = table(&["单位 org", "名称 name", "版本"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        // The third column starts at the same display column on every line.
        let starts: Vec<usize> = lines
            .iter()
            .zip(["版本", "2", "10"])
            .map(|(l, third)| l[..l.rfind(third).unwrap()].width())
            .collect();
        assert_eq!(starts, vec![starts[0]; 3], "{text}");
        assert_eq!(
            starts[0],
            "京山县总工会".width() + 2 + "单位 org".width() + 2
        );
    }

    /// A hub with its own `[reconcile]` settings (a stricter outlier factor): `status` shows the
    /// findings `rollup` makes with those settings, and stores no rollup version of its own.
    #[tokio::test]
    async fn status_rolls_up_with_the_hubs_own_reconcile_settings() {
        use crate::campaigns::{self, fixtures};
        use crate::registry::Org;
        let dir = tempfile::tempdir().unwrap();
        let text = "org = \"H\"\nname = \"荆门市总工会\"\nlevel = \"prefecture\"\ntls = \"/t\"\n[reconcile]\noutlier_factor = 2.5\n";
        std::fs::write(dir.path().join(crate::config::FILE), text).unwrap();
        let hub = Hub::open(dir.path()).await.unwrap();
        let store = hub.store.clone();
        let mut before = fixtures::songnuan();
        before.id = CampaignId::parse("sn-2025").unwrap();
        before.start = fixtures::day("2025-01-01");
        before.end = fixtures::day("2025-01-31");
        campaigns::create(&store, &before, "local").await.unwrap();
        campaigns::create(&store, &fixtures::songnuan(), "local")
            .await
            .unwrap();
        let h01 = bangfu_shared::org::OrgCode::parse("H01").unwrap();
        registry::add(
            &store,
            &Org {
                code: h01,
                name: "京山县总工会".into(),
                email: None,
                webhook: None,
            },
        )
        .await
        .unwrap();
        // 4A (enterprises visited) went from 30 to 80: 2.7 times, an outlier only under factor 2.5.
        for (campaign, visited) in [("sn-2025", 30), ("sn", 80)] {
            let body = serde_json::json!({
                "org": "H01", "template": "songnuan", "campaign": campaign, "as_of": "2026-01-31",
                "version": 1, "threshold": 3, "cells": {"4A": {"value": visited}}, "failed_rules": []
            })
            .to_string();
            sqlx::query("INSERT INTO reports (org, campaign, version, hash, body, received_at, on_time) VALUES ('H01', $1, 1, $2, $3, '2026-02-01T00:00:00+00:00', 1)")
                .bind(campaign)
                .bind(bangfu_shared::protocol::ContentHash::of(body.as_bytes()).to_string())
                .bind(body)
                .execute(&store.pool)
                .await
                .unwrap();
        }
        // `bangfu-hub rollup` as it runs: with the hub's own settings.
        let config = &hub.config;
        let r = crate::rollup::rollup_with(
            &store,
            &config.org,
            &config.name,
            &CampaignId::parse("sn").unwrap(),
            &config.reconcile,
            &hub.verifier(),
        )
        .await
        .unwrap();
        assert!(
            r.issues.iter().any(|i| i.rule == "outlier"),
            "{:?}",
            r.issues
        );

        let shown = render(&hub, &CampaignId::parse("sn").unwrap())
            .await
            .unwrap();
        assert!(
            shown.contains("outlier"),
            "status shows the rollup's findings:\n{shown}"
        );
        let (versions,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM rollups WHERE campaign = 'sn'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(
            versions, 1,
            "status stored a rollup version that `rollup` would not make"
        );
        store.close().await;
    }

    #[test]
    fn received_times_are_shown_in_beijing_time() {
        assert_eq!(local_time("2026-02-05T16:30:00+00:00"), "2026-02-06 00:30");
    }
}
