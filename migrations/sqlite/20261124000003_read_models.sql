-- The embedded read models: the Postgres ones in SQLite's types. Ids are hyphenated UUID text,
-- times RFC 3339 text truncated to microseconds (as Postgres keeps them), lists and maps JSON
-- text, vectors little-endian f32 blobs.
CREATE TABLE IF NOT EXISTS projection_checkpoints
(
    projection      TEXT    PRIMARY KEY,
    global_position INTEGER NOT NULL DEFAULT 0,
    events_applied  INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS facts
(
    tenant          TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    fact_id         TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    confidence      REAL    NOT NULL,
    language        TEXT    NOT NULL,
    source_job_id   TEXT,
    source_messages TEXT    NOT NULL DEFAULT '[]',
    version         INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    embedding       BLOB,
    embedding_model TEXT,
    global_position INTEGER NOT NULL,
    PRIMARY KEY (tenant, user_id, fact_id)
) STRICT;
CREATE INDEX IF NOT EXISTS facts_by_id ON facts (tenant, fact_id);

CREATE TABLE IF NOT EXISTS user_favorite_summary
(
    tenant          TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    favorites       TEXT    NOT NULL DEFAULT '{}',
    likes           TEXT    NOT NULL DEFAULT '{}',
    dislikes        TEXT    NOT NULL DEFAULT '{}',
    live_facts      INTEGER NOT NULL DEFAULT 0,
    last_changed_at TEXT    NOT NULL,
    global_position INTEGER NOT NULL,
    PRIMARY KEY (tenant, user_id)
) STRICT;

CREATE TABLE IF NOT EXISTS extraction_jobs
(
    tenant          TEXT    NOT NULL,
    job_id          TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    idempotency_key TEXT,
    submitted_at    TEXT    NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    added           INTEGER NOT NULL DEFAULT 0,
    updated         INTEGER NOT NULL DEFAULT 0,
    retracted       INTEGER NOT NULL DEFAULT 0,
    unchanged       INTEGER NOT NULL DEFAULT 0,
    global_position INTEGER NOT NULL,
    PRIMARY KEY (tenant, job_id)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS extraction_jobs_idempotency
    ON extraction_jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE IF NOT EXISTS embedding_cache
(
    text_sha256 BLOB NOT NULL PRIMARY KEY,
    model       TEXT NOT NULL,
    vector      BLOB NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
