//! Connecting to Postgres and applying the schema.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

/// Every table of the service, event store and read models alike, in one ordered history.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How long a request waits for a pooled connection before failing with a clear error instead
/// of hanging while the database is down.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a pool and proves it with one connection, so a wrong URL fails at start with the
/// driver's reason rather than at the first request. (postgres-es' own helper panics instead.)
pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await
}

/// Applies every pending migration; running it again changes nothing.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// The database a deployment keeps everything in: Postgres when scaled out, one SQLite file
/// when embedded. Code that only stores rows (API keys, fact vectors) takes this and writes
/// each statement once per dialect.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(sqlx::sqlite::SqlitePool),
}

impl Database {
    /// The name readiness reports it under.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// One trivial statement: proves the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }
}
