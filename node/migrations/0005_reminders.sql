-- The reminders (催报) the parent made for this node, as last fetched (its "reminders inbox"):
-- one row per (campaign, kind), so `status --offline` shows them without a connection.
CREATE TABLE reminders (
    campaign   TEXT NOT NULL,
    kind       TEXT NOT NULL,                -- 'due_soon' or 'overdue:YYYY-MM-DD'
    due        TEXT NOT NULL,                -- this node's due date, YYYY-MM-DD
    message    TEXT NOT NULL,                -- for a person, from the parent
    fetched_at TEXT NOT NULL,                -- RFC 3339, when this node first fetched it
    PRIMARY KEY (campaign, kind)
);
