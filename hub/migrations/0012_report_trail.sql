-- The hash trail of report versions pruned beyond [versions] keep (issue 13): the body is gone, but
-- which version arrived when, with which content hash and whether on time, stays provable.
CREATE TABLE report_trail (
    org TEXT NOT NULL,
    campaign TEXT NOT NULL,
    version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    received_at TEXT NOT NULL,
    on_time BIGINT NOT NULL,
    pruned_at TEXT NOT NULL,
    PRIMARY KEY (org, campaign, version)
);
