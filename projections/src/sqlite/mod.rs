//! The read side's SQLite adapter: the embedded read-store queries, the projection sink, the
//! embedded projector and rebuild, and the row decoding they share.

mod projector;
mod read_store;
mod rebuild;
mod writes;

pub use projector::{EmbeddedProjector, OnChanged};
pub use read_store::SqliteReadStore;
pub use rebuild::SqliteRebuilder;
pub use writes::SqliteWrites;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::ProjectionError;
use crate::event_log::{LogPosition, RecordedEvent};
use crate::jobs::JobRecord;

pub(crate) fn sqlite_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        Uuid::parse_str(&text).map_err(|error| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(error),
        })
    })
    .transpose()
}

/// A JSON column kept as text.
pub(crate) fn sqlite_json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &str,
) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(error),
    })
}

pub(crate) fn sqlite_recorded_event(row: &SqliteRow) -> Result<RecordedEvent, ProjectionError> {
    Ok(RecordedEvent {
        position: LogPosition {
            transaction_id: 0,
            global_position: row.try_get("global_position")?,
        },
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: sqlite_json(row, "payload")?,
        metadata: sqlite_json(row, "metadata")?,
        shredded: false,
    })
}

/// A row of the embedded `extraction_jobs`; the transaction id is a Postgres notion, 0 here.
pub fn job_record(row: &SqliteRow) -> Result<JobRecord, sqlx::Error> {
    Ok(JobRecord {
        user_id: row.try_get("user_id")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        idempotency_key: row.try_get("idempotency_key")?,
        submitted_at: row.try_get("submitted_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        added: row.try_get("added")?,
        updated: row.try_get("updated")?,
        retracted: row.try_get("retracted")?,
        unchanged: row.try_get("unchanged")?,
        transaction_id: 0,
        global_position: row.try_get("global_position")?,
    })
}

const EVENT_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence, \
    event_type, event_version, payload, metadata";

/// After a forget (or a retention run), the write-ahead log still holds the pages the user's rows were on before
/// they were deleted (`secure_delete` zeroes them only in the database file): a TRUNCATE
/// checkpoint copies every page back and empties the log file. Readers holding an old snapshot
/// make it busy; it is tried a few times, and the next forget tries again. Done before
/// the forget is reported applied, so a client that waits for it finds the file clean.
pub(crate) async fn truncate_write_ahead_log(pool: &sqlx::SqlitePool) {
    for _ in 0..20 {
        let outcome: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await;
        match outcome {
            Ok((0, _, _)) => return,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            Err(error) => {
                tracing::warn!(%error, "could not truncate the write-ahead log after a forget");
                return;
            }
        }
    }
    tracing::warn!("the write-ahead log stayed busy after a forget; the next checkpoint clears it");
}

/// Up to `limit` events after `after`, in log order, opened with keys read through the same
/// write transaction (the embedded projector's batches, a rebuild's).
pub(crate) async fn opened_events_after(
    connection: &mut sqlx::SqliteConnection,
    keys: &crate::data_keys::SqliteDataKeys,
    after: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > ?
          ORDER BY global_position LIMIT ?"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    let mut events = rows
        .iter()
        .map(sqlite_recorded_event)
        .collect::<Result<Vec<_>, _>>()?;
    crate::opening::open_recorded(
        &crate::data_keys::sqlite::KeysInTransaction::new(connection, keys),
        &mut events,
    )
    .await?;
    Ok(events)
}
