-- API keys. Only the SHA-256 digest of a secret is kept, so reading this table (a backup, a
-- replica, a support query) never reveals a key that works.
--
-- Rows are never deleted: a revoked key keeps its row so `pika-memory keys list` can still
-- show who held it and when it stopped, and so a revoked secret still given in PIKA_API_KEYS
-- is not brought back by the start-up bootstrap.
CREATE TABLE IF NOT EXISTS api_keys
(
    id            uuid PRIMARY KEY,
    tenant        text        NOT NULL,
    -- Chosen by the operator (`--label`), or `PIKA_API_KEYS` for a bootstrapped key.
    label         text,
    -- The first characters of a generated secret, to recognise a key in lists. NULL for keys
    -- from PIKA_API_KEYS: their secrets are chosen by hand and may be short, so none of them
    -- is kept.
    prefix        text,
    secret_sha256 bytea       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant, created_at);
