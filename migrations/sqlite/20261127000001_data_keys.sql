-- Per-user data keys for crypto-shredding: the same tables and triggers as the Postgres
-- schema (see migrations/20261127000001_data_keys.sql for why).
CREATE TABLE IF NOT EXISTS data_keys
(
    key_id     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    scope      TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (owner, scope)
) STRICT;

CREATE TABLE IF NOT EXISTS master_key_check
(
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB NOT NULL
) STRICT;

CREATE TRIGGER IF NOT EXISTS events_shred_forgotten
    AFTER INSERT ON events
    WHEN NEW.aggregate_type = 'UserMemory' AND NEW.event_type = 'UserForgotten'
BEGIN
    DELETE FROM data_keys WHERE owner = NEW.aggregate_id;
END;

-- SQLite has one writer at a time, so a plain check cannot race a forget.
CREATE TRIGGER IF NOT EXISTS events_refuse_destroyed_key
    BEFORE INSERT ON events
    WHEN json_extract(NEW.payload, '$."' || NEW.event_type || '".sealed.key') IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM data_keys
                      WHERE key_id = json_extract(NEW.payload,
                                                  '$."' || NEW.event_type || '".sealed.key'))
BEGIN
    SELECT RAISE(ABORT, 'data key destroyed');
END;

CREATE TABLE IF NOT EXISTS log_rewrites
(
    name        TEXT PRIMARY KEY,
    started_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    events      INTEGER NOT NULL DEFAULT 0
) STRICT;
