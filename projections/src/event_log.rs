//! Reading the event store in a global order that never skips a late commit.
//!
//! `global_position` comes from a sequence, so it is taken when a row is inserted, not when its
//! transaction commits: a slow transaction can commit position N after a fast one committed
//! N+1. A reader that checkpoints at N+1 would skip N for ever. So the log is read in
//! `(transaction_id, global_position)` order and only below the oldest transaction still
//! running in this database (see `SAFE_TAIL`): every transaction with a smaller id has
//! finished, and every event still to come carries a transaction id at least that large, so it sorts after everything already read. Within one
//! aggregate this order is the sequence order, because a later command on an aggregate can
//! only start writing after the earlier one committed.

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use pika_domain::DataKeyStore;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use std::sync::Arc;

/// A place in the log. `Default` is before the first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct LogPosition {
    pub transaction_id: i64,
    pub global_position: i64,
}

/// One stored event with its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: LogPosition,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    /// Its personal fields' key was destroyed (the user was forgotten): projections skip it.
    pub shredded: bool,
}

/// An event as stored, payload still as text: what a rebuild streams (see
/// [`PostgresEventLog::stream_after`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub position: LogPosition,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub payload: String,
    /// The metadata's `time`, the commit time.
    pub time: Option<String>,
}

/// The gap-safe predicate and order every reader of the log uses: past a position, only below
/// the oldest transaction still running.
///
/// The columns are qualified: the queries select `transaction_id::text::bigint AS
/// transaction_id`, and a bare name in ORDER BY means that output column, whose order no index
/// gives. Postgres then sorted every event after the checkpoint and, its estimate being a third
/// of the table, started parallel workers for it: about 35 ms a batch at 170,000 events,
/// against 0.1 ms walking `events_tail` in order (measured with EXPLAIN ANALYZE), and the live
/// daemon slowed as the log grew.
///
/// The bound is the oldest transaction still running *in this database*, not
/// `pg_snapshot_xmin`, which is the oldest in the whole cluster: with the latter, one long write
/// in another database sharing the server (a migration, a bulk load, another service) stopped
/// every projection here, jobs stayed `queued` and reads went stale for as long as it ran. A
/// transaction id in the statement's snapshot is skipped only when `pg_stat_activity`, read
/// after that snapshot was taken, shows it still running in another database: such a
/// transaction cannot write this `events` table. Anything not shown so (finished meanwhile, a
/// prepared transaction, or hidden from a role without `pg_read_all_stats`) still bounds the
/// read, as before; ids at or past the snapshot's `xmax` are never read.
const SAFE_TAIL: &str =
    "WHERE (events.transaction_id, events.global_position) > ($1::text::xid8, $2)
                AND events.transaction_id < (
                    SELECT COALESCE(min(running.xid), pg_snapshot_xmax(pg_current_snapshot()))
                      FROM pg_snapshot_xip(pg_current_snapshot()) AS running(xid)
                     WHERE NOT EXISTS (
                        SELECT 1 FROM pg_stat_activity AS elsewhere
                         WHERE elsewhere.datname <> current_database()
                           AND elsewhere.backend_xid::text::bigint
                               = running.xid::text::bigint % 4294967296))
              ORDER BY events.transaction_id, events.global_position";

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("event log unavailable: {0}")]
    Unavailable(#[from] sqlx::Error),
    /// The data keys could not be read, or a sealed payload did not open.
    #[error("sealed events could not be opened: {0}")]
    Unopened(String),
}

/// Where the projection daemon reads events from; one implementation per storage backend.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events after `after`, in log order, none of which can later be preceded by
    /// an event not yet visible.
    async fn read_after(
        &self,
        after: LogPosition,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, EventLogError>;

    /// How many events lie after `after` (visible or not yet safe to read), for lag reports.
    async fn count_after(&self, after: LogPosition) -> Result<i64, EventLogError>;
}

/// Reads a row selected with the event columns (transaction id cast to bigint).
pub(crate) fn recorded_event(row: &sqlx::postgres::PgRow) -> Result<RecordedEvent, sqlx::Error> {
    Ok(RecordedEvent {
        position: LogPosition {
            transaction_id: row.try_get("transaction_id")?,
            global_position: row.try_get("global_position")?,
        },
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        shredded: false,
    })
}

#[derive(Debug, Clone)]
pub struct PostgresEventLog {
    pool: PgPool,
    keys: pika_domain::personal_data::CachedOpeningKeys,
}

impl PostgresEventLog {
    pub fn new(pool: PgPool, keys: Arc<dyn DataKeyStore>) -> Self {
        Self {
            pool,
            keys: pika_domain::personal_data::CachedOpeningKeys::new(keys),
        }
    }

    /// The key store this log's sealed events open with, uncached (a rebuild streams and
    /// opens them with fresh reads).
    pub fn keys(&self) -> &Arc<dyn DataKeyStore> {
        self.keys.store()
    }

    /// Every event readable now after `after`, in log order, as one streamed query: no round
    /// trip per batch, and the database produces rows while the caller folds them.
    pub fn stream_after(
        &self,
        after: LogPosition,
    ) -> BoxStream<'_, Result<RawEvent, EventLogError>> {
        sqlx::query(stream_sql())
            .bind(after.transaction_id.to_string())
            .bind(after.global_position)
            .fetch(&self.pool)
            .map(|row| {
                let row = row?;
                Ok(RawEvent {
                    position: LogPosition {
                        transaction_id: row.try_get(0)?,
                        global_position: row.try_get(1)?,
                    },
                    aggregate_type: row.try_get(2)?,
                    aggregate_id: row.try_get(3)?,
                    payload: row.try_get(4)?,
                    time: row.try_get(5)?,
                    sequence: row.try_get(6)?,
                    event_type: row.try_get(7)?,
                })
            })
            .boxed()
    }
}

/// The daemon's batch read: (after transaction id as text, after global position, limit).
/// Public so a test can check its plan walks the index.
pub fn read_after_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT transaction_id::text::bigint AS transaction_id, global_position,
                    aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload, metadata
               FROM events
              {SAFE_TAIL}
              LIMIT $3"
        )
    })
}

fn stream_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT transaction_id::text::bigint, global_position, aggregate_type, aggregate_id,
                    payload::text, metadata ->> 'time', sequence, event_type
               FROM events {SAFE_TAIL}"
        )
    })
}

#[async_trait]
impl EventLog for PostgresEventLog {
    async fn read_after(
        &self,
        after: LogPosition,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let rows = sqlx::query(read_after_sql())
            .bind(after.transaction_id.to_string())
            .bind(after.global_position)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut events = rows
            .iter()
            .map(recorded_event)
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        crate::opening::open_recorded(&self.keys, &mut events)
            .await
            .map_err(|error| EventLogError::Unopened(error.to_string()))?;
        Ok(events)
    }

    async fn count_after(&self, after: LogPosition) -> Result<i64, EventLogError> {
        let count = sqlx::query_scalar(
            "SELECT count(*) FROM events
              WHERE (transaction_id, global_position) > ($1::text::xid8, $2)",
        )
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }
}
