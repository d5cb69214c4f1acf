-- The publication ledger (issue 11): what every report this node queued for its parent was counted
-- on, so that a new report is audited together with everything sent before, and `bangfu-node sent`
-- shows a data-protection officer exactly what left. The bytes themselves are report_versions.body.

-- An archive snapshot: the as-of day and the archive's facts at the time a report was built.
CREATE TABLE ledger_snapshots (
    id         TEXT PRIMARY KEY NOT NULL,  -- hex SHA-256 over the day and every household's and aid record's facts
    as_of      TEXT NOT NULL,              -- YYYY-MM-DD
    households BLOB NOT NULL,              -- sorted 8-byte fingerprints of the households in the archive on as_of
                                           -- (a hash of each one's coded facts: no names, no ID numbers)
    created_at TEXT NOT NULL               -- RFC 3339
);

-- How many household records were added and removed between two snapshots (a correction is one
-- of each): what the joint audit assumes a recipient knows.
CREATE TABLE ledger_changes (
    from_snapshot TEXT NOT NULL REFERENCES ledger_snapshots (id),
    to_snapshot   TEXT NOT NULL REFERENCES ledger_snapshots (id),
    added         INTEGER NOT NULL,
    removed       INTEGER NOT NULL,
    PRIMARY KEY (from_snapshot, to_snapshot)
);

-- One row per report version: its table (the template text as used), its snapshot and period.
CREATE TABLE publications (
    campaign      TEXT NOT NULL,
    version       INTEGER NOT NULL,
    template_id   TEXT NOT NULL,
    template_text TEXT NOT NULL,
    snapshot      TEXT NOT NULL REFERENCES ledger_snapshots (id),
    as_of         TEXT NOT NULL,           -- YYYY-MM-DD
    period_start  TEXT,                    -- YYYY-MM-DD
    period_end    TEXT,                    -- YYYY-MM-DD
    basis         TEXT NOT NULL,           -- hex SHA-256 of what the report was made from: node, snapshot,
                                           -- table text, typed figures, period, change policy (the daemon
                                           -- does not make a report again from the same basis)
    PRIMARY KEY (campaign, version),
    FOREIGN KEY (campaign, version) REFERENCES report_versions (campaign, version)
);
