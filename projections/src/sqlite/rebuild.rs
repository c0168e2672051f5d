//! The embedded rebuild: one `BEGIN IMMEDIATE` transaction empties the model's tables, folds
//! the whole log with the projection's own pure steps, writes the rows and moves the
//! checkpoint. SQLite has one writer, so the embedded projector simply waits for it; readers
//! (WAL) keep seeing the old rows until the commit, and a count that does not match the log
//! rolls everything back.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::SqlitePool;

use crate::ProjectionError;
use crate::data_keys::SqliteDataKeys;
use crate::decode::{committed_at, decode, stored_time};
use crate::event_log::LogPosition;
use crate::projection::sees;
use crate::projection::{Projection, TableSet};
use crate::rebuild::{ProjectionRebuilder, RebuildReport};
use crate::sqlite::{SqliteWrites, opened_events_after};

/// Events read per query while folding.
const REBUILD_BATCH: i64 = 5_000;

#[derive(Debug, Clone)]
pub struct SqliteRebuilder {
    pool: SqlitePool,
    keys: SqliteDataKeys,
}

impl SqliteRebuilder {
    pub fn new(pool: SqlitePool, keys: SqliteDataKeys) -> Self {
        Self { pool, keys }
    }
}

#[async_trait]
impl ProjectionRebuilder for SqliteRebuilder {
    async fn rebuild(
        &self,
        projection: Arc<dyn Projection>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<RebuildReport, ProjectionError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for table in projection.tables() {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *transaction)
                .await?;
        }
        let mut fold = projection.rebuild_fold();
        let mut position = 0i64;
        let mut applied = 0u64;
        loop {
            let events =
                opened_events_after(&mut transaction, &self.keys, position, REBUILD_BATCH).await?;
            if events.is_empty() {
                break;
            }
            let read = events.len() as u64;
            for event in events {
                position = event.position.global_position;
                if !sees(projection.as_ref(), &event) {
                    continue;
                }
                let Some(decoded) = decode(&event)? else {
                    continue;
                };
                match fold.as_mut() {
                    Some(fold) => fold.apply(event.position, committed_at(&event), &decoded),
                    None => {
                        let mut writes = SqliteWrites::new(&mut transaction);
                        projection
                            .apply(&mut writes, TableSet::Live, &event, &decoded)
                            .await?;
                    }
                }
            }
            applied += read;
            progress(read);
        }
        if let Some(fold) = fold {
            fold.write(&mut SqliteWrites::new(&mut transaction), TableSet::Live)
                .await?;
        }
        sqlx::query(
            "INSERT INTO projection_checkpoints
                (projection, global_position, events_applied, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (projection) DO UPDATE SET global_position = ?2,
                events_applied = ?3, updated_at = ?4",
        )
        .bind(projection.name())
        .bind(position)
        .bind(i64::try_from(applied).unwrap_or(i64::MAX))
        .bind(stored_time(Utc::now()))
        .execute(&mut *transaction)
        .await?;
        let in_store: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE global_position <= ?")
                .bind(position)
                .fetch_one(&mut *transaction)
                .await?;
        let report = RebuildReport {
            events_applied: applied,
            events_in_store: u64::try_from(in_store).unwrap_or(0),
            position: LogPosition {
                transaction_id: 0,
                global_position: position,
            },
        };
        if report.events_applied != report.events_in_store {
            return Err(ProjectionError::Corrupt {
                position,
                detail: format!(
                    "rebuild applied {applied} events but the store holds {in_store} up to this position"
                ),
            });
        }
        transaction.commit().await?;
        Ok(report)
    }
}
