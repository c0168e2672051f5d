//! Building and running the whole service, so `main` and the tests start the same thing.

use std::sync::Arc;

use crate::search::cache::RedisCache;
use crate::search::invalidation::{CacheInvalidation, evict_on_announcements};
use crate::search::service::SearchService;
use anyhow::Context;
use axum::Router;
use pika_commands::{RetryPolicy, WriteModel, storage};
use pika_projections::jobs::JobDispatcher;
use pika_projections::jobs::READ_MODELS;
use pika_worker::amqp::AmqpJobQueue;
use pika_worker::embedding::store::FactEmbeddings;
use pika_worker::runner::{ExtractionWorker, WorkerPolicy};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::ApiKeys;
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
}

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
        let pool = state.dependencies.postgres.clone();
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
        let extractor = pika_worker::extractor_for(&state.config.extractor_settings())
            .map_err(|e| anyhow::anyhow!("cannot build the extractor: {e}"))?;
        let embeddings =
            FactEmbeddings::new(state.embedder.clone(), state.dependencies.postgres.clone());
        let worker = Arc::new(
            ExtractionWorker::new(
                state.write_model.clone(),
                extractor,
                WorkerPolicy::default(),
            )
            .with_embeddings(embeddings),
        );
        tasks.push(tokio::spawn(worker.run(queue, stopped.clone())));
    }
    Ok(tasks)
}

async fn connect(config: Config, roles: Roles) -> anyhow::Result<AppState> {
    let Some(database_url) = config.database_url.clone() else {
        anyhow::bail!(
            "PIKA_DATABASE_URL is not set: embedded mode (no servers) is not available in this \
             build yet; set PIKA_DATABASE_URL to a Postgres URL"
        );
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
    let api_keys = ApiKeys::load(
        postgres.clone(),
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
    let search = Arc::new(SearchService::new(
        ReadStore::Postgres(postgres.clone()),
        embedder.clone(),
        redis_cache,
    ));
    let dependencies = Dependencies {
        postgres: postgres.clone(),
        redis,
        amqp_url: config.amqp_url.clone(),
    };
    Ok(AppState {
        search,
        embedder,
        job_gating: Arc::new(job_gating),
        reads: ReadStore::Postgres(postgres.clone()),
        write_model: Arc::new(WriteModel::postgres(postgres, RetryPolicy::default())),
        api_keys: Arc::new(api_keys),
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
