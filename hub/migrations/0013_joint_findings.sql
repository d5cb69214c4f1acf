-- The hub's joint check (issue 11 item 4): per child, the reports whose withheld cells that child's
-- reports together narrow below k (a node bug). Replaced whole at each check of the child; names
-- campaign, template, version and cell codes (comma-separated), never a value.
CREATE TABLE joint_findings (
    org TEXT NOT NULL,
    campaign TEXT NOT NULL,
    version BIGINT NOT NULL,
    template TEXT NOT NULL,
    cells TEXT NOT NULL,
    PRIMARY KEY (org, campaign, version)
);
