-- Every rollup version a hub made, with the child versions it was made from, so any total it showed
-- or sent up can be traced to the reports received (hub/src/rollups.rs). Portable SQL, as 0001.
CREATE TABLE rollups (
    campaign TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- The rollup JSON as printed, version included.
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (campaign, version)
);

-- One row per child version a rollup version summed: org, that version, and its hash as received.
CREATE TABLE rollup_sources (
    campaign TEXT NOT NULL,
    version BIGINT NOT NULL,
    org TEXT NOT NULL,
    source_version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (campaign, version, org)
);
