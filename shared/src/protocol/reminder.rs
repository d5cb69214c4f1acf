//! Reminders (催报) a parent makes for a child that has not reported: posted to the child's webhook
//! and served to the child itself (`GET /api/v1/reminders`, its own only).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::CampaignId;
use crate::org::OrgCode;

/// Which reminder: once before the due date, and once per overdue day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ReminderKind {
    /// `due_soon`: the due date is a few days away or today.
    DueSoon,
    /// `overdue:YYYY-MM-DD`: still nothing on that day, after the due date.
    Overdue(NaiveDate),
}

impl fmt::Display for ReminderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReminderKind::DueSoon => f.write_str("due_soon"),
            ReminderKind::Overdue(day) => write!(f, "overdue:{day}"),
        }
    }
}

/// A reminder kind that is neither `due_soon` nor `overdue:YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a reminder kind (due_soon or overdue:YYYY-MM-DD) / 催报类型错误")]
pub struct ReminderKindError(pub String);

impl FromStr for ReminderKind {
    type Err = ReminderKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "due_soon" {
            return Ok(ReminderKind::DueSoon);
        }
        s.strip_prefix("overdue:")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .map(ReminderKind::Overdue)
            .ok_or_else(|| ReminderKindError(s.to_string()))
    }
}

impl TryFrom<String> for ReminderKind {
    type Error = ReminderKindError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ReminderKind> for String {
    fn from(k: ReminderKind) -> String {
        k.to_string()
    }
}

/// One reminder, as stored at the parent, posted to the webhook and served to the child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub campaign: CampaignId,
    pub title: String,
    pub org: OrgCode,
    /// The child's name as registered at the parent.
    pub name: String,
    pub kind: ReminderKind,
    /// The child's due date.
    pub due: NaiveDate,
    /// For a person: what is late and by when (Chinese).
    pub message: String,
}

/// The body of `GET /api/v1/reminders`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderList {
    pub reminders: Vec<Reminder>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_travel_as_the_words_stored() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 6).unwrap();
        for (k, w) in [
            (ReminderKind::DueSoon, "due_soon"),
            (ReminderKind::Overdue(day), "overdue:2026-02-06"),
        ] {
            assert_eq!(k.to_string(), w);
            assert_eq!(w.parse::<ReminderKind>().unwrap(), k);
        }
        assert!("overdue:someday".parse::<ReminderKind>().is_err());
        assert!("late".parse::<ReminderKind>().is_err());
    }
}
