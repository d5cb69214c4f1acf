//! Where a reminder goes and how each place answers (issue 15): a child's (or this hub's own)
//! channels are a webhook of one kind (our own JSON, a WeCom, DingTalk or Feishu group robot) and
//! any number of e-mail addresses.
//!
//! Each kind gets the message in its own format ([`format`]), signed the way it checks
//! ([`robots`]: DingTalk's 加签 in the query, Feishu's in the body), and is judged the way it
//! answers: a robot answers HTTP 200 with an error code in the body when it refuses, so a 200 alone
//! is never taken as delivered; mail is delivered when the SMTP server accepted the data ([`email`]).
//! Robots are held to their published rate limits ([`limit`]).

pub mod email;
pub mod format;
pub mod limit;
pub mod robots;
pub mod store;

use std::fmt;
use std::time::Duration;

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::CampaignId;
use chrono::NaiveDate;

pub use email::Mailer;

/// The kind of a webhook (`org add --webhook-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum WebhookKind {
    /// The hub's own JSON (a reminder as `GET /api/v1/reminders` serves it).
    Json,
    /// A 企业微信 (WeCom) group robot.
    Wecom,
    /// A 钉钉 (DingTalk) group robot, with 加签 when a secret is given.
    Dingtalk,
    /// A 飞书 (Feishu) group robot, with 签名校验 when a secret is given.
    Feishu,
}

impl WebhookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Json => "json",
            WebhookKind::Wecom => "wecom",
            WebhookKind::Dingtalk => "dingtalk",
            WebhookKind::Feishu => "feishu",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookKind> {
        [
            WebhookKind::Json,
            WebhookKind::Wecom,
            WebhookKind::Dingtalk,
            WebhookKind::Feishu,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Whether the robot checks a signature made with a secret.
    pub fn signs(self) -> bool {
        matches!(self, WebhookKind::Dingtalk | WebhookKind::Feishu)
    }
}

/// One place a notice goes. The URL (WeCom's carries its key) and the secret are secrets: `Debug`
/// and `Display` show the kind and host only.
#[derive(Clone, PartialEq, Eq)]
pub enum Channel {
    Webhook {
        kind: WebhookKind,
        url: String,
        secret: Option<String>,
    },
    Email {
        to: String,
    },
}

/// A channel given on the command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error(
        "--webhook: `{0}` is not an http(s) URL / 机器人地址须为 http:// 或 https:// 开头的网址"
    )]
    Url(String),
    #[error(
        "--webhook-secret-file: a {0} webhook has no secret to sign with (its key is in the URL) / 此类机器人无需密钥"
    )]
    NoSecret(&'static str),
    #[error("--webhook-secret-file: the file is empty / 密钥文件为空")]
    EmptySecret,
    #[error("--email: `{0}` is not an e-mail address / 邮箱地址格式错误")]
    Email(String),
}

impl Channel {
    /// A webhook channel, checked: an http(s) URL, a secret only for a kind that signs.
    pub fn webhook(
        kind: WebhookKind,
        url: &str,
        secret: Option<String>,
    ) -> Result<Channel, Invalid> {
        let url = url.trim();
        let parsed = reqwest::Url::parse(url).map_err(|_| Invalid::Url(redact_url(url)))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Invalid::Url(redact_url(url)));
        }
        let secret = match secret.map(|s| s.trim().to_string()) {
            Some(s) if s.is_empty() => return Err(Invalid::EmptySecret),
            Some(_) if !kind.signs() => return Err(Invalid::NoSecret(kind.as_str())),
            s => s,
        };
        Ok(Channel::Webhook {
            kind,
            url: url.to_string(),
            secret,
        })
    }

    /// An e-mail channel, checked as an address.
    pub fn email(to: &str) -> Result<Channel, Invalid> {
        let to = to.trim();
        to.parse::<lettre::Address>()
            .map_err(|_| Invalid::Email(to.to_string()))?;
        Ok(Channel::Email { to: to.to_string() })
    }

    /// Stable while the channel is the same place: deliveries are kept per (notice, channel id).
    /// A webhook is one per org, named by its kind; mail by its address. No secret is in it.
    pub fn id(&self) -> String {
        match self {
            Channel::Webhook { kind, .. } => kind.as_str().to_string(),
            Channel::Email { to } => format!("email:{}", to.to_lowercase()),
        }
    }

    /// Whether the channel is held to a rate limit, and under which key (one robot, one window).
    pub fn robot(&self) -> Option<(WebhookKind, &str)> {
        match self {
            Channel::Webhook { kind, url, .. } if *kind != WebhookKind::Json => {
                Some((*kind, url.as_str()))
            }
            _ => None,
        }
    }
}

/// `https://host/…` without path, query or user: what may be shown of a webhook URL.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(not a URL)".to_string(),
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Webhook { kind, url, secret } => write!(
                f,
                "{} {}{}",
                kind.as_str(),
                redact_url(url),
                if secret.is_some() { " (signed)" } else { "" }
            ),
            Channel::Email { to } => write!(f, "email {to}"),
        }
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Channel({self})")
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    /// Before (or on) the due date.
    DueSoon,
    /// Still nothing on this day, after the due date.
    Overdue(NaiveDate),
    /// This day's digest to the hub's own contact: children overdue past `escalate_after_days`.
    Escalation(NaiveDate),
    /// `remind --test`: is the channel set up right.
    Test,
    /// This day's digest to the hub's own contact: certificates of the tree ending within 30 days
    /// (the lines in the notice's `summary`).
    Certificates(NaiveDate),
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoticeKind::DueSoon => f.write_str("due_soon"),
            NoticeKind::Overdue(d) => write!(f, "overdue:{d}"),
            NoticeKind::Escalation(d) => write!(f, "escalation:{d}"),
            NoticeKind::Test => f.write_str("test"),
            NoticeKind::Certificates(d) => write!(f, "certificates:{d}"),
        }
    }
}

/// An overdue child as an escalation lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueChild {
    pub org: OrgCode,
    pub name: String,
    pub days: i64,
    /// What the child was sent so far, for a person (`3 条催报，钉钉 已送达`).
    pub sent: String,
}

/// One message to send: a reminder to a child, an escalation digest, or a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The hub that sends (its org code names the Message-ID's domain).
    pub hub: OrgCode,
    pub campaign: CampaignId,
    pub title: String,
    /// Who it is about: the child, or for an escalation the hub itself.
    pub org: OrgCode,
    pub name: String,
    pub kind: NoticeKind,
    /// The child's due date.
    pub due: Option<NaiveDate>,
    /// Days past the due date (0 before or on it).
    pub days_overdue: i64,
    /// The campaign's page on the dashboard, when `[remind] dashboard_url` is set.
    pub link: Option<String>,
    /// An escalation's children.
    pub overdue: Vec<OverdueChild>,
    /// The one-line message stored with a reminder (what a child reads over the API), which our
    /// own JSON carries as `message`; none: the text made here.
    pub summary: Option<String>,
}

impl Notice {
    /// One per (campaign, org, kind): what deliveries are kept by.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.campaign, self.org, self.kind)
    }

    /// The same for every retry of this notice, so a mailbox (and a person) can tell a retry from
    /// a new reminder. Only characters a Message-ID's dot-atom allows.
    pub fn message_id(&self) -> String {
        let clean = |s: String| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        };
        format!(
            "<{}.{}.{}@{}.bangfu.invalid>",
            clean(self.campaign.to_string()),
            clean(self.org.to_string()),
            clean(self.kind.to_string()),
            clean(self.hub.to_string()).to_lowercase()
        )
    }
}

/// How a channel answered one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The channel took it (errcode/code 0, 2xx for our JSON, SMTP 250 after the data).
    Delivered,
    /// The channel answered and refused: its code (errcode, code, HTTP status or SMTP reply) and
    /// message; `retry_after` when it said how long to wait (a rate limit).
    Refused {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No answer. `maybe_delivered`: the request may have gone out (a timeout after sending), so
    /// sending it again could make a second message.
    Unavailable {
        detail: String,
        maybe_delivered: bool,
    },
}

impl Delivery {
    /// The state word stored and shown.
    pub fn state(&self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Refused { .. } => "refused",
            Delivery::Unavailable {
                maybe_delivered: true,
                ..
            } => "unknown",
            Delivery::Unavailable { .. } => "unavailable",
        }
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Delivered => f.write_str("已送达 delivered"),
            Delivery::Refused {
                code,
                message,
                retry_after,
            } => {
                write!(f, "被拒 refused {code}: {message}")?;
                if let Some(d) = retry_after {
                    write!(f, " (retry after {}s)", d.as_secs())?;
                }
                Ok(())
            }
            Delivery::Unavailable {
                detail,
                maybe_delivered,
            } => write!(
                f,
                "{} {detail}",
                if *maybe_delivered {
                    "未知 unknown (may have arrived, not resent):"
                } else {
                    "无法送达 unavailable:"
                }
            ),
        }
    }
}

/// Sends notices: one HTTP client for the robots, the mailer when `[smtp]` is set, and the robots'
/// rate-limit windows, shared by every send of this process.
pub struct Sender {
    http: reqwest::Client,
    /// The mailer, or why there is none (no `[smtp]`, or one that cannot be used).
    mailer: Result<Mailer, String>,
    limits: limit::Limits,
}

impl Sender {
    /// `timeout`: how long one request may take before it counts as unanswered.
    pub fn new(mailer: Result<Mailer, String>, timeout: Duration) -> Result<Sender, String> {
        // The same rustls provider as the hub's mTLS (a `remind` process has not installed it yet).
        bangfu_client::tls::install_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("building the webhook client: {e}"))?;
        Ok(Sender {
            http,
            mailer,
            limits: limit::Limits::default(),
        })
    }

    /// One attempt to deliver `notice` on `channel`, after waiting for the robot's rate limit.
    pub async fn send(&self, channel: &Channel, notice: &Notice) -> Delivery {
        match channel {
            Channel::Webhook { kind, url, secret } => {
                if channel.robot().is_some() {
                    self.limits.acquire(*kind, url).await;
                }
                robots::post(&self.http, *kind, url, secret.as_deref(), notice).await
            }
            Channel::Email { to } => match &self.mailer {
                Ok(m) => m.send(to, notice).await,
                Err(why) => Delivery::Unavailable {
                    detail: why.clone(),
                    maybe_delivered: false,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_shown() {
        let c = Channel::webhook(
            WebhookKind::Dingtalk,
            "https://oapi.dingtalk.com/robot/send?access_token=tok123",
            Some("SECabc".into()),
        )
        .unwrap();
        for shown in [format!("{c}"), format!("{c:?}")] {
            assert!(
                !shown.contains("tok123") && !shown.contains("SECabc"),
                "{shown}"
            );
            assert!(shown.contains("oapi.dingtalk.com"), "{shown}");
        }
        assert_eq!(c.id(), "dingtalk");
    }

    #[test]
    fn bad_channels_are_refused_naming_the_flag() {
        let e = Channel::webhook(WebhookKind::Wecom, "ftp://x/y?key=k", None).unwrap_err();
        assert!(e.to_string().contains("--webhook") && !e.to_string().contains("key=k"));
        let e = Channel::webhook(WebhookKind::Wecom, "https://x/y", Some("s".into())).unwrap_err();
        assert!(e.to_string().contains("--webhook-secret-file"), "{e}");
        let e = Channel::email("not an address").unwrap_err();
        assert!(e.to_string().contains("--email"), "{e}");
        assert_eq!(
            Channel::email("Ops@Example.org").unwrap().id(),
            "email:ops@example.org"
        );
    }

    #[test]
    fn message_ids_are_stable_and_well_formed() {
        let n = format::tests::notice(NoticeKind::Overdue(
            NaiveDate::from_ymd_opt(2026, 2, 6).unwrap(),
        ));
        assert_eq!(n.message_id(), n.clone().message_id());
        assert_eq!(
            n.message_id(),
            "<2026-songnuan.H01.overdue-2026-02-06@h.bangfu.invalid>"
        );
        assert_eq!(n.key(), "2026-songnuan/H01/overdue:2026-02-06");
    }
}
