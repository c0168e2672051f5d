//! The embedded event store: cqrs-es' persistence over one SQLite file.
//!
//! Our own repository rather than sqlite-es 0.5: that crate has no global order for the
//! projection daemon, reports a conflict only for a primary-key clash (so a unique-index clash
//! would surface as an unknown error and never be retried), commits events before it finds a
//! stale snapshot, and panics in its replay stream on a read error.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use pika_domain::UnstoredDataKey;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

/// The embedded schema: the same tables as the Postgres one, in SQLite's dialect.
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a writer waits for another writer's transaction before failing; SQLite holds one
/// write lock for the whole file, so a short commit elsewhere must be waited out, not refused.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The file every embedded table lives in, under `PIKA_DATA_DIR`.
pub const SQLITE_FILE_NAME: &str = "pika-memory.sqlite";

const REPLAY_CHANNEL_SIZE: usize = 200;
const EVENT_COLUMNS: &str =
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

/// Opens (creating if need be) the embedded database in `data_dir`. WAL lets readers run
/// beside the one writer; `synchronous = FULL` makes a commit survive a power cut, which a
/// memory that must never lose a fact needs more than the few hundred microseconds it costs.
pub async fn connect_sqlite(
    data_dir: &Path,
    max_connections: u32,
) -> Result<SqlitePool, sqlx::Error> {
    std::fs::create_dir_all(data_dir).map_err(sqlx::Error::Io)?;
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(data_dir.join(SQLITE_FILE_NAME))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true)
        // A deleted row (a forgotten user's facts and turns) is overwritten with zeros, not
        // left readable in a free page of the file.
        .pragma("secure_delete", "ON");
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(crate::ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
}

/// Applies every pending embedded migration; running it again changes nothing.
pub async fn migrate_sqlite(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    SQLITE_MIGRATOR.run(pool).await
}

/// cqrs-es' event repository over the embedded database.
#[derive(Debug, Clone)]
pub struct SqliteEventRepository {
    pool: SqlitePool,
}

impl SqliteEventRepository {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    async fn select_events(
        &self,
        aggregate_type: String,
        aggregate_id: &str,
        after_sequence: i64,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
              WHERE aggregate_type = ? AND aggregate_id = ? AND sequence > ?
              ORDER BY sequence"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after_sequence)
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error)?;
        rows.iter().map(event_from_row).collect()
    }

    /// Events and snapshot commit together or not at all: a stale snapshot (another writer
    /// advanced it) rolls the events back and reports a conflict, so the retry starts clean.
    async fn write(
        &self,
        aggregate_type: String,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
        key_rows: &[UnstoredDataKey],
    ) -> Result<(), PersistenceError> {
        let mut transaction = self.pool.begin().await.map_err(storage_error)?;
        for row in key_rows {
            // No `ON CONFLICT`: a key another commit stored meanwhile is a unique violation,
            // a conflict, and the retry seals with that key.
            sqlx::query(
                "INSERT INTO data_keys (key_id, owner, scope, wrapped) VALUES (?, ?, ?, ?)",
            )
            .bind(row.id.to_string())
            .bind(&row.owner)
            .bind(&row.scope)
            .bind(&row.wrapped)
            .execute(&mut *transaction)
            .await
            .map_err(storage_error)?;
        }
        let mut last_sequence = 0;
        for event in events {
            insert_event(&mut transaction, &aggregate_type, event).await?;
            last_sequence = event.sequence;
        }
        if let Some((aggregate_id, aggregate, current_snapshot)) = snapshot_update {
            let changed = if current_snapshot == 1 {
                sqlx::query(
                    "INSERT INTO snapshots
                       (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(&aggregate_type)
                .bind(&aggregate_id)
                .bind(to_i64(last_sequence))
                .bind(to_i64(current_snapshot))
                .bind(aggregate.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(storage_error)?
                .rows_affected()
            } else {
                sqlx::query(
                    "UPDATE snapshots SET last_sequence = ?, payload = ?, current_snapshot = ?
                      WHERE aggregate_type = ? AND aggregate_id = ? AND current_snapshot = ?",
                )
                .bind(to_i64(last_sequence))
                .bind(aggregate.to_string())
                .bind(to_i64(current_snapshot))
                .bind(&aggregate_type)
                .bind(&aggregate_id)
                .bind(to_i64(current_snapshot - 1))
                .execute(&mut *transaction)
                .await
                .map_err(storage_error)?
                .rows_affected()
            };
            if changed != 1 {
                return Err(PersistenceError::OptimisticLockError);
            }
        }
        transaction.commit().await.map_err(storage_error)
    }
}

async fn insert_event(
    transaction: &mut Transaction<'static, Sqlite>,
    aggregate_type: &str,
    event: &SerializedEvent,
) -> Result<(), PersistenceError> {
    sqlx::query(&format!(
        "INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(aggregate_type)
    .bind(&event.aggregate_id)
    .bind(to_i64(event.sequence))
    .bind(&event.event_type)
    .bind(&event.event_version)
    .bind(event.payload.to_string())
    .bind(event.metadata.to_string())
    .execute(&mut **transaction)
    .await
    .map_err(storage_error)?;
    Ok(())
}

impl PersistedEventRepository for SqliteEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.select_events(A::TYPE.to_owned(), aggregate_id, -1)
            .await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.select_events(A::TYPE.to_owned(), aggregate_id, to_i64(last_sequence))
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let row = sqlx::query(
            "SELECT aggregate_id, last_sequence, current_snapshot, payload FROM snapshots
              WHERE aggregate_type = ? AND aggregate_id = ?",
        )
        .bind(A::TYPE.to_owned())
        .bind(aggregate_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error)?;
        row.map(|row| snapshot_from_row(&row)).transpose()
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        self.write(A::TYPE.to_owned(), events, snapshot_update, &[])
            .await
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self
            .select_events(A::TYPE.to_owned(), aggregate_id, -1)
            .await?;
        Ok(replay(events))
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = ?
              ORDER BY global_position"
        ))
        .bind(A::TYPE.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error)?;
        let events = rows.iter().map(event_from_row).collect::<Result<_, _>>()?;
        Ok(replay(events))
    }
}

/// Feeds already-read events to a replay stream; reading first means a read error is returned
/// to the caller instead of being lost inside a background task.
fn replay(events: Vec<SerializedEvent>) -> ReplayStream {
    let (mut feed, stream) = ReplayStream::new(REPLAY_CHANNEL_SIZE);
    tokio::spawn(async move {
        for event in events {
            if feed.push(Ok(event)).await.is_err() {
                return;
            }
        }
    });
    stream
}

fn event_from_row(row: &SqliteRow) -> Result<SerializedEvent, PersistenceError> {
    let read = || -> Result<SerializedEvent, sqlx::Error> {
        let sequence: i64 = row.try_get("sequence")?;
        Ok(SerializedEvent::new(
            row.try_get("aggregate_id")?,
            usize::try_from(sequence).unwrap_or_default(),
            row.try_get("aggregate_type")?,
            row.try_get("event_type")?,
            row.try_get("event_version")?,
            json_column(row, "payload")?,
            json_column(row, "metadata")?,
        ))
    };
    read().map_err(storage_error)
}

fn snapshot_from_row(row: &SqliteRow) -> Result<SerializedSnapshot, PersistenceError> {
    let read = || -> Result<SerializedSnapshot, sqlx::Error> {
        let last_sequence: i64 = row.try_get("last_sequence")?;
        let current_snapshot: i64 = row.try_get("current_snapshot")?;
        Ok(SerializedSnapshot {
            aggregate_id: row.try_get("aggregate_id")?,
            aggregate: json_column(row, "payload")?,
            current_sequence: usize::try_from(last_sequence).unwrap_or_default(),
            current_snapshot: usize::try_from(current_snapshot).unwrap_or_default(),
        })
    };
    read().map_err(storage_error)
}

fn json_column(row: &SqliteRow, column: &str) -> Result<Value, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(error),
    })
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// What the `events_refuse_destroyed_key` trigger aborts with: the user was forgotten after
/// this commit fetched its key, so it is retried with fresh state, like a conflict.
const DESTROYED_KEY_MESSAGE: &str = "data key destroyed";

/// A clash on `(aggregate_type, aggregate_id, sequence)` is another writer's commit: the
/// framework's conflict, which the write model retries with fresh state.
fn storage_error(error: sqlx::Error) -> PersistenceError {
    match &error {
        sqlx::Error::Database(database)
            if database.is_unique_violation()
                || database.message().contains(DESTROYED_KEY_MESSAGE) =>
        {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            PersistenceError::ConnectionError(Box::new(error))
        }
        _ => PersistenceError::UnknownError(Box::new(error)),
    }
}

impl crate::KeyRowsInCommit for SqliteEventRepository {
    const STORES_KEY_ROWS: bool = true;

    async fn persist_with_key_rows<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
        key_rows: &[UnstoredDataKey],
    ) -> Result<(), PersistenceError> {
        self.write(A::TYPE.to_owned(), events, snapshot_update, key_rows)
            .await
    }
}

impl crate::WriteModel {
    /// The embedded write model: the same frameworks over the SQLite event store.
    pub fn sqlite(
        pool: SqlitePool,
        keys: std::sync::Arc<dyn pika_domain::DataKeyStore>,
        retry: crate::RetryPolicy,
    ) -> Self {
        let cache = crate::KeyCache::new(keys.clone());
        Self::over(
            move || {
                crate::SealedRepository::new(
                    SqliteEventRepository::new(pool.clone()),
                    keys.clone(),
                    cache.clone(),
                )
            },
            retry,
        )
    }
}
