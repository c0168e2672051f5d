-- A user's facts changed past a log position (a search index's refresh) and their count,
-- found in the index rather than by reading every fact of the user with its vector.
CREATE INDEX IF NOT EXISTS facts_by_position
    ON facts (tenant, user_id, global_position);
