-- Per-user data keys for crypto-shredding (see domain/src/personal_data.rs).
--
-- A key is stored only wrapped by the master key, which never enters the database. `owner` is
-- the user's `UserMemory` aggregate id (`tenant/user`); `scope` is `facts` or
-- `conversations/<day>`, so retention can destroy old days of conversation and keep the facts.
CREATE TABLE IF NOT EXISTS data_keys
(
    key_id     uuid PRIMARY KEY,
    owner      text        NOT NULL,
    scope      text        NOT NULL,
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner, scope)
);

-- A value sealed with the master key: a server started with another master key stops at once.
CREATE TABLE IF NOT EXISTS master_key_check
(
    id     integer PRIMARY KEY CHECK (id = 1),
    sealed bytea NOT NULL
);

-- Forgetting a user destroys their keys in the transaction that records it: there is no
-- moment at which the log says "forgotten" while the words can still be read.
CREATE OR REPLACE FUNCTION shred_forgotten_user() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    DELETE FROM data_keys WHERE owner = NEW.aggregate_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_shred_forgotten
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'UserMemory' AND NEW.event_type = 'UserForgotten')
EXECUTE FUNCTION shred_forgotten_user();

-- An event sealed with a key destroyed meanwhile (a writer that fetched the key just before
-- the user was forgotten) would be unreadable from birth: it is refused as a conflict
-- (23505), so the write model retries with fresh state and a live key. The share lock makes a
-- concurrent forget wait for this commit, or this insert see its delete.
CREATE OR REPLACE FUNCTION refuse_destroyed_key() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    sealed_with text := NEW.payload -> NEW.event_type -> 'sealed' ->> 'key';
BEGIN
    IF sealed_with IS NOT NULL THEN
        PERFORM 1 FROM data_keys WHERE key_id = sealed_with::uuid FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'data key % was destroyed', sealed_with USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_refuse_destroyed_key
    BEFORE INSERT ON events
    FOR EACH ROW
EXECUTE FUNCTION refuse_destroyed_key();

-- Rewrites of the log, each recorded once: the log is append-only except for these.
CREATE TABLE IF NOT EXISTS log_rewrites
(
    name        text PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    events      bigint      NOT NULL DEFAULT 0
);
