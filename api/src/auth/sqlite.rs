//! API keys in the embedded mode's SQLite file.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use pika_domain::TenantId;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use super::store::{ActiveKeys, KeyRecord, KeyStore, KeyStoreError, KeyToStore, StoredActiveKey};

const RECORD_COLUMNS: &str = "id, tenant, label, prefix, created_at, revoked_at";

/// The embedded server and `pika-memory keys` with the same PIKA_DATA_DIR share this table, as
/// the processes of a scaled-out deployment share Postgres'.
#[derive(Debug, Clone)]
pub struct SqliteKeyStore {
    pool: SqlitePool,
}

impl SqliteKeyStore {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

/// Times are taken here and stored in sqlx's text form, so they decode back as written; to the
/// microsecond, as Postgres keeps them, so a key lists the same on either backend.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Ids are stored as hyphenated text: SQLite has no uuid type.
fn id_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

fn key_record(row: &SqliteRow) -> Result<KeyRecord, sqlx::Error> {
    let id: String = row.try_get("id")?;
    Ok(KeyRecord {
        id: Uuid::parse_str(&id).map_err(|error| sqlx::Error::ColumnDecode {
            index: "id".into(),
            source: Box::new(error),
        })?,
        tenant: row.try_get("tenant")?,
        label: row.try_get("label")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

#[async_trait]
impl KeyStore for SqliteKeyStore {
    async fn insert(&self, key: &KeyToStore<'_>) -> Result<KeyRecord, KeyStoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO api_keys (id, tenant, label, prefix, secret_sha256, created_at)
             VALUES (?, ?, ?, ?, ?, ?)
             RETURNING {RECORD_COLUMNS}"
        ))
        .bind(id_text(key.id))
        .bind(key.tenant.as_str())
        .bind(key.label)
        .bind(key.prefix)
        .bind(&key.secret_sha256[..])
        .bind(now())
        .fetch_one(&self.pool)
        .await
        .map_err(KeyStoreError::Database)?;
        key_record(&row).map_err(KeyStoreError::Database)
    }

    async fn insert_unless_stored(&self, key: &KeyToStore<'_>) -> Result<KeyRecord, KeyStoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant, label, prefix, secret_sha256, created_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (secret_sha256) DO NOTHING",
        )
        .bind(id_text(key.id))
        .bind(key.tenant.as_str())
        .bind(key.label)
        .bind(key.prefix)
        .bind(&key.secret_sha256[..])
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(KeyStoreError::Database)?;
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM api_keys WHERE secret_sha256 = ?"
        ))
        .bind(&key.secret_sha256[..])
        .fetch_one(&self.pool)
        .await
        .map_err(KeyStoreError::Database)?;
        key_record(&row).map_err(KeyStoreError::Database)
    }

    async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, KeyStoreError> {
        sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM api_keys
              WHERE ?1 IS NULL OR tenant = ?1
              ORDER BY tenant, created_at, id"
        ))
        .bind(tenant.map(TenantId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(KeyStoreError::Database)?
        .iter()
        .map(key_record)
        .collect::<Result<_, _>>()
        .map_err(KeyStoreError::Database)
    }

    async fn find(&self, id: Uuid) -> Result<Option<KeyRecord>, KeyStoreError> {
        sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM api_keys WHERE id = ?"
        ))
        .bind(id_text(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(KeyStoreError::Database)?
        .as_ref()
        .map(key_record)
        .transpose()
        .map_err(KeyStoreError::Database)
    }

    async fn revoke(&self, id: Uuid) -> Result<Option<KeyRecord>, KeyStoreError> {
        sqlx::query(&format!(
            "UPDATE api_keys SET revoked_at = ?
              WHERE id = ? AND revoked_at IS NULL
              RETURNING {RECORD_COLUMNS}"
        ))
        .bind(now())
        .bind(id_text(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(KeyStoreError::Database)?
        .as_ref()
        .map(key_record)
        .transpose()
        .map_err(KeyStoreError::Database)
    }

    async fn active_keys(&self) -> Result<ActiveKeys, KeyStoreError> {
        let keys: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, tenant, secret_sha256 FROM api_keys WHERE revoked_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(KeyStoreError::Database)?;
        let any_key = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(&self.pool)
            .await
            .map_err(KeyStoreError::Database)?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pika_commands::sqlite::migrate_sqlite;
    use secrecy::{ExposeSecret, SecretString};
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;
    use crate::auth::store::digest;
    use crate::auth::{ApiKeys, Revocation, create_key, operations, revoke_key};
    use crate::config::ApiKeySeed;

    /// A migrated database of its own, in memory: one connection, or each would see another.
    async fn store() -> Arc<SqliteKeyStore> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        migrate_sqlite(&pool)
            .await
            .expect("the embedded migrations");
        Arc::new(SqliteKeyStore::new(pool))
    }

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).expect("a tenant")
    }

    fn seed(tenant_name: &str, secret: &str) -> ApiKeySeed {
        ApiKeySeed {
            tenant: tenant(tenant_name),
            secret: SecretString::from(secret.to_owned()),
        }
    }

    #[tokio::test]
    async fn keys_are_created_listed_and_revoked() {
        let store = store().await;
        let acme = tenant("acme");
        let created = create_key(store.as_ref(), &acme, Some(" ci runner "))
            .await
            .expect("created");
        create_key(store.as_ref(), &tenant("beta"), None)
            .await
            .expect("created");
        assert_eq!(created.record.label.as_deref(), Some("ci runner"));
        let listed = store.list(None).await.expect("listed");
        assert_eq!(listed.len(), 2);
        let only_acme = store.list(Some(&acme)).await.expect("listed");
        assert_eq!(only_acme.len(), 1);
        let key = &only_acme[0];
        assert_eq!(key.id, created.record.id);
        assert_eq!(key.created_at, created.record.created_at);
        let prefix = key.prefix.as_deref().expect("a prefix");
        assert!(created.secret.expose_secret().starts_with(prefix));

        let id = created.record.id;
        let revoked = revoke_key(store.as_ref(), id).await.expect("revoked");
        assert!(matches!(revoked, Revocation::Revoked(ref key) if key.revoked_at.is_some()));
        let again = revoke_key(store.as_ref(), id).await.expect("repeatable");
        assert!(matches!(again, Revocation::AlreadyRevoked(ref key) if key.id == id));
        let unknown = revoke_key(store.as_ref(), Uuid::now_v7()).await;
        assert!(matches!(unknown, Err(KeyStoreError::UnknownKey(_))));
        let active = store.active_keys().await.expect("read");
        assert_eq!(active.keys.len(), 1, "beta's key only");
        assert!(active.any_key);
    }

    #[tokio::test]
    async fn configured_keys_are_stored_once_and_stay_revoked() {
        let store = store().await;
        let seeds = [seed("acme", "acme-secret")];
        for _ in 0..2 {
            operations::bootstrap(store.as_ref(), &seeds)
                .await
                .expect("bootstrapped");
        }
        let listed = store.list(None).await.expect("listed");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].label.as_deref(), Some(operations::SEED_LABEL));
        assert_eq!(listed[0].prefix, None, "a chosen secret is not shown");

        revoke_key(store.as_ref(), listed[0].id)
            .await
            .expect("revoked");
        let refused = ApiKeys::load(store.clone(), &seeds, false).await;
        assert!(matches!(refused, Err(KeyStoreError::AllRevoked)));
        let stolen = operations::bootstrap(store.as_ref(), &[seed("beta", "acme-secret")]).await;
        assert!(matches!(
            stolen,
            Err(KeyStoreError::SecretOfAnotherTenant { ref owner, .. }) if owner == "acme"
        ));
    }

    #[tokio::test]
    async fn a_server_starts_with_a_key_or_when_asked_to_run_open() {
        let store = store().await;
        let none = ApiKeys::load(store.clone(), &[], false).await;
        assert!(matches!(none, Err(KeyStoreError::NoKey)));
        let open = ApiKeys::load(store.clone(), &[], true).await.expect("open");
        assert_eq!(open.tenant_for(None).expect("open").as_str(), "default");

        let keys = ApiKeys::load(store.clone(), &[seed("acme", "acme-secret")], false)
            .await
            .expect("loaded");
        assert_eq!(
            keys.tenant_for(Some("Bearer acme-secret"))
                .expect("known")
                .as_str(),
            "acme"
        );
        let active = store.active_keys().await.expect("read");
        assert_eq!(active.keys[0].secret_sha256, digest("acme-secret"));
    }
}
