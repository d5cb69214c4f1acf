-- The node's outbox (DESIGN.md "Data flow" 2–3): every report version that may leave the node, and
-- where each stands with the parent hub. Two tables, because a version is immutable (its body and
-- hash are what the hub keys on) while its delivery state changes with every attempt.

CREATE TABLE report_versions (
    campaign   TEXT NOT NULL REFERENCES campaigns (id),
    version    INTEGER NOT NULL,              -- 1, 2, … per campaign; a new one only when the content changes
    hash       TEXT NOT NULL,                 -- lowercase hex SHA-256 of body, as the hub computes it
    body       TEXT NOT NULL,                 -- the report JSON exactly as sent (serde_json::to_vec)
    created_at TEXT NOT NULL,                 -- RFC 3339
    PRIMARY KEY (campaign, version)
);

CREATE TABLE outbox (
    campaign        TEXT NOT NULL,
    version         INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'refused')),
    attempts        INTEGER NOT NULL DEFAULT 0, -- failed deliveries (5xx, timeouts, no connection)
    next_attempt_at INTEGER NOT NULL,           -- unix milliseconds; `serve` sends when due
    last_status     INTEGER,                    -- the hub's last HTTP status, if it answered
    last_error      TEXT,                       -- why the last attempt failed or was refused
    acked_at        TEXT,                       -- RFC 3339, when the hub stored it
    on_time         INTEGER,                    -- the hub's verdict, 1 or 0, once acknowledged
    PRIMARY KEY (campaign, version),
    FOREIGN KEY (campaign, version) REFERENCES report_versions (campaign, version)
);

CREATE INDEX outbox_pending ON outbox (state, next_attempt_at);

-- Small facts about syncing with the parent, e.g. key 'campaigns_etag' for If-None-Match.
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
