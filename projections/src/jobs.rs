//! Extraction jobs on the read side: publishing submitted jobs to the queue (the outbox
//! relay), and answering "where is my job?".

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::{ExtractionJobEvent, TenantId};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::DomainEvent;
use crate::event_log::RecordedEvent;
use crate::projection::{ChangedUser, Projection, TableSet};

/// What goes on the job queue: just enough to find the job in the event store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub tenant: String,
    pub job_id: Uuid,
}

/// Where submitted jobs are sent. `publish` returns only once the queue has taken
/// responsibility for the message (a publisher confirm), so the relay's checkpoint never
/// moves past a job that was not handed over.
#[async_trait]
pub trait JobPublisher: Send + Sync {
    async fn publish(&self, job: &JobMessage) -> Result<(), String>;
}

/// The transactional outbox relay: a projection with no rows whose effect is publishing each
/// `Submitted` job. Its checkpoint moves only after the queue confirmed, so a job accepted
/// while the broker is down is sent when the broker returns; a crash after publishing and
/// before the checkpoint moves sends it again, which the worker treats as a duplicate.
pub struct JobDispatcher {
    publisher: Arc<dyn JobPublisher>,
}

impl std::fmt::Debug for JobDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDispatcher").finish_non_exhaustive()
    }
}

impl JobDispatcher {
    pub fn new(publisher: Arc<dyn JobPublisher>) -> Self {
        Self { publisher }
    }
}

#[async_trait]
impl Projection for JobDispatcher {
    fn name(&self) -> &'static str {
        "job_dispatcher"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    async fn apply(
        &self,
        _connection: &mut PgConnection,
        _tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError> {
        if let DomainEvent::ExtractionJob {
            tenant,
            job_id,
            event: ExtractionJobEvent::Submitted { .. },
        } = decoded
        {
            let message = JobMessage {
                tenant: tenant.to_string(),
                job_id: *job_id,
            };
            self.publisher.publish(&message).await.map_err(|detail| {
                ProjectionError::Unavailable {
                    position: event.position.global_position,
                    detail,
                }
            })?;
        }
        Ok(None)
    }
}

/// A job as a client sees it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub job_id: Uuid,
    pub user_id: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub result: JobResult,
}

impl JobView {
    /// A job accepted into the event store that the read model has not caught up with.
    pub fn queued(job_id: Uuid, user_id: String) -> Self {
        Self {
            job_id,
            user_id,
            status: "queued".into(),
            attempts: 0,
            last_error: None,
            submitted_at: None,
            started_at: None,
            finished_at: None,
            result: JobResult::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct JobResult {
    pub added: i32,
    pub updated: i32,
    pub retracted: i32,
    pub unchanged: i32,
}

/// The projections whose rows a finished job must be visible in before it is reported
/// finished: a client that waits for `completed` and then reads sees the job's facts.
pub const READ_MODELS: &[&str] = &["facts", "user_favorite_summary", "extraction_jobs"];

/// The job's status from the read model, with a finished status held back as `running` until
/// every projection in `gating` has applied the job's last event.
pub async fn job_view(
    pool: &PgPool,
    tenant: &TenantId,
    job_id: Uuid,
    gating: &[&str],
) -> Result<Option<JobView>, ProjectionError> {
    let row: Option<JobRow> = sqlx::query_as(
        "SELECT j.job_id, j.user_id, j.status, j.attempts, j.last_error, j.submitted_at,
                j.started_at, j.finished_at, j.added, j.updated, j.retracted, j.unchanged,
                NOT EXISTS (
                    SELECT 1 FROM unnest($3::text[]) AS p(name)
                    LEFT JOIN projection_checkpoints c ON c.projection = p.name
                    WHERE c.projection IS NULL
                       OR (c.transaction_id, c.global_position) < (j.transaction_id, j.global_position)
                ) AS visible
           FROM extraction_jobs j
          WHERE j.tenant = $1 AND j.job_id = $2",
    )
    .bind(tenant.as_str())
    .bind(job_id)
    .bind(gating)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(JobRow::into_view))
}

#[derive(sqlx::FromRow)]
struct JobRow {
    job_id: Uuid,
    user_id: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    submitted_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    added: i32,
    updated: i32,
    retracted: i32,
    unchanged: i32,
    visible: bool,
}

impl JobRow {
    fn into_view(self) -> JobView {
        let finished = matches!(
            self.status.as_str(),
            "completed" | "failed" | "dead_lettered"
        );
        let (status, finished_at) = if finished && !self.visible {
            ("running".to_owned(), None)
        } else {
            (self.status, self.finished_at)
        };
        JobView {
            job_id: self.job_id,
            user_id: self.user_id,
            status,
            attempts: self.attempts,
            last_error: self.last_error,
            submitted_at: Some(self.submitted_at),
            started_at: self.started_at,
            finished_at,
            result: JobResult {
                added: self.added,
                updated: self.updated,
                retracted: self.retracted,
                unchanged: self.unchanged,
            },
        }
    }
}
