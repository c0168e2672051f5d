//! `pika-memory projections rebuild`: replay the whole log into fresh tables and swap them in.
//!
//! The live tables keep serving reads (and the live daemon keeps feeding them) while the fresh
//! copies fill. The swap happens in one transaction that holds the projection's checkpoint
//! row, so the live daemon waits for it, and then finds its checkpoint already at the rebuilt
//! position: nothing is applied twice and nothing is missed.

use std::sync::Arc;

use futures_util::TryStreamExt;
use sqlx::PgPool;

use crate::ProjectionError;
use crate::decode::{DomainEvent, decode, decode_parts, parse_commit_time};
use crate::event_log::{EventLog, LogPosition, PostgresEventLog, RawEvent, RecordedEvent};
use crate::opening::StreamOpener;
use crate::postgres::PostgresWrites;
use crate::projection::{Projection, TableSet, sees};
use crate::rebuild::{ProjectionRebuilder, RebuildReport};
use pika_domain::DataKeyStore;
use pika_domain::personal_data::{EventIdentity, SealedText, sealed_key_id};

/// Events applied per transaction while filling the fresh tables.
const REBUILD_BATCH: u32 = 5_000;

/// How often a folding rebuild reports progress, in events.
const PROGRESS_EVERY: u64 = 10_000;

async fn apply_events(
    connection: &mut sqlx::PgConnection,
    projection: &dyn Projection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    for event in events {
        if sees(projection, event)
            && let Some(decoded) = decode(event)?
        {
            projection
                .apply(
                    &mut PostgresWrites::new(connection),
                    TableSet::Rebuild,
                    event,
                    &decoded,
                )
                .await?;
        }
    }
    Ok(())
}

/// Events opened per key read while a rebuild streams the log.
const OPEN_CHUNK: usize = 2_000;

/// How one streamed event is read.
enum Reading<'a> {
    /// Another aggregate type than the projection reads.
    Skipped,
    Clear,
    /// Sealed, opened on its text.
    Text(SealedText<'a>),
    /// Sealed in a shape opened as a tree (a retraction's note).
    Tree(serde_json::Value),
}

/// A chunk of streamed events decoded for `projection`: `None` for an event it does not read
/// (another aggregate type, or shredded and it reads personal data). The keys of the chunk's
/// sealed payloads are read at once; sealed payloads are opened on their text and every event
/// is decoded from text, never through a JSON tree of the whole payload.
async fn decode_chunk(
    opener: &mut StreamOpener,
    projection: &dyn Projection,
    chunk: &[RawEvent],
) -> Result<Vec<Option<DomainEvent>>, ProjectionError> {
    let corrupt = |event: &RawEvent, e: serde_json::Error| ProjectionError::Corrupt {
        position: event.position.global_position,
        detail: e.to_string(),
    };
    let mut readings = Vec::with_capacity(chunk.len());
    for event in chunk {
        readings.push(
            if !projection
                .aggregate_types()
                .contains(&event.aggregate_type.as_str())
            {
                Reading::Skipped
            } else if !event.payload.contains("\"sealed\"") {
                Reading::Clear
            } else if let Some(sealed) = SealedText::parse(&event.event_type, &event.payload) {
                Reading::Text(sealed)
            } else {
                Reading::Tree(serde_json::from_str(&event.payload).map_err(|e| corrupt(event, e))?)
            },
        );
    }
    opener
        .prefetch(readings.iter().filter_map(|reading| match reading {
            Reading::Text(sealed) => Some(sealed.key_id()),
            Reading::Tree(payload) => sealed_key_id(payload),
            Reading::Skipped | Reading::Clear => None,
        }))
        .await?;
    let mut decoded = Vec::with_capacity(chunk.len());
    for (event, reading) in chunk.iter().zip(readings) {
        let position = event.position.global_position;
        let identity = EventIdentity {
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            sequence: event.sequence,
        };
        let decode = |payload: &str| {
            decode_parts(
                &event.aggregate_type,
                &event.aggregate_id,
                payload,
                position,
            )
        };
        decoded.push(match reading {
            Reading::Skipped => None,
            Reading::Clear => decode(&event.payload)?,
            Reading::Text(sealed) => match opener.open_text(identity, sealed)? {
                Some(text) => decode(&text)?,
                None => None,
            },
            Reading::Tree(mut payload) => {
                if opener.open(identity, &event.event_type, &mut payload)? {
                    decode_parts(
                        &event.aggregate_type,
                        &event.aggregate_id,
                        &payload,
                        position,
                    )?
                } else {
                    None
                }
            }
        });
    }
    Ok(decoded)
}

/// Fills the fresh tables from everything readable now; returns where it stopped and how many
/// events it read.
async fn fill(
    pool: &PgPool,
    log: &PostgresEventLog,
    projection: &dyn Projection,
    progress: &mut impl FnMut(u64),
) -> Result<(LogPosition, u64), ProjectionError> {
    let mut position = LogPosition::default();
    let mut applied = 0u64;
    if let Some(fold) = projection.rebuild_fold() {
        let mut events = log.stream_after(position);
        let mut opener = StreamOpener::new(log.keys().clone(), projection.reads_personal_data());
        let mut fold = fold;
        let mut unreported = 0;
        let mut chunk = Vec::with_capacity(OPEN_CHUNK);
        loop {
            let next = events.try_next().await?;
            let done = next.is_none();
            chunk.extend(next);
            if chunk.len() < OPEN_CHUNK && !done {
                continue;
            }
            let decoded = decode_chunk(&mut opener, projection, &chunk).await?;
            for (event, decoded) in chunk.drain(..).zip(decoded) {
                if let Some(decoded) = decoded {
                    fold.apply(
                        event.position,
                        parse_commit_time(event.time.as_deref()),
                        &decoded,
                    );
                }
                position = event.position;
                unreported += 1;
                if unreported == PROGRESS_EVERY {
                    progress(unreported);
                    applied += unreported;
                    unreported = 0;
                }
            }
            if done {
                break;
            }
        }
        progress(unreported);
        applied += unreported;
        let mut tx = pool.begin().await?;
        fold.write(&mut PostgresWrites::new(&mut tx), TableSet::Rebuild)
            .await?;
        tx.commit().await?;
        return Ok((position, applied));
    }
    loop {
        let events = log.read_after(position, REBUILD_BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        let mut tx = pool.begin().await?;
        apply_events(&mut tx, projection, &events).await?;
        tx.commit().await?;
        position = last;
        applied += events.len() as u64;
        progress(events.len() as u64);
    }
    Ok((position, applied))
}

/// A table's indexes: name, and what the index is (unique or not, method, columns,
/// predicate), which `LIKE … INCLUDING ALL` copies under a generated name.
async fn indexes(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
) -> Result<Vec<(String, String)>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT c.relname::text,
                i.indisunique::text || ' ' || regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '')
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = $1::regclass
          ORDER BY c.relname",
    )
    .bind(table)
    .fetch_all(&mut **tx)
    .await?)
}

/// Pairs each fresh index with the live one it copies, so the swapped-in table keeps the
/// index (and constraint) names migrations refer to.
fn same_indexes(
    fresh: Vec<(String, String)>,
    mut live: Vec<(String, String)>,
) -> Vec<(String, String)> {
    fresh
        .into_iter()
        .filter_map(|(fresh_name, shape)| {
            let at = live
                .iter()
                .position(|(_, live_shape)| *live_shape == shape)?;
            let (live_name, _) = live.remove(at);
            (live_name != fresh_name).then_some((fresh_name, live_name))
        })
        .collect()
}

/// Rebuilds one projection; `progress` is told how many events each step applied.
async fn rebuild(
    pool: &PgPool,
    log: &PostgresEventLog,
    projection: Arc<dyn Projection>,
    mut progress: impl FnMut(u64),
) -> Result<RebuildReport, ProjectionError> {
    for table in projection.tables() {
        let fresh = TableSet::Rebuild.name(table);
        sqlx::query(&format!("DROP TABLE IF EXISTS {fresh}"))
            .execute(pool)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {fresh} (LIKE {table} INCLUDING ALL)"
        ))
        .execute(pool)
        .await?;
    }
    let (mut position, mut applied) = fill(pool, log, projection.as_ref(), &mut progress).await?;

    // The swap: hold the checkpoint row so the live daemon pauses, apply what arrived
    // meanwhile, rename, and move the checkpoint to where the fresh tables stand.
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(projection.name())
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT 1 FROM projection_checkpoints WHERE projection = $1 FOR UPDATE")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    loop {
        let events = log.read_after(position, REBUILD_BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        apply_events(&mut tx, projection.as_ref(), &events).await?;
        position = last;
        applied += events.len() as u64;
        progress(events.len() as u64);
    }
    for table in projection.tables() {
        let fresh = TableSet::Rebuild.name(table);
        let live_indexes = indexes(&mut tx, table).await?;
        let fresh_indexes = indexes(&mut tx, &fresh).await?;
        sqlx::query(&format!("ALTER TABLE {table} RENAME TO {table}__old"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("ALTER TABLE {fresh} RENAME TO {table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("DROP TABLE {table}__old"))
            .execute(&mut *tx)
            .await?;
        for (fresh_name, live_name) in same_indexes(fresh_indexes, live_indexes) {
            sqlx::query(&format!(
                "ALTER INDEX \"{fresh_name}\" RENAME TO \"{live_name}\""
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(
        "UPDATE projection_checkpoints
            SET transaction_id = $2, global_position = $3, events_applied = $4, updated_at = now()
          WHERE projection = $1",
    )
    .bind(projection.name())
    .bind(position.transaction_id)
    .bind(position.global_position)
    .bind(i64::try_from(applied).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    let in_store: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE (transaction_id, global_position) <= ($1::text::xid8, $2)",
    )
    .bind(position.transaction_id.to_string())
    .bind(position.global_position)
    .fetch_one(&mut *tx)
    .await?;
    let report = RebuildReport {
        events_applied: applied,
        events_in_store: u64::try_from(in_store).unwrap_or(0),
        position,
    };
    if report.events_applied != report.events_in_store {
        // Rolled back when dropped: the live tables stay as they were.
        return Err(ProjectionError::Corrupt {
            position: position.global_position,
            detail: format!(
                "rebuild applied {applied} events but the store holds {in_store} up to this position"
            ),
        });
    }
    tx.commit().await?;
    Ok(report)
}

/// Rebuilds Postgres read models into fresh tables swapped in at the end.
#[derive(Debug, Clone)]
pub struct PostgresRebuilder {
    pool: PgPool,
    keys: Arc<dyn DataKeyStore>,
}

impl PostgresRebuilder {
    pub fn new(pool: PgPool, keys: Arc<dyn DataKeyStore>) -> Self {
        Self { pool, keys }
    }
}

#[async_trait::async_trait]
impl ProjectionRebuilder for PostgresRebuilder {
    async fn rebuild(
        &self,
        projection: Arc<dyn Projection>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<RebuildReport, ProjectionError> {
        let log = PostgresEventLog::new(self.pool.clone(), self.keys.clone());
        rebuild(&self.pool, &log, projection, progress).await
    }
}
