-- Episodic memory: every message of every submitted conversation, kept as said, with speaker
-- and time (see the Postgres migration of the same name).
CREATE TABLE IF NOT EXISTS episodes
(
    tenant          TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    job_id          TEXT    NOT NULL,
    message_index   INTEGER NOT NULL,
    episode_id      TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    name            TEXT,
    content         TEXT    NOT NULL,
    -- The embedding cache's key for the content (SHA-256 of its UTF-8 bytes): a turn's vector
    -- is read from the cache, where the worker put it before completing the job.
    content_sha256  BLOB    NOT NULL,
    occurred_at     TEXT    NOT NULL,
    global_position INTEGER NOT NULL,
    PRIMARY KEY (tenant, job_id, message_index)
) STRICT;
CREATE INDEX IF NOT EXISTS episodes_by_user_time
    ON episodes (tenant, user_id, occurred_at, job_id, message_index);
