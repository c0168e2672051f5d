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
use crate::projection::{Projection, RebuildFold, TableSet, sees};
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

/// A chunk of streamed events decoded for projections that read `aggregate_types`: `None` for
/// an event they do not read (another aggregate type, or shredded when the opener reads
/// personal data), and for one `already` decoded by another reader. The keys of the chunk's
/// sealed payloads are read at once; sealed payloads are opened on their text and every event
/// is decoded from text, never through a JSON tree of the whole payload.
async fn decode_chunk(
    opener: &mut StreamOpener,
    aggregate_types: &[&str],
    chunk: &[RawEvent],
    already: &[Option<DomainEvent>],
) -> Result<Vec<Option<DomainEvent>>, ProjectionError> {
    let corrupt = |event: &RawEvent, e: serde_json::Error| ProjectionError::Corrupt {
        position: event.position.global_position,
        detail: e.to_string(),
    };
    let mut readings = Vec::with_capacity(chunk.len());
    for (index, event) in chunk.iter().enumerate() {
        readings.push(
            if !aggregate_types.contains(&event.aggregate_type.as_str())
                || matches!(already.get(index), Some(Some(_)))
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

/// The projections of one rebuild pass that read events alike: all that read personal data
/// (one opener, which fetches keys and skips shredded events) or all that do not (nothing is
/// decrypted: personal fields are placeholders).
struct ChunkReader {
    aggregate_types: Vec<&'static str>,
    opener: StreamOpener,
}

impl ChunkReader {
    fn for_projections<'a>(
        keys: &Arc<dyn DataKeyStore>,
        projections: impl Iterator<Item = &'a dyn Projection>,
        personal: bool,
    ) -> Option<Self> {
        let mut aggregate_types: Vec<&'static str> = projections
            .filter(|p| p.reads_personal_data() == personal)
            .flat_map(|p| p.aggregate_types().iter().copied())
            .collect();
        aggregate_types.sort_unstable();
        aggregate_types.dedup();
        (!aggregate_types.is_empty()).then(|| Self {
            aggregate_types,
            opener: StreamOpener::new(keys.clone(), personal),
        })
    }

    async fn decode(
        &mut self,
        chunk: &[RawEvent],
        already: &[Option<DomainEvent>],
    ) -> Result<Vec<Option<DomainEvent>>, ProjectionError> {
        decode_chunk(&mut self.opener, &self.aggregate_types, chunk, already).await
    }
}

/// Folds every projection of `folds` over one pass of the log: each event is read from the
/// database, opened and decoded once for all of them (with placeholders for the personal
/// fields only where it is shredded and a projection that reads no personal data still needs
/// it), then each fold writes its rows in a transaction of its own. Returns where the pass
/// stopped and how many events it read.
async fn fill_folds(
    pool: &PgPool,
    log: &PostgresEventLog,
    mut folds: Vec<(&dyn Projection, Box<dyn RebuildFold>)>,
    progress: &mut (impl FnMut(u64) + ?Sized),
) -> Result<(LogPosition, u64), ProjectionError> {
    let projections: Vec<&dyn Projection> = folds.iter().map(|(p, _)| *p).collect();
    let mut personal = ChunkReader::for_projections(log.keys(), projections.iter().copied(), true);
    let mut plain = ChunkReader::for_projections(log.keys(), projections.iter().copied(), false);
    let mut position = LogPosition::default();
    let mut applied = 0u64;
    let mut unreported = 0;
    let mut events = log.stream_after(position);
    let mut chunk = Vec::with_capacity(OPEN_CHUNK);
    loop {
        let next = events.try_next().await?;
        let done = next.is_none();
        chunk.extend(next);
        if chunk.len() < OPEN_CHUNK && !done {
            continue;
        }
        let with_personal = match &mut personal {
            Some(reader) => reader.decode(&chunk, &[]).await?,
            None => Vec::new(),
        };
        // An event opened for the projections that read personal data serves those that do
        // not as well (they ignore those fields): only the rest, shredded ones above all, are
        // decoded again with placeholders.
        let with_placeholders = match &mut plain {
            Some(reader) => reader.decode(&chunk, &with_personal).await?,
            None => Vec::new(),
        };
        for (index, event) in chunk.drain(..).enumerate() {
            let at = parse_commit_time(event.time.as_deref());
            for (projection, fold) in &mut folds {
                if !projection
                    .aggregate_types()
                    .contains(&event.aggregate_type.as_str())
                {
                    continue;
                }
                let opened = with_personal.get(index).and_then(Option::as_ref);
                let decoded = if projection.reads_personal_data() {
                    opened
                } else {
                    opened.or_else(|| with_placeholders.get(index).and_then(Option::as_ref))
                };
                if let Some(decoded) = decoded {
                    fold.apply(event.position, at, decoded);
                }
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
    for (_, fold) in folds {
        let mut tx = pool.begin().await?;
        fold.write(&mut PostgresWrites::new(&mut tx), TableSet::Rebuild)
            .await?;
        tx.commit().await?;
    }
    Ok((position, applied))
}

/// Fills the fresh tables of a projection without a fold, event by event; returns where it
/// stopped and how many events it read.
async fn replay(
    pool: &PgPool,
    log: &PostgresEventLog,
    projection: &dyn Projection,
    progress: &mut (impl FnMut(u64) + ?Sized),
) -> Result<(LogPosition, u64), ProjectionError> {
    let mut position = LogPosition::default();
    let mut applied = 0u64;
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

/// Empty copies of the projection's tables, for a rebuild to fill.
async fn fresh_tables(pool: &PgPool, projection: &dyn Projection) -> Result<(), ProjectionError> {
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
    Ok(())
}

/// Swaps a projection's filled fresh tables in: hold the checkpoint row so the live daemon
/// pauses, apply what arrived since `position`, rename, and move the checkpoint to where the
/// fresh tables stand. Rolled back, live tables untouched, unless every event up to there was
/// read.
async fn swap(
    pool: &PgPool,
    log: &PostgresEventLog,
    projection: &dyn Projection,
    (mut position, mut applied): (LogPosition, u64),
    progress: &mut (impl FnMut(u64) + ?Sized),
) -> Result<RebuildReport, ProjectionError> {
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
        apply_events(&mut tx, projection, &events).await?;
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
        let mut reports = self.rebuild_all(vec![projection], progress).await?;
        reports.pop().ok_or_else(|| ProjectionError::Corrupt {
            position: 0,
            detail: "a rebuild of one projection reported nothing".to_owned(),
        })
    }

    /// Projections with a fold share one pass over the log: the log is read, opened and
    /// decoded once instead of once per projection, which is most of a rebuild's time. Each
    /// is then swapped in on its own, so a failed swap leaves the others' outcome as it was.
    async fn rebuild_all(
        &self,
        projections: Vec<Arc<dyn Projection>>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Vec<RebuildReport>, ProjectionError> {
        let log = PostgresEventLog::new(self.pool.clone(), self.keys.clone());
        let mut folds = Vec::new();
        for projection in &projections {
            fresh_tables(&self.pool, projection.as_ref()).await?;
            if let Some(fold) = projection.rebuild_fold() {
                folds.push((projection.as_ref(), fold));
            }
        }
        let folded: Vec<&str> = folds.iter().map(|(p, _)| p.name()).collect();
        let filled = if folds.is_empty() {
            (LogPosition::default(), 0)
        } else {
            fill_folds(&self.pool, &log, folds, progress).await?
        };
        let mut reports = Vec::with_capacity(projections.len());
        for projection in &projections {
            let projection = projection.as_ref();
            let from = if folded.contains(&projection.name()) {
                filled
            } else {
                replay(&self.pool, &log, projection, progress).await?
            };
            reports.push(swap(&self.pool, &log, projection, from, progress).await?);
        }
        Ok(reports)
    }
}
