//! Tables and campaigns from the command line: `report` (exactly what would leave the node),
//! `enter` (typed-in figures) and `campaign add|list`.

use anyhow::{Context as _, bail};
use bangfu_shared::protocol::Version;

use super::{CampaignAction, EnterArgs, ReportArgs, ReportFormat, SentArgs};
use crate::archive::Archive;
use crate::settings::Settings;
use crate::{campaigns, facts, ledger, reporting};

/// `report`: the report of a campaign, or of a template on a day, as JSON, a table or a spreadsheet.
pub async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let ReportArgs {
        data,
        campaign,
        template,
        as_of,
        format,
        out,
    } = args;
    let settings = Settings::load(&data)?;
    let vocabulary = Settings::vocabulary(&data)?;
    let archive = Archive::open(&data, false).await?;
    let mut changed = Default::default();
    let (report, table) = match (campaign, template, as_of) {
        (Some(id), _, _) => {
            let p = reporting::prepare(
                &archive,
                &data,
                &settings.org,
                &vocabulary,
                id.as_str(),
                Version::FIRST,
                settings.change_policy,
            )
            .await?;
            changed = p.changed;
            (p.report, p.template)
        }
        (None, Some(t), Some(day)) => {
            let table = if t.ends_with(".toml") {
                bangfu_shared::template::load_file(std::path::Path::new(&t), &vocabulary)?
            } else {
                bangfu_shared::template::load(&t, Some(&data.join("templates")), &vocabulary)?
            };
            let archive_facts = facts::load(&archive, &vocabulary).await?;
            let period = bangfu_shared::aggregate::Period::on(day);
            let request = reporting::Request {
                org: settings.org.clone(),
                template: &table,
                campaign: None,
                period,
                version: Version::FIRST,
            };
            let report = reporting::build(request, &archive_facts, &Default::default())?;
            (report, table)
        }
        _ => bail!("give --campaign ID, or --template T with --as-of DATE"),
    };
    archive.close().await;
    match format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Table => {
            print!("{}", reporting::as_table(&report, &table, &settings.name))
        }
        ReportFormat::Xlsx => {
            let out = out.expect("clap requires --out with xlsx");
            reporting::write_xlsx(&report, &table, &settings.name, &out)?;
            println!("已写入 / written: {}", out.display());
        }
    }
    if !changed.is_empty() {
        eprintln!(
            "因变动不足 {k} 户而暂不公布 / withheld because they changed by fewer than {k} households since last sent: {}",
            changed.iter().cloned().collect::<Vec<_>>().join(", "),
            k = report.threshold
        );
    }
    if let Err(blocked) = report.ensure_sendable() {
        eprintln!("注意 / note: {blocked}");
    }
    Ok(())
}

/// `sent`: every report version queued for the parent, each body byte for byte after its header.
pub async fn sent(args: SentArgs) -> anyhow::Result<()> {
    let archive = Archive::open(&args.data, false).await?;
    let sent = ledger::sent(
        &archive,
        args.campaign.as_ref().map(|c| c.as_str()),
        args.version,
    )
    .await?;
    archive.close().await;
    if sent.is_empty() {
        eprintln!("尚未发送任何报表 / nothing sent yet");
    }
    let mut out = std::io::stdout().lock();
    for s in &sent {
        use std::io::Write as _;
        writeln!(
            out,
            "# campaign {} version {} template {} as-of {} state {} sha256 {} bytes {}",
            s.campaign,
            s.version,
            s.template.as_deref().unwrap_or("-"),
            s.as_of.as_deref().unwrap_or("-"),
            s.state,
            s.hash,
            s.body.len()
        )?;
        out.write_all(s.body.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub async fn enter(args: EnterArgs) -> anyhow::Result<()> {
    let EnterArgs {
        data,
        campaign,
        file,
        figures,
    } = args;
    Settings::load(&data)?;
    let vocabulary = Settings::vocabulary(&data)?;
    let archive = Archive::open(&data, false).await?;
    let c = campaigns::get(&archive, campaign.as_str()).await?;
    let table = c.template(&data, &vocabulary)?;
    let mut all = campaigns::parse_assignments(&figures)?;
    if let Some(f) = file {
        for (code, value) in campaigns::read_figures_file(&f)? {
            if all.insert(code.clone(), value).is_some() {
                bail!(
                    "{code} is given both on the command line and in {} / 重复填报",
                    f.display()
                );
            }
        }
    }
    campaigns::enter(&archive, &c, &table, &all).await?;
    println!(
        "已记录 / recorded {} figure(s) for campaign {}",
        all.len(),
        c.id
    );
    archive.close().await;
    Ok(())
}

/// `campaign add|list`: campaigns entered from a circular, and those the node knows.
pub async fn campaign(action: CampaignAction) -> anyhow::Result<()> {
    match action {
        CampaignAction::Add {
            data,
            id,
            template,
            title,
            start,
            end,
            due,
        } => {
            Settings::load(&data)?;
            let vocabulary = Settings::vocabulary(&data)?;
            let archive = Archive::open(&data, false).await?;
            let c = campaigns::Campaign {
                id,
                template,
                title,
                start,
                end,
                due,
                template_body: None,
            };
            c.template(&data, &vocabulary)
                .with_context(|| format!("loading template `{}`", c.template))?;
            campaigns::add(&archive, &c, "local").await?;
            println!(
                "活动已添加 / campaign added: {} ({}, {} – {})",
                c.id, c.template, c.start, c.end
            );
            archive.close().await;
            Ok(())
        }
        CampaignAction::List { data } => {
            Settings::load(&data)?;
            let archive = Archive::open(&data, false).await?;
            for c in campaigns::list(&archive).await? {
                let due = c.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{}  {}  {}  {} – {}  due {}",
                    c.id, c.template, c.title, c.start, c.end, due
                );
            }
            archive.close().await;
            Ok(())
        }
    }
}
