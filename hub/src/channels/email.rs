//! Reminders by e-mail over SMTP (`[smtp]` in hub.toml), with lettre over rustls (ring, no
//! OpenSSL): UTF-8 subject and body, a Message-ID per notice that stays the same on a retry. A
//! message is delivered when the server accepted its data (a 2xx reply to the final dot);
//! a 4xx or 5xx reply is a refusal with the server's code.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Delivery, Notice, format};
use crate::config::{SmtpSecurity, SmtpSettings};

/// Why `[smtp]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("[smtp] from = `{0}` is not a mailbox (ops@example.org or 名称 <ops@example.org>)")]
    From(String),
    #[error("[smtp] password_file {path}: {source}")]
    Password {
        path: String,
        source: std::io::Error,
    },
    #[error("[smtp] ca_file {path}: {detail}")]
    Ca { path: String, detail: String },
    #[error("[smtp] TLS for host `{host}`: {detail}")]
    Tls { host: String, detail: String },
    #[error("[smtp] username and password_file go together: give both or neither")]
    Credentials,
}

/// Sends mail through the configured server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `s`; `timeout` bounds each SMTP command.
    pub fn new(s: &SmtpSettings, timeout: Duration) -> Result<Mailer, Error> {
        bangfu_client::tls::install_provider();
        let from: Mailbox = s.from.parse().map_err(|_| Error::From(s.from.clone()))?;
        let tls = |s: &SmtpSettings| -> Result<TlsParameters, Error> {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(ca) = &s.ca_file {
                let path = ca.display().to_string();
                let pem = std::fs::read(ca).map_err(|e| Error::Ca {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| Error::Ca {
                    path,
                    detail: e.to_string(),
                })?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| Error::Tls {
                host: s.host.clone(),
                detail: e.to_string(),
            })
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port())
            .timeout(Some(timeout))
            .tls(match s.security {
                // Refuses to go on in plain text when the server offers no STARTTLS.
                SmtpSecurity::Starttls => Tls::Required(tls(s)?),
                SmtpSecurity::Tls => Tls::Wrapper(tls(s)?),
                SmtpSecurity::None => Tls::None,
            });
        match (&s.username, &s.password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file).map_err(|source| Error::Password {
                    path: file.display().to_string(),
                    source,
                })?;
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.trim_end_matches(['\r', '\n']).to_string(),
                ));
            }
            (None, None) => {}
            _ => return Err(Error::Credentials),
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// The message `notice` makes for `to`.
    pub fn message(&self, to: &str, notice: &Notice) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("`{to}` is not a mailbox: {e}"))?;
        let mut body = format::text(notice);
        body.push_str("\n\n-- \n邦扶 bangfu 催报提醒，请勿直接回复。\n");
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format::subject(notice))
            .message_id(Some(notice.message_id()))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("building the message: {e}"))
    }

    /// One attempt to send `notice` to `to`, judged by the server's reply.
    pub async fn send(&self, to: &str, notice: &Notice) -> Delivery {
        let message = match self.message(to, notice) {
            Ok(m) => m,
            Err(detail) => {
                return Delivery::Refused {
                    code: "address".into(),
                    message: detail,
                    retry_after: None,
                };
            }
        };
        match self.transport.send(message).await {
            Ok(r) if r.is_positive() => Delivery::Delivered,
            Ok(r) => Delivery::Refused {
                code: r.code().to_string(),
                message: r.message().collect::<Vec<_>>().join(" "),
                retry_after: None,
            },
            Err(e) if e.is_permanent() || e.is_transient() => Delivery::Refused {
                code: e.status().map_or_else(|| "smtp".into(), |c| c.to_string()),
                message: e.to_string(),
                retry_after: None,
            },
            // A timeout may come after the data was sent: the server may have taken it.
            Err(e) => Delivery::Unavailable {
                maybe_delivered: e.is_timeout(),
                detail: e.to_string(),
            },
        }
    }
}
