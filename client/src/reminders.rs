//! The reminders (催报) a parent made for this child: `GET /api/v1/reminders`, readable only with
//! the child's own certificate (the parent answers with the certificate's org's reminders).

use serde::{Deserialize, Serialize};

use crate::{Error, Parent, chain, problem_detail};

/// One reminder as the parent made it: `kind` is `due_soon` or `overdue:YYYY-MM-DD`; `message` is
/// for a person (Chinese).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSpec {
    pub campaign: String,
    pub title: String,
    pub org: String,
    pub kind: String,
    /// The child's due date, YYYY-MM-DD.
    pub due: String,
    pub message: String,
}

#[derive(Deserialize)]
struct List {
    reminders: Vec<ReminderSpec>,
}

impl Parent {
    /// Every reminder the parent made for this child, newest first.
    pub async fn reminders(&self) -> Result<Vec<ReminderSpec>, Error> {
        let url = format!("{}/api/v1/reminders", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                url: url.clone(),
                detail: chain(&e),
            })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::Unreachable {
            url: url.clone(),
            detail: chain(&e),
        })?;
        if !status.is_success() {
            return Err(Error::Reminders {
                status: status.as_u16(),
                detail: problem_detail(&text),
            });
        }
        let list: List = serde_json::from_str(&text).map_err(|e| Error::Reminders {
            status: status.as_u16(),
            detail: format!("unreadable reminders: {e}"),
        })?;
        Ok(list.reminders)
    }
}
