-- Pull (DESIGN.md "three users" 2): where a child serves its reports, so the hub can fetch the
-- latest one on demand or on a schedule; NULL for a child that only pushes.
ALTER TABLE orgs ADD COLUMN address TEXT;

-- Campaigns change after they are created (a due date moved, the end date corrected): each change
-- counts up, so `campaign list` shows which revision a unit holds. Portable SQL, as 0001.
ALTER TABLE campaigns ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
