//! The problem document (RFC 9457, `application/problem+json`) every refusal on the API carries:
//! made by the hub and by a node serving pulls, read by the client. Its `detail` names what was
//! wrong (org codes, campaign ids, versions, cell codes, rule texts), never a cell's value.

use serde::{Deserialize, Serialize};

/// A refusal's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type", default = "about_blank")]
    pub kind: String,
    /// The status's reason phrase.
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub status: u16,
    /// What was wrong and where, for a person (Chinese and English where the code says both).
    #[serde(default)]
    pub detail: String,
}

fn about_blank() -> String {
    "about:blank".into()
}

impl Problem {
    /// A problem with `status`, its reason phrase `title`, and `detail`.
    pub fn new(status: u16, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: about_blank(),
            title: title.to_string(),
            status,
            detail: detail.into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a problem serialises")
    }

    /// What a refusal's body says, for a log line or an error: the problem's detail (or title),
    /// else the start of whatever the body is (a proxy's page, say), else `(no body)`.
    pub fn detail_of(body: &str) -> String {
        match serde_json::from_str::<Problem>(body) {
            Ok(p) if !p.detail.is_empty() => p.detail,
            Ok(p) if !p.title.is_empty() => p.title,
            _ => {
                let short: String = body.chars().take(200).collect();
                if short.is_empty() {
                    "(no body)".into()
                } else {
                    short
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_round_trips_and_its_detail_is_read_back() {
        let p = Problem::new(422, "Unprocessable Entity", "3B exceeds 3A");
        let json = p.to_json();
        assert!(json.contains("\"type\":\"about:blank\""), "{json}");
        assert_eq!(Problem::detail_of(&json), "3B exceeds 3A");
        assert_eq!(
            Problem::detail_of(r#"{"title":"Forbidden","status":403}"#),
            "Forbidden"
        );
        assert_eq!(Problem::detail_of("<html>bad gateway"), "<html>bad gateway");
        assert_eq!(Problem::detail_of(""), "(no body)");
    }
}
