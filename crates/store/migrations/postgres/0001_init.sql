-- Profiles, their links, and API keys (PostgreSQL). The same model as the SQLite schema, in
-- PostgreSQL's own types. Constraint names are what the store maps unique violations by.
CREATE TABLE profiles (
    id                UUID        PRIMARY KEY,
    username          TEXT        NOT NULL,
    -- lowercase: usernames are unique without regard to case
    username_key      TEXT        NOT NULL CONSTRAINT profiles_username_key_unique UNIQUE,
    -- look-alikes are refused (linkleaf_domain::username::skeleton)
    username_skeleton TEXT        NOT NULL CONSTRAINT profiles_username_skeleton_unique UNIQUE,
    display_name      TEXT        NOT NULL,
    bio               TEXT        NOT NULL DEFAULT '',
    avatar_url        TEXT,
    theme             JSONB       NOT NULL,
    version           BIGINT      NOT NULL,  -- bumped by every write that changes the profile
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL   -- lastModified
);

CREATE TABLE links (
    id          UUID    PRIMARY KEY,
    profile_id  UUID    NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    title       TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    enabled     BOOLEAN NOT NULL,
    click_count BIGINT  NOT NULL DEFAULT 0  -- maintained by the click rollups, never by edits
);
CREATE INDEX links_by_profile ON links (profile_id, position);

CREATE TABLE api_keys (
    id         UUID        PRIMARY KEY,
    name       TEXT        NOT NULL,
    prefix     TEXT        NOT NULL CONSTRAINT api_keys_prefix_unique UNIQUE,
    digest     BYTEA       NOT NULL,  -- SHA-256 of the whole token; the token is never stored
    scopes     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
