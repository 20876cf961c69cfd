-- Analytics: rollups only (raw events stay in the spool and the queue). Buckets are unix ms.
CREATE TABLE analytics_rollups (
    profile_id  UUID     NOT NULL,
    granularity SMALLINT NOT NULL,  -- 1 minute, 2 hour, 3 day
    bucket      BIGINT   NOT NULL,  -- the bucket's start
    dimension   TEXT     NOT NULL,  -- link, clicks, views, referrer, country, device, bot
    value       TEXT     NOT NULL,  -- a link id, a host, a country code, a class; '' for clicks and views
    human       BIGINT   NOT NULL,
    bot         BIGINT   NOT NULL,
    -- dimension before bucket: a report reads one or two dimensions over a range of buckets,
    -- and this order makes that one range of the key (not every dimension's rows filtered)
    PRIMARY KEY (profile_id, granularity, dimension, bucket, value)
);

-- Distinct visitors per profile and day (linkleaf_domain::sketch).
CREATE TABLE analytics_uniques (
    profile_id UUID   NOT NULL,
    day        BIGINT NOT NULL,     -- days since the epoch
    sketch     BYTEA  NOT NULL,
    PRIMARY KEY (profile_id, day)
);

-- The frames each commit counted, as ranges of sequence numbers per spool.
CREATE TABLE analytics_frames (
    source       UUID   NOT NULL,
    first_seq    BIGINT NOT NULL,
    last_seq     BIGINT NOT NULL,
    committed_at BIGINT NOT NULL,
    PRIMARY KEY (source, first_seq)
);
CREATE INDEX analytics_frames_by_last ON analytics_frames (source, last_seq);

-- The salt of each day's visitor hashes: shared by every instance, dropped when its day ends.
CREATE TABLE visitor_salts (
    day  BIGINT PRIMARY KEY,
    salt BYTEA  NOT NULL
);
