//! API keys in the scaled-out mode's Postgres database.

use async_trait::async_trait;
use pika_domain::TenantId;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::store::{ActiveKeys, KeyRecord, KeyStore, KeyStoreError, KeyToStore, StoredActiveKey};

/// Postgres' code for "relation does not exist": the migrations were not applied.
const UNDEFINED_TABLE: &str = "42P01";

const RECORD_COLUMNS: &str = "id, tenant, label, prefix, created_at, revoked_at";

/// The servers and `pika-memory keys` of a scaled-out deployment share this table, so a key
/// changed from the command line reaches every process.
#[derive(Debug, Clone)]
pub struct PostgresKeyStore {
    pool: PgPool,
}

impl PostgresKeyStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A database that was never migrated is the likely mistake when the table is missing, so the
/// error says what to run.
fn store_error(error: sqlx::Error) -> KeyStoreError {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(UNDEFINED_TABLE) => {
            KeyStoreError::MissingTable
        }
        _ => KeyStoreError::Database(error),
    }
}

fn key_record(row: &PgRow) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        label: row.try_get("label")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

#[async_trait]
impl KeyStore for PostgresKeyStore {
    async fn insert(&self, key: &KeyToStore<'_>) -> Result<KeyRecord, KeyStoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO api_keys (id, tenant, label, prefix, secret_sha256)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING {RECORD_COLUMNS}"
        ))
        .bind(key.id)
        .bind(key.tenant.as_str())
        .bind(key.label)
        .bind(key.prefix)
        .bind(&key.secret_sha256[..])
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        key_record(&row).map_err(store_error)
    }

    async fn insert_unless_stored(&self, key: &KeyToStore<'_>) -> Result<KeyRecord, KeyStoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant, label, prefix, secret_sha256)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (secret_sha256) DO NOTHING",
        )
        .bind(key.id)
        .bind(key.tenant.as_str())
        .bind(key.label)
        .bind(key.prefix)
        .bind(&key.secret_sha256[..])
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM api_keys WHERE secret_sha256 = $1"
        ))
        .bind(&key.secret_sha256[..])
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        key_record(&row).map_err(store_error)
    }

    async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, KeyStoreError> {
        sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM api_keys
              WHERE $1::text IS NULL OR tenant = $1
              ORDER BY tenant, created_at, id"
        ))
        .bind(tenant.map(TenantId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(key_record)
        .collect::<Result<_, _>>()
        .map_err(store_error)
    }

    async fn find(&self, id: Uuid) -> Result<Option<KeyRecord>, KeyStoreError> {
        sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(key_record)
        .transpose()
        .map_err(store_error)
    }

    async fn revoke(&self, id: Uuid) -> Result<Option<KeyRecord>, KeyStoreError> {
        sqlx::query(&format!(
            "UPDATE api_keys SET revoked_at = now()
              WHERE id = $1 AND revoked_at IS NULL
              RETURNING {RECORD_COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(key_record)
        .transpose()
        .map_err(store_error)
    }

    async fn active_keys(&self) -> Result<ActiveKeys, KeyStoreError> {
        let keys: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT id::text, tenant, secret_sha256 FROM api_keys WHERE revoked_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let any_key = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(ActiveKeys {
            keys: keys
                .into_iter()
                .map(|(id, tenant, secret_sha256)| StoredActiveKey {
                    id,
                    tenant,
                    secret_sha256,
                })
                .collect(),
            any_key,
        })
    }
}
