-- The parent's review (审核) of this node's report versions, as last fetched: one row per
-- (campaign, version), so a return of version 1 stays on record after version 2 is accepted.
CREATE TABLE reviews (
    campaign   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'returned')),
    reason     TEXT,                         -- why the parent returned it
    decided_at TEXT,                         -- RFC 3339, when the parent decided; NULL while pending
    fetched_at TEXT NOT NULL,                -- RFC 3339, when this node last asked
    PRIMARY KEY (campaign, version)
);
