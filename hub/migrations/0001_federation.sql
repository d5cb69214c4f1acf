-- The hub's federation state. Portable SQL (SQLite and PostgreSQL): TEXT and BIGINT only, dates as
-- ISO TEXT, no AUTOINCREMENT, so one set of migrations serves both through sqlx::Any.
CREATE TABLE orgs (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    webhook TEXT,
    registered_at TEXT NOT NULL
);

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    title TEXT NOT NULL,
    start_on TEXT NOT NULL,
    end_on TEXT NOT NULL,
    due_county TEXT NOT NULL,
    due_prefecture TEXT NOT NULL,
    due_province TEXT,
    template_body TEXT,
    origin TEXT NOT NULL
);

-- Every version a child sends is kept; a version never changes once stored.
CREATE TABLE reports (
    org TEXT NOT NULL,
    campaign TEXT NOT NULL,
    version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    on_time BIGINT NOT NULL,
    PRIMARY KEY (org, campaign, version)
);
