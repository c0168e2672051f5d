//! The embedded read side: the same read models as on Postgres, kept in the SQLite file by a
//! projector that follows the event log in `global_position` order.
//!
//! SQLite commits one writer at a time, so positions become visible in order and the log needs
//! no snapshot-xmin guard. Every batch applies the facts, summary and job models, moves their
//! checkpoints and hands submitted jobs to the job queue's table in one transaction: a crash
//! leaves all of it or none, and a submitted job is queued exactly once. The row changes are
//! the Postgres projections' own pure steps (`fact_change`, `FavoriteSummary::apply`,
//! `JobRecord::next`), so the two backends cannot compute different read models.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use pika_domain::{ExtractionJobEvent, UserMemoryEvent};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::{Notify, RwLock, watch};
use tracing::{Instrument, info_span, warn};
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::{DomainEvent, committed_at, decode};
use crate::event_log::{LogPosition, RecordedEvent};
use crate::fact_record::{FactChange, fact_change};
use crate::favorite_summary::FavoriteSummary;
use crate::jobs::{JobMessage, JobRecord};
use crate::projection::ChangedUser;

/// The read models the embedded projector keeps, by checkpoint name (the Postgres names).
pub const EMBEDDED_PROJECTIONS: [&str; 4] = [
    "facts",
    "user_favorite_summary",
    "extraction_jobs",
    "job_dispatcher",
];

const BATCH: i64 = 500;
/// How soon a commit is projected: short, since a job is reported finished and a client's own
/// write is readable only once projected. Idle polls take no write lock.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// Called with each changed user after the batch committed, before the visibility gate
/// opens again (the embedded caches' invalidation).
pub type OnChanged = Arc<dyn Fn(&ChangedUser) + Send + Sync>;

/// Keeps the embedded read models current, polling the log.
pub struct EmbeddedProjector {
    pool: SqlitePool,
    jobs_queued: Arc<Notify>,
    visibility: Arc<RwLock<()>>,
    on_changed: Option<OnChanged>,
}

impl std::fmt::Debug for EmbeddedProjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedProjector").finish_non_exhaustive()
    }
}

impl EmbeddedProjector {
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            jobs_queued: Arc::new(Notify::new()),
            visibility: Arc::new(RwLock::new(())),
            on_changed: None,
        }
    }

    /// Runs `on_changed` for every changed user between a batch's commit and the moment the
    /// visibility gate opens, so a reader holding the gate never sees a commit whose caches
    /// are not invalidated yet.
    pub fn with_on_changed(mut self, on_changed: OnChanged) -> Self {
        self.on_changed = Some(on_changed);
        self
    }

    /// The gate readers that report a commit to clients (a job's status) take a read guard
    /// of: it waits while a commit is between the database and the caches' invalidation.
    pub fn with_visibility_gate(mut self, gate: Arc<RwLock<()>>) -> Self {
        self.visibility = gate;
        self
    }

    /// Signalled after a batch queued jobs, so the job queue's consumers look at once.
    pub fn jobs_queued(&self) -> Arc<Notify> {
        self.jobs_queued.clone()
    }

    /// Applies batches until `shutdown`; an error is logged and the batch retried from the
    /// same checkpoint after a pause, never skipped.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut pause = POLL_EVERY;
        while !*shutdown.borrow() {
            let applied = self
                .apply_next_batch()
                .instrument(info_span!("embedded_projector"))
                .await;
            let wait = match applied {
                Ok(0) => POLL_EVERY,
                Ok(_) => {
                    pause = POLL_EVERY;
                    continue;
                }
                Err(error) => {
                    warn!(%error, ?pause, "embedded projection batch failed; retrying");
                    pause = (pause * 2).min(Duration::from_secs(10));
                    pause
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Applies everything in the log, then returns how many events that was.
    pub async fn catch_up(&self) -> Result<usize, ProjectionError> {
        let mut total = 0;
        loop {
            let applied = self.apply_next_batch().await?;
            if applied == 0 {
                return Ok(total);
            }
            total += applied;
        }
    }

    /// One batch: events after the checkpoint, every model's rows, the checkpoints and the
    /// queued jobs, in one transaction.
    pub async fn apply_next_batch(&self) -> Result<usize, ProjectionError> {
        // Idle is the common case: find that out without taking the write lock.
        let pending: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE global_position >
                (SELECT coalesce(min(global_position), 0) FROM projection_checkpoints))",
        )
        .fetch_one(&self.pool)
        .await?;
        if !pending {
            return Ok(0);
        }
        // IMMEDIATE takes the write lock up front (waiting out the busy timeout): a deferred
        // transaction that reads first cannot upgrade while another connection writes, and
        // SQLite refuses that upgrade at once with SQLITE_BUSY instead of waiting.
        // The gate before the database's write lock: readers holding the gate need a pooled
        // connection but never the write lock, so this order cannot wait in a circle.
        let gate = self.visibility.write().await;
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let checkpoint = checkpoint(&mut transaction).await?;
        let rows = sqlx::query(
            "SELECT global_position, aggregate_type, aggregate_id, sequence, event_type,
                    event_version, payload, metadata
               FROM events WHERE global_position > ? ORDER BY global_position LIMIT ?",
        )
        .bind(checkpoint)
        .bind(BATCH)
        .fetch_all(&mut *transaction)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut changed = std::collections::BTreeSet::new();
        let mut queued_jobs = false;
        let mut last = checkpoint;
        for row in &rows {
            let event = sqlite_recorded_event(row)?;
            last = event.position.global_position;
            let Some(decoded) = decode(&event)? else {
                continue;
            };
            if let Some(user) = apply_event(&mut transaction, &event, &decoded).await? {
                changed.insert(user);
            }
            queued_jobs |= queue_submitted_job(&mut transaction, &event, &decoded).await?;
        }
        let applied = rows.len();
        for projection in EMBEDDED_PROJECTIONS {
            sqlx::query(
                "INSERT INTO projection_checkpoints
                    (projection, global_position, events_applied, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (projection) DO UPDATE SET global_position = ?2,
                    events_applied = events_applied + ?3, updated_at = ?4",
            )
            .bind(projection)
            .bind(last)
            .bind(i64::try_from(applied).unwrap_or(i64::MAX))
            .bind(stored_time(Utc::now()))
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        if let Some(on_changed) = &self.on_changed {
            changed.iter().for_each(|user| on_changed(user));
        }
        drop(gate);
        metrics::counter!("pika_projection_events_total", "projection" => "embedded")
            .increment(applied as u64);
        if queued_jobs {
            self.jobs_queued.notify_waiters();
        }
        Ok(applied)
    }
}

/// The position every embedded model has applied (they move together).
async fn checkpoint(transaction: &mut Transaction<'static, Sqlite>) -> Result<i64, sqlx::Error> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT min(global_position) FROM projection_checkpoints")
            .fetch_one(&mut **transaction)
            .await?;
    Ok(position.unwrap_or(0))
}

pub(crate) fn sqlite_recorded_event(row: &SqliteRow) -> Result<RecordedEvent, ProjectionError> {
    let json = |column: &str| -> Result<serde_json::Value, sqlx::Error> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|error| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(error),
        })
    };
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
        payload: json("payload")?,
        metadata: json("metadata")?,
    })
}

/// Times are kept to the microsecond, as Postgres keeps them, so both backends answer alike.
pub fn stored_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

async fn apply_event(
    transaction: &mut Transaction<'static, Sqlite>,
    event: &RecordedEvent,
    decoded: &DomainEvent,
) -> Result<Option<ChangedUser>, ProjectionError> {
    match decoded {
        DomainEvent::UserMemory {
            tenant,
            user_id,
            event: user_event,
        } => {
            let (tenant, user_id) = (tenant.as_str(), user_id.as_str());
            apply_fact(transaction, tenant, user_id, user_event, event).await?;
            if !matches!(user_event, UserMemoryEvent::ExtractionApplied { .. }) {
                apply_summary(transaction, tenant, user_id, user_event, event).await?;
            }
            Ok(Some(ChangedUser {
                tenant: tenant.to_owned(),
                user_id: user_id.to_owned(),
            }))
        }
        DomainEvent::ExtractionJob {
            tenant,
            job_id,
            event: job_event,
        } => {
            apply_job(transaction, tenant.as_str(), *job_id, job_event, event).await?;
            Ok(None)
        }
    }
}

async fn apply_fact(
    transaction: &mut Transaction<'static, Sqlite>,
    tenant: &str,
    user_id: &str,
    user_event: &UserMemoryEvent,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let at = stored_time(committed_at(event));
    let Some(change) = fact_change(user_id, user_event, at) else {
        return Ok(());
    };
    let position = event.position.global_position;
    match change {
        FactChange::Insert(record) => {
            sqlx::query(
                "INSERT INTO facts (tenant, user_id, fact_id, key, kind, value, text, confidence,
                    language, source_job_id, source_messages, version, created_at, updated_at,
                    global_position, embedding, embedding_model)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                        e.vector, e.model
                   FROM (SELECT 1) AS one
                   LEFT JOIN embedding_cache e ON e.text_sha256 = ?16
                 ON CONFLICT (tenant, user_id, fact_id) DO NOTHING",
            )
            .bind(tenant)
            .bind(user_id)
            .bind(record.fact_id.hyphenated().to_string())
            .bind(&record.key)
            .bind(&record.kind)
            .bind(&record.value)
            .bind(&record.text)
            .bind(record.confidence)
            .bind(&record.language)
            .bind(record.source.job_id.map(|id| id.hyphenated().to_string()))
            .bind(json_text(&record.source.message_indexes))
            .bind(record.version)
            .bind(record.created_at)
            .bind(record.updated_at)
            .bind(position)
            .bind(text_digest(&record.text))
            .execute(&mut **transaction)
            .await?;
        }
        FactChange::Update {
            fact_id,
            value,
            text,
            confidence,
            source,
            version,
            updated_at,
        } => {
            sqlx::query(
                "UPDATE facts SET value = ?4, text = ?5, confidence = ?6, source_job_id = ?7,
                    source_messages = ?8, version = ?9, updated_at = ?10, global_position = ?11,
                    embedding = (SELECT vector FROM embedding_cache WHERE text_sha256 = ?12),
                    embedding_model = (SELECT model FROM embedding_cache WHERE text_sha256 = ?12)
                  WHERE tenant = ?1 AND user_id = ?2 AND fact_id = ?3",
            )
            .bind(tenant)
            .bind(user_id)
            .bind(fact_id.hyphenated().to_string())
            .bind(&value)
            .bind(&text)
            .bind(confidence)
            .bind(source.job_id.map(|id| id.hyphenated().to_string()))
            .bind(json_text(&source.message_indexes))
            .bind(version)
            .bind(updated_at)
            .bind(position)
            .bind(text_digest(&text))
            .execute(&mut **transaction)
            .await?;
        }
        FactChange::Remove { fact_id } => {
            sqlx::query("DELETE FROM facts WHERE tenant = ? AND user_id = ? AND fact_id = ?")
                .bind(tenant)
                .bind(user_id)
                .bind(fact_id.hyphenated().to_string())
                .execute(&mut **transaction)
                .await?;
        }
    }
    Ok(())
}

async fn apply_summary(
    transaction: &mut Transaction<'static, Sqlite>,
    tenant: &str,
    user_id: &str,
    user_event: &UserMemoryEvent,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let row = sqlx::query(
        "SELECT favorites, likes, dislikes, live_facts FROM user_favorite_summary
          WHERE tenant = ? AND user_id = ?",
    )
    .bind(tenant)
    .bind(user_id)
    .fetch_optional(&mut **transaction)
    .await?;
    let mut summary = match row {
        Some(row) => {
            let parse = |column: &str| -> Result<serde_json::Value, ProjectionError> {
                let text: String = row.try_get(column)?;
                serde_json::from_str(&text).map_err(|e| ProjectionError::corrupt(event, e))
            };
            FavoriteSummary {
                favorites: serde_json::from_value(parse("favorites")?)
                    .map_err(|e| ProjectionError::corrupt(event, e))?,
                likes: serde_json::from_value(parse("likes")?)
                    .map_err(|e| ProjectionError::corrupt(event, e))?,
                dislikes: serde_json::from_value(parse("dislikes")?)
                    .map_err(|e| ProjectionError::corrupt(event, e))?,
                live_facts: row.try_get("live_facts")?,
            }
        }
        None => FavoriteSummary::default(),
    };
    summary.apply(user_event);
    sqlx::query(
        "INSERT INTO user_favorite_summary (tenant, user_id, favorites, likes, dislikes,
            live_facts, last_changed_at, global_position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (tenant, user_id) DO UPDATE SET favorites = ?3, likes = ?4, dislikes = ?5,
            live_facts = ?6, last_changed_at = ?7, global_position = ?8",
    )
    .bind(tenant)
    .bind(user_id)
    .bind(json_text(&summary.favorites))
    .bind(json_text(&summary.likes))
    .bind(json_text(&summary.dislikes))
    .bind(summary.live_facts)
    .bind(stored_time(committed_at(event)))
    .bind(event.position.global_position)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

const JOB_COLUMNS: &str = "user_id, status, attempts, last_error, idempotency_key, submitted_at,
    started_at, finished_at, added, updated, retracted, unchanged, global_position";

async fn apply_job(
    transaction: &mut Transaction<'static, Sqlite>,
    tenant: &str,
    job_id: Uuid,
    job_event: &ExtractionJobEvent,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let job_key = job_id.hyphenated().to_string();
    let current = sqlx::query(&format!(
        "SELECT {JOB_COLUMNS} FROM extraction_jobs WHERE tenant = ? AND job_id = ?"
    ))
    .bind(tenant)
    .bind(&job_key)
    .fetch_optional(&mut **transaction)
    .await?
    .map(|row| job_record(&row))
    .transpose()?;
    let at = stored_time(committed_at(event));
    let next = JobRecord::next(current.clone(), job_event, at, event.position);
    let Some(row) = next.filter(|row| Some(row) != current.as_ref()) else {
        return Ok(());
    };
    sqlx::query(&format!(
        "INSERT INTO extraction_jobs (tenant, job_id, {JOB_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (tenant, job_id) DO UPDATE SET status = ?4, attempts = ?5,
            last_error = ?6, started_at = ?9, finished_at = ?10, added = ?11, updated = ?12,
            retracted = ?13, unchanged = ?14, global_position = ?15"
    ))
    .bind(tenant)
    .bind(&job_key)
    .bind(&row.user_id)
    .bind(&row.status)
    .bind(row.attempts)
    .bind(&row.last_error)
    .bind(&row.idempotency_key)
    .bind(row.submitted_at)
    .bind(row.started_at)
    .bind(row.finished_at)
    .bind(row.added)
    .bind(row.updated)
    .bind(row.retracted)
    .bind(row.unchanged)
    .bind(row.global_position)
    .execute(&mut **transaction)
    .await?;
    Ok(())
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

/// The outbox relay, embedded: a submitted job becomes a `job_queue` row in the same
/// transaction as the checkpoint that passes it, so it is queued exactly once.
async fn queue_submitted_job(
    transaction: &mut Transaction<'static, Sqlite>,
    event: &RecordedEvent,
    decoded: &DomainEvent,
) -> Result<bool, ProjectionError> {
    let DomainEvent::ExtractionJob {
        tenant,
        job_id,
        event: ExtractionJobEvent::Submitted { .. },
    } = decoded
    else {
        return Ok(false);
    };
    let message = JobMessage {
        tenant: tenant.to_string(),
        job_id: *job_id,
    };
    let payload =
        serde_json::to_string(&message).map_err(|e| ProjectionError::corrupt(event, e))?;
    let now = Utc::now().timestamp_millis();
    sqlx::query("INSERT INTO job_queue (payload, available_at, enqueued_at) VALUES (?, ?, ?)")
        .bind(payload)
        .bind(now)
        .bind(now)
        .execute(&mut **transaction)
        .await?;
    Ok(true)
}

fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The embedding cache's key: SHA-256 of the text's UTF-8 bytes, as on Postgres.
fn text_digest(text: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).to_vec()
}

/// Each embedded read model's checkpoint and lag, as `projections status` and `/metrics` show
/// them: lag in events is the log's end minus the checkpoint (positions commit in order), lag
/// in seconds the age of the oldest event not applied yet.
pub async fn embedded_projection_status(
    pool: &SqlitePool,
) -> Result<Vec<crate::ProjectionStatus>, ProjectionError> {
    let mut statuses = Vec::new();
    for projection in EMBEDDED_PROJECTIONS {
        let row = sqlx::query(
            "SELECT global_position, events_applied, updated_at FROM projection_checkpoints
              WHERE projection = ?",
        )
        .bind(projection)
        .fetch_optional(pool)
        .await?;
        let (position, events_applied, updated_at) = match &row {
            Some(row) => (
                row.try_get::<i64, _>("global_position")?,
                row.try_get::<i64, _>("events_applied")?,
                Some(row.try_get::<DateTime<Utc>, _>("updated_at")?),
            ),
            None => (0, 0, None),
        };
        let behind = sqlx::query(
            "SELECT count(*) AS lag, min(json_extract(metadata, '$.time')) AS oldest
               FROM events WHERE global_position > ?",
        )
        .bind(position)
        .fetch_one(pool)
        .await?;
        let oldest: Option<String> = behind.try_get("oldest")?;
        let lag_seconds = oldest
            .and_then(|time| DateTime::parse_from_rfc3339(&time).ok())
            .map_or(0.0, |time| {
                (Utc::now() - time.with_timezone(&Utc))
                    .num_milliseconds()
                    .max(0) as f64
                    / 1000.0
            });
        statuses.push(crate::ProjectionStatus {
            projection: projection.to_owned(),
            position: LogPosition {
                transaction_id: 0,
                global_position: position,
            },
            events_applied,
            lag_events: behind.try_get("lag")?,
            lag_seconds,
            updated_at,
        });
    }
    Ok(statuses)
}
