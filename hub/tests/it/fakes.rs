//! Local servers that behave like the places reminders go, for the reminder tests: a WeCom,
//! DingTalk and Feishu group robot (each checks its key or signature the way the vendor documents
//! it, answers HTTP 200 with an error code when it refuses, and keeps to its published rate limit),
//! a robot that never answers in time, and an SMTP server (mailin's protocol engine over tokio,
//! with STARTTLS on a certificate from the project's PKI). Nothing reaches the internet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::routing::post;
use base64::Engine as _;
use ring::hmac;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};

/// Any key, token or hook starting `…-1` is a robot of its own (`wecom-key-7`), all with the same
/// secret.
pub const WECOM_KEY: &str = "wecom-key-1";
pub const DINGTALK_TOKEN: &str = "ding-token-1";
pub const DINGTALK_SECRET: &str = "SECding0123456789";
pub const FEISHU_HOOK: &str = "feishu-hook-1";

fn robot_of(given: Option<&String>, first: &str) -> Option<String> {
    let prefix = first.trim_end_matches('1');
    given.filter(|g| g.starts_with(prefix)).cloned()
}
pub const FEISHU_SECRET: &str = "feishu-secret-1";

/// What the robots received and how they are told to behave.
#[derive(Default)]
pub struct RobotState {
    /// Accepted messages per robot (`wecom`, `dingtalk`, `feishu`), bodies as posted.
    pub accepted: HashMap<&'static str, Vec<Value>>,
    /// Every request per robot, accepted or not.
    pub requests: HashMap<&'static str, usize>,
    /// Refuse this many next messages of a robot with its "system busy" code.
    pub refuse: HashMap<&'static str, usize>,
    /// Rate-limit answers given (a sender that keeps the limits provokes none).
    pub limited: usize,
    /// When each robot (by its key, token or hook) accepted a message, for its rate limit.
    sent: HashMap<String, Vec<Instant>>,
}

pub type Robots = Arc<Mutex<RobotState>>;

/// The robots on 127.0.0.1: returns the base URL and their state.
pub async fn robots() -> (String, Robots) {
    let state: Robots = Arc::default();
    let app = axum::Router::new()
        .route("/cgi-bin/webhook/send", post(wecom))
        .route("/robot/send", post(dingtalk))
        .route("/open-apis/bot/v2/hook/{id}", post(feishu))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Json(json!({"errcode": 0, "errmsg": "ok"}))
            }),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

/// The common part: count, refuse when told, keep the rate limit of the robot `id` (`limit` per
/// `window`, answering `limited` beyond), else accept.
fn take(
    s: &mut RobotState,
    robot: &'static str,
    id: String,
    body: Value,
    limits: &[(usize, Duration)],
    busy: Value,
    limited: Value,
) -> Value {
    *s.requests.entry(robot).or_default() += 1;
    let refuse = s.refuse.entry(robot).or_default();
    if *refuse > 0 {
        *refuse -= 1;
        return busy;
    }
    let now = Instant::now();
    let sent = s.sent.entry(id).or_default();
    for (n, window) in limits {
        if sent.iter().filter(|t| now - **t < *window).count() >= *n {
            s.limited += 1;
            return limited;
        }
    }
    sent.push(now);
    s.accepted.entry(robot).or_default().push(body);
    json!({"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"})
}

const MINUTE: Duration = Duration::from_secs(60);

async fn wecom(
    State(s): State<Robots>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let Some(id) = robot_of(q.get("key"), WECOM_KEY) else {
        return Json(json!({"errcode": 93000, "errmsg": "invalid webhook url"}));
    };
    let well_formed = match body["msgtype"].as_str() {
        Some("markdown") => body["markdown"]["content"].is_string(),
        Some("text") => body["text"]["content"].is_string(),
        _ => false,
    };
    if !well_formed {
        return Json(json!({"errcode": 40008, "errmsg": "invalid message type"}));
    }
    let mut s = s.lock().unwrap();
    Json(take(
        &mut s,
        "wecom",
        id,
        body,
        &[(20, MINUTE)],
        json!({"errcode": -1, "errmsg": "system busy"}),
        json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
    ))
}

async fn dingtalk(
    State(s): State<Robots>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let Some(id) = robot_of(q.get("access_token"), DINGTALK_TOKEN) else {
        return Json(json!({"errcode": 300001, "errmsg": "token is not exist"}));
    };
    // 加签: timestamp in ms within an hour, sign = Base64(HMAC-SHA256(secret, "ts\nsecret")).
    // Query() has already URL-decoded the sign.
    let ts: i64 = q.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    let key = hmac::Key::new(hmac::HMAC_SHA256, DINGTALK_SECRET.as_bytes());
    let want = base64::engine::general_purpose::STANDARD
        .encode(hmac::sign(&key, format!("{ts}\n{DINGTALK_SECRET}").as_bytes()).as_ref());
    let fresh = (chrono::Utc::now().timestamp_millis() - ts).abs() < 3_600_000;
    if !fresh || q.get("sign") != Some(&want) {
        return Json(json!({"errcode": 310000, "errmsg": "sign not match"}));
    }
    if body["msgtype"] != "markdown"
        || !body["markdown"]["title"].is_string()
        || !body["markdown"]["text"].is_string()
    {
        return Json(json!({"errcode": 40035, "errmsg": "缺少参数 json"}));
    }
    let mut s = s.lock().unwrap();
    Json(take(
        &mut s,
        "dingtalk",
        id,
        body,
        &[(20, MINUTE)],
        json!({"errcode": -1, "errmsg": "系统繁忙"}),
        json!({"errcode": 130101, "errmsg": "send too fast"}),
    ))
}

async fn feishu(
    State(s): State<Robots>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if robot_of(Some(&id), FEISHU_HOOK).is_none() {
        return Json(
            json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}),
        );
    }
    // Signature: Base64(HMAC-SHA256(key = "ts\nsecret", message = "")), ts in seconds, in the body.
    let ts: i64 = body["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let key = hmac::Key::new(
        hmac::HMAC_SHA256,
        format!("{ts}\n{FEISHU_SECRET}").as_bytes(),
    );
    let want = base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, b"").as_ref());
    let fresh = (chrono::Utc::now().timestamp() - ts).abs() < 3600;
    if !fresh || body["sign"].as_str() != Some(want.as_str()) {
        return Json(
            json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}),
        );
    }
    if body["msg_type"] != "text" || !body["content"]["text"].is_string() {
        return Json(json!({"code": 9499, "msg": "Bad Request"}));
    }
    let mut s = s.lock().unwrap();
    Json(take(
        &mut s,
        "feishu",
        id,
        body,
        &[(100, MINUTE), (5, Duration::from_secs(1))],
        json!({"code": 9499, "msg": "too many request"}),
        json!({"code": 11232, "msg": "frequency limited psm"}),
    ))
}

/// One message an SMTP server took.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// Whether the session was under TLS (STARTTLS) when the data came.
    pub tls: bool,
}

#[derive(Default)]
pub struct MailState {
    pub mails: Vec<Mail>,
    /// Answer this many next messages' data with 451 (try again later).
    pub refuse: usize,
}

pub type Mailbox = Arc<Mutex<MailState>>;

#[derive(Clone)]
struct Handler {
    state: Mailbox,
    tls: bool,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin::Handler for Handler {
    fn rcpt(&mut self, to: &str) -> mailin::Response {
        if to.starts_with("nobody@") {
            mailin::response::NO_MAILBOX
        } else {
            mailin::response::OK
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin::Response {
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        let mut s = self.state.lock().unwrap();
        if s.refuse > 0 {
            s.refuse -= 1;
            return mailin::response::INTERNAL_ERROR;
        }
        s.mails.push(Mail {
            from: self.from.clone(),
            to: self.to.clone(),
            data: String::from_utf8_lossy(&self.data).into_owned(),
            tls: self.tls,
        });
        mailin::response::OK
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An SMTP server on 127.0.0.1; with `tls` (a rustls server config) it offers STARTTLS. Returns
/// its port and mailbox.
pub async fn smtp(tls: Option<Arc<rustls::ServerConfig>>) -> (u16, Mailbox) {
    let state: Mailbox = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let keep = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let (state, tls) = (keep.clone(), tls.clone());
            tokio::spawn(async move {
                let _ = session(stream, peer.ip(), state, tls).await;
            });
        }
    });
    (port, state)
}

async fn session(
    stream: tokio::net::TcpStream,
    ip: IpAddr,
    state: Mailbox,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let mut builder = mailin::SessionBuilder::new("smtp.test");
    if tls.is_some() {
        builder.enable_start_tls();
    }
    let handler = Handler {
        state,
        tls: false,
        from: String::new(),
        to: vec![],
        data: vec![],
    };
    let mut session = builder.build(ip, handler.clone());
    let mut io: BufReader<Box<dyn Io>> = BufReader::new(Box::new(stream));
    io.get_mut()
        .write_all(&session.greeting().buffer()?)
        .await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if io.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let r = session.process(&line);
        if r.code == 451 {
            // mailin stays in its data state after a refused message (it would read QUIT as
            // data): answer and hang up, as a server going away for a while does.
            io.get_mut().write_all(&r.buffer()?).await?;
            return Ok(());
        }
        match r.action {
            mailin::Action::NoReply => {}
            mailin::Action::Reply => io.get_mut().write_all(&r.buffer()?).await?,
            mailin::Action::Close => {
                io.get_mut().write_all(&r.buffer()?).await?;
                return Ok(());
            }
            mailin::Action::UpgradeTls => {
                io.get_mut().write_all(&r.buffer()?).await?;
                let config = tls.clone().expect("STARTTLS only when offered");
                let plain = io.into_inner();
                let secure = tokio_rustls::TlsAcceptor::from(config)
                    .accept(plain)
                    .await?;
                io = BufReader::new(Box::new(secure));
                // A new session state after the upgrade, as RFC 3207 asks; marked as under TLS.
                let mut h = handler.clone();
                h.tls = true;
                session = builder.build(ip, h);
                session.tls_active();
            }
        }
    }
}

/// A server config for `127.0.0.1` from a fresh CA of the project's PKI, and the CA's PEM file.
pub fn smtp_tls(dir: &std::path::Path) -> (Arc<rustls::ServerConfig>, std::path::PathBuf) {
    use bangfu_client::pki::{self, IssueOptions};
    use bangfu_shared::org::OrgCode;
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let org = OrgCode::parse("H").unwrap();
    let ca = dir.join("smtp-ca");
    pki::init(&ca, &org, "邮件测试根证书", 30).unwrap();
    let out = dir.join("smtp-tls");
    pki::issue(
        &ca,
        &org,
        "邮件服务器",
        &IssueOptions::for_days(vec!["127.0.0.1".into()], 30),
        &out,
    )
    .unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(out.join(pki::CERT))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(out.join(pki::KEY)).unwrap();
    bangfu_client::tls::install_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    (Arc::new(config), out.join("ca.pem"))
}

/// The decoded subject and text body of a message as lettre writes it (encoded-word subject,
/// base64 or quoted-printable body).
pub fn decode(data: &str) -> (String, String) {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    // Unfold continuation lines.
    let head = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let subject = header("Subject")
        .split_whitespace()
        .map(|w| {
            w.strip_prefix("=?utf-8?b?")
                .or_else(|| w.strip_prefix("=?UTF-8?B?"))
                .and_then(|w| w.strip_suffix("?="))
                .map(|b| {
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                        .unwrap()
                })
                .unwrap_or_else(|| w.to_string())
        })
        .collect::<String>();
    let body = match header("Content-Transfer-Encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())
                .unwrap(),
        )
        .unwrap(),
        "quoted-printable" => {
            let soft = body.replace("=\r\n", "");
            let mut bytes = vec![];
            let mut it = soft.bytes();
            while let Some(b) = it.next() {
                if b == b'=' {
                    let h: String = [it.next().unwrap(), it.next().unwrap()]
                        .iter()
                        .map(|c| *c as char)
                        .collect();
                    bytes.push(u8::from_str_radix(&h, 16).unwrap());
                } else {
                    bytes.push(b);
                }
            }
            String::from_utf8(bytes).unwrap()
        }
        _ => body.to_string(),
    };
    (subject, body)
}

/// A header's value in a message.
pub fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split_once("\r\n\r\n").map_or(data, |(h, _)| h);
    head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    })
}
