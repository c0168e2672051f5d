-- The postgres-es event store, plus a global order for the projection daemon.
--
-- postgres-es orders events only within one aggregate. `global_position` gives every event a
-- place in one total order, and `transaction_id` records the writing transaction, so a reader
-- can take only events whose transaction is below pg_snapshot_xmin(pg_current_snapshot()):
-- every such transaction has finished, so no event can later appear before what was read.
CREATE TABLE IF NOT EXISTS events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         jsonb                        NOT NULL,
    metadata        jsonb                        NOT NULL,
    global_position bigserial                    NOT NULL,
    transaction_id  xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX IF NOT EXISTS events_global_position ON events (global_position);

-- The tail reader's scan: (transaction_id, global_position) past its checkpoint.
CREATE INDEX IF NOT EXISTS events_tail ON events (transaction_id, global_position);

CREATE TABLE IF NOT EXISTS snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                                NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
