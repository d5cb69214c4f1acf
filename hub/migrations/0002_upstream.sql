-- A hub that has a parent keeps every version of its own report here until the parent acknowledges
-- it (the hub's outbox): a restart resumes the delivery where it stopped. Portable SQL, as 0001.
CREATE TABLE upstream (
    campaign TEXT NOT NULL,
    version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- 'queued' until the parent answers 200/201 ('delivered') or refuses for good ('refused').
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    PRIMARY KEY (campaign, version)
);
