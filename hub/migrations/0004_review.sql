-- Review (审核, seed 000: the prefecture "检查核准"s its counties' reports). Every decision a reviewer
-- makes is a row, never updated: a version's state is its latest row (highest seq), a version with no
-- row is pending, and the history of returns and acceptances stays. Portable SQL, as 0001.
CREATE TABLE reviews (
    campaign TEXT NOT NULL,
    org TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- 1, 2, … per (campaign, org, version): the order the decisions were made in.
    seq BIGINT NOT NULL,
    -- 'accepted' or 'returned' ('pending' is the absence of a row).
    state TEXT NOT NULL,
    -- Why it was returned (free text, shown to the child, never sent up); NULL when accepted.
    reason TEXT,
    -- RFC 3339 UTC.
    decided_at TEXT NOT NULL,
    PRIMARY KEY (campaign, org, version, seq)
);

-- A hub that has a parent keeps the review its own report got there (fetched by the upstream worker),
-- one row per (campaign, version), the latest known state.
CREATE TABLE own_reviews (
    campaign TEXT NOT NULL,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    decided_at TEXT,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (campaign, version)
);
