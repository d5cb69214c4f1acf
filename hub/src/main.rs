//! `bangfu-hub`: the command line of a prefecture or province union's hub. Parsing only; the work is in
//! the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bangfu_client::pki::{self, IssueOptions, RevokeTarget};
use bangfu_hub::campaign_changes;
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::{HubConfig, HubLevel};
use bangfu_hub::http::{self, AppState, ReloadingCert, Revocations};
use bangfu_hub::registry::{self, Org};
use bangfu_hub::review;
use bangfu_hub::rollup;
use bangfu_hub::store::Store;
use bangfu_hub::tls;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, ReceiptStatus, Version};
use bangfu_shared::template::{self as tpl, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::Path;
use std::sync::Arc;

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
        /// Pull every child with an address, for every open campaign, on this six-field cron schedule
        /// (seconds first) in Asia/Shanghai time, e.g. "0 0 8 * * *"; overrides hub.toml's [pull] schedule.
        #[arg(long, value_name = "CRON")]
        pull_schedule: Option<String>,
        /// Also serve the dashboard (看板, live rollups for people) over plain HTTP on this address,
        /// e.g. 127.0.0.1:8080; put it on the office network or behind a reverse proxy, not the internet.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
    },
    /// Fetch a child's latest report now over mutual TLS (拉取) and take it in as if it were pushed.
    ///
    /// The child must serve (`bangfu-node serve --listen`) at the address given with `org add --address`.
    ///
    /// Example: bangfu-hub pull --data /srv/bangfu/hub --campaign 2026-songnuan --org H01
    Pull {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        campaign: CampaignId,
        #[arg(long)]
        org: OrgCode,
    },
    /// Remind the children that have not reported (催报), now: a reminder due in [remind] days_before
    /// days of a child's due date, and one per overdue day, each made once and posted to the child's
    /// webhook (`org add --webhook`). A serving hub does this by itself on [remind] schedule.
    ///
    /// Example: bangfu-hub remind --data /srv/bangfu/hub
    Remind {
        #[command(flatten)]
        data: DataDir,
        /// The day to remind as of (default: today in Asia/Shanghai).
        #[arg(long, value_name = "YYYY-MM-DD")]
        today: Option<chrono::NaiveDate>,
    },
    /// Print the rollup of a campaign as JSON (汇总), with its findings and the child versions it
    /// was made from; `--version N` prints stored rollup version N as it was made.
    ///
    /// Example: bangfu-hub rollup --data /srv/bangfu/hub --campaign songnuan-2026 --version 3
    Rollup {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        campaign: CampaignId,
        /// A stored rollup version (default: the current rollup, stored as a new version if it changed).
        #[arg(long, value_name = "N")]
        version: Option<Version>,
    },
    /// Print a campaign's completeness, each child's latest report with its review, and the findings (进度).
    ///
    /// Example: bangfu-hub status --data /srv/bangfu/hub --campaign 2026-songnuan
    Status {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        campaign: CampaignId,
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
        campaign: CampaignId,
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
        version: Option<Version>,
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
        /// Where the child serves its reports for pulls (https://HOST:PORT, `bangfu-node serve --listen`).
        #[arg(long, value_name = "URL")]
        address: Option<String>,
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
    let default_filter = if matches!(cli.command, Command::Serve { .. }) {
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
                bangfu_client::one_line(e.chain().map(|c| c.to_string()))
            );
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
    let store = Store::open(&config.database_url(data))
        .await
        .context("opening the hub's database")?;
    Ok((config, store))
}

async fn run_hub(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Pki(p) => run_pki(p),
        Command::Init {
            data: DataDir { data },
            org,
            name,
            level,
            tls,
            pki,
            parent,
            database_url,
        } => {
            let abs = |p: PathBuf| {
                std::fs::canonicalize(&p).with_context(|| format!("finding {}", p.display()))
            };
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
                database_url,
                pull: None,
                reconcile: Default::default(),
                remind: Default::default(),
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
                    let _ = std::fs::remove_file(data.join(bangfu_hub::config::FILE));
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
        Command::Org(OrgCmd::Add {
            data: DataDir { data },
            code,
            name,
            email,
            webhook,
            address,
        }) => {
            let (_, store) = open(&data).await?;
            if let Some(a) = &address {
                anyhow::ensure!(
                    a.starts_with("https://"),
                    "--address {a}: a child is pulled over mutual TLS only, give https://HOST:PORT / 地址须为 https://"
                );
            }
            registry::add(
                &store,
                &Org {
                    code: code.clone(),
                    name: name.clone(),
                    email,
                    webhook,
                },
            )
            .await
            .with_context(|| format!("registering {code}"))?;
            if let Some(a) = &address {
                bangfu_hub::pull::set_address(&store, &code, a).await?;
            }
            store.close().await;
            println!("已登记 / registered: {code} {name}");
            Ok(())
        }
        Command::Campaign(CampaignCmd::Create {
            data: DataDir { data },
            id,
            template,
            title,
            start,
            end,
            due,
        }) => {
            let (_, store) = open(&data).await?;
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
            let created = campaigns::create(&store, &campaign, "local")
                .await
                .with_context(|| format!("creating campaign {id}"))?;
            store.close().await;
            anyhow::ensure!(created, "campaign {id} exists already / 填报任务已存在");
            println!("已创建填报任务 / campaign created: {id} ({})", t.id);
            Ok(())
        }
        Command::Campaign(CampaignCmd::Update {
            data: DataDir { data },
            id,
            title,
            start,
            end,
            due,
            template,
        }) => {
            let (_, store) = open(&data).await?;
            let mut change = campaign_changes::Change {
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
            let c = campaign_changes::update(&store, id.as_str(), &change)
                .await
                .with_context(|| format!("updating campaign {id}"))?;
            store.close().await;
            println!(
                "已更新填报任务 / campaign updated: {id} ({}, {} – {}, due county {} prefecture {})",
                c.template, c.start, c.end, c.due.county, c.due.prefecture
            );
            Ok(())
        }
        Command::Campaign(CampaignCmd::List {
            data: DataDir { data },
        }) => {
            let (_, store) = open(&data).await?;
            let list = campaign_changes::list(&store)
                .await
                .context("listing campaigns")?;
            store.close().await;
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
                    c.title
                );
            }
            Ok(())
        }
        Command::Remind {
            data: DataDir { data },
            today,
        } => {
            let (config, store) = open(&data).await?;
            let now = chrono::Utc::now();
            let today = today.unwrap_or_else(|| bangfu_shared::time::local_day(now));
            let round = bangfu_hub::remind::round(&store, &config.remind, today, now).await;
            store.close().await;
            let round = round?;
            for r in &round.made {
                println!(
                    "提醒 made      {} {} {}: {}",
                    r.campaign, r.org, r.kind, r.message
                );
            }
            for r in &round.delivered {
                println!(
                    "已送达 delivered {} {} {} (webhook)",
                    r.campaign, r.org, r.kind
                );
            }
            for (r, why) in &round.failed {
                println!(
                    "未送达 not delivered {} {} {}: {why} (tried again next round)",
                    r.campaign, r.org, r.kind
                );
            }
            println!(
                "{} made, {} delivered, {} not delivered / 新提醒 {} 条",
                round.made.len(),
                round.delivered.len(),
                round.failed.len(),
                round.made.len()
            );
            Ok(())
        }
        Command::Pull {
            data: DataDir { data },
            campaign,
            org,
        } => {
            let (config, store) = open(&data).await?;
            let pulled =
                bangfu_hub::pull::pull(&store, &config, &org, &campaign, chrono::Utc::now()).await;
            let pulled = match pulled {
                Ok(p) => p,
                Err(e) => {
                    store.close().await;
                    return Err(e);
                }
            };
            println!("{pulled}");
            // As after a push: this hub's own report changes, and goes to its parent.
            if let (Some(url), ReceiptStatus::Accepted) = (&config.parent, pulled.receipt.status) {
                if let Err(e) =
                    bangfu_hub::upstream::send_now(&store, &config, url, &campaign).await
                {
                    println!(
                        "上报上级未完成 / not yet sent to the parent (a serving hub retries): {e:#}"
                    );
                }
            }
            store.close().await;
            Ok(())
        }
        Command::Serve {
            data: DataDir { data },
            listen,
            pki,
            sync_interval,
            pull_schedule,
            http: dashboard_addr,
        } => {
            let (config, store) = open(&data).await?;
            let schedule =
                pull_schedule.or_else(|| config.pull.as_ref().map(|p| p.schedule.clone()));
            tls::install_provider();
            let pki = pki.or(config.pki.clone());
            let revocations =
                Revocations::new(pki.as_deref()).context("reading the revocation list")?;
            let ca = std::fs::read_to_string(config.tls.join("ca.pem"))
                .with_context(|| format!("reading {}", config.tls.join("ca.pem").display()))?;
            let resolver =
                ReloadingCert::new(config.tls.join("cert.pem"), config.tls.join("key.pem"))
                    .context("loading the hub's certificate")?;
            let server = tls::server_config_with_resolver(&ca, Arc::new(resolver))
                .context("building the TLS configuration")?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr().context("reading the bound address")?;
            if pki.is_none() {
                tracing::warn!("no --pki: revocations are not checked");
            }
            let upstream = match &config.parent {
                Some(url) => {
                    let parent = bangfu_client::Parent::new(url, &config.tls)
                        .context("setting up the client to the parent hub")?;
                    let changed = Arc::new(bangfu_hub::upstream::Changed::default());
                    let interval = std::time::Duration::from_secs(sync_interval.max(1));
                    tokio::spawn(bangfu_hub::upstream::run(
                        store.clone(),
                        config.clone(),
                        parent,
                        interval,
                        changed.clone(),
                    ));
                    Some(changed)
                }
                None => None,
            };
            let _reminders =
                bangfu_hub::remind::start(config.remind.clone(), store.clone()).await?;
            let _pulls = match schedule {
                Some(expr) => Some(
                    bangfu_hub::pull_schedule::start(
                        &expr,
                        store.clone(),
                        config.clone(),
                        upstream.clone(),
                    )
                    .await?,
                ),
                None => None,
            };
            let changes = Arc::new(bangfu_hub::dashboard::Changes::default());
            let dashboard = match &dashboard_addr {
                Some(a) => {
                    let l = tokio::net::TcpListener::bind(a)
                        .await
                        .with_context(|| format!("listening on {a} for the dashboard (--http)"))?;
                    let state = bangfu_hub::dashboard::DashboardState {
                        store: store.clone(),
                        org: config.org.clone(),
                        name: config.name.clone(),
                        reconcile: config.reconcile,
                        changes: changes.clone(),
                    };
                    Some((
                        l.local_addr()
                            .context("reading the dashboard's bound address")?,
                        l,
                        bangfu_hub::dashboard::router(state),
                    ))
                }
                None => None,
            };
            let app = http::router(AppState {
                store,
                org: config.org.clone(),
                name: config.name.clone(),
                revocations: Arc::new(revocations),
                upstream,
                reconcile: config.reconcile,
                changes,
            });
            println!("listening on https://{addr}");
            if let Some((at, listener, router)) = dashboard {
                println!("dashboard on http://{at}");
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, router).await {
                        tracing::error!(error = %e, "the dashboard stopped serving");
                    }
                });
            }
            use std::io::Write as _;
            std::io::stdout().flush().ok();
            tokio::select! {
                served = http::serve(listener, Arc::new(server), app) => served.context("serving")?,
                _ = bangfu_client::signal::stop_requested() => tracing::info!("stop requested (Ctrl-C or SIGTERM); stopping"),
            }
            Ok(())
        }
        Command::Rollup {
            data: DataDir { data },
            campaign,
            version: Some(n),
        } => {
            let (_, store) = open(&data).await?;
            let body = bangfu_hub::rollups::get(&store, &campaign, n)
                .await
                .with_context(|| format!("reading rollup {n} of {campaign}"))?;
            store.close().await;
            let body = body.ok_or_else(|| {
                anyhow::anyhow!(
                    "没有汇总版本 / no stored rollup version {n} of campaign `{campaign}`"
                )
            })?;
            println!("{body}");
            Ok(())
        }
        Command::Rollup {
            data: DataDir { data },
            campaign,
            version: None,
        } => {
            let (config, store) = open(&data).await?;
            let r = rollup::rollup_with(
                &store,
                &config.org,
                &config.name,
                &campaign,
                &config.reconcile,
            )
            .await
            .with_context(|| format!("rolling up {campaign}"))?;
            store.close().await;
            println!(
                "{}",
                serde_json::to_string_pretty(&r).context("writing JSON")?
            );
            Ok(())
        }
        Command::Status {
            data: DataDir { data },
            campaign,
        } => {
            let (config, store) = open(&data).await?;
            let text = bangfu_hub::status::render(&store, &config, &campaign)
                .await
                .with_context(|| format!("the status of {campaign}"));
            store.close().await;
            print!("{}", text?);
            Ok(())
        }
        Command::Review {
            data: DataDir { data },
            campaign,
            org,
            accept,
            return_reason,
            version,
        } => {
            let (_, store) = open(&data).await?;
            let decision = if accept {
                review::Decision::Accept
            } else {
                review::Decision::Return(return_reason.unwrap_or_default())
            };
            let done = review::decide(
                &store,
                &campaign,
                &org,
                version,
                &decision,
                chrono::Utc::now(),
            )
            .await;
            store.close().await;
            let r = done.with_context(|| {
                format!("reviewing {org}'s report on {campaign} (nothing was recorded / 未记录)")
            })?;
            let why = r
                .reason
                .as_deref()
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            println!(
                "{} / {}: {} version {} of {}{why}",
                r.state.label(),
                r.state,
                r.org,
                r.version,
                r.campaign
            );
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

fn run_pki(p: Pki) -> anyhow::Result<()> {
    match p {
        Pki::Init {
            dir: CaDir { dir },
            org,
            name,
            days,
        } => {
            let ca = pki::init(&dir, &org, &name, days)
                .with_context(|| format!("creating the CA for {org} in {}", dir.display()))?;
            println!(
                "根证书已建立 / CA created: {org} {name}, serial {}, valid until {}",
                ca.serial,
                ca.not_after.format("%Y-%m-%d")
            );
            println!("  {}", ca.cert_path.display());
            println!("  {} (secret / 请妥善保管并备份)", ca.key_path.display());
            Ok(())
        }
        Pki::Issue {
            dir: CaDir { dir },
            org,
            name,
            hosts,
            days,
            out,
        } => {
            let issued = pki::issue(
                &dir,
                &org,
                &name,
                &IssueOptions::for_days(hosts, days),
                &out,
            )
            .with_context(|| {
                format!(
                    "issuing a certificate to {org} from the CA in {}",
                    dir.display()
                )
            })?;
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
        Pki::Revoke {
            dir: CaDir { dir },
            org,
            serial,
        } => {
            let target = match (org, serial) {
                (Some(org), _) => RevokeTarget::Org(org),
                (None, Some(serial)) => RevokeTarget::Serial(serial),
                (None, None) => anyhow::bail!("give --org or --serial / 请指定 --org 或 --serial"),
            };
            let revoked = pki::revoke(&dir, &target)
                .with_context(|| format!("revoking in the CA in {}", dir.display()))?;
            if revoked.is_empty() {
                println!("无需吊销 / nothing to revoke: already revoked or expired");
            }
            for serial in revoked {
                println!("已吊销 / revoked: {serial}");
            }
            Ok(())
        }
        Pki::List { dir: CaDir { dir } } => {
            let entries = pki::list(&dir).with_context(|| {
                format!("listing the certificates of the CA in {}", dir.display())
            })?;
            println!(
                "{:<32}  {:<8}  {:<10}  {:<10}  {:<8}  name",
                "serial", "org", "issued", "expires", "status"
            );
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
