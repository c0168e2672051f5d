-- A fact's audit trail reads the events naming it; the expression is the query's own, so
-- SQLite uses the index (as events_by_fact does on Postgres).
CREATE INDEX IF NOT EXISTS events_by_fact
    ON events (json_extract(payload, '$.' || event_type || '.fact_id'))
    WHERE aggregate_type = 'UserMemory';
