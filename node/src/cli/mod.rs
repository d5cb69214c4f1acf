//! The command line of `bangfu-node` (CONTRACT.md "Node"): the clap definitions and what each
//! command prints, one module per area ([`archive`]: the household archive; [`reports`]: tables and
//! campaigns; [`link`]: the parent, and the daemon). Errors are `anyhow` here, with the context an
//! operator needs; the work is library code elsewhere in the crate.

pub mod archive;
pub mod link;
pub mod reports;
pub mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::CampaignId;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// bangfu-node keeps a county union's hardship-household archive (困难职工档案) on this machine,
/// validates what is imported, and reports only privacy-reduced statistics to the parent union.
#[derive(Parser)]
#[command(name = "bangfu-node", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a node: its settings and an empty archive in --data (新建节点).
    ///
    /// Example: bangfu-node init --data /srv/bangfu --org H01 --name 京山县总工会 --dibao-line 400
    Init(InitArgs),
    /// Import households, family members or aid records from a .csv (UTF-8 or GBK) or .xlsx file (导入).
    ///
    /// The kind of file is told by its header. Valid rows are stored; refused rows are written to
    /// FILE.rejects.csv with the line, column and reason. Importing the same file twice changes nothing.
    Import(ImportArgs),
    /// Write the archive back out in the import format: FILE.csv (+ FILE.members.csv, FILE.aid.csv) or FILE.xlsx (导出).
    Export(ExportArgs),
    /// List households whose recorded 困难类别 the local rules do not support, or that no longer qualify (精准识别).
    Check(CheckArgs),
    /// Show what the archive holds (档案概况).
    Summary(SummaryArgs),
    /// Print exactly the statistic report that would leave this node, as JSON (报表预览).
    ///
    /// With --campaign, for a campaign's table and period; with --template and --as-of, for any table
    /// (a built-in id: songnuan, bangfu_center, dajiancha, dangan; or a table file FILE.toml).
    Report(ReportArgs),
    /// Print exactly what this node has sent (or queued to send) to its parent, byte for byte (发布台账).
    ///
    /// One header line per report version (`# campaign … version … template … as-of … state … sha256 …
    /// bytes …`), then its body exactly as sent: what a recipient holding all of them holds.
    Sent(SentArgs),
    /// Record figures typed in by the union for a campaign, e.g. 4A=12 5B=3.5 (填报数据).
    Enter(EnterArgs),
    /// Campaigns this node reports for (活动).
    Campaign {
        #[command(subcommand)]
        action: CampaignAction,
    },
    /// Connect this node to its parent hub: its URL and the identity folder it issued (连接上级).
    ///
    /// Example: bangfu-node connect --data /srv/bangfu --parent https://hub.example:8443 --tls /srv/bangfu/tls
    Connect(ConnectArgs),
    /// Get this node's certificate from its parent with a one-time code (注册证书), and connect.
    ///
    /// The key is made on this machine and never leaves it; only a certificate request travels. The
    /// parent's operator gives the code and the CA fingerprint (`bangfu-hub org enrol-code`). The
    /// identity is written to DIR/tls (ca.pem, cert.pem, key.pem 0600), then the node is connected as
    /// `connect` would. The certificate is renewed by `serve` by itself before it ends.
    ///
    /// Example: bangfu-node enrol --data /srv/bangfu --parent https://h.example:8443 --code 7KQM-2XHP-9RTA-C4WN --ca-fingerprint 3F2A…
    Enrol(EnrolArgs),
    /// Send a campaign's report to the parent now (上报): sync campaigns, store a new version if the
    /// report changed, and deliver everything waiting in the outbox once. Exits non-zero if the parent
    /// refused a version or could not be reached (the version stays queued and is retried).
    Push(PushArgs),
    /// Show campaigns, the versions of their reports, where each stands with the parent, and the
    /// parent's review (审核: 已核准 accepted / 已退回 returned, with the reason) (状态).
    ///
    /// When connected it asks the parent for the reviews first; --offline shows what is stored.
    Status(StatusArgs),
    /// Run the node until Ctrl-C or SIGTERM: sync campaigns, version changed reports of open
    /// campaigns, and deliver due outbox entries every --interval seconds (后台运行).
    Serve(ServeArgs),
    /// Write a synthetic archive (households, members, aid records) for tests and demos (生成测试数据).
    ///
    /// Never use real people's data for testing. The same --seed gives the same files.
    Gen(GenArgs),
    /// Accounts of the office UI's users: clerk, admin (用户管理).
    #[command(subcommand)]
    User(bangfu_web::cli::UserCmd),
}

#[derive(Args)]
pub struct InitArgs {
    /// The folder that will hold all of this node's state (archive, settings, outbox).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// This union's org code: a letter and two digits for a county (H01), as the province assigned.
    #[arg(long)]
    pub org: OrgCode,
    /// This union's name as it appears on reports (京山县总工会).
    #[arg(long)]
    pub name: String,
    /// The parent hub's URL (https://...), if the node is connected from the start.
    #[arg(long, requires = "tls")]
    pub parent: Option<String>,
    /// The folder with this node's ca.pem, cert.pem and key.pem from the parent.
    #[arg(long, value_name = "DIR")]
    pub tls: Option<PathBuf>,
    /// The local 低保 line, 元 per person per month.
    #[arg(long, default_value_t = 400.0)]
    pub dibao_line: f64,
    /// The edge band above the 低保 line, as a ratio (1.2 or 1.3).
    #[arg(long, default_value_t = 1.2)]
    pub edge_ratio: f64,
    /// A vocabulary file from the province replacing the built-in lists of allowed values.
    #[arg(long, value_name = "FILE")]
    pub vocabulary: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The file(s) to import, in order (households before their members and aid records).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the outcome as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Where to write: a .csv (households; members and aid records go beside it) or an .xlsx.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct CheckArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Print at most this many warnings (all are counted).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Args)]
pub struct SummaryArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

#[derive(Args)]
pub struct ReportArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[arg(long, conflicts_with_all = ["template", "as_of"], required_unless_present = "template")]
    pub campaign: Option<CampaignId>,
    #[arg(long, requires = "as_of")]
    pub template: Option<String>,
    /// The day the archive is counted on (YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
    pub format: ReportFormat,
    /// Where to write --format xlsx.
    #[arg(long, value_name = "FILE", required_if_eq("format", "xlsx"))]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct SentArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Only this campaign's versions.
    #[arg(long)]
    pub campaign: Option<CampaignId>,
    /// Only this version (with or without --campaign).
    #[arg(long)]
    pub version: Option<u32>,
}

#[derive(Args)]
pub struct EnterArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[arg(long)]
    pub campaign: CampaignId,
    /// A .csv or .xlsx file of code,value rows.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// CODE=VALUE pairs, in the cell's unit (人, 户, 万元, …).
    #[arg(value_name = "CODE=VALUE", required_unless_present = "file")]
    pub figures: Vec<String>,
}

#[derive(Args)]
pub struct ConnectArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The parent hub's URL (https://…).
    #[arg(long)]
    pub parent: String,
    /// The folder with ca.pem, cert.pem and key.pem from `bangfu-hub pki issue`.
    #[arg(long, value_name = "DIR")]
    pub tls: PathBuf,
    /// The parent's org, when it is not the prefecture the node's code implies (H01 → H): the
    /// only certificate accepted at --parent and the only org allowed to pull.
    #[arg(long, value_name = "ORG")]
    pub parent_org: Option<bangfu_shared::org::OrgCode>,
}

#[derive(Args)]
pub struct EnrolArgs {
    /// The node's state folder (made by `init`).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The parent hub's URL (https://…).
    #[arg(long)]
    pub parent: String,
    /// The one-time enrolment code from the parent's operator (XXXX-XXXX-XXXX-XXXX).
    #[arg(long)]
    pub code: String,
    /// The CA fingerprint printed with the code (64 hex digits, separators optional).
    #[arg(long, value_name = "FP")]
    pub ca_fingerprint: String,
    /// The parent's org, when it is not the prefecture the node's code implies (H01 → H).
    #[arg(long, value_name = "ORG")]
    pub parent_org: Option<bangfu_shared::org::OrgCode>,
    /// A host name or address the parent pulls this node at (`serve --listen`); repeat for several.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
}

#[derive(Args)]
pub struct PushArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[arg(long)]
    pub campaign: CampaignId,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Do not ask the parent; show the reviews as last fetched.
    #[arg(long)]
    pub offline: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    /// The node's state folder (made by `init`): archive, settings, outbox.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 30)]
    pub interval: u64,
    /// Also serve the parent's pulls here (拉取服务), over mutual TLS with the node's --tls identity,
    /// whose certificate must carry this host's names (`bangfu-hub pki issue --host`). Port 0: any free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Keep reports in the outbox instead of pushing them: the parent pulls (campaigns still sync).
    #[arg(long)]
    pub no_push: bool,
    /// Also serve the office UI (办公页面: import, 填报, what leaves, the archive) over plain HTTP
    /// here, e.g. 127.0.0.1:8080; log in with an account from `bangfu-node user add`. Port 0: any
    /// free port. Works without a parent too.
    #[arg(long, value_name = "ADDR")]
    pub ui: Option<String>,
}

#[derive(Args)]
pub struct GenArgs {
    /// The org whose staff numbers to use (H01; a prefecture letter such as H allows up to 9,999,999).
    #[arg(long)]
    pub org: OrgCode,
    /// How many households to make.
    #[arg(long)]
    pub households: u64,
    /// The same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of rows (0 to 1) that each break one named rule; listed in OUT/invalid.csv.
    #[arg(long, default_value_t = 0.0)]
    pub invalid: f64,
    #[arg(long, value_enum, default_value_t = GenFormat::Csv)]
    pub format: GenFormat,
    /// The 低保 line the incomes are made to fit, 元 per person per month.
    #[arg(long, default_value_t = 400)]
    pub dibao_line: u32,
    /// The edge band above the line the 低保边缘户 incomes fall in.
    #[arg(long, default_value_t = 1.2)]
    pub edge_ratio: f64,
    /// The folder to write households, members, aid (and invalid.csv) into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Subcommand)]
pub enum CampaignAction {
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
pub enum ReportFormat {
    Json,
    /// Laid out like the seed's table, withheld cells shown as <k
    Table,
    /// A spreadsheet to print (needs --out)
    Xlsx,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GenFormat {
    /// UTF-8 CSV with BOM
    Csv,
    /// GBK CSV, as Chinese Excel saves "CSV"
    CsvGbk,
    Xlsx,
}

/// Runs `bangfu-node` as the process's main: telemetry, the command, one error line on failure.
pub fn main() -> ExitCode {
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
                bangfu_shared::printable::printable(&bangfu_client::one_line(
                    e.chain().map(|c| c.to_string())
                ))
            );
            ExitCode::FAILURE
        }
    }
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(a) => archive::init(a).await,
        Command::Import(a) => archive::import(a).await,
        Command::Export(a) => archive::export(a).await,
        Command::Check(a) => archive::check(a).await,
        Command::Summary(a) => archive::summary(a).await,
        Command::Gen(a) => archive::generate(a),
        Command::Report(a) => reports::report(a).await,
        Command::Sent(a) => reports::sent(a).await,
        Command::Enter(a) => reports::enter(a).await,
        Command::Campaign { action } => reports::campaign(action).await,
        Command::Connect(a) => link::connect(a),
        Command::Enrol(a) => link::enrol(a).await,
        Command::Push(a) => link::push(a).await,
        Command::Status(a) => link::status(a).await,
        Command::Serve(a) => link::serve(a).await,
        Command::User(cmd) => user::run(cmd).await,
    }
}
