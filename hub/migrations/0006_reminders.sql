-- Reminders (催报) to children that have not reported (hub/src/remind.rs): one row per
-- (campaign, org, kind), made once, so a restart neither loses a reminder nor makes one twice.
-- Portable SQL, as 0001.
CREATE TABLE reminders (
    campaign TEXT NOT NULL,
    org TEXT NOT NULL,
    -- 'due_soon' (once, within [remind] days_before of the child's due date) or
    -- 'overdue:YYYY-MM-DD' (once per overdue day, for [remind] overdue_days days).
    kind TEXT NOT NULL,
    -- The child's due date, YYYY-MM-DD (Asia/Shanghai).
    due TEXT NOT NULL,
    message TEXT NOT NULL,
    -- RFC 3339 UTC.
    created_at TEXT NOT NULL,
    -- When the child's webhook took it (2xx); NULL: no webhook, or not delivered yet.
    webhook_at TEXT,
    PRIMARY KEY (campaign, org, kind)
);
