-- The embedded job queue: what RabbitMQ's work, retry and dead-letter queues hold when
-- scaled out, as rows, so a job accepted before a crash or a restart still runs after it.
CREATE TABLE IF NOT EXISTS job_queue
(
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    payload         TEXT    NOT NULL,
    -- Deliveries that failed before the job could record an attempt (the RabbitMQ header).
    delivery_attempt INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds: a retry waits out its backoff here, as in the delay queue.
    available_at    INTEGER NOT NULL,
    -- Set while a worker runs the job; a process killed mid-job leaves it to expire.
    leased_until    INTEGER,
    -- Set when dead-lettered: the row stays, with why, for an operator to inspect.
    dead_reason     TEXT,
    enqueued_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS job_queue_ready ON job_queue (available_at, id)
    WHERE dead_reason IS NULL;
