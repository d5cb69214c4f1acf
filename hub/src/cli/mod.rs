//! The command line of `bangfu-hub` (CONTRACT.md "Hub"): the clap definitions and what each command
//! prints, one module per area. Errors are `anyhow` here, each step with the context an operator
//! needs; everything a command does is library code elsewhere in the crate.

pub mod campaign;
pub mod org;
pub mod pki;
pub mod reports;
pub mod serve;
pub mod user;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, Version};
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::app::Hub;
use crate::config::{HubConfig, HubLevel};
use crate::store::Store;

/// bangfu-hub gathers statistic reports from the unions below it over mutual TLS, and keeps the
/// certificate authority (证书) that tells those unions apart.
#[derive(Parser)]
#[command(name = "bangfu-hub", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The hub's certificate authority: create it, issue certificates to child unions, revoke them (证书管理).
    #[command(subcommand)]
    Pki(pki::Pki),
    /// Set up this hub's data folder: hub.toml and the database (初始化).
    ///
    /// --tls names the folder with this hub's own ca.pem, cert.pem and key.pem (from `pki issue` with
    /// --host). --pki names the CA folder whose crl.pem (revocation list) is checked on every request
    /// and passed down to the children; without it, the hub uses the list its parent passes down
    /// (kept in --tls as crl.pem). Without --database-url the store is SQLite in DIR/hub.db.
    ///
    /// Example: bangfu-hub init --data /srv/bangfu/hub --org H --name 荆门市总工会 --level prefecture --tls /srv/bangfu/tls --pki /srv/bangfu/pki
    Init(InitArgs),
    /// Registered child unions (下级单位).
    #[command(subcommand)]
    Org(org::OrgCmd),
    /// Campaigns (填报任务).
    #[command(subcommand)]
    Campaign(campaign::CampaignCmd),
    /// Serve the children over mutual TLS (启动服务). Prints `listening on https://ADDR` once bound.
    Serve(ServeArgs),
    /// Fetch a child's latest report now over mutual TLS (拉取) and take it in as if it were pushed.
    ///
    /// The child must serve (`bangfu-node serve --listen`) at the address given with `org add --address`.
    ///
    /// Example: bangfu-hub pull --data /srv/bangfu/hub --campaign 2026-songnuan --org H01
    Pull(PullArgs),
    /// Remind the children that have not reported (催报), now: a reminder due in [remind] days_before
    /// days of a child's due date, and one per overdue day, each made once and delivered once on
    /// each of the child's channels (`org add --webhook … --email …`); past [remind]
    /// escalate_after_days a digest also goes to this hub's own channels. A serving hub does this by
    /// itself on [remind] schedule. `--test --org H01` sends a test message on each channel of H01
    /// and prints each channel's answer.
    ///
    /// Example: bangfu-hub remind --data /srv/bangfu/hub
    /// Example: bangfu-hub remind --data /srv/bangfu/hub --test --org H01
    Remind(RemindArgs),
    /// Print the rollup of a campaign as JSON (汇总), with its findings and the child versions it
    /// was made from; `--version N` prints stored rollup version N as it was made.
    ///
    /// `--format table|csv|xlsx` writes the official table instead (汇总表): the seed form's rows,
    /// labels, units and 说明, the hub's name, period and date, a sheet per child; ranges as L–U.
    ///
    /// Example: bangfu-hub rollup --data /srv/bangfu/hub --campaign songnuan-2026 --version 3
    /// Example: bangfu-hub rollup --data /srv/bangfu/hub --campaign songnuan-2026 --format xlsx --out 汇总表.xlsx
    Rollup(RollupArgs),
    /// Print a campaign's completeness, each child's latest report with its review, and the findings (进度).
    ///
    /// Example: bangfu-hub status --data /srv/bangfu/hub --campaign 2026-songnuan
    Status(StatusArgs),
    /// Accept a child's report, or return it with a reason the child will see (审核: 核准 / 退回).
    ///
    /// Reviews the latest version held unless --version names another. A newer version from the child
    /// starts pending again; earlier decisions are kept.
    ///
    /// Example: bangfu-hub review --data /srv/bangfu/hub --campaign 2026-songnuan --org H01 --return "3B 与档案不符，请核实"
    Review(ReviewArgs),
    /// Accounts of the dashboard's users: viewer, reviewer, admin (用户管理).
    #[command(subcommand)]
    User(bangfu_web::cli::UserCmd),
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[arg(long)]
    pub org: OrgCode,
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub level: HubLevel,
    /// Folder with this hub's ca.pem, cert.pem and key.pem.
    #[arg(long, value_name = "DIR")]
    pub tls: PathBuf,
    /// The CA folder whose crl.pem (revocation list) is checked (default: none, the parent's list).
    #[arg(long, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// The parent hub's URL.
    #[arg(long, value_name = "URL")]
    pub parent: Option<String>,
    /// The parent hub's org (HB), the only certificate accepted at --parent and the only reader
    /// of this hub's rollup besides itself (default: the org of the CA certificate in --tls).
    #[arg(long, value_name = "ORG", requires = "parent")]
    pub parent_org: Option<OrgCode>,
    /// postgres://… to keep the store in PostgreSQL instead of SQLite.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: String,
    /// Overrides hub.toml's CA folder for revocations.
    #[arg(long, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// With a parent: seconds between campaign syncs from it.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub sync_interval: u64,
    /// Pull every child with an address, for every open campaign, on this six-field cron schedule
    /// (seconds first) in Asia/Shanghai time, e.g. "0 0 8 * * *"; overrides hub.toml's [pull] schedule.
    #[arg(long, value_name = "CRON")]
    pub pull_schedule: Option<String>,
    /// Also serve the dashboard (看板, live rollups for people) over plain HTTP on this address,
    /// e.g. 127.0.0.1:8080; put it on the office network or behind a reverse proxy, not the internet.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
}

#[derive(Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[arg(long)]
    pub campaign: CampaignId,
    #[arg(long)]
    pub org: OrgCode,
}

#[derive(Args)]
pub struct RemindArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// The day to remind as of (default: today in Asia/Shanghai).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "test")]
    pub today: Option<chrono::NaiveDate>,
    /// Send a test message on each channel of --org instead of a round (nothing is recorded).
    #[arg(long, requires = "org")]
    pub test: bool,
    /// With --test: the child (or this hub's own code, for its contact channels).
    #[arg(long, requires = "test")]
    pub org: Option<OrgCode>,
}

#[derive(Args)]
pub struct RollupArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[arg(long)]
    pub campaign: CampaignId,
    /// A stored rollup version (default: the current rollup, stored as a new version if it changed).
    #[arg(long, value_name = "N")]
    pub version: Option<Version>,
    /// json (the rollup, CONTRACT.md) or the official table as table (text), csv or xlsx.
    #[arg(long, value_enum, default_value = "json")]
    pub format: reports::RollupFormat,
    /// Write to FILE instead of printing (required for xlsx).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[arg(long)]
    pub campaign: CampaignId,
}

#[derive(Args)]
#[command(group(ArgGroup::new("decision").required(true).args(["accept", "return_reason"])))]
pub struct ReviewArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[arg(long)]
    pub campaign: CampaignId,
    /// The child whose report is reviewed (H01).
    #[arg(long)]
    pub org: OrgCode,
    /// Accept the report (核准).
    #[arg(long)]
    pub accept: bool,
    /// Return the report with this reason (退回).
    #[arg(long = "return", value_name = "REASON")]
    pub return_reason: Option<String>,
    /// The version to review (default: the latest held).
    #[arg(long)]
    pub version: Option<Version>,
}

#[derive(Args)]
pub struct DataDir {
    /// The hub's data folder (hub.toml, hub.db).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

/// Runs `bangfu-hub` as the process's main: telemetry, the command, one error line on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A serving hub logs its traffic; a one-off command says only what went wrong.
    let default_filter = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn,sqlx=error"
    };
    let telemetry = bangfu_client::telemetry::init("bangfu-hub", "RUST_LOG", default_filter);
    let outcome = run(cli);
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "错误 / error: {}",
                bangfu_shared::printable::printable(&bangfu_client::one_line(
                    e.chain().map(|c| c.to_string())
                ))
            );
            ExitCode::FAILURE
        }
    }
}

/// Runs one command; the PKI commands need no runtime.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pki(p) => pki::run(p),
        other => {
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(run_async(other))
        }
    }
}

async fn run_async(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Pki(p) => pki::run(p),
        Command::Init(args) => init(args).await,
        Command::Org(cmd) => org::run(cmd).await,
        Command::Campaign(cmd) => campaign::run(cmd).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Pull(args) => org::pull(args).await,
        Command::Remind(args) => reports::remind(args).await,
        Command::Rollup(args) => reports::rollup(args).await,
        Command::Status(args) => reports::status(args).await,
        Command::Review(args) => reports::review(args).await,
        Command::User(cmd) => user::run(cmd).await,
    }
}

/// The hub in `data`, opened with the system clock.
async fn open(data: &Path) -> anyhow::Result<Hub> {
    Hub::open(data)
        .await
        .with_context(|| format!("opening the hub in {}", data.display()))
}

/// `bangfu-hub init`: hub.toml and the database; nothing is left behind when the database fails.
async fn init(args: InitArgs) -> anyhow::Result<()> {
    let InitArgs {
        data: DataDir { data },
        org,
        name,
        level,
        tls,
        pki,
        parent,
        parent_org,
        database_url,
    } = args;
    let abs =
        |p: PathBuf| std::fs::canonicalize(&p).with_context(|| format!("finding {}", p.display()));
    let tls = abs(tls)?;
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        anyhow::ensure!(
            tls.join(f).is_file(),
            "{} has no {f} / TLS 目录缺少 {f}",
            tls.display()
        );
    }
    let pki = pki.map(abs).transpose()?;
    let config = HubConfig {
        org,
        name,
        level,
        tls,
        pki,
        parent,
        parent_org,
        database_url,
        pull: None,
        reconcile: Default::default(),
        remind: Default::default(),
        smtp: None,
        intake: Default::default(),
        dashboard: Default::default(),
        door: Default::default(),
        versions: Default::default(),
    };
    config
        .create(&data)
        .with_context(|| format!("initialising {}", data.display()))?;
    let store = Store::open(&config.database_url(&data))
        .await
        .context("creating the hub's database");
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(data.join(crate::config::FILE));
            return Err(e);
        }
    };
    store.close().await;
    println!(
        "已初始化 / hub initialised: {} {} in {}",
        config.org,
        config.name,
        data.display()
    );
    Ok(())
}
