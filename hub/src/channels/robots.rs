//! Posting to a webhook and judging its answer. WeCom, DingTalk and Feishu robots answer HTTP 200
//! with an error code in the body when they refuse (a wrong signature, a keyword missing, too many
//! messages), so the body decides: errcode 0 (WeCom, DingTalk) or code 0 (Feishu) is delivered,
//! anything else is a refusal. Our own JSON webhook is delivered on any 2xx.

use std::time::Duration;

use base64::Engine as _;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use ring::hmac;
use serde_json::{Value, json};

use super::{Delivery, Notice, WebhookKind, format};

/// Codes a robot answers when a robot sent too many messages (published by each vendor):
/// WeCom 45009, DingTalk 130101 (send too fast) and 660026, Feishu 9499 and 11232.
const RATE_LIMITED: &[i64] = &[45009, 130101, 660026, 9499, 11232];

/// How long to wait after a rate-limit answer that named no time: one window of the limit.
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// DingTalk 加签: Base64 of HMAC-SHA256 with key `secret` over `timestamp_ms\nsecret`, URL-encoded.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp_ms}\n{secret}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    utf8_percent_encode(&b64, NON_ALPHANUMERIC).to_string()
}

/// Feishu 签名校验: Base64 of HMAC-SHA256 with key `timestamp_s\nsecret` over an empty message.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = hmac::Key::new(
        hmac::HMAC_SHA256,
        format!("{timestamp_s}\n{secret}").as_bytes(),
    );
    let tag = hmac::sign(&key, b"");
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The URL and body for `kind`, signed with `secret` at `now_ms`.
pub fn request(
    kind: WebhookKind,
    url: &str,
    secret: Option<&str>,
    notice: &Notice,
    now_ms: i64,
) -> (String, Value) {
    match kind {
        WebhookKind::Json => (url.to_string(), format::json(notice)),
        WebhookKind::Wecom => (
            url.to_string(),
            json!({"msgtype": "markdown", "markdown": {"content": format::markdown(notice)}}),
        ),
        WebhookKind::Dingtalk => {
            let url = match secret {
                Some(s) => {
                    let sep = if url.contains('?') { '&' } else { '?' };
                    format!(
                        "{url}{sep}timestamp={now_ms}&sign={}",
                        dingtalk_sign(s, now_ms)
                    )
                }
                None => url.to_string(),
            };
            let body = json!({
                "msgtype": "markdown",
                "markdown": {"title": format::subject(notice), "text": format::markdown(notice)},
            });
            (url, body)
        }
        WebhookKind::Feishu => {
            let mut body = json!({"msg_type": "text", "content": {"text": format::text(notice)}});
            if let Some(s) = secret {
                let ts = now_ms / 1000;
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(feishu_sign(s, ts));
            }
            (url.to_string(), body)
        }
    }
}

/// One attempt: post `notice` to the webhook and judge the answer.
pub async fn post(
    http: &reqwest::Client,
    kind: WebhookKind,
    url: &str,
    secret: Option<&str>,
    notice: &Notice,
) -> Delivery {
    let (url, body) = request(
        kind,
        url,
        secret,
        notice,
        chrono::Utc::now().timestamp_millis(),
    );
    let res = match http.post(&url).json(&body).send().await {
        Ok(r) => r,
        // Never the URL: it carries the robot's key or token.
        Err(e) => return unanswered(&e.without_url()),
    };
    let status = res.status();
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = match read_answer(res).await {
        Ok(t) => t,
        Err(e) => return unanswered(&e.without_url()),
    };
    judge(kind, status.as_u16(), retry_after, &text)
}

/// The most of a robot's answer read: its verdict (`errcode`, `code`, a short message) is in the
/// first hundred bytes; a server that streams more (a misconfigured URL answering a page, or one
/// that never ends) must not fill the hub's memory or hold the round.
pub const ANSWER_LIMIT: usize = 64 * 1024;

/// The answer's body, cut at [`ANSWER_LIMIT`] bytes (the rest is not read), as text.
async fn read_answer(mut res: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        let room = ANSWER_LIMIT - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == ANSWER_LIMIT {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn unanswered(e: &reqwest::Error) -> Delivery {
    Delivery::Unavailable {
        // A timeout once connected may be after the robot took the message.
        maybe_delivered: e.is_timeout() && !e.is_connect(),
        detail: e.to_string(),
    }
}

/// How `kind` answered: HTTP `status`, the `Retry-After` header, the body.
pub fn judge(
    kind: WebhookKind,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Delivery {
    let clip = |s: &str| s.chars().take(200).collect::<String>();
    if !(200..300).contains(&status) {
        return Delivery::Refused {
            code: format!("HTTP {status}"),
            message: clip(body),
            retry_after: retry_after.or((status == 429).then_some(RATE_LIMIT_PAUSE)),
        };
    }
    if kind == WebhookKind::Json {
        return Delivery::Delivered;
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Delivery::Refused {
            code: "unreadable".into(),
            message: format!("not the {} robot's JSON: {}", kind.as_str(), clip(body)),
            retry_after: None,
        };
    };
    // WeCom and DingTalk: errcode/errmsg; Feishu: code/msg (older robots: StatusCode/StatusMessage).
    let (code, message) = match kind {
        WebhookKind::Feishu => (
            v.get("code").or_else(|| v.get("StatusCode")),
            v.get("msg").or_else(|| v.get("StatusMessage")),
        ),
        _ => (v.get("errcode"), v.get("errmsg")),
    };
    let Some(code) = code.and_then(Value::as_i64) else {
        return Delivery::Refused {
            code: "unreadable".into(),
            message: format!("no error code in the answer: {}", clip(body)),
            retry_after: None,
        };
    };
    if code == 0 {
        return Delivery::Delivered;
    }
    Delivery::Refused {
        code: code.to_string(),
        message: clip(message.and_then(Value::as_str).unwrap_or("")),
        retry_after: retry_after.or(RATE_LIMITED.contains(&code).then_some(RATE_LIMIT_PAUSE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::NoticeKind;
    use crate::channels::format::tests::notice;

    #[test]
    fn dingtalk_signs_the_way_its_documentation_computes() {
        // Recomputed independently: HMAC-SHA256(key=secret, "ts\nsecret"), Base64, URL-encoded.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"SECxyz");
        let tag = hmac::sign(&key, b"1700000000000\nSECxyz");
        let b64 = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
        let sign = dingtalk_sign("SECxyz", 1_700_000_000_000);
        assert_eq!(
            sign,
            b64.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        );
        let (url, body) = request(
            WebhookKind::Dingtalk,
            "https://oapi.dingtalk.com/robot/send?access_token=t",
            Some("SECxyz"),
            &notice(NoticeKind::DueSoon),
            1_700_000_000_000,
        );
        assert_eq!(
            url,
            format!(
                "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000&sign={sign}"
            )
        );
        assert_eq!(body["msgtype"], "markdown");
    }

    #[test]
    fn feishu_signs_in_the_body_with_the_key_over_nothing() {
        let (_, body) = request(
            WebhookKind::Feishu,
            "https://open.feishu.cn/open-apis/bot/v2/hook/x",
            Some("s3"),
            &notice(NoticeKind::DueSoon),
            1_700_000_000_123,
        );
        assert_eq!(body["timestamp"], "1700000000");
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"1700000000\ns3");
        let want = base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, b"").as_ref());
        assert_eq!(body["sign"], want);
        assert_eq!(body["msg_type"], "text");
        assert!(
            body["content"]["text"]
                .as_str()
                .unwrap()
                .contains("京山县总工会")
        );
    }

    #[test]
    fn a_200_with_an_error_code_is_a_refusal_not_a_delivery() {
        let r = judge(
            WebhookKind::Wecom,
            200,
            None,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
        );
        assert!(
            matches!(&r, Delivery::Refused { code, .. } if code == "93000"),
            "{r:?}"
        );
        let r = judge(
            WebhookKind::Feishu,
            200,
            None,
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        );
        assert!(
            matches!(&r, Delivery::Refused { code, .. } if code == "19021"),
            "{r:?}"
        );
        let r = judge(
            WebhookKind::Dingtalk,
            200,
            None,
            r#"{"errcode":130101,"errmsg":"send too fast"}"#,
        );
        assert!(
            matches!(
                &r,
                Delivery::Refused {
                    retry_after: Some(_),
                    ..
                }
            ),
            "{r:?}"
        );
        assert_eq!(
            judge(
                WebhookKind::Dingtalk,
                200,
                None,
                r#"{"errcode":0,"errmsg":"ok"}"#
            ),
            Delivery::Delivered
        );
        assert_eq!(
            judge(WebhookKind::Feishu, 200, None, r#"{"StatusCode":0}"#),
            Delivery::Delivered
        );
        assert!(matches!(
            judge(WebhookKind::Wecom, 200, None, "<html>"),
            Delivery::Refused { .. }
        ));
        assert_eq!(judge(WebhookKind::Json, 204, None, ""), Delivery::Delivered);
    }
}
