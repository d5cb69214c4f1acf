//! Where a version waiting to go up stands: the same three states in a node's outbox and a hub's
//! (its `upstream` table), stored as the same words.

use serde::{Deserialize, Serialize};

/// The state of one queued version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    /// The parent stored it (200/201): never sent again.
    Acked,
    /// The parent refused it for good (a 4xx): not retried.
    Refused,
}

impl OutboxState {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Acked => "acked",
            OutboxState::Refused => "refused",
        }
    }

    /// A stored word back; None for a word this version does not know (a hand-edited row).
    pub fn parse(s: &str) -> Option<OutboxState> {
        match s {
            "pending" => Some(OutboxState::Pending),
            "acked" => Some(OutboxState::Acked),
            "refused" => Some(OutboxState::Refused),
            _ => None,
        }
    }
}

impl std::fmt::Display for OutboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
