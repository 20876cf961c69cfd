-- Fan-out after the commit: a change writes its event alone; the dispatcher fans each event out
-- into deliveries after the change committed (fanned_out_at set when done). Events written
-- before this were fanned out in their change's transaction. The profile an event is about,
-- for subscriptions bound to one profile.
ALTER TABLE webhook_events ADD COLUMN fanned_out_at BIGINT;
ALTER TABLE webhook_events ADD COLUMN profile_id UUID;
UPDATE webhook_events SET fanned_out_at = created_at;
CREATE INDEX webhook_events_unfanned ON webhook_events (id) WHERE fanned_out_at IS NULL;
