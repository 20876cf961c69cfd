-- Accounts (linkleaf_store::accounts): the same model as the SQLite schema. People who sign
-- in, their server-side sessions, their memberships of profiles, one-time links. Secrets are
-- kept as digests only.
CREATE TABLE accounts (
    id            UUID    PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT,
    admin         BOOLEAN NOT NULL,
    created_at    TIMESTAMPTZ  NOT NULL,
    disabled_at   TIMESTAMPTZ
);

CREATE TABLE sessions (
    id           TEXT   PRIMARY KEY,
    account_id   UUID   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    digest       BYTEA  NOT NULL,
    user_agent   TEXT   NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ
);
CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE members (
    profile_id UUID   NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    account_id UUID   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (profile_id, account_id)
);
CREATE INDEX members_by_account ON members (account_id);

CREATE TABLE account_links (
    digest     BYTEA  PRIMARY KEY,
    kind       TEXT   NOT NULL,
    account_id UUID   REFERENCES accounts (id) ON DELETE CASCADE,
    profile_id UUID   REFERENCES profiles (id) ON DELETE CASCADE,
    role       TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
