//! A child's HTTP client to its parent hub (a county node's, or a prefecture hub's) (DESIGN.md "Data flow" 1 and 3): mutual TLS with the
//! identity the parent issued (`ca.pem`, `cert.pem`, `key.pem`), trusting only the federation's CA,
//! never the system's roots. It speaks the two calls a node needs: push a report version, and fetch
//! the campaigns. It classifies every answer into what the outbox must do with it; nothing of a
//! household ever reaches a log line or an error here (reports carry only protected cells).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bangfu_shared::protocol::{
    CampaignId, CampaignList, ContentHash, Problem, Receipt, ReceiptStatus, SIGNATURE_HEADER,
    media, paths,
};
use reqwest::{StatusCode, header};

pub mod crl;
pub mod direct;
pub mod enrol;
pub mod expiry;
pub mod pki;
pub mod reminders;
pub mod renew;
pub mod review;
pub mod server;
pub mod signal;
pub mod signature;
pub mod telemetry;
pub mod tls;

/// An error and its causes as one line for a person: each cause after the other, separated by
/// `: `, a cause already said (a wrapper repeating its source) left out.
pub fn one_line(causes: impl IntoIterator<Item = String>) -> String {
    let mut line = String::new();
    for cause in causes {
        if !line.contains(&cause) {
            line.push_str(if line.is_empty() { "" } else { ": " });
            line.push_str(&cause);
        }
    }
    line
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The parent's URL is not an https:// URL.
    #[error(
        "the parent's URL `{0}` must start with https:// (mutual TLS only) / 上级地址须为 https://"
    )]
    NotHttps(String),
    /// An identity file is missing or unreadable.
    #[error("reading {path}: {source} / 无法读取证书文件")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An identity file is not the PEM it should be.
    #[error("{path}: {detail} / 证书或密钥格式错误")]
    Pem { path: PathBuf, detail: String },
    /// The HTTP client could not be built from the identity.
    #[error("building the TLS client: {0}")]
    Client(String),
    /// The parent could not be reached or did not answer in time.
    #[error("the parent {url} is unreachable: {detail} / 无法连接上级")]
    Unreachable { url: String, detail: String },
    /// The parent answered the campaign request with something other than the list or 304.
    #[error("the parent answered GET /api/v1/campaigns with {status}: {detail}")]
    Campaigns { status: u16, detail: String },
    /// A child answered a pull with something other than its report.
    #[error("{url} answered {status}: {detail} / 下级拒绝或无法提供报表")]
    Report {
        url: String,
        status: u16,
        detail: String,
    },
    /// The parent answered the review request with something other than the review or 404.
    #[error("the parent answered the review request with {status}: {detail} / 无法读取审核结果")]
    Review { status: u16, detail: String },
    /// The parent answered the reminders request with something other than the list.
    #[error("the parent answered the reminders request with {status}: {detail} / 无法读取催报提醒")]
    Reminders { status: u16, detail: String },
}

/// A report fetched from a child (`GET /api/v1/campaigns/{id}/report`), with the org its server
/// certificate names, so the puller can check it reached the child it meant.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body exactly as served: the same bytes, and so the same hash, as the child's push.
    pub body: Vec<u8>,
    /// The child's detached JWS over `body` (the `bangfu-signature` header), if it sent one.
    pub signature: Option<String>,
    /// The org of the server certificate; None when it names none.
    pub server_org: Option<bangfu_shared::org::OrgCode>,
}

/// What became of one push, as the outbox needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201 (new) or 200 (duplicate: the same version with the same hash was already stored).
    Stored {
        duplicate: bool,
        on_time: Option<bool>,
        hash: Option<ContentHash>,
    },
    /// A 4xx the node must not retry: 400, 403, 404, 409, 413, 422 (and any other 4xx).
    Refused { status: u16, detail: String },
    /// 5xx, a timeout or no connection: retried with backoff.
    Unavailable { status: Option<u16>, detail: String },
}

/// The parent hub, reached over mutual TLS.
#[derive(Clone)]
pub struct Parent {
    http: reqwest::Client,
    base: String,
    /// The key of this identity's certificate: every report posted is signed with it.
    /// Re-read after a renewal, like the TLS client certificate.
    signer: std::sync::Arc<renew::ReloadingSigner>,
    /// The identity folder (ca.pem, cert.pem, key.pem; crl.pem as the parent passes it down).
    tls_dir: PathBuf,
    /// The org the parent's server certificate named at the last answer: a node learns from it which
    /// org may pull from it (`bangfu-node serve --listen`).
    server_org: std::sync::Arc<std::sync::Mutex<Option<bangfu_shared::org::OrgCode>>>,
}

impl std::fmt::Debug for Parent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parent")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn read(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>), Error> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    Ok((path, bytes))
}

impl Parent {
    /// A client for the hub at `url` with the identity in `tls_dir`, accepting any server
    /// certificate the CA issued directly. Checks the three files are there and parse as PEM, so
    /// `connect` fails at once on a wrong folder rather than at the first push.
    pub fn new(url: &str, tls_dir: &Path) -> Result<Parent, Error> {
        Parent::pinned(url, tls_dir, None)
    }

    /// A client like [`Parent::new`] that, given `expected`, refuses any server certificate not
    /// naming that org during the TLS handshake, before a byte of a request is sent: a sibling's
    /// certificate served at the parent's URL gets nothing.
    pub fn pinned(
        url: &str,
        tls_dir: &Path,
        expected: Option<&bangfu_shared::org::OrgCode>,
    ) -> Result<Parent, Error> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("https://") {
            return Err(Error::NotHttps(url.to_string()));
        }
        // RUST-STACK.md: one provider, ring, installed before any TLS config is built.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (ca_path, ca) = read(tls_dir, pki::CA_CERT)?;
        let (cert_path, cert) = read(tls_dir, pki::CERT)?;
        let (key_path, key) = read(tls_dir, pki::KEY)?;
        let pem = |path: &PathBuf, bytes: &[u8], block: &str| {
            if String::from_utf8_lossy(bytes).contains(&format!("-----BEGIN {block}")) {
                Ok(())
            } else {
                Err(Error::Pem {
                    path: path.clone(),
                    detail: format!("no {block} PEM block"),
                })
            }
        };
        pem(&ca_path, &ca, "CERTIFICATE")?;
        pem(&cert_path, &cert, "CERTIFICATE")?;
        pem(&key_path, &key, "PRIVATE KEY")?;
        let text = |path: &PathBuf, bytes: Vec<u8>| {
            String::from_utf8(bytes).map_err(|e| Error::Pem {
                path: path.clone(),
                detail: e.to_string(),
            })
        };
        let (ca, cert, key) = (
            text(&ca_path, ca)?,
            text(&cert_path, cert)?,
            text(&key_path, key)?,
        );
        let signer =
            renew::ReloadingSigner::new(cert_path.clone(), key_path.clone()).map_err(|e| {
                Error::Pem {
                    path: cert_path.clone(),
                    detail: format!("cannot sign reports with it: {e}"),
                }
            })?;
        let mut config =
            tls::client_config_pinned(&ca, &cert, &key, expected).map_err(|e| Error::Pem {
                path: cert_path.clone(),
                detail: format!(
                    "certificate with key {} and CA {}: {e}",
                    key_path.display(),
                    ca_path.display()
                ),
            })?;
        // A rollover's new CA (renew.rs) is trusted once it is in ca.pem, without a restart.
        config
            .dangerous()
            .set_certificate_verifier(std::sync::Arc::new(
                renew::ReloadingServerVerifier::new(ca_path.clone(), expected.cloned()).map_err(
                    |e| Error::Pem {
                        path: ca_path.clone(),
                        detail: e.to_string(),
                    },
                )?,
            ));
        // A renewed certificate (renew.rs) is presented from the next connection on.
        config.client_auth_cert_resolver = std::sync::Arc::new(
            renew::ReloadingClientCert::new(cert_path.clone(), key_path.clone()).map_err(|e| {
                Error::Pem {
                    path: cert_path.clone(),
                    detail: e.to_string(),
                }
            })?,
        );
        let http = reqwest::Client::builder()
            .https_only(true)
            .tls_backend_preconfigured(config)
            .tls_info(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("bangfu/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Client(chain(&e)))?;
        Ok(Parent {
            http,
            base,
            signer: std::sync::Arc::new(signer),
            tls_dir: tls_dir.to_path_buf(),
            server_org: Default::default(),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// The org named by the server certificate of the last answer, if any answer came yet.
    pub fn server_org(&self) -> Option<bangfu_shared::org::OrgCode> {
        self.server_org.lock().expect("not poisoned").clone()
    }

    /// Notes the org of the answering server's certificate.
    fn note_server(&self, response: &reqwest::Response) -> Option<bangfu_shared::org::OrgCode> {
        let org = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .and_then(|der| tls::org_of(der).ok());
        if org.is_some() {
            *self.server_org.lock().expect("not poisoned") = org.clone();
        }
        org
    }

    /// `GET /api/v1/campaigns/{id}/report` on a child serving pulls: its latest report on campaign `id`.
    pub async fn fetch_report(&self, campaign: &CampaignId) -> Result<Fetched, Error> {
        let url = format!("{}{}", self.base, paths::pull(campaign));
        let mut request = self.http.get(&url);
        if let Some(tp) = telemetry::traceparent() {
            request = request.header(telemetry::TRACEPARENT, tp);
        }
        let response = request.send().await.map_err(|e| Error::Unreachable {
            url: url.clone(),
            detail: chain(&e),
        })?;
        let server_org = self.note_server(&response);
        let status = response.status();
        let signature = response
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await.map_err(|e| Error::Unreachable {
            url: url.clone(),
            detail: chain(&e),
        })?;
        if !status.is_success() {
            return Err(Error::Report {
                url,
                status: status.as_u16(),
                detail: Problem::detail_of(&String::from_utf8_lossy(&body)),
            });
        }
        Ok(Fetched {
            body: body.to_vec(),
            signature,
            server_org,
        })
    }

    /// The identity folder this client was made from.
    pub fn tls_dir(&self) -> &Path {
        &self.tls_dir
    }

    /// The org whose reports this client signs (its certificate's).
    pub fn signer(&self) -> std::sync::Arc<signature::Signer> {
        self.signer.current()
    }

    /// `POST /api/v1/reports` with `body` exactly as stored in the outbox (the hub hashes these
    /// bytes), signed now with this identity's key (a detached JWS in the `bangfu-signature`
    /// header): the parent, and every level above it, verifies those exact bytes.
    pub async fn post_report(&self, body: &[u8]) -> Outcome {
        let jws = match self.signer.current().sign(body, chrono::Utc::now()) {
            Ok(jws) => jws,
            Err(e) => {
                return Outcome::Refused {
                    status: 0,
                    detail: format!("signing the report: {e}"),
                };
            }
        };
        self.post_signed(body, jws.as_str()).await
    }

    /// `POST /api/v1/reports` with `body` and the detached JWS `jws` made over it elsewhere.
    pub async fn post_signed(&self, body: &[u8], jws: &str) -> Outcome {
        let url = format!("{}{}", self.base, paths::reports());
        let mut request = self
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, media::JSON)
            .header(SIGNATURE_HEADER, jws);
        // The report's trace continues at the parent (one trace from a county to the province).
        if let Some(tp) = telemetry::traceparent() {
            request = request.header(telemetry::TRACEPARENT, tp);
        }
        let sent = request.body(body.to_vec()).send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Unavailable {
                    status: None,
                    detail: format!("{url}: {}", chain(&e)),
                };
            }
        };
        self.note_server(&response);
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => {
                return Outcome::Unavailable {
                    status: Some(status.as_u16()),
                    detail: format!("reading the answer: {}", chain(&e)),
                };
            }
        };
        classify(status, &text)
    }

    /// `GET /api/v1/campaigns`, conditional on `etag`: `None` when unchanged (304).
    pub async fn campaigns(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(Vec<bangfu_shared::protocol::Campaign>, Option<String>)>, Error> {
        Ok(self
            .campaign_list(etag)
            .await?
            .map(|(list, tag)| (list.campaigns, tag)))
    }

    /// `GET /api/v1/campaigns` as the parent sent it, the CA's revocation list included;
    /// conditional on `etag`: `None` when unchanged (304).
    pub async fn campaign_list(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(CampaignList, Option<String>)>, Error> {
        let url = format!("{}{}", self.base, paths::campaigns());
        let mut request = self.http.get(&url);
        if let Some(tag) = etag {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let response = request.send().await.map_err(|e| Error::Unreachable {
            url: url.clone(),
            detail: chain(&e),
        })?;
        self.note_server(&response);
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let tag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.map_err(|e| Error::Unreachable {
            url: url.clone(),
            detail: chain(&e),
        })?;
        if !status.is_success() {
            return Err(Error::Campaigns {
                status: status.as_u16(),
                detail: Problem::detail_of(&text),
            });
        }
        let list: CampaignList = serde_json::from_str(&text).map_err(|e| Error::Campaigns {
            status: status.as_u16(),
            detail: format!("unreadable campaign list: {e}"),
        })?;
        Ok(Some((list, tag)))
    }
}

/// Sorts the hub's answer to a push into what the outbox does next (the protocol's status table).
pub fn classify(status: StatusCode, body: &str) -> Outcome {
    match status.as_u16() {
        200 | 201 => match serde_json::from_str::<Receipt>(body) {
            Ok(r) => Outcome::Stored {
                duplicate: r.status == ReceiptStatus::Duplicate || status == StatusCode::OK,
                on_time: Some(r.on_time),
                hash: Some(r.hash),
            },
            // The hub stored it (that is what 200/201 says); an odd body does not undo that.
            Err(_) => Outcome::Stored {
                duplicate: status == StatusCode::OK,
                on_time: None,
                hash: None,
            },
        },
        409 => Outcome::Refused {
            status: 409,
            detail: format!(
                "the parent holds this version with a different content hash; versions never change once stored, so this is a bug, not retried / 版本冲突: {}",
                Problem::detail_of(body)
            ),
        },
        // The parent's rate limit: the version is fine, it is sent again later.
        429 => Outcome::Unavailable {
            status: Some(429),
            detail: Problem::detail_of(body),
        },
        s @ 400..=499 => Outcome::Refused {
            status: s,
            detail: Problem::detail_of(body),
        },
        s => Outcome::Unavailable {
            status: Some(s),
            detail: Problem::detail_of(body),
        },
    }
}

/// An error with its causes, on one line (reqwest hides the useful part in the source chain).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_201_is_stored_with_its_on_time_verdict() {
        let hash = ContentHash::of(b"a report");
        let body = format!(
            r#"{{"status":"accepted","org":"H01","campaign":"c","version":1,"hash":"{hash}","on_time":true}}"#
        );
        assert_eq!(
            classify(StatusCode::CREATED, &body),
            Outcome::Stored {
                duplicate: false,
                on_time: Some(true),
                hash: Some(hash)
            }
        );
    }

    #[test]
    fn a_422_is_refused_with_the_problems_detail() {
        let body = r#"{"type":"about:blank","title":"Unprocessable","status":422,"detail":"3B exceeds 3A"}"#;
        assert_eq!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, body),
            Outcome::Refused {
                status: 422,
                detail: "3B exceeds 3A".into()
            }
        );
    }

    #[test]
    fn a_409_is_refused_as_a_bug_and_a_503_is_retried() {
        assert!(
            matches!(classify(StatusCode::CONFLICT, "{}"), Outcome::Refused { status: 409, detail } if detail.contains("bug"))
        );
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, ""),
            Outcome::Unavailable {
                status: Some(503),
                ..
            }
        ));
    }

    #[test]
    fn a_plain_http_parent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Parent::new("http://127.0.0.1:1", dir.path()),
            Err(Error::NotHttps(_))
        ));
    }

    #[test]
    fn each_cause_is_said_once_on_one_line() {
        let causes = [
            "reading hub.toml".to_string(),
            "No such file (os error 2)".into(),
            "No such file (os error 2)".into(),
        ];
        assert_eq!(
            one_line(causes),
            "reading hub.toml: No such file (os error 2)"
        );
        assert_eq!(one_line(Vec::<String>::new()), "");
    }
}
