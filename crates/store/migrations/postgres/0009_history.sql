-- Who did what: the same model as the SQLite schema.
CREATE TABLE profile_versions (
    profile_id UUID        NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    version    BIGINT      NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    actor      JSONB,
    profile    JSONB       NOT NULL,
    PRIMARY KEY (profile_id, version)
);
