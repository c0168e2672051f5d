use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::persist::{PersistedEventRepository, PersistedEventStore};
use cqrs_es::{AggregateError, CqrsFramework, EventStore};
use pika_domain::{
    ExtractionJob, ExtractionJobCommand, ExtractionJobError, JobId, TenantId, UserId, UserMemory,
    UserMemoryCommand, UserMemoryError, extraction_job_id, user_memory_id,
};
use tokio::sync::Mutex;
use tracing::{Instrument, debug, info_span, warn};

use crate::RetryPolicy;
use crate::cached_aggregate_store::{CachedAggregateStore, StateWeight};

type Store<R, A> = PersistedEventStore<R, A>;

/// The two aggregates' frameworks over one event store, whichever backend holds it. cqrs-es'
/// repository trait has generic methods (no trait object), so the backend is fixed here, once,
/// by [`WriteModel::over`], and everything above sees this trait only.
#[async_trait]
trait AggregateFrameworks: Send + Sync {
    async fn execute_user_memory(
        &self,
        id: &str,
        command: UserMemoryCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<UserMemoryError>>;

    async fn execute_extraction_job(
        &self,
        id: &str,
        command: ExtractionJobCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<ExtractionJobError>>;

    async fn load_user_memory(
        &self,
        id: &str,
    ) -> Result<Arc<UserMemory>, AggregateError<UserMemoryError>>;

    async fn load_extraction_job(
        &self,
        id: &str,
    ) -> Result<ExtractionJob, AggregateError<ExtractionJobError>>;
}

struct Frameworks<R: PersistedEventRepository> {
    user_memory: CqrsFramework<UserMemory, CachedAggregateStore<R, UserMemory>>,
    user_memory_store: CachedAggregateStore<R, UserMemory>,
    extraction_jobs: CqrsFramework<ExtractionJob, Store<R, ExtractionJob>>,
    extraction_job_store: Store<R, ExtractionJob>,
}

#[async_trait]
impl<R: PersistedEventRepository + 'static> AggregateFrameworks for Frameworks<R> {
    async fn execute_user_memory(
        &self,
        id: &str,
        command: UserMemoryCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<UserMemoryError>> {
        self.user_memory
            .execute_with_metadata(id, command, metadata)
            .await
    }

    async fn execute_extraction_job(
        &self,
        id: &str,
        command: ExtractionJobCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<ExtractionJobError>> {
        self.extraction_jobs
            .execute_with_metadata(id, command, metadata)
            .await
    }

    async fn load_user_memory(
        &self,
        id: &str,
    ) -> Result<Arc<UserMemory>, AggregateError<UserMemoryError>> {
        Ok(self.user_memory_store.load_shared(id).await?.aggregate)
    }

    async fn load_extraction_job(
        &self,
        id: &str,
    ) -> Result<ExtractionJob, AggregateError<ExtractionJobError>> {
        Ok(self
            .extraction_job_store
            .load_aggregate(id)
            .await?
            .aggregate)
    }
}

/// A `UserMemory` snapshot is taken every this many events, so loading a long-lived user reads
/// one snapshot and a few events rather than their whole history.
pub const USER_MEMORY_SNAPSHOT_EVERY: usize = 100;

/// How many facts' worth of users' memories one process keeps between commands (a few hundred
/// bytes each; see [`CachedAggregateStore`]). A user outside it is loaded from their snapshot.
const USER_MEMORY_CACHE_FACTS: u64 = 500_000;

/// A memory nobody touched for this long is dropped from the process.
const USER_MEMORY_CACHE_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

impl StateWeight for UserMemory {
    fn weight(&self) -> u32 {
        u32::try_from(self.live_facts().len()).unwrap_or(u32::MAX)
    }
}

/// Independent locks that serialise commands on one aggregate within this process; commands on
/// different aggregates rarely share one. Writers in other processes are still caught by the
/// event store's optimistic check and retried.
const LOCK_STRIPES: usize = 256;

/// Who caused a commit and on whose behalf: stored as metadata on every event it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// The job id or request id that ties the events to what caused them.
    pub correlation_id: String,
    /// The API key id, or `worker`, that issued the command.
    pub actor: String,
}

impl CommandContext {
    pub fn new(correlation_id: impl Into<String>, actor: impl Into<String>) -> Self {
        Self {
            correlation_id: correlation_id.into(),
            actor: actor.into(),
        }
    }

    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("correlation_id".to_owned(), self.correlation_id.clone()),
            ("actor".to_owned(), self.actor.clone()),
            ("time".to_owned(), chrono::Utc::now().to_rfc3339()),
        ])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// A domain rule refused the command; nothing was written.
    #[error(transparent)]
    Rejected(E),
    /// Other writers kept committing to the same aggregate first.
    #[error(
        "{aggregate_id} kept changing under concurrent writers; gave up after {attempts} attempts"
    )]
    Conflict { aggregate_id: String, attempts: u32 },
    /// The event store could not be read or written.
    #[error("event store error: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The write side's entry point: the two aggregates' frameworks over one event store.
pub struct WriteModel {
    frameworks: Box<dyn AggregateFrameworks>,
    locks: Arc<[Mutex<()>]>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for WriteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteModel")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl WriteModel {
    /// The frameworks over the repository `repository` makes: each backend's adapter module
    /// (`postgres`, `sqlite`) calls this with its own repository.
    pub(crate) fn over<R: PersistedEventRepository + 'static>(
        repository: impl Fn() -> R,
        retry: RetryPolicy,
    ) -> Self {
        let memory_store = CachedAggregateStore::new(
            repository(),
            USER_MEMORY_SNAPSHOT_EVERY,
            USER_MEMORY_CACHE_FACTS,
            USER_MEMORY_CACHE_IDLE,
        );
        let job_store = || PersistedEventStore::new_event_store(repository());
        Self {
            frameworks: Box::new(Frameworks {
                user_memory: CqrsFramework::new(memory_store.sharing(repository()), vec![], ()),
                user_memory_store: memory_store,
                extraction_jobs: CqrsFramework::new(job_store(), vec![], ()),
                extraction_job_store: job_store(),
            }),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            retry,
        }
    }

    pub async fn execute_user_memory(
        &self,
        tenant: &TenantId,
        user: &UserId,
        command: UserMemoryCommand,
        context: &CommandContext,
    ) -> Result<(), CommandError<UserMemoryError>> {
        let id = user_memory_id(tenant, user);
        let span = info_span!("command", aggregate = "UserMemory", aggregate_id = %id, correlation_id = %context.correlation_id);
        self.execute(&id, || {
            self.frameworks
                .execute_user_memory(&id, command.clone(), context.metadata())
        })
        .instrument(span)
        .await
    }

    pub async fn execute_extraction_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
        command: ExtractionJobCommand,
        context: &CommandContext,
    ) -> Result<(), CommandError<ExtractionJobError>> {
        let id = extraction_job_id(tenant, job);
        let span = info_span!("command", aggregate = "ExtractionJob", aggregate_id = %id, correlation_id = %context.correlation_id);
        self.execute(&id, || {
            self.frameworks
                .execute_extraction_job(&id, command.clone(), context.metadata())
        })
        .instrument(span)
        .await
    }

    /// The current state of a user's memory, for deciding what an extraction changes.
    pub async fn load_user_memory(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Arc<UserMemory>, CommandError<UserMemoryError>> {
        let id = user_memory_id(tenant, user);
        self.frameworks
            .load_user_memory(&id)
            .await
            .map_err(classify)
    }

    pub async fn load_extraction_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<ExtractionJob, CommandError<ExtractionJobError>> {
        self.frameworks
            .load_extraction_job(&extraction_job_id(tenant, job))
            .await
            .map_err(classify)
    }

    /// Runs `attempt_command` under the aggregate's lock, again with fresh state after each
    /// conflict, up to the retry policy's limit.
    async fn execute<E, F, Fut>(
        &self,
        aggregate_id: &str,
        attempt_command: F,
    ) -> Result<(), CommandError<E>>
    where
        E: std::error::Error,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), AggregateError<E>>>,
    {
        let _serialised = self.lock_for(aggregate_id).lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = attempt_command().await;
            match outcome {
                Ok(()) => return Ok(()),
                Err(AggregateError::AggregateConflict) if attempt < self.retry.max_attempts => {
                    let delay = self.retry.backoff(attempt);
                    debug!(
                        attempt,
                        ?delay,
                        "conflict on commit; retrying with fresh state"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(AggregateError::AggregateConflict) => {
                    warn!(attempts = attempt, "conflict retries exhausted");
                    return Err(CommandError::Conflict {
                        aggregate_id: aggregate_id.to_owned(),
                        attempts: attempt,
                    });
                }
                Err(error) => return Err(classify(error)),
            }
        }
    }

    fn lock_for(&self, aggregate_id: &str) -> &Mutex<()> {
        let mut hasher = DefaultHasher::new();
        aggregate_id.hash(&mut hasher);
        let stripe = usize::try_from(hasher.finish() % LOCK_STRIPES as u64).unwrap_or(0);
        &self.locks[stripe]
    }
}

fn classify<E: std::error::Error>(error: AggregateError<E>) -> CommandError<E> {
    match error {
        AggregateError::UserError(rejection) => CommandError::Rejected(rejection),
        AggregateError::AggregateConflict => CommandError::Conflict {
            aggregate_id: String::new(),
            attempts: 1,
        },
        AggregateError::DatabaseConnectionError(e)
        | AggregateError::DeserializationError(e)
        | AggregateError::UnexpectedError(e) => CommandError::Storage(e),
    }
}
