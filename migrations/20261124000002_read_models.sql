-- Read models fed by the projection daemon, and what the daemon needs to run them.

-- One row per projection: how far it has applied the log. Written in the same transaction as
-- the projection's rows, so a crash never applies an event twice or loses one.
CREATE TABLE IF NOT EXISTS projection_checkpoints
(
    projection      text PRIMARY KEY,
    transaction_id  bigint      NOT NULL DEFAULT 0,
    global_position bigint      NOT NULL DEFAULT 0,
    events_applied  bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Live facts of every user. A retracted fact leaves this table; its history stays in events.
CREATE TABLE IF NOT EXISTS facts
(
    tenant          text             NOT NULL,
    user_id         text             NOT NULL,
    fact_id         uuid             NOT NULL,
    key             text             NOT NULL,
    kind            text             NOT NULL,
    value           text             NOT NULL,
    text            text             NOT NULL,
    confidence      double precision NOT NULL,
    language        text             NOT NULL,
    source_job_id   uuid,
    source_messages integer[]        NOT NULL DEFAULT '{}',
    version         integer          NOT NULL,
    created_at      timestamptz      NOT NULL,
    updated_at      timestamptz      NOT NULL,
    embedding       real[],
    global_position bigint           NOT NULL,
    PRIMARY KEY (tenant, user_id, fact_id)
);
CREATE INDEX IF NOT EXISTS facts_by_id ON facts (tenant, fact_id);

-- The L2 cache: per user, favourites, likes and dislikes by topic.
CREATE TABLE IF NOT EXISTS user_favorite_summary
(
    tenant          text        NOT NULL,
    user_id         text        NOT NULL,
    favorites       jsonb       NOT NULL DEFAULT '{}',
    likes           jsonb       NOT NULL DEFAULT '{}',
    dislikes        jsonb       NOT NULL DEFAULT '{}',
    live_facts      integer     NOT NULL DEFAULT 0,
    last_changed_at timestamptz NOT NULL,
    global_position bigint      NOT NULL,
    PRIMARY KEY (tenant, user_id)
);

CREATE TABLE IF NOT EXISTS extraction_jobs
(
    tenant          text        NOT NULL,
    job_id          uuid        NOT NULL,
    user_id         text        NOT NULL,
    status          text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    idempotency_key text,
    submitted_at    timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    added           integer     NOT NULL DEFAULT 0,
    updated         integer     NOT NULL DEFAULT 0,
    retracted       integer     NOT NULL DEFAULT 0,
    unchanged       integer     NOT NULL DEFAULT 0,
    transaction_id  bigint      NOT NULL,
    global_position bigint      NOT NULL,
    PRIMARY KEY (tenant, job_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS extraction_jobs_idempotency
    ON extraction_jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The audit trail of one fact is read from the event store by fact id.
CREATE INDEX IF NOT EXISTS events_by_fact
    ON events (((payload -> event_type) ->> 'fact_id'))
    WHERE aggregate_type = 'UserMemory';

-- Wake projection daemons when events are committed (NOTIFY is delivered at commit).
CREATE OR REPLACE FUNCTION pika_notify_events() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('pika_events', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS events_notify ON events;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION pika_notify_events();
