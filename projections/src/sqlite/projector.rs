//! The embedded read side: the same read models as on Postgres, kept in the SQLite file by a
//! projector that follows the event log in `global_position` order.
//!
//! SQLite commits one writer at a time, so positions become visible in order and the log needs
//! no snapshot-xmin guard. Every batch applies the same projection list the Postgres daemon
//! runs (through [`SqliteWrites`]), moves their checkpoints and hands submitted jobs to the job
//! queue's table in one transaction: a crash leaves all of it or none, and a submitted job is
//! queued exactly once. Each projection only sees events past its own checkpoint, so one that
//! a rebuild moved ahead is never fed an event twice.

use crate::data_keys::SqliteDataKeys;
use crate::progress::ProjectionProgress;
use crate::projection::sees;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pika_domain::{Backoff, ExtractionJobEvent};
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Notify, RwLock, watch};
use tracing::{Instrument, info_span, warn};

use crate::ProjectionError;
use crate::decode::{DomainEvent, decode, stored_time};
use crate::event_log::RecordedEvent;
use crate::jobs::{JOB_RELAY, JobMessage};
use crate::projection::{ChangedUser, Projection, TableSet};
use crate::sqlite::{SqliteWrites, opened_events_after};

const BATCH: i64 = 500;
/// How soon a commit is projected: short, since a job is reported finished and a client's own
/// write is readable only once projected. Idle polls take no write lock.
const POLL_EVERY: Duration = Duration::from_millis(25);
/// How long a failing batch waits before it is tried again from the same checkpoint.
const FAILURE_BACKOFF: Backoff = Backoff {
    base: POLL_EVERY,
    max: Duration::from_secs(10),
};

/// Called with each changed user after the batch committed, before the visibility gate
/// opens again (the embedded caches' invalidation).
pub type OnChanged = Arc<dyn Fn(&ChangedUser) + Send + Sync>;

/// Keeps the embedded read models current, polling the log.
pub struct EmbeddedProjector {
    pool: SqlitePool,
    keys: SqliteDataKeys,
    projections: Vec<Arc<dyn Projection>>,
    jobs_queued: Arc<Notify>,
    visibility: Arc<RwLock<()>>,
    on_changed: Option<OnChanged>,
    progress: ProjectionProgress,
}

impl std::fmt::Debug for EmbeddedProjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedProjector").finish_non_exhaustive()
    }
}

impl EmbeddedProjector {
    pub fn new(
        pool: SqlitePool,
        keys: SqliteDataKeys,
        projections: Vec<Arc<dyn Projection>>,
    ) -> Self {
        Self {
            pool,
            keys,
            projections,
            jobs_queued: Arc::new(Notify::new()),
            visibility: Arc::new(RwLock::new(())),
            on_changed: None,
            progress: ProjectionProgress::default(),
        }
    }

    /// Tells `progress` after every committed batch (for long-polls and read-your-writes).
    pub fn with_progress(mut self, progress: ProjectionProgress) -> Self {
        self.progress = progress;
        self
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
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let applied = self
                .apply_next_batch()
                .instrument(info_span!("embedded_projector"))
                .await;
            let wait = match applied {
                Ok(0) => {
                    failures = 0;
                    POLL_EVERY
                }
                Ok(_) => {
                    failures = 0;
                    continue;
                }
                Err(error) => {
                    failures += 1;
                    let pause = FAILURE_BACKOFF.delay(failures);
                    warn!(%error, ?pause, "embedded projection batch failed; retrying");
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

    /// The checkpoints this projector moves: every projection's and the job relay's.
    fn checkpoint_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.projections
            .iter()
            .map(|projection| projection.name())
            .chain([JOB_RELAY])
    }

    /// One batch: events after the lowest checkpoint, every projection's rows (each past its
    /// own checkpoint), the checkpoints and the queued jobs, in one transaction.
    pub async fn apply_next_batch(&self) -> Result<usize, ProjectionError> {
        // Idle is the common case: find that out without taking the write lock.
        let mut connection = self.pool.acquire().await?;
        let lowest = lowest_checkpoint(&mut connection, self.checkpoint_names()).await?;
        let pending: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE global_position > ?)")
                .bind(lowest)
                .fetch_one(&mut *connection)
                .await?;
        drop(connection);
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
        let checkpoints = read_checkpoints(&mut transaction, self.checkpoint_names()).await?;
        let lowest = checkpoints.values().copied().min().unwrap_or(0);
        let events = opened_events_after(&mut transaction, &self.keys, lowest, BATCH).await?;
        let Some(last) = events.last().map(|event| event.position.global_position) else {
            return Ok(0);
        };
        let mut changed = BTreeSet::new();
        let mut queued_jobs = false;
        for event in &events {
            let Some(decoded) = decode(event)? else {
                continue;
            };
            let position = event.position.global_position;
            for projection in &self.projections {
                if position <= checkpoints[projection.name()] || !sees(projection.as_ref(), event) {
                    continue;
                }
                let mut writes = SqliteWrites::new(&mut transaction);
                if let Some(user) = projection
                    .apply(&mut writes, TableSet::Live, event, &decoded)
                    .await?
                {
                    changed.insert(user);
                }
            }
            if position > checkpoints[JOB_RELAY] {
                queued_jobs |= queue_submitted_job(&mut transaction, event, &decoded).await?;
            }
        }
        for (name, checkpoint) in &checkpoints {
            let applied = events
                .iter()
                .filter(|event| event.position.global_position > *checkpoint)
                .count();
            move_checkpoint(&mut transaction, name, last.max(*checkpoint), applied).await?;
        }
        transaction.commit().await?;
        if events
            .iter()
            .any(|event| event.event_type == "UserForgotten")
        {
            crate::sqlite::truncate_write_ahead_log(&self.pool).await;
        }
        if let Some(on_changed) = &self.on_changed {
            changed.iter().for_each(|user| on_changed(user));
        }
        drop(gate);
        self.progress.advanced();
        metrics::counter!("pika_projection_events_total", "projection" => "embedded")
            .increment(events.len() as u64);
        if queued_jobs {
            self.jobs_queued.notify_waiters();
        }
        Ok(events.len())
    }
}

/// Each named checkpoint's position; 0 for one never written (a projection added since).
async fn read_checkpoints(
    connection: &mut SqliteConnection,
    names: impl Iterator<Item = &'static str>,
) -> Result<HashMap<&'static str, i64>, sqlx::Error> {
    let mut checkpoints = HashMap::new();
    for name in names {
        let position: Option<i64> = sqlx::query_scalar(
            "SELECT global_position FROM projection_checkpoints WHERE projection = ?",
        )
        .bind(name)
        .fetch_optional(&mut *connection)
        .await?;
        checkpoints.insert(name, position.unwrap_or(0));
    }
    Ok(checkpoints)
}

async fn lowest_checkpoint(
    connection: &mut SqliteConnection,
    names: impl Iterator<Item = &'static str>,
) -> Result<i64, sqlx::Error> {
    let checkpoints = read_checkpoints(connection, names).await?;
    Ok(checkpoints.values().copied().min().unwrap_or(0))
}

async fn move_checkpoint(
    transaction: &mut Transaction<'static, Sqlite>,
    name: &str,
    position: i64,
    applied: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints
            (projection, global_position, events_applied, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (projection) DO UPDATE SET global_position = ?2,
            events_applied = events_applied + ?3, updated_at = ?4",
    )
    .bind(name)
    .bind(position)
    .bind(i64::try_from(applied).unwrap_or(i64::MAX))
    .bind(stored_time(Utc::now()))
    .execute(&mut **transaction)
    .await?;
    Ok(())
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
        event: ExtractionJobEvent::Submitted { user_id, .. },
    } = decoded
    else {
        return Ok(false);
    };
    let message = JobMessage::new(tenant.to_string(), *job_id, user_id.to_string());
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
