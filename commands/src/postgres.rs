//! The write side's Postgres adapter: connecting, applying the schema, and the write model
//! over postgres-es' event repository.

use std::sync::Arc;

use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use pika_domain::{DataKeyStore, UnstoredDataKey};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::{KeyCache, KeyRowsInCommit, RetryPolicy, SealedRepository, WriteModel};

/// Every table of the service, event store and read models alike, in one ordered history.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Opens a pool and proves it with one connection, so a wrong URL fails at start with the
/// driver's reason rather than at the first request. (postgres-es' own helper panics instead.)
pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(crate::ACQUIRE_TIMEOUT)
        .connect(url)
        .await
}

/// Applies every pending migration; running it again changes nothing.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

impl WriteModel {
    /// The scaled-out write model: the frameworks over postgres-es' repository, sealing
    /// personal data with the keys in `keys`.
    pub fn postgres(pool: PgPool, keys: Arc<dyn DataKeyStore>, retry: RetryPolicy) -> Self {
        let cache = KeyCache::new(keys.clone());
        Self::over(
            move || {
                SealedRepository::new(
                    PostgresEventRepository::new(pool.clone()),
                    keys.clone(),
                    cache.clone(),
                )
            },
            retry,
        )
    }
}

/// postgres-es owns its transaction, so new keys are stored by the key store beforehand
/// (an insert with `synchronous_commit = off`, a fraction of the commit's cost).
impl KeyRowsInCommit for PostgresEventRepository {
    const STORES_KEY_ROWS: bool = false;

    async fn persist_with_key_rows<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
        key_rows: &[UnstoredDataKey],
    ) -> Result<(), PersistenceError> {
        if !key_rows.is_empty() {
            return Err(PersistenceError::UnknownError(
                "postgres-es cannot store data key rows in its commit".into(),
            ));
        }
        self.persist::<A>(events, snapshot_update).await
    }
}
