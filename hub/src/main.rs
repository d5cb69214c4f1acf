//! `bangfu-hub`: the command line of a prefecture or province union's hub. Parsing only; the work is in
//! the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::{HubConfig, HubLevel};
use bangfu_hub::http::{self, AppState, ReloadingCert, Revocations};
use bangfu_hub::pki::{self, IssueOptions, RevokeTarget};
use bangfu_hub::registry::{self, Org};
use bangfu_hub::rollup;
use bangfu_hub::review;
use bangfu_hub::store::Store;
use bangfu_hub::tls;
use bangfu_shared::template::{self as tpl, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use std::path::Path;
use std::sync::Arc;
use bangfu_shared::org::OrgCode;
use clap::{ArgGroup, Args, Parser, Subcommand};

/// bangfu-hub gathers statistic reports from the unions below it over mutual TLS, and keeps the
/// certificate authority (证书) that tells those unions apart.
#[derive(Parser)]
#[command(name = "bangfu-hub", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The hub's certificate authority: create it, issue certificates to child unions, revoke them (证书管理).
    #[command(subcommand)]
    Pki(Pki),
    /// Set up this hub's data folder: hub.toml and the database (初始化).
    ///
    /// --tls names the folder with this hub's own ca.pem, cert.pem and key.pem (from `pki issue` with
    /// --host). --pki names the CA folder whose revoked.txt is checked on every request; without it
    /// no revocations are checked. Without --database-url the store is SQLite in DIR/hub.db.
    ///
    /// Example: bangfu-hub init --data /srv/bangfu/hub --org H --name 荆门市总工会 --level prefecture --tls /srv/bangfu/tls --pki /srv/bangfu/pki
    Init {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        org: OrgCode,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        level: HubLevel,
        /// Folder with this hub's ca.pem, cert.pem and key.pem.
        #[arg(long, value_name = "DIR")]
        tls: PathBuf,
        /// The CA folder whose revoked.txt is checked (default: none, no revocations are checked).
        #[arg(long, value_name = "DIR")]
        pki: Option<PathBuf>,
        /// The parent hub's URL.
        #[arg(long, value_name = "URL")]
        parent: Option<String>,
        /// postgres://… to keep the store in PostgreSQL instead of SQLite.
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Registered child unions (下级单位).
    #[command(subcommand)]
    Org(OrgCmd),
    /// Campaigns (填报任务).
    #[command(subcommand)]
    Campaign(CampaignCmd),
    /// Serve the children over mutual TLS (启动服务). Prints `listening on https://ADDR` once bound.
    Serve {
        #[command(flatten)]
        data: DataDir,
        /// Address to listen on (port 0: any free port).
        #[arg(long, default_value = "0.0.0.0:8443")]
        listen: String,
        /// Overrides hub.toml's CA folder for revocations.
        #[arg(long, value_name = "DIR")]
        pki: Option<PathBuf>,
        /// With a parent: seconds between campaign syncs from it.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        sync_interval: u64,
    },
    /// Print the rollup of a campaign as JSON (汇总).
    Rollup {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        campaign: String,
    },
    /// Print a campaign's completeness, each child's latest report with its review, and the findings (进度).
    ///
    /// Example: bangfu-hub status --data /srv/bangfu/hub --campaign 2026-songnuan
    Status {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        campaign: String,
    },
    /// Accept a child's report, or return it with a reason the child will see (审核: 核准 / 退回).
    ///
    /// Reviews the latest version held unless --version names another. A newer version from the child
    /// starts pending again; earlier decisions are kept.
    ///
    /// Example: bangfu-hub review --data /srv/bangfu/hub --campaign 2026-songnuan --org H01 --return "3B 与档案不符，请核实"
    #[command(group(ArgGroup::new("decision").required(true).args(["accept", "return_reason"])))]
    Review {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        campaign: String,
        /// The child whose report is reviewed (H01).
        #[arg(long)]
        org: OrgCode,
        /// Accept the report (核准).
        #[arg(long)]
        accept: bool,
        /// Return the report with this reason (退回).
        #[arg(long = "return", value_name = "REASON")]
        return_reason: Option<String>,
        /// The version to review (default: the latest held).
        #[arg(long)]
        version: Option<u32>,
    },
}

#[derive(Subcommand)]
enum OrgCmd {
    /// Register a child union, or update its name and contacts.
    ///
    /// Example: bangfu-hub org add --data /srv/bangfu/hub --code H01 --name 京山县总工会
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        code: OrgCode,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        webhook: Option<String>,
    },
}

#[derive(Subcommand)]
enum CampaignCmd {
    /// Create a campaign.
    ///
    /// --template is a built-in template id or a .toml file (its text is stored and served to children).
    ///
    /// Example: bangfu-hub campaign create --data D --id 2026-songnuan --template songnuan --title 2026年送温暖 --start 2026-01-01 --end 2026-01-31 --due county=2026-02-05 --due prefecture=2026-02-10
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        id: String,
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
}

#[derive(Args)]
struct DataDir {
    /// The hub's data folder (hub.toml, hub.db).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
}

#[derive(Subcommand)]
enum Pki {
    /// Create the certificate authority (CA) of this hub in --dir (新建根证书).
    ///
    /// Run once, on the hub's machine. --dir then holds ca.pem, ca-key.pem (keep it secret and backed
    /// up: whoever has it can issue certificates), issued.csv and revoked.txt. An existing CA is
    /// never overwritten.
    ///
    /// Example: bangfu-hub pki init --dir /srv/bangfu/pki --org HB --name 湖北省总工会
    Init {
        #[command(flatten)]
        dir: CaDir,
        /// This hub's own org code (HB for the province, H for a prefecture).
        #[arg(long)]
        org: OrgCode,
        /// This union's name, written into the CA certificate (湖北省总工会).
        #[arg(long)]
        name: String,
        /// How many days the CA is valid; every certificate it issues stops working with it.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue a key and certificate to a union (签发证书).
    ///
    /// Writes ca.pem, cert.pem and key.pem to --out; copy that folder to the union's machine and point
    /// `bangfu-node init --tls` at it. For the hub's own server certificate, issue to the hub's org
    /// with --host for each name or IP address the children connect to.
    ///
    /// Example: bangfu-hub pki issue --dir /srv/bangfu/pki --org H01 --name 京山县总工会 --out ./H01-tls
    Issue {
        #[command(flatten)]
        dir: CaDir,
        /// The org code of the union that will use the certificate (H01).
        #[arg(long)]
        org: OrgCode,
        /// That union's name (京山县总工会).
        #[arg(long)]
        name: String,
        /// A host name or IP address this certificate may serve as; repeat for several.
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
        /// How many days the certificate is valid.
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// The folder to write ca.pem, cert.pem and key.pem to (created if missing; must not already hold cert.pem or key.pem).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Revoke a union's certificates, or one certificate by serial (吊销证书).
    ///
    /// With --org, every unexpired certificate issued to that org; with --serial, one certificate as
    /// `pki list` shows it. A running hub reads revoked.txt when it starts.
    ///
    /// Example: bangfu-hub pki revoke --dir /srv/bangfu/pki --org H01
    #[command(group(ArgGroup::new("target").required(true).args(["org", "serial"])))]
    Revoke {
        #[command(flatten)]
        dir: CaDir,
        /// Revoke every unexpired certificate of this org code.
        #[arg(long)]
        org: Option<OrgCode>,
        /// Revoke the certificate with this serial (hex).
        #[arg(long)]
        serial: Option<String>,
    },
    /// List the certificates issued by the CA, with their expiry and whether they are revoked (证书列表).
    List {
        #[command(flatten)]
        dir: CaDir,
    },
}

#[derive(Args)]
struct CaDir {
    /// The folder that holds the CA (ca.pem, ca-key.pem, issued.csv, revoked.txt).
    #[arg(long, value_name = "PKI")]
    dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A serving hub logs its traffic; a one-off command says only what went wrong.
    let default_filter = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn,sqlx=error" };
    let telemetry = bangfu_client::telemetry::init("bangfu-hub", "RUST_LOG", default_filter);
    let outcome = run(cli);
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: what failed and why, each cause after the other.
            let mut line = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if !line.contains(&cause) {
                    line.push_str(if line.is_empty() { "" } else { ": " });
                    line.push_str(&cause);
                }
            }
            eprintln!("错误 / error: {line}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pki(p) => run_pki(p),
        other => {
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(run_hub(other))
        }
    }
}

async fn open(data: &Path) -> anyhow::Result<(HubConfig, Store)> {
    let config = HubConfig::load(data)?;
    let store = Store::open(&config.database_url(data)).await.context("opening the hub's database")?;
    Ok((config, store))
}

async fn run_hub(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Pki(p) => run_pki(p),
        Command::Init { data: DataDir { data }, org, name, level, tls, pki, parent, database_url } => {
            let abs = |p: PathBuf| std::fs::canonicalize(&p).with_context(|| format!("finding {}", p.display()));
            let tls = abs(tls)?;
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                anyhow::ensure!(tls.join(f).is_file(), "{} has no {f} / TLS 目录缺少 {f}", tls.display());
            }
            let pki = pki.map(abs).transpose()?;
            let config = HubConfig { org, name, level, tls, pki, parent, database_url };
            config.create(&data).with_context(|| format!("initialising {}", data.display()))?;
            let store = Store::open(&config.database_url(&data)).await.context("creating the hub's database");
            let store = match store {
                Ok(s) => s,
                Err(e) => {
                    let _ = std::fs::remove_file(data.join(bangfu_hub::config::FILE));
                    return Err(e);
                }
            };
            store.close().await;
            println!("已初始化 / hub initialised: {} {} in {}", config.org, config.name, data.display());
            Ok(())
        }
        Command::Org(OrgCmd::Add { data: DataDir { data }, code, name, email, webhook }) => {
            let (_, store) = open(&data).await?;
            registry::add(&store, &Org { code: code.clone(), name: name.clone(), email, webhook })
                .await
                .with_context(|| format!("registering {code}"))?;
            store.close().await;
            println!("已登记 / registered: {code} {name}");
            Ok(())
        }
        Command::Campaign(CampaignCmd::Create { data: DataDir { data }, id, template, title, start, end, due }) => {
            let (_, store) = open(&data).await?;
            anyhow::ensure!(start <= end, "--start {start} is after --end {end} / 开始日期晚于结束日期");
            let due = parse_due(&due)?;
            let (t, body) = load_template(&template)?;
            let campaign = Campaign { id: id.clone(), template: t.id.clone(), title, start, end, due, template_body: body };
            let created = campaigns::create(&store, &campaign, "local").await.with_context(|| format!("creating campaign {id}"))?;
            store.close().await;
            anyhow::ensure!(created, "campaign {id} exists already / 填报任务已存在");
            println!("已创建填报任务 / campaign created: {id} ({})", t.id);
            Ok(())
        }
        Command::Serve { data: DataDir { data }, listen, pki, sync_interval } => {
            let (config, store) = open(&data).await?;
            tls::install_provider();
            let pki = pki.or(config.pki.clone());
            let revocations = Revocations::new(pki.as_deref()).context("reading the revocation list")?;
            let ca = std::fs::read_to_string(config.tls.join("ca.pem")).with_context(|| format!("reading {}", config.tls.join("ca.pem").display()))?;
            let resolver = ReloadingCert::new(config.tls.join("cert.pem"), config.tls.join("key.pem")).context("loading the hub's certificate")?;
            let server = tls::server_config_with_resolver(&ca, Arc::new(resolver)).context("building the TLS configuration")?;
            let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr().context("reading the bound address")?;
            if pki.is_none() {
                tracing::warn!("no --pki: revocations are not checked");
            }
            let upstream = match &config.parent {
                Some(url) => {
                    let parent = bangfu_client::Parent::new(url, &config.tls).context("setting up the client to the parent hub")?;
                    let changed = Arc::new(bangfu_hub::upstream::Changed::default());
                    let interval = std::time::Duration::from_secs(sync_interval.max(1));
                    tokio::spawn(bangfu_hub::upstream::run(store.clone(), config.clone(), parent, interval, changed.clone()));
                    Some(changed)
                }
                None => None,
            };
            let app = http::router(AppState { store, org: config.org.clone(), name: config.name.clone(), revocations: Arc::new(revocations), upstream });
            println!("listening on https://{addr}");
            use std::io::Write as _;
            std::io::stdout().flush().ok();
            tokio::select! {
                served = http::serve(listener, Arc::new(server), app) => served.context("serving")?,
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
            }
            Ok(())
        }
        Command::Rollup { data: DataDir { data }, campaign } => {
            let (config, store) = open(&data).await?;
            let r = rollup::rollup(&store, &config.org, &config.name, &campaign).await.with_context(|| format!("rolling up {campaign}"))?;
            store.close().await;
            println!("{}", serde_json::to_string_pretty(&r).context("writing JSON")?);
            Ok(())
        }
        Command::Status { data: DataDir { data }, campaign } => {
            let (config, store) = open(&data).await?;
            let text = bangfu_hub::status::render(&store, &config, &campaign).await.with_context(|| format!("the status of {campaign}"));
            store.close().await;
            print!("{}", text?);
            Ok(())
        }
        Command::Review { data: DataDir { data }, campaign, org, accept, return_reason, version } => {
            let (_, store) = open(&data).await?;
            let decision = if accept { review::Decision::Accept } else { review::Decision::Return(return_reason.unwrap_or_default()) };
            let done = review::decide(&store, &campaign, &org, version, &decision, chrono::Utc::now()).await;
            store.close().await;
            let r = done.with_context(|| format!("reviewing {org}'s report on {campaign} (nothing was recorded / 未记录)"))?;
            let why = r.reason.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
            println!("{} / {}: {} version {} of {}{why}", r.state.label(), r.state, r.org, r.version, r.campaign);
            Ok(())
        }
    }
}

fn parse_due(raw: &[String]) -> anyhow::Result<Due> {
    let (mut county, mut prefecture, mut province) = (None, None, None);
    for d in raw {
        let (level, date) = d.split_once('=').with_context(|| format!("--due {d}: expected LEVEL=DATE / 格式应为 级别=日期"))?;
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").with_context(|| format!("--due {d}: not a date YYYY-MM-DD"))?;
        match level {
            "county" => county = Some(date),
            "prefecture" => prefecture = Some(date),
            "province" => province = Some(date),
            other => anyhow::bail!("--due {d}: unknown level `{other}` (county, prefecture, province)"),
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
        let text = std::fs::read_to_string(raw).with_context(|| format!("reading template {raw}"))?;
        let t = Template::parse(&text, &v).with_context(|| format!("loading template {raw}"))?;
        Ok((t, Some(text)))
    } else {
        Ok((tpl::builtin(raw, &v).with_context(|| format!("loading template {raw}"))?, None))
    }
}

fn run_pki(p: Pki) -> anyhow::Result<()> {
    match p {
        Pki::Init { dir: CaDir { dir }, org, name, days } => {
            let ca = pki::init(&dir, &org, &name, days).with_context(|| format!("creating the CA for {org} in {}", dir.display()))?;
            println!("根证书已建立 / CA created: {org} {name}, serial {}, valid until {}", ca.serial, ca.not_after.format("%Y-%m-%d"));
            println!("  {}", ca.cert_path.display());
            println!("  {} (secret / 请妥善保管并备份)", ca.key_path.display());
            Ok(())
        }
        Pki::Issue { dir: CaDir { dir }, org, name, hosts, days, out } => {
            let issued = pki::issue(&dir, &org, &name, &IssueOptions::for_days(hosts, days), &out)
                .with_context(|| format!("issuing a certificate to {org} from the CA in {}", dir.display()))?;
            println!(
                "证书已签发 / certificate issued: {org} {name}, serial {}, valid until {}",
                issued.serial,
                issued.not_after.format("%Y-%m-%d")
            );
            for p in [&issued.ca_path, &issued.cert_path, &issued.key_path] {
                println!("  {}", p.display());
            }
            Ok(())
        }
        Pki::Revoke { dir: CaDir { dir }, org, serial } => {
            let target = match (org, serial) {
                (Some(org), _) => RevokeTarget::Org(org),
                (None, Some(serial)) => RevokeTarget::Serial(serial),
                (None, None) => anyhow::bail!("give --org or --serial / 请指定 --org 或 --serial"),
            };
            let revoked = pki::revoke(&dir, &target).with_context(|| format!("revoking in the CA in {}", dir.display()))?;
            if revoked.is_empty() {
                println!("无需吊销 / nothing to revoke: already revoked or expired");
            }
            for serial in revoked {
                println!("已吊销 / revoked: {serial}");
            }
            Ok(())
        }
        Pki::List { dir: CaDir { dir } } => {
            let entries = pki::list(&dir).with_context(|| format!("listing the certificates of the CA in {}", dir.display()))?;
            println!("{:<32}  {:<8}  {:<10}  {:<10}  {:<8}  name", "serial", "org", "issued", "expires", "status");
            let now = chrono::Utc::now();
            for e in entries {
                let status = if e.revoked {
                    "revoked"
                } else if e.not_after <= now {
                    "expired"
                } else {
                    "valid"
                };
                println!(
                    "{:<32}  {:<8}  {:<10}  {:<10}  {:<8}  {}",
                    e.serial,
                    e.org,
                    e.issued_at.format("%Y-%m-%d"),
                    e.not_after.format("%Y-%m-%d"),
                    status,
                    e.name
                );
            }
            Ok(())
        }
    }
}
