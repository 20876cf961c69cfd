-- The readiness heartbeat: a small write committed at most every few seconds, so /readyz knows
-- that writes reach the disk (a read, or a rolled-back write, proves nothing). One row.
CREATE TABLE heartbeat (
    id       SMALLINT PRIMARY KEY CHECK (id = 1),
    at       BIGINT   NOT NULL,  -- unix ms of the last beat
    instance TEXT     NOT NULL   -- the process that wrote it
);
