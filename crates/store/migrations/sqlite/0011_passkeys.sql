-- Passkeys (WebAuthn): each account's credentials, and the ceremonies under way (a challenge
-- and its state, kept server-side so that any instance can finish what another started; each
-- used once, and only before it expires).
CREATE TABLE passkeys (
    id           TEXT    PRIMARY KEY,      -- the credential id, base64url
    account_id   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    credential   TEXT    NOT NULL,         -- the public key and its counter, as webauthn-rs keeps it
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;
CREATE INDEX passkeys_by_account ON passkeys (account_id);

CREATE TABLE passkey_ceremonies (
    id         TEXT    PRIMARY KEY,
    account_id TEXT    REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,           -- 'register' or 'authenticate'
    state      TEXT,                       -- NULL: a decoy (an unknown email answers alike)
    expires_at INTEGER NOT NULL
) STRICT;
