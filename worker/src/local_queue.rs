//! The embedded job queue: RabbitMQ's work, retry and dead-letter queues as rows of the
//! SQLite file, for a deployment with no broker.
//!
//! The rules are the broker path's, so behaviour cannot drift: the same job dispatcher
//! publishes, the same `ExtractionWorker::process` decides each delivery's outcome, a retry
//! waits out the same backoff, and a dead letter keeps its reason. A row leaves the queue only
//! after its outcome is settled, so a job accepted before a crash runs after the restart.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pika_commands::Backoff;
use pika_domain::job_queue::{JobMessage, JobPublisher};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::ordering::Turn;
use crate::runner::{ExtractionWorker, Outcome, reap, record_outcome};

/// How long a claimed job stays invisible to other consumers. Longer than any job takes
/// (an LLM call is bounded well below it); a process killed mid-job gives its jobs back when
/// the lease runs out, or at once on the next start (see [`LocalJobQueue::release_leases`]).
pub const LEASE: Duration = Duration::from_secs(300);

/// The safety net beside the in-process wake-up: a retry whose backoff ended is picked up
/// within this time even when nothing new is published.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// A job taken off the queue, leased to one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: i64,
    pub payload: String,
    pub delivery_attempt: u32,
}

/// What the queue holds, for status and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting to run, including retries still in their backoff.
    pub waiting: i64,
    pub leased: i64,
    pub dead_lettered: i64,
}

#[derive(Debug, Clone)]
pub struct LocalJobQueue {
    pool: SqlitePool,
    wake: Arc<Notify>,
}

impl LocalJobQueue {
    pub fn new(pool: SqlitePool) -> Self {
        Self::with_wake(pool, Arc::new(Notify::new()))
    }

    /// A queue whose consumers also wake on `wake`, which whoever else inserts jobs (the
    /// embedded outbox relay) signals after its commit.
    pub fn with_wake(pool: SqlitePool, wake: Arc<Notify>) -> Self {
        Self { pool, wake }
    }

    pub async fn enqueue(&self, payload: &str) -> Result<(), sqlx::Error> {
        let now = now_millis();
        sqlx::query("INSERT INTO job_queue (payload, available_at, enqueued_at) VALUES (?, ?, ?)")
            .bind(payload)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Gives back every lease. The embedded file belongs to one process, so at its start no
    /// lease can be live: each was held by a run that ended, and its job must run again (the
    /// worker recognises one that had in fact finished as a duplicate).
    pub async fn release_leases(&self) -> Result<u64, sqlx::Error> {
        let released =
            sqlx::query("UPDATE job_queue SET leased_until = NULL WHERE leased_until IS NOT NULL")
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(released)
    }

    /// Leases the oldest ready job. SQLite runs one write at a time, so two consumers can
    /// never lease the same row.
    pub async fn claim(&self) -> Result<Option<ClaimedJob>, sqlx::Error> {
        let now = now_millis();
        let lease_ends = now.saturating_add(millis(LEASE));
        let row = sqlx::query(
            "UPDATE job_queue SET leased_until = ?1
              WHERE id = (SELECT id FROM job_queue
                           WHERE dead_reason IS NULL AND available_at <= ?2
                             AND (leased_until IS NULL OR leased_until <= ?2)
                           ORDER BY available_at, id LIMIT 1)
             RETURNING id, payload, delivery_attempt",
        )
        .bind(lease_ends)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let attempt: i64 = row.try_get("delivery_attempt")?;
            Ok(ClaimedJob {
                id: row.try_get("id")?,
                payload: row.try_get("payload")?,
                delivery_attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            })
        })
        .transpose()
    }

    /// Records how a delivery ended: gone when done, back after `backoff`'s delay for its
    /// attempt when retried, kept with its reason when dead-lettered.
    pub async fn settle(
        &self,
        job: &ClaimedJob,
        outcome: &Outcome,
        backoff: &Backoff,
    ) -> Result<(), sqlx::Error> {
        let query = match outcome {
            Outcome::Completed | Outcome::Duplicate | Outcome::Skipped { .. } => {
                sqlx::query("DELETE FROM job_queue WHERE id = ?").bind(job.id)
            }
            Outcome::Retry { attempt, .. } => sqlx::query(
                "UPDATE job_queue SET delivery_attempt = ?, available_at = ?,
                        leased_until = NULL
                  WHERE id = ?",
            )
            .bind(i64::from(*attempt))
            .bind(now_millis().saturating_add(millis(backoff.delay(*attempt))))
            .bind(job.id),
            Outcome::DeadLetter { reason } => sqlx::query(
                "UPDATE job_queue SET dead_reason = ?, leased_until = NULL WHERE id = ?",
            )
            .bind(reason.clone())
            .bind(job.id),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    pub async fn depth(&self) -> Result<QueueDepth, sqlx::Error> {
        let row = sqlx::query(
            "SELECT
                coalesce(sum(dead_reason IS NULL AND leased_until IS NULL), 0) AS waiting,
                coalesce(sum(dead_reason IS NULL AND leased_until IS NOT NULL), 0) AS leased,
                coalesce(sum(dead_reason IS NOT NULL), 0) AS dead_lettered
               FROM job_queue",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueDepth {
            waiting: row.try_get("waiting")?,
            leased: row.try_get("leased")?,
            dead_lettered: row.try_get("dead_lettered")?,
        })
    }

    /// The dead letters with their reasons, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT payload, dead_reason FROM job_queue WHERE dead_reason IS NOT NULL
              ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Runs up to `concurrency` jobs at once until `shutdown` becomes true; jobs in progress
    /// at shutdown are finished and settled first. Jobs are claimed one at a time, in queue
    /// order, so each joins its user's line in the order it was queued.
    pub async fn run(
        self: Arc<Self>,
        worker: Arc<ExtractionWorker>,
        concurrency: usize,
        mut shutdown: watch::Receiver<bool>,
    ) {
        match self.release_leases().await {
            Ok(0) => {}
            Ok(released) => info!(released, "jobs of an earlier run put back on the queue"),
            Err(error) => warn!(%error, "could not release earlier leases; they expire"),
        }
        info!(concurrency, "running embedded extraction jobs");
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut running = JoinSet::new();
        while !*shutdown.borrow() {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot,
                _ = shutdown.changed() => break,
            };
            let Ok(slot) = slot else { break };
            reap(&mut running);
            let wake = self.wake.notified();
            let claimed = match self.claim().await {
                Ok(claimed) => claimed,
                Err(error) => {
                    warn!(%error, "cannot read the job queue; retrying");
                    None
                }
            };
            let Some(job) = claimed else {
                drop(slot);
                tokio::select! {
                    () = wake => {}
                    () = tokio::time::sleep(POLL_EVERY) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            let turn = worker.lines().join(job.payload.as_bytes());
            let (queue, worker) = (self.clone(), worker.clone());
            let span = info_span!("local_queue", job = job.id);
            running.spawn(
                async move {
                    queue.run_one(&worker, &job, turn).await;
                    drop(slot);
                }
                .instrument(span),
            );
        }
        while running.join_next().await.is_some() {}
    }

    async fn run_one(&self, worker: &ExtractionWorker, job: &ClaimedJob, turn: Turn) {
        let outcome = worker
            .process_in_turn(job.payload.as_bytes(), job.delivery_attempt, turn)
            .await;
        record_outcome(&outcome);
        let backoff = &worker.policy().backoff;
        if let Err(error) = self.settle(job, &outcome, backoff).await {
            // The lease runs out and the job is delivered again; the worker treats a
            // finished one as a duplicate.
            warn!(%error, job = job.id, "could not settle a job; it will be redelivered");
        }
    }
}

#[async_trait]
impl JobPublisher for LocalJobQueue {
    async fn publish(&self, job: &JobMessage) -> Result<(), String> {
        let payload = serde_json::to_string(job).map_err(|error| error.to_string())?;
        self.enqueue(&payload)
            .await
            .map_err(|error| format!("the embedded job queue refused the job: {error}"))
    }
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
