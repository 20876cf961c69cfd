-- Analytics: rollups only (raw events stay in the spool and the queue). Times are unix ms.
CREATE TABLE analytics_rollups (
    profile_id  TEXT    NOT NULL,
    granularity INTEGER NOT NULL,  -- 1 minute, 2 hour, 3 day
    bucket      INTEGER NOT NULL,  -- the bucket's start
    dimension   TEXT    NOT NULL,  -- link, clicks, views, referrer, country, device, bot
    value       TEXT    NOT NULL,  -- a link id, a host, a country code, a class; '' for clicks and views
    human       INTEGER NOT NULL,
    bot         INTEGER NOT NULL,
    -- dimension before bucket: a report reads one or two dimensions over a range of buckets,
    -- and this order makes that one range of the key (not every dimension's rows filtered)
    PRIMARY KEY (profile_id, granularity, dimension, bucket, value)
) STRICT, WITHOUT ROWID;

-- Distinct visitors per profile and day (linkleaf_domain::sketch).
CREATE TABLE analytics_uniques (
    profile_id TEXT    NOT NULL,
    day        INTEGER NOT NULL,   -- days since the epoch
    sketch     BLOB    NOT NULL,
    PRIMARY KEY (profile_id, day)
) STRICT, WITHOUT ROWID;

-- The frames each commit counted, as ranges of sequence numbers per spool: a frame delivered
-- again is recognised and skipped.
CREATE TABLE analytics_frames (
    source       TEXT    NOT NULL,  -- the spool's id
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,
    PRIMARY KEY (source, first_seq)
) STRICT;
CREATE INDEX analytics_frames_by_last ON analytics_frames (source, last_seq);

-- The salt of each day's visitor hashes: shared by every instance, dropped when its day ends.
CREATE TABLE visitor_salts (
    day  INTEGER PRIMARY KEY,
    salt BLOB    NOT NULL
) STRICT;
