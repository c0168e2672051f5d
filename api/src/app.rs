//! Building and running the whole service, so `main` and the tests start the same thing.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use pika_projections::jobs::READ_MODELS;
use pika_worker::embedding::batched::BatchedEmbedder;
use pika_worker::embedding::store::FactEmbeddings;
use pika_worker::runner::{ExtractionWorker, WorkerPolicy};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::ApiKeys;
use crate::backend::{self, OpenOptions};
use crate::config::Config;
use crate::problem::{method_not_allowed, route_not_found};
use crate::state::{AppState, Dependencies};
use crate::{openapi, routes};
use pika_projections::query::cache::RedisCache;
use pika_projections::query::invalidation::CacheInvalidation;
use pika_projections::query::service::SearchService;

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

/// The key refresh, then the projections and job consumers the backend runs for these roles.
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
    tasks.extend(state.backend.spawn_background(state, roles, stopped)?);
    if roles.worker && !state.config.conversation_retention.is_empty() {
        tasks.push(tokio::spawn(crate::retention::run_hourly(
            state.backend.personal_data(),
            state.config.conversation_retention.clone(),
            stopped.clone(),
        )));
    }
    Ok(tasks)
}

/// The extraction worker both backends run: the configured extractor, with fact vectors
/// computed into the backend's embedding cache before each commit.
pub(crate) fn extraction_worker(state: &AppState) -> anyhow::Result<Arc<ExtractionWorker>> {
    let extractor = pika_worker::extractor_for(&state.config.extractor_settings())
        .map_err(|e| anyhow::anyhow!("cannot build the extractor: {e}"))?;
    // Jobs running at once share model runs (see `BatchedEmbedder`).
    let embedder = Arc::new(BatchedEmbedder::new(state.embedder.clone()));
    let embeddings = FactEmbeddings::new(embedder, state.backend.embedding_cache());
    Ok(Arc::new(
        ExtractionWorker::new(
            state.write_model.clone(),
            extractor,
            WorkerPolicy {
                concurrency: state.config.worker_concurrency,
                ..WorkerPolicy::default()
            },
        )
        .with_embeddings(embeddings),
    ))
}

async fn connect(config: Config, roles: Roles) -> anyhow::Result<AppState> {
    let backend = backend::open(
        &config,
        OpenOptions {
            migrate: roles.migrate_at_start,
            max_connections: None,
            personal_data: true,
        },
    )
    .await?;
    let api_keys = ApiKeys::load(
        backend.key_store(),
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
    let reads = backend.reads();
    let visibility_gate = backend.visibility_gate();
    let mut search = SearchService::new(reads.clone(), embedder.clone(), redis_cache);
    if visibility_gate.is_some() {
        search = search.with_local_generations();
    }
    let dependencies = Dependencies {
        reads: reads.clone(),
        redis,
        amqp_url: config.amqp_url.clone(),
    };
    Ok(AppState {
        search: Arc::new(search),
        embedder,
        job_gating: Arc::new(job_gating),
        reads,
        write_model: Arc::new(backend.write_model()),
        api_keys: Arc::new(api_keys),
        progress: pika_projections::ProjectionProgress::default(),
        request_limiter: Arc::new(crate::rate_limit::RequestLimiter::new(
            config.rate_limits.clone(),
        )),
        visibility_gate,
        config: Arc::new(config),
        dependencies,
        backend,
    })
}

fn router(state: AppState) -> Router {
    let (api, mut doc) = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::health::router())
        .merge(routes::facts::router())
        .merge(routes::episodes::router())
        .merge(routes::export::router())
        .merge(routes::fact_commands::router())
        .merge(routes::extractions::router())
        .merge(routes::metrics::router())
        .merge(routes::search::router())
        .merge(routes::users::router())
        .merge(routes::projections::router())
        .merge(routes::mem0::router())
        .split_for_parts();
    openapi::finish(&mut doc);
    api.merge(openapi::router(&doc))
        .merge(crate::ui::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::rate_limit::limit_requests,
        ))
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::http_metrics::record))
        .layer(TraceLayer::new_for_http().make_span_with(crate::http_metrics::request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(
            crate::request_id::bound_request_id,
        ))
}
