-- Episodic memory: every message of every submitted conversation, kept as said, with speaker
-- and time. A projection of the jobs' `Submitted` events; forgetting the user empties it.
CREATE TABLE IF NOT EXISTS episodes
(
    tenant          TEXT        NOT NULL,
    user_id         TEXT        NOT NULL,
    job_id          UUID        NOT NULL,
    message_index   INTEGER     NOT NULL,
    episode_id      UUID        NOT NULL,
    role            TEXT        NOT NULL,
    name            TEXT,
    content         TEXT        NOT NULL,
    -- The embedding cache's key for the content (SHA-256 of its UTF-8 bytes): a turn's vector
    -- is read from the cache, where the worker put it before completing the job.
    content_sha256  BYTEA       NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    global_position BIGINT      NOT NULL,
    PRIMARY KEY (tenant, job_id, message_index)
);
-- A user's turns in time order (listing, time-bounded search).
CREATE INDEX IF NOT EXISTS episodes_by_user_time
    ON episodes (tenant, user_id, occurred_at, job_id, message_index);
