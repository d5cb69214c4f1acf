//! `hub.toml`, the hub's settings written by `init`: who the hub is and where its TLS identity,
//! CA and database are, and the settings of its jobs (`[pull]`, `[reconcile]`, `[remind]`). Strict:
//! an unknown key is an error, so a typo is not silently ignored.
//!
//! Plain data that imports nothing else of the hub: every module may read its settings from here
//! without the settings' module importing it back.

use std::path::{Path, PathBuf};

use bangfu_shared::org::OrgCode;
use serde::{Deserialize, Serialize};

/// The level of this hub in the union hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HubLevel {
    Province,
    Prefecture,
}

/// The contents of `hub.toml`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// This hub's own org code (HB, H).
    pub org: OrgCode,
    /// This union's name, shown in rollups.
    pub name: String,
    pub level: HubLevel,
    /// Folder with this hub's ca.pem, cert.pem, key.pem.
    pub tls: PathBuf,
    /// The CA folder whose crl.pem (revocation list) is checked; none: the list the parent passes down.
    #[serde(default)]
    pub pki: Option<PathBuf>,
    /// The parent hub's URL, for a prefecture hub.
    #[serde(default)]
    pub parent: Option<String>,
    /// The parent hub's org (HB): the only certificate accepted at `parent`, and, with this hub
    /// itself, the only reader of its rollup. Unset with a parent: the org of the CA certificate in
    /// `tls` (the province runs the CA that issued this hub's certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_org: Option<OrgCode>,
    /// A PostgreSQL URL; none: SQLite in `hub.db` beside this file. (It may hold a password; it is
    /// never printed.)
    #[serde(default)]
    pub database_url: Option<String>,
    /// `[pull] schedule = "0 0 8 * * *"`: pull the children that serve, on a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullSettings>,
    /// `[reconcile]`: when a rollup flags a cell as an outlier.
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    /// `[remind]`: when and how often children that have not reported are reminded.
    #[serde(default)]
    pub remind: RemindSettings,
    /// `[smtp]`: the mail server reminders by e-mail go through; none: e-mail channels wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSettings>,
    /// `[intake]`: bounds on what a child may send.
    #[serde(default)]
    pub intake: IntakeSettings,
    /// `[dashboard]`: the host names it answers, its connection cap, TLS.
    #[serde(default)]
    pub dashboard: DashboardSettings,
    /// `[door]`: how many connections the mTLS port holds, and from whom.
    #[serde(default)]
    pub door: DoorSettings,
    /// `[versions]`: how many versions of a child's report on a campaign are kept whole.
    #[serde(default)]
    pub versions: VersionSettings,
}

/// `hub.toml` `[door]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorSettings {
    /// Connections from one peer address still in the TLS handshake (or enrolling without a
    /// certificate). 32 bounds what one attacker address holds; a prefecture whose counties reach
    /// it through one NAT (one address for all) raises it to a little over its number of counties
    /// times two, since the cap counts only connections not yet past the handshake.
    #[serde(default = "default_handshakes_per_address")]
    pub handshakes_per_address: usize,
}

fn default_handshakes_per_address() -> usize {
    32
}

impl Default for DoorSettings {
    fn default() -> DoorSettings {
        DoorSettings {
            handshakes_per_address: default_handshakes_per_address(),
        }
    }
}

/// `hub.toml` `[versions]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSettings {
    /// Versions of one child's report on one campaign kept whole: the first and the newest
    /// `keep - 1`; the ones in between keep only their hash trail (`report_trail`).
    #[serde(default = "default_keep")]
    pub keep: u32,
}

fn default_keep() -> u32 {
    50
}

impl Default for VersionSettings {
    fn default() -> VersionSettings {
        VersionSettings {
            keep: default_keep(),
        }
    }
}

/// `hub.toml` `[dashboard]`: how the people's web pages (`serve --http ADDR`) are served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSettings {
    /// The host names (as in the browser's address bar: `tongji.example.org`, optionally with
    /// `:port`) the dashboard answers; any other `Host` is refused, so a page on another site whose
    /// name was re-pointed at this address (DNS rebinding) cannot read it. Empty: the address it
    /// listens on, `localhost`, `127.0.0.1` and `[::1]`.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Open connections (live pages' event streams included) served at once; beyond it a
    /// connection is answered 503. Counted apart from the children's mTLS port.
    #[serde(default = "default_dashboard_connections")]
    pub max_connections: usize,
    /// Serve the dashboard over TLS with the hub's own certificate (`tls`/cert.pem); the session
    /// cookie is then marked Secure.
    #[serde(default)]
    pub tls: bool,
}

fn default_dashboard_connections() -> usize {
    1024
}

impl Default for DashboardSettings {
    fn default() -> DashboardSettings {
        DashboardSettings {
            hosts: vec![],
            max_connections: default_dashboard_connections(),
            tls: false,
        }
    }
}

/// `hub.toml` `[smtp]`: the server reminders by e-mail are sent through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_security")]
    pub security: SmtpSecurity,
    /// Given with `password_file`, or neither.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password alone (the password itself is never in hub.toml).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The sender: `ops@example.org` or `荆门市总工会 <ops@example.org>`.
    pub from: String,
    /// A PEM file of the CA that signed the server's certificate, for a server with a private CA;
    /// none: the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl SmtpSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }
}

/// How SMTP is protected: STARTTLS required, TLS from the first byte, or none (a relay on the same
/// host only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    None,
}

fn default_security() -> SmtpSecurity {
    SmtpSecurity::Starttls
}

/// `hub.toml` `[intake]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// A child's new version may be at most this far past its counted (latest stored) version, so
    /// a stolen certificate cannot post version 4294967295 and leave the real child nothing above it.
    #[serde(default = "default_max_version_jump")]
    pub max_version_jump: u32,
}

fn default_max_version_jump() -> u32 {
    1000
}

impl Default for IntakeSettings {
    fn default() -> IntakeSettings {
        IntakeSettings {
            max_version_jump: default_max_version_jump(),
        }
    }
}

/// The `[pull]` table of hub.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSettings {
    /// Six-field cron, seconds first, in Asia/Shanghai time: "0 0 8 * * *" is 08:00 every day.
    pub schedule: String,
}

/// `hub.toml` `[reconcile]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// A cell is an outlier when the larger of this and the previous campaign's figure is more than
    /// this many times the smaller.
    #[serde(default = "default_factor")]
    pub outlier_factor: f64,
    /// Changes where both figures are below this are ignored: 2 → 9 households is noise, not news.
    #[serde(default = "default_min_base")]
    pub outlier_min_base: f64,
}

fn default_factor() -> f64 {
    3.0
}

fn default_min_base() -> f64 {
    20.0
}

impl Default for ReconcileSettings {
    fn default() -> ReconcileSettings {
        ReconcileSettings {
            outlier_factor: default_factor(),
            outlier_min_base: default_min_base(),
        }
    }
}

/// `hub.toml` `[remind]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemindSettings {
    /// When a serving hub runs a round: six cron fields, seconds first, in Asia/Shanghai.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// A child is reminded once when its due date is this many days away or fewer.
    #[serde(default = "default_days_before")]
    pub days_before: u32,
    /// An overdue child is reminded once a day for this many days after its due date.
    #[serde(default = "default_overdue_days")]
    pub overdue_days: u32,
    /// After this many overdue days a child's reminder also goes to this hub's own contact
    /// channels (`org update --code` this hub's code), one digest per campaign and round.
    #[serde(default = "default_escalate_after_days")]
    pub escalate_after_days: u32,
    /// The dashboard's address people open (https://tongji.example.org), for the link in each
    /// reminder; none: no link.
    #[serde(default)]
    pub dashboard_url: Option<String>,
    /// Tries per channel and round when a channel refuses; the next round tries again.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The first pause after a refusal, doubled after each (milliseconds).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// How long one send may take before it counts as unanswered (seconds).
    #[serde(default = "default_send_timeout")]
    pub timeout_secs: u64,
}

fn default_escalate_after_days() -> u32 {
    3
}

fn default_attempts() -> u32 {
    3
}

fn default_backoff_ms() -> u64 {
    1000
}

fn default_send_timeout() -> u64 {
    10
}

fn default_schedule() -> String {
    "0 0 9 * * *".into()
}

fn default_days_before() -> u32 {
    3
}

fn default_overdue_days() -> u32 {
    7
}

impl Default for RemindSettings {
    fn default() -> RemindSettings {
        RemindSettings {
            schedule: default_schedule(),
            days_before: default_days_before(),
            overdue_days: default_overdue_days(),
            escalate_after_days: default_escalate_after_days(),
            dashboard_url: None,
            attempts: default_attempts(),
            backoff_ms: default_backoff_ms(),
            timeout_secs: default_send_timeout(),
        }
    }
}

impl std::fmt::Debug for HubConfig {
    /// The database URL may carry a password, so it is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("level", &self.level)
            .field("tls", &self.tls)
            .field("pki", &self.pki)
            .field("parent", &self.parent)
            .field("parent_org", &self.parent_org)
            .field("database_url", &self.database_url.as_ref().map(|_| "(set)"))
            .field("pull", &self.pull)
            .field("reconcile", &self.reconcile)
            .field("remind", &self.remind)
            .field("smtp", &self.smtp)
            .field("intake", &self.intake)
            .field("dashboard", &self.dashboard)
            .field("door", &self.door)
            .field("versions", &self.versions)
            .finish()
    }
}

/// What can go wrong reading or writing `hub.toml`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} already holds a hub (hub.toml exists) / 数据目录已初始化")]
    Exists(PathBuf),
    #[error("reading {path}: {source} / 无法读取配置（是否已运行 init？）")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source} / 配置文件格式错误")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

pub const FILE: &str = "hub.toml";

impl HubConfig {
    pub fn load(data: &Path) -> Result<HubConfig, Error> {
        let path = data.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| Error::Parse { path, source })
    }

    /// Writes a new `hub.toml`; an existing one is never overwritten.
    pub fn create(&self, data: &Path) -> Result<(), Error> {
        let path = data.join(FILE);
        if path.exists() {
            return Err(Error::Exists(data.to_path_buf()));
        }
        std::fs::create_dir_all(data).map_err(|source| Error::Write {
            path: data.to_path_buf(),
            source,
        })?;
        let text = toml::to_string_pretty(self).expect("the config serialises");
        std::fs::write(&path, text).map_err(|source| Error::Write { path, source })
    }

    /// The parent's org: `parent_org` when set; with a parent URL but no `parent_org`, the org of
    /// the CA certificate in the TLS folder; None for a hub without a parent (nobody above it).
    pub fn parent_org(&self) -> Option<OrgCode> {
        if let Some(org) = &self.parent_org {
            return Some(org.clone());
        }
        self.parent.as_ref()?;
        let pem = std::fs::read_to_string(self.tls.join("ca.pem")).ok()?;
        let der = bangfu_client::pki::cert_der_from_pem(&pem).ok()?;
        bangfu_client::tls::org_of(&der).ok()
    }

    /// The database URL: the configured PostgreSQL one, else SQLite in the data folder.
    pub fn database_url(&self, data: &Path) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| sqlite_url(data))
    }
}

/// The URL of the default SQLite store in a data folder (`hub.db` beside `hub.toml`).
pub fn sqlite_url(data: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data.join("hub.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(dir.join("hub.sample.toml")).unwrap();
        let c: HubConfig = toml::from_str(&text).unwrap();
        assert_eq!(c.org.as_str(), "H");
        assert_eq!(c.level, HubLevel::Prefecture);
        assert!(c.database_url.is_none());
        assert_eq!(c.smtp.as_ref().map(|s| s.port()), Some(587));
        assert_eq!(c.remind.escalate_after_days, 3);
        assert!(
            c.database_url(Path::new("/d"))
                .starts_with("sqlite:///d/hub.db")
        );
    }

    #[test]
    fn debug_hides_the_database_url() {
        let text = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\ndatabase_url = \"postgres://u:secret@h/db\"\n";
        let c: HubConfig = toml::from_str(text).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn reconcile_settings_default_and_load() {
        let c: HubConfig =
            toml::from_str("org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n")
                .unwrap();
        assert_eq!(
            c.reconcile,
            ReconcileSettings {
                outlier_factor: 3.0,
                outlier_min_base: 20.0
            }
        );
        let text = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n[reconcile]\noutlier_factor = 2.5\n";
        let c: HubConfig = toml::from_str(text).unwrap();
        assert_eq!(c.reconcile.outlier_factor, 2.5);
        assert_eq!(c.reconcile.outlier_min_base, 20.0);
        assert!(
            toml::from_str::<HubConfig>(&format!("{text}outlier_base = 1\n")).is_err(),
            "a typo in [reconcile] is refused"
        );
    }

    #[test]
    fn an_unknown_key_in_pull_is_refused() {
        let text = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n[pull]\nschedule = \"0 0 8 * * *\"\nevery = 1\n";
        assert!(toml::from_str::<HubConfig>(text).is_err());
    }

    #[test]
    fn smtp_settings_load_with_defaults_and_refuse_a_typo() {
        let base = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n";
        let text =
            format!("{base}[smtp]\nhost = \"mail.example.org\"\nfrom = \"ops@example.org\"\n");
        let c: HubConfig = toml::from_str(&text).unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.security, smtp.port()), (SmtpSecurity::Starttls, 587));
        let text = format!("{base}[smtp]\nhost = \"m\"\nfrom = \"o@e.org\"\nsecurity = \"ssl\"\n");
        assert!(
            toml::from_str::<HubConfig>(&text).is_err(),
            "an unknown security"
        );
        let text = format!("{base}[smtp]\nhost = \"m\"\nfrom = \"o@e.org\"\npassword = \"p\"\n");
        assert!(
            toml::from_str::<HubConfig>(&text).is_err(),
            "a password in hub.toml"
        );
    }

    #[test]
    fn door_and_versions_default_and_load() {
        let base = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n";
        let c: HubConfig = toml::from_str(base).unwrap();
        assert_eq!(c.door.handshakes_per_address, 32);
        assert_eq!(c.versions.keep, 50);
        let text = format!("{base}[door]\nhandshakes_per_address = 400\n[versions]\nkeep = 5\n");
        let c: HubConfig = toml::from_str(&text).unwrap();
        assert_eq!((c.door.handshakes_per_address, c.versions.keep), (400, 5));
        assert!(toml::from_str::<HubConfig>(&format!("{base}[door]\nper_address = 1\n")).is_err());
    }

    #[test]
    fn dashboard_settings_default_and_refuse_a_typo() {
        let base = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n";
        let c: HubConfig = toml::from_str(base).unwrap();
        assert_eq!(c.dashboard, DashboardSettings::default());
        assert_eq!(c.dashboard.max_connections, 1024);
        let text = format!(
            "{base}[dashboard]\nhosts = [\"tongji.example.org\"]\nmax_connections = 50\ntls = true\n"
        );
        let c: HubConfig = toml::from_str(&text).unwrap();
        assert_eq!(c.dashboard.hosts, ["tongji.example.org"]);
        assert_eq!((c.dashboard.max_connections, c.dashboard.tls), (50, true));
        let text = format!("{base}[dashboard]\nhost = [\"x\"]\n");
        assert!(
            toml::from_str::<HubConfig>(&text).is_err(),
            "a typo in [dashboard] is refused"
        );
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let text = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\nport = 1\n";
        assert!(toml::from_str::<HubConfig>(text).is_err());
    }
}
