//! The reminders (催报) a parent made for this child: `GET /api/v1/reminders`, readable only with
//! the child's own certificate (the parent answers with the certificate's org's reminders).

use bangfu_shared::protocol::{Problem, Reminder, ReminderList, paths};

use crate::{Error, Parent, chain};

impl Parent {
    /// Every reminder the parent made for this child, newest first.
    pub async fn reminders(&self) -> Result<Vec<Reminder>, Error> {
        let url = format!("{}{}", self.base, paths::reminders());
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
                detail: Problem::detail_of(&text),
            });
        }
        let list: ReminderList = serde_json::from_str(&text).map_err(|e| Error::Reminders {
            status: status.as_u16(),
            detail: format!("unreadable reminders: {e}"),
        })?;
        Ok(list.reminders)
    }
}
