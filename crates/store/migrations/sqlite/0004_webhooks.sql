-- Webhooks (linkleaf_store::webhooks). Subscriptions; the outbox: one event per change, written
-- in the change's own transaction, and one delivery per event and subscription (fanned out in
-- that same transaction); each delivery's attempts; and the ids of incoming events handled.
CREATE TABLE webhook_subscriptions (
    id              TEXT    PRIMARY KEY,
    url             TEXT    NOT NULL,
    events          TEXT    NOT NULL,  -- space-separated event types
    secret          TEXT    NOT NULL,  -- whsec_...: it signs, so it is kept as it is
    previous_secret TEXT,              -- after a rotation, signs too until previous_until
    previous_until  INTEGER,
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    failing_since   INTEGER,           -- the first failure after the last success
    created_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_events (
    id           TEXT    PRIMARY KEY,  -- msg_...: the webhook-id of every delivery of it
    type         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,     -- the body, as sent
    created_at   INTEGER NOT NULL,
    published_at INTEGER,              -- when the queue took it (RabbitMQ); NULL: not yet, or none
    relay_until  INTEGER               -- an instance is publishing it until then
) STRICT;
CREATE INDEX webhook_events_unpublished ON webhook_events (published_at, id);

CREATE TABLE webhook_deliveries (
    subscription_id TEXT    NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id        TEXT    NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL,  -- pending, delivered, dead
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,           -- a dispatcher is sending it until then
    last_status     INTEGER,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    subscription_id TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    status          INTEGER,           -- the HTTP status, when one came back
    latency_ms      INTEGER NOT NULL,
    error           TEXT,
    PRIMARY KEY (subscription_id, event_id, attempt),
    FOREIGN KEY (subscription_id, event_id)
        REFERENCES webhook_deliveries (subscription_id, event_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE TABLE webhook_inbox (
    webhook_id  TEXT    PRIMARY KEY,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX webhook_inbox_expiry ON webhook_inbox (expires_at);
