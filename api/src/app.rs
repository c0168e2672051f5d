//! Building and running the whole service, so `main` and the tests start the same thing.

use std::sync::Arc;

use crate::search::cache::RedisCache;
use crate::search::invalidation::{CacheInvalidation, evict_on_announcements};
use crate::search::service::SearchService;
use anyhow::Context;
use axum::Router;
use pika_commands::sqlite::{connect_sqlite, migrate_sqlite};
use pika_commands::storage::Database;
use pika_commands::{RetryPolicy, WriteModel, storage};
use pika_projections::embedded::EmbeddedProjector;
use pika_projections::jobs::JobDispatcher;
use pika_projections::jobs::READ_MODELS;
use pika_worker::amqp::AmqpJobQueue;
use pika_worker::embedding::store::FactEmbeddings;
use pika_worker::local_queue::LocalJobQueue;
use pika_worker::runner::{ExtractionWorker, WorkerPolicy};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{self, ApiKeys};
use crate::config::Config;
use crate::problem::{method_not_allowed, route_not_found};
use crate::state::{AppState, Dependencies};
use crate::{openapi, routes};
use pika_projections::read_store::ReadStore;
use pika_projections::{DaemonSettings, PostgresEventLog, ProjectionDaemon, all_projections};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which parts of the service this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub migrate_at_start: bool,
    pub projections: bool,
    pub worker: bool,
}

impl Roles {
    pub const SERVE: Self = Self {
        migrate_at_start: true,
        projections: true,
        worker: true,
    };
    pub const API: Self = Self {
        migrate_at_start: false,
        projections: false,
        worker: false,
    };
    /// A background process: the projection daemon (with the job relay) and the extraction
    /// worker; its HTTP listener still answers probes and `/metrics`.
    pub const WORKER: Self = Self {
        migrate_at_start: false,
        projections: true,
        worker: true,
    };
}

/// Connections to the embedded file: SQLite writes one at a time, so a few readers beside the
/// writer are all that helps.
const EMBEDDED_CONNECTIONS: u32 = 8;

/// The largest request body accepted; larger ones get a 413 problem.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Tasks that run beside the HTTP server and stop with it.
#[derive(Debug)]
struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The built service: its listener is bound, so the port is known before it runs.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    background: Background,
}

impl Application {
    /// Connects to everything configured, applies migrations when asked, and binds the HTTP
    /// listener (port 0 picks a free port, which `port()` then reports).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_roles(config, Roles::SERVE).await
    }

    pub async fn build_with_roles(config: Config, roles: Roles) -> anyhow::Result<Self> {
        routes::metrics::install();
        let state = connect(config, roles).await?;
        let listener = TcpListener::bind(state.config.http_addr)
            .await
            .with_context(|| {
                format!("cannot listen on PIKA_HTTP_ADDR={}", state.config.http_addr)
            })?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = watch::channel(false);
        let tasks = spawn_background(&state, roles, &stopped)?;
        Ok(Self {
            listener,
            port,
            router: router(state),
            background: Background { stop, tasks },
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests end.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(port = self.port, "listening");
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        self.background.stop.send(true).ok();
        for task in self.background.tasks {
            task.await.ok();
        }
        served
    }
}

/// Starts the projection daemon (with the job dispatcher) and the extraction worker, as the
/// roles ask.
fn spawn_background(
    state: &AppState,
    roles: Roles,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = vec![tokio::spawn(
        state
            .api_keys
            .clone()
            .refresh_until_stopped(stopped.clone()),
    )];
    if let Database::Sqlite(pool) = &state.dependencies.database {
        if roles != Roles::SERVE {
            anyhow::bail!(
                "the embedded mode (no PIKA_DATABASE_URL) runs as one process: use `serve`; \
                 `api` and `worker` processes need the scaled-out mode"
            );
        }
        tasks.extend(spawn_embedded(state, pool, stopped)?);
        return Ok(tasks);
    }
    let queue = match &state.config.amqp_url {
        Some(url) => Some(Arc::new(AmqpJobQueue::new(
            url.expose_secret().to_owned(),
            &state.config.amqp_queue_prefix,
        ))),
        None if roles.worker || roles.projections => anyhow::bail!(
            "PIKA_AMQP_URL is not set: the in-process job queue is not available in this build \
             yet; set PIKA_AMQP_URL to a RabbitMQ URL"
        ),
        None => None,
    };
    if let Some(redis) = state.search.redis() {
        tasks.push(tokio::spawn(evict_on_announcements(
            redis.clone(),
            state.search.clone(),
            stopped.clone(),
        )));
    }
    if roles.projections {
        let Database::Postgres(pool) = state.dependencies.database.clone() else {
            anyhow::bail!("the projection daemon runs on Postgres only");
        };
        let mut projections = all_projections();
        if let Some(redis) = state.search.redis() {
            projections.push(Arc::new(CacheInvalidation::new(redis.clone())));
        }
        if let Some(queue) = &queue {
            projections.push(Arc::new(JobDispatcher::new(queue.clone())));
        }
        let daemon = Arc::new(ProjectionDaemon::new(
            pool.clone(),
            Arc::new(PostgresEventLog::new(pool)),
            projections,
            DaemonSettings::default(),
        ));
        tasks.push(tokio::spawn(daemon.run(stopped.clone())));
    }
    if roles.worker
        && let Some(queue) = queue
    {
        tasks.push(tokio::spawn(
            extraction_worker(state)?.run(queue, stopped.clone()),
        ));
    }
    Ok(tasks)
}

fn extraction_worker(state: &AppState) -> anyhow::Result<Arc<ExtractionWorker>> {
    let extractor = pika_worker::extractor_for(&state.config.extractor_settings())
        .map_err(|e| anyhow::anyhow!("cannot build the extractor: {e}"))?;
    let embeddings =
        FactEmbeddings::new(state.embedder.clone(), state.dependencies.database.clone());
    Ok(Arc::new(
        ExtractionWorker::new(
            state.write_model.clone(),
            extractor,
            WorkerPolicy::default(),
        )
        .with_embeddings(embeddings),
    ))
}

/// The embedded process runs every part: the projector (which also queues submitted jobs)
/// and the job queue's consumers, woken by the projector when it queued jobs.
fn spawn_embedded(
    state: &AppState,
    pool: &sqlx::sqlite::SqlitePool,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let search = state.search.clone();
    let projector = Arc::new(
        EmbeddedProjector::new(pool.clone())
            .with_visibility_gate(state.visibility_gate.clone().unwrap_or_default())
            .with_on_changed(Arc::new(move |user| {
                search.user_changed(&user.tenant, &user.user_id);
            })),
    );
    let queue = Arc::new(LocalJobQueue::with_wake(
        pool.clone(),
        projector.jobs_queued(),
    ));
    let worker = extraction_worker(state)?;
    let consumers = usize::from(worker.policy().prefetch.min(4));
    Ok(vec![
        tokio::spawn(projector.run(stopped.clone())),
        tokio::spawn(queue.run(worker, consumers, stopped.clone())),
    ])
}

/// Opens the store the configuration names: Postgres when `PIKA_DATABASE_URL` is set, else the
/// embedded SQLite file in `PIKA_DATA_DIR` (which must then be used without Redis or RabbitMQ:
/// half a scaled-out deployment is a mistake to report, not to guess around).
async fn open_database(config: &Config, roles: Roles) -> anyhow::Result<Database> {
    let Some(database_url) = &config.database_url else {
        for (name, set) in [
            ("PIKA_REDIS_URL", config.redis_url.is_some()),
            ("PIKA_AMQP_URL", config.amqp_url.is_some()),
        ] {
            if set {
                anyhow::bail!(
                    "{name} is set but PIKA_DATABASE_URL is not: set PIKA_DATABASE_URL for the \
                     scaled-out mode, or unset {name} for the embedded mode"
                );
            }
        }
        let pool = connect_sqlite(&config.data_dir, EMBEDDED_CONNECTIONS)
            .await
            .with_context(|| {
                format!(
                    "cannot open the embedded database in PIKA_DATA_DIR={}",
                    config.data_dir.display()
                )
            })?;
        migrate_sqlite(&pool)
            .await
            .context("applying the embedded migrations failed")?;
        tracing::info!(data_dir = %config.data_dir.display(), "embedded mode: one SQLite file, caches and job queue in process");
        return Ok(Database::Sqlite(pool));
    };
    let postgres = storage::connect_postgres(
        database_url.expose_secret(),
        config.database_max_connections,
    )
    .await
    .with_context(|| {
        format!(
            "cannot connect to PIKA_DATABASE_URL ({})",
            config.database_for_logs()
        )
    })?;
    if roles.migrate_at_start {
        storage::migrate(&postgres)
            .await
            .context("applying migrations failed")?;
    }
    Ok(Database::Postgres(postgres))
}

async fn connect(config: Config, roles: Roles) -> anyhow::Result<AppState> {
    let database = open_database(&config, roles).await?;
    let api_keys = ApiKeys::load(
        auth::key_store_for(&database),
        &config.api_keys,
        config.allow_unauthenticated,
    )
    .await?;
    let redis = match &config.redis_url {
        Some(url) => Some(
            redis::Client::open(url.expose_secret())
                .context("PIKA_REDIS_URL is not a valid Redis URL")?,
        ),
        None => None,
    };
    let embedder = pika_worker::embedder_for(&config.embedder_settings())
        .map_err(|e| anyhow::anyhow!("cannot build the embedder (PIKA_EMBEDDER): {e}"))?;
    let redis_cache = redis
        .clone()
        .map(|client| RedisCache::new(client, &config.redis_prefix));
    let mut job_gating: Vec<&'static str> = READ_MODELS.to_vec();
    if redis_cache.is_some() {
        job_gating.push(CacheInvalidation::NAME);
    }
    let (reads, write_model) = match &database {
        Database::Postgres(pool) => (
            ReadStore::Postgres(pool.clone()),
            WriteModel::postgres(pool.clone(), RetryPolicy::default()),
        ),
        Database::Sqlite(pool) => (
            ReadStore::Sqlite(pool.clone()),
            WriteModel::sqlite(pool.clone(), RetryPolicy::default()),
        ),
    };
    let mut search = SearchService::new(reads.clone(), embedder.clone(), redis_cache);
    if matches!(database, Database::Sqlite(_)) {
        search = search.with_local_generations();
    }
    let search = Arc::new(search);
    let visibility_gate =
        matches!(database, Database::Sqlite(_)).then(|| Arc::new(tokio::sync::RwLock::new(())));
    let dependencies = Dependencies {
        database,
        redis,
        amqp_url: config.amqp_url.clone(),
    };
    Ok(AppState {
        search,
        embedder,
        job_gating: Arc::new(job_gating),
        reads,
        write_model: Arc::new(write_model),
        api_keys: Arc::new(api_keys),
        visibility_gate,
        config: Arc::new(config),
        dependencies,
    })
}

fn router(state: AppState) -> Router {
    let (api, mut doc) = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::health::router())
        .merge(routes::facts::router())
        .merge(routes::fact_commands::router())
        .merge(routes::extractions::router())
        .merge(routes::metrics::router())
        .merge(routes::search::router())
        .split_for_parts();
    openapi::finish(&mut doc);
    api.merge(openapi::router(&doc))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::http_metrics::record))
        .layer(TraceLayer::new_for_http().make_span_with(crate::http_metrics::request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
