//! Building and running the whole service, so `main` and the tests start the same thing.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use pika_commands::{RetryPolicy, WriteModel, storage};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::problem::route_not_found;
use crate::routes;
use crate::state::{AppState, Dependencies};

/// Which parts of the service this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub http: bool,
    pub migrate_at_start: bool,
}

impl Roles {
    pub const SERVE: Self = Self {
        http: true,
        migrate_at_start: true,
    };
    pub const API: Self = Self {
        http: true,
        migrate_at_start: false,
    };
}

/// The built service: its listener is bound, so the port is known before it runs.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
}

impl Application {
    /// Connects to everything configured, applies migrations when asked, and binds the HTTP
    /// listener (port 0 picks a free port, which `port()` then reports).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_roles(config, Roles::SERVE).await
    }

    pub async fn build_with_roles(config: Config, roles: Roles) -> anyhow::Result<Self> {
        let state = connect(config, roles).await?;
        let listener = TcpListener::bind(state.config.http_addr)
            .await
            .with_context(|| {
                format!("cannot listen on PIKA_HTTP_ADDR={}", state.config.http_addr)
            })?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            router: router(state),
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
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
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
    let redis = match &config.redis_url {
        Some(url) => Some(
            redis::Client::open(url.expose_secret())
                .context("PIKA_REDIS_URL is not a valid Redis URL")?,
        ),
        None => None,
    };
    let dependencies = Dependencies {
        postgres: postgres.clone(),
        redis,
        amqp_url: config.amqp_url.clone(),
    };
    Ok(AppState {
        config: Arc::new(config),
        write_model: Arc::new(WriteModel::postgres(postgres, RetryPolicy::default())),
        dependencies,
    })
}

fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::router())
        .fallback(route_not_found)
        .with_state(state)
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
