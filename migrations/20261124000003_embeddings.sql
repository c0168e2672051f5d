-- Vectors of fact texts, written by the worker before it commits the facts, read by the
-- `facts` projection when a fact is added or changed. Keeping vectors out of the events keeps
-- the event store small; keeping them here makes a rebuild reproduce them without the model.
CREATE TABLE IF NOT EXISTS embedding_cache
(
    text_sha256 bytea       NOT NULL PRIMARY KEY,
    model       text        NOT NULL,
    vector      real[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE facts ADD COLUMN IF NOT EXISTS embedding_model text;
