-- The embedded event store: the same events and snapshots as the Postgres store, in SQLite.
--
-- SQLite lets one transaction write at a time, so positions are handed out in commit order:
-- `global_position` alone is the total order the projection daemon follows (Postgres needs
-- the transaction id beside it because its writers commit concurrently). AUTOINCREMENT keeps a
-- position from ever being reused, even after the last row is deleted.
CREATE TABLE IF NOT EXISTS events
(
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        INTEGER NOT NULL CHECK (sequence >= 0),
    event_type      TEXT    NOT NULL,
    event_version   TEXT    NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    metadata        TEXT    NOT NULL CHECK (json_valid(metadata)),
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE TABLE IF NOT EXISTS snapshots
(
    aggregate_type   TEXT    NOT NULL,
    aggregate_id     TEXT    NOT NULL,
    last_sequence    INTEGER NOT NULL CHECK (last_sequence >= 0),
    current_snapshot INTEGER NOT NULL CHECK (current_snapshot >= 0),
    payload          TEXT    NOT NULL CHECK (json_valid(payload)),
    PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT;
