-- Profiles, their links, and API keys. Ids are UUIDv7 text; times are unix milliseconds.
CREATE TABLE profiles (
    id           TEXT    PRIMARY KEY,
    username     TEXT    NOT NULL,
    username_key TEXT    NOT NULL UNIQUE,  -- lowercase: usernames are unique without regard to case
    display_name TEXT    NOT NULL,
    bio          TEXT    NOT NULL DEFAULT '',
    avatar_url   TEXT,
    theme        TEXT    NOT NULL,         -- JSON
    version      INTEGER NOT NULL,         -- bumped by every write that changes the profile
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL          -- lastModified
) STRICT;

CREATE TABLE links (
    id          TEXT    PRIMARY KEY,
    profile_id  TEXT    NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    title       TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    enabled     INTEGER NOT NULL,
    click_count INTEGER NOT NULL DEFAULT 0  -- maintained by the click rollups, never by edits
) STRICT;
CREATE INDEX links_by_profile ON links (profile_id, position);

CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    prefix     TEXT    NOT NULL UNIQUE,
    digest     BLOB    NOT NULL,           -- SHA-256 of the whole token; the token is never stored
    scopes     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
