//! The extraction worker: takes a job off the queue, extracts, decides, commits, and only
//! then acknowledges the message.
//!
//! Every delivery ends in exactly one of: completed, a duplicate (already finished), a delayed
//! retry through the retry queue (transient trouble, bounded by the job's attempt count), or
//! the dead-letter queue with its reason (bad message, unknown job, retries exhausted, a
//! permanent extraction error). Nothing is requeued in place, so no message loops.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use pika_commands::{CommandContext, CommandError, WriteModel};
use pika_domain::{
    ExtractionJobCommand, ExtractionJobError, FactOperation, JobId, JobStatus, TenantId,
    UserMemoryCommand,
};
use pika_projections::jobs::JobMessage;
use tokio::sync::watch;
use tracing::{Instrument, info, info_span, warn};

use crate::amqp::{AmqpJobQueue, Outgoing};
use crate::embedding::store::FactEmbeddings;
use crate::extraction::decide::decide;
use crate::extraction::{ExtractionError, Extractor};

/// Limits on how hard a job is tried.
#[derive(Debug, Clone, Copy)]
pub struct WorkerPolicy {
    /// Attempts (starts) before a job is dead-lettered.
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Deliveries one worker holds unacknowledged at a time.
    pub prefetch: u16,
}

impl Default for WorkerPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            prefetch: 8,
        }
    }
}

impl WorkerPolicy {
    /// The wait before retry `attempt`: doubling from `base_backoff`, capped at `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.base_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff)
    }
}

/// How one delivery ended; each maps to one queue action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Already finished (a redelivery, or another worker got there first).
    Duplicate,
    Retry {
        attempt: u32,
        reason: String,
    },
    DeadLetter {
        reason: String,
    },
}

/// Counts and logs how a delivery ended, the same for every queue.
pub(crate) fn record_outcome(outcome: &Outcome) {
    let label = match outcome {
        Outcome::Completed => "completed",
        Outcome::Duplicate => "duplicate",
        Outcome::Retry { .. } => "retried",
        Outcome::DeadLetter { .. } => "dead_lettered",
    };
    metrics::counter!("pika_jobs_total", "outcome" => label).increment(1);
    match outcome {
        Outcome::Retry { attempt, reason } => warn!(attempt, %reason, "job will be retried"),
        Outcome::DeadLetter { reason } => warn!(%reason, "job dead-lettered"),
        Outcome::Completed | Outcome::Duplicate => {}
    }
}

/// Headers carried by retried messages, for attempts that fail before the job can record them.
const ATTEMPT_HEADER: &str = "x-pika-attempt";
const REASON_HEADER: &str = "x-pika-reason";

pub struct ExtractionWorker {
    write_model: Arc<WriteModel>,
    extractor: Arc<dyn Extractor>,
    embeddings: Option<FactEmbeddings>,
    policy: WorkerPolicy,
}

impl std::fmt::Debug for ExtractionWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractionWorker")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn transient<E: std::error::Error>(error: &CommandError<E>) -> bool {
    matches!(
        error,
        CommandError::Conflict { .. } | CommandError::Storage(_)
    )
}

impl ExtractionWorker {
    pub fn new(
        write_model: Arc<WriteModel>,
        extractor: Arc<dyn Extractor>,
        policy: WorkerPolicy,
    ) -> Self {
        Self {
            write_model,
            extractor,
            embeddings: None,
            policy,
        }
    }

    pub fn policy(&self) -> &WorkerPolicy {
        &self.policy
    }

    /// Stores vectors of new fact texts before each commit, for semantic search.
    pub fn with_embeddings(mut self, embeddings: FactEmbeddings) -> Self {
        self.embeddings = Some(embeddings);
        self
    }

    /// Embeds the texts the operations will write. A failure costs only the vectors (search
    /// still finds these facts by keyword), so it is logged and counted, not fatal.
    async fn embed_texts(&self, operations: &[FactOperation]) {
        let Some(embeddings) = &self.embeddings else {
            return;
        };
        let texts: Vec<String> = operations
            .iter()
            .filter_map(|op| match op {
                FactOperation::Add { candidate, .. } => Some(candidate.text.to_string()),
                FactOperation::Update { correction, .. } => Some(correction.text.to_string()),
                FactOperation::Retract { .. } => None,
            })
            .collect();
        if texts.is_empty() {
            return;
        }
        if let Err(error) = embeddings.ensure(&texts).await {
            metrics::counter!("pika_embedding_failures_total").increment(1);
            warn!(%error, "facts committed without vectors");
        }
    }

    /// Handles one message body; `delivery_attempt` counts deliveries that failed before the
    /// job itself could record an attempt (the database was down).
    pub async fn process(&self, payload: &[u8], delivery_attempt: u32) -> Outcome {
        let message: JobMessage = match serde_json::from_slice(payload) {
            Ok(message) => message,
            Err(error) => {
                return Outcome::DeadLetter {
                    reason: format!("malformed message: {error}"),
                };
            }
        };
        let Ok(tenant) = TenantId::parse(&message.tenant) else {
            return Outcome::DeadLetter {
                reason: format!("malformed message: bad tenant {:?}", message.tenant),
            };
        };
        let job_id = JobId::from_uuid(message.job_id);
        let span = info_span!("job", %tenant, %job_id);
        self.run_job(&tenant, job_id, delivery_attempt)
            .instrument(span)
            .await
    }

    async fn run_job(&self, tenant: &TenantId, job_id: JobId, delivery_attempt: u32) -> Outcome {
        let retry = |reason: String| {
            if delivery_attempt + 1 >= self.policy.max_attempts {
                Outcome::DeadLetter {
                    reason: format!(
                        "gave up after {} deliveries: {reason}",
                        delivery_attempt + 1
                    ),
                }
            } else {
                Outcome::Retry {
                    attempt: delivery_attempt + 1,
                    reason,
                }
            }
        };
        let context = CommandContext::new(job_id.to_string(), "worker");
        let job = match self.write_model.load_extraction_job(tenant, &job_id).await {
            Ok(job) => job,
            Err(error) => return retry(error.to_string()),
        };
        match job.status() {
            JobStatus::Unknown => {
                return Outcome::DeadLetter {
                    reason: format!("unknown job {job_id}"),
                };
            }
            JobStatus::Completed | JobStatus::DeadLettered => return Outcome::Duplicate,
            JobStatus::Queued | JobStatus::Running | JobStatus::Failed => {}
        }
        if job.attempts() >= self.policy.max_attempts {
            let reason = format!("gave up after {} attempts", job.attempts());
            let dead = ExtractionJobCommand::DeadLetter {
                reason: reason.clone(),
            };
            return match self
                .write_model
                .execute_extraction_job(tenant, &job_id, dead, &context)
                .await
            {
                Ok(()) => Outcome::DeadLetter { reason },
                Err(error) if transient(&error) => retry(error.to_string()),
                Err(_) => Outcome::Duplicate,
            };
        }
        match self
            .write_model
            .execute_extraction_job(tenant, &job_id, ExtractionJobCommand::Start, &context)
            .await
        {
            Ok(()) => {}
            Err(CommandError::Rejected(ExtractionJobError::IllegalTransition { .. })) => {
                return Outcome::Duplicate;
            }
            Err(error) if transient(&error) => return retry(error.to_string()),
            Err(error) => {
                return Outcome::DeadLetter {
                    reason: error.to_string(),
                };
            }
        }
        let attempt = job.attempts() + 1;
        let Some(submission) = job.submission().cloned() else {
            return Outcome::DeadLetter {
                reason: "job has no submission".into(),
            };
        };
        let candidates = match self.extractor.extract(&submission.conversation).await {
            Ok(candidates) => candidates,
            Err(error) => {
                let retryable = matches!(error, ExtractionError::Transient(_));
                let fail = ExtractionJobCommand::Fail {
                    error: error.to_string(),
                    retryable,
                };
                if let Err(record) = self
                    .write_model
                    .execute_extraction_job(tenant, &job_id, fail, &context)
                    .await
                {
                    return retry(record.to_string());
                }
                return if retryable && attempt < self.policy.max_attempts {
                    Outcome::Retry {
                        attempt,
                        reason: error.to_string(),
                    }
                } else if retryable {
                    let reason = format!("gave up after {attempt} attempts: {error}");
                    let dead = ExtractionJobCommand::DeadLetter {
                        reason: reason.clone(),
                    };
                    self.write_model
                        .execute_extraction_job(tenant, &job_id, dead, &context)
                        .await
                        .ok();
                    Outcome::DeadLetter { reason }
                } else {
                    Outcome::DeadLetter {
                        reason: error.to_string(),
                    }
                };
            }
        };
        let user = &submission.user_id;
        let mut applied = false;
        for _ in 0..3 {
            let memory = match self.write_model.load_user_memory(tenant, user).await {
                Ok(memory) => memory,
                Err(error) => return retry(error.to_string()),
            };
            if memory.applied_job(&job_id).is_some() {
                applied = true;
                break;
            }
            let operations = decide(candidates.clone(), &memory, job_id);
            self.embed_texts(&operations).await;
            let apply = UserMemoryCommand::ApplyExtraction { job_id, operations };
            match self
                .write_model
                .execute_user_memory(tenant, user, apply, &context)
                .await
            {
                Ok(()) => {
                    applied = true;
                    break;
                }
                // The memory changed between deciding and committing: decide again.
                Err(CommandError::Rejected(error)) => {
                    warn!(%error, "decision out of date; deciding again")
                }
                Err(error) => return retry(error.to_string()),
            }
        }
        if !applied {
            let reason = "the user's memory kept changing under this job".to_owned();
            return retry(reason);
        }
        let counts = match self.write_model.load_user_memory(tenant, user).await {
            Ok(memory) => memory.applied_job(&job_id).unwrap_or_default(),
            Err(error) => return retry(error.to_string()),
        };
        let complete = ExtractionJobCommand::Complete { counts };
        match self
            .write_model
            .execute_extraction_job(tenant, &job_id, complete, &context)
            .await
        {
            Ok(()) => Outcome::Completed,
            Err(CommandError::Rejected(_)) => Outcome::Duplicate,
            Err(error) => retry(error.to_string()),
        }
    }

    /// Consumes the work queue until `shutdown` becomes true, reconnecting when the broker
    /// goes away. A delivery in progress at shutdown is finished and acknowledged first.
    pub async fn run(
        self: Arc<Self>,
        queue: Arc<AmqpJobQueue>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut reconnect_delay = Duration::from_millis(200);
        while !*shutdown.borrow() {
            let (_connection, mut consumer) =
                match queue.consume(self.policy.prefetch, "pika-worker").await {
                    Ok(consumer) => {
                        reconnect_delay = Duration::from_millis(200);
                        consumer
                    }
                    Err(error) => {
                        warn!(%error, ?reconnect_delay, "cannot consume jobs; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(reconnect_delay) => {}
                            _ = shutdown.changed() => {}
                        }
                        reconnect_delay = (reconnect_delay * 2).min(Duration::from_secs(10));
                        continue;
                    }
                };
            info!("consuming extraction jobs");
            loop {
                let delivery = tokio::select! {
                    next = consumer.next() => next,
                    _ = shutdown.changed() => None,
                };
                let Some(Ok(delivery)) = delivery else { break };
                let attempt = delivery
                    .properties
                    .headers()
                    .as_ref()
                    .and_then(|h| h.inner().get(ATTEMPT_HEADER))
                    .and_then(|v| v.as_long_string())
                    .and_then(|v| v.to_string().parse().ok())
                    .unwrap_or(0);
                let outcome = self.process(&delivery.data, attempt).await;
                let routed = self.route(&queue, &delivery.data, &outcome).await;
                let acked = match routed {
                    Ok(()) => delivery.ack(BasicAckOptions::default()).await,
                    Err(error) => {
                        // The message could not be moved on: give it back to the broker.
                        warn!(%error, "could not route the outcome; returning the message");
                        delivery
                            .nack(BasicNackOptions {
                                requeue: true,
                                ..Default::default()
                            })
                            .await
                    }
                };
                if let Err(error) = acked {
                    warn!(%error, "acknowledgement failed; the broker will redeliver");
                    break;
                }
            }
        }
    }

    /// Moves the message where its outcome says, before the original is acknowledged.
    async fn route(
        &self,
        queue: &AmqpJobQueue,
        payload: &[u8],
        outcome: &Outcome,
    ) -> Result<(), String> {
        record_outcome(outcome);
        match outcome {
            Outcome::Completed | Outcome::Duplicate => Ok(()),
            Outcome::Retry { attempt, reason } => {
                let outgoing = Outgoing {
                    headers: vec![
                        (ATTEMPT_HEADER, attempt.to_string()),
                        (REASON_HEADER, reason.clone()),
                    ],
                    delay: Some(self.policy.backoff(*attempt)),
                };
                queue
                    .publish_to(&queue.names().retry, payload, outgoing)
                    .await
            }
            Outcome::DeadLetter { reason } => {
                let outgoing = Outgoing {
                    headers: vec![(REASON_HEADER, reason.clone())],
                    delay: None,
                };
                queue
                    .publish_to(&queue.names().dead, payload, outgoing)
                    .await
            }
        }
    }
}
