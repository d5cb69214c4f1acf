-- One-time enrolment codes (issue 13). Only the SHA-256 of a code is kept, so a copy of the database
-- enrols nobody. A code is for one org, expires, is used once (used_at), and dies after a few wrong
-- tries made for its org (failed_attempts).
CREATE TABLE enrolment_codes (
    code_hash TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    serial TEXT
);
CREATE INDEX enrolment_codes_by_org ON enrolment_codes (org);
