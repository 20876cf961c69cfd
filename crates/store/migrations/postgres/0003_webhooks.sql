-- Webhooks (linkleaf_store::webhooks): the same model as the SQLite schema. Subscriptions; the
-- outbox (one event per change, written in the change's own transaction, fanned out into one
-- delivery per subscription in that same transaction); attempts; incoming ids handled.
CREATE TABLE webhook_subscriptions (
    id              UUID    PRIMARY KEY,
    url             TEXT    NOT NULL,
    events          TEXT    NOT NULL,
    secret          TEXT    NOT NULL,
    previous_secret TEXT,
    previous_until  BIGINT,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failing_since   BIGINT,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE webhook_events (
    id           TEXT   PRIMARY KEY,
    type         TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT,
    relay_until  BIGINT
);
CREATE INDEX webhook_events_unpublished ON webhook_events (id) WHERE published_at IS NULL;

CREATE TABLE webhook_deliveries (
    subscription_id UUID    NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id        TEXT    NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    subscription_id UUID    NOT NULL,
    event_id        TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    at              BIGINT  NOT NULL,
    status          INTEGER,
    latency_ms      BIGINT  NOT NULL,
    error           TEXT,
    PRIMARY KEY (subscription_id, event_id, attempt),
    FOREIGN KEY (subscription_id, event_id)
        REFERENCES webhook_deliveries (subscription_id, event_id) ON DELETE CASCADE
);

CREATE TABLE webhook_inbox (
    webhook_id  TEXT   PRIMARY KEY,
    received_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX webhook_inbox_expiry ON webhook_inbox (expires_at);
