//! `bangfu-hub campaign …`: creating, changing and listing campaigns, with the `--due LEVEL=DATE`
//! arguments and the template given as a built-in id or a `.toml` file.

use std::path::Path;

use anyhow::Context as _;
use bangfu_shared::protocol::CampaignId;
use bangfu_shared::template::{self as tpl, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use clap::Subcommand;

use super::{DataDir, open};
use crate::campaigns::{self, Campaign, Due, changes};

#[derive(Subcommand)]
pub enum CampaignCmd {
    /// Create a campaign.
    ///
    /// --template is a built-in template id or a .toml file (its text is stored and served to children).
    ///
    /// Example: bangfu-hub campaign create --data D --id 2026-songnuan --template songnuan --title 2026年送温暖 --start 2026-01-01 --end 2026-01-31 --due county=2026-02-05 --due prefecture=2026-02-10
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        id: CampaignId,
        #[arg(long)]
        template: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        start: NaiveDate,
        #[arg(long)]
        end: NaiveDate,
        /// LEVEL=DATE for county, prefecture and (optionally) province.
        #[arg(long = "due", value_name = "LEVEL=DATE", required = true)]
        due: Vec<String>,
    },
    /// Change a campaign created here; the change flows down at the children's next sync.
    ///
    /// Only what is given changes. --template is refused once any report is held (the reports would
    /// be of another table). Nodes re-make their reports when the change affects them (--end: the as-of day).
    ///
    /// Example: bangfu-hub campaign update --data D --id 2026-songnuan --due county=2026-02-12 --end 2026-02-02
    Update {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        id: CampaignId,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        start: Option<NaiveDate>,
        #[arg(long)]
        end: Option<NaiveDate>,
        /// LEVEL=DATE for county, prefecture or province; repeat for several.
        #[arg(long = "due", value_name = "LEVEL=DATE")]
        due: Vec<String>,
        #[arg(long)]
        template: Option<String>,
    },
    /// List the campaigns this hub holds: id, template, title, period, due dates, origin, revision.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

pub async fn run(cmd: CampaignCmd) -> anyhow::Result<()> {
    match cmd {
        CampaignCmd::Create {
            data: DataDir { data },
            id,
            template,
            title,
            start,
            end,
            due,
        } => {
            let hub = open(&data).await?;
            let store = &hub.store;
            anyhow::ensure!(
                start <= end,
                "--start {start} is after --end {end} / 开始日期晚于结束日期"
            );
            let due = parse_due(&due)?;
            let (t, body) = load_template(&template)?;
            let campaign = Campaign {
                id: id.clone(),
                template: t.id.clone(),
                title,
                start,
                end,
                due,
                template_body: body,
            };
            let created = campaigns::create(store, &campaign, "local")
                .await
                .with_context(|| format!("creating campaign {id}"))?;
            hub.close().await;
            anyhow::ensure!(created, "campaign {id} exists already / 填报任务已存在");
            println!("已创建填报任务 / campaign created: {id} ({})", t.id);
            Ok(())
        }
        CampaignCmd::Update {
            data: DataDir { data },
            id,
            title,
            start,
            end,
            due,
            template,
        } => {
            let hub = open(&data).await?;
            let store = &hub.store;
            let mut change = changes::Change {
                title,
                start,
                end,
                ..Default::default()
            };
            for (level, date) in parse_due_some(&due)? {
                match level {
                    "county" => change.due_county = Some(date),
                    "prefecture" => change.due_prefecture = Some(date),
                    _ => change.due_province = Some(date),
                }
            }
            if let Some(t) = template {
                let (t, body) = load_template(&t)?;
                change.template = Some((t.id.clone(), body));
            }
            let c = changes::update(store, id.as_str(), &change)
                .await
                .with_context(|| format!("updating campaign {id}"))?;
            hub.close().await;
            println!(
                "已更新填报任务 / campaign updated: {id} ({}, {} – {}, due county {} prefecture {})",
                c.template, c.start, c.end, c.due.county, c.due.prefecture
            );
            Ok(())
        }
        CampaignCmd::List {
            data: DataDir { data },
        } => {
            let hub = open(&data).await?;
            let store = &hub.store;
            let list = changes::list(store).await.context("listing campaigns")?;
            hub.close().await;
            println!(
                "{:<20}  {:<14}  {:<23}  {:<10}  {:<10}  {:<10}  {:<6}  {:<3}  title",
                "id", "template", "period", "due county", "prefecture", "province", "origin", "rev"
            );
            for l in list {
                let c = &l.campaign;
                let province = c
                    .due
                    .province
                    .map_or_else(|| "-".to_string(), |d| d.to_string());
                println!(
                    "{:<20}  {:<14}  {:<23}  {:<10}  {:<10}  {:<10}  {:<6}  {:<3}  {}",
                    c.id,
                    c.template,
                    format!("{} – {}", c.start, c.end),
                    c.due.county.to_string(),
                    c.due.prefecture.to_string(),
                    province,
                    l.origin,
                    l.revision,
                    bangfu_shared::printable::printable(&c.title)
                );
            }
            Ok(())
        }
    }
}

/// `--due LEVEL=DATE` arguments, each level at most once, none required (`campaign update`).
fn parse_due_some(raw: &[String]) -> anyhow::Result<Vec<(&'static str, NaiveDate)>> {
    let mut out: Vec<(&'static str, NaiveDate)> = vec![];
    for d in raw {
        let (level, date) = d
            .split_once('=')
            .with_context(|| format!("--due {d}: expected LEVEL=DATE / 格式应为 级别=日期"))?;
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .with_context(|| format!("--due {d}: not a date YYYY-MM-DD / 日期格式错误"))?;
        let level = match level {
            "county" => "county",
            "prefecture" => "prefecture",
            "province" => "province",
            other => anyhow::bail!(
                "--due {d}: unknown level `{other}` (county, prefecture, province) / 未知级别"
            ),
        };
        anyhow::ensure!(
            out.iter().all(|(l, _)| *l != level),
            "--due {d}: {level} is given twice / 重复的级别"
        );
        out.push((level, date));
    }
    Ok(out)
}

fn parse_due(raw: &[String]) -> anyhow::Result<Due> {
    let (mut county, mut prefecture, mut province) = (None, None, None);
    for d in raw {
        let (level, date) = d
            .split_once('=')
            .with_context(|| format!("--due {d}: expected LEVEL=DATE / 格式应为 级别=日期"))?;
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .with_context(|| format!("--due {d}: not a date YYYY-MM-DD"))?;
        match level {
            "county" => county = Some(date),
            "prefecture" => prefecture = Some(date),
            "province" => province = Some(date),
            other => {
                anyhow::bail!("--due {d}: unknown level `{other}` (county, prefecture, province)")
            }
        }
    }
    Ok(Due {
        county: county.context("--due county=DATE is required / 缺少县级截止日期")?,
        prefecture: prefecture.context("--due prefecture=DATE is required / 缺少市级截止日期")?,
        province,
    })
}

/// A built-in template id, or a .toml file whose text is kept with the campaign.
fn load_template(raw: &str) -> anyhow::Result<(Template, Option<String>)> {
    let v = Vocabulary::builtin();
    if raw.ends_with(".toml") || Path::new(raw).is_file() {
        let text =
            std::fs::read_to_string(raw).with_context(|| format!("reading template {raw}"))?;
        let t = Template::parse(&text, &v).with_context(|| format!("loading template {raw}"))?;
        Ok((t, Some(text)))
    } else {
        Ok((
            tpl::builtin(raw, &v).with_context(|| format!("loading template {raw}"))?,
            None,
        ))
    }
}
