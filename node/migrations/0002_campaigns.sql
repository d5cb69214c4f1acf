-- Campaigns this node reports for (from the parent, or entered locally from a paper circular), and
-- the figures its staff typed in for each (seed 001 附件1: 4A enterprises visited, 5 money raised, …).

CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY NOT NULL,
    template      TEXT NOT NULL,
    title         TEXT NOT NULL,
    start_on      TEXT NOT NULL,             -- YYYY-MM-DD, Asia/Shanghai
    end_on        TEXT NOT NULL,             -- the as-of day of archive counts
    due_on        TEXT,                      -- this node's deadline
    template_body TEXT,                      -- the table file, when the template is not built in
    origin        TEXT NOT NULL,             -- 'local' or 'parent'
    received_at   TEXT NOT NULL
);

CREATE TABLE typed_cells (
    campaign   TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    code       TEXT NOT NULL,
    value      TEXT NOT NULL,                -- exact decimal in the cell's unit, as typed
    entered_at TEXT NOT NULL,
    PRIMARY KEY (campaign, code)
);
