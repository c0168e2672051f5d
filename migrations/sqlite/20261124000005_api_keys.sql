-- API keys, as on Postgres: SHA-256 digests only, never a secret.
CREATE TABLE IF NOT EXISTS api_keys
(
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    label         TEXT,
    prefix        TEXT,
    secret_sha256 BLOB NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
) STRICT;

CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant, created_at);
