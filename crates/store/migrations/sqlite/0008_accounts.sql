-- Accounts (linkleaf_store::accounts): people who sign in, their sessions (server-side: every
-- instance reads the same rows), their memberships of profiles with a role, and one-time links
-- (a first sign-in, a password reset, an invitation). Secrets are kept as digests only.
CREATE TABLE accounts (
    id            TEXT    PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,     -- lowercase (linkleaf_domain::account::Email)
    display_name  TEXT    NOT NULL,
    password_hash TEXT,                        -- Argon2id PHC string; NULL: no password yet
    admin         INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
) STRICT;

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,          -- the public id, not the secret
    account_id   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    digest       BLOB    NOT NULL,             -- SHA-256 of the secret the cookie holds
    user_agent   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ended_at     INTEGER
) STRICT;
CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE members (
    profile_id TEXT    NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (profile_id, account_id)
) STRICT;
CREATE INDEX members_by_account ON members (account_id);

CREATE TABLE account_links (
    digest     BLOB    PRIMARY KEY,            -- SHA-256 of the link's token
    kind       TEXT    NOT NULL,               -- 'password' (set or reset one), 'invite'
    account_id TEXT    REFERENCES accounts (id) ON DELETE CASCADE,
    profile_id TEXT    REFERENCES profiles (id) ON DELETE CASCADE,
    role       TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
