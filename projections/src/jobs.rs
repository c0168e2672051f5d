//! Extraction jobs on the read side: publishing submitted jobs to the queue (the outbox
//! relay), and answering "where is my job?".

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::ExtractionJobEvent;
use serde::Serialize;
use uuid::Uuid;

pub use pika_domain::job_queue::{JobMessage, JobPublisher};

use crate::ProjectionError;
use crate::decode::DomainEvent;
use crate::event_log::{LogPosition, RecordedEvent};
use crate::projection::{ChangedUser, Projection, TableSet};
use crate::writes::ReadModelWrites;

/// The checkpoint of the outbox relay that hands submitted jobs to the queue, in both modes.
pub const JOB_RELAY: &str = "job_dispatcher";

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
        JOB_RELAY
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["ExtractionJob"]
    }

    /// A job whose conversation was shredded before it was dispatched is dispatched still:
    /// the worker records it `skipped`.
    fn reads_personal_data(&self) -> bool {
        false
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    async fn apply(
        &self,
        _writes: &mut dyn ReadModelWrites,
        _tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError> {
        if let DomainEvent::ExtractionJob {
            tenant,
            job_id,
            event: ExtractionJobEvent::Submitted { user_id, .. },
        } = decoded
        {
            let message = JobMessage::new(tenant.to_string(), *job_id, user_id.to_string());
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

/// A row of the `extraction_jobs` read model. One pure transition ([`JobRecord::next`])
/// serves the live projection and the rebuild's fold, so the two cannot disagree.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobRecord {
    pub user_id: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub idempotency_key: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub added: i32,
    pub updated: i32,
    pub retracted: i32,
    pub unchanged: i32,
    pub transaction_id: i64,
    pub global_position: i64,
}

/// The row's columns, in the order [`JobRecord`] and the bulk writer use.
pub const JOB_COLUMNS: &str = "user_id, status, attempts, last_error, idempotency_key, \
    submitted_at, started_at, finished_at, added, updated, retracted, unchanged, \
    transaction_id, global_position";

fn saturating_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl JobRecord {
    /// The row as a status read shows it; `visible` whether every gating read model has
    /// applied its last event.
    pub(crate) fn into_row(self, job_id: Uuid, visible: bool) -> JobRow {
        JobRow {
            job_id,
            user_id: self.user_id,
            status: self.status,
            attempts: self.attempts,
            last_error: self.last_error,
            submitted_at: self.submitted_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            added: self.added,
            updated: self.updated,
            retracted: self.retracted,
            unchanged: self.unchanged,
            visible,
        }
    }

    /// The row after one of the job's events. A job's first event creates it; any other event
    /// for a job with no row (never submitted) leaves no row.
    pub fn next(
        current: Option<Self>,
        event: &ExtractionJobEvent,
        at: DateTime<Utc>,
        position: LogPosition,
    ) -> Option<Self> {
        if let ExtractionJobEvent::Submitted {
            user_id,
            idempotency_key,
            ..
        } = event
        {
            return Some(current.unwrap_or_else(|| Self {
                user_id: user_id.to_string(),
                status: "queued".into(),
                attempts: 0,
                last_error: None,
                idempotency_key: idempotency_key.clone(),
                submitted_at: at,
                started_at: None,
                finished_at: None,
                added: 0,
                updated: 0,
                retracted: 0,
                unchanged: 0,
                transaction_id: position.transaction_id,
                global_position: position.global_position,
            }));
        }
        let mut row = current?;
        match event {
            ExtractionJobEvent::Submitted { .. } => {}
            ExtractionJobEvent::Started { attempt } => {
                row.status = "running".into();
                row.started_at = Some(at);
                row.attempts = saturating_i32(*attempt);
            }
            ExtractionJobEvent::Completed { counts } => {
                row.status = "completed".into();
                row.finished_at = Some(at);
                row.added = saturating_i32(counts.added);
                row.updated = saturating_i32(counts.updated);
                row.retracted = saturating_i32(counts.retracted);
                row.unchanged = saturating_i32(counts.unchanged);
            }
            ExtractionJobEvent::Failed {
                error, retryable, ..
            } => {
                // A retryable failure waits for its next attempt; a permanent one is final.
                if *retryable {
                    row.status = "queued".into();
                } else {
                    row.status = "failed".into();
                    row.finished_at = Some(at);
                }
                row.last_error = Some(error.clone());
            }
            ExtractionJobEvent::DeadLettered { reason } => {
                row.status = "dead_lettered".into();
                row.last_error = Some(reason.clone());
                row.finished_at = Some(at);
            }
            ExtractionJobEvent::Skipped { reason } => {
                row.status = "skipped".into();
                row.last_error = Some(reason.clone());
                row.finished_at = Some(at);
            }
        }
        row.transaction_id = position.transaction_id;
        row.global_position = position.global_position;
        Some(row)
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
pub const READ_MODELS: &[&str] = &[
    "facts",
    "user_favorite_summary",
    "extraction_jobs",
    "episodes",
];

/// A job row with whether every gating read model has applied its last event.
#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    pub(crate) job_id: Uuid,
    pub(crate) user_id: String,
    pub(crate) status: String,
    pub(crate) attempts: i32,
    pub(crate) last_error: Option<String>,
    pub(crate) submitted_at: DateTime<Utc>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
    pub(crate) added: i32,
    pub(crate) updated: i32,
    pub(crate) retracted: i32,
    pub(crate) unchanged: i32,
    pub(crate) visible: bool,
}

impl JobRow {
    pub(crate) fn into_view(self) -> JobView {
        let finished = matches!(
            self.status.as_str(),
            "completed" | "failed" | "dead_lettered" | "skipped"
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
