//! `bangfu-hub pki …`: the federation's certificate authority from the command line; the CA itself
//! is `bangfu_client::pki`.

use std::path::PathBuf;

use anyhow::Context as _;
use bangfu_client::crl::Reason;
use bangfu_client::pki::{self, IssueOptions, RevokeOptions, RevokeTarget};
use bangfu_shared::org::OrgCode;
use clap::{ArgGroup, Args, Subcommand};

#[derive(Subcommand)]
pub enum Pki {
    /// Create the certificate authority (CA) of this hub in --dir (新建根证书).
    ///
    /// Run once, on the hub's machine. --dir then holds ca.pem, ca-key.pem (keep it secret and backed
    /// up: whoever has it can issue certificates), issued.csv and crl.pem (the CA's revocation list, empty
    /// at first). An existing CA is never overwritten.
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
    /// Make a key and certificate here, for a hub or an offline site (签发证书).
    ///
    /// The key is made on this machine, so whoever runs this holds the union's key until the folder
    /// reaches it: use it for the hubs' own certificates (with --host for each name or IP address the
    /// children connect to) and for a site that cannot reach its parent. A county that can reach its
    /// parent enrols instead and makes its key itself: `bangfu-hub org enrol-code` at the parent,
    /// `bangfu-node enrol` at the county. Writes ca.pem, cert.pem and key.pem to --out.
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
    /// `pki list` shows it. The CA's crl.pem is re-signed with the new entries; a hub serving with
    /// this --pki folder reads it at once and passes it down to its children with the campaigns.
    /// Reports received before --compromised-since keep counting; reports received since stop.
    ///
    /// Example: bangfu-hub pki revoke --dir /srv/bangfu/pki --org H01 --reason key-compromise
    /// --compromised-since 2026-11-30T08:00:00+08:00
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
        /// Why: key-compromise, affiliation-changed, superseded, cessation-of-operation,
        /// privilege-withdrawn, … (RFC 5280 reason codes; default: none given).
        #[arg(long)]
        reason: Option<Reason>,
        /// Since when the key is known to be stolen or misused (RFC 3339, e.g.
        /// 2026-11-30T08:00:00+08:00; default: now). Reports received from then on stop counting.
        #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
        compromised_since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// List the certificates issued by the CA, with their expiry and whether they are revoked (证书列表).
    List {
        #[command(flatten)]
        dir: CaDir,
    },
}

#[derive(Args)]
pub struct CaDir {
    /// The folder that holds the CA (ca.pem, ca-key.pem, issued.csv, crl.pem).
    #[arg(long, value_name = "PKI")]
    pub dir: PathBuf,
}

/// Runs one `pki` command.
pub fn run(p: Pki) -> anyhow::Result<()> {
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
            reason,
            compromised_since,
        } => {
            if let Some(since) = compromised_since
                && since > chrono::Utc::now()
            {
                anyhow::bail!(
                    "--compromised-since {since} is in the future / 泄露时间不能晚于现在"
                );
            }
            let target = match (org, serial) {
                (Some(org), _) => RevokeTarget::Org(org),
                (None, Some(serial)) => RevokeTarget::Serial(serial),
                (None, None) => anyhow::bail!("give --org or --serial / 请指定 --org 或 --serial"),
            };
            let options = RevokeOptions {
                reason,
                compromised_since,
            };
            let revoked = pki::revoke(&dir, &target, &options)
                .with_context(|| format!("revoking in the CA in {}", dir.display()))?;
            if revoked.is_empty() {
                println!("无需吊销 / nothing to revoke: already revoked or expired");
            }
            for serial in &revoked {
                match reason {
                    Some(reason) => println!("已吊销 / revoked: {serial} ({reason})"),
                    None => println!("已吊销 / revoked: {serial}"),
                }
            }
            if !revoked.is_empty() {
                let list = pki::load_crl(&dir)?;
                println!(
                    "吊销列表已更新 / revocation list {} re-signed, number {}",
                    dir.join(pki::CRL).display(),
                    list.number()
                );
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

/// An RFC 3339 time as typed on the command line (any offset), in UTC.
fn parse_rfc3339(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time like 2026-11-30T08:00:00+08:00: {e}"))
}
