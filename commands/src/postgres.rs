//! The write side's Postgres adapter: connecting, applying the schema, and the write model
//! over postgres-es' event repository.

use std::sync::Arc;

use pika_domain::DataKeyStore;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::{KeyCache, RetryPolicy, SealedRepository, WriteModel};

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
