//! `bangfu-hub org …` (the registry of children) and `bangfu-hub pull` (fetching a child's report).

use anyhow::Context as _;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::ReceiptStatus;
use clap::Subcommand;

use std::path::PathBuf;

use super::{DataDir, PullArgs, open};
use crate::channels::{Channel, WebhookKind};
use crate::registry::{self, Org};

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Register a child union, or update its name and contacts.
    ///
    /// Example: bangfu-hub org add --data /srv/bangfu/hub --code H01 --name 京山县总工会
    /// Example: bangfu-hub org add --data /srv/bangfu/hub --code H01 --name 京山县总工会 --webhook 'https://oapi.dingtalk.com/robot/send?access_token=…' --webhook-kind dingtalk --webhook-secret-file /srv/bangfu/h01.secret --email jingshan@example.org
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        code: OrgCode,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        channels: ChannelArgs,
        /// Where the child serves its reports for pulls (https://HOST:PORT, `bangfu-node serve --listen`).
        #[arg(long, value_name = "URL")]
        address: Option<String>,
        /// Also print a one-time enrolment code for the child (as `org enrol-code`).
        #[arg(long)]
        enrol: bool,
        /// With --enrol: hours the code is valid.
        #[arg(long, value_name = "HOURS", default_value_t = 72, requires = "enrol")]
        valid_hours: u32,
    },
    /// Print a one-time enrolment code for a registered child, and this hub's CA fingerprint (注册码).
    ///
    /// Read both to the child's IT by phone or hand them over on paper; at the child, run
    /// `bangfu-node enrol --data DIR --parent URL --code CODE --ca-fingerprint FP`: the child makes
    /// its key on its own machine and gets its certificate. The code works once, for this org only,
    /// for --valid-hours, and dies after 5 wrong tries; a new code withdraws the old one. Only the
    /// code's hash is stored. `pki issue` stays for hubs and for offline sites.
    ///
    /// Example: bangfu-hub org enrol-code --data /srv/bangfu/hub --code H01
    EnrolCode {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        code: OrgCode,
        /// Hours the code is valid.
        #[arg(long, value_name = "HOURS", default_value_t = 72)]
        valid_hours: u32,
    },
    /// Change a registered child's reminder channels (催报通道), or, with this hub's own code, the
    /// hub's contact channels that escalations go to. What is not given stays as it was.
    ///
    /// Example: bangfu-hub org update --data /srv/bangfu/hub --code H01 --webhook 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…' --webhook-kind wecom
    /// Example: bangfu-hub org update --data /srv/bangfu/hub --code H --email ops@example.org
    Update {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        code: OrgCode,
        /// A new name (a child only).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        channels: ChannelArgs,
    },
}

/// Where reminders go: a webhook of a kind, and e-mail addresses.
#[derive(clap::Args)]
pub struct ChannelArgs {
    /// The webhook reminders are posted to (replaces the one registered).
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// What the webhook is: our own JSON, or a 企业微信 / 钉钉 / 飞书 group robot.
    #[arg(long, value_enum, default_value = "json", requires = "webhook")]
    webhook_kind: WebhookKind,
    /// A file holding the robot's signing secret (钉钉 加签 SEC…, 飞书 签名校验).
    #[arg(long, value_name = "FILE", requires = "webhook")]
    webhook_secret_file: Option<PathBuf>,
    /// An address reminders are mailed to through [smtp]; repeat for several (replaces those
    /// registered).
    #[arg(long, value_name = "ADDR")]
    email: Vec<String>,
}

impl ChannelArgs {
    /// The channels given, checked; nothing is stored until all are good.
    fn parse(&self) -> anyhow::Result<(Option<Channel>, Option<Vec<Channel>>)> {
        let webhook = match &self.webhook {
            None => None,
            Some(url) => {
                let secret = self
                    .webhook_secret_file
                    .as_ref()
                    .map(|f| {
                        std::fs::read_to_string(f).with_context(|| {
                            format!("--webhook-secret-file {}: reading it", f.display())
                        })
                    })
                    .transpose()?;
                Some(Channel::webhook(self.webhook_kind, url, secret)?)
            }
        };
        let emails = if self.email.is_empty() {
            None
        } else {
            Some(
                self.email
                    .iter()
                    .map(|e| Channel::email(e))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        Ok((webhook, emails))
    }
}

pub async fn run(cmd: OrgCmd) -> anyhow::Result<()> {
    match cmd {
        OrgCmd::Add {
            data: DataDir { data },
            code,
            name,
            channels,
            address,
            enrol,
            valid_hours,
        } => {
            if let Some(a) = &address {
                anyhow::ensure!(
                    a.starts_with("https://"),
                    "--address {a}: a child is pulled over mutual TLS only, give https://HOST:PORT / 地址须为 https://"
                );
            }
            let (webhook, emails) = channels.parse()?;
            let hub = open(&data).await?;
            let store = &hub.store;
            let done = async {
                registry::add(
                    store,
                    &Org {
                        code: code.clone(),
                        name: name.clone(),
                        email: channels.email.first().cloned(),
                        webhook: channels.webhook.clone(),
                    },
                )
                .await
                .with_context(|| format!("registering {code}"))?;
                crate::channels::store::set(
                    store,
                    code.as_str(),
                    webhook.as_ref(),
                    emails.as_deref(),
                )
                .await
                .with_context(|| format!("recording the reminder channels of {code}"))?;
                if let Some(a) = &address {
                    crate::pull::set_address(store, &code, a)
                        .await
                        .with_context(|| format!("recording the address of {code}"))?;
                }
                crate::channels::store::of(store, code.as_str())
                    .await
                    .context("reading the channels back")
            }
            .await;
            let code_line = match (&done, enrol) {
                (Ok(_), true) => Some(print_code(&hub, &code, valid_hours).await),
                _ => None,
            };
            hub.close().await;
            println!("已登记 / registered: {code} {name}");
            print_channels(&done?);
            if let Some(line) = code_line {
                println!("{}", line?);
            }
            Ok(())
        }
        OrgCmd::EnrolCode {
            data: DataDir { data },
            code,
            valid_hours,
        } => {
            let hub = open(&data).await?;
            let registered = registry::is_registered(&hub.store, &code).await;
            let line = match registered {
                Ok(true) => print_code(&hub, &code, valid_hours).await,
                Ok(false) => Err(anyhow::anyhow!(
                    "--code {code}: not a registered child (org add first) / 未登记的下级单位"
                )),
                Err(e) => Err(e.into()),
            };
            hub.close().await;
            println!("{}", line?);
            Ok(())
        }
        OrgCmd::Update {
            data: DataDir { data },
            code,
            name,
            channels,
        } => {
            let (webhook, emails) = channels.parse()?;
            let hub = open(&data).await?;
            let done = update(&hub, &code, name, webhook, emails).await;
            hub.close().await;
            print_channels(&done?);
            Ok(())
        }
    }
}

async fn update(
    hub: &crate::app::Hub,
    code: &OrgCode,
    name: Option<String>,
    webhook: Option<Channel>,
    emails: Option<Vec<Channel>>,
) -> anyhow::Result<Vec<Channel>> {
    let store = &hub.store;
    let own = *code == hub.config.org;
    if own {
        anyhow::ensure!(
            name.is_none(),
            "--name: this hub's own name is in hub.toml, not the registry / 本级名称在 hub.toml 中设置"
        );
    } else {
        let Some(mut org) = registry::list(store)
            .await?
            .into_iter()
            .find(|o| o.code == *code)
        else {
            anyhow::bail!(
                "--code {code}: not a registered child (org add first) / 未登记的下级单位"
            );
        };
        if let Some(n) = name {
            org.name = n;
        }
        if let Some(Channel::Webhook { url, .. }) = &webhook {
            org.webhook = Some(url.clone());
        }
        if let Some(Channel::Email { to }) = emails.as_ref().and_then(|e| e.first()) {
            org.email = Some(to.clone());
        }
        registry::add(store, &org)
            .await
            .with_context(|| format!("updating {code}"))?;
    }
    crate::channels::store::set(store, code.as_str(), webhook.as_ref(), emails.as_deref())
        .await
        .with_context(|| format!("recording the reminder channels of {code}"))?;
    println!(
        "已更新 / updated: {code}{}",
        if own {
            " (本级联系通道 this hub's contact)"
        } else {
            ""
        }
    );
    Ok(crate::channels::store::of(store, code.as_str()).await?)
}

/// A new code for `org`, and what the child's IT types, as lines to print.
async fn print_code(
    hub: &crate::app::Hub,
    org: &OrgCode,
    valid_hours: u32,
) -> anyhow::Result<String> {
    anyhow::ensure!(valid_hours > 0, "--valid-hours must be at least 1");
    let tls = &hub.config.tls;
    let read = |f: &str| {
        std::fs::read_to_string(tls.join(f))
            .with_context(|| format!("reading {}", tls.join(f).display()))
    };
    let fingerprint = bangfu_client::enrol::issuing_ca_fingerprint(
        &read(bangfu_client::pki::CA_CERT)?,
        &read(bangfu_client::pki::CERT)?,
    )
    .with_context(|| {
        format!(
            "no CA in {}/ca.pem issued this hub's certificate / 本级证书与根证书不符",
            tls.display()
        )
    })?;
    let (code, expires) = crate::enrolment::new_code(
        &hub.store,
        org,
        chrono::Duration::hours(i64::from(valid_hours)),
        hub.now(),
    )
    .await
    .with_context(|| format!("making an enrolment code for {org}"))?;
    Ok(format!(
        "注册码 / enrolment code for {org}: {code}\n  valid until {} (once, for {org} only)\n  根证书指纹 / CA fingerprint: {fingerprint}\n  at {org}: bangfu-node enrol --data DIR --parent URL --code {code} --ca-fingerprint {}",
        expires.format("%Y-%m-%d %H:%M UTC"),
        fingerprint.replace(':', "")
    ))
}

fn print_channels(channels: &[Channel]) {
    for c in channels {
        println!("  催报通道 channel {}: {c}", c.id());
    }
}

/// `bangfu-hub pull`: one child's latest report now, then this hub's own report to its parent.
pub async fn pull(args: PullArgs) -> anyhow::Result<()> {
    let PullArgs {
        data: DataDir { data },
        campaign,
        org,
    } = args;
    let hub = open(&data).await?;
    let pulled = match crate::pull::pull(&hub, &org, &campaign).await {
        Ok(p) => p,
        Err(e) => {
            hub.close().await;
            return Err(e.into());
        }
    };
    println!(
        "{}",
        bangfu_shared::printable::printable_lines(&pulled.to_string())
    );
    // As after a push: this hub's own report changes, and goes to its parent.
    if hub.config.parent.is_some()
        && pulled.receipt.status == ReceiptStatus::Accepted
        && let Err(e) = crate::jobs::upstream::send_now(&hub, &campaign).await
    {
        println!(
            "上报上级未完成 / not yet sent to the parent (a serving hub retries): {}",
            bangfu_shared::printable::printable(&e.to_string())
        );
    }
    hub.close().await;
    Ok(())
}
