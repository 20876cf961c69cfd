-- Passkeys: the same model as the SQLite schema.
CREATE TABLE passkeys (
    id           TEXT        PRIMARY KEY,
    account_id   UUID        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    credential   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX passkeys_by_account ON passkeys (account_id);

CREATE TABLE passkey_ceremonies (
    id         TEXT        PRIMARY KEY,
    account_id UUID        REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT        NOT NULL,
    state      TEXT,
    expires_at TIMESTAMPTZ NOT NULL
);
