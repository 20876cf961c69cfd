-- Who did what: every change of a profile is kept as a version (what it became, who made it,
-- when), written in the change's own transaction; the newest `history.keep_versions` are kept.
CREATE TABLE profile_versions (
    profile_id TEXT    NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT,                -- {kind, id, name} as JSON; NULL: the command line
    profile    TEXT    NOT NULL,    -- the profile as it became, as the admin API shows it
    PRIMARY KEY (profile_id, version)
) STRICT;
