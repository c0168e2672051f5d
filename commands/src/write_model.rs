use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use pika_domain::{
    ExtractionJob, ExtractionJobCommand, ExtractionJobError, JobId, TenantId, UserId, UserMemory,
    UserMemoryCommand, UserMemoryError, extraction_job_id, user_memory_id,
};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::sqlite::SqlitePool;
use tokio::sync::Mutex;
use tracing::{Instrument, debug, info_span, warn};

use crate::RetryPolicy;
use crate::sqlite::SqliteEventRepository;

type Store<A> = PersistedEventStore<EventRepository, A>;

/// The event store a deployment writes to: Postgres when scaled out, one SQLite file when
/// embedded. One type for both keeps `WriteModel` and everything above it free of the choice.
enum EventRepository {
    Postgres(PostgresEventRepository),
    Sqlite(SqliteEventRepository),
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match self {
            Self::Postgres(repository) => repository.get_events::<A>(aggregate_id).await,
            Self::Sqlite(repository) => repository.get_events::<A>(aggregate_id).await,
        }
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match self {
            Self::Postgres(repository) => {
                repository
                    .get_last_events::<A>(aggregate_id, last_sequence)
                    .await
            }
            Self::Sqlite(repository) => {
                repository
                    .get_last_events::<A>(aggregate_id, last_sequence)
                    .await
            }
        }
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        match self {
            Self::Postgres(repository) => repository.get_snapshot::<A>(aggregate_id).await,
            Self::Sqlite(repository) => repository.get_snapshot::<A>(aggregate_id).await,
        }
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        match self {
            Self::Postgres(repository) => repository.persist::<A>(events, snapshot_update).await,
            Self::Sqlite(repository) => repository.persist::<A>(events, snapshot_update).await,
        }
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        match self {
            Self::Postgres(repository) => repository.stream_events::<A>(aggregate_id).await,
            Self::Sqlite(repository) => repository.stream_events::<A>(aggregate_id).await,
        }
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        match self {
            Self::Postgres(repository) => repository.stream_all_events::<A>().await,
            Self::Sqlite(repository) => repository.stream_all_events::<A>().await,
        }
    }
}

/// A `UserMemory` snapshot is taken every this many events, so loading a long-lived user reads
/// one snapshot and a few events rather than their whole history.
pub const USER_MEMORY_SNAPSHOT_EVERY: usize = 100;

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
    user_memory: CqrsFramework<UserMemory, Store<UserMemory>>,
    user_memory_store: Store<UserMemory>,
    extraction_jobs: CqrsFramework<ExtractionJob, Store<ExtractionJob>>,
    extraction_job_store: Store<ExtractionJob>,
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
    pub fn postgres(pool: PgPool, retry: RetryPolicy) -> Self {
        Self::over(
            move || EventRepository::Postgres(PostgresEventRepository::new(pool.clone())),
            retry,
        )
    }

    /// The embedded write model: the same frameworks over the SQLite event store.
    pub fn sqlite(pool: SqlitePool, retry: RetryPolicy) -> Self {
        Self::over(
            move || EventRepository::Sqlite(SqliteEventRepository::new(pool.clone())),
            retry,
        )
    }

    fn over(repository: impl Fn() -> EventRepository, retry: RetryPolicy) -> Self {
        let memory_store =
            || PersistedEventStore::new_snapshot_store(repository(), USER_MEMORY_SNAPSHOT_EVERY);
        let job_store = || PersistedEventStore::new_event_store(repository());
        Self {
            user_memory: CqrsFramework::new(memory_store(), vec![], ()),
            user_memory_store: memory_store(),
            extraction_jobs: CqrsFramework::new(job_store(), vec![], ()),
            extraction_job_store: job_store(),
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
        self.execute(&self.user_memory, &id, command, context)
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
        self.execute(&self.extraction_jobs, &id, command, context)
            .instrument(span)
            .await
    }

    /// The current state of a user's memory, for deciding what an extraction changes.
    pub async fn load_user_memory(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<UserMemory, CommandError<UserMemoryError>> {
        let id = user_memory_id(tenant, user);
        load(&self.user_memory_store, &id).await
    }

    pub async fn load_extraction_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<ExtractionJob, CommandError<ExtractionJobError>> {
        load(&self.extraction_job_store, &extraction_job_id(tenant, job)).await
    }

    async fn execute<A>(
        &self,
        cqrs: &CqrsFramework<A, Store<A>>,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<(), CommandError<A::Error>>
    where
        A: Aggregate,
        A::Command: Clone,
    {
        let _serialised = self.lock_for(aggregate_id).lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = cqrs
                .execute_with_metadata(aggregate_id, command.clone(), context.metadata())
                .await;
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

async fn load<A: Aggregate>(store: &Store<A>, id: &str) -> Result<A, CommandError<A::Error>> {
    let context = store.load_aggregate(id).await.map_err(classify)?;
    Ok(context.aggregate)
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
