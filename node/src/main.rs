//! `bangfu-node`: the command line of a county union's node. Parsing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bangfu_node::archive::Archive;
use bangfu_node::parent::Parent;
use bangfu_node::settings::{Eligibility, Settings};
use bangfu_node::{
    campaigns, eligibility, export, facts, import, outbox, reminders, reporting, reviews, synth,
};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, Version};
use clap::{Parser, Subcommand, ValueEnum};

/// bangfu-node keeps a county union's hardship-household archive (困难职工档案) on this machine,
/// validates what is imported, and reports only privacy-reduced statistics to the parent union.
#[derive(Parser)]
#[command(name = "bangfu-node", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a node: its settings and an empty archive in --data (新建节点).
    ///
    /// Example: bangfu-node init --data /srv/bangfu --org H01 --name 京山县总工会 --dibao-line 400
    Init {
        /// The folder that will hold all of this node's state (archive, settings, outbox).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// This union's org code: a letter and two digits for a county (H01), as the province assigned.
        #[arg(long)]
        org: OrgCode,
        /// This union's name as it appears on reports (京山县总工会).
        #[arg(long)]
        name: String,
        /// The parent hub's URL (https://...), if the node is connected from the start.
        #[arg(long, requires = "tls")]
        parent: Option<String>,
        /// The folder with this node's ca.pem, cert.pem and key.pem from the parent.
        #[arg(long, value_name = "DIR")]
        tls: Option<PathBuf>,
        /// The local 低保 line, 元 per person per month.
        #[arg(long, default_value_t = 400.0)]
        dibao_line: f64,
        /// The edge band above the 低保 line, as a ratio (1.2 or 1.3).
        #[arg(long, default_value_t = 1.2)]
        edge_ratio: f64,
        /// A vocabulary file from the province replacing the built-in lists of allowed values.
        #[arg(long, value_name = "FILE")]
        vocabulary: Option<PathBuf>,
    },
    /// Import households, family members or aid records from a .csv (UTF-8 or GBK) or .xlsx file (导入).
    ///
    /// The kind of file is told by its header. Valid rows are stored; refused rows are written to
    /// FILE.rejects.csv with the line, column and reason. Importing the same file twice changes nothing.
    Import {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The file(s) to import, in order (households before their members and aid records).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the outcome as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the archive back out in the import format: FILE.csv (+ FILE.members.csv, FILE.aid.csv) or FILE.xlsx (导出).
    Export {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Where to write: a .csv (households; members and aid records go beside it) or an .xlsx.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// List households whose recorded 困难类别 the local rules do not support, or that no longer qualify (精准识别).
    Check {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Print at most this many warnings (all are counted).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show what the archive holds (档案概况).
    Summary {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Print exactly the statistic report that would leave this node, as JSON (报表预览).
    ///
    /// With --campaign, for a campaign's table and period; with --template and --as-of, for any table
    /// (a built-in id: songnuan, bangfu_center, dajiancha, dangan; or a table file FILE.toml).
    Report {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long, conflicts_with_all = ["template", "as_of"], required_unless_present = "template")]
        campaign: Option<CampaignId>,
        #[arg(long, requires = "as_of")]
        template: Option<String>,
        /// The day the archive is counted on (YYYY-MM-DD).
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
        format: ReportFormat,
        /// Where to write --format xlsx.
        #[arg(long, value_name = "FILE", required_if_eq("format", "xlsx"))]
        out: Option<PathBuf>,
    },
    /// Record figures typed in by the union for a campaign, e.g. 4A=12 5B=3.5 (填报数据).
    Enter {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        campaign: CampaignId,
        /// A .csv or .xlsx file of code,value rows.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// CODE=VALUE pairs, in the cell's unit (人, 户, 万元, …).
        #[arg(value_name = "CODE=VALUE", required_unless_present = "file")]
        figures: Vec<String>,
    },
    /// Campaigns this node reports for (活动).
    Campaign {
        #[command(subcommand)]
        action: CampaignAction,
    },
    /// Connect this node to its parent hub: its URL and the identity folder it issued (连接上级).
    ///
    /// Example: bangfu-node connect --data /srv/bangfu --parent https://hub.example:8443 --tls /srv/bangfu/tls
    Connect {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The parent hub's URL (https://…).
        #[arg(long)]
        parent: String,
        /// The folder with ca.pem, cert.pem and key.pem from `bangfu-hub pki issue`.
        #[arg(long, value_name = "DIR")]
        tls: PathBuf,
    },
    /// Send a campaign's report to the parent now (上报): sync campaigns, store a new version if the
    /// report changed, and deliver everything waiting in the outbox once. Exits non-zero if the parent
    /// refused a version or could not be reached (the version stays queued and is retried).
    Push {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        campaign: CampaignId,
    },
    /// Show campaigns, the versions of their reports, where each stands with the parent, and the
    /// parent's review (审核: 已核准 accepted / 已退回 returned, with the reason) (状态).
    ///
    /// When connected it asks the parent for the reviews first; --offline shows what is stored.
    Status {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Do not ask the parent; show the reviews as last fetched.
        #[arg(long)]
        offline: bool,
    },
    /// Run the node until Ctrl-C or SIGTERM: sync campaigns, version changed reports of open
    /// campaigns, and deliver due outbox entries every --interval seconds (后台运行).
    Serve {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Seconds between rounds.
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// Also serve the parent's pulls here (拉取服务), over mutual TLS with the node's --tls identity,
        /// whose certificate must carry this host's names (`bangfu-hub pki issue --host`). Port 0: any free port.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Keep reports in the outbox instead of pushing them: the parent pulls (campaigns still sync).
        #[arg(long)]
        no_push: bool,
    },
    /// Write a synthetic archive (households, members, aid records) for tests and demos (生成测试数据).
    ///
    /// Never use real people's data for testing. The same --seed gives the same files.
    Gen {
        /// The org whose staff numbers to use (H01; a prefecture letter such as H allows up to 9,999,999).
        #[arg(long)]
        org: OrgCode,
        /// How many households to make.
        #[arg(long)]
        households: u64,
        /// The same seed gives byte-identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of rows (0 to 1) that each break one named rule; listed in OUT/invalid.csv.
        #[arg(long, default_value_t = 0.0)]
        invalid: f64,
        #[arg(long, value_enum, default_value_t = GenFormat::Csv)]
        format: GenFormat,
        /// The 低保 line the incomes are made to fit, 元 per person per month.
        #[arg(long, default_value_t = 400)]
        dibao_line: u32,
        /// The edge band above the line the 低保边缘户 incomes fall in.
        #[arg(long, default_value_t = 1.2)]
        edge_ratio: f64,
        /// The folder to write households, members, aid (and invalid.csv) into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum CampaignAction {
    /// Enter a campaign from its circular, for a node not (yet) connected to its parent.
    Add {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The campaign's id, as the circular or the province names it (e.g. sn2026).
        #[arg(long)]
        id: CampaignId,
        /// A built-in table (songnuan, bangfu_center, dajiancha, dangan) or one in DIR/templates/.
        #[arg(long)]
        template: String,
        /// The circular's title.
        #[arg(long)]
        title: String,
        /// First day of the campaign (YYYY-MM-DD); aid records from this day count.
        #[arg(long)]
        start: chrono::NaiveDate,
        /// Last day of the campaign: the archive is counted as it stood on this day.
        #[arg(long)]
        end: chrono::NaiveDate,
        /// This node's deadline.
        #[arg(long)]
        due: Option<chrono::NaiveDate>,
    },
    /// List the campaigns this node knows.
    List {
        /// The node's state folder (made by `init`): archive, settings, outbox.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Json,
    /// Laid out like the seed's table, withheld cells shown as <k
    Table,
    /// A spreadsheet to print (needs --out)
    Xlsx,
}

#[derive(Clone, Copy, ValueEnum)]
enum GenFormat {
    /// UTF-8 CSV with BOM
    Csv,
    /// GBK CSV, as Chinese Excel saves "CSV"
    CsvGbk,
    Xlsx,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = bangfu_client::telemetry::init("bangfu-node", "BANGFU_LOG", "warn,sqlx=error");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(run(cli));
    // The runtime goes first: the exporters' flush blocks, which a runtime thread must not do.
    drop(runtime);
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "错误 / error: {}",
                bangfu_client::one_line(e.chain().map(|c| c.to_string()))
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            data,
            org,
            name,
            parent,
            tls,
            dibao_line,
            edge_ratio,
            vocabulary,
        } => {
            if data.join(bangfu_node::settings::FILE_NAME).exists() {
                return Err(bangfu_node::settings::Error::AlreadyInitialised(
                    data.display().to_string(),
                )
                .into());
            }
            if dibao_line.is_nan() || dibao_line <= 0.0 || !(1.0..=2.0).contains(&edge_ratio) {
                bail!(
                    "--dibao-line must be positive and --edge-ratio between 1.0 and 2.0 / 低保线或边缘比例不合理"
                );
            }
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            if let Some(v) = vocabulary {
                let text = std::fs::read_to_string(&v)
                    .with_context(|| format!("reading {}", v.display()))?;
                bangfu_shared::vocabulary::Vocabulary::parse(&text)
                    .with_context(|| format!("checking {}", v.display()))?;
                std::fs::write(data.join(bangfu_node::settings::VOCABULARY_FILE), text)?;
            }
            let settings = Settings {
                org,
                name,
                parent,
                tls,
                eligibility: Eligibility {
                    dibao_line,
                    edge_ratio,
                    ..Eligibility::default()
                },
            };
            Archive::open(&data, true)
                .await
                .context("creating the archive")?
                .close()
                .await;
            settings.save(&data)?;
            println!(
                "节点已建立 / node created: {} {} in {}",
                settings.org,
                settings.name,
                data.display()
            );
            Ok(())
        }
        Command::Import { data, files, json } => {
            let settings = Settings::load(&data)?;
            let vocabulary = Settings::vocabulary(&data)?;
            let archive = Archive::open(&data, false).await?;
            let ctx = import::Context {
                org: settings.org.clone(),
                vocabulary: &vocabulary,
                today: bangfu_shared::time::local_day(chrono::Utc::now()),
                progress: !json,
            };
            for file in &files {
                let outcome = import::import_file(&archive, &ctx, file)
                    .await
                    .with_context(|| {
                        format!(
                            "importing {} (nothing was changed / 未做任何修改)",
                            file.display()
                        )
                    })?;
                if json {
                    println!("{}", serde_json::to_string(&outcome)?);
                } else {
                    print_outcome(&outcome);
                }
            }
            if !json {
                print_counts(&archive).await?;
            }
            archive.close().await;
            Ok(())
        }
        Command::Export { data, out } => {
            Settings::load(&data)?;
            let archive = Archive::open(&data, false).await?;
            for path in export::export(&archive, &out).await? {
                println!("已导出 / written: {}", path.display());
            }
            archive.close().await;
            Ok(())
        }
        Command::Check { data, limit } => {
            let settings = Settings::load(&data)?;
            let archive = Archive::open(&data, false).await?;
            let rules = settings.eligibility;
            let warnings = eligibility::check(&archive, &rules).await?;
            for w in warnings.iter().take(limit) {
                println!("{}", w.describe(&rules));
            }
            let gone = warnings.iter().filter(|w| w.derived.is_none()).count();
            println!(
                "精准识别 / eligibility: {} 户需核实 households to review ({} 类别不符 category disagrees, {} 已不符合条件 no longer qualify)",
                warnings.len(),
                warnings.len() - gone,
                gone
            );
            archive.close().await;
            Ok(())
        }
        Command::Summary { data } => {
            Settings::load(&data)?;
            let archive = Archive::open(&data, false).await?;
            print_counts(&archive).await?;
            archive.close().await;
            Ok(())
        }
        Command::Report {
            data,
            campaign,
            template,
            as_of,
            format,
            out,
        } => {
            let settings = Settings::load(&data)?;
            let vocabulary = Settings::vocabulary(&data)?;
            let archive = Archive::open(&data, false).await?;
            let (report, table) = match (campaign, template, as_of) {
                (Some(id), _, _) => {
                    reporting::for_campaign(
                        &archive,
                        &data,
                        &settings.org,
                        &vocabulary,
                        id.as_str(),
                        Version::FIRST,
                    )
                    .await?
                }
                (None, Some(t), Some(day)) => {
                    let table = if t.ends_with(".toml") {
                        bangfu_shared::template::load_file(std::path::Path::new(&t), &vocabulary)?
                    } else {
                        bangfu_shared::template::load(
                            &t,
                            Some(&data.join("templates")),
                            &vocabulary,
                        )?
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
            if let Err(blocked) = report.ensure_sendable() {
                eprintln!("注意 / note: {blocked}");
            }
            Ok(())
        }
        Command::Enter {
            data,
            campaign,
            file,
            figures,
        } => {
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
        Command::Campaign {
            action:
                CampaignAction::Add {
                    data,
                    id,
                    template,
                    title,
                    start,
                    end,
                    due,
                },
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
        Command::Campaign {
            action: CampaignAction::List { data },
        } => {
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
        Command::Connect { data, parent, tls } => {
            let mut settings = Settings::load(&data)?;
            let tls = std::path::absolute(&tls)
                .with_context(|| format!("resolving {}", tls.display()))?;
            let client = Parent::new(&parent, &tls)
                .context("checking the parent URL and identity folder")?;
            settings.parent = Some(client.url().to_string());
            settings.tls = Some(tls.clone());
            settings.save(&data)?;
            println!(
                "已连接 / connected: {} → {} (identity {})",
                settings.org,
                client.url(),
                tls.display()
            );
            Ok(())
        }
        Command::Push { data, campaign } => push(&data, campaign.as_str()).await,
        Command::Status { data, offline } => status(&data, offline).await,
        Command::Serve {
            data,
            interval,
            listen,
            no_push,
        } => {
            serve(
                &data,
                std::time::Duration::from_secs(interval.max(1)),
                listen,
                no_push,
            )
            .await
        }
        Command::Gen {
            org,
            households,
            seed,
            invalid,
            format,
            dibao_line,
            edge_ratio,
            out,
        } => {
            if !(0.0..=1.0).contains(&invalid) {
                bail!("--invalid is a share from 0 to 1 / --invalid 应在 0 到 1 之间");
            }
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let vocabulary = bangfu_shared::vocabulary::Vocabulary::builtin();
            let opts = synth::Options {
                org,
                households,
                seed,
                invalid_rate: invalid,
                today: bangfu_shared::time::local_day(chrono::Utc::now()),
                dibao_line_yuan: dibao_line,
                edge_ratio,
                vocabulary: &vocabulary,
                format: match format {
                    GenFormat::Csv => synth::Format::Csv,
                    GenFormat::CsvGbk => synth::Format::CsvGbk,
                    GenFormat::Xlsx => synth::Format::Xlsx,
                },
            };
            let summary =
                synth::generate(&opts, &out).context("generating the synthetic archive")?;
            println!(
                "已生成 / generated: {} households ({} invalid), {} members ({} invalid), {} aid records ({} invalid)",
                summary.households,
                summary.invalid_households,
                summary.members,
                summary.invalid_members,
                summary.aid,
                summary.invalid_aid
            );
            for f in &summary.files {
                println!("  {}", f.display());
            }
            Ok(())
        }
    }
}

fn print_outcome(o: &import::Outcome) {
    let enc = o.encoding.map(|e| format!(" ({e})")).unwrap_or_default();
    println!("导入 / imported {}{}", o.file, enc);
    for s in &o.streams {
        let sheet = s
            .sheet
            .as_ref()
            .map(|n| format!(" [{n}]"))
            .unwrap_or_default();
        println!(
            "  {}{}: 读取 read {}, 新增 new {}, 更新 updated {}, 未变 unchanged {}, 拒绝 rejected {}",
            s.kind,
            sheet,
            s.rows_read,
            s.rows_new,
            s.rows_updated,
            s.rows_unchanged,
            s.rows_rejected
        );
        for (line, p) in &s.shown {
            println!(
                "    第 {line} 行 line {line}, {}「{}」: {}",
                p.column,
                p.value,
                p.violation.message()
            );
        }
        if s.rows_rejected as usize > s.shown.len() {
            println!(
                "    … ({} more / 其余见拒绝文件)",
                s.rows_rejected as usize - s.shown.len()
            );
        }
    }
    if let Some(r) = &o.rejects_file {
        println!(
            "  拒绝的行已写入 / rejected rows written to: {}",
            r.display()
        );
    }
}

async fn print_counts(archive: &Archive) -> anyhow::Result<()> {
    let c = archive.counts().await?;
    println!(
        "档案 / archive: {} 户 households (在档 {}, 已脱困 {}, 已剔除 {}), {} 家庭成员 members, {} 帮扶记录 aid records",
        c.households, c.on_file, c.lifted, c.removed, c.members, c.aid
    );
    Ok(())
}

/// The parent client, if this node is connected.
fn parent_of(settings: &Settings) -> anyhow::Result<Option<Parent>> {
    match (&settings.parent, &settings.tls) {
        (Some(url), Some(tls)) => Ok(Some(
            Parent::new(url, tls).context("loading the parent connection (bangfu-node connect)")?,
        )),
        _ => Ok(None),
    }
}

/// Syncs campaigns and prints what changed. A failure is returned as its message (already printed
/// when `quiet_failure` is false) and does not stop the caller: the outbox still runs.
async fn sync_campaigns(
    parent: &Parent,
    archive: &Archive,
    settings: &Settings,
    quiet_failure: bool,
) -> Result<(), String> {
    match campaigns::sync(parent, archive, &settings.org).await {
        Ok(Some(s)) if s.added + s.updated > 0 => {
            println!(
                "活动同步 / campaigns synced: {} new, {} updated, {} unchanged",
                s.added, s.updated, s.unchanged
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            let line = format!("活动同步失败 / campaign sync failed: {e:#}");
            if !quiet_failure {
                println!("{line}");
            }
            Err(line)
        }
    }
}

/// Builds campaign `id`'s report and versions it; prints the result. `Err` when it is blocked.
async fn version(
    data: &std::path::Path,
    archive: &Archive,
    settings: &Settings,
    id: &str,
) -> anyhow::Result<outbox::Versioned> {
    let vocabulary = Settings::vocabulary(data)?;
    let (report, _) = reporting::for_campaign(
        archive,
        data,
        &settings.org,
        &vocabulary,
        id,
        Version::default(),
    )
    .await
    .with_context(|| format!("building the report of campaign `{id}`"))?;
    let versioned = outbox::version_report(archive, id, report, chrono::Utc::now())
        .await
        .with_context(|| format!("campaign `{id}`: not versioned, nothing sent / 未生成新版本"))?;
    match &versioned {
        outbox::Versioned::New { version, hash } => println!(
            "campaign {id} version {version}: new version queued (sha256 {hash}) / 新版本已排队"
        ),
        outbox::Versioned::Unchanged { version } => {
            println!("campaign {id} version {version}: unchanged, no new version / 内容未变")
        }
    }
    Ok(versioned)
}

async fn push(data: &std::path::Path, id: &str) -> anyhow::Result<()> {
    let settings = Settings::load(data)?;
    let archive = Archive::open(data, false).await?;
    let parent = parent_of(&settings)?;
    if let Some(p) = &parent {
        let _ = sync_campaigns(p, &archive, &settings, false).await;
    }
    version(data, &archive, &settings, id).await?;
    let Some(parent) = parent else {
        archive.close().await;
        bail!(
            "not connected to a parent, the report waits in the outbox; run `bangfu-node connect` / 尚未连接上级"
        );
    };
    let deliveries = outbox::drain(&parent, &archive, chrono::Utc::now(), true).await?;
    archive.close().await;
    for d in &deliveries {
        println!("{d}");
    }
    let refused = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, bangfu_node::parent::Outcome::Refused { .. }))
        .count();
    let unreachable = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, bangfu_node::parent::Outcome::Unavailable { .. }))
        .count();
    if refused > 0 {
        bail!("the parent refused {refused} version(s); see the lines above / 上级拒收");
    }
    if unreachable > 0 {
        bail!(
            "the parent {} could not take {unreachable} version(s); they stay queued and `serve` retries them / 上级暂不可达",
            parent.url()
        );
    }
    Ok(())
}

async fn status(data: &std::path::Path, offline: bool) -> anyhow::Result<()> {
    let settings = Settings::load(data)?;
    let archive = Archive::open(data, false).await?;
    println!(
        "节点 / node: {} {}  上级 / parent: {}",
        settings.org,
        settings.name,
        settings
            .parent
            .as_deref()
            .unwrap_or("(not connected / 未连接)")
    );
    if let (Some(p), false) = (parent_of(&settings)?, offline) {
        if let Err(line) = reviews::fetch(&p, &archive, &settings.org, chrono::Utc::now()).await {
            println!("{line}; showing the reviews as last fetched / 显示上次获取的审核结果");
        }
        if let Err(line) = reminders::refresh(&p, &archive, chrono::Utc::now()).await {
            println!("{line}; showing the reminders as last fetched / 显示上次获取的催报提醒");
        }
    }
    let reviews = reviews::list(&archive).await?;
    let reminders = reminders::list(&archive).await?;
    let entries = outbox::entries(&archive).await?;
    let campaigns = campaigns::list(&archive).await?;
    for c in &campaigns {
        let due = c.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "campaign {}  {}  {}  {} – {}  due {}",
            c.id, c.template, c.title, c.start, c.end, due
        );
        let mine: Vec<_> = entries
            .iter()
            .filter(|e| c.id == e.campaign.as_str())
            .collect();
        if mine.is_empty() {
            println!("  no version yet / 尚未生成报表版本");
        }
        for e in mine {
            let mut line = format!(
                "  version {}  {}  attempts {}",
                e.version, e.state, e.attempts
            );
            if let Some(t) = e.on_time {
                line.push_str(if t { "  on time" } else { "  late" });
            }
            if let Some(at) = &e.acked_at {
                line.push_str(&format!("  acked {at}"));
            }
            if e.state == "pending" && e.attempts > 0 {
                line.push_str(&format!(
                    "  next attempt {}",
                    e.next_attempt_at.to_rfc3339()
                ));
            }
            if let Some(err) = &e.last_error {
                let status = e.last_status.map(|s| format!("{s} ")).unwrap_or_default();
                line.push_str(&format!("  last error: {status}{err}"));
            }
            println!("{line}");
        }
        for r in reviews.iter().filter(|r| r.campaign == c.id) {
            println!("  审核 / review: {}", reviews::describe(r));
        }
        for r in reminders.iter().filter(|r| r.campaign == c.id) {
            println!("  提醒 / reminder: {}", r.message);
        }
    }
    // Reminders about campaigns this node has not synced yet.
    for r in reminders
        .iter()
        .filter(|r| !campaigns.iter().any(|c| c.id == r.campaign))
    {
        println!(
            "提醒 / reminder (campaign {} not synced yet): {}",
            r.campaign, r.message
        );
    }
    archive.close().await;
    Ok(())
}

/// Campaigns whose end is at most this far past are still reported on (late reports and corrections).
const REPORT_WINDOW_DAYS: i64 = 60;

async fn serve(
    data: &std::path::Path,
    interval: std::time::Duration,
    listen: Option<String>,
    no_push: bool,
) -> anyhow::Result<()> {
    let settings = Settings::load(data)?;
    let archive = Archive::open(data, false).await?;
    let parent = parent_of(&settings)?;
    if let Some(addr) = listen {
        let tls = settings.tls.clone().context("serve --listen needs the node's TLS identity: run `bangfu-node connect --parent URL --tls DIR` first / 需先配置证书")?;
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        println!(
            "listening on https://{}",
            listener.local_addr().context("reading the bound address")?
        );
        tokio::spawn({
            let (archive, org) = (archive.clone(), settings.org.clone());
            async move {
                if let Err(e) = bangfu_node::pull_server::serve(listener, &tls, archive, org).await
                {
                    eprintln!("错误 / error: {e:#}");
                    std::process::exit(1);
                }
            }
        });
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            bangfu_client::signal::stop_requested().await;
            shutdown.cancel();
        }
    });
    println!(
        "serving / 运行中: {} every {}s, parent {}",
        settings.org,
        interval.as_secs(),
        parent
            .as_ref()
            .map(Parent::url)
            .unwrap_or("(not connected / 未连接)")
    );
    // Blocked reasons already printed, so a report that stays blocked is said once, not every round.
    let mut blocked: std::collections::HashMap<String, String> = Default::default();
    // Likewise a sync failure is printed when it starts or changes, and its end is said once.
    let mut sync_failure: Option<String> = None;
    loop {
        let round = async {
            if let Some(p) = &parent {
                match sync_campaigns(p, &archive, &settings, true).await {
                    Ok(()) if sync_failure.take().is_some() => {
                        println!("活动同步恢复 / campaign sync works again")
                    }
                    Ok(()) => {}
                    Err(line) => {
                        if sync_failure.as_ref() != Some(&line) {
                            println!("{line}");
                        }
                        sync_failure = Some(line);
                    }
                }
            }
            let today = bangfu_shared::time::local_day(chrono::Utc::now());
            for c in campaigns::list(&archive).await? {
                if today - c.end > chrono::Duration::days(REPORT_WINDOW_DAYS) {
                    continue;
                }
                match quiet_version(data, &archive, &settings, c.id.as_str()).await {
                    Ok(outbox::Versioned::New { version, hash }) => {
                        blocked.remove(c.id.as_str());
                        println!(
                            "campaign {} version {version}: new version queued (sha256 {hash}) / 新版本已排队",
                            c.id
                        );
                    }
                    Ok(outbox::Versioned::Unchanged { .. }) => {
                        blocked.remove(c.id.as_str());
                    }
                    Err(e) => {
                        let reason = format!("{e:#}");
                        if blocked.get(c.id.as_str()) != Some(&reason) {
                            println!("campaign {}: not versioned / 未生成新版本: {reason}", c.id);
                            blocked.insert(c.id.to_string(), reason);
                        }
                    }
                }
            }
            if let Some(p) = parent.as_ref().filter(|_| !no_push) {
                for d in outbox::drain(p, &archive, chrono::Utc::now(), false).await? {
                    println!("{d}");
                }
                // The parent's reviews, after the pushes; a failure was already said by the sync.
                for r in reviews::refresh(p, &archive, &settings.org, chrono::Utc::now())
                    .await
                    .unwrap_or_default()
                {
                    println!(
                        "campaign {} 审核 / review: {}",
                        r.campaign,
                        reviews::describe(&r)
                    );
                }
                match reminders::refresh(p, &archive, chrono::Utc::now()).await {
                    Ok(new) => {
                        for r in new {
                            println!("campaign {} 提醒 / reminder: {}", r.campaign, r.message);
                        }
                    }
                    Err(line) => println!("{line}"),
                }
            }
            anyhow::Ok(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = round => r?,
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    archive.close().await;
    println!("stopped / 已停止");
    Ok(())
}

async fn quiet_version(
    data: &std::path::Path,
    archive: &Archive,
    settings: &Settings,
    id: &str,
) -> anyhow::Result<outbox::Versioned> {
    let vocabulary = Settings::vocabulary(data)?;
    let (report, _) = reporting::for_campaign(
        archive,
        data,
        &settings.org,
        &vocabulary,
        id,
        Version::default(),
    )
    .await?;
    Ok(outbox::version_report(archive, id, report, chrono::Utc::now()).await?)
}
