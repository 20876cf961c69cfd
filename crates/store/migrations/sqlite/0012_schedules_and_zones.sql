-- Scheduled links: when a link is shown (unix ms; NULL: no bound). A page changes at each
-- boundary by itself; the instance announces each boundary passed (links.updated), and the
-- indexes find the next one.
ALTER TABLE links ADD COLUMN visible_from INTEGER;
ALTER TABLE links ADD COLUMN visible_until INTEGER;
CREATE INDEX links_visible_from ON links (visible_from) WHERE visible_from IS NOT NULL;
CREATE INDEX links_visible_until ON links (visible_until) WHERE visible_until IS NOT NULL;
-- A profile's IANA time zone: the days of its analytics.
ALTER TABLE profiles ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
-- An account's IANA time zone: the days its person sees (the dashboard's "today").
ALTER TABLE accounts ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
