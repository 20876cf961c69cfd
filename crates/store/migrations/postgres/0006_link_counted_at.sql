-- When a link's click counter last moved (unix ms; 0: never): a page shows the counters, so its
-- Last-Modified is the later of its edit and its links' counted_at.
ALTER TABLE links ADD COLUMN counted_at BIGINT NOT NULL DEFAULT 0;
