-- Accounts of the people who use a web page of bangfu (bangfu-web): the hub's dashboard (viewer,
-- reviewer, admin) and the node's office UI (clerk, admin). The same DDL is hub migration 0010 and
-- node migration 0007; web/tests/schema.rs fails when they drift apart. Portable SQL (TEXT and
-- BIGINT, times as Unix seconds), so the same queries run on SQLite and PostgreSQL.
CREATE TABLE web_users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    -- Argon2id as a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
    password_hash TEXT NOT NULL,
    -- 1: may not log in; the account is kept so the audit log still names it.
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A logged-in browser. Only the SHA-256 of the cookie's 256-bit id is stored: a copy of the
-- database does not let anyone log in.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES web_users (username),
    -- The CSRF token every form of this session carries (hidden field `csrf`).
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    client TEXT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (username);

-- Failed logins within the lock-out window, by name and by client address.
CREATE TABLE web_login_failures (
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX web_login_failures_user ON web_login_failures (username, at);
CREATE INDEX web_login_failures_client ON web_login_failures (client, at);

-- Who did what and when: logins, failures, lock-outs, logouts, review decisions, household views.
-- Kept on this machine only; never sent to a parent.
CREATE TABLE web_audit (
    at BIGINT NOT NULL,
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX web_audit_at ON web_audit (at);
