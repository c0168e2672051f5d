//! The extraction worker: takes a job off the queue, extracts, decides, commits, and only
//! then acknowledges the message.
//!
//! Every delivery ends in exactly one of: completed, a duplicate (already finished), a delayed
//! retry through the retry queue (transient trouble, bounded by the job's attempt count), or
//! the dead-letter queue with its reason (bad message, unknown job, retries exhausted, a
//! permanent extraction error, a domain rule the job's changes break). Nothing is requeued in
//! place, so no message loops. A job is given up on in one place, which records that on the
//! job before the message is dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::Consumer;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use pika_commands::{Backoff, CommandContext, CommandError, WriteModel};
use pika_domain::job_queue::JobMessage;
use pika_domain::{
    Conversation, ExtractionCounts, ExtractionJob, ExtractionJobCommand, ExtractionJobError, JobId,
    JobStatus, JobSubmission, TenantId, UserId, UserMemory, UserMemoryCommand, UserMemoryError,
};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::amqp::{AmqpJobQueue, Outgoing, within};
use crate::embedding::store::{FactEmbeddings, fact_passages};
use crate::extraction::decide::decide;
use crate::extraction::{Candidate, ExtractionError, Extractor};
use crate::ordering::{Turn, UserLines};

/// Limits on how hard a job is tried.
#[derive(Debug, Clone, Copy)]
pub struct WorkerPolicy {
    /// Tries of the job itself (an extraction that failed in a way that may pass) before it
    /// is dead-lettered.
    pub max_attempts: u32,
    /// Deliveries that failed on our own infrastructure (the database was down, writers kept
    /// colliding) before the job is dead-lettered. Such failures say nothing about the job,
    /// so they do not use up its attempts; the budget is large enough to outlast an outage of
    /// over an hour at the backoff's cap, and still ends.
    pub max_deliveries: u32,
    /// The wait before each retry, from the attempt number the retried message carries.
    pub backoff: Backoff,
    /// Jobs one process runs at once (and RabbitMQ deliveries it holds unacknowledged).
    /// Extraction mostly waits on an LLM, so many in flight keep a process busy; one user's
    /// jobs still apply in order (see [`crate::ordering`]).
    pub concurrency: u16,
}

impl Default for WorkerPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_deliveries: 100,
            backoff: Backoff {
                base: Duration::from_millis(500),
                max: Duration::from_secs(60),
            },
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Enough jobs in flight to keep an LLM answering in about a second busy at tens of jobs a
/// second, few enough for the database pool and the endpoint's rate limits.
pub const DEFAULT_CONCURRENCY: u16 = 64;

/// Waits between tries to reach the broker again: short at first, as most outages are, and
/// capped so a worker starts consuming soon after the broker is back.
const RECONNECT_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(10),
};

/// Commits one delivery may decide again when the user's memory changed under it.
const DECISION_TRIES: usize = 3;

/// How one delivery ended; each maps to one queue action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Not run, by design: its user was forgotten. Acknowledged, never retried.
    Skipped {
        reason: String,
    },
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
        Outcome::Skipped { .. } => "skipped",
        Outcome::Duplicate => "duplicate",
        Outcome::Retry { .. } => "retried",
        Outcome::DeadLetter { .. } => "dead_lettered",
    };
    metrics::counter!("pika_jobs_total", "outcome" => label).increment(1);
    match outcome {
        Outcome::Retry { attempt, reason } => warn!(attempt, %reason, "job will be retried"),
        Outcome::DeadLetter { reason } => warn!(%reason, "job dead-lettered"),
        Outcome::Skipped { reason } => info!(%reason, "job skipped"),
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
    lines: UserLines,
}

impl std::fmt::Debug for ExtractionWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractionWorker")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
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
            lines: UserLines::default(),
        }
    }

    pub fn policy(&self) -> &WorkerPolicy {
        &self.policy
    }

    /// Where each user's jobs wait for the one ahead of them; join in queue order.
    pub fn lines(&self) -> &UserLines {
        &self.lines
    }

    /// Stores vectors of new fact texts before each commit, for semantic search.
    pub fn with_embeddings(mut self, embeddings: FactEmbeddings) -> Self {
        self.embeddings = Some(embeddings);
        self
    }

    /// Embeds the texts the operations will write. A failure costs only the vectors (search
    /// still finds these facts by keyword), so it is logged and counted, not fatal.
    async fn embed_facts(&self, passages: &[String]) {
        let Some(embeddings) = &self.embeddings else {
            return;
        };
        if passages.is_empty() {
            return;
        }
        if let Err(error) = embeddings.ensure(passages).await {
            metrics::counter!("pika_embedding_failures_total").increment(1);
            warn!(%error, "facts committed without vectors");
        }
    }

    /// Vectors of the conversation's turns, put in the embedding cache before the job
    /// completes, so a turn is searchable by meaning as soon as its job reads `completed`.
    /// Best effort like facts' vectors: without them the turns are still found by their words.
    async fn embed_turns(&self, conversation: &Conversation) {
        let Some(embeddings) = &self.embeddings else {
            return;
        };
        let contents: Vec<String> = conversation
            .messages()
            .iter()
            .map(|message| message.content.clone())
            .collect();
        if let Err(error) = embeddings.ensure(&contents).await {
            metrics::counter!("pika_embedding_failures_total").increment(1);
            warn!(%error, "conversation turns kept without vectors");
        }
    }

    /// Handles one message body on its own; `delivery_attempt` counts deliveries that failed
    /// before the job itself could record an attempt (the database was down).
    pub async fn process(&self, payload: &[u8], delivery_attempt: u32) -> Outcome {
        self.process_in_turn(payload, delivery_attempt, Turn::alone())
            .await
    }

    /// Handles one message body among others in flight: the job extracts at once and applies
    /// its changes when `turn` comes (the user's job ahead of it has finished).
    pub async fn process_in_turn(
        &self,
        payload: &[u8],
        delivery_attempt: u32,
        turn: Turn,
    ) -> Outcome {
        let (tenant, job_id) = match parse_message(payload) {
            Ok(parsed) => parsed,
            // No job to record anything on: the message is all there is.
            Err(reason) => return Outcome::DeadLetter { reason },
        };
        let run = JobRun {
            worker: self,
            tenant: &tenant,
            job_id,
            delivery_attempt,
            context: CommandContext::new(job_id.to_string(), "worker"),
        };
        let span = info_span!("job", %tenant, %job_id);
        run.outcome(turn).instrument(span).await
    }

    /// Consumes the work queue until `shutdown` becomes true, reconnecting when the broker
    /// goes away. A delivery in progress at shutdown is finished and acknowledged first.
    pub async fn run(
        self: Arc<Self>,
        queue: Arc<AmqpJobQueue>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut failed_connects = 0;
        while !*shutdown.borrow() {
            match queue
                .consume(self.policy.concurrency.max(1), "pika-worker")
                .await
            {
                Ok((_connection, consumer)) => {
                    failed_connects = 0;
                    self.consume(&queue, consumer, &mut shutdown).await;
                }
                Err(error) => {
                    let reconnect_delay = RECONNECT_BACKOFF.delay(failed_connects);
                    warn!(%error, ?reconnect_delay, "cannot consume jobs; retrying");
                    failed_connects = failed_connects.saturating_add(1);
                    tokio::select! {
                        () = tokio::time::sleep(reconnect_delay) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }

    /// Runs deliveries, up to the policy's concurrency at once, until the consumer closes
    /// (the channel is gone, so the caller reconnects) or shutdown; then lets the jobs in
    /// flight finish and acknowledge before returning.
    async fn consume(
        self: &Arc<Self>,
        queue: &Arc<AmqpJobQueue>,
        mut consumer: Consumer,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let concurrency = self.policy.concurrency.max(1);
        info!(concurrency, "consuming extraction jobs");
        let slots = Arc::new(Semaphore::new(usize::from(concurrency)));
        let mut running = JoinSet::new();
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot,
                _ = shutdown.changed() => break,
            };
            let Ok(slot) = slot else { break };
            reap(&mut running);
            let delivery = tokio::select! {
                next = consumer.next() => next,
                _ = shutdown.changed() => None,
            };
            let Some(Ok(delivery)) = delivery else { break };
            let turn = self.lines.join(&delivery.data);
            let (worker, queue) = (self.clone(), queue.clone());
            running.spawn(async move {
                if let Err(error) = worker.handle(&queue, &delivery, turn).await {
                    warn!(%error, "acknowledgement failed; the broker will redeliver");
                }
                drop(slot);
            });
        }
        while running.join_next().await.is_some() {}
    }

    /// Processes one delivery and acknowledges it once its outcome has been routed; a message
    /// that could not be moved on is given back to the broker instead.
    async fn handle(
        &self,
        queue: &AmqpJobQueue,
        delivery: &Delivery,
        turn: Turn,
    ) -> Result<bool, String> {
        let outcome = self
            .process_in_turn(&delivery.data, delivery_attempt(delivery), turn)
            .await;
        match self.route(queue, &delivery.data, &outcome).await {
            Ok(()) => within("ack", delivery.ack(BasicAckOptions::default())).await,
            Err(error) => {
                warn!(%error, "could not route the outcome; returning the message");
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                within("nack", delivery.nack(requeue)).await
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
            Outcome::Completed | Outcome::Duplicate | Outcome::Skipped { .. } => Ok(()),
            Outcome::Retry { attempt, reason } => {
                let outgoing = Outgoing {
                    headers: vec![
                        (ATTEMPT_HEADER, attempt.to_string()),
                        (REASON_HEADER, reason.clone()),
                    ],
                    delay: Some(self.policy.backoff.delay(*attempt)),
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

/// Collects the jobs that have ended, logging one that panicked (its delivery is returned to
/// the broker when the channel closes, or its lease runs out in the embedded queue).
pub(crate) fn reap(running: &mut JoinSet<()>) {
    while let Some(ended) = running.try_join_next() {
        if let Err(error) = ended {
            warn!(%error, "a job's task ended abnormally");
        }
    }
}

fn parse_message(payload: &[u8]) -> Result<(TenantId, JobId), String> {
    let message: JobMessage =
        serde_json::from_slice(payload).map_err(|error| format!("malformed message: {error}"))?;
    let tenant = TenantId::parse(&message.tenant)
        .map_err(|_| format!("malformed message: bad tenant {:?}", message.tenant))?;
    Ok((tenant, JobId::from_uuid(message.job_id)))
}

/// The attempt a retried message carries (0 on its first delivery).
fn delivery_attempt(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER))
        .and_then(|v| v.as_long_string())
        .and_then(|v| v.to_string().parse().ok())
        .unwrap_or(0)
}

/// Why a delivery stopped short of completing its job. The steps only say why; what becomes
/// of the message is decided in one place, [`JobRun::outcome`].
#[derive(Debug)]
enum Halt {
    /// The job is already finished: a redelivery, or another worker got there first.
    Finished,
    /// Trouble that may pass. `attempt` numbers this try, counted in `counted` ("deliveries"
    /// or "attempts"), against `limit`, the policy's limit for that count.
    Transient {
        attempt: u32,
        counted: &'static str,
        limit: u32,
        reason: String,
    },
    /// The job must not run again; `state` is how the job is left.
    Permanent { reason: String, state: FinalState },
    /// The job was recorded as skipped (its user was forgotten).
    Skipped { reason: String },
}

impl Halt {
    fn dead_letter(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
            state: FinalState::DeadLettered,
        }
    }
}

/// How a job given up on is left.
#[derive(Debug, Clone, Copy)]
enum FinalState {
    DeadLettered,
    /// For a permanent extraction error: the job reads `failed` with the error, which says
    /// more to its submitter than a dead letter would.
    Failed,
}

/// Whether a refused commit only means that the memory moved on after the decision (another
/// writer added or retracted a fact), so deciding again can succeed. The other rules would
/// refuse the same candidates every time: retrying them only delays the dead letter and
/// buries its reason.
fn decision_out_of_date(error: &UserMemoryError) -> bool {
    use UserMemoryError as E;
    match error {
        E::FactNotFound(_) | E::FactRetracted(_) | E::DuplicateFactId(_) => true,
        E::DuplicateValue { .. } => true,
        E::TooManyFacts { .. } | E::TooManyOperations { .. } => false,
        E::RepeatedOperation(_) | E::NoteTooLong { .. } => false,
    }
}

/// One delivery of one job: what every step needs to act on the job, and to say why it
/// stopped.
struct JobRun<'a> {
    worker: &'a ExtractionWorker,
    tenant: &'a TenantId,
    job_id: JobId,
    delivery_attempt: u32,
    context: CommandContext,
}

impl JobRun<'_> {
    /// The delivery's one outcome: the job run to its end, or the reason it stopped turned
    /// into a retry or, through [`JobRun::give_up`], a dead letter.
    async fn outcome(&self, mut turn: Turn) -> Outcome {
        match self.run(&mut turn).await {
            Ok(()) => Outcome::Completed,
            Err(Halt::Finished) => Outcome::Duplicate,
            Err(Halt::Skipped { reason }) => Outcome::Skipped { reason },
            Err(Halt::Transient {
                attempt,
                limit,
                reason,
                ..
            }) if attempt < limit => Outcome::Retry { attempt, reason },
            Err(Halt::Transient {
                attempt,
                counted,
                reason,
                ..
            }) => {
                let reason = format!("gave up after {attempt} {counted}: {reason}");
                self.give_up(reason, FinalState::DeadLettered).await
            }
            Err(Halt::Permanent { reason, state }) => self.give_up(reason, state).await,
        }
    }

    async fn run(&self, turn: &mut Turn) -> Result<(), Halt> {
        self.check_deliveries_left()?;
        let job = self.load_runnable_job().await?;
        if job.submission().is_some_and(JobSubmission::was_shredded) {
            return self.skip_forgotten().await;
        }
        self.start().await?;
        let submission = job
            .submission()
            .ok_or_else(|| Halt::dead_letter("job has no submission"))?;
        let candidates = if submission.extract_facts {
            self.extract(&submission.conversation, job.attempts() + 1)
                .await?
        } else {
            Vec::new()
        };
        turn.wait().await;
        let counts = self.apply(&submission.user_id, &candidates).await?;
        self.worker.embed_turns(&submission.conversation).await;
        self.complete(counts).await
    }

    /// A delivery past the limit was retried only because giving up could not be recorded:
    /// it gives up again straight away, rather than running the job once more.
    fn check_deliveries_left(&self) -> Result<(), Halt> {
        if self.delivery_attempt < self.worker.policy.max_deliveries {
            return Ok(());
        }
        let deliveries = self.delivery_attempt;
        Err(Halt::dead_letter(format!(
            "gave up after {deliveries} deliveries"
        )))
    }

    /// The job, when this delivery should run it.
    async fn load_runnable_job(&self) -> Result<ExtractionJob, Halt> {
        let job = self
            .worker
            .write_model
            .load_extraction_job(self.tenant, &self.job_id)
            .await
            .map_err(|error| self.infrastructure(error))?;
        let attempts = job.attempts();
        match job.status() {
            JobStatus::Unknown => Err(Halt::dead_letter(format!("unknown job {}", self.job_id))),
            JobStatus::Completed | JobStatus::DeadLettered | JobStatus::Skipped => {
                Err(Halt::Finished)
            }
            _ if attempts >= self.worker.policy.max_attempts => Err(Halt::dead_letter(format!(
                "gave up after {attempts} attempts"
            ))),
            JobStatus::Queued | JobStatus::Running | JobStatus::Failed => Ok(job),
        }
    }

    /// The conversation's key was destroyed after this job was submitted (the user was
    /// forgotten, or retention expired it): what was said is gone, and running the job would
    /// bring back what was erased.
    async fn skip_forgotten(&self) -> Result<(), Halt> {
        let reason = "skipped: its conversation was erased before it ran (the user was \
                      forgotten, or conversation retention expired it)"
            .to_owned();
        let command = ExtractionJobCommand::Skip {
            reason: reason.clone(),
        };
        match self.execute(command).await {
            Ok(()) => Err(Halt::Skipped { reason }),
            Err(CommandError::Rejected(ExtractionJobError::IllegalTransition { .. })) => {
                Err(Halt::Finished)
            }
            Err(CommandError::Rejected(error)) => Err(Halt::dead_letter(error.to_string())),
            Err(error) => Err(self.infrastructure(error)),
        }
    }

    async fn start(&self) -> Result<(), Halt> {
        match self.execute(ExtractionJobCommand::Start).await {
            Ok(()) => Ok(()),
            // Finished meanwhile, or failed for good on an earlier delivery.
            Err(CommandError::Rejected(ExtractionJobError::IllegalTransition { .. })) => {
                Err(Halt::Finished)
            }
            Err(CommandError::Rejected(error)) => Err(Halt::dead_letter(error.to_string())),
            Err(error) => Err(self.infrastructure(error)),
        }
    }

    /// A transient failure is recorded as retryable before the retry, so the job reads
    /// `queued` with its error meanwhile; a permanent one is recorded by the give-up path.
    async fn extract(
        &self,
        conversation: &Conversation,
        attempt: u32,
    ) -> Result<Vec<Candidate>, Halt> {
        let error = match self.worker.extractor.extract(conversation).await {
            Ok(candidates) => return Ok(candidates),
            Err(error) => error,
        };
        let reason = error.to_string();
        if !matches!(error, ExtractionError::Transient(_)) {
            let state = FinalState::Failed;
            return Err(Halt::Permanent { reason, state });
        }
        let fail = ExtractionJobCommand::Fail {
            error: reason.clone(),
            retryable: true,
        };
        self.execute(fail)
            .await
            .map_err(|error| self.infrastructure(error))?;
        Err(Halt::Transient {
            attempt,
            counted: "attempts",
            limit: self.worker.policy.max_attempts,
            reason,
        })
    }

    /// Commits the job's changes to the user's memory, deciding again when the memory moved
    /// on in between; returns the counts recorded with the changes.
    async fn apply(
        &self,
        user: &UserId,
        candidates: &[Candidate],
    ) -> Result<ExtractionCounts, Halt> {
        for _ in 0..DECISION_TRIES {
            if self.decide_and_commit(user, candidates).await? {
                let memory = self.load_memory(user).await?;
                return Ok(memory.applied_job(&self.job_id).unwrap_or_default());
            }
        }
        Err(self.infrastructure("the user's memory kept changing under this job"))
    }

    /// Whether the job's changes are in the user's memory after one decision: false when
    /// the decision was out of date. A redelivered job finds its changes already there.
    async fn decide_and_commit(
        &self,
        user: &UserId,
        candidates: &[Candidate],
    ) -> Result<bool, Halt> {
        let (operations, passages) = {
            // Released before the command, which can then take the kept state without a copy.
            let memory = self.load_memory(user).await?;
            if memory.applied_job(&self.job_id).is_some() {
                return Ok(true);
            }
            let operations = decide(candidates.to_vec(), &memory, self.job_id);
            let passages = fact_passages(&operations, &memory);
            (operations, passages)
        };
        self.worker.embed_facts(&passages).await;
        let job_id = self.job_id;
        let apply = UserMemoryCommand::ApplyExtraction { job_id, operations };
        let committed = self
            .worker
            .write_model
            .execute_user_memory(self.tenant, user, apply, &self.context)
            .await;
        match committed {
            Ok(()) => Ok(true),
            Err(CommandError::Rejected(error)) if decision_out_of_date(&error) => {
                warn!(%error, "decision out of date; deciding again");
                Ok(false)
            }
            Err(CommandError::Rejected(error)) => Err(Halt::dead_letter(error.to_string())),
            Err(error) => Err(self.infrastructure(error)),
        }
    }

    async fn load_memory(&self, user: &UserId) -> Result<Arc<UserMemory>, Halt> {
        self.worker
            .write_model
            .load_user_memory(self.tenant, user)
            .await
            .map_err(|error| self.infrastructure(error))
    }

    async fn complete(&self, counts: ExtractionCounts) -> Result<(), Halt> {
        match self
            .execute(ExtractionJobCommand::Complete { counts })
            .await
        {
            Ok(()) => Ok(()),
            // Another worker finished the job, or gave up on it, meanwhile.
            Err(CommandError::Rejected(_)) => Err(Halt::Finished),
            Err(error) => Err(self.infrastructure(error)),
        }
    }

    /// The one way a job is given up on. Its final state is written on the job first, so no
    /// job reads `queued` or `running` forever for a message that will not run again.
    ///
    /// When even that write fails (the database is down), the message is not dead-lettered
    /// but retried after the policy's backoff, its attempt counting on. A later delivery past
    /// the limit gives up at once (see [`JobRun::check_deliveries_left`]); an earlier one runs
    /// the job again and meets the same end. So during an outage the message waits in the
    /// retry queue, tried at most `backoff.max` apart, and is dead-lettered, recorded, once
    /// the database is back.
    async fn give_up(&self, reason: String, state: FinalState) -> Outcome {
        let record = match state {
            FinalState::DeadLettered => ExtractionJobCommand::DeadLetter {
                reason: reason.clone(),
            },
            FinalState::Failed => ExtractionJobCommand::Fail {
                error: reason.clone(),
                retryable: false,
            },
        };
        match self.execute(record).await {
            // An unknown job has nothing to record on.
            Ok(()) | Err(CommandError::Rejected(ExtractionJobError::UnknownJob)) => {
                Outcome::DeadLetter { reason }
            }
            // Another worker finished the job, or gave up on it, meanwhile.
            Err(CommandError::Rejected(_)) => Outcome::Duplicate,
            Err(error) => Outcome::Retry {
                attempt: self.delivery_attempt.saturating_add(1),
                reason: format!("{reason}; recording that failed: {error}"),
            },
        }
    }

    /// Trouble outside the job (the database is down, writers kept colliding) counts
    /// deliveries: the job may not even load, let alone record an attempt of its own.
    fn infrastructure(&self, error: impl std::fmt::Display) -> Halt {
        Halt::Transient {
            attempt: self.delivery_attempt.saturating_add(1),
            counted: "deliveries",
            limit: self.worker.policy.max_deliveries,
            reason: error.to_string(),
        }
    }

    async fn execute(
        &self,
        command: ExtractionJobCommand,
    ) -> Result<(), CommandError<ExtractionJobError>> {
        self.worker
            .write_model
            .execute_extraction_job(self.tenant, &self.job_id, command, &self.context)
            .await
    }
}
